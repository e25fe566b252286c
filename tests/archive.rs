//! `dbopt archive` end to end against a real server: the three strategies, dry run by default,
//! JSON, refusals (no primary key, foreign keys, unsafe --where), quoting, an empty cutoff,
//! composite keys on a partitioned table, and the archive in another database.

mod archive_support;
mod common;

use archive_support::{make_table, old_ids, rows, run, union};
use common::{fresh_db, setup_conn};

fn one_error_line(stderr: &str, needles: &[&str]) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "expected {n:?} in {stderr}");
    }
}

#[tokio::test]
async fn dry_run_is_the_default_and_changes_nothing() {
    let p = fresh_db("arch_dry").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 1000).await;
    let before = rows(&c, "events").await;
    let (code, out, err) = run(&p, &["--table", "events", "--older-than", "365d"]);
    assert_eq!(code, 0, "{err}");
    let expected = old_ids(&c, "events", 365).await.len();
    assert!(
        out.contains(&format!("rows it would touch now ┆ {expected}"))
            || out.contains(&format!("| {expected}")),
        "{out}"
    );
    assert!(out.contains("WITH batch AS"), "{out}");
    assert!(out.contains("Nothing was changed"), "{out}");
    assert_eq!(rows(&c, "events").await, before);
    assert!(rows(&c, "events_archive").await.is_empty());
    // JSON dry run
    let (code, out, _) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--format",
            "json",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["mode"], "dry-run");
    assert_eq!(v["rows_in_scope"], expected as i64);
    assert_eq!(v["plan"]["key"][0]["name"], "id");
    // --dry-run and --execute together is a usage error
    let (code, _, _) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "1d",
            "--dry-run",
            "--execute",
        ],
    );
    assert_eq!(code, 2);
}

#[tokio::test]
async fn move_copy_delete_keep_every_row_exactly_once() {
    let p = fresh_db("arch_strat").await;
    let c = setup_conn(&p).await;
    for (i, strategy) in ["move", "copy", "delete"].iter().enumerate() {
        let t = format!("ev{i}");
        make_table(&c, &t, 2000).await;
        let original = rows(&c, &t).await;
        let old = old_ids(&c, &t, 365).await;
        let (code, out, err) = run(
            &p,
            &[
                "--table",
                &t,
                "--older-than",
                "365d",
                "--strategy",
                strategy,
                "--execute",
                "--create",
                "--verify",
                "--batch-size",
                "100",
                "--format",
                "json",
            ],
        );
        assert_eq!(code, 0, "{strategy}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let st = &v["stats"];
        assert_eq!(st["rows_selected"], old.len() as i64, "{strategy}: {out}");
        assert_eq!(st["verify"]["ok"], true, "{strategy}: {out}");
        let src = rows(&c, &t).await;
        let arc = rows(&c, &format!("{t}_archive")).await;
        let remaining: i64 = common::scalar(
            &c,
            &format!("SELECT count(*) FROM {t} WHERE created_at < now() - interval '365 days'"),
        )
        .await;
        match *strategy {
            "move" => {
                assert_eq!(union(&src, &arc), original);
                assert_eq!(arc.len(), old.len());
                assert_eq!(remaining, 0);
                assert_eq!(st["rows_deleted"], old.len() as i64);
            }
            "copy" => {
                assert_eq!(src, original);
                assert_eq!(arc.len(), old.len());
                assert!(arc.keys().all(|k| original.contains_key(k)));
                // a second copy run adds nothing (idempotent)
                let (code, _, err) = run(
                    &p,
                    &[
                        "--table",
                        &t,
                        "--older-than",
                        "365d",
                        "--strategy",
                        "copy",
                        "--execute",
                    ],
                );
                assert_eq!(code, 0, "{err}");
                assert_eq!(rows(&c, &format!("{t}_archive")).await, arc);
            }
            _ => {
                assert_eq!(src.len(), original.len() - old.len());
                assert!(src.keys().all(|k| original.contains_key(k)));
                assert!(arc.is_empty());
                assert_eq!(remaining, 0);
            }
        }
    }
}

#[tokio::test]
async fn table_stats_are_printed() {
    let p = fresh_db("arch_table").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 500).await;
    let (code, out, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--execute",
            "--create",
            "--vacuum",
        ],
    );
    assert_eq!(code, 0, "{err}");
    for needle in [
        "rows selected",
        "rows archived",
        "rows deleted",
        "batches",
        "time in batches",
        "archive created",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
}

#[tokio::test]
async fn table_without_primary_key_is_refused() {
    let p = fresh_db("arch_nopk").await;
    let c = setup_conn(&p).await;
    c.batch_execute("CREATE TABLE logs (msg text, created_at timestamptz); INSERT INTO logs SELECT 'x', now() - interval '2 years'")
        .await
        .unwrap();
    let (code, _, err) = run(
        &p,
        &["--table", "logs", "--older-than", "365d", "--execute"],
    );
    assert_eq!(code, 2);
    one_error_line(&err, &["logs has no primary key", "hint:", "ctid"]);
    let n: i64 = common::scalar(&c, "SELECT count(*) FROM logs").await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn foreign_key_to_the_source_stops_before_anything_runs() {
    let p = fresh_db("arch_fk").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 300).await;
    c.batch_execute(
        "CREATE TABLE notes (id int PRIMARY KEY, event_id bigint REFERENCES events (id) ON DELETE CASCADE);
         INSERT INTO notes SELECT g, g FROM generate_series(1, 300) g",
    )
    .await
    .unwrap();
    let before = rows(&c, "events").await;
    for strategy in ["move", "delete"] {
        let (code, _, err) = run(
            &p,
            &[
                "--table",
                "events",
                "--older-than",
                "365d",
                "--strategy",
                strategy,
                "--execute",
                "--create",
            ],
        );
        assert_eq!(code, 2, "{strategy}");
        one_error_line(
            &err,
            &[
                "referenced by foreign keys",
                "notes_event_id_fkey on notes",
                "never cascades",
            ],
        );
    }
    assert_eq!(rows(&c, "events").await, before);
    let n: i64 = common::scalar(&c, "SELECT count(*) FROM notes").await;
    assert_eq!(n, 300);
    // copying does not delete, so it is allowed
    let (code, _, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--strategy",
            "copy",
            "--execute",
            "--create",
        ],
    );
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn cutoff_matching_nothing_is_a_clean_no_op() {
    let p = fresh_db("arch_none").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 300).await;
    let before = rows(&c, "events").await;
    let (code, out, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "5000d",
            "--execute",
            "--create",
            "--verify",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["stats"]["rows_selected"], 0);
    assert_eq!(v["stats"]["batches"], 0);
    assert_eq!(v["stats"]["verify"]["ok"], true);
    assert_eq!(rows(&c, "events").await, before);
    // an empty table too
    c.batch_execute("CREATE TABLE empty_t (id int PRIMARY KEY, created_at timestamptz)")
        .await
        .unwrap();
    let (code, _, err) = run(
        &p,
        &[
            "--table",
            "empty_t",
            "--older-than",
            "1d",
            "--strategy",
            "delete",
            "--execute",
        ],
    );
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn identifiers_that_need_quoting() {
    let p = fresh_db("arch_quote").await;
    let c = setup_conn(&p).await;
    c.batch_execute(
        r#"CREATE TABLE "Events 2024" ("Event Id" int PRIMARY KEY, "When" timestamptz NOT NULL, "Kind" text);
           INSERT INTO "Events 2024" SELECT g, now() - g * interval '1 day' + interval '1 hour', 'k' || g FROM generate_series(1, 400) g;"#,
    )
    .await
    .unwrap();
    let t = r#""Events 2024""#;
    let original = rows(&c, t).await;
    // the exact name, unquoted, as a user types it
    let (code, out, err) = run(
        &p,
        &[
            "--table",
            "Events 2024",
            "--older-than",
            "100d",
            "--column",
            "When",
            "--to",
            "Old \"Events\"",
            "--create",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(r#"public."Events 2024""#), "{out}");
    assert!(out.contains(r#"public."Old ""Events""""#), "{out}");
    let (code, _, err) = run(
        &p,
        &[
            "--table",
            "Events 2024",
            "--older-than",
            "100d",
            "--column",
            "When",
            "--to",
            "Old \"Events\"",
            "--create",
            "--execute",
            "--verify",
            "--batch-size",
            "30",
            "--where",
            "\"Kind\" <> 'k1'",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let arc = rows(&c, r#""Old ""Events""""#).await;
    assert_eq!(arc.len(), 400 - 100);
    assert_eq!(union(&rows(&c, t).await, &arc), original);
    // the SQL spelling works too
    let (code, _, err) = run(
        &p,
        &[
            "--table",
            r#"public."Events 2024""#,
            "--older-than",
            "10d",
            "--strategy",
            "delete",
        ],
    );
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn where_injection_is_rejected_or_bound() {
    let p = fresh_db("arch_where").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 600).await;
    c.batch_execute(
        "CREATE TABLE canary (x int); INSERT INTO canary VALUES (1);
         CREATE FUNCTION sneaky() RETURNS boolean LANGUAGE sql AS 'INSERT INTO canary VALUES (2); SELECT true';",
    )
    .await
    .unwrap();
    let before = rows(&c, "events").await;
    for (bad, needle) in [
        ("1=1; DROP TABLE canary", "invalid --where"),
        ("kind = 'viewed') OR (1=1", "invalid --where"),
        (
            "id IN (WITH d AS (DELETE FROM canary RETURNING x) SELECT x FROM d)",
            "subqueries are not allowed",
        ),
        (
            "pg_terminate_backend(pg_backend_pid())",
            "pg_terminate_backend() is not allowed",
        ),
        ("nextval('events_id_seq') > 0", "nextval() is not allowed"),
        ("sneaky()", "sneaky() is not allowed"),
        ("no_such_column = 1", "no_such_column"),
    ] {
        for mode in [&["--dry-run"][..], &["--execute", "--create"][..]] {
            let mut args = vec!["--table", "events", "--older-than", "365d", "--where", bad];
            args.extend_from_slice(mode);
            let (code, _, err) = run(&p, &args);
            assert_eq!(code, 2, "{bad}: {err}");
            one_error_line(&err, &[needle, "hint:"]);
        }
    }
    let n: i64 = common::scalar(&c, "SELECT count(*) FROM canary").await;
    assert_eq!(n, 1, "the canary table was written to");
    assert_eq!(rows(&c, "events").await, before);
    // A string literal full of SQL is just a value: nothing matches, nothing breaks.
    let (code, out, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--where",
            "kind = 'x''; DROP TABLE canary; --'",
            "--execute",
            "--create",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["stats"]["rows_selected"], 0);
    let n: i64 = common::scalar(&c, "SELECT count(*) FROM canary").await;
    assert_eq!(n, 1);
    // An archive name is a name, never SQL.
    let (code, _, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--to",
            "a.b; DROP TABLE canary; --",
            "--strategy",
            "copy",
            "--execute",
            "--create",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let n: i64 = common::scalar(&c, "SELECT count(*) FROM canary").await;
    assert_eq!(n, 1);
    let made: bool = common::scalar(
        &c,
        "SELECT to_regclass('public.\"a.b; DROP TABLE canary; --\"') IS NOT NULL",
    )
    .await;
    assert!(made);
    // A real filter is honoured.
    let (code, _, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--where",
            "kind = 'viewed'",
            "--execute",
            "--verify",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let left: i64 = common::scalar(&c, "SELECT count(*) FROM events WHERE kind = 'viewed' AND created_at < now() - interval '365 days'").await;
    assert_eq!(left, 0);
    let clicked: i64 = common::scalar(
        &c,
        "SELECT count(*) FROM events_archive WHERE kind <> 'viewed'",
    )
    .await;
    assert_eq!(clicked, 0);
}

#[tokio::test]
async fn missing_archive_needs_create_and_bad_archive_is_refused() {
    let p = fresh_db("arch_dst").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 200).await;
    let (code, _, err) = run(
        &p,
        &["--table", "events", "--older-than", "365d", "--execute"],
    );
    assert_eq!(code, 2);
    one_error_line(&err, &["does not exist", "--create"]);
    c.batch_execute("CREATE TABLE wrong_shape (id bigint PRIMARY KEY, kind int)")
        .await
        .unwrap();
    let (code, _, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--to",
            "wrong_shape",
            "--execute",
        ],
    );
    assert_eq!(code, 2);
    one_error_line(&err, &["does not match", "hint:"]);
    let (code, _, err) = run(&p, &["--table", "nope", "--older-than", "365d"]);
    assert_eq!(code, 2);
    one_error_line(&err, &["table nope does not exist"]);
    let (code, _, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--column",
            "kind",
        ],
    );
    assert_eq!(code, 2);
    one_error_line(&err, &["not a date or timestamp"]);
}

#[tokio::test]
async fn partitioned_table_with_composite_key_and_detach() {
    let p = fresh_db("arch_part").await;
    let c = setup_conn(&p).await;
    c.batch_execute(
        "CREATE TABLE metrics (id bigint, created_at timestamptz NOT NULL, v int, PRIMARY KEY (id, created_at))
           PARTITION BY RANGE (created_at);
         CREATE TABLE metrics_old PARTITION OF metrics FOR VALUES FROM ('2000-01-01') TO ('2001-01-01');
         CREATE TABLE metrics_new PARTITION OF metrics FOR VALUES FROM ('2001-01-01') TO ('2200-01-01');
         INSERT INTO metrics SELECT g, '2000-06-01'::timestamptz + g * interval '1 minute', g FROM generate_series(1, 300) g;
         INSERT INTO metrics SELECT g, now() - (g % 400) * interval '1 day', g FROM generate_series(1, 600) g;",
    )
    .await
    .unwrap();
    let (code, out, err) = run(
        &p,
        &[
            "--table",
            "metrics",
            "--older-than",
            "200d",
            "--strategy",
            "delete",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("DETACH PARTITION public.metrics_old CONCURRENTLY"),
        "{out}"
    );
    let old_recent: i64 = common::scalar(
        &c,
        "SELECT count(*) FROM metrics_new WHERE created_at < now() - interval '200 days'",
    )
    .await;
    let (code, out, err) = run(
        &p,
        &[
            "--table",
            "metrics",
            "--older-than",
            "200d",
            "--strategy",
            "delete",
            "--detach-partitions",
            "--execute",
            "--batch-size",
            "50",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["stats"]["detached_partitions"][0], "public.metrics_old");
    assert_eq!(v["stats"]["rows_deleted"], old_recent);
    // the detached partition is kept as a table, untouched
    let kept: i64 = common::scalar(&c, "SELECT count(*) FROM metrics_old").await;
    assert_eq!(kept, 300);
    let total: i64 = common::scalar(&c, "SELECT count(*) FROM metrics").await;
    assert_eq!(total, 600 - old_recent);
}

#[tokio::test]
async fn throttles_rate_and_replica_lag_without_replicas() {
    let p = fresh_db("arch_throttle").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 600).await;
    let (code, out, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--execute",
            "--create",
            "--strategy",
            "copy",
            "--batch-size",
            "50",
            "--fixed-batch-size",
            "--max-rate",
            "500",
            "--max-replica-lag",
            "5s",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let st = &v["stats"];
    let rows = st["rows_selected"].as_f64().unwrap();
    assert!(rows > 200.0, "{out}");
    // the rate limit holds the run back: (rows - last batch) / rate seconds at least
    let floor = (rows - 50.0) / 500.0;
    assert!(
        st["seconds_batches"].as_f64().unwrap() >= floor * 0.9,
        "{out}"
    );
    assert!(st["seconds_throttled"].as_f64().unwrap() > 0.0, "{out}");
    assert!(
        st["notes"][0]
            .as_str()
            .unwrap()
            .contains("no replica is connected"),
        "{out}"
    );
    assert_eq!(st["batch_size_min"], 50);
    assert_eq!(st["batch_size_max"], 50);
}

#[tokio::test]
async fn archive_partitioned_by_month() {
    let p = fresh_db("arch_month").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 1500).await;
    let original = rows(&c, "events").await;
    let months: i64 = common::scalar(&c, "SELECT count(DISTINCT date_trunc('month', created_at)) FROM events WHERE created_at < now() - interval '365 days'").await;
    let (code, _, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--execute",
            "--create",
            "--archive-by-month",
            "--verify",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let kind: String = common::scalar(
        &c,
        "SELECT relkind::text FROM pg_class WHERE oid = 'events_archive'::regclass",
    )
    .await;
    assert_eq!(kind, "p");
    let parts: i64 = common::scalar(
        &c,
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events_archive'::regclass",
    )
    .await;
    assert!(
        parts >= months && parts <= months + 1,
        "{parts} partitions for {months} months"
    );
    let arc = rows(&c, "events_archive").await;
    assert_eq!(union(&rows(&c, "events").await, &arc), original);
    // a later run with a later cutoff adds the months it needs; copy stays idempotent
    for _ in 0..2 {
        let (code, _, err) = run(
            &p,
            &[
                "--table",
                "events",
                "--older-than",
                "200d",
                "--strategy",
                "copy",
                "--execute",
                "--verify",
            ],
        );
        assert_eq!(code, 0, "{err}");
    }
    let copied: i64 = common::scalar(
        &c,
        "SELECT count(*) FROM events_archive WHERE created_at >= now() - interval '365 days'",
    )
    .await;
    let expected: i64 = common::scalar(
        &c,
        "SELECT count(*) FROM events WHERE created_at < now() - interval '200 days'",
    )
    .await;
    assert_eq!(copied, expected);
}

/// Runs `dbopt archive` on `events` with `--where filter` in a dry run and with `--execute
/// --create`, and expects both refused before anything ran: exit 2, one line, `needle`.
fn refused_both_ways(p: &dbopt::pg::ConnParams, filter: &str, needle: &str) {
    for mode in [
        &["--dry-run"][..],
        &["--execute", "--create", "--verify"][..],
    ] {
        let mut args = vec![
            "--table",
            "events",
            "--older-than",
            "365d",
            "--where",
            filter,
        ];
        args.extend_from_slice(mode);
        let t = std::time::Instant::now();
        let (code, _, err) = run(p, &args);
        let shown: String = filter.chars().take(60).collect();
        assert_eq!(code, 2, "{shown}: {err}");
        one_error_line(
            &err,
            &[
                needle,
                "hint: --where accepts columns of public.events, literals, operators and now()",
            ],
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(4),
            "{shown}: took {:?}",
            t.elapsed()
        );
    }
}

#[tokio::test]
async fn where_allows_only_an_age_filter_and_nothing_runs_before_the_check() {
    let p = fresh_db("arch_where_allow").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 600).await;
    let before = rows(&c, "events").await;
    // a live backend that must survive, and statistics that must survive
    let victim = setup_conn(&p).await;
    let pid: i32 = common::scalar(&victim, "SELECT pg_backend_pid()").await;
    c.batch_execute("CREATE TABLE stats_marker (x int); SELECT x FROM stats_marker")
        .await
        .unwrap();
    let marker = "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%FROM stats_marker%'";
    let stats_before: i64 = common::scalar(&c, marker).await;
    assert!(stats_before > 0, "pg_stat_statements must track the marker");
    let objects = "SELECT count(*) FROM pg_largeobject_metadata";
    let lo_before: i64 = common::scalar(&c, objects).await;
    let chain = vec!["id = 1"; 2000].join(" OR ");
    let terminate = format!("EXISTS (SELECT 1 FROM pg_terminate_backend({pid}))");
    for (filter, needle) in [
        (terminate.as_str(), "subqueries are not allowed"),
        (
            "EXISTS (SELECT 1 FROM pg_sleep(5))",
            "subqueries are not allowed",
        ),
        ("pg_sleep(5) IS NULL", "pg_sleep() is not allowed"),
        (
            "EXISTS (SELECT 1 FROM lo_import('/etc/hostname'))",
            "subqueries are not allowed",
        ),
        (
            "lo_import('/etc/hostname') > 0",
            "lo_import() is not allowed",
        ),
        (
            "set_config('dbopt.h3', 'x', false) = 'x'",
            "set_config() is not allowed",
        ),
        (
            "pg_advisory_lock(4242) IS NULL",
            "pg_advisory_lock() is not allowed",
        ),
        (
            "EXISTS (SELECT 1 FROM pg_advisory_lock(4242))",
            "subqueries are not allowed",
        ),
        (
            "pg_read_file('/etc/hostname') <> ''",
            "pg_read_file() is not allowed",
        ),
        (
            "pg_stat_statements_reset() IS NULL",
            "pg_stat_statements_reset() is not allowed",
        ),
        (
            "'events'::regclass IS NOT NULL",
            "a cast to REGCLASS is not allowed",
        ),
        ("id OPERATOR(pg_catalog.=) 1", "operator"),
        ("id = $1", "the parameter $1 is not allowed"),
        (
            "no_such_column = 1",
            "column no_such_column does not exist in public.events",
        ),
        (chain.as_str(), "filter too complex"),
    ] {
        refused_both_ways(&p, filter, needle);
        let alive: i32 = common::scalar(&victim, "SELECT 1").await;
        assert_eq!(alive, 1, "the other backend was terminated");
    }
    let stats_after: i64 = common::scalar(&c, marker).await;
    assert!(stats_after > 0, "pg_stat_statements was reset");
    let lo_after: i64 = common::scalar(&c, objects).await;
    assert_eq!(lo_after, lo_before, "a large object was left behind");
    assert_eq!(rows(&c, "events").await, before);
    let made: bool = common::scalar(&c, "SELECT to_regclass('events_archive') IS NOT NULL").await;
    assert!(
        !made,
        "the archive was created although --where was refused"
    );
    // An operator a user created beside the built-in one could run instead of it.
    c.batch_execute(
        "CREATE TABLE canary (x int);
         CREATE FUNCTION evil_eq(bigint, text) RETURNS boolean LANGUAGE sql
           AS 'INSERT INTO canary VALUES (1); SELECT true';
         CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = text, FUNCTION = evil_eq);",
    )
    .await
    .unwrap();
    refused_both_ways(
        &p,
        "id = '5'",
        "the operator public.= is defined outside pg_catalog",
    );
    let n: i64 = common::scalar(&c, "SELECT count(*) FROM canary").await;
    assert_eq!(n, 0, "the user-defined operator ran");
}

#[tokio::test]
async fn where_keeps_ordinary_age_filters_working() {
    let p = fresh_db("arch_where_ok").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 800).await;
    c.batch_execute(
        r#"ALTER TABLE events ADD COLUMN "sourceKind" text;
           UPDATE events SET "sourceKind" = CASE WHEN id % 4 = 0 THEN 'web' ELSE 'app' END,
                             payload = CASE WHEN id % 5 = 0 THEN NULL ELSE payload END;"#,
    )
    .await
    .unwrap();
    for filter in [
        "created_at < now() - interval '400 days'",
        "date_trunc('month', created_at) < date_trunc('month', now() - interval '1 year')",
        r#""sourceKind" = 'web'"#,
        "id BETWEEN 400 AND 600",
        "kind IN ('viewed', 'other')",
        "payload IS NULL",
        "payload IS NOT NULL AND lower(kind) LIKE 'click%' AND created_at::date < current_date - 500",
    ] {
        let (code, out, err) = run(
            &p,
            &[
                "--table", "events", "--older-than", "365d", "--where", filter, "--format", "json",
            ],
        );
        assert_eq!(code, 0, "{filter}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let want: i64 = common::scalar(
            &c,
            &format!(
                "SELECT count(*) FROM events WHERE created_at < now() - interval '365 days' AND ({filter})"
            ),
        )
        .await;
        assert!(want > 0, "{filter} matches nothing: a useless case");
        assert_eq!(v["rows_in_scope"], want, "{filter}: {out}");
    }
    let filter = r#""sourceKind" = 'web' AND id BETWEEN 10 AND 600"#;
    let want: i64 = common::scalar(
        &c,
        &format!("SELECT count(*) FROM events WHERE created_at < now() - interval '365 days' AND {filter}"),
    )
    .await;
    let (code, out, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--where",
            filter,
            "--execute",
            "--create",
            "--verify",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["stats"]["rows_archived"], want, "{out}");
    assert_eq!(v["stats"]["verify"]["ok"], true, "{out}");
    let archived_wrong: i64 = common::scalar(
        &c,
        r#"SELECT count(*) FROM events_archive WHERE "sourceKind" <> 'web' OR id NOT BETWEEN 10 AND 600"#,
    )
    .await;
    assert_eq!(archived_wrong, 0);
}

#[tokio::test]
async fn quoted_column_is_parsed_like_a_quoted_table() {
    let p = fresh_db("arch_quoted_col").await;
    let c = setup_conn(&p).await;
    c.batch_execute(
        r#"CREATE TABLE "Events 2024" (id int PRIMARY KEY, "Created At" timestamptz NOT NULL, "When" timestamptz NOT NULL);
           INSERT INTO "Events 2024" SELECT g, now() - g * interval '1 day', now() FROM generate_series(1, 50) g;
           CREATE TABLE events (id int PRIMARY KEY, created_at timestamptz NOT NULL, seen_at timestamptz);"#,
    )
    .await
    .unwrap();
    let age_column = |table: &str, column: &str| {
        let (code, out, err) = run(
            &p,
            &[
                "--table",
                table,
                "--older-than",
                "10d",
                "--column",
                column,
                "--format",
                "json",
            ],
        );
        assert_eq!(code, 0, "{table} {column}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["plan"]["age_column"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // quoted like the quoted table: the case is kept
    assert_eq!(
        age_column(r#""Events 2024""#, r#""Created At""#),
        "Created At"
    );
    assert_eq!(age_column(r#""Events 2024""#, r#""When""#), "When");
    // the exact name, unquoted, as for --table
    assert_eq!(age_column("Events 2024", "Created At"), "Created At");
    // unquoted SQL spelling folds to lower case, as for --table
    assert_eq!(age_column("EVENTS", "CREATED_AT"), "created_at");
    // a quoted name keeps its case, so it does not match a lower-case column
    for (table, column, needle) in [
        (
            "events",
            r#""Created_At""#,
            r#"--column "Created_At": no such column in public.events"#,
        ),
        (
            "Events 2024",
            "WHEN",
            r#"--column WHEN: no such column in public."Events 2024""#,
        ),
    ] {
        let (code, _, err) = run(
            &p,
            &["--table", table, "--older-than", "10d", "--column", column],
        );
        assert_eq!(code, 2, "{column}: {err}");
        one_error_line(&err, &[needle, "hint: --column is spelled like --table"]);
    }
}

#[tokio::test]
async fn verify_after_resuming_a_cross_database_move_is_ok() {
    let p = fresh_db("arch_verify_resume").await;
    let dp = fresh_db("arch_verify_resume_dst").await;
    let c = setup_conn(&p).await;
    let d = setup_conn(&dp).await;
    make_table(&c, "events", 600).await;
    let original = rows(&c, "events").await;
    // What a run killed between its two commits leaves: the archive (as --create makes it in
    // another database) holds the first batch, which is still in the source too.
    d.batch_execute(
        "CREATE TABLE events_archive (id bigint NOT NULL, kind text NOT NULL, payload text,
                                      created_at timestamptz NOT NULL, PRIMARY KEY (id))",
    )
    .await
    .unwrap();
    let batch = c
        .query(
            "SELECT id, kind, payload, created_at FROM events
              WHERE created_at < now() - interval '365 days' ORDER BY id LIMIT 20",
            &[],
        )
        .await
        .unwrap();
    for r in &batch {
        let (id, kind, payload, at): (i64, String, Option<String>, std::time::SystemTime) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        d.execute(
            "INSERT INTO events_archive VALUES ($1, $2, $3, $4)",
            &[&id, &kind, &payload, &at],
        )
        .await
        .unwrap();
    }
    let url = dp.url_with_password();
    let (code, out, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--to-database",
            &url,
            "--execute",
            "--verify",
            "--batch-size",
            "50",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "resume with --verify: {err}\n{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let verify = &v["stats"]["verify"];
    assert_eq!(verify["ok"], true, "{out}");
    assert_eq!(verify["in_both_before"]["keys"], 20, "{out}");
    assert_eq!(verify["in_both_after"]["keys"], 0, "{out}");
    // exact at the end: every row once, in exactly one place
    let src = rows(&c, "events").await;
    let arc = rows(&d, "events_archive").await;
    assert_eq!(src.len() + arc.len(), original.len());
    assert_eq!(union(&src, &arc), original);
    let left: i64 = common::scalar(
        &c,
        "SELECT count(*) FROM events WHERE created_at < now() - interval '365 days'",
    )
    .await;
    assert_eq!(left, 0);
}

#[tokio::test]
async fn verify_still_reports_a_real_mismatch() {
    // A duplicated row: the archive (no unique index; a same-database move does not need one)
    // already holds a row whose key is still in the source, so the move doubles it.
    let p = fresh_db("arch_verify_dup").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 400).await;
    c.batch_execute(
        "CREATE TABLE events_archive (LIKE events);
         INSERT INTO events_archive
           SELECT * FROM events WHERE created_at < now() - interval '365 days' ORDER BY id LIMIT 1;",
    )
    .await
    .unwrap();
    let (code, out, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--execute",
            "--verify",
        ],
    );
    assert_eq!(code, 1, "a doubled row must fail --verify: {err}\n{out}");
    assert!(
        out.contains("MISMATCH") && out.contains("1 duplicate rows"),
        "{out}"
    );

    // A lost row: an archived row deleted from the archive while the run goes on.
    let p = fresh_db("arch_verify_lost").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", 1200).await;
    let child = archive_support::archive_cmd(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--execute",
            "--create",
            "--verify",
            "--batch-size",
            "20",
            "--fixed-batch-size",
            "--sleep",
            "40",
            "--format",
            "json",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let t0 = std::time::Instant::now();
    loop {
        let made: bool =
            common::scalar(&c, "SELECT to_regclass('events_archive') IS NOT NULL").await;
        if made && common::scalar::<i64>(&c, "SELECT count(*) FROM events_archive").await >= 40 {
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "the run never archived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let gone = c
        .execute(
            "DELETE FROM events_archive WHERE id = (SELECT min(id) FROM events_archive)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(gone, 1);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a lost row must fail --verify: {stdout}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["stats"]["verify"]["ok"], false);
    let detail = v["stats"]["verify"]["detail"].as_str().unwrap();
    assert!(detail.contains("lost"), "{detail}");
}
