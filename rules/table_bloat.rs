//! ## What it does
//! Flags tables whose heap is largely dead or empty space: the larger of the dead-tuple share
//! (pg_stat_user_tables) and the estimated share of pages live rows do not need (from pg_stats
//! column widths). The estimate is an estimate: no extension, no table scan.
//!
//! ## Why is this bad?
//! Sequential scans read the dead space, the cache holds it, and indexes point into it. Dead
//! tuples that autovacuum does not remove point at a blocked vacuum (a long transaction) or
//! autovacuum settings too lax for the table's update rate.
//!
//! ## Thresholds
//! `warning` from 0.3 (30 %), `critical` from 0.6 of the heap; tables under `min_bytes`
//! (default 1 MiB) are skipped: small tables cost little whatever their state.
//!
//! ## Fix
//! `VACUUM (ANALYZE)` (`dbopt vacuum TABLE`) removes dead tuples; returning the space to the
//! operating system needs `VACUUM FULL` (locks the table) or pg_repack.

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
                warning: 0.3,
                critical: 0.6,
            },
            min_bytes: 1 << 20,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "table-bloat",
    scope: Scope::Catalog,
    summary: "table heap mostly dead or empty space",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(cat) = ctx.catalog else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for t in &cat.tables {
        if t.heap_bytes < p.min_bytes {
            continue;
        }
        let b = bloat::estimate(t, cat.settings.block_size);
        let Some(severity) = p.levels.grade(b.ratio()) else {
            continue;
        };
        let mut evidence = vec![format!(
            "{} live, {} dead tuples ({:.0} % dead)",
            t.stats.n_live_tup,
            t.stats.n_dead_tup,
            b.dead_ratio * 100.0
        )];
        if let (Some(r), Some(bytes)) = (b.estimated_ratio, b.estimated_bytes) {
            evidence.push(format!(
                "about {} of {} heap not needed by live rows ({:.0} %)",
                crate::units::bytes(bytes),
                crate::units::bytes(t.heap_bytes),
                r * 100.0
            ));
        }
        evidence.push(format!(
            "last vacuum {}, last autovacuum {}",
            t.stats.last_vacuum.as_deref().unwrap_or("never"),
            t.stats.last_autovacuum.as_deref().unwrap_or("never")
        ));
        out.push(Finding {
            rule: RULE.id.into(),
            severity,
            object: t.qualified(),
            message: format!(
                "table {} is about {:.0} % bloat",
                t.qualified(),
                b.ratio() * 100.0
            ),
            evidence,
            remedy: "VACUUM (ANALYZE) it; VACUUM FULL or pg_repack to give the space back".into(),
            fix: Some(Fix::sql(format!(
                "VACUUM (ANALYZE) {}",
                ddl::quote_table(&t.qualified())
            ))),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TableStats;
    use crate::rules::check_with_defaults;

    #[test]
    fn dead_share_grades_and_small_tables_are_skipped() {
        let t = |name: &str, dead: i64, bytes: i64| Table {
            schema: "public".into(),
            name: name.into(),
            heap_bytes: bytes,
            stats: TableStats {
                n_live_tup: 1000,
                n_dead_tup: dead,
                ..Default::default()
            },
            ..Default::default()
        };
        let cat = Catalog {
            tables: vec![
                t("clean", 10, 4 << 20),
                t("some", 500, 4 << 20),
                t("lots", 3000, 4 << 20),
                t("tiny", 3000, 8192),
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
                ("public.some", Severity::Warning),
                ("public.lots", Severity::Critical)
            ]
        );
        assert_eq!(
            f[1].sql().as_deref(),
            Some("VACUUM (ANALYZE) \"public\".\"lots\"")
        );
    }
}
