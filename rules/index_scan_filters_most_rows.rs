//! ## What it does
//! Flags index scans (and bitmap heap scans) that fetch rows through the index only to discard
//! most of them with a `Filter`: the index matches a column of the condition, not all of it.
//!
//! ## Why is this bad?
//! Every row the index returns costs a table read; the ones the filter removes were read for
//! nothing. Usually the index lacks the filtered column or has its columns in the wrong order
//! (the range column before an equality column).
//!
//! ## Thresholds
//! `min_removed` (default 1,000) rows removed in total; `removed` levels on the share of the
//! fetched rows removed: `warning` 0.9, `critical` 0.99.
//!
//! ## Fix
//! Extend or replace the index so it covers the whole condition: equality columns first, then
//! one range column.

use crate::analyze::{count, node_finding};
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_removed: f64,
    pub removed: Levels,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_removed: 1_000.0,
            removed: Levels {
                warning: 0.9,
                critical: 0.99,
            },
        }
    }
}

pub static RULE: Rule = Rule {
    id: "index-scan-filters-most-rows",
    scope: Scope::Plan,
    summary: "index scan that discards most fetched rows by filter (missing column or wrong order)",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(plan) = ctx.plan else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for n in plan.nodes() {
        if !matches!(
            n.node_type.as_str(),
            "Index Scan" | "Index Only Scan" | "Bitmap Heap Scan"
        ) {
            continue;
        }
        let (Some(kept), Some(filter)) = (n.actual_rows_total(), n.filter.as_ref()) else {
            continue;
        };
        let removed = n.removed_total();
        if removed < p.min_removed {
            continue;
        }
        let share = removed / (removed + kept);
        let Some(severity) = p.removed.grade(share) else {
            continue;
        };
        let cond = n
            .index_cond
            .as_ref()
            .or(n.recheck_cond.as_ref())
            .cloned()
            .unwrap_or_default();
        out.push(node_finding(
            RULE.id,
            severity,
            n,
            format!(
                "the index finds {} rows and the filter discards {:.1}% of them",
                count(removed + kept),
                share * 100.0
            ),
            vec![
                format!("Index Cond: {cond}"),
                format!("Filter: {filter} (removed {})", count(removed)),
            ],
            "extend the index with the filtered column(s), equality columns first and one range column last, so the index finds only matching rows".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_plan;

    #[test]
    fn mostly_filtered_index_scans() {
        let j = |kept: u32, removed: u32| {
            format!(
                r#"[{{"Plan": {{"Node Type": "Index Scan", "Relation Name": "t", "Index Name": "t_a", "Index Cond": "(a = 1)", "Filter": "(b = 2)", "Actual Rows": {kept}, "Actual Loops": 1, "Rows Removed by Filter": {removed}}}}}]"#
            )
        };
        assert_eq!(check_plan(&RULE, &j(10, 9990)).len(), 1);
        assert!(check_plan(&RULE, &j(5000, 5000)).is_empty());
    }
}
