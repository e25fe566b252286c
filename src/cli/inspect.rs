//! The DBA's first commands on an unfamiliar database: `queries`, `tables`, `indexes`, `size`
//! and `connections`. Flags in, [`crate::commands::inspect`] does the work, `report` prints.

use std::path::PathBuf;

pub use super::args::{CatalogArgs, FailOn};
use clap::Args;

use super::source::SourceArgs;
use super::{ExitStatus, Globals};
use crate::commands::inspect as cmd;
use crate::inspect::QuerySort;
use crate::report::{self, inspect as render};

#[derive(Debug, Args)]
pub struct QueriesArgs {
    /// Order by total time, mean time, calls or I/O.
    #[arg(long, value_enum, default_value_t = QuerySort::Total)]
    pub sort: QuerySort,
    /// How many statements to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// After the report, reset pg_stat_statements (pg_stat_statements_reset()).
    #[arg(long)]
    pub reset: bool,
    #[command(flatten)]
    pub fail_on: FailOn,
    /// Last: its help heading applies to the flags after it.
    #[command(flatten)]
    pub source: SourceArgs,
}

pub async fn queries(g: &Globals, a: &QueriesArgs) -> anyhow::Result<ExitStatus> {
    let cfg = g.config()?;
    let req = cmd::QueriesRequest {
        source: a.source.spec(),
        server: a.source.server(g)?,
        sort: a.sort,
        limit: a.limit,
        reset: a.reset,
    };
    let out = cmd::queries(&req, cfg, &super::source::warn_bad_statements).await?;
    report::print(g.format, &out.report, |f| render::queries(&out.report, f))?;
    if a.reset {
        cmd::reset_pgss(&g.connect.live(false)?).await?;
        eprintln!("pg_stat_statements reset");
    }
    Ok(a.fail_on.status_of(out.worst))
}

#[derive(Debug, Args)]
pub struct TablesArgs {
    /// Only this table (`name` or `schema.name`).
    pub table: Option<String>,
    #[command(flatten)]
    pub catalog: CatalogArgs,
    #[command(flatten)]
    pub fail_on: FailOn,
}

pub async fn tables(g: &Globals, a: &TablesArgs) -> anyhow::Result<ExitStatus> {
    let cfg = g.config()?;
    let out = cmd::tables(&a.catalog.origin(g)?, a.table.as_deref(), cfg).await?;
    report::print(g.format, &out.report, |f| render::tables(&out.report, f))?;
    Ok(a.fail_on.status_of(out.worst))
}

#[derive(Debug, Args)]
pub struct IndexesArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    #[command(flatten)]
    pub fail_on: FailOn,
}

pub async fn indexes(g: &Globals, a: &IndexesArgs) -> anyhow::Result<ExitStatus> {
    let cfg = g.config()?;
    let out = cmd::indexes(&a.catalog.origin(g)?, cfg).await?;
    report::print(g.format, &out.report, |f| render::indexes(&out.report, f))?;
    Ok(a.fail_on.status_of(out.worst))
}

#[derive(Debug, Args)]
pub struct SizeArgs {
    /// How many of the largest relations to list.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    #[command(flatten)]
    pub catalog: CatalogArgs,
}

pub async fn size(g: &Globals, a: &SizeArgs) -> anyhow::Result<ExitStatus> {
    let r = cmd::size(&a.catalog.origin(g)?, a.top).await?;
    report::print(g.format, &r, |f| render::size(&r, f))?;
    Ok(ExitStatus::Ok)
}

#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    /// How many sessions to list in each section.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// The sessions recorded in a file written by `dbopt snapshot` (no server needed).
    #[arg(long, value_name = "FILE")]
    pub from_snapshot: Option<PathBuf>,
    #[command(flatten)]
    pub fail_on: FailOn,
}

pub async fn connections(g: &Globals, a: &ConnectionsArgs) -> anyhow::Result<ExitStatus> {
    let cfg = g.config()?;
    let from = super::args::origin(a.from_snapshot.as_ref(), g)?;
    let out = cmd::connections(&from, a.top, cfg).await?;
    report::print(g.format, &out.report, |f| {
        render::connections(&out.report, f)
    })?;
    Ok(a.fail_on.status_of(out.worst))
}
