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
pub mod archive;
pub mod bench;
pub mod check;
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
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    /// An archive run that failed part-way: what was done is safe, and the same command resumes.
    #[error("the run stopped; every finished batch is committed and consistent, run the same command again to resume")]
    RunStopped(#[source] crate::archive::ArchiveError),
    #[error(transparent)]
    Bench(#[from] crate::bench::BenchError),
    /// A task that cannot fail did (a panic in it).
    #[error("BUG: {0}")]
    Bug(&'static str, #[source] tokio::task::JoinError),
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
            Error::Archive(e) | Error::RunStopped(e) => Hint::hint(e, role),
            Error::Bench(e) => Hint::hint(e, role),
            Error::Bug(..) => None,
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            Error::User(e) => e.detail(),
            _ => None,
        }
    }
}

/// The one list of error types that carry a hint, so that `cli::report_error` can ask any error
/// in a chain; a test fails when a `thiserror` type in src/ is neither here nor in
/// `NOT_ASKED` (with the reason), so a new error type cannot be forgotten silently.
macro_rules! hinted_errors {
    ($($t:ty),* $(,)?) => {
        /// The [`Hint`] of `e` when it is one of the library's error types.
        pub fn hint_of<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Hint> {
            $(
                if let Some(h) = e.downcast_ref::<$t>() {
                    return Some(h);
                }
            )*
            None
        }

        #[cfg(test)]
        const HINTED: &[&str] = &[$(stringify!($t)),*];
    };
}

hinted_errors!(
    Error,
    PgError,
    SourceError,
    crate::pg::source::LoadError,
    crate::snapshot::SnapshotError,
    RuleError,
    crate::emit::EmitError,
    crate::archive::ArchiveError,
    crate::bench::BenchError,
    UserError,
    crate::pg::explain::ExplainError,
    crate::workload::shape::ShapeError,
    crate::catalog::UnknownTable,
);

/// Where a note for the user goes (the caller prints it on stderr as `note: ...`).
pub type Notes<'a> = &'a (dyn Fn(&str) + Sync);

/// Where a command reads what it inspects: a file written by `dbopt snapshot`, or a server
/// (a read-only session).
#[derive(Debug, Clone)]
pub enum Origin {
    Snapshot(std::path::PathBuf),
    Server(crate::pg::source::Live),
}

#[cfg(test)]
mod tests {
    /// Error types that are never asked for a hint, and why.
    const NOT_ASKED: &[(&str, &str)] = &[
        (
            "PlanError",
            "always wrapped in ExplainError::Plan, which carries the hint",
        ),
        (
            "KeyError",
            "parsing index keys dbopt itself wrote; never reaches the user",
        ),
    ];

    /// The names of the types deriving `thiserror::Error` in the files under `dir`.
    fn error_types(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                error_types(&path, out);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut derived = false;
            for line in text.lines().map(str::trim) {
                if line.starts_with("#[derive(") && line.contains("thiserror::Error") {
                    derived = true;
                } else if derived && !line.starts_with("#[") {
                    let name = line
                        .split(|c: char| !c.is_alphanumeric() && c != '_')
                        .find(|w| !["", "pub", "crate", "struct", "enum"].contains(w));
                    out.push(format!("{}: {}", path.display(), name.unwrap_or("?")));
                    derived = false;
                }
            }
        }
    }

    #[test]
    fn every_library_error_type_is_asked_for_its_hint() {
        let asked: Vec<&str> = super::HINTED
            .iter()
            .map(|t| t.rsplit("::").next().unwrap_or(t).trim())
            .collect();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        error_types(&src, &mut found);
        assert!(found.len() >= 10, "{found:?}");
        let forgotten: Vec<&String> = found
            .iter()
            .filter(|f| {
                let name = f.rsplit(": ").next().unwrap_or(f);
                !asked.contains(&name) && !NOT_ASKED.iter().any(|(n, _)| *n == name)
            })
            .collect();
        assert!(
            forgotten.is_empty(),
            "error types report_error would not ask for a hint (add them to hinted_errors! in \
             src/commands/mod.rs, or to NOT_ASKED with the reason): {forgotten:?}"
        );
    }
}
