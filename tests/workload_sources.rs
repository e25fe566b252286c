//! Workload sources on real input: the log files a PostgreSQL server writes itself
//! (log_min_duration_statement = 0, in stderr, csvlog and jsonlog at once, with auto_explain),
//! SQL files and stdin, and bad input (a foreign file, a truncated log).

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dbopt::pg::throwaway::{Throwaway, ThrowawayOptions};
use dbopt::workload::log::{self, LogFormat, DEFAULT_PREFIX};
use dbopt::workload::Workload;

/// A server logging every statement in all three formats, after a known workload ran.
struct Logged {
    _server: Throwaway,
    dir: PathBuf,
}

static LOGGED: OnceLock<Logged> = OnceLock::new();

const MARKER: &str = "SELECT 'end of the test workload'";

fn logged() -> &'static Logged {
    LOGGED.get_or_init(|| {
        let settings = [
            ("log_min_duration_statement", "0"),
            ("log_destination", "stderr,csvlog,jsonlog"),
            ("logging_collector", "on"),
            ("log_line_prefix", DEFAULT_PREFIX),
            ("log_filename", "pg"),
        ];
        let server = Throwaway::start(&ThrowawayOptions {
            settings: settings
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            ..Default::default()
        })
        .expect("start a logging throwaway server");
        let params = server.params("postgres");
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let c = common::setup_conn(&params).await;
                    c.batch_execute(
                        "CREATE TABLE t (id int PRIMARY KEY, name text);
                         INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 100) g;",
                    )
                    .await
                    .unwrap();
                    for i in 1..=5 {
                        c.simple_query(&format!("SELECT * FROM t WHERE id = {i}"))
                            .await
                            .unwrap();
                    }
                    // Extended protocol: `execute <name>:` lines with DETAIL parameters.
                    for i in 0..3 {
                        c.query("SELECT id FROM t WHERE id > $1", &[&i])
                            .await
                            .unwrap();
                    }
                    c.simple_query("SELECT id,\n       name\n  FROM t\n WHERE name = 'n7'")
                        .await
                        .unwrap();
                    c.batch_execute("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;")
                        .await
                        .unwrap();
                    c.simple_query("SELECT count(*) FROM t WHERE name LIKE 'n1%'")
                        .await
                        .unwrap();
                    c.batch_execute("RESET auto_explain.log_min_duration")
                        .await
                        .unwrap();
                    // log_statement logs the text first; the duration line then has none.
                    c.batch_execute("SET log_statement = 'all'").await.unwrap();
                    for name in ["n3", "n4"] {
                        c.simple_query(&format!("SELECT * FROM t WHERE name = '{name}'"))
                            .await
                            .unwrap();
                    }
                    c.batch_execute("RESET log_statement").await.unwrap();
                    c.simple_query(MARKER).await.unwrap();
                })
        })
        .join()
        .unwrap();
        // The server's logging_collector writes under <data>/log.
        let dir = server.root().join("data").join("log");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let all_there = ["pg.csv", "pg.json", "pg"].iter().all(|f| {
                std::fs::read_to_string(dir.join(f)).is_ok_and(|t| t.contains("end of the test"))
            });
            if all_there {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not write its logs to {}: {:?}",
                dir.display(),
                std::fs::read_dir(&dir)
                    .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Logged {
            _server: server,
            dir,
        }
    })
}

fn file(name: &str) -> PathBuf {
    logged().dir.join(name)
}

fn calls(w: &Workload, query: &str) -> i64 {
    w.statements
        .iter()
        .find(|s| s.query == query)
        .map_or(0, |s| s.calls)
}

fn check_known_workload(w: &Workload, format: &str) {
    assert_eq!(
        calls(w, "SELECT * FROM t WHERE id = $1"),
        5,
        "{format}: simple-protocol statements grouped: {:#?}",
        w.statements.iter().map(|s| &s.query).collect::<Vec<_>>()
    );
    assert_eq!(
        calls(w, "SELECT id FROM t WHERE id > $1"),
        3,
        "{format}: extended-protocol executions"
    );
    assert_eq!(
        calls(w, "SELECT id,\n       name\n  FROM t\n WHERE name = $1"),
        1,
        "{format}: multi-line statement"
    );
    assert_eq!(
        calls(w, "SELECT * FROM t WHERE name = $1"),
        2,
        "{format}: log_statement text paired with its duration line"
    );
    let s = w
        .statements
        .iter()
        .find(|s| s.query == "SELECT * FROM t WHERE id = $1")
        .unwrap();
    assert!(s.total_ms > 0.0 && s.max_ms >= s.min_ms, "{format}: {s:?}");
    let explained = w
        .statements
        .iter()
        .find(|s| s.query == "SELECT count(*) FROM t WHERE name LIKE $1")
        .expect("auto-explained statement");
    assert!(
        w.plans
            .iter()
            .any(|p| p.fingerprint == explained.fingerprint && p.plan.contains("Seq Scan on t")),
        "{format}: auto_explain plan attached: {:?}",
        w.plans
    );
}

#[test]
fn server_written_logs_in_every_format() {
    for (name, format) in [
        ("pg", LogFormat::Stderr),
        ("pg.csv", LogFormat::Csv),
        ("pg.json", LogFormat::Json),
    ] {
        let w = log::read_file(&file(name), format, DEFAULT_PREFIX).unwrap();
        check_known_workload(&w, format.name());
        assert!(w.notes.is_empty(), "{}: {:?}", format.name(), w.notes);
    }
}

#[test]
fn the_cli_reads_a_log_and_flags_nothing_slow() {
    let out = common::dbopt()
        .args([
            "queries",
            "--format",
            "json",
            "--log-format",
            "csv",
            "--log",
        ])
        .arg(file("pg.csv"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let q: Vec<&str> = v["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["query"].as_str().unwrap())
        .collect();
    assert!(q.contains(&"SELECT * FROM t WHERE id = $1"), "{q:?}");
    assert!(v["statements"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["source"] == "log"));
}

#[test]
fn a_truncated_log_keeps_the_statements_before_the_cut() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, format) in [("pg.csv", LogFormat::Csv), ("pg.json", LogFormat::Json)] {
        let text = std::fs::read_to_string(file(name)).unwrap();
        // Cut in the middle of the marker's entry (the last statement).
        let at = text.rfind("end of the test").unwrap() - 5;
        let cut = tmp.path().join(name);
        std::fs::write(&cut, &text[..at]).unwrap();
        let w = log::read_file(&cut, format, DEFAULT_PREFIX).unwrap();
        assert_eq!(
            calls(&w, "SELECT * FROM t WHERE id = $1"),
            5,
            "{}",
            format.name()
        );
        assert!(
            w.notes
                .iter()
                .any(|n| n.contains("incomplete") || n.contains("skipped")),
            "{}: {:?}",
            format.name(),
            w.notes
        );
    }
}

#[test]
fn a_foreign_file_or_wrong_prefix_is_a_clear_error() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = common::dbopt()
        .args(["queries", "--log"])
        .arg(&manifest)
        .output()
        .unwrap();
    common::assert_clean_error(
        &out,
        &["is not a PostgreSQL stderr log", "--log-line-prefix"],
    );
    // The server's stderr log read with another server's prefix.
    let out = common::dbopt()
        .args(["queries", "--log-line-prefix", "%t [%p]: [%l-1] ", "--log"])
        .arg(file("pg"))
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["not a PostgreSQL stderr log"]);
    let out = common::dbopt()
        .args(["queries", "--log-format", "json", "--log"])
        .arg(file("pg.csv"))
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["not a PostgreSQL json log"]);
}

#[test]
fn sql_files_and_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("app.sql");
    std::fs::write(
        &f,
        "-- the app's queries\nSELECT * FROM users WHERE id = 1;\nselect * from users where id = 2;\n\
         INSERT INTO notes (body) VALUES ('semi; colon');\nDO $$ BEGIN PERFORM 1; END $$;\n",
    )
    .unwrap();
    let out = common::dbopt()
        .args(["queries", "--format", "json", "--queries"])
        .arg(&f)
        .args(["--queries", "-"])
        .write_stdin("SELECT * FROM users WHERE id = 42")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(String, i64)> = v["statements"]
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
    assert_eq!(
        got.len(),
        3,
        "users lookup (3 calls), insert, DO block: {got:?}"
    );
    assert!(
        got.contains(&(
            "-- the app's queries\nSELECT * FROM users WHERE id = $1".into(),
            3
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&("INSERT INTO notes (body) VALUES ($1)".into(), 1)),
        "{got:?}"
    );
    // An unterminated string with nothing complete before it.
    std::fs::write(&f, "SELECT 'oops").unwrap();
    let out = common::dbopt()
        .args(["queries", "--queries"])
        .arg(&f)
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["app.sql", "no complete statement", "hint:"]);
}
