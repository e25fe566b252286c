//! The archiver: move, copy or delete old rows in small keyset batches, crash-safe.
//!
//! Why it is built this way (pt-archiver's guarantees, carried over to PostgreSQL):
//! - The cutoff and the highest key are captured once at the start ([`plan`]), so rows that
//!   arrive during the run are never touched.
//! - Batches walk the primary key (`key > last`), never `ctid`, and each batch is its own short
//!   transaction: no transaction, lock or snapshot is held between batches ([`run`]).
//! - In one database a move is a single statement per batch (`WITH moved AS (DELETE ...
//!   RETURNING *) INSERT ...`): a row is in exactly one table at every commit. To another
//!   database, the destination insert (`ON CONFLICT DO NOTHING`) commits before the source
//!   delete, so a crash can only leave a duplicate that the next run absorbs, never a lost row.
//! - Nothing needs a progress file: every batch is atomic or idempotent, so running the same
//!   command again after Ctrl-C, kill -9, a server restart or a network loss finishes the job.
//!
//! Only this module, `pg` and `bench` talk to a server.

pub mod bench;
pub mod filter;
pub mod outcome;
pub mod plan;
pub mod run;
pub mod sql;
pub mod verify;

pub use outcome::{Archived, DryRun, Executed};
pub use plan::{Plan, PlanOptions, Strategy};
pub use run::{RunOptions, Stats};

use crate::pg::PgError;

/// The result type of the archiver.
pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Pg(#[from] PgError),

    #[error("table {0} does not exist")]
    NoTable(String),

    #[error("{0} is not a table (only plain and partitioned tables can be archived)")]
    NotATable(String),

    #[error("table {0} has no primary key, so it cannot be walked in keyset batches")]
    NoPrimaryKey(String),

    #[error("table {table} is referenced by foreign keys ({list}); deleting its rows would fail or cascade")]
    ReferencedBy { table: String, list: String },

    #[error("invalid --where \"{text}\": {why}")]
    BadWhere {
        text: String,
        why: String,
        /// The source table, for the hint.
        table: String,
    },

    #[error("--where \"{text}\" was refused by the server in a read-only check: {why}")]
    WhereNotReadOnly { text: String, why: String },

    #[error("--column {column}: no such column in {table}")]
    NoColumn {
        /// As the user spelled it.
        column: String,
        table: String,
        /// The table's date and timestamp columns, for the hint.
        candidates: String,
    },

    #[error("column \"{column}\" of {table} is {type_name}, not a date or timestamp")]
    NotATime {
        column: String,
        table: String,
        type_name: String,
    },

    #[error("cannot tell which column of {table} holds the row's age: {why}")]
    NoAgeColumn { table: String, why: String },

    #[error("archive table {0} does not exist")]
    NoArchive(String),

    #[error("archive table {archive} does not match {table}: {detail}")]
    Incompatible {
        archive: String,
        table: String,
        detail: String,
    },

    #[error("archive table {archive} has no unique index on ({key}), so a re-run could insert duplicates")]
    ArchiveNotUnique { archive: String, key: String },

    #[error("{0}")]
    Options(String),
}

impl ArchiveError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ArchiveError::Pg(e) => return e.hint(),
            ArchiveError::NoTable(_) => "check the name and schema (schema.table); names are matched exactly first, then as SQL identifiers".into(),
            ArchiveError::NotATable(_) => "archive the underlying table instead".into(),
            ArchiveError::NoPrimaryKey(_) => "add a primary key (ALTER TABLE ... ADD PRIMARY KEY (...)); dbopt never walks a table by ctid".into(),
            ArchiveError::ReferencedBy { .. } => "archive the referencing rows first, or use --strategy copy; dbopt never cascades deletes".into(),
            ArchiveError::BadWhere { table, .. } => format!(
                "--where accepts columns of {table}, literals, operators and {}",
                filter::allowed_functions()
            ),
            ArchiveError::WhereNotReadOnly { .. } => "use only read-only functions and operators in --where".into(),
            ArchiveError::NoColumn { candidates, .. } => format!(
                "--column is spelled like --table: the exact name, or an SQL identifier (unquoted folds to lower case, \"Quoted\" keeps its case); date and timestamp columns: {candidates}"
            ),
            ArchiveError::NotATime { .. } => "--older-than needs a timestamptz, timestamp or date column; choose one with --column".into(),
            ArchiveError::NoAgeColumn { .. } => "name the age column with --column".into(),
            ArchiveError::NoArchive(_) => "add --create to create it (LIKE the source, INCLUDING ALL), or name an existing one with --to".into(),
            ArchiveError::Incompatible { .. } => "give the archive the same columns and types as the source (CREATE TABLE archive (LIKE source INCLUDING ALL))".into(),
            ArchiveError::ArchiveNotUnique { .. } => "add a primary key or unique index on the same columns as the source's primary key".into(),
            ArchiveError::Options(_) => "see `dbopt archive --help`".into(),
        })
    }
}

/// Wrap a statement error with what the archiver was doing.
pub(crate) fn q(
    context: impl std::fmt::Display,
) -> impl FnOnce(tokio_postgres::Error) -> ArchiveError {
    move |e| ArchiveError::Pg(PgError::query(context, e))
}
