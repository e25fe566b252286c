//! Query shapes: what a statement asks of each table it reads, in the terms an index advisor
//! needs (equality columns, range columns, sort keys, joined columns, columns read, LIMIT).
//!
//! Why a shape and not the SQL: index advice works on *access patterns*. `WHERE o.status = $1
//! AND o.created_at > $2 ORDER BY o.created_at DESC LIMIT 50` is "equality on status, range and
//! descending sort on created_at, first 50 rows", whatever the aliases, quoting or parameter
//! numbers. Every sqlparser type stays inside this file: sqlparser's AST changes between minor
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

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};
use sqlparser::ast::{
    BinaryOperator, Expr, FromTable, GroupByExpr, JoinConstraint, JoinOperator, LimitClause,
    ObjectName, OrderByExpr, OrderByKind, OrderBySort, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor, TableObject, TableWithJoins,
    UnaryOperator, UpdateTableFromKind, Value, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{TokenWithSpan, Tokenizer};

use crate::catalog::{Catalog, TableKind};

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

// ---------------------------------------------------------------------------------------------
// Parsing, with a bound on the depth of the tree

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
/// that one statement the parser rejects does not take the rest of a file with it.
pub fn split(script: &str) -> Vec<&str> {
    fn push<'s>(script: &'s str, from: usize, to: usize, out: &mut Vec<&'s str>) {
        let stmt = script[from..to].trim();
        let only_comments = stmt
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"));
        if !only_comments {
            out.push(stmt);
        }
    }
    let b = script.as_bytes();
    let (mut out, mut start, mut i) = (Vec::new(), 0, 0);
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                // $tag$ ... $tag$ (not $1)
                let tag_end = script[i + 1..].find('$').map(|k| i + 1 + k).filter(|&e| {
                    script[i + 1..e]
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_')
                        && !script[i + 1..e].starts_with(|c: char| c.is_ascii_digit())
                });
                if let Some(e) = tag_end {
                    let tag = &script[i..=e];
                    match script[e + 1..].find(tag) {
                        Some(k) => i = e + 1 + k + tag.len() - 1,
                        None => i = b.len(),
                    }
                }
            }
            b';' => {
                push(script, start, i, &mut out);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < b.len() {
        push(script, start, b.len(), &mut out);
    }
    out
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

/// Whether the statement changes data (INSERT/UPDATE/DELETE/MERGE, also inside a CTE) or locks
/// rows (`FOR UPDATE`): it then needs a writable transaction.
pub fn is_data_modifying(shape: &Shape) -> bool {
    !matches!(shape.kind, StatementKind::Select | StatementKind::Utility)
        || shape.locking
        || shape.accesses.iter().any(|a| a.target)
}

fn shape_of(stmt: &Statement) -> Shape {
    let mut w = Walker::default();
    let kind = match stmt {
        Statement::Query(q) => {
            w.query(q, true);
            match q.body.as_ref() {
                SetExpr::Insert(_) => StatementKind::Insert,
                SetExpr::Update(_) => StatementKind::Update,
                SetExpr::Delete(_) => StatementKind::Delete,
                SetExpr::Merge(_) => StatementKind::Merge,
                _ => StatementKind::Select,
            }
        }
        Statement::Insert(_) => StatementKind::Insert,
        Statement::Update(_) => StatementKind::Update,
        Statement::Delete(_) => StatementKind::Delete,
        Statement::Merge(_) => StatementKind::Merge,
        _ => StatementKind::Utility,
    };
    if !matches!(stmt, Statement::Query(_)) && kind != StatementKind::Utility {
        w.statement(stmt);
    }
    w.finish(kind)
}

// ---------------------------------------------------------------------------------------------
// The walker

/// What a name in a FROM list stands for.
#[derive(Debug, Clone, Copy)]
enum Binding {
    /// A base table: an index into `accesses`.
    Table(usize),
    /// A CTE, derived table or function: its columns are not a base table's.
    Opaque,
}

#[derive(Debug, Default)]
struct Scope {
    names: Vec<(String, Binding)>,
}

impl Scope {
    fn tables(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .names
            .iter()
            .filter_map(|(_, b)| match b {
                Binding::Table(i) => Some(*i),
                Binding::Opaque => None,
            })
            .collect();
        v.dedup();
        v
    }
    fn is_single_table(&self) -> bool {
        self.names.len() == 1 && matches!(self.names[0].1, Binding::Table(_))
    }
}

/// A column reference resolved against the scope stack.
#[derive(Debug, Clone, PartialEq)]
enum Col {
    At(usize, String),
    /// Unqualified, several tables in the innermost scope.
    Ambiguous(Vec<usize>, String),
    /// A CTE's or subquery's column, or an unknown qualifier.
    Opaque,
}

#[derive(Default)]
struct Walker {
    accesses: Vec<TableAccess>,
    scopes: Vec<Scope>,
    /// WITH names in scope; a CTE that passes one table's rows through binds to that table.
    ctes: Vec<HashMap<String, Binding>>,
    limit: Option<String>,
    offset: Option<String>,
    locking: bool,
    group_by: Vec<ColumnRef>,
    unattributed: Vec<Unattributed>,
    /// Top-level GROUP BY as access indexes, named at the end.
    group_by_cols: Vec<Col>,
}

fn ident_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| {
            p.as_ident()
                .map(|i| i.value.clone())
                .unwrap_or_else(|| p.to_string())
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn last_part(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

fn join_constraint(op: &JoinOperator) -> Option<&JoinConstraint> {
    use JoinOperator::*;
    match op {
        Join(c) | Inner(c) | Left(c) | LeftOuter(c) | Right(c) | RightOuter(c) | FullOuter(c)
        | CrossJoin(c) | Semi(c) | LeftSemi(c) | RightSemi(c) | Anti(c) | LeftAnti(c)
        | RightAnti(c) | StraightJoin(c) => Some(c),
        _ => None,
    }
}

impl Walker {
    fn finish(mut self, kind: StatementKind) -> Shape {
        for c in std::mem::take(&mut self.group_by_cols) {
            match c {
                Col::At(i, column) => self.group_by.push(ColumnRef {
                    table: Some(self.accesses[i].table.clone()),
                    column,
                }),
                Col::Ambiguous(_, column) => self.group_by.push(ColumnRef {
                    table: None,
                    column,
                }),
                Col::Opaque => {}
            }
        }
        for a in &mut self.accesses {
            dedup(&mut a.join_keys);
            dedup(&mut a.selected);
        }
        Shape {
            kind,
            accesses: self.accesses,
            limit: self.limit,
            offset: self.offset,
            locking: self.locking,
            group_by: self.group_by,
            unknown_tables: Vec::new(),
            unattributed: self.unattributed,
        }
    }

    fn cte(&self, name: &ObjectName) -> Option<Binding> {
        if name.0.len() != 1 {
            return None;
        }
        let n = last_part(name);
        self.ctes.iter().rev().find_map(|s| s.get(&n).copied())
    }

    fn statement(&mut self, stmt: &Statement) {
        match stmt {
            Statement::Query(q) => {
                self.query(q, false);
            }
            Statement::Insert(ins) => {
                if let TableObject::TableName(name) = &ins.table {
                    let i = self.push_access(
                        name,
                        ins.table_alias.as_ref().map(|a| a.alias.value.clone()),
                    );
                    self.accesses[i].target = true;
                }
                if let Some(src) = &ins.source {
                    self.query(src, false);
                }
            }
            Statement::Update(u) => {
                let mut scope = Scope::default();
                self.add_from(&u.table, &mut scope);
                if let Some(Binding::Table(i)) = scope.names.first().map(|n| n.1) {
                    self.accesses[i].target = true;
                }
                if let Some(UpdateTableFromKind::BeforeSet(f) | UpdateTableFromKind::AfterSet(f)) =
                    &u.from
                {
                    for t in f {
                        self.add_from(t, &mut scope);
                    }
                }
                self.scopes.push(scope);
                for a in &u.assignments {
                    self.read_columns(&a.value);
                }
                if let Some(sel) = &u.selection {
                    self.conjuncts(sel);
                }
                self.returning(u.returning.as_deref());
                self.scopes.pop();
            }
            Statement::Delete(d) => {
                let mut scope = Scope::default();
                let (FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f)) = &d.from;
                for t in f {
                    self.add_from(t, &mut scope);
                }
                for (_, b) in &scope.names {
                    if let Binding::Table(i) = b {
                        self.accesses[*i].target = true;
                    }
                }
                for t in d.using.iter().flatten() {
                    self.add_from(t, &mut scope);
                }
                self.scopes.push(scope);
                if let Some(sel) = &d.selection {
                    self.conjuncts(sel);
                }
                self.returning(d.returning.as_deref());
                self.scopes.pop();
            }
            Statement::Merge(m) => {
                let mut scope = Scope::default();
                self.factor(&m.table, &mut scope);
                if let Some(Binding::Table(i)) = scope.names.first().map(|n| n.1) {
                    self.accesses[i].target = true;
                }
                self.factor(&m.source, &mut scope);
                self.scopes.push(scope);
                self.conjuncts(&m.on);
                self.scopes.pop();
            }
            _ => {}
        }
    }

    fn returning(&mut self, items: Option<&[SelectItem]>) {
        for item in items.unwrap_or_default() {
            self.select_item(item);
        }
    }

    fn push_access(&mut self, name: &ObjectName, alias: Option<String>) -> usize {
        self.accesses.push(TableAccess {
            table: ident_name(name),
            alias,
            ..Default::default()
        });
        self.accesses.len() - 1
    }

    /// Walks a query; returns the table whose rows it passes through unchanged (one table, plain
    /// columns, no grouping), so that a CTE or derived table over it can be seen through.
    fn query(&mut self, q: &Query, top: bool) -> Option<usize> {
        self.locking |= !q.locks.is_empty();
        let mut names = HashMap::new();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                // A CTE sees the CTEs before it (and itself, when recursive).
                let name = cte.alias.name.value.clone();
                names.insert(name.clone(), Binding::Opaque);
                self.ctes.push(names.clone());
                let through = self.query(&cte.query, false);
                self.ctes.pop();
                if let (Some(i), true) = (through, cte.alias.columns.is_empty()) {
                    names.insert(name, Binding::Table(i));
                }
            }
        }
        self.ctes.push(names);
        let body_scope = self.set_expr(&q.body, top);
        let mut through = None;
        // ORDER BY and LIMIT hang off the query; they see the body's scope (when one SELECT).
        let limit = match &q.limit_clause {
            Some(LimitClause::LimitOffset { limit, offset, .. }) => (
                limit.as_ref().map(ToString::to_string),
                offset.as_ref().map(|o| o.value.to_string()),
            ),
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                (Some(limit.to_string()), Some(offset.to_string()))
            }
            None => (None, None),
        };
        let limit = (
            limit.0.or_else(|| {
                q.fetch
                    .as_ref()
                    .map(|f| f.quantity.as_ref().map_or("1".into(), ToString::to_string))
            }),
            limit.1,
        );
        if let Some((scope, simple, plain)) = body_scope {
            if let (true, true, [(_, Binding::Table(i))]) = (simple, plain, &scope.names[..]) {
                through = Some(*i);
            }
            self.scopes.push(scope);
            if let Some(ob) = &q.order_by {
                if let OrderByKind::Expressions(exprs) = &ob.kind {
                    let aliases = match q.body.as_ref() {
                        SetExpr::Select(s) => output_aliases(s),
                        _ => HashSet::new(),
                    };
                    self.order_by(exprs, &aliases);
                }
            }
            if limit.0.is_some() && simple {
                if let [(_, Binding::Table(i))] =
                    self.scopes.last().map_or(&[][..], |s| &s.names[..])
                {
                    self.accesses[*i].limit_applies = true;
                }
            }
            self.scopes.pop();
        }
        let limited = limit.0.is_some();
        if top {
            self.limit = limit.0;
            self.offset = limit.1;
        }
        self.ctes.pop();
        through.filter(|_| !limited)
    }

    /// Walks a query body; for a single SELECT returns its scope and whether LIMIT would apply
    /// to its one table directly (no grouping, no DISTINCT, no aggregation visible).
    fn set_expr(&mut self, body: &SetExpr, top: bool) -> Option<(Scope, bool, bool)> {
        match body {
            SetExpr::Select(s) => Some(self.select(s, top)),
            SetExpr::Query(q) => {
                self.query(q, false);
                None
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left, false);
                self.set_expr(right, false);
                None
            }
            SetExpr::Values(v) => {
                for row in &v.rows {
                    for e in &row.content {
                        self.read_columns(e);
                    }
                }
                None
            }
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => {
                self.statement(s);
                None
            }
            _ => None,
        }
    }

    fn select(&mut self, s: &Select, top: bool) -> (Scope, bool, bool) {
        let mut scope = Scope::default();
        for t in &s.from {
            self.add_from(t, &mut scope);
        }
        self.scopes.push(scope);
        for t in &s.from {
            for j in &t.joins {
                match join_constraint(&j.join_operator) {
                    Some(JoinConstraint::On(on)) => self.conjuncts(on),
                    Some(JoinConstraint::Using(cols)) => self.using(j, cols),
                    _ => {}
                }
            }
        }
        for item in &s.projection {
            self.select_item(item);
        }
        if let Some(sel) = &s.selection {
            self.conjuncts(sel);
        }
        let mut grouped = false;
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            grouped = !exprs.is_empty();
            let aliases = output_aliases(s);
            for e in exprs {
                if matches!(e, Expr::Identifier(id) if aliases.contains(&id.value)) {
                    continue;
                }
                self.read_columns(e);
                if top {
                    let c = self.column(e);
                    if let Some(c) = c {
                        self.group_by_cols.push(c);
                    }
                }
            }
        }
        if let Some(h) = &s.having {
            self.read_columns(h);
        }
        let scope = self.scopes.pop().unwrap_or_default();
        let simple = !grouped && s.distinct.is_none() && scope.is_single_table();
        let plain = s.projection.iter().all(|p| match p {
            SelectItem::UnnamedExpr(e) => bare(e).is_some(),
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => true,
            _ => false,
        });
        (scope, simple, plain)
    }

    /// `JOIN b USING (k)`: k is a join key of b and of the table(s) before it.
    fn using(&mut self, j: &sqlparser::ast::Join, cols: &[ObjectName]) {
        let right = match &j.relation {
            TableFactor::Table { name, alias, .. } => Some(
                alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_else(|| last_part(name)),
            ),
            _ => None,
        };
        let scope = self
            .scopes
            .last()
            .map(|s| s.names.clone())
            .unwrap_or_default();
        for col in cols {
            let c = last_part(col);
            for (n, b) in &scope {
                if let Binding::Table(i) = b {
                    let is_right = right.as_deref() == Some(n.as_str());
                    let before = scope
                        .iter()
                        .position(|(m, _)| Some(m.as_str()) == right.as_deref())
                        .is_none_or(|rp| scope.iter().position(|(m, _)| m == n) < Some(rp));
                    if is_right || before {
                        self.accesses[*i].join_keys.push(c.clone());
                    }
                }
            }
        }
    }

    fn add_from(&mut self, t: &TableWithJoins, scope: &mut Scope) {
        self.factor(&t.relation, scope);
        for j in &t.joins {
            self.factor(&j.relation, scope);
        }
    }

    fn factor(&mut self, f: &TableFactor, scope: &mut Scope) {
        match f {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                let alias_name = alias.as_ref().map(|a| a.name.value.clone());
                let key = alias_name.clone().unwrap_or_else(|| last_part(name));
                if let Some(b) = self.cte(name) {
                    scope.names.push((key, b));
                } else if args.is_some() {
                    scope.names.push((key, Binding::Opaque));
                } else {
                    let i = self.push_access(name, alias_name);
                    scope.names.push((key, Binding::Table(i)));
                }
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                // LATERAL subqueries may reference the tables before them.
                self.scopes.push(Scope {
                    names: scope.names.clone(),
                });
                let through = self.query(subquery, false);
                self.scopes.pop();
                if let Some(a) = alias {
                    let b = match through {
                        Some(i) if a.columns.is_empty() => Binding::Table(i),
                        _ => Binding::Opaque,
                    };
                    scope.names.push((a.name.value.clone(), b));
                }
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                self.add_from(table_with_joins, scope);
                self.scopes.push(Scope {
                    names: scope.names.clone(),
                });
                for j in &table_with_joins.joins {
                    if let Some(JoinConstraint::On(on)) = join_constraint(&j.join_operator) {
                        self.conjuncts(on);
                    }
                }
                self.scopes.pop();
            }
            other => {
                // Table functions, UNNEST, ...: their arguments may read columns.
                let _ = other.visit(&mut Collector::walking(self));
            }
        }
    }

    fn select_item(&mut self, item: &SelectItem) {
        match item {
            SelectItem::UnnamedExpr(e)
            | SelectItem::ExprWithAlias { expr: e, .. }
            | SelectItem::ExprWithAliases { expr: e, .. } => self.read_columns(e),
            SelectItem::Wildcard(_) => {
                for i in self.scopes.last().map(Scope::tables).unwrap_or_default() {
                    self.accesses[i].selected.push("*".into());
                }
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _) => {
                if let Some(Binding::Table(i)) = self.lookup(&last_part(n)) {
                    self.accesses[i].selected.push("*".into());
                }
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(e), _) => {
                self.read_columns(e)
            }
        }
    }

    /// `aliases`: output column names, which ORDER BY prefers over input columns.
    fn order_by(&mut self, exprs: &[OrderByExpr], aliases: &HashSet<String>) {
        let mut keys = Vec::new();
        let mut table = None;
        let mut whole = true;
        for e in exprs {
            if matches!(&e.expr, Expr::Identifier(id) if aliases.contains(&id.value)) {
                whole = false;
                continue;
            }
            self.read_columns(&e.expr);
            match self.column(&e.expr) {
                Some(Col::At(i, column)) if table.is_none_or(|t| t == i) => {
                    table = Some(i);
                    keys.push(OrderKey {
                        column,
                        desc: matches!(e.options.sort, Some(OrderBySort::Desc)),
                        nulls_first: e.options.nulls_first,
                    });
                }
                _ => whole = false,
            }
        }
        if let (true, Some(i)) = (whole, table) {
            self.accesses[i].order_by = keys;
        }
    }

    fn lookup(&self, qualifier: &str) -> Option<Binding> {
        self.scopes.iter().rev().find_map(|s| {
            s.names
                .iter()
                .rev()
                .find(|(n, _)| n == qualifier)
                .map(|(_, b)| *b)
        })
    }

    /// A bare or qualified column, resolved; None for anything else.
    fn column(&self, e: &Expr) -> Option<Col> {
        match e {
            Expr::Identifier(id) => {
                let scope = self.scopes.last()?;
                if scope.names.len() == 1 {
                    return Some(match scope.names[0].1 {
                        Binding::Table(i) => Col::At(i, id.value.clone()),
                        Binding::Opaque => Col::Opaque,
                    });
                }
                let tables = scope.tables();
                match tables.len() {
                    0 => Some(Col::Opaque),
                    _ => Some(Col::Ambiguous(tables, id.value.clone())),
                }
            }
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let qual = &parts[parts.len() - 2].value;
                let column = parts[parts.len() - 1].value.clone();
                Some(match self.lookup(qual) {
                    Some(Binding::Table(i)) => Col::At(i, column),
                    _ => Col::Opaque,
                })
            }
            Expr::Nested(inner) => self.column(inner),
            _ => None,
        }
    }

    /// Columns of `e` outside subqueries, resolved; subqueries are walked as queries.
    fn columns_in(&mut self, e: &Expr) -> Vec<Col> {
        let mut c = Collector::walking(self);
        let _ = e.visit(&mut c);
        let columns = c.columns;
        columns.iter().filter_map(|x| self.column(x)).collect()
    }

    /// Record the columns `e` reads as `selected` of their tables.
    fn read_columns(&mut self, e: &Expr) {
        for c in self.columns_in(e) {
            self.mark_read(c);
        }
    }

    /// Leave an unqualified column for `resolve` to attribute: to one of `candidates` (the
    /// innermost scope), else to the nearest enclosing scope that has it.
    fn defer(&mut self, candidates: Vec<usize>, column: String, role: UnattributedRole) {
        let n = self.scopes.len().saturating_sub(1);
        let outer = self.scopes[..n]
            .iter()
            .rev()
            .map(Scope::tables)
            .filter(|t| !t.is_empty())
            .collect();
        self.unattributed.push(Unattributed {
            candidates,
            column,
            role,
            outer,
        });
    }

    fn mark_read(&mut self, c: Col) {
        match c {
            Col::At(i, name) => self.accesses[i].selected.push(name),
            Col::Ambiguous(candidates, column) => {
                self.defer(candidates, column, UnattributedRole::Selected);
            }
            Col::Opaque => {}
        }
    }

    fn conjuncts(&mut self, e: &Expr) {
        match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                self.conjuncts(left);
                self.conjuncts(right);
            }
            Expr::Nested(inner) => self.conjuncts(inner),
            Expr::BinaryOp {
                op: BinaryOperator::Or,
                ..
            } => {
                // `(A AND B) OR (A AND C)` is `A AND (B OR C)`: the planner factors out what
                // every arm shares (prepqual.c), TPC-H Q19's join key among it.
                let arms = chain(e, &BinaryOperator::Or);
                let texts: Vec<Vec<String>> = arms
                    .iter()
                    .map(|a| {
                        chain(a, &BinaryOperator::And)
                            .iter()
                            .map(ToString::to_string)
                            .collect()
                    })
                    .collect();
                for t in chain(arms[0], &BinaryOperator::And) {
                    let text = t.to_string();
                    if texts[1..].iter().all(|arm| arm.contains(&text)) {
                        self.conjunct(t);
                    }
                }
                self.conjunct(e);
            }
            _ => self.conjunct(e),
        }
    }

    /// The column a semi-join subquery returns is a join key of its table.
    fn semi_join_key(&mut self, q: &Query, first_new_access: usize) {
        let SetExpr::Select(sel) = q.body.as_ref() else {
            return;
        };
        let [SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }] =
            &sel.projection[..]
        else {
            return;
        };
        let (qualifier, column) = match e {
            Expr::Identifier(id) => (None, id.value.clone()),
            Expr::CompoundIdentifier(p) if p.len() >= 2 => (
                Some(p[p.len() - 2].value.clone()),
                p[p.len() - 1].value.clone(),
            ),
            _ => return,
        };
        let own: Vec<usize> = (first_new_access..self.accesses.len())
            .filter(|&i| {
                qualifier.as_ref().is_none_or(|qn| {
                    self.accesses[i].alias.as_ref() == Some(qn)
                        || self.accesses[i].table.rsplit('.').next() == Some(qn.as_str())
                })
            })
            .collect();
        if let [i] = own[..] {
            self.accesses[i].join_keys.push(column);
        }
    }

    fn conjunct(&mut self, mut e: &Expr) {
        // pg_get_viewdef and ORMs wrap conditions in parentheses: ((c.id = o.customer_id)).
        while let Expr::Nested(inner) = e {
            e = inner;
        }
        let before = self.accesses.len();
        let cols = self.columns_in(e);
        // `x IN (SELECT y FROM t ...)` is a semi-join on x = y: y is a join key of t.
        if let Expr::InSubquery {
            subquery,
            negated: false,
            ..
        } = e
        {
            self.semi_join_key(subquery, before);
        }
        // A join key: column = column of two different tables.
        if let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = e
        {
            // Inside a subquery an unqualified name may be the outer query's column
            // (`EXISTS (SELECT 1 FROM lineitem WHERE l_orderkey = o_orderkey)`): with one
            // table in the inner scope both sides bind to it here; `resolve` decides with the
            // catalog which scope each belongs to.
            if let (Some(Col::At(a, ca)), Some(Col::At(b, cb))) =
                (self.column(left), self.column(right))
            {
                let unqualified = |x: &Expr| matches!(x, Expr::Identifier(_));
                let has_outer = self.scopes.len() > 1
                    && self.scopes[..self.scopes.len() - 1]
                        .iter()
                        .any(|sc| !sc.tables().is_empty());
                if a == b && ca != cb && has_outer && (unqualified(left) || unqualified(right)) {
                    for (x, c) in [(left, ca), (right, cb)] {
                        if unqualified(x) {
                            self.defer(vec![a], c, UnattributedRole::JoinKey);
                        } else {
                            self.accesses[a].join_keys.push(c.clone());
                            self.accesses[a].selected.push(c);
                        }
                    }
                    return;
                }
            }
            match (self.column(left), self.column(right)) {
                (Some(Col::At(a, ca)), Some(Col::At(b, cb))) if a != b => {
                    self.accesses[a].join_keys.push(ca.clone());
                    self.accesses[b].join_keys.push(cb.clone());
                    self.accesses[a].selected.push(ca);
                    self.accesses[b].selected.push(cb);
                    return;
                }
                // Unqualified columns (comma joins, ORM SQL): `resolve` attributes each side.
                (
                    Some(l @ (Col::At(..) | Col::Ambiguous(..))),
                    Some(r @ (Col::At(..) | Col::Ambiguous(..))),
                ) if matches!(l, Col::Ambiguous(..)) || matches!(r, Col::Ambiguous(..)) => {
                    let same_name =
                        matches!((&l, &r), (Col::Ambiguous(_, x), Col::Ambiguous(_, y)) if x == y);
                    if !same_name {
                        for side in [l, r] {
                            match side {
                                Col::At(i, c) => {
                                    self.accesses[i].join_keys.push(c.clone());
                                    self.accesses[i].selected.push(c);
                                }
                                Col::Ambiguous(candidates, column) => {
                                    self.defer(candidates, column, UnattributedRole::JoinKey);
                                }
                                Col::Opaque => {}
                            }
                        }
                        return;
                    }
                }
                _ => {}
            }
        }
        let mut tables: Vec<usize> = cols
            .iter()
            .filter_map(|c| match c {
                Col::At(i, _) => Some(*i),
                _ => None,
            })
            .collect();
        tables.sort_unstable();
        tables.dedup();
        let ambiguous: Vec<&Col> = cols
            .iter()
            .filter(|c| matches!(c, Col::Ambiguous(..)))
            .collect();
        let has_opaque = cols.contains(&Col::Opaque);
        for c in &cols {
            self.mark_read(c.clone());
        }
        if has_opaque {
            return;
        }
        let pred = classify(e);
        match (tables.as_slice(), ambiguous.as_slice()) {
            ([i], []) => self.accesses[*i].predicates.push(pred),
            ([], [Col::Ambiguous(candidates, column)]) => {
                self.defer(
                    candidates.clone(),
                    column.clone(),
                    UnattributedRole::Predicate(pred),
                );
            }
            // Several columns, all unqualified: attributable only if they are the same column.
            ([], [Col::Ambiguous(candidates, column), rest @ ..])
                if rest
                    .iter()
                    .all(|c| matches!(c, Col::Ambiguous(_, n) if n == column)) =>
            {
                self.defer(
                    candidates.clone(),
                    column.clone(),
                    UnattributedRole::Predicate(pred),
                );
            }
            _ => {} // touches several tables without being a join key: no single-table use
        }
    }
}

/// The operands of a chain of one operator, through parentheses: the AND terms of an OR arm
/// (`a AND (b AND c)` gives a, b, c), or the arms of an OR.
fn chain<'e>(e: &'e Expr, op: &BinaryOperator) -> Vec<&'e Expr> {
    match e {
        Expr::Nested(inner) => chain(inner, op),
        Expr::BinaryOp { left, op: o, right } if o == op => {
            let mut v = chain(left, op);
            v.extend(chain(right, op));
            v
        }
        _ => vec![e],
    }
}

/// Collects the column expressions of an expression, not descending into subqueries, which
/// it walks as queries of their own scope when it has the walker (a subquery is walked where
/// it is met, never copied out of the tree).
#[derive(Default)]
struct Collector<'w> {
    walker: Option<&'w mut Walker>,
    depth: usize,
    columns: Vec<Expr>,
}

impl<'w> Collector<'w> {
    fn walking(walker: &'w mut Walker) -> Self {
        Collector {
            walker: Some(walker),
            ..Default::default()
        }
    }
}

impl Visitor for Collector<'_> {
    type Break = ();
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if self.depth == 0 {
            if let Some(w) = self.walker.as_deref_mut() {
                w.query(q, false);
            }
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }
    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.depth == 0 && matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            self.columns.push(e.clone());
        }
        ControlFlow::Continue(())
    }
}

/// Names given to output columns with AS (`count(*) AS n`).
fn output_aliases(s: &Select) -> HashSet<String> {
    s.projection
        .iter()
        .filter_map(|p| match p {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            _ => None,
        })
        .collect()
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
}

/// A bare column name, if `e` is one.
fn bare(e: &Expr) -> Option<String> {
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

/// Classify one conjunct that touches a single table.
fn classify(e: &Expr) -> Predicate {
    use BinaryOperator as B;
    let pred = |subj: Subject, kind, op: &str, value| Predicate {
        column: subj.0,
        expr: subj.1,
        kind,
        op: op.into(),
        value,
        key: subj.2,
        value_sql: None,
    };
    match e {
        Expr::Nested(inner) => classify(inner),
        Expr::BinaryOp { left, op, right } => {
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
                ..pred(subj, kind, &op.to_string(), value)
            }
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => match (subject(expr), negated) {
            (Some(subj), false) => {
                let value = if list
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
                };
                pred(subj, PredKind::Eq, "IN", value)
            }
            _ => not_indexable(e, "NOT IN"),
        },
        Expr::InSubquery {
            expr,
            negated: false,
            ..
        } => match subject(expr) {
            Some(subj) => pred(subj, PredKind::Eq, "IN", PredValue::Other),
            None => not_indexable(e, "IN"),
        },
        Expr::AnyOp {
            left,
            compare_op: B::Eq,
            right,
            ..
        } => match subject(left) {
            Some(subj) => pred(subj, PredKind::Eq, "= ANY", value_of(right)),
            None => not_indexable(e, "= ANY"),
        },
        Expr::IsNull(x) => match subject(x) {
            Some(subj) => pred(
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
                    ..pred(subj, PredKind::Eq, "=", PredValue::Constant(v))
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
            Some(subj) => {
                let value = match (value_of(low), value_of(high)) {
                    (PredValue::Param, PredValue::Param) => PredValue::Param,
                    (PredValue::Constant(a), PredValue::Constant(b)) => {
                        PredValue::Constant(format!("{a} AND {b}"))
                    }
                    _ => PredValue::Other,
                };
                pred(subj, PredKind::Range, "BETWEEN", value)
            }
            None => not_indexable(e, "BETWEEN"),
        },
        Expr::Like {
            expr,
            negated: false,
            pattern,
            ..
        } => match (subject(expr), value_of(pattern)) {
            (Some(subj), PredValue::Constant(p))
                if !p.trim_start_matches('\'').starts_with(['%', '_']) =>
            {
                pred(subj, PredKind::Range, "LIKE", PredValue::Constant(p))
            }
            (Some(subj), v) => {
                let mut p = pred(subj, PredKind::NotIndexable, "LIKE", v);
                if p.expr.is_none() {
                    p.expr = Some(e.to_string());
                }
                p
            }
            _ => not_indexable(e, "LIKE"),
        },
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => Predicate {
            column: bare(e),
            expr: None,
            kind: PredKind::Eq,
            op: "=".into(),
            value: PredValue::Constant("true".into()),
            key: crate::sql::index_key::KeyExpr::from_expr(e),
            value_sql: Some("true".into()),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } if bare(expr).is_some() => Predicate {
            column: bare(expr),
            expr: None,
            kind: PredKind::Eq,
            op: "=".into(),
            value: PredValue::Constant("false".into()),
            key: crate::sql::index_key::KeyExpr::from_expr(expr),
            value_sql: Some("false".into()),
        },
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

// ---------------------------------------------------------------------------------------------
// Resolution against the catalog

/// Qualify tables as `schema.table` through `search_path`, replace views by their base tables
/// (parsing the view definition) and partitions by their parent, and attribute unqualified
/// columns of multi-table scopes to the table that has them.
pub fn resolve(shape: &mut Shape, catalog: &Catalog, search_path: &[String]) {
    resolve_depth(shape, catalog, search_path, 0);
}

fn find_table<'c>(
    catalog: &'c Catalog,
    written: &str,
    search_path: &[String],
) -> Option<&'c crate::catalog::Table> {
    let parts: Vec<&str> = written.split('.').collect();
    match parts.as_slice() {
        [.., schema, name] => catalog
            .tables
            .iter()
            .find(|t| t.schema == *schema && t.name == *name),
        [name] => {
            let default = ["public".to_string()];
            let path = if search_path.is_empty() {
                &default[..]
            } else {
                search_path
            };
            path.iter()
                .filter(|s| s.as_str() != "$user")
                .chain(std::iter::once(&"pg_catalog".to_string()))
                .find_map(|s| {
                    catalog
                        .tables
                        .iter()
                        .find(|t| t.schema == *s && t.name == *name)
                })
        }
        [] => None,
    }
}

fn resolve_depth(shape: &mut Shape, catalog: &Catalog, search_path: &[String], depth: usize) {
    let old_names: Vec<String> = shape.accesses.iter().map(|a| a.table.clone()).collect();
    // 1. Attribute unqualified columns, while indexes into `accesses` still hold.
    for u in std::mem::take(&mut shape.unattributed) {
        let has = |i: &usize| {
            find_table(catalog, &old_names[*i], search_path)
                .is_some_and(|t| t.column(&u.column).is_some())
        };
        // The innermost scope that has the column owns it (SQL's rule for correlated names).
        let owners: Vec<usize> = std::iter::once(&u.candidates)
            .chain(&u.outer)
            .map(|level| level.iter().copied().filter(has).collect::<Vec<_>>())
            .find(|o| !o.is_empty())
            .unwrap_or_default();
        match (owners.as_slice(), u.role) {
            ([i], UnattributedRole::Predicate(p)) => shape.accesses[*i].predicates.push(p),
            ([i], UnattributedRole::Selected) => shape.accesses[*i].selected.push(u.column),
            ([i], UnattributedRole::JoinKey) => {
                shape.accesses[*i].join_keys.push(u.column.clone());
                shape.accesses[*i].selected.push(u.column);
            }
            (_, role) => shape.unattributed.push(Unattributed {
                candidates: u.candidates,
                column: u.column,
                role,
                outer: u.outer,
            }),
        }
    }
    // 2. Qualify, follow partitions and views.
    let mut out = Vec::with_capacity(shape.accesses.len());
    let mut renames: HashMap<String, String> = HashMap::new();
    for mut a in std::mem::take(&mut shape.accesses) {
        let Some(t) = find_table(catalog, &a.table, search_path) else {
            if !shape.unknown_tables.contains(&a.table) {
                shape.unknown_tables.push(a.table.clone());
            }
            out.push(a);
            continue;
        };
        let mut t = t;
        while let Some(parent) = t.parent.as_deref().and_then(|p| catalog.table(p)) {
            t = parent;
        }
        let view_def = match t.kind {
            TableKind::View => t.view_definition.as_deref(),
            _ => None,
        };
        if let (Some(def), true) = (view_def, depth < 8) {
            if let Ok(mut inner) = extract(def) {
                if let Some(mut v) = inner.pop() {
                    resolve_depth(&mut v, catalog, search_path, depth + 1);
                    shape.unknown_tables.extend(v.unknown_tables);
                    // A one-table view passes the outer predicates, sort and columns through
                    // (same column names); a multi-table view contributes its own accesses.
                    if let [only] = v.accesses.as_mut_slice() {
                        // Through the view's output names (`l_suppkey AS supplier_no`); what
                        // an aggregate or expression computes has no base column to index.
                        let map = view_columns(def);
                        let through = |c: &str| match map.get(c) {
                            Some(base) => base.clone(),
                            None => Some(c.to_string()),
                        };
                        a.predicates.retain_mut(|p| {
                            if p.expr.is_some() {
                                return p
                                    .column
                                    .as_deref()
                                    .is_none_or(|c| through(c).as_deref() == Some(c));
                            }
                            match p.column.as_deref().map(through) {
                                Some(Some(base)) => {
                                    p.column = Some(base);
                                    true
                                }
                                Some(None) => false,
                                None => true,
                            }
                        });
                        for list in [&mut a.join_keys, &mut a.selected] {
                            *list = list.iter().filter_map(|c| through(c)).collect();
                        }
                        let mut ok = true;
                        for o in &mut a.order_by {
                            match through(&o.column) {
                                Some(base) => o.column = base,
                                None => ok = false,
                            }
                        }
                        if !ok {
                            a.order_by.clear();
                        }
                        only.alias = a.alias.take();
                        only.predicates.append(&mut a.predicates);
                        only.join_keys.append(&mut a.join_keys);
                        if !a.order_by.is_empty() {
                            only.order_by = std::mem::take(&mut a.order_by);
                        }
                        only.selected.append(&mut a.selected);
                        only.limit_applies |= a.limit_applies;
                        only.target |= a.target;
                        dedup(&mut only.selected);
                        dedup(&mut only.join_keys);
                    }
                    renames.insert(
                        a.table.clone(),
                        v.accesses
                            .first()
                            .map_or_else(|| t.qualified(), |x| x.table.clone()),
                    );
                    out.extend(v.accesses);
                    continue;
                }
            }
        }
        renames.insert(a.table.clone(), t.qualified());
        a.table = t.qualified();
        out.push(a);
    }
    for a in &mut out {
        dedup(&mut a.selected);
    }
    shape.accesses = out;
    for g in &mut shape.group_by {
        if let Some(new) = g.table.as_ref().and_then(|t| renames.get(t)) {
            g.table = Some(new.clone());
        }
    }
}

/// A view definition's output columns: name -> the base column it passes through unchanged,
/// or None when it is computed (`sum(...) AS total`).
fn view_columns(def: &str) -> HashMap<String, Option<String>> {
    let mut out = HashMap::new();
    let Ok(stmts) = parse(def) else {
        return out;
    };
    let Some(Statement::Query(q)) = stmts.first() else {
        return out;
    };
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return out;
    };
    for item in &sel.projection {
        match item {
            SelectItem::UnnamedExpr(e) => {
                if let Some(b) = bare(e) {
                    out.insert(b.clone(), Some(b));
                }
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                out.insert(alias.value.clone(), bare(expr));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn one(sql: &str) -> Shape {
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

    #[test]
    fn shape_resolve_search_path_views_partitions() {
        use crate::catalog::{Column, Table};
        let col = |n: &str| Column {
            name: n.into(),
            ..Default::default()
        };
        let mut cat = Catalog::default();
        cat.tables.push(Table {
            schema: "app".into(),
            name: "users".into(),
            columns: vec![col("id"), col("email")],
            ..Default::default()
        });
        cat.tables.push(Table {
            schema: "app".into(),
            name: "orders".into(),
            kind: TableKind::Partitioned,
            columns: vec![col("id"), col("user_id"), col("total")],
            ..Default::default()
        });
        cat.tables.push(Table {
            schema: "app".into(),
            name: "orders_2024".into(),
            parent: Some("app.orders".into()),
            columns: vec![col("id"), col("user_id"), col("total")],
            ..Default::default()
        });
        cat.tables.push(Table {
            schema: "app".into(),
            name: "active_users".into(),
            kind: TableKind::View,
            columns: vec![col("id"), col("email")],
            view_definition: Some(" SELECT id, email FROM app.users WHERE id > 0;".into()),
            ..Default::default()
        });
        let mut s = one(
            "SELECT email, total FROM active_users u JOIN orders_2024 o ON o.user_id = u.id \
             WHERE email = $1",
        );
        resolve(&mut s, &cat, &["app".into()]);
        let tables: Vec<_> = s.accesses.iter().map(|a| a.table.as_str()).collect();
        assert_eq!(tables, ["app.users", "app.orders"]);
        assert!(s.unattributed.is_empty(), "{:?}", s.unattributed);
        assert_eq!(
            s.accesses[0].predicates.len(),
            2,
            "view's own and the outer one"
        );
        assert!(s.accesses[1].selected.contains(&"total".to_string()));
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

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

#[cfg(test)]
mod unqualified_join_tests {
    use super::*;
    use crate::catalog::{Catalog, Column, Table};

    fn table(name: &str, cols: &[&str]) -> Table {
        Table {
            schema: "public".into(),
            name: name.into(),
            columns: cols
                .iter()
                .map(|c| Column {
                    name: (*c).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn comma_join_with_unqualified_columns_has_join_keys_after_resolve() {
        let mut cat = Catalog::default();
        cat.tables
            .push(table("customer", &["c_custkey", "c_mktsegment"]));
        cat.tables
            .push(table("orders", &["o_orderkey", "o_custkey", "o_orderdate"]));
        cat.tables
            .push(table("lineitem", &["l_orderkey", "l_shipdate"]));
        let mut s = extract(
            "SELECT l_orderkey FROM customer, orders, lineitem WHERE c_mktsegment = 'B' \
             AND c_custkey = o_custkey AND l_orderkey = o_orderkey AND o_orderdate < $1",
        )
        .unwrap()
        .remove(0);
        resolve(&mut s, &cat, &[]);
        let keys = |t: &str| {
            let mut k = s
                .accesses
                .iter()
                .find(|a| a.table == t)
                .unwrap()
                .join_keys
                .clone();
            k.sort();
            k.dedup();
            k
        };
        assert_eq!(keys("public.customer"), ["c_custkey"]);
        assert_eq!(keys("public.orders"), ["o_custkey", "o_orderkey"]);
        assert_eq!(keys("public.lineitem"), ["l_orderkey"]);
        assert!(s.unattributed.is_empty(), "{:?}", s.unattributed);
    }

    fn tpch() -> Catalog {
        let mut cat = Catalog::default();
        cat.tables
            .push(table("orders", &["o_orderkey", "o_custkey", "o_orderdate"]));
        cat.tables.push(table(
            "lineitem",
            &[
                "l_orderkey",
                "l_partkey",
                "l_suppkey",
                "l_commitdate",
                "l_receiptdate",
                "l_shipmode",
            ],
        ));
        cat.tables.push(table("part", &["p_partkey", "p_brand"]));
        cat
    }

    fn resolved(sql: &str, cat: &Catalog) -> Shape {
        let mut s = extract(sql).unwrap().remove(0);
        resolve(&mut s, cat, &[]);
        s
    }

    fn keys_of(s: &Shape, t: &str) -> Vec<String> {
        let mut k: Vec<String> = s
            .accesses
            .iter()
            .filter(|a| a.table == t)
            .flat_map(|a| a.join_keys.clone())
            .collect();
        k.sort();
        k.dedup();
        k
    }

    #[test]
    fn correlated_subquery_keys_belong_to_the_scope_that_has_the_column() {
        let cat = tpch();
        // TPC-H Q4: both names unqualified; o_orderkey is the outer query's.
        let s = resolved(
            "SELECT count(*) FROM orders WHERE o_orderdate >= $1 AND EXISTS \
             (SELECT * FROM lineitem WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)",
            &cat,
        );
        assert_eq!(keys_of(&s, "public.lineitem"), ["l_orderkey"]);
        assert_eq!(keys_of(&s, "public.orders"), ["o_orderkey"]);
        assert!(s.unattributed.is_empty(), "{:?}", s.unattributed);
        // Its twin: both columns are the inner table's, so there is no join to the outer one.
        let s = resolved(
            "SELECT count(*) FROM orders WHERE EXISTS \
             (SELECT 1 FROM lineitem WHERE l_partkey = l_suppkey)",
            &cat,
        );
        assert!(keys_of(&s, "public.orders").is_empty());
    }

    #[test]
    fn or_arms_share_their_common_conjuncts() {
        // TPC-H Q19's shape: the join key is in every arm, so it is a join key of the whole.
        let s = resolved(
            "SELECT count(*) FROM lineitem, part WHERE \
             (p_partkey = l_partkey AND p_brand = 'A' AND l_shipmode IN ('AIR', 'REG AIR')) \
             OR (p_partkey = l_partkey AND p_brand = 'B' AND l_shipmode = 'AIR')",
            &tpch(),
        );
        assert_eq!(keys_of(&s, "public.lineitem"), ["l_partkey"]);
        assert_eq!(keys_of(&s, "public.part"), ["p_partkey"]);
        // Nothing is shared: no key.
        let s = resolved(
            "SELECT count(*) FROM lineitem, part WHERE (p_partkey = l_partkey AND p_brand = 'A') \
             OR (p_partkey = l_suppkey AND p_brand = 'B')",
            &tpch(),
        );
        assert!(keys_of(&s, "public.lineitem").is_empty());
    }

    #[test]
    fn a_view_passes_renamed_columns_through_and_drops_computed_ones() {
        let mut cat = tpch();
        cat.tables.push(Table {
            schema: "public".into(),
            name: "revenue".into(),
            kind: TableKind::View,
            columns: vec![
                Column {
                    name: "supplier_no".into(),
                    ..Default::default()
                },
                Column {
                    name: "total".into(),
                    ..Default::default()
                },
            ],
            view_definition: Some(
                " SELECT lineitem.l_suppkey AS supplier_no, count(*) AS total FROM lineitem \
                 GROUP BY lineitem.l_suppkey;"
                    .into(),
            ),
            ..Default::default()
        });
        let s = resolved(
            "SELECT * FROM part, revenue WHERE p_partkey = supplier_no AND total > 5",
            &cat,
        );
        assert_eq!(keys_of(&s, "public.lineitem"), ["l_suppkey"]);
        let l = s
            .accesses
            .iter()
            .find(|a| a.table == "public.lineitem")
            .unwrap();
        assert!(
            l.predicates
                .iter()
                .all(|p| p.column.as_deref() != Some("total")),
            "an aggregate is not a column to index: {:?}",
            l.predicates
        );
    }
}
