//! Statements as pg_stat_statements holds them for real ORM apps (fixtures/orm: Django,
//! SQLAlchemy, Sequelize, Prisma, Rails, Hibernate, recorded on PostgreSQL 15) must plan:
//! typed literals on parameters (`interval $1`), SQL-level PREPARE / DECLARE CURSOR / EXPLAIN /
//! COPY wrappers, foreign-key checks (`OPERATOR(pg_catalog.=)`, `FOR KEY SHARE`), parameters
//! whose type the server guesses wrongly (`now() - $1`).

mod common;

use serde_json::Value;

const ORMS: &[&str] = &[
    "django",
    "sqlalchemy",
    "sequelize",
    "prisma",
    "rails",
    "hibernate",
];

fn fixture(name: &str) -> String {
    format!("{}/fixtures/orm/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn orm_db(tag: &str) -> dbopt::pg::ConnParams {
    let p = common::fresh_db(tag).await;
    let c = common::setup_conn(&p).await;
    let schema = std::fs::read_to_string(fixture("schema.sql")).unwrap();
    c.batch_execute(&schema).await.unwrap();
    p
}

fn advise(p: &dbopt::pg::ConnParams, format: &str) -> std::process::Output {
    let mut args: Vec<String> = vec![
        "advise".into(),
        "--format".into(),
        format.into(),
        "--database-url".into(),
        p.url_with_password(),
    ];
    for orm in ORMS {
        args.push("--queries".into());
        args.push(fixture(&format!("{orm}.sql")));
    }
    common::dbopt().args(&args).output().unwrap()
}

#[tokio::test]
async fn orm_statements_as_pg_stat_statements_holds_them_plan() {
    let p = orm_db("orm").await;
    let out = advise(&p, "json");
    common::assert_success(&out);
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let w = &r["workload"];
    let statements = w["statements"].as_u64().unwrap();
    let planned = w["planned"].as_u64().unwrap();
    let unplanned: Vec<&Value> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            let why = s["reason"].as_str().unwrap_or("");
            why.contains("could not plan") || why.contains("cannot parse")
        })
        .collect();
    // 94 statements in the fixtures, 89 of them DML on user tables (not BEGIN, CLOSE, COMMIT,
    // Hibernate's nextval and Rails' catalog query), 3 of those the same statement in two
    // files (a foreign-key check, the EXPLAIN and COPY of Django's literal twins).
    assert_eq!(statements, 86, "{w}");
    #[allow(clippy::cast_precision_loss)]
    let share = planned as f64 / statements as f64;
    assert!(
        share >= 0.99,
        "planned {planned} of {statements}: {unplanned:#?}"
    );
    assert!(unplanned.is_empty(), "{unplanned:#?}");

    let out = advise(&p, "table");
    common::assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "planned {planned} of {statements} DML statements (100.0 %)"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn an_untyped_parameter_in_date_arithmetic_is_planned_as_an_interval() {
    use dbopt::workload::plannable::plannable;
    let p = orm_db("interval").await;
    let c = dbopt::pg::connect(&p, &dbopt::pg::SessionOptions::default())
        .await
        .unwrap();
    let stmt =
        plannable("SELECT * FROM \"Post\" WHERE \"createdAt\" >= now() - $2 AND \"authorId\" = $1");
    let e = dbopt::pg::explain::plan_generic(&c, &stmt).await.unwrap();
    assert_eq!(e.param_types, ["unknown", "interval"]);
    let plan = e.raw.to_string();
    assert!(plan.contains("(now() - $2)"), "{plan}");
    // Typed literals and a declared PREPARE keep working the same way.
    let e = dbopt::pg::explain::plan_generic(
        &c,
        &plannable("PREPARE q (int4) AS SELECT * FROM \"Post\" WHERE \"authorId\" = $1 AND \"createdAt\" >= now() - interval $2"),
    )
    .await
    .unwrap();
    assert_eq!(e.param_types, ["int4", "unknown"]);
}

#[tokio::test]
async fn an_n_plus_one_whose_parent_is_prepared_with_sql_is_found() {
    let p = common::fresh_db("n1prep").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(
        "CREATE TABLE posts (id bigint PRIMARY KEY, author int NOT NULL, title text NOT NULL);
         CREATE TABLE comments (id bigint PRIMARY KEY, post_id bigint NOT NULL REFERENCES posts (id), body text NOT NULL);
         CREATE INDEX ON comments (post_id);
         INSERT INTO posts SELECT g, g % 50, 'post ' || g FROM generate_series(1, 2000) g;
         INSERT INTO comments SELECT g, (g % 2000) + 1, 'comment ' || g FROM generate_series(1, 4000) g;
         ANALYZE;",
    )
    .await
    .unwrap();
    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    c.batch_execute(
        "PREPARE list_posts (int) AS SELECT id, title FROM posts WHERE author = $1 ORDER BY id LIMIT 10",
    )
    .await
    .unwrap();
    for author in 0..6i32 {
        let posts = c
            .simple_query(&format!("EXECUTE list_posts({author})"))
            .await
            .unwrap();
        for m in &posts {
            if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                let id: i64 = r.get(0).unwrap().parse().unwrap();
                c.query("SELECT id, body FROM comments WHERE post_id = $1", &[&id])
                    .await
                    .unwrap();
            }
        }
    }
    let r = common::json_report("nplusone", &p);
    let loops = r["loops"].as_array().unwrap();
    assert_eq!(loops.len(), 1, "{r:#}");
    let l = &loops[0];
    assert_eq!(
        l["parent"]["query"],
        "PREPARE list_posts (int) AS SELECT id, title FROM posts WHERE author = $1 ORDER BY id LIMIT $2"
    );
    assert_eq!(l["child_calls"], 60);
    assert_eq!(l["parent_rows"], 60);
    // The one-statement form nests the prepared statement itself, not its PREPARE.
    assert_eq!(
        l["single_statement"],
        "SELECT id, body FROM comments WHERE post_id IN (SELECT \"id\" FROM (SELECT id, title FROM posts WHERE author = $1 ORDER BY id LIMIT $2) AS parent)"
    );
}
