//! Index migrations: every format's files, applied to a real PostgreSQL the way its tool does
//! (one query message per file or dbmate section; psql statement by statement), run twice,
//! undone, with the catalog checked after each step; the SQL round-trips through sqlparser;
//! squawk lints the files; `--apply` builds and checks the indexes; bad input fails cleanly.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use common::{fresh_db, setup_conn};
use dbopt::advisor::report::AdviseReport;
use dbopt::emit::{self, EmitContext, MigrationFormat};
use dbopt::pg::ConnParams;

const LEADS: &str = "fixtures/reports/leads.json";
const EVENTS: &str = "fixtures/reports/events_partitioned.json";

/// The tables the fixture reports talk about, with enough rows for the planner to care.
const SCHEMA: &str = "
CREATE TABLE leads (
    id bigserial PRIMARY KEY,
    agent_id bigint NOT NULL,
    status text NOT NULL,
    email text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz
);
INSERT INTO leads (agent_id, status, email, payload, created_at, deleted_at)
SELECT g % 500, (ARRAY['new','open','won','lost','spam'])[1 + g % 5], 'User' || g || '@Example.com',
       jsonb_build_object('source', 'src' || (g % 300), 'n', g),
       now() - g * interval '1 minute', CASE WHEN g % 10 = 0 THEN now() END
FROM generate_series(1, 30000) g;
CREATE TABLE events (
    id bigint NOT NULL,
    entity_id bigint NOT NULL,
    kind text NOT NULL,
    created_at timestamptz NOT NULL
) PARTITION BY RANGE (created_at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO events
SELECT g, g % 3000, 'k' || (g % 7), timestamptz '2025-01-01' + (g % 700) * interval '1 day' + g * interval '1 second'
FROM generate_series(1, 40000) g;
ANALYZE;
";

/// Index names each fixture creates (partition indexes included).
const LEADS_INDEXES: [&str; 3] = [
    "leads_status_created_at_idx",
    "leads_lower_email_partial_idx",
    "leads_payload_idx",
];
const EVENTS_INDEXES: [&str; 3] = [
    "events_entity_id_created_at_idx",
    "events_2025_entity_id_created_at_idx",
    "events_2026_entity_id_created_at_idx",
];

fn report(path: &str) -> AdviseReport {
    emit::read_report(Path::new(path)).expect("fixture report")
}

/// Frozen date and version, so files (and snapshots) are the same on every run.
fn ctx(r: &AdviseReport) -> EmitContext {
    EmitContext {
        now: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        dbopt_version: "0.0.0-test".into(),
        costing: r.costing.clone(),
    }
}

/// Write both fixtures (partitioned first) into `dir`.
fn write_both(dir: &Path, f: MigrationFormat) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in [EVENTS, LEADS] {
        let r = report(path);
        out.extend(emit::write_migrations_with(&r, dir, f, &[], &ctx(&r)).expect("write"));
    }
    out
}

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap().display().to_string()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// What the tool sends, in order: one string per query message (up, then down in the order
/// the tool undoes: newest first).
fn messages(f: MigrationFormat, dir: &Path, files: &[PathBuf]) -> (Vec<String>, Vec<String>) {
    let mut sorted: Vec<PathBuf> = files.to_vec();
    sorted.sort();
    let pick = |pred: &dyn Fn(&str) -> bool| -> Vec<String> {
        sorted
            .iter()
            .filter(|p| pred(&rel(dir, p)))
            .map(|p| read(p))
            .collect()
    };
    let (up, mut down) = match f {
        MigrationFormat::Sqlx | MigrationFormat::GolangMigrate => (
            pick(&|n| n.ends_with(".up.sql")),
            pick(&|n| n.ends_with(".down.sql")),
        ),
        MigrationFormat::Diesel => (
            pick(&|n| n.ends_with("/up.sql")),
            pick(&|n| n.ends_with("/down.sql")),
        ),
        MigrationFormat::Flyway => (
            pick(&|n| n.starts_with('V') && n.ends_with(".sql")),
            pick(&|n| n.starts_with('U') && n.ends_with(".sql")),
        ),
        MigrationFormat::Dbmate => {
            let all = pick(&|n| n.ends_with(".sql"));
            let mut up = Vec::new();
            let mut down = Vec::new();
            for text in all {
                let (u, d) = text
                    .split_once("\n-- migrate:down")
                    .expect("dbmate file has a down section");
                assert!(u.starts_with("-- migrate:up"), "{text}");
                up.push(u.to_string());
                down.push(format!("-- migrate:down{d}"));
            }
            (up, down)
        }
        MigrationFormat::Rails | MigrationFormat::Plain => unreachable!("not sent as messages"),
    };
    down.reverse();
    (up, down)
}

/// Index name -> valid, for the indexes of interest that exist.
async fn catalog(p: &ConnParams) -> Vec<(String, bool)> {
    let c = setup_conn(p).await;
    c.query(
        "SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname::text = ANY($1) ORDER BY 1",
        &[&LEADS_INDEXES
            .iter()
            .chain(&EVENTS_INDEXES)
            .map(|s| s.to_string())
            .collect::<Vec<_>>()],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Partition indexes attached to the partitioned index.
async fn attached(p: &ConnParams) -> i64 {
    let c = setup_conn(p).await;
    common::scalar(&c, "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass('public.events_entity_id_created_at_idx')").await
}

fn all_valid() -> Vec<(String, bool)> {
    let mut v: Vec<(String, bool)> = LEADS_INDEXES
        .iter()
        .chain(&EVENTS_INDEXES)
        .map(|n| (n.to_string(), true))
        .collect();
    v.sort();
    v
}

/// Apply every up message, twice, then every down message, checking the catalog each time.
async fn round_trip_whole_file(f: MigrationFormat) {
    let p = fresh_db(f.name().replace('-', "_").as_str()).await;
    let c = setup_conn(&p).await;
    c.batch_execute(SCHEMA).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = write_both(dir.path(), f);
    let (up, down) = messages(f, dir.path(), &files);
    assert_eq!(up.len(), 7, "4 partitioned steps + 3 plain indexes");
    for (i, m) in up.iter().enumerate() {
        // The rule the formats exist for: CONCURRENTLY is alone in its message.
        if m.contains(" CONCURRENTLY ") {
            let stmts = statements(m);
            assert_eq!(
                stmts.len(),
                1,
                "one statement with CONCURRENTLY per message:\n{m}"
            );
        }
        c.batch_execute(m)
            .await
            .unwrap_or_else(|e| panic!("{} up #{i}: {e:?}\n{m}", f.name()));
        if i == 0 {
            // ON ONLY: the parent index exists, invalid until its partitions are attached.
            assert_eq!(
                catalog(&p).await,
                vec![("events_entity_id_created_at_idx".to_string(), false)]
            );
        }
    }
    assert_eq!(catalog(&p).await, all_valid());
    assert_eq!(attached(&p).await, 2);
    for m in &up {
        c.batch_execute(m).await.unwrap_or_else(|e| {
            panic!(
                "{}: running the up files again failed: {e:?}\n{m}",
                f.name()
            )
        });
    }
    assert_eq!(catalog(&p).await, all_valid(), "second run changes nothing");
    for (i, m) in down.iter().enumerate() {
        c.batch_execute(m)
            .await
            .unwrap_or_else(|e| panic!("{} down #{i}: {e:?}\n{m}", f.name()));
        if i == 2 {
            // Newest first: the three plain leads indexes are gone, the events ones remain.
            let left: Vec<String> = catalog(&p).await.into_iter().map(|(n, _)| n).collect();
            assert!(left.iter().all(|n| n.starts_with("events_")), "{left:?}");
            assert_eq!(left.len(), 3);
        }
    }
    assert_eq!(catalog(&p).await, vec![], "every index dropped");
}

#[tokio::test]
async fn sqlx_files_apply_rerun_and_undo() {
    round_trip_whole_file(MigrationFormat::Sqlx).await;
}

#[tokio::test]
async fn diesel_files_apply_rerun_and_undo() {
    round_trip_whole_file(MigrationFormat::Diesel).await;
}

#[tokio::test]
async fn golang_migrate_files_apply_rerun_and_undo() {
    round_trip_whole_file(MigrationFormat::GolangMigrate).await;
}

#[tokio::test]
async fn flyway_files_apply_rerun_and_undo() {
    round_trip_whole_file(MigrationFormat::Flyway).await;
}

#[tokio::test]
async fn dbmate_files_apply_rerun_and_undo() {
    round_trip_whole_file(MigrationFormat::Dbmate).await;
}

fn psql(p: &ConnParams, file: &Path) -> std::process::Output {
    std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(p.url_with_password())
        .arg("-f")
        .arg(file)
        .output()
        .expect("psql is installed")
}

#[tokio::test]
async fn plain_scripts_run_through_psql() {
    let p = fresh_db("plain").await;
    setup_conn(&p).await.batch_execute(SCHEMA).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut files = write_both(dir.path(), MigrationFormat::Plain);
    files.sort();
    let (down, up): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|f| f.to_string_lossy().ends_with(".down.sql"));
    assert_eq!(up.len(), 4, "one script per index");
    for round in 0..2 {
        for f in &up {
            let out = psql(&p, f);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "round {round} {}: {err}", f.display());
            assert!(!err.contains("ERROR"), "{err}");
        }
        assert_eq!(catalog(&p).await, all_valid());
        assert_eq!(attached(&p).await, 2);
    }
    for f in down.iter().rev() {
        let out = psql(&p, f);
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(catalog(&p).await, vec![]);
}

/// The reason for one CONCURRENTLY statement per message, shown on the real server.
#[tokio::test]
async fn set_and_concurrently_in_one_message_fail() {
    let p = fresh_db("implicit").await;
    let c = setup_conn(&p).await;
    c.batch_execute("CREATE TABLE t (a int)").await.unwrap();
    let err = c
        .batch_execute("SET lock_timeout = '5s'; CREATE INDEX CONCURRENTLY t_a_idx ON t (a)")
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("cannot run inside a transaction block"),
        "{err:?}"
    );
    // ... while SET LOCAL does hold inside one message (the transactional steps rely on it).
    async fn shown(c: &dbopt::pg::Conn, sql: &str) -> Vec<String> {
        c.simple_query(sql)
            .await
            .unwrap()
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .collect()
    }
    assert_eq!(
        shown(&c, "SET LOCAL lock_timeout = '5s'; SHOW lock_timeout").await,
        ["5s"]
    );
    assert_eq!(
        shown(&c, "SHOW lock_timeout").await,
        ["0"],
        "and only for that message"
    );
}

#[test]
fn snapshots_of_every_format() {
    for f in MigrationFormat::ALL {
        let dir = tempfile::tempdir().unwrap();
        let files = write_both(dir.path(), f);
        let mut text = String::new();
        for p in &files {
            text.push_str(&format!("==> {} <==\n{}\n", rel(dir.path(), p), read(p)));
        }
        insta::assert_snapshot!(format!("files_{}", f.name()), text);
    }
}

/// SQL statements of a file: comment lines, psql and dbmate markers left out.
fn statements(text: &str) -> Vec<String> {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--") && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    body.split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_statement_round_trips_through_sqlparser() {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;
    let mut seen = BTreeSet::new();
    let mut unparsable = BTreeSet::new();
    for f in MigrationFormat::ALL {
        if f == MigrationFormat::Rails {
            continue; // Ruby; its SQL is the same plan, checked through the other formats
        }
        let dir = tempfile::tempdir().unwrap();
        for p in write_both(dir.path(), f) {
            if !p.to_string_lossy().ends_with(".sql") {
                continue;
            }
            for s in statements(&read(&p)) {
                if !seen.insert(s.clone()) {
                    continue;
                }
                if Parser::parse_sql(&PostgreSqlDialect {}, &s).is_ok() {
                    round_trip(&s);
                } else {
                    unparsable.insert(s);
                }
            }
        }
    }
    assert!(seen.len() > 15, "{seen:#?}");
    // sqlparser 0.63 rejects three valid PostgreSQL forms that dbopt emits (and that the
    // tests above run on the server): `DROP INDEX CONCURRENTLY`, `CREATE INDEX ... ON ONLY`
    // and `ALTER INDEX ... ATTACH PARTITION`. They are the only statements it may reject; for
    // the first two, the statement without that one keyword must round-trip, and for ATTACH
    // both names must parse as complete object names.
    let mut kinds = BTreeSet::new();
    for s in &unparsable {
        if let Some(rest) = s.strip_prefix("DROP INDEX CONCURRENTLY ") {
            kinds.insert("drop concurrently");
            round_trip(&format!("DROP INDEX {rest}"));
        } else if s.contains(" ON ONLY ") {
            kinds.insert("on only");
            round_trip(&s.replacen(" ON ONLY ", " ON ", 1));
        } else if let Some(rest) = s.strip_prefix("ALTER INDEX ") {
            kinds.insert("attach");
            let (a, b) = rest.split_once(" ATTACH PARTITION ").expect(s);
            for name in [a, b] {
                let mut p = Parser::new(&PostgreSqlDialect {})
                    .try_with_sql(name)
                    .unwrap();
                let parsed = p.parse_object_name(false).unwrap();
                assert_eq!(parsed.to_string(), name, "{s}");
                assert_eq!(parsed.0.len(), 2, "schema-qualified: {s}");
            }
        } else {
            panic!("sqlparser rejects {s}");
        }
    }
    assert_eq!(kinds.len(), 3, "{unparsable:#?}");
}

fn round_trip(s: &str) {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;
    let ast = Parser::parse_sql(&PostgreSqlDialect {}, s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(ast.len(), 1, "{s}");
    let printed = ast[0].to_string();
    let again = Parser::parse_sql(&PostgreSqlDialect {}, &printed)
        .unwrap_or_else(|e| panic!("reprinted {printed:?} does not parse: {e}"));
    assert_eq!(ast, again, "parse -> print -> parse differs for {s}");
}

/// Mixed-case and spaced names, and a report without an index name (dbopt derives it).
#[tokio::test]
async fn quoted_names_work_end_to_end() {
    use dbopt::advisor::report::IndexRecommendation;
    use dbopt::sql::index_key::{IndexKey, Nulls};
    let p = fresh_db("quoted").await;
    let c = setup_conn(&p).await;
    c.batch_execute(
        "CREATE SCHEMA \"App\"; CREATE TABLE \"App\".\"Lead Notes\" (\"AuthorId\" int, \"order\" int, body text);",
    )
    .await
    .unwrap();
    let r = AdviseReport {
        schema_version: 2,
        costing: "hypopg".into(),
        recommendations: vec![IndexRecommendation {
            table: "App.Lead Notes".into(),
            columns: vec![
                IndexKey::column("AuthorId"),
                IndexKey {
                    desc: true,
                    nulls: Some(Nulls::Last),
                    ..IndexKey::column("order")
                },
            ],
            include: vec!["body".into()],
            method: "btree".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let f = MigrationFormat::GolangMigrate;
    let files = emit::write_migrations_with(&r, dir.path(), f, &[], &ctx(&r)).unwrap();
    assert_eq!(
        rel(dir.path(), &files[0]),
        "20260102030405_create_lead_notes_authorid_order_idx.up.sql"
    );
    let (up, down) = messages(f, dir.path(), &files);
    let index_exists = || async {
        setup_conn(&p)
            .await
            .query_one(
                "SELECT to_regclass('\"App\".lead_notes_authorid_order_idx') IS NOT NULL",
                &[],
            )
            .await
            .unwrap()
            .get::<_, bool>(0)
    };
    c.batch_execute(&up[0]).await.unwrap();
    assert!(index_exists().await);
    let def: String = common::scalar(
        &c,
        "SELECT pg_get_indexdef('\"App\".lead_notes_authorid_order_idx'::regclass)",
    )
    .await;
    assert!(
        def.ends_with(
            "ON \"App\".\"Lead Notes\" USING btree (\"AuthorId\", \"order\" DESC NULLS LAST) INCLUDE (body)"
        ),
        "{def}"
    );
    c.batch_execute(&down[0]).await.unwrap();
    assert!(!index_exists().await);
}
