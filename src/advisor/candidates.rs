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
use crate::sql::ddl::{self, IndexDef};
use crate::sql::index_key::{IndexKey, KeyExpr, Nulls};

/// An ORDER BY key on one table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct OrderCol {
    pub column: KeyExpr,
    pub desc: bool,
    pub nulls_first: Option<bool>,
}

/// What one statement needs from one table (a reduced query shape).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Access {
    /// `schema.table`
    pub table: String,
    /// Equality columns or expressions (`status`, `lower("email")`).
    pub eq: Vec<KeyExpr>,
    pub range: Vec<KeyExpr>,
    /// ORDER BY keys, when the whole ORDER BY is on this table.
    pub order: Vec<OrderCol>,
    /// Columns equated to another table's columns.
    pub join: Vec<KeyExpr>,
    /// Columns read from this table; `*` for all.
    pub selected: Vec<String>,
    /// Constant predicates usable as a partial-index WHERE: the column and the predicate as
    /// SQL dbopt rendered (`"deleted_at" IS NULL`).
    pub constants: Vec<(String, String)>,
    /// A LIMIT applies to this table's rows (with its ORDER BY, an index can stop early).
    pub limit: bool,
    /// Other columns of this table the statement names (GROUP BY keys, correlated subqueries,
    /// expressions): single-column candidates, as in the index-selection literature's
    /// "indexable columns".
    pub extra: Vec<KeyExpr>,
}

impl Access {
    /// Every column this access filters, joins or sorts on.
    pub fn columns(&self) -> BTreeSet<&KeyExpr> {
        self.eq
            .iter()
            .chain(&self.range)
            .chain(&self.join)
            .chain(self.order.iter().map(|o| &o.column))
            .collect()
    }

    /// Every column the statement names on this table: those above plus `extra`. An index
    /// led by any of them can change the plan (a correlated subquery's key, a GROUP BY served
    /// in index order, an index-only scan), so these decide which indexes a statement's cost
    /// depends on.
    pub fn named(&self) -> BTreeSet<&KeyExpr> {
        let mut s = self.columns();
        s.extend(&self.extra);
        s
    }
}

/// A candidate index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Candidate {
    pub table: String,
    pub columns: Vec<IndexKey>,
    pub include: Vec<String>,
    pub predicate: Option<String>,
    pub method: String,
    /// The operator class of every key (`gin_trgm_ops`, `jsonb_path_ops`), when not the
    /// type's default for `method`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opclass: Option<String>,
}

impl Candidate {
    pub fn btree(table: &str, columns: Vec<IndexKey>) -> Self {
        Candidate {
            table: table.to_string(),
            columns,
            include: vec![],
            predicate: None,
            method: "btree".into(),
            opclass: None,
        }
    }

    /// The key column (or expression) without direction, at position `i`.
    pub fn key(&self, i: usize) -> Option<&KeyExpr> {
        self.columns.get(i).map(|c| &c.expr)
    }

    pub fn keys(&self) -> Vec<&KeyExpr> {
        self.columns.iter().map(|c| &c.expr).collect()
    }

    pub fn name(&self) -> String {
        ddl::index_name(&self.table, &self.columns, self.predicate.as_deref())
    }

    /// The definition, named `name` (`None` for a HypoPG what-if index).
    pub fn def(&self, name: Option<String>) -> IndexDef {
        IndexDef {
            name,
            table: self.table.clone(),
            method: self.method.clone(),
            keys: self.columns.clone(),
            opclass: self.opclass.clone(),
            include: self.include.clone(),
            predicate: self.predicate.clone(),
            only: false,
        }
    }

    /// `CREATE INDEX ON ...` for HypoPG (no name, not concurrent).
    pub fn hypo_ddl(&self) -> String {
        self.def(None).create_sql()
    }

    /// The DDL a user runs.
    pub fn ddl(&self) -> String {
        self.def(Some(self.name())).create_sql()
    }

    /// Whether the leading key is one of `cols` (the planner can only use an index whose
    /// first column the statement constrains or sorts on).
    pub fn leads_with_any(&self, cols: &BTreeSet<&KeyExpr>) -> bool {
        self.key(0).is_some_and(|k| cols.contains(k))
    }
}

fn order_key(o: &OrderCol, not_null: bool) -> IndexKey {
    let mut k = IndexKey::new(o.column.clone());
    k.desc = o.desc;
    // The default is NULLS LAST for ASC and NULLS FIRST for DESC; only say it when different
    // and when the column can hold NULLs at all.
    if let Some(nf) = o.nulls_first {
        if nf != o.desc && !not_null {
            k.nulls = Some(if nf { Nulls::First } else { Nulls::Last });
        }
    }
    k
}

/// How selective a column is: distinct values (more = more selective).
fn distinct(cat: &Catalog, table: &str, key: &KeyExpr) -> f64 {
    cat.table(table)
        .and_then(|t| {
            t.column(key.column()?)
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
    let not_null = |key: &KeyExpr| {
        key.column()
            .and_then(|col| cat.table(&a.table)?.column(col))
            .is_some_and(|c| c.not_null)
    };
    let mut eq: Vec<KeyExpr> = a.eq.clone();
    eq.sort_by(|x, y| {
        distinct(cat, &a.table, y)
            .total_cmp(&distinct(cat, &a.table, x))
            .then_with(|| x.cmp(y))
    });
    eq.dedup();
    let width = |v: Vec<KeyExpr>| {
        v.into_iter()
            .take(max_width)
            .map(IndexKey::new)
            .collect::<Vec<_>>()
    };

    // Single columns: the building blocks the search widens.
    for c in eq.iter().chain(&a.range).chain(&a.join).chain(&a.extra) {
        push(
            &mut out,
            Candidate::btree(&a.table, vec![IndexKey::new(c.clone())]),
        );
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
    let order_cols: Vec<IndexKey> = a
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
        let mut cols: Vec<IndexKey> = eq.iter().cloned().map(IndexKey::new).collect();
        cols.extend(order_cols.iter().cloned());
        cols.truncate(max_width);
        push(&mut out, Candidate::btree(&a.table, cols));
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
        let keys = top.keys();
        let rest: Vec<String> = a
            .selected
            .iter()
            .filter(|c| c.as_str() != "*" && !keys.iter().any(|k| k.is_column(c)))
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
            let cols: Vec<IndexKey> = b
                .columns
                .iter()
                .filter(|c| !c.expr.column().is_some_and(|n| const_cols.contains(&n)))
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
        let name_matches = match &col.expr {
            KeyExpr::Column(name) => k.column.as_deref() == Some(name.as_str()),
            KeyExpr::Expression(e) => k.column.is_none() && same_expression(&k.expr, e),
        };
        if !name_matches {
            return false;
        }
        same &= k.desc == col.desc;
        reversed &= k.desc != col.desc;
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

/// Whether the catalog's expression (`pg_get_indexdef`'s text, e.g. `lower(email)` or
/// `lower((email)::text)`) is the one dbopt rendered: both are read and rendered by dbopt.
fn same_expression(catalog_text: &str, rendered: &str) -> bool {
    render_catalog_expr(catalog_text).is_some_and(|r| r == rendered)
}

/// A catalog expression as dbopt renders key expressions.
fn render_catalog_expr(catalog_text: &str) -> Option<String> {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(catalog_text)
        .and_then(|mut p| p.parse_expr())
        .ok()
        .and_then(|e| crate::sql::index_key::render_expr(&e))
}

/// An existing valid, unconditional index as a candidate, for costing what the table has
/// today: its keys up to the first expression dbopt cannot render (the prefix still serves).
/// None for a partial index (whether its predicate holds needs a prover) or one with no key
/// dbopt can read.
pub fn from_existing(ix: &Index) -> Option<Candidate> {
    if !ix.valid || ix.predicate.is_some() {
        return None;
    }
    let mut columns = Vec::new();
    for k in &ix.keys {
        let expr = match &k.column {
            Some(c) => KeyExpr::Column(c.clone()),
            None => match render_catalog_expr(&k.expr) {
                Some(e) => KeyExpr::Expression(e),
                None => break,
            },
        };
        let mut key = IndexKey::new(expr);
        key.desc = k.desc;
        columns.push(key);
    }
    if columns.is_empty() {
        return None;
    }
    Some(Candidate {
        table: ix.table.clone(),
        columns,
        include: ix.include.clone(),
        predicate: None,
        method: ix.method.clone(),
        // The catalog does not read operator classes yet: a non-default one is not told apart.
        opclass: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, ColumnStats, IndexKey as CatKey, Table};

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

    fn cols(c: &Candidate) -> Vec<String> {
        c.columns.iter().map(IndexKey::label).collect()
    }

    fn col(n: &str) -> KeyExpr {
        KeyExpr::Column(n.into())
    }

    fn keys(c: &[&str]) -> Vec<IndexKey> {
        c.iter()
            .map(|k| match k.strip_suffix(" DESC") {
                Some(n) => IndexKey {
                    desc: true,
                    ..IndexKey::column(n)
                },
                None => IndexKey::column(*k),
            })
            .collect()
    }

    #[test]
    fn equality_most_selective_first_then_range() {
        let a = Access {
            table: "public.t".into(),
            eq: vec![col("a"), col("b")],
            range: vec![col("c")],
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
            eq: vec![col("a")],
            order: vec![
                OrderCol {
                    column: col("c"),
                    desc: true,
                    nulls_first: None,
                },
                OrderCol {
                    column: col("d"),
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
                CatKey {
                    column: Some("a".into()),
                    expr: "a".into(),
                    ..Default::default()
                },
                CatKey {
                    column: Some("c".into()),
                    expr: "c".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
        assert!(covered_by_existing(
            &Candidate::btree("public.t", keys(&["a"])),
            &c
        ));
        assert!(covered_by_existing(
            &Candidate::btree("public.t", keys(&["a DESC", "c DESC"])),
            &c
        ));
        assert!(!covered_by_existing(
            &Candidate::btree("public.t", keys(&["a", "c DESC"])),
            &c
        ));
        assert!(!covered_by_existing(
            &Candidate::btree("public.t", keys(&["c"])),
            &c
        ));
    }

    #[test]
    fn partial_and_covering_variants() {
        let a = Access {
            table: "public.t".into(),
            eq: vec![col("b"), col("d")],
            constants: vec![("d".into(), "\"d\" IS NULL".into())],
            selected: vec!["b".into(), "c".into()],
            ..Default::default()
        };
        let cands = for_access(&a, &cat(), 3);
        assert!(
            cands
                .iter()
                .any(|c| cols(c) == ["b"] && c.predicate.as_deref() == Some("\"d\" IS NULL")),
            "{cands:?}"
        );
        assert!(cands.iter().any(|c| c.include == ["c"]), "{cands:?}");
    }

    #[test]
    fn hypo_ddl_has_no_name_and_is_not_concurrent() {
        let c = Candidate::btree("public.t", keys(&["a", "c DESC"]));
        assert_eq!(
            c.hypo_ddl(),
            "CREATE INDEX ON \"public\".\"t\" (\"a\", \"c\" DESC)"
        );
        assert_eq!(c.name(), "t_a_c_idx");
    }
}
