//! Values past what the code can count (durations beyond 100 years, timeouts beyond
//! PostgreSQL's limit, counts, rates, sizes, workload-file ranges and weights) are refused with
//! one error line and exit 2, never a panic ("internal error"). Parse errors need no server;
//! the one run that connects uses the throwaway server.

mod common;

use common::{assert_clean_error, assert_success, dbopt, fresh_db};

/// `dbopt args...` fails with one clean line holding every needle, and no panic text.
fn refused(args: &[&str], needles: &[&str]) {
    let out = dbopt().args(args).output().unwrap();
    let err = assert_clean_error(&out, needles);
    assert!(!err.contains("internal error"), "{args:?}: {err}");
}

const HUGE: &str = "99999999999999999999s";

#[test]
fn durations_past_100_years_are_refused() {
    refused(
        &["queries", "--statement-timeout", HUGE, "--queries", "-"],
        &["--statement-timeout", "too large", "hint:"],
    );
    refused(
        &[
            "archive",
            "--table",
            "events",
            "--older-than",
            "99999999999999999999d",
        ],
        &["--older-than", "100 years", "hint:"],
    );
    refused(
        &["bench", "queries", "w.toml", "--duration", HUGE],
        &["--duration", "100 years"],
    );
    refused(
        &["queries", "--sample-activity", HUGE],
        &["--sample-activity", "100 years"],
    );
    refused(
        &["advise", "--sample-activity", "99999999999d"],
        &["--sample-activity", "100 years"],
    );
    refused(
        &["bench", "pool", "--warmup", HUGE],
        &["--warmup", "100 years"],
    );
    refused(
        &["bench", "pool", "--pool-timeout", HUGE],
        &["--pool-timeout", "100 years"],
    );
    refused(
        &[
            "archive",
            "--table",
            "t",
            "--older-than",
            "1d",
            "--max-runtime",
            HUGE,
        ],
        &["--max-runtime", "100 years"],
    );
}

#[test]
fn postgres_timeouts_stay_within_the_servers_limit() {
    refused(
        &["queries", "--statement-timeout", "25d"],
        &["--statement-timeout", "2147483647ms", "hint:"],
    );
    refused(
        &["migrations", "--lock-timeout", "2147483648ms"],
        &["--lock-timeout", "2147483647ms"],
    );
    refused(
        &["queries", "--statement-timeout", "0.1ms"],
        &["--statement-timeout", "less than 1ms"],
    );
}

#[test]
fn bench_pool_counts_and_rates_are_bounded() {
    for (flag, value) in [
        ("--pool-size", "0"),
        ("--pool-size", "99999999999999999999"),
        ("--concurrency", "100001"),
        ("--steps", "1,100001"),
        ("--server-cores", "18446744073709551615"),
        ("--spindles", "18446744073709551615"),
    ] {
        refused(
            &["bench", "pool", flag, value],
            &[flag, "to 100000", "hint:"],
        );
    }
    for rate in ["0", "0.0001", "-5", "NaN", "inf"] {
        refused(
            &["bench", "pool", &format!("--rate={rate}")],
            &["--rate", "at least 0.001", "hint:"],
        );
    }
    refused(
        &["bench", "queries", "w.toml", "--concurrency", "0"],
        &["--concurrency", "1 to 100000"],
    );
}

#[test]
fn advise_budget_and_improvements_are_checked_before_connecting() {
    // No server is given or reachable: these fail on the flag alone.
    refused(
        &["advise", "--budget", "99999999999999999999TB"],
        &["--budget", "too large", "hint:"],
    );
    refused(&["advise", "--budget", "101%"], &["--budget", "0 to 100"]);
    refused(
        &["advise", "--budget", "lots"],
        &["--budget", "500MB", "hint:"],
    );
    refused(
        &["advise", "--min-improvement", "1e308"],
        &["--min-improvement", "0 to 100"],
    );
    refused(
        &["advise", "--min-table-improvement=-1"],
        &["--min-table-improvement", "0 to 100"],
    );
}

/// `text` written to `file` in `dir`; its path.
fn workload(dir: &tempfile::TempDir, file: &str, text: &str) -> String {
    let path = dir.path().join(file);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// One statement named "pick", with `extra` lines.
fn statement(extra: &str) -> String {
    format!("[[statement]]\nname = \"pick\"\nsql = \"SELECT $1\"\n{extra}\n")
}

#[test]
fn workload_files_with_overflowing_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "float.toml",
            statement("params = [\"float:-1e308..1e308\"]"),
            vec!["statement \"pick\"", "float:-1e308..1e308", "too wide"],
        ),
        (
            "ago.toml",
            statement("params = [\"ago:99999999999d\"]"),
            vec!["statement \"pick\"", "100 years"],
        ),
        (
            "weights.toml",
            "[[statement]]\nname = \"a\"\nsql = \"SELECT 1\"\nweight = 4294967295\n\
             [[statement]]\nname = \"b\"\nsql = \"SELECT 2\"\nweight = 4294967295\n"
                .to_string(),
            vec![
                "\"a\" 4294967295",
                "\"b\" 4294967295",
                "add up to 8589934590",
            ],
        ),
        (
            "duration.toml",
            format!("duration = \"{HUGE}\"\n{}", statement("")),
            vec!["duration", "100 years"],
        ),
    ];
    for (file, text, needles) in &cases {
        let path = workload(&dir, file, text);
        let mut all = vec!["invalid workload file", "hint:"];
        all.extend(needles.iter().copied());
        refused(&["bench", "queries", &path], &all);
        refused(&["bench", "pool", "--workload-file", &path], &all);
    }
}

/// The widest integer range is a valid generator: the statement runs with values from all
/// of it.
#[test]
fn the_widest_int_range_runs() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = rt.block_on(fresh_db("limits_int"));
    let dir = tempfile::tempdir().unwrap();
    let path = workload(
        &dir,
        "int.toml",
        &format!(
            "iterations = 50\nrepeat = 1\nwarmup = \"0s\"\n[[statement]]\nname = \"wide\"\nsql = \"SELECT $1::int8\"\nparams = [\"int:{}..{}\"]\n",
            i64::MIN,
            i64::MAX
        ),
    );
    let out = dbopt()
        .args(["bench", "queries", &path, "--format", "json"])
        .args(["--database-url", &p.url_with_password()])
        .output()
        .unwrap();
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let st = &v["statements"][0];
    assert_eq!(st["name"], "wide", "{v}");
    assert_eq!(st["errors"], 0, "{st}");
    assert!(st["iterations"].as_u64().unwrap() >= 50, "{st}");
}
