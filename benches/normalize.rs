//! Normalization of long one-line statements (`normalize::normalize`): 10,000- and
//! 100,000-value IN lists and a 40,000-term AND chain. Each must take time linear in its
//! length; before the tokens' positions were mapped in one forward pass, a 30,000-value list
//! took 6 s and 50,000 ANDs did not finish in two minutes.
//!
//! `cargo bench --bench normalize -- --measurement-time 5`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dbopt::workload::normalize::normalize;

fn in_list(n: usize) -> String {
    let values: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    format!("SELECT * FROM t WHERE id IN ({})", values.join(", "))
}

fn and_chain(n: usize) -> String {
    let terms: Vec<String> = (0..n).map(|i| format!("c{} = {i}", i % 10)).collect();
    format!("SELECT * FROM t WHERE {}", terms.join(" AND "))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("normalize");
    g.sample_size(10);
    for (name, sql) in [
        ("in_list_10000", in_list(10_000)),
        ("in_list_100000", in_list(100_000)),
        ("and_chain_40000", and_chain(40_000)),
    ] {
        g.throughput(Throughput::Bytes(sql.len() as u64));
        g.bench_function(name, |b| b.iter(|| normalize(black_box(&sql))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
