//! Parse coverage of shape extraction over the real-world corpus in `fixtures/corpus/`
//! (TPC-H, pgbench, Rails, Django, Prisma, Hibernate, the demo workload). Prints the coverage
//! per file and the statements that were not parsed (`cargo test --test shape_corpus -- --nocapture`).

use std::path::Path;

use dbopt::catalog::{Catalog, Column, Table};
use dbopt::workload::shape::{self, PredKind, PredValue, StatementKind};

#[test]
fn corpus_parse_coverage() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let (mut parsed, mut total) = (0, 0);
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read corpus file");
        let statements = shape::split(&text);
        let e = shape::extract_each(statements.iter().copied());
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        println!(
            "{name}: {}/{} parsed ({:.1}%)",
            e.total - e.unparsed.len(),
            e.total,
            e.coverage() * 100.0
        );
        for (i, err) in &e.unparsed {
            println!(
                "  not parsed: {err}: {}",
                statements[*i].lines().next().unwrap_or("")
            );
        }
        // Every parsed query of the corpus that reads tables yields its accesses.
        for (i, s) in &e.shapes {
            if s.kind != StatementKind::Utility && statements[*i].to_lowercase().contains(" from ")
            {
                assert!(
                    !s.accesses.is_empty(),
                    "{name}: no table found in {}",
                    statements[*i]
                );
            }
        }
        parsed += e.total - e.unparsed.len();
        total += e.total;
    }
    let coverage = parsed as f64 / total as f64;
    println!(
        "corpus: {parsed}/{total} statements parsed, coverage {:.3}",
        coverage
    );
    assert!(total >= 120, "corpus has {total} statements");
    assert!(coverage >= 0.9, "coverage fell to {coverage:.3}");
}

#[test]
fn tpch_has_all_22_queries() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus/tpch.sql"),
    )
    .unwrap();
    let e = shape::extract_each(shape::split(&text));
    assert_eq!(e.total, 22);
    // Q3: three tables; its columns are unqualified, so they wait for the catalog.
    let mut q3 = e
        .shapes
        .iter()
        .find(|(i, _)| *i == 2)
        .expect("Q3 parsed")
        .1
        .clone();
    assert_eq!(q3.accesses.len(), 3);
    assert_eq!(q3.limit.as_deref(), Some("10"));
    assert!(!q3.unattributed.is_empty());
    let table = |name: &str, cols: &[&str]| Table {
        schema: "tpch".into(),
        name: name.into(),
        columns: cols
            .iter()
            .map(|c| Column {
                name: (*c).into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let catalog = Catalog {
        tables: vec![
            table("customer", &["c_custkey", "c_mktsegment"]),
            table(
                "orders",
                &["o_orderkey", "o_custkey", "o_orderdate", "o_shippriority"],
            ),
            table(
                "lineitem",
                &["l_orderkey", "l_shipdate", "l_extendedprice", "l_discount"],
            ),
        ],
        ..Default::default()
    };
    shape::resolve(&mut q3, &catalog, &["tpch".into()]);
    assert!(q3.unattributed.is_empty(), "{:?}", q3.unattributed);
    let customer = &q3.accesses[0];
    assert_eq!(customer.table, "tpch.customer");
    let seg = customer
        .predicates
        .iter()
        .find(|p| p.column.as_deref() == Some("c_mktsegment"))
        .expect("segment predicate");
    assert_eq!(seg.value, PredValue::Constant("'BUILDING'".into()));
    let lineitem = &q3.accesses[2];
    assert!(lineitem
        .predicates
        .iter()
        .any(|p| p.column.as_deref() == Some("l_shipdate") && p.kind == PredKind::Range));
}
