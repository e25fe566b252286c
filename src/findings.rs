//! What an analysis found: [`Finding`]s and their [`Severity`]. Every layer above reads or
//! writes them (rules raise them, the advisor adds its own, `report` renders them, `--fail-on`
//! compares severities), so they live here on the ground floor, with no behaviour of their own.

use serde::{Deserialize, Serialize};

/// Severity of a finding, ordered (`--fail-on`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One problem found, with what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule's id (`fk-without-index`).
    pub rule: String,
    pub severity: Severity,
    /// What it is about: a table, an index, a statement fingerprint, a plan node.
    pub object: String,
    /// One sentence.
    pub message: String,
    /// The numbers behind it.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// What to do, in words.
    pub remedy: String,
    /// The statement that fixes it, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}
