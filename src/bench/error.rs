//! Errors of `dbopt bench`, each with the hint that tells the user what to change.

use std::path::PathBuf;

use crate::pg::PgError;

pub type Result<T, E = BenchError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Pg(#[from] PgError),

    #[error("cannot read {path}: {reason}")]
    ReadFile { path: PathBuf, reason: String },

    #[error("cannot write {path}: {reason}")]
    WriteFile { path: PathBuf, reason: String },

    #[error("invalid workload file {path}: {reason}")]
    Workload { path: String, reason: String },

    #[error("invalid baseline file {path}: {reason}")]
    Baseline { path: PathBuf, reason: String },

    #[error("invalid option: {0}")]
    Options(String),

    #[error("this workload creates or writes tables, and the target is a database you gave (--database-url)")]
    WritesNeedFlag,

    #[error("every request of the first step failed: {0}")]
    AllFailed(String),

    #[error("pgbench failed: {0}")]
    Pgbench(String),
}

impl BenchError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            BenchError::Pg(e) => return e.hint(),
            BenchError::ReadFile { .. } => "check the path and its permissions".into(),
            BenchError::WriteFile { .. } => "check that the directory exists and is writable".into(),
            BenchError::Workload { .. } => "see fixtures/bench/demo-workload.toml for the format: [[statement]] with name, sql, params (\"int:1..100\", \"choice:a|b\", \"text:x\", \"float:0..1\", \"ago:30d\", \"bool\") and budgets (\"p95 < 200ms\", \"errors < 1%\", \"p95 +20%\")".into(),
            BenchError::Baseline { .. } => "write a baseline with --save-baseline FILE from the same workload file".into(),
            BenchError::Options(_) => "run `dbopt bench pool --help` or `dbopt bench queries --help`".into(),
            BenchError::WritesNeedFlag => "pass --allow-writes if writing to that database is fine, or leave out --database-url to benchmark a throwaway server".into(),
            BenchError::AllFailed(_) => "run one statement of the workload by hand with psql to see why it fails".into(),
            BenchError::Pgbench(_) => "pgbench ships with the PostgreSQL server packages (Debian/Ubuntu: postgresql-NN, NN the major version); check that it is on PATH or in the server's bin directory".into(),
        })
    }
}
