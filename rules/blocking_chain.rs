//! ## What it does
//! Reports each root blocker (a session that holds a lock others wait for and waits for
//! nobody) with the whole tree of sessions waiting beneath it (`pg_blocking_pids`): each
//! waiter's depth, how long it has waited and the lock it wants, not only the first level.
//!
//! ## Why is this bad?
//! Waiters queue behind waiters: a session that waits for a lock also blocks everyone who
//! needs the locks it already holds. Cancelling a waiter in the middle frees little; the
//! root is what to end or finish. A root that is `idle in transaction` is also reported by
//! `idle-in-transaction`; this rule shows what it costs the other sessions.
//!
//! ## Thresholds
//! The longest wait in the tree in seconds, `levels`: `warning` from 10, `critical` from 120.
//!
//! ## Fix
//! Finish or end the root's transaction (`pg_cancel_backend(pid)` for a running statement,
//! `pg_terminate_backend(pid)` for an idle transaction); give the application
//! `lock_timeout` so that waiters fail fast instead of piling up.

use crate::rules::prelude::*;
use crate::workload::activity::Chain;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub levels: Levels,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            levels: Levels {
                warning: 10.0,
                critical: 120.0,
            },
        }
    }
}

pub static RULE: Rule = Rule {
    id: "blocking-chain",
    scope: Scope::Activity,
    summary: "a session blocks a tree of waiting sessions",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(a) = ctx.activity else {
        return Ok(vec![]);
    };
    Ok(a.blocking_chains()
        .iter()
        .filter_map(|c| finding(c, p.levels.grade(c.longest_wait_s())?))
        .collect())
}

fn finding(c: &Chain, severity: Severity) -> Option<Finding> {
    let root = c.root();
    let state = root.state.as_deref().unwrap_or("state unknown");
    let mut evidence = vec![format!(
        "pid {} ({}, {state}, transaction open {:.0} s): {}",
        root.pid,
        root.user.as_deref().unwrap_or("?"),
        root.xact_age_s.unwrap_or(0.0),
        crate::sql::one_line(root.query.as_deref().unwrap_or("?"), 60)
    )];
    for n in &c.nodes[1..] {
        evidence.push(format!(
            "{}└ pid {} waits {:.0} s for {}: {}",
            "  ".repeat(n.depth - 1),
            n.pid,
            n.wait_s.unwrap_or(0.0),
            n.lock_wanted.as_deref().unwrap_or("a lock"),
            crate::sql::one_line(n.query.as_deref().unwrap_or("?"), 60)
        ));
    }
    let end = if state == "active" {
        "pg_cancel_backend"
    } else {
        "pg_terminate_backend"
    };
    Some(Finding {
        rule: RULE.id.into(),
        severity,
        object: format!("pid {}", root.pid),
        message: format!(
            "session {} blocks {} sessions, {} levels deep; the longest has waited {:.0} s",
            root.pid,
            c.waiting(),
            c.depth(),
            c.longest_wait_s()
        ),
        evidence,
        remedy: "finish or end the root's transaction (the tree beneath it then proceeds); \
                 set lock_timeout in the application"
            .into(),
        fix: Some(Fix::sql(format!("SELECT {end}({})", root.pid))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_with_defaults;
    use crate::workload::activity::{Activity, Session};

    fn s(pid: i32, blocked_by: &[i32], wait: f64, state: &str) -> Session {
        Session {
            pid,
            blocked_by: blocked_by.to_vec(),
            lock_wait_s: Some(wait),
            state: Some(state.into()),
            lock_wanted: Some(format!("ShareLock on transaction {pid}")),
            ..Default::default()
        }
    }

    #[test]
    fn one_finding_per_root_with_the_whole_tree() {
        let a = Activity {
            sessions: vec![
                s(1, &[], 0.0, "idle in transaction"),
                s(2, &[1], 30.0, "active"),
                s(3, &[2], 200.0, "active"),
                s(4, &[], 0.0, "active"),
                s(5, &[4], 2.0, "active"),
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
        assert_eq!(f.len(), 1, "a 2 s wait is below the threshold: {f:?}");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].object, "pid 1");
        assert!(f[0].message.contains("blocks 2 sessions, 2 levels deep"));
        assert_eq!(f[0].evidence.len(), 3);
        assert!(
            f[0].evidence[2].starts_with("  └ pid 3 waits 200 s for ShareLock on transaction 3")
        );
        assert_eq!(
            f[0].sql().as_deref(),
            Some("SELECT pg_terminate_backend(1)")
        );
    }
}
