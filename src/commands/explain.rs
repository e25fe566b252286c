//! Explain one statement safely and say what is wrong with its plan.
//!
//! Why the statement is parsed before it is sent ([`prepare`], no server needed): to know
//! whether it writes (then it is only planned, or with `analyze_writes` executed in a
//! read-write transaction that is rolled back; otherwise the session is read-only), whether it
//! is a utility statement that cannot be explained, and how many `$n` parameters it has. A
//! statement dbopt's parser cannot read is still sent: the server is the judge of syntax, and
//! such a statement is treated as writing and analysed from its plan. `with_index` statements
//! are parsed before connecting, and anything but one CREATE INDEX each is refused.

use crate::analyze::candidates;
use crate::findings::Finding;
use crate::hint::UserError;
use crate::pg::explain::{self as runner, ExplainError, Explained, IndexDdl};
use crate::pg::Conn;
use crate::report::explain::{ExplainReport, Run};
use crate::rules::{self, Config, Ctx, Scope};
use crate::workload::shape::{self, Shape, ShapeError, StatementKind};

/// What to explain and how, as plain values.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub statement: String,
    /// Plan only (no actual times).
    pub no_analyze: bool,
    pub analyze_writes: bool,
    /// `--param` values in order.
    pub params: Vec<String>,
    /// Also plan with hypothetical indexes from the statement's shape (or `with_index`).
    pub compare: bool,
    /// CREATE INDEX statements to build inside the rolled-back transaction.
    pub with_index: Vec<String>,
}

/// A statement checked and ready to send.
pub struct Prepared {
    sql: String,
    shape: Option<Shape>,
    parse_error: Option<ShapeError>,
    writes: bool,
    with_index: Vec<IndexDdl>,
    compare: bool,
    base: runner::Request,
}

impl Prepared {
    /// The session must be read-write: a write is executed, or an index is built (both rolled
    /// back).
    pub fn read_only(&self) -> bool {
        !(self.writes && self.base.analyze_writes) && self.with_index.is_empty()
    }
}

/// Check the statement and the `with_index` DDL without a server.
pub fn prepare(req: &Request) -> Result<Prepared, UserError> {
    let sql = runner::trim_statement(&req.statement)
        .trim_start()
        .to_string();
    if sql.is_empty() {
        return Err(UserError::new(
            "the statement is empty",
            "give one SELECT, INSERT, UPDATE, DELETE or MERGE statement",
        ));
    }
    let (shape, parse_error) = match shape::extract(&sql) {
        Ok(shapes) => (Some(one_statement(&sql, shapes)?), None),
        // Not a syntax error the server may still accept: too large for dbopt to analyse.
        Err(e) if e.too_deep => return Err(UserError::from_hinted(&e)),
        Err(e) => (None, Some(e)),
    };
    // Unparsed statements count as writing: planned only unless analyze_writes.
    let writes = shape.as_ref().is_none_or(shape::is_data_modifying);
    let with_index = req
        .with_index
        .iter()
        .map(|d| IndexDdl::parse(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UserError::from_hinted(&e))?;
    let base = runner::Request {
        sql: sql.clone(),
        analyze: !req.no_analyze,
        nparams: shape::placeholders(&sql),
        params: req.params.clone(),
        writes,
        analyze_writes: req.analyze_writes,
        ..Default::default()
    };
    Ok(Prepared {
        sql,
        shape,
        parse_error,
        writes,
        with_index,
        compare: req.compare,
        base,
    })
}

/// The one explainable statement of `shapes`.
fn one_statement(sql: &str, mut shapes: Vec<Shape>) -> Result<Shape, UserError> {
    if shapes.len() != 1 {
        return Err(UserError::new(
            format!("{} statements given; dbopt explain takes one", shapes.len()),
            "explain the statements one at a time",
        ));
    }
    let s = shapes.remove(0);
    let first_word = sql.split_whitespace().next().unwrap_or("");
    if first_word.eq_ignore_ascii_case("explain") {
        return Err(UserError::new(
            "the statement already starts with EXPLAIN",
            "pass the statement itself; dbopt adds EXPLAIN (ANALYZE, BUFFERS) and runs it safely",
        ));
    }
    if s.kind == StatementKind::Utility {
        return Err(UserError::new(
            format!(
                "`{}` is a utility statement, which EXPLAIN cannot explain",
                sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            ),
            "explain a SELECT, INSERT, UPDATE, DELETE, MERGE or VALUES statement (for CREATE TABLE AS, explain its SELECT)",
        ));
    }
    Ok(s)
}

/// A server's refusal as the user's error, with a caret under the position it names.
fn from_explain(e: ExplainError, sql: &str) -> UserError {
    let hint = e.hint();
    let caret = e.position().and_then(|(line, column)| {
        ShapeError {
            message: String::new(),
            line,
            column,
            too_deep: false,
        }
        .caret(sql)
    });
    UserError {
        message: e.to_string(),
        hint,
        caret,
    }
}

/// The plan rules' findings on one run.
fn check(config: &Config, e: &Explained) -> Result<Vec<Finding>, UserError> {
    let ctx = Ctx {
        plan: Some(&e.plan),
        ..Default::default()
    };
    rules::run(Scope::Plan, &ctx, config).map_err(|e| UserError::from_hinted(&e))
}

/// EXPLAIN the prepared statement on `conn` (opened read-only when [`Prepared::read_only`]),
/// once as it is and once with the indexes to compare, if any.
pub async fn run(p: Prepared, conn: &Conn, config: &Config) -> Result<ExplainReport, UserError> {
    // Hypothetical indexes only change plain EXPLAIN: then the baseline is planned only, too.
    let hypothetical = match &p.shape {
        Some(s) if p.compare && p.with_index.is_empty() => candidates::for_shape(s),
        _ => Vec::new(),
    };
    let mut notes = Vec::new();
    if p.compare && p.with_index.is_empty() && hypothetical.is_empty() {
        notes.push("--compare: the statement's shape gives no candidate index (no equality, range or sort columns); pass --with-index to try one".into());
    }
    if !hypothetical.is_empty() && p.base.analyze {
        notes.push("--compare with hypothetical indexes plans both runs without executing them: HypoPG indexes exist only for the planner (use --with-index for actual times)".into());
    }
    let before_req = runner::Request {
        analyze: p.base.analyze && hypothetical.is_empty(),
        ..p.base.clone()
    };
    // The server rejected it too: a syntax error is reported with the server's position.
    let explained = runner::explain(conn, &before_req)
        .await
        .map_err(|e| from_explain(e, &p.sql))?;
    let before = Run {
        indexes: Vec::new(),
        hypothetical: false,
        findings: check(config, &explained)?,
        explained,
    };
    let after = if !p.with_index.is_empty() || !hypothetical.is_empty() {
        let req = runner::Request {
            real_indexes: p.with_index.clone(),
            hypothetical: hypothetical.clone(),
            ..before_req
        };
        let explained = runner::explain(conn, &req)
            .await
            .map_err(|e| from_explain(e, &p.sql))?;
        Some(Run {
            indexes: if p.with_index.is_empty() {
                hypothetical
            } else {
                p.with_index.iter().map(ToString::to_string).collect()
            },
            hypothetical: p.with_index.is_empty(),
            findings: check(config, &explained)?,
            explained,
        })
    } else {
        None
    };
    if p.with_index.iter().any(|d| d.concurrently) {
        notes.push("CONCURRENTLY was dropped from --with-index: the index is built inside the transaction that is rolled back".into());
    }
    Ok(ExplainReport {
        plan_summary: p
            .parse_error
            .as_ref()
            .map(|_| before.explained.plan.summary()),
        statement: p.sql,
        kind: p.shape.as_ref().map(|s| s.kind),
        shape: p.shape,
        parse_error: p.parse_error.map(|e| e.to_string()),
        before,
        after,
        notes,
    })
}

/// The most severe finding of the report's runs.
pub fn worst(r: &ExplainReport) -> Option<crate::findings::Severity> {
    r.after
        .as_ref()
        .unwrap_or(&r.before)
        .findings
        .iter()
        .chain(&r.before.findings)
        .map(|f| f.severity)
        .max()
}
