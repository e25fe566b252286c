//! `demo` (and `advise --demo`): on a started throwaway server, create the demo database,
//! load it and replay its workload ([`prepare`]); then say what was done ([`report`]).
//!
//! Why here and not in `cli`: the steps are the same for `dbopt demo`, `advise --demo` and the
//! tests; the command line only starts the server (behind a spinner), prints, and waits for
//! Ctrl-C when asked to keep it.

use super::{Error, Notes};
use crate::bench::demo::{self, DemoOptions, LoadStats};
use crate::bench::demo_workload::{self, WorkloadOptions, WorkloadStats};
use crate::pg::throwaway::Throwaway;
use crate::pg::{self, ConnParams};
use crate::report::demo::DemoReport;

/// How big the demo is.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// 1 = 5k agents, 200k leads, 400k assignments, 2M events.
    pub scale: f64,
    /// Seed of the data and workload generators.
    pub seed: u64,
    /// Rounds of the application workload.
    pub rounds: u32,
}

/// A running demo: the server (dropped = removed), where to connect, and what was done.
pub struct Demo {
    pub server: Throwaway,
    /// "Now" of the generated data (the workload's time parameters derive from it).
    pub anchor: chrono::DateTime<chrono::Utc>,
    pub params: ConnParams,
    pub load: LoadStats,
    pub workload: WorkloadStats,
}

/// Build and load the demo database on `server` and run the workload, with progress bars;
/// `say` gets a line after each step (the caller prints it as it is).
pub async fn prepare(server: Throwaway, req: &Request, say: Notes<'_>) -> Result<Demo, Error> {
    say(&format!(
        "started {} on port {} in {}",
        server.version(),
        server.port(),
        demo::human(server.startup_time())
    ));
    let params = demo::create_database(&server).await?;
    let dopts = DemoOptions {
        scale: req.scale,
        seed: req.seed,
        ..Default::default()
    };
    let total: u64 = demo::sizes(req.scale).iter().map(|x| x.1).sum();
    let pb = crate::report::progress(total, "loading demo data");
    let load = demo::load(&params, &dopts, &|n, _| pb.set_position(n)).await?;
    pb.finish_and_clear();
    say(&format!(
        "loaded {} rows in {:.1} s",
        load.rows, load.seconds
    ));
    let wopts = WorkloadOptions {
        rounds: req.rounds,
        sessions: 4,
        seed: req.seed,
        scale: req.scale,
        anchor: dopts.anchor,
    };
    let pb = crate::report::progress(u64::from(req.rounds), "running the workload");
    let workload = demo_workload::run(&params, &wopts, &|n, _| pb.set_position(n)).await?;
    pb.finish_and_clear();
    say(&format!(
        "ran {} statements of the demo workload in {:.1} s",
        workload.statements, workload.seconds
    ));
    Ok(Demo {
        server,
        anchor: dopts.anchor,
        params,
        load,
        workload,
    })
}

/// Where to connect, what was loaded and how many statements pg_stat_statements holds.
pub async fn report(d: &Demo) -> Result<DemoReport, Error> {
    let c = pg::connect(&d.params, &pg::SessionOptions::default()).await?;
    let entries = pg::pgss::database_entries(&c).await?;
    Ok(DemoReport {
        url: d.server.url(demo::DEMO_DB),
        server_version: d.server.version().to_string(),
        startup_seconds: d.server.startup_time().as_secs_f64(),
        hypopg: d.server.has_hypopg(),
        load: d.load.clone(),
        workload: d.workload.clone(),
        pg_stat_statements_entries: entries,
    })
}
