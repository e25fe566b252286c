//! Running EXPLAIN safely: the only code that executes a user's statement.
//!
//! Why every EXPLAIN runs inside a transaction that is rolled back: `EXPLAIN ANALYZE` executes
//! the statement, so an UPDATE really updates. Rolling back makes the run leave no trace in the
//! tables, but sequences are not transactional: an executed INSERT advances them for good. So
//! INSERT/UPDATE/DELETE/MERGE are planned only unless the user asks for `--analyze-writes`, and
//! then the notes name the sequences that advanced. The transaction is switched to read-only
//! (`SET TRANSACTION READ ONLY`, allowed after writes) before the statement runs unless it is
//! meant to write, so even a function with side effects fails rather than writes.
//!
//! Why user SQL only ever travels over the extended protocol (`query`, never a simple query):
//! a Parse message holds exactly one statement, so `...; COMMIT; DELETE ...` is refused by the
//! server instead of committing past the rollback. `--with-index` DDL is not passed through
//! either: [`IndexDdl`] accepts exactly one CREATE INDEX and rebuilds it from its parsed form
//! (quoted identifiers, built-in functions only, no subqueries), and it is built with
//! `search_path = pg_catalog` so no user function or operator is picked up.
//!
//! Statements with `$n` parameters are planned with the given `--param` values
//! (`PREPARE`/`EXECUTE`), else as a generic plan: `PREPARE` under
//! `plan_cache_mode = force_generic_plan` and `EXECUTE` with NULLs, not executed (on every
//! version: `EXPLAIN (GENERIC_PLAN)` would need parameters bound over the extended protocol).
//! The server infers the parameters' types; where it infers wrongly (`now() - $2` read as the
//! difference of two timestamps) or cannot (`SELECT $2 FROM ...`), the PREPARE is retried
//! under a savepoint with the types its error implies
//! ([`crate::workload::plannable::retype`]), at most once per parameter.
//! Prepared statements get a name of dbopt's own and are deallocated, so the session's other
//! prepared statements are never touched.

use std::sync::atomic::{AtomicU32, Ordering};

use serde::Serialize;
use serde_json::Value;
use tokio_postgres::error::ErrorPosition;

mod index_ddl;

pub use index_ddl::IndexDdl;

use super::connect::Conn;
use super::error::PgError;
use crate::analyze::plan::{Plan, PlanError, PlanSummary};
use crate::sql::{quote_ident, quote_literal};

/// What to explain and how.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// One statement (a trailing `;` is allowed).
    pub sql: String,
    /// Execute it (EXPLAIN ANALYZE, BUFFERS) or only plan it.
    pub analyze: bool,
    /// Highest `$n` in the statement.
    pub nparams: usize,
    /// `--param` values, as text (`NULL` for a null).
    pub params: Vec<String>,
    /// Types for `PREPARE name (types)`, one per parameter (`unknown`: the server infers it);
    /// empty for all `unknown`. See [`crate::workload::plannable::Plannable::types`].
    pub param_types: Vec<String>,
    /// The statement writes: planned only, unless `analyze_writes`.
    pub writes: bool,
    /// Execute a writing statement too (read-write, rolled back; sequences advance).
    pub analyze_writes: bool,
    /// `CREATE INDEX` statements to create for real inside the rolled-back transaction.
    pub real_indexes: Vec<IndexDdl>,
    /// `CREATE INDEX` statements to create as HypoPG hypothetical indexes.
    pub hypothetical: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Executed: EXPLAIN (ANALYZE, BUFFERS).
    Analyze,
    /// Planned only (`--no-analyze`, hypothetical indexes, or a write without
    /// `--analyze-writes`).
    Plain,
    /// Generic plan of a parameterized statement, not executed.
    Generic,
}

/// A plan and how it was obtained.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    pub mode: Mode,
    pub plan: Plan,
    /// The server's JSON, unmodified.
    pub raw: Value,
    /// Things the user must know (rolled back, generic plan, ...).
    pub notes: Vec<String>,
    /// The parameter types the statement was prepared with (after any retry).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub param_types: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// A server error that points into the user's statement.
    #[error("{message} (line {line}, column {column})")]
    AtPosition {
        message: String,
        code: String,
        line: u64,
        column: u64,
        server_hint: Option<String>,
    },
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("the statement has {expected} parameter(s) ($1..${expected}) but {given} --param value(s) were given")]
    ParamCount { expected: usize, given: usize },
    #[error(
        "hypothetical indexes need the hypopg extension, which is not created in this database"
    )]
    NoHypopg { server_version_num: i32 },
    /// A `--with-index` statement dbopt will not build.
    #[error("--with-index: {0}")]
    BadIndex(String),
}

impl ExplainError {
    pub fn hint(&self) -> String {
        match self {
            ExplainError::AtPosition {
                code, server_hint, ..
            } => server_hint.clone().unwrap_or_else(|| code_hint(code)),
            ExplainError::Pg(e) => match e.code() {
                Some(c) if e.hint().is_none() => code_hint(c),
                _ => e
                    .hint()
                    .unwrap_or_else(|| "check the statement and the connection".into()),
            },
            ExplainError::Plan(e) => e.hint(),
            ExplainError::ParamCount { .. } => {
                "give one --param per placeholder, in order, or none for a generic plan".into()
            }
            ExplainError::NoHypopg { server_version_num } => format!("run CREATE EXTENSION hypopg (if the server lacks its files: {}); or use --with-index to build the index inside a rolled-back transaction", super::error::install_hint("hypopg", Some(*server_version_num))),
            ExplainError::BadIndex(_) => "give one CREATE INDEX statement per --with-index, on columns or on expressions of built-in (pg_catalog) functions, like --with-index \"CREATE INDEX ON orders (customer_id)\"".into(),
        }
    }

    /// Line and column in the user's statement, for a caret.
    pub fn position(&self) -> Option<(u64, u64)> {
        match self {
            ExplainError::AtPosition { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }
}

/// Hints by SQLSTATE for the errors a user's statement commonly hits.
fn code_hint(code: &str) -> String {
    match code {
        "42601" => "check the statement near the caret".into(),
        "42P01" => "check the table name and the search_path (schema-qualify it, or list tables with psql's \\dt)".into(),
        "42703" => "check the column name; psql's \\d <table> lists the columns".into(),
        "42883" => "check the function name and argument types; add casts to the --param values if needed".into(),
        "42501" => "the role lacks a privilege on a table the statement reads: GRANT SELECT to it, or connect as a role that has it".into(),
        "57014" => "the statement hit statement_timeout; raise it with --statement-timeout, or use --no-analyze to plan without executing".into(),
        "25006" => "the statement writes but ran read-only; dbopt executes INSERT/UPDATE/DELETE/MERGE (rolled back) only with --analyze-writes, and only when it recognises them".into(),
        "22P02" | "42804" => "check the --param values against the column types".into(),
        _ => "see the server's message; the statement was rolled back".into(),
    }
}

static NEXT_NAME: AtomicU32 = AtomicU32::new(0);

fn statement_name() -> String {
    format!(
        "dbopt_explain_{}_{}",
        std::process::id(),
        NEXT_NAME.fetch_add(1, Ordering::Relaxed)
    )
}

/// `text` sent to the server over the extended protocol (one statement, never more);
/// `prefix` characters of it come before the user's statement, so an error position maps back
/// into the statement.
async fn send(
    c: &Conn,
    text: &str,
    prefix: Option<usize>,
    user_sql: &str,
) -> Result<Vec<tokio_postgres::Row>, ExplainError> {
    c.query(text, &[])
        .await
        .map_err(|e| map_error(e, prefix, user_sql))
}

fn map_error(e: tokio_postgres::Error, prefix: Option<usize>, user_sql: &str) -> ExplainError {
    if let (Some(db), Some(prefix)) = (e.as_db_error(), prefix) {
        if let Some(ErrorPosition::Original(pos)) = db.position() {
            let pos = *pos as usize;
            if pos > prefix {
                let (line, column) = line_col(user_sql, pos - prefix);
                return ExplainError::AtPosition {
                    message: db.message().to_string(),
                    code: db.code().code().to_string(),
                    line,
                    column,
                    server_hint: db.hint().map(str::to_string),
                };
            }
        }
    }
    ExplainError::Pg(PgError::query("explaining the statement", e))
}

/// 1-based line and column of the `pos`-th (1-based) character.
fn line_col(sql: &str, pos: usize) -> (u64, u64) {
    let (mut line, mut col) = (1u64, 1u64);
    for ch in sql.chars().take(pos.saturating_sub(1)) {
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// Relations, conditions and sort keys of a statement dbopt's parser cannot read, taken from
/// its plan: planned only, never executed (a generic plan when it has `$n` parameters), so a
/// read-only session is enough even for DML.
pub async fn plan_summary(c: &Conn, sql: &str) -> Result<PlanSummary, ExplainError> {
    Ok(plan_generic(c, &crate::workload::plannable::plannable(sql))
        .await?
        .plan
        .summary())
}

/// The generic plan of a statement as [`crate::workload::plannable`] made it plannable:
/// planned only, never executed.
pub async fn plan_generic(
    c: &Conn,
    p: &crate::workload::plannable::Plannable,
) -> Result<Explained, ExplainError> {
    explain(
        c,
        &Request {
            sql: p.sql.clone(),
            analyze: false,
            nparams: p.types.len(),
            param_types: p.types.clone(),
            ..Default::default()
        },
    )
    .await
}

/// The statement without trailing semicolons and blanks.
pub fn trim_statement(sql: &str) -> &str {
    sql.trim_end().trim_end_matches(';').trim_end()
}

/// EXPLAIN the statement as requested, inside a transaction that is always rolled back.
pub async fn explain(c: &Conn, req: &Request) -> Result<Explained, ExplainError> {
    if !req.params.is_empty() && req.params.len() != req.nparams {
        return Err(ExplainError::ParamCount {
            expected: req.nparams,
            given: req.params.len(),
        });
    }
    if !req.hypothetical.is_empty() {
        match super::server::require_extension(c, "hypopg").await {
            Err(PgError::ExtensionMissing {
                server_version_num: Some(server_version_num),
                ..
            }) => return Err(ExplainError::NoHypopg { server_version_num }),
            other => other?,
        }
    }
    let executes_writes = req.writes && mode_of(req) == Mode::Analyze;
    let sequences_before = if executes_writes {
        Some(sequences(c).await?)
    } else {
        None
    };
    let mut prepared = None;
    c.batch_execute(if executes_writes || !req.real_indexes.is_empty() {
        "BEGIN READ WRITE"
    } else {
        "BEGIN"
    })
    .await
    .map_err(|e| PgError::query("starting the transaction", e))?;
    let result = run(c, req, executes_writes, &mut prepared).await;
    // Always roll back, then clean up what is not transactional.
    let rollback = c.batch_execute("ROLLBACK").await;
    if let Some(name) = prepared {
        let _ = c.batch_execute(&format!("DEALLOCATE {name}")).await;
    }
    if !req.hypothetical.is_empty() {
        let _ = c.batch_execute("SELECT hypopg_reset()").await;
    }
    rollback.map_err(|e| PgError::query("rolling back", e))?;
    let mut explained = match result {
        // A table or schema this role may not read: the hint names the exact GRANT.
        Err(ExplainError::Pg(e)) => {
            return Err(ExplainError::Pg(super::error::qualify_denied(c, e).await))
        }
        Err(ExplainError::AtPosition {
            message,
            code,
            line,
            column,
            server_hint: None,
        }) if code == super::error::INSUFFICIENT_PRIVILEGE => {
            return Err(ExplainError::AtPosition {
                server_hint: Some(super::error::privilege_hint(
                    &message,
                    Some(c.params().user()),
                )),
                message,
                code,
                line,
                column,
            })
        }
        r => r?,
    };
    if let Some(before) = sequences_before {
        let after = sequences(c).await?;
        let advanced: Vec<String> = after
            .iter()
            .filter_map(|(name, now)| {
                let was = before.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
                let show = |v: Option<i64>| v.map_or("unused".to_string(), |v| v.to_string());
                (was != Some(*now))
                    .then(|| format!("{name} (from {} to {})", show(was.flatten()), show(*now)))
            })
            .collect();
        explained.notes.push(if advanced.is_empty() {
            "no sequence advanced".into()
        } else {
            format!(
                "sequences advanced and were not rolled back (sequences are not transactional): {}",
                advanced.join(", ")
            )
        });
    }
    Ok(explained)
}

/// How the request is explained: generic without values, executed when asked and allowed.
fn mode_of(req: &Request) -> Mode {
    if req.nparams > 0 && req.params.is_empty() {
        Mode::Generic
    } else if req.analyze && req.hypothetical.is_empty() && (!req.writes || req.analyze_writes) {
        Mode::Analyze
    } else {
        Mode::Plain
    }
}

/// Every sequence the role can see, schema-qualified, with its `last_value` (NULL when unused
/// or not readable).
async fn sequences(c: &Conn) -> Result<Vec<(String, Option<i64>)>, ExplainError> {
    let rows = c
        .query(
            "SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_catalog.pg_sequences ORDER BY 1",
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading the sequences", e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Build the `--with-index` indexes inside the current transaction: tables resolved with the
/// user's search_path, functions checked against pg_catalog, then the rebuilt DDL run with
/// `search_path = pg_catalog` (restored afterwards for the user's statement).
async fn build_indexes(c: &Conn, ddls: &[IndexDdl]) -> Result<(), ExplainError> {
    let mut built = Vec::new();
    for ddl in ddls {
        let row = c
            .query_one(
                "SELECT n.nspname::text, k.relname::text FROM pg_catalog.pg_class k
                 JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
                 WHERE k.oid = pg_catalog.to_regclass($1)",
                &[&ddl.table],
            )
            .await;
        let (schema, table): (String, String) = match row {
            Ok(r) => (r.get(0), r.get(1)),
            Err(_) => {
                return Err(ExplainError::BadIndex(format!(
                    "table `{}` does not exist (check the name and the search_path)",
                    ddl.table
                )))
            }
        };
        let unknown: Vec<String> = c
            .query_one(
                "SELECT coalesce(array_agg(f ORDER BY f), '{}') FROM unnest($1::text[]) f
                 WHERE f <> ALL ('{coalesce,nullif,greatest,least}')
                   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
                                   WHERE p.proname = f AND p.pronamespace = 'pg_catalog'::regnamespace)",
                &[&ddl.functions],
            )
            .await
            .map_err(|e| PgError::query("checking the --with-index functions", e))?
            .get(0);
        if let Some(f) = unknown.first() {
            return Err(ExplainError::BadIndex(format!(
                "function `{f}` is not a built-in (pg_catalog) function; an index built for the comparison may only call those"
            )));
        }
        built.push(ddl.sql(&format!("{}.{}", quote_ident(&schema), quote_ident(&table))));
    }
    let path: String = c
        .query_one("SELECT pg_catalog.current_setting('search_path')", &[])
        .await
        .map_err(|e| PgError::query("reading search_path", e))?
        .get(0);
    c.batch_execute("SET LOCAL search_path = pg_catalog")
        .await
        .map_err(|e| PgError::query("setting search_path", e))?;
    for sql in &built {
        c.execute(sql.as_str(), &[])
            .await
            .map_err(|e| PgError::query(format!("building `{sql}`"), e))?;
    }
    c.query(
        "SELECT pg_catalog.set_config('search_path', $1, true)",
        &[&path],
    )
    .await
    .map_err(|e| PgError::query("restoring search_path", e))?;
    Ok(())
}

async fn run(
    c: &Conn,
    req: &Request,
    executes_writes: bool,
    prepared: &mut Option<String>,
) -> Result<Explained, ExplainError> {
    let sql = trim_statement(&req.sql);
    let mut notes = Vec::new();
    if !req.real_indexes.is_empty() {
        build_indexes(c, &req.real_indexes).await?;
        notes.push(format!(
            "{} index(es) built inside the transaction and rolled back with it (the build locks out writes to the table while it runs)",
            req.real_indexes.len()
        ));
    }
    if !executes_writes {
        // Allowed after the index builds: only the switch to read-write must come first.
        c.batch_execute("SET TRANSACTION READ ONLY")
            .await
            .map_err(|e| PgError::query("making the transaction read-only", e))?;
    }
    for ddl in &req.hypothetical {
        c.query("SELECT * FROM hypopg_create_index($1)", &[ddl])
            .await
            .map_err(|e| PgError::query(format!("creating hypothetical index `{ddl}`"), e))?;
    }
    let mode = mode_of(req);
    let generic = mode == Mode::Generic;
    let mut types = Vec::new();
    let opts = match mode {
        Mode::Analyze => "ANALYZE, BUFFERS, VERBOSE, FORMAT JSON",
        Mode::Plain | Mode::Generic => "VERBOSE, FORMAT JSON",
    };
    let rows = if req.nparams == 0 {
        let prefix = format!("EXPLAIN ({opts}) ");
        send(
            c,
            &format!("{prefix}{sql}"),
            Some(prefix.chars().count()),
            sql,
        )
        .await?
    } else {
        if generic {
            c.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
                .await
                .map_err(|e| PgError::query("asking for a generic plan", e))?;
        }
        let name = statement_name();
        types = prepare(c, &name, sql, req).await?;
        *prepared = Some(name.clone());
        let args: Vec<String> = if generic {
            vec!["NULL".into(); req.nparams]
        } else {
            req.params
                .iter()
                .map(|p| {
                    if p.eq_ignore_ascii_case("null") {
                        "NULL".into()
                    } else {
                        quote_literal(p)
                    }
                })
                .collect()
        };
        send(
            c,
            &format!("EXPLAIN ({opts}) EXECUTE {name}({})", args.join(", ")),
            None,
            sql,
        )
        .await?
    };
    let raw: Value = rows
        .first()
        .ok_or_else(|| PlanError("EXPLAIN returned no plan".into()))?
        .try_get(0)
        .map_err(|e| PlanError(e.to_string()))?;
    let plan = Plan::from_json(&raw)?;
    match mode {
        Mode::Analyze if req.writes => notes.push(
            "the statement was executed inside a transaction and rolled back: no rows were changed".into(),
        ),
        Mode::Analyze => notes.push("executed read-only inside a transaction that was rolled back".into()),
        Mode::Generic => notes.push(format!(
            "generic plan: the statement has {} parameter(s) and no --param values, so it was planned for any value and not executed",
            req.nparams
        )),
        Mode::Plain if !req.hypothetical.is_empty() => notes.push(format!(
            "planned with {} hypothetical index(es) (HypoPG), not executed; costs are estimates",
            req.hypothetical.len()
        )),
        Mode::Plain if req.writes && req.analyze => notes.push(
            "planned only, not executed: the statement writes, and executing it would advance its sequences for good even though the transaction is rolled back; pass --analyze-writes to execute it (rolled back) for actual times".into(),
        ),
        Mode::Plain => notes.push("planned only, not executed: estimates, no actual times".into()),
    }
    Ok(Explained {
        mode,
        plan,
        raw,
        notes,
        param_types: types,
    })
}

/// `PREPARE name (types) AS sql`, retried under a savepoint with the types the server's error
/// implies (see the module documentation); the types it was prepared with.
async fn prepare(
    c: &Conn,
    name: &str,
    sql: &str,
    req: &Request,
) -> Result<Vec<String>, ExplainError> {
    let mut types = if req.param_types.len() == req.nparams {
        req.param_types.clone()
    } else {
        vec!["unknown".to_string(); req.nparams]
    };
    let savepoint = |q: &'static str| async move {
        c.batch_execute(q)
            .await
            .map_err(|e| ExplainError::Pg(PgError::query("preparing the statement", e)))
    };
    let mut retries = 0;
    loop {
        let prefix = format!("PREPARE {name} ({}) AS ", types.join(", "));
        savepoint("SAVEPOINT dbopt_prepare").await?;
        match c.query(&format!("{prefix}{sql}"), &[]).await {
            Ok(_) => {
                savepoint("RELEASE SAVEPOINT dbopt_prepare").await?;
                return Ok(types);
            }
            Err(e) => {
                savepoint("ROLLBACK TO SAVEPOINT dbopt_prepare").await?;
                let retry = e.as_db_error().and_then(|db| {
                    crate::workload::plannable::retype(sql, &types, db.code().code(), db.message())
                });
                match retry {
                    Some(t) if retries < req.nparams => {
                        types = t;
                        retries += 1;
                    }
                    _ => return Err(map_error(e, Some(prefix.chars().count()), sql)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hypopg_package_follows_the_server_major() {
        let h = ExplainError::NoHypopg {
            server_version_num: 170_002,
        }
        .hint();
        assert!(
            h.contains("postgresql-17-hypopg") && !h.contains("postgresql-15"),
            "{h}"
        );
    }

    #[test]
    fn positions_map_to_line_and_column() {
        assert_eq!(line_col("SELECT 1", 1), (1, 1));
        assert_eq!(line_col("SELECT\n  x FROM", 10), (2, 3));
        assert_eq!(trim_statement("SELECT 1 ;\n"), "SELECT 1");
    }
}
