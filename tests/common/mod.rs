//! The integration-test harness: one throwaway Postgres per test binary, a fresh database per
//! test. There is no skip: if the server cannot start, every test fails and says why.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use dbopt::pg::throwaway::{Throwaway, ThrowawayOptions};
use dbopt::pg::{self, ConnParams, SessionOptions};

static SERVER: OnceLock<Throwaway> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The binary's shared server. Never dropped: its watchdog removes it when the process exits.
pub fn server() -> &'static Throwaway {
    SERVER.get_or_init(|| match Throwaway::start(&ThrowawayOptions::default()) {
        Ok(s) => s,
        Err(e) => panic!(
            "cannot start the throwaway PostgreSQL these tests need: {e} ({}). Install the server binaries \
             (Debian: apt-get install postgresql-15 postgresql-15-hypopg) or set DBOPT_PG_BINDIR.",
            e.hint().unwrap_or_default()
        ),
    })
}

/// A new empty database on the shared server (with pg_stat_statements and hypopg from template1).
pub async fn fresh_db(tag: &str) -> ConnParams {
    let s = server();
    let name = format!(
        "t_{}_{}_{}",
        tag,
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let admin = pg::connect(&s.params("postgres"), &writable())
        .await
        .expect("connect to the throwaway server");
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {}",
            dbopt::sql::quote_ident(&name)
        ))
        .await
        .expect("create test database");
    s.params(&name)
}

/// A fresh database with the demo data at `scale` from `seed`, and the options it was loaded
/// with (their `anchor` is the "now" of the data, for the demo workload).
pub async fn demo_db(
    tag: &str,
    scale: f64,
    seed: u64,
) -> (ConnParams, dbopt::bench::demo::DemoOptions) {
    let p = fresh_db(tag).await;
    let opts = dbopt::bench::demo::DemoOptions {
        scale,
        seed,
        ..Default::default()
    };
    dbopt::bench::demo::load(&p, &opts, &|_, _| {})
        .await
        .expect("load the demo data");
    (p, opts)
}

/// Session options for test set-up, which writes.
pub fn writable() -> SessionOptions {
    SessionOptions::unrestricted()
}

/// Connect for set-up (read-write).
pub async fn setup_conn(p: &ConnParams) -> pg::Conn {
    pg::connect(p, &writable())
        .await
        .expect("connect for test set-up")
}

/// `dbopt` as a process, with a clean environment for connection variables.
pub fn dbopt() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("dbopt").expect("dbopt binary");
    for v in [
        "DATABASE_URL",
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGDATABASE",
        "PGSSLMODE",
        "PGAPPNAME",
        "PGPASSFILE",
    ] {
        c.env_remove(v);
    }
    c.env("NO_COLOR", "1");
    c
}

/// The first column of the one row `sql` returns (a count, a flag, a setting).
pub async fn scalar<T>(c: &tokio_postgres::Client, sql: &str) -> T
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    c.query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// The command exited 0; else the test fails with what it printed on stderr.
pub fn assert_success(out: &std::process::Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `dbopt <command> --format json --database-url <p>`: it must succeed; its JSON report.
pub fn json_report(command: &str, p: &ConnParams) -> serde_json::Value {
    let out = dbopt()
        .args([
            command,
            "--format",
            "json",
            "--database-url",
            &p.url_with_password(),
        ])
        .output()
        .unwrap();
    assert_success(&out);
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// Every failure the CLI reports must be one `error: ...` line, exit 2, and no panic.
pub fn assert_clean_error(out: &std::process::Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(!stderr.contains("stack backtrace"), "backtrace: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "expected {n:?} in: {stderr}");
    }
    stderr
}
