//! `--format html`: one self-contained page a person opens in a browser, for `advise`,
//! `check` and `bench pool` ([`ramp`]): the findings, the recommended indexes with their
//! evidence, the pool ramp, and charts where a picture says more than a table ([`svg`]).
//!
//! Why self-contained: the page is mailed, attached to tickets and opened on machines with no
//! route to anything, so it carries its style and charts inline, runs no script, and its
//! Content-Security-Policy forbids loading anything at all. Every text on the page is user
//! data (object names, statement texts, messages) and goes through [`esc`]: a table named
//! `<script>` shows as text. The numbers a reader compares with `--format json` are also in
//! `data-*` attributes, written exactly as the JSON report writes them.

pub mod ramp;
pub mod svg;

use std::fmt::Write as _;

use svg::{Layout, Row, Series};

use super::advise::{definition, ms, pct, short};
use super::check::{area_name, facts};
use crate::advisor::report::{AdviseReport, IndexRecommendation};
use crate::findings::{Finding, Severity};
use crate::inspect::check::{AdviceSummary, CheckReport};
use crate::units::bytes;

/// Text or attribute value made safe for HTML (and SVG): markup characters become entities.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root{--crit:#c62828;--warn:#ef8f00;--info:#1976d2;--ok:#2e7d32;--before:#b0bec5;--after:#2e7d32;--size:#5c6bc0}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1100px;padding:24px;color:#1d2630;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde3ea;padding-bottom:4px}
.meta{color:#5b6775;margin:0 0 16px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #dde3ea;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}.card span{color:#5b6775}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border-bottom:1px solid #e7ebf0;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f5f7fa;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;background:#f5f7fa;border-radius:3px;padding:1px 3px;white-space:pre-wrap;word-break:break-word}
ul.ev{margin:0;padding-left:16px}
table.recommendations td:last-child{min-width:16em}
.sev{display:inline-block;border-radius:3px;padding:0 6px;color:#fff;font-size:12px;font-weight:600}
.sev.critical{background:var(--crit)}.sev.warning{background:var(--warn)}.sev.info{background:var(--info)}
.chart{max-width:100%;height:auto;font-size:12px}.chart text{fill:#1d2630}.chart .label{text-anchor:end}
.chart .before{fill:var(--before)}.chart .after{fill:var(--after)}.chart .size{fill:var(--size)}
.chart .critical{fill:var(--crit)}.chart .warning{fill:var(--warn)}.chart .info{fill:var(--info)}
.lines .grid{stroke:#e7ebf0}.lines text{stroke:none}.lines .step{text-anchor:middle}.lines polyline{fill:none;stroke-width:2}
.line.tp{fill:var(--info);stroke:var(--info)}.line.p95{fill:var(--warn);stroke:var(--warn)}.line.p99{fill:var(--crit);stroke:var(--crit)}
.mark line{stroke:#5b6775;stroke-dasharray:5 4}.mark.refused line{stroke:var(--crit)}.mark.refused text{fill:var(--crit)}
table.steps{font-size:12px}tr.knee td{background:#eef6ee}tr.refused td{background:#fdecea}
.note{color:#5b6775}.empty{color:var(--ok)}
";

/// The page around `body`, with its title and the attributes of `<body>`.
fn page(title: &str, body_attrs: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body{body_attrs}>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

/// A figure for the summary cards: a number, what it counts, and its `data-*` name.
fn card(out: &mut String, data: &str, value: &str, what: &str) {
    let _ = writeln!(
        out,
        "<div class=\"card\" data-{data}=\"{}\"><b>{}</b><span>{}</span></div>",
        esc(value),
        esc(value),
        esc(what)
    );
}

fn severity_badge(s: Severity) -> String {
    format!("<span class=\"sev {0}\">{0}</span>", s.label())
}

/// The findings table; `areas` gives each finding's area when the report has areas.
fn findings(out: &mut String, list: &[(Option<&str>, &Finding)]) {
    if list.is_empty() {
        out.push_str("<p class=\"empty\">No problems found.</p>\n");
        return;
    }
    let with_area = list.iter().any(|(a, _)| a.is_some());
    out.push_str("<table class=\"findings\">\n<tr><th>severity</th>");
    if with_area {
        out.push_str("<th>area</th>");
    }
    out.push_str(
        "<th>rule</th><th>object</th><th>finding</th><th>evidence</th><th>fix</th></tr>\n",
    );
    for (area, f) in list {
        let _ = write!(
            out,
            "<tr class=\"finding\" data-severity=\"{}\" data-rule=\"{}\" data-object=\"{}\"><td>{}</td>",
            f.severity.label(),
            esc(&f.rule),
            esc(&f.object),
            severity_badge(f.severity)
        );
        if with_area {
            let _ = write!(out, "<td>{}</td>", esc(area.unwrap_or("")));
        }
        let evidence: String = f
            .evidence
            .iter()
            .map(|e| format!("<li>{}</li>", esc(e)))
            .collect();
        let sql = f
            .sql()
            .as_ref()
            .map(|s| format!("<br><code>{}</code>", esc(s)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<td>{}</td><td>{}</td><td>{}</td><td><ul class=\"ev\">{evidence}</ul></td><td>{}{sql}</td></tr>",
            esc(&f.rule),
            esc(&f.object),
            esc(&f.message),
            esc(&f.remedy)
        );
    }
    out.push_str("</table>\n");
}

/// A recommendation's statements' cost, each call counted: before and after.
fn weighted_cost(rec: &IndexRecommendation) -> (f64, f64) {
    #[allow(clippy::cast_precision_loss)]
    let sum = |cost: fn(&crate::advisor::report::StatementBenefit) -> f64| -> f64 {
        rec.statements
            .iter()
            .map(|s| cost(s) * s.calls as f64)
            .sum()
    };
    (sum(|s| s.cost_before), sum(|s| s.cost_after))
}

const BEFORE_AFTER: [Series; 2] = [
    Series {
        name: "cost before",
        class: "before",
    },
    Series {
        name: "cost after",
        class: "after",
    },
];

const SIZE: [Series; 1] = [Series {
    name: "estimated size",
    class: "size",
}];

/// A chart of sizes: one bar per `(label, bytes)`.
#[allow(clippy::cast_precision_loss)]
fn size_chart(title: &str, items: &[(String, i64)]) -> String {
    let rows: Vec<Row> = items
        .iter()
        .map(|(label, b)| Row {
            label: label.clone(),
            values: vec![*b as f64],
            texts: vec![bytes(*b)],
        })
        .collect();
    svg::bars(title, &SIZE, &rows, Layout::Grouped)
}

/// The recommended indexes with their figures (the same sums the table rendering shows).
fn recommendations(out: &mut String, r: &AdviseReport) {
    out.push_str("<table class=\"recommendations\">\n<tr><th class=\"n\">#</th><th>table</th><th>index</th><th class=\"n\">size</th><th class=\"n\">statements helped</th><th class=\"n\">cost before</th><th class=\"n\">cost after</th><th class=\"n\">change</th><th class=\"n\">time saved/day</th><th>why</th></tr>\n");
    for (i, rec) in r.recommendations.iter().enumerate() {
        let (before, after) = weighted_cost(rec);
        let saved: f64 = rec.statements.iter().map(|s| s.time_saved_ms_per_day).sum();
        let mut why = esc(&rec.reason);
        if rec.write_overhead > 0.0 {
            let _ = write!(
                why,
                "<br>writes cost an estimated +{:.1} % more",
                rec.write_overhead * 100.0
            );
        }
        for w in &rec.warnings {
            let _ = write!(why, "<br>warning: {}", esc(w));
        }
        let _ = writeln!(
            out,
            "<tr class=\"recommendation\" data-index=\"{name}\" data-size-bytes=\"{}\" data-statements=\"{}\" data-cost-before=\"{before}\" data-cost-after=\"{after}\">\
             <td class=\"n\">{}</td><td>{}</td><td><code>{}</code><br><span class=\"note\">{name}</span></td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{before:.1}</td><td class=\"n\">{after:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{why}</td></tr>",
            rec.size_bytes,
            rec.statements.len(),
            i + 1,
            esc(&rec.table),
            esc(&definition(rec)),
            bytes(rec.size_bytes),
            rec.statements.len(),
            pct(before, after),
            ms(saved),
            name = esc(&rec.name),
        );
    }
    out.push_str("</table>\n<h2>DDL</h2>\n<p class=\"note\">Run each statement on its own; CONCURRENTLY cannot run inside a transaction.</p>\n<pre class=\"ddl\">");
    for rec in &r.recommendations {
        let _ = writeln!(out, "{};", esc(&rec.ddl));
    }
    out.push_str("</pre>\n");
}

/// The statements each index serves: a chart of their cost per call, then the table.
fn evidence(out: &mut String, r: &AdviseReport) {
    let rows: Vec<Row> = r
        .recommendations
        .iter()
        .enumerate()
        .flat_map(|(i, rec)| {
            rec.statements.iter().map(move |s| Row {
                label: format!("#{} {}", i + 1, s.query),
                values: vec![s.cost_before, s.cost_after],
                texts: vec![
                    format!("{:.1}", s.cost_before),
                    format!("{:.1}", s.cost_after),
                ],
            })
        })
        .collect();
    out.push_str("<h2>Cost per statement, before and after</h2>\n<p class=\"note\">Estimated planner cost of one call, without and with the recommended indexes.</p>\n");
    out.push_str(&svg::bars(
        "Estimated cost per call of each statement, before and after",
        &BEFORE_AFTER,
        &rows,
        Layout::Grouped,
    ));
    out.push_str("\n<table class=\"evidence\">\n<tr><th class=\"n\">#</th><th>statement</th><th class=\"n\">calls</th><th class=\"n\">cost before</th><th class=\"n\">cost after</th><th class=\"n\">time saved/day</th></tr>\n");
    for (i, rec) in r.recommendations.iter().enumerate() {
        for s in &rec.statements {
            let _ = writeln!(
                out,
                "<tr class=\"statement\" data-index=\"{}\" data-fingerprint=\"{}\" data-calls=\"{}\" data-cost-before=\"{}\" data-cost-after=\"{}\"><td class=\"n\">{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td></tr>",
                esc(&rec.name),
                esc(&s.fingerprint),
                s.calls,
                s.cost_before,
                s.cost_after,
                i + 1,
                esc(&short(&s.query, 400)),
                s.calls,
                s.cost_before,
                s.cost_after,
                ms(s.time_saved_ms_per_day)
            );
        }
    }
    out.push_str("</table>\n");
}

/// What `advise` measured or could not advise on.
fn advise_tail(out: &mut String, r: &AdviseReport) {
    if let Some(v) = &r.verification {
        let _ = writeln!(
            out,
            "<h2>Measured</h2>\n<p data-ms-before=\"{}\" data-ms-after=\"{}\">Indexes built on the demo server, workload run again: execution time {} → {} ({}); indexes take {} (estimated {}).</p>",
            v.workload_ms_before,
            v.workload_ms_after,
            ms(v.workload_ms_before),
            ms(v.workload_ms_after),
            pct(v.workload_ms_before, v.workload_ms_after),
            bytes(v.built_bytes),
            bytes(v.estimated_bytes)
        );
    }
    if !r.skipped.is_empty() {
        out.push_str("<h2>No advice for</h2>\n<table class=\"skipped\">\n<tr><th>statement</th><th>why</th></tr>\n");
        for s in &r.skipped {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                esc(&short(&s.statement, 400)),
                esc(&s.reason)
            );
        }
        out.push_str("</table>\n");
    }
}

/// The page of `dbopt advise`.
pub fn advise(r: &AdviseReport) -> String {
    let mut b = String::new();
    let w = &r.workload;
    let total: i64 = r.recommendations.iter().map(|x| x.size_bytes).sum();
    let _ = writeln!(
        b,
        "<h1>dbopt advise</h1>\n<p class=\"meta\">costed with {} · {} statements searched · {} what-if calls · dbopt {}</p>\n<div class=\"cards\">",
        esc(&r.costing),
        w.searched,
        r.whatif_calls,
        esc(&r.dbopt_version)
    );
    card(
        &mut b,
        "recommendations",
        &r.recommendations.len().to_string(),
        "indexes recommended",
    );
    card(&mut b, "total-size", &bytes(total), "estimated size");
    card(
        &mut b,
        "workload-change",
        &pct(w.cost_before, w.cost_after),
        "workload cost",
    );
    card(
        &mut b,
        "findings",
        &r.findings.len().to_string(),
        "findings",
    );
    b.push_str("</div>\n");
    let _ = writeln!(
        b,
        "<p class=\"workload\" data-cost-before=\"{}\" data-cost-after=\"{}\">Workload: estimated cost {:.0} → {:.0} ({}).{}</p>",
        w.cost_before,
        w.cost_after,
        w.cost_before,
        w.cost_after,
        pct(w.cost_before, w.cost_after),
        w.planned_line()
            .map(|l| format!(" The server {}.", esc(&l)))
            .unwrap_or_default()
    );
    b.push_str("<h2>Recommended indexes</h2>\n");
    if r.recommendations.is_empty() {
        b.push_str("<p class=\"empty\">No index is worth building for this workload.</p>\n");
    } else {
        recommendations(&mut b, r);
        evidence(&mut b, r);
        b.push_str("<h2>Index sizes</h2>\n");
        let sizes: Vec<(String, i64)> = r
            .recommendations
            .iter()
            .map(|x| (x.name.clone(), x.size_bytes))
            .collect();
        b.push_str(&size_chart(
            "Estimated size of each recommended index",
            &sizes,
        ));
        b.push('\n');
    }
    advise_tail(&mut b, r);
    b.push_str("<h2>Findings</h2>\n");
    let list: Vec<(Option<&str>, &Finding)> = r.findings.iter().map(|f| (None, f)).collect();
    findings(&mut b, &list);
    page(
        "dbopt advise",
        &format!(
            " data-report=\"advise\" data-findings=\"{}\"",
            r.findings.len()
        ),
        &b,
    )
}

const SEVERITIES: [Series; 3] = [
    Series {
        name: "critical",
        class: "critical",
    },
    Series {
        name: "warning",
        class: "warning",
    },
    Series {
        name: "info",
        class: "info",
    },
];

/// The per-area counts: a stacked chart and the table.
#[allow(clippy::cast_precision_loss)]
fn areas(out: &mut String, r: &CheckReport) {
    let rows: Vec<Row> = r
        .counts
        .iter()
        .map(|c| Row {
            label: area_name(c.area).to_string(),
            values: vec![c.critical as f64, c.warning as f64, c.info as f64],
            texts: vec![format!("{} / {} / {}", c.critical, c.warning, c.info)],
        })
        .collect();
    out.push_str(&svg::bars(
        "Findings per area and severity",
        &SEVERITIES,
        &rows,
        Layout::Stacked,
    ));
    out.push_str("\n<table class=\"areas\">\n<tr><th>area</th><th class=\"n\">critical</th><th class=\"n\">warning</th><th class=\"n\">info</th><th class=\"n\">rules run</th></tr>\n");
    for c in &r.counts {
        let name = area_name(c.area);
        let _ = writeln!(
            out,
            "<tr class=\"area\" data-area=\"{name}\" data-critical=\"{}\" data-warning=\"{}\" data-info=\"{}\"><td>{name}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            c.critical,
            c.warning,
            c.info,
            c.critical,
            c.warning,
            c.info,
            r.rules.iter().filter(|x| x.area == c.area).count()
        );
    }
    out.push_str("</table>\n");
}

/// `check --advise`: the recommended indexes, summarised.
fn advice(out: &mut String, a: &AdviceSummary) {
    let _ = writeln!(
        out,
        "<h2>Recommended indexes</h2>\n<p class=\"workload\" data-cost-before=\"{}\" data-cost-after=\"{}\">Costed with {}: workload cost {:.0} → {:.0} ({}); <code>dbopt advise --format html</code> shows the evidence.</p>",
        a.workload_cost_before,
        a.workload_cost_after,
        esc(&a.costing),
        a.workload_cost_before,
        a.workload_cost_after,
        pct(a.workload_cost_before, a.workload_cost_after)
    );
    if a.recommendations.is_empty() {
        out.push_str("<p class=\"empty\">No index to recommend.</p>\n");
        return;
    }
    out.push_str("<table class=\"recommendations\">\n<tr><th>table</th><th>index</th><th class=\"n\">size</th><th class=\"n\">statements</th><th>why</th></tr>\n");
    for x in &a.recommendations {
        let _ = writeln!(
            out,
            "<tr class=\"recommendation\" data-index=\"{}\" data-size-bytes=\"{}\" data-statements=\"{}\"><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&x.name),
            x.size_bytes,
            x.statements,
            esc(&x.table),
            esc(&x.ddl),
            bytes(x.size_bytes),
            x.statements,
            esc(&x.reason)
        );
    }
    out.push_str("</table>\n");
    let sizes: Vec<(String, i64)> = a
        .recommendations
        .iter()
        .map(|x| (x.name.clone(), x.size_bytes))
        .collect();
    out.push_str(&size_chart(
        "Estimated size of each recommended index",
        &sizes,
    ));
    out.push('\n');
}

/// The page of `dbopt check`.
pub fn check(r: &CheckReport) -> String {
    let mut b = String::new();
    let mut line = String::new();
    facts(&mut line, r);
    let total = |s: Severity| {
        r.findings
            .iter()
            .filter(|f| f.finding.severity == s)
            .count()
    };
    let _ = writeln!(
        b,
        "<h1>dbopt check · {}</h1>\n<p class=\"meta\">{} · dbopt {}</p>\n<div class=\"cards\">",
        esc(&r.server.database),
        esc(line.trim()),
        esc(&r.dbopt_version)
    );
    for s in [Severity::Critical, Severity::Warning, Severity::Info] {
        card(&mut b, s.label(), &total(s).to_string(), s.label());
    }
    card(&mut b, "rules", &r.rules.len().to_string(), "rules run");
    b.push_str("</div>\n<h2>Findings per area</h2>\n");
    areas(&mut b, r);
    b.push_str("<h2>Findings, most severe first</h2>\n");
    let list: Vec<(Option<&str>, &Finding)> = r
        .findings
        .iter()
        .map(|f| (Some(area_name(f.area)), &f.finding))
        .collect();
    findings(&mut b, &list);
    if let Some(a) = &r.advice {
        advice(&mut b, a);
    }
    if !r.notes.is_empty() {
        b.push_str("<h2>Notes</h2>\n<ul class=\"notes\">\n");
        for n in &r.notes {
            let _ = writeln!(b, "<li class=\"note\">{}</li>", esc(n));
        }
        b.push_str("</ul>\n");
    }
    page(
        &format!("dbopt check · {}", r.server.database),
        &format!(
            " data-report=\"check\" data-findings=\"{}\" data-critical=\"{}\" data-warning=\"{}\" data-info=\"{}\"",
            r.findings.len(),
            total(Severity::Critical),
            total(Severity::Warning),
            total(Severity::Info)
        ),
        &b,
    )
}

#[cfg(test)]
mod tests;
