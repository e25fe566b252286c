//! `migrations`' output: the files written, then the indexes built (valid, used by which
//! statement, how long).

use std::path::PathBuf;

use serde::Serialize;

use super::Format;
use crate::pg::apply::Applied;

/// The `--format json` schema: `applied` then `files`.
#[derive(Debug, Default, Serialize)]
pub struct MigrationsReport {
    pub applied: Vec<Applied>,
    pub files: Vec<PathBuf>,
}

impl MigrationsReport {
    /// An index that was built but is invalid, or not used by any of its statements.
    pub fn has_problem(&self) -> bool {
        self.applied.iter().any(|r| !r.valid || r.used_by.is_none())
    }
}

/// Said when the report recommends nothing (no file written).
pub const NOTHING: &str = "The report has no index recommendations: no migration written.\n";

pub fn render(r: &MigrationsReport, format: Format) -> String {
    let mut out = String::new();
    if !r.files.is_empty() {
        let mut t = super::table(format, &["migration file"]);
        for p in &r.files {
            t.add_row(vec![p.display().to_string()]);
        }
        out.push_str(&format!("{t}\n"));
    }
    if !r.applied.is_empty() {
        let mut t = super::table(format, &["index", "valid", "used by", "build time"]);
        for a in &r.applied {
            t.add_row(vec![
                a.index.clone(),
                if a.valid { "yes" } else { "NO" }.to_string(),
                a.used_by
                    .clone()
                    .unwrap_or_else(|| "not used by its statements".into()),
                if a.existed {
                    "already there".to_string()
                } else {
                    format!("{:.1} s", a.seconds)
                },
            ]);
        }
        out.push_str(&format!("{t}\n"));
    }
    out
}
