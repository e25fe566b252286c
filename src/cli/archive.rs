//! `dbopt archive` and `dbopt bench archive`: flags, sessions, signals and rendering. The work
//! itself is in [`crate::archive`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::args::parse_duration;
use super::{ExitStatus, Globals};
use crate::archive::{self, sql, ArchiveError, Plan, PlanOptions, RunOptions, Stats, Strategy};
use crate::pg::{self, ConnParams};
use crate::report::{self, Format};

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

fn check_args(a: &ArchiveArgs) -> Result<(), ArchiveError> {
    if a.strategy == Strategy::Delete && (a.to.is_some() || a.to_database.is_some()) {
        return Err(ArchiveError::Options(
            "--strategy delete keeps no archive, so --to and --to-database do not apply".into(),
        ));
    }
    if a.max_rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err(ArchiveError::Options(
            "--max-rate must be a positive number of rows per second".into(),
        ));
    }
    if a.older_than.is_zero() {
        return Err(ArchiveError::Options(
            "--older-than must be more than 0".into(),
        ));
    }
    Ok(())
}

#[derive(Serialize)]
struct DryRun<'a> {
    mode: &'static str,
    plan: &'a Plan,
    rows_in_scope: i64,
    sql: Vec<String>,
}

#[derive(Serialize)]
struct Executed<'a> {
    mode: &'static str,
    strategy: Strategy,
    source: &'a str,
    archive: Option<&'a str>,
    cutoff: &'a str,
    stats: &'a Stats,
}

/// The statements a run sends, for `--dry-run`.
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

pub async fn run(g: &Globals, a: &ArchiveArgs) -> anyhow::Result<ExitStatus> {
    check_args(a)?;
    let execute = a.execute && !a.dry_run;
    let params = g.connect.params()?;
    let dst_params = a
        .to_database
        .as_deref()
        .map(|u| ConnParams::from_env(Some(u)))
        .transpose()?;
    let session = g.connect.session(!execute);
    let src = pg::connect(&params, &session).await?;
    let dst = match &dst_params {
        Some(p) => Some(pg::connect(p, &session).await?),
        None => None,
    };
    let popts = PlanOptions {
        table: a.table.clone(),
        older_than: a.older_than,
        column: a.column.clone(),
        strategy: a.strategy,
        to: a.to.clone(),
        cross_database: dst.is_some(),
        filter: a.filter.clone(),
        archive_by_month: a.archive_by_month,
    };
    let plan = archive::plan::build(&src, dst.as_ref(), &popts).await?;
    if plan.strategy.writes_archive() && !plan.archive_exists && execute && !a.create {
        return Err(anyhow::Error::from(ArchiveError::NoArchive(
            plan.archive.clone().unwrap_or_default(),
        )));
    }
    if !execute {
        let rows = sql::count(&src, &plan).await?;
        return render_dry_run(g.format, &plan, rows, a);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("stopping after the current batch…");
            stop.store(true, Ordering::Relaxed);
        })
    };
    let ropts = RunOptions {
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
    };
    let pb = report::progress(0, &format!("{} {}", plan.strategy.label(), plan.source));
    let result = archive::run::execute(&src, dst.as_ref(), &plan, &ropts, &stop, &|done, total| {
        pb.set_length(total);
        pb.set_position(done);
    })
    .await;
    pb.finish_and_clear();
    watcher.abort();
    let stats = result.map_err(|e| {
        anyhow::Error::from(e).context("the run stopped; every finished batch is committed and consistent, run the same command again to resume")
    })?;
    render_stats(g.format, &plan, &stats)?;
    Ok(match &stats.verify {
        Some(v) if !v.ok => ExitStatus::Findings,
        _ if stats.stopped.as_deref() == Some("interrupted") => ExitStatus::Interrupted,
        _ => ExitStatus::Ok,
    })
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

fn plan_rows(p: &Plan) -> Vec<(String, String)> {
    let mut rows = vec![
        ("strategy".into(), p.strategy.label().into()),
        ("source".into(), p.source.clone()),
        (
            "key".into(),
            p.key
                .iter()
                .map(|k| format!("{} ({})", k.name, k.type_name))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "cutoff".into(),
            format!("{} < {}", p.age_column.name, p.cutoff),
        ),
        (
            "highest key at start".into(),
            p.max_key
                .as_ref()
                .map_or("(table is empty)".into(), |k| k.join(", ")),
        ),
    ];
    if let Some(f) = &p.filter {
        rows.push(("where".into(), f.clone()));
    }
    if let Some(a) = &p.archive {
        let state = if p.archive_exists {
            "exists"
        } else {
            "to be created"
        };
        let place = if p.cross_database {
            ", other database"
        } else {
            ""
        };
        rows.push(("archive".into(), format!("{a} ({state}{place})")));
    }
    rows
}

fn render_dry_run(
    format: Format,
    p: &Plan,
    rows: i64,
    a: &ArchiveArgs,
) -> anyhow::Result<ExitStatus> {
    let stmts = statements(p, a.create);
    if format == Format::Json {
        report::print_json(&DryRun {
            mode: "dry-run",
            plan: p,
            rows_in_scope: rows,
            sql: stmts,
        })?;
        return Ok(ExitStatus::Ok);
    }
    let mut t = report::table(format, &["dry run", ""]);
    for (k, v) in plan_rows(p) {
        t.add_row(vec![k, v]);
    }
    t.add_row(vec![
        "rows it would touch now".to_string(),
        rows.to_string(),
    ]);
    crate::outln!("{t}")?;
    for s in stmts {
        crate::outln!("\n{s};")?;
    }
    crate::outln!("\nNothing was changed. Add --execute to run it.")?;
    Ok(ExitStatus::Ok)
}

fn render_stats(format: Format, p: &Plan, s: &Stats) -> anyhow::Result<()> {
    if format == Format::Json {
        report::print_json(&Executed {
            mode: "execute",
            strategy: p.strategy,
            source: &p.source,
            archive: p.archive.as_deref(),
            cutoff: &p.cutoff,
            stats: s,
        })
        .context("writing the report")?;
        return Ok(());
    }
    let mut t = report::table(format, &["statistic", "value"]);
    let mut add = |k: &str, v: String| {
        t.add_row(vec![k.to_string(), v]);
    };
    add("strategy", format!("{} {}", p.strategy.label(), p.source));
    if let Some(a) = p.archive.as_deref().filter(|_| p.strategy.writes_archive()) {
        add("archive", a.to_string());
    }
    add("rows in scope at start", s.rows_in_scope.to_string());
    add("rows selected", s.rows_selected.to_string());
    add("rows archived", s.rows_archived.to_string());
    add("rows deleted", s.rows_deleted.to_string());
    add("batches", s.batches.to_string());
    add(
        "batch size (min–max)",
        format!("{}–{}", s.batch_size_min, s.batch_size_max),
    );
    add("longest batch", format!("{:.0} ms", s.batch_ms_max));
    add("rows/s", format!("{:.0}", s.rows_per_second()));
    add("time counting", format!("{:.2} s", s.seconds_count));
    add("time in batches", format!("{:.2} s", s.seconds_batches));
    add("time throttled", format!("{:.2} s", s.seconds_throttled));
    if s.seconds_replica_wait > 0.0 {
        add(
            "time waiting for replicas",
            format!("{:.2} s", s.seconds_replica_wait),
        );
    }
    if s.seconds_verify > 0.0 {
        add("time verifying", format!("{:.2} s", s.seconds_verify));
    }
    if s.seconds_vacuum > 0.0 {
        add("time vacuuming", format!("{:.2} s", s.seconds_vacuum));
    }
    if s.archive_created {
        add("archive created", "yes".into());
    }
    if !s.detached_partitions.is_empty() {
        add("detached partitions", s.detached_partitions.join(", "));
    }
    if let Some(v) = &s.verify {
        add(
            "verify",
            format!("{}: {}", if v.ok { "ok" } else { "MISMATCH" }, v.detail),
        );
    }
    if let Some(why) = &s.stopped {
        add(
            "stopped",
            format!("{why}; run the same command again to continue"),
        );
    }
    for n in &s.notes {
        add("note", n.clone());
    }
    crate::outln!("{t}")?;
    Ok(())
}

/// `dbopt bench archive`.
pub async fn run_bench(g: &Globals, a: &ArchiveBenchArgs) -> anyhow::Result<ExitStatus> {
    let opts = archive::bench::BenchOptions {
        scale: a.scale,
        batch_sizes: a.batch_sizes.clone(),
        strategies: a.strategies.clone(),
        older_than: a.older_than,
        idle: Duration::from_secs(a.idle_seconds),
        seed: a.seed,
        repeat: usize::try_from(a.repeat).unwrap_or(1),
    };
    let res = archive::bench::run(&opts, &|msg| eprintln!("{msg}")).await?;
    if g.format == Format::Json {
        report::print_json(&res)?;
        return Ok(ExitStatus::Ok);
    }
    let mut t = report::table(
        g.format,
        &[
            "run",
            "batch",
            "rows",
            "rows/s",
            "vs single statement",
            "reader p99 ms",
            "writer p99 ms",
            "reader p99 vs idle",
            "writer p99 vs idle",
        ],
    );
    for r in &res.runs {
        t.add_row(vec![
            r.name.clone(),
            r.batch_size.map_or("all".into(), |b| b.to_string()),
            r.rows.to_string(),
            format!("{:.0}", r.rows_per_second),
            format!("{:.2}x", r.throughput_ratio),
            format!("{:.2}", r.reader_p99_ms),
            format!("{:.2}", r.writer_p99_ms),
            format!("{:.2}x", r.reader_p99_ratio),
            format!("{:.2}x", r.writer_p99_ratio),
        ]);
    }
    crate::outln!("{t}")?;
    crate::outln!(
        "idle (no archival): reader p99 {:.2} ms, writer p99 {:.2} ms; scale {} ({} events); medians of {} runs each.",
        res.idle_reader_p99_ms, res.idle_writer_p99_ms, res.scale, res.events, res.repeat
    )?;
    Ok(ExitStatus::Ok)
}
