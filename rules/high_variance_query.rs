//! ## What it does
//! Flags statements whose execution time varies a lot between calls: the standard deviation
//! is large against the mean (coefficient of variation).
//!
//! ## Why is this bad?
//! A statement that is usually fast and sometimes very slow points at plan flips (generic
//! versus custom plans, skewed parameters), lock waits or cache misses; the mean hides it and
//! the users who hit the slow calls feel it.
//!
//! ## Thresholds
//! `levels` of stddev ÷ mean: `warning` from 1.0, `critical` from 3.0. Statements with fewer
//! than `min_calls` (default 5) calls, or whose slowest call is under `min_max_ms`
//! (default 10 ms), are skipped.
//!
//! ## Fix
//! Compare plans for typical and extreme parameters (`dbopt explain`); look for lock waits
//! (`dbopt connections`).

use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub levels: Levels,
    pub min_calls: i64,
    pub min_max_ms: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            levels: Levels {
                warning: 1.0,
                critical: 3.0,
            },
            min_calls: 5,
            min_max_ms: 10.0,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "high-variance-query",
    scope: Scope::Workload,
    summary: "statement whose execution time varies widely",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(w) = ctx.workload else {
        return Ok(vec![]);
    };
    Ok(w.statements
        .iter()
        .filter(|s| s.calls >= p.min_calls && s.max_ms >= p.min_max_ms && s.mean_ms > 0.0)
        .filter_map(|s| {
            let cv = s.stddev_ms / s.mean_ms;
            Some(Finding {
                rule: RULE.id.into(),
                severity: p.levels.grade(cv)?,
                object: s.fingerprint.clone(),
                message: format!(
                    "time varies {cv:.1}× its mean over {} calls: {}",
                    s.calls,
                    crate::sql::one_line(&s.query, 80)
                ),
                evidence: vec![format!(
                    "mean {:.1} ms, stddev {:.1} ms, min {:.1} ms, max {:.1} ms",
                    s.mean_ms, s.stddev_ms, s.min_ms, s.max_ms
                )],
                remedy: "compare its plans for typical and extreme parameters".into(),
                fix: None,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_with_defaults;
    use crate::workload::{Statement, Workload};

    #[test]
    fn spread_against_mean() {
        let st = |fp: &str, mean, sd, max| Statement {
            fingerprint: fp.into(),
            calls: 10,
            mean_ms: mean,
            stddev_ms: sd,
            max_ms: max,
            ..Default::default()
        };
        let w = Workload {
            statements: vec![
                st("steady", 20.0, 2.0, 25.0),
                st("jumpy", 20.0, 30.0, 150.0),
                st("wild", 20.0, 80.0, 900.0),
                st("tiny", 0.1, 1.0, 3.0),
            ],
            ..Default::default()
        };
        let f = check_with_defaults(
            &RULE,
            &Ctx {
                workload: Some(&w),
                ..Default::default()
            },
        );
        let got: Vec<_> = f.iter().map(|f| (f.object.as_str(), f.severity)).collect();
        assert_eq!(
            got,
            vec![("jumpy", Severity::Warning), ("wild", Severity::Critical)]
        );
    }
}
