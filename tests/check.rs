//! `dbopt check` end to end on real servers: each health check with its problem made real and
//! its healthy twin, the whole report on the demo and on a deliberately unhealthy database,
//! the JSON schema, exit codes, `--from-snapshot` against live, and the roles managed servers
//! hand out.

mod common;

use std::collections::BTreeSet;

use dbopt::pg::throwaway::{Throwaway, ThrowawayOptions};
use dbopt::pg::ConnParams;
use serde_json::Value;

/// `dbopt check --format json ARGS...`: exit code, report, stderr.
fn check_json(url: &str, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = common::dbopt()
        .args(["check", "--format", "json", "--database-url", url])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON report ({e}); stderr: {stderr}"));
    (out.status.code(), v, stderr)
}

/// (rule, object, severity) of every finding.
fn findings(v: &Value) -> BTreeSet<(String, String, String)> {
    v["findings"]
        .as_array()
        .expect("findings")
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

fn of_rule(v: &Value, rule: &str) -> BTreeSet<(String, String)> {
    findings(v)
        .into_iter()
        .filter(|(r, _, _)| r == rule)
        .map(|(_, o, s)| (o, s))
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
        .collect()
}

fn url(p: &ConnParams) -> String {
    p.url_with_password()
}

const SEQUENCES: &str = "
CREATE TABLE serial_near (id serial PRIMARY KEY, v text);
SELECT setval('serial_near_id_seq', 2147000002);
CREATE SEQUENCE wide_seq AS bigint;
CREATE TABLE int_fed_by_bigint (id int PRIMARY KEY DEFAULT nextval('wide_seq'));
SELECT setval('wide_seq', 1700000000);
CREATE TABLE ident_near (id smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
SELECT setval(pg_get_serial_sequence('ident_near', 'id'), 25000);
-- the healthy twins: the same value in a bigint column, and an int4 serial far from its end
CREATE TABLE bigserial_far (id bigserial PRIMARY KEY);
SELECT setval('bigserial_far_id_seq', 2147000002);
CREATE TABLE serial_far (id serial PRIMARY KEY);
SELECT setval('serial_far_id_seq', 1000);
";

#[tokio::test]
async fn sequences_near_overflow_and_their_healthy_twins() {
    let p = common::fresh_db("chkseq").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(SEQUENCES).await.unwrap();
    let (_, v, stderr) = check_json(&url(&p), &[]);
    assert_eq!(
        of_rule(&v, "sequence-near-overflow"),
        set(&[
            ("public.serial_near.id", "critical"),
            ("public.int_fed_by_bigint.id", "warning"),
            ("public.ident_near.id", "warning"),
        ]),
        "{stderr}"
    );
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["object"] == "public.int_fed_by_bigint.id")
        .unwrap();
    assert_eq!(f["area"], "health");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("limited by the column's type"),
        "{f}"
    );
    assert_eq!(
        f["sql"],
        "ALTER TABLE \"public\".\"int_fed_by_bigint\" ALTER COLUMN \"id\" TYPE bigint"
    );
    let serial = &v["findings"][0];
    assert_eq!(serial["object"], "public.serial_near.id");
    assert!(serial["remedy"]
        .as_str()
        .unwrap()
        .contains("ACCESS EXCLUSIVE"));
    // The fix works: the same check after it finds nothing for that column.
    c.batch_execute(
        "ALTER TABLE serial_near ALTER COLUMN id TYPE bigint; ALTER SEQUENCE serial_near_id_seq AS bigint",
    )
    .await
    .unwrap();
    let (_, v, _) = check_json(&url(&p), &[]);
    assert!(!of_rule(&v, "sequence-near-overflow")
        .iter()
        .any(|(o, _)| o == "public.serial_near.id"));
}

#[tokio::test]
async fn days_left_from_a_baseline_snapshot() {
    let p = common::fresh_db("chkrate").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(SEQUENCES).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("before.json");
    let out = common::dbopt()
        .args([
            "snapshot",
            "-o",
            snap.to_str().unwrap(),
            "--database-url",
            &url(&p),
        ])
        .output()
        .unwrap();
    common::assert_success(&out);
    c.batch_execute("INSERT INTO serial_near (v) SELECT 'x' FROM generate_series(1, 1000)")
        .await
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, v, _) = check_json(&url(&p), &["--baseline", snap.to_str().unwrap()]);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["object"] == "public.serial_near.id")
        .unwrap();
    let ev = f["evidence"].to_string();
    assert!(ev.contains("days left at"), "{ev}");
    let (_, v, _) = check_json(&url(&p), &[]);
    assert!(v["findings"][0]["evidence"]
        .to_string()
        .contains("days left unknown"));
}

/// Burn `n` transaction IDs: one committed transaction with an XID each.
const BURN: &str = "CREATE PROCEDURE burn(n int) LANGUAGE plpgsql AS $$
BEGIN FOR i IN 1..n LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$";

#[tokio::test]
async fn transaction_id_wraparound_made_real_on_a_dedicated_server() {
    let s = tokio::task::spawn_blocking(|| {
        Throwaway::start(&ThrowawayOptions {
            settings: vec![
                ("autovacuum".into(), "off".into()),
                ("autovacuum_freeze_max_age".into(), "100000".into()),
            ],
            ..Default::default()
        })
    })
    .await
    .unwrap()
    .expect("throwaway server");
    let p = s.params("postgres");
    let c = common::setup_conn(&p).await;
    c.batch_execute(&format!(
        "CREATE TABLE frozen_late (id int PRIMARY KEY); INSERT INTO frozen_late SELECT generate_series(1, 1000); {BURN}"
    ))
    .await
    .unwrap();
    // Healthy twin: a fresh cluster is young.
    let (_, v, stderr) = check_json(&url(&p), &[]);
    assert_eq!(
        of_rule(&v, "transaction-id-wraparound"),
        set(&[]),
        "{stderr}"
    );
    // A session holding an XID keeps the horizon back, so even the anti-wraparound vacuum
    // (which runs with autovacuum off) cannot freeze past it.
    let holder = common::setup_conn(&p).await;
    holder
        .batch_execute("BEGIN; SELECT pg_current_xact_id()")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    c.batch_execute("CALL burn(110000)").await.unwrap();
    eprintln!("burned 110000 XIDs in {:?}", started.elapsed());
    let (code, v, stderr) = check_json(&url(&p), &["--fail-on", "warning"]);
    let got = of_rule(&v, "transaction-id-wraparound");
    assert!(
        got.contains(&("public.frozen_late".into(), "warning".into())),
        "{got:?} {stderr}"
    );
    assert!(
        got.contains(&("database postgres".into(), "warning".into())),
        "{got:?}"
    );
    assert_eq!(code, Some(1));
    let table = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["object"] == "public.frozen_late")
        .unwrap();
    assert!(table["message"]
        .as_str()
        .unwrap()
        .contains("freeze threshold 100000"));
    assert_eq!(
        table["sql"],
        "VACUUM (FREEZE, VERBOSE) \"public\".\"frozen_late\""
    );
    // The remedy works once the horizon is released.
    holder.batch_execute("COMMIT").await.unwrap();
    c.batch_execute("VACUUM (FREEZE) frozen_late")
        .await
        .unwrap();
    let (_, v, _) = check_json(&url(&p), &[]);
    assert!(!of_rule(&v, "transaction-id-wraparound")
        .iter()
        .any(|(o, _)| o == "public.frozen_late"));
    drop(c);
    drop(holder);
    tokio::task::spawn_blocking(move || s.stop()).await.unwrap();
}
