//! Shape resolution against a real catalog: search_path, views parsed from pg_get_viewdef,
//! partitions folded into their parent.

mod common;

use dbopt::pg::{self, SessionOptions};
use dbopt::workload::shape::{self, PredKind};

#[tokio::test]
async fn resolve_through_search_path_views_and_partitions() {
    let p = common::fresh_db("resolve").await;
    common::setup_conn(&p)
        .await
        .batch_execute(
            "CREATE SCHEMA app;
             CREATE TABLE app.orders (id bigint, customer_id bigint, total numeric, placed date NOT NULL)
               PARTITION BY RANGE (placed);
             CREATE TABLE app.orders_2024 PARTITION OF app.orders FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
             CREATE TABLE customers (id bigint PRIMARY KEY, region text);
             CREATE VIEW app.big_orders AS SELECT id, customer_id, total FROM app.orders WHERE total > 100;
             CREATE VIEW app.order_regions AS
               SELECT o.id, c.region FROM app.orders o JOIN customers c ON c.id = o.customer_id;
             ANALYZE;",
        )
        .await
        .unwrap();
    let opts = SessionOptions {
        statement_timeout: None,
        ..Default::default()
    };
    let c = pg::connect(&p, &opts).await.unwrap();
    c.batch_execute("SET search_path = app, public")
        .await
        .unwrap();
    let path = pg::server::search_path(&c).await.unwrap();
    assert_eq!(path, ["app", "public"]);
    let cat = pg::catalog::load(&c).await.unwrap();

    // A one-table view: the outer predicate and the view's own land on the base table.
    let mut s = shape::extract(
        "SELECT b.id FROM big_orders b JOIN customers c ON c.id = b.customer_id WHERE b.customer_id = $1 ORDER BY b.id",
    )
    .unwrap()
    .remove(0);
    shape::resolve(&mut s, &cat, &path);
    let tables: Vec<&str> = s.accesses.iter().map(|a| a.table.as_str()).collect();
    assert_eq!(tables, ["app.orders", "public.customers"]);
    assert!(s.unknown_tables.is_empty());
    let orders = &s.accesses[0];
    assert!(orders
        .predicates
        .iter()
        .any(|p| p.column.as_deref() == Some("total") && p.kind == PredKind::Range));
    assert!(orders
        .predicates
        .iter()
        .any(|p| p.column.as_deref() == Some("customer_id") && p.kind == PredKind::Eq));
    assert_eq!(orders.order_by[0].column, "id");

    // A partition is read as its parent; an unqualified name follows search_path.
    let mut s = shape::extract("SELECT * FROM orders_2024 WHERE total > 5")
        .unwrap()
        .remove(0);
    shape::resolve(&mut s, &cat, &path);
    assert_eq!(s.accesses[0].table, "app.orders");

    // A multi-table view contributes its base tables and its join keys.
    let mut s = shape::extract("SELECT region FROM order_regions WHERE id = 7")
        .unwrap()
        .remove(0);
    shape::resolve(&mut s, &cat, &path);
    let tables: Vec<&str> = s.accesses.iter().map(|a| a.table.as_str()).collect();
    assert_eq!(tables, ["app.orders", "public.customers"]);
    assert_eq!(s.accesses[1].join_keys, ["id"]);

    // Unknown tables are reported, not guessed.
    let mut s = shape::extract("SELECT * FROM nowhere").unwrap().remove(0);
    shape::resolve(&mut s, &cat, &path);
    assert_eq!(s.unknown_tables, ["nowhere"]);
}
