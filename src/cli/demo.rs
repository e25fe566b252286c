//! `dbopt demo`: a throwaway Postgres with the demo database loaded and its workload replayed.
//! `advise --demo` reuses [`start`]. Flags, the spinner and the wait for Ctrl-C are here; the
//! steps are [`crate::commands::demo`], the output [`crate::report::demo`].

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{ExitStatus, Globals};
use crate::commands::demo::{self as cmd, Demo, Request};
use crate::pg::throwaway::{Throwaway, ThrowawayOptions};
use crate::report;

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

impl DemoArgs {
    /// The plain request of these flags.
    pub fn request(&self) -> Request {
        Request {
            scale: self.scale,
            seed: self.seed,
            rounds: self.rounds,
        }
    }
}

/// Start the throwaway server (behind a spinner), then build and load the demo database and
/// run the workload ([`crate::commands::demo::prepare`]).
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
    Ok(cmd::prepare(server, &args.request(), &|m| eprintln!("{m}")).await?)
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
    let rep = cmd::report(&demo).await?;
    // A reader that stops early (`dbopt demo --keep | head -3`) must not end a kept demo: the
    // server stays until Ctrl-C, and is then stopped in order.
    let _ = report::print(g.format, &rep, |f| report::demo::render(&rep, f));
    if cmd.keep {
        eprintln!("The server keeps running until Ctrl-C (or SIGTERM); its data is deleted then.");
        if let Some(stop) = stop {
            stop.wait().await;
        }
        eprintln!("stopping the throwaway server…");
    }
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
