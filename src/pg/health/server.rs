//! Reads [`crate::health::server`] from the server: pg_settings, pg_stat_database,
//! pg_stat_statements (and pg_stat_statements_info), pg_stat_activity, pg_stat_progress_vacuum;
//! and, only when the server runs on this machine, its memory and disk type.
//!
//! Every query is a SELECT on a view any role may read; without pg_monitor (pg_read_all_stats)
//! other roles' statement texts and vacuum start times are hidden, which the rules survive.
//! pg_stat_statements missing or unreadable is a note, not a failure.
//!
//! Versions (13–18): pg_stat_statements_info exists from PG 14 (extension 1.9), so `dealloc`
//! is read only when the view is there; pg_stat_progress_vacuum renamed its dead-tuple columns
//! in PG 17 (max_dead_tuple_bytes, num_dead_item_ids), which is why only pid, phase and
//! heap_blks_total/heap_blks_scanned (the same in 13–18) are read. pg_stat_database and the
//! pg_settings names read here are the same in 13–18. Only 15 is tested here.

use crate::health::server::{
    meminfo_total, setting_bytes, DatabaseStats, Machine, Server, Settings, Spill, StatementStats,
    VacuumProgress,
};
use crate::pg::connect::Conn;
use crate::pg::error::{privilege_hint, PgError, Result};

/// What pg_stat_statements shows for another role's statement without pg_read_all_stats.
const HIDDEN: &str = "<insufficient privilege>";

fn q(what: &'static str) -> impl Fn(tokio_postgres::Error) -> PgError {
    move |e| PgError::query(format!("reading server health ({what})"), e)
}

pub async fn read(c: &Conn) -> Result<Server> {
    let mut s = Server {
        read: true,
        settings: settings(c).await?,
        database: database(c).await?,
        machine: machine(c),
        ..Default::default()
    };
    s.connections_now = c
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
            &[],
        )
        .await
        .map_err(q("pg_stat_activity"))?
        .get(0);
    s.vacuums = vacuums(c).await?;
    match statements(c).await {
        Ok(Some(st)) => {
            if st.spills.iter().any(|x| x.query == HIDDEN) {
                s.notes.push(format!(
                    "the texts of other roles' statements are hidden from this role: {}",
                    privilege_hint("permission denied: must have privileges of pg_read_all_stats", Some(c.params().user()))
                ));
            }
            s.statements = st;
        }
        Ok(None) => s.notes.push(
            "pg_stat_statements is not installed in this database: temp-file spills per statement and evictions are unknown"
                .into(),
        ),
        Err(e) => s.notes.push(unreadable("pg_stat_statements", &e, Some(c.params().user()))),
    }
    Ok(s)
}

async fn settings(c: &Conn) -> Result<Settings> {
    let rows = c
        .query(
            "SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', 'effective_cache_size', \
             'work_mem', 'random_page_cost', 'max_connections', 'track_io_timing', 'autovacuum', \
             'autovacuum_vacuum_threshold', 'autovacuum_vacuum_scale_factor', 'pg_stat_statements.max')",
            &[],
        )
        .await
        .map_err(q("pg_settings"))?;
    let mut s = Settings::default();
    for r in rows {
        let (name, v, unit): (String, String, Option<String>) = (r.get(0), r.get(1), r.get(2));
        let bytes = setting_bytes(&v, unit.as_deref());
        let num = v.parse::<f64>().ok();
        match name.as_str() {
            "shared_buffers" => s.shared_buffers_bytes = bytes.unwrap_or(s.shared_buffers_bytes),
            "effective_cache_size" => {
                s.effective_cache_size_bytes = bytes.unwrap_or(s.effective_cache_size_bytes);
            }
            "work_mem" => s.work_mem_bytes = bytes.unwrap_or(s.work_mem_bytes),
            "random_page_cost" => s.random_page_cost = num.unwrap_or(s.random_page_cost),
            "max_connections" => s.max_connections = bytes.unwrap_or(s.max_connections),
            "track_io_timing" => s.track_io_timing = v == "on",
            "autovacuum" => s.autovacuum = v == "on",
            "autovacuum_vacuum_threshold" => {
                s.autovacuum_vacuum_threshold = num.unwrap_or(s.autovacuum_vacuum_threshold);
            }
            "autovacuum_vacuum_scale_factor" => {
                s.autovacuum_vacuum_scale_factor = num.unwrap_or(s.autovacuum_vacuum_scale_factor);
            }
            "pg_stat_statements.max" => s.pg_stat_statements_max = bytes,
            _ => {}
        }
    }
    Ok(s)
}

async fn database(c: &Conn) -> Result<DatabaseStats> {
    let r = c
        .query_one(
            "SELECT datname::text, blks_hit, blks_read, temp_files, temp_bytes, \
             extract(epoch FROM now() - stats_reset)::float8 \
             FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .map_err(q("pg_stat_database"))?;
    Ok(DatabaseStats {
        name: r.get(0),
        blks_hit: r.get(1),
        blks_read: r.get(2),
        temp_files: r.get(3),
        temp_bytes: r.get(4),
        stats_reset_age_s: r.get(5),
    })
}

async fn vacuums(c: &Conn) -> Result<Vec<VacuumProgress>> {
    let rows = c
        .query(
            "SELECT v.pid, coalesce(n.nspname || '.' || cl.relname, v.relid::text), v.phase, \
             v.heap_blks_total, v.heap_blks_scanned, extract(epoch FROM now() - a.xact_start)::float8 \
             FROM pg_stat_progress_vacuum v LEFT JOIN pg_class cl ON cl.oid = v.relid \
             LEFT JOIN pg_namespace n ON n.oid = cl.relnamespace \
             LEFT JOIN pg_stat_activity a ON a.pid = v.pid \
             WHERE v.datname = current_database() ORDER BY v.pid",
            &[],
        )
        .await
        .map_err(q("pg_stat_progress_vacuum"))?;
    Ok(rows
        .iter()
        .map(|r| VacuumProgress {
            pid: r.get(0),
            table: r.get(1),
            phase: r.get::<_, Option<String>>(2).unwrap_or_default(),
            heap_blks_total: r.get::<_, Option<i64>>(3).unwrap_or(0),
            heap_blks_scanned: r.get::<_, Option<i64>>(4).unwrap_or(0),
            running_s: r.get(5),
        })
        .collect())
}

/// pg_stat_statements facts; None when the extension is not installed here.
async fn statements(
    c: &Conn,
) -> std::result::Result<Option<StatementStats>, tokio_postgres::Error> {
    let schema = c
        .query_opt(
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'pg_stat_statements'",
            &[],
        )
        .await?;
    let Some(schema) = schema.map(|r| crate::sql::quote_ident(&r.get::<_, String>(0))) else {
        return Ok(None);
    };
    let entries: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM {schema}.pg_stat_statements"),
            &[],
        )
        .await?
        .get(0);
    let info = format!("{schema}.pg_stat_statements_info");
    let has_info: bool = c
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&info])
        .await?
        .get(0);
    let dealloc = if has_info {
        Some(
            c.query_one(&format!("SELECT dealloc FROM {info}"), &[])
                .await?
                .get(0),
        )
    } else {
        None
    };
    let spills = c
        .query(
            &format!(
                "SELECT coalesce(query, ''), calls, temp_blks_written FROM {schema}.pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND temp_blks_written > 0 ORDER BY temp_blks_written DESC LIMIT 10"
            ),
            &[],
        )
        .await?
        .iter()
        .map(|r| Spill {
            query: r.get(0),
            calls: r.get(1),
            temp_blks_written: r.get(2),
        })
        .collect();
    Ok(Some(StatementStats {
        available: true,
        entries,
        dealloc,
        spills,
    }))
}

/// A note for a view this role could not read: the server's words and, for a privilege
/// error, the grant that helps.
fn unreadable(view: &str, e: &tokio_postgres::Error, role: Option<&str>) -> String {
    let message = e
        .as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string());
    let denied = e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE);
    if denied {
        format!(
            "{view} could not be read ({message}): {}",
            privilege_hint(&message, role)
        )
    } else {
        format!("{view} could not be read: {message}")
    }
}

/// Memory and disk type, only when every host dbopt connects to is this machine.
fn machine(c: &Conn) -> Machine {
    let hosts = c.params().hosts();
    let local = hosts.iter().all(|h| {
        h.is_empty()
            || h.starts_with('/')
            || ["localhost", "127.0.0.1", "::1"].contains(&h.as_str())
    });
    if !local {
        return Machine::default();
    }
    let mut m = Machine::default();
    if let Some(total) = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .as_deref()
        .and_then(meminfo_total)
    {
        m.memory_bytes = Some(total);
        m.memory_source = Some("/proc/meminfo of this machine, where the server runs".into());
    }
    m.rotational = rotational();
    if m.rotational.is_some() {
        m.storage_source =
            Some("/sys/block/*/queue/rotational of this machine, where the server runs".into());
    }
    m
}

/// Some(flag) when every real block device of this machine says the same; None otherwise.
fn rotational() -> Option<bool> {
    let mut seen = std::collections::BTreeSet::new();
    for e in std::fs::read_dir("/sys/block").ok()?.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if ["loop", "ram", "zram", "sr"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            continue;
        }
        let flag = std::fs::read_to_string(e.path().join("queue/rotational")).ok()?;
        seen.insert(flag.trim() == "1");
    }
    (seen.len() == 1).then(|| seen.into_iter().next()).flatten()
}
