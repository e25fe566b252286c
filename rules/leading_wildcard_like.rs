//! ## What it does
//! Flags `LIKE`/`ILIKE` predicates that no B-tree index can serve: a pattern written with a
//! leading wildcard (`name LIKE '%smith'`), or a parameter pattern (`name LIKE $1`, as
//! pg_stat_statements shows every pattern) whose statement reads most of the table's pages
//! on each call, which is what a leading wildcard does.
//!
//! ## Why is this bad?
//! A B-tree finds prefixes only; `'%x'` makes PostgreSQL read every row (or every index entry)
//! and test the pattern, on every call.
//!
//! ## Thresholds
//! `min_calls` (5), `min_table_share` (0.5: buffers touched per call, as a share of the table's
//! pages, for a parameter pattern to count as a full read), `min_pages` (100: smaller tables
//! are skipped). Severity `warning`.
//!
//! ## Fix
//! A trigram index (`CREATE EXTENSION pg_trgm; CREATE INDEX ... USING gin (col gin_trgm_ops)`)
//! serves `LIKE '%x%'`; for suffix searches index `reverse(col)`; or search differently
//! (full-text search, a normalized column).

use crate::rules::prelude::*;
use crate::sql::index_key::IndexKey;
use crate::workload::shape::PredValue;
use crate::workload::shaped::{shaped, short};

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_calls: i64,
    pub min_table_share: f64,
    pub min_pages: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_calls: 5,
            min_table_share: 0.5,
            min_pages: 100,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "leading-wildcard-like",
    scope: Scope::Workload,
    summary: "LIKE with a leading wildcard reads the whole table",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let (Some(cat), Some(w)) = (ctx.catalog, ctx.workload) else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for s in shaped(w, Some(cat)) {
        let st = s.statement;
        if st.calls < p.min_calls {
            continue;
        }
        for a in &s.shape.accesses {
            let Some(t) = cat.table(&a.table) else {
                continue;
            };
            if t.relpages < p.min_pages {
                continue;
            }
            #[allow(clippy::cast_precision_loss)]
            let share = (st.shared_blks_hit + st.shared_blks_read) as f64
                / st.calls as f64
                / t.relpages as f64;
            for pr in &a.predicates {
                if !(pr.op == "LIKE" || pr.op == "ILIKE") {
                    continue;
                }
                let why = match &pr.value {
                    PredValue::Constant(c) if c.trim_start_matches('\'').starts_with(['%', '_']) => {
                        format!("the pattern {c} starts with a wildcard")
                    }
                    PredValue::Param if share >= p.min_table_share => format!(
                        "each call touches {:.0}% of the table's pages: the patterns start with a wildcard, or no index serves them",
                        share * 100.0
                    ),
                    _ => continue,
                };
                let col = pr.column.clone().unwrap_or_default();
                out.push(Finding {
                    rule: RULE.id.into(),
                    severity: Severity::Warning,
                    object: st.fingerprint.clone(),
                    message: format!("{} on {}.{col}: `{}`", pr.op, a.table, short(&st.query, 100)),
                    evidence: vec![
                        why,
                        format!("{} calls, {:.1} ms in total", st.calls, st.total_ms),
                    ],
                    remedy: "a trigram index (pg_trgm, gin_trgm_ops), an index on reverse(col) for suffixes, or full-text search".into(),
                    fix: (!col.is_empty()).then(|| {
                        let mut fix = ddl::IndexDef::btree(
                            &format!("{}_{col}_trgm_idx", t.name),
                            &t.qualified(),
                            vec![IndexKey::column(col.clone())],
                        );
                        fix.method = "gin".into();
                        fix.opclass = Some("gin_trgm_ops".into());
                        Fix::CreateIndex(fix)
                    }),
                });
            }
        }
    }
    Ok(out)
}
