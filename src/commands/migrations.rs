//! `migrations`: a saved (and reviewed) advise report into migration files, and with `--apply`
//! the indexes built on the connected database, each checked to be valid and used.

use std::path::PathBuf;
use std::time::Duration;

use super::Error;
use crate::emit::{self, MigrationFormat};
use crate::pg::apply::{self, ApplyPlan};
use crate::pg::source::Live;
use crate::report::migrations::MigrationsReport;

/// What to write and where to build.
pub struct Request {
    /// The JSON written by `dbopt advise --format json`.
    pub from_report: PathBuf,
    /// Where and for which tool to write the files (`None`: write none).
    pub write: Option<(PathBuf, MigrationFormat)>,
    /// Only these indexes (their names in the report); empty for all.
    pub only: Vec<String>,
    /// Build on this server (a writable session) once the files are written.
    pub apply: Option<Live>,
    pub lock_timeout: Duration,
}

/// `None` when the report recommends nothing (and no `--only` asks for something).
pub async fn run(req: &Request) -> Result<Option<MigrationsReport>, Error> {
    let rep = emit::read_report(&req.from_report)?;
    if rep.recommendations.is_empty() && req.only.is_empty() {
        return Ok(None);
    }
    let mut out = MigrationsReport::default();
    if let Some((dir, format)) = &req.write {
        out.files = emit::write_migrations(&rep, dir, *format, &req.only, chrono::Utc::now())?;
    } else {
        // Check --only and the recommendations before connecting.
        emit::plan::units(&rep, MigrationFormat::Plain, &req.only)?;
    }
    let Some(server) = &req.apply else {
        return Ok(Some(out));
    };
    let conn = crate::pg::connect(&server.params, &server.session).await?;
    for u in emit::plan::units(&rep, MigrationFormat::Plain, &req.only)? {
        let plan = ApplyPlan {
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
        let done = apply::apply(
            &conn,
            &plan,
            req.lock_timeout,
            crate::report::build_progress,
        )
        .await?;
        out.applied.push(done);
    }
    Ok(Some(out))
}
