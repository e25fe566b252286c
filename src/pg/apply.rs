//! `--apply`: build recommended indexes on the connected database, statement by statement.
//!
//! Why one at a time on a plain session: `CREATE INDEX CONCURRENTLY` cannot run inside a
//! transaction block, and several statements in one message are one implicit transaction.
//! Why the checks afterwards: a concurrent build that failed leaves an INVALID index, and a
//! valid index the planner never picks only slows writes, so dbopt reports both.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{connect, Conn, ConnParams, PgError, Result, SessionOptions};
use crate::sql::quote_literal;

/// What to run for one index, and how to check it afterwards.
#[derive(Debug, Clone)]
pub struct ApplyPlan {
    /// Complete statements, in order (no trailing semicolon), each with the `"schema"."index"`
    /// it creates (or works on).
    pub statements: Vec<(String, String)>,
    /// `"schema"."index"`: the index that must end up valid.
    pub index: String,
    /// Every index name the statements build (a partitioned index and its partitions'),
    /// any of which in a plan counts as "used".
    pub names: Vec<String>,
    /// `(fingerprint, query)` of the statements the index is for.
    pub checks: Vec<(String, String)>,
}

/// Where a build shows its progress: a terminal bar (`report::build_progress`), or nothing.
/// A trait here, so that `pg` needs nothing from the layers that render.
pub trait BuildProgress: Send {
    /// `done` of `total` blocks (or tuples), with a message naming the phase.
    fn show(&self, done: u64, total: u64, message: String);
    fn finish(&self);
}

/// Makes the [`BuildProgress`] of one statement, given the index it builds.
pub type NewProgress = fn(&str) -> Box<dyn BuildProgress>;

/// The outcome for one index.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub index: String,
    pub valid: bool,
    /// The fingerprint of the first statement whose plan uses the index.
    pub used_by: Option<String>,
    /// How many of its statements could be EXPLAINed (the others are skipped, not fatal).
    pub checked: usize,
    /// The index was already there and valid: the statements did nothing.
    pub existed: bool,
    pub seconds: f64,
}

fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Show `pg_stat_progress_create_index` for `pid` until `done` is set.
async fn watch_progress(
    params: ConnParams,
    pid: i32,
    label: String,
    done: Arc<AtomicBool>,
    progress: NewProgress,
) {
    let Ok(c) = connect(&params, &SessionOptions::default()).await else {
        return;
    };
    let pb = progress(&label);
    while !done.load(Ordering::Relaxed) {
        if let Ok(Some(r)) = c
            .query_opt(
                "SELECT phase, blocks_total, blocks_done, tuples_total, tuples_done \
                 FROM pg_stat_progress_create_index WHERE pid = $1",
                &[&pid],
            )
            .await
        {
            let phase: String = r.get(0);
            let (total, doneb): (i64, i64) = if r.get::<_, i64>(1) > 0 {
                (r.get(1), r.get(2))
            } else {
                (r.get(3), r.get(4))
            };
            pb.show(
                u64::try_from(doneb).unwrap_or(0),
                u64::try_from(total).unwrap_or(0),
                format!("{label}: {phase}"),
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pb.finish();
}

/// Whether `index` exists and is valid; `None` when it does not exist.
async fn validity(c: &Conn, index: &str) -> Result<Option<bool>> {
    let row = c
        .query_opt(
            "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
            &[&index],
        )
        .await
        .map_err(|e| PgError::query(format!("checking index {index}"), e))?;
    Ok(row.map(|r| r.get(0)))
}

fn index_names(plan: &serde_json::Value, out: &mut Vec<String>) {
    match plan {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k == "Index Name" {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_string());
                    }
                }
                index_names(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| index_names(v, out)),
        _ => {}
    }
}

/// The index names in the generic plan of `query` (read-only transaction, never executed).
async fn plan_indexes(c: &Conn, query: &str) -> Result<Vec<String>> {
    let n = crate::workload::shape::placeholders(query);
    let ctx = "EXPLAIN of a statement the index is for";
    c.batch_execute("BEGIN READ ONLY; SET LOCAL plan_cache_mode = force_generic_plan")
        .await
        .map_err(|e| PgError::query(ctx, e))?;
    let explain = if n == 0 {
        format!("EXPLAIN (FORMAT JSON) {query}")
    } else {
        let prep = c
            .batch_execute(&format!("DEALLOCATE ALL; PREPARE dbopt_check AS {query}"))
            .await;
        if let Err(e) = prep {
            let _ = c.batch_execute("ROLLBACK").await;
            return Err(PgError::query(ctx, e));
        }
        format!(
            "EXPLAIN (FORMAT JSON) EXECUTE dbopt_check({})",
            vec!["NULL"; n].join(", ")
        )
    };
    let res = c.query_one(&explain, &[]).await;
    let _ = c.batch_execute("ROLLBACK").await;
    let _ = c.batch_execute("DEALLOCATE ALL").await;
    let row = res.map_err(|e| PgError::query(ctx, e))?;
    let v: serde_json::Value = row.get(0);
    let mut out = Vec::new();
    index_names(&v, &mut out);
    Ok(out)
}

/// Run the plan's statements one by one with `lock_timeout`, showing build progress through
/// `progress`, then check that the index is valid and used by one of its statements.
pub async fn apply(
    c: &Conn,
    plan: &ApplyPlan,
    lock_timeout: Duration,
    progress: NewProgress,
) -> Result<Applied> {
    let existed = validity(c, &plan.index).await? == Some(true);
    let started = Instant::now();
    c.batch_execute(&format!(
        "SET lock_timeout = {}",
        quote_literal(&millis(lock_timeout))
    ))
    .await
    .map_err(|e| PgError::query("setting lock_timeout", e))?;
    c.batch_execute("SET statement_timeout = 0")
        .await
        .map_err(|e| PgError::query("setting statement_timeout", e))?;
    let pid: i32 = c
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(|e| PgError::query("reading the session's pid", e))?
        .get(0);
    for (stmt, index) in &plan.statements {
        let done = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn(watch_progress(
            c.params().clone(),
            pid,
            plan.index.clone(),
            done.clone(),
            progress,
        ));
        let res = c.batch_execute(stmt).await;
        done.store(true, Ordering::Relaxed);
        let _ = watcher.await;
        if let Err(e) = res {
            let mut err = PgError::query(format!("running {stmt}"), e);
            let left_invalid = validity(c, index).await.ok().flatten() == Some(false)
                && stmt.contains(" CONCURRENTLY ");
            if let PgError::Query { message, hint, .. } = &mut err {
                if left_invalid {
                    message.push_str(&format!(
                        "; the failed build left {index} behind as an INVALID index"
                    ));
                }
                let recovery =
                    format!(
                    "a failed CREATE INDEX CONCURRENTLY leaves an INVALID index (list them with \
                     SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid); drop it with \
                     DROP INDEX CONCURRENTLY IF EXISTS {index}; and run --apply again{}",
                    hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
                );
                *hint = Some(recovery);
            }
            return Err(err);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let valid = validity(c, &plan.index).await?.unwrap_or(false);
    let mut used_by = None;
    let mut checked = 0;
    for (fp, q) in &plan.checks {
        // A statement that no longer plans (a dropped column, an untyped parameter) says
        // nothing about the index: skip it rather than fail after the build.
        let Ok(used) = plan_indexes(c, q).await else {
            continue;
        };
        checked += 1;
        if used.iter().any(|u| plan.names.contains(u)) {
            used_by = Some(fp.clone());
            break;
        }
    }
    c.batch_execute("RESET lock_timeout; RESET statement_timeout")
        .await
        .map_err(|e| PgError::query("resetting timeouts", e))?;
    Ok(Applied {
        index: plan.index.clone(),
        valid,
        used_by,
        checked,
        existed,
        seconds,
    })
}
