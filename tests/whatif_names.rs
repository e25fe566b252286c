//! HypoPG names a hypothetical index after its table and columns and cuts the name at 63
//! bytes, which can fall inside a multi-byte character. The plan that names that index is then
//! not UTF-8; reading it must be an error for that statement, never a panic.

mod common;

use dbopt::pg::whatif::{HypoSession, WhatIfRequest};
use dbopt::pg::SessionOptions;

#[tokio::test]
async fn a_plan_naming_an_index_cut_mid_character_is_an_error_not_a_panic() {
    let p = common::fresh_db("whatif_names").await;
    let c = common::setup_conn(&p).await;
    // 3-byte characters: the generated name "<oid>btree_<table>_<column>" passes 63 bytes
    // inside one of them for some oid length; one of a few offsets is enough.
    c.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS hypopg;
         CREATE TABLE \"日本語日本語日本語日本語日本語\" (\"列列列列列列列列列列列列\" int, pad text);
         INSERT INTO \"日本語日本語日本語日本語日本語\" SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;
         ANALYZE;",
    )
    .await
    .expect("set-up");
    let mut s = HypoSession::open(&p, &SessionOptions::default())
        .await
        .expect("HypoPG session");
    let table = "\"日本語日本語日本語日本語日本語\"";
    let sql = format!("SELECT pad FROM {table} WHERE \"列列列列列列列列列列列列\" = 5");
    let ask = |indexes: Vec<String>| WhatIfRequest {
        sql: sql.clone(),
        params: 0,
        types: vec![],
        indexes,
    };
    // Two key lists give two generated names; the panic came from reading the plan.
    for keys in [
        "\"列列列列列列列列列列列列\"",
        "\"列列列列列列列列列列列列\", pad",
    ] {
        let ddl = format!("CREATE INDEX ON {table} ({keys})");
        if let Err(e) = s.explain(&ask(vec![ddl])).await {
            assert!(e.to_string().contains("deserializing"), "{e}");
        }
    }
    // The session was reset after the error and still plans.
    let plain = s
        .explain(&ask(vec![]))
        .await
        .expect("plain plan after the error");
    assert!(plain.cost > 0.0);
}
