//! Query shapes: what a statement asks of each table it reads, in the terms an index advisor
//! needs (equality columns, range columns, sort keys, joined columns, columns read, LIMIT).
//!
//! Why a shape and not the SQL: index advice works on *access patterns*. `WHERE o.status = $1
//! AND o.created_at > $2 ORDER BY o.created_at DESC LIMIT 50` is "equality on status, range and
//! descending sort on created_at, first 50 rows", whatever the aliases, quoting or parameter
//! numbers. Every sqlparser type stays inside this module (but the statements [`parse`] gives
//! the one caller that reads a CREATE INDEX's tree): sqlparser's AST changes between minor
//! versions (it is pinned in Cargo.toml), and nothing else in dbopt has to follow it.
//!
//! How: the statement is walked with a stack of FROM scopes, so aliases, correlated subqueries,
//! CTEs and derived tables resolve to the table they name; WHERE and ON are split on AND and
//! each conjunct is classified once. Unqualified columns in a multi-table scope are parked and
//! attributed by [`resolve`], which has the catalog.
//!
//! Predicates on an expression (`lower(email) = $1`, `created_at::date = $1`) keep the
//! equality/range kind of their operator and carry the expression in [`Predicate::expr`]: only
//! an expression index on exactly that expression serves them.
//!
//! Layout: `parse.rs` (the one bounded parse entry and the tokenizer-only helpers), `walk` and
//! `conjunct` (the AST walk with its scopes, and where each WHERE/ON conjunct goes),
//! `classify` (a conjunct as an index predicate) and `resolve` (the catalog's part).

mod classify;
mod conjunct;
mod parse;
mod resolve;
mod walk;

use serde::{Deserialize, Serialize};

pub use parse::{
    check_depth, is_utility_text, nesting, parse, placeholders, ShapeError, MAX_DEPTH,
    MAX_PARAMETER,
};
pub use resolve::resolve;
use walk::shape_of;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    /// DDL, SET, VACUUM, COPY, ...: nothing to index, not explainable.
    Utility,
}

/// The access shape of one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub kind: StatementKind,
    /// One entry per table reference (a table read twice under two aliases appears twice).
    pub accesses: Vec<TableAccess>,
    /// The top-level LIMIT (or FETCH FIRST) as written (`50`, `$3`).
    pub limit: Option<String>,
    pub offset: Option<String>,
    /// GROUP BY columns of the top-level query; `table` as in `accesses[..].table`.
    pub group_by: Vec<ColumnRef>,
    /// Row locks are taken (`FOR UPDATE`, `FOR SHARE`, ...): the statement needs a writable
    /// transaction even though it is a SELECT.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub locking: bool,
    /// Tables [`resolve`] could not find in the catalog, as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_tables: Vec<String>,
    /// Unqualified columns of multi-table scopes, waiting for [`resolve`] to attribute them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unattributed: Vec<Unattributed>,
    /// The columns the statement's UPDATE sets (`SET a = ..., (b, c) = ...`), as written;
    /// empty for other statements. Not serialized: reports show accesses, not assignments.
    #[serde(skip)]
    pub set_columns: Vec<String>,
}

/// One reference to a table and everything the statement asks of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableAccess {
    /// As written until [`resolve`]; then `schema.table`.
    pub table: String,
    pub alias: Option<String>,
    /// Conjuncts of WHERE/ON that touch only this table (AND-split).
    pub predicates: Vec<Predicate>,
    /// This table's columns equated to another table's columns.
    pub join_keys: Vec<String>,
    /// Only when the whole ORDER BY is on this table (else empty).
    pub order_by: Vec<OrderKey>,
    /// Columns read from this table (for INCLUDE / index-only scans); `*` for a star.
    pub selected: Vec<String>,
    /// LIMIT applies directly to the rows of this single table.
    pub limit_applies: bool,
    /// The table an INSERT/UPDATE/DELETE/MERGE writes.
    #[serde(default)]
    pub target: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predicate {
    /// The column compared (for an expression, the column inside it when there is one).
    pub column: Option<String>,
    /// The expression compared when it is not a bare column (`lower(email)`); for a
    /// not-indexable conjunct, the conjunct itself.
    pub expr: Option<String>,
    pub kind: PredKind,
    /// `=`, `<`, `IN`, `= ANY`, `IS NULL`, `BETWEEN`, `LIKE`, `<>`, `OR`, ...
    pub op: String,
    pub value: PredValue,
    /// The compared column or expression as an index key, rendered by dbopt (`None` when it
    /// cannot be rendered safely, or for a not-indexable conjunct).
    #[serde(skip)]
    pub key: Option<crate::sql::index_key::KeyExpr>,
    /// A constant compared with `=`, as SQL dbopt rendered (`'it''s'`, `42`, `true`): what a
    /// partial-index predicate may hold.
    #[serde(skip)]
    pub value_sql: Option<String>,
}

/// Eq: `=`, `IN (...)`, `= ANY($1)`, `IS NULL`. Range: `<`, `<=`, `>`, `>=`, `BETWEEN`, prefix
/// `LIKE 'x%'`. NotIndexable: `<>`, `OR`, leading-wildcard `LIKE`, `NOT IN`, anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredKind {
    Eq,
    Range,
    NotIndexable,
}

/// What the column is compared with. `Constant` is what a partial index can be built on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredValue {
    Param,
    Constant(String),
    /// Another column of the same table.
    Column,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderKey {
    pub column: String,
    pub desc: bool,
    /// `Some(true)` NULLS FIRST, `Some(false)` NULLS LAST, `None` the default.
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnRef {
    pub table: Option<String>,
    pub column: String,
}

/// An unqualified column seen where several tables were in scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unattributed {
    /// Indexes into `Shape::accesses` of the tables it may belong to.
    pub candidates: Vec<usize>,
    pub column: String,
    pub role: UnattributedRole,
    /// The tables of the enclosing queries' scopes, innermost first: where SQL looks for the
    /// column when no candidate has it (a correlated subquery's outer reference).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outer: Vec<Vec<usize>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnattributedRole {
    Predicate(Predicate),
    Selected,
    /// One side of `col = col` across tables (`c_custkey = o_custkey` in a comma join).
    JoinKey,
}

/// One [`Shape`] per statement of `sql`.
pub fn extract(sql: &str) -> Result<Vec<Shape>, ShapeError> {
    Ok(parse(sql)?.iter().map(shape_of).collect())
}

/// Shapes of many statements, with those the parser could not read counted, never dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Extraction {
    /// (index of the statement, its shape); a statement text holding several statements gives
    /// several entries with the same index.
    pub shapes: Vec<(usize, Shape)>,
    /// (index of the statement, why it could not be read): analyse these from their plan.
    pub unparsed: Vec<(usize, ShapeError)>,
    pub total: usize,
}

impl Extraction {
    /// Parsed statements over all statements (1.0 for none).
    pub fn coverage(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            (self.total - self.unparsed.len()) as f64 / self.total as f64
        }
    }
}

/// [`extract`] over each statement text (e.g. a workload's queries).
pub fn extract_each<'a>(statements: impl IntoIterator<Item = &'a str>) -> Extraction {
    let mut out = Extraction::default();
    for (i, sql) in statements.into_iter().enumerate() {
        out.total += 1;
        match extract(sql) {
            Ok(shapes) => out.shapes.extend(shapes.into_iter().map(|s| (i, s))),
            Err(e) => out.unparsed.push((i, e)),
        }
    }
    out
}

/// Split a SQL script into statements on `;`, minding quotes, dollar quotes and comments, so
/// that one statement the parser rejects does not take the rest of a file with it. The text
/// from a statement the tokenizer cannot read (an unterminated string) to the end stays one
/// last statement, for the parser to report. The splitter is [`super::normalize::pieces`].
pub fn split(script: &str) -> Vec<&str> {
    let p = super::normalize::pieces(script);
    let mut out = p.statements;
    out.extend(p.unread.map(|u| u.text).filter(|t| !t.is_empty()));
    out
}

/// Whether the statement changes data (INSERT/UPDATE/DELETE/MERGE, also inside a CTE) or locks
/// rows (`FOR UPDATE`): it then needs a writable transaction.
pub fn is_data_modifying(shape: &Shape) -> bool {
    !matches!(shape.kind, StatementKind::Select | StatementKind::Utility)
        || shape.locking
        || shape.accesses.iter().any(|a| a.target)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) fn one(sql: &str) -> Shape {
        let mut v = extract(sql).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn shape_select_with_join_order_limit() {
        let s = one(
            "SELECT o.id, o.total FROM orders o JOIN customers c ON c.id = o.customer_id \
             WHERE o.status = 'active' AND o.created_at >= $2 AND c.region = ANY($3) \
             ORDER BY o.created_at DESC NULLS LAST LIMIT 50",
        );
        assert_eq!(s.kind, StatementKind::Select);
        assert_eq!(s.limit.as_deref(), Some("50"));
        let o = &s.accesses[0];
        assert_eq!(o.table, "orders");
        assert_eq!(o.alias.as_deref(), Some("o"));
        assert_eq!(o.predicates.len(), 2);
        assert_eq!(o.predicates[0].kind, PredKind::Eq);
        assert_eq!(
            o.predicates[0].value,
            PredValue::Constant("'active'".into())
        );
        assert_eq!(o.predicates[1].kind, PredKind::Range);
        assert_eq!(o.join_keys, ["customer_id"]);
        assert_eq!(
            o.order_by,
            [OrderKey {
                column: "created_at".into(),
                desc: true,
                nulls_first: Some(false)
            }]
        );
        assert!(!o.limit_applies, "a join sits between LIMIT and the rows");
        let c = &s.accesses[1];
        assert_eq!(c.join_keys, ["id"]);
        assert_eq!(c.predicates[0].op, "= ANY");
    }

    #[test]
    fn shape_classifies_not_indexable_and_expressions() {
        let s = one(
            "SELECT * FROM users WHERE lower(email) = $1 AND name LIKE '%x' AND a <> 1 \
             AND (b = 1 OR c = 2) AND deleted_at IS NULL AND code LIKE 'ab%' LIMIT 1",
        );
        let p = &s.accesses[0].predicates;
        assert_eq!(p[0].expr.as_deref(), Some("lower(email)"));
        assert_eq!(p[0].column.as_deref(), Some("email"));
        assert_eq!(p[0].kind, PredKind::Eq);
        assert_eq!(p[1].kind, PredKind::NotIndexable);
        assert_eq!(p[2].kind, PredKind::NotIndexable);
        assert_eq!(p[3].kind, PredKind::NotIndexable);
        assert_eq!(p[4].kind, PredKind::Eq);
        assert_eq!(p[4].value, PredValue::Constant("NULL".into()));
        assert_eq!(p[5].kind, PredKind::Range);
        assert!(s.accesses[0].limit_applies);
        assert_eq!(
            s.accesses[0].selected,
            ["*", "email", "name", "a", "b", "c", "deleted_at", "code"]
        );
    }

    #[test]
    fn shape_dml_cte_and_subquery() {
        let s = one(
            "WITH moved AS (DELETE FROM events WHERE created_at < $1 RETURNING *) \
             INSERT INTO events_archive SELECT * FROM moved",
        );
        assert_eq!(s.kind, StatementKind::Insert);
        let tables: Vec<_> = s.accesses.iter().map(|a| a.table.as_str()).collect();
        assert_eq!(tables, ["events", "events_archive"]);
        assert!(s.accesses.iter().all(|a| a.target));
        let s = one("UPDATE jobs j SET state = 'done' WHERE j.id IN (SELECT job_id FROM q WHERE q.owner = j.owner)");
        assert_eq!(s.kind, StatementKind::Update);
        assert_eq!(s.accesses[0].predicates[0].op, "IN");
        assert_eq!(
            s.accesses[1].join_keys,
            ["owner", "job_id"],
            "IN is a semi-join on job_id"
        );
        assert_eq!(s.accesses[0].join_keys, ["owner"]);
    }

    #[test]
    fn update_set_columns() {
        assert_eq!(
            one("UPDATE leads SET status = $1, updated_at = now() WHERE id = $2").set_columns,
            vec!["status", "updated_at"]
        );
        assert_eq!(
            one("UPDATE t SET \"A\" = coalesce(x, 1), b = (1, 2) FROM u WHERE t.id = u.id")
                .set_columns,
            vec!["A", "b"]
        );
        assert!(one("SELECT 1").set_columns.is_empty());
        // What the text scan this replaced got wrong: SET on its own line, a column tuple.
        assert_eq!(
            one("UPDATE t\nSET a = 1 WHERE id = 2").set_columns,
            vec!["a"]
        );
        assert_eq!(
            one("UPDATE t SET (a, b) = (1, 2)").set_columns,
            vec!["a", "b"]
        );
        // A data-modifying CTE's SET is not the statement's.
        assert_eq!(
            one("WITH m AS (UPDATE u SET x = 1 RETURNING id) UPDATE t SET y = 2").set_columns,
            vec!["y"]
        );
    }

    #[test]
    fn shape_split_minds_quotes_and_comments() {
        let v = split("SELECT ';' ; -- a; comment\nSELECT $x$ ; $x$, $1;\n/* ; */ SELECT \"a;b\";\n-- only a comment\n");
        assert_eq!(
            v,
            [
                "SELECT ';'",
                "-- a; comment\nSELECT $x$ ; $x$, $1",
                "/* ; */ SELECT \"a;b\""
            ]
        );
        let e = extract_each(v.iter().copied().chain(["SELEC 1"]));
        assert_eq!((e.total, e.unparsed.len(), e.shapes.len()), (4, 1, 3));
        assert_eq!(e.coverage(), 0.75);
    }
}
