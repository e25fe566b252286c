//! Transaction-ID and multixact ages of each database and of the oldest tables, against
//! autovacuum_freeze_max_age.
//!
//! Why ages: PostgreSQL compares 32-bit XIDs modulo 2^32, so a row older than 2^31
//! transactions would look like the future. Vacuum freezes old rows and advances
//! `relfrozenxid`; an age that keeps growing past `autovacuum_freeze_max_age` means vacuum is
//! not keeping up or cannot advance it (something holds the xmin horizon back), and at about
//! 2^31 - 3 million the server stops assigning XIDs.

use serde::{Deserialize, Serialize};

/// The server's freeze settings and the ages read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Wraparound {
    /// `autovacuum_freeze_max_age` (the server default 200 million).
    pub freeze_max_age: i64,
    /// `autovacuum_multixact_freeze_max_age` (default 400 million).
    pub multixact_freeze_max_age: i64,
    /// Every database of the cluster (pg_database is readable by every role).
    #[serde(default)]
    pub databases: Vec<DatabaseAge>,
    /// The oldest tables of the current database, oldest first.
    #[serde(default)]
    pub tables: Vec<TableAge>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatabaseAge {
    pub name: String,
    /// `age(datfrozenxid)`.
    pub xid_age: i64,
    /// `mxid_age(datminmxid)`.
    pub mxid_age: i64,
    /// The database dbopt is connected to (its tables are in [`Wraparound::tables`]).
    #[serde(default)]
    pub current: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableAge {
    /// `schema.table`, unquoted.
    pub table: String,
    /// `age(relfrozenxid)`, the older of the table and its TOAST table.
    pub xid_age: i64,
    /// `mxid_age(relminmxid)`, likewise.
    pub mxid_age: i64,
    /// The table's own `autovacuum_freeze_max_age` reloption, when set.
    #[serde(default)]
    pub freeze_max_age: Option<i64>,
    /// The table's own `autovacuum_multixact_freeze_max_age` reloption, when set.
    #[serde(default)]
    pub multixact_freeze_max_age: Option<i64>,
    pub bytes: i64,
    #[serde(default)]
    pub last_vacuum: Option<String>,
}

/// The age at which PostgreSQL stops assigning XIDs (2^31 less the 3 million safety margin).
pub const STOP_AGE: i64 = (1 << 31) - 3_000_000;

impl Wraparound {
    /// The freeze threshold of a table: its reloption (autovacuum uses the smaller of the
    /// reloption and the server setting), else the server setting.
    pub fn table_threshold(&self, t: &TableAge) -> i64 {
        t.freeze_max_age
            .map_or(self.freeze_max_age, |r| r.min(self.freeze_max_age))
    }

    /// Likewise for multixacts.
    pub fn table_mxid_threshold(&self, t: &TableAge) -> i64 {
        t.multixact_freeze_max_age
            .map_or(self.multixact_freeze_max_age, |r| {
                r.min(self.multixact_freeze_max_age)
            })
    }
}
