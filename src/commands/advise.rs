//! Advise: the workload and catalog in, a chosen index set with its evidence out.
//!
//! The steps, in order: read the workload ([`load`]), prepare statements and candidates for
//! the tables asked about, choose the what-if oracle (HypoPG or dbopt's cost model), search,
//! build the report, run the catalog and workload rules. Verification on the demo server is
//! separate ([`verify`]): it builds indexes, and only the demo may be changed.

use std::collections::BTreeSet;

use super::{Error, Notes};
use crate::advisor::oracle::{CostModel, SizeEstimate};
use crate::advisor::report::{AdviseReport, Skipped, Verification};
use crate::advisor::select::{self, Oracle, SearchOptions};
use crate::advisor::{self, Filters, Prepared};
use crate::catalog::Catalog;
use crate::findings::Finding;
use crate::findings::Severity;
use crate::hint::UserError;
use crate::pg::hypo::HypoOracle;
use crate::pg::source::{self, Live};
use crate::pg::{self, ConnParams, SessionOptions};
use crate::report;
use crate::rules::{self, Config, Ctx, Scope};
use crate::workload::source::{BadStatement, SourceSpec};
use crate::workload::Workload;

/// Where what-if costs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Costing {
    /// HypoPG when the server has it, else dbopt's cost model.
    Auto,
    /// HypoPG only (error when missing).
    Hypopg,
    /// dbopt's own cost model from pg_stats and the server's cost settings.
    Model,
}

/// The storage budget: a size, or a share of the database size (known only once connected).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    Bytes(u64),
    Percent(f64),
}

impl Budget {
    /// The budget in bytes for a database of `db_bytes`.
    pub fn bytes(self, db_bytes: i64) -> i64 {
        match self {
            Budget::Bytes(b) => i64::try_from(b).unwrap_or(i64::MAX),
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            Budget::Percent(p) => (db_bytes as f64 * p / 100.0) as i64,
        }
    }
}

/// Everything `advise` needs to know, as plain values.
#[derive(Debug, Clone)]
pub struct Request {
    pub source: SourceSpec,
    /// The server to read and cost on (`None`: offline, from a snapshot).
    pub server: Option<ConnParams>,
    pub session: SessionOptions,
    pub budget: Option<Budget>,
    pub max_indexes: Option<usize>,
    pub max_width: usize,
    pub min_calls: i64,
    pub min_time_ms: f64,
    /// Tables as the user spelled them (`--include`, `--exclude`).
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Percent.
    pub min_improvement: f64,
    /// Percent; 0 for the workload rule alone.
    pub min_table_improvement: f64,
    pub min_rows: f64,
    pub costing: Costing,
    pub size_estimate: SizeEstimate,
    pub jobs: usize,
}

/// What `advise` found.
pub struct Advice {
    pub report: AdviseReport,
    /// The rule findings that remain once the recommendations are built.
    pub findings: Vec<Finding>,
    /// Statements of `--queries` files dbopt could not parse.
    pub bad_statements: Vec<BadStatement>,
}

impl Advice {
    /// The most severe outcome: a finding, or a recommendation (counted as a warning).
    pub fn worst(&self) -> Option<Severity> {
        let worst = self.findings.iter().map(|f| f.severity).max();
        if self.report.recommendations.is_empty() {
            worst
        } else {
            worst.max(Some(Severity::Warning))
        }
    }
}

/// Run the advisor. `bad` receives the unparsable statements as soon as they are known,
/// `note` the notes for the user.
pub async fn run(
    req: &Request,
    config: &Config,
    bad: &dyn Fn(&[BadStatement]),
    note: Notes<'_>,
) -> Result<Advice, Error> {
    // A snapshot carries its catalog: advice then runs offline, with dbopt's cost model.
    let offline = req.source.from_snapshot.is_some();
    let server = req.server.as_ref().filter(|_| !offline);
    let live = req.server.as_ref().map(|p| Live {
        params: p.clone(),
        session: req.session.clone(),
    });
    let loaded = source::load(&req.source, live.as_ref()).await?;
    bad(&loaded.bad_statements);
    let workload = loaded.workload;
    let conn = match server {
        Some(p) => Some(pg::connect(p, &req.session).await?),
        None => None,
    };
    let catalog = match (loaded.catalog, &conn) {
        (Some(c), _) => c,
        (None, Some(c)) => pg::catalog::load(c).await?,
        (None, None) => {
            return Err(UserError::new(
                "BUG: no catalog source",
                "please report it with the command you ran",
            )
            .into())
        }
    };
    for n in &workload.notes {
        note(n);
    }
    let search_path = match &conn {
        Some(c) => pg::server::search_path(c).await?,
        None => vec!["public".to_string()],
    };
    let prep = advisor::prepare(&catalog, &workload, &search_path, &filters(req, &catalog)?);
    if prep.nothing_usable() {
        return Err(nothing_usable(&prep, &catalog.database).into());
    }
    if workload.statements.is_empty() {
        note("the workload is empty (pg_stat_statements holds no statements for this database yet?); run the application for a while, or give --queries FILE or --log FILE");
    }
    let mut report = search(req, conn.as_ref(), &catalog, &workload, &prep, note).await?;
    let findings = findings(config, &catalog, &workload, &report)?;
    report.findings = findings.clone();
    Ok(Advice {
        report,
        findings,
        bad_statements: loaded.bad_statements,
    })
}

/// The advisor's filters, with the `--include`/`--exclude` tables resolved.
fn filters(req: &Request, catalog: &Catalog) -> Result<Filters, UserError> {
    Ok(Filters {
        min_calls: req.min_calls,
        min_time_ms: req.min_time_ms,
        include: tables_named(catalog, "--include", &req.include)?,
        exclude: tables_named(catalog, "--exclude", &req.exclude)?,
        min_rows: req.min_rows,
        max_width: req.max_width,
    })
}

/// The search options for this database.
fn search_options(req: &Request, catalog: &Catalog) -> SearchOptions {
    let db_bytes: i64 = catalog
        .tables
        .iter()
        .map(|t| t.heap_bytes + t.index_bytes + t.toast_bytes)
        .sum();
    SearchOptions {
        budget_bytes: req.budget.map(|b| b.bytes(db_bytes)),
        max_indexes: req.max_indexes,
        max_width: req.max_width,
        min_improvement: req.min_improvement / 100.0,
        min_table_improvement: (req.min_table_improvement > 0.0)
            .then_some(req.min_table_improvement / 100.0),
        write_cost_per_row: catalog.settings.random_page_cost * 0.5,
        existing: advisor::writes::existing(catalog),
    }
}

/// Whether HypoPG costs the search (a note when `auto` falls back to the cost model).
async fn use_hypopg(
    req: &Request,
    conn: Option<&pg::Conn>,
    catalog: &Catalog,
    note: Notes<'_>,
) -> Result<bool, Error> {
    let hypo = match (req.costing, conn) {
        (Costing::Model, _) => false,
        (Costing::Hypopg, None) => {
            return Err(UserError::new(
                "--costing hypopg needs a server",
                "a snapshot is advised on with dbopt's cost model (--costing model)",
            )
            .into())
        }
        (Costing::Hypopg, Some(_)) => true,
        (Costing::Auto, Some(c)) => pg::server::has_extension(c, "hypopg").await?,
        (Costing::Auto, None) => false,
    };
    if req.costing == Costing::Auto && !hypo && conn.is_some() {
        note(&format!("HypoPG is not available in this database; using dbopt's cost model (CREATE EXTENSION hypopg for the planner's own what-if costs; if the server lacks its files: {})", pg::error::install_hint("hypopg", Some(catalog.server_version_num))));
    }
    Ok(hypo)
}

/// Plan the DML, choose the indexes and build the report (without rule findings).
async fn search(
    req: &Request,
    conn: Option<&pg::Conn>,
    catalog: &Catalog,
    workload: &Workload,
    prep: &Prepared,
    note: Notes<'_>,
) -> Result<AdviseReport, Error> {
    let opts = search_options(req, catalog);
    let sp = report::progress(0, "choosing indexes");
    sp.enable_steady_tick(std::time::Duration::from_millis(120));
    let use_hypo = use_hypopg(req, conn, catalog, note).await?;
    // Every DML statement planned once, generic, by the server: the share that plans is
    // reported, and the what-if calls reuse the parameter types found.
    let planning = match conn {
        Some(c) => Some(plan_statements(c, prep).await),
        None => None,
    };
    let (outcome, costing, calls) = match req.server.as_ref().filter(|_| use_hypo) {
        Some(p) => {
            let texts: Vec<String> = prep
                .stmts
                .iter()
                .map(|s| s.plan_text().to_string())
                .collect();
            let pool = pg::whatif::HypoPool::open(p, &req.session, req.jobs.clamp(1, 16)).await?;
            let types = planning
                .as_ref()
                .map(|p| p.types.clone())
                .unwrap_or_default();
            let mut o =
                HypoOracle::new(pool, &texts, catalog.clone(), req.size_estimate).with_types(types);
            let out = select::search(&prep.stmts, &prep.candidates, &mut o, &opts).await;
            o.pool.reset().await?;
            (out, o.name(), o.calls())
        }
        None => {
            let mut o = CostModel::new(
                catalog.clone(),
                prep.stmts.iter().map(|s| s.accesses.clone()).collect(),
            );
            let out = select::search(&prep.stmts, &prep.candidates, &mut o, &opts).await;
            (out, o.name(), o.calls())
        }
    };
    sp.finish_and_clear();
    if opts.budget_bytes.is_some_and(|b| b < 8192 * 2) && outcome.chosen.is_empty() {
        note("the budget is too small for any index");
    }
    let mut rep = advisor::build_report(catalog, workload, prep, &outcome, costing);
    rep.whatif_calls = calls;
    if let Some(p) = planning {
        add_planning(&mut rep, p);
    }
    Ok(rep)
}

/// The catalog and workload rules' findings, less those the recommendations resolve.
fn findings(
    config: &Config,
    catalog: &Catalog,
    workload: &Workload,
    rep: &AdviseReport,
) -> Result<Vec<Finding>, Error> {
    let ctx = Ctx {
        catalog: Some(catalog),
        workload: Some(workload),
        ..Default::default()
    };
    let mut findings = rules::run(Scope::Catalog, &ctx, config)?;
    findings.extend(rules::run(Scope::Workload, &ctx, config)?);
    advisor::drop_resolved(&mut findings, &rep.recommendations, catalog);
    Ok(findings)
}

/// The demo server to verify on, and how to run its workload again.
pub struct VerifyOn<'a> {
    pub params: &'a ConnParams,
    pub anchor: chrono::DateTime<chrono::Utc>,
    /// The workload's execution time before the indexes.
    pub before_ms: f64,
    pub rounds: u32,
    pub seed: u64,
    pub scale: f64,
}

/// Build the recommended indexes on the demo server and measure the workload again.
pub async fn verify(on: &VerifyOn<'_>, rep: &AdviseReport) -> Result<Verification, pg::PgError> {
    let pb = report::progress(0, "verifying on the demo");
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let built = crate::bench::demo::build_indexes(on.params, &rep.recommendations).await?;
    let wopts = crate::bench::demo_workload::WorkloadOptions {
        rounds: on.rounds,
        sessions: 4,
        seed: on.seed,
        scale: on.scale,
        anchor: on.anchor,
    };
    let after = crate::bench::demo_workload::run(on.params, &wopts, &|_, _| {}).await?;
    pb.finish_and_clear();
    Ok(Verification {
        workload_ms_before: on.before_ms,
        workload_ms_after: after.exec_ms,
        built_bytes: built.iter().map(|b| b.1).sum(),
        estimated_bytes: rep.recommendations.iter().map(|r| r.size_bytes).sum(),
        indexes: built,
    })
}

/// What planning the workload's DML statements found.
struct Planning {
    planned: usize,
    /// Per statement of the search: the parameter types it planned with (empty: none found).
    types: Vec<Vec<String>>,
    /// (statement, the server's error) for those that did not plan.
    failed: Vec<(String, String)>,
}

/// Plan each DML statement once (generic, never executed).
async fn plan_statements(c: &pg::Conn, prep: &Prepared) -> Planning {
    let mut out = Planning {
        planned: 0,
        types: vec![Vec::new(); prep.stmts.len()],
        failed: Vec::new(),
    };
    for d in &prep.dml {
        match pg::explain::plan_generic(c, &d.plan).await {
            Ok(e) => {
                out.planned += 1;
                if let Some(q) = d.stmt {
                    out.types[q] = e.param_types;
                }
            }
            Err(e) => out.failed.push((d.query.clone(), e.to_string())),
        }
    }
    out
}

/// The planned share, and the statements outside the search that did not plan (HypoPG
/// reports its own failures).
fn add_planning(rep: &mut AdviseReport, p: Planning) {
    rep.workload.planned = Some(p.planned);
    let failed: BTreeSet<&str> = rep.skipped.iter().map(|s| s.statement.as_str()).collect();
    let more: Vec<Skipped> = p
        .failed
        .into_iter()
        .filter(|(q, _)| !failed.contains(q.as_str()))
        .map(|(statement, err)| Skipped {
            statement,
            reason: format!("the planner could not plan it: {err}"),
        })
        .collect();
    rep.skipped.extend(more);
}

/// The `schema.table` of every table the `flag` values name; an unknown name is an error
/// naming it, with the closest tables as the hint.
fn tables_named(
    catalog: &Catalog,
    flag: &str,
    spelled: &[String],
) -> Result<Vec<String>, UserError> {
    let mut out = Vec::new();
    for s in spelled {
        let found = catalog
            .tables_named(s)
            .map_err(|e| UserError::new(format!("{flag}: {e}"), e.hint()))?;
        out.extend(found.iter().map(|t| t.qualified()));
    }
    Ok(out)
}

/// The error when no statement of the workload can be used, with what each was.
fn nothing_usable(p: &Prepared, database: &str) -> UserError {
    let mut why = Vec::new();
    if p.unparsed > 0 {
        why.push(format!("{} cannot be parsed", p.unparsed));
    }
    if p.on_unknown_tables > 0 {
        const SHOWN: usize = 5;
        let mut names: Vec<&str> = p
            .unknown_tables
            .iter()
            .map(String::as_str)
            .take(SHOWN)
            .collect();
        if p.unknown_tables.len() > SHOWN {
            names.push("…");
        }
        why.push(format!(
            "{} name only tables database \"{database}\" does not have ({})",
            p.on_unknown_tables,
            names.join(", ")
        ));
    }
    UserError::new(
        format!("no statement of the workload can be used: {}", why.join(", ")),
        "dbopt reads PostgreSQL SQL (is the input another dialect?), and advises on the database it connects to (is --database-url the application's database?)",
    )
}
