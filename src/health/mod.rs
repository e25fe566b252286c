//! Server health facts as plain data: what `pg::health` reads from the statistics views
//! (sequences, transaction-ID ages, what holds the xmin horizon, replication, settings and
//! server-wide counters), what a snapshot file keeps, and what the health rules under `rules/`
//! judge.
//!
//! Why a module of its own: these facts describe the server and its databases, not one
//! table (the catalog) or one statement (the workload). Why plain data in the domain layer:
//! the health rules, `dbopt check` and `--from-snapshot` all use these types without a
//! server; `pg` only fills them. Each section is one file, read by one reader in `pg::health`.

use serde::{Deserialize, Serialize};

pub mod horizon;
pub mod replication;
pub mod sequences;
pub mod server;
pub mod wraparound;

/// Everything the health rules look at, read in one pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `server_version_num` of the server read.
    #[serde(default)]
    pub server_version_num: i32,
    /// Sequences and identity columns, with how much of their range is used.
    #[serde(default)]
    pub sequences: sequences::Sequences,
    /// Transaction-ID and multixact ages of databases and tables.
    #[serde(default)]
    pub wraparound: wraparound::Wraparound,
    /// What holds the xmin horizon back: long transactions, prepared transactions, slots.
    #[serde(default)]
    pub horizon: horizon::Horizon,
    /// Standbys and their lag, or this server's replay delay when it is a standby.
    #[serde(default)]
    pub replication: replication::Replication,
    /// Settings, server-wide counters and vacuum progress, for the settings review.
    #[serde(default)]
    pub server: server::Server,
    /// What could not be read (a section this role may not see), one line each, naming the
    /// grant that would show it.
    #[serde(default)]
    pub notes: Vec<String>,
}
