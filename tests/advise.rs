//! `dbopt advise` on purpose-built schemas: each case asserts the exact index (columns, order,
//! direction), or that no index is advised and why. Workloads run for real on the throwaway
//! server, so pg_stat_statements holds them exactly as it would in production.

mod common;

use serde_json::Value;

/// Create the schema, reset pg_stat_statements, run each statement template `n` times with
/// `{}` replaced by a varying number (and `{m}` by one from 0 to 9), then advise with `extra` flags. Returns the JSON report.
async fn advise(tag: &str, setup: &str, workload: &[(&str, usize)], extra: &[&str]) -> Value {
    let p = common::fresh_db(tag).await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(setup).await.expect("setup");
    c.batch_execute("ANALYZE").await.unwrap();
    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    for (template, n) in workload {
        for i in 0..*n {
            let sql = template
                .replace("{m}", &(i % 10).to_string())
                .replace("{}", &(i * 7 % 1000 + 1).to_string());
            c.batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{template}: {e}"));
        }
    }
    report(&p, extra)
}

/// `dbopt advise --format json` on database `p` with `extra` flags: it must succeed; its report.
fn report(p: &dbopt::pg::ConnParams, extra: &[&str]) -> Value {
    let out = common::dbopt()
        .args(["advise", "--format", "json", "--database-url"])
        .arg(p.url_with_password())
        .args(extra)
        .output()
        .unwrap();
    common::assert_success(&out);
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn recs(r: &Value) -> Vec<(String, Vec<String>)> {
    r["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["table"].as_str().unwrap().to_string(),
                x["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        // Keys are SQL in the report; compare them as people read them.
                        dbopt::sql::index_key::IndexKey::parse(c.as_str().unwrap())
                            .unwrap()
                            .label()
                    })
                    .collect(),
            )
        })
        .collect()
}

fn one(table: &str, cols: &[&str]) -> Vec<(String, Vec<String>)> {
    vec![(
        table.to_string(),
        cols.iter().map(|c| c.to_string()).collect(),
    )]
}

const T: &str = "CREATE TABLE t (id bigint PRIMARY KEY, a int NOT NULL, b int NOT NULL, c text NOT NULL, created timestamptz NOT NULL);
INSERT INTO t SELECT g, g % 5000, g % 10, md5(g::text), now() - (g % 100000) * interval '1 minute' FROM generate_series(1, 200000) g;";

#[tokio::test]
async fn single_equality() {
    let r = advise("eq1", T, &[("SELECT * FROM t WHERE a = {}", 30)], &[]).await;
    assert_eq!(recs(&r), one("public.t", &["a"]));
    let rec = &r["recommendations"][0];
    assert_eq!(
        rec["ddl"],
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"t_a_idx\" ON \"public\".\"t\" (\"a\")"
    );
    assert_eq!(rec["method"], "btree");
    assert!(rec["size_bytes"].as_i64().unwrap() > 100_000);
    assert_eq!(
        rec["statements"][0]["query"],
        "SELECT * FROM t WHERE a = $1"
    );
    assert!(
        rec["statements"][0]["cost_after"].as_f64().unwrap() * 10.0
            < rec["statements"][0]["cost_before"].as_f64().unwrap()
    );
    assert_eq!(r["costing"], "hypopg");
    assert!(
        r["workload"]["cost_after"].as_f64().unwrap()
            < r["workload"]["cost_before"].as_f64().unwrap()
    );
}

#[tokio::test]
async fn two_equalities_most_selective_first() {
    let r = advise(
        "eq2",
        T,
        &[("SELECT * FROM t WHERE b = {m} AND a = {}", 40)],
        &[],
    )
    .await;
    assert_eq!(recs(&r), one("public.t", &["a", "b"]));
}

#[tokio::test]
async fn equality_then_range() {
    let r = advise(
        "range",
        T,
        &[(
            "SELECT * FROM t WHERE a = {} AND created > to_timestamp({})",
            40,
        )],
        &[],
    )
    .await;
    assert_eq!(recs(&r), one("public.t", &["a", "created"]));
}

#[tokio::test]
async fn equality_then_order_by_limit() {
    let r = advise(
        "orderby",
        T,
        &[(
            "SELECT * FROM t WHERE b = {m} ORDER BY created DESC LIMIT 10",
            40,
        )],
        &[],
    )
    .await;
    assert_eq!(recs(&r), one("public.t", &["b", "created DESC"]));
}

#[tokio::test]
async fn mixed_direction_order_by() {
    let r = advise(
        "mixed",
        T,
        &[(
            "SELECT * FROM t WHERE b = {m} ORDER BY a DESC, created LIMIT 10",
            40,
        )],
        &[],
    )
    .await;
    assert_eq!(recs(&r), one("public.t", &["b", "a DESC", "created"]));
}

#[tokio::test]
async fn join_keys() {
    let setup = format!(
        "{T}
        CREATE TABLE child (id bigint PRIMARY KEY, t_id bigint NOT NULL, note text);
        INSERT INTO child SELECT g, g % 200000 + 1, 'n' FROM generate_series(1, 300000) g;"
    );
    let r = advise(
        "join",
        &setup,
        &[(
            "SELECT c.note FROM t JOIN child c ON c.t_id = t.id WHERE t.a = {}",
            40,
        )],
        &[],
    )
    .await;
    let mut got = recs(&r);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("public.child".to_string(), vec!["t_id".to_string()]),
            ("public.t".to_string(), vec!["a".to_string()])
        ]
    );
}

#[tokio::test]
async fn update_and_delete_predicates() {
    let r = advise(
        "dml",
        T,
        &[
            ("UPDATE t SET c = 'x' WHERE a = {}", 30),
            ("DELETE FROM t WHERE a = {} + 100000", 30),
        ],
        &[],
    )
    .await;
    assert_eq!(recs(&r), one("public.t", &["a"]));
}

#[tokio::test]
async fn through_a_view() {
    let setup =
        format!("{T} CREATE VIEW recent_t AS SELECT id, a, c FROM t WHERE created > '2000-01-01';");
    let r = advise(
        "view",
        &setup,
        &[("SELECT * FROM recent_t WHERE a = {}", 30)],
        &[],
    )
    .await;
    assert_eq!(recs(&r), one("public.t", &["a"]));
}

#[tokio::test]
async fn through_a_cte() {
    let r = advise(
        "cte",
        T,
        &[(
            "WITH x AS (SELECT id, c FROM t WHERE a = {}) SELECT count(*) FROM x",
            30,
        )],
        &[],
    )
    .await;
    assert_eq!(recs(&r), one("public.t", &["a"]));
}

#[tokio::test]
async fn partitioned_table_gets_the_parent_index_and_its_partitions() {
    let setup = "CREATE TABLE p (id bigint, a int NOT NULL, created date NOT NULL) PARTITION BY RANGE (created);
        CREATE TABLE p_2024 PARTITION OF p FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TABLE p_2025 PARTITION OF p FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        INSERT INTO p SELECT g, g % 5000, date '2024-01-01' + (g % 700) FROM generate_series(1, 200000) g;";
    let r = advise("part", setup, &[("SELECT * FROM p WHERE a = {}", 30)], &[]).await;
    assert_eq!(recs(&r), one("public.p", &["a"]));
    let parts: Vec<&str> = r["recommendations"][0]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(parts, vec!["public.p_2024", "public.p_2025"]);
}

#[tokio::test]
async fn already_indexed_gets_no_advice() {
    let setup = format!("{T} CREATE INDEX t_a_b ON t (a, b);");
    let r = advise(
        "indexed",
        &setup,
        &[("SELECT * FROM t WHERE a = {}", 30)],
        &[],
    )
    .await;
    assert!(recs(&r).is_empty(), "{:?}", recs(&r));
}

#[tokio::test]
async fn tiny_table_gets_no_advice_with_the_reason() {
    let setup = "CREATE TABLE tiny (id int PRIMARY KEY, a int); INSERT INTO tiny SELECT g, g FROM generate_series(1, 50) g;";
    let r = advise(
        "tiny",
        setup,
        &[("SELECT * FROM tiny WHERE a = {}", 30)],
        &[],
    )
    .await;
    assert!(recs(&r).is_empty());
    let reasons: Vec<&str> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.iter().any(|x| x.contains("50 rows")), "{reasons:?}");
}

#[tokio::test]
async fn write_heavy_table_has_its_index_withheld_with_the_reason() {
    // Rarely read by `b`, constantly rewritten in `b` (which an index on b would make non-HOT).
    let setup =
        "CREATE TABLE hot (id bigint PRIMARY KEY, b int NOT NULL, pad text) WITH (fillfactor = 70);
        INSERT INTO hot SELECT g, g % 2000, 'x' FROM generate_series(1, 20000) g;";
    let r = advise(
        "writes",
        setup,
        &[
            ("SELECT * FROM hot WHERE b = {}", 3),
            (
                "UPDATE hot SET b = b + 1 WHERE id BETWEEN {} AND {} + 5000",
                400,
            ),
        ],
        &[],
    )
    .await;
    assert!(
        !recs(&r)
            .iter()
            .any(|(t, c)| t == "public.hot" && c[0] == "b"),
        "{:?}",
        recs(&r)
    );
    let reasons: Vec<&str> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|x| x.contains("write-heavy")),
        "{reasons:?}"
    );
}

/// An index on a column the workload's UPDATEs set: recommended (reads dominate), with its
/// real write overhead (the model's: the updates were HOT and now write an entry in both
/// indexes, 2x the table's current write cost) and a HOT warning with the measured rate, in
/// the report and in the migration header.
#[tokio::test]
async fn updated_key_column_gets_write_overhead_and_a_hot_warning() {
    let setup = "CREATE TABLE acct (id bigint PRIMARY KEY, b int NOT NULL, pad text);
        INSERT INTO acct SELECT g, g % 5000, md5(g::text) FROM generate_series(1, 100000) g;";
    let p = common::fresh_db("hotwarn").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(setup).await.unwrap();
    c.batch_execute("ANALYZE").await.unwrap();
    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    for i in 0..200 {
        c.batch_execute(&format!("SELECT * FROM acct WHERE b = {}", i * 7 % 5000))
            .await
            .unwrap();
    }
    for i in 0..40 {
        c.batch_execute(&format!(
            "UPDATE acct SET b = b + 1 WHERE id = {}",
            i * 13 + 1
        ))
        .await
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let r = report(
        &p,
        &[
            "--emit-migrations",
            dir.path().to_str().unwrap(),
            "--migration-format",
            "plain",
        ],
    );
    assert_eq!(recs(&r), one("public.acct", &["b"]));
    let rec = &r["recommendations"][0];
    let overhead = rec["write_overhead"].as_f64().unwrap();
    assert!((overhead - 2.0).abs() < 1e-9, "write_overhead {overhead}");
    let warnings: Vec<&str> = rec["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("updates of b (")
            && warnings[0].contains("/s measured) will no longer be HOT"),
        "{warnings:?}"
    );
    let header: String = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(header.contains("write overhead: +200.0%"), "{header}");
    assert!(header.contains("Warning: updates of b ("), "{header}");
}

/// dbopt's cost model sees the indexes the table has: `WHERE id = $1` on a primary key costs
/// an index scan in the model, within a factor of the server's own estimate (it cost a
/// sequential scan, 100x more, when the model ignored existing indexes), and the model
/// recommends nothing for a lookup the primary key already serves.
#[tokio::test]
async fn cost_model_costs_existing_indexes_like_the_planner() {
    use dbopt::advisor::select::Oracle;
    let p = common::fresh_db("modelpk").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(T).await.unwrap();
    c.batch_execute("ANALYZE").await.unwrap();
    let plan: serde_json::Value = {
        let msgs = c
            .simple_query("EXPLAIN (FORMAT JSON) SELECT * FROM t WHERE id = 5")
            .await
            .unwrap();
        let text = msgs
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .expect("a plan");
        serde_json::from_str(&text).unwrap()
    };
    let server = plan[0]["Plan"]["Total Cost"].as_f64().unwrap();
    let catalog = dbopt::pg::catalog::load(&c).await.unwrap();
    let workload = dbopt::workload::Workload {
        statements: vec![dbopt::workload::Statement {
            fingerprint: "pk".into(),
            query: "SELECT * FROM t WHERE id = $1".into(),
            calls: 1,
            ..Default::default()
        }],
        ..Default::default()
    };
    let prep = dbopt::advisor::prepare(
        &catalog,
        &workload,
        &["public".to_string()],
        &dbopt::advisor::Filters::default(),
    );
    assert_eq!(prep.stmts.len(), 1);
    let mut model = dbopt::advisor::oracle::CostModel::new(
        catalog,
        prep.stmts.iter().map(|s| s.accesses.clone()).collect(),
    );
    let r = model.evaluate(&[(0, vec![])]).await;
    let cost = r[0].as_ref().unwrap().cost;
    assert!(
        cost > server / 2.0 && cost < server * 2.0,
        "model {cost:.2} vs server {server:.2}"
    );

    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    for i in 0..50 {
        c.batch_execute(&format!(
            "SELECT * FROM t WHERE id = {} AND a = {}",
            i * 7 + 1,
            i % 10
        ))
        .await
        .unwrap();
    }
    let r = report(&p, &["--costing", "model"]);
    assert_eq!(r["costing"], "dbopt-cost-model");
    assert!(recs(&r).is_empty(), "{:?}", recs(&r));
}

#[tokio::test]
async fn budget_too_small_and_cost_model_fallback() {
    let r = advise(
        "budget",
        T,
        &[("SELECT * FROM t WHERE a = {}", 30)],
        &["--budget", "8kB"],
    )
    .await;
    assert!(recs(&r).is_empty());
    let r = advise(
        "model",
        T,
        &[("SELECT * FROM t WHERE a = {}", 30)],
        &["--costing", "model"],
    )
    .await;
    assert_eq!(r["costing"], "dbopt-cost-model");
    assert_eq!(recs(&r), one("public.t", &["a"]));
}

#[tokio::test]
async fn no_hypothetical_or_real_index_is_left_behind() {
    let p = common::fresh_db("clean").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(T).await.unwrap();
    c.batch_execute("ANALYZE").await.unwrap();
    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    c.batch_execute("SELECT * FROM t WHERE a = 5")
        .await
        .unwrap();
    report(&p, &[]);
    let n: i64 = common::scalar(&c, "SELECT count(*) FROM pg_indexes WHERE tablename = 't'").await;
    assert_eq!(n, 1, "only the primary key");
    let hypo: i64 = common::scalar(&c, "SELECT count(*) FROM hypopg_list_indexes").await;
    assert_eq!(hypo, 0);
}

/// TPC-H Q4's shape from a SQL file: the EXISTS subquery's key is correlated through
/// unqualified names, and the file's constants (`date '...' + interval`) are planned as
/// written (their `$n` forms cannot be planned at all).
#[tokio::test]
async fn correlated_exists_from_a_sql_file_gets_its_join_key() {
    let p = common::fresh_db("exists").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(
        "CREATE TABLE orders (o_orderkey int NOT NULL, o_orderdate date NOT NULL, o_orderpriority text NOT NULL);
         INSERT INTO orders SELECT g, date '1992-01-01' + g % 2400, 'P' || g % 5 FROM generate_series(1, 150000) g;
         CREATE TABLE lineitem (l_orderkey int NOT NULL, l_commitdate date NOT NULL, l_receiptdate date NOT NULL, l_comment text);
         INSERT INTO lineitem SELECT g / 4, date '1992-01-01' + g % 2400, date '1992-01-01' + (g + 7) % 2400, md5(g::text)
           FROM generate_series(4, 600000) g;
         ANALYZE;",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q4.sql");
    std::fs::write(
        &file,
        "SELECT o_orderpriority, count(*) AS order_count FROM orders
         WHERE o_orderdate >= date '1993-07-01' AND o_orderdate < date '1993-07-01' + interval '7 days'
           AND EXISTS (SELECT * FROM lineitem WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)
         GROUP BY o_orderpriority ORDER BY o_orderpriority;",
    )
    .unwrap();
    let r = report(&p, &["--queries", file.to_str().unwrap()]);
    assert!(
        r["skipped"].as_array().unwrap().is_empty(),
        "planned, not skipped: {}",
        r["skipped"]
    );
    assert!(
        recs(&r).contains(&(
            "public.lineitem".to_string(),
            vec!["l_orderkey".to_string()]
        )),
        "{:?}",
        recs(&r)
    );
}
