//! `dbopt advise`: recommend a set of indexes for the whole workload, with the evidence.
//!
//! Flags in, [`crate::commands::advise`] does the work, `report` prints; the demo server (when
//! `--demo`) is started and stopped here, and verified on.

use clap::Args;

use super::args::{fail_status, parse_percent};
use super::demo::{self, DemoArgs};
use super::{ExitStatus, Globals};
use crate::advisor::oracle::SizeEstimate;
use crate::commands::advise::{self as cmd, Advice, VerifyOn};
pub use crate::commands::advise::{Budget, Costing};
use crate::findings::Severity;
use crate::report;

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
    let server = match &demo {
        Some(d) => Some(d.params.clone()),
        None if spec.from_snapshot.is_some() => None,
        None => Some(g.connect.params()?),
    };
    let req = request(a, spec, server, g);
    let mut advice = cmd::run(
        &req,
        g.config()?,
        &super::source::warn_bad_statements,
        &report::note,
    )
    .await?;
    if let Some(d) = &demo {
        if !a.no_verify && !advice.report.recommendations.is_empty() {
            let on = VerifyOn {
                params: &d.params,
                anchor: d.anchor,
                before_ms: d.workload.exec_ms,
                rounds: a.demo_args.rounds,
                seed: a.demo_args.seed,
                scale: a.demo_args.scale,
            };
            advice.report.verification = Some(cmd::verify(&on, &advice.report).await?);
        }
    } else if a.verify {
        anyhow::bail!("--verify builds the recommended indexes, so it runs only with --demo; hint: review the DDL and build it with CREATE INDEX CONCURRENTLY, or use `dbopt explain --compare`");
    }
    if g.format == report::Format::Html {
        report::print_text(&report::html::advise(&advice.report))?;
    } else {
        report::print(g.format, &advice.report, |f| {
            report::advise::render(&advice.report, f)
        })?;
    }
    emit_migrations(a, &advice)?;
    if let Some(d) = demo {
        tokio::task::spawn_blocking(move || d.server.stop())
            .await
            .ok();
    }
    Ok(fail_status(a.fail_on, advice.worst()))
}

/// The plain request of these flags.
pub(super) fn request(
    a: &AdviseArgs,
    source: crate::workload::source::SourceSpec,
    server: Option<crate::pg::ConnParams>,
    g: &Globals,
) -> cmd::Request {
    cmd::Request {
        source,
        server,
        session: g.connect.session(true),
        budget: a.budget,
        max_indexes: a.max_indexes,
        max_width: usize::from(a.max_width),
        min_calls: a.min_calls,
        min_time_ms: a.min_time,
        include: a.include.clone(),
        exclude: a.exclude.clone(),
        min_improvement: a.min_improvement,
        min_table_improvement: a.min_table_improvement,
        min_rows: a.min_rows,
        costing: a.costing,
        size_estimate: a.size_estimate,
        jobs: a.jobs,
    }
}

/// `--emit-migrations DIR --migration-format F`: the recommendations as migration files.
fn emit_migrations(a: &AdviseArgs, advice: &Advice) -> anyhow::Result<()> {
    let (Some(dir), Some(fmt)) = (&a.emit_migrations, a.migration_format) else {
        return Ok(());
    };
    if advice.report.recommendations.is_empty() {
        eprintln!("no migration written: there is nothing to recommend");
        return Ok(());
    }
    let files = crate::emit::write_migrations(&advice.report, dir, fmt, &[], chrono::Utc::now())?;
    eprintln!(
        "wrote {} migration file(s) to {}",
        files.len(),
        dir.display()
    );
    for f in files {
        eprintln!("  {}", f.display());
    }
    Ok(())
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
