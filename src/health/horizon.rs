//! What holds the xmin horizon back: long and idle-in-transaction sessions, prepared
//! transactions, replication slots and hot-standby feedback, each with its age and object.
//!
//! Why one list of holders of every kind: vacuum removes no row that died after the oldest
//! of them started, whatever kind it is; the DBA needs the oldest one first, then the next.
//! Why the slots also stand alone ([`Slot`]): an inactive slot without an xmin still
//! retains WAL until the disk fills, which is a problem of its own.

use serde::{Deserialize, Serialize};

/// What kind of thing holds the horizon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderKind {
    #[default]
    /// A session's snapshot or transaction (pg_stat_activity.backend_xmin / backend_xid).
    Session,
    /// A prepared transaction (pg_prepared_xacts), which outlives every session.
    Prepared,
    /// A replication slot's xmin or catalog_xmin (pg_replication_slots).
    Slot,
    /// A standby's oldest snapshot sent back with hot_standby_feedback: its walsender's
    /// backend_xmin (pg_stat_replication), or the xmin of the active physical slot it uses.
    StandbyFeedback,
}

impl HolderKind {
    pub fn label(self) -> &'static str {
        match self {
            HolderKind::Session => "session",
            HolderKind::Prepared => "prepared transaction",
            HolderKind::Slot => "replication slot",
            HolderKind::StandbyFeedback => "standby feedback",
        }
    }
}

/// One thing that holds the xmin horizon back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub kind: HolderKind,
    /// The object: `pid 123`, the prepared transaction's gid, the slot's name, the standby's
    /// application_name (or the name of the slot it streams through).
    pub name: String,
    /// Transaction IDs between the oldest xid it holds and the next one (`age(xid)`).
    pub xid_age: i64,
    /// Seconds since it started holding (transaction start, prepare time), when known
    /// (slots and standby feedback have no start time).
    pub age_s: Option<f64>,
    pub database: Option<String>,
    pub user: Option<String>,
    /// Session state (`idle in transaction`, `active`), for sessions.
    pub state: Option<String>,
    /// The current or last statement, for sessions.
    pub query: Option<String>,
    /// The pid to end, for sessions and for the walsender of standby feedback.
    pub pid: Option<i32>,
}

/// One replication slot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub name: String,
    /// `physical` or `logical`.
    pub slot_type: String,
    pub database: Option<String>,
    pub active: bool,
    pub temporary: bool,
    /// Bytes of WAL kept for it: `pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)`.
    pub retained_bytes: Option<i64>,
    /// `reserved`, `extended`, `unreserved` or `lost` (PG 13+).
    pub wal_status: Option<String>,
    /// Bytes that can still be written before the slot is lost (`max_slot_wal_keep_size`).
    pub safe_wal_size: Option<i64>,
    pub xmin_age: Option<i64>,
    pub catalog_xmin_age: Option<i64>,
    /// Seconds since it became inactive (`inactive_since`, PG 17+).
    pub inactive_s: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Horizon {
    /// Every holder, oldest (largest `xid_age`) first.
    #[serde(default)]
    pub holders: Vec<Holder>,
    #[serde(default)]
    pub slots: Vec<Slot>,
    /// Sessions whose backend_xmin this role cannot see (needs pg_read_all_stats).
    #[serde(default)]
    pub hidden_sessions: i64,
    /// What could not be read, in words.
    #[serde(default)]
    pub notes: Vec<String>,
}
