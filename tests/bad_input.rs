//! Bad input through the real binary against the throwaway server: SQL files that cannot be
//! parsed, are another dialect, are binary or name only tables the database lacks; logs with no
//! statement; `--include`/`--exclude` naming no table; out-of-range percentages. Each either
//! warns once per bad statement and goes on, or fails with one `error: ...; hint: ...` line and
//! exit 2, never "No index is worth building" with exit 0. And no output, error or file ever
//! holds the connection's password.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_clean_error, assert_success, dbopt, fresh_db, setup_conn};
use dbopt::pg::ConnParams;
use serde_json::Value;

/// A database with `orders` (50,000 rows) and `"Weird Table"` (20,000 rows), analyzed.
async fn shop(tag: &str) -> ConnParams {
    let p = fresh_db(tag).await;
    setup_conn(&p)
        .await
        .batch_execute(
            r#"CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text);
               INSERT INTO orders SELECT g, g % 1000, 'new' FROM generate_series(1, 50000) g;
               CREATE TABLE "Weird Table" (id int, v int);
               INSERT INTO "Weird Table" SELECT g, g % 500 FROM generate_series(1, 20000) g;
               ANALYZE;"#,
        )
        .await
        .unwrap();
    p
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let f = dir.path().join(name);
    std::fs::write(&f, bytes).unwrap();
    f
}

fn advise(p: &ConnParams, file: &Path, extra: &[&str]) -> std::process::Output {
    dbopt()
        .args(["advise", "--format", "json", "--database-url"])
        .arg(p.url_with_password())
        .arg("--queries")
        .arg(file)
        .args(extra)
        .output()
        .unwrap()
}

fn warnings(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .map(str::to_string)
        .collect()
}

/// The tables the report recommends an index on.
fn advised_tables(out: &std::process::Output) -> Vec<String> {
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    v["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["table"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn each_unparsable_statement_is_one_warning_and_the_rest_is_advised() {
    let p = shop("bad_mixed").await;
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "mixed.sql",
        "selec * form orders;\n-- MySQL\nSELECT `id` FROM orders LIMIT 1, 2;\n\
         select * from orders where customer_id = 42;\n",
    );
    let out = advise(&p, &f, &[]);
    assert_success(&out);
    let w = warnings(&out);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with(&format!(
            "warning: {}: statement 1 (line 1): cannot parse",
            f.display()
        )),
        "{w:?}"
    );
    assert!(
        w[1].contains(": statement 2 (line 2): cannot parse"),
        "{w:?}"
    );
    assert_eq!(advised_tables(&out), ["public.orders"]);

    // Many bad statements: the first 20, then how many more; no statement text in the lines.
    let mut text = String::from("select * from orders where customer_id = 7;\n");
    for i in 0..25 {
        text.push_str(&format!(
            "SELECT `c{i}` FROM orders WHERE `x` = '{}';\n",
            "y".repeat(5000)
        ));
    }
    let f = write(&dir, "many.sql", text);
    let out = advise(&p, &f, &[]);
    assert_success(&out);
    let w = warnings(&out);
    assert_eq!(w.len(), 21, "{w:?}");
    assert!(w[19].contains("statement 21 (line 21)"), "{w:?}");
    assert_eq!(w[20], "warning: and 5 more statement(s) dbopt cannot parse");
    assert!(w.iter().all(|l| l.chars().count() < 400), "{w:?}");
}

#[tokio::test]
async fn input_with_nothing_usable_exits_2_with_a_hint() {
    let p = shop("bad_nothing").await;
    let dir = tempfile::tempdir().unwrap();
    // Another dialect: no statement parses.
    let mysql = write(
        &dir,
        "mysql.sql",
        "SELECT `id` FROM `orders` WHERE `status` = 'new' LIMIT 10, 20;\nSHOW TABLES LIKE `o%`;\n",
    );
    let err = assert_clean_error(
        &advise(&p, &mysql, &[]),
        &[
            "none of the 2 statement(s)",
            "can be parsed",
            "statement 1 (line 1)",
            "hint:",
            "dialect",
        ],
    );
    assert!(
        !err.contains("LIMIT 10"),
        "the statement is not echoed: {err}"
    );
    // Valid PostgreSQL, but for another database: no table of this one is named.
    let other = write(
        &dir,
        "other.sql",
        "select * from invoices where customer = 1;\nupdate ledger set total = 0 where id = 3;\n",
    );
    assert_clean_error(
        &advise(&p, &other, &[]),
        &[
            "no statement of the workload can be used",
            "invoices",
            "ledger",
            "hint:",
            "--database-url",
        ],
    );
    // An empty file, and one of comments only.
    let empty = write(&dir, "empty.sql", "-- nothing here\n\n");
    assert_clean_error(&advise(&p, &empty, &[]), &["no SQL statement in", "hint:"]);
}

#[tokio::test]
async fn a_binary_file_is_one_clear_error() {
    let p = shop("bad_binary").await;
    let dir = tempfile::tempdir().unwrap();
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0select 1;".to_vec();
    elf.extend(std::iter::repeat_n(0u8, 4096));
    let nul = write(&dir, "a.out", elf);
    let latin1 = write(
        &dir,
        "latin1.sql",
        b"select * from orders where status = 'caf\xe9';\n",
    );
    for (f, why) in [(&nul, "NUL bytes"), (&latin1, "not valid UTF-8")] {
        assert_clean_error(
            &advise(&p, f, &[]),
            &["is not a SQL text file", why, "hint:"],
        );
        // The same for every command reading --queries, with no server needed.
        let out = dbopt()
            .arg("queries")
            .arg("--queries")
            .arg(f)
            .output()
            .unwrap();
        assert_clean_error(&out, &["is not a SQL text file", why]);
    }
    // Standard input too.
    let out = dbopt()
        .args(["queries", "--queries", "-"])
        .write_stdin(b"select 1;\0\0\0".to_vec())
        .output()
        .unwrap();
    assert_clean_error(&out, &["- is not a SQL text file", "NUL bytes"]);
}

#[tokio::test]
async fn include_and_exclude_name_existing_tables_quoted_or_not() {
    let p = shop("bad_include").await;
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "two.sql",
        "select * from \"Weird Table\" where v = 3;\nselect * from orders where customer_id = 1;\n",
    );
    for spelled in ["\"Weird Table\"", "Weird Table", "public.\"Weird Table\""] {
        let out = advise(&p, &f, &["--include", spelled]);
        assert_success(&out);
        assert_eq!(
            advised_tables(&out),
            ["public.Weird Table"],
            "--include {spelled}"
        );
    }
    // Unquoted names fold to lower case, as in SQL.
    let out = advise(&p, &f, &["--include", "ORDERS"]);
    assert_success(&out);
    assert_eq!(advised_tables(&out), ["public.orders"]);
    let out = advise(&p, &f, &["--exclude", "Public.Orders"]);
    assert_success(&out);
    assert_eq!(advised_tables(&out), ["public.Weird Table"]);
    // Unknown names are errors naming them, with the closest tables.
    assert_clean_error(
        &advise(&p, &f, &["--include", "ordrs"]),
        &[
            "--include",
            "no table named ordrs",
            "hint: did you mean public.orders?",
        ],
    );
    assert_clean_error(
        &advise(&p, &f, &["--exclude", "\"weird table\""]),
        &[
            "--exclude",
            "\"weird table\"",
            "did you mean public.Weird Table?",
        ],
    );
    assert_clean_error(
        &advise(&p, &f, &["--include", "orders", "--include", "invoices"]),
        &["no table named invoices", "hint:", "dbopt tables"],
    );
}

#[test]
fn a_log_with_no_statement_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    // A server log with log_min_duration_statement off: entries, but no statement.
    let quiet = write(
        &dir,
        "quiet.log",
        "2026-11-22 21:00:01.000 UTC [100] LOG:  checkpoint starting: time\n\
         2026-11-22 21:00:02.000 UTC [100] LOG:  checkpoint complete: wrote 3 buffers\n",
    );
    let out = dbopt()
        .arg("queries")
        .arg("--log")
        .arg(&quiet)
        .output()
        .unwrap();
    assert_clean_error(
        &out,
        &[
            "no statement in",
            "read as stderr log",
            "hint:",
            "log_min_duration_statement",
            "--log-format",
        ],
    );
    // A stderr log read as csv or json: nothing is an entry.
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/logs/debian-stderr.log");
    for format in ["csv", "json"] {
        let out = dbopt()
            .args(["queries", "--log-format", format, "--log"])
            .arg(&log)
            .output()
            .unwrap();
        assert_clean_error(
            &out,
            &[&format!("is not a PostgreSQL {format} log"), "--log-format"],
        );
    }
}

#[test]
fn percentages_out_of_range_are_one_line_errors() {
    for args in [
        &["advise", "--min-improvement", "-1"][..],
        &["advise", "--min-improvement=-0.5"],
        &["advise", "--min-table-improvement", "-20"],
        &["advise", "--min-improvement", "101"],
        &["advise", "--budget", "150%"],
        &["advise", "--budget", "-5%"],
    ] {
        let out = dbopt().args(args).output().unwrap();
        let err = assert_clean_error(&out, &[args[1].split('=').next().unwrap(), "hint:"]);
        assert!(
            err.contains("0 to 100") || err.contains("500MB"),
            "{args:?}: {err}"
        );
    }
}

/// The password, and each 4-character piece of it.
fn pieces(pw: &str) -> Vec<String> {
    let c: Vec<char> = pw.chars().collect();
    let mut out = vec![pw.to_string()];
    out.extend(c.windows(4).map(|w| w.iter().collect::<String>()));
    out
}

fn assert_no_password(what: &str, text: &str, pw: &str) {
    for piece in pieces(pw) {
        assert!(!text.contains(&piece), "{what} holds {piece:?}:\n{text}");
    }
}

#[tokio::test]
async fn no_output_error_or_file_holds_the_password() {
    let p = shop("bad_secrets").await;
    let pw = p
        .password()
        .expect("the throwaway server has a password")
        .to_string();
    assert!(pw.chars().count() >= 8, "a password worth looking for");
    let url = p.url_with_password();
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        &dir,
        "good.sql",
        "select * from orders where customer_id = 42;\n",
    );
    let bad = write(
        &dir,
        "bad.sql",
        "selec 1;\nselect * from orders where customer_id = 4;\n",
    );
    let snap = dir.path().join("snap.json");
    let migrations = dir.path().join("migrations");
    let s = |p: &Path| p.display().to_string();
    let wrong_db = url.replacen(&format!("/{}", p.dbname()), "/no_such_db", 1);
    let closed = url.replacen(&format!(":{}/", p.ports()[0]), ":1/", 1);
    assert_ne!(closed, url);
    let runs: Vec<Vec<String>> = vec![
        vec!["doctor".into()],
        vec!["doctor".into(), "--format".into(), "json".into()],
        vec!["advise".into(), "--queries".into(), s(&bad)],
        vec![
            "advise".into(),
            "--format".into(),
            "json".into(),
            "--queries".into(),
            s(&good),
            "--emit-migrations".into(),
            s(&migrations),
            "--migration-format".into(),
            "plain".into(),
        ],
        vec!["snapshot".into(), "-o".into(), s(&snap)],
        vec!["queries".into(), "--format".into(), "json".into()],
        vec!["tables".into(), "--format".into(), "json".into()],
        vec![
            "archive".into(),
            "--table".into(),
            "orders".into(),
            "--older-than".into(),
            "30d".into(),
            "--to-database".into(),
            url.clone(),
        ],
        // Error paths, each after the URL was parsed.
        vec![
            "advise".into(),
            "--queries".into(),
            s(&good),
            "--include".into(),
            "nosuch".into(),
        ],
        vec![
            "advise".into(),
            "--queries".into(),
            s(&dir.path().join("missing.sql")),
        ],
    ];
    for args in &runs {
        let out = dbopt()
            .arg("--database-url")
            .arg(&url)
            .args(args)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("panicked"), "{args:?}: {all}");
        assert_no_password(&format!("{args:?}"), &all, &pw);
    }
    for bad_url in [&wrong_db, &closed] {
        let out = dbopt()
            .arg("--database-url")
            .arg(bad_url)
            .arg("doctor")
            .output()
            .unwrap();
        let err = assert_clean_error(&out, &["hint:"]);
        assert_no_password(bad_url, &err, &pw);
    }
    // Files written: the snapshot and the migrations.
    let mut files = vec![snap.clone()];
    files.extend(
        std::fs::read_dir(&migrations)
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    assert!(files.len() >= 2, "{files:?}");
    for f in files {
        assert_no_password(&s(&f), &std::fs::read_to_string(&f).unwrap(), &pw);
    }
}
