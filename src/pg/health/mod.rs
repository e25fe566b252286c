//! Reads [`crate::health::Health`]: one read-only query set per section, each in its own file.
//!
//! Why per section: each section has its own views and privileges (pg_stat_replication shows
//! lag only to pg_monitor, pg_prepared_xacts to everyone); a section a role cannot read says so
//! in its own data rather than failing the whole check.

mod horizon;
mod replication;
mod sequences;
mod server;
mod wraparound;

use super::connect::Conn;
use super::error::{PgError, Result};
use crate::health::Health;

/// Read every health section from the server `c` is connected to.
pub async fn read(c: &Conn) -> Result<Health> {
    let version: i32 = c
        .client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| PgError::query("reading server_version_num", e))?
        .get(0);
    let mut notes = Vec::new();
    let mut h = Health {
        server_version_num: version,
        ..Default::default()
    };
    h.sequences = section(c, &mut notes, "sequences", sequences::read(c).await).await?;
    h.wraparound = section(c, &mut notes, "wraparound", wraparound::read(c).await).await?;
    h.horizon = section(c, &mut notes, "horizon", horizon::read(c).await).await?;
    h.replication = section(c, &mut notes, "replication", replication::read(c).await).await?;
    h.server = section(c, &mut notes, "server", server::read(c).await).await?;
    if !h.sequences.unreadable.is_empty() {
        notes.push(format!(
            "sequences: {} sequence(s) hide their last value from this role ({}); an administrator can run: GRANT SELECT ON SEQUENCE ... TO the role, or GRANT pg_read_all_data (PostgreSQL 14+)",
            h.sequences.unreadable.len(),
            crate::sql::one_line(&h.sequences.unreadable.join(", "), 120)
        ));
    }
    h.notes = notes;
    Ok(h)
}

/// A section's reading, or its default and a note when the role may not read it (SQLSTATE
/// 42501): the other sections still count. Any other error ends the read.
async fn section<T: Default>(
    c: &Conn,
    notes: &mut Vec<String>,
    name: &str,
    read: Result<T>,
) -> Result<T> {
    match read {
        Ok(v) => Ok(v),
        Err(e) if e.code() == Some(super::error::INSUFFICIENT_PRIVILEGE) => {
            let e = super::error::qualify_denied(c, e).await;
            let hint = e.hint_for(Some(c.params().user())).unwrap_or_default();
            notes.push(format!("{name}: not read: {e}; {hint}"));
            Ok(T::default())
        }
        Err(e) => Err(e),
    }
}
