//! `vacuum`'s output: the statements (before running, or with `--dry-run`), then a table of
//! what each VACUUM did.

use serde::Serialize;

use super::Format;
use crate::pg::inspect::VacuumDone;

/// The statements and, once run, their outcome (the `--format json` schema).
#[derive(Debug, Serialize)]
pub struct VacuumReport {
    pub dry_run: bool,
    pub statements: Vec<String>,
    pub done: Vec<VacuumDone>,
}

/// The statements, one a line, until something ran; then the outcome table.
pub fn render(r: &VacuumReport, format: Format) -> String {
    if r.done.is_empty() {
        return r.statements.iter().map(|s| format!("{s};\n")).collect();
    }
    let mut t = super::table(format, &["table", "seconds", "dead tuples before", "after"]);
    for d in &r.done {
        t.add_row(vec![
            d.table.clone(),
            format!("{:.1}", d.seconds),
            d.dead_tuples_before.to_string(),
            d.dead_tuples_after.to_string(),
        ]);
    }
    format!("{t}\n")
}
