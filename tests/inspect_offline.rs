//! The inspection commands offline, on a committed snapshot file (`fixtures/snapshots/shop.json`,
//! written by `dbopt snapshot --redact` from a database with an unused index, a prefix-covered
//! index, a foreign key without an index, a mass-updated table and a slow statement). No server:
//! the output is fixed, so it is pinned with insta snapshots.

mod common;

fn offline(args: &[&str]) -> String {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/snapshots/shop.json");
    let out = common::dbopt()
        .args(args)
        .args(["--from-snapshot", fixture])
        // Nothing may connect: this address refuses.
        .env("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn indexes_table() {
    insta::assert_snapshot!(offline(&["indexes"]));
}

#[test]
fn tables_table() {
    insta::assert_snapshot!(offline(&["tables"]));
}

#[test]
fn one_table_as_markdown() {
    insta::assert_snapshot!(offline(&["tables", "events", "--format", "markdown"]));
}

#[test]
fn size_table() {
    insta::assert_snapshot!(offline(&["size", "--top", "3"]));
}

#[test]
fn queries_by_calls() {
    insta::assert_snapshot!(offline(&["queries", "--sort", "calls", "--limit", "5"]));
}

#[test]
fn queries_json_is_stable() {
    let v: serde_json::Value =
        serde_json::from_str(&offline(&["queries", "--limit", "2", "--format", "json"])).unwrap();
    insta::assert_json_snapshot!(v);
}

#[test]
fn fail_on_sets_the_exit_status_offline_too() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/snapshots/shop.json");
    let out = common::dbopt()
        .args([
            "indexes",
            "--fail-on",
            "warning",
            "--from-snapshot",
            fixture,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = common::dbopt()
        .args([
            "indexes",
            "--fail-on",
            "critical",
            "--from-snapshot",
            fixture,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}
