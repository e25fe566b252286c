//! The demo database and workload, and `dbopt doctor`, against the throwaway server.

mod common;

use dbopt::bench::demo::{self, DemoOptions};
use dbopt::bench::demo_workload::{self, WorkloadOptions};
use dbopt::pg::{self, SessionOptions};

async fn checksum(c: &pg::Conn) -> String {
    common::scalar(
        c,
        "SELECT md5(string_agg(zip_code || status, ',' ORDER BY id)) FROM leads",
    )
    .await
}

#[tokio::test]
async fn demo_loads_the_schema_data_and_a_workload_into_pg_stat_statements() {
    let p = common::fresh_db("demo").await;
    let opts = DemoOptions {
        scale: 0.01,
        seed: 1,
        ..Default::default()
    };
    let stats = demo::load(&p, &opts, &|_, _| {}).await.expect("load");
    let c = pg::connect(&p, &SessionOptions::default()).await.unwrap();
    for (table, rows) in demo::sizes(0.01) {
        let n: i64 = common::scalar(&c, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(n as u64, rows, "{table}");
    }
    assert_eq!(
        stats.rows,
        demo::sizes(0.01).iter().map(|x| x.1).sum::<u64>()
    );
    // Only primary keys: the demo is the "before" picture for index advice.
    let idx: Vec<String> = c
        .query("SELECT indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT i.indisprimary", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(idx.is_empty(), "secondary indexes: {idx:?}");
    let fks: i64 =
        common::scalar(&c, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'").await;
    assert_eq!(fks, 3);
    let analyzed: i64 = common::scalar(
        &c,
        "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'leads'",
    )
    .await;
    assert!(analyzed > 5, "tables must be analyzed");
    // Same seed, same data.
    let first = checksum(&c).await;
    let p2 = common::fresh_db("demo2").await;
    demo::load(&p2, &opts, &|_, _| {}).await.unwrap();
    let c2 = pg::connect(&p2, &SessionOptions::default()).await.unwrap();
    assert_eq!(
        first,
        checksum(&c2).await,
        "the generator must be deterministic"
    );

    let w = WorkloadOptions {
        rounds: 6,
        sessions: 2,
        seed: 1,
        scale: 0.01,
        anchor: opts.anchor,
    };
    let ws = demo_workload::run(&p, &w, &|_, _| {})
        .await
        .expect("workload");
    assert!(ws.statements > 200, "{ws:?}");
    let rows = c
        .query(
            "SELECT query, calls FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .unwrap();
    // pg_stat_statements replaces constants (LIMIT 50 -> LIMIT $3): compare up to the first one.
    let calls = |text: &str| {
        let head = text.split(" LIMIT").next().unwrap();
        rows.iter()
            .find(|r| r.get::<_, String>(0).starts_with(head))
            .map(|r| r.get::<_, i64>(1))
    };
    assert_eq!(
        calls(demo_workload::LEAD_LIST),
        Some(30),
        "5 lead lists per round"
    );
    assert_eq!(calls(demo_workload::LEADS_BY_ZIP), Some(60));
    assert_eq!(calls(demo_workload::NPLUS1_PARENT), Some(6));
    let child = calls(demo_workload::NPLUS1_CHILD).expect("N+1 child statement recorded");
    assert!(
        child > 6,
        "the N+1 loop runs one child query per parent row: {child}"
    );
}

#[tokio::test]
async fn doctor_reports_ok_and_names_the_fix_for_a_missing_extension() {
    let p = common::fresh_db("doctor").await;
    let out = common::dbopt()
        .args([
            "doctor",
            "--format",
            "json",
            "--database-url",
            &p.url_with_password(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = |name: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    assert_eq!(
        status("pg_stat_statements preloaded").as_deref(),
        Some("ok")
    );
    assert_eq!(status("pg_stat_statements created").as_deref(), Some("ok"));
    assert_eq!(status("hypopg").as_deref(), Some("ok"));
    assert_eq!(status("statistics privileges").as_deref(), Some("ok"));
    assert_eq!(v["server_version_num"].as_i64().unwrap() / 10000, 15);

    common::setup_conn(&p).await.batch_execute("DROP EXTENSION pg_stat_statements; DROP EXTENSION hypopg; CREATE ROLE plain LOGIN PASSWORD 'pw'").await.unwrap();
    let out = common::dbopt()
        .args([
            "doctor",
            "--format",
            "json",
            "--database-url",
            &p.url_with_password(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "missing pieces are findings: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = |name: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(check("pg_stat_statements created")["status"], "missing");
    assert!(check("pg_stat_statements created")["fix"]
        .as_str()
        .unwrap()
        .contains("CREATE EXTENSION pg_stat_statements"));
    assert_eq!(check("hypopg")["status"], "warning");
    assert!(check("hypopg")["fix"]
        .as_str()
        .unwrap()
        .contains("CREATE EXTENSION hypopg"));

    let mut plain = p.clone();
    plain.set("user", "plain");
    plain.set("password", "pw");
    let out = common::dbopt()
        .args(["doctor", "--database-url", &plain.url_with_password()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("GRANT pg_read_all_stats TO \"plain\""),
        "{text}"
    );
    assert!(!text.contains("pw@"), "no password in output");
}
