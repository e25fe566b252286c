//! `dbopt vacuum TABLE...`: VACUUM (ANALYZE) with progress. The one inspection command that
//! writes, so it shows what it will run and asks first (unless `--yes`); `--dry-run` only shows.
//! Flags and the prompt here; [`crate::commands::vacuum`] resolves and runs.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use clap::Args;

use super::{ExitStatus, Globals};
use crate::commands::vacuum as cmd;
use crate::report::vacuum::{render, VacuumReport};
use crate::report::{self, Format};

#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// Tables to vacuum (`name` or `schema.name`).
    #[arg(required = true, value_name = "TABLE")]
    pub tables: Vec<String>,
    /// Show the statements without running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

fn confirm(statements: &[String]) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("dbopt vacuum writes and needs a confirmation, but standard input is not a terminal; hint: pass --yes to run without asking, or --dry-run to see the statements");
    }
    eprint!("run {} statement(s) above? [y/N] ", statements.len());
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

pub async fn run(g: &Globals, a: &VacuumArgs) -> anyhow::Result<ExitStatus> {
    let server = g.connect.live(true)?;
    let plan = cmd::plan(&server, &a.tables).await?;
    let shown = |dry_run| VacuumReport {
        dry_run,
        statements: plan.statements.clone(),
        done: Vec::new(),
    };
    if a.dry_run {
        let r = shown(true);
        report::print(g.format, &r, |f| render(&r, f))?;
        return Ok(ExitStatus::Ok);
    }
    if !a.yes {
        if g.format != Format::Json {
            let r = shown(false);
            report::print(g.format, &r, |f| render(&r, f))?;
        }
        if !confirm(&plan.statements)? {
            eprintln!("nothing done");
            return Ok(ExitStatus::Ok);
        }
    }
    let r = cmd::run(&server, plan).await?;
    report::print(g.format, &r, |f| render(&r, f))?;
    Ok(ExitStatus::Ok)
}
