//! `dbopt bench queries` for people and CI: tables for a terminal, Markdown for a pull request
//! comment, JUnit XML for CI systems (JSON is the report value itself).

use std::fmt::Write as _;

use crate::bench::histogram::ms;
use crate::bench::queries::QueriesReport;
use crate::report::{self, Format};

fn verdict(passed: Option<bool>) -> &'static str {
    match passed {
        Some(true) => "pass",
        Some(false) => "FAIL",
        None => "skipped",
    }
}

/// A section heading (`### ...` in Markdown).
fn heading(out: &mut String, f: Format, h: &str) {
    if f == Format::Markdown {
        let _ = writeln!(out, "\n### {h}\n");
    } else {
        let _ = writeln!(out, "\n{h}");
    }
}

/// Tables for a terminal, or markdown for a pull-request comment.
pub fn human(f: Format, r: &QueriesReport) -> String {
    let mut out = String::new();
    heading(
        &mut out,
        f,
        &format!(
            "dbopt bench queries: {} ({} repeats, medians)",
            r.workload, r.repeat
        ),
    );
    statements(&mut out, f, r);
    failed_checks(&mut out, f, r);
    comparisons(&mut out, f, r);
    plan_changes(&mut out, f, r);
    let total: usize = r
        .statements
        .iter()
        .map(|s| s.checks.iter().filter(|c| c.passed.is_some()).count())
        .sum();
    let _ = writeln!(
        out,
        "\n{}",
        if r.passed {
            format!("PASS: {total} checks passed")
        } else {
            format!("FAIL: {} of {total} checks failed", r.checks_failed)
        }
    );
    out
}

/// One row per statement: latency percentiles, errors, checks.
fn statements(out: &mut String, f: Format, r: &QueriesReport) {
    let mut t = report::table(
        f,
        &[
            "statement",
            "iterations",
            "p50",
            "p95",
            "p99",
            "max",
            "errors",
            "checks",
        ],
    );
    for s in &r.statements {
        let failed: Vec<&str> = s
            .checks
            .iter()
            .filter(|c| c.passed == Some(false))
            .map(|c| c.budget.as_str())
            .collect();
        let evaluated = s.checks.iter().filter(|c| c.passed.is_some()).count();
        t.add_row(vec![
            s.name.clone(),
            s.iterations.to_string(),
            ms(s.latency.p50_ms),
            ms(s.latency.p95_ms),
            ms(s.latency.p99_ms),
            ms(s.latency.max_ms),
            format!("{} ({:.1} %)", s.errors, s.error_rate * 100.0),
            if failed.is_empty() {
                format!("{evaluated} passed")
            } else {
                format!("FAIL: {}", failed.join(", "))
            },
        ]);
    }
    let _ = writeln!(out, "{t}");
}

/// The checks that failed, with what was measured.
fn failed_checks(out: &mut String, f: Format, r: &QueriesReport) {
    let failing: Vec<_> = r
        .statements
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
        .filter(|(_, c)| c.passed == Some(false))
        .collect();
    if !failing.is_empty() {
        heading(out, f, "Failed checks");
        let mut t = report::table(f, &["statement", "budget", "measured", "result"]);
        for (s, c) in failing {
            t.add_row(vec![
                s.name.clone(),
                c.budget.clone(),
                c.detail.clone(),
                verdict(c.passed).into(),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
}

/// Each metric against the baseline.
fn comparisons(out: &mut String, f: Format, r: &QueriesReport) {
    if !r.comparisons.is_empty() {
        heading(
            out,
            f,
            &format!(
                "Against the baseline {}",
                r.baseline.as_deref().unwrap_or("")
            ),
        );
        let mut t = report::table(
            f,
            &[
                "statement",
                "metric",
                "baseline",
                "now",
                "change",
                "noise",
                "allowed",
                "result",
            ],
        );
        for c in &r.comparisons {
            t.add_row(vec![
                c.statement.clone(),
                c.metric.label().into(),
                ms(c.baseline_ms),
                ms(c.now_ms),
                format!("{:+.0} %", c.change * 100.0),
                ms(c.noise_ms),
                c.allowed
                    .map_or("-".into(), |a| format!("+{:.0} %", a * 100.0)),
                if c.regressed {
                    "REGRESSED".into()
                } else if c.allowed.is_some() {
                    "ok".into()
                } else {
                    "info".into()
                },
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
}

/// Plans that changed since the baseline.
fn plan_changes(out: &mut String, f: Format, r: &QueriesReport) {
    if !r.plan_changes.is_empty() {
        heading(out, f, "Plan changes since the baseline");
        let mut t = report::table(f, &["statement", "baseline plan", "plan now", "note"]);
        let flat = |p: &[String]| p.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" > ");
        for c in &r.plan_changes {
            t.add_row(vec![
                c.statement.clone(),
                flat(&c.before),
                flat(&c.after),
                if c.lost_index {
                    "an index is no longer used (Seq Scan?)".into()
                } else {
                    String::new()
                },
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
}

/// JUnit XML: one test case per statement and budget.
pub fn junit(r: &QueriesReport) -> String {
    let cases: Vec<_> = r
        .statements
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
        .collect();
    let failures = cases
        .iter()
        .filter(|(_, c)| c.passed == Some(false))
        .count();
    let skipped = cases.iter().filter(|(_, c)| c.passed.is_none()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"dbopt bench queries\" tests=\"{}\" failures=\"{failures}\">",
        cases.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" errors=\"0\">",
        super::xml(&r.workload),
        cases.len()
    );
    for (s, c) in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.6}\"",
            super::xml(&format!("{}.{}", r.workload, s.name)),
            super::xml(&c.budget),
            s.latency.p95_ms / 1000.0
        );
        match c.passed {
            Some(true) => out.push_str("/>\n"),
            Some(false) => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    super::xml(&format!("{} failed: {}", c.budget, c.detail)),
                    super::xml(&s.sql)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    super::xml(&c.detail)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::histogram::{Metric, Percentiles};
    use crate::bench::queries::{evaluate, PlanChange, StatementResult, REPORT_KIND};
    use crate::bench::workload::Budget;

    fn statement(name: &str, p95: &[f64], plan: &[&str]) -> StatementResult {
        let runs: Vec<Percentiles> = p95
            .iter()
            .map(|&v| Percentiles {
                count: 100,
                mean_ms: v / 2.0,
                p50_ms: v / 2.0,
                p95_ms: v,
                p99_ms: v * 1.5,
                max_ms: v * 2.0,
            })
            .collect();
        StatementResult {
            name: name.into(),
            sql: format!("SELECT /* {name} */ 1"),
            iterations: 100 * p95.len() as u64,
            errors: 0,
            error_rate: 0.0,
            latency: runs[runs.len() / 2],
            runs,
            plan: Some(plan.iter().map(|s| s.to_string()).collect()),
            plan_error: None,
            first_error: None,
            checks: Vec::new(),
        }
    }

    /// A fixed run against a fixed baseline: one statement regressed and lost its index.
    fn sample() -> QueriesReport {
        let budgets = [
            Budget::Latency {
                metric: Metric::P95,
                max_ms: 50.0,
            },
            Budget::Regression {
                metric: Metric::P95,
                max_increase: 0.2,
            },
        ];
        let base = [
            statement("lookup", &[1.0, 1.1, 1.2], &["Index Scan using t_k on t"]),
            statement(
                "report",
                &[20.0, 21.0, 22.0],
                &["Aggregate", "  Seq Scan on t"],
            ),
        ];
        let mut now = vec![
            statement("lookup", &[80.0, 81.0, 82.0], &["Seq Scan on t"]),
            statement(
                "report",
                &[20.5, 21.0, 21.5],
                &["Aggregate", "  Seq Scan on t"],
            ),
        ];
        let mut comparisons = Vec::new();
        for (s, b) in now.iter_mut().zip(&base) {
            let (checks, comps) = evaluate(&budgets, s, Some(b), 1.0);
            s.checks = checks;
            comparisons.extend(comps);
        }
        let failed = now
            .iter()
            .flat_map(|s| &s.checks)
            .filter(|c| c.passed == Some(false))
            .count();
        QueriesReport {
            kind: REPORT_KIND.into(),
            version: 1,
            workload: "sample".into(),
            target: "postgres@127.0.0.1:5432/app".into(),
            server_version: "15.18".into(),
            client_cores: 2,
            created_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            repeat: 3,
            statements: now,
            baseline: Some("baseline.json".into()),
            comparisons,
            plan_changes: vec![PlanChange {
                statement: "lookup".into(),
                before: vec!["Index Scan using t_k on t".into()],
                after: vec!["Seq Scan on t".into()],
                lost_index: true,
            }],
            checks_failed: failed,
            passed: failed == 0,
        }
    }

    #[test]
    fn markdown_for_a_pull_request() {
        insta::assert_snapshot!(human(Format::Markdown, &sample()));
    }

    #[test]
    fn junit_for_ci() {
        insta::assert_snapshot!(junit(&sample()));
    }
}
