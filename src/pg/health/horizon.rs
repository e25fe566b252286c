//! Reads [`crate::health::horizon`] from the server: pg_stat_activity (backend_xmin,
//! backend_xid), pg_prepared_xacts, pg_replication_slots and pg_stat_replication.backend_xmin.
//!
//! Privileges: all four views are readable by any role, but pg_stat_activity shows another
//! role's session (its backend_xmin, state, xact_start and query) only to pg_read_all_stats
//! (part of pg_monitor): without it those sessions are counted in `hidden_sessions`, and a
//! note says that whether they hold the horizon is unknown and which GRANT shows them.
//! Prepared transactions and slots are visible to every role.
//!
//! Hot-standby feedback shows in pg_stat_replication.backend_xmin only for a standby without
//! a slot; through a physical slot it becomes the slot's xmin, so an active physical slot's
//! xmin is reported as that standby's feedback (named by the slot).
//!
//! Versions (13–18): wal_status and safe_wal_size exist from 13, so they are read as is;
//! `inactive_since` exists from 17 and is read through `to_jsonb(row)`, NULL before 17,
//! so one statement serves every version. On a standby pg_current_wal_lsn() fails, so
//! the slots' retained WAL is measured from the last received position there.

use crate::health::horizon::{Holder, HolderKind, Horizon, Slot};
use crate::pg::connect::Conn;
use crate::pg::error::{PgError, Result};

const SESSIONS: &str = "SELECT pid, datname::text, usename::text, state, \
    greatest(age(backend_xmin), age(backend_xid))::int8, \
    extract(epoch FROM now() - xact_start)::float8, query \
    FROM pg_stat_activity \
    WHERE pid <> pg_backend_pid() AND (query = '<insufficient privilege>' \
    OR (backend_type <> 'walsender' AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)))";

const PREPARED: &str = "SELECT gid, database::text, owner::text, age(transaction)::int8, \
    extract(epoch FROM now() - prepared)::float8 FROM pg_prepared_xacts";

const SLOTS: &str = "SELECT slot_name::text, slot_type, database::text, active, temporary, \
    pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() \
    ELSE pg_current_wal_lsn() END, restart_lsn)::int8, \
    wal_status, safe_wal_size, age(xmin)::int8, age(catalog_xmin)::int8, \
    extract(epoch FROM now() - (to_jsonb(s) ->> 'inactive_since')::timestamptz)::float8, active_pid \
    FROM pg_replication_slots s ORDER BY slot_name";

const FEEDBACK: &str = "SELECT pid, coalesce(application_name, ''), age(backend_xmin)::int8 \
    FROM pg_stat_replication WHERE backend_xmin IS NOT NULL";

async fn rows(c: &Conn, sql: &str, what: &str) -> Result<Vec<tokio_postgres::Row>> {
    c.query(sql, &[]).await.map_err(|e| PgError::query(what, e))
}

pub async fn read(c: &Conn) -> Result<Horizon> {
    let mut h = Horizon::default();
    for r in rows(c, SESSIONS, "reading pg_stat_activity for the xmin horizon").await? {
        let query: Option<String> = r.get(6);
        if query.as_deref() == Some("<insufficient privilege>") {
            h.hidden_sessions += 1;
            continue;
        }
        let pid: i32 = r.get(0);
        h.holders.push(Holder {
            kind: HolderKind::Session,
            name: format!("pid {pid}"),
            xid_age: r.get(4),
            age_s: r.get(5),
            database: r.get(1),
            user: r.get(2),
            state: r.get(3),
            query,
            pid: Some(pid),
        });
    }
    for r in rows(c, PREPARED, "reading pg_prepared_xacts").await? {
        h.holders.push(Holder {
            kind: HolderKind::Prepared,
            name: r.get(0),
            database: r.get(1),
            user: r.get(2),
            xid_age: r.get(3),
            age_s: r.get(4),
            ..Default::default()
        });
    }
    for r in rows(c, SLOTS, "reading pg_replication_slots").await? {
        let slot = Slot {
            name: r.get(0),
            slot_type: r.get(1),
            database: r.get(2),
            active: r.get(3),
            temporary: r.get(4),
            retained_bytes: r.get(5),
            wal_status: r.get(6),
            safe_wal_size: r.get(7),
            xmin_age: r.get(8),
            catalog_xmin_age: r.get(9),
            inactive_s: r.get(10),
        };
        if let Some(age) = slot.xmin_age.max(slot.catalog_xmin_age) {
            // A standby streaming through a slot sends its hot_standby_feedback into the
            // slot's xmin (not its walsender's backend_xmin): that is the standby's holder.
            let feedback = slot.active && slot.slot_type == "physical";
            h.holders.push(Holder {
                kind: if feedback {
                    HolderKind::StandbyFeedback
                } else {
                    HolderKind::Slot
                },
                name: slot.name.clone(),
                xid_age: age,
                age_s: slot.inactive_s,
                database: slot.database.clone(),
                pid: r.get(11),
                ..Default::default()
            });
        }
        h.slots.push(slot);
    }
    for r in rows(
        c,
        FEEDBACK,
        "reading pg_stat_replication for standby feedback",
    )
    .await?
    {
        let pid: i32 = r.get(0);
        let name: String = r.get(1);
        h.holders.push(Holder {
            kind: HolderKind::StandbyFeedback,
            name: if name.is_empty() {
                format!("walsender pid {pid}")
            } else {
                name
            },
            xid_age: r.get(2),
            pid: Some(pid),
            ..Default::default()
        });
    }
    h.holders
        .sort_by(|a, b| b.xid_age.cmp(&a.xid_age).then_with(|| a.name.cmp(&b.name)));
    if h.hidden_sessions > 0 {
        h.notes.push(format!(
            "{} sessions of other roles are hidden from this role, so whether they hold the \
             xmin horizon is unknown; GRANT pg_read_all_stats (or pg_monitor) to see them",
            h.hidden_sessions
        ));
    }
    Ok(h)
}
