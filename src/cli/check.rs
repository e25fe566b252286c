//! `dbopt check`: every check in one read-only pass, one prioritised report. Flags in,
//! [`crate::commands::check`] does the work, `report` prints.

use std::path::PathBuf;

use clap::{Args, FromArgMatches as _};

use super::advise::AdviseArgs;
use super::args::{CatalogArgs, FailOn};
use super::demo::{self, DemoArgs};
use super::{ExitStatus, Globals};
use crate::commands::check::{self as cmd, Request};
use crate::report::{self, Format};
use crate::workload::source::SourceSpec;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Run on the built-in demo: a throwaway PostgreSQL, the demo database and its workload.
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub demo_args: DemoArgs,
    /// Also recommend indexes (as `dbopt advise` with its defaults) and list them.
    #[arg(long)]
    pub advise: bool,
    /// An earlier snapshot (`dbopt snapshot`): sequence values then and now give the days left.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub catalog: CatalogArgs,
    #[command(flatten)]
    pub fail_on: FailOn,
}

/// `advise`'s request with its flags' defaults, for `--advise`.
fn advise_request(
    g: &Globals,
    a: &CheckArgs,
    server: Option<crate::pg::ConnParams>,
) -> anyhow::Result<crate::commands::advise::Request> {
    let cmd = AdviseArgs::augment_args(clap::Command::new("advise"));
    let defaults = AdviseArgs::from_arg_matches(&cmd.try_get_matches_from(["advise"])?)?;
    let source = SourceSpec {
        pg_stat_statements: a.catalog.from_snapshot.is_none(),
        from_snapshot: a.catalog.from_snapshot.clone(),
        ..defaults.source.spec()
    };
    Ok(super::advise::request(&defaults, source, server, g))
}

pub async fn run(g: &Globals, a: &CheckArgs) -> anyhow::Result<ExitStatus> {
    anyhow::ensure!(
        !(a.demo && a.catalog.from_snapshot.is_some()),
        "--demo and --from-snapshot do not go together; hint: use one or the other"
    );
    let demo = if a.demo {
        Some(demo::start(&a.demo_args).await?)
    } else {
        None
    };
    let server = match (&demo, &a.catalog.from_snapshot) {
        (Some(d), _) => Some(d.params.clone()),
        (None, Some(_)) => None,
        (None, None) => Some(g.connect.params()?),
    };
    let req = Request {
        server: server.clone(),
        session: g.connect.session(true),
        from_snapshot: a.catalog.from_snapshot.clone(),
        baseline: a.baseline.clone(),
        advise: if a.advise {
            Some(advise_request(g, a, server)?)
        } else {
            None
        },
    };
    let r = cmd::run(&req, g.config()?, &report::note).await?;
    match g.format {
        Format::Junit => report::print_text(&report::check::junit(&r))?,
        Format::Html => report::print_text(&report::html::check(&r))?,
        f => report::print(f, &r, |f| report::check::render(&r, f))?,
    }
    if let Some(d) = demo {
        tokio::task::spawn_blocking(move || d.server.stop())
            .await
            .ok();
    }
    Ok(a.fail_on.status_of(r.worst()))
}
