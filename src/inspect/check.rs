//! The `dbopt check` report: every rule of every scope but Plan, run once on one reading of a
//! database (catalog, workload, sessions, server health), as one prioritised list.
//!
//! Why a value of its own, built from plain data: the same report is rendered as a table,
//! Markdown, JUnit or JSON (and later HTML) and is built alike from a live server or a
//! snapshot, so `--from-snapshot` gives the findings a live run gives. The JSON field names
//! here are the stable schema of `dbopt check --format json`.

use serde::Serialize;

use crate::advisor::report::AdviseReport;
use crate::catalog::Catalog;
use crate::findings::{Finding, Severity};
use crate::health::Health;
use crate::rules::{self, Config, Ctx, RuleError, Scope};
use crate::workload::activity::Activity;
use crate::workload::Workload;

/// The scopes `check` runs, in the order areas are listed.
pub const AREAS: [Scope; 4] = [
    Scope::Health,
    Scope::Activity,
    Scope::Catalog,
    Scope::Workload,
];

/// The layout version of the JSON report.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub schema_version: u32,
    pub dbopt_version: String,
    /// `live`, or the snapshot file read.
    pub source: String,
    pub server: ServerFacts,
    /// Findings per area and severity, areas in [`AREAS`] order.
    pub counts: Vec<AreaCount>,
    /// Critical first, then warning, then info; by area and object within a severity.
    pub findings: Vec<CheckFinding>,
    /// The rules that ran, by area (a rule with no finding passed).
    pub rules: Vec<RuleRun>,
    /// The recommended indexes, with `--advise`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<AdviceSummary>,
    /// What could not be read and what that leaves out.
    pub notes: Vec<String>,
}

/// What the report is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerFacts {
    pub database: String,
    /// None when no health reading exists (an older snapshot).
    pub server_version_num: Option<i32>,
    pub database_bytes: Option<i64>,
    pub tables: usize,
    pub indexes: usize,
    /// Statements in the workload read (None: no workload).
    pub statements: Option<usize>,
    /// Sessions connected (None: not read).
    pub sessions: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaCount {
    pub area: Scope,
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckFinding {
    pub area: Scope,
    #[serde(flatten)]
    pub finding: Finding,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleRun {
    pub id: String,
    pub area: Scope,
}

/// The recommended indexes of `advise`, summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdviceSummary {
    pub costing: String,
    pub workload_cost_before: f64,
    pub workload_cost_after: f64,
    pub recommendations: Vec<Recommended>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommended {
    pub table: String,
    pub name: String,
    pub ddl: String,
    pub size_bytes: i64,
    /// How many statements it helps.
    pub statements: usize,
    pub reason: String,
}

impl AdviceSummary {
    pub fn of(r: &AdviseReport) -> Self {
        AdviceSummary {
            costing: r.costing.clone(),
            workload_cost_before: r.workload.cost_before,
            workload_cost_after: r.workload.cost_after,
            recommendations: r
                .recommendations
                .iter()
                .map(|x| Recommended {
                    table: x.table.clone(),
                    name: x.name.clone(),
                    ddl: x.ddl.clone(),
                    size_bytes: x.size_bytes,
                    statements: x.statements.len(),
                    reason: x.reason.clone(),
                })
                .collect(),
        }
    }
}

/// One reading of a database: what the rules look at.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub catalog: Catalog,
    pub database_bytes: Option<i64>,
    pub workload: Option<Workload>,
    pub activity: Option<Activity>,
    pub health: Option<Health>,
    pub notes: Vec<String>,
}

fn area_rank(a: Scope) -> usize {
    AREAS.iter().position(|x| *x == a).unwrap_or(AREAS.len())
}

/// Run every rule of [`AREAS`] on `r` and build the report.
pub fn build(
    r: &Reading,
    source: String,
    config: &Config,
    advice: Option<AdviceSummary>,
) -> Result<CheckReport, RuleError> {
    let ctx = Ctx {
        catalog: Some(&r.catalog),
        workload: r.workload.as_ref(),
        activity: r.activity.as_ref(),
        health: r.health.as_ref(),
        plan: None,
    };
    let mut findings = Vec::new();
    for area in AREAS {
        findings.extend(
            rules::run(area, &ctx, config)?
                .into_iter()
                .map(|finding| CheckFinding { area, finding }),
        );
    }
    findings.sort_by(|a, b| {
        b.finding
            .severity
            .cmp(&a.finding.severity)
            .then_with(|| area_rank(a.area).cmp(&area_rank(b.area)))
            .then_with(|| a.finding.object.cmp(&b.finding.object))
            .then_with(|| a.finding.rule.cmp(&b.finding.rule))
    });
    let count = |area: Scope, s: Severity| {
        findings
            .iter()
            .filter(|f| f.area == area && f.finding.severity == s)
            .count()
    };
    let counts = AREAS
        .iter()
        .map(|&area| AreaCount {
            area,
            critical: count(area, Severity::Critical),
            warning: count(area, Severity::Warning),
            info: count(area, Severity::Info),
        })
        .collect();
    let rules = AREAS
        .iter()
        .flat_map(|&area| {
            rules::RULES
                .iter()
                .filter(move |e| {
                    e.rule.scope == area && config.for_rule(e.rule.id).enabled != Some(false)
                })
                .map(move |e| RuleRun {
                    id: e.rule.id.to_string(),
                    area,
                })
        })
        .collect();
    let mut notes = r.notes.clone();
    if let Some(h) = &r.health {
        notes.extend(h.notes.iter().cloned());
    }
    Ok(CheckReport {
        schema_version: SCHEMA_VERSION,
        dbopt_version: env!("CARGO_PKG_VERSION").into(),
        source,
        server: ServerFacts {
            database: r.catalog.database.clone(),
            server_version_num: r.health.as_ref().map(|h| h.server_version_num),
            database_bytes: r.database_bytes,
            tables: r.catalog.tables.len(),
            indexes: r.catalog.indexes.len(),
            statements: r.workload.as_ref().map(|w| w.statements.len()),
            sessions: r.activity.as_ref().map(|a| a.sessions.len()),
        },
        counts,
        findings,
        rules,
        advice,
        notes,
    })
}

impl CheckReport {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.finding.severity).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::sequences::{SequenceUse, Sequences};

    #[test]
    fn one_list_most_severe_first_with_counts_per_area() {
        let seq = |name: &str, last| SequenceUse {
            schema: "public".into(),
            name: name.into(),
            data_type: "integer".into(),
            min_value: 1,
            max_value: i64::from(i32::MAX),
            increment: 1,
            last_value: Some(last),
            ..Default::default()
        };
        let r = Reading {
            health: Some(Health {
                sequences: Sequences {
                    items: vec![seq("a", 1_700_000_000), seq("b", 2_100_000_000)],
                    ..Default::default()
                },
                notes: vec!["horizon: not read".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let rep = build(&r, "live".into(), &Config::default(), None).unwrap();
        let got: Vec<_> = rep
            .findings
            .iter()
            .map(|f| (f.finding.object.as_str(), f.finding.severity))
            .collect();
        assert_eq!(
            got,
            vec![
                ("public.b", Severity::Critical),
                ("public.a", Severity::Warning)
            ]
        );
        assert_eq!(rep.counts[0].area, Scope::Health);
        assert_eq!((rep.counts[0].critical, rep.counts[0].warning), (1, 1));
        assert_eq!(rep.notes, vec!["horizon: not read".to_string()]);
        assert!(rep.rules.iter().any(|x| x.id == "sequence-near-overflow"));
        assert!(!rep.rules.iter().any(|x| x.area == Scope::Plan));
    }
}
