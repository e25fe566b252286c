//! `nplusone`: N+1 loops in pg_stat_statements, sampled sessions and log files, each with the
//! rewrite that removes it. The detection is `crate::workload::nplusone`; this reads the
//! sources and turns loops into findings with the `[rules.n-plus-one]` thresholds.

use std::path::PathBuf;
use std::time::Duration;

use super::Error;
use crate::hint::UserError;
use crate::pg::source::Live;
use crate::report::nplusone::{LoopReport, NplusoneReport};
use crate::rules::n_plus_one::{self, Params};
use crate::workload::log::LogFormat;
use crate::workload::nplusone::{detect_activity, detect_log, detect_pgss, NPlusOne};

/// Where to look for loops.
pub struct Request {
    /// The server (`None`: the logs alone).
    pub server: Option<Live>,
    /// Sample pg_stat_activity this long, this often.
    pub sample: Option<(Duration, Duration)>,
    pub logs: Vec<PathBuf>,
    pub log_format: LogFormat,
    pub log_line_prefix: String,
}

fn reports(found: Vec<NPlusOne>, p: &Params) -> Vec<LoopReport> {
    found
        .into_iter()
        .map(|n| LoopReport {
            finding: n_plus_one::finding(&n, p),
            detail: n,
        })
        .collect()
}

pub async fn run(req: &Request, p: &Params) -> Result<NplusoneReport, Error> {
    let mut events = Vec::new();
    for path in &req.logs {
        let text = std::fs::read_to_string(path).map_err(|e| {
            UserError::new(
                format!("cannot read {}: {e}", path.display()),
                "give the path of a PostgreSQL log file",
            )
        })?;
        let ev = crate::workload::log::events(&text, req.log_format, &req.log_line_prefix)?;
        if ev.is_empty() {
            return Err(UserError::new(format!("no timed statements with a session and time in {} (format {})", path.display(), req.log_format.name()), "log with log_min_duration_statement = 0, and for stderr logs give --log-line-prefix with %m and %c (or %p)").into());
        }
        events.extend(ev);
    }
    let Some(server) = &req.server else {
        let loops = reports(detect_log(&events, None, &p.log()), p);
        return Ok(NplusoneReport { loops, notes: vec!["read from logs only (no server given): loops are linked by their statements, not by foreign keys".into()] });
    };
    let conn = crate::pg::connect(&server.params, &server.session).await?;
    let catalog = crate::pg::catalog::load(&conn).await?;
    let sampled = match req.sample {
        Some((total, every)) => {
            Some(crate::pg::activity::sample_events(&conn, total, every).await?)
        }
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
    Ok(NplusoneReport {
        loops: reports(found, p),
        notes,
    })
}
