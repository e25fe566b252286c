//! `dbopt doctor` output.

use super::{status_cell, table, Format};
use crate::findings::Severity;
use crate::pg::doctor::{CheckStatus, DoctorReport};

pub fn render(r: &DoctorReport, format: Format) -> String {
    let mut t = table(format, &["check", "status", "detail", "fix"]);
    for c in &r.checks {
        let level = match c.status {
            CheckStatus::Ok => None,
            CheckStatus::Warning => Some(Severity::Warning),
            CheckStatus::Missing => Some(Severity::Critical),
        };
        let label = match c.status {
            CheckStatus::Ok => "ok",
            CheckStatus::Warning => "warning",
            CheckStatus::Missing => "missing",
        };
        t.add_row(vec![
            comfy_table::Cell::new(&c.name),
            status_cell(label, level),
            comfy_table::Cell::new(&c.detail),
            comfy_table::Cell::new(c.fix.as_deref().unwrap_or("")),
        ]);
    }
    let summary = match r.problems() {
        0 => "everything dbopt needs is in place".to_string(),
        n => format!("{n} problem(s): run the commands in the fix column"),
    };
    format!(
        "PostgreSQL {} · database {} · role {}\n{t}\n{summary}\n",
        r.server_version, r.database, r.user
    )
}
