//! ## What it does
//! Flags indexes marked invalid (`pg_index.indisvalid = false`), the leftover of a
//! `CREATE INDEX CONCURRENTLY` or `REINDEX CONCURRENTLY` that failed or was cancelled.
//!
//! ## Why is this bad?
//! The planner never uses an invalid index, yet every write still maintains it: all the cost of
//! an index, none of the benefit. A unique one may also still reject rows.
//!
//! ## Thresholds
//! None. Severity is `warning`.
//!
//! ## Fix
//! Rebuild it without blocking writes: `REINDEX INDEX CONCURRENTLY` (for a unique index,
//! remove the duplicates first), or `DROP INDEX CONCURRENTLY` and create it again (the finding
//! shows its definition).
//!
//! The index of a partitioned table (`CREATE INDEX ... ON ONLY parent`) is different: it holds
//! no data and stays invalid until every partition has an index attached to it, and PostgreSQL
//! rejects `CONCURRENTLY` on it (and a `REINDEX` leaves it invalid). The fix builds each
//! missing partition index concurrently and attaches it
//! (`ALTER INDEX parent ATTACH PARTITION child`); the last attach makes the parent valid.

use crate::catalog::TableKind;
use crate::rules::prelude::*;
use crate::sql::ddl::{Build, IndexDef};
use crate::sql::index_key::{IndexKey, KeyExpr, Nulls};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {}

pub static RULE: Rule = Rule {
    id: "invalid-index",
    scope: Scope::Catalog,
    summary: "index left invalid by a failed concurrent build",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let _: Params = cfg.params()?;
    let Some(cat) = ctx.catalog else {
        return Ok(vec![]);
    };
    Ok(cat
        .indexes
        .iter()
        .filter(|ix| !ix.valid)
        .map(|ix| {
            let (remedy, fix) = match partitioned(cat, &ix.table) {
                Some(parent) => attach_missing(cat, parent, ix),
                None => (
                    format!(
                        "rebuild it without blocking writes (for a unique index, remove the \
                         duplicates first), or drop it and build it again: {}",
                        ddl::concurrent_definition(&ix.definition)
                    ),
                    Some(Fix::sql(ddl::reindex_concurrently(&ix.schema, &ix.name))),
                ),
            };
            Finding {
                rule: RULE.id.into(),
                severity: Severity::Warning,
                object: format!("{}.{}", ix.schema, ix.name),
                message: format!("index {} on {} is invalid", ix.name, ix.table),
                evidence: vec![
                    ix.definition.clone(),
                    format!("{} on disk", crate::units::bytes(ix.size_bytes)),
                ],
                remedy,
                fix,
            }
        })
        .collect())
}

/// The table `name` when it is a partitioned one.
fn partitioned<'a>(cat: &'a Catalog, name: &str) -> Option<&'a Table> {
    cat.tables
        .iter()
        .find(|t| format!("{}.{}", t.schema, t.name) == name)
        .filter(|t| t.kind == TableKind::Partitioned)
}

/// The remedy and fix for the invalid index `ix` of the partitioned table `parent`: build the
/// index on each partition that has none attached, and attach it.
fn attach_missing(cat: &Catalog, parent: &Table, ix: &Index) -> (String, Option<Fix>) {
    let index = format!("{}.{}", ix.schema, ix.name);
    let missing: Vec<&String> = parent
        .partitions
        .iter()
        .filter(|p| {
            !cat.indexes
                .iter()
                .any(|c| &c.table == *p && c.parent_index.as_deref() == Some(index.as_str()))
        })
        .collect();
    let head = "an index of a partitioned table is valid once every partition has its index \
                attached (CONCURRENTLY and REINDEX do not apply to it)";
    if missing.is_empty() {
        return (
            format!("{head}; every partition has one, so rebuild the invalid ones among them"),
            None,
        );
    }
    let names: Vec<&str> = missing.iter().map(|p| p.as_str()).collect();
    let steps = format!(
        "{head}: build it on {} and attach it with ALTER INDEX {} ATTACH PARTITION",
        names.join(", "),
        ix.name
    );
    if ix.unique {
        return (
            format!("{steps}; a unique one needs CREATE UNIQUE INDEX on each partition"),
            None,
        );
    }
    let keys: Vec<IndexKey> = ix.keys.iter().map(key).collect();
    let mut statements = Vec::new();
    for p in missing {
        let name = ddl::index_name(p, &keys, ix.predicate.as_deref());
        let def = IndexDef {
            method: ix.method.clone(),
            include: ix.include.clone(),
            predicate: ix.predicate.clone(),
            ..IndexDef::btree(&name, p, keys.clone())
        };
        // A partition that is itself partitioned cannot be indexed concurrently either.
        let build = match partitioned(cat, p) {
            Some(_) => Build::InTransaction,
            None => Build::Concurrent,
        };
        statements.push(def.render(build));
        let (schema, _) = ddl::split_table(p);
        statements.push(ddl::attach_partition_index(
            &index,
            &format!("{schema}.{name}"),
        ));
    }
    (steps, Some(Fix::sql(statements.join(";\n"))))
}

/// A key as the catalog read it, as index DDL writes it.
fn key(k: &crate::catalog::IndexKey) -> IndexKey {
    let expr = match &k.column {
        Some(c) => KeyExpr::Column(c.clone()),
        None => KeyExpr::Expression(k.expr.clone()),
    };
    let nulls = match (k.desc, k.nulls_first) {
        (false, true) => Some(Nulls::First),
        (true, false) => Some(Nulls::Last),
        _ => None,
    };
    IndexKey {
        expr,
        desc: k.desc,
        nulls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_with_defaults;

    #[test]
    fn invalid_indexes_only() {
        let mk = |name: &str, valid| Index {
            schema: "public".into(),
            name: name.into(),
            valid,
            definition: format!("CREATE INDEX {name} ON public.t USING btree (x)"),
            ..Default::default()
        };
        let cat = Catalog {
            indexes: vec![mk("good", true), mk("bad", false)],
            ..Default::default()
        };
        let f = check_with_defaults(
            &RULE,
            &Ctx {
                catalog: Some(&cat),
                ..Default::default()
            },
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].object, "public.bad");
        assert!(f[0]
            .remedy
            .contains("CREATE INDEX CONCURRENTLY bad ON public.t"));
        assert_eq!(
            f[0].sql().unwrap(),
            r#"REINDEX INDEX CONCURRENTLY "public"."bad""#
        );
    }

    #[test]
    fn a_partitioned_parent_gets_its_missing_partition_indexes_attached() {
        let table = |name: &str, kind, partitions: &[&str]| Table {
            schema: "public".into(),
            name: name.into(),
            kind,
            partitions: partitions.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        };
        let index = |name: &str, table: &str, valid, parent: Option<&str>| Index {
            schema: "public".into(),
            name: name.into(),
            table: table.into(),
            method: "btree".into(),
            valid,
            keys: vec![crate::catalog::IndexKey {
                column: Some("k".into()),
                expr: "k".into(),
                desc: true,
                nulls_first: true,
            }],
            parent_index: parent.map(str::to_string),
            ..Default::default()
        };
        let cat = Catalog {
            tables: vec![
                table("m", TableKind::Partitioned, &["public.m1", "public.m2"]),
                table("m1", TableKind::Table, &[]),
                table("m2", TableKind::Table, &[]),
            ],
            indexes: vec![
                index("m_k_idx", "public.m", false, None),
                index("m1_k_idx", "public.m1", true, Some("public.m_k_idx")),
            ],
            ..Default::default()
        };
        let f = check_with_defaults(
            &RULE,
            &Ctx {
                catalog: Some(&cat),
                ..Default::default()
            },
        );
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].sql().unwrap(),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"m2_k_idx\" ON \"public\".\"m2\" (\"k\" DESC);\n\
             ALTER INDEX \"public\".\"m_k_idx\" ATTACH PARTITION \"public\".\"m2_k_idx\""
        );
        assert!(f[0].remedy.contains("public.m2"), "{}", f[0].remedy);
        assert!(!f[0].remedy.contains("public.m1"), "{}", f[0].remedy);
    }
}
