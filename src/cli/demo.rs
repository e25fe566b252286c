//! `dbopt demo`: a throwaway Postgres with the demo database loaded and its workload replayed.
//! `advise --demo` (and the tests) reuse [`start`].

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::{ExitStatus, Globals};
use crate::bench::demo::{self, DemoOptions, LoadStats};
use crate::bench::demo_workload::{self, WorkloadOptions, WorkloadStats};
use crate::pg::throwaway::{Throwaway, ThrowawayOptions};
use crate::pg::{self, ConnParams, PgError};
use crate::report::{self, Format};

pub const DEMO_DB: &str = "dbopt_demo";

/// How big the demo is; shared by `demo` and `advise --demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Size of the demo data: 1 = 5k agents, 200k leads, 400k assignments, 2M events.
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    pub scale: f64,
    /// Seed of the data and workload generators (same seed, same data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Rounds of the application workload (about 60 statements each).
    #[arg(long, default_value_t = 20)]
    pub rounds: u32,
    /// Port for the throwaway server (default: a free one).
    #[arg(long)]
    pub port: Option<u16>,
}

fn parse_scale(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("invalid scale \"{s}\""))?;
    if !(0.0001..=100.0).contains(&v) {
        return Err("scale must be between 0.0001 and 100".into());
    }
    Ok(v)
}

#[derive(Debug, Args)]
pub struct DemoCmd {
    #[command(flatten)]
    pub demo: DemoArgs,
    /// Keep the server running until Ctrl-C, so other commands can be tried against it.
    #[arg(long)]
    pub keep: bool,
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

#[derive(Serialize)]
struct DemoReport<'a> {
    url: String,
    server_version: &'a str,
    startup_seconds: f64,
    hypopg: bool,
    load: &'a LoadStats,
    workload: &'a WorkloadStats,
    pg_stat_statements_entries: i64,
}

/// Start the throwaway server, build and load the demo database, run the workload.
pub async fn start(args: &DemoArgs) -> anyhow::Result<Demo> {
    let opts = ThrowawayOptions {
        port: args.port,
        ..Default::default()
    };
    let sp = spinner("starting a throwaway PostgreSQL");
    let server = tokio::task::spawn_blocking(move || Throwaway::start(&opts))
        .await
        .context("BUG: start-up task")??;
    sp.finish_and_clear();
    eprintln!(
        "started {} on port {} in {}",
        server.version(),
        server.port(),
        demo::human(server.startup_time())
    );
    let admin = pg::connect(
        &server.params("postgres"),
        &pg::SessionOptions::unrestricted(),
    )
    .await?;
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {}",
            crate::sql::quote_ident(DEMO_DB)
        ))
        .await
        .map_err(|e| PgError::query("creating the demo database", e))?;
    let params = server.params(DEMO_DB);
    let dopts = DemoOptions {
        scale: args.scale,
        seed: args.seed,
        ..Default::default()
    };
    let total: u64 = demo::sizes(args.scale).iter().map(|x| x.1).sum();
    let pb = report::progress(total, "loading demo data");
    let load = demo::load(&params, &dopts, &|n, _| pb.set_position(n)).await?;
    pb.finish_and_clear();
    eprintln!("loaded {} rows in {:.1} s", load.rows, load.seconds);
    let wopts = WorkloadOptions {
        rounds: args.rounds,
        sessions: 4,
        seed: args.seed,
        scale: args.scale,
        anchor: dopts.anchor,
    };
    let pb = report::progress(u64::from(args.rounds), "running the workload");
    let workload = demo_workload::run(&params, &wopts, &|n, _| pb.set_position(n)).await?;
    pb.finish_and_clear();
    eprintln!(
        "ran {} statements of the demo workload in {:.1} s",
        workload.statements, workload.seconds
    );
    Ok(Demo {
        server,
        anchor: dopts.anchor,
        params,
        load,
        workload,
    })
}

fn spinner(msg: &str) -> indicatif::ProgressBar {
    let sp = if report::stderr_is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    sp.set_message(msg.to_string());
    sp.enable_steady_tick(Duration::from_millis(100));
    sp
}

pub async fn run(g: &Globals, cmd: &DemoCmd) -> anyhow::Result<ExitStatus> {
    let stop = cmd.keep.then(StopSignals::install);
    let demo = start(&cmd.demo).await?;
    let c = pg::connect(&demo.params, &pg::SessionOptions::default()).await?;
    let entries: i64 = c
        .query_one("SELECT count(*) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())", &[])
        .await
        .map_err(|e| PgError::query("counting pg_stat_statements entries", e))?
        .get(0);
    let url = demo.server.url(DEMO_DB);
    let rep = DemoReport {
        url: url.clone(),
        server_version: demo.server.version(),
        startup_seconds: demo.server.startup_time().as_secs_f64(),
        hypopg: demo.server.has_hypopg(),
        load: &demo.load,
        workload: &demo.workload,
        pg_stat_statements_entries: entries,
    };
    let text = if g.format == Format::Json {
        format!("{}\n", serde_json::to_string_pretty(&rep)?)
    } else {
        let mut t = report::table(g.format, &["table", "rows"]);
        for (name, rows) in &demo.load.tables {
            t.add_row(vec![name.clone(), rows.to_string()]);
        }
        format!(
            "{t}\npg_stat_statements holds {entries} statements from the workload.\n\
             Connect with:\n  export DATABASE_URL='{url}'\n  \
             psql \"$DATABASE_URL\" -c 'SELECT calls, query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 5'\n"
        )
    };
    // A reader that stops early (`dbopt demo --keep | head -3`) must not end a kept demo: the
    // server stays until Ctrl-C, and is then stopped in order.
    let _ = crate::report::print_text(&text);
    if cmd.keep {
        eprintln!("The server keeps running until Ctrl-C (or SIGTERM); its data is deleted then.");
        if let Some(stop) = stop {
            stop.wait().await;
        }
        eprintln!("stopping the throwaway server…");
    }
    drop(c);
    tokio::task::spawn_blocking(move || demo.server.stop())
        .await
        .ok();
    Ok(ExitStatus::Ok)
}

/// SIGINT/SIGTERM listeners, installed before the URL is printed: a signal that arrives
/// between printing and waiting must not kill dbopt before it shuts the server down in order.
struct StopSignals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        StopSignals {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    async fn wait(mut self) {
        async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = recv(self.int.as_mut()) => {}
            () = recv(self.term.as_mut()) => {}
        }
    }
}
