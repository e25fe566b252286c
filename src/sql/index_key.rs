//! Typed index keys: a column (its real, unquoted name) or an expression dbopt rendered
//! itself, with a direction.
//!
//! Why typed: as strings, `created_at DESC`, `lower(email)` and a column really named
//! `id) WHERE true; DROP TABLE x; --` look alike, and deciding which is which by looking at
//! the text is how a name ends up pasted into DDL unquoted. A [`KeyExpr::Column`] is always
//! written through [`quote_ident`]; a [`KeyExpr::Expression`] only ever holds text
//! [`render_expr`] wrote from sqlparser's tree, with every identifier quoted by dbopt (not by
//! sqlparser's `Display`, which skips quotes it believes escaped, e.g. after a backslash) and
//! table aliases removed (an index expression cannot name an alias).
//!
//! In reports a key is the string [`IndexKey::sql`] writes (`"status"`, `"created_at" DESC`,
//! `(lower("email"))`), and [`IndexKey::parse`] reads back exactly that form and nothing else.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Ident, ObjectName, ObjectNamePart, OrderBySort, UnaryOperator, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::sql::ident::{quote_ident, quote_literal};

/// `NULLS FIRST` / `NULLS LAST`, when said explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Nulls {
    First,
    Last,
}

/// What an index key indexes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyExpr {
    /// A column, by its real (unquoted, case-preserved) name.
    Column(String),
    /// SQL text [`render_expr`] wrote, without table aliases (`lower("email")`).
    Expression(String),
}

impl KeyExpr {
    /// The key of a compared expression: a column for a bare (possibly qualified) name, else
    /// the rendered expression; `None` when dbopt cannot render it safely.
    pub fn from_expr(e: &Expr) -> Option<KeyExpr> {
        match e {
            Expr::Identifier(id) => Some(KeyExpr::Column(ident_name(id))),
            Expr::CompoundIdentifier(parts) => parts.last().map(|i| KeyExpr::Column(ident_name(i))),
            Expr::Nested(inner)
                if matches!(**inner, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) =>
            {
                KeyExpr::from_expr(inner)
            }
            other => render_expr(other).map(KeyExpr::Expression),
        }
    }

    /// The column name, for a column key.
    pub fn column(&self) -> Option<&str> {
        match self {
            KeyExpr::Column(c) => Some(c),
            KeyExpr::Expression(_) => None,
        }
    }

    pub fn is_column(&self, name: &str) -> bool {
        self.column() == Some(name)
    }

    /// As written in an index definition: `"col"` or `(expr)`.
    pub fn sql(&self) -> String {
        match self {
            KeyExpr::Column(c) => quote_ident(c),
            KeyExpr::Expression(e) => format!("({e})"),
        }
    }

    /// For people and index names: the column name or the expression text.
    pub fn label(&self) -> &str {
        match self {
            KeyExpr::Column(c) | KeyExpr::Expression(c) => c,
        }
    }
}

/// One key of an index: what it indexes and in which order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexKey {
    pub expr: KeyExpr,
    pub desc: bool,
    pub nulls: Option<Nulls>,
}

/// A key string that is not in the form [`IndexKey::sql`] writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("index key {key:?} {why}")]
pub struct KeyError {
    pub key: String,
    pub why: String,
}

impl IndexKey {
    pub fn new(expr: KeyExpr) -> Self {
        IndexKey {
            expr,
            desc: false,
            nulls: None,
        }
    }

    /// An ascending key on a column.
    pub fn column(name: impl Into<String>) -> Self {
        IndexKey::new(KeyExpr::Column(name.into()))
    }

    /// ` DESC`, ` NULLS FIRST`, ` DESC NULLS LAST` or nothing.
    pub fn order_sql(&self) -> &'static str {
        match (self.desc, self.nulls) {
            (false, None) => "",
            (false, Some(Nulls::First)) => " NULLS FIRST",
            (false, Some(Nulls::Last)) => " NULLS LAST",
            (true, None) => " DESC",
            (true, Some(Nulls::First)) => " DESC NULLS FIRST",
            (true, Some(Nulls::Last)) => " DESC NULLS LAST",
        }
    }

    /// The key as in an index definition: `"created_at" DESC NULLS LAST`, `(lower("email"))`.
    pub fn sql(&self) -> String {
        format!("{}{}", self.expr.sql(), self.order_sql())
    }

    /// For people: `created_at DESC`, `lower("email")`.
    pub fn label(&self) -> String {
        format!("{}{}", self.expr.label(), self.order_sql())
    }

    /// Read back a key [`IndexKey::sql`] wrote, and only that form: a quoted column or a
    /// parenthesized expression dbopt would render the same way, then the direction.
    pub fn parse(text: &str) -> Result<IndexKey, KeyError> {
        let err = |why: &str| KeyError {
            key: text.to_string(),
            why: why.to_string(),
        };
        let dialect = PostgreSqlDialect {};
        let mut p = Parser::new(&dialect)
            .try_with_sql(text)
            .map_err(|e| err(&format!("is not SQL: {e}")))?;
        let ob = p
            .parse_order_by_expr()
            .map_err(|e| err(&format!("is not an index key: {e}")))?;
        if p.peek_token().token != Token::EOF {
            return Err(err("has text after the key"));
        }
        let expr = match &ob.expr {
            Expr::Identifier(id) if id.quote_style == Some('"') => {
                KeyExpr::Column(id.value.clone())
            }
            Expr::Nested(inner) => KeyExpr::Expression(
                render_expr(inner)
                    .ok_or_else(|| err("holds an expression dbopt does not write"))?,
            ),
            _ => {
                return Err(err(
                    "must be a quoted column (\"name\") or a parenthesized expression",
                ))
            }
        };
        let desc = match ob.options.sort {
            None => false,
            Some(OrderBySort::Desc) => true,
            Some(_) => return Err(err("may only say DESC")),
        };
        let key = IndexKey {
            expr,
            desc,
            nulls: ob
                .options
                .nulls_first
                .map(|f| if f { Nulls::First } else { Nulls::Last }),
        };
        if key.sql() != text {
            return Err(err(&format!(
                "is not written as dbopt writes it ({})",
                key.sql()
            )));
        }
        Ok(key)
    }
}

impl fmt::Display for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql())
    }
}

impl Serialize for IndexKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.sql())
    }
}

impl Serialize for KeyExpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.sql())
    }
}

impl<'de> Deserialize<'de> for IndexKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IndexKey::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// PostgreSQL folds unquoted names to lower case.
fn ident_name(id: &Ident) -> String {
    match id.quote_style {
        Some(_) => id.value.clone(),
        None => id.value.to_ascii_lowercase(),
    }
}

/// An expression as SQL text dbopt writes itself: identifiers through [`quote_ident`] without
/// their table or alias, strings through [`quote_literal`]. `None` for anything outside the
/// forms an index expression or a partial-index predicate needs (columns, constants,
/// operators, casts, plain function calls); such a key is simply not proposed.
pub fn render_expr(e: &Expr) -> Option<String> {
    let mut out = String::new();
    write_expr(e, &mut out)?;
    Some(out)
}

fn write_expr(e: &Expr, out: &mut String) -> Option<()> {
    match e {
        Expr::Identifier(id) => out.push_str(&quote_ident(&ident_name(id))),
        Expr::CompoundIdentifier(parts) => out.push_str(&quote_ident(&ident_name(parts.last()?))),
        Expr::Value(v) => write_value(&v.value, out)?,
        Expr::Nested(inner) => {
            out.push('(');
            write_expr(inner, out)?;
            out.push(')');
        }
        Expr::UnaryOp { op, expr } => {
            out.push_str(match op {
                UnaryOperator::Minus => "-",
                UnaryOperator::Plus => "+",
                UnaryOperator::Not => "NOT ",
                _ => return None,
            });
            write_expr(expr, out)?;
        }
        Expr::BinaryOp { left, op, right } => {
            use BinaryOperator as B;
            let op = match op {
                B::Plus => "+",
                B::Minus => "-",
                B::Multiply => "*",
                B::Divide => "/",
                B::Modulo => "%",
                B::StringConcat => "||",
                B::Gt => ">",
                B::Lt => "<",
                B::GtEq => ">=",
                B::LtEq => "<=",
                B::Eq => "=",
                B::NotEq => "<>",
                B::And => "AND",
                B::Or => "OR",
                B::Arrow => "->",
                B::LongArrow => "->>",
                B::HashArrow => "#>",
                B::HashLongArrow => "#>>",
                _ => return None,
            };
            write_expr(left, out)?;
            out.push(' ');
            out.push_str(op);
            out.push(' ');
            write_expr(right, out)?;
        }
        Expr::IsNull(x) => {
            write_expr(x, out)?;
            out.push_str(" IS NULL");
        }
        Expr::IsNotNull(x) => {
            write_expr(x, out)?;
            out.push_str(" IS NOT NULL");
        }
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type,
            format: None,
        } => {
            out.push_str("CAST(");
            write_expr(expr, out)?;
            out.push_str(" AS ");
            write_type(data_type, out)?;
            out.push(')');
        }
        Expr::Function(f) => {
            if f.uses_odbc_syntax
                || f.filter.is_some()
                || f.over.is_some()
                || f.null_treatment.is_some()
                || !f.within_group.is_empty()
                || !matches!(f.parameters, FunctionArguments::None)
            {
                return None;
            }
            let FunctionArguments::List(list) = &f.args else {
                return None;
            };
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return None;
            }
            write_name(&f.name, out)?;
            out.push('(');
            for (i, a) in list.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a else {
                    return None;
                };
                write_expr(x, out)?;
            }
            out.push(')');
        }
        _ => return None,
    }
    Some(())
}

fn write_value(v: &Value, out: &mut String) -> Option<()> {
    match v {
        Value::Number(n, _) => {
            let n = n.to_string();
            if n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
            {
                return None;
            }
            out.push_str(&n);
        }
        Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => {
            out.push_str(&quote_literal(s));
        }
        Value::DollarQuotedString(d) => out.push_str(&quote_literal(&d.value)),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("NULL"),
        _ => return None,
    }
    Some(())
}

/// A function or type name: quoted parts as quoted, unquoted parts folded and written bare
/// (so `coalesce(...)` and `::text` keep working), when they are plain words.
fn write_name(name: &ObjectName, out: &mut String) -> Option<()> {
    for (i, part) in name.0.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let ObjectNamePart::Identifier(id) = part else {
            return None;
        };
        if id.quote_style.is_some() {
            out.push_str(&quote_ident(&id.value));
        } else {
            let w = id.value.to_ascii_lowercase();
            let plain = w.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !plain {
                return None;
            }
            out.push_str(&w);
        }
    }
    Some(())
}

/// A cast's type: a named type as in [`write_name`]; a built-in type as sqlparser writes it
/// when that is only words, digits and punctuation of type modifiers.
fn write_type(t: &DataType, out: &mut String) -> Option<()> {
    if let DataType::Custom(name, modifiers) = t {
        if !modifiers.is_empty() {
            return None;
        }
        return write_name(name, out);
    }
    let s = t.to_string();
    if s.is_empty()
        || !s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '(' | ')' | ',' | '[' | ']')
        })
    {
        return None;
    }
    out.push_str(&s);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn expr(sql: &str) -> Expr {
        Parser::new(&PostgreSqlDialect {})
            .try_with_sql(sql)
            .unwrap()
            .parse_expr()
            .unwrap()
    }

    #[test]
    fn columns_are_quoted_with_their_direction() {
        let mut k = IndexKey::column("created_at");
        assert_eq!(k.sql(), r#""created_at""#);
        k.desc = true;
        assert_eq!(k.sql(), r#""created_at" DESC"#);
        k.nulls = Some(Nulls::Last);
        assert_eq!(k.sql(), r#""created_at" DESC NULLS LAST"#);
        assert_eq!(k.label(), "created_at DESC NULLS LAST");
        let evil = IndexKey::column("id) WHERE true; DROP TABLE x; --");
        assert_eq!(evil.sql(), r#""id) WHERE true; DROP TABLE x; --""#);
        assert_eq!(IndexKey::column("日本").sql(), r#""日本""#);
    }

    #[test]
    fn expressions_are_rendered_by_dbopt_without_aliases() {
        let k = |s: &str| KeyExpr::from_expr(&expr(s));
        assert_eq!(
            k("lower(u.email)"),
            Some(KeyExpr::Expression(r#"lower("email")"#.into()))
        );
        assert_eq!(
            k(r#"LOWER(t."Col""Quote")"#),
            Some(KeyExpr::Expression(r#"lower("Col""Quote")"#.into()))
        );
        assert_eq!(
            k(r#"(a.data ->> 'it''s')::int"#),
            Some(KeyExpr::Expression(
                r#"CAST(("data" ->> 'it''s') AS INT)"#.into()
            ))
        );
        assert_eq!(
            k(r#"t."Mixed Case""#),
            Some(KeyExpr::Column("Mixed Case".into()))
        );
        assert_eq!(k("Status"), Some(KeyExpr::Column("status".into())));
        assert_eq!(k("substring(a FROM 1 FOR 2)"), None);
        assert_eq!(k("lower($1)"), None);
    }

    #[test]
    fn parse_reads_exactly_what_sql_writes() {
        for s in [
            r#""status""#,
            r#""created_at" DESC"#,
            r#""a" NULLS FIRST"#,
            r#""b" DESC NULLS LAST"#,
            r#"(lower("email"))"#,
            r#""Col""Quote""#,
            r#""a\""b""#,
            "\"new\nline\"",
            r#""日本""#,
            r#""id) WHERE true; DROP TABLE x; --""#,
        ] {
            assert_eq!(
                IndexKey::parse(s).map(|k| k.sql()),
                Ok(s.to_string()),
                "{s}"
            );
        }
        for bad in [
            "status",
            "lower(email)",
            r#""a" ASC"#,
            r#""a"; DROP TABLE x"#,
            r#""a" DESC, "b""#,
            r#"(lower(email))"#,
            "",
        ] {
            assert!(IndexKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_is_the_sql_string() {
        let k = IndexKey {
            expr: KeyExpr::Column("Mixed Case".into()),
            desc: true,
            nulls: None,
        };
        let j = serde_json::to_string(&k).unwrap();
        assert_eq!(j, r#""\"Mixed Case\" DESC""#);
        assert_eq!(serde_json::from_str::<IndexKey>(&j).unwrap(), k);
        assert!(serde_json::from_str::<IndexKey>(r#""Mixed Case""#).is_err());
    }

    proptest! {
        #[test]
        fn any_identifier_round_trips(
            name in "[^\u{0}]{1,24}",
            desc in any::<bool>(),
            nulls in prop_oneof![Just(None), Just(Some(Nulls::First)), Just(Some(Nulls::Last))],
        ) {
            let k = IndexKey { expr: KeyExpr::Column(name), desc, nulls };
            prop_assert_eq!(IndexKey::parse(&k.sql()), Ok(k));
        }

        #[test]
        fn keywords_quotes_and_spaces_round_trip(
            parts in prop::collection::vec(
                prop_oneof![
                    Just("select".to_string()), Just("\"".to_string()), Just("\\".to_string()),
                    Just(" ".to_string()), Just("'".to_string()), Just(")".to_string()),
                    Just("--".to_string()), Just(";".to_string()), Just("日本".to_string()),
                    Just("\n".to_string()), Just("DESC".to_string()), "[a-zA-Z0-9_]{1,4}",
                ],
                1..8,
            ),
        ) {
            let k = IndexKey::column(parts.concat());
            prop_assert_eq!(IndexKey::parse(&k.sql()), Ok(k));
        }
    }
}
