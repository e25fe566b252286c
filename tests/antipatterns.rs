//! Query anti-pattern rules on a real workload: each pattern runs on the throwaway server next
//! to its twin (the same need written the good way), and only the pattern is reported.

mod common;

use std::collections::HashMap;

use dbopt::pg::{self, SessionOptions};
use dbopt::rules::{self, Config, Ctx, Scope};

const SCHEMA: &str = "
CREATE TABLE big (id bigint PRIMARY KEY, a int NOT NULL, email text NOT NULL,
  c1 int, c2 int, c3 int, c4 int, c5 int, c6 int, c7 int, c8 int, c9 int, c10 int, c11 int, c12 int, c13 int);
INSERT INTO big (id, a, email) SELECT g, g % 100, 'user' || g || '@x.org' FROM generate_series(1, 120000) g;
CREATE INDEX ON big (email);
CREATE INDEX big_upper ON big (upper(email));
CREATE INDEX big_email_prefix ON big (email text_pattern_ops);
CREATE INDEX ON big (a);
CREATE TABLE small (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO small SELECT g, 'n' || g FROM generate_series(1, 200) g;
ANALYZE;
";

#[tokio::test]
async fn each_pattern_is_found_and_its_twin_is_not() {
    let p = common::fresh_db("anti").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute(SCHEMA).await.unwrap();
    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    for i in 0..60i64 {
        let id = i * 97 + 1;
        let email = format!("user{id}@x.org");
        let n = i % 100;
        let n32 = i32::try_from(n).unwrap();
        // SELECT * on a wide table / the named-columns twin / * on a narrow table.
        c.query("SELECT * FROM big WHERE id = $1", &[&id])
            .await
            .unwrap();
        c.query("SELECT id, a FROM big WHERE id = $1", &[&id])
            .await
            .unwrap();
        c.query("SELECT * FROM small WHERE id = $1", &[&(id % 200)])
            .await
            .unwrap();
        if i < 12 {
            // Deep OFFSET / keyset twin.
            c.query(
                "SELECT id, a FROM big ORDER BY id LIMIT 20 OFFSET $1",
                &[&(20_000 + id)],
            )
            .await
            .unwrap();
            c.query(
                "SELECT id, a FROM big WHERE id > $1 ORDER BY id LIMIT 20",
                &[&(20_000 + id)],
            )
            .await
            .unwrap();
            // ORDER BY random() / ordered twin.
            c.query("SELECT id, name FROM small ORDER BY random() LIMIT 1", &[])
                .await
                .unwrap();
            c.query("SELECT id, name FROM small ORDER BY id LIMIT 1", &[])
                .await
                .unwrap();
            // Function on an indexed column / bare column / served by an expression index.
            c.query("SELECT id FROM big WHERE lower(email) = $1", &[&email])
                .await
                .unwrap();
            c.query("SELECT id FROM big WHERE email = $1", &[&email])
                .await
                .unwrap();
            c.query("SELECT id FROM big WHERE upper(email) = $1", &[&email])
                .await
                .unwrap();
            // Leading-wildcard LIKE / prefix LIKE served by a text_pattern_ops index.
            let suffix = format!("%{i}@x.org");
            c.query("SELECT id FROM big WHERE email LIKE $1", &[&suffix])
                .await
                .unwrap();
            let prefix = format!("user{}%", 1000 + i);
            c.query("SELECT a FROM big WHERE email LIKE $1", &[&prefix])
                .await
                .unwrap();
            // An integer column against a numeric parameter / against an integer.
            c.batch_execute(&format!(
                "SELECT id FROM big WHERE a = {n}::numeric; SELECT id FROM big WHERE a = {n}::int"
            ))
            .await
            .unwrap();
            // count(*) over a large table / narrowed / over a small table.
            c.query("SELECT count(*) FROM big", &[]).await.unwrap();
            c.query("SELECT count(*) FROM big WHERE a = $1", &[&n32])
                .await
                .unwrap();
            c.query("SELECT count(*) FROM small", &[]).await.unwrap();
        }
    }
    // IN lists of varying length (literal lists, as string-built SQL sends them) / ANY twin.
    for len in 1..=5i64 {
        let list: Vec<String> = (1..=len).map(|v| v.to_string()).collect();
        c.batch_execute(&format!(
            "SELECT id FROM small WHERE id IN ({})",
            list.join(", ")
        ))
        .await
        .unwrap();
        let arr: Vec<i64> = (1..=len).collect();
        c.query("SELECT name FROM small WHERE id = ANY($1)", &[&arr])
            .await
            .unwrap();
    }

    let conn = pg::connect(&p, &SessionOptions::default()).await.unwrap();
    let catalog = pg::catalog::load(&conn).await.unwrap();
    let workload = pg::pgss::read(&conn).await.unwrap();
    let queries: HashMap<&str, &str> = workload
        .statements
        .iter()
        .map(|s| (s.fingerprint.as_str(), s.query.as_str()))
        .collect();
    let ctx = Ctx {
        catalog: Some(&catalog),
        workload: Some(&workload),
        ..Default::default()
    };
    let findings = rules::run(Scope::Workload, &ctx, &Config::default()).unwrap();
    let by_rule = |rule: &str| -> Vec<String> {
        let mut v: Vec<String> = findings
            .iter()
            .filter(|f| f.rule == rule)
            .map(|f| {
                queries
                    .get(f.object.as_str())
                    .map_or_else(|| f.message.clone(), |q| (*q).to_string())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        by_rule("select-star-on-wide-table"),
        ["SELECT * FROM big WHERE id = $1"]
    );
    assert_eq!(
        by_rule("offset-pagination"),
        ["SELECT id, a FROM big ORDER BY id LIMIT $2 OFFSET $1"]
    );
    assert_eq!(
        by_rule("order-by-random"),
        ["SELECT id, name FROM small ORDER BY random() LIMIT $1"]
    );
    assert_eq!(
        by_rule("count-on-large-table"),
        ["SELECT count(*) FROM big"]
    );
    let f = by_rule("function-on-indexed-column");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("lower(email)"), "{f:?}");
    let fx = findings
        .iter()
        .find(|f| f.rule == "function-on-indexed-column")
        .unwrap();
    assert_eq!(
        fx.sql().as_deref(),
        Some("CREATE INDEX CONCURRENTLY IF NOT EXISTS \"big_lower_email_idx\" ON \"public\".\"big\" ((lower(\"email\")))")
    );
    let inl: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == "in-list-splits-statements")
        .collect();
    assert_eq!(inl.len(), 1, "{findings:#?}");
    assert!(
        inl[0].message.starts_with("5 pg_stat_statements entries"),
        "{}",
        inl[0].message
    );
    assert_eq!(
        inl[0].sql().as_deref(),
        Some("SELECT id FROM small WHERE id = ANY($1)")
    );
    assert_eq!(
        by_rule("leading-wildcard-like"),
        ["SELECT id FROM big WHERE email LIKE $1"]
    );
    assert_eq!(
        by_rule("implicit-cast-on-column"),
        ["SELECT id FROM big WHERE a = $1::numeric"]
    );
    assert!(by_rule("n-plus-one").is_empty());
}
