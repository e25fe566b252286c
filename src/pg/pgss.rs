//! Reads pg_stat_statements into the workload model, whatever the extension's version.
//!
//! Why detect columns at run time: 1.8 (PG 13) renamed `total_time` to `total_exec_time` (and
//! the other timings), 1.9 added `toplevel`, PG 17 renamed `blk_read_time`. Asking the view
//! which columns it has beats a table of versions that is wrong on the next release.
//!
//! Why rows are dropped ([`workload_rows`]): with `pg_stat_statements.track = all` the view
//! also holds what is not the workload. A plain EXPLAIN still starts and ends the executor,
//! so every plan dbopt (or anyone) asks for is counted as a nested call (`toplevel = false`)
//! under the queryid of the statement planned; merged into the top-level row, those zero-time
//! calls would move its calls, mean and deviation on every run. Statements of dbopt's own
//! sessions carry [`MARKER`](super::connect::MARKER) when they could not be kept out, and
//! CREATE EXTENSION scripts and extension functions run nested utility and catalog statements.

use std::collections::HashSet;

use super::connect::{is_own, Conn};
use super::error::{PgError, Result};
use crate::workload::{shape, shaped, Source, Statement, Workload};

/// The SELECT for the view's actual columns: `*_exec_time` (1.8+, PG 13) or `*_time` before;
/// `toplevel` (1.9+); `shared_blk_read_time` (1.11+, PG 17) or `blk_read_time` before.
pub fn select_sql(cols: &HashSet<String>, view: &str) -> String {
    let pick = |new: &str, old: &str| {
        if cols.contains(new) {
            new.to_string()
        } else if cols.contains(old) {
            old.to_string()
        } else {
            "0".to_string()
        }
    };
    let toplevel = if cols.contains("toplevel") {
        "toplevel"
    } else {
        "true"
    };
    let total = pick("total_exec_time", "total_time");
    format!(
        "SELECT queryid::text, query, calls, {total}::float8, {mean}::float8, {stddev}::float8, {min}::float8, {max}::float8, \
         rows, shared_blks_hit, shared_blks_read, temp_blks_read, temp_blks_written, {toplevel}, \
         {read}::float8, {write}::float8 \
         FROM {view} WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         ORDER BY {total} DESC",
        mean = pick("mean_exec_time", "mean_time"),
        stddev = pick("stddev_exec_time", "stddev_time"),
        min = pick("min_exec_time", "min_time"),
        max = pick("max_exec_time", "max_time"),
        read = pick("shared_blk_read_time", "blk_read_time"),
        write = pick("shared_blk_write_time", "blk_write_time"),
    )
}

/// Read the statements of the current database. Statements hidden from this role are counted
/// in `Workload::hidden` and a note says how to see them.
pub async fn read(c: &Conn) -> Result<Workload> {
    let installed = c
        .query_opt("SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'", &[])
        .await
        .map_err(|e| PgError::query("looking for pg_stat_statements", e))?;
    let Some(schema) = installed.map(|r| r.get::<_, String>(0)) else {
        return Err(PgError::ExtensionMissing {
            name: "pg_stat_statements".into(),
            detail: "not created in this database (or use --queries FILE to read statements from a file)".into(),
            server_version_num: None,
        });
    };
    let view = format!("{}.pg_stat_statements", crate::sql::quote_ident(&schema));
    let cols: HashSet<String> = c
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0",
            &[&view],
        )
        .await
        .map_err(|e| PgError::query("reading pg_stat_statements columns", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let sql = select_sql(&cols, &view);
    let rows = c.query(&sql, &[]).await.map_err(|e| match e.code().map(|s| s.code()) {
        Some("55000") => PgError::ExtensionMissing {
            name: "pg_stat_statements".into(),
            detail: "created but not loaded: add it to shared_preload_libraries and restart the server".into(),
            server_version_num: None,
        },
        _ => PgError::query("reading pg_stat_statements", e),
    })?;
    let mut w = Workload::default();
    let mut statements = Vec::new();
    for r in rows {
        let query: Option<String> = r.get(1);
        let fingerprint: Option<String> = r.get(0);
        let (Some(query), Some(fingerprint)) = (query, fingerprint) else {
            w.hidden += 1;
            continue;
        };
        if query == "<insufficient privilege>" {
            w.hidden += 1;
            continue;
        }
        statements.push(Statement {
            fingerprint,
            query,
            calls: r.get(2),
            total_ms: r.get(3),
            mean_ms: r.get(4),
            stddev_ms: r.get(5),
            min_ms: r.get(6),
            max_ms: r.get(7),
            rows: r.get(8),
            shared_blks_hit: r.get(9),
            shared_blks_read: r.get(10),
            temp_blks_read: r.get(11),
            temp_blks_written: r.get(12),
            toplevel: r.get(13),
            blk_read_ms: r.get(14),
            blk_write_ms: r.get(15),
            source: Source::PgStatStatements,
            example: None,
        });
    }
    w.statements = workload_rows(statements);
    let nested = w.statements.iter().filter(|s| !s.toplevel).count();
    if c.marks() && !cols.contains("toplevel") {
        w.notes.push(format!(
            "this role may not SET pg_stat_statements.track and this pg_stat_statements (before 1.9) has no toplevel column: dbopt's own EXPLAINs are counted into the statements they plan (calls and mean times move with each run); run as a superuser, or GRANT SET ON PARAMETER pg_stat_statements.track TO {}",
            crate::sql::quote_ident(c.params().user())
        ));
    } else if c.marks() && nested > 0 {
        w.notes.push(format!(
            "{nested} statement(s) run inside functions (toplevel = false): this role may not SET pg_stat_statements.track, so dbopt's EXPLAINs of them are counted into their calls; GRANT SET ON PARAMETER pg_stat_statements.track TO {}",
            crate::sql::quote_ident(c.params().user())
        ));
    }
    // pg_stat_statements_info (1.9+) says since when the counters run.
    if let Ok(row) = c.query_one(&format!("SELECT extract(epoch FROM now() - stats_reset)::float8 FROM {}.pg_stat_statements_info", crate::sql::quote_ident(&schema)), &[]).await {
        w.window_s = row.get(0);
    }
    if w.hidden > 0 {
        w.notes.push(format!(
            "{} statements of other roles are hidden (<insufficient privilege>); GRANT pg_read_all_stats to this role to see them",
            w.hidden
        ));
    }
    Ok(w)
}

/// The workload among pg_stat_statements' rows: dbopt's own statements (marked) are dropped;
/// a nested row (`toplevel = false`) whose queryid also has a top-level row is dropped, never
/// merged into it (it is EXPLAIN's count, or the same statement run inside a function); a
/// nested-only row is kept when it reads or writes user tables (a statement of a user's
/// function), dropped when it is a utility statement or reads only system catalogs (what
/// CREATE EXTENSION and extension functions run).
pub fn workload_rows(rows: Vec<Statement>) -> Vec<Statement> {
    let top: HashSet<String> = rows
        .iter()
        .filter(|s| s.toplevel)
        .map(|s| s.fingerprint.clone())
        .collect();
    rows.into_iter()
        .filter(|s| !is_own(&s.query))
        .filter(|s| {
            s.toplevel
                || (!top.contains(&s.fingerprint)
                    && !shape::is_utility_text(&s.query)
                    && (shaped::shape_of(&s.query, None).is_some()
                        || shape::extract(&s.query).is_err()))
        })
        .collect()
}

/// Reset pg_stat_statements for the current database only; other databases on the server keep
/// their statistics (tests and demos share one server).
pub async fn reset_database(c: &Conn) -> Result<()> {
    c.batch_execute("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)")
        .await
        .map_err(|e| PgError::query("resetting pg_stat_statements", e))
}

/// How many statements pg_stat_statements holds for the current database.
pub async fn database_entries(c: &Conn) -> Result<i64> {
    let row = c
        .query_one("SELECT count(*) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())", &[])
        .await
        .map_err(|e| PgError::query("counting pg_stat_statements entries", e))?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(queryid: &str, query: &str, toplevel: bool, calls: i64) -> Statement {
        Statement {
            fingerprint: queryid.into(),
            query: query.into(),
            toplevel,
            calls,
            ..Default::default()
        }
    }

    #[test]
    fn nested_explain_counts_and_own_statements_are_not_workload() {
        let rows = vec![
            row("1", "SELECT * FROM t WHERE a = $1", true, 400),
            // What EXPLAIN of that statement left: same queryid, nested, zero time.
            row("1", "PREPARE dbopt_whatif AS SELECT * FROM t WHERE a = $1", false, 66),
            row("2", "/* dbopt */ SELECT n.nspname::text FROM pg_extension e", true, 5),
            row("3", "/* dbopt */ EXPLAIN (FORMAT JSON) EXECUTE dbopt_whatif(NULL)", false, 9),
            // CREATE EXTENSION's script, and HypoPG's own catalog query.
            row("4", "/* contrib/pg_stat_statements/pg_stat_statements--1.9--1.10.sql */\nCREATE FUNCTION pg_stat_statements(IN showtext boolean) RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C", false, 1),
            row("5", "GRANT SELECT ON pg_stat_statements TO PUBLIC", false, 4),
            row("6", "SELECT max(oid) FROM pg_catalog.pg_class WHERE oid < $1", false, 3),
            // A user's function: kept, its own numbers.
            row("7", "SELECT count(*) FROM orders WHERE customer = $1", false, 12),
            // The user's own utility statement, top level: the user's.
            row("8", "VACUUM t", true, 1),
        ];
        let kept: Vec<(String, i64)> = workload_rows(rows)
            .into_iter()
            .map(|s| (s.fingerprint, s.calls))
            .collect();
        assert_eq!(kept, [("1".into(), 400), ("7".into(), 12), ("8".into(), 1)]);
    }

    fn cols(names: &str) -> HashSet<String> {
        names.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn columns_by_extension_version() {
        // 1.7 (PG 12): *_time, no toplevel.
        let old = select_sql(
            &cols("queryid query calls total_time mean_time stddev_time min_time max_time blk_read_time blk_write_time"),
            "v",
        );
        assert!(old.contains("total_time::float8") && old.contains("ORDER BY total_time DESC"));
        assert!(old.contains(", true, blk_read_time::float8"), "{old}");
        // 1.10 (PG 15).
        let pg15 = select_sql(
            &cols("total_exec_time mean_exec_time stddev_exec_time min_exec_time max_exec_time toplevel blk_read_time blk_write_time"),
            "v",
        );
        assert!(
            pg15.contains("mean_exec_time::float8") && pg15.contains(", toplevel, blk_read_time")
        );
        // 1.11 (PG 17): I/O timings renamed.
        let pg17 = select_sql(
            &cols("total_exec_time mean_exec_time toplevel shared_blk_read_time shared_blk_write_time"),
            "v",
        );
        assert!(
            pg17.contains("shared_blk_read_time::float8, shared_blk_write_time::float8"),
            "{pg17}"
        );
    }
}
