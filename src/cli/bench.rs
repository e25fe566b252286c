//! `dbopt bench pool` and `dbopt bench queries`: flags, target selection and rendering. The
//! load itself runs in `crate::bench`.
//!
//! Target: `--database-url` benchmarks that server (read-only sessions unless `--allow-writes`,
//! and built-in workloads, which create their tables, need that flag); without it dbopt starts a
//! throwaway server, which is ours to write to.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

/// A progress note on stderr, only for a person watching (so a failure stays one line).
macro_rules! note {
    ($($t:tt)*) => {
        if crate::report::stderr_is_terminal() {
            eprintln!($($t)*);
        }
    };
}

pub mod queries;

use super::args::{parse_count, parse_count_or_zero, parse_duration};
use super::{ExitStatus, Globals};
use crate::bench::histogram::ms;
use crate::bench::pgbench::{self, CompareRow};
use crate::bench::plot;
use crate::bench::pool::{self, RampOptions, RampReport, StepReport, Vary};
use crate::bench::target;
use crate::bench::workload::{BuiltIn, Workload};
use crate::bench::BenchError;
use crate::pg::throwaway::{Throwaway, ThrowawayOptions};
use crate::pg::{self, ConnParams, PgError};
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

/// Load shapes, each bounded in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Two short steps (1 client, pool size): does it work at all? About 3 s.
    Smoke,
    /// Ramp up to the pool size, 5 s a step.
    Load,
    /// Ramp to 4x the pool size, past the knee, 5 s a step.
    Stress,
    /// 1 client, a sudden jump to 4x the pool size, back to 1; 5 s each.
    Spike,
    /// The pool size, steady, for 60 s.
    Soak,
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

/// Where a benchmark runs: the user's server, or a throwaway one we own.
pub struct Target {
    pub params: ConnParams,
    pub server: Option<Throwaway>,
}

impl Target {
    pub fn is_throwaway(&self) -> bool {
        self.server.is_some()
    }

    /// Stop the throwaway server (if any) off the async threads.
    pub async fn finish(self) {
        if let Some(s) = self.server {
            tokio::task::spawn_blocking(move || s.stop()).await.ok();
        }
    }
}

pub const BENCH_DB: &str = "dbopt_bench";

/// The user's server when --database-url (or DATABASE_URL) is given, else a throwaway server
/// with an empty `dbopt_bench` database.
pub async fn target(g: &Globals) -> anyhow::Result<Target> {
    if g.connect.database_url.is_some() {
        return Ok(Target {
            params: g.connect.params()?,
            server: None,
        });
    }
    let server = tokio::task::spawn_blocking(|| Throwaway::start(&ThrowawayOptions::default()))
        .await
        .context("BUG: start-up task")??;
    note!(
        "started a throwaway {} on port {}",
        server.version(),
        server.port()
    );
    let admin = pg::connect(&server.params("postgres"), &g.connect.session(false)).await?;
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {}",
            crate::sql::quote_ident(BENCH_DB)
        ))
        .await
        .map_err(|e| PgError::query("creating the benchmark database", e))?;
    Ok(Target {
        params: server.params(BENCH_DB),
        server: Some(server),
    })
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

fn local_cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Resolve profile, flags and defaults into ramp options.
pub fn ramp_options(
    a: &PoolArgs,
    session: pg::SessionOptions,
    cores: Option<usize>,
) -> anyhow::Result<RampOptions> {
    let pool_size = a.pool_size.unwrap_or(local_cores() * 2).max(1);
    let concurrency = a.concurrency.unwrap_or(pool_size * 4).max(1);
    let (warmup, duration) = match a.profile {
        Profile::Smoke => (Duration::from_millis(200), Duration::from_secs(1)),
        Profile::Soak => (Duration::from_secs(1), Duration::from_secs(60)),
        _ => (Duration::from_secs(1), Duration::from_secs(5)),
    };
    let top = match a.vary {
        Vary::Concurrency => pool_size,
        Vary::Pool => concurrency,
    };
    let steps = if a.steps.is_empty() {
        match a.profile {
            Profile::Smoke => {
                let mut v = vec![1, top];
                v.dedup();
                v
            }
            Profile::Load => pool::geometric(top),
            Profile::Stress if a.vary == Vary::Concurrency => pool::geometric(top * 4),
            Profile::Stress => pool::geometric(top),
            Profile::Spike => vec![1, top * 4, 1],
            Profile::Soak => vec![top],
        }
    } else {
        a.steps.clone()
    };
    if steps.contains(&0) {
        anyhow::bail!("--steps must be positive numbers; hint: e.g. --steps 1,2,4,8");
    }
    Ok(RampOptions {
        vary: a.vary,
        steps,
        pool_size,
        concurrency,
        warmup: a.warmup.unwrap_or(warmup),
        duration: a.duration.unwrap_or(duration),
        rate: a.rate,
        pool_timeout: a.pool_timeout,
        session,
        cores,
        spindles: a.spindles,
        threads: a.threads.map_or_else(local_cores, usize::from),
        pin: !a.no_pin,
    })
}

/// The workload of `bench pool`, with its data in place.
async fn pool_workload(a: &PoolArgs, t: &Target) -> anyhow::Result<Workload> {
    match &a.workload_file {
        Some(path) => {
            let w = Workload::load(path)?;
            if t.is_throwaway() {
                target::prepare(&t.params, BuiltIn::DemoLookups, a.scale.unwrap_or(0.02)).await?;
            }
            Ok(w)
        }
        None => {
            if !t.is_throwaway() && !a.allow_writes {
                return Err(BenchError::WritesNeedFlag.into());
            }
            let scale = a.scale.unwrap_or(match a.workload {
                BuiltIn::DemoLookups => 0.02,
                _ => 1.0,
            });
            target::prepare(&t.params, a.workload, scale)
                .await
                .map_err(anyhow::Error::from)
        }
    }
}

async fn run_pool(g: &Globals, a: &PoolArgs) -> anyhow::Result<ExitStatus> {
    if g.format == Format::Junit {
        anyhow::bail!("--format junit is for `bench queries`; hint: use --format json or table with `bench pool`");
    }
    if let Some(path) = &a.workload_file {
        // Fail on a bad file before starting anything.
        Workload::load(path)?;
    }
    if a.compare_pgbench {
        pgbench::find_pgbench()?;
    }
    let t = target(g).await?;
    let result = run_pool_on(g, a, &t).await;
    t.finish().await;
    result
}

async fn run_pool_on(g: &Globals, a: &PoolArgs, t: &Target) -> anyhow::Result<ExitStatus> {
    let workload = if a.compare_pgbench {
        if !t.is_throwaway() && !a.allow_writes {
            return Err(BenchError::WritesNeedFlag.into());
        }
        target::prepare(&t.params, BuiltIn::SelectOnly, a.scale.unwrap_or(1.0)).await?
    } else {
        pool_workload(a, t).await?
    };
    if t.is_throwaway() {
        target::settle_throwaway(&t.params).await?;
    }
    let writable = t.is_throwaway() || a.allow_writes;
    let cores = a.server_cores.or(t.is_throwaway().then(local_cores));
    let session = g.connect.session(!writable);
    let mut o = ramp_options(a, session, cores)?;
    if a.compare_pgbench {
        o.duration = a.duration.unwrap_or(Duration::from_secs(5));
        o.warmup = a.warmup.unwrap_or(Duration::from_millis(500));
        return compare(g, t, workload, a.rounds.max(1), &o).await;
    }
    let per_step = o.warmup + o.duration;
    note!(
        "bench pool: workload {} on {}, {} steps of {} (about {} s)",
        workload.name,
        t.params.target(),
        o.steps.len(),
        crate::bench::demo::human(per_step),
        per_step
            .saturating_mul(u32::try_from(o.steps.len()).unwrap_or(u32::MAX))
            .as_secs()
    );
    let pb = report::progress(o.steps.len() as u64, "ramping");
    let steps = o.steps.clone();
    let vary = o.vary;
    let on_step = |i: usize, s: &StepReport| {
        pb.set_position(i as u64 + 1);
        pb.set_message(format!(
            "{} {}: {:.0}/s",
            label(vary),
            steps.get(i + 1).copied().unwrap_or(s.x(vary)),
            s.throughput
        ));
    };
    let mut rep = pool::ramp(&t.params, workload, &o, &on_step).await?;
    pb.finish_and_clear();
    if a.profile == Profile::Spike && a.steps.is_empty() {
        rep.knee = None;
        rep.recommended_pool_size = None;
        rep.advice = "spike profile: compare the latency of the jump with the steps around it; run --profile stress to find the knee".into();
    }
    if let Some(path) = &a.plot {
        std::fs::write(path, plot::svg(&rep))
            .with_context(|| format!("writing the chart to {}", path.display()))?;
        note!("chart written to {}", path.display());
    }
    if g.format == Format::Json {
        report::print_json(&rep)?;
    } else {
        crate::out!("{}", ramp_text(g.format, &rep))?;
    }
    Ok(ExitStatus::Ok)
}

fn label(v: Vary) -> &'static str {
    match v {
        Vary::Concurrency => "clients",
        Vary::Pool => "pool",
    }
}

/// The ramp for a person: a table per step, the knee and the recommendation.
pub fn ramp_text(format: Format, r: &RampReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut t = report::table(
        format,
        &[
            "clients",
            "pool",
            "req/s",
            "errors",
            "refused",
            "wait t/o",
            "p50",
            "p95",
            "p99",
            "max",
            "wait p95",
            "query p95",
            "pool use",
            "waiting max",
            "active (srv)",
        ],
    );
    for s in &r.steps {
        t.add_row(vec![
            s.concurrency.to_string(),
            s.pool_size.to_string(),
            format!("{:.0}", s.throughput),
            s.errors.to_string(),
            s.refused.to_string(),
            s.wait_timeouts.to_string(),
            ms(s.latency.p50_ms),
            ms(s.latency.p95_ms),
            ms(s.latency.p99_ms),
            ms(s.latency.max_ms),
            ms(s.pool_wait.p95_ms),
            ms(s.query.p95_ms),
            format!("{:.0} %", s.occupancy.pool_utilization * 100.0),
            s.occupancy.pool_waiting_max.to_string(),
            format!(
                "{:.1} (max {})",
                s.occupancy.server_active_mean, s.occupancy.server_active_max
            ),
        ]);
    }
    _ = writeln!(out, "{t}");
    if let Some(e) = r.steps.iter().find_map(|s| s.first_error.as_ref()) {
        _ = writeln!(out, "first error: {e}");
    }
    match &r.knee {
        Some(k) => {
            _ = writeln!(
                out,
                "knee: {} {} ({:.0} req/s, p95 {})",
                k.at,
                label(r.vary),
                k.throughput,
                ms(k.p95_ms)
            )
        }
        None => _ = writeln!(out, "knee: none found"),
    }
    _ = writeln!(out, "{}", r.advice);
    let thumb = match (r.rule_of_thumb, r.cores) {
        (Some(n), Some(c)) => format!("{n} (cores {c} x 2 + spindles {})", r.spindles),
        _ => "unknown (pass --server-cores)".into(),
    };
    match r.recommended_pool_size {
        Some(n) => {
            _ = writeln!(
                out,
                "recommended pool size: {n}; rule of thumb (cores x 2) + spindles: {thumb}"
            )
        }
        None => _ = writeln!(out, "rule of thumb (cores x 2) + spindles: {thumb}"),
    }
    out
}

#[derive(serde::Serialize)]
struct CompareReport<'a> {
    workload: &'a str,
    target: String,
    seconds_per_point: f64,
    rounds: u32,
    /// Client threads of both sides (dbopt's `--threads`, pgbench's `-j`).
    threads: usize,
    /// Whether dbopt's client threads ran bound to a CPU each (pgbench's are not).
    pinned: bool,
    rows: &'a [CompareRow],
    min_ratio: f64,
}

async fn compare(
    g: &Globals,
    t: &Target,
    workload: Workload,
    rounds: u32,
    o: &RampOptions,
) -> anyhow::Result<ExitStatus> {
    let clients = [1usize, 8, 32];
    note!(
        "comparing with pgbench -S -M prepared at 1, 8 and 32 clients, {} each, {rounds} round(s), {} client thread(s) on both sides (about {} s)",
        crate::bench::demo::human(o.duration),
        o.threads,
        o.duration
            .saturating_mul(2)
            .saturating_add(o.warmup)
            .saturating_mul(3)
            .saturating_mul(rounds)
            .as_secs()
    );
    let pb = report::progress(clients.len() as u64, "dbopt vs pgbench");
    let on_row = |r: &CompareRow| {
        pb.inc(1);
        pb.set_message(format!("{} clients: {:.2}", r.clients, r.ratio));
    };
    let (rows, pinned) =
        pgbench::compare(&t.params, workload, &clients, rounds, o, &on_row).await?;
    pb.finish_and_clear();
    let min_ratio = rows.iter().map(|r| r.ratio).fold(f64::INFINITY, f64::min);
    if g.format == Format::Json {
        report::print_json(&CompareReport {
            workload: "select-only",
            target: t.params.target(),
            seconds_per_point: o.duration.as_secs_f64(),
            rounds,
            threads: o.threads,
            pinned,
            rows: &rows,
            min_ratio,
        })?;
    } else {
        let mut tb = report::table(
            g.format,
            &[
                "clients",
                "dbopt req/s",
                "pgbench tps",
                "ratio (range over rounds)",
                "dbopt p95",
                "server/s dbopt",
                "server/s pgbench",
            ],
        );
        for r in &rows {
            tb.add_row(vec![
                r.clients.to_string(),
                format!("{:.0}", r.dbopt_tps),
                format!("{:.0}", r.pgbench_tps),
                if r.rounds > 1 {
                    format!(
                        "{:.2} ({:.2}–{:.2})",
                        r.ratio, r.ratio_range.0, r.ratio_range.1
                    )
                } else {
                    format!("{:.2}", r.ratio)
                },
                ms(r.dbopt_p95_ms),
                r.server_dbopt_per_s
                    .map_or("-".into(), |v| format!("{v:.0}")),
                r.server_pgbench_per_s
                    .map_or("-".into(), |v| format!("{v:.0}")),
            ]);
        }
        crate::outln!("{tb}")?;
        crate::outln!("lowest ratio: {min_ratio:.2} (goal: 0.90 or more at every point); server/s: executions pg_stat_statements counted per second of each run's wall time")?;
        crate::outln!(
            "client threads: {} on each side{}",
            o.threads,
            if pinned {
                ", dbopt's bound to a CPU each (--no-pin to leave them unbound like pgbench's)"
            } else {
                ""
            }
        )?;
    }
    Ok(ExitStatus::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::histogram::Percentiles;
    use crate::bench::runner::Occupancy;

    /// A fixed ramp: throughput levels off at 4 clients on a pool of 8.
    fn sample() -> RampReport {
        ramp_of(&[
            (1, 10_000.0, 0.1, 0),
            (2, 18_000.0, 0.12, 0),
            (4, 30_000.0, 0.2, 0),
            (8, 30_500.0, 0.5, 0),
        ])
    }

    /// Steps of (clients, req/s, p95 ms, refused connections) on a pool of 8.
    fn ramp_of(points: &[(usize, f64, f64, u64)]) -> RampReport {
        let o = RampOptions {
            vary: Vary::Concurrency,
            steps: vec![1, 2, 4, 8],
            pool_size: 8,
            concurrency: 1,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            rate: None,
            pool_timeout: Duration::from_secs(5),
            session: pg::SessionOptions::default(),
            cores: Some(2),
            spindles: 1,
            threads: 2,
            pin: true,
        };
        let steps = points
            .iter()
            .map(|&(c, tp, p95, refused)| StepReport {
                concurrency: c,
                pool_size: 8,
                ok: (tp * 5.0) as u64,
                errors: refused,
                refused,
                wait_timeouts: 0,
                throughput: tp,
                error_rate: 0.0,
                latency: Percentiles {
                    count: 1,
                    mean_ms: p95 / 2.0,
                    p50_ms: p95 / 2.0,
                    p95_ms: p95,
                    p99_ms: p95 * 2.0,
                    max_ms: p95 * 10.0,
                },
                pool_wait: Percentiles::default(),
                query: Percentiles {
                    count: 1,
                    mean_ms: p95 / 2.0,
                    p50_ms: p95 / 2.0,
                    p95_ms: p95,
                    p99_ms: p95 * 2.0,
                    max_ms: p95 * 10.0,
                },
                occupancy: Occupancy {
                    pool_utilization: c as f64 / 8.0,
                    server_active_mean: c as f64 / 2.0,
                    server_active_max: c as i64,
                    ..Default::default()
                },
                first_error: None,
            })
            .collect();
        pool::summarize(
            "select-only",
            "postgres@127.0.0.1:5432/bench",
            &o,
            steps,
            true,
        )
    }

    #[test]
    fn ramp_table_knee_and_advice() {
        insta::assert_snapshot!(ramp_text(Format::Markdown, &sample()));
    }

    #[test]
    fn refusals_show_per_step_and_bound_the_knee() {
        // Still growing at 8 clients, but the server refused connections there.
        let r = ramp_of(&[
            (1, 10_000.0, 0.1, 0),
            (2, 18_000.0, 0.12, 0),
            (4, 30_000.0, 0.2, 0),
            (8, 45_000.0, 0.3, 250),
        ]);
        assert_eq!(r.refused_from, Some(8));
        assert_eq!(r.knee.as_ref().map(|k| k.at), Some(4));
        let text = ramp_text(Format::Markdown, &r);
        let header = text.lines().next().unwrap();
        assert!(header.contains("| refused |"), "{text}");
        let last = text.lines().find(|l| l.starts_with("| 8 ")).unwrap();
        assert!(last.contains("| 250 "), "{text}");
        assert!(
            text.contains("the server refused connections from 8 clients on"),
            "{text}"
        );
    }

    #[test]
    fn ramp_chart() {
        let svg = plot::svg(&sample());
        assert!(svg.contains("knee: 4"), "{svg}");
        insta::assert_snapshot!(svg);
    }
}
