//! `dbopt advise`: recommend a set of indexes for the whole workload, with the evidence.

use clap::Args;

use super::args::parse_percent;
use super::demo::{self, DemoArgs};
use super::{ExitStatus, Globals};
use crate::advisor::oracle::{CostModel, SizeEstimate};
use crate::advisor::report::{AdviseReport, Verification};
use crate::advisor::select::{self, Oracle, SearchOptions};
use crate::advisor::{self, Filters};
use crate::findings::Severity;
use crate::pg::hypo::HypoOracle;
use crate::pg::{self, PgError};
use crate::report::{self, Format};
use crate::rules::{self, Config, Ctx, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Costing {
    /// HypoPG when the server has it, else dbopt's cost model.
    Auto,
    /// HypoPG only (error when missing).
    Hypopg,
    /// dbopt's own cost model from pg_stats and the server's cost settings.
    Model,
}

#[derive(Debug, Args)]
pub struct AdviseArgs {
    /// Run on the built-in demo: a throwaway PostgreSQL, the demo database and its workload.
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub demo_args: DemoArgs,
    #[command(flatten)]
    pub source: super::source::SourceArgs,
    /// Storage budget for the new indexes: `500MB`, `2GB`, or `10%` of the database size.
    #[arg(long, value_name = "SIZE", value_parser = parse_budget, allow_hyphen_values = true)]
    pub budget: Option<Budget>,
    /// At most this many new indexes.
    #[arg(long)]
    pub max_indexes: Option<usize>,
    /// Widest index to consider (key columns).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub max_width: u8,
    /// Ignore statements called fewer times.
    #[arg(long, default_value_t = 1)]
    pub min_calls: i64,
    /// Ignore statements with less total execution time (ms).
    #[arg(long, default_value_t = 0.0)]
    pub min_time: f64,
    /// Only advise on these tables (repeatable; `schema.table` or `table`, spelled as in SQL:
    /// `Orders` is `orders`, `'"Weird Table"'` keeps its case). A name of no table is an error.
    #[arg(long)]
    pub include: Vec<String>,
    /// Never advise on these tables (repeatable; spelled like --include).
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Each new (or widened) index must lower the workload's current estimated cost by at
    /// least this many percent.
    #[arg(long, default_value_t = 1.0, value_parser = parse_percent, allow_negative_numbers = true)]
    pub min_improvement: f64,
    /// ... or lower the cost of the statements on its table by at least this many percent
    /// (0: the workload rule alone). A table with a small share of the workload still gets
    /// an index that makes its own statements much cheaper.
    #[arg(long, default_value_t = 20.0, value_parser = parse_percent, allow_negative_numbers = true)]
    pub min_table_improvement: f64,
    /// Tables with fewer rows get no advice (a scan is as cheap as an index).
    #[arg(long, default_value_t = 1000.0)]
    pub min_rows: f64,
    /// Where what-if costs come from.
    #[arg(long, value_enum, default_value_t = Costing::Auto)]
    pub costing: Costing,
    /// Which size estimate the budget counts.
    #[arg(long, value_enum, default_value_t = SizeEstimate::Dbopt)]
    pub size_estimate: SizeEstimate,
    /// Parallel what-if sessions.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Build the indexes on the demo server and measure the workload again (default with --demo).
    #[arg(long, overrides_with = "no_verify")]
    pub verify: bool,
    /// Do not build and measure (with --demo).
    #[arg(long)]
    pub no_verify: bool,
    /// Write the recommended indexes as migration files into DIR (see `dbopt migrations`).
    #[arg(long, value_name = "DIR", requires = "migration_format")]
    pub emit_migrations: Option<std::path::PathBuf>,
    /// The migration tool to write for, with --emit-migrations.
    #[arg(long, value_enum, value_name = "F", requires = "emit_migrations")]
    pub migration_format: Option<crate::emit::MigrationFormat>,
    /// Exit 1 when a recommendation (counted as a warning) or a finding reaches this severity.
    #[arg(long, value_enum)]
    pub fail_on: Option<Severity>,
}

/// `--budget`: a size, or a share of the database size (known only once connected).
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

/// `500MB`, `1.5GB`, `800kB`, `1048576`, or `10%` (0 to 100) of the database size; checked
/// when the flags are parsed, before anything connects.
pub fn parse_budget(s: &str) -> Result<Budget, String> {
    let t = s.trim();
    if t.ends_with('%') {
        return parse_percent(t).map(Budget::Percent);
    }
    crate::units::parse_size(t)
        .map(Budget::Bytes)
        .map_err(|e| format!("{e}; use a size like 500MB or 2GB, or a share like 10%"))
}

pub async fn run(g: &Globals, a: &AdviseArgs) -> anyhow::Result<ExitStatus> {
    let demo = if a.demo {
        Some(demo::start(&a.demo_args).await?)
    } else {
        None
    };
    let spec = a.source.spec();
    anyhow::ensure!(
        demo.is_none() || spec.from_snapshot.is_none(),
        "--demo and --from-snapshot do not go together; hint: use one or the other"
    );
    // A snapshot carries its catalog: advice then runs offline, with dbopt's cost model.
    let offline = spec.from_snapshot.is_some();
    let session = g.connect.session(true);
    let params = match &demo {
        Some(d) => Some(d.params.clone()),
        None if offline => None,
        None => Some(g.connect.params()?),
    };
    let live = params.as_ref().map(|p| crate::pg::source::Live {
        params: p.clone(),
        session: session.clone(),
    });
    let loaded = crate::pg::source::load(&spec, live.as_ref()).await?;
    super::source::warn_bad_statements(&loaded.bad_statements);
    let workload = loaded.workload;
    let conn = match &params {
        Some(p) if !offline => Some(pg::connect(p, &session).await?),
        _ => None,
    };
    let catalog = match (loaded.catalog, &conn) {
        (Some(c), _) => c,
        (None, Some(c)) => pg::catalog::load(c).await?,
        (None, None) => anyhow::bail!("BUG: no catalog source"),
    };
    for n in &workload.notes {
        eprintln!("note: {n}");
    }
    let search_path: Vec<String> = match &conn {
        Some(c) => {
            let sp: String = c
                .query_one("SHOW search_path", &[])
                .await
                .map_err(|e| PgError::query("reading search_path", e))?
                .get(0);
            let user: String = c
                .query_one("SELECT current_user", &[])
                .await
                .map_err(|e| PgError::query("reading the role", e))?
                .get(0);
            sp.split(',')
                .map(|s| s.trim().trim_matches('"').replace("$user", &user))
                .collect()
        }
        None => vec!["public".to_string()],
    };
    let filters = Filters {
        min_calls: a.min_calls,
        min_time_ms: a.min_time,
        include: tables_named(&catalog, "--include", &a.include)?,
        exclude: tables_named(&catalog, "--exclude", &a.exclude)?,
        min_rows: a.min_rows,
        max_width: usize::from(a.max_width),
    };
    let prep = advisor::prepare(&catalog, &workload, &search_path, &filters);
    if prep.nothing_usable() {
        anyhow::bail!("{}", nothing_usable(&prep, &catalog.database));
    }
    if workload.statements.is_empty() {
        eprintln!("note: the workload is empty (pg_stat_statements holds no statements for this database yet?); run the application for a while, or give --queries FILE or --log FILE");
    }
    let db_bytes: i64 = catalog
        .tables
        .iter()
        .map(|t| t.heap_bytes + t.index_bytes + t.toast_bytes)
        .sum();
    let budget = a.budget.map(|b| b.bytes(db_bytes));
    let opts = SearchOptions {
        budget_bytes: budget,
        max_indexes: a.max_indexes,
        max_width: usize::from(a.max_width),
        min_improvement: a.min_improvement / 100.0,
        min_table_improvement: (a.min_table_improvement > 0.0)
            .then_some(a.min_table_improvement / 100.0),
        write_cost_per_row: catalog.settings.random_page_cost * 0.5,
        existing: advisor::writes::existing(&catalog),
    };
    let sp = report::progress(0, "choosing indexes");
    sp.enable_steady_tick(std::time::Duration::from_millis(120));
    let use_hypo = match (a.costing, &conn) {
        (Costing::Model, _) => false,
        (Costing::Hypopg, None) => anyhow::bail!("--costing hypopg needs a server; hint: a snapshot is advised on with dbopt's cost model (--costing model)"),
        (Costing::Hypopg, Some(_)) => true,
        (Costing::Auto, Some(c)) => catalog_has_hypopg(c).await?,
        (Costing::Auto, None) => false,
    };
    if a.costing == Costing::Auto && !use_hypo && conn.is_some() {
        eprintln!("note: HypoPG is not available in this database; using dbopt's cost model (CREATE EXTENSION hypopg for the planner's own what-if costs; if the server lacks its files: {})", pg::error::install_hint("hypopg", Some(catalog.server_version_num)));
    }
    let texts: Vec<String> = prep
        .stmts
        .iter()
        .map(|s| s.plan_text().to_string())
        .collect();
    // Every DML statement planned once, generic, by the server: the share that plans is
    // reported, and the what-if calls reuse the parameter types found.
    let planning = match &conn {
        Some(c) => Some(plan_statements(c, &prep).await),
        None => None,
    };
    let (outcome, costing, calls) = if use_hypo {
        let p = params.as_ref().expect("a live server when HypoPG is used");
        let pool = pg::whatif::HypoPool::open(p, &session, a.jobs.clamp(1, 16)).await?;
        let types = planning
            .as_ref()
            .map(|p| p.types.clone())
            .unwrap_or_default();
        let mut o =
            HypoOracle::new(pool, &texts, catalog.clone(), a.size_estimate).with_types(types);
        let out = select::search(&prep.stmts, &prep.candidates, &mut o, &opts).await;
        o.pool.reset().await?;
        (out, o.name(), o.calls())
    } else {
        let mut o = CostModel::new(
            catalog.clone(),
            prep.stmts.iter().map(|s| s.accesses.clone()).collect(),
        );
        let out = select::search(&prep.stmts, &prep.candidates, &mut o, &opts).await;
        (out, o.name(), o.calls())
    };
    sp.finish_and_clear();
    if budget.is_some_and(|b| b < 8192 * 2) && outcome.chosen.is_empty() {
        eprintln!("note: the budget is too small for any index");
    }
    let mut rep: AdviseReport =
        advisor::build_report(&catalog, &workload, &prep, &outcome, costing);
    rep.whatif_calls = calls;
    if let Some(p) = planning {
        rep.workload.planned = Some(p.planned);
        // Statements outside the search (HypoPG reports its own failures).
        let failed: std::collections::BTreeSet<&str> =
            rep.skipped.iter().map(|s| s.statement.as_str()).collect();
        let more: Vec<advisor::report::Skipped> = p
            .failed
            .into_iter()
            .filter(|(q, _)| !failed.contains(q.as_str()))
            .map(|(statement, err)| advisor::report::Skipped {
                statement,
                reason: format!("the planner could not plan it: {err}"),
            })
            .collect();
        rep.skipped.extend(more);
    }
    let config = Config::load(None)?;
    let ctx = Ctx {
        catalog: Some(&catalog),
        workload: Some(&workload),
        ..Default::default()
    };
    let mut findings = rules::run(Scope::Catalog, &ctx, &config)?;
    findings.extend(rules::run(Scope::Workload, &ctx, &config)?);
    advisor::drop_resolved(&mut findings, &rep.recommendations, &catalog);
    rep.findings = findings;
    drop(conn);

    if let Some(d) = &demo {
        if !a.no_verify && !rep.recommendations.is_empty() {
            let pb = report::progress(0, "verifying on the demo");
            pb.enable_steady_tick(std::time::Duration::from_millis(120));
            let built = crate::bench::demo::build_indexes(&d.params, &rep.recommendations).await?;
            let wopts = crate::bench::demo_workload::WorkloadOptions {
                rounds: a.demo_args.rounds,
                sessions: 4,
                seed: a.demo_args.seed,
                scale: a.demo_args.scale,
                anchor: d.anchor,
            };
            let after = crate::bench::demo_workload::run(&d.params, &wopts, &|_, _| {}).await?;
            pb.finish_and_clear();
            rep.verification = Some(Verification {
                workload_ms_before: d.workload.exec_ms,
                workload_ms_after: after.exec_ms,
                built_bytes: built.iter().map(|b| b.1).sum(),
                estimated_bytes: rep.recommendations.iter().map(|r| r.size_bytes).sum(),
                indexes: built,
            });
        }
    } else if a.verify {
        anyhow::bail!("--verify builds the recommended indexes, so it runs only with --demo; hint: review the DDL and build it with CREATE INDEX CONCURRENTLY, or use `dbopt explain --compare`");
    }

    match g.format {
        Format::Json => report::print_json(&rep)?,
        f => print!("{}", report::advise::render(&rep, f)),
    }
    if let (Some(dir), Some(fmt)) = (&a.emit_migrations, a.migration_format) {
        if rep.recommendations.is_empty() {
            eprintln!("no migration written: there is nothing to recommend");
        } else {
            let files = crate::emit::write_migrations(&rep, dir, fmt, &[], chrono::Utc::now())
                .map_err(|e| {
                    let hint = e.hint();
                    anyhow::anyhow!("{e}; hint: {hint}")
                })?;
            eprintln!(
                "wrote {} migration file(s) to {}",
                files.len(),
                dir.display()
            );
            for f in files {
                eprintln!("  {}", f.display());
            }
        }
    }
    if let Some(d) = demo {
        tokio::task::spawn_blocking(move || d.server.stop())
            .await
            .ok();
    }
    let worst = rep.findings.iter().map(|f| f.severity).max();
    let worst = if rep.recommendations.is_empty() {
        worst
    } else {
        worst.max(Some(Severity::Warning))
    };
    Ok(match (a.fail_on, worst) {
        (Some(level), Some(w)) if w >= level => ExitStatus::Findings,
        _ => ExitStatus::Ok,
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
async fn plan_statements(c: &pg::Conn, prep: &advisor::Prepared) -> Planning {
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

/// The `schema.table` of every table the `flag` values name; an unknown name is an error
/// naming it, with the closest tables as the hint.
fn tables_named(
    catalog: &crate::catalog::Catalog,
    flag: &str,
    spelled: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for s in spelled {
        let found = catalog
            .tables_named(s)
            .map_err(|e| anyhow::anyhow!("{flag}: {e}; hint: {}", e.hint()))?;
        out.extend(found.iter().map(|t| t.qualified()));
    }
    Ok(out)
}

/// The error line when no statement of the workload can be used, with what each was.
fn nothing_usable(p: &advisor::Prepared, database: &str) -> String {
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
    format!(
        "no statement of the workload can be used: {}; hint: dbopt reads PostgreSQL SQL (is the input another dialect?), and advises on the database it connects to (is --database-url the application's database?)",
        why.join(", ")
    )
}

async fn catalog_has_hypopg(c: &pg::Conn) -> anyhow::Result<bool> {
    Ok(c.query_one(
        "SELECT count(*) > 0 FROM pg_extension WHERE extname = 'hypopg'",
        &[],
    )
    .await
    .map_err(|e| PgError::query("looking for hypopg", e))?
    .get(0))
}

#[cfg(test)]
mod tests {
    use super::{parse_budget, Budget};

    #[test]
    fn budgets() {
        let b = |s: &str, db: i64| parse_budget(s).map(|b| b.bytes(db));
        assert_eq!(b("500MB", 0).unwrap(), 500 * 1024 * 1024);
        assert_eq!(b("1.5GB", 0).unwrap(), 3 << 29);
        assert_eq!(b("10%", 1000).unwrap(), 100);
        assert_eq!(parse_budget("100%").unwrap(), Budget::Percent(100.0));
        assert!(parse_budget("lots").is_err());
        assert!(parse_budget("5XB")
            .unwrap_err()
            .contains("unknown size unit"));
        assert!(parse_budget("101%").is_err());
        assert!(parse_budget("99999999999999999999TB")
            .unwrap_err()
            .contains("too large"));
    }
}
