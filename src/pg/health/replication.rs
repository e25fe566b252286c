//! Reads [`crate::health::replication`] from the server: pg_stat_replication for the
//! standbys streaming from it, and on a standby (`pg_is_in_recovery()`) its receive and
//! replay positions and the age of the last replayed transaction.
//!
//! Privileges: pg_stat_replication lists every walsender to any role, but its state, LSN
//! and lag columns are NULL unless the role is a superuser or has pg_read_all_stats (part
//! of pg_monitor); such rows are kept, with a note saying which GRANT shows the lag.
//!
//! Versions (13–18): every column and function used exists unchanged since 10
//! (pg_wal_lsn_diff, write_lag/flush_lag/replay_lag, pg_last_wal_receive_lsn,
//! pg_is_wal_replay_paused), so one statement serves every version. The lag in bytes is
//! measured from pg_current_wal_lsn() on a primary and from the last replayed position on
//! a cascading standby, where pg_current_wal_lsn() fails.

use crate::health::replication::{Replay, Replication, Standby};
use crate::pg::connect::Conn;
use crate::pg::error::{PgError, Result};

const STANDBYS: &str = "WITH cur AS (SELECT CASE WHEN pg_is_in_recovery() \
    THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn) \
    SELECT pid, coalesce(application_name, ''), client_addr::text, state, sync_state, \
    pg_wal_lsn_diff(cur.lsn, write_lsn)::int8, pg_wal_lsn_diff(cur.lsn, flush_lsn)::int8, \
    pg_wal_lsn_diff(cur.lsn, replay_lsn)::int8, \
    extract(epoch FROM write_lag)::float8, extract(epoch FROM flush_lag)::float8, \
    extract(epoch FROM replay_lag)::float8 \
    FROM pg_stat_replication, cur ORDER BY application_name, pid";

const REPLAY: &str =
    "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::int8, \
    extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, pg_is_wal_replay_paused()";

pub async fn read(c: &Conn) -> Result<Replication> {
    let in_recovery: bool = c
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map_err(|e| PgError::query("reading pg_is_in_recovery()", e))?
        .get(0);
    let mut out = Replication {
        in_recovery,
        ..Default::default()
    };
    for r in c
        .query(STANDBYS, &[])
        .await
        .map_err(|e| PgError::query("reading pg_stat_replication", e))?
    {
        out.standbys.push(Standby {
            pid: r.get(0),
            name: r.get(1),
            client: r.get(2),
            state: r.get(3),
            sync_state: r.get(4),
            write_lag_bytes: r.get(5),
            flush_lag_bytes: r.get(6),
            replay_lag_bytes: r.get(7),
            write_lag_s: r.get(8),
            flush_lag_s: r.get(9),
            replay_lag_s: r.get(10),
        });
    }
    let hidden = out.standbys.iter().filter(|s| s.state.is_none()).count();
    if hidden > 0 {
        out.notes.push(format!(
            "{hidden} standbys show no state, position or lag to this role (pg_stat_replication \
             shows them only to superusers and pg_read_all_stats); GRANT pg_monitor to see them"
        ));
    }
    if in_recovery {
        let r = c
            .query_one(REPLAY, &[])
            .await
            .map_err(|e| PgError::query("reading the standby's replay position", e))?;
        out.replay = Some(Replay {
            pending_bytes: r.get(0),
            last_replay_age_s: r.get(1),
            paused: r.get(2),
        });
    }
    Ok(out)
}
