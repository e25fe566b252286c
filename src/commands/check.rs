//! Check: one read-only reading of a database (catalog, workload, sessions, server health),
//! every rule but the plan rules, one report ([`crate::inspect::check`]).
//!
//! Why each reading may be missing: a DBA runs `check` first, often as a monitoring role.
//! pg_stat_statements may be absent, a section of the health reading may be closed to the
//! role; what can be read is still worth reporting, and the report says what is left out.

use std::path::PathBuf;

use super::{advise, Error, Notes};
use crate::inspect::check::{self, AdviceSummary, CheckReport, Reading};
use crate::pg::source::LoadError;
use crate::pg::{self, ConnParams, SessionOptions};
use crate::rules::Config;

/// Everything `check` needs to know, as plain values.
#[derive(Debug, Clone)]
pub struct Request {
    /// The server to read (`None` with `from_snapshot`).
    pub server: Option<ConnParams>,
    pub session: SessionOptions,
    /// Read a snapshot file instead of a server.
    pub from_snapshot: Option<PathBuf>,
    /// An earlier snapshot: its sequence values give the rate (and the days left).
    pub baseline: Option<PathBuf>,
    /// Also run `advise` with these settings and summarise its recommendations.
    pub advise: Option<advise::Request>,
}

/// Run the check.
pub async fn run(req: &Request, config: &Config, note: Notes<'_>) -> Result<CheckReport, Error> {
    let (mut reading, source, taken_at) = match (&req.from_snapshot, &req.server) {
        (Some(p), _) => {
            let s = crate::snapshot::read(p).map_err(LoadError::from)?;
            let mut notes = Vec::new();
            if s.health.is_none() {
                notes.push(format!("{} holds no health reading (written by an older dbopt): the health checks did not run; write it again with `dbopt snapshot`", p.display()));
            }
            let reading = Reading {
                catalog: s.catalog,
                database_bytes: s.database_bytes,
                workload: Some(s.workload),
                activity: s.activity,
                health: s.health,
                notes,
            };
            (
                reading,
                format!("snapshot {}", p.display()),
                Some(s.created_at),
            )
        }
        (None, Some(params)) => (read_live(params, &req.session).await?, "live".into(), None),
        (None, None) => return Err(LoadError::NoServer.into()),
    };
    if let Some(b) = &req.baseline {
        add_baseline(&mut reading, b, taken_at.as_deref())?;
    }
    let advice = match &req.advise {
        Some(a) => {
            let adv = advise::run(a, config, &|_| {}, note).await?;
            Some(AdviceSummary::of(&adv.report))
        }
        None => None,
    };
    Ok(check::build(&reading, source, config, advice)?)
}

/// The reading of a live server, read-only; a workload or activity this role cannot read is a
/// note, not an error.
pub async fn read_live(params: &ConnParams, session: &SessionOptions) -> Result<Reading, Error> {
    let conn = pg::connect(params, session).await?;
    pg::inspect::check_version(&conn).await?;
    let mut notes = Vec::new();
    let role = Some(params.user());
    let catalog = pg::catalog::load(&conn).await?;
    let database_bytes = Some(pg::inspect::database_size(&conn).await?);
    let workload = match pg::pgss::read(&conn).await {
        Ok(w) => {
            if w.hidden > 0 {
                notes.push(format!("workload: {} pg_stat_statements rows of other roles are hidden from this role; an administrator can run: GRANT pg_read_all_stats TO {}", w.hidden, crate::sql::ident::quote_ident(params.user())));
            }
            Some(w)
        }
        Err(e) => {
            notes.push(unread("workload (pg_stat_statements)", &e, role));
            None
        }
    };
    let activity = match pg::activity::read(&conn).await {
        Ok(a) => Some(a),
        Err(e) => {
            notes.push(unread("sessions (pg_stat_activity)", &e, role));
            None
        }
    };
    let health = pg::health::read(&conn).await?;
    Ok(Reading {
        catalog,
        database_bytes,
        workload,
        activity,
        health: Some(health),
        notes,
    })
}

fn unread(what: &str, e: &pg::PgError, role: Option<&str>) -> String {
    let hint = e
        .hint_for(role)
        .map(|h| format!("; {h}"))
        .unwrap_or_default();
    format!("{what} not read, its rules did not run: {e}{hint}")
}

/// Sequence rates and the connections then from an earlier snapshot, against this reading's time (`taken_at`, or now).
fn add_baseline(
    r: &mut Reading,
    path: &std::path::Path,
    taken_at: Option<&str>,
) -> Result<(), Error> {
    let earlier = crate::snapshot::read(path).map_err(LoadError::from)?;
    let parse = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|d| d.with_timezone(&chrono::Utc))
    };
    let now = taken_at.and_then(parse).unwrap_or_else(chrono::Utc::now);
    let (Some(then), Some(old), Some(h)) = (
        parse(&earlier.created_at),
        earlier.health,
        r.health.as_mut(),
    ) else {
        r.notes.push(format!(
            "{} holds no health reading: no sequence rates",
            path.display()
        ));
        return Ok(());
    };
    #[allow(clippy::cast_precision_loss)]
    let days = (now - then).num_milliseconds() as f64 / 86_400_000.0;
    if days <= 0.0 {
        r.notes.push(format!(
            "{} is not older than this reading: no sequence rates",
            path.display()
        ));
        return Ok(());
    }
    h.sequences.add_history(&old.sequences, days);
    if old.server.read {
        h.server
            .connections_earlier
            .push(old.server.connections_now);
        h.server
            .connections_earlier
            .extend(old.server.connections_earlier);
    }
    Ok(())
}
