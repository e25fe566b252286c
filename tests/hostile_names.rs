//! Names a schema may really have (`id) WHERE true; DROP TABLE x; --`, `Col"Quote`, `select`,
//! `Mixed Case`, `日本`, `a\"b`, a line break, 63 bytes of multi-byte characters, a schema
//! `MySchema` with a table `Child Tbl`): every statement dbopt prints for them is run on the
//! server and must build exactly the intended index, and the sentinel table `x` must survive.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_success, dbopt, fresh_db, setup_conn};
use dbopt::sql::index_key::{IndexKey, KeyExpr};
use serde_json::Value;

fn names() -> Vec<String> {
    vec![
        "id) WHERE true; DROP TABLE x; --".into(),
        "Col\"Quote".into(),
        "select".into(),
        "Mixed Case".into(),
        "日本".into(),
        "a\\\"b".into(),
        "new\nline".into(),
        // 63 bytes, multi-byte first. (HypoPG cuts its own index names, which hold the column
        // name, at a byte: with 21 three-byte characters its EXPLAIN output is not UTF-8.
        // `the_longest_multi_byte_name_with_dbopts_own_cost_model` covers that one.)
        format!("{}{}", "名".repeat(5), "a".repeat(48)),
    ]
}

fn q(s: &str) -> String {
    dbopt::sql::ident::quote_ident(s)
}

const EXPR_TABLE: &str = "t_expr";
const EXPR_COL: &str = "Weird\"Name";

async fn setup(p: &dbopt::pg::ConnParams) {
    let c = setup_conn(p).await;
    let mut sql = String::from("CREATE TABLE x (id int); INSERT INTO x VALUES (1);\n");
    for (i, n) in names().iter().enumerate() {
        sql.push_str(&format!(
            "CREATE TABLE t{i} (id bigint, {col} int NOT NULL, pad text);
             INSERT INTO t{i} SELECT g, g % 5000, md5(g::text) FROM generate_series(1, 30000) g;\n",
            col = q(n)
        ));
    }
    sql.push_str(&format!(
        "CREATE TABLE {EXPR_TABLE} (id bigint, {c} text NOT NULL, pad text);
         INSERT INTO {EXPR_TABLE} SELECT g, 'V' || (g % 5000), md5(g::text) FROM generate_series(1, 30000) g;
         CREATE SCHEMA \"MySchema\";
         CREATE TABLE \"MySchema\".\"Parent\" (id int PRIMARY KEY);
         INSERT INTO \"MySchema\".\"Parent\" SELECT generate_series(1, 100);
         CREATE TABLE \"MySchema\".\"Child Tbl\" (\"Parent Id\" int REFERENCES \"MySchema\".\"Parent\" (id), v int);
         INSERT INTO \"MySchema\".\"Child Tbl\" SELECT g % 100 + 1, g FROM generate_series(1, 5000) g;
         ANALYZE;",
        c = q(EXPR_COL)
    ));
    c.batch_execute(&sql).await.expect("setup");
    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    for k in 0..30 {
        for (i, n) in names().iter().enumerate() {
            c.batch_execute(&format!(
                "SELECT * FROM t{i} WHERE {} = {}",
                q(n),
                k * 7 + 1
            ))
            .await
            .unwrap();
        }
        // An alias the index expression must not keep.
        c.batch_execute(&format!(
            "SELECT * FROM {EXPR_TABLE} e WHERE lower(e.{}) = 'v{}'",
            q(EXPR_COL),
            k * 7 + 1
        ))
        .await
        .unwrap();
    }
}

/// What each recommendation must be: table -> its one key.
fn expected() -> Vec<(String, IndexKey)> {
    let mut v: Vec<(String, IndexKey)> = names()
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("public.t{i}"), IndexKey::column(n.clone())))
        .collect();
    v.push((
        format!("public.{EXPR_TABLE}"),
        IndexKey::new(KeyExpr::Expression(format!("lower({})", q(EXPR_COL)))),
    ));
    v
}

fn advise(p: &dbopt::pg::ConnParams, extra: &[&str]) -> std::process::Output {
    let out = dbopt()
        .args(["advise", "--database-url"])
        .arg(p.url_with_password())
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_success(&out);
    out
}

/// (table relname, key column names, index expression text) of index `name` in `public`.
async fn index_of(c: &tokio_postgres::Client, name: &str) -> Option<(String, Vec<String>, String)> {
    c.query_opt(
        "SELECT t.relname::text,
                array(SELECT a.attname::text FROM unnest(i.indkey) k
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k),
                coalesce(pg_get_expr(i.indexprs, i.indrelid), '')
           FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
           JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_namespace s ON s.oid = ic.relnamespace
          WHERE ic.relname = $1",
        &[&name],
    )
    .await
    .unwrap()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
}

async fn sentinel_exists(c: &tokio_postgres::Client) -> bool {
    common::scalar::<bool>(c, "SELECT to_regclass('public.x') IS NOT NULL").await
}

/// Every recommended index exists on its table and key (or none does, `built == false`).
async fn check_indexes(c: &tokio_postgres::Client, recs: &[(String, String)], built: bool) {
    for (table, name) in recs {
        let got = index_of(c, name).await;
        if !built {
            assert!(got.is_none(), "{name} still exists");
            continue;
        }
        let (t, cols, expr) = got.unwrap_or_else(|| panic!("index {name} on {table} missing"));
        let (want_table, want_key) = expected().into_iter().find(|(t, _)| t == table).unwrap();
        assert_eq!(format!("public.{t}"), want_table);
        match &want_key.expr {
            KeyExpr::Column(col) => assert_eq!(cols, std::slice::from_ref(col), "{name}"),
            KeyExpr::Expression(_) => {
                assert!(cols.is_empty(), "{cols:?}");
                assert_eq!(expr, format!("lower({})", q(EXPR_COL)));
            }
        }
    }
    assert!(sentinel_exists(c).await, "table x was dropped");
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
    out.sort();
    out
}

/// Outside the statements dbopt means to write, every line of a migration is a comment.
fn only_comments_besides(text: &str, statements: &[String], prefix: &str) {
    let mut rest = text.to_string();
    for s in statements {
        rest = rest.replace(s.as_str(), "");
    }
    for line in rest.lines() {
        let l = line.trim();
        let ok = l.is_empty()
            || l.starts_with(prefix)
            || l == ";"
            || l.starts_with("SET ")
            || l.starts_with("RESET ")
            || l.starts_with("DROP INDEX CONCURRENTLY IF EXISTS \"public\".");
        assert!(ok, "a line outside any comment: {line:?}\n{text}");
    }
}

fn psql(url: &str, file: &Path) {
    let out = Command::new("/usr/lib/postgresql/15/bin/psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(file)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql -f {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn hostile_names_are_quoted_everywhere_and_the_ddl_does_exactly_what_it_says() {
    let p = fresh_db("hostile").await;
    setup(&p).await;
    let c = setup_conn(&p).await;

    // JSON: every expected index, keyed by the real name, and DDL that builds exactly it.
    let out = advise(&p, &["--format", "json"]);
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let mut recs: Vec<(String, String, String)> = Vec::new();
    for rec in r["recommendations"].as_array().unwrap() {
        let keys: Vec<IndexKey> = serde_json::from_value(rec["columns"].clone()).unwrap();
        let table = rec["table"].as_str().unwrap().to_string();
        let want = expected().into_iter().find(|(t, _)| *t == table);
        let Some((_, key)) = want else { continue };
        assert_eq!(keys, [key], "{rec}");
        let name = rec["name"].as_str().unwrap().to_string();
        assert!(name.len() <= 63, "{name}");
        recs.push((table, name, rec["ddl"].as_str().unwrap().to_string()));
    }
    let mut tables: Vec<&str> = recs.iter().map(|r| r.0.as_str()).collect();
    tables.sort_unstable();
    let mut want: Vec<String> = expected().into_iter().map(|e| e.0).collect();
    want.sort();
    assert_eq!(tables, want, "one index per hostile name: {r}");
    let mut names: Vec<&str> = recs.iter().map(|r| r.1.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), recs.len(), "index names are unique: {names:?}");
    let by_name: Vec<(String, String)> = recs.iter().map(|r| (r.0.clone(), r.1.clone())).collect();

    // The table output prints the same DDL.
    let text = String::from_utf8(advise(&p, &[]).stdout).unwrap();
    for (_, _, ddl) in &recs {
        assert!(text.contains(&format!("{ddl};")), "{ddl}\nnot in\n{text}");
    }

    for (_, _, ddl) in &recs {
        c.batch_execute(ddl)
            .await
            .unwrap_or_else(|e| panic!("{ddl}: {e}"));
    }
    check_indexes(&c, &by_name, true).await;
    for (_, name, _) in &recs {
        c.batch_execute(&format!("DROP INDEX {}", q(name)))
            .await
            .unwrap();
    }
    check_indexes(&c, &by_name, false).await;

    // Every migration format: up builds exactly the indexes, down drops them.
    let url = p.url_with_password();
    let ddls: Vec<String> = recs.iter().map(|r| r.2.clone()).collect();
    for f in [
        "sqlx",
        "diesel",
        "golang-migrate",
        "flyway",
        "dbmate",
        "plain",
        "rails",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("m");
        std::fs::create_dir(&d).unwrap();
        let args = [
            "--emit-migrations",
            d.to_str().unwrap(),
            "--migration-format",
            f,
        ];
        advise(&p, &args);
        let files = walk(&d);
        assert!(!files.is_empty(), "{f}: no files");
        let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap();
        let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().to_string();
        let path = |p: &PathBuf| p.display().to_string();
        let (ups, downs): (Vec<String>, Vec<String>) = match f {
            "sqlx" | "golang-migrate" => (
                files
                    .iter()
                    .filter(|p| name(p).ends_with(".up.sql"))
                    .map(read)
                    .collect(),
                files
                    .iter()
                    .filter(|p| name(p).ends_with(".down.sql"))
                    .map(read)
                    .collect(),
            ),
            "diesel" => (
                files
                    .iter()
                    .filter(|p| name(p) == "up.sql")
                    .map(read)
                    .collect(),
                files
                    .iter()
                    .filter(|p| name(p) == "down.sql")
                    .map(read)
                    .collect(),
            ),
            "flyway" => (
                files
                    .iter()
                    .filter(|p| name(p).starts_with('V') && name(p).ends_with(".sql"))
                    .map(read)
                    .collect(),
                files
                    .iter()
                    .filter(|p| name(p).starts_with('U') && name(p).ends_with(".sql"))
                    .map(read)
                    .collect(),
            ),
            "dbmate" => files
                .iter()
                .map(|p| {
                    let t = read(p);
                    let (up, down) = t.split_once("-- migrate:down").unwrap();
                    (up.to_string(), format!("-- migrate:down{down}"))
                })
                .unzip(),
            "plain" => {
                let (down, up): (Vec<&PathBuf>, Vec<&PathBuf>) =
                    files.iter().partition(|p| name(p).ends_with(".down.sql"));
                for p in &up {
                    only_comments_besides(&read(p), &ddls, "--");
                    psql(&url, p);
                }
                check_indexes(&c, &by_name, true).await;
                for p in &down {
                    only_comments_besides(&read(p), &ddls, "--");
                    psql(&url, p);
                }
                check_indexes(&c, &by_name, false).await;
                continue;
            }
            _ => {
                // Rails files cannot be run here: the header is Ruby comments, each key is
                // dbopt's SQL in a Ruby string.
                for p in &files {
                    let t = read(p);
                    let code = t
                        .split_once("class ")
                        .unwrap_or_else(|| panic!("{}", path(p)))
                        .0;
                    for line in code.lines() {
                        assert!(line.is_empty() || line.starts_with('#'), "{line:?}");
                    }
                    assert!(t.contains("algorithm: :concurrently"), "{t}");
                }
                let all: String = files.iter().map(read).collect();
                for e in expected() {
                    let sql = e.1.sql();
                    let mut rb = String::from("\"");
                    for ch in sql.chars() {
                        match ch {
                            '"' | '\\' | '#' => {
                                rb.push('\\');
                                rb.push(ch);
                            }
                            '\n' => rb.push_str("\\n"),
                            c => rb.push(c),
                        }
                    }
                    rb.push('"');
                    assert!(all.contains(&rb), "{rb} not in {all}");
                }
                continue;
            }
        };
        assert_eq!(ups.len(), recs.len(), "{f}");
        for up in &ups {
            only_comments_besides(up, &ddls, "--");
            c.batch_execute(up)
                .await
                .unwrap_or_else(|e| panic!("{f}: {up}: {e}"));
        }
        check_indexes(&c, &by_name, true).await;
        for down in &downs {
            only_comments_besides(down, &ddls, "--");
            c.batch_execute(down)
                .await
                .unwrap_or_else(|e| panic!("{f}: {down}: {e}"));
        }
        check_indexes(&c, &by_name, false).await;
    }
}

#[tokio::test]
async fn indexes_fix_sql_indexes_the_foreign_key_of_a_quoted_table() {
    let p = fresh_db("hostile_fk").await;
    setup(&p).await;
    let out = dbopt()
        .args(["indexes", "--format", "json", "--database-url"])
        .arg(p.url_with_password())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let fixes: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "fk-without-index")
        .map(|f| f["sql"].as_str().unwrap())
        .collect();
    assert_eq!(
        fixes,
        ["CREATE INDEX CONCURRENTLY IF NOT EXISTS \"child_tbl_parent_id_idx\" ON \"MySchema\".\"Child Tbl\" (\"Parent Id\")"],
        "{r}"
    );
    let c = setup_conn(&p).await;
    c.batch_execute(fixes[0]).await.unwrap();
    let cols: Vec<String> = c
        .query_one(
            "SELECT array(SELECT a.attname::text FROM unnest(i.indkey) k
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k)
               FROM pg_index i WHERE i.indexrelid = '\"MySchema\".child_tbl_parent_id_idx'::regclass
                AND i.indrelid = '\"MySchema\".\"Child Tbl\"'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(cols, ["Parent Id"]);
    assert!(sentinel_exists(&c).await);
}

/// 21 three-byte characters (63 bytes, the longest name PostgreSQL keeps), advised with dbopt's
/// cost model: no panic, a name within 63 bytes, DDL that builds the index on that column.
#[tokio::test]
async fn the_longest_multi_byte_name_with_dbopts_own_cost_model() {
    let col = "名".repeat(21);
    let p = fresh_db("hostile_long").await;
    let c = setup_conn(&p).await;
    c.batch_execute(&format!(
        "CREATE TABLE x (id int);
         CREATE TABLE \"日本\" (id bigint, {col} int NOT NULL, pad text);
         INSERT INTO \"日本\" SELECT g, g % 5000, md5(g::text) FROM generate_series(1, 30000) g;
         ANALYZE;",
        col = q(&col)
    ))
    .await
    .unwrap();
    dbopt::pg::pgss::reset_database(&c).await.unwrap();
    for k in 0..30 {
        c.batch_execute(&format!("SELECT * FROM \"日本\" WHERE {} = {k}", q(&col)))
            .await
            .unwrap();
    }
    let out = advise(&p, &["--format", "json", "--costing", "model"]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rec = &r["recommendations"][0];
    let keys: Vec<IndexKey> = serde_json::from_value(rec["columns"].clone()).unwrap();
    assert_eq!(keys, [IndexKey::column(col.clone())], "{r}");
    let name = rec["name"].as_str().unwrap();
    assert!(name.len() <= 63 && name.ends_with("_idx"), "{name}");
    c.batch_execute(rec["ddl"].as_str().unwrap()).await.unwrap();
    let (t, cols, _) = index_of(&c, name)
        .await
        .expect("index built under its name");
    assert_eq!((t.as_str(), cols), ("日本", vec![col]));
    assert!(sentinel_exists(&c).await);
}
