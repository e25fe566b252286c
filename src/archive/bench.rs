//! `dbopt bench archive`: what archiving costs, measured on a throwaway server with the demo
//! `events` table.
//!
//! Why these numbers: the promise of batching is "nearly the speed of one big statement, without
//! hurting the application". So every run reports its throughput *relative to* the single-
//! statement move measured in the same process on the same data, and the p99 latency of a
//! concurrent reader (primary-key lookups) and writer (inserts and updates on the same table)
//! *relative to* the same probes with no archival running. Ratios from one process on one
//! machine compare; absolute figures from a shared CI box do not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::plan::{self, PlanOptions, Strategy};
use super::run::{self, RunOptions};
use super::{q, Result};
use crate::bench::demo::{self, DemoOptions};
use crate::pg::throwaway::{Throwaway, ThrowawayOptions};
use crate::pg::{self, Conn, ConnParams, PgError, SessionOptions};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub scale: f64,
    pub batch_sizes: Vec<i64>,
    pub strategies: Vec<Strategy>,
    pub older_than: Duration,
    pub idle: Duration,
    pub seed: u64,
    /// Measurements per case; the report gives medians.
    pub repeat: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchRun {
    pub name: String,
    pub strategy: Strategy,
    /// None for the single statement and for adaptive runs' starting size.
    pub batch_size: Option<i64>,
    pub adaptive: bool,
    pub rows: i64,
    pub seconds: f64,
    pub rows_per_second: f64,
    /// Throughput divided by the single-statement move's.
    pub throughput_ratio: f64,
    pub reader_p99_ms: f64,
    pub writer_p99_ms: f64,
    pub reader_p99_ratio: f64,
    pub writer_p99_ratio: f64,
    pub reader_samples: u64,
    pub writer_samples: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub scale: f64,
    pub events: i64,
    pub server_version: String,
    pub repeat: usize,
    pub idle_reader_p99_ms: f64,
    pub idle_writer_p99_ms: f64,
    pub runs: Vec<BenchRun>,
}

const SRC: &str = "bench_src";
const DST: &str = "bench_src_archive";

fn writable() -> SessionOptions {
    SessionOptions::unrestricted()
}

/// A fresh copy of `events` (and an empty archive) for one run.
async fn reset(c: &Conn) -> Result<i64> {
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {SRC}, {DST};
         CREATE TABLE {SRC} (LIKE events INCLUDING ALL);
         INSERT INTO {SRC} SELECT * FROM events;
         SELECT setval(pg_get_serial_sequence('{SRC}', 'id'), (SELECT max(id) FROM {SRC}));
         CREATE TABLE {DST} (LIKE events INCLUDING ALL);"
    ))
    .await
    .map_err(q("preparing the benchmark table"))?;
    // Its own statement: VACUUM cannot run inside the implicit transaction of a batch.
    c.batch_execute(&format!("VACUUM ANALYZE {SRC}"))
        .await
        .map_err(q("vacuuming the benchmark table"))?;
    let max: i64 = c
        .query_one(&format!("SELECT max(id) FROM {SRC}"), &[])
        .await
        .map_err(q("reading the benchmark table"))?
        .get(0);
    Ok(max)
}

/// Latency probes: one reader and one writer session on the benchmark table until stopped.
struct Probes {
    stop: Arc<AtomicBool>,
    reader: tokio::task::JoinHandle<Result<Histogram<u64>>>,
    writer: tokio::task::JoinHandle<Result<Histogram<u64>>>,
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

async fn probe(
    p: ConnParams,
    max_id: i64,
    seed: u64,
    write: bool,
    stop: Arc<AtomicBool>,
) -> Result<Histogram<u64>> {
    let c = pg::connect(&p, &writable()).await?;
    let read = c
        .prepare(&format!("SELECT * FROM {SRC} WHERE id = $1"))
        .await
        .map_err(q("preparing the reader probe"))?;
    let ins = c
        .prepare(&format!("INSERT INTO {SRC} (entity_type, entity_id, type, source, payload, \"timestamp\") VALUES ('lead', $1, 'viewed', 'web', '{{}}', now())"))
        .await
        .map_err(q("preparing the writer probe"))?;
    let upd = c
        .prepare(&format!(
            "UPDATE {SRC} SET payload = '{{\"seen\": true}}' WHERE id = $1"
        ))
        .await
        .map_err(q("preparing the writer probe"))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut h = hist();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let id: i64 = rng.gen_range(1..=max_id);
        let t = Instant::now();
        let r = if !write {
            c.client.query(&read, &[&id]).await.map(|_| 0)
        } else if n % 2 == 0 {
            c.client.execute(&ins, &[&id]).await
        } else {
            c.client.execute(&upd, &[&id]).await
        };
        r.map_err(q("running a latency probe"))?;
        #[allow(clippy::cast_possible_truncation)]
        let _ = h.record((t.elapsed().as_micros() as u64).max(1));
        n += 1;
        // A steady, modest load (about 200 statements/s per probe), like an application.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(h)
}

impl Probes {
    fn start(p: &ConnParams, max_id: i64, seed: u64) -> Probes {
        let stop = Arc::new(AtomicBool::new(false));
        Probes {
            reader: tokio::spawn(probe(p.clone(), max_id, seed, false, stop.clone())),
            writer: tokio::spawn(probe(p.clone(), max_id, seed + 1, true, stop.clone())),
            stop,
        }
    }

    async fn finish(self) -> Result<(Histogram<u64>, Histogram<u64>)> {
        self.stop.store(true, Ordering::Relaxed);
        let join = |r: std::result::Result<Result<Histogram<u64>>, tokio::task::JoinError>| {
            r.map_err(|e| PgError::Io(format!("BUG: probe task: {e}")))?
        };
        Ok((join(self.reader.await)?, join(self.writer.await)?))
    }
}

fn p99_ms(h: &Histogram<u64>) -> f64 {
    h.value_at_quantile(0.99) as f64 / 1000.0
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// What one measured run does while the probes sample latency.
#[derive(Debug, Clone, Copy)]
enum Case {
    Idle,
    Single,
    Batches(Strategy, i64, bool),
}

/// One measurement: rows, seconds, probe p99s and sample counts.
#[derive(Debug, Clone, Copy)]
struct Sample {
    rows: i64,
    seconds: f64,
    reader_p99: f64,
    writer_p99: f64,
    reader_n: u64,
    writer_n: u64,
}

async fn measure(c: &Conn, params: &ConnParams, o: &BenchOptions, case: Case) -> Result<Sample> {
    let max_id = reset(c).await?;
    let plan = match case {
        Case::Batches(strategy, _, _) => Some(
            plan::build(
                c,
                None,
                &PlanOptions {
                    table: SRC.into(),
                    older_than: o.older_than,
                    column: Some("timestamp".into()),
                    strategy,
                    to: Some(DST.into()),
                    cross_database: false,
                    filter: None,
                    archive_by_month: false,
                },
            )
            .await?,
        ),
        _ => None,
    };
    let probes = Probes::start(params, max_id, o.seed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rows, seconds) = match (case, &plan) {
        (Case::Idle, _) => {
            tokio::time::sleep(o.idle).await;
            (0, o.idle.as_secs_f64())
        }
        (Case::Single, _) => {
            // The reference: one statement, one transaction.
            let secs = format!("{} seconds", o.older_than.as_secs_f64());
            let t = Instant::now();
            let moved = c
                .execute(
                    &format!(
                        "WITH moved AS (DELETE FROM {SRC} WHERE \"timestamp\" < now() - $1::text::interval AND id <= {max_id} RETURNING *)
                         INSERT INTO {DST} SELECT * FROM moved"
                    ),
                    &[&secs],
                )
                .await
                .map_err(q("running the single-statement move"))?;
            #[allow(clippy::cast_possible_wrap)]
            (moved as i64, t.elapsed().as_secs_f64())
        }
        (Case::Batches(_, size, adaptive), Some(plan)) => {
            let ropts = RunOptions {
                batch_size: size,
                adapt: adaptive,
                ..Default::default()
            };
            let stop = AtomicBool::new(false);
            let st = run::execute(c, None, plan, &ropts, &stop, &|_, _| {}).await?;
            (st.rows_selected, st.seconds_batches)
        }
        (Case::Batches(..), None) => unreachable!("a batch case always has a plan"),
    };
    let (r, w) = probes.finish().await?;
    Ok(Sample {
        rows,
        seconds,
        reader_p99: p99_ms(&r),
        writer_p99: p99_ms(&w),
        reader_n: r.len(),
        writer_n: w.len(),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Median throughput and p99s over `o.repeat` measurements of one case.
async fn repeated(
    c: &Conn,
    params: &ConnParams,
    o: &BenchOptions,
    case: Case,
) -> Result<(Sample, f64)> {
    let mut samples = Vec::new();
    for _ in 0..o.repeat.max(1) {
        samples.push(measure(c, params, o, case).await?);
    }
    let rate = median(
        samples
            .iter()
            .map(|s| ratio(s.rows as f64, s.seconds))
            .collect(),
    );
    let first = samples[0];
    Ok((
        Sample {
            rows: first.rows,
            seconds: median(samples.iter().map(|s| s.seconds).collect()),
            reader_p99: median(samples.iter().map(|s| s.reader_p99).collect()),
            writer_p99: median(samples.iter().map(|s| s.writer_p99).collect()),
            reader_n: samples.iter().map(|s| s.reader_n).sum(),
            writer_n: samples.iter().map(|s| s.writer_n).sum(),
        },
        rate,
    ))
}

/// Start a throwaway server, load the demo, and measure. `say` reports progress to the user.
pub async fn run(o: &BenchOptions, say: &(dyn Fn(String) + Sync)) -> Result<BenchResult> {
    say("starting a throwaway PostgreSQL".into());
    let server = tokio::task::spawn_blocking(|| Throwaway::start(&ThrowawayOptions::default()))
        .await
        .map_err(|e| PgError::Io(format!("BUG: start-up task: {e}")))??;
    let admin = pg::connect(&server.params("postgres"), &writable()).await?;
    admin
        .batch_execute("CREATE DATABASE bench_archive")
        .await
        .map_err(q("creating the benchmark database"))?;
    let params = server.params("bench_archive");
    say(format!("loading the demo data at scale {}", o.scale));
    let dopts = DemoOptions {
        scale: o.scale,
        seed: o.seed,
        ..Default::default()
    };
    demo::load(&params, &dopts, &|_, _| {}).await?;
    let c = pg::connect(&params, &writable()).await?;
    let events: i64 = c
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .map_err(q("counting events"))?
        .get(0);

    say(format!(
        "idle latency, {} s x {}",
        o.idle.as_secs(),
        o.repeat
    ));
    let (idle, _) = repeated(&c, &params, o, Case::Idle).await?;
    say("single-statement move (the reference)".into());
    let (single, ref_rate) = repeated(&c, &params, o, Case::Single).await?;
    let entry = |name: String, strategy, batch_size, adaptive, s: Sample, rate: f64| BenchRun {
        name,
        strategy,
        batch_size,
        adaptive,
        rows: s.rows,
        seconds: s.seconds,
        rows_per_second: rate,
        throughput_ratio: ratio(rate, ref_rate),
        reader_p99_ms: s.reader_p99,
        writer_p99_ms: s.writer_p99,
        reader_p99_ratio: ratio(s.reader_p99, idle.reader_p99),
        writer_p99_ratio: ratio(s.writer_p99, idle.writer_p99),
        reader_samples: s.reader_n,
        writer_samples: s.writer_n,
    };
    let mut runs = vec![entry(
        "single statement (move)".into(),
        Strategy::Move,
        None,
        false,
        single,
        ref_rate,
    )];
    let mut cases: Vec<(Strategy, i64, bool)> = Vec::new();
    for s in &o.strategies {
        for b in &o.batch_sizes {
            cases.push((*s, *b, false));
        }
        cases.push((*s, 1000, true));
    }
    for (strategy, size, adaptive) in cases {
        let name = if adaptive {
            format!("{} (adaptive, 200 ms target)", strategy.label())
        } else {
            format!("{} batches", strategy.label())
        };
        say(format!("{name}, batch size {size}"));
        let (s, rate) = repeated(&c, &params, o, Case::Batches(strategy, size, adaptive)).await?;
        runs.push(entry(name, strategy, Some(size), adaptive, s, rate));
    }
    drop(c);
    drop(admin);
    let version = server.version().to_string();
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .ok();
    Ok(BenchResult {
        scale: o.scale,
        events,
        server_version: version,
        repeat: o.repeat,
        idle_reader_p99_ms: idle.reader_p99,
        idle_writer_p99_ms: idle.writer_p99,
        runs,
    })
}
