//! The advise report: dbopt's stable, documented JSON contract.
//!
//! Why it lives apart from the search: migrations (`dbopt migrations --from-report`), CI
//! pipelines and reviewers read this document long after the run that made it, so its shape is
//! versioned (`schema_version`) and only ever grows.

use serde::{Deserialize, Serialize};

use crate::findings::Finding;
use crate::sql::index_key::IndexKey;

/// Bump on any incompatible change; readers refuse versions they do not know.
/// Version 2: key columns are SQL (`"status"`, `(lower("email"))`), no longer bare names
/// that could not be told from expressions.
/// Version 3: `workload.statements` counts the DML statements (what `workload.planned` is a
/// share of); the statements the search used are `workload.searched`.
pub const SCHEMA_VERSION: u32 = 3;

/// The oldest version readers still accept: version 3 changed only the `workload` summary, so
/// a version 2 report's recommendations still read the same.
pub const OLDEST_READABLE: u32 = 2;

/// The whole `dbopt advise --format json` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdviseReport {
    pub schema_version: u32,
    /// dbopt's version that wrote it.
    pub dbopt_version: String,
    /// "hypopg" or "dbopt-cost-model": which what-if costing was used.
    pub costing: String,
    pub recommendations: Vec<IndexRecommendation>,
    pub workload: WorkloadCost,
    /// Rule findings (sequential scans, N+1, unused indexes ...), as rendered by `report`.
    #[serde(serialize_with = "keys_in_order")]
    pub findings: Vec<Finding>,
    /// Statements that got no advice, and why.
    pub skipped: Vec<Skipped>,
    /// Uncached what-if calls the search made.
    #[serde(default)]
    pub whatif_calls: u64,
    /// Measured effect of building the set (`--verify`, default with `--demo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// What building the recommended indexes did to the measured workload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Server execution time of the workload (pg_stat_statements total_exec_time), before.
    pub workload_ms_before: f64,
    pub workload_ms_after: f64,
    /// Bytes the built indexes take, and what was estimated.
    pub built_bytes: i64,
    pub estimated_bytes: i64,
    /// Per index: name and built size.
    pub indexes: Vec<(String, i64)>,
}

/// One recommended index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexRecommendation {
    /// Schema-qualified table, e.g. `public.leads` (unquoted; see [`crate::sql::ddl`] for quoting).
    pub table: String,
    /// Key columns as written in the index definition, each a string [`IndexKey::sql`] writes
    /// and [`IndexKey::parse`] reads back: `"status"`, `"created_at" DESC NULLS LAST`,
    /// `(lower("email"))`.
    pub columns: Vec<IndexKey>,
    /// INCLUDE columns (for index-only scans).
    #[serde(default)]
    pub include: Vec<String>,
    /// Partial-index predicate as SQL, identifiers quoted: `"deleted_at" IS NULL`.
    #[serde(rename = "where", default)]
    pub predicate: Option<String>,
    /// `btree`, `gin`, `gist`, `hash`, `brin`.
    pub method: String,
    /// Deterministic name, at most 63 bytes.
    pub name: String,
    /// `CREATE INDEX CONCURRENTLY IF NOT EXISTS ...`
    pub ddl: String,
    /// Estimated size on disk.
    pub size_bytes: i64,
    /// Partitions of a partitioned table (schema-qualified), in order; empty otherwise.
    #[serde(default)]
    pub partitions: Vec<String>,
    /// The statements this index helps.
    pub statements: Vec<StatementBenefit>,
    /// Estimated extra cost on writes, as a share of the table's current write cost (0.1 =
    /// writes cost 10 % more; see `advisor::writes` for the model). 0 when the workload wrote
    /// nothing to the table.
    #[serde(default)]
    pub write_overhead: f64,
    /// What the index does to writers that a reviewer must know: updates it stops from
    /// being HOT, with their measured rate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why, in plain words (shown in reports and migration headers).
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatementBenefit {
    /// pg_stat_statements queryid (as text), or dbopt's fingerprint for other sources.
    pub fingerprint: String,
    pub query: String,
    pub calls: i64,
    pub cost_before: f64,
    pub cost_after: f64,
    /// Estimated execution time saved per day, from pg_stat_statements rates.
    #[serde(default)]
    pub time_saved_ms_per_day: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadCost {
    /// Sum over statements of planner cost x calls, without / with the recommended set.
    pub cost_before: f64,
    pub cost_after: f64,
    /// SELECT/INSERT/UPDATE/DELETE/MERGE statements of the workload (system statements and
    /// those below --min-calls/--min-time left out).
    pub statements: usize,
    /// How many of them the server planned (a generic plan); absent when no server was
    /// asked (a snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<usize>,
    /// Statements the search costed (those on user tables it could read).
    #[serde(default)]
    pub searched: usize,
}

impl WorkloadCost {
    /// "planned 412 of 415 DML statements (99.3 %)", when a server planned them.
    pub fn planned_line(&self) -> Option<String> {
        let planned = self.planned?;
        #[allow(clippy::cast_precision_loss)]
        let share = if self.statements == 0 {
            100.0
        } else {
            100.0 * planned as f64 / self.statements as f64
        };
        Some(format!(
            "planned {planned} of {} DML statements ({share:.1} %)",
            self.statements
        ))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub statement: String,
    pub reason: String,
}

/// An index's keys, INCLUDE columns and predicate for people, on one line:
/// `status, created_at DESC INCLUDE total WHERE "deleted_at" IS NULL`.
pub fn index_label(columns: &[IndexKey], include: &[String], predicate: Option<&str>) -> String {
    let mut s = columns
        .iter()
        .map(IndexKey::label)
        .collect::<Vec<_>>()
        .join(", ");
    if !include.is_empty() {
        s.push_str(&format!(" INCLUDE {}", include.join(", ")));
    }
    if let Some(p) = predicate {
        s.push_str(" WHERE ");
        s.push_str(&p.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    s
}

/// Findings with their keys in alphabetical order, as reports have always written them (they
/// were JSON values, whose keys serde_json keeps sorted), so a typed field changes no report.
fn keys_in_order<S: serde::Serializer>(findings: &[Finding], s: S) -> Result<S::Ok, S::Error> {
    let values = findings
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(serde::ser::Error::custom)?;
    values.serialize(s)
}
