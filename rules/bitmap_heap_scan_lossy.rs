//! ## What it does
//! Flags bitmap heap scans whose bitmap went lossy (`Lossy Heap Blocks`): it no longer fit in
//! `work_mem`, so it remembers whole pages instead of rows.
//!
//! ## Why is this bad?
//! For every lossy page, every row on it is re-checked against the condition (`Rows Removed by
//! Index Recheck`): CPU and reads spent on rows the index had already excluded.
//!
//! ## Thresholds
//! `min_lossy_blocks` (default 1) for a `warning`; `critical_share` (default 0.5) of the blocks
//! lossy makes it `critical`.
//!
//! ## Fix
//! Raise `work_mem` for the query, or make the condition more selective (a better index).

use crate::analyze::{count, node_finding};
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_lossy_blocks: f64,
    pub critical_share: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_lossy_blocks: 1.0,
            critical_share: 0.5,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "bitmap-heap-scan-lossy",
    scope: Scope::Plan,
    summary: "bitmap heap scan went lossy (bitmap larger than work_mem)",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(plan) = ctx.plan else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for n in plan.nodes() {
        let lossy = n.lossy_heap_blocks.unwrap_or(0.0);
        if lossy < p.min_lossy_blocks {
            continue;
        }
        let exact = n.exact_heap_blocks.unwrap_or(0.0);
        let share = lossy / (lossy + exact);
        out.push(node_finding(
            RULE.id,
            if share >= p.critical_share {
                Severity::Critical
            } else {
                Severity::Warning
            },
            n,
            format!("bitmap went lossy on {} of {} pages", count(lossy), count(lossy + exact)),
            vec![
                format!("Heap Blocks: exact {}, lossy {}", count(exact), count(lossy)),
                format!(
                    "Rows Removed by Index Recheck {}",
                    count(n.rows_removed_by_index_recheck.unwrap_or(0.0) * n.loops_or_one())
                ),
            ],
            "raise work_mem for this query so the bitmap stays exact, or make the index condition more selective".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_plan;

    #[test]
    fn lossy_blocks_only() {
        let j = |l: u32| {
            format!(
                r#"[{{"Plan": {{"Node Type": "Bitmap Heap Scan", "Relation Name": "t", "Exact Heap Blocks": 10, "Lossy Heap Blocks": {l}, "Actual Rows": 1, "Actual Loops": 1}}}}]"#
            )
        };
        assert_eq!(check_plan(&RULE, &j(90))[0].severity, Severity::Critical);
        assert!(check_plan(&RULE, &j(0)).is_empty());
    }
}
