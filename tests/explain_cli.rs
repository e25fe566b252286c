//! `dbopt explain` as a user runs it, against a real server: DML leaves the table unchanged
//! and is only planned unless --analyze-writes, --with-index builds one CREATE INDEX and
//! nothing else, parameters, generic plans, inputs, output formats, comparisons, and every kind of bad input
//! ending in a clear message and exit status 2.

mod common;

use dbopt::pg::ConnParams;

/// A database with `items` (10,000 rows) and its URL.
async fn items_db(tag: &str) -> (ConnParams, String) {
    let p = common::fresh_db(tag).await;
    common::setup_conn(&p)
        .await
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, shop int NOT NULL, price numeric NOT NULL, name text);
             INSERT INTO items SELECT i, i % 100, i * 1.5, 'item ' || i FROM generate_series(1, 10000) i;
             CREATE TABLE audit (id serial PRIMARY KEY, item int);
             ANALYZE;",
        )
        .await
        .unwrap();
    let url = p.url_with_password();
    (p, url)
}

fn explain(url: &str, args: &[&str]) -> std::process::Output {
    common::dbopt()
        .arg("--database-url")
        .arg(url)
        .arg("explain")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Row count and an md5 over every row, in key order.
async fn fingerprint(p: &ConnParams, table: &str) -> (i64, String) {
    let row = common::setup_conn(p)
        .await
        .query_one(
            &format!("SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {table} t"),
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn dml_is_rolled_back_and_the_table_unchanged() {
    let (p, url) = items_db("dml").await;
    let before = (
        fingerprint(&p, "items").await,
        fingerprint(&p, "audit").await,
    );
    for sql in [
        "UPDATE items SET price = price * 2 WHERE shop = 3",
        "DELETE FROM items WHERE id > 5000",
        "INSERT INTO audit (item) SELECT id FROM items WHERE shop = 1",
        "WITH gone AS (DELETE FROM items WHERE shop = 7 RETURNING id) INSERT INTO audit (item) SELECT id FROM gone",
        "WITH gone AS (DELETE FROM items RETURNING id) SELECT count(*) FROM gone",
        "MERGE INTO items i USING (SELECT 1 AS id) s ON i.id = s.id WHEN MATCHED THEN DELETE",
        "SELECT id FROM items WHERE shop = 3 ORDER BY id LIMIT 5 FOR UPDATE SKIP LOCKED",
    ] {
        let o = explain(&url, &[sql, "--analyze-writes"]);
        assert_eq!(o.status.code(), Some(0), "{sql}: {}", String::from_utf8_lossy(&o.stderr));
        let out = stdout(&o);
        assert!(out.contains("rolled back"), "{sql}: the user is told: {out}");
        assert!(out.contains("ModifyTable") || out.contains("LockRows"), "{sql}: {out}");
    }
    let after = (
        fingerprint(&p, "items").await,
        fingerprint(&p, "audit").await,
    );
    assert_eq!(before, after);
    assert_eq!(before.0 .0, 10_000);
}

#[tokio::test]
async fn params_generic_plans_inputs_and_formats() {
    let (p, url) = items_db("params").await;
    // --param values: executed with them.
    let o = explain(
        &url,
        &[
            "SELECT * FROM items WHERE shop = $1 AND price > $2",
            "--param",
            "5",
            "--param",
            "100",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout(&o).contains("rows actual"));
    // Findings at or above --fail-on: exit status 1.
    let q = "SELECT * FROM items WHERE name = 'item 5'";
    let o = explain(&url, &[q, "--fail-on", "warning"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("seq-scan-filters-most-rows"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        explain(&url, &[q]).status.code(),
        Some(0),
        "no --fail-on, no failure"
    );
    // No values: a generic plan, not executed.
    let o = explain(
        &url,
        &["SELECT * FROM items WHERE shop = $1", "--format", "json"],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["before"]["mode"], "generic");
    assert_eq!(v["kind"], "select");
    assert_eq!(v["shape"]["accesses"][0]["predicates"][0]["kind"], "eq");
    assert!(v["before"]["plan"]["root"]["node_type"].is_string());
    assert!(v["before"]["findings"].is_array());
    // -f FILE and standard input.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("q.sql");
    std::fs::write(&f, "SELECT name FROM items\nWHERE id = 42;\n").unwrap();
    let o = explain(&url, &["-f", f.to_str().unwrap(), "--format", "markdown"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let md = stdout(&o);
    assert!(md.contains("```sql") && md.contains("| node"), "{md}");
    assert!(
        md.contains("<br>") && md.contains("index: "),
        "one table row per node: {md}"
    );
    let o = common::dbopt()
        .args(["--database-url", &url, "explain", "--no-analyze"])
        .write_stdin("SELECT count(*) FROM items")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout(&o).contains("planned only"));

    // In one session: its own prepared statement survives, dbopt's are gone afterwards, for
    // the generic plan (PREPARE under force_generic_plan on PG 15) and for --param values.
    let c = dbopt::pg::connect(&p, &dbopt::pg::SessionOptions::default())
        .await
        .unwrap();
    c.batch_execute("PREPARE mine AS SELECT 1").await.unwrap();
    for params in [vec![], vec!["3".to_string()]] {
        let e = dbopt::pg::explain::explain(
            &c,
            &dbopt::pg::explain::Request {
                sql: "SELECT * FROM items WHERE shop = $1".into(),
                analyze: true,
                nparams: 1,
                params,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(e.plan.root.node_type.contains("Scan"), "{:?}", e.plan.root);
    }
    let names: Vec<String> = c
        .query(
            "SELECT name FROM pg_prepared_statements WHERE from_sql",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["mine"]);
    let mode: String = common::scalar(&c, "SHOW plan_cache_mode").await;
    assert_eq!(mode, "auto", "SET LOCAL ended with the transaction");
}

#[tokio::test]
async fn fingerprint_from_pg_stat_statements() {
    let (p, url) = items_db("fp").await;
    let c = common::setup_conn(&p).await;
    c.query("SELECT name FROM items WHERE shop = $1", &[&7i32])
        .await
        .unwrap();
    let id: i64 = common::scalar(&c, "SELECT queryid FROM pg_stat_statements WHERE query = 'SELECT name FROM items WHERE shop = $1' AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())").await;
    let o = explain(&url, &["--fingerprint", &id.to_string()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout(&o).contains("generic plan"), "{}", stdout(&o));
    let o = explain(&url, &["--fingerprint", "12345"]);
    common::assert_clean_error(&o, &["no statement with queryid 12345"]);
}

#[tokio::test]
async fn compare_with_hypothetical_and_real_indexes() {
    let (p, url) = items_db("compare").await;
    let q = "SELECT * FROM items WHERE shop = 42 AND price > 10";
    let o = explain(&url, &[q, "--compare", "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["after"]["hypothetical"], true);
    assert_eq!(
        v["after"]["indexes"][0],
        r#"CREATE INDEX ON "items" ("shop", "price")"#
    );
    let cost = |r: &serde_json::Value| r["plan"]["root"]["total_cost"].as_f64().unwrap();
    assert!(cost(&v["after"]) < cost(&v["before"]) / 2.0, "{v}");

    let o = explain(
        &url,
        &[
            q,
            "--with-index",
            "CREATE INDEX CONCURRENTLY items_shop ON items (shop)",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    assert!(
        out.contains("items_shop") && out.contains("compare: total cost"),
        "{out}"
    );
    let n: i64 = common::setup_conn(&p)
        .await
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'items'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "only the primary key: the index was rolled back");
}

#[tokio::test]
async fn bad_input_gives_clear_errors() {
    let (p, url) = items_db("bad").await;
    // Syntax error: position and caret on the next line.
    let o = explain(&url, &["SELECT id\nFROM items\nWHERE id = = 3"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("error: syntax error at or near \"=\" (line 3, column 12); hint:"),
        "{err}"
    );
    assert_eq!(lines[1], "  WHERE id = = 3");
    assert_eq!(lines[2], "             ^");
    assert!(!err.contains("panicked"));
    // Unknown table and column: the server's message, the position, a hint.
    let o = explain(&url, &["SELECT * FROM itemz"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2));
    assert!(err.starts_with("error: relation \"itemz\" does not exist (line 1, column 15); hint: check the table name and the search_path"), "{err}");
    let o = explain(&url, &["SELECT nope FROM items"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("column \"nope\" does not exist") && err.contains("hint:"),
        "{err}"
    );
    // Utility statements, several statements, wrong parameter count, nothing given.
    common::assert_clean_error(
        &explain(&url, &["VACUUM items"]),
        &["utility statement", "hint:"],
    );
    common::assert_clean_error(
        &explain(&url, &["CREATE INDEX ON items (name)"]),
        &["utility statement"],
    );
    common::assert_clean_error(
        &explain(&url, &["SELECT 1; SELECT 2"]),
        &["2 statements given"],
    );
    common::assert_clean_error(
        &explain(
            &url,
            &[
                "SELECT * FROM items WHERE id = $1 AND shop = $2",
                "--param",
                "1",
            ],
        ),
        &["2 parameter(s)", "1 --param"],
    );
    common::assert_clean_error(&explain(&url, &["   ;  "]), &["empty"]);
    // A bad dbopt.toml in the working directory.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dbopt.toml"),
        "[rules.row-misestimate]\nwarning = \"high\"\n",
    )
    .unwrap();
    let o = common::dbopt()
        .current_dir(dir.path())
        .args(["--database-url", &url, "explain", "SELECT 1"])
        .output()
        .unwrap();
    let err = common::assert_clean_error(
        &o,
        &[
            "row-misestimate",
            "hint: the settings of row-misestimate:",
            "min_rows",
        ],
    );
    assert!(
        err.contains("`dbopt rules row-misestimate` prints its [rules.row-misestimate] block"),
        "the hint points at the rule's own settings: {err}"
    );
    common::assert_clean_error(
        &explain(&url, &["-f", "/nonexistent/q.sql"]),
        &["cannot read /nonexistent/q.sql"],
    );
    // Timeout.
    let o = common::dbopt()
        .args([
            "--database-url",
            &url,
            "--statement-timeout",
            "200ms",
            "explain",
            "SELECT pg_sleep(3)",
        ])
        .output()
        .unwrap();
    common::assert_clean_error(&o, &["statement timeout", "--statement-timeout"]);
    // Permission denied, as a role without SELECT on the table.
    let c = common::setup_conn(&p).await;
    c.batch_execute("CREATE ROLE explain_reader LOGIN PASSWORD 'pw-not-shown'; REVOKE ALL ON items FROM PUBLIC;")
        .await
        .unwrap();
    let mut reader = p.clone();
    reader.set("user", "explain_reader");
    reader.set("password", "pw-not-shown");
    let o = explain(&reader.url_with_password(), &["SELECT * FROM items"]);
    let err = common::assert_clean_error(&o, &["permission denied for table items", "GRANT"]);
    assert!(!err.contains("pw-not-shown"));
}

#[tokio::test]
async fn statements_the_parser_cannot_read_are_analysed_from_their_plan() {
    let (p, url) = items_db("unparsed").await;
    let before = fingerprint(&p, "items").await;
    // FOR NO KEY UPDATE is PostgreSQL syntax dbopt's parser does not know.
    let o = explain(
        &url,
        &[
            "SELECT id FROM items WHERE shop = 3 FOR NO KEY UPDATE",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["parse_error"].as_str().unwrap().contains("syntax error"),
        "{v}"
    );
    assert!(v["kind"].is_null());
    assert_eq!(v["plan_summary"]["relations"][0], "public.items");
    assert!(
        v["plan_summary"]["conditions"][0]
            .as_str()
            .unwrap()
            .contains("shop = 3"),
        "{v}"
    );
    assert!(v["before"]["notes"][0]
        .as_str()
        .unwrap()
        .contains("rolled back"));
    assert_eq!(fingerprint(&p, "items").await, before);
}

/// Whether `victim` still has the row with this id, and how many indexes it has.
async fn victim_state(p: &ConnParams, id: i32) -> (bool, i64) {
    let c = common::setup_conn(p).await;
    let row = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM victim WHERE id = $1),
                    (SELECT count(*) FROM pg_indexes WHERE tablename = 'victim')",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn with_index_takes_one_create_index_and_nothing_else() {
    let (p, url) = items_db("withindex").await;
    common::setup_conn(&p)
        .await
        .batch_execute(
            "CREATE TABLE victim (id int PRIMARY KEY, x int);
             INSERT INTO victim SELECT i, i FROM generate_series(1, 20) i;
             CREATE FUNCTION evil(int) RETURNS int LANGUAGE plpgsql IMMUTABLE
               AS $$ BEGIN DELETE FROM victim WHERE id = 11; RETURN $1; END $$;",
        )
        .await
        .unwrap();
    let q = "SELECT * FROM victim WHERE x = 5";
    // A COMMIT after the index must not escape the rollback: refused before connecting.
    let o = explain(
        &url,
        &[
            q,
            "--with-index",
            "CREATE INDEX ON victim (x); COMMIT; DELETE FROM victim WHERE id = 10",
        ],
    );
    common::assert_clean_error(&o, &["--with-index", "3 statements", "hint:"]);
    assert_eq!(
        victim_state(&p, 10).await,
        (true, 1),
        "row kept, no index left"
    );
    for (ddl, needle) in [
        (
            "CREATE INDEX ON victim ((evil(x)))",
            "`evil` is not a built-in",
        ),
        (
            "CREATE INDEX ON victim ((public.evil(x)))",
            "`public.evil` is not a built-in",
        ),
        (
            "CREATE INDEX ON victim (x); CREATE INDEX ON victim (id)",
            "2 statements",
        ),
        ("DELETE FROM victim WHERE id = 11", "only a CREATE INDEX"),
        (
            "CREATE INDEX ON victim (x) WHERE x IN (SELECT evil(1))",
            "subqueries",
        ),
        (
            "CREATE INDEX ON no_such_table (x)",
            "`no_such_table` does not exist",
        ),
    ] {
        let o = explain(&url, &[q, "--with-index", ddl]);
        common::assert_clean_error(&o, &[needle, "hint:"]);
    }
    assert_eq!(victim_state(&p, 11).await, (true, 1), "evil() never ran");
    // The statement itself goes over the extended protocol: a statement the parser cannot read
    // (sent as it is) cannot smuggle a COMMIT either.
    let o = explain(
        &url,
        &["SELECT id FROM victim FOR NO KEY UPDATE; COMMIT; DELETE FROM victim WHERE id = 12"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert_eq!(victim_state(&p, 12).await, (true, 1));
    // Ordinary, CONCURRENTLY and built-in expression indexes still work and are used.
    for (sql, ddl, name) in [
        (
            "SELECT * FROM items WHERE shop = 42",
            "CREATE INDEX items_shop_ix ON items (shop)",
            "items_shop_ix",
        ),
        (
            "SELECT * FROM items WHERE name = 'item 5'",
            "CREATE INDEX CONCURRENTLY items_name_ix ON Items (Name)",
            "items_name_ix",
        ),
        (
            "SELECT * FROM items WHERE lower(name) = 'item 5'",
            "CREATE INDEX items_lower_ix ON public.items ((lower(name)))",
            "items_lower_ix",
        ),
    ] {
        let o = explain(&url, &[sql, "--with-index", ddl, "--format", "json"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{ddl}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let plan = v["after"]["plan"]["root"].to_string();
        assert!(plan.contains(name), "{ddl}: the index is used: {plan}");
        if ddl.contains("CONCURRENTLY") {
            assert!(
                v["notes"].to_string().contains("CONCURRENTLY was dropped"),
                "{v}"
            );
        }
    }
    let c = common::setup_conn(&p).await;
    let n: i64 = common::scalar(
        &c,
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'items'",
    )
    .await;
    assert_eq!(n, 1, "only the primary key: every index was rolled back");
}

#[tokio::test]
async fn writes_are_planned_only_unless_analyze_writes() {
    let (p, url) = items_db("writes").await;
    let c = common::setup_conn(&p).await;
    c.batch_execute("INSERT INTO audit (item) VALUES (0)")
        .await
        .unwrap();
    let state = || async {
        let c = common::setup_conn(&p).await;
        let row = c
            .query_one(
                "SELECT (SELECT last_value FROM pg_sequences WHERE sequencename = 'audit_id_seq'),
                        (SELECT count(*) FROM audit)",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, Option<i64>>(0), row.get::<_, i64>(1))
    };
    assert_eq!(state().await, (Some(1), 1));
    let sql = "INSERT INTO audit (item) SELECT id FROM items WHERE shop = 1";
    let o = explain(&url, &[sql, "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["before"]["mode"], "plain", "{v}");
    assert!(
        v["before"]["notes"]
            .to_string()
            .contains("--analyze-writes"),
        "{v}"
    );
    assert_eq!(
        state().await,
        (Some(1), 1),
        "planned only: the sequence did not move"
    );

    let o = explain(&url, &[sql, "--analyze-writes", "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["before"]["mode"], "analyze", "{v}");
    let notes = v["before"]["notes"].to_string();
    assert!(notes.contains("rolled back"), "{notes}");
    assert!(
        notes.contains("public.audit_id_seq (from 1 to 101)"),
        "{notes}"
    );
    assert_eq!(
        state().await,
        (Some(101), 1),
        "rows rolled back; the sequence advanced, as told"
    );
}
