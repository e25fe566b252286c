//! `dbopt bench pool` against a real throwaway server: pool waits appear above the pool size and
//! never below it, the pool caps throughput, open-loop latency includes the queueing a stalled
//! pool causes, and the CLI's JSON, chart and errors hold their promises.

mod common;

use std::time::Duration;

use common::{assert_clean_error, dbopt, fresh_db, setup_conn};
use dbopt::bench::pool::{self, RampOptions, Vary};
use dbopt::bench::runner::allowed_cpus;
use dbopt::bench::workload::Workload;
use dbopt::pg::SessionOptions;

/// Each request holds its connection for at least 5 ms.
const SLEEPY: &str = r#"
[[statement]]
name = "hold"
sql = "SELECT pg_sleep(0.005), $1::int"
params = ["int:1..10"]
"#;

fn options(steps: Vec<usize>, pool_size: usize) -> RampOptions {
    RampOptions {
        vary: Vary::Concurrency,
        steps,
        pool_size,
        concurrency: 1,
        warmup: Duration::from_millis(150),
        duration: Duration::from_millis(300),
        rate: None,
        pool_timeout: Duration::from_secs(10),
        session: SessionOptions::default(),
        cores: Some(2),
        spindles: 0,
        threads: 1,
        pin: true,
    }
}

#[tokio::test]
async fn waits_appear_above_the_pool_size_and_not_below() {
    waits_only_above_the_pool_size("pool_ramp", 1, 2, vec![1, 2, 4, 8]).await;
}

/// With two client threads the pool is split 2 + 1 and the clients alike (larger shares
/// first): still nobody waits at or below 3 clients, and everyone queues above.
#[tokio::test]
async fn a_pool_split_over_client_threads_waits_only_above_its_size() {
    waits_only_above_the_pool_size("pool_ramp_split", 2, 3, vec![1, 2, 3, 4, 12]).await;
}

async fn waits_only_above_the_pool_size(db: &str, threads: usize, size: usize, steps: Vec<usize>) {
    let p = fresh_db(db).await;
    let w = Workload::parse("sleepy.toml", SLEEPY).unwrap();
    let n = steps.len();
    let mut o = options(steps, size);
    o.threads = threads;
    let rep = pool::ramp(&p, w, &o, &|_, _| {}).await.unwrap();
    assert_eq!(rep.steps.len(), n);
    // Each client thread gets a CPU of its own when the process may use that many.
    assert_eq!(rep.pinned, allowed_cpus().len() >= threads, "{rep:?}");
    for s in &rep.steps {
        assert_eq!(s.errors, 0, "{s:?}");
        assert_eq!(s.wait_timeouts, 0, "{s:?}");
        assert!(s.ok > 0, "{s:?}");
        assert!(s.query.p50_ms >= 5.0, "pg_sleep(5ms) inside: {s:?}");
    }
    // At or below the pool size nobody ever waits for a connection (deadpool's own count).
    for s in rep.steps.iter().filter(|s| s.concurrency <= size) {
        assert_eq!(s.pool_size, size, "{s:?}");
        assert_eq!(s.occupancy.pool_waiting_max, 0, "{s:?}");
        assert!(s.occupancy.pool_samples > 10, "{s:?}");
    }
    // Above it, requests queue: waiting is seen, the wait time is real, the pool is full.
    for s in rep.steps.iter().filter(|s| s.concurrency > size) {
        assert!(s.occupancy.pool_waiting_max > 0, "{s:?}");
        assert!(s.pool_wait.p95_ms > 1.0, "{s:?}");
        assert!(s.occupancy.pool_utilization > 0.9, "{s:?}");
        // Connections each busy >= 5 ms per request serve at most 200/s each.
        assert!(s.throughput < 210.0 * size as f64, "{s:?}");
        assert!(s.occupancy.server_active_max >= 1, "{s:?}");
    }
    let last = &rep.steps[n - 1];
    assert!(
        last.pool_wait.p50_ms > last.query.p50_ms,
        "with 4x as many clients as connections, waiting dominates: {last:?}"
    );
    assert_eq!(rep.rule_of_thumb, Some(4));
}

#[tokio::test]
async fn open_loop_latency_counts_the_queue_behind_a_saturated_pool() {
    let p = fresh_db("pool_rate").await;
    let w = Workload::parse(
        "slow.toml",
        "[[statement]]\nname = \"s\"\nsql = \"SELECT pg_sleep(0.02)\"\n",
    )
    .unwrap();
    // 100 requests/s offered, one connection serving at most 50/s.
    let mut o = options(vec![2], 1);
    o.rate = Some(100.0);
    o.warmup = Duration::ZERO;
    o.duration = Duration::from_millis(500);
    let rep = pool::ramp(&p, w, &o, &|_, _| {}).await.unwrap();
    let s = &rep.steps[0];
    assert!(s.ok >= 40, "{s:?}");
    assert!(s.throughput <= 52.0, "{s:?}");
    // Measured from the intended start, latency includes the backlog (~0.5 s by the end);
    // a closed loop would have reported about 2 x 20 ms.
    assert!(s.latency.p95_ms > 200.0, "{s:?}");
    assert!(s.query.p95_ms < s.latency.p95_ms, "{s:?}");
}

#[test]
fn cli_json_report_and_chart() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("pool_cli"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.toml");
    std::fs::write(&file, SLEEPY).unwrap();
    let svg = dir.path().join("ramp.svg");
    let out = dbopt()
        .args(["bench", "pool", "--database-url", &p.url_with_password()])
        .args(["--workload-file", file.to_str().unwrap()])
        .args(["--pool-size", "2", "--steps", "1,4", "--duration", "300ms"])
        .args([
            "--warmup",
            "100ms",
            "--server-cores",
            "2",
            "--format",
            "json",
        ])
        .args(["--plot", svg.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["workload"], "w");
    assert_eq!(v["steps"].as_array().unwrap().len(), 2);
    assert_eq!(v["steps"][1]["concurrency"], 4);
    assert_eq!(v["steps"][1]["pool_size"], 2);
    for key in [
        "throughput",
        "latency",
        "pool_wait",
        "query",
        "pool_utilization",
        "server_active_max",
    ] {
        assert!(!v["steps"][0][key].is_null(), "{key} missing: {v}");
    }
    assert_eq!(v["rule_of_thumb"], 4);
    assert!(v["steps"][1]["pool_waiting_max"].as_u64().unwrap() > 0);
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg"), "{chart}");
    assert_eq!(chart.matches("<polyline").count(), 2);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(p.password().unwrap()));
}

#[test]
fn cli_errors_are_one_line() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("pool_err"));
    let url = p.url_with_password();
    // Built-in workloads create tables: not on a user's server without consent.
    let out = dbopt()
        .args([
            "bench",
            "pool",
            "--database-url",
            &url,
            "--profile",
            "smoke",
        ])
        .output()
        .unwrap();
    assert_clean_error(&out, &["--database-url", "hint:", "--allow-writes"]);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[statement]]\nname = \"x\"\nsql = \"SELECT 1\"\nparams = [\"uuid\"]\n",
    )
    .unwrap();
    let out = dbopt()
        .args(["bench", "pool", "--database-url", &url])
        .args(["--workload-file", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_clean_error(
        &out,
        &["invalid workload file", "unknown generator", "hint:"],
    );
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[[statement]]\nname = \"x\"\nsql = \"SELEC 1\"\n").unwrap();
    let out = dbopt()
        .args([
            "bench",
            "pool",
            "--database-url",
            &url,
            "--steps",
            "1",
            "--duration",
            "100ms",
        ])
        .args(["--workload-file", typo.to_str().unwrap()])
        .output()
        .unwrap();
    assert_clean_error(&out, &["statement \"x\"", "syntax error"]);
    let out = dbopt()
        .args(["bench", "pool", "--database-url", &url, "--steps", "0,2"])
        .args(["--workload-file", typo.to_str().unwrap()])
        .output()
        .unwrap();
    assert_clean_error(&out, &["--steps", "hint:"]);
}

#[test]
fn compare_with_pgbench_on_the_same_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("pool_pgbench"));
    let out = dbopt()
        .args(["bench", "pool", "--database-url", &p.url_with_password()])
        .args([
            "--compare-pgbench",
            "--rounds",
            "1",
            "--allow-writes",
            "--duration",
            "1s",
            "--warmup",
            "200ms",
        ])
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| r["clients"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 8, 32]
    );
    for r in rows {
        assert!(r["dbopt_tps"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["pgbench_tps"].as_f64().unwrap() > 0.0, "{r}");
        let ratio = r["ratio"].as_f64().unwrap();
        assert!(ratio > 0.0, "{r}");
        // One round: its ratio is the whole range.
        assert_eq!(r["ratio_range"], serde_json::json!([ratio, ratio]), "{r}");
    }
    // The tables are pgbench's own layout, filled at scale 1.
    let n: i64 = rt.block_on(async {
        setup_conn(&p)
            .await
            .query_one("SELECT count(*) FROM pgbench_accounts", &[])
            .await
            .unwrap()
            .get(0)
    });
    assert_eq!(n, 100_000);
    // ... and settled as `pgbench -i` leaves them: every page all-visible, nothing to vacuum.
    let (pages, visible) = rt.block_on(visibility(&p, "pgbench_accounts"));
    assert!(pages > 1000 && visible == pages, "{visible} of {pages}");
}

/// A table's pages and how many of them the visibility map marks all-visible.
async fn visibility(p: &dbopt::pg::ConnParams, table: &str) -> (i32, i32) {
    let r = setup_conn(p)
        .await
        .query_one(
            "SELECT relpages, relallvisible FROM pg_class WHERE oid = to_regclass($1)",
            &[&table],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

/// A throwaway database is settled before measuring: its tables vacuumed, analysed and
/// all-visible, so autovacuum does not wake up in the middle of a step.
#[tokio::test]
async fn settling_a_throwaway_leaves_autovacuum_nothing_to_do() {
    let p = fresh_db("pool_settle").await;
    let c = setup_conn(&p).await;
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g",
    )
    .await
    .unwrap();
    dbopt::bench::target::settle_throwaway(&p).await.unwrap();
    let (pages, visible) = visibility(&p, "t").await;
    assert!(pages > 10 && visible == pages, "{visible} of {pages}");
    let r = setup_conn(&p)
        .await
        .query_one(
            "SELECT vacuum_count, n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 't'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((r.get::<_, i64>(0), r.get::<_, i64>(1)), (1, 0));
}

#[tokio::test]
async fn ramping_the_pool_size_removes_the_waits() {
    let p = fresh_db("pool_vary").await;
    let w = Workload::parse("sleepy.toml", SLEEPY).unwrap();
    let mut o = options(vec![1, 4], 1);
    o.vary = Vary::Pool;
    o.concurrency = 4;
    let rep = pool::ramp(&p, w, &o, &|_, _| {}).await.unwrap();
    let (small, big) = (&rep.steps[0], &rep.steps[1]);
    assert_eq!((small.pool_size, small.concurrency), (1, 4));
    assert_eq!((big.pool_size, big.concurrency), (4, 4));
    // Four clients on one connection queue; on four connections nobody waits.
    assert!(small.occupancy.pool_waiting_max > 0, "{small:?}");
    assert!(small.pool_wait.p50_ms > 1.0, "{small:?}");
    assert_eq!(big.occupancy.pool_waiting_max, 0, "{big:?}");
    // One connection busy >= 5 ms per request serves at most 200/s.
    assert!(small.throughput < 210.0, "{small:?}");
}

/// A login role on the shared server allowed `limit` sessions at once, and its URL for `p`'s
/// database. Roles are server-wide: `name` must be unique in this binary.
async fn limited_role(p: &dbopt::pg::ConnParams, name: &str, limit: u32) -> String {
    setup_conn(p)
        .await
        .batch_execute(&format!(
            "CREATE ROLE {} LOGIN PASSWORD 'pw' CONNECTION LIMIT {limit}",
            dbopt::sql::quote_ident(name)
        ))
        .await
        .unwrap();
    format!(
        "postgresql://{name}:pw@127.0.0.1:{}/{}?sslmode=disable",
        common::server().port(),
        p.dbname()
    )
}

/// A role with CONNECTION LIMIT 3 and a ramp to 8 clients through a pool of 8: the ramp
/// measures every step, counts the refused connections from the step past the limit on,
/// and puts the knee at or below the limit.
#[test]
fn a_connection_limit_is_measured_not_fatal() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("pool_limit"));
    let url = rt.block_on(limited_role(&p, "dbopt_pool_limit3", 3));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.toml");
    std::fs::write(&file, SLEEPY).unwrap();
    let out = dbopt()
        .args(["bench", "pool", "--database-url", &url])
        .args(["--workload-file", file.to_str().unwrap()])
        .args(["--pool-size", "8", "--steps", "1,2,4,8", "--threads", "1"])
        .args([
            "--duration",
            "400ms",
            "--warmup",
            "150ms",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = v["steps"].as_array().unwrap();
    let figures: Vec<String> = steps
        .iter()
        .map(|s| {
            format!(
                "{} clients: {:.0} req/s, {} refused, {} errors",
                s["concurrency"],
                s["throughput"].as_f64().unwrap_or(0.0),
                s["refused"],
                s["errors"]
            )
        })
        .collect();
    eprintln!("{}", figures.join("\n"));
    assert_eq!(steps.len(), 4, "{v}");
    // The ramp's own observer session (sampling pg_stat_activity) holds one of the three
    // slots: 1 and 2 clients fit beside it, 4 and 8 do not.
    for s in &steps[..2] {
        assert_eq!(s["refused"], 0, "{s}");
        assert_eq!(s["errors"], 0, "{s}");
        assert!(s["ok"].as_u64().unwrap() > 0, "{s}");
    }
    for s in &steps[2..] {
        assert!(s["refused"].as_u64().unwrap() > 0, "{s}");
        assert!(
            s["errors"].as_u64().unwrap() >= s["refused"].as_u64().unwrap(),
            "{s}"
        );
        // The two sessions the server did allow keep serving.
        assert!(s["ok"].as_u64().unwrap() > 0, "{s}");
        let first = s["first_error"].as_str().unwrap();
        assert!(
            first.contains("too many connections for role")
                && first.contains("CONNECTION LIMIT")
                && !first.contains("server is running"),
            "{first}"
        );
    }
    assert_eq!(v["refused_from"], 4, "{v}");
    let knee = v["knee"]["at"].as_u64().expect("a knee");
    assert!(knee <= 3, "knee at {knee}: {v}");
    assert!(v["advice"].as_str().unwrap().contains("refused"), "{v}");
}

/// A server that refuses the very first session says why, with the hint for a connection
/// limit (not the one for a server that is down).
#[test]
fn a_refused_first_connection_names_the_limit() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("pool_limit0"));
    let url = rt.block_on(limited_role(&p, "dbopt_pool_limit0", 0));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.toml");
    std::fs::write(&file, SLEEPY).unwrap();
    let out = dbopt()
        .args(["bench", "pool", "--database-url", &url])
        .args(["--workload-file", file.to_str().unwrap()])
        .args(["--steps", "1", "--duration", "100ms"])
        .output()
        .unwrap();
    let err = assert_clean_error(
        &out,
        &[
            "refused the connection",
            "too many connections for role",
            "hint: too many clients",
            "CONNECTION LIMIT",
            "--pool-size",
        ],
    );
    assert!(!err.contains("server is running"), "{err}");
    assert!(!err.contains(":pw@"), "no password: {err}");
}
