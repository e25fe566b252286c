//! What a benchmark runs: named SQL statements with weights, parameter generators and budgets,
//! from a TOML workload file or one of the built-in workloads.
//!
//! Why one model for both commands: `bench pool` draws statements by weight to put load on a
//! pool, `bench queries` runs each statement on its own against its budgets; a team writes one
//! file and uses it for both. Parameters are generated per request (a fixed parameter would
//! measure one cached row), and converted to whatever type the server inferred for `$n`, so a
//! file never has to spell Rust or PostgreSQL types.

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use rand::distributions::WeightedIndex;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

use super::error::{BenchError, Result};
use super::histogram::Metric;

/// A workload file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadFile {
    /// `bench queries`: measured time per statement and repeat ("1s").
    pub duration: Option<String>,
    /// `bench queries`: iterations per statement and repeat (instead of a duration).
    pub iterations: Option<u64>,
    /// Warm-up before each measured run ("200ms").
    pub warmup: Option<String>,
    /// `bench queries`: measured runs per statement; medians are compared.
    pub repeat: Option<u32>,
    /// `bench queries`: concurrent sessions per statement.
    pub concurrency: Option<usize>,
    /// `bench queries`: a baseline change smaller than this is noise ("1ms").
    pub noise_floor: Option<String>,
    /// Budgets applied to every statement (e.g. "errors < 1%").
    #[serde(default)]
    pub budgets: Vec<String>,
    #[serde(default, rename = "statement")]
    pub statements: Vec<StatementFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementFile {
    pub name: String,
    pub sql: String,
    /// `bench pool` draws statements in proportion to their weights (0: never); the weights
    /// of a file must add up to 1 ..= [`MAX_TOTAL_WEIGHT`].
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub budgets: Vec<String>,
}

fn one() -> u32 {
    1
}

/// The largest sum of a file's statement weights.
pub const MAX_TOTAL_WEIGHT: u64 = u32::MAX as u64;

/// A statement ready to run.
#[derive(Debug, Clone)]
pub struct Statement {
    pub name: String,
    pub sql: String,
    pub weight: u32,
    pub params: Vec<ParamGen>,
    pub budgets: Vec<Budget>,
}

impl Statement {
    pub fn new(name: &str, sql: &str, weight: u32, params: Vec<ParamGen>) -> Self {
        Statement {
            name: name.into(),
            sql: sql.into(),
            weight,
            params,
            budgets: Vec::new(),
        }
    }

    /// Fresh parameter values for one execution.
    pub fn values(&self, rng: &mut impl Rng) -> Vec<Value> {
        let mut out = Vec::with_capacity(self.params.len());
        self.fill_values(rng, &mut out);
        out
    }

    /// Fresh parameter values into `out` (cleared first), reusing its allocation.
    pub fn fill_values(&self, rng: &mut impl Rng, out: &mut Vec<Value>) {
        out.clear();
        out.extend(self.params.iter().map(|g| g.sample(rng)));
    }
}

/// A parsed workload: statements and the settings of the file.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub statements: Vec<Statement>,
    pub settings: WorkloadFile,
}

impl Workload {
    pub fn new(name: &str, statements: Vec<Statement>) -> Self {
        Workload {
            name: name.into(),
            statements,
            settings: WorkloadFile::default(),
        }
    }

    /// Draws statements by weight, summed in u64 so no sum of u32 weights overflows; a
    /// workload whose weights are all 0 (which [`Workload::parse`] refuses) draws uniformly.
    pub fn picker(&self) -> WeightedIndex<u64> {
        WeightedIndex::new(self.statements.iter().map(|s| u64::from(s.weight)))
            .or_else(|_| WeightedIndex::new(self.statements.iter().map(|_| 1u64)))
            .expect("a workload has at least one statement")
    }

    pub fn load(path: &Path) -> Result<Workload> {
        let text = std::fs::read_to_string(path).map_err(|e| BenchError::ReadFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Workload::parse(&path.display().to_string(), &text)
    }

    pub fn parse(origin: &str, text: &str) -> Result<Workload> {
        let bad = |reason: String| BenchError::Workload {
            path: origin.to_string(),
            reason,
        };
        let file: WorkloadFile = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        if file.statements.is_empty() {
            return Err(bad("no [[statement]] entries".into()));
        }
        let common = parse_budgets(&file.budgets).map_err(&bad)?;
        let mut statements = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for s in &file.statements {
            if !seen.insert(s.name.clone()) {
                return Err(bad(format!("statement name \"{}\" is used twice", s.name)));
            }
            let params = s
                .params
                .iter()
                .map(|p| ParamGen::parse(p))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("statement \"{}\": {e}", s.name)))?;
            let mut budgets = common.clone();
            budgets.extend(
                parse_budgets(&s.budgets)
                    .map_err(|e| bad(format!("statement \"{}\": {e}", s.name)))?,
            );
            statements.push(Statement {
                name: s.name.clone(),
                sql: s.sql.trim().to_string(),
                weight: s.weight,
                params,
                budgets,
            });
        }
        let total: u64 = file.statements.iter().map(|s| u64::from(s.weight)).sum();
        if total == 0 || total > MAX_TOTAL_WEIGHT {
            let list = file
                .statements
                .iter()
                .map(|s| format!("\"{}\" {}", s.name, s.weight))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(bad(format!(
                "the statement weights ({list}) add up to {total}; they must add up to 1 .. {MAX_TOTAL_WEIGHT}"
            )));
        }
        if file
            .concurrency
            .is_some_and(|c| !(1..=crate::units::MAX_COUNT).contains(&c))
        {
            return Err(bad(format!(
                "concurrency must be from 1 to {}",
                crate::units::MAX_COUNT
            )));
        }
        for (key, v) in [
            ("duration", &file.duration),
            ("warmup", &file.warmup),
            ("noise_floor", &file.noise_floor),
        ] {
            if let Some(v) = v {
                crate::units::parse_duration(v).map_err(|e| bad(format!("{key}: {e}")))?;
            }
        }
        let name = Path::new(origin)
            .file_stem()
            .map_or_else(|| origin.to_string(), |s| s.to_string_lossy().into_owned());
        Ok(Workload {
            name,
            statements,
            settings: file,
        })
    }
}

/// A duration setting of the file, already validated by [`Workload::parse`].
pub fn setting_duration(v: &Option<String>) -> Option<Duration> {
    v.as_deref()
        .and_then(|s| crate::units::parse_duration(s).ok())
}

/// How one `$n` parameter is generated.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamGen {
    /// `int:LO..HI`, uniform, inclusive.
    Int(i64, i64),
    /// `float:LO..HI`, uniform.
    Float(f64, f64),
    /// `choice:a|b|c`, uniform.
    Choice(Vec<String>),
    /// `text:value`, always the same.
    Text(String),
    /// `ago:30d`: now minus a duration, as a timestamp.
    Ago(Duration),
    /// `bool`: true or false.
    Bool,
}

impl ParamGen {
    pub fn parse(spec: &str) -> std::result::Result<ParamGen, String> {
        let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
        let range = |arg: &str| {
            arg.split_once("..")
                .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
                .ok_or_else(|| format!("parameter \"{spec}\": expected a range like 1..100"))
        };
        match kind.trim() {
            "int" => {
                let (a, b) = range(arg)?;
                let lo = a.parse::<i64>().map_err(|_| format!("parameter \"{spec}\": \"{a}\" is not an integer"))?;
                let hi = b.parse::<i64>().map_err(|_| format!("parameter \"{spec}\": \"{b}\" is not an integer"))?;
                if lo > hi {
                    return Err(format!("parameter \"{spec}\": empty range"));
                }
                Ok(ParamGen::Int(lo, hi))
            }
            "float" => {
                let (a, b) = range(arg)?;
                let lo = a.parse::<f64>().map_err(|_| format!("parameter \"{spec}\": \"{a}\" is not a number"))?;
                let hi = b.parse::<f64>().map_err(|_| format!("parameter \"{spec}\": \"{b}\" is not a number"))?;
                if !lo.is_finite() || !hi.is_finite() {
                    return Err(format!("parameter \"{spec}\": the bounds must be finite numbers"));
                }
                if lo > hi {
                    return Err(format!("parameter \"{spec}\": empty range"));
                }
                // The sampler scales by hi - lo: it must be a finite number too.
                if !(hi - lo).is_finite() {
                    return Err(format!("parameter \"{spec}\": the range is too wide (hi - lo must stay below about 1.8e308)"));
                }
                Ok(ParamGen::Float(lo, hi))
            }
            "choice" => {
                let items: Vec<String> = arg.split('|').map(str::to_string).collect();
                if arg.is_empty() {
                    return Err(format!("parameter \"{spec}\": expected choice:a|b|c"));
                }
                Ok(ParamGen::Choice(items))
            }
            "text" => Ok(ParamGen::Text(arg.to_string())),
            "ago" => crate::units::parse_duration(arg)
                .map(ParamGen::Ago)
                .map_err(|e| format!("parameter \"{spec}\": {e}")),
            "bool" => Ok(ParamGen::Bool),
            other => Err(format!(
                "parameter \"{spec}\": unknown generator \"{other}\" (use int, float, choice, text, ago or bool)"
            )),
        }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> Value {
        match self {
            ParamGen::Int(lo, hi) => Value::Int(rng.gen_range(*lo..=*hi)),
            ParamGen::Float(lo, hi) => Value::Float(if lo == hi {
                *lo
            } else {
                rng.gen_range(*lo..*hi)
            }),
            ParamGen::Choice(items) => Value::Text(items[rng.gen_range(0..items.len())].clone()),
            ParamGen::Text(t) => Value::Text(t.clone()),
            ParamGen::Ago(d) => Value::Time(
                Utc::now() - chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::zero()),
            ),
            ParamGen::Bool => Value::Bool(rng.gen_bool(0.5)),
        }
    }
}

/// A generated parameter value; sent as whatever type the server expects for its `$n`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Text(String),
    Time(DateTime<Utc>),
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Text(v) => write!(f, "{v}"),
            Value::Time(v) => write!(f, "{}", v.to_rfc3339()),
            Value::Bool(v) => write!(f, "{v}"),
        }
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        let as_int = || -> std::result::Result<i64, BoxError> {
            match self {
                Value::Int(v) => Ok(*v),
                Value::Text(s) => Ok(s.trim().parse()?),
                _ => Err(format!("cannot send {self} as {ty}").into()),
            }
        };
        let as_float = || -> std::result::Result<f64, BoxError> {
            match self {
                Value::Int(v) => Ok(*v as f64),
                Value::Float(v) => Ok(*v),
                Value::Text(s) => Ok(s.trim().parse()?),
                _ => Err(format!("cannot send {self} as {ty}").into()),
            }
        };
        match *ty {
            Type::INT2 => i16::try_from(as_int()?)?.to_sql(ty, out),
            Type::INT4 => i32::try_from(as_int()?)?.to_sql(ty, out),
            Type::INT8 => as_int()?.to_sql(ty, out),
            Type::FLOAT4 => (as_float()? as f32).to_sql(ty, out),
            Type::FLOAT8 => as_float()?.to_sql(ty, out),
            Type::BOOL => match self {
                Value::Bool(b) => b.to_sql(ty, out),
                Value::Text(s) => s.trim().parse::<bool>()?.to_sql(ty, out),
                _ => Err(format!("cannot send {self} as {ty}").into()),
            },
            Type::TIMESTAMPTZ => match self {
                Value::Time(t) => t.to_sql(ty, out),
                _ => Err(format!("cannot send {self} as {ty}").into()),
            },
            Type::TIMESTAMP => match self {
                Value::Time(t) => t.naive_utc().to_sql(ty, out),
                _ => Err(format!("cannot send {self} as {ty}").into()),
            },
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                self.to_string().as_str().to_sql(ty, out)
            }
            _ => Err(format!(
                "parameter type {ty} is not supported; cast it in the SQL (e.g. $1::text::{ty})"
            )
            .into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A threshold a statement must meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Budget {
    /// `p95 < 200ms`
    Latency { metric: Metric, max_ms: f64 },
    /// `errors < 1%`
    ErrorRate { max: f64 },
    /// `p95 +20%` against the baseline.
    Regression { metric: Metric, max_increase: f64 },
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Budget::Latency { metric, max_ms } => {
                write!(f, "{} < {}", metric.label(), super::histogram::ms(*max_ms))
            }
            Budget::ErrorRate { max } => write!(f, "errors < {}%", max * 100.0),
            Budget::Regression {
                metric,
                max_increase,
            } => {
                write!(
                    f,
                    "{} +{}% vs baseline",
                    metric.label(),
                    max_increase * 100.0
                )
            }
        }
    }
}

impl Budget {
    pub fn parse(s: &str) -> std::result::Result<Budget, String> {
        let t = s.trim();
        let err =
            || format!("budget \"{s}\": expected \"p95 < 200ms\", \"errors < 1%\" or \"p95 +20%\"");
        if let Some((left, right)) = t.split_once('<') {
            let right = right.trim_start_matches('=').trim();
            let left = left.trim().to_ascii_lowercase();
            if left == "errors" || left == "error_rate" || left == "error rate" {
                let max = parse_percent(right).ok_or_else(err)?;
                return Ok(Budget::ErrorRate { max });
            }
            let metric = Metric::parse(&left).ok_or_else(err)?;
            let d =
                crate::units::parse_duration(right).map_err(|e| format!("budget \"{s}\": {e}"))?;
            return Ok(Budget::Latency {
                metric,
                max_ms: d.as_secs_f64() * 1000.0,
            });
        }
        if let Some((left, right)) = t.split_once('+') {
            let metric = Metric::parse(left).ok_or_else(err)?;
            let max_increase = parse_percent(right.trim()).ok_or_else(err)?;
            return Ok(Budget::Regression {
                metric,
                max_increase,
            });
        }
        Err(err())
    }
}

fn parse_percent(s: &str) -> Option<f64> {
    let s = s.trim();
    let v = if let Some(p) = s.strip_suffix('%') {
        p.trim().parse::<f64>().ok()? / 100.0
    } else {
        s.parse::<f64>().ok()?
    };
    (v.is_finite() && v >= 0.0).then_some(v)
}

fn parse_budgets(list: &[String]) -> std::result::Result<Vec<Budget>, String> {
    list.iter().map(|b| Budget::parse(b)).collect()
}

/// The built-in workloads of `bench pool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuiltIn {
    /// pgbench's select-only: one primary-key lookup on pgbench_accounts.
    SelectOnly,
    /// 80 % select-only lookups, 20 % balance updates on pgbench_accounts.
    ReadWrite,
    /// Primary-key lookups on the demo database (leads, agents, assignments, carriers).
    DemoLookups,
}

/// Rows of pgbench_accounts per scale unit, as pgbench.
pub const ACCOUNTS_PER_SCALE: i64 = 100_000;

/// What `pgbench -i` does after loading: hint bits set, pages all-visible and frozen,
/// statistics taken. Without it the first reads dirty every page and autovacuum visits the
/// fresh table in the middle of a measurement (seen: 0.89 of pgbench's throughput at 32
/// clients on a fresh load, 0.95 on the same server a run later).
pub const SETTLE_PGBENCH_TABLES_SQL: &str =
    "VACUUM (FREEZE, ANALYZE) pgbench_branches, pgbench_tellers, pgbench_accounts";

/// The query of `pgbench -S`.
pub const SELECT_ONLY_SQL: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";

/// pgbench-compatible tables (so `pgbench -S` runs against the same data), created when absent.
/// Fresh tables then need [`SETTLE_PGBENCH_TABLES_SQL`], as `pgbench -i` does.
pub fn pgbench_tables_sql(scale: u32) -> String {
    let accounts = i64::from(scale.max(1)) * ACCOUNTS_PER_SCALE;
    format!(
        "CREATE TABLE IF NOT EXISTS pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88));
         CREATE TABLE IF NOT EXISTS pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84));
         CREATE TABLE IF NOT EXISTS pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
         CREATE TABLE IF NOT EXISTS pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84)) WITH (fillfactor = 100);
         INSERT INTO pgbench_branches SELECT b, 0 FROM generate_series(1, {scale}) b
           WHERE NOT EXISTS (SELECT 1 FROM pgbench_branches);
         INSERT INTO pgbench_tellers SELECT t, (t - 1) / 10 + 1, 0 FROM generate_series(1, {tellers}) t
           WHERE NOT EXISTS (SELECT 1 FROM pgbench_tellers);
         INSERT INTO pgbench_accounts SELECT a, (a - 1) / {per} + 1, 0, '' FROM generate_series(1, {accounts}) a
           WHERE NOT EXISTS (SELECT 1 FROM pgbench_accounts);",
        scale = scale.max(1),
        tellers = scale.max(1) * 10,
        per = ACCOUNTS_PER_SCALE,
    )
}

impl BuiltIn {
    /// The statements, for data loaded at `scale` (pgbench scale for the pgbench tables,
    /// demo scale for the demo database).
    pub fn workload(self, rows: &dyn Fn(&str) -> i64) -> Workload {
        match self {
            BuiltIn::SelectOnly => Workload::new(
                "select-only",
                vec![Statement::new(
                    "select_only",
                    SELECT_ONLY_SQL,
                    1,
                    vec![ParamGen::Int(1, rows("pgbench_accounts"))],
                )],
            ),
            BuiltIn::ReadWrite => Workload::new(
                "read-write",
                vec![
                    Statement::new(
                        "select_only",
                        SELECT_ONLY_SQL,
                        8,
                        vec![ParamGen::Int(1, rows("pgbench_accounts"))],
                    ),
                    Statement::new(
                        "update_balance",
                        "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
                        2,
                        vec![
                            ParamGen::Int(-5000, 5000),
                            ParamGen::Int(1, rows("pgbench_accounts")),
                        ],
                    ),
                ],
            ),
            BuiltIn::DemoLookups => {
                let by_id = |name: &str, sql: &str, table: &str, w: u32| {
                    Statement::new(name, sql, w, vec![ParamGen::Int(1, rows(table).max(1))])
                };
                Workload::new(
                    "demo-lookups",
                    vec![
                        by_id("lead_by_id", "SELECT id, first_name, last_name, status FROM leads WHERE id = $1", "leads", 4),
                        by_id("agent_by_id", "SELECT id, name, rating FROM agents WHERE id = $1", "agents", 2),
                        by_id("assignment_by_id", "SELECT id, lead_id, agent_id, status FROM lead_assignments WHERE id = $1", "lead_assignments", 3),
                        by_id("carrier_by_id", "SELECT id, name FROM carriers WHERE id = $1", "carriers", 1),
                    ],
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::distributions::Distribution;

    #[test]
    fn budgets_parse() {
        assert_eq!(
            Budget::parse("p95 < 200ms").unwrap(),
            Budget::Latency {
                metric: Metric::P95,
                max_ms: 200.0
            }
        );
        assert_eq!(
            Budget::parse("p99<=1.5s").unwrap(),
            Budget::Latency {
                metric: Metric::P99,
                max_ms: 1500.0
            }
        );
        assert_eq!(
            Budget::parse("errors < 1%").unwrap(),
            Budget::ErrorRate { max: 0.01 }
        );
        assert_eq!(
            Budget::parse("p95 +20%").unwrap(),
            Budget::Regression {
                metric: Metric::P95,
                max_increase: 0.2
            }
        );
        assert!(Budget::parse("p95 > 2ms").is_err());
        assert!(Budget::parse("p42 < 2ms").is_err());
        assert!(Budget::parse("p95 < soon").is_err());
    }

    #[test]
    fn generators_parse_and_sample_in_range() {
        let mut rng = rand::thread_rng();
        let g = ParamGen::parse("int:5..7").unwrap();
        for _ in 0..50 {
            match g.sample(&mut rng) {
                Value::Int(v) => assert!((5..=7).contains(&v)),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            ParamGen::parse("choice:new|lost").unwrap(),
            ParamGen::Choice(vec!["new".into(), "lost".into()])
        );
        assert!(ParamGen::parse("int:9..1").is_err());
        assert!(ParamGen::parse("uuid")
            .unwrap_err()
            .contains("unknown generator"));
        assert!(ParamGen::parse("ago:30d").is_ok());
    }

    #[test]
    fn workload_files_are_checked() {
        let w = Workload::parse(
            "w.toml",
            r#"
budgets = ["errors < 1%"]
[[statement]]
name = "a"
sql = "SELECT $1::int"
params = ["int:1..3"]
budgets = ["p95 < 50ms"]
"#,
        )
        .unwrap();
        assert_eq!(w.name, "w");
        assert_eq!(w.statements[0].budgets.len(), 2);
        let e = Workload::parse("w.toml", "[[statement]]\nname = \"a\"\n").unwrap_err();
        assert!(e.to_string().contains("sql"), "{e}");
        let e = Workload::parse(
            "w.toml",
            "[[statement]]\nname = \"a\"\nsql = \"x\"\nbudgets = [\"p95 ~ 2\"]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("budget"), "{e}");
        assert!(Workload::parse("w.toml", "duration = \"1s\"\n").is_err());
    }

    fn one_statement(extra: &str) -> String {
        format!("[[statement]]\nname = \"pick\"\nsql = \"SELECT $1\"\n{extra}\n")
    }

    #[test]
    fn float_ranges_must_be_finite_and_not_too_wide() {
        for spec in [
            "float:-1e308..1e308",
            "float:-inf..0",
            "float:0..NaN",
            "float:2..1",
        ] {
            let text = one_statement(&format!("params = [\"{spec}\"]"));
            let e = Workload::parse("w.toml", &text).unwrap_err().to_string();
            assert!(e.contains("statement \"pick\"") && e.contains(spec), "{e}");
        }
        let g = ParamGen::parse("float:-1e307..1e307").unwrap();
        let mut rng = rand::thread_rng();
        for _ in 0..50 {
            match g.sample(&mut rng) {
                Value::Float(v) => assert!((-1e307..1e307).contains(&v)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_widest_int_range_samples() {
        let g = ParamGen::parse(&format!("int:{}..{}", i64::MIN, i64::MAX)).unwrap();
        let mut rng = rand::thread_rng();
        let seen: std::collections::HashSet<i64> = (0..100)
            .map(|_| match g.sample(&mut rng) {
                Value::Int(v) => v,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(seen.len() > 90, "{seen:?}");
        assert_eq!(
            ParamGen::parse("int:9223372036854775807..9223372036854775807")
                .unwrap()
                .sample(&mut rng),
            Value::Int(i64::MAX)
        );
    }

    #[test]
    fn ago_durations_are_capped() {
        let e = Workload::parse("w.toml", &one_statement("params = [\"ago:99999999999d\"]"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("statement \"pick\"") && e.contains("100 years"),
            "{e}"
        );
        let e = Workload::parse(
            "w.toml",
            &format!("warmup = \"99999999999d\"\n{}", one_statement("")),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("warmup") && e.contains("100 years"), "{e}");
    }

    #[test]
    fn weights_add_up_in_u64_and_are_bounded() {
        let two = |a: u64, b: u64| {
            format!("[[statement]]\nname = \"a\"\nsql = \"SELECT 1\"\nweight = {a}\n[[statement]]\nname = \"b\"\nsql = \"SELECT 2\"\nweight = {b}\n")
        };
        let max = u64::from(u32::MAX);
        let e = Workload::parse("w.toml", &two(max, max))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"a\" 4294967295") && e.contains("add up to 8589934590"),
            "{e}"
        );
        let e = Workload::parse("w.toml", &two(0, 0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("add up to 0"), "{e}");
        // A weight of 0 is never drawn; the sum at the limit still draws.
        let w = Workload::parse("w.toml", &two(max, 0)).unwrap();
        let picker = w.picker();
        let mut rng = rand::thread_rng();
        assert!((0..200).all(|_| picker.sample(&mut rng) == 0));
        let w = Workload::parse("w.toml", &two(max - 1, 1)).unwrap();
        w.picker().sample(&mut rng);
    }
}
