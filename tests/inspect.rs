//! The inspection commands against a database built with known properties (an unused index,
//! a prefix-covered duplicate, a foreign key without an index, bloat from a mass update, a
//! long idle-in-transaction session, a slow statement), asserting that exactly those are
//! found; snapshots offline; and the bad-input cases.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use dbopt::pg::ConnParams;
use serde_json::Value;

const SCHEMA: &str = "
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);
INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 2000) g;
CREATE INDEX customers_email_idx ON customers (email);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
                     status text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO orders SELECT g, 1 + g % 2000, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3],
                          now() - g * interval '1 minute' FROM generate_series(1, 5000) g;
CREATE INDEX orders_status_idx ON orders (status);
CREATE TABLE events (id int, payload text) WITH (autovacuum_enabled = false);
INSERT INTO events SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
ANALYZE;
";

/// The known database; returns its parameters and URL.
async fn known_db(tag: &str) -> (ConnParams, String) {
    let p = common::fresh_db(tag).await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(SCHEMA).await.unwrap();
    // Scan each non-constraint index except customers_email_idx: the single-column one while it
    // is alone, the wider one with a filter only it serves.
    c.batch_execute(
        "SET enable_seqscan = off; SET enable_bitmapscan = off;
         SELECT count(*) FROM orders WHERE status = 'paid';
         CREATE INDEX orders_status_created_idx ON orders (status, created_at);
         SELECT count(*) FROM orders WHERE status = 'paid' AND created_at > now() - interval '10 minutes';
         UPDATE events SET payload = repeat('y', 100);
         SELECT pg_sleep(0.2);",
    )
    .await
    .unwrap();
    drop(c);
    // Statistics reach the shared counters when the session ends; wait for them.
    let c = common::setup_conn(&p).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready: bool = common::scalar(&c, "SELECT (SELECT count(*) FROM pg_stat_user_indexes WHERE indexrelname IN ('orders_status_idx', 'orders_status_created_idx') AND idx_scan > 0) = 2 \
                 AND (SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'events') >= 20000").await;
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "statistics never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.batch_execute("SELECT pg_stat_clear_snapshot()")
            .await
            .unwrap();
    }
    let url = common::server().url(p.dbname());
    (p, url)
}

fn run_json(args: &[&str], url: &str) -> (Option<i32>, Value) {
    let out = common::dbopt()
        .args(args)
        .args(["--format", "json", "--database-url", url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}; stderr: {stderr}"));
    (out.status.code(), v)
}

fn statement<'a>(v: &'a Value, query: &str) -> &'a Value {
    v["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["query"] == query)
        .unwrap_or_else(|| panic!("{query} not in {v}"))
}

fn findings(v: &Value) -> BTreeSet<(String, String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["object"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| ((*a).to_string(), (*b).to_string(), (*c).to_string()))
        .collect()
}

#[tokio::test]
async fn exactly_the_known_problems_are_found_live_and_from_a_snapshot() {
    let (_, url) = known_db("known").await;

    let (code, v) = run_json(&["indexes", "--fail-on", "warning"], &url);
    assert_eq!(code, Some(1), "warnings reach --fail-on warning");
    let expected = set(&[
        ("unused-index", "public.customers_email_idx", "warning"),
        ("duplicate-index", "public.orders_status_idx", "info"),
        ("fk-without-index", "public.orders", "warning"),
    ]);
    assert_eq!(findings(&v), expected);
    let sql: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["sql"].as_str().unwrap())
        .collect();
    assert!(sql.contains(&"DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"customers_email_idx\""));
    assert!(sql
        .iter()
        .any(|s| s.starts_with("CREATE INDEX CONCURRENTLY") && s.contains("(\"customer_id\")")));

    let (code, v) = run_json(&["tables"], &url);
    assert_eq!(code, Some(0), "no --fail-on, exit 0");
    assert_eq!(
        findings(&v),
        set(&[("table-bloat", "public.events", "warning")])
    );
    let events = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "public.events")
        .unwrap();
    assert_eq!(events["dead_tuples"], 20000);
    assert_eq!(events["writes"]["updates"], 20000);
    assert!(events["bloat"]["dead_ratio"].as_f64().unwrap() > 0.45);

    let (_, v) = run_json(&["queries", "--limit", "1000"], &url);
    let sleep = statement(&v, "SELECT pg_sleep($1)");
    assert_eq!(sleep["flags"], serde_json::json!(["slow-query"]));
    assert!(sleep["mean_ms"].as_f64().unwrap() >= 200.0);

    // The same answers offline.
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("known.json");
    let out = common::dbopt()
        .args(["snapshot", "-o"])
        .arg(&snap)
        .args(["--database-url", &url])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = snap.to_str().unwrap();
    let offline = |args: &[&str]| {
        let out = common::dbopt()
            .args(args)
            .args(["--format", "json", "--from-snapshot", s])
            .env("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(findings(&offline(&["indexes"])), expected);
    assert_eq!(
        findings(&offline(&["tables"])),
        set(&[("table-bloat", "public.events", "warning")])
    );
    let q = offline(&["queries", "--limit", "1000"]);
    let off = statement(&q, "SELECT pg_sleep($1)");
    for k in ["fingerprint", "calls", "total_ms", "flags"] {
        assert_eq!(off[k], sleep[k], "{k}");
    }
    let conns = offline(&["connections"]);
    assert!(conns["total"].as_i64().unwrap() >= 1);
    let size = offline(&["size"]);
    assert!(size["database_bytes"].as_i64().unwrap() > 0);
    assert_eq!(size["top"][0]["relation"], "public.events");

    // A snapshot from another format version is refused.
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    doc["version"] = 2.into();
    std::fs::write(&snap, doc.to_string()).unwrap();
    let out = common::dbopt()
        .args(["indexes", "--from-snapshot", s])
        .output()
        .unwrap();
    common::assert_clean_error(
        &out,
        &["format version 2", "hint: write the snapshot again"],
    );
}

#[tokio::test]
async fn redacted_snapshot_has_no_constants_or_sample_values() {
    let (p, url) = known_db("redact").await;
    let c = common::setup_conn(&p).await;
    // A statement text with a constant pg_stat_statements keeps (a utility statement on 15).
    c.batch_execute("SET work_mem = '64MB'").await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("r.json");
    let out = common::dbopt()
        .args(["snapshot", "--redact", "-o"])
        .arg(&snap)
        .args(["--database-url", &url])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&snap).unwrap();
    assert!(
        !text.contains("@example.com"),
        "pg_stats sample values removed"
    );
    assert!(!text.contains("64MB"), "constants removed from query texts");
    assert!(text.contains("\"redacted\": true"));
}

#[tokio::test]
async fn idle_in_transaction_and_connections() {
    let (p, url) = known_db("idle").await;
    let idle = common::setup_conn(&p).await;
    let pid: i32 = common::scalar(&idle, "SELECT pg_backend_pid()").await;
    idle.batch_execute("BEGIN; SELECT count(*) FROM orders;")
        .await
        .unwrap();
    // A DDL statement queues behind the open transaction's lock.
    let blocked = common::setup_conn(&p).await;
    let blocked_pid: i32 = common::scalar(&blocked, "SELECT pg_backend_pid()").await;
    let ddl = tokio::spawn(async move {
        blocked
            .batch_execute("ALTER TABLE orders ADD COLUMN note text")
            .await
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("dbopt.toml");
    std::fs::write(
        &cfg,
        "[rules.idle-in-transaction]\nlevels = { warning = 1.0, critical = 3600.0 }\n",
    )
    .unwrap();
    let (code, v) = run_json(
        &[
            "connections",
            "--fail-on",
            "warning",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &url,
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        findings(&v),
        set(&[("idle-in-transaction", &format!("pid {pid}"), "warning")])
    );
    let s = &v["idle_in_transaction"][0];
    assert_eq!(s["pid"], pid);
    assert_eq!(s["query"], "BEGIN; SELECT count(*) FROM orders;");
    assert!(v["utilization"].as_f64().unwrap() < 0.8);
    let waiting = &v["waiting_on_locks"][0];
    assert_eq!(waiting["pid"], blocked_pid);
    assert_eq!(waiting["blocked_by"], serde_json::json!([pid]));
    assert!(v["longest_running"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["pid"] == blocked_pid));
    // With the default threshold (60 s) the same session is not yet a problem.
    let (code, v) = run_json(&["connections", "--fail-on", "info"], &url);
    assert_eq!(code, Some(0));
    assert!(findings(&v).is_empty());
    idle.batch_execute("ROLLBACK").await.unwrap();
    ddl.await.unwrap();
}

#[tokio::test]
async fn every_command_runs_on_the_demo_database() {
    use dbopt::bench::demo_workload::{self, WorkloadOptions};
    let (p, opts) = common::demo_db("demo", 0.01, 7).await;
    let w = WorkloadOptions {
        rounds: 2,
        sessions: 1,
        seed: 7,
        scale: 0.01,
        anchor: opts.anchor,
    };
    demo_workload::run(&p, &w, &|_, _| {}).await.unwrap();
    let url = common::server().url(p.dbname());
    let (code, v) = run_json(&["indexes"], &url);
    assert_eq!(code, Some(0));
    assert_eq!(
        findings(&v),
        set(&[("fk-without-index", "public.lead_assignments", "warning")]),
        "the demo has primary and foreign keys only: the two unindexed FKs of lead_assignments"
    );
    assert_eq!(v["findings"].as_array().unwrap().len(), 2);
    let (_, v) = run_json(&["queries", "--limit", "1000"], &url);
    statement(&v, demo_workload::NPLUS1_CHILD);
    let (_, v) = run_json(&["tables", "leads"], &url);
    assert_eq!(v["tables"].as_array().unwrap().len(), 1);
    assert_eq!(v["tables"][0]["live_tuples"], 2000);
    let (_, v) = run_json(&["size"], &url);
    assert_eq!(v["schemas"][0]["schema"], "public");
    let (code, _) = run_json(&["connections"], &url);
    assert_eq!(code, Some(0));
    for cmd in ["queries", "tables", "indexes", "size", "connections"] {
        let out = common::dbopt()
            .args([cmd, "--database-url", &url])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty());
    }
}

#[tokio::test]
async fn vacuum_removes_dead_tuples_and_asks_first() {
    let (_, url) = known_db("vacuum").await;
    let out = common::dbopt()
        .args(["vacuum", "events", "--dry-run", "--database-url", &url])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "VACUUM (ANALYZE) \"public\".\"events\";\n"
    );
    let out = common::dbopt()
        .args(["vacuum", "events", "--database-url", &url])
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["needs a confirmation", "--yes"]);
    let (code, v) = run_json(&["vacuum", "events", "--yes"], &url);
    assert_eq!(code, Some(0));
    assert_eq!(v["done"][0]["dead_tuples_before"], 20000);
    assert_eq!(v["done"][0]["dead_tuples_after"], 0);
    let out = common::dbopt()
        .args(["vacuum", "no_such_table", "--yes", "--database-url", &url])
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["no_such_table", "no such table", "hint:"]);
}

#[tokio::test]
async fn bad_input_is_one_clear_line() {
    let (p, url) = known_db("bad").await;
    let out = common::dbopt()
        .args(["tables", "nope", "--database-url", &url])
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["no table \"nope\"", "hint:"]);

    // pg_stat_statements not created in this database.
    let c = common::setup_conn(&p).await;
    c.batch_execute("DROP EXTENSION pg_stat_statements")
        .await
        .unwrap();
    let out = common::dbopt()
        .args(["queries", "--database-url", &url])
        .output()
        .unwrap();
    common::assert_clean_error(
        &out,
        &["pg_stat_statements", "CREATE EXTENSION pg_stat_statements"],
    );
    // The snapshot still carries the catalog, and says the workload is missing.
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("s.json");
    let out = common::dbopt()
        .args(["snapshot", "-o"])
        .arg(&snap)
        .args(["--database-url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: no workload"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    assert!(doc["workload"]["notes"][0]
        .as_str()
        .unwrap()
        .contains("pg_stat_statements"));
    assert!(!doc["catalog"]["tables"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn reset_only_when_asked() {
    let (p, url) = known_db("reset").await;
    let (_, v) = run_json(&["queries"], &url);
    assert!(v["statements_total"].as_i64().unwrap() > 5);
    let out = common::dbopt()
        .args(["queries", "--reset", "--database-url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_stat_statements reset"));
    let c = common::setup_conn(&p).await;
    let left: i64 = common::scalar(&c, "SELECT count(*) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND query LIKE '%pg_sleep%'").await;
    assert_eq!(left, 0, "the statements before the reset are gone");
    let out = common::dbopt()
        .args([
            "queries",
            "--reset",
            "--queries",
            "-",
            "--database-url",
            &url,
        ])
        .write_stdin("select 1")
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["--reset", "hint:"]);
}

#[tokio::test]
async fn a_role_without_pg_read_all_stats_sees_hidden_statements_counted() {
    let (p, _) = known_db("role").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(
        "DO $$ BEGIN CREATE ROLE dbopt_low LOGIN PASSWORD 'low'; EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
    )
    .await
    .unwrap();
    let s = common::server();
    let url = format!(
        "postgresql://dbopt_low:low@127.0.0.1:{}/{}?sslmode=disable",
        s.port(),
        p.dbname()
    );
    let (code, v) = run_json(&["queries"], &url);
    assert_eq!(code, Some(0));
    assert!(v["hidden"].as_i64().unwrap() > 0, "{v}");
    assert!(
        v["notes"][0]
            .as_str()
            .unwrap()
            .contains("GRANT pg_read_all_stats"),
        "{v}"
    );
}

#[tokio::test]
async fn activity_sampling_sees_a_running_statement() {
    let (p, url) = known_db("sample").await;
    let busy = common::setup_conn(&p).await;
    let run = tokio::spawn(async move {
        busy.batch_execute("SELECT pg_sleep(3)").await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, v) = run_json(&["queries", "--sample-activity", "600ms"], &url);
    run.await.unwrap();
    assert_eq!(code, Some(0));
    let st = &v["statements"][0];
    assert_eq!(st["query"], "SELECT pg_sleep($1)");
    assert_eq!(st["calls"], 1);
    assert_eq!(st["source"], "activity");
    assert!(st["mean_ms"].as_f64().unwrap() >= 500.0, "{st}");
}

#[test]
fn pg_stat_statements_created_but_not_preloaded() {
    use dbopt::pg::throwaway::{Throwaway, ThrowawayOptions};
    let server = Throwaway::start(&ThrowawayOptions {
        settings: vec![("shared_preload_libraries".into(), String::new())],
        ..Default::default()
    })
    .expect("start a server without preloaded libraries");
    let out = common::dbopt()
        .args(["queries", "--database-url", &server.url("postgres")])
        .output()
        .unwrap();
    common::assert_clean_error(
        &out,
        &[
            "created but not loaded",
            "hint: ALTER SYSTEM SET shared_preload_libraries",
            "restart the server",
        ],
    );
    // Other sources still work against that server.
    let out = common::dbopt()
        .args([
            "queries",
            "--sample-activity",
            "100ms",
            "--database-url",
            &server.url("postgres"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn an_invalid_index_is_found_alone() {
    let p = common::fresh_db("invalid").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(
        "CREATE TABLE accounts (id int PRIMARY KEY, email text);
         INSERT INTO accounts SELECT g, 'same@example.com' FROM generate_series(1, 100) g;",
    )
    .await
    .unwrap();
    // A concurrent build that fails leaves its index behind, invalid.
    let err = c
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key ON accounts (email)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|s| s.code()), Some("23505"));
    let url = common::server().url(p.dbname());
    let (code, v) = run_json(&["indexes", "--fail-on", "warning"], &url);
    assert_eq!(code, Some(1));
    assert_eq!(
        findings(&v),
        set(&[("invalid-index", "public.accounts_email_key", "warning")])
    );
    assert_eq!(
        v["findings"][0]["sql"],
        "REINDEX INDEX CONCURRENTLY \"public\".\"accounts_email_key\""
    );
    // Once the duplicates are gone, the statement the finding proposes makes it valid.
    c.batch_execute("DELETE FROM accounts WHERE id > 1")
        .await
        .unwrap();
    run_fix(&c, &v["findings"][0]).await;
    assert!(index_valid(&c, "accounts_email_key").await);
    let (code, v) = run_json(&["indexes", "--fail-on", "warning"], &url);
    assert_eq!(code, Some(0), "{v}");
}

/// Run the statements of a finding's `sql`, one at a time as a user's psql would (a
/// concurrent build cannot share a transaction).
async fn run_fix(c: &dbopt::pg::Conn, finding: &Value) {
    let sql = finding["sql"]
        .as_str()
        .unwrap_or_else(|| panic!("no sql in {finding}"));
    for statement in sql.split(";\n") {
        c.batch_execute(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
    }
}

async fn index_valid(c: &dbopt::pg::Conn, name: &str) -> bool {
    common::scalar(
        c,
        &format!("SELECT indisvalid FROM pg_index WHERE indexrelid = '{name}'::regclass"),
    )
    .await
}

#[tokio::test]
async fn an_invalid_partitioned_index_is_fixed_by_attaching_what_is_missing() {
    let p = common::fresh_db("invalid_parted").await;
    let c = common::setup_conn(&p).await;
    // An index on ONLY the parent stays invalid until every partition's index is attached.
    c.batch_execute(
        "CREATE TABLE m (id int, k int) PARTITION BY RANGE (id);
         CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (100);
         CREATE TABLE m2 PARTITION OF m FOR VALUES FROM (100) TO (200);
         INSERT INTO m SELECT g, g % 7 FROM generate_series(0, 199) g;
         CREATE INDEX m_k_idx ON ONLY m (k DESC);
         CREATE INDEX m1_k_idx ON m1 (k DESC);
         ALTER INDEX m_k_idx ATTACH PARTITION m1_k_idx;",
    )
    .await
    .unwrap();
    assert!(!index_valid(&c, "m_k_idx").await);
    let url = common::server().url(p.dbname());
    // Its partition indexes are unused too; only the invalid one matters here.
    let invalid = |v: &Value| {
        let mut f = findings(v);
        f.retain(|(rule, _, _)| rule == "invalid-index");
        f
    };
    let (_, v) = run_json(&["indexes"], &url);
    assert_eq!(
        invalid(&v),
        set(&[("invalid-index", "public.m_k_idx", "warning")])
    );
    let finding = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "invalid-index")
        .unwrap();
    let remedy = finding["remedy"].as_str().unwrap();
    assert!(remedy.contains("ATTACH PARTITION"), "{remedy}");
    run_fix(&c, finding).await;
    assert!(index_valid(&c, "m_k_idx").await);
    let (_, v) = run_json(&["indexes"], &url);
    assert_eq!(invalid(&v), set(&[]), "{v}");
}

#[tokio::test]
async fn erratic_statement_is_flagged_for_variance_not_slowness() {
    let p = common::fresh_db("variance").await;
    let c = common::setup_conn(&p).await;
    for s in ["0.001", "0.001", "0.001", "0.001", "0.25"] {
        c.batch_execute(&format!("SELECT pg_sleep({s})"))
            .await
            .unwrap();
    }
    let url = common::server().url(p.dbname());
    let (_, v) = run_json(&["queries"], &url);
    let st = statement(&v, "SELECT pg_sleep($1)");
    assert_eq!(st["calls"], 5);
    assert_eq!(st["flags"], serde_json::json!(["high-variance-query"]));
}
