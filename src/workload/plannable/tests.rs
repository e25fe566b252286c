//! Unit tests of the plannable rewrite, apart so the module stays readable.

use super::*;

fn sql(text: &str) -> String {
    plannable(text).sql
}

#[test]
fn typed_literals_on_parameters_become_casts() {
    assert_eq!(
        sql("SELECT * FROM t WHERE created_at >= now() - interval $2"),
        "SELECT * FROM t WHERE created_at >= now() - $2::interval"
    );
    assert_eq!(
        sql("SELECT * FROM t WHERE d >= date $1 AND ts < TIMESTAMP $2 AND n = numeric $3"),
        "SELECT * FROM t WHERE d >= $1::date AND ts < $2::timestamp AND n = $3::numeric"
    );
    assert_eq!(
        sql("SELECT timestamp with time zone $1, interval $2 day to second, interval $3 hour"),
        "SELECT $1::timestamp with time zone, $2::interval day to second, $3::interval hour"
    );
    // Not typed literals: a column named date, a cast, AT TIME ZONE, a quoted name.
    for same in [
        "SELECT t.date FROM t WHERE x = $1",
        "SELECT $1::date, x AT TIME ZONE $2",
        "SELECT \"date\" FROM t",
        "SELECT * FROM t WHERE a = 'interval $1'",
    ] {
        assert_eq!(sql(same), same);
    }
}

#[test]
fn wrappers_are_unwrapped_to_the_inner_statement() {
    let p = plannable("PREPARE q1 AS SELECT * FROM post WHERE author_id = $1 AND s = $2");
    assert_eq!(p.sql, "SELECT * FROM post WHERE author_id = $1 AND s = $2");
    assert_eq!(p.wrapper, Some("PREPARE"));
    assert_eq!(p.types, ["unknown", "unknown"]);
    let p = plannable("prepare q (int, numeric(10, 2)) as select $1 + $2");
    assert_eq!(p.sql, "select $1 + $2");
    assert_eq!(p.types, ["int", "numeric(10, 2)"]);
    assert_eq!(
        sql("DECLARE c1 NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM t WHERE a = 7"),
        "SELECT * FROM t WHERE a = 7"
    );
    assert_eq!(
        sql("EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t WHERE id = $1"),
        "SELECT * FROM t WHERE id = $1"
    );
    assert_eq!(
        sql("explain analyze verbose delete from t"),
        "delete from t"
    );
    assert_eq!(
        sql("COPY (SELECT * FROM t WHERE id = $1) TO STDOUT WITH (FORMAT csv);"),
        "SELECT * FROM t WHERE id = $1"
    );
    assert_eq!(sql("COPY t FROM STDIN"), "COPY t FROM STDIN");
    assert!(plannable("PREPARE q AS UPDATE t SET a = $1").is_dml());
    assert!(!plannable("COPY t FROM STDIN").is_dml());
    assert!(!plannable("SET search_path = x").is_dml());
    assert!(plannable("WITH x AS (SELECT 1) SELECT * FROM x").is_dml());
}

#[test]
fn foreign_key_checks_and_locking_read_for_the_parser_and_stay_for_the_server() {
    let p = plannable(
        "SELECT $2 FROM ONLY \"public\".\"t\" x WHERE $1 OPERATOR(pg_catalog.=) \"col\" FOR KEY SHARE OF x",
    );
    assert_eq!(
        p.sql,
        "SELECT $2 FROM ONLY \"public\".\"t\" x WHERE $1 OPERATOR(pg_catalog.=) \"col\" FOR KEY SHARE OF x"
    );
    assert_eq!(
        p.parse_sql,
        "SELECT $2 FROM \"public\".\"t\" x WHERE $1 = \"col\" FOR SHARE OF x"
    );
    crate::workload::shape::parse(&p.parse_sql).expect("sqlparser reads it");
    let p = plannable("UPDATE ONLY t SET a = $1 WHERE id = $2 RETURNING a FOR NO KEY UPDATE");
    assert_eq!(
        p.parse_sql,
        "UPDATE t SET a = $1 WHERE id = $2 RETURNING a FOR UPDATE"
    );
    // FETCH ... ROWS ONLY and other operators are left alone.
    let same = "SELECT * FROM t OFFSET $1 ROWS FETCH FIRST $2 ROWS ONLY";
    assert_eq!(plannable(same).parse_sql, same);
    let custom = "SELECT * FROM t WHERE a OPERATOR(public.===) $1";
    assert_eq!(plannable(custom).parse_sql, custom);
}

#[test]
fn system_statements_are_told_by_the_relations_they_read() {
    for system in [
        "SELECT * FROM pg_catalog.pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = ANY ($1) FOR KEY SHARE",
        "SELECT current_setting($1) WHERE x OPERATOR(pg_catalog.~) $2",
        "SELECT * FROM information_schema.columns WHERE a ~~ $1 ESCAPE $2 GROUP BY ROLLUP(a) WINDOW w AS (x)",
    ] {
        assert!(reads_only_system(system), "{system}");
    }
    for user in [
        "SELECT $2 FROM ONLY \"public\".\"t\" x WHERE $1 OPERATOR(pg_catalog.=) \"col\" FOR KEY SHARE OF x",
        "SELECT * FROM orders o JOIN pg_catalog.pg_class c ON c.relname = o.name",
        "SELECT 1 + 1",
    ] {
        assert!(!reads_only_system(user), "{user}");
    }
}

#[test]
fn parameters_the_text_never_names_are_text() {
    // PostgreSQL 18 squashes IN lists (`IN ($1 /*, ... */)`) and leaves gaps.
    let p = plannable("SELECT * FROM t WHERE id IN ($1 /*, ... */) AND a = $4");
    assert_eq!(p.types, ["unknown", "text", "text", "unknown"]);
}

#[test]
fn retyping_follows_the_servers_error() {
    let q = "SELECT * FROM t WHERE created_at >= now() - $2 AND id = $1";
    let unknown = vec!["unknown".to_string(); 2];
    assert_eq!(
        retype(
            q,
            &unknown,
            "42883",
            "operator does not exist: timestamp with time zone >= interval"
        ),
        Some(vec!["unknown".into(), "interval".into()])
    );
    assert_eq!(
        retype(
            "SELECT * FROM t WHERE d >= current_date - $1",
            &unknown[..1],
            "42883",
            "operator does not exist: date >= integer"
        ),
        Some(vec!["integer".into()])
    );
    assert_eq!(
        retype(
            "SELECT $2 FROM t WHERE id = $1",
            &unknown,
            "42P18",
            "could not determine data type of parameter $2"
        ),
        Some(vec!["unknown".into(), "text".into()])
    );
    // Nothing to change: an unrelated error, a unary minus, a type already set.
    assert_eq!(
        retype(q, &unknown, "42P01", "relation \"t\" does not exist"),
        None
    );
    assert_eq!(
        retype(
            "SELECT * FROM t WHERE a >= -$1",
            &unknown[..1],
            "42883",
            "operator does not exist: timestamp with time zone >= interval"
        ),
        None
    );
    let typed = vec!["unknown".to_string(), "interval".to_string()];
    assert_eq!(
        retype(
            q,
            &typed,
            "42883",
            "operator does not exist: timestamp with time zone >= interval"
        ),
        None
    );
}
