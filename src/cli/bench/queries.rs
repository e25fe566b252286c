//! `dbopt bench queries`: flags, defaults and the four renderings (table, markdown for a pull
//! request comment, JUnit XML for CI systems, JSON).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{target, Target};
use crate::bench::histogram::ms;
use crate::bench::queries::{self, QueriesOptions, QueriesReport};
use crate::bench::runner::Stop;
use crate::bench::workload::{setting_duration, BuiltIn, Workload};
use crate::cli::args::parse_duration;
use crate::cli::{ExitStatus, Globals};
use crate::report::{self, Format};

#[derive(Debug, Args)]
pub struct QueriesArgs {
    /// The workload file (TOML): statements, parameters, budgets. Example:
    /// fixtures/bench/demo-workload.toml.
    pub file: PathBuf,
    /// Measured time per statement and repeat (default: the file's `duration`, else 1s).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Iterations per statement and repeat, instead of a duration.
    #[arg(long, conflicts_with = "duration")]
    pub iterations: Option<u64>,
    /// Warm-up before each measured run (default: the file's `warmup`, else 100ms).
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Measured runs per statement; medians are compared (default: the file's, else 3).
    #[arg(long)]
    pub repeat: Option<u32>,
    /// Concurrent sessions per statement (default: the file's, else 1).
    #[arg(long, value_parser = crate::cli::args::parse_count)]
    pub concurrency: Option<usize>,
    /// Compare with a stored run: a change beyond a `p95 +20%` budget and beyond run-to-run
    /// noise fails; plan changes are reported.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Store this run as a baseline (percentiles, repeats and plan shapes).
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,
    /// Also write the JSON report to this file, whatever --format says.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Size of the demo database loaded on the throwaway server.
    #[arg(long, default_value_t = 0.02)]
    pub scale: f64,
    /// Allow writes to the --database-url server (DML statements in the file).
    #[arg(long)]
    pub allow_writes: bool,
}

pub async fn run(g: &Globals, a: &QueriesArgs) -> anyhow::Result<ExitStatus> {
    let workload = Workload::load(&a.file)?;
    let baseline = match &a.baseline {
        Some(p) => Some(QueriesReport::load(p)?),
        None => None,
    };
    let t = target(g).await?;
    let result = run_on(g, a, &t, workload, baseline).await;
    t.finish().await;
    result
}

async fn run_on(
    g: &Globals,
    a: &QueriesArgs,
    t: &Target,
    workload: Workload,
    baseline: Option<QueriesReport>,
) -> anyhow::Result<ExitStatus> {
    if t.is_throwaway() {
        crate::bench::target::prepare(&t.params, BuiltIn::DemoLookups, a.scale).await?;
    }
    let s = &workload.settings;
    let stop = match (a.iterations.or(s.iterations), a.duration) {
        (_, Some(d)) => Stop::After(d),
        (Some(n), None) => Stop::Iterations(n.max(1)),
        (None, None) => {
            Stop::After(setting_duration(&s.duration).unwrap_or(Duration::from_secs(1)))
        }
    };
    let o = QueriesOptions {
        stop,
        warmup: a
            .warmup
            .or(setting_duration(&s.warmup))
            .unwrap_or(Duration::from_millis(100)),
        repeat: a.repeat.or(s.repeat).unwrap_or(3).max(1),
        concurrency: a.concurrency.or(s.concurrency).unwrap_or(1).max(1),
        noise_floor_ms: setting_duration(&s.noise_floor).map_or(1.0, |d| d.as_secs_f64() * 1000.0),
        session: g.connect.session(!(t.is_throwaway() || a.allow_writes)),
        pool_timeout: Duration::from_secs(30),
    };
    let total = workload.statements.len() as u64 * u64::from(o.repeat);
    let pb = report::progress(total, "running statements");
    let on_run = |name: &str| {
        pb.inc(1);
        pb.set_message(name.to_string());
    };
    let base_path = a.baseline.as_ref().map(|p| p.display().to_string());
    let base = base_path.as_deref().zip(baseline.as_ref());
    let rep = queries::run(&t.params, workload, &o, base, &on_run).await?;
    pb.finish_and_clear();
    if let Some(p) = &a.save_baseline {
        rep.save(p)?;
        crate::report::bench::note(&format!("baseline written to {}", p.display()));
    }
    if let Some(p) = &a.report {
        rep.save(p)?;
    }
    if let Some(b) = &baseline {
        if b.server_version != rep.server_version {
            eprintln!(
                "warning: the baseline ran on PostgreSQL {}, this run on {}",
                b.server_version, rep.server_version
            );
        }
    }
    match g.format {
        Format::Json => report::print_json(&rep)?,
        Format::Junit => crate::out!("{}", junit(&rep))?,
        f => crate::out!("{}", human(f, &rep))?,
    }
    Ok(if rep.passed {
        ExitStatus::Ok
    } else {
        ExitStatus::Findings
    })
}

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

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
        xml(&r.workload),
        cases.len()
    );
    for (s, c) in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.6}\"",
            xml(&format!("{}.{}", r.workload, s.name)),
            xml(&c.budget),
            s.latency.p95_ms / 1000.0
        );
        match c.passed {
            Some(true) => out.push_str("/>\n"),
            Some(false) => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    xml(&format!("{} failed: {}", c.budget, c.detail)),
                    xml(&s.sql)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    xml(&c.detail)
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
