//! pg_stat_activity and pg_locks: what the server is doing now. Used by the activity sampler
//! (a workload source when pg_stat_statements is missing) and by `dbopt connections`.
//!
//! Why sessions are read as plain rows and judged elsewhere: the thresholds (utilization,
//! idle-in-transaction age) live in `rules/`, which never talk to a server, and the rows'
//! types ([`Activity`], [`Session`]) live in `workload::activity`, below both.

use std::time::{Duration, Instant};

use super::connect::Conn;
use super::error::{PgError, Result};
use crate::workload::activity::{Activity, Session};

/// One running statement seen by the sampler.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub pid: i32,
    /// query_start as text: with `pid`, identifies one execution.
    pub query_start: String,
    pub running_ms: f64,
    pub query: String,
}

/// Poll pg_stat_activity every 50 ms for `duration`, collecting active client statements of
/// the current database other than our own.
pub async fn sample(c: &Conn, duration: Duration) -> Result<Vec<Sample>> {
    let stmt = c
        .prepare(
            "SELECT pid, query_start::text, extract(epoch FROM clock_timestamp() - query_start)::float8 * 1000, query \
             FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND datname = current_database() \
             AND backend_type = 'client backend' AND query_start IS NOT NULL AND query <> '<insufficient privilege>'",
        )
        .await
        .map_err(|e| PgError::query("sampling pg_stat_activity", e))?;
    let end = Instant::now() + duration;
    let mut out = Vec::new();
    loop {
        for r in c
            .client
            .query(&stmt, &[])
            .await
            .map_err(|e| PgError::query("sampling pg_stat_activity", e))?
        {
            out.push(Sample {
                pid: r.get(0),
                query_start: r.get(1),
                running_ms: r.get(2),
                query: r.get(3),
            });
        }
        if Instant::now() >= end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(out)
}

/// Read pg_stat_activity (client backends, all databases), the limits, blocking pids and the
/// lock each waiting session wants (pg_locks; its `waitstart` exists from PG 14 and is read
/// through `to_jsonb`, so it is NULL on 13 and the wait falls back to the state's age).
pub async fn read(c: &Conn) -> Result<Activity> {
    let lim = c
        .query_one(
            "SELECT current_setting('max_connections')::int, \
             current_setting('superuser_reserved_connections')::int \
             + coalesce(current_setting('reserved_connections', true)::int, 0)",
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading connection limits", e))?;
    let rows = c
        .query(
            "SELECT pid, usename::text, datname::text, coalesce(application_name, ''), client_addr::text, state, \
             extract(epoch FROM now() - state_change)::float8, extract(epoch FROM now() - xact_start)::float8, \
             extract(epoch FROM now() - query_start)::float8, wait_event_type || ':' || wait_event, \
             pg_blocking_pids(pid), query, w.wanted, w.wait_s \
             FROM pg_stat_activity a LEFT JOIN LATERAL (SELECT l.mode || ' on ' || CASE l.locktype \
             WHEN 'relation' THEN l.relation::regclass::text \
             WHEN 'transactionid' THEN 'transaction ' || l.transactionid \
             WHEN 'tuple' THEN 'row (' || l.page || ',' || l.tuple || ') of ' || l.relation::regclass::text \
             ELSE l.locktype END AS wanted, \
             extract(epoch FROM now() - (to_jsonb(l) ->> 'waitstart')::timestamptz)::float8 AS wait_s \
             FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted LIMIT 1) w ON true \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() ORDER BY pid",
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading pg_stat_activity", e))?;
    let mut a = Activity {
        max_connections: lim.get(0),
        reserved_connections: lim.get(1),
        // Our own session counts against the limit too.
        total: i64::try_from(rows.len()).unwrap_or(i64::MAX) + 1,
        ..Default::default()
    };
    for r in rows {
        let query: Option<String> = r.get(11);
        if query.as_deref() == Some("<insufficient privilege>") {
            a.hidden += 1;
        }
        a.sessions.push(Session {
            pid: r.get(0),
            user: r.get(1),
            database: r.get(2),
            application: r.get(3),
            client: r.get(4),
            state: r.get(5),
            state_age_s: r.get(6),
            xact_age_s: r.get(7),
            query_age_s: r.get(8),
            wait_event: r.get(9),
            blocked_by: r.get::<_, Option<Vec<i32>>>(10).unwrap_or_default(),
            lock_wanted: r.get(12),
            lock_wait_s: r.get(13),
            query: query.filter(|q| q != "<insufficient privilege>"),
        });
    }
    Ok(a)
}

/// For N+1 detection, as a weaker signal than a log (a statement that starts and ends between
/// two samples is never seen): poll pg_stat_activity every `interval` for `total`, and return one event per statement
/// execution seen in the current database (other sessions only). `fingerprint` is the
/// `query_id` when the server computes it (PG 14+ with `compute_query_id`), else the text.
pub async fn sample_events(
    c: &Conn,
    total: Duration,
    interval: Duration,
) -> Result<Vec<crate::workload::nplusone::LogEvent>> {
    let sql = "SELECT pid::text || ':' || extract(epoch FROM backend_start)::text, query_start, \
               coalesce((to_jsonb(a) ->> 'query_id'), md5(query)), query, state, \
               CASE WHEN state <> 'active' THEN extract(epoch FROM state_change - query_start) * 1000 END::float8 \
               FROM pg_stat_activity a \
               WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND backend_type = 'client backend' AND query_start IS NOT NULL";
    let stmt = c
        .prepare(sql)
        .await
        .map_err(|e| PgError::query("preparing the pg_stat_activity sample", e))?;
    let started = std::time::Instant::now();
    let mut seen: std::collections::HashSet<(String, chrono::DateTime<chrono::Utc>)> =
        std::collections::HashSet::new();
    let mut events: Vec<crate::workload::nplusone::LogEvent> = Vec::new();
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while started.elapsed() < total {
        tick.tick().await;
        let rows = c
            .client
            .query(&stmt, &[])
            .await
            .map_err(|e| PgError::query("sampling pg_stat_activity", e))?;
        for r in rows {
            let session: String = r.get(0);
            let at: chrono::DateTime<chrono::Utc> = r.get(1);
            let done_ms: Option<f64> = r.get(5);
            if seen.insert((session.clone(), at)) {
                events.push(crate::workload::nplusone::LogEvent {
                    session,
                    at,
                    fingerprint: r.get(2),
                    query: r.get(3),
                    duration_ms: done_ms.unwrap_or(0.0),
                    params: vec![],
                });
            } else if let Some(ms) = done_ms {
                // The execution seen running has finished: keep its real duration.
                if let Some(e) = events
                    .iter_mut()
                    .rev()
                    .find(|e| e.session == session && e.at == at)
                {
                    e.duration_ms = ms;
                }
            }
        }
    }
    Ok(events)
}
