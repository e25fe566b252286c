//! ## What it does
//! Flags large tables read mostly by sequential scans: of the rows read from the table
//! (pg_stat_user_tables), the share read by sequential scans (`seq_tup_read`) against those
//! fetched through indexes (`idx_tup_fetch`), for tables scanned often. The statements of the
//! workload that read the table (from their query shapes) are listed, so that `dbopt advise`
//! can be pointed at them.
//!
//! ## Why is this bad?
//! Each sequential scan reads the whole table: its cost grows with the table, it pushes useful
//! pages out of the cache, and a query that needs a few rows pays for all of them. A missing or
//! unusable index is the usual cause; a report that really reads everything is not (raise
//! `min_seq_scans` or disable the rule for it).
//!
//! ## Thresholds
//! Share of rows read by sequential scans, `levels`: `warning` from 0.9, `critical` from
//! 0.99; only tables of at least `min_rows` (default 10000) rows scanned sequentially at least
//! `min_seq_scans` (default 20) times since the statistics reset.
//!
//! ## Fix
//! Run `dbopt advise` on the workload: it proposes the index the listed statements need and
//! shows the cost before and after.

use crate::rules::prelude::*;
use crate::workload::shape::{self, StatementKind};
use crate::workload::Statement;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub levels: Levels,
    pub min_rows: f64,
    pub min_seq_scans: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            levels: Levels {
                warning: 0.9,
                critical: 0.99,
            },
            min_rows: 10_000.0,
            min_seq_scans: 20,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "seq-scan-heavy-table",
    scope: Scope::Health,
    summary: "large table read mostly by sequential scans",
    check,
};

/// The statements of the workload whose shapes read `table` (SELECT, UPDATE, DELETE, MERGE:
/// an INSERT writes it without scanning it), most total time first.
fn statements_reading<'a>(
    cat: &Catalog,
    table: &Table,
    statements: &'a [Statement],
) -> Vec<&'a Statement> {
    let wanted = table.qualified();
    let mut found: Vec<&Statement> = statements
        .iter()
        .filter(|s| {
            shape::extract(&s.query).is_ok_and(|shapes| {
                shapes
                    .iter()
                    .filter(|sh| {
                        matches!(
                            sh.kind,
                            StatementKind::Select
                                | StatementKind::Update
                                | StatementKind::Delete
                                | StatementKind::Merge
                        )
                    })
                    .flat_map(|sh| &sh.accesses)
                    .any(|a| cat.table(&a.table).is_some_and(|t| t.qualified() == wanted))
            })
        })
        .collect();
    found.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    found
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(cat) = ctx.catalog else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for t in &cat.tables {
        let s = &t.stats;
        #[allow(clippy::cast_precision_loss)]
        let rows = t.reltuples.max(s.n_live_tup as f64);
        if rows < p.min_rows || s.seq_scan < p.min_seq_scans {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let share = s.seq_tup_read as f64 / (s.seq_tup_read + s.idx_tup_fetch).max(1) as f64;
        let Some(severity) = p.levels.grade(share) else {
            continue;
        };
        let mut evidence = vec![
            format!(
                "{} sequential scans read {} rows; {} index scans fetched {} ({:.1} % of rows read sequentially)",
                s.seq_scan, s.seq_tup_read, s.idx_scan, s.idx_tup_fetch, share * 100.0
            ),
            format!("about {rows:.0} rows, {}", crate::units::bytes(t.heap_bytes)),
        ];
        match ctx.workload {
            Some(w) => {
                let readers = statements_reading(cat, t, &w.statements);
                if readers.is_empty() {
                    evidence.push("no statement of the workload reads it".into());
                }
                evidence.extend(readers.iter().take(3).map(|st| {
                    format!(
                        "read by {} ({} calls, {:.0} ms in all): {}",
                        st.fingerprint,
                        st.calls,
                        st.total_ms,
                        crate::sql::one_line(&st.query, 80)
                    )
                }));
            }
            None => {
                evidence.push("no workload read: the statements that scan it are unknown".into())
            }
        }
        out.push(Finding {
            rule: RULE.id.into(),
            severity,
            object: t.qualified(),
            message: format!(
                "table {} is read mostly by sequential scans ({:.0} % of its rows read)",
                t.qualified(),
                share * 100.0
            ),
            evidence,
            remedy: "run `dbopt advise` on the workload for the index these statements need".into(),
            fix: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TableStats;
    use crate::rules::check_with_defaults;
    use crate::workload::Workload;

    fn table(name: &str, rows: f64, seq_scan: i64, seq_tup: i64, idx_tup: i64) -> Table {
        Table {
            schema: "public".into(),
            name: name.into(),
            reltuples: rows,
            stats: TableStats {
                seq_scan,
                seq_tup_read: seq_tup,
                idx_tup_fetch: idx_tup,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn large_scanned_tables_with_their_statements() {
        let cat = Catalog {
            tables: vec![
                table("orders", 100_000.0, 50, 5_000_000, 10),
                table("users", 100_000.0, 50, 5_000_000, 5_000_000),
                table("small", 100.0, 5000, 500_000, 0),
                table("rare", 100_000.0, 2, 200_000, 0),
            ],
            ..Default::default()
        };
        let w = Workload {
            statements: vec![
                Statement {
                    fingerprint: "q1".into(),
                    query: "SELECT * FROM orders WHERE status = $1".into(),
                    calls: 50,
                    ..Default::default()
                },
                Statement {
                    fingerprint: "q2".into(),
                    query: "SELECT * FROM users WHERE id = $1".into(),
                    ..Default::default()
                },
                Statement {
                    fingerprint: "q3".into(),
                    query: "INSERT INTO orders (status) VALUES ($1)".into(),
                    calls: 500,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let f = check_with_defaults(
            &RULE,
            &Ctx {
                catalog: Some(&cat),
                workload: Some(&w),
                ..Default::default()
            },
        );
        let got: Vec<_> = f.iter().map(|f| (f.object.as_str(), f.severity)).collect();
        assert_eq!(got, vec![("public.orders", Severity::Critical)]);
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.starts_with("read by q1 (50 calls")),
            "{:?}",
            f[0].evidence
        );
        assert!(!f[0].evidence.iter().any(|e| e.contains("q2")));
        // An INSERT writes the table without reading it.
        assert!(!f[0].evidence.iter().any(|e| e.contains("q3")));
        assert!(f[0].remedy.contains("dbopt advise"));
    }
}
