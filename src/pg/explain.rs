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

use std::fmt;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Serialize;
use serde_json::Value;
use sqlparser::ast::{
    BinaryOperator, CreateIndex, DataType, Expr, Ident, IndexColumn, IndexType, ObjectName,
    ObjectNamePart, OrderBySort, Query, Statement, Visit, VisitMut, Visitor, VisitorMut,
};
use tokio_postgres::error::ErrorPosition;

use super::connect::Conn;
use super::error::PgError;
use super::{quote_ident, quote_literal};
use crate::analyze::plan::{Plan, PlanError, PlanSummary};

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

/// One `--with-index` statement: exactly one CREATE INDEX, checked and rebuilt from its parsed
/// form, so nothing but that index can ever be sent. Column references are quoted (unquoted
/// names folded to lower case, as PostgreSQL does); functions, types and operator classes must
/// be unqualified or in pg_catalog (they are resolved with `search_path = pg_catalog`);
/// subqueries and `OPERATOR(...)` are refused; CONCURRENTLY is dropped, since the index is
/// built inside the transaction that is rolled back.
#[derive(Debug, Clone)]
pub struct IndexDdl {
    create: CreateIndex,
    /// The table as written, for `to_regclass`.
    table: String,
    /// The functions the expressions call, by name; each must be a pg_catalog one.
    functions: Vec<String>,
    /// CONCURRENTLY was given (and dropped).
    pub concurrently: bool,
}

impl IndexDdl {
    pub fn parse(text: &str) -> Result<IndexDdl, ExplainError> {
        let bad = |m: &str| ExplainError::BadIndex(m.to_string());
        let mut stmts = crate::workload::shape::parse(text).map_err(|e| {
            ExplainError::BadIndex(format!("not a CREATE INDEX statement dbopt can read ({e})"))
        })?;
        if stmts.len() != 1 {
            return Err(ExplainError::BadIndex(format!(
                "{} statements given; it takes exactly one CREATE INDEX statement",
                stmts.len()
            )));
        }
        let Statement::CreateIndex(mut create) = stmts.remove(0) else {
            return Err(bad(
                "only a CREATE INDEX statement is accepted, nothing else",
            ));
        };
        if create.r#async || !create.index_options.is_empty() || !create.alter_options.is_empty() {
            return Err(bad("options PostgreSQL's CREATE INDEX does not have"));
        }
        if create.name.as_ref().is_some_and(|n| n.0.len() != 1) {
            return Err(bad("the index name cannot be schema-qualified"));
        }
        for col in &create.columns {
            if col
                .operator_class
                .as_ref()
                .is_some_and(|o| builtin(o).is_none())
            {
                return Err(bad(
                    "only built-in (pg_catalog) operator classes are accepted",
                ));
            }
            if matches!(col.column.options.sort, Some(OrderBySort::Using(_)))
                || col.column.with_fill.is_some()
            {
                return Err(bad(
                    "an index column takes only ASC/DESC and NULLS FIRST/LAST",
                ));
            }
        }
        let mut check = Check::default();
        let _ = create.columns.visit(&mut check);
        let _ = create.predicate.visit(&mut check);
        let _ = create.with.visit(&mut check);
        if let Some(reason) = check.refused {
            return Err(ExplainError::BadIndex(reason));
        }
        let _ = VisitMut::visit(&mut create.columns, &mut QuoteColumns);
        let _ = VisitMut::visit(&mut create.predicate, &mut QuoteColumns);
        let concurrently = std::mem::take(&mut create.concurrently);
        Ok(IndexDdl {
            table: create.table_name.to_string(),
            functions: check.functions,
            concurrently,
            create,
        })
    }

    /// The rebuilt statement on `table` (already quoted).
    pub fn sql(&self, table: &str) -> String {
        let c = &self.create;
        let mut out = String::from("CREATE ");
        if c.unique {
            out.push_str("UNIQUE ");
        }
        out.push_str("INDEX ");
        if c.if_not_exists {
            out.push_str("IF NOT EXISTS ");
        }
        if let Some(name) = &c.name {
            out.push_str(&quoted_name(name));
            out.push(' ');
        }
        out.push_str("ON ");
        out.push_str(table);
        if let Some(m) = &c.using {
            out.push_str(" USING ");
            out.push_str(&method(m));
        }
        let cols: Vec<String> = c.columns.iter().map(column).collect();
        out.push_str(&format!(" ({})", cols.join(", ")));
        if !c.include.is_empty() {
            let inc: Vec<String> = c.include.iter().map(|i| quote_ident(&fold(i))).collect();
            out.push_str(&format!(" INCLUDE ({})", inc.join(", ")));
        }
        match c.nulls_distinct {
            Some(true) => out.push_str(" NULLS DISTINCT"),
            Some(false) => out.push_str(" NULLS NOT DISTINCT"),
            None => {}
        }
        if !c.with.is_empty() {
            let with: Vec<String> = c.with.iter().map(ToString::to_string).collect();
            out.push_str(&format!(" WITH ({})", with.join(", ")));
        }
        if let Some(p) = &c.predicate {
            out.push_str(&format!(" WHERE {p}"));
        }
        out
    }
}

/// The statement on the table as written (quoted), for reports.
impl fmt::Display for IndexDdl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql(&quoted_name(&self.create.table_name)))
    }
}

/// The name PostgreSQL sees: unquoted identifiers fold to lower case.
fn fold(id: &Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_ascii_lowercase()
    }
}

fn name_parts(name: &ObjectName) -> Option<Vec<String>> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(id) => Some(fold(id)),
            _ => None,
        })
        .collect()
}

fn quoted_name(name: &ObjectName) -> String {
    name_parts(name)
        .unwrap_or_default()
        .iter()
        .map(|p| quote_ident(p))
        .collect::<Vec<_>>()
        .join(".")
}

/// The object's own name when it is unqualified or in pg_catalog.
fn builtin(name: &ObjectName) -> Option<String> {
    match name_parts(name)?.as_slice() {
        [n] => Some(n.clone()),
        [schema, n] if schema == "pg_catalog" => Some(n.clone()),
        _ => None,
    }
}

fn method(m: &IndexType) -> String {
    match m {
        IndexType::BTree => "btree".into(),
        IndexType::Hash => "hash".into(),
        IndexType::GIN => "gin".into(),
        IndexType::GiST => "gist".into(),
        IndexType::SPGiST => "spgist".into(),
        IndexType::BRIN => "brin".into(),
        IndexType::Bloom => "bloom".into(),
        IndexType::Custom(id) => quote_ident(&fold(id)),
    }
}

/// A column as written in the index: a plain column by name, an expression in parentheses.
fn column(col: &IndexColumn) -> String {
    let mut out = match &col.column.expr {
        Expr::Identifier(id) => id.to_string(),
        e => format!("({e})"),
    };
    if let Some(op) = &col.operator_class {
        out.push(' ');
        out.push_str(&op.to_string());
    }
    out.push_str(&col.column.options.to_string());
    out
}

/// Refuses what an index for the comparison must not contain; collects the functions called.
#[derive(Default)]
struct Check {
    functions: Vec<String>,
    refused: Option<String>,
}

impl Visitor for Check {
    type Break = ();

    fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.refused = Some("subqueries are not accepted in an index".into());
        ControlFlow::Break(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        let custom_op =
            |op: &BinaryOperator| matches!(op, BinaryOperator::PGCustomBinaryOperator(_));
        self.refused = match e {
            Expr::BinaryOp { op, .. } if custom_op(op) => {
                Some("OPERATOR(...) is not accepted; use the built-in operators".into())
            }
            Expr::AnyOp { compare_op, .. } | Expr::AllOp { compare_op, .. }
                if custom_op(compare_op) =>
            {
                Some("OPERATOR(...) is not accepted; use the built-in operators".into())
            }
            Expr::Function(f) => match builtin(&f.name) {
                Some(name) => {
                    self.functions.push(name);
                    None
                }
                None => Some(format!(
                    "function `{}` is not a built-in (pg_catalog) function",
                    f.name
                )),
            },
            Expr::Cast {
                data_type: DataType::Custom(name, _),
                ..
            } if builtin(name).is_none() => {
                Some(format!("type `{name}` is not a built-in (pg_catalog) type"))
            }
            _ => None,
        };
        if self.refused.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// Quotes column references (folding unquoted ones as PostgreSQL does).
struct QuoteColumns;

impl VisitorMut for QuoteColumns {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let quote = |id: &mut Ident| {
            id.value = fold(id);
            id.quote_style = Some('"');
        };
        match e {
            Expr::Identifier(id) => quote(id),
            Expr::CompoundIdentifier(ids) => ids.iter_mut().for_each(quote),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ddl_is_one_create_index_rebuilt_with_quoted_names() {
        let ok = |t: &str| IndexDdl::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(
            ok("CREATE INDEX ON Items (Shop, \"Price\" DESC NULLS LAST)").to_string(),
            r#"CREATE INDEX ON "items" ("shop", "Price" DESC NULLS LAST)"#
        );
        let d = ok("create unique index concurrently if not exists ix on app.t using gin (lower(name) text_pattern_ops) include (a) where active and x > 1;");
        assert!(d.concurrently);
        assert_eq!(d.functions, ["lower"]);
        assert_eq!(d.table, "app.t");
        assert_eq!(
            d.sql("\"app\".\"t\""),
            r#"CREATE UNIQUE INDEX IF NOT EXISTS "ix" ON "app"."t" USING gin ((lower("name")) text_pattern_ops) INCLUDE ("a") WHERE "active" AND "x" > 1"#
        );
        assert_eq!(
            ok("CREATE INDEX ON t ((pg_catalog.lower(n)))").functions,
            ["lower"]
        );
        for (bad, needle) in [
            (
                "CREATE INDEX ON victim (x); COMMIT; DELETE FROM victim WHERE id = 10",
                "3 statements",
            ),
            (
                "CREATE INDEX ON t (x); CREATE INDEX ON t (y)",
                "2 statements",
            ),
            ("DELETE FROM victim", "only a CREATE INDEX"),
            ("COMMIT", "only a CREATE INDEX"),
            (
                "CREATE INDEX ON t ((public.evil(x)))",
                "`public.evil` is not a built-in",
            ),
            ("CREATE INDEX ON t ((x OPERATOR(public.+) 1))", "OPERATOR"),
            ("CREATE INDEX ON t (x public.my_ops)", "operator classes"),
            (
                "CREATE INDEX ON t ((x::public.mytype))",
                "type `public.mytype`",
            ),
            ("CREATE INDEX ON t (x) WHERE x IN (SELECT 1)", "subqueries"),
            (
                "CREATE INDEX ON t ((coalesce(x, (SELECT max(y) FROM u))))",
                "subqueries",
            ),
            ("CREATE INDEX ON t (x", "dbopt can read"),
        ] {
            let err = IndexDdl::parse(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

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
