//! `dbopt nplusone` output: one row per loop, then each loop's rewrite.

use super::{status_cell, table, Format};
use serde::Serialize;

use crate::workload::nplusone::{Evidence, NPlusOne};
use crate::workload::shaped::short;

/// The JSON output (stable): every loop found, with its finding (severity, remedy, SQL).
#[derive(Debug, Serialize)]
pub struct NplusoneReport {
    pub loops: Vec<LoopReport>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct LoopReport {
    #[serde(flatten)]
    pub detail: NPlusOne,
    pub finding: crate::findings::Finding,
}

pub fn render(loops: &[LoopReport], format: Format) -> String {
    if loops.is_empty() {
        return "no N+1 loop found\n".into();
    }
    let mut t = table(
        format,
        &[
            "severity",
            "seen in",
            "parent",
            "child",
            "calls / rows",
            "child time",
            "link",
        ],
    );
    for l in loops {
        let d = &l.detail;
        t.add_row(vec![
            status_cell(l.finding.severity.label(), Some(l.finding.severity)),
            comfy_table::Cell::new(match d.evidence {
                Evidence::PgStatStatements => "pg_stat_statements",
                Evidence::Log => "log",
                Evidence::Activity => "activity samples (weaker)",
            }),
            comfy_table::Cell::new(short(&d.parent.query, 60)),
            comfy_table::Cell::new(short(&d.child.query, 60)),
            comfy_table::Cell::new(format!(
                "{} / {} = {:.2}",
                d.child_calls, d.parent_rows, d.ratio
            )),
            comfy_table::Cell::new(format!("{:.1} ms", d.child_total_ms)),
            comfy_table::Cell::new(format!(
                "{}.{} → {}.{}",
                d.child_table, d.child_column, d.parent_table, d.parent_column
            )),
        ]);
    }
    let mut out = format!("{t}\n");
    for (i, l) in loops.iter().enumerate() {
        out.push_str(&format!(
            "\n{}. {}\n   fix: {}\n   {}\n",
            i + 1,
            l.finding.message,
            l.finding.remedy,
            l.detail.rewrite
        ));
        if let Some(single) = &l.detail.single_statement {
            out.push_str(&format!("   or as one statement: {single}\n"));
        }
    }
    out
}
