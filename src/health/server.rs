//! Settings, server-wide counters (pg_stat_database, pg_stat_statements_info) and vacuum
//! progress, for the settings, cache and autovacuum reviews.
//!
//! Why settings sit beside counters: a setting is only worth changing against evidence (temp
//! files written, statements evicted, connections used, the machine's memory), so the rules
//! need both in one place. Why the machine is separate and mostly unknown: dbopt often runs far
//! from the server; memory and disk type are filled only when they are known for sure (the
//! server is on this machine, or the user said so), never guessed.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Server {
    /// Whether this section was read from a server (false: an older snapshot, or a role that
    /// could not read it; the settings below are then PostgreSQL's defaults, not the server's).
    pub read: bool,
    pub settings: Settings,
    /// Counters of the connected database (pg_stat_database).
    pub database: DatabaseStats,
    /// pg_stat_statements: entries, evictions and the statements that wrote temp files.
    pub statements: StatementStats,
    /// Client connections open when read.
    pub connections_now: i64,
    /// Client connections open at earlier readings (`check --baseline`), for the peak.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connections_earlier: Vec<i64>,
    /// Vacuums running in this database when read (pg_stat_progress_vacuum).
    pub vacuums: Vec<VacuumProgress>,
    pub machine: Machine,
    /// What could not be read, and why (privileges, missing extension).
    pub notes: Vec<String>,
}

/// The settings the reviews judge, in base units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub shared_buffers_bytes: i64,
    pub effective_cache_size_bytes: i64,
    pub work_mem_bytes: i64,
    pub random_page_cost: f64,
    pub max_connections: i64,
    pub track_io_timing: bool,
    /// The `autovacuum` switch.
    pub autovacuum: bool,
    pub autovacuum_vacuum_threshold: f64,
    pub autovacuum_vacuum_scale_factor: f64,
    /// pg_stat_statements.max, when the module is loaded.
    pub pg_stat_statements_max: Option<i64>,
}

impl Default for Settings {
    /// PostgreSQL's own defaults.
    fn default() -> Self {
        Settings {
            shared_buffers_bytes: 128 << 20,
            effective_cache_size_bytes: 4 << 30,
            work_mem_bytes: 4 << 20,
            random_page_cost: 4.0,
            max_connections: 100,
            track_io_timing: false,
            autovacuum: true,
            autovacuum_vacuum_threshold: 50.0,
            autovacuum_vacuum_scale_factor: 0.2,
            pg_stat_statements_max: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseStats {
    pub name: String,
    pub blks_hit: i64,
    pub blks_read: i64,
    pub temp_files: i64,
    pub temp_bytes: i64,
    /// Seconds since these counters were reset, when known.
    pub stats_reset_age_s: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatementStats {
    /// pg_stat_statements could be read.
    pub available: bool,
    /// Entries kept now, all databases.
    pub entries: i64,
    /// Entries evicted to make room (pg_stat_statements_info.dealloc, PG 14+).
    pub dealloc: Option<i64>,
    /// The statements of this database that wrote the most temp blocks, most first.
    pub spills: Vec<Spill>,
}

/// One statement that wrote temp files (sorts and hashes that did not fit in work_mem).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Spill {
    pub query: String,
    pub calls: i64,
    pub temp_blks_written: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VacuumProgress {
    pub pid: i32,
    /// `schema.table`.
    pub table: String,
    pub phase: String,
    pub heap_blks_total: i64,
    pub heap_blks_scanned: i64,
    /// Seconds since the vacuum's transaction started, when visible to this role.
    pub running_s: Option<f64>,
}

impl VacuumProgress {
    /// One line: phase and blocks scanned.
    pub fn describe(&self) -> String {
        #[allow(clippy::cast_precision_loss)]
        let share = if self.heap_blks_total > 0 {
            format!(
                " ({:.0} %)",
                self.heap_blks_scanned as f64 * 100.0 / self.heap_blks_total as f64
            )
        } else {
            String::new()
        };
        let running = self
            .running_s
            .map(|s| format!(", running {s:.0} s"))
            .unwrap_or_default();
        format!(
            "a vacuum is running now (pid {}): {}, {} of {} heap blocks scanned{share}{running}",
            self.pid, self.phase, self.heap_blks_scanned, self.heap_blks_total
        )
    }
}

/// What is known about the machine the server runs on, each with how it is known.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Machine {
    pub memory_bytes: Option<i64>,
    /// How `memory_bytes` is known (`/proc/meminfo of this machine, where the server runs`).
    pub memory_source: Option<String>,
    /// Some(false) on SSD/NVMe, Some(true) on spinning disks, None when unknown or mixed.
    pub rotational: Option<bool>,
    pub storage_source: Option<String>,
}

/// A `pg_settings` value in base units: `setting` times its `unit` (`8kB`, `kB`, `MB`, `ms`).
pub fn setting_bytes(setting: &str, unit: Option<&str>) -> Option<i64> {
    let v: i64 = setting.parse().ok()?;
    let k = match unit.unwrap_or("") {
        "" | "B" => 1,
        "kB" => 1 << 10,
        "8kB" => 8 << 10,
        "16kB" => 16 << 10,
        "32kB" => 32 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        _ => return None,
    };
    v.checked_mul(k)
}

/// MemTotal of a `/proc/meminfo` text, in bytes.
pub fn meminfo_total(text: &str) -> Option<i64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_meminfo() {
        assert_eq!(setting_bytes("16384", Some("8kB")), Some(128 << 20));
        assert_eq!(setting_bytes("64", Some("kB")), Some(64 << 10));
        assert_eq!(setting_bytes("x", Some("kB")), None);
        assert_eq!(setting_bytes("1", Some("ms")), None);
        assert_eq!(
            meminfo_total("MemTotal:       16314884 kB\nMemFree: 1 kB\n"),
            Some(16_314_884 * 1024)
        );
        assert_eq!(meminfo_total("nothing"), None);
    }

    #[test]
    fn vacuum_progress_line() {
        let v = VacuumProgress {
            pid: 7,
            table: "public.t".into(),
            phase: "scanning heap".into(),
            heap_blks_total: 200,
            heap_blks_scanned: 50,
            running_s: Some(3.0),
        };
        assert_eq!(
            v.describe(),
            "a vacuum is running now (pid 7): scanning heap, 50 of 200 heap blocks scanned (25 %), running 3 s"
        );
    }
}
