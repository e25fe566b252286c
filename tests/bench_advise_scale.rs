//! `dbopt bench advise-scale` against a real server: it builds its synthetic schema once,
//! advises on each workload size in a child `dbopt advise` process with HypoPG, and reports
//! time, memory and results per size; a second run keeps the schema.

mod common;

use common::{assert_success, dbopt, fresh_db};
use dbopt::pg::ConnParams;

/// `dbopt bench advise-scale` on database `p` with HypoPG costing and JSON output.
fn advise_scale(p: &ConnParams, extra: &[&str]) -> std::process::Output {
    dbopt()
        .args([
            "bench",
            "advise-scale",
            "--database-url",
            &p.url_with_password(),
        ])
        .args(["--costing", "hypopg", "--format", "json"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn grows_the_workload_and_reuses_the_schema() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("advise_scale"));
    let run = || {
        let out = advise_scale(
            &p,
            &["--tables", "3", "--rows", "5000", "--statements", "60,6"],
        );
        assert_success(&out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = run();
    assert!(first["load_seconds"].as_f64().is_some(), "{first}");
    let runs = first["runs"].as_array().unwrap();
    let sizes: Vec<u64> = runs
        .iter()
        .map(|r| r["statements"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, vec![6, 60], "ascending order");
    for r in runs {
        assert_eq!(r["costing"], "hypopg", "{r}");
        assert!(r["whatif_calls"].as_u64().unwrap() > 0, "{r}");
        assert!(r["peak_mb"].as_f64().unwrap() > 1.0, "{r}");
        // Lookups on 5,000-row tables without any index: every one is worth an index.
        assert!(r["indexes"].as_u64().unwrap() >= 3, "{r}");
        assert!(r["cost_pct"].as_f64().unwrap() < 50.0, "{r}");
    }
    // 60 statements cover all 20 shapes of each table: more calls than 6 of them.
    assert!(runs[1]["whatif_calls"].as_u64() > runs[0]["whatif_calls"].as_u64());
    let second = run();
    assert!(second["load_seconds"].is_null(), "schema kept: {second}");
}

#[test]
fn more_statements_than_distinct_shapes_is_a_clean_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("advise_scale_err"));
    let out = advise_scale(&p, &["--tables", "2", "--statements", "41"]);
    common::assert_clean_error(&out, &["41 statements", "distinct", "--tables"]);
}
