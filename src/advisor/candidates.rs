//! Candidate indexes from what statements need of each table.
//!
//! The rules are the classic ones for B-trees: equality columns first (most selective first,
//! so one index can serve several statements' prefixes), then one range column, or the
//! ORDER BY columns with their direction when no range column takes that place; join keys;
//! INCLUDE columns when an index-only scan becomes possible; a partial index when the
//! statement filters on a constant. Candidates an existing valid index already covers are
//! dropped: the best advice is the index you do not need to build.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::catalog::{Catalog, Index};
use crate::emit::ddl;

/// An ORDER BY key on one table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct OrderCol {
    pub column: String,
    pub desc: bool,
    pub nulls_first: Option<bool>,
}

/// What one statement needs from one table (a reduced query shape).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Access {
    /// `schema.table`
    pub table: String,
    /// Equality columns or expressions (`status`, `lower(email)`).
    pub eq: Vec<String>,
    pub range: Vec<String>,
    /// ORDER BY keys, when the whole ORDER BY is on this table.
    pub order: Vec<OrderCol>,
    /// Columns equated to another table's columns.
    pub join: Vec<String>,
    /// Columns read from this table; `*` for all.
    pub selected: Vec<String>,
    /// Constant predicates usable as a partial-index WHERE (`deleted_at IS NULL`).
    pub constants: Vec<(String, String)>,
    /// A LIMIT applies to this table's rows (with its ORDER BY, an index can stop early).
    pub limit: bool,
    /// Other columns of this table the statement names (GROUP BY keys, correlated subqueries,
    /// expressions): single-column candidates, as in the index-selection literature's
    /// "indexable columns".
    pub extra: Vec<String>,
}

impl Access {
    /// Every column this access filters, joins or sorts on.
    pub fn columns(&self) -> BTreeSet<&str> {
        self.eq
            .iter()
            .chain(&self.range)
            .chain(&self.join)
            .map(String::as_str)
            .chain(self.order.iter().map(|o| o.column.as_str()))
            .collect()
    }

    /// Every column the statement names on this table: those above plus `extra`. An index
    /// led by any of them can change the plan (a correlated subquery's key, a GROUP BY served
    /// in index order, an index-only scan), so these decide which indexes a statement's cost
    /// depends on.
    pub fn named(&self) -> BTreeSet<&str> {
        let mut s = self.columns();
        s.extend(self.extra.iter().map(String::as_str));
        s
    }
}

/// A candidate index. Columns are written as in an index definition (`created_at DESC`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Candidate {
    pub table: String,
    pub columns: Vec<String>,
    pub include: Vec<String>,
    pub predicate: Option<String>,
    pub method: String,
}

impl Candidate {
    pub fn btree(table: &str, columns: Vec<String>) -> Self {
        Candidate {
            table: table.to_string(),
            columns,
            include: vec![],
            predicate: None,
            method: "btree".into(),
        }
    }

    /// The key column (or expression) without direction, at position `i`.
    pub fn key(&self, i: usize) -> Option<&str> {
        self.columns.get(i).map(|c| ddl::strip_direction(c))
    }

    pub fn keys(&self) -> Vec<&str> {
        self.columns
            .iter()
            .map(|c| ddl::strip_direction(c))
            .collect()
    }

    pub fn name(&self) -> String {
        ddl::index_name(&self.table, &self.columns, self.predicate.as_deref())
    }

    /// `CREATE INDEX ON ...` for HypoPG (no name, not concurrent).
    pub fn hypo_ddl(&self) -> String {
        let full = ddl::create_index(
            "x",
            &self.table,
            &self.method,
            &self.columns,
            &self.include,
            self.predicate.as_deref(),
            false,
        );
        full.replacen(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"x\" ON",
            "CREATE INDEX ON",
            1,
        )
    }

    /// The DDL a user runs.
    pub fn ddl(&self) -> String {
        ddl::create_index(
            &self.name(),
            &self.table,
            &self.method,
            &self.columns,
            &self.include,
            self.predicate.as_deref(),
            false,
        )
    }

    /// Whether the leading key is one of `cols` (the planner can only use an index whose
    /// first column the statement constrains or sorts on).
    pub fn leads_with_any(&self, cols: &BTreeSet<&str>) -> bool {
        self.key(0).is_some_and(|k| cols.contains(k))
    }
}

fn order_key(o: &OrderCol, not_null: bool) -> String {
    let mut s = o.column.clone();
    if o.desc {
        s.push_str(" DESC");
    }
    // The default is NULLS LAST for ASC and NULLS FIRST for DESC; only say it when different
    // and when the column can hold NULLs at all.
    if let Some(nf) = o.nulls_first {
        if nf != o.desc && !not_null {
            s.push_str(if nf { " NULLS FIRST" } else { " NULLS LAST" });
        }
    }
    s
}

/// How selective a column is: distinct values (more = more selective).
fn distinct(cat: &Catalog, table: &str, col: &str) -> f64 {
    cat.table(table)
        .and_then(|t| {
            t.column(col)
                .and_then(|c| c.stats.as_ref())
                .map(|s| s.distinct(t.reltuples.max(1.0)))
        })
        .unwrap_or(1.0)
}

/// Candidates for one access, at most `max_width` key columns each.
pub fn for_access(a: &Access, cat: &Catalog, max_width: usize) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    fn push(out: &mut Vec<Candidate>, c: Candidate) {
        if !c.columns.is_empty() && !out.contains(&c) {
            out.push(c);
        }
    }
    let not_null = |col: &str| {
        cat.table(&a.table)
            .and_then(|t| t.column(col))
            .is_some_and(|c| c.not_null)
    };
    let mut eq: Vec<String> = a.eq.clone();
    eq.sort_by(|x, y| {
        distinct(cat, &a.table, y)
            .total_cmp(&distinct(cat, &a.table, x))
            .then_with(|| x.cmp(y))
    });
    eq.dedup();
    let width = |v: Vec<String>| v.into_iter().take(max_width).collect::<Vec<_>>();

    // Single columns: the building blocks the search widens.
    for c in eq.iter().chain(&a.range).chain(&a.join).chain(&a.extra) {
        push(&mut out, Candidate::btree(&a.table, vec![c.clone()]));
    }
    // Equality prefix, then a range column or the ORDER BY.
    if !eq.is_empty() {
        push(&mut out, Candidate::btree(&a.table, width(eq.clone())));
    }
    for r in &a.range {
        if !eq.contains(r) {
            let mut cols = eq.clone();
            cols.push(r.clone());
            push(&mut out, Candidate::btree(&a.table, width(cols)));
        }
    }
    let order_cols: Vec<String> = a
        .order
        .iter()
        .filter(|o| !eq.contains(&o.column))
        .map(|o| order_key(o, not_null(&o.column)))
        .collect();
    if !order_cols.is_empty()
        && a.range
            .iter()
            .all(|r| a.order.first().is_some_and(|o| &o.column == r))
    {
        let mut cols = eq.clone();
        cols.extend(order_cols.iter().cloned());
        push(&mut out, Candidate::btree(&a.table, width(cols)));
    }
    // Join keys, alone and after the equality columns.
    for j in &a.join {
        if !eq.contains(j) && !eq.is_empty() {
            let mut cols = eq.clone();
            cols.push(j.clone());
            push(&mut out, Candidate::btree(&a.table, width(cols)));
        }
    }
    // Covering variant of the widest candidate, when few other columns are read.
    if let Some(top) = out.iter().max_by_key(|c| c.columns.len()).cloned() {
        let keys: Vec<&str> = top.keys();
        let rest: Vec<String> = a
            .selected
            .iter()
            .filter(|c| c.as_str() != "*" && !keys.contains(&c.as_str()))
            .cloned()
            .collect();
        if !a.selected.iter().any(|c| c == "*") && !rest.is_empty() && rest.len() <= 3 {
            let mut cov = top.clone();
            cov.include = rest;
            push(&mut out, cov);
        }
    }
    // Partial variant: constant predicates become the WHERE, their columns leave the key.
    if !a.constants.is_empty() {
        let const_cols: Vec<&str> = a.constants.iter().map(|(c, _)| c.as_str()).collect();
        let pred = a
            .constants
            .iter()
            .map(|(_, p)| p.as_str())
            .collect::<Vec<_>>()
            .join(" AND ");
        let base: Vec<Candidate> = out
            .iter()
            .filter(|c| c.include.is_empty())
            .cloned()
            .collect();
        for b in base {
            let cols: Vec<String> = b
                .columns
                .iter()
                .filter(|c| !const_cols.contains(&ddl::strip_direction(c)))
                .cloned()
                .collect();
            if !cols.is_empty() && cols.len() < b.columns.len() {
                let mut p = Candidate::btree(&a.table, cols);
                p.predicate = Some(pred.clone());
                push(&mut out, p);
            }
        }
    }
    out.retain(|c| !covered_by_existing(c, cat));
    out
}

/// Whether an existing valid index already serves this candidate: same method and
/// predicate, and the candidate's keys (with compatible directions) are a prefix of it.
pub fn covered_by_existing(c: &Candidate, cat: &Catalog) -> bool {
    cat.indexes_on(&c.table).any(|ix| covers(ix, c))
}

fn covers(ix: &Index, c: &Candidate) -> bool {
    if !ix.valid || ix.method != c.method || ix.keys.len() < c.columns.len() {
        return false;
    }
    if c.predicate.is_some() || ix.predicate.is_some() {
        // Only an unconditional index is known to cover; comparing predicates needs a prover.
        if ix.predicate.is_some() {
            return false;
        }
    }
    // Directions must all match, or all be reversed (a backward scan).
    let mut same = true;
    let mut reversed = true;
    for (k, col) in ix.keys.iter().zip(&c.columns) {
        let bare = ddl::strip_direction(col);
        let name_matches = k.column.as_deref() == Some(bare) || k.expr == bare;
        if !name_matches {
            return false;
        }
        let desc = col.to_ascii_uppercase().contains(" DESC");
        same &= k.desc == desc;
        reversed &= k.desc != desc;
    }
    let include_ok = c.include.iter().all(|i| {
        ix.include.contains(i)
            || ix
                .keys
                .iter()
                .any(|k| k.column.as_deref() == Some(i.as_str()))
    });
    (same || reversed) && include_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, ColumnStats, IndexKey, Table};

    fn cat() -> Catalog {
        let col = |n: &str, d: f64| Column {
            name: n.into(),
            type_name: "text".into(),
            not_null: true,
            stats: Some(ColumnStats {
                n_distinct: d,
                avg_width: 8,
                ..Default::default()
            }),
        };
        let mut c = Catalog::default();
        c.tables.push(Table {
            schema: "public".into(),
            name: "t".into(),
            reltuples: 1e6,
            columns: vec![
                col("a", 5.0),
                col("b", 5000.0),
                col("c", -1.0),
                col("d", 10.0),
            ],
            ..Default::default()
        });
        c
    }

    fn cols(c: &Candidate) -> Vec<&str> {
        c.columns.iter().map(String::as_str).collect()
    }

    #[test]
    fn equality_most_selective_first_then_range() {
        let a = Access {
            table: "public.t".into(),
            eq: vec!["a".into(), "b".into()],
            range: vec!["c".into()],
            ..Default::default()
        };
        let cands = for_access(&a, &cat(), 3);
        assert!(cands.iter().any(|c| cols(c) == ["b", "a"]));
        assert!(cands.iter().any(|c| cols(c) == ["b", "a", "c"]));
    }

    #[test]
    fn order_by_with_direction_after_equality() {
        let a = Access {
            table: "public.t".into(),
            eq: vec!["a".into()],
            order: vec![
                OrderCol {
                    column: "c".into(),
                    desc: true,
                    nulls_first: None,
                },
                OrderCol {
                    column: "d".into(),
                    desc: false,
                    nulls_first: None,
                },
            ],
            limit: true,
            ..Default::default()
        };
        let cands = for_access(&a, &cat(), 3);
        assert!(
            cands.iter().any(|c| cols(c) == ["a", "c DESC", "d"]),
            "{cands:?}"
        );
    }

    #[test]
    fn existing_prefix_index_covers_and_backward_scan_counts() {
        let mut c = cat();
        c.indexes.push(Index {
            table: "public.t".into(),
            method: "btree".into(),
            valid: true,
            keys: vec![
                IndexKey {
                    column: Some("a".into()),
                    expr: "a".into(),
                    ..Default::default()
                },
                IndexKey {
                    column: Some("c".into()),
                    expr: "c".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
        assert!(covered_by_existing(
            &Candidate::btree("public.t", vec!["a".into()]),
            &c
        ));
        assert!(covered_by_existing(
            &Candidate::btree("public.t", vec!["a DESC".into(), "c DESC".into()]),
            &c
        ));
        assert!(!covered_by_existing(
            &Candidate::btree("public.t", vec!["a".into(), "c DESC".into()]),
            &c
        ));
        assert!(!covered_by_existing(
            &Candidate::btree("public.t", vec!["c".into()]),
            &c
        ));
    }

    #[test]
    fn partial_and_covering_variants() {
        let a = Access {
            table: "public.t".into(),
            eq: vec!["b".into(), "d".into()],
            constants: vec![("d".into(), "d IS NULL".into())],
            selected: vec!["b".into(), "c".into()],
            ..Default::default()
        };
        let cands = for_access(&a, &cat(), 3);
        assert!(
            cands
                .iter()
                .any(|c| cols(c) == ["b"] && c.predicate.as_deref() == Some("d IS NULL")),
            "{cands:?}"
        );
        assert!(cands.iter().any(|c| c.include == ["c"]), "{cands:?}");
    }

    #[test]
    fn hypo_ddl_has_no_name_and_is_not_concurrent() {
        let c = Candidate::btree("public.t", vec!["a".into(), "c DESC".into()]);
        assert_eq!(
            c.hypo_ddl(),
            "CREATE INDEX ON \"public\".\"t\" (\"a\", \"c\" DESC)"
        );
        assert_eq!(c.name(), "t_a_c_idx");
    }
}
