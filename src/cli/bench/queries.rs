//! `dbopt bench queries`: flags in, [`crate::commands::bench::queries`] runs the workload file,
//! `report::bench_queries` renders it (table, Markdown for a pull request comment, JUnit XML for
//! CI systems; JSON is the report itself).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::target_spec;
use crate::cli::args::parse_duration;
use crate::cli::{ExitStatus, Globals};
use crate::commands::bench::{self as cmd, QueriesRequest};
use crate::report::{self, bench_queries as render, Format};

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
    let req = QueriesRequest {
        file: a.file.clone(),
        duration: a.duration,
        iterations: a.iterations,
        warmup: a.warmup,
        repeat: a.repeat,
        concurrency: a.concurrency,
        baseline: a.baseline.clone(),
        save_baseline: a.save_baseline.clone(),
        report: a.report.clone(),
        scale: a.scale,
        allow_writes: a.allow_writes,
        session: g.connect.session(true),
    };
    let run = cmd::queries(&req, &target_spec(g), &report::bench::note).await?;
    let rep = &run.report;
    if let Some(p) = &a.save_baseline {
        report::bench::note(&format!("baseline written to {}", p.display()));
    }
    if let Some(v) = run
        .baseline_server_version
        .filter(|v| *v != rep.server_version)
    {
        eprintln!(
            "warning: the baseline ran on PostgreSQL {v}, this run on {}",
            rep.server_version
        );
    }
    match g.format {
        Format::Json => report::print_json(rep)?,
        Format::Junit => crate::out!("{}", render::junit(rep))?,
        f => crate::out!("{}", render::human(f, rep))?,
    }
    Ok(if rep.passed {
        ExitStatus::Ok
    } else {
        ExitStatus::Findings
    })
}
