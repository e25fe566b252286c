//! ## What it does
//! Flags B-tree indexes much larger than their entries need: the pages the index has
//! (pg_class.relpages) against the pages its entries need at its fillfactor, estimated from the
//! row count and the pg_stats widths of its columns (the ioguix/pgexperts estimate PgHero
//! shows). It is the index side of `table-bloat`; expression keys have no widths in the table's
//! statistics, so those indexes are not estimated.
//!
//! ## Why is this bad?
//! A bloated index costs cache and I/O on every scan, and its empty pages are not given back by
//! VACUUM: an index left behind by mass deletes or updates stays large until it is rebuilt.
//!
//! ## Thresholds
//! Share of the index not needed, `levels`: `warning` from 0.4, `critical` from 0.7; indexes
//! under `min_bytes` (default 1 MiB) are skipped.
//!
//! ## Fix
//! `REINDEX INDEX CONCURRENTLY` (PostgreSQL 12+) rebuilds it without blocking reads or writes;
//! it needs the space of a second copy while it runs.

use crate::catalog::bloat;
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub levels: Levels,
    pub min_bytes: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            levels: Levels {
                warning: 0.4,
                critical: 0.7,
            },
            min_bytes: 1 << 20,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "index-bloat",
    scope: Scope::Health,
    summary: "B-tree index much larger than its entries need",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(cat) = ctx.catalog else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for ix in cat.indexes.iter().filter(|i| i.size_bytes >= p.min_bytes) {
        let Some(table) = cat.table(&ix.table) else {
            continue;
        };
        let Some(b) = bloat::estimate_index(ix, table, cat.settings.block_size) else {
            continue;
        };
        let Some(severity) = p.levels.grade(b.ratio) else {
            continue;
        };
        let name = format!("{}.{}", ix.schema, ix.name);
        out.push(Finding {
            rule: RULE.id.into(),
            severity,
            object: name.clone(),
            message: format!(
                "index {name} on {} is about {:.0} % bloat ({} not needed)",
                ix.table,
                b.ratio * 100.0,
                crate::units::bytes(b.bytes)
            ),
            evidence: vec![
                format!(
                    "{} pages ({}); {:.0} entries need about {} pages at its fillfactor",
                    b.pages,
                    crate::units::bytes(ix.size_bytes),
                    ix.stats.reltuples,
                    b.expected_pages
                ),
                format!(
                    "table {}: {} dead tuples, {} deletes, {} updates since the statistics reset",
                    table.qualified(),
                    table.stats.n_dead_tup,
                    table.stats.n_tup_del,
                    table.stats.n_tup_upd
                ),
            ],
            remedy: "rebuild it with REINDEX INDEX CONCURRENTLY (needs room for a second copy)"
                .into(),
            fix: Some(Fix::sql(ddl::reindex_concurrently(&ix.schema, &ix.name))),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, ColumnStats, IndexKey, IndexStats};
    use crate::rules::check_with_defaults;

    fn index(name: &str, pages: i64) -> Index {
        Index {
            schema: "public".into(),
            name: name.into(),
            table: "public.t".into(),
            method: "btree".into(),
            keys: vec![IndexKey {
                column: Some("id".into()),
                expr: "id".into(),
                ..Default::default()
            }],
            size_bytes: pages * 8192,
            stats: IndexStats {
                relpages: pages,
                reltuples: 100_000.0,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn grades_the_estimate_and_quotes_the_fix() {
        let cat = Catalog {
            tables: vec![Table {
                schema: "public".into(),
                name: "t".into(),
                columns: vec![Column {
                    name: "id".into(),
                    stats: Some(ColumnStats {
                        avg_width: 4,
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            // 275 pages needed (see catalog::bloat's test).
            indexes: vec![
                index("fresh", 280),
                index("half", 600),
                index("Mostly Empty", 2000),
                index("tiny", 100),
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
        let got: Vec<_> = f.iter().map(|f| (f.object.as_str(), f.severity)).collect();
        assert_eq!(
            got,
            vec![
                ("public.half", Severity::Warning),
                ("public.Mostly Empty", Severity::Critical)
            ]
        );
        assert_eq!(
            f[1].sql().as_deref(),
            Some("REINDEX INDEX CONCURRENTLY \"public\".\"Mostly Empty\"")
        );
    }
}
