//! Archive: a table, a cutoff and a strategy in; the dry run (plan, row count, the statements
//! a run would send) or the executed run's statistics out. `archive bench` measures strategies
//! and batch sizes on a throwaway server.
//!
//! Why here and not in `cli`: the order of the steps is the safety argument (the options are
//! checked before anything connects, the sessions are read-only unless the run executes, the
//! archive must exist or be created before a row moves, Ctrl-C stops after the batch in
//! flight), and it reads in one function that tests can call without a process.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{Error, Notes};
use crate::archive::{self, sql, ArchiveError, Plan, PlanOptions, RunOptions, Strategy};
pub use crate::archive::{Archived, DryRun, Executed};
use crate::pg::{self, ConnParams, SessionOptions};
use crate::report;

/// Everything `archive` needs to know, as plain values.
#[derive(Debug, Clone)]
pub struct Request {
    /// The server holding the source table (a URL or conninfo, completed from the
    /// environment like psql's; resolved after the options are checked).
    pub database_url: Option<String>,
    /// `--to-database`: the archive's server, when it is another database.
    pub to_database: Option<String>,
    /// Session settings of both connections; they are read-only unless `execute`.
    pub session: SessionOptions,
    /// What to archive (`cross_database` is set from `to_database`).
    pub plan: PlanOptions,
    /// How to run the batches (`create` also decides what the dry run shows).
    pub run: RunOptions,
    /// Really archive; otherwise a dry run that changes nothing.
    pub execute: bool,
}

/// The options no plan can satisfy, refused before anything connects.
fn check(r: &Request) -> Result<(), ArchiveError> {
    let p = &r.plan;
    if p.strategy == Strategy::Delete && (p.to.is_some() || r.to_database.is_some()) {
        return Err(ArchiveError::Options(
            "--strategy delete keeps no archive, so --to and --to-database do not apply".into(),
        ));
    }
    if r.run.max_rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err(ArchiveError::Options(
            "--max-rate must be a positive number of rows per second".into(),
        ));
    }
    if p.older_than.is_zero() {
        return Err(ArchiveError::Options(
            "--older-than must be more than 0".into(),
        ));
    }
    Ok(())
}

/// Plan, then dry-run or execute. `say` receives the messages of a run in flight (the stop
/// after Ctrl-C), printed as they are.
pub async fn run(req: &Request, say: Notes<'_>) -> Result<Archived, Error> {
    check(req)?;
    let session = SessionOptions {
        read_only: !req.execute,
        ..req.session.clone()
    };
    let source = ConnParams::from_env(req.database_url.as_deref())?;
    let archive_server = req
        .to_database
        .as_deref()
        .map(|u| ConnParams::from_env(Some(u)))
        .transpose()?;
    let src = pg::connect(&source, &session).await?;
    let dst = match &archive_server {
        Some(p) => Some(pg::connect(p, &session).await?),
        None => None,
    };
    let popts = PlanOptions {
        cross_database: dst.is_some(),
        ..req.plan.clone()
    };
    let plan = archive::plan::build(&src, dst.as_ref(), &popts).await?;
    if plan.strategy.writes_archive() && !plan.archive_exists && req.execute && !req.run.create {
        return Err(ArchiveError::NoArchive(plan.archive.clone().unwrap_or_default()).into());
    }
    if !req.execute {
        let rows_in_scope = sql::count(&src, &plan).await?;
        let sql = statements(&plan, req.run.create);
        return Ok(Archived::DryRun(DryRun {
            plan,
            rows_in_scope,
            sql,
        }));
    }
    let stop = AtomicBool::new(false);
    let pb = report::progress(0, &format!("{} {}", plan.strategy.label(), plan.source));
    let progress = |done, total| {
        pb.set_length(total);
        pb.set_position(done);
    };
    let result = {
        let batches = archive::run::execute(&src, dst.as_ref(), &plan, &req.run, &stop, &progress);
        tokio::pin!(batches);
        // The first Ctrl-C (or SIGTERM) asks the run to stop after the batch in flight.
        tokio::select! {
            r = &mut batches => r,
            () = wait_for_signal() => {
                say("stopping after the current batch…");
                stop.store(true, Ordering::Relaxed);
                batches.await
            }
        }
    };
    pb.finish_and_clear();
    let stats = result.map_err(Error::RunStopped)?;
    Ok(Archived::Executed(Executed { plan, stats }))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let term_fut = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term_fut => {}
    }
}

/// The statements a run sends, for the dry run.
fn statements(p: &Plan, create: bool) -> Vec<String> {
    let mut out = Vec::new();
    if p.strategy.writes_archive() && !p.archive_exists {
        out.push(if create {
            sql::create_archive(p)
        } else {
            format!(
                "-- the archive {} does not exist; --create would run:\n{}",
                p.archive.as_deref().unwrap_or_default(),
                sql::create_archive(p)
            )
        });
    }
    for part in &p.old_partitions {
        out.push(format!(
            "-- partition {} holds only rows older than the cutoff; --detach-partitions runs:\n{}",
            part.name, part.detach_sql
        ));
    }
    if p.cross_database {
        out.push(format!(
            "-- source, per batch (BEGIN ... COMMIT around the three steps when moving):\n{}",
            sql::fetch(p, true)
        ));
        out.push(format!(
            "-- archive database, committed first:\n{}",
            sql::remote_insert(p)
        ));
        if p.strategy == Strategy::Move {
            out.push(format!(
                "-- source, then COMMIT:\n{}",
                sql::remote_delete(p)
            ));
        }
    } else {
        out.push(format!(
            "-- per batch, one statement each ($1 cutoff, then the highest key at start, the batch size, the last key done):\n{}",
            sql::batch(p, true)
        ));
    }
    out
}

/// `archive bench`: start a throwaway server, load the demo and measure; `say` receives the
/// progress messages.
pub async fn bench(
    o: &archive::bench::BenchOptions,
    say: Notes<'_>,
) -> Result<archive::bench::BenchResult, Error> {
    Ok(archive::bench::run(o, &|m: String| say(&m)).await?)
}
