//! dbopt's cost model against HypoPG: the model's chosen set, costed by HypoPG, against
//! HypoPG's own choice, on the demo workload and on TPC-H (see `dbopt::bench::agreement`).
//! The scales default to what loads in seconds here; `DBOPT_DEMO_SCALE` and `DBOPT_TPCH_SF`
//! set others (the report's SF1 and scale-1 figures were measured that way).

mod common;

use dbopt::advisor::{self, select::SearchOptions, writes, Filters};
use dbopt::bench::agreement::{self, Agreement};
use dbopt::bench::{demo, demo_workload, tpch};
use dbopt::pg::{self, SessionOptions};

fn scale(var: &str, default: f64) -> f64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn show(a: &Agreement, what: &str) {
    eprintln!(
        "{what}: no index {:.0}, HypoPG's set {:.0} ({} indexes), the model's set {:.0} ({} indexes), ratio {:.3}\n  HypoPG: {:?}\n  model:  {:?}",
        a.no_index_cost,
        a.hypopg_set_cost,
        a.hypopg_set.len(),
        a.model_set_cost,
        a.model_set.len(),
        a.ratio,
        a.hypopg_set,
        a.model_set
    );
}

/// The demo's application workload, advised with `dbopt advise`'s options.
#[tokio::test]
async fn model_choice_on_the_demo_is_close_to_hypopg() {
    let s = scale("DBOPT_DEMO_SCALE", 0.1);
    let p = common::fresh_db("agree_demo").await;
    let opts = demo::DemoOptions {
        scale: s,
        seed: 7,
        ..Default::default()
    };
    demo::load(&p, &opts, &|_, _| {}).await.expect("demo load");
    let wopts = demo_workload::WorkloadOptions {
        rounds: 10,
        sessions: 2,
        seed: 7,
        scale: s,
        anchor: opts.anchor,
    };
    demo_workload::run(&p, &wopts, &|_, _| {})
        .await
        .expect("demo workload");
    let c = pg::connect(&p, &SessionOptions::default()).await.unwrap();
    let workload = pg::pgss::read(&c).await.unwrap();
    let catalog = pg::catalog::load(&c).await.unwrap();
    let prep = advisor::prepare(
        &catalog,
        &workload,
        &["public".to_string()],
        &Filters::default(),
    );
    assert!(prep.stmts.len() > 5, "{} statements", prep.stmts.len());
    let sopts = SearchOptions {
        write_cost_per_row: catalog.settings.random_page_cost * 0.5,
        existing: writes::existing(&catalog),
        ..Default::default()
    };
    let a = agreement::measure(&p, &catalog, &prep, &sopts, 2, "demo")
        .await
        .unwrap();
    show(&a, &format!("demo at scale {s}"));
    assert!(!a.hypopg_set.is_empty(), "the demo needs indexes");
    assert!(a.hypopg_set_cost < a.no_index_cost);
    // Measured 2.64 at scale 0.1 and 2.76 at scale 1: HypoPG's set costs 4 % of no index,
    // the model's 11 % (it misses the covering and three-column variants). The bound keeps it
    // from getting worse unnoticed.
    assert!(a.ratio <= 3.0, "ratio {:.3}", a.ratio);
    assert!(a.model_set_cost < a.no_index_cost * 0.25);
}

/// TPC-H with the protocol's options, at width 2 and a budget of 500 MB per scale factor.
#[tokio::test]
async fn model_choice_on_tpch_is_close_to_hypopg() {
    let sf = scale("DBOPT_TPCH_SF", 0.05);
    let p = common::fresh_db("agree_tpch").await;
    let t0 = std::time::Instant::now();
    tpch::load(&p, sf).await.expect("TPC-H load");
    eprintln!("TPC-H SF{sf} loaded in {:.1} s", t0.elapsed().as_secs_f64());
    tpch::create_q15_view(&p).await.unwrap();
    let c = pg::connect(&p, &SessionOptions::default()).await.unwrap();
    let catalog = pg::catalog::load(&c).await.unwrap();
    let (_, workload) = tpch::workload();
    let f = Filters {
        min_calls: 0,
        min_rows: 0.0,
        max_width: 2,
        ..Default::default()
    };
    let prep = advisor::prepare(&catalog, &workload, &["public".to_string()], &f);
    assert_eq!(prep.stmts.len(), 19);
    let a = agreement::measure(
        &p,
        &catalog,
        &prep,
        &tpch::search_options(2, 500.0 * sf),
        2,
        "tpch",
    )
    .await
    .unwrap();
    show(&a, &format!("TPC-H SF{sf}, width 2, {:.0} MB", 500.0 * sf));
    assert!(a.hypopg_set_cost < a.no_index_cost);
    // Measured 1.70 at SF0.05, 1.91 at SF0.5, 2.02 at SF1: the model misses the join-key
    // indexes HypoPG picks (l_orderkey, o_custkey, ps_suppkey). The bound holds at each.
    assert!(a.ratio <= 2.25, "ratio {:.3}", a.ratio);
    assert!(a.model_set_cost < a.no_index_cost);
}
