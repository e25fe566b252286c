//! `dbopt migrations` as a user runs it: files written and listed, `--only`, versions that
//! continue, bad input failing in one line with nothing half-written, squawk on the emitted
//! files, and `--apply` building the indexes on a real server and checking they are used.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use common::{assert_clean_error, dbopt, fresh_db, setup_conn};
use dbopt::emit::{self, EmitContext, EmitError, MigrationFormat};

const LEADS: &str = "fixtures/reports/leads.json";
const EVENTS: &str = "fixtures/reports/events_partitioned.json";

fn ctx() -> EmitContext {
    EmitContext {
        now: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        dbopt_version: "0.0.0-test".into(),
        costing: "hypopg".into(),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn cli_writes_lists_and_continues_versions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("migrations");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("0007_existing.up.sql"), "SELECT 1;\n").unwrap();
    std::fs::write(d.join("0007_existing.down.sql"), "SELECT 1;\n").unwrap();
    let out = dbopt()
        .args([
            "migrations",
            "--from-report",
            LEADS,
            "--migration-format",
            "sqlx",
            "--dir",
        ])
        .arg(&d)
        .args(["--only", "leads_payload_idx,leads_lower_email_partial_idx"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        names(&d),
        [
            "0007_existing.down.sql",
            "0007_existing.up.sql",
            "0008_create_leads_lower_email_partial_idx.down.sql",
            "0008_create_leads_lower_email_partial_idx.up.sql",
            "0009_create_leads_payload_idx.down.sql",
            "0009_create_leads_payload_idx.up.sql",
        ]
    );
    assert!(
        stdout.contains("0009_create_leads_payload_idx.up.sql"),
        "{stdout}"
    );
    // Again, with JSON output: new versions after the last, nothing overwritten.
    let out = dbopt()
        .args(["--format", "json", "migrations", "--from-report", LEADS])
        .args([
            "--migration-format",
            "sqlx",
            "--only",
            "leads_payload_idx",
            "--dir",
        ])
        .arg(&d)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<String> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        files,
        [
            "0010_create_leads_payload_idx.up.sql",
            "0010_create_leads_payload_idx.down.sql"
        ]
    );
}

#[test]
fn bad_input_is_one_clean_line() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    std::fs::write(t.join("corrupt.json"), "{\"schema_version\": 1, \"recomm").unwrap();
    std::fs::write(
        t.join("foreign.json"),
        "{\"name\": \"package.json\", \"version\": \"1\"}",
    )
    .unwrap();
    std::fs::write(t.join("future.json"), "{\"schema_version\": 99}").unwrap();
    std::fs::write(t.join("afile"), "").unwrap();
    let run = |args: &[&str]| {
        let mut c = dbopt();
        c.arg("migrations").args(args);
        c.output().unwrap()
    };
    let out_dir = t.join("out");
    let od = out_dir.to_str().unwrap();
    let corrupt = t.join("corrupt.json");
    let foreign = t.join("foreign.json");
    let future = t.join("future.json");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--from-report", corrupt.to_str().unwrap()],
            vec!["is not a dbopt advise report", "EOF", "hint:"],
        ),
        (
            vec!["--from-report", foreign.to_str().unwrap()],
            vec![
                "no schema_version",
                "hint: pass the JSON written by `dbopt advise",
            ],
        ),
        (
            vec!["--from-report", future.to_str().unwrap()],
            vec!["schema_version 99", "hint:"],
        ),
        (
            vec!["--from-report", "no/such/report.json"],
            vec!["cannot read the report", "hint:"],
        ),
        (
            vec!["--from-report", LEADS, "--only", "nope_idx"],
            vec!["no index named \"nope_idx\"", "leads_payload_idx", "hint:"],
        ),
    ];
    for (args, needles) in cases {
        let mut a = args.clone();
        a.extend(["--dir", od, "--migration-format", "diesel"]);
        assert_clean_error(&run(&a), &needles);
        assert!(!out_dir.exists(), "nothing written for {args:?}");
    }
    // A directory that cannot be made (its parent is a file).
    let bad = t.join("afile").join("migrations");
    assert_clean_error(
        &run(&[
            "--from-report",
            LEADS,
            "--migration-format",
            "plain",
            "--dir",
            bad.to_str().unwrap(),
        ]),
        &["cannot write", "hint:"],
    );
    // A report without recommendations writes nothing and says so (exit 0).
    let empty = t.join("empty.json");
    std::fs::write(
        &empty,
        "{\"schema_version\":2,\"dbopt_version\":\"0.1.0\",\"costing\":\"hypopg\",\"recommendations\":[],\
         \"workload\":{\"cost_before\":0,\"cost_after\":0,\"statements\":0},\"findings\":[],\"skipped\":[]}",
    )
    .unwrap();
    let out = run(&[
        "--from-report",
        empty.to_str().unwrap(),
        "--migration-format",
        "plain",
        "--dir",
        od,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no migration written"));
    assert!(!out_dir.exists());
    // An unknown format is clap's usage error (exit 2).
    let out = run(&[
        "--from-report",
        LEADS,
        "--migration-format",
        "liquibase",
        "--dir",
        od,
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_existing_file_is_never_overwritten_and_nothing_is_half_written() {
    let r = emit::read_report(Path::new(LEADS)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = emit::writer::render(&r, dir.path(), MigrationFormat::Flyway, &[], &ctx()).unwrap();
    // Someone made the last file meanwhile: the writer refuses before writing anything.
    let last = dir.path().join(&files.last().unwrap().rel);
    std::fs::write(&last, "mine\n").unwrap();
    let err = emit::writer::write_all(dir.path(), &files).unwrap_err();
    assert!(matches!(err, EmitError::Exists { .. }), "{err}");
    assert!(err.hint().contains("never overwrites"));
    assert_eq!(names(dir.path()).len(), 1);
    assert_eq!(std::fs::read_to_string(&last).unwrap(), "mine\n");
    // A failure halfway (a target that is a directory) removes what was already written.
    std::fs::remove_file(&last).unwrap();
    let mut blocked = files.clone();
    blocked.push(emit::writer::FileOut {
        rel: "sub/file.sql".into(),
        text: String::new(),
    });
    std::fs::write(dir.path().join("sub"), "a file where a directory should be").unwrap();
    assert!(emit::writer::write_all(dir.path(), &blocked).is_err());
    assert_eq!(names(dir.path()), ["sub"]);
}

/// Which squawk rules a file may break, and why. Everything else must pass.
fn allowed(f: MigrationFormat, text: &str) -> Vec<&'static str> {
    let mut ok = Vec::new();
    if f.sends_whole_file() && text.contains(" CONCURRENTLY ") {
        // The tool sends the file as one message (an implicit transaction): a SET before the
        // CONCURRENTLY statement would make it fail, so timeouts come from the connection
        // (the header says how).
        ok.extend(["require-lock-timeout", "require-statement-timeout"]);
    }
    if text.contains(" ON ONLY ") {
        // PostgreSQL has no CONCURRENTLY for an index on a partitioned table; ON ONLY is
        // catalog-only and instant, the partitions are built concurrently.
        ok.push("require-concurrent-index-creation");
    }
    if text.contains("\nDROP INDEX IF EXISTS ") {
        // A partitioned index cannot be dropped CONCURRENTLY (nor its attached partitions').
        ok.push("require-concurrent-index-deletion");
    }
    ok
}

#[test]
fn squawk_accepts_the_files_with_only_the_documented_exceptions() {
    let v = Command::new("squawk")
        .arg("--version")
        .output()
        .expect("squawk is not installed: run .ci/install-deps (pip install squawk-cli)");
    assert!(v.status.success());
    // squawk does flag what it should (so a pass below means something).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.sql"), "CREATE INDEX i ON t (a);\n").unwrap();
    let bad = Command::new("squawk")
        .current_dir(dir.path())
        .arg("bad.sql")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));

    let mut fired = BTreeSet::new();
    for f in MigrationFormat::ALL {
        if f == MigrationFormat::Rails {
            continue; // Ruby, not SQL: squawk cannot read it
        }
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for path in [EVENTS, LEADS] {
            let r = emit::read_report(Path::new(path)).unwrap();
            files.extend(emit::write_migrations_with(&r, dir.path(), f, &[], &ctx()).unwrap());
        }
        let sql: Vec<String> = files
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".sql"))
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        let out = Command::new("squawk")
            .current_dir(dir.path())
            .args(["--reporter", "json"])
            .args(&sql)
            .output()
            .unwrap();
        let report: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        for v in &report {
            let file = v["file"].as_str().unwrap();
            let rule = v["rule_name"].as_str().unwrap();
            let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
            assert!(
                allowed(f, &text).contains(&rule),
                "{}: squawk {rule} in {file}: {}\n{text}",
                f.name(),
                v["message"]
            );
            fired.insert((f.sends_whole_file(), rule.to_string()));
        }
    }
    // Every exception is needed: each allowed rule did fire for the formats it is allowed in.
    let expect: BTreeSet<(bool, String)> = [
        (true, "require-lock-timeout"),
        (true, "require-statement-timeout"),
        (true, "require-concurrent-index-creation"),
        (true, "require-concurrent-index-deletion"),
        (false, "require-concurrent-index-creation"),
        (false, "require-concurrent-index-deletion"),
    ]
    .into_iter()
    .map(|(w, r)| (w, r.to_string()))
    .collect();
    assert_eq!(fired, expect);
}

const SCHEMA: &str = "
CREATE TABLE leads (
    id bigserial PRIMARY KEY, agent_id bigint NOT NULL, status text NOT NULL, email text NOT NULL,
    payload jsonb NOT NULL, created_at timestamptz NOT NULL, deleted_at timestamptz
);
INSERT INTO leads (agent_id, status, email, payload, created_at, deleted_at)
SELECT g % 500, (ARRAY['new','open','won','lost','spam'])[1 + g % 5], 'User' || g || '@Example.com',
       jsonb_build_object('source', 'src' || (g % 300), 'n', g),
       now() - g * interval '1 minute', CASE WHEN g % 10 = 0 THEN now() END
FROM generate_series(1, 30000) g;
CREATE TABLE events (id bigint NOT NULL, entity_id bigint NOT NULL, kind text NOT NULL,
    created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO events
SELECT g, g % 3000, 'k' || (g % 7), timestamptz '2025-01-01' + (g % 700) * interval '1 day'
FROM generate_series(1, 40000) g;
ANALYZE;
";

#[tokio::test]
async fn apply_builds_checks_and_reruns() {
    let p = fresh_db("apply").await;
    let c = setup_conn(&p).await;
    c.batch_execute(SCHEMA).await.unwrap();
    for report in [LEADS, EVENTS] {
        for round in 0..2 {
            let out = dbopt()
                .args([
                    "--format",
                    "json",
                    "migrations",
                    "--from-report",
                    report,
                    "--apply",
                ])
                .args(["--database-url", &p.url_with_password()])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{report} round {round}: {stderr}"
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let applied = v["applied"].as_array().unwrap();
            assert!(!applied.is_empty());
            for a in applied {
                assert_eq!(a["existed"], round == 1, "{a}");
                assert_eq!(a["valid"], true, "{a}");
                assert!(a["used_by"].is_string(), "index not used: {a}");
            }
        }
    }
    let n: i64 = common::scalar(
        &c,
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indisvalid AND c.relname LIKE ANY (ARRAY['leads\\_%\\_idx', 'events%\\_idx'])",
    )
    .await;
    assert_eq!(
        n, 6,
        "3 leads indexes, the partitioned index and its 2 partition indexes"
    );
    // The table output names the index and the statement that uses it.
    let out = dbopt()
        .args([
            "migrations",
            "--from-report",
            LEADS,
            "--apply",
            "--only",
            "leads_payload_idx",
        ])
        .args(["--database-url", &p.url_with_password()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("leads_payload_idx") && text.contains("2209113345009872001"),
        "{text}"
    );
}

#[tokio::test]
async fn apply_names_the_invalid_index_a_failed_build_leaves() {
    let p = fresh_db("apply_fail").await;
    let c = setup_conn(&p).await;
    c.batch_execute(
        "CREATE TABLE leads (id int, status text, created_at timestamptz, agent_id int, email text, \
         payload jsonb, deleted_at timestamptz);",
    )
    .await
    .unwrap();
    // An open writing transaction: CREATE INDEX CONCURRENTLY gets its table lock, creates the
    // (invalid) index, then waits for this transaction and hits lock_timeout.
    let blocker = setup_conn(&p).await;
    blocker
        .batch_execute("BEGIN; INSERT INTO leads (id) VALUES (1)")
        .await
        .unwrap();
    let out = dbopt()
        .args([
            "migrations",
            "--from-report",
            LEADS,
            "--apply",
            "--lock-timeout",
            "300ms",
        ])
        .args([
            "--only",
            "leads_payload_idx",
            "--database-url",
            &p.url_with_password(),
        ])
        .output()
        .unwrap();
    let err = assert_clean_error(
        &out,
        &[
            "lock timeout",
            "left \"public\".\"leads_payload_idx\" behind as an INVALID index",
            "hint:",
            "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"leads_payload_idx\"",
        ],
    );
    if let Some(pw) = p.password() {
        assert!(!err.contains(pw));
    }
    blocker.batch_execute("ROLLBACK").await.unwrap();
    let valid: bool = common::scalar(
        &c,
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'leads_payload_idx'::regclass",
    )
    .await;
    assert!(
        !valid,
        "the failed build left an INVALID index, as the error says"
    );
}

#[test]
fn sqlx_continues_simple_migrations_as_simple() {
    let r = emit::read_report(Path::new(LEADS)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("20250101000000_init.sql"), "SELECT 1;\n").unwrap();
    let files = emit::write_migrations_with(
        &r,
        dir.path(),
        MigrationFormat::Sqlx,
        &["leads_payload_idx".to_string()],
        &ctx(),
    )
    .unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with("20260102030405_create_leads_payload_idx.sql"));
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.starts_with("-- no-transaction\n"), "{text}");
}

#[test]
fn a_report_that_smuggles_sql_is_refused() {
    let mut r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(LEADS).unwrap()).unwrap();
    r["recommendations"][1]["where"] = "deleted_at IS NULL; DROP TABLE leads".into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.json");
    std::fs::write(&path, r.to_string()).unwrap();
    let out_dir = dir.path().join("out");
    let out = dbopt()
        .args(["migrations", "--migration-format", "plain", "--from-report"])
        .arg(&path)
        .arg("--dir")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_clean_error(
        &out,
        &[
            "leads_lower_email_partial_idx",
            "contains ';'",
            "hint: fix or remove",
        ],
    );
    assert!(!out_dir.exists());
}

/// The demo-schema report (a quoted `"timestamp"` column, INCLUDE) against the demo database.
#[tokio::test]
async fn demo_report_applies_to_the_demo_database() {
    let (p, _) = common::demo_db("apply_demo", 0.02, 7).await;
    let out = dbopt()
        .args([
            "--format",
            "json",
            "migrations",
            "--from-report",
            "fixtures/reports/demo.json",
        ])
        .args(["--apply", "--database-url", &p.url_with_password()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let used: Vec<&str> = v["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["used_by"].as_str().unwrap_or("unused"))
        .collect();
    assert_eq!(used, ["-6254981322376419213", "3356718290043218876"]);
}

/// A statement that no longer plans is skipped; an index no statement uses is a finding (exit 1).
#[tokio::test]
async fn apply_skips_statements_that_do_not_plan_and_flags_unused_indexes() {
    let p = fresh_db("apply_unused").await;
    let c = setup_conn(&p).await;
    c.batch_execute(SCHEMA).await.unwrap();
    let mut r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(LEADS).unwrap()).unwrap();
    let good = r["recommendations"][2]["statements"][0].clone();
    let mut gone = good.clone();
    gone["fingerprint"] = "111".into();
    gone["query"] = "SELECT id FROM leads WHERE no_such_column @> $1".into();
    r["recommendations"][2]["statements"] = serde_json::json!([gone, good]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    std::fs::write(&path, r.to_string()).unwrap();
    let run = |path: &Path| {
        let mut cmd = dbopt();
        cmd.args([
            "--format",
            "json",
            "migrations",
            "--apply",
            "--only",
            "leads_payload_idx",
        ])
        .args(["--database-url", &p.url_with_password(), "--from-report"])
        .arg(path);
        cmd.output().unwrap()
    };
    let out = run(&path);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["applied"][0]["used_by"], "2209113345009872001");
    assert_eq!(v["applied"][0]["checked"], 1);
    // Only a statement the index cannot serve: built and valid, but reported as unused.
    let mut r2 = r.clone();
    r2["recommendations"][2]["statements"] = serde_json::json!([{
        "fingerprint": "222", "query": "SELECT count(*) FROM leads WHERE status = $1",
        "calls": 1, "cost_before": 1.0, "cost_after": 1.0
    }]);
    let path2 = dir.path().join("r2.json");
    std::fs::write(&path2, r2.to_string()).unwrap();
    let out = run(&path2);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["applied"][0]["valid"], true);
    assert!(v["applied"][0]["used_by"].is_null());
    assert_eq!(v["applied"][0]["checked"], 1);
}
