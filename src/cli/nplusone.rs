//! `dbopt nplusone`: N+1 loops in pg_stat_statements, with the rewrite that removes each.
//!
//! The detection is `crate::workload::nplusone`; this is only connection, thresholds from
//! `dbopt.toml` and output.

use clap::Args;

use super::{ExitStatus, Globals};
use crate::report::nplusone::{LoopReport, NplusoneReport};
use crate::report::{self, Format, Severity};
use crate::rules::n_plus_one::{self, Params};
use crate::rules::{Config, RuleError};
use crate::workload::nplusone::detect_pgss;

#[derive(Debug, Args)]
pub struct NplusoneArgs {
    /// Rule thresholds (`[rules.n-plus-one]`); default `./dbopt.toml` when present.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Exit 1 when a loop reaches this severity.
    #[arg(long, value_enum)]
    pub fail_on: Option<Severity>,
}

fn rule_error(e: RuleError) -> anyhow::Error {
    let hint = e.hint();
    anyhow::anyhow!("{e}; hint: {hint}")
}

pub async fn run(g: &Globals, a: &NplusoneArgs) -> anyhow::Result<ExitStatus> {
    let config = Config::load(a.config.as_deref()).map_err(rule_error)?;
    let p = Params::load(&config).map_err(rule_error)?;
    let params = g.connect.params()?;
    let conn = crate::pg::connect(&params, &g.connect.session(true)).await?;
    let catalog = crate::pg::catalog::load(&conn).await?;
    let workload = crate::pg::pgss::read(&conn).await?;
    drop(conn);
    let mut notes = workload.notes.clone();
    if workload.statements.is_empty() {
        notes.push("pg_stat_statements holds no statements for this database yet; run the application for a while first".into());
    }
    let loops: Vec<LoopReport> = detect_pgss(&workload, &catalog, &p.pgss())
        .into_iter()
        .map(|n| LoopReport {
            finding: n_plus_one::finding(&n, &p),
            detail: n,
        })
        .collect();
    let rep = NplusoneReport { loops, notes };
    match g.format {
        Format::Json => report::print_json(&rep)?,
        f => {
            for n in &rep.notes {
                eprintln!("note: {n}");
            }
            print!("{}", report::nplusone::render(&rep.loops, f));
        }
    }
    let worst = rep.loops.iter().map(|l| l.finding.severity).max();
    Ok(match (a.fail_on, worst) {
        (Some(level), Some(w)) if w >= level => ExitStatus::Findings,
        _ => ExitStatus::Ok,
    })
}
