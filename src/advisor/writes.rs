//! What a new index costs the table's writers, and which updates it stops from being HOT.
//!
//! Why one model for the search and the report: the search weighs an index's maintenance
//! against its read savings, and the report and migration headers state the write overhead;
//! both must say the same thing, so both read it here.
//!
//! The model counts page writes in planner cost units, `per_row` for each (the search's
//! `write_cost_per_row`), from the rows the workload's INSERT, UPDATE and DELETE statements
//! wrote over its statistics window (pg_stat_statements `rows`, or `calls` when the source
//! has no row counts):
//!
//! - every heap tuple written (an inserted row, an update's new version, a delete's mark)
//!   costs `per_row`;
//! - every index entry written costs `per_row`. An INSERT writes one in each of the table's
//!   `k` indexes, and so does a non-HOT UPDATE. An UPDATE that sets no column any index reads
//!   (keys, INCLUDE columns, expression and predicate columns) is HOT: it writes none. A
//!   DELETE writes none (VACUUM removes the entries later).
//!
//! The table's current write cost is `C = per_row * (ins * (1 + k) + sum over updates of
//! rows * (1 + k if non-HOT else 1) + del)`. A new index `X` adds
//! `A = per_row * (ins + sum over updates of rows * a)`, where `a` is 1 for an update that is
//! non-HOT already, `k + 1` for a HOT update that sets a column `X` reads (it becomes non-HOT
//! and writes an entry in every index, the new one included), and 0 otherwise. The search
//! charges `A` as `X`'s maintenance; the report's `write_overhead` is `A / C`. HOT also needs
//! free space on the page; the model assumes it is there (fillfactor decides that, not the
//! index).

use std::collections::{BTreeMap, BTreeSet};

use super::candidates::Candidate;
use super::select::StmtInput;
use crate::catalog::Catalog;
use crate::sql::index_key::KeyExpr;
use crate::workload::shape::StatementKind;

/// Per table: the columns each existing valid index reads (what decides HOT).
pub type Existing = BTreeMap<String, Vec<BTreeSet<String>>>;

/// The lower-case identifiers of an expression or predicate outside string literals.
fn names_in(sql: &str) -> BTreeSet<String> {
    super::identifiers(sql)
}

/// The columns each valid index of the catalog reads, per table.
pub fn existing(catalog: &Catalog) -> Existing {
    let mut out = Existing::new();
    for ix in catalog.indexes.iter().filter(|i| i.valid) {
        let mut cols = BTreeSet::new();
        for k in &ix.keys {
            match &k.column {
                Some(c) => {
                    cols.insert(c.clone());
                }
                None => cols.extend(names_in(&k.expr)),
            }
        }
        cols.extend(ix.include.iter().cloned());
        if let Some(p) = &ix.predicate {
            cols.extend(names_in(p));
        }
        out.entry(ix.table.clone()).or_default().push(cols);
    }
    out
}

/// The columns a candidate index reads.
fn columns_of(c: &Candidate) -> BTreeSet<String> {
    let mut cols = BTreeSet::new();
    for k in c.keys() {
        match k {
            KeyExpr::Column(n) => {
                cols.insert(n.clone());
            }
            KeyExpr::Expression(e) => cols.extend(names_in(e)),
        }
    }
    cols.extend(c.include.iter().cloned());
    if let Some(p) = &c.predicate {
        cols.extend(names_in(p));
    }
    cols
}

/// Whether an update that sets `set` touches `cols` (names compared as the server folds
/// unquoted ones, and exactly).
fn touches(set: &[String], cols: &BTreeSet<String>) -> bool {
    set.iter()
        .any(|u| cols.contains(u) || cols.contains(&u.to_ascii_lowercase()))
}

#[derive(Debug, Clone)]
struct Update {
    /// Columns it sets; empty when unknown (then it counts as non-HOT).
    set: Vec<String>,
    rows: f64,
    hot: bool,
}

#[derive(Debug, Clone, Default)]
struct TableWrites {
    inserted: f64,
    deleted: f64,
    updates: Vec<Update>,
    /// Existing indexes.
    k: f64,
}

/// The workload's writes, per table, with the table's existing indexes.
#[derive(Debug, Clone, Default)]
pub struct Writes {
    tables: BTreeMap<String, TableWrites>,
    per_row: f64,
}

impl Writes {
    pub fn new(stmts: &[StmtInput], existing: &Existing, per_row: f64) -> Self {
        let mut tables: BTreeMap<String, TableWrites> = BTreeMap::new();
        for s in stmts {
            for (t, rows) in &s.writes {
                let indexes = existing.get(t).map_or(&[][..], Vec::as_slice);
                let tw = tables.entry(t.clone()).or_insert_with(|| TableWrites {
                    // Index counts are small integers.
                    #[allow(clippy::cast_precision_loss)]
                    k: indexes.len() as f64,
                    ..Default::default()
                });
                match s.kind {
                    Some(StatementKind::Update) => tw.updates.push(Update {
                        set: s.updated.clone(),
                        rows: *rows,
                        hot: !s.updated.is_empty()
                            && !indexes.iter().any(|ix| touches(&s.updated, ix)),
                    }),
                    Some(StatementKind::Delete) => tw.deleted += rows,
                    // INSERT, MERGE, and writes of unknown kind: a new row in every index.
                    _ => tw.inserted += rows,
                }
            }
        }
        Writes { tables, per_row }
    }

    /// The table's write cost now (the model's `C`).
    pub fn current(&self, table: &str) -> f64 {
        self.tables.get(table).map_or(0.0, |t| {
            let upd: f64 = t
                .updates
                .iter()
                .map(|u| u.rows * if u.hot { 1.0 } else { 1.0 + t.k })
                .sum();
            self.per_row * (t.inserted * (1.0 + t.k) + upd + t.deleted)
        })
    }

    /// What index `c` adds to its table's write cost (the model's `A`).
    pub fn added(&self, c: &Candidate) -> f64 {
        let Some(t) = self.tables.get(&c.table) else {
            return 0.0;
        };
        let cols = columns_of(c);
        let upd: f64 = t
            .updates
            .iter()
            .map(|u| {
                u.rows
                    * if !u.hot {
                        1.0
                    } else if touches(&u.set, &cols) {
                        t.k + 1.0
                    } else {
                        0.0
                    }
            })
            .sum();
        self.per_row * (t.inserted + upd)
    }

    /// `added / current`: the share by which `c` raises its table's write cost.
    pub fn overhead(&self, c: &Candidate) -> f64 {
        let now = self.current(&c.table);
        if now > 0.0 {
            self.added(c) / now
        } else {
            0.0
        }
    }

    /// One warning per column of `c` that HOT updates set today: they stop being HOT. The
    /// rate is per second of the workload's window when it is known.
    pub fn hot_warnings(&self, c: &Candidate, window_s: Option<f64>) -> Vec<String> {
        let Some(t) = self.tables.get(&c.table) else {
            return vec![];
        };
        let cols = columns_of(c);
        let mut rows: BTreeMap<&str, f64> = BTreeMap::new();
        for u in t.updates.iter().filter(|u| u.hot) {
            for col in u
                .set
                .iter()
                .filter(|s| touches(std::slice::from_ref(s), &cols))
            {
                *rows.entry(col.as_str()).or_default() += u.rows;
            }
        }
        rows.into_iter()
            .map(|(col, n)| {
                let rate = match window_s.filter(|w| *w > 0.0) {
                    Some(w) => format!("{:.1}/s measured", n / w),
                    None => format!("{n:.0} rows in the workload, rate unknown"),
                };
                format!(
                    "updates of {col} ({rate}) will no longer be HOT: each then writes an entry in every index of {}",
                    c.table
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::index_key::IndexKey;

    fn write(kind: StatementKind, rows: f64, set: &[&str]) -> StmtInput {
        StmtInput {
            kind: Some(kind),
            writes: vec![("public.t".into(), rows)],
            updated: set.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn cand(cols: &[&str]) -> Candidate {
        Candidate::btree(
            "public.t",
            cols.iter().map(|c| IndexKey::column(*c)).collect(),
        )
    }

    /// The model's formulas on one table with a primary key on id: 100 inserts, 50 HOT
    /// updates of b, 10 non-HOT updates of id, 40 deletes.
    #[test]
    fn overhead_follows_the_documented_model() {
        let existing: Existing = [("public.t".to_string(), vec![["id".to_string()].into()])].into();
        let stmts = vec![
            write(StatementKind::Insert, 100.0, &[]),
            write(StatementKind::Update, 50.0, &["b"]),
            write(StatementKind::Update, 10.0, &["id"]),
            write(StatementKind::Delete, 40.0, &[]),
        ];
        let w = Writes::new(&stmts, &existing, 2.0);
        // C = 2 * (100 * 2 + 50 * 1 + 10 * 2 + 40) = 620.
        assert!((w.current("public.t") - 620.0).abs() < 1e-9);
        // An index on a: inserts and the non-HOT updates; the HOT ones stay HOT.
        assert!((w.added(&cand(&["a"])) - 2.0 * (100.0 + 10.0)).abs() < 1e-9);
        // An index on b: the 50 HOT updates become non-HOT, an entry in both indexes each.
        assert!((w.added(&cand(&["b"])) - 2.0 * (100.0 + 10.0 + 50.0 * 2.0)).abs() < 1e-9);
        assert!((w.overhead(&cand(&["b"])) - 420.0 / 620.0).abs() < 1e-9);
        assert_eq!(
            w.hot_warnings(&cand(&["a", "b"]), Some(10.0)),
            vec!["updates of b (5.0/s measured) will no longer be HOT: each then writes an entry in every index of public.t"]
        );
        assert!(w.hot_warnings(&cand(&["a"]), Some(10.0)).is_empty());
        assert_eq!(w.overhead(&Candidate::btree("public.other", vec![])), 0.0);
    }
}
