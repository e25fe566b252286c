//! `dbopt bench advise`: the advisor's quality and speed on TPC-H (see `crate::bench::tpch`);
//! `dbopt bench advise-scale`: its time and memory as the workload grows
//! (see `crate::bench::advise_scale`). Flags in, [`crate::commands::bench`] runs them,
//! [`crate::report::bench`] prints.

use clap::Args;

use super::bench::target_spec;
use super::{ExitStatus, Globals};
use crate::bench::advise_scale::ScaleOptions;
use crate::bench::tpch::TpchOptions;
use crate::commands::bench as cmd;
use crate::report;

#[derive(Debug, Args)]
pub struct BenchAdviseArgs {
    /// TPC-H scale factor (1 = 6M lineitems; about a minute to generate and load here). With
    /// --database-url the tables are loaded into that database unless they are already there.
    #[arg(long, default_value_t = 1.0)]
    pub scale_factor: f64,
    /// Budgets in MB (10^6 bytes, counted in HypoPG's size estimate, as the protocol does).
    #[arg(long, value_delimiter = ',', default_value = "200,500,1000")]
    pub budgets: Vec<f64>,
    /// Maximum index widths to run.
    #[arg(long, value_delimiter = ',', default_value = "2,3")]
    pub widths: Vec<usize>,
    /// Parallel what-if sessions.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
}

pub async fn run(g: &Globals, a: &BenchAdviseArgs) -> anyhow::Result<ExitStatus> {
    anyhow::ensure!(
        a.scale_factor > 0.0 && a.scale_factor <= 10.0,
        "--scale-factor must be in (0, 10]"
    );
    let o = TpchOptions {
        scale_factor: a.scale_factor,
        budgets_mb: a.budgets.clone(),
        widths: a.widths.clone(),
        jobs: a.jobs,
    };
    let pb = spinner("TPC-H");
    let progress = |m: &str| pb.set_message(m.to_string());
    let r = cmd::advise(&target_spec(g), &o, &report::bench::note, &progress).await?;
    pb.finish_and_clear();
    report::print(g.format, &r, |f| report::bench::tpch(f, &r))?;
    Ok(ExitStatus::Ok)
}

/// A spinner on stderr while the server starts and the benchmark runs.
fn spinner(what: &str) -> indicatif::ProgressBar {
    let pb = report::progress(0, what);
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb.set_message("starting the server");
    pb
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Tables of the synthetic schema (`dbopt_scale`; kept for the next run when unchanged).
    #[arg(long, default_value_t = 500)]
    pub tables: usize,
    /// Rows per table.
    #[arg(long, default_value_t = 20_000)]
    pub rows: u64,
    /// Workload sizes in distinct statements (at most 20 per table).
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    pub statements: Vec<usize>,
    /// Where advise's what-if costs come from.
    #[arg(long, value_enum, default_value_t = super::advise::Costing::Auto)]
    pub costing: super::advise::Costing,
    /// Parallel what-if sessions.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
}

pub async fn scale(g: &Globals, a: &ScaleArgs) -> anyhow::Result<ExitStatus> {
    let o = ScaleOptions {
        tables: a.tables,
        rows: a.rows,
        statements: a.statements.clone(),
        costing: clap::ValueEnum::to_possible_value(&a.costing)
            .map_or_else(|| "auto".to_string(), |v| v.get_name().to_string()),
        jobs: a.jobs,
    };
    let pb = spinner("advise at scale");
    let progress = |m: &str| pb.set_message(m.to_string());
    let r = cmd::advise_scale(&target_spec(g), &o, &report::bench::note, &progress).await?;
    pb.finish_and_clear();
    report::print(g.format, &r, |f| report::bench::scale(f, &r))?;
    Ok(ExitStatus::Ok)
}
