//! ## What it does
//! Flags sessions that have been `idle in transaction` (a transaction open, no statement
//! running) for longer than a threshold.
//!
//! ## Why is this bad?
//! An open transaction holds its locks and its snapshot: vacuum cannot remove rows that died
//! after it started (bloat grows everywhere), and DDL on the tables it touched waits behind
//! it, with every later query queued behind the DDL.
//!
//! ## Thresholds
//! Seconds in that state, `levels`: `warning` from 60, `critical` from 600.
//!
//! ## Fix
//! Fix the application path that leaves the transaction open; set
//! `idle_in_transaction_session_timeout`; end this one with `pg_terminate_backend(pid)`.

use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub levels: Levels,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            levels: Levels {
                warning: 60.0,
                critical: 600.0,
            },
        }
    }
}

pub static RULE: Rule = Rule {
    id: "idle-in-transaction",
    scope: Scope::Activity,
    summary: "session idle with a transaction open",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(a) = ctx.activity else {
        return Ok(vec![]);
    };
    Ok(a.sessions
        .iter()
        .filter(|s| {
            s.state
                .as_deref()
                .is_some_and(|st| st.starts_with("idle in transaction"))
        })
        .filter_map(|s| {
            let age = s.state_age_s.unwrap_or(0.0);
            Some(Finding {
                rule: RULE.id.into(),
                severity: p.levels.grade(age)?,
                object: format!("pid {}", s.pid),
                message: format!(
                    "session {} ({}@{}, {}) idle in transaction for {age:.0} s",
                    s.pid,
                    s.user.as_deref().unwrap_or("?"),
                    s.database.as_deref().unwrap_or("?"),
                    if s.application.is_empty() {
                        "no application_name"
                    } else {
                        &s.application
                    }
                ),
                evidence: vec![
                    format!("transaction open for {:.0} s", s.xact_age_s.unwrap_or(age)),
                    format!(
                        "last statement: {}",
                        crate::sql::one_line(s.query.as_deref().unwrap_or("?"), 80)
                    ),
                ],
                remedy: "end it and fix the code path; set idle_in_transaction_session_timeout"
                    .into(),
                fix: Some(Fix::sql(format!("SELECT pg_terminate_backend({})", s.pid))),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_with_defaults;
    use crate::workload::activity::{Activity, Session};

    #[test]
    fn only_long_idle_transactions() {
        let s = |pid, state: &str, age| Session {
            pid,
            state: Some(state.into()),
            state_age_s: Some(age),
            ..Default::default()
        };
        let a = Activity {
            sessions: vec![
                s(1, "idle in transaction", 5.0),
                s(2, "idle in transaction", 120.0),
                s(3, "idle in transaction (aborted)", 900.0),
                s(4, "idle", 9000.0),
                s(5, "active", 9000.0),
            ],
            ..Default::default()
        };
        let f = check_with_defaults(
            &RULE,
            &Ctx {
                activity: Some(&a),
                ..Default::default()
            },
        );
        let got: Vec<_> = f.iter().map(|f| (f.object.as_str(), f.severity)).collect();
        assert_eq!(
            got,
            vec![("pid 2", Severity::Warning), ("pid 3", Severity::Critical)]
        );
    }
}
