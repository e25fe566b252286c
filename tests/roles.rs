//! dbopt as the roles managed servers hand out (RDS, Cloud SQL, Azure, Supabase, Neon): no
//! superuser. Three real roles on the throwaway server, in a fresh database with an `app`
//! schema, data, ANALYZE and pg_stat_statements rows of other roles:
//! (a) `pg_monitor` + SELECT on `app`: every read-only command works;
//! (b) SELECT on `app` only: hidden statements are said so, SELECT-only commands work, the
//!     others fail in one line with the exact GRANT;
//! (c) the table owner, no superuser: works on what it owns.
//!
//! `doctor` must tell the truth for all three. Roles are cluster-wide, so their names carry
//! the database's unique name and they are dropped at the end.

mod common;

use dbopt::pg::{self, ConnParams};
use serde_json::Value;

/// The `app` schema the roles work on, created by its (non-superuser) owner. `payroll` is not
/// granted to role (b).
const APP: &str = "
CREATE TABLE app.customers (id int PRIMARY KEY, email text NOT NULL);
INSERT INTO app.customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 2000) g;
CREATE TABLE app.orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES app.customers,
                         status text NOT NULL, total numeric NOT NULL);
INSERT INTO app.orders SELECT g, 1 + g % 2000, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3], g % 500
  FROM generate_series(1, 50000) g;
CREATE TABLE app.payroll (id int PRIMARY KEY, salary int);
INSERT INTO app.payroll SELECT g, 1000 * g FROM generate_series(1, 100) g;
ANALYZE app.customers, app.orders, app.payroll;
";

/// The database and the three roles' connection parameters.
struct World {
    admin: ConnParams,
    monitor: ConnParams,
    select_only: ConnParams,
    owner: ConnParams,
}

impl World {
    fn roles(&self) -> [&str; 3] {
        [
            self.monitor.user(),
            self.select_only.user(),
            self.owner.user(),
        ]
    }
}

fn as_role(p: &ConnParams, role: &str) -> ConnParams {
    let mut q = p.clone();
    q.set("user", role);
    q.set("password", format!("pw-{role}"));
    q
}

async fn world(tag: &str) -> World {
    let admin = common::fresh_db(tag).await;
    let db = admin.dbname().to_string();
    let (mon, sel, own) = (
        format!("mon_{db}"),
        format!("sel_{db}"),
        format!("own_{db}"),
    );
    let q = dbopt::sql::quote_ident;
    let c = common::setup_conn(&admin).await;
    c.batch_execute(&format!(
        "CREATE ROLE {m} LOGIN PASSWORD 'pw-{mon}'; GRANT pg_monitor TO {m};
         CREATE ROLE {s} LOGIN PASSWORD 'pw-{sel}';
         CREATE ROLE {o} LOGIN PASSWORD 'pw-{own}';
         CREATE SCHEMA app AUTHORIZATION {o};
         CREATE SCHEMA vault; CREATE TABLE vault.secrets (id int PRIMARY KEY, v text);
         INSERT INTO vault.secrets SELECT g, 's' || g FROM generate_series(1, 10) g; ANALYZE vault.secrets;",
        m = q(&mon),
        s = q(&sel),
        o = q(&own),
    ))
    .await
    .expect("roles and schemas");
    let owner = as_role(&admin, &own);
    let oc = common::setup_conn(&owner).await;
    oc.batch_execute(APP)
        .await
        .expect("app schema as its owner");
    oc.batch_execute(&format!(
        "GRANT USAGE ON SCHEMA app TO {m}, {s};
         GRANT SELECT ON app.customers, app.orders TO {m}, {s};
         GRANT SELECT ON app.payroll TO {m};",
        m = q(&mon),
        s = q(&sel),
    ))
    .await
    .expect("grants");
    pg::pgss::reset_database(&c).await.unwrap();
    // Statements of two other roles: the owner's workload, and one of the superuser's.
    for i in 0..40 {
        oc.batch_execute(&format!(
            "SELECT * FROM app.orders WHERE customer_id = {}",
            i * 37 % 2000 + 1
        ))
        .await
        .unwrap();
    }
    c.batch_execute("SELECT count(*) FROM app.orders WHERE status = 'paid'")
        .await
        .unwrap();
    World {
        monitor: as_role(&admin, &mon),
        select_only: as_role(&admin, &sel),
        owner,
        admin,
    }
}

/// Drop the database, then the roles (cluster-wide), so reruns and other tests never meet them.
async fn drop_world(w: World) {
    let s = common::server();
    let c = common::setup_conn(&s.params("postgres")).await;
    c.batch_execute(&format!(
        "DROP DATABASE {} WITH (FORCE)",
        dbopt::sql::quote_ident(w.admin.dbname())
    ))
    .await
    .unwrap();
    for r in w.roles() {
        c.batch_execute(&format!("DROP ROLE {}", dbopt::sql::quote_ident(r)))
            .await
            .unwrap();
    }
}

/// `dbopt <args> --database-url <p>` as a process.
fn run(p: &ConnParams, args: &[&str]) -> std::process::Output {
    common::dbopt()
        .args(args)
        .args(["--database-url", &p.url_with_password()])
        .output()
        .unwrap()
}

/// The command succeeded with a JSON report; that report.
fn json(p: &ConnParams, args: &[&str]) -> Value {
    let out = run(p, &[args, &["--format", "json"]].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} as {}: {}",
        p.user(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `doctor --format json`: its exit code and its checks by name.
fn doctor(p: &ConnParams) -> (Option<i32>, Vec<Value>) {
    let out = run(p, &["doctor", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor as {}: {e}; stderr: {}",
            p.user(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v["checks"].as_array().unwrap().clone())
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["name"].as_str().is_some_and(|n| n.starts_with(name)))
        .unwrap_or_else(|| panic!("no check {name:?} in {checks:?}"))
}

fn status(checks: &[Value], name: &str) -> String {
    check(checks, name)["status"].as_str().unwrap().to_string()
}

fn fix(checks: &[Value], name: &str) -> String {
    check(checks, name)["fix"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

const WORKLOAD: &str = "SELECT * FROM app.orders WHERE customer_id = $1";

/// The statements of a `queries` report, and its hidden count.
fn statements(v: &Value) -> (Vec<String>, i64) {
    let texts = v["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["query"].as_str().unwrap().to_string())
        .collect();
    (texts, v["hidden"].as_i64().unwrap())
}

/// The catalog commands return real rows for `app`, with the statistics ANALYZE gathered.
fn catalog_commands_work(p: &ConnParams) {
    let tables = json(p, &["tables"]);
    let names: Vec<&str> = tables["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"app.orders") && names.contains(&"app.customers"),
        "{names:?}"
    );
    let indexes = json(p, &["indexes"]);
    // Four primary keys; the foreign key without an index is found from pg_constraint.
    assert_eq!(indexes["indexes"], 4, "{indexes}");
    assert!(
        indexes["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "fk-without-index" && f["object"] == "app.orders"),
        "indexes as {}: {indexes}",
        p.user()
    );
    assert!(json(p, &["size"]).to_string().contains("app.orders"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.json");
    let out = run(p, &["snapshot", "-o", file.to_str().unwrap()]);
    common::assert_success(&out);
    let snap: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let orders = snap["catalog"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["schema"] == "app" && t["name"] == "orders")
        .cloned()
        .expect("app.orders in the snapshot");
    assert_eq!(orders["analyzed"], true, "{orders}");
    let customer_id = orders["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "customer_id")
        .unwrap();
    assert!(
        customer_id["stats"]["n_distinct"].as_f64().unwrap() != 0.0,
        "pg_stats visible to {}: {customer_id}",
        p.user()
    );
}

/// EXPLAIN ANALYZE of a statement on a table the role may SELECT.
fn explain_works(p: &ConnParams) {
    let v = json(
        p,
        &["explain", "SELECT * FROM app.orders WHERE customer_id = 7"],
    );
    assert!(
        v.to_string().contains("orders"),
        "explain as {}: {v}",
        p.user()
    );
}

#[tokio::test]
async fn a_monitor_role_with_select_runs_every_read_only_command() {
    let w = world("role_mon").await;
    let p = &w.monitor;
    catalog_commands_work(p);
    explain_works(p);

    let (texts, hidden) = statements(&json(p, &["queries"]));
    assert!(texts.iter().any(|t| t == WORKLOAD), "{texts:?}");
    assert_eq!(hidden, 0, "pg_monitor sees every role's statements");

    let advice = json(p, &["advise"]);
    let recs = advice["recommendations"].as_array().unwrap();
    assert!(
        recs.iter().any(|r| r["table"] == "app.orders"
            && r["columns"].to_string().contains("customer_id")),
        "the owner's workload is advised on: {advice}"
    );
    common::assert_success(&run(p, &["connections"]));
    common::assert_success(&run(p, &["nplusone"]));

    let (code, checks) = doctor(p);
    assert_eq!(code, Some(0), "{checks:?}");
    for name in [
        "pg_stat_statements preloaded",
        "statistics privileges",
        "tables, indexes, size, snapshot",
        "queries, advise, nplusone",
        "connections",
    ] {
        assert_eq!(status(&checks, name), "ok", "{name}: {checks:?}");
    }
    // It may not read vault, and doctor says so with the exact grants.
    assert_eq!(status(&checks, "explain"), "warning");
    let f = fix(&checks, "explain");
    assert!(
        f.contains(&format!(
            "GRANT USAGE ON SCHEMA \"vault\" TO \"{}\";",
            p.user()
        )) && f.contains("GRANT SELECT ON ALL TABLES IN SCHEMA \"vault\""),
        "{f}"
    );
    assert!(!f.contains("\"app\""), "app is readable: {f}");
    // Writing commands need what it lacks: said, not assumed.
    assert_eq!(status(&checks, "archive"), "warning");
    assert_eq!(status(&checks, "vacuum"), "warning");
    assert_eq!(status(&checks, "queries --reset"), "warning");
    assert!(fix(&checks, "queries --reset")
        .contains("GRANT EXECUTE ON FUNCTION \"public\".\"pg_stat_statements_reset\"(userid oid"));
    drop_world(w).await;
}

#[tokio::test]
async fn a_select_only_role_is_told_what_is_hidden_and_the_exact_grant() {
    let w = world("role_sel").await;
    let p = &w.select_only;
    catalog_commands_work(p);
    explain_works(p);

    let q = json(p, &["queries"]);
    let (texts, hidden) = statements(&q);
    assert!(
        hidden >= 2,
        "the owner's and the superuser's statements: {q}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("insufficient privilege")),
        "hidden rows are not statements: {texts:?}"
    );
    assert!(
        q["notes"].to_string().contains("GRANT pg_read_all_stats"),
        "{q}"
    );

    let role = p.user().to_string();
    let out = run(p, &["explain", "SELECT * FROM app.payroll"]);
    common::assert_clean_error(
        &out,
        &[
            "permission denied for table payroll",
            &format!("GRANT SELECT ON \"app\".\"payroll\" TO \"{role}\";"),
        ],
    );
    // The server points at the schema: the error line, then explain's caret under it.
    let out = run(p, &["explain", "SELECT * FROM vault.secrets"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: permission denied for schema vault")
            && first.contains(&format!(
                "hint: an administrator (or the object's owner) can run: GRANT USAGE ON SCHEMA \"vault\" TO \"{role}\";"
            )),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let (code, checks) = doctor(p);
    assert_eq!(
        code,
        Some(1),
        "statistics privileges are missing: {checks:?}"
    );
    assert_eq!(status(&checks, "statistics privileges"), "missing");
    assert!(fix(&checks, "statistics privileges")
        .contains(&format!("GRANT pg_read_all_stats TO \"{role}\"")));
    assert_eq!(status(&checks, "tables, indexes, size, snapshot"), "ok");
    assert_eq!(status(&checks, "pg_stat_statements preloaded"), "ok");
    let pgss = check(&checks, "queries, advise, nplusone");
    assert_eq!(pgss["status"], "warning", "{pgss}");
    assert!(
        pgss["detail"]
            .as_str()
            .unwrap()
            .contains("of other roles are hidden"),
        "{pgss}"
    );
    let f = fix(&checks, "explain");
    assert!(
        f.contains(&format!(
            "GRANT SELECT ON ALL TABLES IN SCHEMA \"app\" TO \"{role}\";"
        )) && f.contains("GRANT USAGE ON SCHEMA \"vault\""),
        "{f}"
    );
    assert!(check(&checks, "explain")["detail"]
        .as_str()
        .unwrap()
        .contains("app (1 of 3)"));
    assert_eq!(status(&checks, "connections"), "warning");

    // Without CONNECT the server is up and says no: not "is the server running".
    common::setup_conn(&w.admin)
        .await
        .batch_execute(&format!(
            "REVOKE CONNECT ON DATABASE {} FROM PUBLIC",
            dbopt::sql::quote_ident(w.admin.dbname())
        ))
        .await
        .unwrap();
    let err = common::assert_clean_error(
        &run(p, &["tables"]),
        &[
            "permission denied for database",
            &format!(
                "GRANT CONNECT ON DATABASE \"{}\" TO \"{role}\";",
                w.admin.dbname()
            ),
        ],
    );
    assert!(!err.contains("running"), "{err}");
    drop_world(w).await;
}

#[tokio::test]
async fn the_table_owner_without_superuser_works_on_what_it_owns() {
    let w = world("role_own").await;
    let p = &w.owner;
    catalog_commands_work(p);
    explain_works(p);
    common::assert_success(&run(p, &["explain", "SELECT sum(salary) FROM app.payroll"]));

    let (texts, hidden) = statements(&json(p, &["queries"]));
    assert!(
        texts.iter().any(|t| t == WORKLOAD),
        "its own statements: {texts:?}"
    );
    assert!(hidden >= 1, "the superuser's statement is hidden");
    let advice = json(p, &["advise"]);
    assert!(
        advice["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["table"] == "app.orders"),
        "{advice}"
    );

    let (code, checks) = doctor(p);
    assert_eq!(code, Some(1), "{checks:?}");
    assert_eq!(status(&checks, "statistics privileges"), "missing");
    assert_eq!(status(&checks, "tables, indexes, size, snapshot"), "ok");
    assert_eq!(status(&checks, "queries, advise, nplusone"), "warning");
    // It owns app: it may archive and vacuum there, not in vault.
    for name in ["archive", "vacuum", "explain"] {
        let c = check(&checks, name);
        assert_eq!(c["status"], "warning", "{c}");
        let detail = c["detail"].as_str().unwrap();
        assert!(
            detail.contains("vault") && !detail.contains("app ("),
            "{name}: {detail}"
        );
    }
    let f = fix(&checks, "vacuum");
    assert!(
        f.contains("\"vault\"") && !f.contains("GRANT \"postgres\""),
        "a superuser's membership is never suggested: {f}"
    );
    drop_world(w).await;
}
