//! The statistics health checks on real servers: each problem is built for real (an index
//! bloated by mass deletes, a table read by sequential scans, a table larger than shared
//! buffers, dead tuples autovacuum may not touch, a server with work_mem=64kB and
//! pg_stat_statements.max=100) beside its healthy twin, which the same check judges and passes.
//! The facts are read as dbopt reads them (read-only session, then the rules).

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dbopt::catalog::Catalog;
use dbopt::findings::{Finding, Severity};
use dbopt::health::Health;
use dbopt::pg::throwaway::{Throwaway, ThrowawayOptions};
use dbopt::pg::{self, ConnParams, SessionOptions};
use dbopt::rules::{self, Config, Ctx, Scope};
use dbopt::workload::Workload;

/// Everything the health rules look at, read read-only.
struct Facts {
    catalog: Catalog,
    health: Health,
    workload: Workload,
}

async fn facts(p: &ConnParams) -> Facts {
    let c = pg::connect(p, &SessionOptions::default())
        .await
        .expect("read-only connection");
    Facts {
        catalog: pg::catalog::load(&c).await.expect("catalog"),
        health: pg::health::read(&c).await.expect("health"),
        workload: pg::pgss::read(&c).await.expect("pg_stat_statements"),
    }
}

impl Facts {
    /// The findings of one health rule, with the default thresholds.
    fn found(&self, rule: &str) -> Vec<Finding> {
        self.found_with(rule, &Config::default())
    }

    /// The findings of one health rule, with `config` (dbopt.toml).
    fn found_with(&self, rule: &str, config: &Config) -> Vec<Finding> {
        let ctx = Ctx {
            catalog: Some(&self.catalog),
            workload: Some(&self.workload),
            health: Some(&self.health),
            ..Default::default()
        };
        rules::run(Scope::Health, &ctx, config)
            .expect("rules run")
            .into_iter()
            .filter(|f| f.rule == rule)
            .collect()
    }

    fn table(&self, name: &str) -> &dbopt::catalog::Table {
        self.catalog.table(name).expect("table in the catalog")
    }
}

fn on<'a>(found: &'a [Finding], object: &str) -> Option<&'a Finding> {
    found.iter().find(|f| f.object == object)
}

/// The server with the settings a DBA would want changed.
fn untuned() -> &'static Throwaway {
    static S: OnceLock<Throwaway> = OnceLock::new();
    S.get_or_init(|| {
        let settings = [
            ("work_mem", "64kB"),
            ("pg_stat_statements.max", "100"),
            ("shared_buffers", "16MB"),
            ("track_io_timing", "off"),
        ];
        Throwaway::start(&ThrowawayOptions {
            settings: settings
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            ..Default::default()
        })
        .expect("the untuned throwaway server")
    })
}

async fn untuned_db(tag: &str) -> ConnParams {
    let s = untuned();
    let admin = common::setup_conn(&s.params("postgres")).await;
    let name = format!("h_{tag}_{}", std::process::id());
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {}",
            dbopt::sql::quote_ident(&name)
        ))
        .await
        .expect("create database");
    s.params(&name)
}

/// Run the scripts in one session (one at a time: VACUUM cannot share a script), end the
/// session (its statistics are flushed then), and wait until `ready` is true.
async fn run_and_settle(p: &ConnParams, scripts: &[&str], ready: &str) {
    let c = common::setup_conn(p).await;
    for sql in scripts {
        c.batch_execute(sql).await.expect("set-up");
    }
    drop(c);
    let c = common::setup_conn(p).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !common::scalar::<bool>(&c, ready).await {
        assert!(
            Instant::now() < deadline,
            "statistics never arrived: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.batch_execute("SELECT pg_stat_clear_snapshot()")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn index_bloated_by_deletes_and_updates_against_its_freshly_built_twin() {
    let p = common::fresh_db("ixbloat").await;
    let c = common::setup_conn(&p).await;
    for sql in [
        "CREATE TABLE items (id int, v int) WITH (autovacuum_enabled = false);
         INSERT INTO items SELECT g, g FROM generate_series(1, 1000000) g;
         CREATE INDEX items_bloated ON items (id);
         DELETE FROM items WHERE id % 5 <> 0;
         UPDATE items SET v = v + 1;",
        "VACUUM items",
        "CREATE INDEX items_fresh ON items (id); ANALYZE items;",
    ] {
        c.batch_execute(sql).await.unwrap();
    }
    let f = facts(&p).await;
    let found = f.found("index-bloat");
    let bloated = on(&found, "public.items_bloated").expect("the bloated index is found");
    assert_eq!(bloated.severity, Severity::Critical, "{bloated:?}");
    assert_eq!(
        bloated.sql().as_deref(),
        Some("REINDEX INDEX CONCURRENTLY \"public\".\"items_bloated\"")
    );
    // The twin is large enough to be judged, and the estimate calls it tight.
    let fresh = f
        .catalog
        .indexes
        .iter()
        .find(|i| i.name == "items_fresh")
        .unwrap();
    assert!(fresh.size_bytes >= 1 << 20, "{}", fresh.size_bytes);
    let est =
        dbopt::catalog::bloat::estimate_index(fresh, f.table("items"), 8192).expect("estimate");
    assert!(est.ratio < 0.15, "{est:?}");
    assert!(on(&found, "public.items_fresh").is_none(), "{found:?}");
    // The fix works: after it, neither index is reported.
    c.batch_execute(bloated.sql().as_deref().unwrap())
        .await
        .unwrap();
    let after = facts(&p).await.found("index-bloat");
    assert!(after.is_empty(), "{after:?}");
}

#[tokio::test]
async fn table_read_by_sequential_scans_against_one_read_through_its_index() {
    let p = common::fresh_db("seqscan").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(
        "CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL);
         INSERT INTO orders SELECT g, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3] FROM generate_series(1, 20000) g;
         CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 20000) g;
         ANALYZE;",
    )
    .await
    .unwrap();
    drop(c);
    pg::pgss::reset_database(&common::setup_conn(&p).await)
        .await
        .unwrap();
    let mut work = String::new();
    for i in 0..30 {
        work.push_str(&format!(
            "SELECT count(*) FROM orders WHERE status = 'x{i}';\n"
        ));
        work.push_str("SELECT count(*) FROM accounts;\n");
    }
    work.push_str("SET enable_seqscan = off; SET enable_bitmapscan = off;\n");
    for i in 0..100 {
        work.push_str(&format!(
            "SELECT count(name) FROM accounts WHERE id BETWEEN {} AND {};\n",
            i * 10,
            i * 10 + 9999
        ));
    }
    run_and_settle(
        &p,
        &[&work],
        "SELECT (SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'orders') >= 30 \
         AND (SELECT idx_tup_fetch FROM pg_stat_user_tables WHERE relname = 'accounts') >= 1000000",
    )
    .await;
    let f = facts(&p).await;
    let found = f.found("seq-scan-heavy-table");
    let orders = on(&found, "public.orders").expect("orders is found");
    assert!(orders.remedy.contains("dbopt advise"), "{orders:?}");
    assert!(
        orders
            .evidence
            .iter()
            .any(|e| e.starts_with("read by ") && e.contains("status")),
        "the statement that scans it is named: {:?}",
        orders.evidence
    );
    // The twin is scanned sequentially as often, but most of its rows come through its index.
    let twin = &f.table("accounts").stats;
    assert!(
        twin.seq_scan >= 30 && twin.idx_tup_fetch > twin.seq_tup_read,
        "{twin:?}"
    );
    assert!(on(&found, "public.accounts").is_none(), "{found:?}");
}

#[tokio::test]
async fn table_larger_than_shared_buffers_against_a_warm_one() {
    let cold = untuned_db("cache").await;
    run_and_settle(
        &cold,
        &["CREATE TABLE cold AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 150000) g;
         SELECT count(*) FROM cold; SELECT count(*) FROM cold; SELECT count(*) FROM cold;"],
        "SELECT heap_blks_read > 10000 FROM pg_statio_user_tables WHERE relname = 'cold'",
    )
    .await;
    let cold_facts = facts(&cold).await;
    let found = cold_facts.found("low-cache-hit-ratio");
    let f = on(&found, "public.cold").expect("the cold table is found");
    assert!(f.severity >= Severity::Warning, "{f:?}");
    assert!(f.evidence[0].contains("read from outside them"), "{f:?}");
    // 16 MB of shared_buffers on this machine, with the database missing it: the settings
    // review says so, with both facts.
    let review = cold_facts.found("settings-review");
    let sb = on(&review, "shared_buffers").expect("shared_buffers is reviewed");
    assert!(sb.message.starts_with("shared_buffers = 16.0 MB"), "{sb:?}");
    assert!(
        sb.evidence.iter().any(|e| e.contains("/proc/meminfo"))
            && sb.evidence.iter().any(|e| e.contains("% missed")),
        "{sb:?}"
    );

    let warm = common::fresh_db("cache").await;
    let mut work = String::from(
        "CREATE TABLE warm AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 30000) g;\n",
    );
    work.push_str(&"SELECT count(*) FROM warm;\n".repeat(20));
    run_and_settle(
        &warm,
        &[&work],
        "SELECT heap_blks_hit > 10000 FROM pg_statio_user_tables WHERE relname = 'warm'",
    )
    .await;
    let f = facts(&warm).await;
    let s = &f.table("warm").stats;
    assert!(
        s.heap_blks_hit + s.heap_blks_read >= 10_000,
        "judged: {s:?}"
    );
    let found = f.found("low-cache-hit-ratio");
    assert!(on(&found, "public.warm").is_none(), "{found:?}");
    let review = f.found("settings-review");
    assert!(on(&review, "shared_buffers").is_none(), "{review:?}");
}

#[tokio::test]
async fn dead_tuples_autovacuum_may_not_touch_against_a_vacuumed_twin() {
    let p = common::fresh_db("autovac").await;
    run_and_settle(
        &p,
        &[
            "CREATE TABLE stale (id int, v text) WITH (autovacuum_enabled = false);
         INSERT INTO stale SELECT g, 'v' || g FROM generate_series(1, 20000) g;
         CREATE TABLE kept (id int, v text);
         INSERT INTO kept SELECT g, 'v' || g FROM generate_series(1, 20000) g;
         ANALYZE;
         DELETE FROM stale WHERE id > 5000;
         DELETE FROM kept WHERE id > 5000;",
        ],
        "SELECT (SELECT min(n_dead_tup) FROM pg_stat_user_tables WHERE relname IN ('stale', 'kept')) >= 15000",
    )
    .await;
    // In a later session: the deletes' counts, flushed when their session ends, would
    // otherwise land after the vacuum's report and undo it.
    run_and_settle(
        &p,
        &["VACUUM (ANALYZE) kept"],
        "SELECT n_dead_tup = 0 FROM pg_stat_user_tables WHERE relname = 'kept'",
    )
    .await;
    let f = facts(&p).await;
    let found = f.found("autovacuum-behind");
    let stale = on(&found, "public.stale").expect("stale is found");
    assert!(stale.severity >= Severity::Warning, "{stale:?}");
    let ev = stale.evidence.join("\n");
    assert!(ev.contains("autovacuum_enabled = false"), "{ev}");
    assert!(ev.contains("never vacuumed"), "{ev}");
    assert!(ev.contains("+ 0.2 ×"), "the table's threshold: {ev}");
    assert_eq!(
        stale.sql().as_deref(),
        Some("VACUUM (ANALYZE) \"public\".\"stale\"")
    );
    assert_eq!(f.table("kept").stats.n_dead_tup, 0);
    assert!(on(&found, "public.kept").is_none(), "{found:?}");
}

#[tokio::test]
async fn a_vacuum_running_now_shows_its_progress() {
    let p = common::fresh_db("vacnow").await;
    run_and_settle(
        &p,
        &[
            "CREATE TABLE slow (id int, v text) WITH (autovacuum_enabled = false);
         INSERT INTO slow SELECT g, repeat('v', 100) FROM generate_series(1, 50000) g;
         ANALYZE slow;
         DELETE FROM slow;",
        ],
        "SELECT (SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'slow') >= 50000",
    )
    .await;
    let vac = common::setup_conn(&p).await;
    let pid: i32 = common::scalar(&vac, "SELECT pg_backend_pid()").await;
    vac.batch_execute("SET vacuum_cost_delay = '100ms'; SET vacuum_cost_limit = 1")
        .await
        .unwrap();
    let running = tokio::spawn(async move {
        let _ = vac.batch_execute("VACUUM slow").await;
    });
    let c = common::setup_conn(&p).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !common::scalar::<bool>(
        &c,
        "SELECT EXISTS (SELECT FROM pg_stat_progress_vacuum WHERE datname = current_database() AND heap_blks_total > 0)",
    )
    .await
    {
        assert!(Instant::now() < deadline, "the vacuum never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let f = facts(&p).await;
    c.batch_execute(&format!("SELECT pg_cancel_backend({pid})"))
        .await
        .unwrap();
    running.await.unwrap();
    let v = f
        .health
        .server
        .vacuums
        .iter()
        .find(|v| v.pid == pid)
        .expect("the running vacuum");
    assert_eq!(v.table, "public.slow");
    assert!(v.heap_blks_total > 0, "{v:?}");
    let found = f.found("autovacuum-behind");
    let slow = on(&found, "public.slow").expect("slow is found");
    assert!(
        slow.evidence.iter().any(|e| e
            .starts_with(&format!("a vacuum is running now (pid {pid})"))
            && e.contains("heap blocks scanned")),
        "{slow:?}"
    );
}

#[tokio::test]
async fn settings_review_on_an_untuned_server_and_on_its_tuned_twin() {
    let sorting = "SELECT md5(g::text) FROM generate_series(1, 100000) g ORDER BY 1 OFFSET 99999;";
    let mut many = String::new();
    for i in 1..=150 {
        many.push_str(&format!("SELECT {};\n", vec!["1"; i].join(", ")));
    }
    let bad = untuned_db("settings").await;
    pg::pgss::reset_database(&common::setup_conn(&bad).await)
        .await
        .unwrap();
    run_and_settle(
        &bad,
        &[&format!("{sorting}\n{sorting}\n{many}")],
        "SELECT temp_files > 0 FROM pg_stat_database WHERE datname = current_database()",
    )
    .await;
    // The sort again, after the evictions, so its entry is there to be read.
    run_and_settle(&bad, &[sorting], "SELECT true").await;
    let f = facts(&bad).await;
    let found = f.found("settings-review");
    let work_mem = on(&found, "work_mem").expect("work_mem is reviewed");
    assert_eq!(work_mem.severity, Severity::Warning);
    let ev = work_mem.evidence.join("\n");
    assert!(ev.contains("work_mem = 64.0 kB"), "{ev}");
    assert!(
        ev.contains("ORDER BY"),
        "the spilling statement is named: {ev}"
    );
    let max = on(&found, "pg_stat_statements.max").expect("evictions are reviewed");
    assert!(
        max.evidence[0].starts_with("pg_stat_statements_info.dealloc = "),
        "{max:?}"
    );
    assert!(max.evidence[1].contains("max = 100"), "{max:?}");
    let io = on(&found, "track_io_timing").expect("track_io_timing is reviewed");
    assert!(
        io.evidence[0].starts_with("track_io_timing = off"),
        "{io:?}"
    );
    let idle = on(&found, "max_connections").expect("unused connection slots are reviewed");
    assert!(
        idle.message
            .starts_with("max_connections = 200, client connections open now: "),
        "{idle:?}"
    );
    let ssd = Config::parse("[rules.settings-review]\nstorage = \"ssd\"\n", "dbopt.toml").unwrap();
    let told = f.found_with("settings-review", &ssd);
    let rpc = on(&told, "random_page_cost").expect("random_page_cost on SSD");
    assert!(rpc.message.starts_with("random_page_cost = 4 "), "{rpc:?}");
    assert_eq!(
        rpc.evidence,
        ["solid-state storage (storage set in dbopt.toml)"]
    );
    let m = &f.health.server.machine;
    assert!(
        m.memory_source
            .as_deref()
            .is_some_and(|s| s.contains("/proc/meminfo")),
        "the server is local: {m:?}"
    );

    let good = common::fresh_db("settings").await;
    common::setup_conn(&good)
        .await
        .batch_execute(&format!(
            "ALTER DATABASE {} SET random_page_cost = 1.1",
            dbopt::sql::quote_ident(good.dbname())
        ))
        .await
        .unwrap();
    // Sessions open in use: a fair share of max_connections.
    let mut open = Vec::new();
    for _ in 0..30 {
        open.push(common::setup_conn(&good).await);
    }
    run_and_settle(
        &good,
        &["SELECT md5(g::text) FROM generate_series(1, 10000) g ORDER BY 1 OFFSET 9999;"],
        "SELECT true",
    )
    .await;
    let f = facts(&good).await;
    let s = &f.health.server;
    assert_eq!(s.settings.pg_stat_statements_max, Some(10000));
    assert_eq!(s.statements.dealloc, Some(0));
    assert!(
        f.workload
            .statements
            .iter()
            .any(|st| st.query.contains("ORDER BY") && st.temp_blks_written == 0),
        "the sort ran, in memory"
    );
    assert_eq!(s.database.temp_files, 0);
    let found = f.found("settings-review");
    assert!(on(&found, "work_mem").is_none(), "{found:?}");
    assert!(on(&found, "pg_stat_statements.max").is_none(), "{found:?}");
    assert!(on(&found, "track_io_timing").is_none(), "{found:?}");
    assert!(s.connections_now >= 30, "{}", s.connections_now);
    assert!(on(&found, "max_connections").is_none(), "{found:?}");
    assert_eq!(s.settings.random_page_cost, 1.1);
    let told = f.found_with("settings-review", &ssd);
    assert!(on(&told, "random_page_cost").is_none(), "{told:?}");
    drop(open);
}

#[tokio::test]
async fn health_readers_work_for_pg_monitor_and_for_a_role_without_it() {
    let p = common::fresh_db("hroles").await;
    let db = p.dbname().to_string();
    let c = common::setup_conn(&p).await;
    let (mon, plain) = (format!("hm_{db}"), format!("hp_{db}"));
    let q = dbopt::sql::quote_ident;
    c.batch_execute(&format!(
        "CREATE ROLE {m} LOGIN PASSWORD 'pw'; GRANT pg_monitor TO {m};
         CREATE ROLE {p} LOGIN PASSWORD 'pw';
         CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 1000); ANALYZE t;",
        m = q(&mon),
        p = q(&plain),
    ))
    .await
    .unwrap();
    // A statement of another role that spills: its text is what a role without
    // pg_read_all_stats cannot see.
    c.batch_execute(
        "SET work_mem = '64kB'; SELECT md5(g::text) FROM generate_series(1, 50000) g ORDER BY 1 OFFSET 49999;",
    )
    .await
    .unwrap();
    drop(c);
    for role in [&mon, &plain] {
        let mut rp = p.clone();
        rp.set("user", role.as_str());
        rp.set("password", "pw");
        let rc = pg::connect(&rp, &SessionOptions::default())
            .await
            .expect("connect as the role");
        let h = pg::health::read(&rc)
            .await
            .unwrap_or_else(|e| panic!("{role}: {e}"));
        assert_eq!(h.server.settings.max_connections, 200, "{role}");
        assert!(
            h.server.statements.available,
            "{role}: {:?}",
            h.server.notes
        );
        let cat = pg::catalog::load(&rc).await.expect("catalog");
        assert!(cat
            .indexes
            .iter()
            .any(|i| i.name == "t_pkey" && i.stats.relpages > 0));
    }
    let admin = common::setup_conn(&common::server().params("postgres")).await;
    admin
        .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", q(&db)))
        .await
        .unwrap();
    for r in [&mon, &plain] {
        admin
            .batch_execute(&format!("DROP ROLE {}", q(r)))
            .await
            .unwrap();
    }
}
