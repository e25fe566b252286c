//! `dbopt bench ...`: flags in, [`crate::commands::bench`] picks the target and runs the load,
//! [`crate::report::bench`] prints it.
//!
//! Target: `--database-url` benchmarks that server (read-only sessions unless `--allow-writes`,
//! and built-in workloads, which create their tables, need that flag); without it dbopt starts a
//! throwaway server, which is ours to write to.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

pub mod queries;

use super::args::{parse_count, parse_count_or_zero, parse_duration};
use super::{ExitStatus, Globals};
use crate::bench::plot;
use crate::bench::pool::{self, PoolReport, Vary};
use crate::bench::workload::BuiltIn;
use crate::commands::bench::{self as cmd, TargetSpec};
pub use crate::commands::bench::{Profile, Target, BENCH_DB};
use crate::report::{self, Format};

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Ramp concurrency through a connection pool and find where it saturates.
    Pool(PoolArgs),
    /// Run a workload file's statements against latency budgets and a baseline (for CI).
    Queries(queries::QueriesArgs),
    /// The index advisor's quality and speed on TPC-H (the index-selection protocol).
    Advise(super::bench_advise::BenchAdviseArgs),
    /// How `dbopt advise`'s time and memory grow with the workload (100 to 10,000 statements).
    AdviseScale(super::bench_advise::ScaleArgs),
    /// Archival throughput per strategy and batch size, and its effect on concurrent p99.
    Archive(super::archive::ArchiveBenchArgs),
}

#[derive(Debug, Args)]
pub struct PoolArgs {
    /// Built-in workload (its tables are created and filled when absent).
    #[arg(long, value_enum, default_value_t = BuiltIn::SelectOnly)]
    pub workload: BuiltIn,
    /// A workload file (TOML) of weighted statements with parameter generators, instead of a
    /// built-in workload. On a throwaway server it runs against the demo database.
    #[arg(long, value_name = "FILE", conflicts_with = "workload")]
    pub workload_file: Option<PathBuf>,
    /// Load profile; --steps, --duration and --warmup override its choices.
    #[arg(long, value_enum, default_value_t = Profile::Stress)]
    pub profile: Profile,
    /// What the ramp varies.
    #[arg(long, value_enum, default_value_t = Vary::Concurrency)]
    pub vary: Vary,
    /// Pool size while concurrency varies (default: 2 x local cores).
    #[arg(long, value_parser = parse_count)]
    pub pool_size: Option<usize>,
    /// Concurrent clients while the pool size varies (default: 4 x the pool size).
    #[arg(long, value_parser = parse_count)]
    pub concurrency: Option<usize>,
    /// The values to step through, e.g. 1,2,4,8,16.
    #[arg(long, value_delimiter = ',', value_parser = parse_count)]
    pub steps: Vec<usize>,
    /// Measured time per step.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Warm-up per step (not measured).
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Open loop: this many requests per second in total, latency measured from the intended
    /// start (corrects coordinated omission; includes up to 1 ms of timer lag). Default: closed
    /// loop, as fast as possible.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// A request waiting longer than this for a connection counts as a pool timeout.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub pool_timeout: Duration,
    /// Data size: pgbench scale for select-only/read-write (1 = 100k accounts), demo scale for
    /// the demo database.
    #[arg(long)]
    pub scale: Option<f64>,
    /// Allow writes to the --database-url server (built-in tables, read-write mix, DML in files).
    #[arg(long)]
    pub allow_writes: bool,
    /// CPU cores of the database server, for the (cores x 2) + spindles rule (default: local
    /// cores on a throwaway server).
    #[arg(long, value_parser = parse_count)]
    pub server_cores: Option<usize>,
    /// Effective spindles of the server (0 when the data set is cached or on SSD).
    #[arg(long, default_value_t = 0, value_parser = parse_count_or_zero)]
    pub spindles: usize,
    /// Client threads, like pgbench's -j (default: local cores). Each thread owns an equal
    /// share of the pool and of the clients; 1 keeps the pool undivided.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Leave the client threads to the OS scheduler. By default thread i is bound to the i-th
    /// CPU dbopt may use (when there are enough), so a client and the server processes it
    /// wakes stay on one core.
    #[arg(long)]
    pub no_pin: bool,
    /// Write a chart (SVG) of throughput and p95 latency against the ramp.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Measure select-only throughput at 1, 8 and 32 clients as a ratio to
    /// `pgbench -S -M prepared` on the same server (5 s a point unless --duration).
    #[arg(long)]
    pub compare_pgbench: bool,
    /// With --compare-pgbench: measurements per point and side, back to back in alternating
    /// order; the ratio shown is the median of the rounds' ratios, next to their range. On a
    /// shared machine one round's ratio can be 15 % off either way; more rounds steady the median.
    #[arg(long, default_value_t = 5, requires = "compare_pgbench", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub rounds: u32,
}

/// `--rate`: requests per second, at least [`pool::MIN_RATE`].
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r >= pool::MIN_RATE => Ok(r),
        _ => Err(format!(
            "expected requests per second, at least {} (e.g. --rate 500)",
            pool::MIN_RATE
        )),
    }
}

/// Where these flags say a benchmark runs: `--database-url` (or DATABASE_URL), else a
/// throwaway server.
pub fn target_spec(g: &Globals) -> TargetSpec {
    TargetSpec {
        database_url: g.connect.database_url.clone(),
        session: g.connect.session(false),
    }
}

/// The target of these flags, started (see [`cmd::target`]).
pub async fn target(g: &Globals) -> anyhow::Result<Target> {
    Ok(cmd::target(&target_spec(g), &report::bench::note).await?)
}

pub async fn run(g: &Globals, cmd: &BenchCmd) -> anyhow::Result<ExitStatus> {
    match cmd {
        BenchCmd::Pool(a) => run_pool(g, a).await,
        BenchCmd::Queries(a) => queries::run(g, a).await,
        BenchCmd::Advise(a) => super::bench_advise::run(g, a).await,
        BenchCmd::AdviseScale(a) => super::bench_advise::scale(g, a).await,
        BenchCmd::Archive(a) => super::archive::run_bench(g, a).await,
    }
}

/// The plain request of these flags.
fn request(g: &Globals, a: &PoolArgs) -> cmd::PoolRequest {
    cmd::PoolRequest {
        target: target_spec(g),
        workload: a.workload,
        workload_file: a.workload_file.clone(),
        profile: a.profile,
        vary: a.vary,
        pool_size: a.pool_size,
        concurrency: a.concurrency,
        steps: a.steps.clone(),
        duration: a.duration,
        warmup: a.warmup,
        rate: a.rate,
        pool_timeout: a.pool_timeout,
        scale: a.scale,
        allow_writes: a.allow_writes,
        server_cores: a.server_cores,
        spindles: a.spindles,
        threads: a.threads,
        no_pin: a.no_pin,
        compare_pgbench: a.compare_pgbench,
        rounds: a.rounds,
    }
}

async fn run_pool(g: &Globals, a: &PoolArgs) -> anyhow::Result<ExitStatus> {
    if g.format == Format::Junit {
        anyhow::bail!("--format junit is for `bench queries`; hint: use --format json or table with `bench pool`");
    }
    if g.format == Format::Html && a.compare_pgbench {
        return Err(crate::hint::UserError::new(
            "--format html draws a ramp, not the comparison with pgbench",
            "use --format table or json with --compare-pgbench",
        )
        .into());
    }
    let req = request(g, a);
    let rep = cmd::pool(&req, &report::bench::note).await?;
    if let (Some(path), PoolReport::Ramp(ramp)) = (&a.plot, &rep) {
        std::fs::write(path, plot::svg(ramp))
            .with_context(|| format!("writing the chart to {}", path.display()))?;
        report::bench::note(&format!("chart written to {}", path.display()));
    }
    report::bench::print_pool(g.format, &rep)?;
    Ok(ExitStatus::Ok)
}
