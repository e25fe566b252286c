//! ## What it does
//! Flags the database, tables and indexes whose blocks are often not found in shared buffers:
//! the share of block reads that missed (`blks_read` against `blks_hit`, from
//! pg_stat_database, pg_statio_user_tables and pg_statio_user_indexes). Objects read fewer
//! than `min_blocks` times are not judged: a cold, rarely read table is not a finding.
//!
//! ## Why is this bad?
//! A miss goes to the operating system: at best its page cache (a system call), at worst the
//! disk. A database that misses often has a working set larger than `shared_buffers` (see
//! `settings-review`) or queries that read far more than they need (`seq-scan-heavy-table`).
//! The counters cannot tell an OS-cache hit from a disk read; `track_io_timing` can.
//!
//! ## Thresholds
//! Share of block reads that missed, `levels`: `warning` from 0.05 (a hit ratio under 95 %),
//! `critical` from 0.2 (under 80 %); only objects with at least `min_blocks` (default 10000)
//! block reads, hits and misses together, since the statistics reset.
//!
//! ## Fix
//! Find the statements that read the object (`dbopt advise` for missing indexes); give
//! `shared_buffers` more memory when the machine has it; drop indexes nothing uses.

use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub levels: Levels,
    pub min_blocks: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            levels: Levels {
                warning: 0.05,
                critical: 0.2,
            },
            min_blocks: 10_000,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "low-cache-hit-ratio",
    scope: Scope::Health,
    summary: "database, table or index often read from outside shared buffers",
    check,
};

/// One object's counters: what it is, its name, hits and misses.
struct Counted<'a> {
    kind: &'static str,
    name: String,
    hit: i64,
    read: i64,
    extra: Option<&'a str>,
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let mut counted = Vec::new();
    let shared_buffers;
    if let Some(h) = ctx.health {
        let d = &h.server.database;
        shared_buffers = format!(
            "shared_buffers = {}",
            crate::units::bytes(h.server.settings.shared_buffers_bytes)
        );
        counted.push(Counted {
            kind: "database",
            name: d.name.clone(),
            hit: d.blks_hit,
            read: d.blks_read,
            extra: Some(&shared_buffers),
        });
    }
    if let Some(cat) = ctx.catalog {
        counted.extend(cat.tables.iter().map(|t| Counted {
            kind: "table",
            name: t.qualified(),
            hit: t.stats.heap_blks_hit,
            read: t.stats.heap_blks_read,
            extra: None,
        }));
        counted.extend(cat.indexes.iter().map(|i| Counted {
            kind: "index",
            name: format!("{}.{}", i.schema, i.name),
            hit: i.stats.blks_hit,
            read: i.stats.blks_read,
            extra: None,
        }));
    }
    let mut out = Vec::new();
    for c in counted {
        let total = c.hit + c.read;
        if total < p.min_blocks.max(1) {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let miss = c.read as f64 / total as f64;
        let Some(severity) = p.levels.grade(miss) else {
            continue;
        };
        let mut evidence = vec![format!(
            "{} block reads found in shared buffers, {} read from outside them ({:.1} % hit)",
            c.hit,
            c.read,
            (1.0 - miss) * 100.0
        )];
        evidence.extend(c.extra.map(str::to_string));
        out.push(Finding {
            rule: RULE.id.into(),
            severity,
            object: c.name.clone(),
            message: format!(
                "{} {} has a cache hit ratio of {:.1} %",
                c.kind,
                c.name,
                (1.0 - miss) * 100.0
            ),
            evidence,
            remedy: "find what reads it (`dbopt advise` for missing indexes); more shared_buffers if memory allows".into(),
            fix: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{IndexStats, TableStats};
    use crate::health::Health;
    use crate::rules::check_with_defaults;

    #[test]
    fn misses_graded_and_cold_objects_skipped() {
        let t = |name: &str, hit: i64, read: i64| Table {
            schema: "public".into(),
            name: name.into(),
            stats: TableStats {
                heap_blks_hit: hit,
                heap_blks_read: read,
                ..Default::default()
            },
            ..Default::default()
        };
        let cat = Catalog {
            tables: vec![
                t("warm", 99_000, 1000),
                t("cool", 90_000, 10_000),
                t("cold", 1000, 50_000),
                t("never", 0, 900),
            ],
            indexes: vec![Index {
                schema: "public".into(),
                name: "cold_idx".into(),
                stats: IndexStats {
                    blks_hit: 100,
                    blks_read: 20_000,
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut h = Health::default();
        h.server.database.name = "app".into();
        h.server.database.blks_hit = 1_000_000;
        h.server.database.blks_read = 100;
        let f = check_with_defaults(
            &RULE,
            &Ctx {
                catalog: Some(&cat),
                health: Some(&h),
                ..Default::default()
            },
        );
        let got: Vec<_> = f.iter().map(|f| (f.object.as_str(), f.severity)).collect();
        assert_eq!(
            got,
            vec![
                ("public.cool", Severity::Warning),
                ("public.cold", Severity::Critical),
                ("public.cold_idx", Severity::Critical)
            ]
        );
        assert!(f[1]
            .message
            .starts_with("table public.cold has a cache hit ratio of 2.0 %"));
    }
}
