//! `demo`'s output: the tables loaded and how to connect (for people), or the whole report
//! (`--format json`).

use serde::Serialize;

use super::Format;
use crate::bench::demo::LoadStats;
use crate::bench::demo_workload::WorkloadStats;

/// What the demo started and loaded (the `--format json` schema).
#[derive(Debug, Serialize)]
pub struct DemoReport {
    pub url: String,
    pub server_version: String,
    pub startup_seconds: f64,
    pub hypopg: bool,
    pub load: LoadStats,
    pub workload: WorkloadStats,
    pub pg_stat_statements_entries: i64,
}

/// Rows per table, then how to connect with psql.
pub fn render(r: &DemoReport, format: Format) -> String {
    let mut t = super::table(format, &["table", "rows"]);
    for (name, rows) in &r.load.tables {
        t.add_row(vec![name.clone(), rows.to_string()]);
    }
    format!(
        "{t}\npg_stat_statements holds {} statements from the workload.\n\
         Connect with:\n  export DATABASE_URL='{}'\n  \
         psql \"$DATABASE_URL\" -c 'SELECT calls, query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 5'\n",
        r.pg_stat_statements_entries, r.url
    )
}
