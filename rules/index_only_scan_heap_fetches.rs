//! ## What it does
//! Flags index-only scans that still fetch many rows from the table (`Heap Fetches`), because
//! the table's visibility map is not up to date.
//!
//! ## Why is this bad?
//! An index-only scan is chosen to avoid reading the table. Every heap fetch is a random table
//! read that the plan did not pay for: the scan is an index scan in disguise.
//!
//! ## Thresholds
//! `min_fetches` (default 1,000) heap fetches and `share` (default 0.1) of the rows returned.
//! `critical` when at least `critical_share` (default 0.5) of the rows needed the table.
//!
//! ## Fix
//! VACUUM the table so the visibility map is set, and make autovacuum visit it more often
//! (`autovacuum_vacuum_insert_scale_factor`, `autovacuum_vacuum_scale_factor` per table).

use crate::analyze::{count, node_finding};
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_fetches: f64,
    pub share: f64,
    pub critical_share: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_fetches: 1_000.0,
            share: 0.1,
            critical_share: 0.5,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "index-only-scan-heap-fetches",
    scope: Scope::Plan,
    summary: "index-only scan that still reads the table (visibility map not set)",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(plan) = ctx.plan else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for n in plan.nodes() {
        let (Some(fetches), Some(rows)) = (n.heap_fetches, n.actual_rows_total()) else {
            continue;
        };
        let share = fetches / rows.max(1.0);
        if n.node_type != "Index Only Scan" || fetches < p.min_fetches || share < p.share {
            continue;
        }
        let table = n.relation.clone().unwrap_or_else(|| "the table".into());
        out.push(node_finding(
            RULE.id,
            if share >= p.critical_share {
                Severity::Critical
            } else {
                Severity::Warning
            },
            n,
            format!(
                "index-only scan fetched {} rows from the table ({:.0}% of the rows it returned)",
                count(fetches),
                share.min(1.0) * 100.0
            ),
            vec![format!("Heap Fetches {}, rows {}", count(fetches), count(rows))],
            format!("VACUUM {table} so its visibility map is set, and let autovacuum visit it more often (per-table autovacuum_vacuum_insert_scale_factor / autovacuum_vacuum_scale_factor)"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_plan;

    #[test]
    fn fetches_relative_to_rows() {
        let j = |f: u32| {
            format!(
                r#"[{{"Plan": {{"Node Type": "Index Only Scan", "Relation Name": "t", "Index Name": "t_k", "Actual Rows": 5000, "Actual Loops": 1, "Heap Fetches": {f}}}}}]"#
            )
        };
        assert_eq!(check_plan(&RULE, &j(5000))[0].severity, Severity::Critical);
        assert!(check_plan(&RULE, &j(0)).is_empty());
    }
}
