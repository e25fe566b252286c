//! `dbopt explain` output: the plan as an indented tree with per-node time, rows (estimated vs
//! actual), loops, buffers and share of the total time; then the findings with their evidence
//! and remedy; then, with `--compare`, the plan after the indexes and what changed.
//!
//! Why a table per plan rather than PostgreSQL's text format: the columns line up, so the
//! expensive node and the wrong estimate are found by eye; the same data goes to JSON and to
//! markdown for a pull request.

use std::fmt::Write as _;

use comfy_table::Cell;
use serde::Serialize;

use super::{status_cell, table, Format};
use crate::analyze::count;
use crate::analyze::plan::{Node, Plan, PlanSummary};
use crate::findings::Finding;
use crate::pg::explain::{Explained, Mode};
use crate::workload::shape::{Shape, StatementKind};

/// Everything `dbopt explain` found, as printed and as `--format json`.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainReport {
    pub statement: String,
    /// None when dbopt's parser could not read the statement (the server could).
    pub kind: Option<StatementKind>,
    /// The statement's access shape as parsed (tables as written, not resolved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    /// Why the statement was analysed from its plan only, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// Relations, conditions and sort keys read from the plan, for unparsed statements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_summary: Option<PlanSummary>,
    pub before: Run,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Run>,
    /// Notes that concern the comparison (e.g. no candidate index).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One EXPLAIN and its findings.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Indexes in force for this run (empty for the baseline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<String>,
    pub hypothetical: bool,
    #[serde(flatten)]
    pub explained: Explained,
    pub findings: Vec<Finding>,
}

pub fn render(r: &ExplainReport, format: Format) -> String {
    let md = format == Format::Markdown;
    let mut out = String::new();
    if md {
        let _ = writeln!(
            out,
            "### dbopt explain\n\n```sql\n{}\n```\n",
            r.statement.trim()
        );
    }
    if let Some(e) = &r.parse_error {
        let _ = writeln!(
            out,
            "note: dbopt's parser could not read the statement ({e}); it was analysed from its plan"
        );
    }
    if let Some(s) = &r.plan_summary {
        if !s.relations.is_empty() {
            let _ = writeln!(out, "relations: {}", s.relations.join(", "));
        }
        for c in &s.conditions {
            let _ = writeln!(out, "condition: {c}");
        }
        if !s.sort_keys.is_empty() {
            let _ = writeln!(out, "sort keys: {}", s.sort_keys.join(", "));
        }
    }
    let title = if r.after.is_some() {
        Some("before")
    } else {
        None
    };
    render_run(&mut out, &r.before, title, format);
    if let Some(after) = &r.after {
        render_run(&mut out, after, Some("after"), format);
        let _ = writeln!(out, "{}", comparison(&r.before, after));
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

fn render_run(out: &mut String, run: &Run, title: Option<&str>, format: Format) {
    let md = format == Format::Markdown;
    if let Some(t) = title {
        let kind = if run.hypothetical {
            "hypothetical"
        } else {
            "rolled back"
        };
        let head = if run.indexes.is_empty() {
            t.to_string()
        } else {
            format!("{t}, with {kind} index(es): {}", run.indexes.join("; "))
        };
        let _ = if md {
            writeln!(out, "#### {head}\n")
        } else {
            writeln!(out, "== {head}")
        };
    }
    for n in &run.explained.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if md {
        out.push('\n');
    }
    // Markdown needs a blank line to end a table.
    let gap = if md { "\n" } else { "" };
    let _ = writeln!(
        out,
        "{}{gap}",
        tree(&run.explained.plan, run.explained.mode, format)
    );
    let p = &run.explained.plan;
    let mut timing = Vec::new();
    if let Some(ms) = p.planning_ms {
        timing.push(format!("planning {ms:.3} ms"));
    }
    if let Some(ms) = p.execution_ms {
        timing.push(format!("execution {ms:.3} ms"));
    }
    if let Some(j) = &p.jit {
        timing.push(format!("JIT {:.3} ms", j.total_ms));
    }
    if p.trigger_ms > 0.0 {
        timing.push(format!("triggers {:.3} ms", p.trigger_ms));
    }
    timing.push(format!("total cost {:.2}", p.root.total_cost));
    let _ = writeln!(out, "{}\n", timing.join(" · "));
    let _ = writeln!(out, "{}", findings(&run.findings, format));
}

/// The plan tree: one row per node, indented by depth.
pub fn tree(plan: &Plan, mode: Mode, format: Format) -> String {
    let analyzed = mode == Mode::Analyze;
    let headers: &[&str] = if analyzed {
        &[
            "node",
            "time ms",
            "share",
            "rows est",
            "rows actual",
            "loops",
            "buffers",
        ]
    } else {
        &["node", "cost", "rows est"]
    };
    let mut t = table(format, headers);
    let total = plan.total_ms().unwrap_or(0.0).max(f64::EPSILON);
    let md = format == Format::Markdown;
    fn walk<'a>(n: &'a Node, depth: usize, rows: &mut Vec<(usize, &'a Node)>) {
        rows.push((depth, n));
        for c in &n.children {
            walk(c, depth + 1, rows);
        }
    }
    let mut rows = Vec::new();
    walk(&plan.root, 0, &mut rows);
    for (depth, n) in rows {
        // Markdown collapses leading spaces; use non-breaking ones there.
        let pad = if md {
            "\u{a0}\u{a0}".repeat(depth)
        } else {
            "  ".repeat(depth)
        };
        let arrow = if depth == 0 { "" } else { "-> " };
        let mut label = format!("{pad}{arrow}{}", n.label());
        for (k, v) in [
            ("index", &n.index_cond),
            ("filter", &n.filter),
            ("hash", &n.hash_cond),
            ("join filter", &n.join_filter),
        ] {
            if let Some(v) = v {
                let _ = write!(label, "\n{pad}   {k}: {v}");
            }
        }
        if !n.sort_key.is_empty() {
            let _ = write!(label, "\n{pad}   sort: {}", n.sort_key.join(", "));
        }
        if analyzed {
            let excl = n.exclusive_ms().unwrap_or(0.0);
            let share = excl / total;
            let level = if share >= 0.5 {
                Some(crate::findings::Severity::Warning)
            } else {
                None
            };
            let misest = n.misestimate().filter(|(f, _)| *f >= 10.0);
            t.add_row(vec![
                Cell::new(lines(label, format)),
                Cell::new(format!("{excl:.3}")),
                if level.is_some() {
                    status_cell(&format!("{:.1}%", share * 100.0), level)
                } else {
                    Cell::new(format!("{:.1}%", share * 100.0))
                },
                Cell::new(count(n.plan_rows)),
                match misest {
                    Some((f, _)) => status_cell(
                        &format!("{} ({f:.0}x)", count(n.actual_rows.unwrap_or(0.0))),
                        Some(crate::findings::Severity::Warning),
                    ),
                    None => Cell::new(n.actual_rows.map(count).unwrap_or_else(|| "never".into())),
                },
                Cell::new(count(n.loops.unwrap_or(0.0))),
                Cell::new(buffers(n)),
            ]);
        } else {
            t.add_row(vec![
                Cell::new(lines(label, format)),
                Cell::new(format!("{:.2}..{:.2}", n.startup_cost, n.total_cost)),
                Cell::new(count(n.plan_rows)),
            ]);
        }
    }
    t.to_string()
}

/// Markdown table cells cannot hold line breaks: use `<br>` there.
fn lines(text: String, format: Format) -> String {
    if format == Format::Markdown {
        text.replace('\n', "<br>")
    } else {
        text
    }
}

fn buffers(n: &Node) -> String {
    let mut parts = Vec::new();
    if n.shared_hit > 0.0 {
        parts.push(format!("hit {}", count(n.shared_hit)));
    }
    if n.shared_read > 0.0 {
        parts.push(format!("read {}", count(n.shared_read)));
    }
    if n.temp_written > 0.0 || n.temp_read > 0.0 {
        parts.push(format!(
            "temp w {} r {}",
            count(n.temp_written),
            count(n.temp_read)
        ));
    }
    parts.join(", ")
}

pub fn findings(fs: &[Finding], format: Format) -> String {
    if fs.is_empty() {
        return "no findings on this plan".into();
    }
    let mut t = table(format, &["severity / rule", "node", "finding", "remedy"]);
    for f in fs {
        let mut text = f.message.clone();
        for e in &f.evidence {
            let _ = write!(text, "\n· {e}");
        }
        t.add_row(vec![
            status_cell(
                &lines(format!("{}\n{}", f.severity.label(), f.rule), format),
                Some(f.severity),
            ),
            Cell::new(&f.object),
            Cell::new(lines(text, format)),
            Cell::new(&f.remedy),
        ]);
    }
    let gap = if format == Format::Markdown { "\n" } else { "" };
    format!("{} finding(s)\n{gap}{t}{gap}", fs.len())
}

/// One line: what the indexes changed.
pub fn comparison(before: &Run, after: &Run) -> String {
    let (b, a) = (&before.explained.plan, &after.explained.plan);
    let mut parts = vec![format!(
        "total cost {:.2} → {:.2} ({:+.1}%)",
        b.root.total_cost,
        a.root.total_cost,
        pct(b.root.total_cost, a.root.total_cost)
    )];
    if let (Some(x), Some(y)) = (b.execution_ms, a.execution_ms) {
        parts.push(format!(
            "execution {x:.3} ms → {y:.3} ms ({:+.1}%)",
            pct(x, y)
        ));
    }
    parts.push(format!(
        "findings {} → {}",
        before.findings.len(),
        after.findings.len()
    ));
    format!("compare: {}", parts.join(" · "))
}

fn pct(before: f64, after: f64) -> f64 {
    if before == 0.0 {
        0.0
    } else {
        (after - before) / before * 100.0
    }
}
