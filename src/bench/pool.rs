//! `dbopt bench pool`: where does a connection pool saturate?
//!
//! Offered concurrency is ramped in geometric steps through a deadpool pool of fixed size (or
//! the pool size is ramped at a fixed concurrency). Each step has a warm-up and a measured
//! period; the report gives, per step, throughput, errors, pool-wait timeouts, latency split
//! into waiting for a connection and running the query, pool occupancy and the server's active
//! sessions. The knee is where throughput stops growing while latency keeps rising: past it,
//! extra concurrency only queues (Little's law), so that is the pool size to recommend.
//!
//! A server that refuses connections past a limit (max_connections, a role's CONNECTION
//! LIMIT) ends nothing: a ramp is most useful exactly when it finds that limit. Refusals are
//! counted per step (as errors, and apart as `refused`), the ramp goes on, and a step with
//! refusals counts as saturated, so the knee is at most the last step the server served whole.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::error::{BenchError, Result};
use super::histogram::Percentiles;
use super::runner::{self, LoadSpec, Occupancy, Stop};
pub use super::runner::{Shards, Workers};
use super::workload::Workload;
use crate::pg::{self, ConnParams, PgError, SessionOptions};

/// Throughput that grows less than this between steps has stopped growing.
pub const KNEE_GAIN: f64 = 0.05;

/// The slowest open-loop rate (requests per second) a ramp accepts; slower ones would wait
/// longer than a step lasts for their first request.
pub const MIN_RATE: f64 = 0.001;

/// What a ramp varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vary {
    /// Concurrent clients, at a fixed pool size.
    Concurrency,
    /// The pool size, at a fixed number of concurrent clients.
    Pool,
}

/// What `bench pool` measured.
pub enum PoolReport {
    /// A ramp's steps, knee and advice.
    Ramp(RampReport),
    /// dbopt against pgbench.
    Compare(super::pgbench::Compared),
}

#[derive(Debug, Clone)]
pub struct RampOptions {
    pub vary: Vary,
    /// The values of the varied quantity, in order.
    pub steps: Vec<usize>,
    /// Pool size when varying concurrency.
    pub pool_size: usize,
    /// Concurrency when varying the pool size.
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub rate: Option<f64>,
    pub pool_timeout: Duration,
    pub session: SessionOptions,
    /// CPU cores of the server, for the `(cores * 2) + spindles` rule of thumb.
    pub cores: Option<usize>,
    pub spindles: usize,
    /// Client threads (like `pgbench -j`); the pool is split into one shard per thread.
    pub threads: usize,
    /// Bind client thread i to the i-th CPU this process may use.
    pub pin: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub concurrency: usize,
    pub pool_size: usize,
    pub ok: u64,
    /// Failed requests, refused connections included.
    pub errors: u64,
    /// Of the errors: new connections the server refused (too many clients, ...).
    pub refused: u64,
    pub wait_timeouts: u64,
    pub throughput: f64,
    pub error_rate: f64,
    /// From the request's (intended) start to its end.
    pub latency: Percentiles,
    /// Waiting for a connection (`pool.get()`).
    pub pool_wait: Percentiles,
    /// Running the query on the connection.
    pub query: Percentiles,
    #[serde(flatten)]
    pub occupancy: Occupancy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl StepReport {
    /// The value of the varied quantity.
    pub fn x(&self, vary: Vary) -> usize {
        match vary {
            Vary::Concurrency => self.concurrency,
            Vary::Pool => self.pool_size,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Knee {
    /// Concurrency (or pool size) at the knee.
    pub at: usize,
    pub throughput: f64,
    pub p95_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RampReport {
    pub workload: String,
    pub target: String,
    pub vary: Vary,
    pub open_loop_rate: Option<f64>,
    pub warmup_seconds: f64,
    pub step_seconds: f64,
    pub steps: Vec<StepReport>,
    /// Concurrency (or pool size) of the first step in which the server refused connections.
    pub refused_from: Option<usize>,
    pub knee: Option<Knee>,
    pub recommended_pool_size: Option<usize>,
    pub rule_of_thumb: Option<usize>,
    pub cores: Option<usize>,
    pub spindles: usize,
    /// Client threads the load ran on (the pool split into as many shards).
    pub threads: usize,
    /// Whether each client thread ran bound to a CPU of its own.
    pub pinned: bool,
    pub advice: String,
}

/// 1, 2, 4, ... up to and including `max` (which is appended when not a power of two).
pub fn geometric(max: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut c = 1;
    while c < max {
        v.push(c);
        c *= 2;
    }
    v.push(max.max(1));
    v
}

/// Index of the knee among `(throughput, latency)` points in ramp order: the first point that
/// no later step beats by more than [`KNEE_GAIN`] (a plateau, so one noisy dip is not a knee)
/// while latency rises at the next step.
pub fn find_knee(points: &[(f64, f64)]) -> Option<usize> {
    (0..points.len().saturating_sub(1)).find(|&i| {
        let (t, l) = points[i];
        let later = points[i + 1..].iter().map(|p| p.0).fold(0.0, f64::max);
        later < t * (1.0 + KNEE_GAIN) && points[i + 1].1 > l
    })
}

/// [`find_knee`] when the server refused connections from step `refused_at` on: a step with
/// refusals is saturated by definition, so the knee is found among the steps before it, and
/// is the last of them when throughput was still growing there.
pub fn knee_before_refusals(points: &[(f64, f64)], refused_at: Option<usize>) -> Option<usize> {
    match refused_at {
        None => find_knee(points),
        Some(0) => None,
        Some(r) => find_knee(&points[..r]).or(Some(r - 1)),
    }
}

/// A failed `pool.get()` as the connection error it is (with its hint).
pub fn pool_error(p: &ConnParams, e: deadpool_postgres::PoolError) -> PgError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg::connect::connect_error(p, e),
        other => PgError::Io(format!("opening the pool: {other}")),
    }
}

/// A pool of `size` connections, split over the client threads.
pub fn pool(
    p: &ConnParams,
    session: &SessionOptions,
    size: usize,
    workers: &Workers,
) -> Result<Shards> {
    Ok(workers.shards(size, |n| pg::pool(p, session, n))?)
}

/// Open a pool for one step, check every statement prepares, and fail with the server's reason
/// when it does not (a typo must not become a table of 100 % errors).
async fn checked_pool(
    p: &ConnParams,
    session: &SessionOptions,
    size: usize,
    workload: &Arc<Workload>,
    workers: &Workers,
) -> Result<Shards> {
    let shards = pool(p, session, size, workers)?;
    // On one shard: its connections must live on its own thread.
    let checks = shards
        .each(1, |pool, first| {
            let (p, workload) = (p.clone(), Arc::clone(workload));
            async move {
                if first == 0 {
                    return Ok(());
                }
                let client = pool.get().await.map_err(|e| pool_error(&p, e))?;
                for s in &workload.statements {
                    client.prepare_cached(&s.sql).await.map_err(|e| {
                        PgError::query(format!("preparing statement \"{}\"", s.name), e)
                    })?;
                }
                Ok::<_, PgError>(())
            }
        })
        .await;
    checks.into_iter().collect::<std::result::Result<(), _>>()?;
    Ok(shards)
}

/// Open `n` connections at once before a step, so connection set-up never lands in the
/// measurement and the pool holds as many connections as the step can use.
pub async fn fill(p: &ConnParams, pool: &Shards, n: usize) -> Result<()> {
    Ok(pool.fill(n).await.map_err(|e| pool_error(p, e))?)
}

/// Run one measured step; public so the pgbench comparison and tests run the same code.
pub async fn step(
    pool: &Shards,
    workload: &Arc<Workload>,
    concurrency: usize,
    o: &RampOptions,
    server: Option<&pg::Conn>,
) -> StepReport {
    let spec = LoadSpec {
        concurrency,
        warmup: o.warmup,
        stop: Stop::After(o.duration),
        rate: o.rate,
        pool_timeout: o.pool_timeout,
        only: None,
    };
    let r = runner::run(pool, workload, &spec, server).await;
    StepReport {
        concurrency,
        pool_size: pool.max_size(),
        ok: r.ok,
        errors: r.errors,
        refused: r.refused,
        wait_timeouts: r.wait_timeouts,
        throughput: r.throughput(),
        error_rate: r.error_rate(),
        latency: r.total.summary(),
        pool_wait: r.wait.summary(),
        query: r.query.summary(),
        occupancy: r.occupancy,
        first_error: r.first_error,
    }
}

/// The whole ramp. `on_step` is called after each step (progress, live output).
pub async fn ramp(
    p: &ConnParams,
    workload: Workload,
    o: &RampOptions,
    on_step: &(dyn Fn(usize, &StepReport) + Sync),
) -> Result<RampReport> {
    if o.steps.is_empty() || o.steps.contains(&0) {
        return Err(BenchError::Options(
            "steps must be positive numbers, e.g. --steps 1,2,4,8".into(),
        ));
    }
    if o.rate.is_some_and(|r| !(r.is_finite() && r >= MIN_RATE)) {
        return Err(BenchError::Options(format!(
            "the rate must be at least {MIN_RATE} requests per second"
        )));
    }
    let workload = Arc::new(workload);
    let observer = pg::connect(p, &SessionOptions::default()).await?;
    let workers = Workers::start(o.threads, o.pin).map_err(client_threads)?;
    let mut steps = Vec::new();
    let mut shared = None;
    for (i, &x) in o.steps.iter().enumerate() {
        let (size, conc) = match o.vary {
            Vary::Concurrency => (o.pool_size, x),
            Vary::Pool => (x, o.concurrency),
        };
        // The statements are checked once, on the first pool: a later pool may find the
        // server at its connection limit, which the step then measures.
        let pool = match (o.vary, &shared) {
            (Vary::Concurrency, Some(pool)) => Clone::clone(pool),
            _ if i == 0 => checked_pool(p, &o.session, size, &workload, &workers).await?,
            _ => pool(p, &o.session, size, &workers)?,
        };
        if o.vary == Vary::Concurrency {
            shared = Some(pool.clone());
        }
        match fill(p, &pool, conc.min(size)).await {
            Err(BenchError::Pg(PgError::Refused { .. })) | Ok(()) => {}
            Err(e) => return Err(e),
        }
        let rep = step(&pool, &workload, conc, o, Some(&observer)).await;
        if i == 0 && rep.ok == 0 && rep.errors > 0 {
            return Err(BenchError::AllFailed(
                rep.first_error.unwrap_or_else(|| "no detail".into()),
            ));
        }
        on_step(i, &rep);
        steps.push(rep);
    }
    Ok(summarize(
        &workload.name,
        &p.target(),
        o,
        steps,
        workers.pinned(),
    ))
}

/// Client threads that cannot start (out of threads or memory) as an error.
pub fn client_threads(e: std::io::Error) -> BenchError {
    BenchError::Options(format!("cannot start the client threads: {e}"))
}

/// Knee, recommendation and advice from measured steps.
pub fn summarize(
    workload: &str,
    target: &str,
    o: &RampOptions,
    steps: Vec<StepReport>,
    pinned: bool,
) -> RampReport {
    // At a fixed concurrency total latency barely moves with the pool size (Little's law);
    // an oversized pool shows as time in the server instead.
    let points: Vec<(f64, f64)> = steps
        .iter()
        .map(|s| match o.vary {
            Vary::Concurrency => (s.throughput, s.latency.p95_ms),
            Vary::Pool => (s.throughput, s.query.p95_ms),
        })
        .collect();
    let refused_at = steps.iter().position(|s| s.refused > 0);
    let knee = knee_before_refusals(&points, refused_at).map(|i| Knee {
        at: steps[i].x(o.vary),
        throughput: steps[i].throughput,
        p95_ms: steps[i].latency.p95_ms,
    });
    let rule_of_thumb = o
        .cores
        .and_then(|c| c.checked_mul(2)?.checked_add(o.spindles));
    let refused_from = refused_at.map(|i| steps[i].x(o.vary));
    let (recommended, mut advice) = match (&knee, o.vary) {
        (None, _) => (
            None,
            "no knee: throughput still grows at the last step; ramp further (--steps) or check that the client is not the bottleneck".to_string(),
        ),
        (Some(k), Vary::Pool) => (
            Some(k.at),
            format!(
                "throughput levels off at a pool of {} ({:.0}/s, p95 {}); a larger pool only adds queueing in the server",
                k.at,
                k.throughput,
                super::histogram::ms(k.p95_ms)
            ),
        ),
        (Some(k), Vary::Concurrency) if k.at >= o.pool_size => (
            Some(o.pool_size),
            format!(
                "throughput levels off at {} clients, at the pool size ({}): the pool is the limit; ramp the pool with --vary pool --concurrency {}",
                k.at,
                o.pool_size,
                k.at * 2
            ),
        ),
        (Some(k), Vary::Concurrency) => (
            Some(k.at),
            format!(
                "throughput levels off at {} clients ({:.0}/s, p95 {}), below the pool size {}: a pool of {} serves this workload as well",
                k.at,
                k.throughput,
                super::histogram::ms(k.p95_ms),
                o.pool_size,
                k.at
            ),
        ),
    };
    if let Some(at) = refused_from {
        advice = format!(
            "the server refused connections from {at} {} on (max_connections or a CONNECTION LIMIT): those steps count as saturated, so the knee is at most the step before; {advice}",
            match o.vary {
                Vary::Concurrency => "clients",
                Vary::Pool => "pooled connections",
            }
        );
    }
    RampReport {
        workload: workload.to_string(),
        target: target.to_string(),
        vary: o.vary,
        open_loop_rate: o.rate,
        warmup_seconds: o.warmup.as_secs_f64(),
        step_seconds: o.duration.as_secs_f64(),
        steps,
        refused_from,
        knee,
        recommended_pool_size: recommended,
        rule_of_thumb,
        cores: o.cores,
        spindles: o.spindles,
        threads: o.threads,
        pinned,
        advice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometric_steps() {
        assert_eq!(geometric(1), vec![1]);
        assert_eq!(geometric(16), vec![1, 2, 4, 8, 16]);
        assert_eq!(geometric(12), vec![1, 2, 4, 8, 12]);
    }

    #[test]
    fn knee_is_where_throughput_stops_and_latency_rises() {
        // Grows, grows, plateaus while latency climbs.
        let pts = [
            (10.0, 1.0),
            (19.0, 1.1),
            (30.0, 1.3),
            (31.0, 2.6),
            (30.5, 5.0),
        ];
        assert_eq!(find_knee(&pts), Some(2));
        // Still growing everywhere: no knee.
        assert_eq!(find_knee(&[(10.0, 1.0), (20.0, 1.0), (40.0, 1.1)]), None);
        // Flat throughput but flat latency too (rate-limited open loop): no knee.
        assert_eq!(find_knee(&[(100.0, 1.0), (100.0, 1.0)]), None);
        // A noisy dip early on is not a knee: later steps grow far beyond it.
        let noisy = [
            (14.0, 4.1),
            (11.7, 6.9),
            (43.0, 0.5),
            (54.0, 0.24),
            (55.0, 0.38),
        ];
        assert_eq!(find_knee(&noisy), Some(3));
    }

    #[test]
    fn a_step_with_refusals_is_saturated() {
        // Still growing when the server started refusing at the third step: the knee is
        // the last step it served whole, not a later one.
        let pts = [(10.0, 1.0), (20.0, 1.0), (25.0, 1.5), (40.0, 1.1)];
        assert_eq!(find_knee(&pts), None);
        assert_eq!(knee_before_refusals(&pts, Some(2)), Some(1));
        // A plateau before the refusals is still found.
        let flat = [(10.0, 1.0), (20.0, 1.0), (20.5, 2.0), (20.0, 9.0)];
        assert_eq!(knee_before_refusals(&flat, Some(3)), Some(1));
        // Refused from the first step: no step to recommend.
        assert_eq!(knee_before_refusals(&pts, Some(0)), None);
        assert_eq!(knee_before_refusals(&pts, None), None);
    }
}
