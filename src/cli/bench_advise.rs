//! `dbopt bench advise`: the advisor's quality and speed on TPC-H (see `crate::bench::tpch`);
//! `dbopt bench advise-scale`: its time and memory as the workload grows
//! (see `crate::bench::advise_scale`).

use clap::Args;

use super::{ExitStatus, Globals};
use crate::bench::advise_scale::{self, ScaleOptions};
use crate::bench::tpch::{self, TpchOptions};
use crate::report::{self, Format};

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
    let pb = report::progress(0, "TPC-H");
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let o = TpchOptions {
        scale_factor: a.scale_factor,
        budgets_mb: a.budgets.clone(),
        widths: a.widths.clone(),
        jobs: a.jobs,
    };
    pb.set_message("starting the server");
    let target = super::bench::target(g).await?;
    let r = tpch::run(&target.params, &o, &|m| pb.set_message(m.to_string())).await;
    target.finish().await;
    let r = r?;
    pb.finish_and_clear();
    if g.format == Format::Json {
        report::print_json(&r)?;
        return Ok(ExitStatus::Ok);
    }
    let loaded = match r.load_seconds {
        Some(s) => format!("SF{} loaded in {s:.1} s", r.scale_factor),
        None => "tables already loaded, statistics kept".to_string(),
    };
    crate::outln!(
        "TPC-H ({} queries: Q2, Q17, Q20 excluded; {loaded}). No index = 100 %; every width-2 candidate at once = {:.2} %.",
        r.queries.len(),
        r.all_width2_pct
    )?;
    let mut t = report::table(
        g.format,
        &[
            "width",
            "budget MB",
            "cost %",
            "indexes",
            "HypoPG MB",
            "dbopt MB",
            "what-if calls",
            "seconds",
            "Extend's set %",
        ],
    );
    for run in &r.runs {
        t.add_row(vec![
            run.max_width.to_string(),
            format!("{:.0}", run.budget_mb),
            format!("{:.2}", run.cost_pct),
            run.indexes.len().to_string(),
            format!("{:.0}", run.hypopg_mb),
            format!("{:.0}", run.dbopt_mb),
            run.whatif_calls.to_string(),
            format!("{:.2}", run.seconds),
            r.reference
                .iter()
                .find(|(b, _)| run.max_width == 2 && (*b - run.budget_mb).abs() < 1.0)
                .map_or_else(|| "-".to_string(), |(_, pct)| format!("{pct:.2}")),
        ]);
    }
    crate::outln!("{t}")?;
    crate::outln!("Extend's set %: the reference implementation's published width-2 picks at that budget, costed on this run's statistics.")?;
    if let (Some(b), Some(c)) = (r.built_mb, r.real_cost_pct) {
        crate::outln!("Width 2 at 500 MB, built for real: {b:.0} MB on disk; workload cost with the real indexes {c:.2} % of no index.")?;
    }
    for a in &r.agreement {
        crate::outln!(
            "Cost model vs HypoPG, width 2 @ {:.0} MB (dbopt's size estimate): the model's set costs {:.2} % of no index, HypoPG's {:.2} %; ratio {:.3}.",
            a.budget_mb.unwrap_or(f64::INFINITY),
            100.0 * a.model_set_cost / a.no_index_cost.max(1e-9),
            100.0 * a.hypopg_set_cost / a.no_index_cost.max(1e-9),
            a.ratio
        )?;
    }
    for run in &r.runs {
        crate::outln!(
            "width {} @ {:.0} MB: {}",
            run.max_width,
            run.budget_mb,
            run.indexes.join(", ")
        )?;
    }
    Ok(ExitStatus::Ok)
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
    let pb = report::progress(0, "advise at scale");
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb.set_message("starting the server");
    let o = ScaleOptions {
        tables: a.tables,
        rows: a.rows,
        statements: a.statements.clone(),
        costing: clap::ValueEnum::to_possible_value(&a.costing)
            .map_or_else(|| "auto".to_string(), |v| v.get_name().to_string()),
        jobs: a.jobs,
    };
    let target = super::bench::target(g).await?;
    let r = advise_scale::run(&target.params, &o, &|m| pb.set_message(m.to_string())).await;
    target.finish().await;
    let r = r?;
    pb.finish_and_clear();
    if g.format == Format::Json {
        report::print_json(&r)?;
        return Ok(ExitStatus::Ok);
    }
    let loaded = match r.load_seconds {
        Some(s) => format!("loaded in {s:.1} s"),
        None => "already loaded, statistics kept".to_string(),
    };
    crate::outln!(
        "{} tables of {} rows ({loaded}); each size is one `dbopt advise --queries FILE` process.",
        r.tables,
        r.rows_per_table
    )?;
    let mut t = report::table(
        g.format,
        &[
            "statements",
            "tables",
            "seconds",
            "ms / statement",
            "peak MB",
            "costing",
            "what-if calls",
            "indexes",
            "cost after %",
        ],
    );
    for run in &r.runs {
        #[allow(clippy::cast_precision_loss)]
        let per = 1000.0 * run.seconds / run.statements as f64;
        t.add_row(vec![
            run.statements.to_string(),
            run.tables_touched.to_string(),
            format!("{:.1}", run.seconds),
            format!("{per:.2}"),
            format!("{:.0}", run.peak_mb),
            run.costing.clone(),
            run.whatif_calls.to_string(),
            run.indexes.to_string(),
            format!("{:.1}", run.cost_pct),
        ]);
    }
    crate::outln!("{t}")?;
    Ok(ExitStatus::Ok)
}
