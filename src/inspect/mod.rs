//! The inspection reports (`queries`, `tables`, `indexes`, `size`, `connections`) built from
//! plain data: a catalog, a workload, an activity reading, and the rules' findings.
//!
//! Why separate from rendering and from the server: the same report is printed as a table or
//! JSON, built from a live server or a snapshot, and tested without either. The JSON field
//! names here are the stable schema of `--format json`.

pub mod check;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::bloat::{self, Bloat};
use crate::catalog::{Catalog, TableKind};
use crate::findings::Finding;
use crate::workload::activity::{Activity, Session};
use crate::workload::{Source, Workload};

/// `--sort` of `dbopt queries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuerySort {
    /// Total execution time.
    #[default]
    Total,
    /// Mean time per call.
    Mean,
    /// Number of calls.
    Calls,
    /// Blocks read from disk (not found in shared buffers) plus temp blocks.
    Io,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryRow {
    pub fingerprint: String,
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub stddev_ms: f64,
    pub max_ms: f64,
    /// Share of the workload's total time, 0..1.
    pub share: f64,
    pub rows_per_call: f64,
    /// shared_blks_hit / (hit + read); None when the statement touched no blocks or the
    /// source does not count them.
    pub cache_hit_ratio: Option<f64>,
    pub io_blocks: i64,
    pub source: Source,
    /// Ids of the rules that flagged it.
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueriesReport {
    pub sort: QuerySort,
    pub total_ms: f64,
    pub statements_total: usize,
    pub hidden: i64,
    pub notes: Vec<String>,
    pub statements: Vec<QueryRow>,
    pub findings: Vec<Finding>,
}

#[allow(clippy::cast_precision_loss)]
pub fn queries(
    w: &Workload,
    findings: Vec<Finding>,
    sort: QuerySort,
    limit: usize,
) -> QueriesReport {
    let total = w.total_ms();
    let mut rows: Vec<QueryRow> = w
        .statements
        .iter()
        .map(|s| {
            let touched = s.shared_blks_hit + s.shared_blks_read;
            QueryRow {
                fingerprint: s.fingerprint.clone(),
                query: s.query.clone(),
                calls: s.calls,
                total_ms: s.total_ms,
                mean_ms: s.mean_ms,
                stddev_ms: s.stddev_ms,
                max_ms: s.max_ms,
                share: if total > 0.0 { s.total_ms / total } else { 0.0 },
                rows_per_call: if s.calls > 0 {
                    s.rows as f64 / s.calls as f64
                } else {
                    0.0
                },
                cache_hit_ratio: (touched > 0).then(|| s.shared_blks_hit as f64 / touched as f64),
                io_blocks: s.shared_blks_read + s.temp_blks_read + s.temp_blks_written,
                source: s.source,
                flags: findings
                    .iter()
                    .filter(|f| f.object == s.fingerprint)
                    .map(|f| f.rule.clone())
                    .collect(),
            }
        })
        .collect();
    rows.sort_by(|a, b| match sort {
        QuerySort::Total => b.total_ms.total_cmp(&a.total_ms),
        QuerySort::Mean => b.mean_ms.total_cmp(&a.mean_ms),
        QuerySort::Calls => b.calls.cmp(&a.calls),
        QuerySort::Io => b.io_blocks.cmp(&a.io_blocks),
    });
    let statements_total = rows.len();
    rows.truncate(limit);
    QueriesReport {
        sort,
        total_ms: total,
        statements_total,
        hidden: w.hidden,
        notes: w.notes.clone(),
        statements: rows,
        findings,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteMix {
    pub inserts: i64,
    pub updates: i64,
    pub hot_updates: i64,
    pub deletes: i64,
    /// HOT share of updates, 0..1 (None without updates).
    pub hot_ratio: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableRow {
    pub table: String,
    pub kind: TableKind,
    pub heap_bytes: i64,
    pub index_bytes: i64,
    pub toast_bytes: i64,
    pub live_tuples: i64,
    pub dead_tuples: i64,
    pub seq_scans: i64,
    pub seq_rows_read: i64,
    pub index_scans: i64,
    pub last_vacuum: Option<String>,
    pub last_autovacuum: Option<String>,
    pub last_analyze: Option<String>,
    pub last_autoanalyze: Option<String>,
    pub bloat: Bloat,
    pub writes: WriteMix,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TablesReport {
    pub tables: Vec<TableRow>,
    pub findings: Vec<Finding>,
}

/// Tables (not views), largest first; only `only` when given (already resolved).
#[allow(clippy::cast_precision_loss)]
pub fn tables(cat: &Catalog, findings: Vec<Finding>, only: Option<&str>) -> TablesReport {
    let mut rows: Vec<TableRow> = cat
        .tables
        .iter()
        .filter(|t| matches!(t.kind, TableKind::Table | TableKind::MaterializedView))
        .filter(|t| only.is_none_or(|o| t.qualified() == o))
        .map(|t| {
            let s = &t.stats;
            TableRow {
                table: t.qualified(),
                kind: t.kind,
                heap_bytes: t.heap_bytes,
                index_bytes: t.index_bytes,
                toast_bytes: t.toast_bytes,
                live_tuples: s.n_live_tup,
                dead_tuples: s.n_dead_tup,
                seq_scans: s.seq_scan,
                seq_rows_read: s.seq_tup_read,
                index_scans: s.idx_scan,
                last_vacuum: s.last_vacuum.clone(),
                last_autovacuum: s.last_autovacuum.clone(),
                last_analyze: s.last_analyze.clone(),
                last_autoanalyze: s.last_autoanalyze.clone(),
                bloat: bloat::estimate(t, cat.settings.block_size),
                writes: WriteMix {
                    inserts: s.n_tup_ins,
                    updates: s.n_tup_upd,
                    hot_updates: s.n_tup_hot_upd,
                    deletes: s.n_tup_del,
                    hot_ratio: (s.n_tup_upd > 0)
                        .then(|| s.n_tup_hot_upd as f64 / s.n_tup_upd as f64),
                },
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.heap_bytes + b.index_bytes + b.toast_bytes)
            .cmp(&(a.heap_bytes + a.index_bytes + a.toast_bytes))
            .then_with(|| a.table.cmp(&b.table))
    });
    let findings = findings
        .into_iter()
        .filter(|f| only.is_none_or(|o| f.object == o))
        .collect();
    TablesReport {
        tables: rows,
        findings,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexesReport {
    /// Seconds since statistics were reset (scan counts start there).
    pub stats_reset_age_s: Option<f64>,
    pub indexes: usize,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemaSize {
    pub schema: String,
    pub bytes: i64,
    pub tables: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelationSize {
    pub relation: String,
    pub total_bytes: i64,
    pub heap_bytes: i64,
    pub index_bytes: i64,
    pub toast_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeReport {
    pub database: String,
    pub database_bytes: Option<i64>,
    pub schemas: Vec<SchemaSize>,
    pub top: Vec<RelationSize>,
}

pub fn size(cat: &Catalog, database_bytes: Option<i64>, top: usize) -> SizeReport {
    let mut schemas: BTreeMap<&str, SchemaSize> = BTreeMap::new();
    let mut rels = Vec::new();
    for t in &cat.tables {
        let total = t.heap_bytes + t.index_bytes + t.toast_bytes;
        let e = schemas.entry(&t.schema).or_insert_with(|| SchemaSize {
            schema: t.schema.clone(),
            bytes: 0,
            tables: 0,
        });
        e.bytes += total;
        e.tables += 1;
        rels.push(RelationSize {
            relation: t.qualified(),
            total_bytes: total,
            heap_bytes: t.heap_bytes,
            index_bytes: t.index_bytes,
            toast_bytes: t.toast_bytes,
        });
    }
    let mut schemas: Vec<SchemaSize> = schemas.into_values().collect();
    schemas.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.schema.cmp(&b.schema)));
    rels.sort_by(|a, b| {
        b.total_bytes
            .cmp(&a.total_bytes)
            .then_with(|| a.relation.cmp(&b.relation))
    });
    rels.truncate(top);
    SizeReport {
        database: cat.database.clone(),
        database_bytes,
        schemas,
        top: rels,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Count {
    pub key: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionsReport {
    pub max_connections: i32,
    pub reserved_connections: i32,
    pub total: i64,
    pub utilization: f64,
    pub by_state: Vec<Count>,
    pub by_user: Vec<Count>,
    pub by_application: Vec<Count>,
    pub idle_in_transaction: Vec<Session>,
    pub longest_running: Vec<Session>,
    pub waiting_on_locks: Vec<Session>,
    /// Each root blocker with the tree of sessions waiting beneath it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocking_chains: Vec<crate::workload::activity::Chain>,
    pub hidden: i64,
    pub findings: Vec<Finding>,
}

fn count_by(sessions: &[Session], key: impl Fn(&Session) -> String) -> Vec<Count> {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for s in sessions {
        *m.entry(key(s)).or_default() += 1;
    }
    let mut v: Vec<Count> = m
        .into_iter()
        .map(|(key, count)| Count { key, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    v
}

pub fn connections(a: &Activity, findings: Vec<Finding>, top: usize) -> ConnectionsReport {
    let s = &a.sessions;
    let state = |x: &Session| x.state.clone().unwrap_or_else(|| "unknown".into());
    let by_age = |v: &mut Vec<Session>, f: fn(&Session) -> Option<f64>| {
        v.sort_by(|x, y| f(y).unwrap_or(0.0).total_cmp(&f(x).unwrap_or(0.0)));
        v.truncate(top);
    };
    let mut idle: Vec<Session> = s
        .iter()
        .filter(|x| state(x).starts_with("idle in transaction"))
        .cloned()
        .collect();
    by_age(&mut idle, |x| x.state_age_s);
    let mut running: Vec<Session> = s.iter().filter(|x| state(x) == "active").cloned().collect();
    by_age(&mut running, |x| x.query_age_s);
    let mut waiting: Vec<Session> = s
        .iter()
        .filter(|x| !x.blocked_by.is_empty())
        .cloned()
        .collect();
    by_age(&mut waiting, |x| x.state_age_s);
    ConnectionsReport {
        max_connections: a.max_connections,
        reserved_connections: a.reserved_connections,
        total: a.total,
        utilization: a.utilization(),
        by_state: count_by(s, state),
        by_user: count_by(s, |x| x.user.clone().unwrap_or_else(|| "?".into())),
        by_application: count_by(s, |x| {
            if x.application.is_empty() {
                "(none)".into()
            } else {
                x.application.clone()
            }
        }),
        idle_in_transaction: idle,
        longest_running: running,
        waiting_on_locks: waiting,
        blocking_chains: a.blocking_chains(),
        hidden: a.hidden,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Statement;

    #[test]
    fn queries_share_rows_per_call_hit_ratio_and_sort() {
        let st = |fp: &str, calls, total, read| Statement {
            fingerprint: fp.into(),
            calls,
            total_ms: total,
            mean_ms: total / calls as f64,
            rows: calls * 2,
            shared_blks_hit: 90,
            shared_blks_read: read,
            ..Default::default()
        };
        let w = Workload {
            statements: vec![st("a", 10, 300.0, 10), st("b", 100, 100.0, 0)],
            ..Default::default()
        };
        let r = queries(&w, vec![], QuerySort::Total, 10);
        assert_eq!(r.statements[0].fingerprint, "a");
        assert!((r.statements[0].share - 0.75).abs() < 1e-9);
        assert_eq!(r.statements[0].rows_per_call, 2.0);
        assert_eq!(r.statements[0].cache_hit_ratio, Some(0.9));
        let r = queries(&w, vec![], QuerySort::Calls, 1);
        assert_eq!(r.statements.len(), 1);
        assert_eq!(r.statements_total, 2);
        assert_eq!(r.statements[0].fingerprint, "b");
    }
}
