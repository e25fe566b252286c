//! ## What it does
//! Flags hash tables (of hash joins) that did not fit in memory and were split into batches on
//! disk (`Hash Batches` above 1).
//!
//! ## Why is this bad?
//! Each extra batch writes both join inputs to temporary files and reads them back: the join
//! does several times the I/O of an in-memory hash join.
//!
//! ## Thresholds
//! More than one batch is a `warning`; `critical_batches` (default 64) or more is `critical`.
//!
//! ## Fix
//! Raise `work_mem` (or `hash_mem_multiplier`) for the query, or make the hashed side smaller:
//! filter it earlier, select fewer columns.

use crate::analyze::{count, node_finding};
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub critical_batches: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            critical_batches: 64.0,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "hash-spills-to-disk",
    scope: Scope::Plan,
    summary: "hash join's hash table spilled to disk in batches",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(plan) = ctx.plan else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for n in plan.nodes() {
        let batches = n.hash_batches.unwrap_or(1.0);
        if n.node_type != "Hash" || batches <= 1.0 {
            continue;
        }
        out.push(node_finding(
            RULE.id,
            if batches >= p.critical_batches {
                Severity::Critical
            } else {
                Severity::Warning
            },
            n,
            format!("hash table split into {} batches on disk", count(batches)),
            vec![
                format!(
                    "Hash Batches {} (planned {})",
                    count(batches),
                    count(n.original_hash_batches.unwrap_or(1.0))
                ),
                format!(
                    "temp blocks written {}, read {}",
                    count(n.temp_written),
                    count(n.temp_read)
                ),
            ],
            "raise work_mem (or hash_mem_multiplier) for this query, or hash fewer or narrower rows (filter the hashed side earlier, select fewer columns)".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_plan;

    #[test]
    fn batches_above_one() {
        let j = |b: u32| {
            format!(
                r#"[{{"Plan": {{"Node Type": "Hash", "Hash Batches": {b}, "Original Hash Batches": 1, "Actual Rows": 1, "Actual Loops": 1}}}}]"#
            )
        };
        assert_eq!(check_plan(&RULE, &j(8)).len(), 1);
        assert!(check_plan(&RULE, &j(1)).is_empty());
    }
}
