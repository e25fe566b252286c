//! The sessions connected to a server and its connection limits, as plain data: what
//! `pg::activity` reads from pg_stat_activity, what a snapshot file keeps, and what the
//! connection rules and `dbopt connections` judge.
//!
//! Why here and not in `pg`: the rules, the inspection and the snapshot format all use these
//! types without a server, so they sit in the domain layer; `pg` only fills them.

use serde::{Deserialize, Serialize};

/// One client session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub pid: i32,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application: String,
    pub client: Option<String>,
    /// active, idle, idle in transaction, ...
    pub state: Option<String>,
    /// Seconds in the current state.
    pub state_age_s: Option<f64>,
    /// Seconds since the transaction started.
    pub xact_age_s: Option<f64>,
    /// Seconds since the current (or last) query started.
    pub query_age_s: Option<f64>,
    pub wait_event: Option<String>,
    /// Sessions blocking this one (pg_blocking_pids).
    #[serde(default)]
    pub blocked_by: Vec<i32>,
    pub query: Option<String>,
}

/// Every client session and the connection limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub max_connections: i32,
    pub reserved_connections: i32,
    /// Client backends on the whole server (what counts against max_connections).
    pub total: i64,
    pub sessions: Vec<Session>,
    /// Sessions whose query text this role cannot see.
    pub hidden: i64,
}

impl Activity {
    /// Used share of the connections ordinary roles may open.
    pub fn utilization(&self) -> f64 {
        let usable = f64::from((self.max_connections - self.reserved_connections).max(1));
        #[allow(clippy::cast_precision_loss)]
        let used = self.total as f64;
        used / usable
    }
}
