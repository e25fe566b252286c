//! `dbopt bench queries`: latency budgets and baseline comparison for CI.
//!
//! Each statement of a workload file runs on its own (so one slow statement cannot hide behind
//! another) for a fixed time or iteration count, several times. Budgets are checked on the
//! median of the repeats; a baseline comparison fails only when the change exceeds both the
//! allowed increase and the run-to-run noise (the spread between repeats, in this run and in
//! the baseline, with a floor), because a CI that goes red on noise gets ignored. The plan
//! shape (node types, relations, indexes) is stored too: when a statement regressed, a Seq Scan
//! that replaced an Index Scan is usually why, and the report says so.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::ToSql;

use super::error::{BenchError, Result};
use super::histogram::{median, Metric, Percentiles};
use super::runner::{self, LoadSpec, Stop};
use super::workload::{Budget, Workload};
use crate::pg::{self, ConnParams, PgError, SessionOptions};

pub const REPORT_KIND: &str = "dbopt-bench-queries";

#[derive(Debug, Clone)]
pub struct QueriesOptions {
    /// Per statement and repeat.
    pub stop: Stop,
    pub warmup: Duration,
    pub repeat: u32,
    pub concurrency: usize,
    /// Changes smaller than this (ms) are never a regression.
    pub noise_floor_ms: f64,
    pub session: SessionOptions,
    pub pool_timeout: Duration,
}

/// The outcome of one budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub budget: String,
    pub rule: Budget,
    /// Measured value (ms, or a fraction for error rates).
    pub value: f64,
    /// The value not to exceed.
    pub limit: f64,
    /// `None`: not evaluated (a relative budget without a baseline).
    pub passed: Option<bool>,
    pub detail: String,
}

/// A statement compared with the baseline on one metric.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub statement: String,
    pub metric: Metric,
    pub baseline_ms: f64,
    pub now_ms: f64,
    /// Relative change (0.25 = 25 % slower).
    pub change: f64,
    /// Run-to-run noise that a change must exceed (ms).
    pub noise_ms: f64,
    /// Allowed relative increase, when the statement has a budget for it.
    pub allowed: Option<f64>,
    pub regressed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanChange {
    pub statement: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// A scan of a relation lost its index (the usual cause of a regression).
    pub lost_index: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementResult {
    pub name: String,
    pub sql: String,
    pub iterations: u64,
    pub errors: u64,
    pub error_rate: f64,
    /// Median over the repeats, per percentile.
    pub latency: Percentiles,
    /// Each repeat on its own.
    pub runs: Vec<Percentiles>,
    #[serde(default)]
    pub plan: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    #[serde(default)]
    pub checks: Vec<Check>,
}

impl StatementResult {
    /// The spread of `metric` between repeats (max - min), in ms.
    pub fn spread(&self, metric: Metric) -> f64 {
        let v: Vec<f64> = self.runs.iter().map(|r| metric.of(r)).collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if v.is_empty() {
            0.0
        } else {
            hi - lo
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueriesReport {
    pub kind: String,
    pub version: u32,
    pub workload: String,
    pub target: String,
    pub server_version: String,
    pub client_cores: usize,
    pub created_at: DateTime<Utc>,
    pub repeat: u32,
    pub statements: Vec<StatementResult>,
    #[serde(default)]
    pub baseline: Option<String>,
    #[serde(default)]
    pub comparisons: Vec<Comparison>,
    #[serde(default)]
    pub plan_changes: Vec<PlanChange>,
    pub checks_failed: usize,
    pub passed: bool,
}

impl QueriesReport {
    pub fn load(path: &std::path::Path) -> Result<QueriesReport> {
        let text = std::fs::read_to_string(path).map_err(|e| BenchError::ReadFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let r: QueriesReport = serde_json::from_str(&text).map_err(|e| BenchError::Baseline {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if r.kind != REPORT_KIND {
            return Err(BenchError::Baseline {
                path: path.to_path_buf(),
                reason: format!("kind is \"{}\", expected \"{REPORT_KIND}\"", r.kind),
            });
        }
        Ok(r)
    }

    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("report serializes");
        std::fs::write(path, text + "\n").map_err(|e| BenchError::WriteFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// The plan shape of an `EXPLAIN (FORMAT JSON)` document: one entry per node, pre-order,
/// `"Index Scan using leads_pkey on leads"`, indented by depth.
pub fn plan_shape(explain: &serde_json::Value) -> Vec<String> {
    fn walk(node: &serde_json::Value, depth: usize, out: &mut Vec<String>) {
        let s = |k: &str| node.get(k).and_then(serde_json::Value::as_str);
        let mut label = s("Node Type").unwrap_or("?").to_string();
        if let Some(i) = s("Index Name") {
            label.push_str(" using ");
            label.push_str(i);
        }
        if let Some(r) = s("Relation Name") {
            label.push_str(" on ");
            label.push_str(r);
        }
        out.push(format!("{}{label}", "  ".repeat(depth)));
        if let Some(children) = node.get("Plans").and_then(serde_json::Value::as_array) {
            for c in children {
                walk(c, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(plan) = explain.get(0).and_then(|d| d.get("Plan")) {
        walk(plan, 0, &mut out);
    }
    out
}

/// Relations scanned through an index in `before` but not in `after`.
fn lost_index(before: &[String], after: &[String]) -> bool {
    let indexed = |plan: &[String], rel: &str| {
        plan.iter()
            .any(|l| l.contains(" using ") && l.ends_with(&format!(" on {rel}")))
    };
    before
        .iter()
        .filter(|l| l.contains(" using "))
        .filter_map(|l| l.rsplit_once(" on ").map(|(_, r)| r.to_string()))
        .any(|rel| !indexed(after, &rel))
}

/// Evaluate a statement's budgets, against the baseline's result for it when there is one.
pub fn evaluate(
    budgets: &[Budget],
    now: &StatementResult,
    base: Option<&StatementResult>,
    noise_floor_ms: f64,
) -> (Vec<Check>, Vec<Comparison>) {
    let mut checks = Vec::new();
    let mut comparisons = Vec::new();
    let compare = |metric: Metric, allowed: Option<f64>| {
        base.map(|b| {
            let (was, is) = (metric.of(&b.latency), metric.of(&now.latency));
            let noise = b.spread(metric).max(now.spread(metric)).max(noise_floor_ms);
            let change = if was > 0.0 { is / was - 1.0 } else { 0.0 };
            let regressed = allowed.is_some_and(|a| is > was * (1.0 + a) && is - was > noise);
            Comparison {
                statement: now.name.clone(),
                metric,
                baseline_ms: was,
                now_ms: is,
                change,
                noise_ms: noise,
                allowed,
                regressed,
            }
        })
    };
    for b in budgets {
        let check = match *b {
            Budget::Latency { metric, max_ms } => {
                let v = metric.of(&now.latency);
                Check {
                    budget: b.to_string(),
                    rule: b.clone(),
                    value: v,
                    limit: max_ms,
                    passed: Some(now.iterations > 0 && v < max_ms),
                    detail: format!("{} = {}", metric.label(), super::histogram::ms(v)),
                }
            }
            Budget::ErrorRate { max } => Check {
                budget: b.to_string(),
                rule: b.clone(),
                value: now.error_rate,
                limit: max,
                passed: Some(now.error_rate <= max && (now.iterations > 0 || now.errors == 0)),
                detail: format!("{} errors of {}", now.errors, now.iterations + now.errors),
            },
            Budget::Regression {
                metric,
                max_increase,
            } => match compare(metric, Some(max_increase)) {
                Some(c) => {
                    let check = Check {
                        budget: b.to_string(),
                        rule: b.clone(),
                        value: c.now_ms,
                        limit: c.baseline_ms * (1.0 + max_increase),
                        passed: Some(!c.regressed),
                        detail: format!(
                            "{} -> {} ({:+.0} %, noise {})",
                            super::histogram::ms(c.baseline_ms),
                            super::histogram::ms(c.now_ms),
                            c.change * 100.0,
                            super::histogram::ms(c.noise_ms)
                        ),
                    };
                    comparisons.push(c);
                    check
                }
                None => Check {
                    budget: b.to_string(),
                    rule: b.clone(),
                    value: metric.of(&now.latency),
                    limit: 0.0,
                    passed: None,
                    detail: "no baseline (--baseline FILE)".into(),
                },
            },
        };
        checks.push(check);
    }
    // Without a relative budget, still show how p95 moved against the baseline.
    if comparisons.is_empty() {
        comparisons.extend(compare(Metric::P95, None));
    }
    (checks, comparisons)
}

async fn explain(
    pool: &deadpool_postgres::Pool,
    sql: &str,
    values: &[super::workload::Value],
) -> std::result::Result<Vec<String>, String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    let row = client
        .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &refs)
        .await
        .map_err(|e| PgError::query("EXPLAIN", e).to_string())?;
    let doc: serde_json::Value = row.try_get(0).map_err(|e| e.to_string())?;
    Ok(plan_shape(&doc))
}

/// Run every statement of the workload, evaluate budgets and compare with `baseline`.
pub async fn run(
    p: &ConnParams,
    workload: Workload,
    o: &QueriesOptions,
    baseline: Option<(&str, &QueriesReport)>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<QueriesReport> {
    let pool = pg::pool(p, &o.session, o.concurrency.max(1))?;
    let server_version: String = {
        let c = pool
            .get()
            .await
            .map_err(|e| super::pool::pool_error(p, e))?;
        for s in &workload.statements {
            c.prepare(&s.sql)
                .await
                .map_err(|e| PgError::query(format!("preparing statement \"{}\"", s.name), e))?;
        }
        c.query_one("SHOW server_version", &[])
            .await
            .map_err(|e| PgError::query("reading the server version", e))?
            .get(0)
    };
    let workload = Arc::new(workload);
    let mut rng = rand::thread_rng();
    let mut statements = Vec::new();
    let mut comparisons = Vec::new();
    let mut plan_changes = Vec::new();
    for (i, s) in workload.statements.iter().enumerate() {
        let mut runs = Vec::new();
        let (mut ok, mut errors, mut first_error) = (0, 0, None);
        for _ in 0..o.repeat.max(1) {
            let spec = LoadSpec {
                concurrency: o.concurrency.max(1),
                warmup: o.warmup,
                stop: o.stop,
                rate: None,
                pool_timeout: o.pool_timeout,
                only: Some(i),
            };
            let r = runner::run(&runner::Shards::here(pool.clone()), &workload, &spec, None).await;
            ok += r.ok;
            errors += r.errors + r.wait_timeouts;
            first_error = first_error.or(r.first_error.clone());
            runs.push(r.total.summary());
            progress(&s.name);
        }
        let med = |f: fn(&Percentiles) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        let latency = Percentiles {
            count: ok,
            mean_ms: med(|r| r.mean_ms),
            p50_ms: med(|r| r.p50_ms),
            p95_ms: med(|r| r.p95_ms),
            p99_ms: med(|r| r.p99_ms),
            max_ms: runs.iter().map(|r| r.max_ms).fold(0.0, f64::max),
        };
        let (plan, plan_error) = match explain(&pool, &s.sql, &s.values(&mut rng)).await {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        };
        let mut res = StatementResult {
            name: s.name.clone(),
            sql: s.sql.clone(),
            iterations: ok,
            errors,
            error_rate: if ok + errors > 0 {
                errors as f64 / (ok + errors) as f64
            } else {
                0.0
            },
            latency,
            runs,
            plan,
            plan_error,
            first_error,
            checks: Vec::new(),
        };
        let base = baseline.and_then(|(_, b)| b.statements.iter().find(|b| b.name == s.name));
        let (checks, comps) = evaluate(&s.budgets, &res, base, o.noise_floor_ms);
        res.checks = checks;
        comparisons.extend(comps);
        if let (Some(b), Some(now)) = (base.and_then(|b| b.plan.as_ref()), res.plan.as_ref()) {
            if b != now {
                plan_changes.push(PlanChange {
                    statement: s.name.clone(),
                    before: b.clone(),
                    after: now.clone(),
                    lost_index: lost_index(b, now),
                });
            }
        }
        statements.push(res);
    }
    let checks_failed = statements
        .iter()
        .flat_map(|s| &s.checks)
        .filter(|c| c.passed == Some(false))
        .count();
    Ok(QueriesReport {
        kind: REPORT_KIND.into(),
        version: 1,
        workload: workload.name.clone(),
        target: p.target(),
        server_version,
        client_cores: std::thread::available_parallelism().map_or(1, usize::from),
        created_at: Utc::now(),
        repeat: o.repeat.max(1),
        statements,
        baseline: baseline.map(|(path, _)| path.to_string()),
        comparisons,
        plan_changes,
        checks_failed,
        passed: checks_failed == 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, p95s: &[f64]) -> StatementResult {
        let runs: Vec<Percentiles> = p95s
            .iter()
            .map(|&v| Percentiles {
                count: 10,
                p95_ms: v,
                ..Default::default()
            })
            .collect();
        StatementResult {
            name: name.into(),
            sql: String::new(),
            iterations: 30,
            errors: 0,
            error_rate: 0.0,
            latency: Percentiles {
                count: 30,
                p95_ms: median(p95s),
                ..Default::default()
            },
            runs,
            plan: None,
            plan_error: None,
            first_error: None,
            checks: Vec::new(),
        }
    }

    #[test]
    fn regression_needs_the_budget_and_the_noise_exceeded() {
        let rel = [Budget::Regression {
            metric: Metric::P95,
            max_increase: 0.2,
        }];
        let base = result("q", &[10.0, 10.5, 11.0]);
        // +50 % and far beyond the spread: regressed.
        let (c, cmp) = evaluate(&rel, &result("q", &[15.0, 15.5, 16.0]), Some(&base), 0.5);
        assert_eq!(c[0].passed, Some(false));
        assert!(cmp[0].regressed);
        // +50 % but the runs are noisy (spread 8 ms > change 5 ms): not a regression.
        let (c, _) = evaluate(&rel, &result("q", &[9.0, 15.5, 17.0]), Some(&base), 0.5);
        assert_eq!(c[0].passed, Some(true));
        // +10 %: within the budget.
        let (c, _) = evaluate(&rel, &result("q", &[11.0, 11.5, 11.6]), Some(&base), 0.1);
        assert_eq!(c[0].passed, Some(true));
        // No baseline: not evaluated.
        let (c, cmp) = evaluate(&rel, &result("q", &[99.0]), None, 0.5);
        assert_eq!(c[0].passed, None);
        assert!(cmp.is_empty());
    }

    #[test]
    fn absolute_budgets() {
        let b = [
            Budget::Latency {
                metric: Metric::P95,
                max_ms: 50.0,
            },
            Budget::ErrorRate { max: 0.01 },
        ];
        let (c, _) = evaluate(&b, &result("q", &[200.0]), None, 0.0);
        assert_eq!(c[0].passed, Some(false));
        assert_eq!(c[1].passed, Some(true));
        let (c, _) = evaluate(&b, &result("q", &[20.0]), None, 0.0);
        assert_eq!(c[0].passed, Some(true));
    }

    #[test]
    fn plan_shapes_and_lost_indexes() {
        let doc = serde_json::json!([{"Plan": {"Node Type": "Limit", "Plans": [
            {"Node Type": "Index Scan", "Index Name": "t_k", "Relation Name": "t"}]}}]);
        let before = plan_shape(&doc);
        assert_eq!(before, vec!["Limit", "  Index Scan using t_k on t"]);
        let after = vec!["Limit".to_string(), "  Seq Scan on t".to_string()];
        assert!(lost_index(&before, &after));
        assert!(!lost_index(&after, &before));
    }
}
