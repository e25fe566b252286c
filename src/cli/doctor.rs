//! `dbopt doctor`: is this server ready for dbopt, and what to run if not.

use clap::Args;

use super::{ExitStatus, Globals};
use crate::report;

#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub async fn run(g: &Globals, _args: &DoctorArgs) -> anyhow::Result<ExitStatus> {
    let conn = g.connect.open(true).await?;
    let r = crate::pg::doctor::run(&conn).await?;
    report::print(g.format, &r, |f| report::doctor::render(&r, f))?;
    Ok(
        if r.checks
            .iter()
            .any(|c| c.status == crate::pg::doctor::CheckStatus::Missing)
        {
            ExitStatus::Findings
        } else {
            ExitStatus::Ok
        },
    )
}
