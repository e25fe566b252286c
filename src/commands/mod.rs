//! What each command does, apart from its flags and its output: a plain request in (no clap
//! types), a report value out (rendered by `crate::report`), notes for the user through a
//! callback (printed by the caller).
//!
//! Why this layer: the command line used to parse flags, open connections, run SQL, choose
//! strategies and print, all in one function per command. Here the steps of a command read in
//! order and can be called from tests and benchmarks without a process; `cli` only turns
//! flags into requests and reports into output. It sits above the domain modules (`pg`,
//! `advisor`, `rules`, ...) and below `cli`.

pub mod advise;
pub mod demo;
pub mod explain;
pub mod inspect;
pub mod migrations;
pub mod nplusone;
pub mod snapshot;
pub mod vacuum;

use crate::hint::{Hint, UserError};
use crate::pg::PgError;
use crate::rules::RuleError;
use crate::workload::source::SourceError;

/// Why a command failed; every variant carries its hint ([`Hint`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Load(#[from] crate::pg::source::LoadError),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error(transparent)]
    Emit(#[from] crate::emit::EmitError),
    #[error(transparent)]
    User(#[from] UserError),
}

impl Hint for Error {
    fn hint(&self, role: Option<&str>) -> Option<String> {
        match self {
            Error::Pg(e) => Hint::hint(e, role),
            Error::Source(e) => Hint::hint(e, role),
            Error::Load(e) => Hint::hint(e, role),
            Error::Rule(e) => Hint::hint(e, role),
            Error::Snapshot(e) => Hint::hint(e, role),
            Error::Emit(e) => Hint::hint(e, role),
            Error::User(e) => Hint::hint(e, role),
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            Error::User(e) => e.detail(),
            _ => None,
        }
    }
}

/// Where a note for the user goes (the caller prints it on stderr as `note: ...`).
pub type Notes<'a> = &'a (dyn Fn(&str) + Sync);

/// Where a command reads what it inspects: a file written by `dbopt snapshot`, or a server
/// (a read-only session).
#[derive(Debug, Clone)]
pub enum Origin {
    Snapshot(std::path::PathBuf),
    Server(crate::pg::source::Live),
}
