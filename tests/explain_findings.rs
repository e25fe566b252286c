//! Each plan finding, triggered by a real query on a table built to show the problem, and not
//! triggered on its fixed twin (the index, the statistics, the setting or the VACUUM that the
//! finding's remedy asks for).

mod common;

use std::time::Duration;

use dbopt::pg::explain::{self, Mode, Request};
use dbopt::pg::{self, ConnParams, SessionOptions};
use dbopt::rules::{self, Config, Ctx, Scope};

/// A fresh database with `setup` run in it (parallel query off, so that per-node numbers are
/// the whole scan's); `db_settings` are `ALTER DATABASE ... SET` pairs.
async fn db(tag: &str, db_settings: &[(&str, &str)], setup: &str) -> ConnParams {
    let p = common::fresh_db(tag).await;
    let c = common::setup_conn(&p).await;
    let name = p.get("dbname").expect("dbname").to_string();
    let parallel_off = [("max_parallel_workers_per_gather", "0")];
    for (k, v) in db_settings.iter().chain(&parallel_off) {
        c.batch_execute(&format!(
            "ALTER DATABASE {} SET {k} = {v}",
            dbopt::sql::quote_ident(&name)
        ))
        .await
        .expect("database setting");
    }
    // `;;` separates batches (VACUUM cannot run inside the implicit transaction of a batch).
    for batch in setup.split(";;") {
        c.batch_execute(batch).await.expect("test set-up");
    }
    p
}

/// VACUUM `table` until every page is all-visible. On a busy server one VACUUM may not manage
/// it (a snapshot taken elsewhere holds the horizon back for a moment); the twin needs it done.
async fn all_visible(p: &ConnParams, table: &str) {
    let c = common::setup_conn(p).await;
    let check =
        format!("SELECT relallvisible >= relpages FROM pg_class WHERE oid = '{table}'::regclass");
    for _ in 0..100 {
        if common::scalar::<bool>(&c, &check).await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        c.batch_execute(&format!("VACUUM {table}"))
            .await
            .expect("vacuum");
    }
    panic!(
        "{table} never became all-visible after 100 VACUUMs (a long transaction on the server?)"
    );
}

/// The rule ids found on the plan of `sql`, run by dbopt's EXPLAIN runner (read-only session).
async fn found(p: &ConnParams, sql: &str, config: &Config) -> Vec<String> {
    let c = pg::connect(
        p,
        &SessionOptions {
            read_only: true,
            statement_timeout: Some(Duration::from_secs(60)),
            quiet: true,
        },
    )
    .await
    .expect("connect");
    let e = explain::explain(
        &c,
        &Request {
            sql: sql.into(),
            analyze: true,
            ..Default::default()
        },
    )
    .await
    .expect("explain");
    assert_eq!(e.mode, Mode::Analyze);
    let f = rules::run(
        Scope::Plan,
        &Ctx {
            plan: Some(&e.plan),
            ..Default::default()
        },
        config,
    )
    .expect("rules");
    f.into_iter().map(|f| f.rule).collect()
}

async fn assert_twin(
    rule: &str,
    bad: (&ConnParams, &str),
    fixed: (&ConnParams, &str),
    config: &Config,
) {
    let b = found(bad.0, bad.1, config).await;
    assert!(
        b.iter().any(|r| r == rule),
        "{rule} expected on `{}`, found {b:?}",
        bad.1
    );
    let f = found(fixed.0, fixed.1, config).await;
    assert!(
        !f.iter().any(|r| r == rule),
        "{rule} not expected on the fixed twin `{}`, found {f:?}",
        fixed.1
    );
}

const NO_SEQ: &[(&str, &str)] = &[("enable_seqscan", "off")];
const SMALL_MEM: &[(&str, &str)] = &[("work_mem", "'64kB'")];

#[tokio::test]
async fn seq_scan_filters_most_rows() {
    let setup = "CREATE TABLE orders (id int PRIMARY KEY, customer int, pad text);
        INSERT INTO orders SELECT i, i % 1000, repeat('x', 40) FROM generate_series(1, 50000) i;";
    let bad = db("seq", &[], &format!("{setup} ANALYZE orders;")).await;
    let fixed = db(
        "seq_fix",
        &[],
        &format!("{setup} CREATE INDEX ON orders (customer); ANALYZE orders;"),
    )
    .await;
    let q = "SELECT * FROM orders WHERE customer = 7";
    assert_twin(
        "seq-scan-filters-most-rows",
        (&bad, q),
        (&fixed, q),
        &Config::default(),
    )
    .await;
}

#[tokio::test]
async fn row_misestimate() {
    // a and b are the same value: the planner multiplies their selectivities (100x too low)
    // until extended statistics tell it they depend on each other.
    let setup = "CREATE TABLE pairs (a int, b int);
        INSERT INTO pairs SELECT i % 100, i % 100 FROM generate_series(1, 100000) i;";
    let bad = db("mis", &[], &format!("{setup} ANALYZE pairs;")).await;
    let fixed = db(
        "mis_fix",
        &[],
        &format!(
            "{setup} CREATE STATISTICS pairs_ab (dependencies) ON a, b FROM pairs; ANALYZE pairs;"
        ),
    )
    .await;
    let q = "SELECT * FROM pairs WHERE a = 1 AND b = 1";
    assert_twin(
        "row-misestimate",
        (&bad, q),
        (&fixed, q),
        &Config::default(),
    )
    .await;
}

#[tokio::test]
async fn sort_spills_to_disk() {
    let setup = "CREATE TABLE notes (id int, body text);
        INSERT INTO notes SELECT i, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, 20000) i;
        ANALYZE notes;";
    let bad = db("sort", SMALL_MEM, setup).await;
    let fixed = db("sort_fix", &[("work_mem", "'32MB'")], setup).await;
    let q = "SELECT * FROM notes ORDER BY body";
    assert_twin(
        "sort-spills-to-disk",
        (&bad, q),
        (&fixed, q),
        &Config::default(),
    )
    .await;
}

#[tokio::test]
async fn hash_spills_to_disk() {
    let setup = "CREATE TABLE l (id int, pad text); CREATE TABLE r (id int, pad text);
        INSERT INTO l SELECT i, repeat('l', 50) FROM generate_series(1, 20000) i;
        INSERT INTO r SELECT i, repeat('r', 50) FROM generate_series(1, 20000) i;
        ANALYZE l; ANALYZE r;";
    let bad = db(
        "hash",
        &[("work_mem", "'64kB'"), ("enable_mergejoin", "off")],
        setup,
    )
    .await;
    let fixed = db(
        "hash_fix",
        &[("work_mem", "'32MB'"), ("enable_mergejoin", "off")],
        setup,
    )
    .await;
    let q = "SELECT * FROM l JOIN r ON r.id = l.id";
    assert_twin(
        "hash-spills-to-disk",
        (&bad, q),
        (&fixed, q),
        &Config::default(),
    )
    .await;
}

#[tokio::test]
async fn nested_loop_many_loops() {
    let setup = "CREATE TABLE authors (id int PRIMARY KEY);
        CREATE TABLE few_authors (id int PRIMARY KEY);
        CREATE TABLE posts (id int PRIMARY KEY, author int, at int);
        INSERT INTO authors SELECT generate_series(1, 5000);
        INSERT INTO few_authors SELECT generate_series(1, 50);
        INSERT INTO posts SELECT i, i % 5000, i FROM generate_series(1, 50000) i;
        CREATE INDEX ON posts (author, at);
        ANALYZE;";
    let p = db("loop", &[], setup).await;
    let per_row = |t: &str| {
        format!("SELECT a.id, p.id FROM {t} a CROSS JOIN LATERAL (SELECT id FROM posts WHERE posts.author = a.id ORDER BY at DESC LIMIT 1) p")
    };
    assert_twin(
        "nested-loop-many-loops",
        (&p, &per_row("authors")),
        (&p, &per_row("few_authors")),
        &Config::default(),
    )
    .await;
}

#[tokio::test]
async fn index_only_scan_heap_fetches() {
    // synchronous_commit on: the throwaway server commits asynchronously, and VACUUM cannot
    // mark pages all-visible before the inserting commit is flushed.
    let setup = "SET synchronous_commit = on;
        CREATE TABLE readings (k int, v int) WITH (autovacuum_enabled = false);
        INSERT INTO readings SELECT i, i FROM generate_series(1, 200000) i;
        CREATE INDEX ON readings (k);";
    let bad = db("heap", NO_SEQ, &format!("{setup} ANALYZE readings;")).await;
    let fixed = db(
        "heap_fix",
        NO_SEQ,
        &format!("{setup};; VACUUM ANALYZE readings;"),
    )
    .await;
    all_visible(&fixed, "readings").await;
    let q = "SELECT k FROM readings WHERE k BETWEEN 1000 AND 9000";
    assert_twin(
        "index-only-scan-heap-fetches",
        (&bad, q),
        (&fixed, q),
        &Config::default(),
    )
    .await;
}

#[tokio::test]
async fn bitmap_heap_scan_lossy() {
    let setup = "CREATE TABLE spread (k int, pad text);
        INSERT INTO spread SELECT (i::bigint * 7919) % 1000, repeat('s', 60) FROM generate_series(1, 300000) i;
        CREATE INDEX ON spread (k);
        ANALYZE spread;";
    let bad = db(
        "lossy",
        &[
            ("work_mem", "'64kB'"),
            ("enable_seqscan", "off"),
            ("enable_indexscan", "off"),
        ],
        setup,
    )
    .await;
    let fixed = db(
        "lossy_fix",
        &[
            ("work_mem", "'32MB'"),
            ("enable_seqscan", "off"),
            ("enable_indexscan", "off"),
        ],
        setup,
    )
    .await;
    let q = "SELECT count(*) FROM spread WHERE k < 100";
    assert_twin(
        "bitmap-heap-scan-lossy",
        (&bad, q),
        (&fixed, q),
        &Config::default(),
    )
    .await;
}

#[tokio::test]
async fn index_scan_filters_most_rows() {
    let setup = "CREATE TABLE tickets (a int, b int, pad text);
        INSERT INTO tickets SELECT i % 10, i % 1000, 'x' FROM generate_series(1, 100000) i;";
    let bad = db(
        "ixf",
        NO_SEQ,
        &format!("{setup} CREATE INDEX ON tickets (a); ANALYZE tickets;"),
    )
    .await;
    let fixed = db(
        "ixf_fix",
        NO_SEQ,
        &format!("{setup} CREATE INDEX ON tickets (a, b); ANALYZE tickets;"),
    )
    .await;
    let q = "SELECT * FROM tickets WHERE a = 3 AND b = 503";
    assert_twin(
        "index-scan-filters-most-rows",
        (&bad, q),
        (&fixed, q),
        &Config::default(),
    )
    .await;
}

#[tokio::test]
async fn slow_jit() {
    // JIT forced on every query by zero cost thresholds; the rule's floor lowered so that the
    // few milliseconds LLVM takes here count (the default is 50 ms).
    let setup = "CREATE TABLE metrics (a int, b int, c int);
        INSERT INTO metrics SELECT i, i * 2, i * 3 FROM generate_series(1, 1000) i; ANALYZE metrics;";
    let jit_on = [
        ("jit", "on"),
        ("jit_above_cost", "0"),
        ("jit_inline_above_cost", "0"),
        ("jit_optimize_above_cost", "0"),
    ];
    let bad = db("jit", &jit_on, setup).await;
    let fixed = db("jit_fix", &[("jit", "off")], setup).await;
    let config = Config::parse(
        "[rules.slow-jit-or-planning]\njit_min_ms = 0.01\njit_share = 0.0\n",
        "test",
    )
    .unwrap();
    let q = "SELECT sum(a * b + c), avg(b - a), max(c % 7) FROM metrics WHERE a + b > c - 10";
    assert_twin("slow-jit-or-planning", (&bad, q), (&fixed, q), &config).await;
}
