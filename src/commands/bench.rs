//! Benchmarks: where they run ([`target`]: the user's server, or a throwaway one we own), the
//! pool ramp and the comparison with pgbench ([`pool`]), the advisor on TPC-H ([`advise`]) and
//! at scale ([`advise_scale`]). The load itself runs in `crate::bench`.
//!
//! Why the target is decided here: `--database-url` names a server that is not ours, so its
//! sessions are read-only unless the user allows writes, and built-in workloads (which create
//! their tables) refuse to run there without that; a throwaway server is ours to write to.

use std::time::Duration;

use super::{Error, Notes};
use crate::bench::advise_scale::{self, ScaleOptions, ScaleReport};
use crate::bench::pgbench::{self, CompareRow, Compared};
use crate::bench::pool::{self, PoolReport, RampOptions, StepReport, Vary};
use crate::bench::tpch::{self, TpchOptions, TpchReport};
use crate::bench::workload::{BuiltIn, Workload};
use crate::bench::{target as data, BenchError};
use crate::hint::UserError;
use crate::pg::throwaway::{Throwaway, ThrowawayOptions};
use crate::pg::{self, ConnParams, PgError, SessionOptions};
use crate::report;

/// The database a throwaway benchmark server gets.
pub const BENCH_DB: &str = "dbopt_bench";

/// Where a benchmark should run, as the user said it.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// The user's server (`--database-url`, completed from the environment like psql's), or
    /// `None` for a throwaway one.
    pub database_url: Option<String>,
    /// The user's session settings (each use decides whether it may write).
    pub session: SessionOptions,
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

/// The user's server when one is given, else a throwaway server with an empty `dbopt_bench`
/// database.
pub async fn target(spec: &TargetSpec, notes: Notes<'_>) -> Result<Target, Error> {
    if let Some(url) = &spec.database_url {
        return Ok(Target {
            params: ConnParams::from_env(Some(url))?,
            server: None,
        });
    }
    let server = tokio::task::spawn_blocking(|| Throwaway::start(&ThrowawayOptions::default()))
        .await
        .map_err(|e| Error::Bug("start-up task", e))??;
    notes(&format!(
        "started a throwaway {} on port {}",
        server.version(),
        server.port()
    ));
    let session = SessionOptions {
        read_only: false,
        ..spec.session.clone()
    };
    let admin = pg::connect(&server.params("postgres"), &session).await?;
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

/// Load shapes, each bounded in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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

/// Everything `bench pool` needs to know, as plain values (the flags' meanings are in
/// `cli::bench::PoolArgs`).
#[derive(Debug, Clone)]
pub struct PoolRequest {
    pub target: TargetSpec,
    pub workload: BuiltIn,
    pub workload_file: Option<std::path::PathBuf>,
    pub profile: Profile,
    pub vary: Vary,
    pub pool_size: Option<usize>,
    pub concurrency: Option<usize>,
    /// Empty: the profile's steps.
    pub steps: Vec<usize>,
    pub duration: Option<Duration>,
    pub warmup: Option<Duration>,
    pub rate: Option<f64>,
    pub pool_timeout: Duration,
    pub scale: Option<f64>,
    pub allow_writes: bool,
    pub server_cores: Option<usize>,
    pub spindles: usize,
    pub threads: Option<u16>,
    pub no_pin: bool,
    /// Measure against `pgbench -S -M prepared` instead of ramping.
    pub compare_pgbench: bool,
    pub rounds: u32,
}

fn local_cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Resolve profile, flags and defaults into ramp options.
pub fn ramp_options(
    a: &PoolRequest,
    session: SessionOptions,
    cores: Option<usize>,
) -> Result<RampOptions, Error> {
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
        return Err(
            UserError::new("--steps must be positive numbers", "e.g. --steps 1,2,4,8").into(),
        );
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

/// `bench pool`: check what can be checked before anything starts, pick the target, ramp
/// (or compare with pgbench), stop the throwaway server.
pub async fn pool(req: &PoolRequest, notes: Notes<'_>) -> Result<PoolReport, Error> {
    if let Some(path) = &req.workload_file {
        // Fail on a bad file before starting anything.
        Workload::load(path)?;
    }
    if req.compare_pgbench {
        pgbench::find_pgbench()?;
    }
    let t = target(&req.target, notes).await?;
    let result = pool_on(req, &t, notes).await;
    t.finish().await;
    result
}

/// Writing to the user's server needs `--allow-writes`.
fn may_write(req: &PoolRequest, t: &Target) -> Result<(), BenchError> {
    if t.is_throwaway() || req.allow_writes {
        Ok(())
    } else {
        Err(BenchError::WritesNeedFlag)
    }
}

/// The workload of `bench pool`, with its data in place.
async fn pool_workload(a: &PoolRequest, t: &Target) -> Result<Workload, BenchError> {
    if a.compare_pgbench {
        may_write(a, t)?;
        return data::prepare(&t.params, BuiltIn::SelectOnly, a.scale.unwrap_or(1.0)).await;
    }
    match &a.workload_file {
        Some(path) => {
            let w = Workload::load(path)?;
            if t.is_throwaway() {
                data::prepare(&t.params, BuiltIn::DemoLookups, a.scale.unwrap_or(0.02)).await?;
            }
            Ok(w)
        }
        None => {
            may_write(a, t)?;
            let scale = a.scale.unwrap_or(match a.workload {
                BuiltIn::DemoLookups => 0.02,
                _ => 1.0,
            });
            data::prepare(&t.params, a.workload, scale).await
        }
    }
}

async fn pool_on(a: &PoolRequest, t: &Target, notes: Notes<'_>) -> Result<PoolReport, Error> {
    let workload = pool_workload(a, t).await?;
    if t.is_throwaway() {
        data::settle_throwaway(&t.params).await?;
    }
    let writable = t.is_throwaway() || a.allow_writes;
    let cores = a.server_cores.or(t.is_throwaway().then(local_cores));
    let session = SessionOptions {
        read_only: !writable,
        ..a.target.session.clone()
    };
    let mut o = ramp_options(a, session, cores)?;
    if a.compare_pgbench {
        o.duration = a.duration.unwrap_or(Duration::from_secs(5));
        o.warmup = a.warmup.unwrap_or(Duration::from_millis(500));
        let c = compare(t, workload, a.rounds.max(1), &o, notes).await?;
        return Ok(PoolReport::Compare(c));
    }
    let per_step = o.warmup + o.duration;
    notes(&format!(
        "bench pool: workload {} on {}, {} steps of {} (about {} s)",
        workload.name,
        t.params.target(),
        o.steps.len(),
        crate::bench::demo::human(per_step),
        per_step
            .saturating_mul(u32::try_from(o.steps.len()).unwrap_or(u32::MAX))
            .as_secs()
    ));
    let pb = report::progress(o.steps.len() as u64, "ramping");
    let steps = o.steps.clone();
    let vary = o.vary;
    let on_step = |i: usize, s: &StepReport| {
        pb.set_position(i as u64 + 1);
        pb.set_message(format!(
            "{} {}: {:.0}/s",
            report::bench::label(vary),
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
    Ok(PoolReport::Ramp(rep))
}

async fn compare(
    t: &Target,
    workload: Workload,
    rounds: u32,
    o: &RampOptions,
    notes: Notes<'_>,
) -> Result<Compared, Error> {
    let clients = [1usize, 8, 32];
    notes(&format!(
        "comparing with pgbench -S -M prepared at 1, 8 and 32 clients, {} each, {rounds} round(s), {} client thread(s) on both sides (about {} s)",
        crate::bench::demo::human(o.duration),
        o.threads,
        o.duration
            .saturating_mul(2)
            .saturating_add(o.warmup)
            .saturating_mul(3)
            .saturating_mul(rounds)
            .as_secs()
    ));
    let pb = report::progress(clients.len() as u64, "dbopt vs pgbench");
    let on_row = |r: &CompareRow| {
        pb.inc(1);
        pb.set_message(format!("{} clients: {:.2}", r.clients, r.ratio));
    };
    let (rows, pinned) =
        pgbench::compare(&t.params, workload, &clients, rounds, o, &on_row).await?;
    pb.finish_and_clear();
    let min_ratio = rows.iter().map(|r| r.ratio).fold(f64::INFINITY, f64::min);
    Ok(Compared {
        workload: "select-only",
        target: t.params.target(),
        seconds_per_point: o.duration.as_secs_f64(),
        rounds,
        threads: o.threads,
        pinned,
        rows,
        min_ratio,
    })
}

/// `bench advise`: TPC-H on the target; `progress` receives what it is doing.
pub async fn advise(
    spec: &TargetSpec,
    o: &TpchOptions,
    notes: Notes<'_>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<TpchReport, Error> {
    on_target(
        spec,
        notes,
        |p| async move { tpch::run(&p, o, progress).await },
    )
    .await
}

/// `bench advise-scale`: advise's time and memory as the workload grows, on the target.
pub async fn advise_scale(
    spec: &TargetSpec,
    o: &ScaleOptions,
    notes: Notes<'_>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<ScaleReport, Error> {
    on_target(spec, notes, |p| async move {
        advise_scale::run(&p, o, progress).await
    })
    .await
}

/// Run `work` on the target, then stop the throwaway server whether it succeeded or not.
async fn on_target<T, F>(
    spec: &TargetSpec,
    notes: Notes<'_>,
    work: impl FnOnce(ConnParams) -> F,
) -> Result<T, Error>
where
    F: std::future::Future<Output = Result<T, BenchError>>,
{
    let target = target(spec, notes).await?;
    let r = work(target.params.clone()).await;
    target.finish().await;
    Ok(r?)
}

/// `dbopt bench queries`: the flags that override the workload file's settings.
#[derive(Debug, Clone)]
pub struct QueriesRequest {
    pub file: std::path::PathBuf,
    pub duration: Option<Duration>,
    pub iterations: Option<u64>,
    pub warmup: Option<Duration>,
    pub repeat: Option<u32>,
    pub concurrency: Option<usize>,
    pub baseline: Option<std::path::PathBuf>,
    pub save_baseline: Option<std::path::PathBuf>,
    pub report: Option<std::path::PathBuf>,
    /// Size of the demo database loaded on a throwaway server.
    pub scale: f64,
    pub allow_writes: bool,
    /// The user's session options; read-only unless the target is ours or writes are allowed.
    pub session: SessionOptions,
}

/// What `bench queries` measured, and the server version of the baseline it compared with.
pub struct QueriesRun {
    pub report: crate::bench::queries::QueriesReport,
    pub baseline_server_version: Option<String>,
}

/// Run the workload file's statements on `spec`'s target against their budgets (and the
/// baseline), save the baseline/report files asked for.
pub async fn queries(
    req: &QueriesRequest,
    spec: &TargetSpec,
    notes: Notes<'_>,
) -> Result<QueriesRun, Error> {
    use crate::bench::queries::QueriesReport;
    let workload = Workload::load(&req.file)?;
    let baseline = match &req.baseline {
        Some(p) => Some(QueriesReport::load(p)?),
        None => None,
    };
    let t = target(spec, notes).await?;
    let result = queries_on(req, &t, workload, baseline.as_ref()).await;
    t.finish().await;
    Ok(QueriesRun {
        report: result?,
        baseline_server_version: baseline.map(|b| b.server_version),
    })
}

async fn queries_on(
    req: &QueriesRequest,
    t: &Target,
    workload: Workload,
    baseline: Option<&crate::bench::queries::QueriesReport>,
) -> Result<crate::bench::queries::QueriesReport, Error> {
    use crate::bench::queries::{self, QueriesOptions};
    use crate::bench::runner::Stop;
    use crate::bench::workload::setting_duration;
    if t.is_throwaway() {
        data::prepare(&t.params, BuiltIn::DemoLookups, req.scale).await?;
    }
    let s = &workload.settings;
    let stop = match (req.iterations.or(s.iterations), req.duration) {
        (_, Some(d)) => Stop::After(d),
        (Some(n), None) => Stop::Iterations(n.max(1)),
        (None, None) => {
            Stop::After(setting_duration(&s.duration).unwrap_or(Duration::from_secs(1)))
        }
    };
    let o = QueriesOptions {
        stop,
        warmup: req
            .warmup
            .or(setting_duration(&s.warmup))
            .unwrap_or(Duration::from_millis(100)),
        repeat: req.repeat.or(s.repeat).unwrap_or(3).max(1),
        concurrency: req.concurrency.or(s.concurrency).unwrap_or(1).max(1),
        noise_floor_ms: setting_duration(&s.noise_floor).map_or(1.0, |d| d.as_secs_f64() * 1000.0),
        session: SessionOptions {
            read_only: !(t.is_throwaway() || req.allow_writes),
            ..req.session.clone()
        },
        pool_timeout: Duration::from_secs(30),
    };
    let total = workload.statements.len() as u64 * u64::from(o.repeat);
    let pb = report::progress(total, "running statements");
    let on_run = |name: &str| {
        pb.inc(1);
        pb.set_message(name.to_string());
    };
    let base_path = req.baseline.as_ref().map(|p| p.display().to_string());
    let base = base_path.as_deref().zip(baseline);
    let rep = queries::run(&t.params, workload, &o, base, &on_run).await?;
    pb.finish_and_clear();
    if let Some(p) = &req.save_baseline {
        rep.save(p)?;
    }
    if let Some(p) = &req.report {
        rep.save(p)?;
    }
    Ok(rep)
}
