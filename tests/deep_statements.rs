//! Generated statements of extreme size, as a user feeds them to dbopt: a 40,000-term AND chain
//! and 15,000 UNION branches once aborted the process (stack overflow, exit 134) in `queries`,
//! `advise` and `explain -f`, and a one-line 30,000-value IN list took seconds to normalize.
//! Now the deep ones are reported as too large to analyse, the rest of the file is analysed,
//! and nothing aborts.

mod common;

use std::time::Instant;

use serde_json::Value;

const TOO_LARGE: &str = "statement too large to analyse (nesting deeper than 1000)";

fn and_chain(n: usize) -> String {
    let terms: Vec<String> = (0..n).map(|i| format!("a = {i}")).collect();
    format!("SELECT * FROM t WHERE {}", terms.join(" AND "))
}

fn union_chain(n: usize) -> String {
    (0..n)
        .map(|i| format!("SELECT id FROM t WHERE a = {i}"))
        .collect::<Vec<_>>()
        .join(" UNION ")
}

/// A script with both deep statements around one ordinary statement.
fn deep_script(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("deep.sql");
    std::fs::write(
        &file,
        format!(
            "{};\nSELECT * FROM t WHERE a = 42;\n{};\n",
            and_chain(40_000),
            union_chain(15_000)
        ),
    )
    .unwrap();
    file
}

/// Not killed by a signal (an abort is SIGABRT, exit 134 from a shell) and no panic.
fn assert_no_abort(out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some(), "killed by a signal: {stderr}");
    assert!(!stderr.contains("overflow"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

async fn table_t(tag: &str) -> dbopt::pg::ConnParams {
    let p = common::fresh_db(tag).await;
    common::setup_conn(&p)
        .await
        .batch_execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, a int NOT NULL, b text NOT NULL);
             INSERT INTO t SELECT g, g % 5000, md5(g::text) FROM generate_series(1, 200000) g;
             ANALYZE;",
        )
        .await
        .unwrap();
    p
}

#[test]
fn queries_flags_deep_statements_and_reads_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = deep_script(dir.path());
    let out = common::dbopt()
        .args(["queries", "--format", "json", "--queries"])
        .arg(&file)
        .output()
        .unwrap();
    assert_no_abort(&out);
    common::assert_success(&out);
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(r["statements_total"], 3, "{}", r["notes"]);
    let flagged: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "statement-too-large")
        .collect();
    assert_eq!(flagged.len(), 2, "{}", r["findings"]);
    for f in &flagged {
        assert!(f["message"].as_str().unwrap().starts_with(TOO_LARGE), "{f}");
    }
    let queries: Vec<&str> = r["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["query"].as_str().unwrap())
        .collect();
    assert!(
        queries.contains(&"SELECT * FROM t WHERE a = $1"),
        "{queries:?}"
    );
}

#[tokio::test]
async fn advise_skips_deep_statements_and_advises_the_rest() {
    let p = table_t("deep_advise").await;
    let dir = tempfile::tempdir().unwrap();
    let file = deep_script(dir.path());
    let out = common::dbopt()
        .args(["advise", "--format", "json", "--database-url"])
        .arg(p.url_with_password())
        .arg("--queries")
        .arg(&file)
        .output()
        .unwrap();
    assert_no_abort(&out);
    common::assert_success(&out);
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let too_large = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["reason"] == TOO_LARGE)
        .count();
    assert_eq!(too_large, 2, "{}", r["skipped"]);
    let recs: Vec<(String, Value)> = r["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["table"].as_str().unwrap().to_string(),
                x["columns"].clone(),
            )
        })
        .collect();
    assert_eq!(
        recs,
        [("public.t".to_string(), serde_json::json!(["\"a\""]))],
        "the ordinary statement is still advised"
    );
}

#[tokio::test]
async fn explain_refuses_a_deep_statement_in_one_line() {
    let p = table_t("deep_explain").await;
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [("and", and_chain(40_000)), ("union", union_chain(15_000))] {
        let file = dir.path().join(format!("{name}.sql"));
        std::fs::write(&file, &sql).unwrap();
        let out = common::dbopt()
            .arg("--database-url")
            .arg(p.url_with_password())
            .args(["explain", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        assert_no_abort(&out);
        common::assert_clean_error(&out, &[TOO_LARGE]);
    }
}

/// The whole process on a one-line 30,000-value IN list (normalize, split, rules, report).
/// Only completion is asserted; the figures are the benchmark's (benches/normalize.rs).
#[tokio::test]
async fn a_long_in_list_is_read_in_one_pass() {
    let p = table_t("deep_inlist").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.sql");
    let values: Vec<String> = (0..30_000).map(|i| i.to_string()).collect();
    std::fs::write(
        &file,
        format!("SELECT * FROM t WHERE a IN ({});\n", values.join(", ")),
    )
    .unwrap();
    let started = Instant::now();
    let out = common::dbopt()
        .args(["queries", "--format", "json", "--database-url"])
        .arg(p.url_with_password())
        .arg("--queries")
        .arg(&file)
        .output()
        .unwrap();
    eprintln!(
        "queries on a 30,000-value IN list: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_no_abort(&out);
    common::assert_success(&out);
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let q = r["statements"][0]["query"].as_str().unwrap();
    let tail: String = q
        .chars()
        .skip(q.chars().count().saturating_sub(40))
        .collect();
    assert!(q.ends_with("$29999, $30000)"), "{tail}");
}
