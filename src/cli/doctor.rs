//! `dbopt doctor`: is this server ready for dbopt, and what to run if not.

use clap::Args;

use super::{ExitStatus, Globals};
use crate::report::{self, Format};

#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub async fn run(g: &Globals, _args: &DoctorArgs) -> anyhow::Result<ExitStatus> {
    let params = g.connect.params()?;
    let conn = crate::pg::connect(&params, &g.connect.session(true)).await?;
    let r = crate::pg::doctor::run(&conn).await?;
    match g.format {
        Format::Json => report::print_json(&r)?,
        f => crate::out!("{}", report::doctor::render(&r, f))?,
    }
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
