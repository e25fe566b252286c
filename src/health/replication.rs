//! Streaming replication: each standby's lag as the primary sees it, or this server's
//! replay delay when it is a standby.
//!
//! Why bytes and time both: bytes say how much WAL a standby must still apply (what a
//! failover loses or waits for); time says how stale its reads are. A standby can be far
//! behind in bytes after a bulk load yet seconds behind in time, or the reverse when idle.

use serde::{Deserialize, Serialize};

/// One standby as the primary sees it (pg_stat_replication).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Standby {
    pub pid: i32,
    /// application_name (the standby's `cluster_name` or what its primary_conninfo says).
    pub name: String,
    pub client: Option<String>,
    /// `streaming`, `catchup`, `startup`, `backup`; None when this role may not see it.
    pub state: Option<String>,
    pub sync_state: Option<String>,
    /// Bytes from pg_current_wal_lsn() to the standby's write/flush/replay position.
    pub write_lag_bytes: Option<i64>,
    pub flush_lag_bytes: Option<i64>,
    pub replay_lag_bytes: Option<i64>,
    /// Seconds (write_lag, flush_lag, replay_lag): NULL once the standby is idle and caught up.
    pub write_lag_s: Option<f64>,
    pub flush_lag_s: Option<f64>,
    pub replay_lag_s: Option<f64>,
}

/// This server when it is a standby (`pg_is_in_recovery()`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// Bytes received but not yet replayed: `pg_wal_lsn_diff(receive, replay)`.
    pub pending_bytes: Option<i64>,
    /// `now() - pg_last_xact_replay_timestamp()`; counts as delay only while `pending_bytes > 0`
    /// (on an idle primary it grows without anything being behind).
    pub last_replay_age_s: Option<f64>,
    pub paused: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Replication {
    #[serde(default)]
    pub in_recovery: bool,
    #[serde(default)]
    pub standbys: Vec<Standby>,
    /// Set when this server is a standby.
    #[serde(default)]
    pub replay: Option<Replay>,
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Replay {
    /// Seconds the standby is behind: the age of the last replayed transaction while WAL
    /// is waiting to be replayed, else 0.
    pub fn delay_s(&self) -> f64 {
        if self.pending_bytes.unwrap_or(0) > 0 {
            self.last_replay_age_s.unwrap_or(0.0)
        } else {
            0.0
        }
    }
}
