//! ## What it does
//! Flags an index made redundant by another valid index on the same table with the same
//! method and predicate: either the same keys and INCLUDE columns (a duplicate), or, for btree,
//! keys that are a leading prefix of the other's (prefix-covered). An index enforcing a
//! constraint or uniqueness is never the one reported.
//!
//! ## Why is this bad?
//! Queries the redundant index serves are served by the other one, but every write still
//! maintains both: double the write cost, WAL and cache space for no read benefit.
//!
//! ## Thresholds
//! None. Severity is `warning` for exact copies and `info` for prefix-covered indexes (the
//! shorter one can be slightly faster for its own queries).
//!
//! ## Fix
//! `DROP INDEX CONCURRENTLY` on the redundant index.

use crate::catalog::IndexKey;
use crate::rules::prelude::*;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {}

pub static RULE: Rule = Rule {
    id: "duplicate-index",
    scope: Scope::Catalog,
    summary: "index duplicated or prefix-covered by another",
    check,
};

fn same_keys(a: &[IndexKey], b: &[IndexKey]) -> bool {
    a.len() <= b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

fn enforces(ix: &Index) -> bool {
    ix.primary || ix.unique || ix.constraint.is_some() || ix.replica_identity
}

/// Whether `a` is redundant given `b`: Some(true) for a duplicate, Some(false) prefix-covered.
fn redundant(a: &Index, b: &Index) -> Option<bool> {
    if a.table != b.table
        || a.method != b.method
        || a.predicate != b.predicate
        || !a.valid
        || !b.valid
        || enforces(a)
        || !same_keys(&a.keys, &b.keys)
    {
        return None;
    }
    if a.keys.len() == b.keys.len() {
        let mut ai = a.include.clone();
        let mut bi = b.include.clone();
        ai.sort();
        bi.sort();
        return (ai == bi).then_some(true);
    }
    // Prefix coverage is a btree property; the covering index must carry a's INCLUDEs.
    let b_cols: Vec<&str> = b
        .keys
        .iter()
        .map(|k| k.expr.as_str())
        .chain(b.include.iter().map(String::as_str))
        .collect();
    (a.method == "btree" && a.include.iter().all(|c| b_cols.contains(&c.as_str()))).then_some(false)
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let _: Params = cfg.params()?;
    let Some(cat) = ctx.catalog else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for (i, a) in cat.indexes.iter().enumerate() {
        // Of exact copies keep the first (or the enforcing one); report the others.
        let other = cat.indexes.iter().enumerate().find_map(|(j, b)| {
            if i == j {
                return None;
            }
            match redundant(a, b) {
                Some(true) if enforces(b) || j < i => Some((b, true)),
                Some(false) => Some((b, false)),
                _ => None,
            }
        });
        let Some((b, dup)) = other else {
            continue;
        };
        out.push(Finding {
            rule: RULE.id.into(),
            severity: if dup {
                Severity::Warning
            } else {
                Severity::Info
            },
            object: format!("{}.{}", a.schema, a.name),
            message: if dup {
                format!("index {} is a copy of {} on {}", a.name, b.name, a.table)
            } else {
                format!("index {} is a prefix of {} on {}", a.name, b.name, a.table)
            },
            evidence: vec![
                a.definition.clone(),
                b.definition.clone(),
                format!(
                    "{} on disk, {} scans",
                    crate::units::bytes(a.size_bytes),
                    a.scans
                ),
            ],
            remedy: format!("drop it; {} serves its queries", b.name),
            fix: Some(Fix::sql(ddl::drop_index(&a.schema, &a.name))),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_with_defaults;

    fn ix(name: &str, keys: &[&str]) -> Index {
        Index {
            schema: "public".into(),
            name: name.into(),
            table: "public.t".into(),
            method: "btree".into(),
            valid: true,
            keys: keys
                .iter()
                .map(|k| IndexKey {
                    column: Some((*k).into()),
                    expr: (*k).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn found(ixs: Vec<Index>) -> Vec<(String, Severity)> {
        let cat = Catalog {
            indexes: ixs,
            ..Default::default()
        };
        check_with_defaults(
            &RULE,
            &Ctx {
                catalog: Some(&cat),
                ..Default::default()
            },
        )
        .into_iter()
        .map(|f| (f.object, f.severity))
        .collect()
    }

    #[test]
    fn exact_duplicate_reports_one() {
        assert_eq!(
            found(vec![ix("a", &["x", "y"]), ix("b", &["x", "y"])]),
            vec![("public.b".to_string(), Severity::Warning)]
        );
    }

    #[test]
    fn the_enforcing_index_is_kept() {
        let pk = Index {
            primary: true,
            constraint: Some("p".into()),
            ..ix("t_pkey", &["x"])
        };
        assert_eq!(
            found(vec![ix("a", &["x"]), pk]),
            vec![("public.a".to_string(), Severity::Warning)]
        );
    }

    #[test]
    fn prefix_covered_but_not_across_methods_or_predicates() {
        assert_eq!(
            found(vec![ix("a", &["x"]), ix("b", &["x", "y"])]),
            vec![("public.a".to_string(), Severity::Info)]
        );
        let hash = Index {
            method: "hash".into(),
            ..ix("h", &["x"])
        };
        assert!(found(vec![hash, ix("b", &["x", "y"])]).is_empty());
        let partial = Index {
            predicate: Some("(x > 0)".into()),
            ..ix("p", &["x"])
        };
        assert!(found(vec![partial, ix("b", &["x", "y"])]).is_empty());
        assert!(found(vec![ix("a", &["y"]), ix("b", &["x", "y"])]).is_empty());
    }
}
