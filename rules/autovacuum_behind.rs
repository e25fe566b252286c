//! ## What it does
//! Flags tables whose dead tuples are well past the point where autovacuum should have
//! vacuumed them: `n_dead_tup` against the table's own threshold,
//! `autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor × reltuples`, with the
//! table's storage parameters (reloptions) taking precedence over the server's settings. It
//! says whether autovacuum is disabled (server-wide or by `autovacuum_enabled = false`),
//! whether it never ran on the table, and shows each vacuum running now with its progress
//! (pg_stat_progress_vacuum). Insert-driven autovacuum (PG 13+) is not judged here.
//!
//! `table-bloat` measures how much of the heap is dead or empty; this rule says why autovacuum
//! has not dealt with it. The two often fire together on the same table.
//!
//! ## Why is this bad?
//! Dead tuples cost every scan, bloat the table and its indexes, and defeat index-only scans
//! (the visibility map is set by vacuum). A table that autovacuum never reaches also never has
//! its transaction IDs frozen until the emergency anti-wraparound vacuum.
//!
//! ## Thresholds
//! Dead tuples over the table's threshold, `levels`: `warning` from 2 (twice the threshold),
//! `critical` from 10; tables with fewer than `min_dead` (default 1000) dead tuples are
//! skipped. A table with autovacuum disabled is a warning once past its threshold.
//!
//! ## Fix
//! `VACUUM (ANALYZE)` it now (`dbopt vacuum TABLE`); re-enable autovacuum on it
//! (`ALTER TABLE ... RESET (autovacuum_enabled)`); for a busy large table lower its
//! `autovacuum_vacuum_scale_factor`; a vacuum that never finishes points at a long transaction
//! holding the xmin horizon.

use crate::catalog::TableKind;
use crate::health::server::{Server, VacuumProgress};
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub levels: Levels,
    pub min_dead: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            levels: Levels {
                warning: 2.0,
                critical: 10.0,
            },
            min_dead: 1000,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "autovacuum-behind",
    scope: Scope::Health,
    summary: "dead tuples far past the table's autovacuum threshold",
    check,
};

/// The table's own threshold (reloptions over the server's settings) and how it was computed.
fn threshold(t: &Table, server: &Server) -> (f64, String) {
    let num = |name: &str| t.stats.reloption(name).and_then(|v| v.parse::<f64>().ok());
    let base =
        num("autovacuum_vacuum_threshold").unwrap_or(server.settings.autovacuum_vacuum_threshold);
    let scale = num("autovacuum_vacuum_scale_factor")
        .unwrap_or(server.settings.autovacuum_vacuum_scale_factor);
    let rows = t.reltuples.max(0.0);
    let value = base + scale * rows;
    (
        value,
        format!("its threshold is {base} + {scale} × {rows:.0} rows = {value:.0} dead tuples"),
    )
}

/// Why autovacuum may not run on `t`, if it is switched off.
fn disabled(t: &Table, server: &Server) -> Option<String> {
    if !server.settings.autovacuum {
        return Some("autovacuum is off on the server".into());
    }
    let off = t.stats.reloption("autovacuum_enabled").is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "false" | "off" | "0" | "no"
        )
    });
    off.then(|| "autovacuum is disabled on this table (autovacuum_enabled = false)".into())
}

fn behind(
    t: &Table,
    server: &Server,
    p: &Params,
    running: Option<&VacuumProgress>,
) -> Option<Finding> {
    let dead = t.stats.n_dead_tup;
    let (limit, how) = threshold(t, server);
    if dead < p.min_dead || (dead as f64) <= limit {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let over = dead as f64 / limit.max(1.0);
    let off = disabled(t, server);
    let severity = p
        .levels
        .grade(over)
        .or(off.as_ref().map(|_| Severity::Warning))?;
    let mut evidence = vec![
        format!(
            "{dead} dead tuples beside {} live; {how} ({over:.1} × over)",
            t.stats.n_live_tup
        ),
        match &t.stats.last_autovacuum {
            Some(at) => format!(
                "last autovacuum {at}, {} autovacuums since the statistics reset",
                t.stats.autovacuum_count
            ),
            None => "autovacuum has never vacuumed it (since the statistics reset)".into(),
        },
    ];
    evidence.extend(off);
    evidence.extend(running.map(VacuumProgress::describe));
    evidence.push("see table-bloat for the space the dead rows take".into());
    Some(Finding {
        rule: RULE.id.into(),
        severity,
        object: t.qualified(),
        message: format!(
            "autovacuum is behind on {}: {dead} dead tuples, {over:.1} × its threshold",
            t.qualified()
        ),
        evidence,
        remedy: "VACUUM (ANALYZE) it now; re-enable or tune autovacuum for it".into(),
        fix: Some(Fix::sql(format!(
            "VACUUM (ANALYZE) {}",
            ddl::quote_table(&t.qualified())
        ))),
    })
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let (Some(cat), Some(h)) = (ctx.catalog, ctx.health) else {
        return Ok(vec![]);
    };
    let server = &h.server;
    let running = |name: &str| server.vacuums.iter().find(|v| v.table == name);
    let mut out: Vec<Finding> = cat
        .tables
        .iter()
        .filter(|t| matches!(t.kind, TableKind::Table | TableKind::MaterializedView))
        .filter_map(|t| behind(t, server, &p, running(&t.qualified())))
        .collect();
    // A vacuum running now on a table not flagged is worth knowing too, as information.
    for v in &server.vacuums {
        if !out.iter().any(|f| f.object == v.table) {
            out.push(Finding {
                rule: RULE.id.into(),
                severity: Severity::Info,
                object: v.table.clone(),
                message: format!("a vacuum is running on {}", v.table),
                evidence: vec![v.describe()],
                remedy: "nothing to do; if it never finishes, look for what holds the xmin horizon"
                    .into(),
                fix: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TableStats;
    use crate::health::Health;
    use crate::rules::check_with_defaults;

    fn table(name: &str, rows: f64, dead: i64, options: &[&str]) -> Table {
        Table {
            schema: "public".into(),
            name: name.into(),
            reltuples: rows,
            stats: TableStats {
                n_live_tup: rows as i64,
                n_dead_tup: dead,
                reloptions: options.iter().map(|o| (*o).to_string()).collect(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn own_thresholds_disabled_tables_and_running_vacuums() {
        let cat = Catalog {
            tables: vec![
                // Threshold 50 + 0.2 × 100000 = 20050.
                table("fine", 100_000.0, 20_000, &[]),
                table("behind", 100_000.0, 60_000, &[]),
                table("far", 100_000.0, 300_000, &[]),
                // Its own scale factor: 50 + 0.01 × 100000 = 1050.
                table(
                    "tuned",
                    100_000.0,
                    5_000,
                    &["autovacuum_vacuum_scale_factor=0.01"],
                ),
                table("off", 100_000.0, 25_000, &["autovacuum_enabled=false"]),
                table("few", 10.0, 900, &[]),
            ],
            ..Default::default()
        };
        let mut h = Health::default();
        h.server.vacuums.push(VacuumProgress {
            pid: 9,
            table: "public.far".into(),
            phase: "scanning heap".into(),
            heap_blks_total: 100,
            heap_blks_scanned: 10,
            running_s: None,
        });
        h.server.vacuums.push(VacuumProgress {
            pid: 10,
            table: "public.fine".into(),
            phase: "vacuuming indexes".into(),
            ..Default::default()
        });
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
                ("public.behind", Severity::Warning),
                ("public.far", Severity::Critical),
                ("public.tuned", Severity::Warning),
                ("public.off", Severity::Warning),
                ("public.fine", Severity::Info),
            ]
        );
        assert!(f[1]
            .evidence
            .iter()
            .any(|e| e.contains("pid 9") && e.contains("10 of 100")));
        assert!(f[3]
            .evidence
            .iter()
            .any(|e| e.contains("autovacuum_enabled = false")));
        assert!(
            f[2].evidence[0].contains("50 + 0.01 × 100000 rows = 1050"),
            "{:?}",
            f[2].evidence
        );
    }
}
