//! ## What it does
//! Flags the inner side of a nested loop (or a correlated SubPlan) that runs many times: the
//! N+1 query pattern inside one statement.
//!
//! ## Why is this bad?
//! Each loop is a separate scan. Thousands of index lookups cost more than one hash join;
//! thousands of sequential scans of the inner table are a disaster that grows with both tables.
//!
//! ## Thresholds
//! `min_loops` (default 1,000) for a `warning`; `critical` when the repeated side contains a
//! sequential scan or runs `critical_loops` (default 100,000) times.
//!
//! ## Fix
//! Let PostgreSQL join in one pass: rewrite per-row LATERAL subqueries or correlated
//! subqueries as joins, and make sure the row estimates are right (a nested loop is often chosen
//! because the outer side was estimated at a handful of rows). When the loop stays, the inner
//! side must be an index lookup on the join key.

use crate::analyze::plan::Node;
use crate::analyze::{count, node_finding};
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_loops: f64,
    pub critical_loops: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_loops: 1_000.0,
            critical_loops: 100_000.0,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "nested-loop-many-loops",
    scope: Scope::Plan,
    summary: "inner side of a nested loop or a SubPlan runs thousands of times (N+1 in one query)",
    check,
};

fn has_seq_scan(n: &Node) -> bool {
    n.node_type.ends_with("Seq Scan") || n.children.iter().any(has_seq_scan)
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(plan) = ctx.plan else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for n in plan.nodes() {
        // The repeated side: a Nested Loop's second child, or a SubPlan.
        let repeated: Vec<&Node> = if n.node_type == "Nested Loop" {
            n.children.get(1).into_iter().collect()
        } else {
            n.children
                .iter()
                .filter(|c| c.parent_relationship.as_deref() == Some("SubPlan"))
                .collect()
        };
        for inner in repeated {
            let loops = inner.loops.unwrap_or(0.0);
            if loops < p.min_loops {
                continue;
            }
            let seq = has_seq_scan(inner);
            out.push(node_finding(
                RULE.id,
                if seq || loops >= p.critical_loops {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                inner,
                format!(
                    "runs {} times inside {}: the N+1 pattern within one query",
                    count(loops),
                    n.label()
                ),
                vec![
                    format!(
                        "{} loops, {:.1} ms in total",
                        count(loops),
                        inner.inclusive_ms().unwrap_or(0.0)
                    ),
                    if seq {
                        "the repeated side contains a sequential scan".into()
                    } else {
                        format!("repeated side: {}", inner.node_type)
                    },
                ],
                "rewrite the per-row subquery (LATERAL ... LIMIT, correlated subquery) as a join PostgreSQL can hash or merge, check the outer side's row estimate, and index the inner side's join key".into(),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_plan;

    fn nl(loops: u32, inner: &str) -> String {
        format!(
            r#"[{{"Plan": {{"Node Type": "Nested Loop", "Actual Rows": 1, "Actual Loops": 1, "Plans": [
              {{"Node Type": "Seq Scan", "Relation Name": "a", "Actual Rows": {loops}, "Actual Loops": 1}},
              {{"Node Type": "{inner}", "Relation Name": "b", "Actual Rows": 1, "Actual Loops": {loops}, "Actual Total Time": 0.01}}]}}}}]"#
        )
    }

    #[test]
    fn many_loops_flagged_seq_scan_is_critical() {
        let f = check_plan(&RULE, &nl(5000, "Index Scan"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(
            check_plan(&RULE, &nl(5000, "Seq Scan"))[0].severity,
            Severity::Critical
        );
        assert!(check_plan(&RULE, &nl(20, "Index Scan")).is_empty());
    }
}
