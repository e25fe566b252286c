//! The statements behind the inspection commands that the catalog loader does not cover:
//! version gate, database size, resolving a table name, resetting pg_stat_statements, and
//! VACUUM with progress from pg_stat_progress_vacuum.
//!
//! Why VACUUM runs on its own session while a second one polls progress: VACUUM blocks its
//! session until done, and pg_stat_progress_vacuum is only visible from another.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::connect::{connect, Conn, SessionOptions};
use super::conninfo::ConnParams;
use super::error::{PgError, Result};

/// The oldest server the inspection commands support (pg_stat_statements 1.8 column names,
/// pg_stat_progress_vacuum, backend_type in pg_stat_activity).
pub const MIN_SERVER_VERSION: i32 = 130_000;

/// Refuse servers older than [`MIN_SERVER_VERSION`] with a clear message.
pub fn require_version(server_version_num: i32) -> Result<()> {
    if server_version_num >= MIN_SERVER_VERSION {
        return Ok(());
    }
    Err(PgError::Query {
        context: "checking the server version".into(),
        message: format!(
            "PostgreSQL {}.{} is older than 13, the oldest version dbopt supports",
            server_version_num / 10_000,
            server_version_num % 10_000
        ),
        code: None,
        hint: Some(
            "upgrade the server, or run dbopt on a snapshot taken elsewhere (--from-snapshot)"
                .into(),
        ),
    })
}

/// Check the version of the connected server.
pub async fn check_version(c: &Conn) -> Result<i32> {
    let v: i32 = c
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| PgError::query("reading the server version", e))?
        .get(0);
    require_version(v)?;
    Ok(v)
}

/// pg_database_size of the current database.
pub async fn database_size(c: &Conn) -> Result<i64> {
    Ok(
        c.query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .map_err(|e| PgError::query("reading the database size", e))?
            .get(0),
    )
}

/// `schema.name` of a table the user named (as `to_regclass` resolves it, search_path
/// included), or a clear error when there is none.
pub async fn resolve_table(c: &Conn, name: &str) -> Result<String> {
    let row = c
        .query_one(
            "SELECT (SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'm', 'p', 't'))",
            &[&name],
        )
        .await
        .map_err(|e| PgError::query(format!("looking up table {name}"), e))?;
    row.get::<_, Option<String>>(0)
        .ok_or_else(|| PgError::Query {
            context: format!("looking up table \"{name}\""),
            message: "no such table".into(),
            code: Some("42P01".into()),
            hint: Some("check the name and schema (`dbopt tables` lists them)".into()),
        })
}

/// `pg_stat_statements_reset()`: the caller asked for it explicitly (`--reset`).
pub async fn reset_pgss(c: &Conn) -> Result<()> {
    c.batch_execute("SELECT pg_stat_statements_reset()")
        .await
        .map_err(|e| PgError::query("resetting pg_stat_statements", e))
}

/// One reading of pg_stat_progress_vacuum.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VacuumProgress {
    pub phase: String,
    pub heap_blks_total: i64,
    pub heap_blks_scanned: i64,
}

/// The outcome of vacuuming one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VacuumDone {
    pub table: String,
    pub seconds: f64,
    pub dead_tuples_before: i64,
    pub dead_tuples_after: i64,
}

async fn dead_tuples(c: &Conn, table: &str) -> Result<i64> {
    // Make our own earlier statistics visible, then read the counter.
    let _ = c.batch_execute("SELECT pg_stat_clear_snapshot()").await;
    Ok(c.query_one(
        "SELECT coalesce((SELECT n_dead_tup FROM pg_stat_all_tables WHERE relid = to_regclass($1)), 0)",
        &[&table],
    )
    .await
    .map_err(|e| PgError::query("reading dead tuples", e))?
    .get(0))
}

/// `VACUUM (ANALYZE)` `table` (already resolved, `schema.name`) on a writable session, calling
/// `progress` with pg_stat_progress_vacuum readings from a second, read-only session.
pub async fn vacuum(
    params: &ConnParams,
    session: &SessionOptions,
    table: &str,
    progress: &(dyn Fn(&VacuumProgress) + Sync),
) -> Result<VacuumDone> {
    let (schema, name) = table.split_once('.').unwrap_or(("public", table));
    let qualified = format!(
        "{}.{}",
        crate::sql::quote_ident(schema),
        crate::sql::quote_ident(name)
    );
    let worker = connect(params, &SessionOptions::unrestricted().quiet()).await?;
    let watcher = connect(params, session).await?;
    let before = dead_tuples(&watcher, table).await?;
    let pid: i32 = worker
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(|e| PgError::query("starting VACUUM", e))?
        .get(0);
    let t0 = Instant::now();
    let sql = format!("VACUUM (ANALYZE) {qualified}");
    let run = worker.batch_execute(&sql);
    tokio::pin!(run);
    let poll = "SELECT phase, heap_blks_total, heap_blks_scanned FROM pg_stat_progress_vacuum WHERE pid = $1";
    loop {
        tokio::select! {
            r = &mut run => {
                r.map_err(|e| PgError::query(format!("running {sql}"), e))?;
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if let Ok(Some(r)) = watcher.query_opt(poll, &[&pid]).await {
                    progress(&VacuumProgress {
                        phase: r.get(0),
                        heap_blks_total: r.get(1),
                        heap_blks_scanned: r.get(2),
                    });
                }
            }
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    // The statistics of the VACUUM arrive a moment later; wait briefly for them.
    let mut after = dead_tuples(&watcher, table).await?;
    for _ in 0..20 {
        if after < before || before == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = dead_tuples(&watcher, table).await?;
    }
    Ok(VacuumDone {
        table: table.to_string(),
        seconds,
        dead_tuples_before: before,
        dead_tuples_after: after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_before_13_are_refused_with_a_hint() {
        assert!(require_version(130_000).is_ok());
        assert!(require_version(170_002).is_ok());
        let e = require_version(120_015).unwrap_err();
        assert!(
            e.to_string().contains("PostgreSQL 12.15 is older than 13"),
            "{e}"
        );
        assert!(e.hint().unwrap().contains("--from-snapshot"));
    }
}
