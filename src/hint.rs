//! How every error tells the user what to do about it: one trait, one signature.
//!
//! Why a trait: the error types live in different modules (pg, workload sources, snapshots,
//! rules, migrations, EXPLAIN) and each knows its own fix; the command line turns any of them
//! into the one line `error: ...; hint: ...` in a single place (`cli::report_error`), so it
//! must be able to ask each the same question the same way.

/// An error that knows how the user can fix it.
pub trait Hint {
    /// One sentence on what to change, or `None` when there is nothing to add. `role` is who
    /// dbopt connects as, for hints that name a GRANT.
    fn hint(&self, role: Option<&str>) -> Option<String>;

    /// Lines printed after the error line (a caret under the position in a statement).
    fn detail(&self) -> Option<String> {
        None
    }
}

impl Hint for crate::pg::PgError {
    fn hint(&self, role: Option<&str>) -> Option<String> {
        self.hint_for(role)
    }
}

impl Hint for crate::workload::source::SourceError {
    fn hint(&self, _role: Option<&str>) -> Option<String> {
        crate::workload::source::SourceError::hint(self)
    }
}

impl Hint for crate::pg::source::LoadError {
    fn hint(&self, _role: Option<&str>) -> Option<String> {
        crate::pg::source::LoadError::hint(self)
    }
}

/// Errors of modules that also talk to the server: a server error names the GRANT for `role`.
macro_rules! pg_or_own {
    ($($t:ident),* $(,)?) => {$(
        impl Hint for $t {
            fn hint(&self, role: Option<&str>) -> Option<String> {
                match self {
                    $t::Pg(e) => e.hint_for(role),
                    other => $t::hint(other),
                }
            }
        }
    )*};
}

use crate::archive::ArchiveError;
use crate::bench::BenchError;
pg_or_own!(ArchiveError, BenchError);

/// Types whose inherent `hint()` always has an answer.
macro_rules! always_hinted {
    ($($t:ty),* $(,)?) => {$(
        impl Hint for $t {
            fn hint(&self, _role: Option<&str>) -> Option<String> {
                Some(<$t>::hint(self))
            }
        }
    )*};
}

always_hinted!(
    crate::snapshot::SnapshotError,
    crate::rules::RuleError,
    crate::emit::EmitError,
    crate::catalog::UnknownTable,
    crate::pg::explain::ExplainError,
    crate::workload::shape::ShapeError,
);

/// A failure the user can fix, stated as text: what went wrong, the fix, and optionally a
/// caret under the position in the statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UserError {
    pub message: String,
    pub hint: String,
    pub caret: Option<String>,
}

impl UserError {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: hint.into(),
            caret: None,
        }
    }

    /// Any hinted error as text (its own hint, no role).
    pub fn from_hinted<E: Hint + std::fmt::Display>(e: &E) -> Self {
        UserError::new(e.to_string(), e.hint(None).unwrap_or_default())
    }
}

impl Hint for UserError {
    fn hint(&self, _role: Option<&str>) -> Option<String> {
        Some(self.hint.clone())
    }

    fn detail(&self) -> Option<String> {
        self.caret.clone()
    }
}
