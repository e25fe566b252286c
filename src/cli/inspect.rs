//! The DBA's first commands on an unfamiliar database: `queries`, `tables`, `indexes`, `size`
//! and `connections`. Each reads (a server, read-only, or a snapshot file), builds its report in
//! `crate::inspect`, runs its rules, and prints through `crate::report`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

pub use super::args::{CatalogArgs, FailOn};
use super::source::SourceArgs;
use super::{ExitStatus, Globals};
use crate::catalog::Catalog;
use crate::findings::Finding;
use crate::inspect::{self, QuerySort};
use crate::report::{self, inspect as render};
use crate::rules::{self, Config, Ctx, Scope};

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
    if a.reset && !a.source.spec().reads_pgss() {
        anyhow::bail!("--reset resets pg_stat_statements, which this command is not reading; hint: drop --reset, or read pg_stat_statements (--pg-stat-statements)");
    }
    let loaded = a.source.load(g).await?;
    let w = &loaded.workload;
    let found = rules::run(
        Scope::Workload,
        &Ctx {
            workload: Some(w),
            catalog: loaded.catalog.as_ref(),
            ..Default::default()
        },
        cfg,
    )?;
    let status = a.fail_on.status(&found);
    let r = inspect::queries(w, found, a.sort, a.limit);
    report::print(g.format, &r, |f| render::queries(&r, f))?;
    if a.reset {
        let conn = g.connect.open(false).await?;
        crate::pg::inspect::reset_pgss(&conn).await?;
        eprintln!("pg_stat_statements reset");
    }
    Ok(status)
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

fn catalog_findings(
    cat: &Catalog,
    cfg: &Config,
    rule_ids: &[&str],
) -> anyhow::Result<Vec<Finding>> {
    Ok(rules::run(
        Scope::Catalog,
        &Ctx {
            catalog: Some(cat),
            ..Default::default()
        },
        cfg,
    )?
    .into_iter()
    .filter(|f| rule_ids.contains(&f.rule.as_str()))
    .collect())
}

pub async fn tables(g: &Globals, a: &TablesArgs) -> anyhow::Result<ExitStatus> {
    let cfg = g.config()?;
    let (cat, _) = a.catalog.load(g).await?;
    let only = match &a.table {
        Some(name) => Some(
            cat.table(name)
                .with_context(|| {
                    format!("no table \"{name}\" in database {}; hint: check the name and schema (`dbopt tables` lists them)", cat.database)
                })?
                .qualified(),
        ),
        None => None,
    };
    let found = catalog_findings(&cat, cfg, &["table-bloat"])?;
    let r = inspect::tables(&cat, found, only.as_deref());
    report::print(g.format, &r, |f| render::tables(&r, f))?;
    Ok(a.fail_on.status(&r.findings))
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
    let (cat, _) = a.catalog.load(g).await?;
    let found = catalog_findings(
        &cat,
        cfg,
        &[
            "unused-index",
            "duplicate-index",
            "invalid-index",
            "fk-without-index",
        ],
    )?;
    let status = a.fail_on.status(&found);
    let r = inspect::IndexesReport {
        stats_reset_age_s: cat.stats_reset_age_s,
        indexes: cat.indexes.len(),
        findings: found,
    };
    report::print(g.format, &r, |f| render::indexes(&r, f))?;
    Ok(status)
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
    let (cat, db) = a.catalog.load(g).await?;
    let r = inspect::size(&cat, db, a.top);
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
    let act = match &a.from_snapshot {
        Some(p) => crate::snapshot::read(p)?.activity.with_context(|| {
            format!(
                "{} holds no sessions; hint: write it again with this dbopt (`dbopt snapshot`)",
                p.display()
            )
        })?,
        None => {
            let conn = g.connect.open(true).await?;
            crate::pg::inspect::check_version(&conn).await?;
            crate::pg::activity::read(&conn).await?
        }
    };
    let found = rules::run(
        Scope::Activity,
        &Ctx {
            activity: Some(&act),
            ..Default::default()
        },
        cfg,
    )?;
    let status = a.fail_on.status(&found);
    let r = inspect::connections(&act, found, a.top);
    report::print(g.format, &r, |f| render::connections(&r, f))?;
    Ok(status)
}
