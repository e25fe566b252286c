//! `--where`: the user's extra row filter, checked before it ever reaches the server.
//!
//! Why parse it: the filter is pasted into every batch statement, and those statements write.
//! A filter must therefore be exactly one boolean expression: no `;`, no second statement, no
//! data-modifying subquery, no locking clause, and none of the functions that act outside the
//! row (terminating backends, sequences, files, settings, remote calls). The text that passes is
//! re-rendered from the parsed tree (not the raw input), wrapped in parentheses, and then probed
//! once inside a `READ ONLY` transaction on the server, which catches whatever the parser allows
//! but PostgreSQL considers a write.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, SetExpr, Statement, Visit, Visitor};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::ArchiveError;

/// Function-name prefixes a filter may not call: side effects outside the row being filtered.
const FORBIDDEN_FUNCTIONS: &[&str] = &[
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_sleep",
    "pg_advisory",
    "pg_try_advisory",
    "pg_read",
    "pg_ls_",
    "pg_file",
    "pg_stat_reset",
    "pg_switch_wal",
    "pg_create",
    "pg_drop",
    "pg_replication",
    "pg_logical",
    "pg_notify",
    "pg_promote",
    "pg_backup",
    "set_config",
    "nextval",
    "setval",
    "lo_",
    "dblink",
    "query_to_xml",
    "query_to_json",
    "table_to_xml",
    "cursor_to_xml",
    "txid_",
    "pg_current_xact",
];

struct Checker {
    problem: Option<String>,
}

impl Visitor for Checker {
    type Break = ();

    fn pre_visit_statement(&mut self, _s: &Statement) -> ControlFlow<()> {
        self.problem = Some("it contains a statement; only a boolean expression is allowed".into());
        ControlFlow::Break(())
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if !q.locks.is_empty() {
            self.problem = Some("a subquery with a locking clause (FOR UPDATE/SHARE)".into());
            return ControlFlow::Break(());
        }
        if writes(&q.body) {
            self.problem = Some("a subquery that writes (INSERT/UPDATE/DELETE/MERGE)".into());
            return ControlFlow::Break(());
        }
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                if writes(&cte.query.body) {
                    self.problem = Some("a WITH clause that writes".into());
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e {
            let name = f
                .name
                .0
                .last()
                .map(|p| p.to_string().trim_matches('"').to_lowercase())
                .unwrap_or_default();
            if FORBIDDEN_FUNCTIONS.iter().any(|p| name.starts_with(p)) {
                self.problem = Some(format!("the function {name}() has side effects"));
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

fn writes(body: &SetExpr) -> bool {
    match body {
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => true,
        SetExpr::Query(q) => writes(&q.body),
        SetExpr::SetOperation { left, right, .. } => writes(left) || writes(right),
        _ => false,
    }
}

/// Check a `--where` text and return the SQL to embed (parenthesised, re-rendered from the
/// parse tree).
pub fn check_where(text: &str) -> Result<String, ArchiveError> {
    let bad = |why: String| ArchiveError::BadWhere {
        text: text.to_string(),
        why,
    };
    if text.trim().is_empty() {
        return Err(bad("it is empty".into()));
    }
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| bad(e.to_string()))?;
    let expr = parser.parse_expr().map_err(|e| bad(e.to_string()))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(bad(format!(
            "unexpected {} after the expression (one boolean expression only, no `;`)",
            next.token
        )));
    }
    let mut checker = Checker { problem: None };
    let _ = expr.visit(&mut checker);
    if let Some(p) = checker.problem {
        return Err(bad(p));
    }
    Ok(format!("({expr})"))
}

#[cfg(test)]
mod tests {
    use super::check_where;

    #[test]
    fn accepts_plain_filters() {
        assert_eq!(
            check_where("type = 'viewed' AND entity_id > 5").unwrap(),
            "(type = 'viewed' AND entity_id > 5)"
        );
        assert!(check_where("source IN (SELECT 'web')").is_ok());
        assert!(check_where("\"Kind\" <> 'x''y'").is_ok());
        assert!(check_where("payload->>'k' IS NULL").is_ok());
    }

    #[test]
    fn rejects_injection() {
        for bad in [
            "1=1; DROP TABLE events",
            "true) OR (1=1",
            "id IN (WITH d AS (DELETE FROM events RETURNING id) SELECT id FROM d)",
            "pg_terminate_backend(1) IS NOT NULL",
            "nextval('s') > 0",
            "id IN (SELECT id FROM events FOR UPDATE)",
            "",
            "DROP TABLE events",
        ] {
            assert!(check_where(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
