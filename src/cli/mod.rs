//! The command line: clap types and dispatch. The only place (with `main`) that uses anyhow;
//! everything below returns typed errors whose hints reach the user through [`report_error`].

pub mod advise;
pub mod archive;
pub mod args;
pub mod bench;
pub mod bench_advise;
pub mod check;
pub mod demo;
pub mod doctor;
pub mod explain;
pub mod inspect;
pub mod migrations;
pub mod nplusone;
pub mod rules;
pub mod snapshot;
pub mod source;
pub mod vacuum;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::report::Format;
pub use args::ConnectArgs;

/// Exit codes: 0 ok, 1 findings at or above `--fail-on`, 2 error, 130 stopped by Ctrl-C
/// (SIGINT) or SIGTERM after finishing cleanly, as shells report a command Ctrl-C ended, so
/// a script never mistakes an interrupted run for a finished one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Ok,
    Findings,
    Error,
    Interrupted,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(match s {
            ExitStatus::Ok => 0,
            ExitStatus::Findings => 1,
            ExitStatus::Error => 2,
            ExitStatus::Interrupted => 130,
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

    /// Rule settings file (default: ./dbopt.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// What every subcommand receives besides its own arguments.
#[derive(Debug, Clone)]
pub struct Globals {
    pub connect: ConnectArgs,
    pub format: Format,
    pub config: Option<std::path::PathBuf>,
    /// The rule settings, read on first use (a command that uses no rule never reads them).
    rules: std::sync::OnceLock<crate::rules::Config>,
}

impl Globals {
    pub fn new(connect: ConnectArgs, format: Format, config: Option<std::path::PathBuf>) -> Self {
        Globals {
            connect,
            format,
            config,
            rules: std::sync::OnceLock::new(),
        }
    }

    /// The rule settings of `--config FILE`, else `./dbopt.toml` when present: the one place
    /// every command reads them from.
    pub fn config(&self) -> Result<&crate::rules::Config, crate::rules::RuleError> {
        if let Some(c) = self.rules.get() {
            return Ok(c);
        }
        let loaded = crate::rules::Config::load(self.config.as_deref())?;
        Ok(self.rules.get_or_init(|| loaded))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Recommend a set of indexes for the whole workload, with evidence.
    Advise(advise::AdviseArgs),
    /// Every health and inspection check in one read-only pass, most severe first.
    Check(check::CheckArgs),
    /// EXPLAIN (ANALYZE, BUFFERS) a statement safely and explain the plan.
    Explain(explain::ExplainArgs),
    /// Top statements (pg_stat_statements, logs, SQL files, activity samples).
    Queries(inspect::QueriesArgs),
    /// Table sizes, bloat, scans and vacuum state.
    Tables(inspect::TablesArgs),
    /// Unused, duplicate and invalid indexes; foreign keys without an index.
    Indexes(inspect::IndexesArgs),
    /// Database, schema and relation sizes.
    Size(inspect::SizeArgs),
    /// Connections by state against max_connections; idle-in-transaction; locks.
    Connections(inspect::ConnectionsArgs),
    /// VACUUM (ANALYZE) tables, with progress.
    Vacuum(vacuum::VacuumArgs),
    /// Write catalog, statistics and workload to one JSON file for offline analysis.
    Snapshot(snapshot::SnapshotArgs),
    /// Move, copy or delete old rows in small batches, crash-safe.
    Archive(archive::ArchiveArgs),
    /// Pool-saturation ramps and latency-regression runs.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Check that the server has what dbopt needs, with the fix for each missing piece.
    Doctor(doctor::DoctorArgs),
    /// Start a throwaway PostgreSQL with the demo database and workload.
    Demo(demo::DemoCmd),
    /// Write index migrations for your migration tool from a saved advise report.
    Migrations(migrations::MigrationsArgs),
    /// N+1 loops in pg_stat_statements (a lookup run once per row of a parent), with the rewrite.
    Nplusone(nplusone::NplusoneArgs),
    /// Every detection rule with its thresholds, or one rule's docs and dbopt.toml settings.
    Rules(rules::RulesArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    if cli.format == Format::Html
        && !matches!(
            cli.command,
            Command::Advise(_) | Command::Check(_) | Command::Bench(bench::BenchCmd::Pool(_))
        )
    {
        return Err(crate::hint::UserError::new(
            "--format html is not available for this command",
            "the HTML report is for `dbopt advise`, `dbopt check` and `dbopt bench pool`; here use --format table, json or markdown",
        )
        .into());
    }
    let g = Globals::new(cli.connect, cli.format, cli.config);
    match &cli.command {
        Command::Doctor(a) => doctor::run(&g, a).await,
        Command::Demo(a) => demo::run(&g, a).await,
        Command::Advise(a) => advise::run(&g, a).await,
        Command::Check(a) => check::run(&g, a).await,
        Command::Rules(a) => rules::run(&g, a).await,
        Command::Migrations(a) => migrations::run(&g, a).await,
        Command::Nplusone(a) => nplusone::run(&g, a).await,
        Command::Explain(a) => explain::run(&g, a).await,
        Command::Queries(a) => inspect::queries(&g, a).await,
        Command::Tables(a) => inspect::tables(&g, a).await,
        Command::Indexes(a) => inspect::indexes(&g, a).await,
        Command::Size(a) => inspect::size(&g, a).await,
        Command::Connections(a) => inspect::connections(&g, a).await,
        Command::Vacuum(a) => vacuum::run(&g, a).await,
        Command::Snapshot(a) => snapshot::run(&g, a).await,
        Command::Archive(a) => archive::run(&g, a).await,
        Command::Bench(a) => bench::run(&g, a).await,
    }
}

/// A flag value clap refused (it does not parse, or is out of range) as the one line every
/// dbopt error is: clap's `error: invalid value ...` line, then its notes (possible values, a
/// similar value) as the hint. Other usage errors are left to clap's own rendering (`None`).
pub fn clap_value_error(e: &clap::Error) -> Option<String> {
    use clap::error::ErrorKind;
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let text = e.render().to_string();
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"));
    let first = lines.next()?.to_string();
    if first.contains("hint:") {
        return Some(first);
    }
    let notes: Vec<&str> = lines
        .map(|l| l.trim_start_matches('[').trim_end_matches(']'))
        .map(|l| l.strip_prefix("tip: ").unwrap_or(l))
        .collect();
    let hint = if notes.is_empty() {
        "see --help for the values this flag takes".to_string()
    } else {
        notes.join("; ")
    };
    Some(format!("{first}; hint: {hint}"))
}

/// The role dbopt connects as for these flags and environment, for hints that name it.
pub fn role_of(cli: &Cli) -> Option<String> {
    cli.connect.params().ok().map(|p| p.user().to_string())
}

/// Print an error as one line, `error: what; hint: how to fix it`, and pick the exit code.
/// A broken pipe (`dbopt ... | head`) is not an error. `role`: see [`role_of`].
pub fn report_error(err: &anyhow::Error, role: Option<&str>) -> ExitStatus {
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitStatus::Ok;
            }
        }
    }
    let answers: Vec<_> = err
        .chain()
        .filter_map(crate::commands::hint_of)
        .map(|h| (h.hint(role), h.detail()))
        .collect();
    let hint = answers.iter().find_map(|(h, _)| h.clone());
    let detail = answers.iter().find_map(|(_, d)| d.clone());
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
    if let Some(d) = detail {
        eprintln!("{d}");
    }
    ExitStatus::Error
}
