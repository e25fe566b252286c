//! `dbopt nplusone`: N+1 loops in pg_stat_statements, with the rewrite that removes each.
//!
//! The detection is `crate::workload::nplusone`; this is only connection, thresholds from
//! `dbopt.toml` and output.

use clap::Args;

use super::args::fail_status;
use super::{ExitStatus, Globals};
use crate::findings::Severity;
use crate::report::nplusone::{LoopReport, NplusoneReport};
use crate::report::{self, Format};
use crate::rules::n_plus_one::{self, Params};
use crate::workload::nplusone::{detect_activity, detect_log, detect_pgss};

#[derive(Debug, Args)]
pub struct NplusoneArgs {
    /// Also sample pg_stat_activity for this many seconds while the application runs, and
    /// report the loops seen in sessions (a weaker signal, labelled as such).
    #[arg(long, value_name = "SECONDS")]
    pub sample: Option<f64>,
    /// Time between two pg_stat_activity samples, with --sample.
    #[arg(long, value_name = "MS", default_value_t = 10, requires = "sample")]
    pub sample_interval_ms: u64,
    /// Find loops in PostgreSQL log files (log_min_duration_statement = 0; csvlog/jsonlog, or
    /// stderr with %c or %p and %m in log_line_prefix); repeatable. Without a server to connect
    /// to (--database-url, DATABASE_URL, PGHOST/PGDATABASE), only the logs are read.
    #[arg(long, value_name = "FILE")]
    pub log: Vec<std::path::PathBuf>,
    /// Format of the --log files.
    #[arg(long, value_enum, default_value_t = crate::workload::log::LogFormat::Stderr)]
    pub log_format: crate::workload::log::LogFormat,
    /// log_line_prefix of stderr logs (SHOW log_line_prefix).
    #[arg(long, default_value = crate::workload::log::DEFAULT_PREFIX, value_name = "PREFIX")]
    pub log_line_prefix: String,
    /// Exit 1 when a loop reaches this severity.
    #[arg(long, value_enum)]
    pub fail_on: Option<Severity>,
}

pub async fn run(g: &Globals, a: &NplusoneArgs) -> anyhow::Result<ExitStatus> {
    // Thresholds: `[rules.n-plus-one]` of the global `--config` file (or ./dbopt.toml).
    let p = Params::load(g.config()?)?;
    let sample = match a.sample {
        Some(s) if !(s > 0.0 && s <= 3600.0) => anyhow::bail!(
            "invalid --sample {s}; hint: give the seconds to sample pg_stat_activity, between 0 and 3600"
        ),
        Some(s) => Some(std::time::Duration::from_secs_f64(s)),
        None => None,
    };
    let mut events = Vec::new();
    for path in &a.log {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read {}: {e}; hint: give the path of a PostgreSQL log file",
                path.display()
            )
        })?;
        let ev = crate::workload::log::events(&text, a.log_format, &a.log_line_prefix)?;
        anyhow::ensure!(
            !ev.is_empty(),
            "no timed statements with a session and time in {} (format {}); hint: log with log_min_duration_statement = 0, and for stderr logs give --log-line-prefix with %m and %c (or %p)",
            path.display(),
            a.log_format.name()
        );
        events.extend(ev);
    }
    let has_server = g.connect.database_url.is_some()
        || ["PGHOST", "PGDATABASE", "PGPORT"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
    if !a.log.is_empty() && !has_server {
        let loops: Vec<LoopReport> = detect_log(&events, None, &p.log())
            .into_iter()
            .map(|n| LoopReport {
                finding: n_plus_one::finding(&n, &p),
                detail: n,
            })
            .collect();
        return finish(g, a, NplusoneReport { loops, notes: vec!["read from logs only (no server given): loops are linked by their statements, not by foreign keys".into()] });
    }
    let conn = g.connect.open(true).await?;
    let catalog = crate::pg::catalog::load(&conn).await?;
    let sampled = match sample {
        Some(total) => Some(
            crate::pg::activity::sample_events(
                &conn,
                total,
                std::time::Duration::from_millis(a.sample_interval_ms),
            )
            .await?,
        ),
        None => None,
    };
    let workload = crate::pg::pgss::read(&conn).await?;
    drop(conn);
    let mut notes = workload.notes.clone();
    if workload.statements.is_empty() {
        notes.push("pg_stat_statements holds no statements for this database yet; run the application for a while first".into());
    }
    let mut found = detect_pgss(&workload, &catalog, &p.pgss());
    if let Some(events) = &sampled {
        found.extend(detect_activity(events, &workload, &catalog, &p.log()));
    }
    if !events.is_empty() {
        found.extend(detect_log(&events, Some(&catalog), &p.log()));
    }
    let loops: Vec<LoopReport> = found
        .into_iter()
        .map(|n| LoopReport {
            finding: n_plus_one::finding(&n, &p),
            detail: n,
        })
        .collect();
    finish(g, a, NplusoneReport { loops, notes })
}

fn finish(g: &Globals, a: &NplusoneArgs, rep: NplusoneReport) -> anyhow::Result<ExitStatus> {
    if g.format != Format::Json {
        rep.notes.iter().for_each(|n| report::note(n));
    }
    report::print(g.format, &rep, |f| report::nplusone::render(&rep.loops, f))?;
    let worst = rep.loops.iter().map(|l| l.finding.severity).max();
    Ok(fail_status(a.fail_on, worst))
}
