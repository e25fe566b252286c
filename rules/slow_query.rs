//! ## What it does
//! Flags statements whose mean execution time is above a threshold.
//!
//! ## Why is this bad?
//! A statement that is slow on average is slow for every caller: a user waits, a connection is
//! held, locks are kept longer. Ranked by total time (`dbopt queries`) it also shows where the
//! server's time goes.
//!
//! ## Thresholds
//! Mean time `levels`: `warning` from 100 ms, `critical` from 1,000 ms; statements with fewer
//! than `min_calls` (default 1) calls are skipped.
//!
//! ## Fix
//! Look at its plan (`dbopt explain`), and at `dbopt advise` for the indexes it would use.

use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub levels: Levels,
    pub min_calls: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            levels: Levels {
                warning: 100.0,
                critical: 1000.0,
            },
            min_calls: 1,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "slow-query",
    scope: Scope::Workload,
    summary: "statement with a high mean execution time",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(w) = ctx.workload else {
        return Ok(vec![]);
    };
    Ok(w.statements
        .iter()
        .filter(|s| s.calls >= p.min_calls)
        .filter_map(|s| {
            let severity = p.levels.grade(s.mean_ms)?;
            Some(Finding {
                rule: RULE.id.into(),
                severity,
                object: s.fingerprint.clone(),
                message: format!(
                    "mean {:.1} ms over {} calls: {}",
                    s.mean_ms,
                    s.calls,
                    crate::sql::one_line(&s.query, 80)
                ),
                evidence: vec![format!(
                    "total {:.0} ms, min {:.1} ms, max {:.1} ms",
                    s.total_ms, s.min_ms, s.max_ms
                )],
                remedy: "EXPLAIN (ANALYZE, BUFFERS) it and index what it filters on".into(),
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
    fn mean_time_grades() {
        let st = |fp: &str, mean| Statement {
            fingerprint: fp.into(),
            query: "select 1".into(),
            calls: 3,
            mean_ms: mean,
            ..Default::default()
        };
        let w = Workload {
            statements: vec![st("fast", 5.0), st("slow", 150.0), st("awful", 2500.0)],
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
            vec![("slow", Severity::Warning), ("awful", Severity::Critical)]
        );
    }
}
