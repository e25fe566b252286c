//! `dbopt migrations`: turn a saved (and reviewed) advise report into migration files for the
//! team's tool, and with `--apply` build the indexes on the connected database. Flags in,
//! [`crate::commands::migrations`] writes and builds, `report` prints.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::args::parse_pg_timeout;
use super::{ExitStatus, Globals};
use crate::commands::migrations as cmd;
use crate::emit::MigrationFormat;
use crate::pg::SessionOptions;
use crate::report;
use crate::report::migrations::{self, MigrationsReport};

#[derive(Debug, Args)]
pub struct MigrationsArgs {
    /// The JSON written by `dbopt advise --format json`.
    #[arg(long, value_name = "REPORT.json")]
    pub from_report: PathBuf,

    /// Directory to write the migrations into (created if missing; existing files are never
    /// overwritten, versions continue after the last migration there).
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "apply",
        requires = "migration_format"
    )]
    pub dir: Option<PathBuf>,

    /// The migration tool to write for.
    #[arg(long, value_enum, value_name = "F", requires = "dir")]
    pub migration_format: Option<MigrationFormat>,

    /// Only these indexes (their names in the report); repeat or separate with commas.
    #[arg(long, value_name = "NAME", value_delimiter = ',', num_args = 1..)]
    pub only: Vec<String>,

    /// Build the indexes on the connected database now, one statement at a time, then check
    /// each is valid and used by one of its statements.
    #[arg(long)]
    pub apply: bool,

    /// lock_timeout for each statement `--apply` runs.
    #[arg(long, default_value = "5s", value_parser = parse_pg_timeout, value_name = "DURATION")]
    pub lock_timeout: Duration,
}

pub async fn run(g: &Globals, a: &MigrationsArgs) -> anyhow::Result<ExitStatus> {
    let req = cmd::Request {
        from_report: a.from_report.clone(),
        write: a.dir.clone().zip(a.migration_format),
        only: a.only.clone(),
        apply: match a.apply {
            true => Some(
                g.connect
                    .live_with(SessionOptions::unrestricted().quiet())?,
            ),
            false => None,
        },
        lock_timeout: a.lock_timeout,
    };
    let Some(r) = cmd::run(&req).await? else {
        // Nothing to do is a fine outcome for a pipeline (advise, then migrations).
        let r = MigrationsReport::default();
        report::print(g.format, &r, |_| migrations::NOTHING.to_string())?;
        return Ok(ExitStatus::Ok);
    };
    report::print(g.format, &r, |f| migrations::render(&r, f))?;
    Ok(if r.has_problem() {
        ExitStatus::Findings
    } else {
        ExitStatus::Ok
    })
}
