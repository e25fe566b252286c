//! ## What it does
//! Flags statements where JIT compilation or planning takes a large share of the time: JIT
//! that costs more than it saves, or planning slower than execution.
//!
//! ## Why is this bad?
//! JIT compiles the query's expressions with LLVM, which takes tens to hundreds of
//! milliseconds; it triggers on *estimated* cost, so a misestimated short query pays it on every
//! run. Slow planning (many partitions, many joins) is paid on every execution of an unprepared
//! statement.
//!
//! ## Thresholds
//! JIT: `jit_min_ms` (default 50) and `jit_share` (default 0.2) of the execution time.
//! Planning: `planning_min_ms` (default 50) and more than the execution time. `critical` from
//! `critical_ms` (default 1,000).
//!
//! ## Fix
//! JIT: raise `jit_above_cost` (and `jit_inline_above_cost`, `jit_optimize_above_cost`) or set
//! `jit = off` for the workload; fix the row estimates that made the query look expensive.
//! Planning: prune partitions with constant conditions, fewer joins, prepared statements.

use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub jit_min_ms: f64,
    pub jit_share: f64,
    pub planning_min_ms: f64,
    pub critical_ms: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            jit_min_ms: 50.0,
            jit_share: 0.2,
            planning_min_ms: 50.0,
            critical_ms: 1_000.0,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "slow-jit-or-planning",
    scope: Scope::Plan,
    summary: "JIT compilation or planning takes a large share of the statement's time",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(plan) = ctx.plan else {
        return Ok(vec![]);
    };
    let exec = plan.execution_ms.unwrap_or(0.0);
    let sev = |ms: f64| {
        if ms >= p.critical_ms {
            Severity::Critical
        } else {
            Severity::Warning
        }
    };
    let mut out = Vec::new();
    if let Some(jit) = &plan.jit {
        if jit.total_ms >= p.jit_min_ms && jit.total_ms >= p.jit_share * exec {
            out.push(Finding {
                rule: RULE.id.into(),
                severity: sev(jit.total_ms),
                object: "JIT".into(),
                message: format!(
                    "JIT compilation took {:.1} ms of the {:.1} ms execution",
                    jit.total_ms, exec
                ),
                evidence: vec![format!(
                    "{} functions; generation {:.1} ms, inlining {:.1} ms, optimization {:.1} ms, emission {:.1} ms",
                    jit.functions, jit.generation_ms, jit.inlining_ms, jit.optimization_ms, jit.emission_ms
                )],
                remedy: "raise jit_above_cost / jit_inline_above_cost / jit_optimize_above_cost, or SET jit = off for this workload; check the row estimates that made the query look expensive".into(),
                fix: None,
            });
        }
    }
    if let Some(planning) = plan.planning_ms {
        if planning >= p.planning_min_ms && planning > exec {
            out.push(Finding {
                rule: RULE.id.into(),
                severity: sev(planning),
                object: "planning".into(),
                message: format!("planning took {planning:.1} ms, more than the {exec:.1} ms execution"),
                evidence: vec![format!("Planning Time {planning:.1} ms, Execution Time {exec:.1} ms")],
                remedy: "prune partitions with constant conditions, join fewer tables, or use prepared statements so the plan is reused".into(),
                fix: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_plan;

    #[test]
    fn jit_and_planning() {
        let j = |jit: f64, plan: f64| {
            format!(
                r#"[{{"Plan": {{"Node Type": "Result", "Actual Rows": 1, "Actual Loops": 1}}, "Planning Time": {plan}, "Execution Time": 100.0, "JIT": {{"Functions": 4, "Timing": {{"Generation": 1.0, "Inlining": 0.0, "Optimization": 1.0, "Emission": 1.0, "Total": {jit}}}}}}}]"#
            )
        };
        assert_eq!(check_plan(&RULE, &j(80.0, 1.0)).len(), 1);
        assert_eq!(check_plan(&RULE, &j(5.0, 150.0))[0].object, "planning");
        assert!(check_plan(&RULE, &j(5.0, 1.0)).is_empty());
    }
}
