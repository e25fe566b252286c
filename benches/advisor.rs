//! dbopt's own hot paths, with throughput so reports read in statements/s or plans/s:
//! candidate generation, the selection search over a large synthetic workload (500 tables,
//! up to 10,000 statements; dbopt's cost model as the oracle, so the search itself is what is
//! measured, not a server), and EXPLAIN JSON parsing.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dbopt::advisor::candidates::{self, Access, Candidate, OrderCol};
use dbopt::advisor::oracle::CostModel;
use dbopt::advisor::select::{self, SearchOptions, StmtInput};
use dbopt::catalog::{Catalog, Column, ColumnStats, Table};
use dbopt::sql::index_key::KeyExpr;

/// 500 tables of 8 columns with varied statistics.
fn catalog(tables: usize) -> Catalog {
    let mut c = Catalog {
        server_version_num: 150_000,
        ..Default::default()
    };
    for t in 0..tables {
        let columns = (0..8)
            .map(|k| Column {
                name: format!("c{k}"),
                type_name: "integer".into(),
                not_null: true,
                stats: Some(ColumnStats {
                    n_distinct: if k == 0 { -1.0 } else { 10f64.powi(k % 5 + 1) },
                    avg_width: 4,
                    correlation: Some(0.1 * k as f64),
                    ..Default::default()
                }),
            })
            .collect();
        c.tables.push(Table {
            schema: "public".into(),
            name: format!("t{t}"),
            reltuples: 100_000.0 + 1_000.0 * t as f64,
            relpages: 1_000 + 10 * t as i64,
            columns,
            analyzed: true,
            ..Default::default()
        });
    }
    c
}

/// A deterministic statement mix: equality lookups, equality + range, equality + ORDER BY LIMIT.
fn workload(n: usize, tables: usize) -> Vec<StmtInput> {
    (0..n)
        .map(|i| {
            let t = format!("public.t{}", (i * 7919) % tables);
            let n = |k: usize| format!("c{}", (i + k) % 8);
            let c = |k: usize| KeyExpr::Column(n(k));
            let a = match i % 3 {
                0 => Access {
                    table: t,
                    eq: vec![c(1)],
                    selected: vec!["*".into()],
                    ..Default::default()
                },
                1 => Access {
                    table: t,
                    eq: vec![c(2)],
                    range: vec![c(3)],
                    selected: vec![n(0)],
                    ..Default::default()
                },
                _ => Access {
                    table: t,
                    eq: vec![c(4)],
                    order: vec![OrderCol {
                        column: c(5),
                        desc: true,
                        nulls_first: None,
                    }],
                    limit: true,
                    selected: vec!["*".into()],
                    ..Default::default()
                },
            };
            StmtInput {
                fingerprint: i.to_string(),
                query: String::new(),
                weight: 1.0 + (i % 50) as f64,
                mean_ms: 1.0,
                accesses: vec![a],
                ..Default::default()
            }
        })
        .collect()
}

fn candidates_for(stmts: &[StmtInput], cat: &Catalog) -> Vec<Candidate> {
    let mut all: Vec<Candidate> = stmts
        .iter()
        .flat_map(|s| {
            s.accesses
                .iter()
                .flat_map(|a| candidates::for_access(a, cat, 3))
        })
        .collect();
    all.sort();
    all.dedup();
    all
}

fn bench_candidates(c: &mut Criterion) {
    let cat = catalog(500);
    let stmts = workload(10_000, 500);
    let mut g = c.benchmark_group("candidates");
    g.throughput(Throughput::Elements(stmts.len() as u64));
    g.bench_function("10000 statements, 500 tables", |b| {
        b.iter(|| candidates_for(&stmts, &cat))
    });
    g.finish();
}

fn bench_selection(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cat = catalog(500);
    let mut g = c.benchmark_group("selection");
    g.sample_size(10);
    for n in [100usize, 1_000, 10_000] {
        let stmts = workload(n, 500);
        let cands = candidates_for(&stmts, &cat);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("statements", n), &n, |b, _| {
            b.iter(|| {
                let mut oracle = CostModel::new(
                    cat.clone(),
                    stmts.iter().map(|s| s.accesses.clone()).collect(),
                );
                rt.block_on(select::search(
                    &stmts,
                    &cands,
                    &mut oracle,
                    &SearchOptions {
                        budget_bytes: Some(2_000_000_000),
                        ..Default::default()
                    },
                ))
            })
        });
    }
    g.finish();
}

/// An EXPLAIN (ANALYZE, FORMAT JSON) document with a join tree of `depth` levels.
fn plan_json(depth: usize) -> String {
    fn node(d: usize) -> serde_json::Value {
        let leaf = |name: &str| {
            serde_json::json!({"Node Type": "Index Scan", "Relation Name": name, "Schema": "public", "Index Name": format!("{name}_pkey"),
            "Startup Cost": 0.29, "Total Cost": 8.31, "Plan Rows": 1, "Plan Width": 40, "Actual Startup Time": 0.01, "Actual Total Time": 0.02,
            "Actual Rows": 1, "Actual Loops": 20, "Shared Hit Blocks": 60, "Shared Read Blocks": 0, "Index Cond": "(id = o.t_id)"})
        };
        if d == 0 {
            return serde_json::json!({"Node Type": "Seq Scan", "Relation Name": "orders", "Schema": "public", "Startup Cost": 0.0, "Total Cost": 1834.0,
                "Plan Rows": 20, "Plan Width": 40, "Actual Startup Time": 0.02, "Actual Total Time": 9.5, "Actual Rows": 20, "Actual Loops": 1,
                "Filter": "(status = 'new'::text)", "Rows Removed by Filter": 99_980, "Shared Hit Blocks": 834, "Shared Read Blocks": 0});
        }
        serde_json::json!({"Node Type": "Nested Loop", "Join Type": "Inner", "Startup Cost": 0.29, "Total Cost": 2000.0 + d as f64, "Plan Rows": 20,
            "Plan Width": 80, "Actual Startup Time": 0.05, "Actual Total Time": 10.0 + d as f64, "Actual Rows": 20, "Actual Loops": 1,
            "Plans": [node(d - 1), leaf(&format!("t{d}"))]})
    }
    serde_json::json!([{"Plan": node(depth), "Planning Time": 0.4, "Execution Time": 12.0, "Triggers": []}]).to_string()
}

fn bench_plans(c: &mut Criterion) {
    let text = plan_json(10);
    let mut g = c.benchmark_group("plans");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse EXPLAIN JSON, 21 nodes", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            dbopt::analyze::plan::Plan::from_json(&v).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_candidates, bench_selection, bench_plans);
criterion_main!(benches);
