//! `dbopt nplusone`: N+1 loops in pg_stat_statements, with the rewrite that removes each.
//!
//! Flags in, [`crate::commands::nplusone`] reads and detects, `report` prints.

use std::time::Duration;

use clap::Args;

use super::args::fail_status;
use super::{ExitStatus, Globals};
use crate::commands::nplusone as cmd;
use crate::findings::Severity;
use crate::report::{self, Format};
use crate::rules::n_plus_one::Params;

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
        Some(s) => Some((
            Duration::from_secs_f64(s),
            Duration::from_millis(a.sample_interval_ms),
        )),
        None => None,
    };
    let has_server = g.connect.database_url.is_some()
        || ["PGHOST", "PGDATABASE", "PGPORT"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
    let req = cmd::Request {
        server: match a.log.is_empty() || has_server {
            true => Some(g.connect.live(true)?),
            false => None,
        },
        sample,
        logs: a.log.clone(),
        log_format: a.log_format,
        log_line_prefix: a.log_line_prefix.clone(),
    };
    let rep = cmd::run(&req, &p).await?;
    if g.format != Format::Json {
        rep.notes.iter().for_each(|n| report::note(n));
    }
    report::print(g.format, &rep, |f| report::nplusone::render(&rep.loops, f))?;
    let worst = rep.loops.iter().map(|l| l.finding.severity).max();
    Ok(fail_status(a.fail_on, worst))
}
