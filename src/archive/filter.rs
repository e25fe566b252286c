//! `--where`: the user's extra row filter, checked against an allow-list before any of it
//! reaches the server (in a dry run too).
//!
//! Why an allow-list: the filter is pasted into every batch statement, and those statements
//! write. A deny-list of "dangerous" functions always misses one: `FROM pg_sleep(5)` inside an
//! `EXISTS`, `lo_import()` (allowed in a read-only transaction, it leaves a large object),
//! `pg_stat_statements_reset() IS NULL`, a user-defined function or operator. An age filter needs
//! very little: columns of the table, literals, casts to plain built-in types, the built-in
//! comparison, boolean and arithmetic operators, `IS [NOT] NULL`, `BETWEEN`, `IN (list)`,
//! `LIKE`, and a few immutable or stable functions. Everything else (every subquery, every other
//! function, `OPERATOR(...)`, `$n` parameters, unknown columns, ...) is refused with one line
//! naming what was refused.
//!
//! The SQL that runs is rebuilt from the checked tree, never copied from the input: columns
//! are quoted with [`quote_ident`] from the catalog's spelling, literals with [`quote_literal`],
//! functions and types are qualified with `pg_catalog`, and every sub-expression is
//! parenthesised. Operators are written plainly (so `citext = ...` still means what it says);
//! the names they resolve through are returned in [`Filter::operators`] so that the server-side
//! probe can refuse a same-named operator that a user (not an extension) defined outside
//! `pg_catalog` ([`super::sql::probe_filter`]).
//!
//! Size is bounded before parsing (a count of tokens, `AND`/`OR` and parentheses), the parser's
//! recursion limit is set, and the walker refuses trees deeper than [`MAX_DEPTH`]: a 2,000-term
//! `OR` chain is an error, not a stack overflow.

use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, DateTimeField, ExactNumberInfo, Expr, FunctionArg,
    FunctionArgExpr, FunctionArguments, Ident, ObjectNamePart, TimezoneInfo, UnaryOperator, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};

use super::plan::Column;
use super::ArchiveError;
use crate::sql::{quote_ident, quote_literal};

/// Deepest expression tree the walker accepts.
pub const MAX_DEPTH: usize = 200;
/// Most `AND`/`OR` terms, and most parentheses, counted before parsing.
const MAX_TERMS: usize = 200;
/// Most tokens of a filter, counted before parsing.
const MAX_TOKENS: usize = 2_000;
/// The parser's own nesting limit (parentheses, `NOT`, unary minus).
const PARSER_RECURSION: usize = 50;

/// Functions rendered as `pg_catalog.name(...)`: immutable or stable, no side effects.
const FUNCTIONS: &[&str] = &[
    "now",
    "date_trunc",
    "lower",
    "upper",
    "length",
    "abs",
    "date_part",
    "make_interval",
    "to_timestamp",
    "age",
];
/// SQL constructs that look like functions but are keywords (no function lookup at all).
const KEYWORD_FUNCTIONS: &[&str] = &["coalesce", "greatest", "least"];
/// SQL value functions written without parentheses.
const KEYWORD_VALUES: &[&str] = &["current_date", "current_timestamp", "localtimestamp"];

/// The `--where` filter once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The SQL to embed, rebuilt from the checked tree and parenthesised.
    pub sql: String,
    /// The operator names the SQL resolves through (`=`, `<`, `~~`, ...), for the server check.
    pub operators: Vec<&'static str>,
}

/// What `--where` accepts besides columns, literals and operators (for the hint).
pub fn allowed_functions() -> String {
    let mut names: Vec<String> = FUNCTIONS
        .iter()
        .chain(KEYWORD_FUNCTIONS)
        .map(|f| format!("{f}()"))
        .collect();
    names.extend(KEYWORD_VALUES.iter().map(|v| (*v).to_string()));
    names.push("extract()".into());
    names.join(", ")
}

/// The filter text as shown in an error: whitespace collapsed, at most 80 characters.
pub(crate) fn shown(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 80 {
        format!("{}…", flat.chars().take(80).collect::<String>())
    } else {
        flat
    }
}

/// Check a `--where` text against the columns of `table` and rebuild it as SQL.
pub fn check_where(text: &str, table: &str, columns: &[Column]) -> Result<Filter, ArchiveError> {
    let bad = |why: String| ArchiveError::BadWhere {
        text: shown(text),
        why,
        table: table.to_string(),
    };
    if text.trim().is_empty() {
        return Err(bad("it is empty".into()));
    }
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, text)
        .tokenize()
        .map_err(|e| bad(e.to_string()))?;
    let (mut words, mut parens, mut all) = (0, 0, 0);
    for t in &tokens {
        match t {
            Token::Whitespace(_) => continue,
            Token::Word(w) if matches!(w.keyword, Keyword::AND | Keyword::OR) => words += 1,
            Token::LParen => parens += 1,
            _ => {}
        }
        all += 1;
    }
    if words > MAX_TERMS || parens > MAX_TERMS || all > MAX_TOKENS {
        return Err(bad(format!(
            "filter too complex (at most {MAX_TERMS} AND/OR terms, {MAX_TERMS} parentheses and {MAX_TOKENS} tokens)"
        )));
    }
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(PARSER_RECURSION)
        .with_tokens(tokens);
    let expr = parser.parse_expr().map_err(|e| match e {
        ParserError::RecursionLimitExceeded => bad("filter too complex (nested too deeply)".into()),
        e => bad(e.to_string()),
    })?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(bad(format!(
            "unexpected {} after the expression (one boolean expression only, no `;`)",
            next.token
        )));
    }
    let mut w = Writer {
        table,
        columns,
        sql: String::new(),
        operators: Vec::new(),
    };
    w.expr(&expr, 0).map_err(bad)?;
    // Every compound piece the writer emits is wrapped whole in parentheses, so a leading `(`
    // means the whole filter already is.
    if !w.sql.starts_with('(') {
        w.sql = format!("({})", w.sql);
    }
    Ok(Filter {
        sql: w.sql,
        operators: w.operators,
    })
}

/// Walks the parsed filter, refusing anything not on the allow-list, and writes the SQL.
struct Writer<'a> {
    table: &'a str,
    columns: &'a [Column],
    sql: String,
    operators: Vec<&'static str>,
}

/// A short rendering of a refused piece, for the error line.
fn piece(e: &impl std::fmt::Display) -> String {
    shown(&e.to_string())
}

impl Writer<'_> {
    fn op(&mut self, name: &'static str) {
        if !self.operators.contains(&name) {
            self.operators.push(name);
        }
    }

    fn column(&mut self, id: &Ident) -> Result<(), String> {
        let col = match id.quote_style {
            Some('"') => self.columns.iter().find(|c| c.name == id.value),
            Some(_) => None,
            None => {
                let folded = id.value.to_lowercase();
                self.columns
                    .iter()
                    .find(|c| c.name == folded)
                    .or_else(|| self.columns.iter().find(|c| c.name == id.value))
            }
        };
        let col = col.ok_or_else(|| format!("column {id} does not exist in {}", self.table))?;
        self.sql.push_str(&quote_ident(&col.name));
        Ok(())
    }

    fn literal(&mut self, v: &Value) -> Result<(), String> {
        match v {
            Value::Number(n, _) => {
                if !n
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
                {
                    return Err(format!("the number {n} is not allowed"));
                }
                self.sql.push_str(n);
            }
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => {
                self.sql.push_str(&quote_literal(s));
            }
            Value::DollarQuotedString(d) => self.sql.push_str(&quote_literal(&d.value)),
            Value::Boolean(b) => self.sql.push_str(if *b { "TRUE" } else { "FALSE" }),
            Value::Null => self.sql.push_str("NULL"),
            Value::Placeholder(p) => {
                return Err(format!(
                    "the parameter {p} is not allowed (write the value)"
                ))
            }
            other => return Err(format!("the literal {} is not allowed", piece(other))),
        }
        Ok(())
    }

    /// A string literal (the text of a typed literal such as `interval '30 days'`).
    fn string(&mut self, e: &Expr) -> Result<(), String> {
        match e {
            Expr::Value(v)
                if matches!(
                    v.value,
                    Value::SingleQuotedString(_)
                        | Value::EscapedStringLiteral(_)
                        | Value::DollarQuotedString(_)
                ) =>
            {
                self.literal(&v.value)
            }
            other => Err(format!(
                "{} is not allowed here (a quoted literal is)",
                piece(other)
            )),
        }
    }

    fn list(&mut self, items: &[Expr], depth: usize) -> Result<(), String> {
        for (i, e) in items.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.expr(e, depth)?;
        }
        Ok(())
    }

    fn binary(&mut self, l: &Expr, op: &str, r: &Expr, depth: usize) -> Result<(), String> {
        self.sql.push('(');
        self.expr(l, depth)?;
        self.sql.push(' ');
        self.sql.push_str(op);
        self.sql.push(' ');
        self.expr(r, depth)?;
        self.sql.push(')');
        Ok(())
    }

    /// `OPEN x CLOSE`: a sub-expression between fixed text.
    fn wrapped(&mut self, open: &str, x: &Expr, close: &str, depth: usize) -> Result<(), String> {
        self.sql.push_str(open);
        self.expr(x, depth)?;
        self.sql.push_str(close);
        Ok(())
    }

    /// `(x SUFFIX)`, for `IS NULL` and its kin.
    fn postfix(&mut self, x: &Expr, suffix: &str, depth: usize) -> Result<(), String> {
        self.wrapped("(", x, &format!("{suffix})"), depth)
    }

    /// `CAST('text' AS type)`: a typed string or an interval literal.
    fn cast_string(&mut self, text: &Expr, ty: &str) -> Result<(), String> {
        self.sql.push_str("CAST(");
        self.string(text)?;
        self.sql.push_str(" AS ");
        self.sql.push_str(ty);
        self.sql.push(')');
        Ok(())
    }

    fn expr(&mut self, e: &Expr, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "filter too complex (nested deeper than {MAX_DEPTH})"
            ));
        }
        let d = depth + 1;
        match e {
            Expr::Identifier(id) => self.column(id),
            Expr::CompoundIdentifier(_) => Err(format!(
                "the qualified name {} is not allowed (name a column of {} alone)",
                piece(e),
                self.table
            )),
            Expr::Value(v) => self.literal(&v.value),
            Expr::Nested(x) => self.wrapped("(", x, ")", d),
            Expr::TypedString(t) => {
                let ty = type_name(&t.data_type)?;
                self.cast_string(&Expr::Value(t.value.clone()), ty)
            }
            Expr::Interval(i) => self.interval(e, i),
            Expr::Cast {
                kind: CastKind::Cast | CastKind::DoubleColon,
                expr,
                data_type,
                format: None,
            } => {
                let ty = type_name(data_type)?;
                self.wrapped("CAST(", expr, &format!(" AS {ty})"), d)
            }
            Expr::UnaryOp { op, expr } => self.unary(*op, expr, d),
            Expr::BinaryOp { left, op, right } => {
                let sql_op = match op {
                    BinaryOperator::And => "AND",
                    BinaryOperator::Or => "OR",
                    other => {
                        let name = operator(other)
                            .ok_or_else(|| format!("the operator {other} is not allowed"))?;
                        self.op(name);
                        name
                    }
                };
                self.binary(left, sql_op, right, d)
            }
            Expr::IsNull(x) => self.postfix(x, " IS NULL", d),
            Expr::IsNotNull(x) => self.postfix(x, " IS NOT NULL", d),
            Expr::IsTrue(x) => self.postfix(x, " IS TRUE", d),
            Expr::IsNotTrue(x) => self.postfix(x, " IS NOT TRUE", d),
            Expr::IsFalse(x) => self.postfix(x, " IS FALSE", d),
            Expr::IsNotFalse(x) => self.postfix(x, " IS NOT FALSE", d),
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => self.between(expr, *negated, low, high, d),
            Expr::InList {
                expr,
                list,
                negated,
            } => self.in_list(expr, list, *negated, d),
            Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => self.like(false, *negated, expr, pattern, d),
            Expr::ILike {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => self.like(true, *negated, expr, pattern, d),
            Expr::Extract { field, expr, .. } => {
                if !extract_field(field) {
                    return Err(format!("extract({field} ...) is not allowed"));
                }
                self.wrapped(&format!("EXTRACT({field} FROM "), expr, ")", d)
            }
            Expr::Function(f) => self.function(f, d),
            Expr::Exists { .. } | Expr::Subquery(_) | Expr::InSubquery { .. } => Err(format!(
                "subqueries are not allowed ({})",
                piece(e).chars().take(40).collect::<String>()
            )),
            other => Err(format!("{} is not allowed", piece(other))),
        }
    }

    /// `interval '30 days'`; the SQL-standard forms with units outside the quotes are refused.
    fn interval(&mut self, e: &Expr, i: &sqlparser::ast::Interval) -> Result<(), String> {
        if i.leading_field.is_some()
            || i.last_field.is_some()
            || i.leading_precision.is_some()
            || i.fractional_seconds_precision.is_some()
        {
            return Err(format!(
                "{} is not allowed (write the unit inside the quotes: interval '30 days')",
                piece(e)
            ));
        }
        self.cast_string(&i.value, "pg_catalog.interval")
    }

    fn unary(&mut self, op: UnaryOperator, expr: &Expr, d: usize) -> Result<(), String> {
        let sign = match op {
            UnaryOperator::Not => return self.wrapped("(NOT ", expr, ")", d),
            UnaryOperator::Minus => "-",
            UnaryOperator::Plus => "+",
            other => return Err(format!("the operator {other} is not allowed")),
        };
        // A sign on a number literal is folded into the constant by PostgreSQL's grammar; on
        // anything else it is the prefix operator.
        let literal = matches!(expr, Expr::Value(v) if matches!(v.value, Value::Number(..)));
        if literal {
            self.wrapped(&format!("({sign}"), expr, ")", d)
        } else {
            self.op(sign);
            self.wrapped(&format!("({sign} "), expr, ")", d)
        }
    }

    fn between(
        &mut self,
        expr: &Expr,
        negated: bool,
        low: &Expr,
        high: &Expr,
        d: usize,
    ) -> Result<(), String> {
        self.op(">=");
        self.op("<=");
        let between = if negated {
            " NOT BETWEEN "
        } else {
            " BETWEEN "
        };
        self.wrapped("(", expr, between, d)?;
        self.expr(low, d)?;
        self.wrapped(" AND ", high, ")", d)
    }

    fn in_list(
        &mut self,
        expr: &Expr,
        list: &[Expr],
        negated: bool,
        d: usize,
    ) -> Result<(), String> {
        if list.is_empty() {
            return Err("an empty IN () list is not allowed".into());
        }
        self.op(if negated { "<>" } else { "=" });
        self.wrapped("(", expr, if negated { " NOT IN (" } else { " IN (" }, d)?;
        self.list(list, d)?;
        self.sql.push_str("))");
        Ok(())
    }

    fn like(
        &mut self,
        ilike: bool,
        negated: bool,
        expr: &Expr,
        pattern: &Expr,
        d: usize,
    ) -> Result<(), String> {
        let (op, name) = match (ilike, negated) {
            (false, false) => ("LIKE", "~~"),
            (false, true) => ("NOT LIKE", "!~~"),
            (true, false) => ("ILIKE", "~~*"),
            (true, true) => ("NOT ILIKE", "!~~*"),
        };
        self.op(name);
        self.binary(expr, op, pattern, d)
    }

    fn function(&mut self, f: &sqlparser::ast::Function, depth: usize) -> Result<(), String> {
        let refused = || {
            format!(
                "the function {}() is not allowed",
                shown(&f.name.to_string())
            )
        };
        let parts: Vec<&Ident> = f
            .name
            .0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => Ok(i),
                ObjectNamePart::Function(_) => Err(refused()),
            })
            .collect::<Result<_, _>>()?;
        let spelled = |i: &Ident| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_lowercase()
            }
        };
        let name = match parts.as_slice() {
            [one] => spelled(one),
            [schema, one] if spelled(schema) == "pg_catalog" => spelled(one),
            _ => return Err(refused()),
        };
        if f.uses_odbc_syntax
            || f.filter.is_some()
            || f.over.is_some()
            || f.null_treatment.is_some()
            || !f.within_group.is_empty()
            || !matches!(f.parameters, FunctionArguments::None)
        {
            return Err(refused());
        }
        let args = match &f.args {
            FunctionArguments::None => {
                let Some(kw) = KEYWORD_VALUES.iter().find(|k| **k == name) else {
                    return Err(refused());
                };
                self.sql.push_str(&kw.to_uppercase());
                return Ok(());
            }
            FunctionArguments::Subquery(_) => {
                return Err(format!("subqueries are not allowed (in {name}())"))
            }
            FunctionArguments::List(l) => {
                if l.duplicate_treatment.is_some() || !l.clauses.is_empty() {
                    return Err(refused());
                }
                l.args
                    .iter()
                    .map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e.clone()),
                        _ => Err(format!(
                            "{name}(): only plain positional arguments are allowed"
                        )),
                    })
                    .collect::<Result<Vec<Expr>, String>>()?
            }
        };
        if let Some(kw) = KEYWORD_FUNCTIONS.iter().find(|k| **k == name) {
            self.sql.push_str(&kw.to_uppercase());
        } else if let Some(func) = FUNCTIONS.iter().find(|k| **k == name) {
            self.sql.push_str("pg_catalog.");
            self.sql.push_str(func);
        } else {
            return Err(refused());
        }
        self.sql.push('(');
        self.list(&args, depth)?;
        self.sql.push(')');
        Ok(())
    }
}

/// The built-in binary operators a filter may use, by their SQL spelling.
fn operator(op: &BinaryOperator) -> Option<&'static str> {
    Some(match op {
        BinaryOperator::Eq => "=",
        BinaryOperator::NotEq => "<>",
        BinaryOperator::Lt => "<",
        BinaryOperator::LtEq => "<=",
        BinaryOperator::Gt => ">",
        BinaryOperator::GtEq => ">=",
        BinaryOperator::Plus => "+",
        BinaryOperator::Minus => "-",
        BinaryOperator::Multiply => "*",
        BinaryOperator::Divide => "/",
        BinaryOperator::Modulo => "%",
        BinaryOperator::StringConcat => "||",
        BinaryOperator::Arrow => "->",
        BinaryOperator::LongArrow => "->>",
        BinaryOperator::PGLikeMatch => "~~",
        BinaryOperator::PGILikeMatch => "~~*",
        BinaryOperator::PGNotLikeMatch => "!~~",
        BinaryOperator::PGNotILikeMatch => "!~~*",
        _ => return None,
    })
}

/// Plain built-in types a filter may cast to, as `pg_catalog` names; no `reg*` types (they
/// look objects up), no type modifiers.
fn type_name(t: &DataType) -> Result<&'static str, String> {
    use DataType as T;
    Ok(match t {
        T::SmallInt(None) | T::Int2(None) => "pg_catalog.int2",
        T::Int(None) | T::Integer(None) | T::Int4(None) => "pg_catalog.int4",
        T::BigInt(None) | T::Int8(None) => "pg_catalog.int8",
        T::Real | T::Float4 => "pg_catalog.float4",
        T::DoublePrecision | T::Float8 => "pg_catalog.float8",
        T::Numeric(ExactNumberInfo::None) | T::Decimal(ExactNumberInfo::None) => {
            "pg_catalog.numeric"
        }
        T::Bool | T::Boolean => "pg_catalog.bool",
        T::Text => "pg_catalog.text",
        T::Varchar(None) | T::CharacterVarying(None) => "pg_catalog.varchar",
        T::Uuid => "pg_catalog.uuid",
        T::Date => "pg_catalog.date",
        T::Timestamp(None, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
            "pg_catalog.timestamp"
        }
        T::Timestamp(None, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => {
            "pg_catalog.timestamptz"
        }
        T::Time(None, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => "pg_catalog.time",
        T::Interval {
            fields: None,
            precision: None,
        } => "pg_catalog.interval",
        T::JSON => "pg_catalog.json",
        T::JSONB => "pg_catalog.jsonb",
        T::Custom(name, mods) if mods.is_empty() => {
            match name.to_string().to_lowercase().as_str() {
                "timestamptz" => "pg_catalog.timestamptz",
                "int2" => "pg_catalog.int2",
                "int4" => "pg_catalog.int4",
                "int8" => "pg_catalog.int8",
                "float4" => "pg_catalog.float4",
                "float8" => "pg_catalog.float8",
                "bool" => "pg_catalog.bool",
                _ => return Err(cast_refused(t)),
            }
        }
        _ => return Err(cast_refused(t)),
    })
}

fn cast_refused(t: &DataType) -> String {
    format!(
        "a cast to {} is not allowed (only plain built-in types: integer, bigint, numeric, text, boolean, date, timestamp, timestamptz, interval, ...)",
        piece(t)
    )
}

/// Fields of `extract(field FROM x)` a filter may use.
fn extract_field(f: &DateTimeField) -> bool {
    use DateTimeField as F;
    matches!(
        f,
        F::Year
            | F::Month
            | F::Week(None)
            | F::Day
            | F::Hour
            | F::Minute
            | F::Second
            | F::Epoch
            | F::Dow
            | F::Doy
            | F::Isodow
            | F::Quarter
            | F::Century
            | F::Decade
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<Column> {
        ["id", "kind", "payload", "created_at", "Kind Of"]
            .iter()
            .map(|n| Column {
                name: (*n).into(),
                type_name: "text".into(),
                not_null: false,
                generated: false,
            })
            .collect()
    }

    fn ok(text: &str) -> String {
        check_where(text, "public.events", &cols())
            .unwrap_or_else(|e| panic!("{text:?} should pass: {e}"))
            .sql
    }

    fn refused(text: &str) -> String {
        match check_where(text, "public.events", &cols()) {
            Ok(f) => panic!("{text:?} should be refused, got {}", f.sql),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn rebuilds_age_filters_with_quoted_columns() {
        assert_eq!(
            ok("kind = 'viewed' AND ID > 5"),
            r#"(("kind" = 'viewed') AND ("id" > 5))"#
        );
        assert_eq!(
            ok("created_at < now() - interval '30 days'"),
            r#"("created_at" < (pg_catalog.now() - CAST('30 days' AS pg_catalog.interval)))"#
        );
        assert_eq!(
            ok("date_trunc('month', created_at) = timestamp '2024-01-01'"),
            r#"(pg_catalog.date_trunc('month', "created_at") = CAST('2024-01-01' AS pg_catalog.timestamp))"#
        );
        assert_eq!(ok(r#""Kind Of" <> 'x''y'"#), r#"("Kind Of" <> 'x''y')"#);
        assert_eq!(
            ok("id BETWEEN -3 AND 7 AND kind IN ('a', 'b') AND payload IS NULL"),
            r#"((("id" BETWEEN (-3) AND 7) AND ("kind" IN ('a', 'b'))) AND ("payload" IS NULL))"#
        );
        assert_eq!(
            ok("coalesce(payload, '') LIKE 'x%' AND created_at::date < current_date"),
            r#"((COALESCE("payload", '') LIKE 'x%') AND (CAST("created_at" AS pg_catalog.date) < CURRENT_DATE))"#
        );
        assert_eq!(
            ok("extract(epoch FROM created_at) > 5"),
            r#"(EXTRACT(EPOCH FROM "created_at") > 5)"#
        );
        assert_eq!(
            ok("payload->>'k' IS NULL"),
            r#"(("payload" ->> 'k') IS NULL)"#
        );
        let f = check_where("id NOT IN (1) OR kind LIKE 'x'", "t", &cols()).unwrap();
        assert_eq!(f.operators, ["<>", "~~"]);
        let f = check_where(
            "kind NOT LIKE 'a' AND kind ILIKE 'b' AND kind NOT ILIKE 'c'",
            "t",
            &cols(),
        )
        .unwrap();
        assert_eq!(
            f.sql,
            r#"((("kind" NOT LIKE 'a') AND ("kind" ILIKE 'b')) AND ("kind" NOT ILIKE 'c'))"#
        );
        assert_eq!(f.operators, ["!~~", "~~*", "!~~*"]);
    }

    #[test]
    fn refuses_everything_else_with_what_was_refused() {
        for (text, needle) in [
            (
                "EXISTS (SELECT 1 FROM pg_terminate_backend(1))",
                "subqueries",
            ),
            ("EXISTS (SELECT 1 FROM pg_sleep(5))", "subqueries"),
            ("id IN (SELECT 1)", "subqueries"),
            ("(SELECT true)", "subqueries"),
            ("lo_import('/etc/hostname') > 0", "lo_import()"),
            ("set_config('a.b', 'c', false) = 'c'", "set_config()"),
            ("pg_advisory_lock(1) IS NULL", "pg_advisory_lock()"),
            ("pg_read_file('/etc/passwd') = ''", "pg_read_file()"),
            (
                "pg_stat_statements_reset() IS NULL",
                "pg_stat_statements_reset()",
            ),
            ("public.lower(kind) = 'x'", "public.lower()"),
            ("'events'::regclass IS NOT NULL", "regclass"),
            ("id OPERATOR(pg_catalog.=) 1", "operator"),
            ("id = $1", "$1"),
            ("nope = 1", "column nope does not exist in public.events"),
            ("\"KIND\" = 'x'", "column \"KIND\""),
            ("events.kind = 'x'", "qualified"),
            ("kind ~ 'x'", "operator"),
            ("1=1; DROP TABLE events", "unexpected"),
            ("true) OR (1=1", "unexpected"),
            ("", "empty"),
        ] {
            let e = refused(text);
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn deep_or_long_filters_are_errors_not_stack_overflows() {
        let chain = vec!["id = 1"; 2000].join(" OR ");
        assert!(refused(&chain).contains("too complex"));
        let nested = format!("{}id = 1{}", "(".repeat(300), ")".repeat(300));
        assert!(refused(&nested).contains("too complex"));
        // no parentheses, no AND/OR: the parser's recursion limit (or its grammar) stops these
        for deep in [
            format!("{}true", "NOT ".repeat(1000)),
            format!("id = {}1", "- ".repeat(1000)),
        ] {
            let e = refused(&deep);
            assert!(!e.contains('\n'), "{e}");
        }
        let sum = format!("id = {}", vec!["1"; 900].join(" + "));
        assert!(refused(&sum).contains("too complex"));
        // the error shows the start of the text only
        assert!(refused(&chain).chars().count() < 300);
    }
}
