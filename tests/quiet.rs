//! dbopt must not disturb the workload it measures. The throwaway server runs with
//! `pg_stat_statements.track = all`, where every EXPLAIN is counted as a nested call of the
//! statement it plans; these tests run a real workload (parameterised statements through
//! tokio-postgres, as an application sends them), then `advise` five times, and check that
//! the reports are byte-identical, that pg_stat_statements still holds exactly the
//! application's calls, and that `queries` and `nplusone` show the application's statements
//! only. Once as the superuser (dbopt turns pg_stat_statements off for its sessions) and once
//! as a role with pg_monitor only (dbopt cannot, and its statements must be recognised).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use dbopt::pg::{self, ConnParams, SessionOptions};
use futures_util::FutureExt;
use serde_json::Value;

const SCHEMA: &str = "
CREATE TABLE customers (id int PRIMARY KEY, region int NOT NULL, name text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id),
    status int NOT NULL, total int NOT NULL, note text NOT NULL);
INSERT INTO customers SELECT g, g % 50, md5(g::text) FROM generate_series(1, 20000) g;
INSERT INTO orders SELECT g, 1 + g % 20000, g % 7, g % 1000, md5(g::text) FROM generate_series(1, 100000) g;
ANALYZE;";

const PARENT: &str = "SELECT id, name FROM customers WHERE region = $1 ORDER BY id LIMIT $2";
const CHILD: &str = "SELECT id, status, total FROM orders WHERE customer_id = $1";
const REPORT: &str = "SELECT count(*) FROM orders WHERE status = $1 AND total > $2";

/// The application: 10 parent queries of 10 rows each, one child query per row (an N+1 loop
/// of 100 calls), and 25 reports.
async fn run_workload(c: &tokio_postgres::Client) {
    for region in 0..10i32 {
        for r in c.query(PARENT, &[&region, &10i64]).await.expect("parent") {
            let id: i32 = r.get(0);
            c.query(CHILD, &[&id]).await.expect("child");
        }
    }
    for i in 0..25i32 {
        c.query(REPORT, &[&(i % 7), &(i * 37 % 1000)])
            .await
            .expect("report");
    }
}

/// A quiet superuser session of the test itself: what it reads is not recorded.
async fn observer(p: &ConnParams) -> pg::Conn {
    let c = pg::connect(p, &SessionOptions::default())
        .await
        .expect("observer");
    assert!(!c.marks(), "the superuser may turn pg_stat_statements off");
    c
}

/// Every pg_stat_statements row (query, toplevel) -> calls of the workload's statements, read
/// straight from the view.
async fn pgss_rows(o: &pg::Conn) -> BTreeMap<(String, bool), i64> {
    o.query(
        "SELECT query, toplevel, calls FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND queryid IN (SELECT queryid FROM pg_stat_statements WHERE query = ANY($1))",
        &[&vec![PARENT, CHILD, REPORT]],
    )
    .await
    .expect("reading pg_stat_statements")
    .iter()
    .map(|r| ((r.get(0), r.get(1)), r.get(2)))
    .collect()
}

fn run(args: &[&str], p: &ConnParams) -> Vec<u8> {
    let out = common::dbopt()
        .args(args)
        .args(["--format", "json", "--database-url"])
        .arg(p.url_with_password())
        .output()
        .unwrap();
    common::assert_success(&out);
    out.stdout
}

/// Five `advise` runs as `as_role`, then `queries` and `nplusone`; `toplevel_only` when dbopt
/// cannot keep its nested EXPLAIN counts out (they must then be kept apart, in rows of their own).
async fn five_advise_runs(db: &ConnParams, as_role: &ConnParams, toplevel_only: bool) {
    let o = observer(db).await;
    let before = pgss_rows(&o).await;
    let want: BTreeMap<(String, bool), i64> = [
        ((PARENT.to_string(), true), 10),
        ((CHILD.to_string(), true), 100),
        ((REPORT.to_string(), true), 25),
    ]
    .into();
    assert_eq!(before, want, "the workload as the application ran it");

    let first = run(&["advise"], as_role);
    let report: Value = serde_json::from_slice(&first).unwrap();
    let recs = report["recommendations"].as_array().unwrap();
    assert!(
        recs.iter().any(|r| r["table"] == "public.orders"),
        "an index for the child lookup: {report}"
    );
    let skipped = report["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .all(|s| [PARENT, CHILD, REPORT].contains(&s["statement"].as_str().unwrap())),
        "only the application's statements are considered: {report}"
    );
    for i in 2..=5 {
        let again = run(&["advise"], as_role);
        assert_eq!(
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&first),
            "advise run {i} differs from run 1"
        );
    }

    let after = pgss_rows(&o).await;
    if toplevel_only {
        let top: BTreeMap<_, _> = after.into_iter().filter(|((_, t), _)| *t).collect();
        assert_eq!(top, want, "top-level calls moved");
    } else {
        assert_eq!(after, want, "dbopt's planning was recorded");
    }

    let queries: Value = serde_json::from_slice(&run(&["queries"], as_role)).unwrap();
    let listed: BTreeMap<String, i64> = queries["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["query"].as_str().unwrap().to_string(),
                s["calls"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeMap<String, i64> = want.iter().map(|((q, _), n)| (q.clone(), *n)).collect();
    assert_eq!(
        listed, expected,
        "queries lists the application's statements only"
    );

    let n: Value = serde_json::from_slice(&run(&["nplusone"], as_role)).unwrap();
    let loops = n["loops"].as_array().unwrap();
    assert_eq!(loops.len(), 1, "{n}");
    assert_eq!(loops[0]["child"]["query"], CHILD, "{n}");
    assert_eq!(loops[0]["parent"]["query"], PARENT, "{n}");
    assert_eq!(loops[0]["child_calls"], 100, "{n}");
}

/// A fresh database with the schema, pg_stat_statements reset (by a quiet session, so the
/// reset is not recorded either).
async fn prepared_db(tag: &str) -> ConnParams {
    let p = common::fresh_db(tag).await;
    common::setup_conn(&p)
        .await
        .batch_execute(SCHEMA)
        .await
        .expect("schema");
    pg::pgss::reset_database(&observer(&p).await).await.unwrap();
    p
}

#[tokio::test]
async fn advise_five_times_as_superuser_changes_nothing() {
    let p = prepared_db("quiet_su").await;
    run_workload(&common::setup_conn(&p).await.client).await;
    five_advise_runs(&p, &p, false).await;
}

static NEXT_ROLE: AtomicU32 = AtomicU32::new(0);

#[tokio::test]
async fn advise_five_times_as_monitoring_role_changes_nothing() {
    let p = prepared_db("quiet_mon").await;
    let role = format!(
        "quiet_mon_{}_{}",
        std::process::id(),
        NEXT_ROLE.fetch_add(1, Ordering::Relaxed)
    );
    let password = "quiet-test-pw";
    // Quiet, so that setting the role up is not in the workload either.
    let admin = pg::connect(&p, &SessionOptions::unrestricted().quiet())
        .await
        .unwrap();
    let r = dbopt::sql::quote_ident(&role);
    admin
        .batch_execute(&format!(
            "CREATE ROLE {r} LOGIN PASSWORD {pw}; GRANT pg_monitor TO {r}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r};",
            pw = dbopt::sql::quote_literal(password)
        ))
        .await
        .expect("create role");
    let mut rp = p.clone();
    rp.set("user", role.clone());
    rp.set("password", password);
    let outcome = std::panic::AssertUnwindSafe(async {
        let quiet = pg::connect(&rp, &SessionOptions::default()).await.unwrap();
        assert!(
            quiet.marks(),
            "a pg_monitor role may not turn pg_stat_statements off"
        );
        drop(quiet);
        // The application runs as this role too, so dbopt's rows share its user id.
        let app = pg::connect(&rp, &SessionOptions::unrestricted())
            .await
            .unwrap();
        run_workload(&app.client).await;
        five_advise_runs(&p, &rp, true).await;
    })
    .catch_unwind()
    .await;
    admin
        .batch_execute(&format!("DROP OWNED BY {r}; DROP ROLE {r};"))
        .await
        .expect("drop role");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
