//! Shape extraction throughput over the real-world corpus in `fixtures/corpus/` (TPC-H,
//! pgbench, Rails, Django, Prisma, Hibernate, the demo workload). Criterion reports elements/s,
//! i.e. statements per second; the parse coverage (parsed / total) is printed once.
//!
//! `cargo bench --bench shape -- --measurement-time 5`

use std::path::Path;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dbopt::workload::shape;

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("corpus file");
            shape::split(&text)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let statements = corpus();
    let e = shape::extract_each(statements.iter().map(String::as_str));
    println!(
        "corpus: {} statements, {} parsed, coverage {:.3}",
        e.total,
        e.total - e.unparsed.len(),
        e.coverage()
    );
    let mut g = c.benchmark_group("shape");
    g.throughput(Throughput::Elements(statements.len() as u64));
    g.bench_function("extract_corpus", |b| {
        b.iter(|| shape::extract_each(black_box(statements.iter().map(String::as_str))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
