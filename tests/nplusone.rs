//! N+1 loops found from pg_stat_statements: each pattern is generated for real on the
//! throwaway server with prepared statements (as an ORM sends them), next to its twins that
//! must not be reported: a loop of lookups with no parent relation, and a batched `= ANY($1)`.

mod common;

use dbopt::bench::demo_workload::{self, WorkloadOptions};
use serde_json::Value;

const SCHEMA: &str = "
CREATE TABLE posts (id bigint PRIMARY KEY, author int NOT NULL, title text NOT NULL);
CREATE TABLE comments (id bigint PRIMARY KEY, post_id bigint NOT NULL REFERENCES posts (id), body text NOT NULL);
CREATE INDEX ON comments (post_id);
CREATE TABLE authors (id bigint PRIMARY KEY, country text NOT NULL);
CREATE TABLE books (id bigint PRIMARY KEY, author_id bigint NOT NULL REFERENCES authors (id), title text NOT NULL);
CREATE TABLE audit (id bigint PRIMARY KEY, kind int NOT NULL);
CREATE TABLE settings (k bigint PRIMARY KEY, v text NOT NULL);
INSERT INTO posts SELECT g, g % 50, 'post ' || g FROM generate_series(1, 2000) g;
INSERT INTO comments SELECT g, (g % 2000) + 1, 'comment ' || g FROM generate_series(1, 4000) g;
INSERT INTO authors SELECT g, 'c' || (g % 10) FROM generate_series(1, 500) g;
INSERT INTO books SELECT g, (g % 500) + 1, 'book ' || g FROM generate_series(1, 1500) g;
INSERT INTO audit SELECT g, g % 20 FROM generate_series(1, 400) g;
INSERT INTO settings SELECT g, 'v' || g FROM generate_series(1, 400) g;
ANALYZE;
";

async fn run_nplusone(p: &dbopt::pg::ConnParams) -> Value {
    common::json_report("nplusone", p)
}

#[tokio::test]
async fn loop_over_parent_rows_is_found_and_its_twins_are_not() {
    let p = common::fresh_db("n1").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(SCHEMA).await.unwrap();
    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    for author in 0..6i32 {
        // The N+1: list posts, then the comments of each post, one query per post.
        let posts = c
            .query(
                "SELECT id, title FROM posts WHERE author = $1 ORDER BY id LIMIT 10",
                &[&author],
            )
            .await
            .unwrap();
        for r in &posts {
            let id: i64 = r.get(0);
            c.query("SELECT id, body FROM comments WHERE post_id = $1", &[&id])
                .await
                .unwrap();
        }
        // Twin: the same list, then one batched query for every author at once.
        let ids: Vec<i64> = c
            .query(
                "SELECT id, country FROM authors WHERE country = $1 LIMIT 10",
                &[&format!("c{author}")],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        c.query(
            "SELECT id, title FROM books WHERE author_id = ANY($1)",
            &[&ids],
        )
        .await
        .unwrap();
        // Twin: as many lookups as a list returned rows, on a table it has no relation with.
        let rows = c
            .query(
                "SELECT id, kind FROM audit WHERE kind = $1 LIMIT 10",
                &[&author],
            )
            .await
            .unwrap();
        for r in &rows {
            let id: i64 = r.get(0);
            c.query("SELECT v FROM settings WHERE k = $1", &[&id])
                .await
                .unwrap();
        }
    }
    let r = run_nplusone(&p).await;
    let loops = r["loops"].as_array().unwrap();
    assert_eq!(loops.len(), 1, "{r:#}");
    let l = &loops[0];
    assert_eq!(
        l["parent"]["query"],
        "SELECT id, title FROM posts WHERE author = $1 ORDER BY id LIMIT $2"
    );
    assert_eq!(
        l["child"]["query"],
        "SELECT id, body FROM comments WHERE post_id = $1"
    );
    assert_eq!(l["child_calls"], 60);
    assert_eq!(l["parent_rows"], 60);
    assert_eq!(l["loops"], 6);
    assert_eq!(l["link"], "foreign key comments_post_id_fkey");
    assert_eq!(
        l["rewrite"],
        "SELECT id, body FROM comments WHERE post_id = ANY($1)"
    );
    assert_eq!(l["finding"]["rule"], "n-plus-one");
    // The one-statement rewrite runs, with the parent's parameters, and returns what the loop
    // returned.
    let single = l["single_statement"].as_str().unwrap();
    assert_eq!(
        single,
        "SELECT id, body FROM comments WHERE post_id IN (SELECT \"id\" FROM (SELECT id, title FROM posts WHERE author = $1 ORDER BY id LIMIT $2) AS parent)"
    );
    let mut looped: Vec<i64> = Vec::new();
    for r in c
        .query(
            "SELECT id FROM posts WHERE author = 3 ORDER BY id LIMIT 10",
            &[],
        )
        .await
        .unwrap()
    {
        let id: i64 = r.get(0);
        for x in c
            .query("SELECT id FROM comments WHERE post_id = $1", &[&id])
            .await
            .unwrap()
        {
            looped.push(x.get(0));
        }
    }
    let mut batched: Vec<i64> = c
        .query(single, &[&3i32, &10i64])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    looped.sort_unstable();
    batched.sort_unstable();
    assert!(!looped.is_empty());
    assert_eq!(looped, batched);
    assert!(l["child_total_ms"].as_f64().unwrap() > 0.0);

    // For people: the table and the rewrite; --fail-on turns the loop into exit 1.
    let out = common::dbopt()
        .args([
            "nplusone",
            "--fail-on",
            "warning",
            "--database-url",
            &p.url_with_password(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("60 / 60 = 1.00"), "{text}");
    assert!(
        text.contains("SELECT id, body FROM comments WHERE post_id = ANY($1)"),
        "{text}"
    );

    // The same finding inside advise.
    let out = common::dbopt()
        .args([
            "advise",
            "--format",
            "json",
            "--costing",
            "model",
            "--database-url",
            &p.url_with_password(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    let n1: Vec<&Value> = a["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "n-plus-one")
        .collect();
    assert_eq!(n1.len(), 1, "{a:#}");
    assert_eq!(n1[0]["object"], "public.comments.post_id");
}

#[tokio::test]
async fn the_demo_has_exactly_its_one_loop() {
    let (p, opts) = common::demo_db("n1demo", 0.01, 3).await;
    let c = common::setup_conn(&p).await;
    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    let w = WorkloadOptions {
        rounds: 6,
        sessions: 2,
        seed: 3,
        scale: 0.01,
        anchor: opts.anchor,
    };
    demo_workload::run(&p, &w, &|_, _| {})
        .await
        .expect("workload");
    let r = run_nplusone(&p).await;
    let loops = r["loops"].as_array().unwrap();
    assert_eq!(loops.len(), 1, "{r:#}");
    let head = |q: &str| q.split(" LIMIT").next().unwrap().to_string();
    assert_eq!(
        head(loops[0]["parent"]["query"].as_str().unwrap()),
        head(demo_workload::NPLUS1_PARENT)
    );
    assert_eq!(loops[0]["child"]["query"], demo_workload::NPLUS1_CHILD);
    assert_eq!(
        loops[0]["rewrite"],
        demo_workload::NPLUS1_CHILD.replace("= $1", "= ANY($1)")
    );
}

#[tokio::test]
async fn bad_thresholds_are_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dbopt.toml");
    std::fs::write(&cfg, "[rules.n-plus-one]\ntolerance = \"wide\"\n").unwrap();
    let out = common::dbopt()
        .args(["nplusone", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["n-plus-one", "hint:"]);
    let out = common::dbopt()
        .args(["nplusone", "--sample", "0"])
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["--sample", "hint:"]);
}

/// pg_stat_activity sampling sees the loop in its session while it runs (statements slowed
/// with pg_sleep so that 5 ms samples see each one); the unrelated loop next to it is not
/// reported.
#[tokio::test]
async fn activity_sampling_sees_the_loop_and_not_its_twin() {
    let p = common::fresh_db("n1act").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(SCHEMA).await.unwrap();
    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    let url = p.url_with_password();
    let sampler = tokio::task::spawn_blocking(move || {
        common::dbopt()
            .args([
                "nplusone",
                "--sample",
                "4",
                "--sample-interval-ms",
                "5",
                "--format",
                "json",
                "--database-url",
                &url,
            ])
            .output()
            .unwrap()
    });
    // Start the application once dbopt is sampling (its sampling query is in pg_stat_activity).
    let mut sampling = false;
    for _ in 0..400 {
        let n: i64 = common::scalar(&c, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbopt' AND datname = current_database() AND query LIKE '%FROM pg_stat_activity a%'").await;
        if n > 0 {
            sampling = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(sampling, "dbopt never started sampling");
    let c2 = common::setup_conn(&p).await;
    let looped = async {
        for author in 0..2i32 {
            let posts = c
                .query(
                    "SELECT id, title, pg_sleep(0.01) FROM posts WHERE author = $1 ORDER BY id LIMIT 6",
                    &[&author],
                )
                .await
                .unwrap();
            for r in &posts {
                let id: i64 = r.get(0);
                c.query(
                    "SELECT id, body, pg_sleep(0.03) FROM comments WHERE post_id = $1",
                    &[&id],
                )
                .await
                .unwrap();
            }
        }
    };
    let twin = async {
        for kind in 0..2i32 {
            let rows = c2
                .query(
                    "SELECT id, kind, pg_sleep(0.01) FROM audit WHERE kind = $1 LIMIT 6",
                    &[&kind],
                )
                .await
                .unwrap();
            for r in &rows {
                let id: i64 = r.get(0);
                c2.query(
                    "SELECT v, pg_sleep(0.06) FROM settings WHERE k = $1",
                    &[&id],
                )
                .await
                .unwrap();
            }
        }
    };
    tokio::join!(looped, twin);
    let out = sampler.await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sampled: Vec<&Value> = r["loops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["evidence"] == "activity")
        .collect();
    assert_eq!(
        sampled.len(),
        1,
        "{r:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sampled[0]["child"]["query"],
        "SELECT id, body, pg_sleep($2) FROM comments WHERE post_id = $1"
    );
    assert!(sampled[0]["child_calls"].as_i64().unwrap() >= 5, "{r:#}");
    assert!(
        sampled[0]["finding"]["evidence"][0]
            .as_str()
            .unwrap()
            .contains("weaker signal"),
        "{r:#}"
    );
    assert!(
        !r.to_string().contains("FROM settings"),
        "the unrelated loop is not an N+1: {r:#}"
    );
}
