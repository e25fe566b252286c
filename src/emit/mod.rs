//! Turning recommendations into text people commit: index DDL and migration files.
//!
//! Why this shape: every migration tool has its own file names, "no transaction" marker and
//! way of sending a file to the server, but the *content* is the same for all of them. So a
//! recommendation is first turned into [`plan`] steps (one index build each, in order), the
//! [`header`] explains why the index exists, and the [`writer`] numbers and writes the files;
//! a format module only decides names and wrapping.

mod dbmate;
mod diesel;
mod flyway;
mod golang_migrate;
pub mod header;
mod plain;
pub mod plan;
mod rails;
mod sqlx;
pub mod writer;

use std::path::Path;

use crate::advisor::report::{AdviseReport, OLDEST_READABLE, SCHEMA_VERSION};

pub use plan::{Step, Unit};
pub use writer::{write_migrations, write_migrations_with, EmitContext};

/// The migration tools dbopt writes for (`--migration-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationFormat {
    /// sqlx: `<version>_<name>.up.sql` / `.down.sql` starting with `-- no-transaction`.
    Sqlx,
    /// diesel: `<timestamp>_<name>/up.sql`, `down.sql`, `metadata.toml` (`run_in_transaction = false`).
    Diesel,
    /// golang-migrate: `<version>_<name>.up.sql` / `.down.sql`.
    GolangMigrate,
    /// Flyway: `V<version>__<name>.sql` + `.sql.conf` (`executeInTransaction=false`), `U...` to undo.
    Flyway,
    /// dbmate: one file with `-- migrate:up transaction:false` and `-- migrate:down transaction:false`.
    Dbmate,
    /// Rails: a Ruby migration with `disable_ddl_transaction!` and `algorithm: :concurrently`.
    Rails,
    /// A psql script (`psql -v ON_ERROR_STOP=1 -f FILE`), with timeouts set per statement.
    Plain,
}

impl MigrationFormat {
    pub const ALL: [MigrationFormat; 7] = [
        MigrationFormat::Sqlx,
        MigrationFormat::Diesel,
        MigrationFormat::GolangMigrate,
        MigrationFormat::Flyway,
        MigrationFormat::Dbmate,
        MigrationFormat::Rails,
        MigrationFormat::Plain,
    ];

    /// Whether the tool sends a whole file (or dbmate section) as one query message. Such a
    /// message is one implicit transaction, so it may hold exactly one `CONCURRENTLY`
    /// statement and no `SET`: each plan step becomes its own migration. psql and Rails send
    /// statement by statement, so one migration per index holds all its steps.
    pub fn sends_whole_file(self) -> bool {
        !matches!(self, MigrationFormat::Rails | MigrationFormat::Plain)
    }

    pub fn name(self) -> &'static str {
        match self {
            MigrationFormat::Sqlx => "sqlx",
            MigrationFormat::Diesel => "diesel",
            MigrationFormat::GolangMigrate => "golang-migrate",
            MigrationFormat::Flyway => "flyway",
            MigrationFormat::Dbmate => "dbmate",
            MigrationFormat::Rails => "rails",
            MigrationFormat::Plain => "plain",
        }
    }
}

/// Why migrations could not be written. Nothing is left half-written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error("cannot read the report {path}: {reason}")]
    ReadReport { path: String, reason: String },

    #[error("{path} is not a dbopt advise report: {reason}")]
    NotAReport { path: String, reason: String },

    #[error("{path} has report schema_version {found}, this dbopt reads versions {OLDEST_READABLE} to {SCHEMA_VERSION}")]
    SchemaVersion { path: String, found: u32 },

    #[error("recommendation {index:?} is unusable: {reason}")]
    BadRecommendation { index: String, reason: String },

    #[error("no index named {name:?} in the report (it has: {known})")]
    UnknownIndex { name: String, known: String },

    #[error("the report has no index recommendations")]
    NothingToWrite,

    #[error("{path} already exists")]
    Exists { path: String },

    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

impl EmitError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            EmitError::ReadReport { .. } => {
                "check the path; save a report with `dbopt advise --format json > report.json`"
                    .into()
            }
            EmitError::NotAReport { .. } => {
                "pass the JSON written by `dbopt advise --format json`, unedited".into()
            }
            EmitError::SchemaVersion { .. } => {
                "write the report again with this dbopt version (`dbopt advise --format json`)"
                    .into()
            }
            EmitError::BadRecommendation { .. } => {
                "fix or remove that entry in the report, or leave it out with --only".into()
            }
            EmitError::UnknownIndex { .. } => {
                "use one of the index names listed, exactly as in the report's \"name\" field"
                    .into()
            }
            EmitError::NothingToWrite => {
                "dbopt found no index worth adding; there is nothing to migrate".into()
            }
            EmitError::Exists { .. } => {
                "dbopt never overwrites migrations; remove the file or write to another --dir"
                    .into()
            }
            EmitError::Write { .. } => {
                "check that the directory exists and is writable, or choose another --dir".into()
            }
        }
    }
}

/// Read and check a saved advise report.
pub fn read_report(path: &Path) -> Result<AdviseReport, EmitError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| EmitError::ReadReport {
        path: p.clone(),
        reason: e.to_string(),
    })?;
    // Check the version first, so a future report gets the version message, not a field error.
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| EmitError::NotAReport {
            path: p.clone(),
            reason: e.to_string(),
        })?;
    match value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        None => {
            return Err(EmitError::NotAReport {
                path: p,
                reason: "no schema_version field".into(),
            })
        }
        Some(v) if !(u64::from(OLDEST_READABLE)..=u64::from(SCHEMA_VERSION)).contains(&v) => {
            return Err(EmitError::SchemaVersion {
                path: p,
                found: u32::try_from(v).unwrap_or(u32::MAX),
            })
        }
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|e| EmitError::NotAReport {
        path: p,
        reason: e.to_string(),
    })
}
