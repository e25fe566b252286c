//! `dbopt advise` output for people: the recommended set with its evidence, the workload
//! before and after, what got no advice and why, and the rule findings.

use crate::sql::ident::quote_ident;
use std::fmt::Write as _;

use super::{table, Format};
use crate::advisor::report::AdviseReport;
use crate::units::bytes;

pub(super) fn pct(before: f64, after: f64) -> String {
    if before <= 0.0 {
        return "–".into();
    }
    format!("{:+.0} %", 100.0 * (after - before) / before)
}

pub(super) fn short(q: &str, n: usize) -> String {
    let one: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > n {
        format!("{}…", one.chars().take(n).collect::<String>())
    } else {
        one
    }
}

pub(super) fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.1} s", v / 1000.0)
    } else {
        format!("{v:.0} ms")
    }
}

/// A section heading (`### ...` in Markdown).
fn heading(out: &mut String, format: Format, t: &str) {
    if format == Format::Markdown {
        let _ = writeln!(out, "\n### {t}\n");
    } else {
        let _ = writeln!(out, "\n{t}");
    }
}

pub fn render(r: &AdviseReport, format: Format) -> String {
    let mut out = String::new();
    let total: i64 = r.recommendations.iter().map(|x| x.size_bytes).sum();
    heading(
        &mut out,
        format,
        &format!(
            "Recommended indexes: {} ({} estimated), costed with {}",
            r.recommendations.len(),
            bytes(total),
            r.costing
        ),
    );
    if r.recommendations.is_empty() {
        let _ = writeln!(out, "No index is worth building for this workload.");
    } else {
        recommendations(&mut out, r, format);
        ddl(&mut out, r, format);
        evidence(&mut out, r, format);
    }
    summary(&mut out, r);
    skipped(&mut out, r, format);
    findings(&mut out, r, format);
    out
}

/// An index as SQL writes its definition: `(keys) INCLUDE (...) WHERE ...`, with the method
/// when it is not btree. Keys and names quoted: a name is never mistaken for syntax.
pub(super) fn definition(rec: &crate::advisor::report::IndexRecommendation) -> String {
    let keys: Vec<String> = rec.columns.iter().map(|k| k.sql()).collect();
    let mut idx = format!("({})", keys.join(", "));
    if !rec.include.is_empty() {
        let inc: Vec<String> = rec.include.iter().map(|c| quote_ident(c)).collect();
        idx.push_str(&format!(" INCLUDE ({})", inc.join(", ")));
    }
    if let Some(p) = &rec.predicate {
        idx.push_str(&format!(" WHERE {p}"));
    }
    if rec.method != "btree" {
        idx = format!("{} {idx}", rec.method);
    }
    idx
}

/// The table of recommendations, then each one's write overhead and warnings.
fn recommendations(out: &mut String, r: &AdviseReport, format: Format) {
    let mut t = table(
        format,
        &[
            "#",
            "table",
            "index",
            "size",
            "statements helped",
            "their cost",
            "time saved/day",
        ],
    );
    for (i, rec) in r.recommendations.iter().enumerate() {
        let total = |cost: fn(&crate::advisor::report::StatementBenefit) -> f64| -> f64 {
            rec.statements
                .iter()
                .map(|s| cost(s) * s.calls as f64)
                .sum()
        };
        let before = total(|s| s.cost_before);
        let after = total(|s| s.cost_after);
        let saved: f64 = rec.statements.iter().map(|s| s.time_saved_ms_per_day).sum();
        t.add_row(vec![
            (i + 1).to_string(),
            rec.table.clone(),
            definition(rec),
            bytes(rec.size_bytes),
            rec.statements.len().to_string(),
            pct(before, after),
            ms(saved),
        ]);
    }
    let _ = writeln!(out, "{t}");
    for (i, rec) in r.recommendations.iter().enumerate() {
        if rec.write_overhead > 0.0 {
            let _ = writeln!(
                out,
                "#{}: writes to {} cost an estimated +{:.1} % more.",
                i + 1,
                rec.table,
                rec.write_overhead * 100.0
            );
        }
        for w in &rec.warnings {
            let _ = writeln!(out, "#{}: warning: {w}.", i + 1);
        }
    }
}

/// The DDL to run, one statement a line (a SQL block in Markdown).
fn ddl(out: &mut String, r: &AdviseReport, format: Format) {
    let md = format == Format::Markdown;
    heading(
        out,
        format,
        "DDL (run each statement on its own; CONCURRENTLY cannot run inside a transaction)",
    );
    if md {
        out.push_str("```sql\n");
    }
    for rec in &r.recommendations {
        let _ = writeln!(out, "{};", rec.ddl);
    }
    if md {
        out.push_str("```\n");
    }
}

/// The statements each index serves, with their cost per call before and after.
fn evidence(out: &mut String, r: &AdviseReport, format: Format) {
    heading(
        out,
        format,
        "Evidence: statements each index serves (estimated planner cost per call)",
    );
    let mut t = table(
        format,
        &["#", "statement", "calls", "cost before", "cost after"],
    );
    for (i, rec) in r.recommendations.iter().enumerate() {
        for s in &rec.statements {
            t.add_row(vec![
                (i + 1).to_string(),
                short(&s.query, 70),
                s.calls.to_string(),
                format!("{:.1}", s.cost_before),
                format!("{:.1}", s.cost_after),
            ]);
        }
    }
    let _ = writeln!(out, "{t}");
}

/// The workload's cost before and after, the planned share, and the demo's measurement.
fn summary(out: &mut String, r: &AdviseReport) {
    let w = &r.workload;
    let _ = writeln!(
        out,
        "\nWorkload: {} statements, estimated cost {:.0} → {:.0} ({}), {} what-if calls.",
        w.searched,
        w.cost_before,
        w.cost_after,
        pct(w.cost_before, w.cost_after),
        r.whatif_calls
    );
    if let Some(line) = w.planned_line() {
        let _ = writeln!(out, "The server {line}.");
    }
    if let Some(v) = &r.verification {
        let _ = writeln!(
            out,
            "Measured (indexes built on the demo server, workload run again): execution time {} → {} ({}); indexes take {} (estimated {}).",
            ms(v.workload_ms_before),
            ms(v.workload_ms_after),
            pct(v.workload_ms_before, v.workload_ms_after),
            bytes(v.built_bytes),
            bytes(v.estimated_bytes)
        );
    }
}

/// The statements no advice covers, and why.
fn skipped(out: &mut String, r: &AdviseReport, format: Format) {
    if r.skipped.is_empty() {
        return;
    }
    heading(out, format, "No advice for");
    let mut t = table(format, &["statement", "why"]);
    for s in &r.skipped {
        t.add_row(vec![short(&s.statement, 60), s.reason.clone()]);
    }
    let _ = writeln!(out, "{t}");
}

/// The rule findings that remain.
fn findings(out: &mut String, r: &AdviseReport, format: Format) {
    if r.findings.is_empty() {
        return;
    }
    heading(out, format, "Findings");
    let mut t = table(format, &["severity", "rule", "object", "finding", "fix"]);
    for f in &r.findings {
        t.add_row(vec![
            f.severity.label().to_string(),
            f.rule.clone(),
            f.object.clone(),
            f.message.clone(),
            f.sql().unwrap_or_else(|| f.remedy.clone()),
        ]);
    }
    let _ = writeln!(out, "{t}");
}
