//! `snapshot`: catalog, statistics, workload and sessions of one server in one file, for
//! offline analysis with `--from-snapshot`. Everything read from the server is read in
//! [`read`], so a new kind of fact gets one line there.

use std::path::PathBuf;

use super::{Error, Notes};
use crate::pg::source::{self, Live};
use crate::pg::Conn;
use crate::snapshot::{self, Snapshot};
use crate::workload::source::{BadStatement, SourceSpec};
use crate::workload::Workload;

/// What `snapshot` writes, and from where.
pub struct Request {
    pub server: Live,
    pub source: SourceSpec,
    /// The workload source was named on the command line: failing to read it is an error.
    /// Otherwise (the default, pg_stat_statements) the catalog alone is still written.
    pub source_explicit: bool,
    pub redact: bool,
    pub output: PathBuf,
}

/// Read the server, write the file, return what was written. `warn` receives a missing
/// workload (default source only).
pub async fn run(
    req: &Request,
    bad: &dyn Fn(&[BadStatement]),
    warn: Notes<'_>,
) -> Result<Snapshot, Error> {
    let conn = crate::pg::connect(&req.server.params, &req.server.session).await?;
    crate::pg::inspect::check_version(&conn).await?;
    let mut s = read(&conn, req, bad, warn).await?;
    if req.redact {
        s.redact();
    }
    snapshot::write(&req.output, &s)?;
    Ok(s)
}

/// Every fact the snapshot holds, read on `conn` (the workload on its own session).
async fn read(
    conn: &Conn,
    req: &Request,
    bad: &dyn Fn(&[BadStatement]),
    warn: Notes<'_>,
) -> Result<Snapshot, Error> {
    let catalog = crate::pg::catalog::load(conn).await?;
    let size = crate::pg::inspect::database_size(conn).await?;
    let workload = match source::load(&req.source, Some(&req.server)).await {
        Ok(l) => {
            bad(&l.bad_statements);
            l.workload
        }
        // The catalog alone is still worth having; say plainly what is missing.
        Err(e) if !req.source_explicit => {
            let msg = crate::sql::one_line(&chain_text(&e), 300);
            warn(&format!("no workload in the snapshot: {msg}"));
            Workload {
                notes: vec![format!("no workload: {msg}")],
                ..Default::default()
            }
        }
        Err(e) => return Err(e.into()),
    };
    let mut s = Snapshot::new(catalog, workload, Some(size));
    s.activity = Some(crate::pg::activity::read(conn).await?);
    s.health = Some(crate::pg::health::read(conn).await?);
    Ok(s)
}

/// An error and its causes, `outer: inner: ...`.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
