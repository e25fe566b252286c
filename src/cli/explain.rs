//! `dbopt explain`: EXPLAIN (ANALYZE, BUFFERS) one statement safely and say what is wrong with
//! its plan. The statement comes from the argument, a file, standard input or
//! pg_stat_statements; [`crate::commands::explain`] checks and explains it (and says why it is
//! parsed first), `report` prints.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use clap::Args;

use super::args::FailOn;
use super::{ExitStatus, Globals};
use crate::commands::explain as cmd;
use crate::hint::UserError;
use crate::report;

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

    #[command(flatten)]
    pub fail_on: FailOn,
}

async fn read_statement(args: &ExplainArgs, g: &Globals) -> anyhow::Result<String> {
    if let Some(q) = &args.query {
        return Ok(q.clone());
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
        })?);
    }
    if let Some(id) = &args.fingerprint {
        let conn = g.connect.open(true).await?;
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
            })?);
    }
    if std::io::stdin().is_terminal() {
        return Err(UserError::new(
            "no statement given",
            "pass it as an argument, with -f FILE, with --fingerprint ID, or on standard input",
        )
        .into());
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    Ok(text)
}

pub async fn run(g: &Globals, args: &ExplainArgs) -> anyhow::Result<ExitStatus> {
    let req = cmd::Request {
        statement: read_statement(args, g).await?,
        no_analyze: args.no_analyze,
        analyze_writes: args.analyze_writes,
        params: args.params.clone(),
        compare: args.compare,
        with_index: args.with_index.clone(),
    };
    let prepared = cmd::prepare(&req)?;
    let conn = g.connect.open(prepared.read_only()).await?;
    let report = cmd::run(prepared, &conn, g.config()?).await?;
    report::print(g.format, &report, |f| report::explain::render(&report, f))?;
    Ok(args.fail_on.status_of(cmd::worst(&report)))
}
