//! One conjunct that touches a single table, as an index predicate: equality, range or not
//! indexable, the column or expression compared, and what it is compared with.
//!
//! Why its own module: the rules (which operators an index serves, prefix `LIKE`, `IS NULL`,
//! `IN` lists, constants a partial index can hold) are PostgreSQL's, not the walker's.

use std::collections::HashSet;

use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value, Visit};

use super::walk::Collector;
use super::{PredKind, PredValue, Predicate};

/// A bare column name, if `e` is one.
pub(super) fn bare(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(id) => Some(id.value.clone()),
        Expr::CompoundIdentifier(p) => p.last().map(|i| i.value.clone()),
        Expr::Nested(inner) => bare(inner),
        _ => None,
    }
}

fn has_column(e: &Expr) -> bool {
    let mut c = Collector::default();
    let _ = e.visit(&mut c);
    !c.columns.is_empty()
}

/// The one column inside an expression (`lower(email)` → `email`), if exactly one.
fn inner_column(e: &Expr) -> Option<String> {
    let mut c = Collector::default();
    let _ = e.visit(&mut c);
    let names: HashSet<String> = c.columns.iter().filter_map(bare).collect();
    (names.len() == 1)
        .then(|| names.into_iter().next())
        .flatten()
}

fn value_of(e: &Expr) -> PredValue {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(_) => PredValue::Param,
            other => PredValue::Constant(other.to_string()),
        },
        Expr::Nested(inner) => value_of(inner),
        Expr::Cast { expr, .. } => match value_of(expr) {
            PredValue::Constant(_) => PredValue::Constant(e.to_string()),
            other => other,
        },
        Expr::TypedString(_) => PredValue::Constant(e.to_string()),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match value_of(expr) {
            PredValue::Constant(c) => PredValue::Constant(format!("-{c}")),
            other => other,
        },
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => PredValue::Column,
        _ if has_column(e) => PredValue::Column,
        _ => PredValue::Other,
    }
}

/// The compared side: (column, expression) for a column or an expression over one column.
fn subject(e: &Expr) -> Option<Subject> {
    let key = crate::sql::index_key::KeyExpr::from_expr(e);
    if let Some(c) = bare(e) {
        return Some((Some(c), None, key));
    }
    has_column(e).then(|| (inner_column(e), Some(e.to_string()), key))
}

/// The compared side: column, expression text, and the index key dbopt renders for it.
type Subject = (
    Option<String>,
    Option<String>,
    Option<crate::sql::index_key::KeyExpr>,
);

fn flip(op: &BinaryOperator) -> BinaryOperator {
    use BinaryOperator::*;
    match op {
        Lt => Gt,
        LtEq => GtEq,
        Gt => Lt,
        GtEq => LtEq,
        other => other.clone(),
    }
}

fn not_indexable(e: &Expr, op: &str) -> Predicate {
    Predicate {
        column: inner_column(e),
        expr: Some(e.to_string()),
        kind: PredKind::NotIndexable,
        op: op.into(),
        value: PredValue::Other,
        key: None,
        value_sql: None,
    }
}

/// A predicate on `subj`.
fn on(subj: Subject, kind: PredKind, op: &str, value: PredValue) -> Predicate {
    Predicate {
        column: subj.0,
        expr: subj.1,
        kind,
        op: op.into(),
        value,
        key: subj.2,
        value_sql: None,
    }
}

/// A boolean column used as a condition (`WHERE active`, `WHERE NOT active`): `= true/false`.
fn truth(column: &Expr, value: &str) -> Predicate {
    Predicate {
        column: bare(column),
        expr: None,
        kind: PredKind::Eq,
        op: "=".into(),
        value: PredValue::Constant(value.into()),
        key: crate::sql::index_key::KeyExpr::from_expr(column),
        value_sql: Some(value.into()),
    }
}

/// Classify one conjunct that touches a single table.
pub(super) fn classify(e: &Expr) -> Predicate {
    use BinaryOperator as B;
    match e {
        Expr::Nested(inner) => classify(inner),
        Expr::BinaryOp { left, op, right } => comparison(e, left, op, right),
        Expr::InList {
            expr,
            list,
            negated,
        } => match (subject(expr), negated) {
            (Some(subj), false) => on(subj, PredKind::Eq, "IN", list_value(list)),
            _ => not_indexable(e, "NOT IN"),
        },
        Expr::InSubquery {
            expr,
            negated: false,
            ..
        } => match subject(expr) {
            Some(subj) => on(subj, PredKind::Eq, "IN", PredValue::Other),
            None => not_indexable(e, "IN"),
        },
        Expr::AnyOp {
            left,
            compare_op: B::Eq,
            right,
            ..
        } => match subject(left) {
            Some(subj) => on(subj, PredKind::Eq, "= ANY", value_of(right)),
            None => not_indexable(e, "= ANY"),
        },
        Expr::IsNull(x) => match subject(x) {
            Some(subj) => on(
                subj,
                PredKind::Eq,
                "IS NULL",
                PredValue::Constant("NULL".into()),
            ),
            None => not_indexable(e, "IS NULL"),
        },
        Expr::IsNotNull(x) => {
            let mut p = not_indexable(e, "IS NOT NULL");
            p.column = bare(x).or(p.column);
            p.expr = if bare(x).is_some() { None } else { p.expr };
            p.value = PredValue::Constant("NULL".into());
            p
        }
        Expr::IsTrue(x) | Expr::IsFalse(x) => match subject(x) {
            Some(subj) => {
                let v = matches!(e, Expr::IsTrue(_)).to_string();
                Predicate {
                    value_sql: Some(v.clone()),
                    ..on(subj, PredKind::Eq, "=", PredValue::Constant(v))
                }
            }
            None => not_indexable(e, "IS"),
        },
        Expr::Between {
            expr,
            negated: false,
            low,
            high,
        } => match subject(expr) {
            Some(subj) => on(subj, PredKind::Range, "BETWEEN", between_value(low, high)),
            None => not_indexable(e, "BETWEEN"),
        },
        Expr::Like {
            expr,
            negated: false,
            pattern,
            ..
        } => like(e, expr, pattern),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => truth(e, "true"),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } if bare(expr).is_some() => truth(expr, "false"),
        _ => {
            let op = match e {
                Expr::Like { .. } => "NOT LIKE",
                Expr::ILike { .. } => "ILIKE",
                Expr::Between { .. } => "NOT BETWEEN",
                Expr::Function(_) => "function",
                _ => "other",
            };
            not_indexable(e, op)
        }
    }
}

/// `left op right`, with the column on either side: `=` is Eq, `<`, `<=`, `>`, `>=` Range.
fn comparison(e: &Expr, left: &Expr, op: &BinaryOperator, right: &Expr) -> Predicate {
    use BinaryOperator as B;
    let (col_side, val_side, op) = if has_column(left) && !has_column(right) {
        (left, right, op.clone())
    } else if has_column(right) && !has_column(left) {
        (right, left, flip(op))
    } else if bare(left).is_some() && bare(right).is_some() {
        // col = col of the same table
        return Predicate {
            column: bare(left),
            expr: Some(e.to_string()),
            kind: PredKind::NotIndexable,
            op: op.to_string(),
            value: PredValue::Column,
            key: None,
            value_sql: None,
        };
    } else {
        return not_indexable(e, &op.to_string());
    };
    let Some(subj) = subject(col_side) else {
        return not_indexable(e, &op.to_string());
    };
    let kind = match op {
        B::Eq => PredKind::Eq,
        B::Lt | B::LtEq | B::Gt | B::GtEq => PredKind::Range,
        _ => PredKind::NotIndexable,
    };
    if kind == PredKind::NotIndexable {
        let mut p = not_indexable(e, &op.to_string());
        p.value = value_of(val_side);
        return p;
    }
    let value = value_of(val_side);
    let value_sql = match value {
        PredValue::Constant(_) => crate::sql::index_key::render_expr(val_side),
        _ => None,
    };
    Predicate {
        value_sql,
        ..on(subj, kind, &op.to_string(), value)
    }
}

/// An `IN (...)` list: its constants, a list of parameters, or something else.
fn list_value(list: &[Expr]) -> PredValue {
    if list
        .iter()
        .all(|x| matches!(value_of(x), PredValue::Constant(_)))
    {
        PredValue::Constant(
            list.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        )
    } else if list.iter().all(|x| value_of(x) == PredValue::Param) {
        PredValue::Param
    } else {
        PredValue::Other
    }
}

/// `BETWEEN low AND high`: both parameters, both constants, or something else.
fn between_value(low: &Expr, high: &Expr) -> PredValue {
    match (value_of(low), value_of(high)) {
        (PredValue::Param, PredValue::Param) => PredValue::Param,
        (PredValue::Constant(a), PredValue::Constant(b)) => {
            PredValue::Constant(format!("{a} AND {b}"))
        }
        _ => PredValue::Other,
    }
}

/// `expr LIKE pattern`: a range when the constant pattern has a fixed prefix.
fn like(e: &Expr, expr: &Expr, pattern: &Expr) -> Predicate {
    match (subject(expr), value_of(pattern)) {
        (Some(subj), PredValue::Constant(p))
            if !p.trim_start_matches('\'').starts_with(['%', '_']) =>
        {
            on(subj, PredKind::Range, "LIKE", PredValue::Constant(p))
        }
        (Some(subj), v) => {
            let mut p = on(subj, PredKind::NotIndexable, "LIKE", v);
            if p.expr.is_none() {
                p.expr = Some(e.to_string());
            }
            p
        }
        _ => not_indexable(e, "LIKE"),
    }
}
