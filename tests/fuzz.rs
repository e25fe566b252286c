//! Fuzz targets, one per parser that reads text dbopt did not write: statement shapes, the archive `--where` filter, connection strings, EXPLAIN JSON, server logs,
//! snapshot files and bench workload files.
//!
//! Why proptest and not cargo-fuzz: it runs on stable Rust inside `cargo test`, so CI runs every
//! target for a bounded time on each change, and a failure shrinks to a small input that goes
//! straight into a unit test. Inputs are the project's own fixtures mutated with SQL- and
//! format-aware dictionaries, plus grammar-built inputs that are deep or long (the shapes that
//! overflowed the stack or went quadratic before).
//!
//! Bounds: `DBOPT_FUZZ_SECONDS` per target (default 3) and `DBOPT_FUZZ_CASES` (default 100,000);
//! `DBOPT_FUZZ_SEED` replays a run (the seed is printed when a target fails). A target fails on a
//! panic or on a broken property (idempotent normalisation, no password in any message, the
//! filter never passes a function it does not allow). A stack overflow aborts the binary, which
//! fails the run too.

use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

// ---------------------------------------------------------------------------------------------
// The harness.

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Run `check` on inputs from `strategy` until the time or case budget is spent; on the first
/// failure shrink the input (for at most 30 s) and fail with the smallest one found.
fn fuzz<S>(target: &str, strategy: S, check: impl Fn(&S::Value) -> Result<(), String>)
where
    S: Strategy,
    S::Value: Debug,
{
    let budget = Duration::from_secs(env_u64("DBOPT_FUZZ_SECONDS", 3));
    let cases = env_u64("DBOPT_FUZZ_CASES", 100_000);
    let seed = env_u64(
        "DBOPT_FUZZ_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    );
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let run = |v: &S::Value| -> Result<(), String> {
        match catch_unwind(AssertUnwindSafe(|| check(v))) {
            Ok(r) => r,
            Err(panic) => Err(format!(
                "panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        }
    };
    let start = Instant::now();
    let mut n = 0u64;
    while n < cases && start.elapsed() < budget {
        n += 1;
        let mut tree = match strategy.new_tree(&mut runner) {
            Ok(t) => t,
            Err(e) => panic!("fuzz {target}: the input generator failed: {e}"),
        };
        let Err(first) = run(&tree.current()) else {
            continue;
        };
        let mut smallest = (format!("{:?}", tree.current()), first);
        let shrink_start = Instant::now();
        let mut failing = true;
        while shrink_start.elapsed() < Duration::from_secs(30) {
            let moved = if failing {
                tree.simplify()
            } else {
                tree.complicate()
            };
            if !moved {
                break;
            }
            match run(&tree.current()) {
                Err(msg) => {
                    failing = true;
                    smallest = (format!("{:?}", tree.current()), msg);
                }
                Ok(()) => failing = false,
            }
        }
        let (input, msg) = smallest;
        let shown: String = input.chars().take(2000).collect();
        panic!(
            "fuzz {target} failed after {n} inputs (DBOPT_FUZZ_SEED={seed}): {msg}\n  input: {shown}"
        );
    }
    eprintln!(
        "fuzz {target}: {n} inputs in {:.1} s, no failure",
        start.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// Inputs: fixtures, mutations and grammar-built deep or long texts.

fn read(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read fixture {full}: {e}"))
}

fn fixture_dir(dir: &str, ext: &str) -> Vec<String> {
    let full = format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<_> = std::fs::read_dir(&full)
        .unwrap_or_else(|e| panic!("read fixture folder {full}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())))
        .collect()
}

/// Every statement of the SQL fixtures (ORM corpora, shape cases), one string each.
fn sql_seeds() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["fixtures/corpus", "fixtures/shapes"] {
        for script in fixture_dir(dir, "sql") {
            out.extend(
                dbopt::workload::normalize::split(&script)
                    .statements
                    .into_iter()
                    .filter(|s| s.len() < 4000),
            );
        }
    }
    assert!(
        out.len() > 50,
        "the SQL fixtures gave {} statements",
        out.len()
    );
    out
}

/// Pieces that make SQL tokenizers and parsers take their rarer paths.
const SQL_DICT: &[&str] = &[
    "'",
    "''",
    "\"",
    "\"\"",
    "$1",
    "$65536",
    "$99999999999",
    "$$",
    "$tag$",
    "$tag$ x $tag$",
    "/*",
    "*/",
    "/* /* */",
    "--",
    "\n",
    "\\",
    "E'\\'",
    "e'\\\\'",
    "U&'\\0041'",
    "B'101'",
    "X'ff'",
    "1.79e309",
    "-1.79e309",
    "1e-400",
    "99999999999999999999",
    "-",
    "+",
    "::",
    "::regclass",
    "::int[]",
    "(",
    ")",
    "((",
    "))",
    "[",
    "]",
    ",",
    ";",
    ";;",
    " AND ",
    " OR ",
    " NOT ",
    " IN (",
    " = ANY($1)",
    " UNION ALL SELECT 1",
    " WHERE ",
    " FROM ",
    " JOIN ",
    " ON ",
    " SELECT ",
    " WITH x AS (",
    " LATERAL ",
    " interval $1",
    " interval '1 day'",
    "\"CamelCase\"",
    "\"日本\"",
    "日本",
    "é",
    "\u{0}",
    "\u{feff}",
    "\u{200b}",
    "\t",
    "\r\n",
    " ",
    "*",
    "%",
    "@",
    "#",
    "?",
    ":=",
    "=>",
    "->>",
    " COLLATE \"C\"",
    " ORDER BY 1 DESC NULLS LAST",
    " LIMIT ALL",
    " OFFSET $2",
    " FOR UPDATE SKIP LOCKED",
    " RETURNING *",
    " ON CONFLICT DO NOTHING",
    "EXISTS (SELECT 1)",
    "pg_sleep(1)",
    "OPERATOR(pg_catalog.=)",
    "CASE WHEN",
    " END",
    "ARRAY[",
    "ROW(",
];

/// Apply up to eight edits (insert a dictionary piece, delete a run, duplicate a run, swap in a
/// random character) at positions spread over the text. Works on chars, so every result is a
/// valid string.
fn mutate(seed: &str, edits: &[(u8, u32, u32, &'static str, char)]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for &(kind, at, len, piece, ch) in edits {
        let at = if chars.is_empty() {
            0
        } else {
            at as usize % (chars.len() + 1)
        };
        let len = (len as usize % 16).min(chars.len() - at.min(chars.len()));
        match kind % 5 {
            0 | 1 => {
                chars.splice(at..at, piece.chars());
            }
            2 => {
                chars.drain(at..at + len);
            }
            3 => {
                let run: Vec<char> = chars[at..at + len].to_vec();
                chars.splice(at..at, run);
            }
            _ => {
                if at < chars.len() {
                    chars[at] = ch;
                } else {
                    chars.push(ch);
                }
            }
        }
    }
    chars.into_iter().collect()
}

fn mutated(seeds: Vec<String>, dict: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        prop::sample::select(seeds),
        prop::collection::vec(
            (
                any::<u8>(),
                any::<u32>(),
                any::<u32>(),
                prop::sample::select(dict),
                any::<char>(),
            ),
            0..8,
        ),
    )
        .prop_map(|(seed, edits)| mutate(&seed, &edits))
}

/// Deep or long statements, the kind that overflowed the stack or went quadratic: long AND/OR
/// chains, deep parentheses, UNION chains, long IN lists, nested subqueries.
fn deep_sql() -> impl Strategy<Value = String> {
    (0u8..6, 1usize..3000).prop_map(|(kind, n)| match kind {
        0 => format!("SELECT * FROM t WHERE {}", vec!["a = 1"; n].join(" AND ")),
        1 => format!("SELECT * FROM t WHERE {}", vec!["a = 1"; n].join(" OR ")),
        2 => format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n)),
        3 => vec!["SELECT a FROM t WHERE b = 2"; n.min(1500)].join(" UNION ALL "),
        4 => format!(
            "SELECT * FROM t WHERE a IN ({})",
            (0..n * 10)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => {
            let n = n.min(1000);
            format!(
                "SELECT * FROM t WHERE a IN {}1{}",
                "(SELECT a FROM t WHERE a IN ".repeat(n),
                ")".repeat(n)
            )
        }
    })
}

/// Any SQL-ish text: mutated fixture statements, grammar-built deep ones, or arbitrary text.
fn sql_input() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => mutated(sql_seeds(), SQL_DICT),
        1 => deep_sql(),
        1 => "\\PC{0,200}",
    ]
}

// ---------------------------------------------------------------------------------------------
// Targets.

#[test]
fn fuzz_shape() {
    use dbopt::workload::shape;
    fuzz("shape", sql_input(), |sql| {
        let _ = shape::extract(sql);
        let _ = shape::placeholders(sql);
        for piece in shape::split(sql) {
            let _ = shape::extract(piece);
        }
        Ok(())
    });
}

/// Passwords built so that every 5-character window mixes letters and digits: such a window
/// cannot occur by chance in a message, or in the other parts of the generated strings.
fn password() -> impl Strategy<Value = String> {
    prop::collection::vec((0u8..26, 0u8..10), 4..8).prop_map(|pairs| {
        let mut pw = String::from("Q");
        for (l, d) in pairs {
            pw.push(char::from(b'a' + l));
            pw.push(char::from(b'0' + d));
        }
        pw
    })
}

/// True when any 5-character piece of `secret` appears in `text`.
fn shows_secret(text: &str, secret: &str) -> bool {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .windows(5)
        .any(|w| text.contains(&w.iter().collect::<String>()))
}

const SCHEMES: &[&str] = &[
    "postgresql://",
    "postgres://",
    "postgressql://",
    "postgres:/",
    "postgresql//",
    "postgresql:",
    "http://",
    "POSTGRESQL://",
    "Postgres://",
    "pg://",
    "",
    "//",
];

const HOSTS: &[&str] = &[
    "db.example.com",
    "localhost",
    "[::1]",
    "[::1",
    "::1",
    "h1,h2",
    "[fe80::1%25eth0]",
    "",
    "%2Fvar%2Frun%2Fpostgresql",
];

const JUNK: &[&str] = &[
    "",
    "?sslmode=require",
    "?sslmode=bogus",
    "?application_name=x&connect_timeout=abc",
    "?password=",
    "?",
    "#frag",
    "/extra/path",
    ":99999",
    ":-1",
    "%zz",
    " ",
    "'",
    "\\",
];

/// Connection strings of every form, well or badly written, each with a known password.
fn conninfo_input() -> impl Strategy<Value = (String, String)> {
    (
        password(),
        0u8..6,
        prop::sample::select(SCHEMES),
        prop::sample::select(HOSTS),
        prop::sample::select(vec!["", ":5432", ":abc", ":", ":99999"]),
        prop::sample::select(JUNK),
        prop::sample::select(JUNK),
    )
        .prop_map(|(pw, form, scheme, host, port, junk, junk2)| {
            let s = match form {
                // URL with user, password and host.
                0 => format!("{scheme}app:{pw}@{host}{port}/shop{junk}"),
                // Host-less authority: the password looks like a port.
                1 => format!("{scheme}app:{pw}/shop{junk}"),
                // Password as a URL parameter.
                2 => format!("{scheme}{host}{port}/shop?user=app&password={pw}{junk}"),
                // key=value, plain, quoted, with an unquoted space, with junk.
                3 => format!("host={host} user=app password={pw} dbname=shop{junk}"),
                4 => format!("host=x password='{pw} x{junk}' dbname=shop"),
                _ => format!("user=app password={pw} x{junk2} dbname=shop{junk}"),
            };
            (s, pw)
        })
}

#[test]
fn fuzz_conninfo() {
    use dbopt::pg::ConnParams;
    fuzz("conninfo", conninfo_input(), |(conninfo, pw)| {
        let no_env = |_: &str| None;
        match ConnParams::resolve(Some(conninfo), &no_env) {
            Err(e) => {
                let shown = format!("{e} {}", e.hint().unwrap_or_default());
                if shows_secret(&shown, pw) {
                    return Err(format!("the error shows the password: {shown}"));
                }
            }
            Ok(p) => {
                for shown in [p.redacted_url(), p.target(), format!("{p:?}")] {
                    if shows_secret(&shown, pw) {
                        return Err(format!("printable form shows the password: {shown}"));
                    }
                }
                // The URL dbopt hands to other programs (pg_dump, psql) must mean the same.
                let url = p.url_with_password();
                let back = ConnParams::parse(&url)
                    .map_err(|e| format!("url_with_password() {url:?} does not parse: {e}"))?;
                // One port serves every host, so compare host/port pairs rather than the raw values.
                let pairs = |c: &ConnParams| {
                    let hosts = c.hosts();
                    let mut ports = c.ports();
                    if ports.len() == 1 && hosts.len() > 1 {
                        ports = vec![ports[0]; hosts.len()];
                    }
                    (hosts, ports)
                };
                if pairs(&back) != pairs(&p) {
                    return Err(format!(
                        "url_with_password() changes the hosts: {:?} -> {:?} via {url:?}",
                        pairs(&p),
                        pairs(&back)
                    ));
                }
                for key in ["user", "dbname", "password"] {
                    if back.get(key) != p.get(key) {
                        return Err(format!(
                            "url_with_password() changes {key}: {:?} -> {:?} via {url:?}",
                            p.get(key),
                            back.get(key)
                        ));
                    }
                }
            }
        }
        Ok(())
    });
}

/// EXPLAIN (FORMAT JSON) output as the server writes it, to mutate.
fn plan_seeds() -> Vec<String> {
    let leaf = r#"{"Node Type": "Seq Scan", "Parallel Aware": false, "Relation Name": "leads", "Schema": "public", "Alias": "leads", "Startup Cost": 0.00, "Total Cost": 1693.00, "Plan Rows": 40, "Plan Width": 120, "Actual Startup Time": 0.02, "Actual Total Time": 9.5, "Actual Rows": 38, "Actual Loops": 1, "Filter": "(status = 'new'::text)", "Rows Removed by Filter": 39962, "Shared Hit Blocks": 693, "Shared Read Blocks": 0}"#;
    let sort = format!(
        r#"{{"Node Type": "Sort", "Startup Cost": 1.0, "Total Cost": 2.0, "Plan Rows": 10, "Plan Width": 8, "Actual Total Time": 12.5, "Actual Rows": 10, "Actual Loops": 1, "Sort Key": ["created_at DESC"], "Sort Method": "external merge", "Sort Space Used": 4096, "Sort Space Type": "Disk", "Plans": [{leaf}]}}"#
    );
    let nested = format!(
        r#"{{"Node Type": "Nested Loop", "Join Type": "Inner", "Total Cost": 9.0, "Plan Rows": 1, "Actual Rows": 5000, "Actual Loops": 1, "Plans": [{leaf}, {{"Node Type": "Index Scan", "Index Name": "agents_pkey", "Relation Name": "agents", "Actual Loops": 5000, "Actual Rows": 1, "Heap Fetches": 12, "Rows Removed by Index Recheck": 3}}]}}"#
    );
    let wrap = |root: &str| {
        format!(
            r#"[{{"Plan": {root}, "Planning Time": 0.2, "Triggers": [{{"Trigger Name": "t", "Time": 1.5, "Calls": 3}}], "JIT": {{"Functions": 4, "Timing": {{"Generation": 1.0, "Inlining": {{"Total": 2.0}}, "Optimization": 3.0, "Emission": 4.0, "Total": 10.0}}}}, "Execution Time": 12.9}}]"#
        )
    };
    vec![
        wrap(leaf),
        wrap(&sort),
        wrap(&nested),
        "[]".into(),
        "{}".into(),
    ]
}

const JSON_DICT: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "-1",
    "1e308",
    "1e309",
    "-0",
    "NaN",
    "18446744073709551616",
    "\"Plans\": [",
    "\"Plan\": ",
    "\"Actual Loops\": 0",
    "\"Actual Rows\": -5",
    "\"Node Type\": 7",
    "\"Plans\": {}",
    "\"Workers\": [{}]",
    "\\u0000",
    "\\ud800",
    "\"日本\"",
];

fn plan_input() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => mutated(plan_seeds(), JSON_DICT),
        // Deep trees: nested far past serde_json's own depth limit, and just under it.
        1 => (1usize..3000).prop_map(|n| {
            let node = r#"{"Node Type": "Limit", "Actual Loops": 1, "Plans": ["#;
            format!(r#"[{{"Plan": {}{{"Node Type": "Result"}}{}}}]"#, node.repeat(n), "]}".repeat(n))
        }),
    ]
}

#[test]
fn fuzz_plan_json() {
    use dbopt::analyze::plan::Plan;
    use dbopt::rules::{self, Config, Ctx, Scope};
    fuzz("plan JSON", plan_input(), |text| {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            return Ok(());
        };
        if let Ok(plan) = Plan::from_json(&value) {
            let _ = plan.summary();
            let _ = plan.total_ms();
            for node in plan.nodes() {
                let _ = (node.label(), node.misestimate(), node.exclusive_ms());
            }
            let ctx = Ctx {
                plan: Some(&plan),
                ..Default::default()
            };
            let _ = rules::run(Scope::Plan, &ctx, &Config::default());
        }
        Ok(())
    });
}

const LOG_DICT: &[&str] = &[
    "LOG:  ",
    "ERROR:  ",
    "DETAIL:  ",
    "STATEMENT:  ",
    "duration: ",
    "duration: 99999999999999999999 ms",
    "duration: -1 ms",
    "duration: NaN ms",
    " ms  statement: ",
    " ms  execute S_1: ",
    "parameters: $1 = '5'",
    "\n\t",
    "\n",
    "[",
    "]",
    "2026-11-22 21:00:00 UTC",
    "2026-13-45 25:61:61.999 +99:99",
    "2026-11-22 21:00:00.123 +14",
    "9999-12-31 23:59:59 -9999",
    "UTC",
    "CET",
    "[777]",
    "[-1]",
    "%",
    "user=,db=",
    ",",
    "\"",
    "{",
    "}",
    "\"message\":",
    "\"timestamp\":",
    "\"pid\":",
    "\u{0}",
    "日本",
];

const PREFIXES: &[&str] = &[
    "%m [%p] %q%u@%d ",
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%m [%p] ",
    "%t ",
    "",
    "%",
    "%%",
    "%q",
    "%c %x %v %e %i %s %n %r %b %l %Q ",
    "[%p] %m %u ",
    "((%p",
    "%m [%p] %q%u@%d \\d+ (",
];

/// A jsonlog (PostgreSQL 15+) and a csvlog entry, to mutate.
const STRUCTURED: &[&str] = &[
    r#"{"timestamp":"2026-11-22 21:00:00.123 UTC","user":"app","dbname":"shop","pid":777,"session_id":"6570.1","error_severity":"LOG","message":"duration: 12.000 ms  statement: SELECT * FROM orders WHERE id = 5"}"#,
    "2026-11-22 21:00:00.123 UTC,\"app\",\"shop\",777,\"10.0.0.7:5000\",6570.1,1,\"SELECT\",2026-11-22 21:00:00 UTC,3/4,0,LOG,00000,\"duration: 12.000 ms  statement: SELECT * FROM orders WHERE id = 5\",,,,,,,,,\"psql\",\"client backend\",,0",
];

fn log_input() -> impl Strategy<Value = (String, u8, String)> {
    let mut seeds = fixture_dir("fixtures/logs", "log");
    seeds.extend(STRUCTURED.iter().map(|s| format!("{s}\n{s}\n")));
    (
        mutated(seeds, LOG_DICT),
        0u8..3,
        prop_oneof![
            3 => prop::sample::select(PREFIXES).prop_map(str::to_string),
            1 => mutated(PREFIXES.iter().map(|s| s.to_string()).collect(), &["%", "%p", "%m", "\\", "(", "["]),
        ],
    )
}

#[test]
fn fuzz_logs() {
    use dbopt::workload::log::{self, LogFormat};
    fuzz("logs", log_input(), |(text, format, prefix)| {
        let format = [LogFormat::Stderr, LogFormat::Csv, LogFormat::Json][*format as usize];
        let _ = log::parse(text, format, prefix);
        let _ = log::events(text, format, prefix);
        Ok(())
    });
}

const SNAPSHOT_DICT: &[&str] = &[
    "null",
    "-1",
    "1e309",
    "18446744073709551616",
    "\"\"",
    "[]",
    "{}",
    ",",
    "\"",
    "-9223372036854775808",
    "\"日本\"",
    "\"id) WHERE true; DROP TABLE x; --\"",
    "0",
    "NaN",
    "true",
];

#[test]
fn fuzz_snapshot() {
    use dbopt::rules::{self, Config, Ctx, Scope};
    fuzz(
        "snapshot",
        mutated(vec![read("fixtures/snapshots/shop.json")], SNAPSHOT_DICT),
        |text| {
            if let Ok(snap) = dbopt::snapshot::parse(text, "fuzz.json") {
                let ctx = Ctx {
                    catalog: Some(&snap.catalog),
                    workload: Some(&snap.workload),
                    ..Default::default()
                };
                let config = Config::default();
                let _ = rules::run(Scope::Catalog, &ctx, &config);
                let _ = rules::run(Scope::Workload, &ctx, &config);
            }
            Ok(())
        },
    );
}

const TOML_DICT: &[&str] = &[
    "\"int:1..10\"", "\"int:-9223372036854775808..9223372036854775807\"", "\"float:-1e308..1e308\"",
    "\"float:0..inf\"", "\"float:NaN..1\"", "\"ago:99999999999d\"", "\"ago:-1s\"", "\"choice:\"",
    "\"choice:|\"", "\"text:\"", "\"bool\"", "\"int:5..1\"", "4294967295", "4294967296", "0", "-1",
    "weight = 4294967295", "\n[[statement]]\nname = \"x\"\nsql = \"SELECT $1\"\nweight = 4294967295\nparams = [\"int:1..2\"]\n",
    "\"p95 < 0ms\"", "\"p99 < 99999999999999999999s\"", "\"errors < 101%\"", "\"p95 +-50%\"",
    "duration = \"99999999999999999999s\"", "repeat = 0", "iterations = 0", "\"", "[", "]", "=", "\n",
];

#[test]
fn fuzz_workload_toml() {
    use dbopt::bench::workload::Workload;
    use rand::SeedableRng;
    fuzz(
        "workload TOML",
        mutated(vec![read("fixtures/bench/demo-workload.toml")], TOML_DICT),
        |text| {
            if let Ok(w) = Workload::parse("fuzz.toml", text) {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
                let _ = w.picker();
                for s in &w.statements {
                    for _ in 0..3 {
                        let _ = s.values(&mut rng);
                    }
                }
            }
            Ok(())
        },
    );
}

/// `archive --where` filters: ordinary age filters and the attacks the allow-list refuses.
const WHERE_SEEDS: &[&str] = &[
    "created_at < now() - interval '30 days'",
    "\"updatedAt\" < date_trunc('month', now()) AND status IN ('done', 'lost')",
    "created_at BETWEEN timestamp '2020-01-01' AND current_date - 7 OR status IS NULL",
    "coalesce(\"updatedAt\", created_at) < now() - make_interval(days => 90) AND lower(status) LIKE 'x%'",
    "id > 5 AND NOT (status = 'keep') AND extract(year FROM created_at) < 2020",
    "EXISTS (SELECT 1 FROM pg_terminate_backend(42))",
    "created_at < now() AND (SELECT pg_sleep(5)) IS NULL",
    "status = (SELECT lo_import('/etc/hostname'))::text",
    "set_config('x', 'y', false) IS NOT NULL",
    "pg_stat_statements_reset() IS NULL",
    "id OPERATOR(public.=) 5",
    "'t'::regclass IS NOT NULL",
    "id = $1",
];

const WHERE_DICT: &[&str] = &[
    "(",
    ")",
    "'",
    "''",
    "\"",
    " AND ",
    " OR ",
    " NOT ",
    "::",
    "::regclass",
    "::text",
    "pg_sleep(1)",
    "(SELECT 1)",
    " IN (SELECT 1)",
    "now()",
    "pg_catalog.",
    "lo_import('/x')",
    "OPERATOR(pg_catalog.=)",
    "$1",
    ";",
    "--",
    "/*",
    "E'\\''",
    "$$x$$",
    "\"created_at\"",
    "created_at",
    "日本",
    "ROW(1)",
    "ARRAY[1]",
    " COLLATE \"C\"",
    "current_user",
    "version()",
    "*",
    "1e999",
];

/// The text with string literals, quoted names and dollar quotes blanked, lower-cased.
fn outside_quotes(sql: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for ch in sql.chars() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None if ch == '\'' || ch == '"' => quote = Some(ch),
            None => out.extend(ch.to_lowercase()),
        }
        if quote.is_some() {
            out.push(' ');
        }
    }
    out
}

#[test]
fn fuzz_where() {
    use dbopt::archive::filter::check_where;
    use dbopt::archive::plan::Column;
    let col = |name: &str, type_name: &str| Column {
        name: name.into(),
        type_name: type_name.into(),
        not_null: false,
        generated: false,
    };
    let columns = vec![
        col("id", "bigint"),
        col("created_at", "timestamp with time zone"),
        col("updatedAt", "timestamp with time zone"),
        col("status", "text"),
    ];
    let deep = (0u8..3, 1usize..3000).prop_map(|(kind, n)| match kind {
        0 => vec!["id = 1"; n].join(" OR "),
        1 => format!("{}id = 1{}", "(".repeat(n), ")".repeat(n)),
        _ => vec!["NOT"; n].join(" ") + " id = 1",
    });
    let input = prop_oneof![
        6 => mutated(WHERE_SEEDS.iter().map(|s| s.to_string()).collect(), WHERE_DICT),
        1 => deep,
    ];
    fuzz("where", input, |text| {
        let Ok(filter) = check_where(text, "public.t", &columns) else {
            return Ok(());
        };
        let bare = outside_quotes(&filter.sql);
        for banned in [
            "select",
            "operator(",
            "$",
            ";",
            "--",
            "/*",
            "regclass",
            "regproc",
        ] {
            if bare.contains(banned) {
                return Err(format!(
                    "accepted {text:?} as {:?} (contains {banned})",
                    filter.sql
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_normalize() {
    use dbopt::workload::normalize::{normalize, split};
    fuzz("normalize", sql_input(), |sql| {
        let once = normalize(sql);
        let twice = normalize(&once.text);
        if twice != once {
            return Err(format!(
                "not idempotent: {:?} then {:?}",
                once.text, twice.text
            ));
        }
        for piece in split(sql).statements {
            normalize(&piece);
        }
        Ok(())
    });
}
