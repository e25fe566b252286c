//! `dbopt migrations`: turn a saved (and reviewed) advise report into migration files for the
//! team's tool, and with `--apply` build the indexes on the connected database.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::args::parse_pg_timeout;
use super::{ExitStatus, Globals};
use crate::emit::{self, MigrationFormat};
use crate::report::{self, Format};

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
    let rep = emit::read_report(&a.from_report)?;
    if rep.recommendations.is_empty() && a.only.is_empty() {
        // Nothing to do is a fine outcome for a pipeline (advise, then migrations).
        match g.format {
            Format::Json => report::print_json(&serde_json::json!({"files": [], "applied": []}))?,
            _ => crate::outln!("The report has no index recommendations: no migration written.")?,
        }
        return Ok(ExitStatus::Ok);
    }
    let mut written = Vec::new();
    if let (Some(dir), Some(format)) = (&a.dir, a.migration_format) {
        written = emit::write_migrations(&rep, dir, format, &a.only, chrono::Utc::now())?;
    } else {
        // Check --only and the recommendations before connecting.
        emit::plan::units(&rep, MigrationFormat::Plain, &a.only)?;
    }
    let mut applied = Vec::new();
    if a.apply {
        let params = g.connect.params()?;
        let opts = crate::pg::SessionOptions::unrestricted().quiet();
        let conn = crate::pg::connect(&params, &opts).await?;
        for u in emit::plan::units(&rep, MigrationFormat::Plain, &a.only)? {
            let plan = crate::pg::apply::ApplyPlan {
                statements: u
                    .steps
                    .iter()
                    .flat_map(|s| s.up.iter().map(|q| (q.clone(), s.index.clone())))
                    .collect(),
                index: u.steps[0].index.clone(),
                names: u.steps.iter().map(|s| s.name.clone()).collect(),
                checks: u
                    .rec
                    .statements
                    .iter()
                    .map(|s| (s.fingerprint.clone(), s.query.clone()))
                    .collect(),
            };
            applied.push(
                crate::pg::apply::apply(
                    &conn,
                    &plan,
                    a.lock_timeout,
                    crate::report::build_progress,
                )
                .await?,
            );
        }
    }
    match g.format {
        Format::Json => report::print_json(&serde_json::json!({
            "files": written,
            "applied": applied,
        }))?,
        f => {
            if !written.is_empty() {
                let mut t = report::table(f, &["migration file"]);
                for p in &written {
                    t.add_row(vec![p.display().to_string()]);
                }
                crate::outln!("{t}")?;
            }
            if !applied.is_empty() {
                let mut t = report::table(f, &["index", "valid", "used by", "build time"]);
                for r in &applied {
                    t.add_row(vec![
                        r.index.clone(),
                        if r.valid { "yes" } else { "NO" }.to_string(),
                        r.used_by
                            .clone()
                            .unwrap_or_else(|| "not used by its statements".into()),
                        if r.existed {
                            "already there".to_string()
                        } else {
                            format!("{:.1} s", r.seconds)
                        },
                    ]);
                }
                crate::outln!("{t}")?;
            }
        }
    }
    Ok(if applied.iter().any(|r| !r.valid || r.used_by.is_none()) {
        ExitStatus::Findings
    } else {
        ExitStatus::Ok
    })
}
