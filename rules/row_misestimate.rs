//! ## What it does
//! Flags plan nodes whose row estimate is off from the actual rows by 10x (info), 100x
//! (warning) or 1000x (critical), at the node where the error appears (not at every node
//! above it that inherits it).
//!
//! ## Why is this bad?
//! The planner picks join methods, join order and memory from its estimates. An estimate
//! 100 times too low turns a hash join into a nested loop over thousands of rows; too high
//! wastes memory or skips an index.
//!
//! ## Thresholds
//! `info` 10, `warning` 100, `critical` 1000 (ratio of the larger to the smaller of estimated
//! and actual rows per loop); `min_rows` (default 100): the larger side must reach it.
//!
//! ## Fix
//! ANALYZE the table; for columns that depend on each other, `CREATE STATISTICS ... (dependencies,
//! ndistinct)`; for skewed columns, a higher statistics target.

use crate::analyze::plan::Node;
use crate::analyze::{count, node_finding};
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub info: f64,
    pub warning: f64,
    pub critical: f64,
    pub min_rows: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            info: 10.0,
            warning: 100.0,
            critical: 1000.0,
            min_rows: 100.0,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "row-misestimate",
    scope: Scope::Plan,
    summary: "row estimate off by 10x, 100x or 1000x",
    check,
};

/// Every node with whether its output may have been cut short by a node above it.
fn nodes_with_truncation(root: &Node) -> Vec<(&Node, bool)> {
    fn walk<'a>(n: &'a Node, truncated: bool, out: &mut Vec<(&'a Node, bool)>) {
        out.push((n, truncated));
        let stops_early = n.node_type == "Limit"
            || n.node_type == "Merge Join"
            || matches!(n.join_type.as_deref(), Some("Semi" | "Anti"));
        for c in &n.children {
            walk(c, truncated || stops_early, out);
        }
    }
    let mut out = Vec::new();
    walk(root, false, &mut out);
    out
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(plan) = ctx.plan else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for (n, truncated) in nodes_with_truncation(&plan.root) {
        let (Some((factor, under)), Some(actual)) = (n.misestimate(), n.actual_rows) else {
            continue;
        };
        // Below a LIMIT (or the inner side of a semi/anti join) a node stops early: fewer
        // actual rows than estimated is then expected, not a misestimate.
        if truncated && !under {
            continue;
        }
        if actual.max(n.plan_rows) < p.min_rows || n.loops.unwrap_or(1.0) == 0.0 {
            continue;
        }
        let severity = if factor >= p.critical {
            Severity::Critical
        } else if factor >= p.warning {
            Severity::Warning
        } else if factor >= p.info {
            Severity::Info
        } else {
            continue;
        };
        // Report where the error starts: a child already as wrong, the same way, explains it.
        let inherited = n.children.iter().any(|c| {
            c.misestimate()
                .is_some_and(|(cf, cu)| cu == under && cf >= factor / 2.0)
        });
        if inherited {
            continue;
        }
        let mut evidence = vec![format!(
            "estimated {} rows, actual {} (per loop, {} loops)",
            count(n.plan_rows),
            count(actual),
            count(n.loops_or_one())
        )];
        for cond in [&n.index_cond, &n.filter, &n.hash_cond, &n.join_filter]
            .into_iter()
            .flatten()
        {
            evidence.push(format!("condition: {cond}"));
        }
        out.push(node_finding(
            RULE.id,
            severity,
            n,
            format!(
                "row estimate is {factor:.0}x too {}",
                if under { "low" } else { "high" }
            ),
            evidence,
            "ANALYZE the table; if the filtered columns are correlated, CREATE STATISTICS (dependencies, ndistinct) on them; for skewed values raise the column's statistics target".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_plan;

    #[test]
    fn grades_by_factor_at_the_origin() {
        let json = r#"[{"Plan": {"Node Type": "Sort", "Plan Rows": 10, "Actual Rows": 5000,
            "Actual Loops": 1, "Plans": [{"Node Type": "Seq Scan", "Relation Name": "t",
            "Plan Rows": 10, "Actual Rows": 5000, "Actual Loops": 1, "Filter": "(a = 1)"}]}}]"#;
        let f = check_plan(&RULE, json);
        assert_eq!(f.len(), 1, "only the scan, not the sort above it");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].object.contains("Seq Scan"));
        let limited = r#"[{"Plan": {"Node Type": "Limit", "Plan Rows": 5, "Actual Rows": 5, "Actual Loops": 1,
            "Plans": [{"Node Type": "Sort", "Plan Rows": 5000, "Actual Rows": 5, "Actual Loops": 1}]}}]"#;
        assert!(
            check_plan(&RULE, limited).is_empty(),
            "a LIMIT stops its input early"
        );
        let fine = r#"[{"Plan": {"Node Type": "Seq Scan", "Plan Rows": 4000, "Actual Rows": 5000, "Actual Loops": 1}}]"#;
        assert!(check_plan(&RULE, fine).is_empty());
    }
}
