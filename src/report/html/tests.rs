//! The HTML pages of fixed report values: snapshots of the whole page, and the escaping of
//! user data (names and statements that look like markup).

use super::*;
use crate::advisor::report::{Skipped, StatementBenefit, WorkloadCost};
use crate::findings::Fix;
use crate::inspect::check::{AreaCount, CheckFinding, RuleRun, ServerFacts};
use crate::rules::Scope;
use crate::sql::index_key::IndexKey;

fn finding(rule: &str, severity: Severity, object: &str) -> Finding {
    Finding {
        rule: rule.into(),
        severity,
        object: object.into(),
        message: format!("{object} needs attention"),
        evidence: vec!["seq_scan 1200".into(), "rows 2000000".into()],
        remedy: "add an index".into(),
        fix: Some(Fix::sql(format!("CREATE INDEX ON {object} (id)"))),
    }
}

fn advise_report(table: &str) -> AdviseReport {
    let stmt = |q: &str, calls, before, after| StatementBenefit {
        fingerprint: format!("fp-{calls}"),
        query: q.into(),
        calls,
        cost_before: before,
        cost_after: after,
        time_saved_ms_per_day: 1234.5,
    };
    AdviseReport {
        schema_version: 3,
        dbopt_version: "test".into(),
        costing: "hypopg".into(),
        recommendations: vec![IndexRecommendation {
            table: table.into(),
            columns: vec![IndexKey::parse("\"status\"").unwrap()],
            method: "btree".into(),
            name: "orders_status_idx".into(),
            ddl: "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"orders_status_idx\" ON public.orders (\"status\")".into(),
            size_bytes: 4_456_448,
            statements: vec![
                stmt("SELECT * FROM orders WHERE status = $1", 120, 4350.25, 8.5),
                stmt("UPDATE orders SET note = $1 WHERE status = $2", 3, 4400.0, 12.0),
            ],
            write_overhead: 0.031,
            reason: "2 statements filter on status".into(),
            ..Default::default()
        }],
        workload: WorkloadCost {
            cost_before: 535230.0,
            cost_after: 1056.0,
            statements: 3,
            planned: Some(3),
            searched: 2,
        },
        findings: vec![finding("seq-scan-heavy", Severity::Warning, table)],
        skipped: vec![Skipped {
            statement: "SELECT 1".into(),
            reason: "reads no table".into(),
        }],
        whatif_calls: 7,
        verification: None,
    }
}

fn check_report(table: &str) -> CheckReport {
    let f = |area, rule, severity, object| CheckFinding {
        area,
        finding: finding(rule, severity, object),
    };
    CheckReport {
        schema_version: 1,
        dbopt_version: "test".into(),
        source: "live".into(),
        server: ServerFacts {
            database: "shop".into(),
            server_version_num: Some(150_004),
            database_bytes: Some(52_428_800),
            tables: 12,
            indexes: 20,
            statements: Some(40),
            sessions: Some(3),
        },
        counts: vec![
            AreaCount {
                area: Scope::Health,
                critical: 1,
                warning: 0,
                info: 0,
            },
            AreaCount {
                area: Scope::Catalog,
                critical: 0,
                warning: 1,
                info: 1,
            },
        ],
        findings: vec![
            f(
                Scope::Health,
                "sequence-overflow",
                Severity::Critical,
                "public.orders_id_seq",
            ),
            f(Scope::Catalog, "fk-without-index", Severity::Warning, table),
            f(
                Scope::Catalog,
                "unused-index",
                Severity::Info,
                "public.old_idx",
            ),
        ],
        rules: vec![
            RuleRun {
                id: "sequence-overflow".into(),
                area: Scope::Health,
            },
            RuleRun {
                id: "fk-without-index".into(),
                area: Scope::Catalog,
            },
        ],
        advice: Some(AdviceSummary::of(&advise_report(table))),
        notes: vec!["horizon: not read <as this role>".into()],
    }
}

#[test]
fn advise_page() {
    insta::assert_snapshot!(advise(&advise_report("public.orders")));
}

#[test]
fn check_page() {
    insta::assert_snapshot!(check(&check_report("public.orders")));
}

#[test]
fn an_empty_check_says_so() {
    let mut r = check_report("public.orders");
    r.findings.clear();
    r.advice = None;
    let html = check(&r);
    assert!(html.contains("No problems found."), "{html}");
    assert!(html.contains("data-critical=\"0\""), "{html}");
}

/// Names and statements are user data: markup in them must come out as text, in the tables,
/// the attributes and the charts alike.
#[test]
fn markup_in_names_and_statements_is_text() {
    let evil = "public.\"<script>alert('x')</script>\"";
    let mut a = advise_report(evil);
    a.recommendations[0].statements[0].query =
        format!("SELECT * FROM {evil} WHERE a = '\" onload=\"x'");
    a.recommendations[0].name = "<img src=x onerror=alert(1)>".into();
    let mut c = check_report(evil);
    c.server.database = "</title><script>".into();
    for html in [advise(&a), check(&c)] {
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("\" onload=\""), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            "{html}"
        );
        assert_eq!(
            html.matches("<title>").count(),
            html.matches("</title>").count()
        );
    }
}

#[test]
fn the_page_loads_nothing_from_anywhere() {
    for html in [advise(&advise_report("t")), check(&check_report("t"))] {
        assert!(html.contains("default-src 'none'"));
        for external in [
            "http://",
            "https://",
            "<script",
            "<link rel=\"stylesheet\"",
            "@import",
            "url(",
        ] {
            let seen = html.replace("http://www.w3.org/2000/svg", "");
            assert!(!seen.contains(external), "{external} in the page");
        }
    }
}

#[test]
fn recommendation_figures_match_the_report() {
    let r = advise_report("t");
    let html = advise(&r);
    // 120 x 4350.25 + 3 x 4400 and 120 x 8.5 + 3 x 12
    assert!(
        html.contains("data-cost-before=\"535230\" data-cost-after=\"1056\""),
        "{html}"
    );
    assert!(html.contains("data-size-bytes=\"4456448\""), "{html}");
}
