//! ## What it does
//! Flags sorts that did not fit in `work_mem` and spilled to temporary files (`Sort Method:
//! external merge`, `Sort Space Type: Disk`).
//!
//! ## Why is this bad?
//! An external sort writes and re-reads its input from disk: slower by an order of magnitude
//! than an in-memory sort, and it competes for I/O with everything else.
//!
//! ## Thresholds
//! Any spill is a `warning`; `critical_kb` (default 1,048,576, i.e. 1 GB) of disk makes it
//! `critical`.
//!
//! ## Fix
//! Raise `work_mem` for this query (`SET LOCAL work_mem`, about twice the disk space used), sort
//! fewer or narrower rows, or add an index that returns the rows already in order.

use crate::analyze::{count, node_finding};
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub critical_kb: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            critical_kb: 1_048_576.0,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "sort-spills-to-disk",
    scope: Scope::Plan,
    summary: "sort spilled to disk (external merge)",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(plan) = ctx.plan else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for n in plan.nodes() {
        let disk = n.sort_space_type.as_deref() == Some("Disk")
            || n.sort_method
                .as_deref()
                .is_some_and(|m| m.starts_with("external"));
        if !disk {
            continue;
        }
        let kb = n.sort_space_kb.unwrap_or(0.0);
        out.push(node_finding(
            RULE.id,
            if kb >= p.critical_kb {
                Severity::Critical
            } else {
                Severity::Warning
            },
            n,
            format!("sort spilled {} kB to disk", count(kb)),
            vec![
                format!(
                    "Sort Method: {}, Sort Key: {}",
                    n.sort_method.as_deref().unwrap_or("?"),
                    n.sort_key.join(", ")
                ),
                format!(
                    "temp blocks written {}, read {}",
                    count(n.temp_written),
                    count(n.temp_read)
                ),
            ],
            format!(
                "raise work_mem for this query (SET LOCAL work_mem = '{}MB'), sort fewer or narrower rows, or index the sort key so rows come out in order",
                ((kb * 2.0) / 1024.0).ceil().max(1.0)
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_plan;

    #[test]
    fn disk_sorts_only() {
        let disk = r#"[{"Plan": {"Node Type": "Sort", "Sort Key": ["x"], "Sort Method": "external merge",
            "Sort Space Used": 9000, "Sort Space Type": "Disk", "Actual Rows": 1, "Actual Loops": 1}}]"#;
        assert_eq!(check_plan(&RULE, disk).len(), 1);
        let mem = r#"[{"Plan": {"Node Type": "Sort", "Sort Key": ["x"], "Sort Method": "quicksort",
            "Sort Space Used": 90, "Sort Space Type": "Memory", "Actual Rows": 1, "Actual Loops": 1}}]"#;
        assert!(check_plan(&RULE, mem).is_empty());
    }
}
