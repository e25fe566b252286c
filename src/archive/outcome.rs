//! What an archive command did, as plain data: the dry run (nothing changed) or the executed
//! run's statistics, each with its plan. The command builds it, the report renders it.

use super::{Plan, Stats};

/// What `archive` did (one per process, so the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
pub enum Archived {
    /// Nothing was changed.
    DryRun(DryRun),
    Executed(Executed),
}

/// The plan, the rows it would touch now, and the statements a run would send.
pub struct DryRun {
    pub plan: Plan,
    pub rows_in_scope: i64,
    pub sql: Vec<String>,
}

/// A run's plan and what it did.
pub struct Executed {
    pub plan: Plan,
    pub stats: Stats,
}
