//! pg_stat_activity sampling: the statements each session starts, seen by polling.
//!
//! Why: when neither statement logging nor a long pg_stat_statements window is available, the
//! order of statements within a session can still be observed live. It is a weaker signal than
//! a log: a statement that starts and ends between two samples is never seen, so loops of fast
//! lookups are under-counted; each event is labelled as coming from sampling by its caller.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::connect::Conn;
use super::error::{PgError, Result};
use crate::workload::nplusone::LogEvent;

/// Poll pg_stat_activity every `interval` for `total`, and return one event per statement
/// execution seen in the current database (other sessions only). `fingerprint` is the
/// `query_id` when the server computes it (PG 14+ with `compute_query_id`), else the text.
pub async fn sample(c: &Conn, total: Duration, interval: Duration) -> Result<Vec<LogEvent>> {
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
    let mut seen: HashSet<(String, DateTime<Utc>)> = HashSet::new();
    let mut events: Vec<LogEvent> = Vec::new();
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while started.elapsed() < total {
        tick.tick().await;
        let rows = c
            .query(&stmt, &[])
            .await
            .map_err(|e| PgError::query("sampling pg_stat_activity", e))?;
        for r in rows {
            let session: String = r.get(0);
            let at: DateTime<Utc> = r.get(1);
            let done_ms: Option<f64> = r.get(5);
            if seen.insert((session.clone(), at)) {
                events.push(LogEvent {
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
