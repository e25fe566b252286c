//! Executing a plan: the batch loop, its throttles and its stop conditions.
//!
//! Why each batch is its own statement or short transaction: locks, the snapshot and the xmin
//! horizon last one batch only, and a run stopped anywhere leaves the tables consistent. The
//! loop checks the stop flag (Ctrl-C, SIGTERM) and `--max-runtime` only *between* batches, so a
//! stop always finishes the batch in flight. The batch size adapts to keep each batch near the
//! target duration (200 ms by default), so locks stay short when the server is busy and batches
//! grow when it is idle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::plan::{Plan, Strategy};
use super::sql::{self, refs};
use super::verify::{self, Verification};
use super::{q, Result};
use crate::pg::Conn;

/// How to run the batches.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// First batch size (and the fixed size when `adapt` is off).
    pub batch_size: i64,
    /// Adapt the batch size to `target_batch`.
    pub adapt: bool,
    pub target_batch: Duration,
    /// Pause between batches.
    pub sleep: Duration,
    /// Rows per second at most.
    pub max_rate: Option<f64>,
    /// Pause while a replica lags more than this (or its lag is unknown).
    pub max_replica_lag: Option<Duration>,
    pub max_runtime: Option<Duration>,
    /// Create the archive table when missing.
    pub create: bool,
    pub verify: bool,
    pub vacuum: bool,
    /// Detach partitions entirely older than the cutoff before the row batches.
    pub detach_partitions: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            batch_size: 1000,
            adapt: true,
            target_batch: Duration::from_millis(200),
            sleep: Duration::ZERO,
            max_rate: None,
            max_replica_lag: None,
            max_runtime: None,
            create: false,
            verify: false,
            vacuum: false,
            detach_partitions: false,
        }
    }
}

pub const MIN_BATCH: i64 = 10;
pub const MAX_BATCH: i64 = 100_000;

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub rows_in_scope: i64,
    pub rows_selected: i64,
    /// Rows inserted into the archive.
    pub rows_archived: i64,
    pub rows_deleted: i64,
    pub batches: u64,
    pub batch_size_min: i64,
    pub batch_size_max: i64,
    pub batch_ms_max: f64,
    pub seconds_count: f64,
    pub seconds_batches: f64,
    pub seconds_throttled: f64,
    pub seconds_replica_wait: f64,
    pub seconds_verify: f64,
    pub seconds_vacuum: f64,
    /// Why the run stopped before the end ("interrupted", "max-runtime"), if it did.
    pub stopped: Option<String>,
    pub archive_created: bool,
    pub detached_partitions: Vec<String>,
    pub notes: Vec<String>,
    pub verify: Option<Verification>,
}

impl Stats {
    pub fn rows_per_second(&self) -> f64 {
        let n = self.rows_selected as f64;
        if self.seconds_batches > 0.0 {
            n / self.seconds_batches
        } else {
            0.0
        }
    }
}

/// One batch's result.
struct Batch {
    selected: i64,
    written: i64,
    deleted: i64,
    last: Vec<String>,
}

/// Next batch size: scale toward the target duration, at most doubling or halving per batch.
pub fn adapt(size: i64, took: Duration, target: Duration) -> i64 {
    let took = took.as_secs_f64().max(0.001);
    let ratio = (target.as_secs_f64() / took).clamp(0.5, 2.0);
    #[allow(clippy::cast_possible_truncation)]
    let next = (size as f64 * ratio).round() as i64;
    next.clamp(MIN_BATCH, MAX_BATCH)
}

async fn same_db_batch(
    src: &Conn,
    plan: &Plan,
    max: &[String],
    size: i64,
    last: Option<&[String]>,
) -> Result<Option<Batch>> {
    let sql = sql::batch(plan, last.is_some());
    let params = sql::batch_params(plan, max, size, last);
    let row = src
        .query_opt(&sql, &refs(&params))
        .await
        .map_err(q(format!("running a {} batch", plan.strategy.label())))?;
    Ok(row.map(|r| {
        let written: i64 = r.get(0);
        let selected: i64 = r.get(1);
        Batch {
            selected,
            written: if plan.strategy.writes_archive() {
                written
            } else {
                0
            },
            deleted: match plan.strategy {
                Strategy::Move => written,
                Strategy::Delete => written,
                Strategy::Copy => 0,
            },
            last: (0..plan.key.len()).map(|i| r.get(2 + i)).collect(),
        }
    }))
}

/// Cross-database batch: lock and read in the source, insert (idempotently) and commit in the
/// destination, then delete and commit in the source. A crash between the commits leaves a
/// duplicate that the next run's `ON CONFLICT DO NOTHING` absorbs; no row can be lost.
async fn cross_db_batch(
    src: &Conn,
    dst: &Conn,
    plan: &Plan,
    max: &[String],
    size: i64,
    last: Option<&[String]>,
) -> Result<Option<Batch>> {
    let moving = plan.strategy == Strategy::Move;
    if moving {
        src.batch_execute("BEGIN")
            .await
            .map_err(q("starting a batch"))?;
    }
    let result = async {
        let params = sql::batch_params(plan, max, size, last);
        let rows = src
            .query(&sql::fetch(plan, last.is_some()), &refs(&params))
            .await
            .map_err(q("reading a batch from the source"))?;
        let Some(final_row) = rows.last() else {
            return Ok(None);
        };
        let last_key: Vec<String> = (0..plan.key.len()).map(|i| final_row.get(1 + i)).collect();
        let json = sql::json_rows(&rows);
        let written = dst
            .execute(&sql::remote_insert(plan), &[&json])
            .await
            .map_err(q("inserting a batch into the archive database"))?;
        let deleted = if moving {
            src.execute(&sql::remote_delete(plan), &[&json])
                .await
                .map_err(q("deleting a batch from the source"))?
        } else {
            0
        };
        #[allow(clippy::cast_possible_wrap)]
        Ok(Some(Batch {
            selected: rows.len() as i64,
            written: written as i64,
            deleted: deleted as i64,
            last: last_key,
        }))
    }
    .await;
    if moving {
        match &result {
            Ok(_) => src
                .batch_execute("COMMIT")
                .await
                .map_err(q("committing the source delete"))?,
            Err(_) => {
                let _ = src.batch_execute("ROLLBACK").await;
            }
        }
    }
    result
}

/// Create the month partitions of a by-month archive that the rows in scope need (existing
/// ones, or months another partition already covers, are left alone).
async fn add_month_partitions(src: &Conn, archive_conn: &Conn, plan: &Plan) -> Result<Vec<String>> {
    let Some(max) = &plan.max_key else {
        return Ok(Vec::new());
    };
    let archive = plan.archive.as_deref().unwrap_or_default();
    let params = sql::predicate_params(plan, max);
    let months = src
        .query(&sql::months_in_scope(plan), &refs(&params))
        .await
        .map_err(q("listing the months of the rows in scope"))?;
    let row = archive_conn
        .query_one(
            "SELECT quote_ident(n.nspname), c.relname::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
            &[&archive],
        )
        .await
        .map_err(q("reading the archive's name"))?;
    let (schema, rel): (String, String) = (row.get(0), row.get(1));
    let mut notes = Vec::new();
    let mut created = 0;
    for m in months {
        let (tag, from, to): (String, String, String) = (m.get(0), m.get(1), m.get(2));
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {schema}.{} PARTITION OF {archive} FOR VALUES FROM ({}) TO ({})",
            crate::sql::quote_ident(&format!("{rel}_p{tag}")),
            crate::sql::quote_literal(&from),
            crate::sql::quote_literal(&to)
        );
        match archive_conn.batch_execute(&ddl).await {
            Ok(()) => created += 1,
            // "would overlap partition ...": that month is already covered by another partition.
            Err(e) if e.code().is_some_and(|c| c.code() == "42P17") => {}
            Err(e) => return Err(q(format!("creating the archive partition for {tag}"))(e)),
        }
    }
    if created > 0 {
        notes.push(format!("archive month partitions ensured: {created}"));
    }
    Ok(notes)
}

/// Replica lag in seconds: `None` when unknown, `Some(0)` when caught up; no replicas = no wait.
async fn replica_lag(src: &Conn) -> Result<(i64, Option<f64>)> {
    let row = src
        .query_one(
            "SELECT count(*),
                    max(CASE WHEN replay_lsn = pg_current_wal_lsn() THEN 0
                             ELSE extract(epoch FROM replay_lag)::float8 END),
                    coalesce(bool_or(replay_lsn IS NULL OR (replay_lag IS NULL AND replay_lsn <> pg_current_wal_lsn())), false)
               FROM pg_stat_replication",
            &[],
        )
        .await
        .map_err(q("reading replica lag from pg_stat_replication"))?;
    let n: i64 = row.get(0);
    let unknown: bool = row.get(2);
    Ok((n, if unknown { None } else { row.get(1) }))
}

/// When `rows` rows are due at `rate` rows per second (since the first batch). A rate so low
/// that the schedule overflows a `Duration` gives `Duration::MAX`: wait until stopped.
fn rate_due(rows: i64, rate: f64) -> Duration {
    Duration::try_from_secs_f64(rows as f64 / rate).unwrap_or(Duration::MAX)
}

/// Sleep up to `d`, waking early when asked to stop. A `d` past what the clock can count
/// sleeps until stopped.
async fn nap(d: Duration, stop: &AtomicBool) {
    let end = Instant::now().checked_add(d);
    while end.is_none_or(|e| Instant::now() < e) && !stop.load(Ordering::Relaxed) {
        let left = end.map_or(Duration::MAX, |e| {
            e.saturating_duration_since(Instant::now())
        });
        tokio::time::sleep(left.min(Duration::from_millis(50))).await;
    }
}

/// What one run works with: the sessions, the plan, the options and the stop flag.
struct Ctx<'a> {
    src: &'a Conn,
    dst: Option<&'a Conn>,
    /// Where the archive table lives: `dst`, else `src`.
    archive_conn: &'a Conn,
    plan: &'a Plan,
    o: &'a RunOptions,
    stop: &'a AtomicBool,
    started: Instant,
}

impl Ctx<'_> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn out_of_time(&self) -> bool {
        self.o
            .max_runtime
            .is_some_and(|m| self.started.elapsed() >= m)
    }
}

/// Run the plan. `src` (and `dst`, for another database) must be writable sessions.
/// `progress(rows_done, rows_in_scope)` is called after each batch.
pub async fn execute(
    src: &Conn,
    dst: Option<&Conn>,
    plan: &Plan,
    o: &RunOptions,
    stop: &AtomicBool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Stats> {
    let cx = Ctx {
        src,
        dst,
        archive_conn: dst.unwrap_or(src),
        plan,
        o,
        stop,
        started: Instant::now(),
    };
    let mut st = Stats {
        batch_size_min: o.batch_size,
        batch_size_max: o.batch_size,
        ..Default::default()
    };
    prepare(&cx, &mut st).await?;
    let Some(max) = plan.max_key.clone() else {
        st.notes.push("the table is empty".into());
        return Ok(st);
    };
    let t = Instant::now();
    st.rows_in_scope = sql::count(src, plan).await?;
    st.seconds_count = t.elapsed().as_secs_f64();
    let total = u64::try_from(st.rows_in_scope).unwrap_or(0);
    progress(0, total);
    let before = if o.verify {
        let t = Instant::now();
        let b = verify::snapshot(src, cx.archive_conn, plan).await?;
        st.seconds_verify += t.elapsed().as_secs_f64();
        Some(b)
    } else {
        None
    };
    batches(&cx, &max, &mut st, &|done| progress(done, total)).await?;
    if let Some(b) = before {
        let t = Instant::now();
        let after = verify::snapshot(src, cx.archive_conn, plan).await?;
        st.verify = Some(verify::judge(
            plan.strategy,
            b,
            after,
            st.stopped.is_none(),
            st.rows_archived,
        ));
        st.seconds_verify += t.elapsed().as_secs_f64();
    }
    if o.vacuum && st.stopped.is_none() {
        let t = Instant::now();
        vacuum(&cx).await?;
        st.seconds_vacuum = t.elapsed().as_secs_f64();
    }
    Ok(st)
}

/// Before the first batch: create the archive table, add its month partitions, detach the
/// source's old partitions.
async fn prepare(cx: &Ctx<'_>, st: &mut Stats) -> Result<()> {
    let plan = cx.plan;
    if plan.strategy.writes_archive() && !plan.archive_exists {
        cx.archive_conn
            .batch_execute(&sql::create_archive(plan))
            .await
            .map_err(q("creating the archive table"))?;
        st.archive_created = true;
    }
    if plan.strategy.writes_archive() && plan.archive_by_month {
        st.notes
            .extend(add_month_partitions(cx.src, cx.archive_conn, plan).await?);
    }
    if cx.o.detach_partitions {
        for p in &plan.old_partitions {
            cx.src
                .batch_execute(&p.detach_sql)
                .await
                .map_err(q(format!("detaching partition {}", p.name)))?;
            st.detached_partitions.push(p.name.clone());
        }
    }
    Ok(())
}

/// The batches, up to the key `max` highest at start, until none is full, a stop is asked
/// for or the runtime is up; `progress(rows_selected)` after each.
async fn batches(
    cx: &Ctx<'_>,
    max: &[String],
    st: &mut Stats,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    let o = cx.o;
    let batches_start = Instant::now();
    let mut last: Option<Vec<String>> = None;
    let mut size = o.batch_size.clamp(1, MAX_BATCH);
    let mut warned_no_replicas = false;
    loop {
        if cx.stopping() {
            st.stopped = Some("interrupted".into());
            break;
        }
        if cx.out_of_time() {
            st.stopped = Some("max-runtime".into());
            break;
        }
        if let Some(limit) = o.max_replica_lag {
            let w = Instant::now();
            wait_for_replicas(cx, limit, st, &mut warned_no_replicas).await?;
            st.seconds_replica_wait += w.elapsed().as_secs_f64();
            if cx.stopping() {
                continue;
            }
        }
        let t = Instant::now();
        let b = match cx.dst {
            Some(d) => cross_db_batch(cx.src, d, cx.plan, max, size, last.as_deref()).await?,
            None => same_db_batch(cx.src, cx.plan, max, size, last.as_deref()).await?,
        };
        let took = t.elapsed();
        let Some(b) = b else { break };
        st.batches += 1;
        st.rows_selected += b.selected;
        st.rows_archived += b.written;
        st.rows_deleted += b.deleted;
        st.batch_ms_max = st.batch_ms_max.max(took.as_secs_f64() * 1000.0);
        st.batch_size_min = st.batch_size_min.min(size);
        st.batch_size_max = st.batch_size_max.max(size);
        progress(u64::try_from(st.rows_selected).unwrap_or(0));
        let full = b.selected >= size;
        last = Some(b.last);
        if !full {
            break; // fewer rows than asked for: nothing in scope remains past this key
        }
        if o.adapt {
            size = adapt(size, took, o.target_batch);
        }
        let pause_start = Instant::now();
        throttle(cx, st.rows_selected, batches_start).await;
        st.seconds_throttled += pause_start.elapsed().as_secs_f64();
    }
    st.seconds_batches = batches_start.elapsed().as_secs_f64();
    Ok(())
}

/// `--max-replica-lag`: wait until every replica is within `limit` (or none is connected,
/// noted once), a stop is asked for or the runtime is up.
async fn wait_for_replicas(
    cx: &Ctx<'_>,
    limit: Duration,
    st: &mut Stats,
    warned_no_replicas: &mut bool,
) -> Result<()> {
    loop {
        let (n, lag) = replica_lag(cx.src).await?;
        if n == 0 {
            if !*warned_no_replicas {
                st.notes.push("--max-replica-lag: no replica is connected to this server, nothing to wait for".into());
                *warned_no_replicas = true;
            }
            return Ok(());
        }
        if lag.is_some_and(|l| l <= limit.as_secs_f64()) || cx.stopping() || cx.out_of_time() {
            return Ok(());
        }
        nap(Duration::from_millis(500), cx.stop).await;
    }
}

/// The pause after a batch: `--sleep`, then as long as `--max-rate` needs for `rows_selected`
/// rows since the batches started.
async fn throttle(cx: &Ctx<'_>, rows_selected: i64, batches_start: Instant) {
    let o = cx.o;
    if !o.sleep.is_zero() {
        nap(o.sleep, cx.stop).await;
    }
    if let Some(rate) = o.max_rate.filter(|r| *r > 0.0) {
        let due = rate_due(rows_selected, rate);
        let spent = batches_start.elapsed();
        if due > spent {
            nap(due - spent, cx.stop).await;
        }
    }
}

/// `--vacuum`: VACUUM (ANALYZE) the source, ANALYZE the archive.
async fn vacuum(cx: &Ctx<'_>) -> Result<()> {
    let plan = cx.plan;
    cx.src
        .batch_execute(&format!("VACUUM (ANALYZE) {}", plan.source))
        .await
        .map_err(q("vacuuming the source"))?;
    if let (Some(a), true) = (&plan.archive, plan.strategy.writes_archive()) {
        cx.archive_conn
            .batch_execute(&format!("ANALYZE {a}"))
            .await
            .map_err(q("analyzing the archive"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_size_tracks_the_target() {
        let t = Duration::from_millis(200);
        assert_eq!(adapt(1000, Duration::from_millis(100), t), 2000);
        assert_eq!(adapt(1000, Duration::from_millis(800), t), 500);
        assert_eq!(adapt(1000, Duration::from_millis(250), t), 800);
        assert_eq!(adapt(20, Duration::from_secs(5), t), MIN_BATCH);
        assert_eq!(adapt(90_000, Duration::ZERO, t), MAX_BATCH);
    }

    #[tokio::test]
    async fn a_tiny_max_rate_waits_instead_of_panicking() {
        assert_eq!(rate_due(1000, 500.0), Duration::from_secs(2));
        assert_eq!(rate_due(1000, 1e-300), Duration::MAX);
        // Sleeping "forever" ends when asked to stop.
        nap(Duration::MAX, &AtomicBool::new(true)).await;
    }
}
