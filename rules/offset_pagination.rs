//! ## What it does
//! Flags hot statements that page with `OFFSET` and touch many buffers for each row they
//! return: the rows skipped by the offset are read and thrown away on every page.
//!
//! ## Why is this bad?
//! `OFFSET 10000 LIMIT 50` reads 10,050 rows to return 50; page N costs N times page 1, and
//! rows inserted meanwhile shift pages (duplicates, gaps). pg_stat_statements hides the offset
//! (it becomes `$n`), so the evidence is the buffers touched per row returned.
//!
//! ## Thresholds
//! `min_calls` (10), `min_blocks_per_row` (2 shared buffers touched per row returned: a keyset page
//! touches a fraction of one; `OFFSET 20000 LIMIT 20` over 100-row pages touches about 10).
//! Severity `warning`, `critical` from `critical_ms` (60 s) in total.
//!
//! ## Fix
//! Keyset pagination: remember the last sort key of the page and ask for
//! `WHERE (sort_key, id) > ($1, $2) ORDER BY sort_key, id LIMIT 50`, served by an index.

use crate::rules::prelude::*;
use crate::workload::shaped::{shaped, short};

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_calls: i64,
    pub min_blocks_per_row: f64,
    pub critical_ms: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_calls: 10,
            min_blocks_per_row: 2.0,
            critical_ms: 60_000.0,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "offset-pagination",
    scope: Scope::Workload,
    summary: "deep OFFSET pagination reads and discards the skipped rows",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(w) = ctx.workload else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for s in shaped(w, ctx.catalog) {
        let st = s.statement;
        if s.shape.offset.is_none() || st.calls < p.min_calls {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let per_row = (st.shared_blks_hit + st.shared_blks_read) as f64 / st.rows.max(1) as f64;
        if per_row < p.min_blocks_per_row {
            continue;
        }
        out.push(Finding {
            rule: RULE.id.into(),
            severity: if st.total_ms >= p.critical_ms {
                Severity::Critical
            } else {
                Severity::Warning
            },
            object: st.fingerprint.clone(),
            message: format!("OFFSET pagination: `{}`", short(&st.query, 100)),
            evidence: vec![format!(
                "{per_row:.0} buffers touched per row returned; {} calls, {:.1} ms in total",
                st.calls, st.total_ms
            )],
            remedy: "page by key (keyset pagination): WHERE sort_key > $last ORDER BY sort_key LIMIT n, with an index on the sort key".into(),
            fix: None,
        });
    }
    Ok(out)
}
