//! `dbopt bench advise`: the advisor's quality and speed on TPC-H (see `crate::bench::tpch`).

use clap::Args;

use super::{ExitStatus, Globals};
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
    println!(
        "TPC-H ({} queries: Q2, Q17, Q20 excluded; {loaded}). No index = 100 %; every width-2 candidate at once = {:.2} %.",
        r.queries.len(),
        r.all_width2_pct
    );
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
    println!("{t}");
    println!("Extend's set %: the reference implementation's published width-2 picks at that budget, costed on this run's statistics.");
    if let (Some(b), Some(c)) = (r.built_mb, r.real_cost_pct) {
        println!("Width 2 at 500 MB, built for real: {b:.0} MB on disk; workload cost with the real indexes {c:.2} % of no index.");
    }
    for run in &r.runs {
        println!(
            "width {} @ {:.0} MB: {}",
            run.max_width,
            run.budget_mb,
            run.indexes.join(", ")
        );
    }
    Ok(ExitStatus::Ok)
}
