//! Output of `dbopt check`: a table or Markdown report for a person (critical first, grouped
//! by area within each severity, through the findings table of the inspection commands) and
//! JUnit XML for CI (one suite per area, one test case per rule, failed by its findings).
//! JSON is the serde form of [`crate::inspect::check::CheckReport`].

use std::fmt::Write as _;

use comfy_table::Cell;

use super::inspect::findings;
use super::{status_cell, table, Format};
use crate::findings::{Finding, Severity};
use crate::inspect::check::{CheckReport, AREAS};
use crate::rules::Scope;
use crate::units::bytes;

pub(super) fn area_name(a: Scope) -> &'static str {
    match a {
        Scope::Catalog => "catalog",
        Scope::Workload => "workload",
        Scope::Plan => "plan",
        Scope::Activity => "activity",
        Scope::Health => "health",
    }
}

fn heading(out: &mut String, format: Format, text: &str) {
    if format == Format::Markdown {
        let _ = writeln!(out, "\n### {text}\n");
    } else {
        let _ = writeln!(out, "\n{text}");
    }
}

pub(super) fn facts(out: &mut String, r: &CheckReport) {
    let s = &r.server;
    let version = s.server_version_num.map_or_else(
        || "version unknown".into(),
        |v| format!("PostgreSQL {}.{}", v / 10_000, v % 10_000),
    );
    let _ = writeln!(
        out,
        "database {} ({version}, {}; {}): {} tables, {} indexes, {} statements, {} sessions",
        s.database,
        s.database_bytes
            .map_or_else(|| "size unknown".into(), bytes),
        r.source,
        s.tables,
        s.indexes,
        s.statements.map_or_else(|| "no".into(), |n| n.to_string()),
        s.sessions.map_or_else(|| "no".into(), |n| n.to_string()),
    );
}

/// The table or Markdown rendering.
pub fn render(r: &CheckReport, format: Format) -> String {
    let mut out = String::new();
    facts(&mut out, r);
    let mut t = table(
        format,
        &["area", "critical", "warning", "info", "rules run"],
    );
    for c in &r.counts {
        let worst = [
            (c.critical, Severity::Critical),
            (c.warning, Severity::Warning),
            (c.info, Severity::Info),
        ]
        .into_iter()
        .find(|(n, _)| *n > 0)
        .map(|(_, s)| s);
        t.add_row(vec![
            status_cell(area_name(c.area), worst),
            Cell::new(c.critical),
            Cell::new(c.warning),
            Cell::new(c.info),
            Cell::new(r.rules.iter().filter(|x| x.area == c.area).count()),
        ]);
    }
    let _ = writeln!(out, "{t}");
    if r.findings.is_empty() {
        let _ = writeln!(out, "no problems found");
    }
    for level in [Severity::Critical, Severity::Warning, Severity::Info] {
        for area in AREAS {
            let group: Vec<Finding> = r
                .findings
                .iter()
                .filter(|f| f.area == area && f.finding.severity == level)
                .map(|f| f.finding.clone())
                .collect();
            if group.is_empty() {
                continue;
            }
            heading(
                &mut out,
                format,
                &format!("{} · {} ({})", level.label(), area_name(area), group.len()),
            );
            findings(&mut out, &group, format, "");
        }
    }
    if let Some(a) = &r.advice {
        heading(
            &mut out,
            format,
            &format!(
                "recommended indexes ({}, {})",
                a.recommendations.len(),
                a.costing
            ),
        );
        if a.recommendations.is_empty() {
            let _ = writeln!(out, "no index to recommend");
        } else {
            let mut t = table(format, &["table", "index", "size", "statements", "why"]);
            for x in &a.recommendations {
                t.add_row(vec![
                    Cell::new(&x.table),
                    Cell::new(&x.ddl),
                    Cell::new(bytes(x.size_bytes)),
                    Cell::new(x.statements),
                    Cell::new(&x.reason),
                ]);
            }
            let _ = writeln!(out, "{t}");
            let _ = writeln!(
                out,
                "workload cost {:.0} -> {:.0} (`dbopt advise` for the evidence)",
                a.workload_cost_before, a.workload_cost_after
            );
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// JUnit XML: a suite per area, a case per rule that ran; a rule with findings at or above
/// warning fails with them (info findings are listed in `system-out`).
pub fn junit(r: &CheckReport) -> String {
    let failed = |id: &str| {
        r.findings
            .iter()
            .any(|f| f.finding.rule == id && f.finding.severity >= Severity::Warning)
    };
    let total_failed = r.rules.iter().filter(|x| failed(&x.id)).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"dbopt check {}\" tests=\"{}\" failures=\"{total_failed}\">",
        super::xml(&r.server.database),
        r.rules.len()
    );
    for area in AREAS {
        let rules: Vec<_> = r.rules.iter().filter(|x| x.area == area).collect();
        let failures = rules.iter().filter(|x| failed(&x.id)).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"0\" errors=\"0\">",
            area_name(area),
            rules.len()
        );
        for rule in rules {
            let found: Vec<&Finding> = r
                .findings
                .iter()
                .map(|f| &f.finding)
                .filter(|f| f.rule == rule.id)
                .collect();
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                area_name(area),
                super::xml(&rule.id)
            );
            if found.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            let text: Vec<String> = found
                .iter()
                .map(|f| format!("{} {}: {}", f.severity.label(), f.object, f.message))
                .collect();
            if failed(&rule.id) {
                let _ = writeln!(
                    out,
                    "      <failure message=\"{} finding(s)\">{}</failure>",
                    found.len(),
                    super::xml(&text.join("\n"))
                );
            } else {
                let _ = writeln!(
                    out,
                    "      <system-out>{}</system-out>",
                    super::xml(&text.join("\n"))
                );
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
