//! The load loop both `bench pool` and `bench queries` use: N tasks sharing one pool, each
//! taking a connection, running one statement and giving the connection back, for a time or a
//! number of iterations after a warm-up.
//!
//! Why time `pool.get()` ourselves: deadpool keeps no wait-time statistics, and a pool that is
//! too small shows up *only* there (the query itself stays fast while requests queue for a
//! connection). Every request therefore records three latencies: waiting for a connection, in
//! the query, and the two together. Pool occupancy (`Pool::status`, a point-in-time snapshot)
//! and the server's count of active sessions are sampled alongside.
//!
//! Why client threads with a pool each: a tokio-postgres client and the task that drives its
//! connection hand every request to each other. On a multi-threaded runtime that hand-off
//! crosses threads, and on a 2-core machine the client's extra CPU comes straight out of the
//! server's share (measured: 0.74 of `pgbench -S`'s throughput at 8 clients). So the clients
//! run like `pgbench -j`: [`Workers`] are threads with a single-threaded runtime each, and the
//! pool is split into one shard per thread ([`Shards`]), whose connections live on that thread.
//! Clients are split the same way (larger shares first), so a shard waits for a connection
//! exactly when the whole step has more clients than the pool has connections. `--threads 1`
//! gives one undivided pool.
//!
//! Closed loop (the default) finds the throughput ceiling; `rate` switches to an open loop with
//! a fixed schedule per task, and latency is measured from the *intended* start, so requests
//! delayed by a stall are charged for the delay (coordinated-omission correction, as in wrk2
//! and `pgbench -R`). The schedule runs on tokio's timer, whose resolution is 1 ms: for
//! sub-millisecond statements an open-loop latency carries up to 1 ms of timer lag, so compare
//! open-loop runs with each other, and use the closed loop for the fastest statements.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::{Pool, PoolError, TimeoutType, Timeouts};
use futures_util::TryStreamExt;
use rand::distributions::Distribution;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::histogram::Latency;
use super::workload::{Value, Workload};
use crate::pg::{Conn, PgError};

/// When a measured run ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    After(Duration),
    Iterations(u64),
}

#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub concurrency: usize,
    pub warmup: Duration,
    pub stop: Stop,
    /// Open loop: total requests per second over all tasks.
    pub rate: Option<f64>,
    /// How long a request may wait for a connection before it counts as a pool timeout.
    pub pool_timeout: Duration,
    /// Run only this statement of the workload (else: draw by weight).
    pub only: Option<usize>,
}

/// Samples of pool occupancy and server activity over the measured period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Occupancy {
    /// Mean share of the pool's `max_size` connections in use (0..1).
    pub pool_utilization: f64,
    pub pool_waiting_mean: f64,
    pub pool_waiting_max: usize,
    pub pool_samples: u64,
    /// Active sessions (state = 'active') in the target database, excluding the sampler.
    pub server_active_mean: f64,
    pub server_active_max: i64,
}

#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub measured: Duration,
    pub ok: u64,
    /// Failed requests, refused connections included.
    pub errors: u64,
    /// Of the errors: new connections the server refused (too many clients, ...).
    pub refused: u64,
    pub wait_timeouts: u64,
    pub total: Latency,
    pub wait: Latency,
    pub query: Latency,
    pub first_error: Option<String>,
    pub occupancy: Occupancy,
}

impl LoadResult {
    pub fn throughput(&self) -> f64 {
        let s = self.measured.as_secs_f64();
        if s > 0.0 {
            self.ok as f64 / s
        } else {
            0.0
        }
    }

    pub fn error_rate(&self) -> f64 {
        let n = self.ok + self.errors + self.wait_timeouts;
        if n == 0 {
            0.0
        } else {
            (self.errors + self.wait_timeouts) as f64 / n as f64
        }
    }

    fn merge(&mut self, o: LoadResult) {
        self.ok += o.ok;
        self.errors += o.errors;
        self.refused += o.refused;
        self.wait_timeouts += o.wait_timeouts;
        self.total.add(&o.total);
        self.wait.add(&o.wait);
        self.query.add(&o.query);
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
}

const POOL_SAMPLE_EVERY: Duration = Duration::from_millis(5);
const SERVER_SAMPLE_EVERY: Duration = Duration::from_millis(100);
const ACTIVE_SQL: &str = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()";

/// `n` split into `parts` shares that differ by at most one, larger shares first.
fn share(n: usize, parts: usize, i: usize) -> usize {
    n / parts + usize::from(i < n % parts)
}

/// Client threads, like `pgbench -j`: each runs a single-threaded tokio runtime until dropped.
pub struct Workers {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    pinned: bool,
}

impl Workers {
    /// `n` threads; with `pin`, thread i is bound to the i-th CPU this process may use (when
    /// there are at least `n` of them), as `wrk` or `taskset` would. Pinned, a client thread
    /// and the server processes it wakes share a core's caches and run queue; unpinned, the
    /// scheduler moves them apart and more wake-ups cross cores (measured on 2 cores at 32
    /// clients, alternating runs: 0.78–0.87 of `pgbench -S`'s throughput unbound, 0.89–0.94
    /// bound).
    pub fn start(n: usize, pin: bool) -> std::io::Result<Self> {
        let mut w = Workers {
            handles: Vec::new(),
            stops: Vec::new(),
            threads: Vec::new(),
            pinned: false,
        };
        let n = n.max(1);
        let cpus = if pin { allowed_cpus() } else { Vec::new() };
        let pin = cpus.len() >= n;
        let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
        for i in 0..n {
            let cpu = if pin { cpus.get(i).copied() } else { None };
            let pinned_tx = pinned_tx.clone();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            w.handles.push(rt.handle().clone());
            w.stops.push(stop);
            w.threads.push(
                std::thread::Builder::new()
                    .name(format!("dbopt-client-{i}"))
                    .spawn(move || {
                        let _ = pinned_tx.send(cpu.is_some_and(pin_to));
                        let _ = rt.block_on(stopped);
                    })?,
            );
        }
        drop(pinned_tx);
        w.pinned = pinned_rx.iter().take(n).all(|p| p);
        Ok(w)
    }

    /// Whether each thread runs on a CPU of its own.
    pub fn pinned(&self) -> bool {
        self.pinned
    }

    /// A pool of `size` connections split over the threads (at most one shard per connection);
    /// `make` builds one shard's pool of the given size.
    pub fn shards<E>(
        &self,
        size: usize,
        make: impl Fn(usize) -> std::result::Result<Pool, E>,
    ) -> std::result::Result<Shards, E> {
        let n = self.handles.len().min(size.max(1));
        let shards = (0..n)
            .map(|i| Ok((self.handles[i].clone(), make(share(size.max(1), n, i))?)))
            .collect::<std::result::Result<_, E>>()?;
        Ok(Shards(shards))
    }
}

/// The CPUs this process may run on (its affinity mask), in order.
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    let Ok(set) = sched_getaffinity(nix::unistd::Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

/// Bind the calling thread to `cpu`; false when refused (a container's policy), which leaves
/// it unbound.
#[cfg(target_os = "linux")]
fn pin_to(cpu: usize) -> bool {
    use nix::sched::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    set.set(cpu).is_ok() && sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_cpu: usize) -> bool {
    false
}

impl Drop for Workers {
    fn drop(&mut self) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One logical pool as shards, each used only on its own runtime (where deadpool spawns the
/// drivers of the connections it opens).
#[derive(Clone)]
pub struct Shards(Vec<(Handle, Pool)>);

impl Shards {
    /// The whole pool on the current runtime, undivided.
    pub fn here(pool: Pool) -> Self {
        Shards(vec![(Handle::current(), pool)])
    }

    pub fn max_size(&self) -> usize {
        self.0.iter().map(|(_, p)| p.status().max_size).sum()
    }

    /// Run `f(shard's pool, share of n)` on every shard's runtime and wait for all.
    pub async fn each<T, F, Fut>(&self, n: usize, f: F) -> Vec<T>
    where
        F: Fn(Pool, usize) -> Fut,
        Fut: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let jobs: Vec<_> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, (h, pool))| h.spawn(f(pool.clone(), share(n, self.0.len(), i))))
            .collect();
        let mut out = Vec::with_capacity(jobs.len());
        for j in jobs {
            out.push(j.await.expect("a client thread panicked"));
        }
        out
    }

    /// Open `n` connections (split like the clients) so set-up never lands in a measurement.
    /// Every connection is attempted, so when some fail (a server that refuses clients past
    /// its limit) the pool still holds all that could be opened; the first failure is returned.
    pub async fn fill(&self, n: usize) -> std::result::Result<(), PoolError> {
        for r in self
            .each(n, |pool, k| async move {
                let got = futures_util::future::join_all((0..k).map(|_| pool.get())).await;
                got.into_iter().find_map(Result::err).map_or(Ok(()), Err)
            })
            .await
        {
            r?;
        }
        Ok(())
    }
}

/// Run the workload through `pool` as `spec` says. `server`, when given, is a session outside
/// the pool used to sample `pg_stat_activity`.
pub async fn run(
    pool: &Shards,
    workload: &Arc<Workload>,
    spec: &LoadSpec,
    server: Option<&Conn>,
) -> LoadResult {
    let c = spec.concurrency.max(1);
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    // Shared by every client thread: only an iteration count needs it (a per-request atomic
    // on one cache line costs two cores a transfer each time).
    let remaining = match spec.stop {
        Stop::Iterations(n) => Some(Arc::new(AtomicI64::new(
            i64::try_from(n).unwrap_or(i64::MAX),
        ))),
        Stop::After(_) => None,
    };
    let end = match spec.stop {
        Stop::After(d) => Some(measure_from + d),
        Stop::Iterations(_) => None,
    };
    let interval = spec
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(c as f64 / r));
    let timeouts = Timeouts {
        wait: Some(spec.pool_timeout),
        create: None,
        recycle: None,
    };
    // Each shard runs its share of the clients, which record into the shard's one tally: three
    // histograms per thread instead of per client (each is a few hundred KB at 3 significant
    // digits up to an hour).
    let tallies: Vec<Tally> = pool.0.iter().map(|_| Tally::default()).collect();
    let homes = pool
        .0
        .iter()
        .zip(&tallies)
        .enumerate()
        .flat_map(|(i, home)| std::iter::repeat_n(home, share(c, pool.0.len(), i)));
    let tasks: Vec<_> = homes
        .enumerate()
        .map(|(k, ((handle, pool), tally))| {
            let pool = pool.clone();
            let tally = tally.clone();
            let workload = Arc::clone(workload);
            let remaining = remaining.clone();
            let only = spec.only;
            let first = interval.map(|iv| start + iv.mul_f64(k as f64 / c as f64));
            handle.spawn(async move {
                task(TaskCtx {
                    pool,
                    workload,
                    remaining,
                    only,
                    measure_from,
                    end,
                    interval,
                    next: first,
                    timeouts,
                    seed: k as u64,
                    tally,
                })
                .await
            })
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let occupancy = Arc::new(Mutex::new(Occupancy::default()));
    // The pool sampler runs on a client thread (a timer check there) rather than waking a
    // third thread every few milliseconds on a machine the clients and the server share.
    let pool_sampler = pool.0[0].0.spawn(sample_pool(
        pool.clone(),
        measure_from,
        Arc::clone(&stop),
        Arc::clone(&occupancy),
    ));
    let samplers = async {
        sample_server(server, measure_from, &stop, &occupancy).await;
        let _ = pool_sampler.await;
    };
    let workers = async {
        for t in tasks {
            let _ = t.await;
        }
        let mut out = LoadResult::default();
        for t in tallies {
            out.merge(t.take());
        }
        // The real window: an open loop behind schedule keeps working through its backlog.
        out.measured = Instant::now().saturating_duration_since(measure_from);
        stop.store(true, Ordering::Relaxed);
        out
    };
    let (mut out, _) = tokio::join!(workers, samplers);
    out.occupancy = occupancy.lock().map(|o| o.clone()).unwrap_or_default();
    out
}

struct TaskCtx {
    pool: Pool,
    workload: Arc<Workload>,
    remaining: Option<Arc<AtomicI64>>,
    only: Option<usize>,
    measure_from: Instant,
    end: Option<Instant>,
    interval: Option<Duration>,
    next: Option<Instant>,
    timeouts: Timeouts,
    seed: u64,
    tally: Tally,
}

/// What the clients of one shard measured; they all run on its thread, so the lock is never
/// contended.
#[derive(Clone, Default)]
struct Tally(Arc<Mutex<LoadResult>>);

impl Tally {
    fn with(&self, f: impl FnOnce(&mut LoadResult)) {
        f(&mut self.0.lock().expect("a client thread panicked"));
    }

    fn take(&self) -> LoadResult {
        std::mem::take(&mut self.0.lock().expect("a client thread panicked"))
    }
}

async fn task(mut t: TaskCtx) {
    let mut rng = SmallRng::seed_from_u64(0x5eed ^ t.seed.wrapping_mul(0x9e37_79b9));
    let picker = t.workload.picker();
    let mut values = Vec::new();
    loop {
        let intended = match (t.next, t.interval) {
            (Some(at), Some(iv)) => {
                t.next = Some(at + iv);
                if at > Instant::now() {
                    tokio::time::sleep_until(at.into()).await;
                }
                at
            }
            _ => Instant::now(),
        };
        let measuring = intended >= t.measure_from;
        if measuring {
            if t.end.is_some_and(|e| intended >= e) {
                break;
            }
            if t.remaining
                .as_ref()
                .is_some_and(|r| r.fetch_sub(1, Ordering::Relaxed) <= 0)
            {
                break;
            }
        }
        let stmt = &t.workload.statements[t.only.unwrap_or_else(|| picker.sample(&mut rng))];
        stmt.fill_values(&mut rng, &mut values);
        let t0 = if t.interval.is_some() {
            Instant::now()
        } else {
            intended
        };
        let got = t.pool.timeout_get(&t.timeouts).await;
        let t1 = Instant::now();
        let client = match got {
            Ok(c) => c,
            Err(PoolError::Timeout(TimeoutType::Wait)) => {
                if measuring {
                    t.tally.with(|out| out.wait_timeouts += 1);
                }
                continue;
            }
            Err(e) => {
                let refused = refusal(&e);
                t.tally.with(|out| {
                    out.errors += u64::from(measuring);
                    out.refused += u64::from(measuring && refused.is_some());
                    out.first_error.get_or_insert_with(|| match &refused {
                        Some(r) => match r.hint() {
                            Some(h) => format!("{r}; hint: {h}"),
                            None => r.to_string(),
                        },
                        None => e.to_string(),
                    });
                });
                // A refused connection fails at once: do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let res = execute(&client, &stmt.sql, &values).await;
        let t2 = Instant::now();
        drop(client);
        match res {
            Ok(()) if measuring => t.tally.with(|out| {
                out.ok += 1;
                out.wait.record(t1 - t0);
                out.query.record(t2 - t1);
                out.total.record(t2.saturating_duration_since(intended));
            }),
            Ok(()) => {}
            Err(e) => t.tally.with(|out| {
                out.errors += u64::from(measuring);
                out.first_error.get_or_insert_with(|| {
                    format!(
                        "{}: {}",
                        stmt.name,
                        crate::pg::PgError::query("running the statement", e)
                    )
                });
            }),
        }
    }
}

/// The server's refusal of a new connection, when that is why `pool.get()` failed (deadpool
/// wraps the tokio-postgres error of the connection it tried to open).
pub fn refusal(e: &PoolError) -> Option<PgError> {
    match e {
        PoolError::Backend(e) => PgError::refused("the server", e),
        _ => None,
    }
}

/// Run a statement to the end, rows read and dropped (no row vector per request).
async fn execute(
    client: &deadpool_postgres::Client,
    sql: &str,
    values: &[Value],
) -> Result<(), tokio_postgres::Error> {
    let stmt = client.prepare_cached(sql).await?;
    let rows = client.query_raw(&stmt, values.iter()).await?;
    rows.try_for_each(|_| std::future::ready(Ok(()))).await
}

async fn sample_pool(
    pool: Shards,
    from: Instant,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Occupancy>>,
) {
    let (mut n, mut used, mut waiting, mut max_wait) = (0u64, 0.0f64, 0.0f64, 0usize);
    let mut tick = tokio::time::interval_at(from.into(), POOL_SAMPLE_EVERY);
    let max_size = pool.max_size().max(1) as f64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let (busy, queued) = pool.0.iter().fold((0, 0), |(b, w), (_, p)| {
            let s = p.status();
            (b + s.size.saturating_sub(s.available), w + s.waiting)
        });
        n += 1;
        used += busy as f64 / max_size;
        waiting += queued as f64;
        max_wait = max_wait.max(queued);
    }
    let mut o = out.lock().expect("occupancy");
    if n > 0 {
        o.pool_utilization = used / n as f64;
        o.pool_waiting_mean = waiting / n as f64;
    }
    o.pool_waiting_max = max_wait;
    o.pool_samples = n;
}

async fn sample_server(
    server: Option<&Conn>,
    from: Instant,
    stop: &AtomicBool,
    out: &Mutex<Occupancy>,
) {
    let Some(conn) = server else { return };
    let Ok(stmt) = conn.prepare(ACTIVE_SQL).await else {
        return;
    };
    let (mut n, mut sum, mut max) = (0u64, 0i64, 0i64);
    let mut tick = tokio::time::interval_at(from.into(), SERVER_SAMPLE_EVERY);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        if let Ok(row) = conn.client.query_one(&stmt, &[]).await {
            let a: i64 = row.get(0);
            n += 1;
            sum += a;
            max = max.max(a);
        }
    }
    let mut o = out.lock().expect("occupancy");
    if n > 0 {
        o.server_active_mean = sum as f64 / n as f64;
    }
    o.server_active_max = max;
}
