//! `dbopt bench queries` against a real throwaway server: a deliberately slowed statement fails
//! its budget and the baseline comparison (with the plan change reported), the unchanged
//! workload passes, and the shipped demo workload passes with its generous budgets. Margins are
//! wide (a 200 ms sleep against a 50 ms budget) so a busy machine cannot turn CI red.

mod common;

use std::path::Path;

use common::{assert_clean_error, dbopt, fresh_db, setup_conn};
use dbopt::bench::workload::BuiltIn;
use dbopt::pg::ConnParams;

fn run(p: &ConnParams, file: &Path, extra: &[&str]) -> std::process::Output {
    dbopt()
        .args(["bench", "queries", file.to_str().unwrap()])
        .args(["--database-url", &p.url_with_password()])
        .args(["--warmup", "0", "--duration", "300ms"])
        .args(extra)
        .output()
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_slowed_statement_fails_its_budget_and_a_fast_one_passes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("q_budget"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("budget.toml");
    std::fs::write(
        &file,
        r#"
repeat = 2
budgets = ["errors < 1%"]
[[statement]]
name = "fast"
sql = "SELECT $1::int + 1"
params = ["int:1..100"]
budgets = ["p95 < 1s", "p99 < 2s"]
[[statement]]
name = "slow"
sql = "SELECT pg_sleep(0.2)"
budgets = ["p95 < 50ms"]
"#,
    )
    .unwrap();
    let report = dir.path().join("report.json");
    let out = run(&p, &file, &["--report", report.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains("FAIL: p95 < 50"), "{text}");
    assert!(text.contains("FAIL: 1 of 5 checks failed"), "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v["passed"], false);
    let fast = &v["statements"][0];
    assert_eq!(fast["name"], "fast");
    assert!(
        fast["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["passed"] == true),
        "{fast}"
    );
    assert_eq!(fast["runs"].as_array().unwrap().len(), 2);
    let slow = &v["statements"][1];
    assert!(
        slow["latency"]["p95_ms"].as_f64().unwrap() >= 200.0,
        "{slow}"
    );
    assert_eq!(slow["checks"][1]["passed"], false, "{slow}");

    // JUnit for CI systems: one case per statement and budget, the slow one failing.
    let out = run(&p, &file, &["--format", "junit", "--repeat", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let xml = stdout(&out);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("tests=\"5\" failures=\"1\""), "{xml}");
    assert!(xml.contains("name=\"p95 &lt; 50.0 ms\""), "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
}

#[test]
fn baseline_catches_a_slowed_statement_and_the_lost_index() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("q_baseline"));
    rt.block_on(async {
        setup_conn(&p)
            .await
            .batch_execute(
                "CREATE TABLE t (id serial PRIMARY KEY, k int NOT NULL, pad text NOT NULL);
                 INSERT INTO t (k, pad) SELECT g, repeat('x', 40) FROM generate_series(1, 200000) g;
                 CREATE INDEX t_k ON t (k);
                 ANALYZE t;
                 CREATE FUNCTION work(n int) RETURNS int LANGUAGE sql AS 'SELECT n';",
            )
            .await
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regress.toml");
    std::fs::write(
        &file,
        r#"
repeat = 3
noise_floor = "20ms"
budgets = ["p95 +50%"]
[[statement]]
name = "lookup"
sql = "SELECT pad FROM t WHERE k = $1"
params = ["int:1..200000"]
[[statement]]
name = "work"
sql = "SELECT work($1)"
params = ["int:1..9"]
"#,
    )
    .unwrap();
    let baseline = dir.path().join("baseline.json");
    let out = run(&p, &file, &["--save-baseline", baseline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert_eq!(b["kind"], "dbopt-bench-queries");
    assert_eq!(
        b["statements"][0]["plan"][0], "Index Scan using t_k on t",
        "{b}"
    );
    // Without a baseline the relative budget is not evaluated.
    assert!(
        stdout(&out).contains("PASS: 0 checks passed"),
        "{}",
        stdout(&out)
    );

    // Unchanged: passes against its own baseline.
    let out = run(&p, &file, &["--baseline", baseline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("PASS: 2 checks passed"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("Plan changes"), "{}", stdout(&out));

    // Slowed: the function sleeps 200 ms, and the index is gone.
    rt.block_on(async {
        setup_conn(&p)
            .await
            .batch_execute(
                "DROP INDEX t_k;
                 CREATE OR REPLACE FUNCTION work(n int) RETURNS int LANGUAGE plpgsql AS
                   'BEGIN PERFORM pg_sleep(0.2); RETURN n; END';",
            )
            .await
            .unwrap();
    });
    let report = dir.path().join("now.json");
    let out = run(
        &p,
        &file,
        &[
            "--baseline",
            baseline.to_str().unwrap(),
            "--format",
            "markdown",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let md = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{md}");
    assert!(md.contains("### Against the baseline"), "{md}");
    let against = md.split("### Against the baseline").nth(1).unwrap();
    let work_row = against
        .lines()
        .find(|l| l.starts_with("| work ") && l.contains("p95"))
        .unwrap_or_else(|| panic!("no regression row for work: {md}"));
    assert!(work_row.contains("REGRESSED"), "{work_row}");
    assert!(md.contains("### Plan changes since the baseline"), "{md}");
    assert!(md.contains("Seq Scan on t"), "{md}");
    assert!(md.contains("an index is no longer used"), "{md}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let work = v["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["statement"] == "work")
        .unwrap();
    assert_eq!(work["regressed"], true);
    assert!(work["change"].as_f64().unwrap() > 10.0, "{work}");
    let change = &v["plan_changes"][0];
    assert_eq!(change["statement"], "lookup");
    assert_eq!(change["lost_index"], true);
}

#[test]
fn the_shipped_demo_workload_passes_its_budgets() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("q_demo"));
    rt.block_on(dbopt::bench::target::prepare(
        &p,
        BuiltIn::DemoLookups,
        0.02,
    ))
    .unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bench/demo-workload.toml");
    let out = run(&p, &file, &["--repeat", "1", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["statements"].as_array().unwrap().len(), 6);
    for s in v["statements"].as_array().unwrap() {
        assert_eq!(s["errors"], 0, "{s}");
        assert!(s["iterations"].as_u64().unwrap() > 0, "{s}");
        assert!(s["plan"].as_array().is_some_and(|p| !p.is_empty()), "{s}");
    }
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("q_err"));
    let dir = tempfile::tempdir().unwrap();
    let out = run(&p, &dir.path().join("missing.toml"), &[]);
    assert_clean_error(&out, &["cannot read", "missing.toml", "hint:"]);
    let file = dir.path().join("ok.toml");
    std::fs::write(&file, "[[statement]]\nname = \"one\"\nsql = \"SELECT 1\"\n").unwrap();
    let not_json = dir.path().join("baseline.json");
    std::fs::write(&not_json, "{\"kind\": 1}").unwrap();
    let out = run(&p, &file, &["--baseline", not_json.to_str().unwrap()]);
    assert_clean_error(&out, &["invalid baseline file", "hint:", "--save-baseline"]);
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[statement]]\nname = \"one\"\nsql = \"SELECT 1\"\nbudgets = [\"p95 ~ 3\"]\n",
    )
    .unwrap();
    let out = run(&p, &bad, &[]);
    assert_clean_error(&out, &["invalid workload file", "budget", "hint:"]);
    let typo = dir.path().join("typo.toml");
    std::fs::write(
        &typo,
        "[[statement]]\nname = \"broken\"\nsql = \"SELECT * FROM no_such_table\"\n",
    )
    .unwrap();
    let out = run(&p, &typo, &[]);
    assert_clean_error(&out, &["statement \"broken\"", "no_such_table"]);
}
