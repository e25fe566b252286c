//! ## What it does
//! Flags hot statements that read `*` from a wide table (many columns).
//!
//! ## Why is this bad?
//! Every column is read, detoasted and sent, even those the application ignores; no
//! index-only scan is possible, and a column added later silently widens every such query.
//!
//! ## Thresholds
//! `min_columns` (15 columns in the table), `min_calls` (50). Severity `info`.
//!
//! ## Fix
//! Name the columns the code uses (`SELECT id, name, status FROM ...`).

use crate::rules::prelude::*;
use crate::workload::shaped::{shaped, short};

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_columns: usize,
    pub min_calls: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_columns: 15,
            min_calls: 50,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "select-star-on-wide-table",
    scope: Scope::Workload,
    summary: "SELECT * on a wide table in a hot statement",
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
            if a.target || !a.selected.iter().any(|c| c == "*") || t.columns.len() < p.min_columns {
                continue;
            }
            out.push(Finding {
                rule: RULE.id.into(),
                severity: Severity::Info,
                object: st.fingerprint.clone(),
                message: format!(
                    "SELECT * reads all {} columns of {}: `{}`",
                    t.columns.len(),
                    a.table,
                    short(&st.query, 100)
                ),
                evidence: vec![format!(
                    "{} calls, {:.1} ms in total",
                    st.calls, st.total_ms
                )],
                remedy: "select only the columns the application uses".into(),
                fix: None,
            });
        }
    }
    Ok(out)
}
