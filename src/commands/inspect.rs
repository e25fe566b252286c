//! The inspection commands (`queries`, `tables`, `indexes`, `size`, `connections`): read a
//! server (read-only) or a snapshot file, build the report in `crate::inspect`, run the rules
//! that belong to it. Flags and printing stay in `cli`/`report`.

use super::{Error, Origin};
use crate::catalog::Catalog;
use crate::findings::{Finding, Severity};
use crate::hint::UserError;
use crate::inspect::{self, ConnectionsReport, IndexesReport, QueriesReport, QuerySort};
use crate::inspect::{SizeReport, TablesReport};
use crate::pg::source::{self, Live};
use crate::rules::{self, Config, Ctx, Scope};
use crate::workload::source::{BadStatement, SourceSpec};

/// A report and the worst of its findings (for `--fail-on`).
pub struct Inspected<R> {
    pub report: R,
    pub worst: Option<Severity>,
}

/// The most severe of `findings`.
fn worst(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).max()
}

/// `queries`: the top statements of a workload.
pub struct QueriesRequest {
    pub source: SourceSpec,
    /// Needed when the source reads a server.
    pub server: Option<Live>,
    pub sort: QuerySort,
    pub limit: usize,
    /// Reset pg_stat_statements afterwards ([`reset_pgss`]); checked here.
    pub reset: bool,
}

pub async fn queries(
    req: &QueriesRequest,
    config: &Config,
    bad: &dyn Fn(&[BadStatement]),
) -> Result<Inspected<QueriesReport>, Error> {
    if req.reset && !req.source.reads_pgss() {
        return Err(UserError::new(
            "--reset resets pg_stat_statements, which this command is not reading",
            "drop --reset, or read pg_stat_statements (--pg-stat-statements)",
        )
        .into());
    }
    let loaded = source::load(&req.source, req.server.as_ref()).await?;
    bad(&loaded.bad_statements);
    let w = &loaded.workload;
    let ctx = Ctx {
        workload: Some(w),
        catalog: loaded.catalog.as_ref(),
        ..Default::default()
    };
    let found = rules::run(Scope::Workload, &ctx, config)?;
    let worst = worst(&found);
    let report = inspect::queries(w, found, req.sort, req.limit);
    Ok(Inspected { report, worst })
}

/// `queries --reset`: after the report is out.
pub async fn reset_pgss(server: &Live) -> Result<(), Error> {
    let conn = crate::pg::connect(&server.params, &server.session).await?;
    crate::pg::inspect::reset_pgss(&conn).await?;
    Ok(())
}

/// The catalog and the database size (when known), from the server or a snapshot.
pub async fn catalog(from: &Origin) -> Result<(Catalog, Option<i64>), Error> {
    match from {
        Origin::Snapshot(p) => {
            let s = crate::snapshot::read(p)?;
            Ok((s.catalog, s.database_bytes))
        }
        Origin::Server(live) => {
            let conn = crate::pg::connect(&live.params, &live.session).await?;
            crate::pg::inspect::check_version(&conn).await?;
            let cat = crate::pg::catalog::load(&conn).await?;
            let size = crate::pg::inspect::database_size(&conn).await?;
            Ok((cat, Some(size)))
        }
    }
}

/// The catalog rules' findings of these rules only.
fn catalog_findings(cat: &Catalog, cfg: &Config, rule_ids: &[&str]) -> Result<Vec<Finding>, Error> {
    let ctx = Ctx {
        catalog: Some(cat),
        ..Default::default()
    };
    Ok(rules::run(Scope::Catalog, &ctx, cfg)?
        .into_iter()
        .filter(|f| rule_ids.contains(&f.rule.as_str()))
        .collect())
}

/// `tables [TABLE]`.
pub async fn tables(
    from: &Origin,
    only: Option<&str>,
    config: &Config,
) -> Result<Inspected<TablesReport>, Error> {
    let (cat, _) = catalog(from).await?;
    let only = match only {
        Some(name) => Some(
            cat.table(name)
                .ok_or_else(|| {
                    UserError::new(
                        format!("no table \"{name}\" in database {}", cat.database),
                        "check the name and schema (`dbopt tables` lists them)",
                    )
                })?
                .qualified(),
        ),
        None => None,
    };
    let found = catalog_findings(&cat, config, &["table-bloat"])?;
    let report = inspect::tables(&cat, found, only.as_deref());
    let worst = worst(&report.findings);
    Ok(Inspected { report, worst })
}

/// `indexes`.
pub async fn indexes(from: &Origin, config: &Config) -> Result<Inspected<IndexesReport>, Error> {
    let (cat, _) = catalog(from).await?;
    let ids = [
        "unused-index",
        "duplicate-index",
        "invalid-index",
        "fk-without-index",
    ];
    let found = catalog_findings(&cat, config, &ids)?;
    let worst = worst(&found);
    let report = IndexesReport {
        stats_reset_age_s: cat.stats_reset_age_s,
        indexes: cat.indexes.len(),
        findings: found,
    };
    Ok(Inspected { report, worst })
}

/// `size`.
pub async fn size(from: &Origin, top: usize) -> Result<SizeReport, Error> {
    let (cat, db) = catalog(from).await?;
    Ok(inspect::size(&cat, db, top))
}

/// `connections`.
pub async fn connections(
    from: &Origin,
    top: usize,
    config: &Config,
) -> Result<Inspected<ConnectionsReport>, Error> {
    let act = match from {
        Origin::Snapshot(p) => crate::snapshot::read(p)?.activity.ok_or_else(|| {
            UserError::new(
                format!("{} holds no sessions", p.display()),
                "write it again with this dbopt (`dbopt snapshot`)",
            )
        })?,
        Origin::Server(live) => {
            let conn = crate::pg::connect(&live.params, &live.session).await?;
            crate::pg::inspect::check_version(&conn).await?;
            crate::pg::activity::read(&conn).await?
        }
    };
    let ctx = Ctx {
        activity: Some(&act),
        ..Default::default()
    };
    let found = rules::run(Scope::Activity, &ctx, config)?;
    let worst = worst(&found);
    let report = inspect::connections(&act, found, top);
    Ok(Inspected { report, worst })
}
