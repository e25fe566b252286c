//! `--format html` in a real browser: the reports of `advise` and `check` on a real server
//! with a sequential-scan workload, and of a `bench pool` ramp that runs into a connection
//! limit, opened in headless Chromium through chromedriver. The page must load without a
//! console error, run no script (a table is named `<script>...`), show the numbers the JSON
//! report holds, and leave a screenshot in target/test-artifacts/. Commands without an HTML
//! report refuse the format.

mod common;
mod webdriver;

use std::collections::BTreeMap;

use dbopt::pg::ConnParams;
use serde_json::Value;
use webdriver::Browser;

const EVIL: &str = "<script>alert(1)</script>";

/// Two tables read by sequential scans (one named like markup), and their workload.
async fn seq_scan_db(tag: &str) -> ConnParams {
    let p = common::fresh_db(tag).await;
    let c = common::setup_conn(&p).await;
    let evil = dbopt::sql::quote_ident(EVIL);
    c.batch_execute(&format!(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, note text);
         INSERT INTO orders SELECT g, g % 5000, (ARRAY['new','paid','sent'])[g % 3 + 1], md5(g::text) FROM generate_series(1, 100000) g;
         CREATE TABLE {evil} (id bigint PRIMARY KEY, k int NOT NULL);
         INSERT INTO {evil} SELECT g, g % 3000 FROM generate_series(1, 60000) g;
         ANALYZE;"
    ))
    .await
    .expect("set-up");
    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    for i in 0..60 {
        c.batch_execute(&format!(
            "SELECT * FROM orders WHERE customer_id = {};
             SELECT id FROM {evil} WHERE k = {};",
            i * 7 % 5000,
            i * 11 % 3000
        ))
        .await
        .unwrap();
    }
    p
}

/// `dbopt ARGS --format FORMAT --database-url P`: it must succeed; its stdout.
fn run(p: &ConnParams, args: &[&str], format: &str) -> Vec<u8> {
    let out = common::dbopt()
        .args(args)
        .args(["--format", format, "--database-url", &p.url_with_password()])
        .output()
        .unwrap();
    common::assert_success(&out);
    out.stdout
}

/// The JSON report and the HTML page (written to a file) of the same command on `p`.
fn reports(p: &ConnParams, args: &[&str], dir: &tempfile::TempDir) -> (Value, std::path::PathBuf) {
    let json = serde_json::from_slice(&run(p, args, "json")).expect("JSON report");
    let html = run(p, args, "html");
    let path = dir.path().join(format!("{}.html", args[0]));
    std::fs::write(&path, html).unwrap();
    (json, path)
}

/// Open the page; it must be loaded, run no script, show the user text `shows` as text, and
/// log nothing worse than info.
fn open_clean(b: &Browser, page: &std::path::Path, title: &str, shows: &str) {
    b.open(page);
    assert_eq!(b.eval("return document.readyState"), "complete");
    assert_eq!(b.eval("return document.title").as_str(), Some(title));
    assert_eq!(
        b.eval("return document.scripts.length"),
        0,
        "a script element"
    );
    let text = b.eval("return document.body.innerText");
    assert!(
        text.as_str().unwrap().contains(shows),
        "{shows} shows as text"
    );
    let bad: Vec<Value> = b
        .log()
        .into_iter()
        .filter(|e| e["level"] != "INFO" && e["level"] != "DEBUG")
        .collect();
    assert!(bad.is_empty(), "console errors: {bad:?}");
    // The log is really read: a console error put there now is seen.
    b.eval("console.error('dbopt-probe'); return 0");
    let probe = b.log();
    assert!(
        probe.iter().any(|e| e["level"] == "SEVERE"
            && e["message"].as_str().unwrap_or("").contains("dbopt-probe")),
        "the browser log does not show a console error: {probe:?}"
    );
    // Every chart is drawn with a size.
    let charts = b.eval(
        "return [...document.querySelectorAll('svg.chart')].map(s => s.getBoundingClientRect().width)",
    );
    let charts = charts.as_array().unwrap();
    assert!(!charts.is_empty(), "no chart");
    assert!(
        charts.iter().all(|w| w.as_f64().unwrap() > 300.0),
        "{charts:?}"
    );
}

/// The `data-*` attributes of every element matching `selector`.
fn data_of(b: &Browser, selector: &str) -> Vec<BTreeMap<String, String>> {
    let v = b.eval(&format!(
        "return [...document.querySelectorAll({})].map(e => Object.assign({{}}, e.dataset))",
        serde_json::to_string(selector).unwrap()
    ));
    serde_json::from_value(v).unwrap()
}

fn num(m: &BTreeMap<String, String>, k: &str) -> f64 {
    m.get(k)
        .unwrap_or_else(|| panic!("no data-{k} in {m:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("data-{k}: {e}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test]
async fn advise_page_in_a_browser_matches_the_json_report() {
    let p = seq_scan_db("htmladv").await;
    let dir = tempfile::tempdir().unwrap();
    let (json, page) = reports(&p, &["advise"], &dir);
    let recs = json["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 2, "both scanned tables get an index: {json}");
    let b = Browser::start();
    open_clean(&b, &page, "dbopt advise", EVIL);

    let shown = data_of(&b, "tr.recommendation");
    assert_eq!(shown.len(), recs.len());
    for (row, rec) in shown.iter().zip(recs) {
        let stmts = rec["statements"].as_array().unwrap();
        let weighted = |k: &str| -> f64 { stmts.iter().map(|s| f(&s[k]) * f(&s["calls"])).sum() };
        assert_eq!(row["index"], rec["name"].as_str().unwrap());
        assert_eq!(num(row, "sizeBytes"), f(&rec["size_bytes"]), "{row:?}");
        assert_eq!(num(row, "statements"), stmts.len() as f64);
        assert_eq!(num(row, "costBefore"), weighted("cost_before"), "{row:?}");
        assert_eq!(num(row, "costAfter"), weighted("cost_after"), "{row:?}");
        assert!(num(row, "costAfter") < num(row, "costBefore"));
    }
    let per_statement = data_of(&b, "tr.statement");
    let from_json: Vec<(String, f64, f64, f64)> = recs
        .iter()
        .flat_map(|r| r["statements"].as_array().unwrap().iter())
        .map(|s| {
            let fp = s["fingerprint"].as_str().unwrap().to_string();
            (
                fp,
                f(&s["calls"]),
                f(&s["cost_before"]),
                f(&s["cost_after"]),
            )
        })
        .collect();
    let from_page: Vec<(String, f64, f64, f64)> = per_statement
        .iter()
        .map(|m| {
            let fp = m["fingerprint"].clone();
            (
                fp,
                num(m, "calls"),
                num(m, "costBefore"),
                num(m, "costAfter"),
            )
        })
        .collect();
    assert_eq!(from_page, from_json);
    // Two bars per statement in the cost chart.
    let bars =
        b.eval("return document.querySelector('svg.chart').querySelectorAll('g.row rect').length");
    assert_eq!(f(&bars), 2.0 * from_json.len() as f64);
    let workload = &data_of(&b, "p.workload")[0];
    assert_eq!(
        num(workload, "costBefore"),
        f(&json["workload"]["cost_before"])
    );
    assert_eq!(
        num(workload, "costAfter"),
        f(&json["workload"]["cost_after"])
    );
    let body = &data_of(&b, "body")[0];
    assert_eq!(
        num(body, "findings"),
        json["findings"].as_array().unwrap().len() as f64
    );
    let shot = b.screenshot("html_report_advise");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "{}",
        shot.display()
    );
}

#[tokio::test]
async fn check_page_in_a_browser_matches_the_json_report() {
    let p = seq_scan_db("htmlchk").await;
    // Sequences near the end of their column type: a critical and a warning finding.
    common::setup_conn(&p)
        .await
        .batch_execute(
            "CREATE TABLE ticket (id serial PRIMARY KEY);
             SELECT setval('ticket_id_seq', 2147000002);
             CREATE TABLE badge (id serial PRIMARY KEY);
             SELECT setval('badge_id_seq', 1700000000);",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (json, page) = reports(&p, &["check", "--advise"], &dir);
    let b = Browser::start();
    open_clean(
        &b,
        &page,
        &format!(
            "dbopt check · {}",
            json["server"]["database"].as_str().unwrap()
        ),
        EVIL,
    );

    let findings = json["findings"].as_array().unwrap();
    assert!(
        !findings.is_empty(),
        "the seq-scan workload gives findings: {json}"
    );
    let body = &data_of(&b, "body")[0];
    for level in ["critical", "warning", "info"] {
        let n = findings.iter().filter(|x| x["severity"] == level).count();
        assert_eq!(num(body, level), n as f64, "{level}");
        let card = &data_of(&b, &format!(".card[data-{level}]"))[0];
        assert_eq!(num(card, level), n as f64, "{level} card");
    }
    let areas = data_of(&b, "tr.area");
    let counts = json["counts"].as_array().unwrap();
    assert_eq!(areas.len(), counts.len());
    for (row, c) in areas.iter().zip(counts) {
        assert_eq!(row["area"], c["area"].as_str().unwrap());
        for level in ["critical", "warning", "info"] {
            assert_eq!(num(row, level), f(&c[level]), "{row:?}");
        }
    }
    let rows: Vec<(String, String, String)> = data_of(&b, "tr.finding")
        .into_iter()
        .map(|m| {
            (
                m["severity"].clone(),
                m["rule"].clone(),
                m["object"].clone(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = findings
        .iter()
        .map(|x| {
            let s = |k: &str| x[k].as_str().unwrap().to_string();
            (s("severity"), s("rule"), s("object"))
        })
        .collect();
    assert_eq!(rows, expected, "the findings, in the report's order");
    let recs = json["advice"]["recommendations"].as_array().unwrap();
    assert!(!recs.is_empty(), "{json}");
    let shown = data_of(&b, "tr.recommendation");
    assert_eq!(shown.len(), recs.len());
    for (row, rec) in shown.iter().zip(recs) {
        assert_eq!(row["index"], rec["name"].as_str().unwrap());
        assert_eq!(num(row, "sizeBytes"), f(&rec["size_bytes"]));
        assert_eq!(num(row, "statements"), f(&rec["statements"]));
    }
    let shot = b.screenshot("html_report_check");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "{}",
        shot.display()
    );
}

/// A workload named like markup, each request holding its connection for 2 ms.
const RAMP_WORKLOAD: &str = "<ramp&co>";
const SLEEPY: &str = r#"
[[statement]]
name = "hold"
sql = "SELECT pg_sleep(0.002), $1::int"
params = ["int:1..10"]
"#;

/// `bench pool --profile smoke` (steps 1 and the pool size, 8) as a role allowed 3 sessions:
/// the last step has refused connections. The page and its JSON twin are two runs, so the
/// measured figures differ between them; the steps' shape (clients, pool size, which steps
/// were refused) must match, and every figure in a row's `data-*` must be the one its
/// table cells show (the unit tests prove the attributes are the JSON's numbers).
#[tokio::test]
async fn bench_pool_page_in_a_browser_matches_the_json_report() {
    let p = common::fresh_db("htmlpool").await;
    let role = "dbopt_html_pool_limit3";
    common::setup_conn(&p)
        .await
        .batch_execute(&format!(
            "CREATE ROLE {} LOGIN PASSWORD 'pw' CONNECTION LIMIT 3",
            dbopt::sql::quote_ident(role)
        ))
        .await
        .unwrap();
    let url = format!(
        "postgresql://{role}:pw@127.0.0.1:{}/{}?sslmode=disable",
        common::server().port(),
        p.dbname()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{RAMP_WORKLOAD}.toml"));
    std::fs::write(&file, SLEEPY).unwrap();
    let ramp = |format: &str| -> Vec<u8> {
        let out = common::dbopt()
            .args(["bench", "pool", "--profile", "smoke", "--pool-size", "8"])
            .args(["--workload-file", file.to_str().unwrap(), "--threads", "1"])
            .args(["--format", format, "--database-url", &url])
            .output()
            .unwrap();
        common::assert_success(&out);
        out.stdout
    };
    let json: Value = serde_json::from_slice(&ramp("json")).expect("JSON report");
    let page = dir.path().join("bench-pool.html");
    std::fs::write(&page, ramp("html")).unwrap();
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{json}");
    assert_eq!(json["refused_from"], 8, "{json}");
    let b = Browser::start();
    open_clean(
        &b,
        &page,
        &format!("dbopt bench pool · {RAMP_WORKLOAD}"),
        RAMP_WORKLOAD,
    );
    let rows = data_of(&b, "tr.step");
    assert_eq!(rows.len(), steps.len());
    for (row, s) in rows.iter().zip(steps) {
        assert_eq!(num(row, "concurrency"), f(&s["concurrency"]), "{row:?}");
        assert_eq!(num(row, "poolSize"), f(&s["pool_size"]), "{row:?}");
        let refused = |v: f64| v > 0.0;
        assert_eq!(refused(num(row, "refused")), refused(f(&s["refused"])));
        assert!(num(row, "ok") > 0.0, "{row:?}");
    }
    // Each row's cells are its data-* figures: req/s, errors, refused, p95, p99.
    let cells = b.eval(
        "return [...document.querySelectorAll('tr.step')].map(r => [...r.cells].map(c => c.innerText))",
    );
    for (row, cells) in rows.iter().zip(cells.as_array().unwrap()) {
        let cell = |i: usize| cells[i].as_str().unwrap().to_string();
        let ms = |k: &str| dbopt::bench::histogram::ms(num(row, k));
        assert_eq!(cell(2), format!("{:.0}", num(row, "throughput")), "{row:?}");
        assert_eq!(cell(3), row["errors"]);
        assert_eq!(cell(4), row["refused"]);
        assert_eq!((cell(7), cell(8)), (ms("p95Ms"), ms("p99Ms")), "{row:?}");
    }
    // The chart: three lines of a point per step, the knee and the refused step marked.
    let drawn =
        |sel: &str| f(&b.eval(&format!("return document.querySelectorAll('{sel}').length")));
    assert_eq!(drawn("svg.lines g.line polyline"), 3.0);
    assert_eq!(drawn("svg.lines g.line circle"), 3.0 * steps.len() as f64);
    assert_eq!(drawn("svg.lines g.mark.refused"), 1.0);
    let knee = &data_of(&b, ".card[data-knee]")[0];
    if json["knee"].is_null() {
        assert_eq!(knee["knee"], "none");
    } else {
        assert_eq!(num(knee, "knee"), f(&json["knee"]["at"]));
        assert_eq!(drawn("svg.lines g.mark.knee"), 1.0);
    }
    let body = &data_of(&b, "body")[0];
    assert_eq!(num(body, "steps"), steps.len() as f64);
    assert_eq!(body["vary"], "clients");
    let refused_card = &data_of(&b, ".card[data-refused-from]")[0];
    assert_eq!(num(refused_card, "refusedFrom"), 8.0);
    let shot = b.screenshot("html_report_bench_pool");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "{}",
        shot.display()
    );
}

#[test]
fn commands_without_an_html_report_refuse_it() {
    for args in [
        &["tables"][..],
        &["bench", "queries", "w.toml"][..],
        &["doctor"][..],
    ] {
        let out = common::dbopt()
            .args(args)
            .args([
                "--format",
                "html",
                "--database-url",
                "postgresql://nobody@127.0.0.1:1/x",
            ])
            .output()
            .unwrap();
        common::assert_clean_error(
            &out,
            &[
                "--format html",
                "dbopt advise",
                "dbopt check",
                "dbopt bench pool",
            ],
        );
    }
    // The comparison with pgbench has no page either, and says so before running anything.
    let out = common::dbopt()
        .args(["bench", "pool", "--compare-pgbench", "--format", "html"])
        .args(["--database-url", "postgresql://nobody@127.0.0.1:1/x"])
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["--format html", "--compare-pgbench"]);
}
