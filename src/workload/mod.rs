//! The workload model: the statements a database runs, however we learned of them
//! (pg_stat_statements, log files, SQL files, activity sampling, snapshots), in one shape.
//!
//! Why one shape: every analysis (advise, nplusone, queries, rules) then works the same for
//! every source, and a new source only has to produce `Statement`s.

pub mod activity;
pub mod collect;
pub mod log;
pub mod normalize;
pub mod plannable;
pub mod source;

use serde::{Deserialize, Serialize};

pub mod nplusone;
pub mod shape;
pub mod shaped;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    PgStatStatements,
    Log,
    File,
    Activity,
    Snapshot,
}

/// One normalized statement (constants replaced by `$n`) with its execution statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// pg_stat_statements queryid as text, or dbopt's own fingerprint for other sources.
    pub fingerprint: String,
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub stddev_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub rows: i64,
    pub shared_blks_hit: i64,
    pub shared_blks_read: i64,
    pub temp_blks_read: i64,
    pub temp_blks_written: i64,
    /// Time spent reading shared blocks (`track_io_timing`; pg_stat_statements only).
    #[serde(default)]
    pub blk_read_ms: f64,
    /// Time spent writing shared blocks.
    #[serde(default)]
    pub blk_write_ms: f64,
    /// Top-level statement (false for statements run inside functions), when known.
    #[serde(default = "yes")]
    pub toplevel: bool,
    pub source: Source,
    /// One execution's own text, constants included, when the source has it (a SQL file, a
    /// log): planned instead of `query`, whose `$n` cannot always be planned (`date $1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

fn yes() -> bool {
    true
}

/// A workload: statements plus what we could not see.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    pub statements: Vec<Statement>,
    /// Rows hidden from this role (`<insufficient privilege>`), counted, not dropped silently.
    #[serde(default)]
    pub hidden: i64,
    /// Things the user should know about how the workload was read.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Seconds the statistics cover (since pg_stat_statements was reset), when known.
    #[serde(default)]
    pub window_s: Option<f64>,
    /// Execution plans found next to the statements (auto_explain lines in a log).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<LoggedPlan>,
}

/// A plan auto_explain wrote to the log, for the statement with `fingerprint`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoggedPlan {
    pub fingerprint: String,
    pub duration_ms: f64,
    /// The plan as logged (text or JSON, per `auto_explain.log_format`).
    pub plan: String,
}

impl Workload {
    pub fn total_ms(&self) -> f64 {
        self.statements.iter().map(|s| s.total_ms).sum()
    }
}
