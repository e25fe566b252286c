//! ## What it does
//! Lists what holds the xmin horizon back, one finding per holder, oldest first: sessions
//! with an old snapshot or transaction (long statements, idle-in-transaction sessions),
//! prepared transactions, replication slots with an xmin or catalog_xmin, and standbys
//! whose hot_standby_feedback holds an old snapshot; each with its age in transaction IDs
//! and, where the server knows it, in time.
//!
//! ## Why is this bad?
//! VACUUM removes no row version that died after the horizon: while it is held, every
//! table of the cluster bloats, index-only scans fetch the heap, and freezing cannot
//! advance, which leads towards transaction-ID wraparound. Prepared transactions and slots
//! survive disconnects and restarts, so nobody notices them. This is the horizon view:
//! `idle-in-transaction` is the connection view of the same idle sessions (their state's
//! duration and the locks they hold); this rule judges every kind of holder by how far it
//! holds the horizon back.
//!
//! ## Thresholds
//! Age in transaction IDs, `xid_levels`: `warning` from 1,000,000, `critical` from
//! 50,000,000; age in seconds, `seconds`: `warning` from 900, `critical` from 3600. The
//! worse of the two applies; slots and standby feedback have no start time.
//!
//! ## Fix
//! A session: end it (`pg_terminate_backend(pid)`) and fix the code path; set
//! `idle_in_transaction_session_timeout`. A prepared transaction: `COMMIT PREPARED` or
//! `ROLLBACK PREPARED` it once its transaction manager is known to have given up. A slot:
//! drop it (`pg_drop_replication_slot`) when its consumer is gone. Standby feedback: end the
//! long query on the standby, or turn hot_standby_feedback off there.

use crate::health::horizon::{Holder, HolderKind};
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub xid_levels: Levels,
    pub seconds: Levels,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            xid_levels: Levels {
                warning: 1_000_000.0,
                critical: 50_000_000.0,
            },
            seconds: Levels {
                warning: 900.0,
                critical: 3600.0,
            },
        }
    }
}

pub static RULE: Rule = Rule {
    id: "xmin-horizon-held",
    scope: Scope::Health,
    summary: "a session, prepared transaction, slot or standby holds the xmin horizon back",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(h) = ctx.health else {
        return Ok(vec![]);
    };
    let holders = &h.horizon.holders;
    #[allow(clippy::cast_precision_loss)]
    let grade = |x: &Holder| {
        let by_xid = p.xid_levels.grade(x.xid_age as f64);
        let by_time = x.age_s.and_then(|s| p.seconds.grade(s));
        by_xid.max(by_time)
    };
    let oldest = holders.iter().map(|x| x.xid_age).max();
    let mut worst_first: Vec<&Holder> = holders.iter().collect();
    worst_first.sort_by_key(|x| std::cmp::Reverse(x.xid_age));
    Ok(worst_first
        .into_iter()
        .filter_map(|x| Some(finding(x, Some(x.xid_age) == oldest, grade(x)?)))
        .collect())
}

fn fix(x: &Holder) -> (&'static str, Option<String>) {
    let quoted = crate::sql::quote_literal(&x.name);
    match x.kind {
        HolderKind::Session => (
            "end the session and fix the code path that keeps it open; set idle_in_transaction_session_timeout",
            x.pid.map(|p| format!("SELECT pg_terminate_backend({p})")),
        ),
        HolderKind::Prepared => (
            "COMMIT PREPARED or ROLLBACK PREPARED it (in its database) once its transaction manager has given up on it",
            Some(format!("ROLLBACK PREPARED {quoted}")),
        ),
        HolderKind::Slot => (
            "drop the slot if its consumer is gone; otherwise make the consumer catch up",
            Some(format!("SELECT pg_drop_replication_slot({quoted})")),
        ),
        HolderKind::StandbyFeedback => (
            "end the long query on that standby, or set hot_standby_feedback = off there",
            None,
        ),
    }
}

fn finding(x: &Holder, oldest: bool, severity: Severity) -> Finding {
    let age = match x.age_s {
        Some(s) => format!("{} XIDs, {s:.0} s", x.xid_age),
        None => format!("{} XIDs", x.xid_age),
    };
    let mut evidence = vec![format!(
        "vacuum cannot remove rows that died in the last {} transactions{}",
        x.xid_age,
        if oldest {
            " (the oldest holder: this is the horizon)"
        } else {
            ""
        }
    )];
    if let Some(st) = &x.state {
        evidence.push(format!(
            "{} on {}, {st}{}",
            x.user.as_deref().unwrap_or("?"),
            x.database.as_deref().unwrap_or("?"),
            if st.starts_with("idle in transaction") {
                " (also a connection problem: see idle-in-transaction)"
            } else {
                ""
            }
        ));
    }
    if let Some(q) = &x.query {
        evidence.push(format!("statement: {}", crate::sql::one_line(q, 80)));
    }
    let (remedy, sql) = fix(x);
    Finding {
        rule: RULE.id.into(),
        severity,
        object: format!("{} {}", x.kind.label(), x.name),
        message: format!(
            "{} {} holds the xmin horizon back by {age}",
            x.kind.label(),
            x.name
        ),
        evidence,
        remedy: remedy.into(),
        fix: sql.map(Fix::sql),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Health;
    use crate::rules::check_with_defaults;

    fn holder(kind: HolderKind, name: &str, xid_age: i64, age_s: Option<f64>) -> Holder {
        Holder {
            kind,
            name: name.into(),
            xid_age,
            age_s,
            pid: Some(42),
            ..Default::default()
        }
    }

    #[test]
    fn every_kind_of_holder_with_its_fix_oldest_marked() {
        let mut h = Health::default();
        h.horizon.holders = vec![
            holder(HolderKind::Slot, "gone", 60_000_000, None),
            holder(HolderKind::Prepared, "tx'1", 2_000_000, Some(10.0)),
            holder(HolderKind::Session, "pid 42", 5, Some(4000.0)),
            holder(HolderKind::StandbyFeedback, "replica1", 10, None),
        ];
        let f = check_with_defaults(
            &RULE,
            &Ctx {
                health: Some(&h),
                ..Default::default()
            },
        );
        let sql: Vec<_> = f.iter().map(Finding::sql).collect();
        let got: Vec<_> = f
            .iter()
            .zip(&sql)
            .map(|(f, q)| (f.object.as_str(), f.severity, q.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "replication slot gone",
                    Severity::Critical,
                    Some("SELECT pg_drop_replication_slot('gone')")
                ),
                (
                    "prepared transaction tx'1",
                    Severity::Warning,
                    Some("ROLLBACK PREPARED 'tx''1'")
                ),
                (
                    "session pid 42",
                    Severity::Critical,
                    Some("SELECT pg_terminate_backend(42)")
                ),
            ],
            "young standby feedback is fine; time alone makes the session critical"
        );
        assert!(f[0].evidence[0].contains("this is the horizon"));
        assert!(!f[1].evidence[0].contains("this is the horizon"));
    }
}
