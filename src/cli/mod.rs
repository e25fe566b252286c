//! The command line: clap types and dispatch. The only place (with `main`) that uses anyhow;
//! everything below returns typed errors whose hints reach the user through [`report_error`].

pub mod advise;
pub mod args;
pub mod demo;
pub mod doctor;
pub mod migrations;
pub mod nplusone;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::pg::PgError;
use crate::report::Format;
pub use args::ConnectArgs;

/// Exit codes: 0 ok, 1 findings at or above `--fail-on`, 2 error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Ok,
    Findings,
    Error,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(match s {
            ExitStatus::Ok => 0,
            ExitStatus::Findings => 1,
            ExitStatus::Error => 2,
        })
    }
}

/// dbopt keeps PostgreSQL fast: index advice for the whole workload, safe EXPLAIN ANALYZE,
/// index migrations, inspection, archival and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "dbopt", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    #[command(subcommand)]
    pub command: Command,
}

/// What every subcommand receives besides its own arguments.
#[derive(Debug, Clone)]
pub struct Globals {
    pub connect: ConnectArgs,
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Recommend a set of indexes for the whole workload, with evidence.
    Advise(advise::AdviseArgs),
    /// EXPLAIN (ANALYZE, BUFFERS) a statement safely and explain the plan.
    Explain(Pending),
    /// Top statements from pg_stat_statements.
    Queries(Pending),
    /// Table sizes, bloat, scans and vacuum state.
    Tables(Pending),
    /// Unused, duplicate and invalid indexes; foreign keys without an index.
    Indexes(Pending),
    /// Database, schema and relation sizes.
    Size(Pending),
    /// Connections by state against max_connections; idle-in-transaction; locks.
    Connections(Pending),
    /// VACUUM (ANALYZE) tables, with progress.
    Vacuum(Pending),
    /// Move, copy or delete old rows in small batches, crash-safe.
    Archive(Pending),
    /// Pool-saturation ramps and latency-regression runs.
    Bench(Pending),
    /// Check that the server has what dbopt needs, with the fix for each missing piece.
    Doctor(doctor::DoctorArgs),
    /// Start a throwaway PostgreSQL with the demo database and workload.
    Demo(demo::DemoCmd),
    /// Write index migrations for your migration tool from a saved advise report.
    Migrations(migrations::MigrationsArgs),
    /// N+1 loops in pg_stat_statements (a lookup run once per row of a parent), with the rewrite.
    Nplusone(nplusone::NplusoneArgs),
}

/// Arguments of a command that a later version fills in.
#[derive(Debug, clap::Args)]
pub struct Pending {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

fn pending(name: &str) -> anyhow::Result<ExitStatus> {
    anyhow::bail!("`dbopt {name}` is not yet implemented in this version; hint: run `dbopt --help` for the commands available")
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let g = Globals {
        connect: cli.connect,
        format: cli.format,
    };
    match &cli.command {
        Command::Doctor(a) => doctor::run(&g, a).await,
        Command::Demo(a) => demo::run(&g, a).await,
        Command::Advise(a) => advise::run(&g, a).await,
        Command::Migrations(a) => migrations::run(&g, a).await,
        Command::Nplusone(a) => nplusone::run(&g, a).await,
        Command::Explain(_) => pending("explain"),
        Command::Queries(_) => pending("queries"),
        Command::Tables(_) => pending("tables"),
        Command::Indexes(_) => pending("indexes"),
        Command::Size(_) => pending("size"),
        Command::Connections(_) => pending("connections"),
        Command::Vacuum(_) => pending("vacuum"),
        Command::Archive(_) => pending("archive"),
        Command::Bench(_) => pending("bench"),
    }
}

/// Print an error as one line, `error: what; hint: how to fix it`, and pick the exit code.
/// A broken pipe (`dbopt ... | head`) is not an error.
pub fn report_error(err: &anyhow::Error) -> ExitStatus {
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitStatus::Ok;
            }
        }
    }
    let hint = err
        .chain()
        .find_map(|c| c.downcast_ref::<PgError>())
        .and_then(PgError::hint);
    let msg = err.chain().map(ToString::to_string).collect::<Vec<_>>();
    // anyhow contexts repeat their source's text sometimes; keep each part once.
    let mut line = String::new();
    for part in msg {
        if !line.contains(&part) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&part);
        }
    }
    match hint {
        Some(h) if !line.contains("hint:") => eprintln!("error: {line}; hint: {h}"),
        _ => eprintln!("error: {line}"),
    }
    ExitStatus::Error
}
