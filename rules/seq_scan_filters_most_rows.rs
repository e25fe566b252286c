//! ## What it does
//! Flags a sequential scan of a large table that throws away most of the rows it reads
//! because of its filter (EXPLAIN ANALYZE's `Rows Removed by Filter`).
//!
//! ## Why is this bad?
//! The statement reads the whole table to return a few rows: its cost grows with the table,
//! not with the result. An index on the filtered columns reads only the matching rows.
//!
//! ## Thresholds
//! `min_rows` (default 10,000): rows read (kept plus removed, all loops) below which a scan is
//! cheap anyway. `removed` levels: share of the rows read that the filter removed, `warning`
//! 0.9, `critical` 0.99.
//!
//! ## Fix
//! An index whose leading columns are the filter's equality columns, then a range column.

use crate::analyze::{count, node_finding};
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_rows: f64,
    pub removed: Levels,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_rows: 10_000.0,
            removed: Levels {
                warning: 0.9,
                critical: 0.99,
            },
        }
    }
}

pub static RULE: Rule = Rule {
    id: "seq-scan-filters-most-rows",
    scope: Scope::Plan,
    summary: "sequential scan of a large table that discards most rows by filter",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(plan) = ctx.plan else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for n in plan.nodes() {
        if !n.node_type.ends_with("Seq Scan") {
            continue;
        }
        let (Some(kept), Some(filter)) = (n.actual_rows_total(), n.filter.as_ref()) else {
            continue;
        };
        let removed = n.removed_total();
        let read = kept + removed;
        if read < p.min_rows {
            continue;
        }
        let share = removed / read;
        let Some(severity) = p.removed.grade(share) else {
            continue;
        };
        out.push(node_finding(
            RULE.id,
            severity,
            n,
            format!(
                "sequential scan reads {} rows and its filter discards {:.1}% of them",
                count(read),
                share * 100.0
            ),
            vec![
                format!("rows kept {}, removed by filter {}", count(kept), count(removed)),
                format!("Filter: {filter}"),
            ],
            "index the filtered columns (equality columns first, then one range column) so only matching rows are read".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_plan;

    fn plan(kept: u32, removed: u32) -> String {
        format!(
            r#"[{{"Plan": {{"Node Type": "Seq Scan", "Relation Name": "t", "Plan Rows": 10,
              "Actual Rows": {kept}, "Actual Loops": 1, "Actual Total Time": 9.0,
              "Filter": "(a = 1)", "Rows Removed by Filter": {removed}}}}}]"#
        )
    }

    #[test]
    fn flags_only_large_mostly_filtered_scans() {
        let f = check_plan(&RULE, &plan(10, 99_990));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(check_plan(&RULE, &plan(50_000, 50_000)).is_empty());
        assert!(check_plan(&RULE, &plan(10, 900)).is_empty(), "small table");
    }
}
