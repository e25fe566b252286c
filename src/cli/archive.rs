//! `dbopt archive` and `dbopt bench archive`: flags in, [`crate::commands::archive`] does the
//! work, [`crate::report::archive`] prints it.

use std::time::Duration;

use clap::Args;

use super::args::parse_duration;
use super::{ExitStatus, Globals};
use crate::archive::{PlanOptions, RunOptions, Strategy};
use crate::commands::archive::{self as cmd, Archived};
use crate::report;

/// Move, copy or delete rows older than a cutoff, in keyset batches. Dry run unless --execute.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The source table (`events`, `app.events`, or a name that needs quoting like `Events 2024`).
    #[arg(long)]
    pub table: String,
    /// Rows older than this are archived ("365d", "12h", "90min"); the cutoff is fixed at start.
    #[arg(long, value_parser = parse_duration, value_name = "AGE")]
    pub older_than: Duration,
    /// The column holding the row's age (default: created_at, timestamp, ... or the only date/time
    /// column); spelled like --table (`Created At` exactly, `"Created At"`, or `created_at`).
    #[arg(long)]
    pub column: Option<String>,
    /// What to do with the rows.
    #[arg(long, value_enum, default_value_t = Strategy::Move)]
    pub strategy: Strategy,
    /// The archive table (default: <table>_archive).
    #[arg(long, value_name = "TABLE")]
    pub to: Option<String>,
    /// Put the archive in another database (a URL or conninfo); rows are committed there before
    /// they are deleted here.
    #[arg(long, value_name = "URL")]
    pub to_database: Option<String>,
    /// An extra filter: one boolean expression of the table's columns, literals, operators and a
    /// few functions (now(), date_trunc(), lower(), ...); subqueries and other functions are refused.
    #[arg(long = "where", value_name = "EXPR")]
    pub filter: Option<String>,
    /// Rows per batch to start with (adapted to --target-batch-time unless --fixed-batch-size).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub batch_size: i64,
    /// Keep --batch-size for every batch.
    #[arg(long)]
    pub fixed_batch_size: bool,
    /// The duration each batch aims for, so locks stay short.
    #[arg(long, default_value = "200ms", value_parser = parse_duration, value_name = "DURATION")]
    pub target_batch_time: Duration,
    /// Pause between batches, in milliseconds.
    #[arg(long, value_name = "MS", conflicts_with = "max_rate")]
    pub sleep: Option<u64>,
    /// Rows per second at most.
    #[arg(long, value_name = "ROWS_PER_S")]
    pub max_rate: Option<f64>,
    /// Pause while a replica's replay lag is above this, or unknown ("5s").
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub max_replica_lag: Option<Duration>,
    /// Stop (after the current batch) when the run has taken this long ("30m").
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub max_runtime: Option<Duration>,
    /// Print the plan, the SQL and the row count, change nothing (the default).
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
    /// Really archive.
    #[arg(long)]
    pub execute: bool,
    /// Create the archive table if missing (LIKE the source INCLUDING ALL).
    #[arg(long)]
    pub create: bool,
    /// With --create: partition the new archive by month of the age column (the run adds the
    /// month partitions it needs).
    #[arg(long)]
    pub archive_by_month: bool,
    /// Check the keys in scope before and after: each archived key exactly once, in one place.
    #[arg(long)]
    pub verify: bool,
    /// VACUUM (ANALYZE) the source (and ANALYZE the archive) afterwards.
    #[arg(long)]
    pub vacuum: bool,
    /// Detach (not drop) partitions that hold only rows older than the cutoff, instead of
    /// deleting their rows one by one.
    #[arg(long)]
    pub detach_partitions: bool,
}

#[derive(Debug, Args)]
pub struct ArchiveBenchArgs {
    /// Demo data scale (1 = 2M events).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Batch sizes to measure (fixed, not adapted).
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,20000")]
    pub batch_sizes: Vec<i64>,
    /// Strategies to measure.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "move,copy,delete"
    )]
    pub strategies: Vec<Strategy>,
    /// The cutoff of every run.
    #[arg(long, default_value = "365d", value_parser = parse_duration)]
    pub older_than: Duration,
    /// Seconds of idle (no archival) latency sampling for the baseline.
    #[arg(long, default_value_t = 5)]
    pub idle_seconds: u64,
    /// Seed of the demo data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Measurements per case (medians are reported; shared machines are noisy).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=50))]
    pub repeat: u64,
}

/// The plain request of these flags.
fn request(g: &Globals, a: &ArchiveArgs) -> cmd::Request {
    let execute = a.execute && !a.dry_run;
    cmd::Request {
        database_url: g.connect.database_url.clone(),
        to_database: a.to_database.clone(),
        session: g.connect.session(!execute),
        plan: PlanOptions {
            table: a.table.clone(),
            older_than: a.older_than,
            column: a.column.clone(),
            strategy: a.strategy,
            to: a.to.clone(),
            cross_database: a.to_database.is_some(),
            filter: a.filter.clone(),
            archive_by_month: a.archive_by_month,
        },
        run: RunOptions {
            batch_size: a.batch_size,
            adapt: !a.fixed_batch_size,
            target_batch: a.target_batch_time,
            sleep: Duration::from_millis(a.sleep.unwrap_or(0)),
            max_rate: a.max_rate,
            max_replica_lag: a.max_replica_lag,
            max_runtime: a.max_runtime,
            create: a.create,
            verify: a.verify,
            vacuum: a.vacuum,
            detach_partitions: a.detach_partitions,
        },
        execute,
    }
}

pub async fn run(g: &Globals, a: &ArchiveArgs) -> anyhow::Result<ExitStatus> {
    let req = request(g, a);
    let done = cmd::run(&req, &|m| eprintln!("{m}")).await?;
    report::archive::print(g.format, &done)?;
    Ok(match &done {
        Archived::Executed(e) => match &e.stats.verify {
            Some(v) if !v.ok => ExitStatus::Findings,
            _ if e.stats.stopped.as_deref() == Some("interrupted") => ExitStatus::Interrupted,
            _ => ExitStatus::Ok,
        },
        Archived::DryRun(_) => ExitStatus::Ok,
    })
}

/// `dbopt bench archive`.
pub async fn run_bench(g: &Globals, a: &ArchiveBenchArgs) -> anyhow::Result<ExitStatus> {
    let opts = crate::archive::bench::BenchOptions {
        scale: a.scale,
        batch_sizes: a.batch_sizes.clone(),
        strategies: a.strategies.clone(),
        older_than: a.older_than,
        idle: Duration::from_secs(a.idle_seconds),
        seed: a.seed,
        repeat: usize::try_from(a.repeat).unwrap_or(1),
    };
    let res = cmd::bench(&opts, &|m| eprintln!("{m}")).await?;
    report::print(g.format, &res, |f| report::archive::bench(f, &res))?;
    Ok(ExitStatus::Ok)
}
