//! ## What it does
//! Finds N+1 loops in pg_stat_statements: a child statement that looks one key up
//! (`WHERE lead_id = $1`, few rows per call) is called about as many times as a parent
//! statement on the linked table returned rows. The link is a foreign key, or matching key
//! names (`lead_id` → `leads.id`). The same thresholds drive the log detector
//! (`crate::workload::nplusone::detect_log`), which sees each loop in a session directly.
//!
//! ## Why is this bad?
//! Each child call pays a round trip, parsing, planning and executor start-up; 20 lookups of
//! one row cost far more than one lookup of 20 rows, and the cost grows with the page size.
//! One query with `= ANY($1)` (or a JOIN in the parent) does the same work at once.
//!
//! ## Thresholds
//! pg_stat_statements: `min_child_calls` (20), `max_rows_per_call` (10), `tolerance` (0.2:
//! child calls within ±20% of the parent's rows). Logs: `log_min_repeats` (5 executions in one
//! session), `log_window_ms` (500 ms between two of them), `log_min_total_ms` (50 ms in total).
//! Severity is `warning`, `critical` from `critical_ms` (10 s) spent in the child.
//!
//! ## Fix
//! Collect the parent's keys and run the child once with `WHERE fk = ANY($1)`, or JOIN the child
//! in the parent query (most ORMs: eager loading, `includes`, `prefetch_related`, `selectinload`).

use crate::rules::prelude::*;
use crate::workload::nplusone::{self, LogThresholds, NPlusOne, PgssThresholds};
use crate::workload::shaped::short;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_child_calls: i64,
    pub max_rows_per_call: f64,
    pub tolerance: f64,
    pub log_min_repeats: usize,
    pub log_window_ms: f64,
    pub log_min_total_ms: f64,
    pub critical_ms: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_child_calls: 20,
            max_rows_per_call: 10.0,
            tolerance: 0.2,
            log_min_repeats: 5,
            log_window_ms: 500.0,
            log_min_total_ms: 50.0,
            critical_ms: 10_000.0,
        }
    }
}

impl Params {
    /// The thresholds from `dbopt.toml` (`[rules.n-plus-one]`), defaults where unset.
    pub fn load(config: &crate::rules::Config) -> Result<Self, RuleError> {
        config.for_rule(RULE.id).params()
    }

    pub fn pgss(&self) -> PgssThresholds {
        PgssThresholds {
            min_child_calls: self.min_child_calls,
            max_rows_per_call: self.max_rows_per_call,
            tolerance: self.tolerance,
        }
    }

    pub fn log(&self) -> LogThresholds {
        LogThresholds {
            min_repeats: self.log_min_repeats,
            window_ms: self.log_window_ms,
            min_total_ms: self.log_min_total_ms,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "n-plus-one",
    scope: Scope::Workload,
    summary: "a lookup run once per row of a parent statement (N+1 loop)",
    check,
};

/// One N+1 loop as a finding (also used for loops found in logs).
pub fn finding(n: &NPlusOne, p: &Params) -> Finding {
    let source = match n.evidence {
        nplusone::Evidence::PgStatStatements => "pg_stat_statements",
        nplusone::Evidence::Log => "the statement log",
        nplusone::Evidence::Activity => {
            "pg_stat_activity samples (a weaker signal: statements between two samples are missed)"
        }
    };
    Finding {
        rule: RULE.id.into(),
        severity: if n.child_total_ms >= p.critical_ms {
            Severity::Critical
        } else {
            Severity::Warning
        },
        object: format!("{}.{}", n.child_table, n.child_column),
        message: format!(
            "N+1 loop: `{}` runs once per row of `{}`",
            short(&n.child.query, 80),
            short(&n.parent.query, 80)
        ),
        evidence: vec![
            format!(
                "{} child calls for {} parent rows (ratio {:.2}, {} parent executions) in {source}",
                n.child_calls, n.parent_rows, n.ratio, n.loops
            ),
            format!(
                "{:.1} ms in the child, {:.1} ms in the parent",
                n.child_total_ms, n.parent_total_ms
            ),
            format!(
                "{}.{} → {}.{} ({})",
                n.child_table, n.child_column, n.parent_table, n.parent_column, n.link
            ),
        ],
        remedy: format!(
            "run the child once for all the parent's keys with = ANY($1), {}",
            n.join
        ),
        fix: Some(Fix::sql(n.rewrite.clone())),
    }
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let (Some(cat), Some(w)) = (ctx.catalog, ctx.workload) else {
        return Ok(vec![]);
    };
    Ok(nplusone::detect_pgss(w, cat, &p.pgss())
        .iter()
        .map(|n| finding(n, &p))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, ForeignKey, Table};
    use crate::rules::Config;
    use crate::workload::{Statement, Workload};

    fn table(name: &str, cols: &[&str]) -> Table {
        Table {
            schema: "public".into(),
            name: name.into(),
            reltuples: 10_000.0,
            columns: cols
                .iter()
                .map(|c| Column {
                    name: (*c).into(),
                    type_name: "bigint".into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn stmt(fp: &str, q: &str, calls: i64, rows: i64) -> Statement {
        Statement {
            fingerprint: fp.into(),
            query: q.into(),
            calls,
            rows,
            total_ms: calls as f64,
            ..Default::default()
        }
    }

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.tables.push(table("posts", &["id", "author", "title"]));
        c.tables.push(table("notes", &["id", "ref", "body"]));
        c.foreign_keys.push(ForeignKey {
            name: "notes_ref_fkey".into(),
            table: "public.notes".into(),
            columns: vec!["ref".into()],
            ref_table: "public.posts".into(),
            ref_columns: vec!["id".into()],
        });
        c
    }

    fn run(w: &Workload, toml: &str) -> Vec<Finding> {
        let cfg = Config::parse(toml, "t").unwrap();
        (RULE.check)(
            &Ctx {
                catalog: Some(&catalog()),
                workload: Some(w),
                ..Default::default()
            },
            &cfg.for_rule(RULE.id),
        )
        .unwrap()
    }

    fn workload(child_calls: i64) -> Workload {
        Workload {
            statements: vec![
                stmt(
                    "1",
                    "SELECT id, title FROM posts WHERE author = $1",
                    10,
                    200,
                ),
                stmt(
                    "2",
                    "SELECT id, body FROM notes WHERE ref = $1",
                    child_calls,
                    child_calls,
                ),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn fk_linked_loop_is_found_and_tolerance_applies() {
        let f = run(&workload(210), "");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].object, "public.notes.ref");
        assert_eq!(
            f[0].sql().as_deref(),
            Some("SELECT id, body FROM notes WHERE ref = ANY($1)")
        );
        assert!(run(&workload(400), "").is_empty());
        assert_eq!(
            run(&workload(400), "[rules.n-plus-one]\ntolerance = 1.5\n").len(),
            1
        );
        assert!(matches!(
            Config::parse("[rules.n-plus-one]\nno_such = 1\n", "t")
                .unwrap()
                .for_rule(RULE.id)
                .params::<Params>(),
            Err(RuleError::BadParams { .. })
        ));
    }
}
