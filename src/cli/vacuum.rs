//! `dbopt vacuum TABLE...`: VACUUM (ANALYZE) with progress. The one inspection command that
//! writes, so it shows what it will run and asks first (unless `--yes`); `--dry-run` only shows.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use clap::Args;
use serde::Serialize;

use super::{ExitStatus, Globals};
use crate::pg::inspect::{self, VacuumDone, VacuumProgress};
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

#[derive(Debug, Serialize)]
struct Plan<'a> {
    dry_run: bool,
    statements: &'a [String],
    done: &'a [VacuumDone],
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
    let params = g.connect.params()?;
    let conn = crate::pg::connect(&params, &g.connect.session(true)).await?;
    inspect::check_version(&conn).await?;
    let mut resolved = Vec::new();
    for t in &a.tables {
        resolved.push(inspect::resolve_table(&conn, t).await?);
    }
    let statements: Vec<String> = resolved
        .iter()
        .map(|t| format!("VACUUM (ANALYZE) {}", crate::sql::ddl::quote_table(t)))
        .collect();
    let show = |done: &[VacuumDone], dry_run| -> anyhow::Result<()> {
        match g.format {
            Format::Json => report::print_json(&Plan {
                dry_run,
                statements: &statements,
                done,
            })?,
            _ if done.is_empty() => {
                for s in &statements {
                    crate::outln!("{s};")?;
                }
            }
            f => {
                let mut t = report::table(f, &["table", "seconds", "dead tuples before", "after"]);
                for d in done {
                    t.add_row(vec![
                        d.table.clone(),
                        format!("{:.1}", d.seconds),
                        d.dead_tuples_before.to_string(),
                        d.dead_tuples_after.to_string(),
                    ]);
                }
                crate::outln!("{t}")?;
            }
        }
        Ok(())
    };
    if a.dry_run {
        show(&[], true)?;
        return Ok(ExitStatus::Ok);
    }
    if !a.yes {
        if g.format != Format::Json {
            show(&[], false)?;
        }
        if !confirm(&statements)? {
            eprintln!("nothing done");
            return Ok(ExitStatus::Ok);
        }
    }
    let mut done = Vec::new();
    for t in &resolved {
        let pb = report::progress(0, &format!("vacuum {t}"));
        let on_progress = |p: &VacuumProgress| {
            pb.set_length(u64::try_from(p.heap_blks_total).unwrap_or(0));
            pb.set_position(u64::try_from(p.heap_blks_scanned).unwrap_or(0));
            pb.set_message(format!("{t}: {}", p.phase));
        };
        let d = inspect::vacuum(&params, &g.connect.session(true), t, &on_progress).await?;
        pb.finish_and_clear();
        done.push(d);
    }
    show(&done, false)?;
    Ok(ExitStatus::Ok)
}
