//! `--with-index` DDL: one CREATE INDEX, checked and rebuilt from its parsed form.
//!
//! Why rebuilt rather than passed through: the text runs inside the EXPLAIN transaction, so
//! anything but that one index (a second statement, a user function, a subquery) must be
//! impossible to send, not merely unlikely.

use std::fmt;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, CreateIndex, DataType, Expr, Ident, IndexColumn, IndexType, ObjectName,
    ObjectNamePart, OrderBySort, Query, Statement, Visit, VisitMut, Visitor, VisitorMut,
};

use super::ExplainError;
use crate::sql::quote_ident;

/// One `--with-index` statement: exactly one CREATE INDEX, checked and rebuilt from its parsed
/// form, so nothing but that index can ever be sent. Column references are quoted (unquoted
/// names folded to lower case, as PostgreSQL does); functions, types and operator classes must
/// be unqualified or in pg_catalog (they are resolved with `search_path = pg_catalog`);
/// subqueries and `OPERATOR(...)` are refused; CONCURRENTLY is dropped, since the index is
/// built inside the transaction that is rolled back.
#[derive(Debug, Clone)]
pub struct IndexDdl {
    create: CreateIndex,
    /// The table as written, for `to_regclass`.
    pub(super) table: String,
    /// The functions the expressions call, by name; each must be a pg_catalog one.
    pub(super) functions: Vec<String>,
    /// CONCURRENTLY was given (and dropped).
    pub concurrently: bool,
}

impl IndexDdl {
    pub fn parse(text: &str) -> Result<IndexDdl, ExplainError> {
        let bad = |m: &str| ExplainError::BadIndex(m.to_string());
        let mut stmts = crate::workload::shape::parse(text).map_err(|e| {
            ExplainError::BadIndex(format!("not a CREATE INDEX statement dbopt can read ({e})"))
        })?;
        if stmts.len() != 1 {
            return Err(ExplainError::BadIndex(format!(
                "{} statements given; it takes exactly one CREATE INDEX statement",
                stmts.len()
            )));
        }
        let Statement::CreateIndex(mut create) = stmts.remove(0) else {
            return Err(bad(
                "only a CREATE INDEX statement is accepted, nothing else",
            ));
        };
        if create.r#async || !create.index_options.is_empty() || !create.alter_options.is_empty() {
            return Err(bad("options PostgreSQL's CREATE INDEX does not have"));
        }
        if create.name.as_ref().is_some_and(|n| n.0.len() != 1) {
            return Err(bad("the index name cannot be schema-qualified"));
        }
        for col in &create.columns {
            if col
                .operator_class
                .as_ref()
                .is_some_and(|o| builtin(o).is_none())
            {
                return Err(bad(
                    "only built-in (pg_catalog) operator classes are accepted",
                ));
            }
            if matches!(col.column.options.sort, Some(OrderBySort::Using(_)))
                || col.column.with_fill.is_some()
            {
                return Err(bad(
                    "an index column takes only ASC/DESC and NULLS FIRST/LAST",
                ));
            }
        }
        let mut check = Check::default();
        let _ = create.columns.visit(&mut check);
        let _ = create.predicate.visit(&mut check);
        let _ = create.with.visit(&mut check);
        if let Some(reason) = check.refused {
            return Err(ExplainError::BadIndex(reason));
        }
        let _ = VisitMut::visit(&mut create.columns, &mut QuoteColumns);
        let _ = VisitMut::visit(&mut create.predicate, &mut QuoteColumns);
        let concurrently = std::mem::take(&mut create.concurrently);
        Ok(IndexDdl {
            table: create.table_name.to_string(),
            functions: check.functions,
            concurrently,
            create,
        })
    }

    /// The rebuilt statement on `table` (already quoted).
    pub fn sql(&self, table: &str) -> String {
        let c = &self.create;
        let mut out = String::from("CREATE ");
        if c.unique {
            out.push_str("UNIQUE ");
        }
        out.push_str("INDEX ");
        if c.if_not_exists {
            out.push_str("IF NOT EXISTS ");
        }
        if let Some(name) = &c.name {
            out.push_str(&quoted_name(name));
            out.push(' ');
        }
        out.push_str("ON ");
        out.push_str(table);
        if let Some(m) = &c.using {
            out.push_str(" USING ");
            out.push_str(&method(m));
        }
        let cols: Vec<String> = c.columns.iter().map(column).collect();
        out.push_str(&format!(" ({})", cols.join(", ")));
        if !c.include.is_empty() {
            let inc: Vec<String> = c.include.iter().map(|i| quote_ident(&fold(i))).collect();
            out.push_str(&format!(" INCLUDE ({})", inc.join(", ")));
        }
        match c.nulls_distinct {
            Some(true) => out.push_str(" NULLS DISTINCT"),
            Some(false) => out.push_str(" NULLS NOT DISTINCT"),
            None => {}
        }
        if !c.with.is_empty() {
            let with: Vec<String> = c.with.iter().map(ToString::to_string).collect();
            out.push_str(&format!(" WITH ({})", with.join(", ")));
        }
        if let Some(p) = &c.predicate {
            out.push_str(&format!(" WHERE {p}"));
        }
        out
    }
}

/// The statement on the table as written (quoted), for reports.
impl fmt::Display for IndexDdl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql(&quoted_name(&self.create.table_name)))
    }
}

/// The name PostgreSQL sees: unquoted identifiers fold to lower case.
fn fold(id: &Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_ascii_lowercase()
    }
}

fn name_parts(name: &ObjectName) -> Option<Vec<String>> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(id) => Some(fold(id)),
            _ => None,
        })
        .collect()
}

fn quoted_name(name: &ObjectName) -> String {
    name_parts(name)
        .unwrap_or_default()
        .iter()
        .map(|p| quote_ident(p))
        .collect::<Vec<_>>()
        .join(".")
}

/// The object's own name when it is unqualified or in pg_catalog.
fn builtin(name: &ObjectName) -> Option<String> {
    match name_parts(name)?.as_slice() {
        [n] => Some(n.clone()),
        [schema, n] if schema == "pg_catalog" => Some(n.clone()),
        _ => None,
    }
}

fn method(m: &IndexType) -> String {
    match m {
        IndexType::BTree => "btree".into(),
        IndexType::Hash => "hash".into(),
        IndexType::GIN => "gin".into(),
        IndexType::GiST => "gist".into(),
        IndexType::SPGiST => "spgist".into(),
        IndexType::BRIN => "brin".into(),
        IndexType::Bloom => "bloom".into(),
        IndexType::Custom(id) => quote_ident(&fold(id)),
    }
}

/// A column as written in the index: a plain column by name, an expression in parentheses.
fn column(col: &IndexColumn) -> String {
    let mut out = match &col.column.expr {
        Expr::Identifier(id) => id.to_string(),
        e => format!("({e})"),
    };
    if let Some(op) = &col.operator_class {
        out.push(' ');
        out.push_str(&op.to_string());
    }
    out.push_str(&col.column.options.to_string());
    out
}

/// Refuses what an index for the comparison must not contain; collects the functions called.
#[derive(Default)]
struct Check {
    functions: Vec<String>,
    refused: Option<String>,
}

impl Visitor for Check {
    type Break = ();

    fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.refused = Some("subqueries are not accepted in an index".into());
        ControlFlow::Break(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        let custom_op =
            |op: &BinaryOperator| matches!(op, BinaryOperator::PGCustomBinaryOperator(_));
        self.refused = match e {
            Expr::BinaryOp { op, .. } if custom_op(op) => {
                Some("OPERATOR(...) is not accepted; use the built-in operators".into())
            }
            Expr::AnyOp { compare_op, .. } | Expr::AllOp { compare_op, .. }
                if custom_op(compare_op) =>
            {
                Some("OPERATOR(...) is not accepted; use the built-in operators".into())
            }
            Expr::Function(f) => match builtin(&f.name) {
                Some(name) => {
                    self.functions.push(name);
                    None
                }
                None => Some(format!(
                    "function `{}` is not a built-in (pg_catalog) function",
                    f.name
                )),
            },
            Expr::Cast {
                data_type: DataType::Custom(name, _),
                ..
            } if builtin(name).is_none() => {
                Some(format!("type `{name}` is not a built-in (pg_catalog) type"))
            }
            _ => None,
        };
        if self.refused.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// Quotes column references (folding unquoted ones as PostgreSQL does).
struct QuoteColumns;

impl VisitorMut for QuoteColumns {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let quote = |id: &mut Ident| {
            id.value = fold(id);
            id.quote_style = Some('"');
        };
        match e {
            Expr::Identifier(id) => quote(id),
            Expr::CompoundIdentifier(ids) => ids.iter_mut().for_each(quote),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ddl_is_one_create_index_rebuilt_with_quoted_names() {
        let ok = |t: &str| IndexDdl::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(
            ok("CREATE INDEX ON Items (Shop, \"Price\" DESC NULLS LAST)").to_string(),
            r#"CREATE INDEX ON "items" ("shop", "Price" DESC NULLS LAST)"#
        );
        let d = ok("create unique index concurrently if not exists ix on app.t using gin (lower(name) text_pattern_ops) include (a) where active and x > 1;");
        assert!(d.concurrently);
        assert_eq!(d.functions, ["lower"]);
        assert_eq!(d.table, "app.t");
        assert_eq!(
            d.sql("\"app\".\"t\""),
            r#"CREATE UNIQUE INDEX IF NOT EXISTS "ix" ON "app"."t" USING gin ((lower("name")) text_pattern_ops) INCLUDE ("a") WHERE "active" AND "x" > 1"#
        );
        assert_eq!(
            ok("CREATE INDEX ON t ((pg_catalog.lower(n)))").functions,
            ["lower"]
        );
        for (bad, needle) in [
            (
                "CREATE INDEX ON victim (x); COMMIT; DELETE FROM victim WHERE id = 10",
                "3 statements",
            ),
            (
                "CREATE INDEX ON t (x); CREATE INDEX ON t (y)",
                "2 statements",
            ),
            ("DELETE FROM victim", "only a CREATE INDEX"),
            ("COMMIT", "only a CREATE INDEX"),
            (
                "CREATE INDEX ON t ((public.evil(x)))",
                "`public.evil` is not a built-in",
            ),
            ("CREATE INDEX ON t ((x OPERATOR(public.+) 1))", "OPERATOR"),
            ("CREATE INDEX ON t (x public.my_ops)", "operator classes"),
            (
                "CREATE INDEX ON t ((x::public.mytype))",
                "type `public.mytype`",
            ),
            ("CREATE INDEX ON t (x) WHERE x IN (SELECT 1)", "subqueries"),
            (
                "CREATE INDEX ON t ((coalesce(x, (SELECT max(y) FROM u))))",
                "subqueries",
            ),
            ("CREATE INDEX ON t (x", "dbopt can read"),
        ] {
            let err = IndexDdl::parse(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
