//! `dbopt advise` output for people: the recommended set with its evidence, the workload
//! before and after, what got no advice and why, and the rule findings.

use crate::sql::ident::quote_ident;
use std::fmt::Write as _;

use super::{table, Format};
use crate::advisor::report::AdviseReport;
use crate::units::bytes;

fn pct(before: f64, after: f64) -> String {
    if before <= 0.0 {
        return "–".into();
    }
    format!("{:+.0} %", 100.0 * (after - before) / before)
}

fn short(q: &str, n: usize) -> String {
    let one: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > n {
        format!("{}…", one.chars().take(n).collect::<String>())
    } else {
        one
    }
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.1} s", v / 1000.0)
    } else {
        format!("{v:.0} ms")
    }
}

pub fn render(r: &AdviseReport, format: Format) -> String {
    let mut out = String::new();
    let md = format == Format::Markdown;
    let total: i64 = r.recommendations.iter().map(|x| x.size_bytes).sum();
    let h = |out: &mut String, t: &str| {
        if md {
            let _ = writeln!(out, "\n### {t}\n");
        } else {
            let _ = writeln!(out, "\n{t}");
        }
    };
    h(
        &mut out,
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
            let before: f64 = rec
                .statements
                .iter()
                .map(|s| s.cost_before * s.calls as f64)
                .sum();
            let after: f64 = rec
                .statements
                .iter()
                .map(|s| s.cost_after * s.calls as f64)
                .sum();
            let saved: f64 = rec.statements.iter().map(|s| s.time_saved_ms_per_day).sum();
            // Keys and names as SQL writes them: a name is never mistaken for syntax.
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
            t.add_row(vec![
                (i + 1).to_string(),
                rec.table.clone(),
                idx,
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
        h(
            &mut out,
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
        h(
            &mut out,
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
    if !r.skipped.is_empty() {
        h(&mut out, "No advice for");
        let mut t = table(format, &["statement", "why"]);
        for s in &r.skipped {
            t.add_row(vec![short(&s.statement, 60), s.reason.clone()]);
        }
        let _ = writeln!(out, "{t}");
    }
    if !r.findings.is_empty() {
        h(&mut out, "Findings");
        let mut t = table(format, &["severity", "rule", "object", "finding", "fix"]);
        for f in &r.findings {
            t.add_row(vec![
                f.severity.label().to_string(),
                f.rule.clone(),
                f.object.clone(),
                f.message.clone(),
                f.sql.clone().unwrap_or_else(|| f.remedy.clone()),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
    out
}
