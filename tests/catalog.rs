//! The data layer against a real server: catalog loading, pg_stat_statements reading, and the
//! catalog rules on the demo database.

mod common;

use dbopt::bench::demo_workload::{self, WorkloadOptions};
use dbopt::catalog::TableKind;
use dbopt::pg::{self, SessionOptions};
use dbopt::rules::{self, Config, Ctx, Scope};

#[tokio::test]
async fn catalog_pgss_and_fk_rule_on_the_demo() {
    let (p, opts) = common::demo_db("catalog", 0.01, 3).await;
    let w = WorkloadOptions {
        rounds: 3,
        sessions: 1,
        seed: 3,
        scale: 0.01,
        anchor: opts.anchor,
    };
    demo_workload::run(&p, &w, &|_, _| {}).await.unwrap();
    common::setup_conn(&p)
        .await
        .batch_execute(
            "CREATE TABLE part (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
             CREATE TABLE part_2025 PARTITION OF part FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
             CREATE INDEX leads_lower_email_idx ON leads (lower(email), created_at DESC NULLS LAST) INCLUDE (status) WHERE status <> 'lost';
             ANALYZE part;",
        )
        .await
        .unwrap();
    let c = pg::connect(&p, &SessionOptions::default()).await.unwrap();
    let cat = pg::catalog::load(&c).await.unwrap();
    assert_eq!(cat.server_version_num / 10000, 15);
    let leads = cat.table("leads").unwrap();
    assert_eq!(leads.kind, TableKind::Table);
    assert_eq!(leads.reltuples, 2000.0);
    assert!(leads.analyzed && leads.heap_bytes > 0);
    let status = leads
        .column("status")
        .unwrap()
        .stats
        .as_ref()
        .expect("pg_stats for leads.status");
    assert!(
        status.most_common_vals.contains(&"lost".to_string()),
        "{status:?}"
    );
    assert_eq!(
        status.most_common_vals.len(),
        status.most_common_freqs.len()
    );
    let part = cat.table("public.part").unwrap();
    assert_eq!(part.kind, TableKind::Partitioned);
    assert_eq!(part.partitions, vec!["public.part_2025".to_string()]);
    assert_eq!(
        cat.table("part_2025").unwrap().parent.as_deref(),
        Some("public.part")
    );
    let ix = cat
        .indexes
        .iter()
        .find(|i| i.name == "leads_lower_email_idx")
        .unwrap();
    assert_eq!(ix.keys.len(), 2);
    assert_eq!(ix.keys[0].column, None);
    assert_eq!(ix.keys[0].expr, "lower(email)");
    assert_eq!(
        (
            ix.keys[1].column.as_deref(),
            ix.keys[1].desc,
            ix.keys[1].nulls_first
        ),
        (Some("created_at"), true, false)
    );
    assert_eq!(ix.include, vec!["status"]);
    assert_eq!(ix.predicate.as_deref(), Some("(status <> 'lost'::text)"));
    let pk = cat.indexes.iter().find(|i| i.name == "leads_pkey").unwrap();
    assert!(pk.primary && pk.valid && pk.constraint.as_deref() == Some("p"));
    assert_eq!(cat.foreign_keys.len(), 3);

    let wl = pg::pgss::read(&c).await.unwrap();
    assert_eq!(wl.hidden, 0);
    let child = wl
        .statements
        .iter()
        .find(|s| s.query == demo_workload::NPLUS1_CHILD)
        .expect("N+1 child in pgss");
    assert!(child.calls >= 3 && child.total_ms > 0.0 && child.mean_ms > 0.0);

    let findings = rules::run(
        Scope::Catalog,
        &Ctx {
            catalog: Some(&cat),
            workload: Some(&wl),
            ..Default::default()
        },
        &Config::default(),
    )
    .unwrap();
    let fk: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == "fk-without-index")
        .map(|f| f.message.clone())
        .collect();
    assert_eq!(
        fk.len(),
        2,
        "lead_assignments.lead_id and .agent_id (agents is below min_rows): {fk:?}"
    );
}

#[tokio::test]
async fn pgss_missing_is_a_clear_error() {
    let p = common::fresh_db("nopgss").await;
    common::setup_conn(&p)
        .await
        .batch_execute("DROP EXTENSION pg_stat_statements")
        .await
        .unwrap();
    let c = pg::connect(&p, &SessionOptions::default()).await.unwrap();
    let err = pg::pgss::read(&c).await.unwrap_err();
    assert!(err.to_string().contains("pg_stat_statements"), "{err}");
    assert!(err
        .hint()
        .unwrap()
        .contains("CREATE EXTENSION pg_stat_statements"));
}
