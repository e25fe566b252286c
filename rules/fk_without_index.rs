//! ## What it does
//! Flags foreign keys whose columns are not the leading columns of any valid index on the
//! referencing table.
//!
//! ## Why is this bad?
//! Every DELETE of a referenced row, and every UPDATE of its key, must find the referencing
//! rows: without an index that is a sequential scan of the referencing table, under a lock.
//! Joins from the parent to the child pay the same price.
//!
//! ## Thresholds
//! `min_rows` (default 1,000): smaller referencing tables are skipped; a scan of them is cheap.
//! Severity is `warning`, `critical` from `critical_rows` (default 1,000,000) rows.
//!
//! ## Fix
//! `CREATE INDEX CONCURRENTLY` on the foreign-key columns (safe: it does not block writes).

use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_rows: f64,
    pub critical_rows: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_rows: 1_000.0,
            critical_rows: 1_000_000.0,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "fk-without-index",
    scope: Scope::Catalog,
    summary: "foreign key columns without a supporting index",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(cat) = ctx.catalog else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for fk in &cat.foreign_keys {
        let rows = cat.table(&fk.table).map_or(0.0, |t| t.reltuples.max(0.0));
        if rows < p.min_rows {
            continue;
        }
        let covered = cat.indexes_on(&fk.table).any(|ix| {
            ix.valid && ix.predicate.is_none() && ix.keys.len() >= fk.columns.len() && {
                // Any order of the FK columns among the leading keys serves the lookup.
                let lead: Vec<Option<&str>> = ix
                    .key_columns()
                    .into_iter()
                    .take(fk.columns.len())
                    .collect();
                fk.columns.iter().all(|c| lead.contains(&Some(c.as_str())))
            }
        });
        if covered {
            continue;
        }
        out.push(Finding {
            rule: RULE.id.into(),
            severity: if rows >= p.critical_rows {
                Severity::Critical
            } else {
                Severity::Warning
            },
            object: fk.table.clone(),
            message: format!(
                "foreign key {} ({}) → {} has no supporting index",
                fk.name,
                fk.columns.join(", "),
                fk.ref_table
            ),
            evidence: vec![format!("{rows:.0} rows in {}", fk.table)],
            remedy: "index the foreign-key columns".into(),
            fix: Some(Fix::CreateIndex(ddl::foreign_key_index(
                &fk.table,
                &fk.columns,
            ))),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ForeignKey, IndexKey, Table};
    use crate::rules::{Config, Ctx};

    fn catalog(index_cols: &[&str]) -> Catalog {
        let mut c = Catalog::default();
        c.tables.push(Table {
            schema: "public".into(),
            name: "child".into(),
            reltuples: 50_000.0,
            ..Default::default()
        });
        c.foreign_keys.push(ForeignKey {
            name: "child_p_fkey".into(),
            table: "public.child".into(),
            columns: vec!["p_id".into()],
            ref_table: "public.p".into(),
            ref_columns: vec!["id".into()],
        });
        if !index_cols.is_empty() {
            c.indexes.push(Index {
                table: "public.child".into(),
                valid: true,
                keys: index_cols
                    .iter()
                    .map(|k| IndexKey {
                        column: Some((*k).into()),
                        expr: (*k).into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            });
        }
        c
    }

    fn run(c: &Catalog) -> Vec<Finding> {
        (RULE.check)(
            &Ctx {
                catalog: Some(c),
                ..Default::default()
            },
            &Config::default().for_rule(RULE.id),
        )
        .unwrap()
    }

    #[test]
    fn unindexed_fk_is_found_with_its_fix() {
        let f = run(&catalog(&[]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].sql().as_deref(), Some("CREATE INDEX CONCURRENTLY IF NOT EXISTS \"child_p_id_idx\" ON \"public\".\"child\" (\"p_id\")"));
    }

    #[test]
    fn leading_or_wider_index_covers_it() {
        assert!(run(&catalog(&["p_id"])).is_empty());
        assert!(run(&catalog(&["p_id", "x"])).is_empty());
        assert_eq!(
            run(&catalog(&["x", "p_id"])).len(),
            1,
            "a non-leading column does not help"
        );
    }
}
