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
    Ok(Health {
        server_version_num: version,
        sequences: sequences::read(c).await?,
        wraparound: wraparound::read(c).await?,
        horizon: horizon::read(c).await?,
        replication: replication::read(c).await?,
        server: server::read(c).await?,
    })
}
