//! ## What it does
//! Flags hot `count(*)` statements over a large table with no equality predicate to narrow
//! them (`SELECT count(*) FROM events`, `... WHERE created_at > $1` over most of it).
//!
//! ## Why is this bad?
//! PostgreSQL keeps no row count: every `count(*)` visits every visible row (MVCC), so the
//! cost grows with the table, on every call of a page that shows a total.
//!
//! ## Thresholds
//! `min_rows` (100,000 rows in the table), `min_calls` (10). Severity `warning`.
//!
//! ## Fix
//! Show an estimate (`reltuples`, or `EXPLAIN`'s row count), keep a counter table maintained
//! by triggers, or count only what the page needs (`LIMIT` + "more than N").

use crate::rules::prelude::*;
use crate::workload::shape::PredKind;
use crate::workload::shaped::{shaped, short};

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_rows: f64,
    pub min_calls: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_rows: 100_000.0,
            min_calls: 10,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "count-on-large-table",
    scope: Scope::Workload,
    summary: "count(*) over a large table in a hot statement",
    check,
};

fn counts(query: &str) -> bool {
    let q: String = query
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    q.contains("count(*)") || q.contains("count(1)")
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let (Some(cat), Some(w)) = (ctx.catalog, ctx.workload) else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for s in shaped(w, Some(cat)) {
        let st = s.statement;
        if st.calls < p.min_calls || !counts(&st.query) || s.shape.accesses.len() != 1 {
            continue;
        }
        let a = &s.shape.accesses[0];
        let Some(t) = cat.table(&a.table) else {
            continue;
        };
        if t.reltuples < p.min_rows
            || !s.shape.group_by.is_empty()
            || a.predicates.iter().any(|pr| pr.kind == PredKind::Eq)
        {
            continue;
        }
        out.push(Finding {
            rule: RULE.id.into(),
            severity: Severity::Warning,
            object: st.fingerprint.clone(),
            message: format!(
                "count(*) over {} ({:.0} rows): `{}`",
                a.table,
                t.reltuples,
                short(&st.query, 100)
            ),
            evidence: vec![format!(
                "{} calls, {:.1} ms mean, {:.1} ms in total",
                st.calls, st.mean_ms, st.total_ms
            )],
            remedy: "show an estimate (pg_class.reltuples), keep a counter table, or count at most what the page shows".into(),
            fix: None,
        });
    }
    Ok(out)
}
