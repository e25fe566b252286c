//! ## What it does
//! On a primary, flags each standby (pg_stat_replication) whose replay position is far
//! behind `pg_current_wal_lsn()` in bytes, or whose `replay_lag` is long; the write and
//! flush lag are shown beside it. On a standby, flags its own replay delay: the age of the
//! last replayed transaction while received WAL waits to be replayed.
//!
//! ## Why is this bad?
//! Reads on a lagging standby return stale data; a failover to it loses or waits for
//! what it has not applied; and the primary keeps the WAL it still needs (with a slot).
//! Replay that is paused (`pg_wal_replay_pause()`) or blocked by a conflicting query on
//! the standby lags without limit.
//!
//! ## Thresholds
//! Replay lag in bytes, `bytes`: `warning` from 64 MiB (67108864), `critical` from 1 GiB
//! (1073741824); in seconds, `seconds`: `warning` from 30, `critical` from 300. The worse of
//! the two applies. On a standby only the seconds apply (its primary's position is unknown).
//!
//! ## Fix
//! Find what the standby waits for: its disk or network (write/flush lag), replay (replay
//! lag alone: long queries with `max_standby_streaming_delay`, paused replay:
//! `SELECT pg_wal_replay_resume()` on the standby), or a bulk load on the primary.

use crate::health::replication::{Replay, Standby};
use crate::rules::prelude::*;
use crate::units::bytes;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub bytes: Levels,
    pub seconds: Levels,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            bytes: Levels {
                warning: 67_108_864.0,
                critical: 1_073_741_824.0,
            },
            seconds: Levels {
                warning: 30.0,
                critical: 300.0,
            },
        }
    }
}

pub static RULE: Rule = Rule {
    id: "replication-lag",
    scope: Scope::Health,
    summary: "standby far behind its primary",
    check,
};

const REMEDY: &str = "find what the standby waits for: disk or network (write/flush lag), \
                      replay conflicts or paused replay (replay lag), or a bulk load";

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(h) = ctx.health else {
        return Ok(vec![]);
    };
    let mut out: Vec<Finding> = h
        .replication
        .standbys
        .iter()
        .filter_map(|s| standby(s, &p))
        .collect();
    out.extend(h.replication.replay.as_ref().and_then(|r| replay(r, &p)));
    Ok(out)
}

fn standby(s: &Standby, p: &Params) -> Option<Finding> {
    let b = s.replay_lag_bytes.unwrap_or(0);
    #[allow(clippy::cast_precision_loss)]
    let severity = p
        .bytes
        .grade(b as f64)
        .max(s.replay_lag_s.and_then(|x| p.seconds.grade(x)))?;
    let opt_b = |x: Option<i64>| x.map_or_else(|| "?".into(), bytes);
    let opt_s = |x: Option<f64>| x.map_or_else(|| "-".into(), |x| format!("{x:.1} s"));
    Some(Finding {
        rule: RULE.id.into(),
        severity,
        object: format!("standby {}", s.name),
        message: format!(
            "standby {} (pid {}, {}) replays {} behind the primary",
            s.name,
            s.pid,
            s.state.as_deref().unwrap_or("state unknown"),
            bytes(b)
        ),
        evidence: vec![
            format!(
                "lag in bytes: write {}, flush {}, replay {}",
                opt_b(s.write_lag_bytes),
                opt_b(s.flush_lag_bytes),
                opt_b(s.replay_lag_bytes)
            ),
            format!(
                "lag in time: write {}, flush {}, replay {}",
                opt_s(s.write_lag_s),
                opt_s(s.flush_lag_s),
                opt_s(s.replay_lag_s)
            ),
        ],
        remedy: REMEDY.into(),
        fix: None,
    })
}

fn replay(r: &Replay, p: &Params) -> Option<Finding> {
    let delay = r.delay_s();
    let severity = p.seconds.grade(delay)?;
    let mut evidence = vec![format!(
        "{} received and not yet replayed",
        bytes(r.pending_bytes.unwrap_or(0))
    )];
    if r.paused {
        evidence.push("replay is paused".into());
    }
    Some(Finding {
        rule: RULE.id.into(),
        severity,
        object: "this standby".into(),
        message: format!("this standby's replay is {delay:.0} s behind"),
        evidence,
        remedy: REMEDY.into(),
        fix: r.paused.then(|| Fix::sql("SELECT pg_wal_replay_resume()")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Health;
    use crate::rules::check_with_defaults;

    #[test]
    fn lag_in_bytes_or_time_on_both_sides() {
        let mut h = Health::default();
        let sb = |name: &str, b, s| Standby {
            name: name.into(),
            replay_lag_bytes: Some(b),
            replay_lag_s: s,
            ..Default::default()
        };
        h.replication.standbys = vec![
            sb("fine", 1000, None),
            sb("far", 2 << 30, Some(1.0)),
            sb("slow", 10, Some(60.0)),
        ];
        h.replication.replay = Some(Replay {
            pending_bytes: Some(0),
            last_replay_age_s: Some(9999.0),
            paused: false,
        });
        let ctx = Ctx {
            health: Some(&h),
            ..Default::default()
        };
        let got: Vec<_> = check_with_defaults(&RULE, &ctx)
            .into_iter()
            .map(|f| (f.object, f.severity))
            .collect();
        assert_eq!(
            got,
            vec![
                ("standby far".to_string(), Severity::Critical),
                ("standby slow".to_string(), Severity::Warning)
            ],
            "an idle standby with nothing pending is not behind"
        );
        h.replication.standbys.clear();
        h.replication.replay = Some(Replay {
            pending_bytes: Some(5),
            last_replay_age_s: Some(400.0),
            paused: true,
        });
        let f = check_with_defaults(
            &RULE,
            &Ctx {
                health: Some(&h),
                ..Default::default()
            },
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].sql().as_deref(), Some("SELECT pg_wal_replay_resume()"));
    }
}
