//! The one bounded parse entry: every statement text dbopt parses goes through [`parse`],
//! which refuses trees too deep to walk on a worker thread's stack, plus the tokenizer-only
//! helpers (utility statements, placeholders) that work on text the parser rejects.
//!
//! Why apart from the walker: the depth estimate is a token scan that knows sqlparser's
//! tree-building, not the shape model; keeping it here keeps both readable.

use serde::{Deserialize, Serialize};
use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{TokenWithSpan, Tokenizer};

/// A statement sqlparser could not read, with where it stopped, or one too large to analyse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ShapeError {
    pub message: String,
    /// 1-based; 0 when the parser gave no position.
    pub line: u64,
    pub column: u64,
    /// The statement nests deeper than [`MAX_DEPTH`] (see [`parse`]): not a syntax error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub too_deep: bool,
}

impl ShapeError {
    /// The error for a statement nested deeper than [`MAX_DEPTH`].
    pub fn too_deep() -> Self {
        ShapeError {
            message: format!("statement too large to analyse (nesting deeper than {MAX_DEPTH})"),
            line: 0,
            column: 0,
            too_deep: true,
        }
    }

    fn describe(&self) -> String {
        if self.too_deep {
            self.message.clone()
        } else {
            format!(
                "syntax error at line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }

    pub fn hint(&self) -> String {
        if self.too_deep {
            return "pass long lists as one array parameter (= ANY($1)) and split generated AND/OR/UNION chains into several statements".into();
        }
        "check the statement near the caret; dbopt reads PostgreSQL syntax".into()
    }

    /// The offending line of `sql` with a caret under the column, for the terminal.
    pub fn caret(&self, sql: &str) -> Option<String> {
        if self.line == 0 {
            return None;
        }
        let text = sql.lines().nth(usize::try_from(self.line - 1).ok()?)?;
        let pad = usize::try_from(self.column.saturating_sub(1)).ok()?;
        Some(format!("  {text}\n  {}^", " ".repeat(pad)))
    }

    fn from_parser(e: &ParserError) -> Self {
        let raw = match e {
            ParserError::TokenizerError(s) | ParserError::ParserError(s) => s.clone(),
            ParserError::RecursionLimitExceeded => return Self::too_deep(),
        };
        // sqlparser appends " at Line: L, Column: C" to the message.
        if let Some((head, tail)) = raw.rsplit_once(" at Line: ") {
            if let Some((l, c)) = tail.split_once(", Column: ") {
                if let (Ok(line), Ok(column)) = (l.trim().parse(), c.trim().parse()) {
                    return ShapeError {
                        message: head.to_string(),
                        line,
                        column,
                        too_deep: false,
                    };
                }
            }
        }
        ShapeError {
            message: raw,
            line: 0,
            column: 0,
            too_deep: false,
        }
    }
}

/// The deepest statement dbopt analyses, as estimated by [`nesting`].
///
/// Why a bound: sqlparser builds `a AND b AND c ...` (and `+`, `||`, UNION, ...) as a tree one
/// level deeper per term, without recursing while it parses. Everything that then walks that
/// tree recurses: our walker, sqlparser's visitor, `Display`, `Clone`, even `Drop`. A generated
/// 40,000-term AND chain or 15,000 UNION branches overflowed the stack and aborted the process.
/// 1000 levels stay well inside a 2 MiB thread stack (tokio's default for worker threads).
pub const MAX_DEPTH: usize = 1000;

/// sqlparser's own limit on its recursion (parentheses, subqueries, prefix operators): its
/// default, stated here because [`MAX_DEPTH`] assumes it.
const RECURSION_LIMIT: usize = 50;

/// Every parse of statement text in dbopt goes through here: tokenize once, refuse statements
/// deeper than [`MAX_DEPTH`] with [`ShapeError::too_deep`], then parse the tokens.
pub fn parse(sql: &str) -> Result<Vec<Statement>, ShapeError> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| ShapeError::from_parser(&e.into()))?;
    if depth_of(&tokens) > MAX_DEPTH {
        return Err(ShapeError::too_deep());
    }
    Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| ShapeError::from_parser(&e))
}

/// The estimated depth of the deepest statement of `sql` (see [`depth_of`]); 0 when it does
/// not tokenize.
pub fn nesting(sql: &str) -> usize {
    Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .map_or(0, |t| depth_of(&t))
}

/// Whether `sql` is a utility statement (DDL, SET, SHOW, VACUUM, EXPLAIN, PREPARE, COPY, ...)
/// by its first keyword, comments skipped: for texts the parser rejects, which must not be
/// reported as "cannot parse" workload statements when there is nothing to index in them.
/// False for queries and data changes, and for text that does not tokenize.
pub fn is_utility_text(sql: &str) -> bool {
    use sqlparser::tokenizer::Token;
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return false;
    };
    let first = tokens
        .iter()
        .find(|t| !matches!(t, Token::Whitespace(_) | Token::LParen));
    match first {
        Some(Token::Word(w)) => !matches!(
            w.value.to_ascii_uppercase().as_str(),
            "SELECT" | "WITH" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "VALUES" | "TABLE"
        ),
        _ => false,
    }
}

/// Whether `sql` is small enough to analyse: [`ShapeError::too_deep`] when it nests deeper
/// than [`MAX_DEPTH`]. For callers that parse statement text their own way (an expression).
pub fn check_depth(sql: &str) -> Result<(), ShapeError> {
    if nesting(sql) > MAX_DEPTH {
        Err(ShapeError::too_deep())
    } else {
        Ok(())
    }
}

/// Operator classes, loosest binding first: a run of one class ends at an operator of a
/// looser one (`a = 1 AND b = 2` is one AND chain of terms one `=` deep).
const OR: usize = 0;
const AND: usize = 1;
const COMPARISON: usize = 2;
const OTHER: usize = 3;

/// What one parenthesised group (or the statement itself) contributes to the depth.
#[derive(Default)]
struct Group {
    /// Per class: operators in the current run, and the longest run.
    run: [usize; 4],
    longest: [usize; 4],
    /// UNION, INTERSECT, EXCEPT: each is one more level over its left side.
    set_ops: usize,
    /// The deepest group nested in this one.
    inner: usize,
}

impl Group {
    fn depth(&self) -> usize {
        self.set_ops + self.longest.iter().sum::<usize>() + self.inner
    }

    fn end_expression(&mut self) {
        self.run = [0; 4];
    }

    fn operator(&mut self, class: usize) {
        for r in &mut self.run[class + 1..] {
            *r = 0;
        }
        self.run[class] += 1;
        self.longest[class] = self.longest[class].max(self.run[class]);
    }
}

/// An upper estimate of the depth of sqlparser's tree for the deepest statement in `tokens`,
/// in one pass: per parenthesised group, the longest chain of each operator class plus the
/// set operations, plus the deepest group inside it.
fn depth_of(tokens: &[TokenWithSpan]) -> usize {
    use sqlparser::keywords::Keyword as K;
    use sqlparser::tokenizer::Token as T;
    let mut stack = vec![Group::default()];
    let mut deepest = 0;
    let close = |stack: &mut Vec<Group>| {
        if stack.len() > 1 {
            if let (Some(g), Some(outer)) = (stack.pop(), stack.last_mut()) {
                outer.inner = outer.inner.max(g.depth() + 1);
            }
        }
    };
    for t in tokens {
        let outermost = stack.len() == 1;
        let Some(g) = stack.last_mut() else { break };
        match &t.token {
            T::LParen | T::LBracket => stack.push(Group::default()),
            T::RParen | T::RBracket => close(&mut stack),
            T::Comma => g.end_expression(),
            T::SemiColon if outermost => {
                deepest = deepest.max(g.depth());
                *g = Group::default();
            }
            T::Word(w) => match w.keyword {
                K::OR => g.operator(OR),
                K::AND | K::XOR => g.operator(AND),
                K::LIKE | K::ILIKE | K::SIMILAR | K::IS | K::IN | K::BETWEEN => {
                    g.operator(COMPARISON)
                }
                K::COLLATE | K::AT => g.operator(OTHER),
                K::UNION | K::INTERSECT | K::EXCEPT => {
                    g.set_ops += 1;
                    g.end_expression();
                }
                K::SELECT
                | K::FROM
                | K::WHERE
                | K::GROUP
                | K::HAVING
                | K::ORDER
                | K::LIMIT
                | K::OFFSET
                | K::ON
                | K::JOIN
                | K::SET
                | K::VALUES
                | K::RETURNING => g.end_expression(),
                _ => {}
            },
            T::Eq | T::DoubleEq | T::Neq | T::Lt | T::Gt | T::LtEq | T::GtEq | T::Spaceship => {
                g.operator(COMPARISON)
            }
            T::Whitespace(_)
            | T::Number(..)
            | T::Char(_)
            | T::Placeholder(_)
            | T::Period
            | T::SemiColon
            | T::EOF => {}
            t if is_literal(t) => {}
            // Any other symbol is an operator of some kind (`+`, `||`, `::`, `->`, ...).
            _ => g.operator(OTHER),
        }
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    stack.last().map_or(deepest, |g| deepest.max(g.depth()))
}

/// String and other literal tokens.
fn is_literal(t: &sqlparser::tokenizer::Token) -> bool {
    use sqlparser::tokenizer::Token as T;
    matches!(
        t,
        T::SingleQuotedString(_)
            | T::DoubleQuotedString(_)
            | T::EscapedStringLiteral(_)
            | T::NationalStringLiteral(_)
            | T::HexStringLiteral(_)
            | T::UnicodeStringLiteral(_)
            | T::DollarQuotedString(_)
            | T::SingleQuotedByteStringLiteral(_)
            | T::DoubleQuotedByteStringLiteral(_)
            | T::TripleSingleQuotedString(_)
            | T::TripleDoubleQuotedString(_)
            | T::SingleQuotedRawStringLiteral(_)
            | T::DoubleQuotedRawStringLiteral(_)
    )
}

/// The highest parameter number PostgreSQL accepts (the protocol counts them in 16 bits).
pub const MAX_PARAMETER: usize = 65_535;

/// The highest `$n` placeholder in `sql` (0 when none), at most [`MAX_PARAMETER`]. Uses the
/// tokenizer only, so it works on statements the parser rejects.
pub fn placeholders(sql: &str) -> usize {
    use sqlparser::tokenizer::Token;
    // Digits beyond any integer type are as far beyond PostgreSQL's limit as `$65536`.
    let from_token = |t: &str| {
        let digits = t.strip_prefix('$')?;
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| {
            digits
                .parse::<usize>()
                .unwrap_or(usize::MAX)
                .min(MAX_PARAMETER)
        })
    };
    match Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() {
        Ok(tokens) => tokens
            .iter()
            .filter_map(|t| match t {
                Token::Placeholder(p) => from_token(p),
                _ => None,
            })
            .max()
            .unwrap_or(0),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::shape::extract;

    #[test]
    fn utility_texts_by_first_keyword() {
        for u in [
            "VACUUM (ANALYZE) t",
            "set plan_cache_mode = force_generic_plan",
            "/* dbopt */ EXPLAIN (FORMAT JSON) EXECUTE p(NULL)",
            "-- note\nDEALLOCATE ALL",
            "PREPARE p AS SELECT 1",
            "CREATE FUNCTION f() RETURNS int LANGUAGE C AS 'x'",
        ] {
            assert!(is_utility_text(u), "{u}");
        }
        for q in [
            "SELECT 1",
            "(select 1) union (select 2)",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "/* app */ update t set a = 1",
            "'unterminated",
            "",
        ] {
            assert!(!is_utility_text(q), "{q}");
        }
    }

    #[test]
    fn shape_counts_placeholders() {
        assert_eq!(placeholders("SELECT $2, '$9' FROM t WHERE a = $1"), 2);
        assert_eq!(placeholders("SELECT 1"), 0);
        assert_eq!(
            placeholders("SELECT * FROM t WHERE a = $1 AND b IN ($3, $2) LIMIT $10"),
            10
        );
        assert_eq!(placeholders("SELECT '$' || $1"), 1);
    }

    #[test]
    fn shape_syntax_error_has_position() {
        let e = extract("SELECT *\nFROM t WHERE a = = 1").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.column > 1);
        let caret = e.caret("SELECT *\nFROM t WHERE a = = 1").unwrap();
        assert!(caret.ends_with('^'), "{caret}");
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;
    use crate::workload::shape::extract;

    fn chain(n: usize, term: impl Fn(usize) -> String, op: &str) -> String {
        (0..n).map(term).collect::<Vec<_>>().join(op)
    }

    fn where_chain(n: usize, op: &str) -> String {
        format!(
            "SELECT * FROM t WHERE {}",
            chain(n, |i| format!("a = {i}"), op)
        )
    }

    /// `extract` on a thread with a 2 MiB stack (tokio's worker default), as `queries` and
    /// `advise` run it: Ok or too deep, never a stack overflow (which aborts the process).
    fn on_small_stack(sql: String) -> Result<usize, ShapeError> {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || extract(&sql).map(|v| v.len()))
            .expect("spawn")
            .join()
            .expect("no panic")
    }

    #[test]
    fn ten_thousand_term_chains_on_a_2_mib_stack_are_too_deep() {
        let union = chain(
            10_000,
            |i| format!("SELECT id FROM t WHERE a = {i}"),
            " UNION ",
        );
        let plus = format!("SELECT {} FROM t", chain(10_000, |i| i.to_string(), " + "));
        let concat = format!("SELECT {} FROM t", chain(10_000, |_| "b".into(), " || "));
        let casts = format!("SELECT a{} FROM t", "::int".repeat(10_000));
        let arrows = format!("SELECT j{} FROM t", " -> 'k'".repeat(10_000));
        for sql in [
            where_chain(10_000, " AND "),
            where_chain(10_000, " OR "),
            union,
            plus,
            concat,
            casts,
            arrows,
        ] {
            let head: String = sql.chars().take(40).collect();
            let e = on_small_stack(sql).expect_err(&head);
            assert!(e.too_deep, "{head}: {e}");
            assert_eq!(
                e.to_string(),
                "statement too large to analyse (nesting deeper than 1000)"
            );
        }
    }

    #[test]
    fn statements_just_inside_the_limit_are_shaped_on_a_2_mib_stack() {
        for sql in [
            where_chain(900, " AND "),
            where_chain(900, " OR "),
            chain(
                900,
                |i| format!("SELECT id FROM t WHERE a = {i}"),
                " UNION ",
            ),
            format!(
                "SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE {})",
                chain(900, |i| format!("c = {i}"), " AND ")
            ),
        ] {
            let head: String = sql.chars().take(40).collect();
            assert_eq!(on_small_stack(sql).expect(&head), 1, "{head}");
        }
    }

    #[test]
    fn depth_counts_chains_groups_and_set_operations() {
        assert!(nesting("SELECT 1") <= 2);
        // A 100,000-value list is wide, not deep.
        let list = format!(
            "SELECT * FROM t WHERE id IN ({})",
            chain(100_000, |i| i.to_string(), ", ")
        );
        assert!(nesting(&list) < 5, "{}", nesting(&list));
        // 500 conjuncts of one `=` each: 500 ANDs over terms one level deep.
        let d = nesting(&where_chain(500, " AND "));
        assert!((500..=505).contains(&d), "{d}");
        // Nested groups add up: the inner chain sits under the outer one.
        let nested = format!(
            "SELECT * FROM t WHERE {} AND ({})",
            chain(600, |i| format!("a = {i}"), " AND "),
            chain(600, |i| format!("b = {i}"), " OR ")
        );
        assert!(nesting(&nested) > MAX_DEPTH);
        assert!(check_depth(&nested).unwrap_err().too_deep);
        // Statements of a script are separate.
        let two = format!(
            "{};{}",
            where_chain(600, " AND "),
            where_chain(600, " AND ")
        );
        assert!(check_depth(&two).is_ok());
        assert!(extract(&two).is_ok());
    }

    #[test]
    fn the_parser_recursion_limit_is_too_deep_too() {
        let sql = format!("SELECT {}1{}", "(".repeat(200), ")".repeat(200));
        let e = extract(&sql).unwrap_err();
        assert!(e.too_deep, "{e}");
        assert_eq!(e.line, 0);
    }

    #[test]
    fn placeholders_are_capped_at_postgresql_limit() {
        assert_eq!(placeholders("SELECT $65535"), 65_535);
        assert_eq!(placeholders("SELECT $70000, $1"), MAX_PARAMETER);
        assert_eq!(
            placeholders("SELECT $99999999999999999999999999"),
            MAX_PARAMETER
        );
    }
}
