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

/// `dbopt snapshot -o path` of the database `p`.
fn write_snapshot(path: &std::path::Path, p: &ConnParams) {
    let out = common::dbopt()
        .args([
            "snapshot",
            "-o",
            path.to_str().unwrap(),
            "--database-url",
            &url(p),
        ])
        .output()
        .unwrap();
    common::assert_success(&out);
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
    write_snapshot(&snap, &p);
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

/// An unused index, a duplicate index, a table with dead tuples, a serial near its end, a
/// session idle in transaction.
const UNHEALTHY: &str = "
CREATE TABLE orders (id serial PRIMARY KEY, customer int NOT NULL, note text);
INSERT INTO orders (customer, note) SELECT g % 100, repeat('x', 80) FROM generate_series(1, 40000) g;
CREATE INDEX orders_customer ON orders (customer);
CREATE INDEX orders_customer_again ON orders (customer);
CREATE INDEX orders_note ON orders (note);
SELECT setval('orders_id_seq', 2147000002);
CREATE TABLE churn (id int PRIMARY KEY, v text);
INSERT INTO churn SELECT g, repeat('y', 100) FROM generate_series(1, 30000) g;
ANALYZE;
";

async fn unhealthy(tag: &str) -> ConnParams {
    let p = common::fresh_db(tag).await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(UNHEALTHY).await.unwrap();
    c.batch_execute("SET vacuum_cost_delay = 0; ALTER TABLE churn SET (autovacuum_enabled = off); DELETE FROM churn WHERE id % 10 < 7; ANALYZE churn")
        .await
        .unwrap();
    // Statistics reach the views when the session's counters are flushed.
    c.batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    p
}

#[tokio::test]
async fn unhealthy_database_report_schema_formats_and_exit_codes() {
    let p = unhealthy("chkbad").await;
    let (code, v, stderr) = check_json(&url(&p), &[]);
    assert_eq!(code, Some(0), "no --fail-on: exit 0; {stderr}");
    let f = findings(&v);
    for (rule, object) in [
        ("sequence-near-overflow", "public.orders.id"),
        ("duplicate-index", "public.orders_customer_again"),
        ("table-bloat", "public.churn"),
        ("autovacuum-behind", "public.churn"),
    ] {
        assert!(
            f.iter()
                .any(|(r, o, _)| r == rule && o.contains(object.rsplit('.').next().unwrap())),
            "{rule} on {object} expected in {f:#?}"
        );
    }
    assert!(f.iter().any(|(r, _, _)| r == "unused-index"), "{f:#?}");
    // Critical first, then warning, then info.
    let sev: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    let rank = |s: &str| {
        ["critical", "warning", "info"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    assert!(sev.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "{sev:?}");
    assert_eq!(sev[0], "critical");
    // The schema.
    for key in [
        "schema_version",
        "dbopt_version",
        "source",
        "server",
        "counts",
        "findings",
        "rules",
        "notes",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["source"], "live");
    assert_eq!(v["server"]["database"], p.dbname());
    assert!(v["server"]["server_version_num"].as_i64().unwrap() >= 130_000);
    let areas: Vec<&str> = v["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["area"].as_str().unwrap())
        .collect();
    assert_eq!(areas, ["health", "activity", "catalog", "workload"]);
    let total: u64 = v["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["critical"].as_u64().unwrap()
                + c["warning"].as_u64().unwrap()
                + c["info"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(total as usize, v["findings"].as_array().unwrap().len());
    assert!(v["findings"][0]["area"].is_string());
    assert!(!v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["area"] == "plan"));
    // Exit codes.
    let (code, _, _) = check_json(&url(&p), &["--fail-on", "warning"]);
    assert_eq!(code, Some(1));
    let (code, _, _) = check_json(&url(&p), &["--fail-on", "critical"]);
    assert_eq!(code, Some(1));
    // Human formats: the same findings, grouped.
    let text = |fmt: &str| {
        let out = common::dbopt()
            .args(["check", "--format", fmt, "--database-url", &url(&p)])
            .output()
            .unwrap();
        common::assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let table = text("table");
    assert!(table.contains("critical · health (2)"), "{table}");
    assert!(
        table.contains("ALTER TABLE \"public\".\"orders\" ALTER COLUMN \"id\" TYPE bigint"),
        "{table}"
    );
    let md = text("markdown");
    assert!(
        md.contains("### critical · health (2)") && md.contains("| severity |"),
        "{md}"
    );
    let junit = text("junit");
    assert!(
        junit.starts_with("<?xml")
            && junit.contains("<testcase classname=\"health\" name=\"sequence-near-overflow\">"),
        "{junit}"
    );
    assert!(
        junit.contains("<failure message=\"1 finding(s)\">critical public.orders.id"),
        "{junit}"
    );
    // A bad flag value: one line, exit 2.
    let out = common::dbopt()
        .args(["check", "--fail-on", "severe", "--database-url", &url(&p)])
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["severe"]);
}

#[tokio::test]
async fn from_snapshot_gives_the_same_findings_as_live() {
    let p = unhealthy("chksnap").await;
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("s.json");
    write_snapshot(&snap, &p);
    let (_, live, _) = check_json(&url(&p), &[]);
    let out = common::dbopt()
        .args([
            "check",
            "--format",
            "json",
            "--from-snapshot",
            snap.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    common::assert_success(&out);
    let offline: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings(&offline), findings(&live));
    assert!(offline["source"].as_str().unwrap().starts_with("snapshot "));
    assert_eq!(
        offline["server"]["server_version_num"],
        live["server"]["server_version_num"]
    );
}

#[tokio::test]
async fn demo_database_has_no_health_findings() {
    let (p, _) = common::demo_db("chkdemo", 0.01, 7).await;
    let (code, v, stderr) = check_json(&url(&p), &["--fail-on", "critical"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(v["counts"][0]["area"], "health");
    let health: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["area"] == "health")
        .collect();
    // A fresh server is healthy; the settings review may still suggest (info) what the
    // machine's memory says about the throwaway's defaults.
    assert!(
        health
            .iter()
            .all(|f| f["severity"] == "info" && f["rule"] == "settings-review"),
        "{health:?}"
    );
    assert!(of_rule(&v, "fk-without-index")
        .contains(&("public.lead_assignments".into(), "warning".into())));
}

#[tokio::test]
async fn a_monitoring_role_gets_all_a_bare_role_gets_notes() {
    let p = common::fresh_db("chkrole").await;
    let db = p.dbname().to_string();
    let c = common::setup_conn(&p).await;
    c.batch_execute(SEQUENCES).await.unwrap();
    let (mon, bare) = (format!("mon_{db}"), format!("bare_{db}"));
    let q = dbopt::sql::quote_ident;
    c.batch_execute(&format!(
        "CREATE ROLE {m} LOGIN PASSWORD 'pw-{mon}'; GRANT pg_monitor TO {m};
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {m}; GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {m};
         CREATE ROLE {b} LOGIN PASSWORD 'pw-{bare}';",
        m = q(&mon),
        b = q(&bare)
    ))
    .await
    .unwrap();
    let as_role = |role: &str| {
        let mut r = p.clone();
        r.set("user", role);
        r.set("password", format!("pw-{role}"));
        r.url_with_password()
    };
    let (code, v, stderr) = check_json(&as_role(&mon), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(of_rule(&v, "sequence-near-overflow").len(), 3, "{v}");
    assert!(
        !v["notes"].to_string().contains("sequences:"),
        "{}",
        v["notes"]
    );
    let (code, v, stderr) = check_json(&as_role(&bare), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("sequences: 5 sequence(s) hide their last value"),
        "{notes}"
    );
    assert!(notes.contains("GRANT SELECT ON SEQUENCE"), "{notes}");
    assert_eq!(of_rule(&v, "sequence-near-overflow").len(), 0);
    assert!(
        v["server"]["tables"].as_u64().unwrap() >= 5,
        "the catalog is still read"
    );
    c.batch_execute(&format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {m}; REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {m}; DROP ROLE {m}; DROP ROLE {b}",
        m = q(&mon),
        b = q(&bare)
    ))
    .await
    .unwrap();
}

#[test]
fn rules_lists_every_rule_prints_one_and_names_the_closest() {
    let out = common::dbopt()
        .args(["rules", "--format", "json"])
        .output()
        .unwrap();
    common::assert_success(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), dbopt::rules::RULES.len());
    assert!(ids.contains(&"sequence-near-overflow") && ids.contains(&"transaction-id-wraparound"));
    let wrap = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "transaction-id-wraparound")
        .unwrap();
    assert_eq!(wrap["scope"], "health");
    assert_eq!(wrap["defaults"]["critical_age"], 1_000_000_000);
    let out = common::dbopt()
        .args(["rules", "table_bloat"])
        .output()
        .unwrap();
    common::assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("## Why is this bad?") && text.contains("[rules.table-bloat]\n"),
        "{text}"
    );
    assert!(text.contains("min_bytes = 1048576"), "{text}");
    // The printed block is a valid dbopt.toml.
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("dbopt.toml");
    let (_, block) = text.split_once("\n[rules.").expect("a [rules.] block");
    std::fs::write(&toml, format!("[rules.{block}")).unwrap();
    let out = common::dbopt()
        .args(["rules", "--config", toml.to_str().unwrap()])
        .output()
        .unwrap();
    common::assert_success(&out);
    std::fs::write(&toml, "[rules.table-bloat]\nmin_byte = 1\n").unwrap();
    let out = common::dbopt()
        .args(["rules", "--config", toml.to_str().unwrap()])
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["unknown field `min_byte`"]);
    let out = common::dbopt()
        .args(["rules", "tabel-bloat"])
        .output()
        .unwrap();
    common::assert_clean_error(
        &out,
        &["no rule named \"tabel-bloat\"", "did you mean table-bloat?"],
    );
}

/// `dbopt check --demo`, as the README shows it: its own throwaway server with the demo data
/// and workload, the report, the server removed afterwards.
#[test]
fn check_on_the_demo_as_a_new_user_runs_it() {
    let out = common::dbopt()
        .args([
            "check", "--demo", "--scale", "0.01", "--rounds", "2", "--format", "json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON report ({e}); stderr: {stderr}"));
    assert_eq!(v["server"]["database"], "dbopt_demo");
    assert!(of_rule(&v, "fk-without-index")
        .contains(&("public.lead_assignments".into(), "warning".into())));
    // The demo's statements were read: the workload rules ran on them.
    assert!(stderr.contains("ran ") && stderr.contains("statements of the demo workload"));
    let out = common::dbopt()
        .args(["check", "--demo", "--from-snapshot", "x.json"])
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["--demo and --from-snapshot"]);
}
