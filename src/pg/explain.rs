//! Running EXPLAIN safely: the only code that executes a user's statement.
//!
//! Why every EXPLAIN runs inside a transaction that is rolled back: `EXPLAIN ANALYZE` executes
//! the statement, so an UPDATE really updates. Rolling back makes the run leave no trace in the
//! tables (sequences still advance: they are not transactional). Statements that only read run
//! in the read-only session dbopt opens by default, so even a function with side effects fails
//! rather than writes.
//!
//! Statements with `$n` parameters are planned with the given `--param` values
//! (`PREPARE`/`EXECUTE`), else as a generic plan: `EXPLAIN (GENERIC_PLAN)` from PostgreSQL 16,
//! before that `PREPARE` under `plan_cache_mode = force_generic_plan` and `EXECUTE` with NULLs,
//! not executed. Prepared statements get a name of dbopt's own and are deallocated, so the
//! session's other prepared statements are never touched.

use std::sync::atomic::{AtomicU32, Ordering};

use serde::Serialize;
use serde_json::Value;
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::SimpleQueryMessage;

use super::connect::Conn;
use super::error::PgError;
use super::quote_literal;
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
    /// The statement writes: run it in a read-write transaction (rolled back).
    pub writes: bool,
    /// `CREATE INDEX` statements to create for real inside the rolled-back transaction.
    pub real_indexes: Vec<String>,
    /// `CREATE INDEX` statements to create as HypoPG hypothetical indexes.
    pub hypothetical: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Executed: EXPLAIN (ANALYZE, BUFFERS).
    Analyze,
    /// Planned only (`--no-analyze`, or hypothetical indexes).
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
    NoHypopg,
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
            ExplainError::NoHypopg => "install it (Debian: postgresql-15-hypopg) and run CREATE EXTENSION hypopg; or use --with-index to build the index inside a rolled-back transaction".into(),
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
        "25006" => "the statement writes but ran read-only; dbopt runs INSERT/UPDATE/DELETE/MERGE in a rolled-back transaction only when it recognises them".into(),
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

/// `text` sent to the server; `prefix` characters of it come before the user's statement, so
/// an error position maps back into the statement.
async fn simple(
    c: &Conn,
    text: &str,
    prefix: Option<usize>,
    user_sql: &str,
) -> Result<Vec<String>, ExplainError> {
    let msgs = c
        .simple_query(text)
        .await
        .map_err(|e| map_error(e, prefix, user_sql))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect())
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
    let e = explain(
        c,
        &Request {
            sql: sql.into(),
            analyze: false,
            nparams: crate::workload::shape::placeholders(sql),
            ..Default::default()
        },
    )
    .await?;
    Ok(e.plan.summary())
}

/// The session's effective search_path (`current_schemas(false)`: existing schemas only,
/// `$user` resolved), for resolving the tables of a query shape.
pub async fn search_path(c: &Conn) -> Result<Vec<String>, PgError> {
    let row = c
        .query_one("SELECT current_schemas(false)::text[]", &[])
        .await
        .map_err(|e| PgError::query("reading search_path", e))?;
    Ok(row.get(0))
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
        let has: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'hypopg')",
                &[],
            )
            .await
            .map_err(|e| PgError::query("looking for hypopg", e))?
            .get(0);
        if !has {
            return Err(ExplainError::NoHypopg);
        }
    }
    let version: i32 = c
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| PgError::query("reading the server version", e))?
        .get(0);
    let mut prepared = None;
    c.batch_execute(if req.writes || !req.real_indexes.is_empty() {
        "BEGIN READ WRITE"
    } else {
        "BEGIN"
    })
    .await
    .map_err(|e| PgError::query("starting the transaction", e))?;
    let result = run(c, req, version, &mut prepared).await;
    // Always roll back, then clean up what is not transactional.
    let rollback = c.batch_execute("ROLLBACK").await;
    if let Some(name) = prepared {
        let _ = c.batch_execute(&format!("DEALLOCATE {name}")).await;
    }
    if !req.hypothetical.is_empty() {
        let _ = c.batch_execute("SELECT hypopg_reset()").await;
    }
    rollback.map_err(|e| PgError::query("rolling back", e))?;
    result
}

async fn run(
    c: &Conn,
    req: &Request,
    version: i32,
    prepared: &mut Option<String>,
) -> Result<Explained, ExplainError> {
    let sql = trim_statement(&req.sql);
    let mut notes = Vec::new();
    for ddl in &req.real_indexes {
        simple(c, ddl, Some(0), ddl).await?;
    }
    if !req.real_indexes.is_empty() {
        notes.push(format!(
            "{} index(es) built inside the transaction and rolled back with it (the build locks out writes to the table while it runs)",
            req.real_indexes.len()
        ));
    }
    for ddl in &req.hypothetical {
        c.query("SELECT * FROM hypopg_create_index($1)", &[ddl])
            .await
            .map_err(|e| PgError::query(format!("creating hypothetical index `{ddl}`"), e))?;
    }
    let generic = req.nparams > 0 && req.params.is_empty();
    let mode = if generic {
        Mode::Generic
    } else if req.analyze && req.hypothetical.is_empty() {
        Mode::Analyze
    } else {
        Mode::Plain
    };
    let opts = match mode {
        Mode::Analyze => "ANALYZE, BUFFERS, VERBOSE, FORMAT JSON",
        Mode::Plain => "VERBOSE, FORMAT JSON",
        Mode::Generic if version >= 160_000 => "GENERIC_PLAN, VERBOSE, FORMAT JSON",
        Mode::Generic => "VERBOSE, FORMAT JSON",
    };
    let rows = if req.nparams == 0 || (generic && version >= 160_000) {
        let prefix = format!("EXPLAIN ({opts}) ");
        simple(
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
        let prefix = format!("PREPARE {name} AS ");
        simple(
            c,
            &format!("{prefix}{sql}"),
            Some(prefix.chars().count()),
            sql,
        )
        .await?;
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
        simple(
            c,
            &format!("EXPLAIN ({opts}) EXECUTE {name}({})", args.join(", ")),
            None,
            sql,
        )
        .await?
    };
    let text = rows.concat();
    let raw: Value = serde_json::from_str(&text).map_err(|e| PlanError(e.to_string()))?;
    let plan = Plan::from_json(&raw)?;
    match mode {
        Mode::Analyze if req.writes => notes.push(
            "the statement was executed inside a transaction and rolled back: no rows were changed (sequences it used still advanced)".into(),
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
        Mode::Plain => notes.push("planned only, not executed: estimates, no actual times".into()),
    }
    Ok(Explained {
        mode,
        plan,
        raw,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_map_to_line_and_column() {
        assert_eq!(line_col("SELECT 1", 1), (1, 1));
        assert_eq!(line_col("SELECT\n  x FROM", 10), (2, 3));
        assert_eq!(trim_statement("SELECT 1 ;\n"), "SELECT 1");
    }
}
