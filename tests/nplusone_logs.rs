//! N+1 loops found in the server's own logs (csvlog, jsonlog and stderr), offline: a real loop
//! is reported, its twins (the same lookups with no parent statement before them, and one
//! batched `= ANY($1)` query) are not.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dbopt::pg::throwaway::{Throwaway, ThrowawayOptions};

const PREFIX: &str = "%m [%p] %c %q%u@%d ";

fn write_logs() -> (Throwaway, PathBuf) {
    let settings = [
        ("log_min_duration_statement", "0"),
        ("log_destination", "stderr,csvlog,jsonlog"),
        ("logging_collector", "on"),
        ("log_line_prefix", PREFIX),
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
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async move {
            let setup = common::setup_conn(&params).await;
            setup
                .batch_execute(
                    "CREATE TABLE author (id int PRIMARY KEY, kind text);
                     CREATE TABLE book (id int PRIMARY KEY, author_id int REFERENCES author, title text);
                     CREATE TABLE tag (id int PRIMARY KEY, name text);
                     INSERT INTO author SELECT g, CASE WHEN g % 2 = 0 THEN 'x' ELSE 'y' END FROM generate_series(1, 50) g;
                     INSERT INTO book SELECT g, g % 50 + 1, 't' || g FROM generate_series(1, 500) g;
                     INSERT INTO tag SELECT g, 'n' || g FROM generate_series(1, 50) g;",
                )
                .await
                .unwrap();
            // The N+1 loop: a list of authors, then the books of each, one query per author.
            let app = common::setup_conn(&params).await;
            let authors = app.query("SELECT id FROM author WHERE kind = $1 LIMIT 8", &[&"x"]).await.unwrap();
            for a in &authors {
                let id: i32 = a.get(0);
                app.query("SELECT id, title FROM book WHERE author_id = $1", &[&id]).await.unwrap();
            }
            // Twin 1: the same kind of lookups with no parent statement before them.
            let twin = common::setup_conn(&params).await;
            for id in 1..=8i32 {
                twin.query("SELECT id, name FROM tag WHERE id = $1", &[&id]).await.unwrap();
            }
            // Twin 2: the batched form, once.
            let batched = common::setup_conn(&params).await;
            let ids: Vec<i32> = (1..=8).collect();
            batched.query("SELECT id FROM author WHERE kind = $1 LIMIT 8", &[&"x"]).await.unwrap();
            batched.query("SELECT id, title FROM book WHERE author_id = ANY($1)", &[&ids]).await.unwrap();
            setup.simple_query("SELECT 'end of the n+1 workload'").await.unwrap();
        })
    })
    .join()
    .unwrap();
    let dir = server.root().join("data").join("log");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !["pg.csv", "pg.json", "pg"]
        .iter()
        .all(|f| std::fs::read_to_string(dir.join(f)).is_ok_and(|t| t.contains("end of the n+1")))
    {
        assert!(
            Instant::now() < deadline,
            "the server did not write its logs to {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, dir)
}

#[test]
fn loops_are_found_in_every_log_format_and_twins_are_not() {
    let (_server, dir) = write_logs();
    let cfg = tempfile::NamedTempFile::new().unwrap();
    // The test's lookups are fast: accept any total time (the default asks for 50 ms).
    std::fs::write(cfg.path(), "[rules.n-plus-one]\nlog_min_total_ms = 0.0\n").unwrap();
    for (file, format) in [("pg.csv", "csv"), ("pg.json", "json"), ("pg", "stderr")] {
        let log = dir.join(file);
        let out = common::dbopt()
            .args(["nplusone", "--format", "json", "--config"])
            .arg(cfg.path())
            .args(["--log-format", format, "--log-line-prefix", PREFIX, "--log"])
            .arg(&log)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let loops = v["loops"].as_array().unwrap();
        assert_eq!(
            loops.len(),
            1,
            "{format}: exactly the author -> book loop: {v:#}"
        );
        let l = &loops[0];
        assert!(
            l["child"]
                .to_string()
                .contains("FROM book WHERE author_id = $1"),
            "{format}: {l:#}"
        );
        assert!(
            l["parent"].to_string().contains("FROM author"),
            "{format}: {l:#}"
        );
        assert!(
            l["rewrite"].as_str().unwrap().contains("ANY($1)"),
            "{format}: {l:#}"
        );
        assert!(
            !v.to_string().contains("FROM tag"),
            "{format}: the parentless lookups are not a loop"
        );
    }
}

#[test]
fn a_log_without_timed_statements_is_a_clear_error() {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), "this is not a PostgreSQL log\n").unwrap();
    let out = common::dbopt()
        .args(["nplusone", "--log-format", "csv", "--log"])
        .arg(f.path())
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["no timed statements", "hint:"]);
}
