//! `dbopt explain`: EXPLAIN (ANALYZE, BUFFERS) one statement safely and say what is wrong with
//! its plan.
//!
//! Why the statement is parsed before it is sent: to know whether it writes (then it is only
//! planned, or with `--analyze-writes` executed in a read-write transaction that is rolled
//! back; otherwise the session is read-only), whether it is a utility statement that cannot be
//! explained, and how many `$n` parameters it has. A statement dbopt's parser cannot read is
//! still sent: the server is the judge of syntax, and such a statement is treated as writing
//! and analysed from its plan. `--with-index` statements are parsed before connecting, and
//! anything but one CREATE INDEX each is refused.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use clap::Args;

use super::{ExitStatus, Globals};
use crate::analyze::candidates;
use crate::findings::Severity;
use crate::pg::explain::{self as runner, ExplainError, IndexDdl, Request};
use crate::report::explain::{ExplainReport, Run};
use crate::report::{self, Format};
use crate::rules::{self, Ctx, Scope};
use crate::workload::shape::{self, ShapeError, StatementKind};

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The statement to explain (else -f FILE, --fingerprint, or standard input).
    pub query: Option<String>,

    /// Read the statement from FILE ("-" for standard input).
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "query"
    )]
    pub file: Option<PathBuf>,

    /// Explain the pg_stat_statements entry with this queryid (may be negative).
    #[arg(long, value_name = "ID", allow_hyphen_values = true, conflicts_with_all = ["query", "file"])]
    pub fingerprint: Option<String>,

    /// Plan only: do not execute the statement (no actual times).
    #[arg(long)]
    pub no_analyze: bool,

    /// Execute INSERT/UPDATE/DELETE/MERGE too (EXPLAIN ANALYZE inside a transaction that is
    /// rolled back). Without it they are planned only, since sequences they use would advance
    /// for good.
    #[arg(long)]
    pub analyze_writes: bool,

    /// Value for $1, $2, ... in order (repeat the flag); "NULL" for a null. Without values a
    /// parameterized statement gets a generic plan.
    #[arg(long = "param", value_name = "VALUE")]
    pub params: Vec<String>,

    /// Also plan the statement with hypothetical indexes (HypoPG) built from its shape, or with
    /// the --with-index statements, and show both plans.
    #[arg(long)]
    pub compare: bool,

    /// One CREATE INDEX statement to build inside the rolled-back transaction for the
    /// comparison (repeat the flag for several; CONCURRENTLY is dropped). Implies --compare.
    #[arg(long = "with-index", value_name = "DDL")]
    pub with_index: Vec<String>,

    /// Exit with status 1 when a finding is at least this severe.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,
}

/// A failure the user can fix, printed as one line plus a caret when there is a position.
struct UserError {
    message: String,
    hint: String,
    caret: Option<String>,
}

impl UserError {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: hint.into(),
            caret: None,
        }
    }
}

fn caret(sql: &str, line: u64, column: u64) -> Option<String> {
    ShapeError {
        message: String::new(),
        line,
        column,
        too_deep: false,
    }
    .caret(sql)
}

fn from_explain(e: ExplainError, sql: &str) -> UserError {
    let hint = e.hint();
    let caret = e.position().and_then(|(l, c)| caret(sql, l, c));
    UserError {
        message: e.to_string(),
        hint,
        caret,
    }
}

async fn read_statement(
    args: &ExplainArgs,
    g: &Globals,
) -> anyhow::Result<Result<String, UserError>> {
    if let Some(q) = &args.query {
        return Ok(Ok(q.clone()));
    }
    if let Some(f) = &args.file {
        let mut text = String::new();
        let res = if f.as_os_str() == "-" {
            std::io::stdin().read_to_string(&mut text).map(|_| ())
        } else {
            std::fs::read_to_string(f).map(|t| text = t)
        };
        return Ok(res.map(|()| text).map_err(|e| {
            UserError::new(
                format!("cannot read {}: {e}", f.display()),
                "check the path; use -f - to read standard input",
            )
        }));
    }
    if let Some(id) = &args.fingerprint {
        let conn = crate::pg::connect(&g.connect.params()?, &g.connect.session(true)).await?;
        let w = crate::pg::pgss::read(&conn).await?;
        return Ok(w
            .statements
            .into_iter()
            .find(|s| &s.fingerprint == id)
            .map(|s| s.query)
            .ok_or_else(|| {
                UserError::new(
                    format!("no statement with queryid {id} in pg_stat_statements"),
                    "list statements and their ids with `dbopt queries`, or check the database",
                )
            }));
    }
    if std::io::stdin().is_terminal() {
        return Ok(Err(UserError::new(
            "no statement given",
            "pass it as an argument, with -f FILE, with --fingerprint ID, or on standard input",
        )));
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    Ok(Ok(text))
}

pub async fn run(g: &Globals, args: &ExplainArgs) -> anyhow::Result<ExitStatus> {
    match explain(g, args).await? {
        Ok(status) => Ok(status),
        Err(e) => {
            eprintln!("error: {}; hint: {}", e.message, e.hint);
            if let Some(c) = e.caret {
                eprintln!("{c}");
            }
            Ok(ExitStatus::Error)
        }
    }
}

async fn explain(g: &Globals, args: &ExplainArgs) -> anyhow::Result<Result<ExitStatus, UserError>> {
    let sql = match read_statement(args, g).await? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let sql = runner::trim_statement(&sql).trim_start().to_string();
    if sql.is_empty() {
        return Ok(Err(UserError::new(
            "the statement is empty",
            "give one SELECT, INSERT, UPDATE, DELETE or MERGE statement",
        )));
    }
    let parsed = shape::extract(&sql);
    let (shape, parse_error) = match parsed {
        Ok(mut shapes) => {
            if shapes.len() != 1 {
                return Ok(Err(UserError::new(
                    format!("{} statements given; dbopt explain takes one", shapes.len()),
                    "explain the statements one at a time",
                )));
            }
            let s = shapes.remove(0);
            let first_word = sql.split_whitespace().next().unwrap_or("");
            if first_word.eq_ignore_ascii_case("explain") {
                return Ok(Err(UserError::new(
                    "the statement already starts with EXPLAIN",
                    "pass the statement itself; dbopt adds EXPLAIN (ANALYZE, BUFFERS) and runs it safely",
                )));
            }
            if s.kind == StatementKind::Utility {
                return Ok(Err(UserError::new(
                    format!(
                        "`{}` is a utility statement, which EXPLAIN cannot explain",
                        sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
                    ),
                    "explain a SELECT, INSERT, UPDATE, DELETE, MERGE or VALUES statement (for CREATE TABLE AS, explain its SELECT)",
                )));
            }
            (Some(s), None)
        }
        // Not a syntax error the server may still accept: too large for dbopt to analyse.
        Err(e) if e.too_deep => return Ok(Err(UserError::new(e.to_string(), e.hint()))),
        Err(e) => (None, Some(e)),
    };
    // Unparsed statements count as writing: planned only unless --analyze-writes.
    let writes = shape.as_ref().is_none_or(shape::is_data_modifying);
    let with_index = match args
        .with_index
        .iter()
        .map(|d| IndexDdl::parse(d))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(w) => w,
        Err(e) => return Ok(Err(UserError::new(e.to_string(), e.hint()))),
    };
    let read_only = !(writes && args.analyze_writes) && with_index.is_empty();
    let conn = crate::pg::connect(&g.connect.params()?, &g.connect.session(read_only)).await?;
    let base = Request {
        sql: sql.clone(),
        analyze: !args.no_analyze,
        nparams: shape::placeholders(&sql),
        params: args.params.clone(),
        writes,
        analyze_writes: args.analyze_writes,
        ..Default::default()
    };
    let config = match rules::Config::load(None) {
        Ok(c) => c,
        Err(e) => return Ok(Err(UserError::new(e.to_string(), e.hint()))),
    };
    let check = |e: &runner::Explained| {
        rules::run(
            Scope::Plan,
            &Ctx {
                plan: Some(&e.plan),
                ..Default::default()
            },
            &config,
        )
        .map_err(|e| UserError::new(e.to_string(), e.hint()))
    };

    // Hypothetical indexes only change plain EXPLAIN: then the baseline is planned only, too.
    let hypothetical = if args.compare && with_index.is_empty() {
        shape
            .as_ref()
            .map(candidates::for_shape)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut notes = Vec::new();
    if args.compare && with_index.is_empty() && hypothetical.is_empty() {
        notes.push("--compare: the statement's shape gives no candidate index (no equality, range or sort columns); pass --with-index to try one".into());
    }
    if !hypothetical.is_empty() && base.analyze {
        notes.push("--compare with hypothetical indexes plans both runs without executing them: HypoPG indexes exist only for the planner (use --with-index for actual times)".into());
    }
    let before_req = Request {
        analyze: base.analyze && hypothetical.is_empty(),
        ..base.clone()
    };
    let before = match runner::explain(&conn, &before_req).await {
        Ok(e) => e,
        Err(e) => {
            // The server rejected it too: a syntax error is reported with the server's position.
            return Ok(Err(from_explain(e, &sql)));
        }
    };
    let before = Run {
        indexes: Vec::new(),
        hypothetical: false,
        findings: match check(&before) {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        },
        explained: before,
    };
    let after = if !with_index.is_empty() || !hypothetical.is_empty() {
        let req = Request {
            real_indexes: with_index.clone(),
            hypothetical: hypothetical.clone(),
            ..before_req.clone()
        };
        let e = match runner::explain(&conn, &req).await {
            Ok(e) => e,
            Err(e) => return Ok(Err(from_explain(e, &sql))),
        };
        Some(Run {
            indexes: if with_index.is_empty() {
                hypothetical
            } else {
                with_index.iter().map(ToString::to_string).collect()
            },
            hypothetical: with_index.is_empty(),
            findings: match check(&e) {
                Ok(f) => f,
                Err(e) => return Ok(Err(e)),
            },
            explained: e,
        })
    } else {
        None
    };
    if with_index.iter().any(|d| d.concurrently) {
        notes.push("CONCURRENTLY was dropped from --with-index: the index is built inside the transaction that is rolled back".into());
    }
    let report = ExplainReport {
        plan_summary: parse_error
            .as_ref()
            .map(|_| before.explained.plan.summary()),
        statement: sql,
        kind: shape.as_ref().map(|s| s.kind),
        shape,
        parse_error: parse_error.map(|e| e.to_string()),
        before,
        after,
        notes,
    };
    match g.format {
        Format::Json => report::print_json(&report)?,
        f => print!("{}", report::explain::render(&report, f)),
    }
    let worst = report
        .after
        .as_ref()
        .unwrap_or(&report.before)
        .findings
        .iter()
        .chain(&report.before.findings)
        .map(|f| f.severity)
        .max();
    Ok(Ok(match (args.fail_on, worst) {
        (Some(limit), Some(w)) if w >= limit => ExitStatus::Findings,
        _ => ExitStatus::Ok,
    }))
}
