//! Turning a statement text as pg_stat_statements holds it into one the server can plan and
//! dbopt's parser can read.
//!
//! Why this is needed: pg_stat_statements replaces every constant by `$n`, and some texts are
//! valid only with their constants. `now() - interval '7 days'` becomes `interval $2`, a
//! syntax error; a SQL-level `PREPARE q AS ...`, `DECLARE c CURSOR FOR ...`, `EXPLAIN ...` or
//! `COPY (...) TO` is recorded with its wrapper, which cannot be prepared again. Unplanned
//! statements get no advice, so the main query of an ORM app was silently left out.
//!
//! Why one pure function over the tokens: every consumer (advise, explain, the workload rules,
//! N+1 detection) must agree on what a text means, and the tokenizer already knows quotes,
//! dollar quotes, comments and casts. Nothing is cut at byte offsets of our own finding: each
//! piece of the output is a whole token of the input, or text we write.
//!
//! Two outputs: [`Plannable::sql`] goes to the server and keeps everything the server reads
//! (`FROM ONLY`, `FOR KEY SHARE`, `OPERATOR(pg_catalog.=)`); [`Plannable::parse_sql`] also
//! spells those the way sqlparser reads them, for shapes only (dropping `ONLY` changes which
//! rows an inheritance parent returns, so the server never sees that text).

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::Token;

use super::normalize::tokens;
use super::shape::placeholders;

/// A statement ready to plan (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plannable {
    /// The statement the server plans: the inner statement of a wrapper, typed literals on
    /// parameters written as casts (`interval $2` is `$2::interval`).
    pub sql: String,
    /// [`Plannable::sql`] with what sqlparser cannot read respelled, for shapes only.
    pub parse_sql: String,
    /// One type per parameter `$1..$n` for `PREPARE name (types)`: as declared by a wrapping
    /// `PREPARE name (types) AS`, `text` for a parameter the statement never references
    /// (the server cannot infer it), else `unknown` (the server infers it).
    pub types: Vec<String>,
    /// The wrapper the statement came in (`PREPARE`, `DECLARE`, `EXPLAIN`, `COPY`).
    pub wrapper: Option<&'static str>,
}

impl Plannable {
    /// SELECT, INSERT, UPDATE, DELETE or MERGE (also behind WITH, VALUES or a parenthesis):
    /// a statement the planner plans, as opposed to utility statements.
    pub fn is_dml(&self) -> bool {
        let Ok(toks) = tokens(&self.sql) else {
            return false;
        };
        let first = toks.iter().map(|(t, _, _)| t).find(|t| !trivia(t));
        match first {
            Some(Token::LParen) => true,
            Some(Token::Word(w)) => matches!(
                w.keyword,
                Keyword::SELECT
                    | Keyword::INSERT
                    | Keyword::UPDATE
                    | Keyword::DELETE
                    | Keyword::MERGE
                    | Keyword::WITH
                    | Keyword::VALUES
                    | Keyword::TABLE
            ),
            _ => false,
        }
    }
}

fn trivia(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_))
}

fn keyword(t: &Token) -> Option<Keyword> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    }
}

/// The lower-case spelling of an unquoted word.
fn word(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// Type names that take the typed-literal form `type 'value'`, which normalization turns into
/// `type $n`.
const LITERAL_TYPES: &[&str] = &[
    "interval",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "timetz",
    "numeric",
    "decimal",
    "int",
    "int2",
    "int4",
    "int8",
    "integer",
    "bigint",
    "smallint",
    "real",
    "float",
    "float4",
    "float8",
    "bool",
    "boolean",
    "text",
    "varchar",
    "char",
    "character",
    "bpchar",
    "uuid",
    "json",
    "jsonb",
    "bytea",
    "inet",
    "cidr",
    "macaddr",
    "money",
    "point",
    "tsvector",
    "tsquery",
    "regclass",
    "oid",
    "xml",
    "bit",
];

/// The fields of `interval $n day to second`.
const INTERVAL_FIELDS: &[&str] = &["year", "month", "day", "hour", "minute", "second"];

/// Statement text with its non-trivia tokens indexed, for looking around a position.
struct Toks<'s> {
    sql: &'s str,
    toks: Vec<(Token, usize, usize)>,
}

impl Toks<'_> {
    /// Index of the next non-trivia token at or after `i`.
    fn next(&self, mut i: usize) -> Option<usize> {
        while i < self.toks.len() {
            if !trivia(&self.toks[i].0) {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// Index of the previous non-trivia token before `i`.
    fn prev(&self, i: usize) -> Option<usize> {
        (0..i).rev().find(|&k| !trivia(&self.toks[k].0))
    }

    fn tok(&self, i: Option<usize>) -> Option<&Token> {
        i.map(|k| &self.toks[k].0)
    }

    fn kw(&self, i: Option<usize>) -> Option<Keyword> {
        self.tok(i).and_then(keyword)
    }

    fn word(&self, i: Option<usize>) -> Option<String> {
        self.tok(i).and_then(word)
    }

    /// The source text of tokens `from..to`.
    fn text(&self, from: usize, to: usize) -> &str {
        if from >= to || from >= self.toks.len() {
            return "";
        }
        let end = self.toks[to.min(self.toks.len()) - 1].2;
        &self.sql[self.toks[from].1..end]
    }

    /// Index just past the parenthesis that closes the one at `open`.
    fn closing(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for (k, (t, _, _)) in self.toks.iter().enumerate().skip(open) {
            match t {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(k + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// The inner statement of a wrapper, as a token range, with the wrapper's name and any
/// parameter types it declares.
type Unwrapped = (usize, usize, &'static str, Vec<String>);

fn unwrap(t: &Toks<'_>, from: usize, to: usize) -> Option<Unwrapped> {
    let first = t.next(from).filter(|&k| k < to)?;
    match t.kw(Some(first))? {
        // PREPARE name [(type, ...)] AS statement
        Keyword::PREPARE => {
            let name = t.next(first + 1)?;
            let mut at = t.next(name + 1)?;
            let mut types = Vec::new();
            if t.tok(Some(at)) == Some(&Token::LParen) {
                let close = t.closing(at)?;
                let mut start = at + 1;
                let mut depth = 0usize;
                for k in at + 1..close {
                    match &t.toks[k].0 {
                        Token::LParen => depth += 1,
                        Token::RParen if depth > 0 => depth -= 1,
                        Token::Comma | Token::RParen if depth == 0 => {
                            types.push(t.text(start, k).trim().to_string());
                            start = k + 1;
                        }
                        _ => {}
                    }
                }
                at = t.next(close)?;
            }
            (t.kw(Some(at)) == Some(Keyword::AS)).then_some((at + 1, to, "PREPARE", types))
        }
        // DECLARE name [options] CURSOR [WITH[OUT] HOLD] FOR query
        Keyword::DECLARE => {
            let cursor =
                (first + 1..to).find(|&k| keyword(&t.toks[k].0) == Some(Keyword::CURSOR))?;
            let f = (cursor + 1..to).find(|&k| keyword(&t.toks[k].0) == Some(Keyword::FOR))?;
            Some((f + 1, to, "DECLARE", vec![]))
        }
        // EXPLAIN [(options)] [ANALYZE] [VERBOSE] statement
        Keyword::EXPLAIN => {
            let mut at = t.next(first + 1)?;
            if t.tok(Some(at)) == Some(&Token::LParen) {
                at = t.next(t.closing(at)?)?;
            }
            while matches!(t.kw(Some(at)), Some(Keyword::ANALYZE | Keyword::VERBOSE)) {
                at = t.next(at + 1)?;
            }
            Some((at, to, "EXPLAIN", vec![]))
        }
        // COPY (query) TO ...
        Keyword::COPY => {
            let open = t.next(first + 1)?;
            (t.tok(Some(open)) == Some(&Token::LParen))
                .then(|| t.closing(open))
                .flatten()
                .map(|close| (open + 1, close - 1, "COPY", vec![]))
        }
        _ => None,
    }
}

/// At a typed literal on a parameter (`interval $2`, `timestamp with time zone $1`,
/// `interval $1 day to second`): the index just past it and its cast form (`$2::interval`).
fn typed_literal(t: &Toks<'_>, i: usize, to: usize) -> Option<(usize, String)> {
    let first = t.word(Some(i))?;
    if !LITERAL_TYPES.contains(&first.as_str()) {
        return None;
    }
    // A name's last part (`t.date`) or a cast target (`x::date`) is not a literal's type.
    if matches!(t.tok(t.prev(i)), Some(Token::Period | Token::DoubleColon)) {
        return None;
    }
    let mut words = vec![first.clone()];
    let mut at = t.next(i + 1).filter(|&k| k < to)?;
    let follows = |at: usize, w: &[&str]| -> Option<usize> {
        let mut k = at;
        for (n, want) in w.iter().enumerate() {
            if n > 0 {
                k = t.next(k + 1).filter(|&x| x < to)?;
            }
            (t.word(Some(k)).as_deref() == Some(*want)).then_some(())?;
        }
        t.next(k + 1).filter(|&x| x < to)
    };
    let multi: &[&[&str]] = match first.as_str() {
        "timestamp" | "time" => &[&["with", "time", "zone"], &["without", "time", "zone"]],
        "double" => &[&["precision"]],
        "character" | "bit" => &[&["varying"]],
        _ => &[],
    };
    for m in multi {
        if let Some(next) = follows(at, m) {
            words.extend(m.iter().map(|w| (*w).to_string()));
            at = next;
            break;
        }
    }
    let Some(Token::Placeholder(p)) = t.tok(Some(at)) else {
        return None;
    };
    let param = p.clone();
    let mut end = at + 1;
    if first == "interval" {
        // interval $1 day [to second]
        let field = |k: Option<usize>| {
            t.word(k)
                .filter(|w| INTERVAL_FIELDS.contains(&w.as_str()))
                .and(k)
        };
        if let Some(f) = field(t.next(end).filter(|&k| k < to)) {
            words.push(t.word(Some(f)).unwrap_or_default());
            end = f + 1;
            let to_kw = t.next(end).filter(|&k| k < to);
            if t.kw(to_kw) == Some(Keyword::TO) {
                if let Some(g) = field(to_kw.and_then(|k| t.next(k + 1)).filter(|&k| k < to)) {
                    words.push("to".into());
                    words.push(t.word(Some(g)).unwrap_or_default());
                    end = g + 1;
                }
            }
        }
    }
    Some((end, format!("{param}::{}", words.join(" "))))
}

/// Whether the token at `i` is spelled differently for sqlparser: how many tokens (from `i`)
/// to drop and what to write instead.
fn parse_only(t: &Toks<'_>, i: usize, to: usize) -> Option<(usize, String)> {
    let next = |k: usize| t.next(k + 1).filter(|&x| x < to);
    match t.kw(Some(i))? {
        // FROM ONLY t, JOIN ONLY t, UPDATE ONLY t: sqlparser takes ONLY for the table name.
        Keyword::ONLY
            if matches!(
                t.kw(t.prev(i)),
                Some(Keyword::FROM | Keyword::JOIN | Keyword::UPDATE)
            ) || t.tok(t.prev(i)) == Some(&Token::Comma) =>
        {
            Some((next(i).unwrap_or(i + 1) - i, String::new()))
        }
        // FOR KEY SHARE -> FOR SHARE; FOR NO KEY UPDATE -> FOR UPDATE (both lock rows).
        Keyword::KEY
            if t.kw(t.prev(i)) == Some(Keyword::FOR) && t.kw(next(i)) == Some(Keyword::SHARE) =>
        {
            Some((next(i)? - i, String::new()))
        }
        Keyword::NO
            if t.kw(t.prev(i)) == Some(Keyword::FOR)
                && t.kw(next(i)) == Some(Keyword::KEY)
                && next(i)
                    .and_then(next)
                    .is_some_and(|k| t.kw(Some(k)) == Some(Keyword::UPDATE)) =>
        {
            Some((next(i).and_then(next)? - i, String::new()))
        }
        // OPERATOR(pg_catalog.=) -> = (a built-in operator spelled out, as RI checks do).
        Keyword::OPERATOR => {
            let open = next(i)?;
            (t.tok(Some(open)) == Some(&Token::LParen)).then_some(())?;
            let close = t.closing(open)?;
            let inner: Vec<usize> = (open + 1..close - 1)
                .filter(|&k| !trivia(&t.toks[k].0))
                .collect();
            match inner.as_slice() {
                [schema, dot, op]
                    if t.word(Some(*schema)).as_deref() == Some("pg_catalog")
                        && t.tok(Some(*dot)) == Some(&Token::Period) =>
                {
                    Some((close - i, t.text(*op, *op + 1).to_string()))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The statement the server can plan, from a normalised (or literal) text. Text that does not
/// tokenize is returned as it is.
pub fn plannable(text: &str) -> Plannable {
    let text = text
        .trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    let Ok(toks) = tokens(text) else {
        return Plannable {
            sql: text.to_string(),
            parse_sql: text.to_string(),
            types: vec!["unknown".into(); placeholders(text)],
            wrapper: None,
        };
    };
    let t = Toks { sql: text, toks };
    let (mut from, mut to) = (0, t.toks.len());
    let mut wrapper = None;
    let mut declared = Vec::new();
    // A wrapper in a wrapper (EXPLAIN of a DECLARE) is unwrapped too; each step shrinks.
    while let Some((f, e, w, types)) = unwrap(&t, from, to) {
        if f <= from && e >= to {
            break;
        }
        (from, to) = (f, e);
        wrapper.get_or_insert(w);
        if !types.is_empty() {
            declared = types;
        }
    }
    let mut sql = String::with_capacity(text.len());
    let mut parse_sql = String::with_capacity(text.len());
    let mut i = from;
    while i < to {
        if let Some((end, cast)) = typed_literal(&t, i, to) {
            sql.push_str(&cast);
            parse_sql.push_str(&cast);
            i = end;
            continue;
        }
        let piece = t.text(i, i + 1);
        sql.push_str(piece);
        match parse_only(&t, i, to) {
            Some((n, instead)) => {
                // Written in place of the tokens dropped; the server text keeps them.
                parse_sql.push_str(&instead);
                for k in i + 1..i + n {
                    sql.push_str(t.text(k, k + 1));
                }
                i += n;
            }
            None => {
                parse_sql.push_str(piece);
                i += 1;
            }
        }
    }
    let sql = sql.trim().to_string();
    let parse_sql = parse_sql.trim().to_string();
    let n = placeholders(&sql);
    let used = referenced(&sql);
    let types = (1..=n)
        .map(|k| match declared.get(k - 1) {
            Some(d) => d.clone(),
            None if !used.contains(&k) => "text".into(),
            None => "unknown".into(),
        })
        .collect();
    Plannable {
        sql,
        parse_sql,
        types,
        wrapper,
    }
}

/// Whether a text dbopt cannot parse reads system catalogs only (monitoring tools, dbopt
/// itself): every relation named after FROM or JOIN is in `pg_catalog` or
/// `information_schema` or has a `pg_` name, or, naming none, it calls a `pg_` function or
/// reads a setting. Mentioning `pg_catalog` is not enough: foreign-key checks spell their
/// operator `OPERATOR(pg_catalog.=)` on user tables.
pub fn reads_only_system(text: &str) -> bool {
    let Ok(toks) = tokens(text) else {
        return false;
    };
    let t = Toks { sql: text, toks };
    let mut relations: Vec<Vec<String>> = Vec::new();
    let mut calls_system = false;
    for (i, (tok, _, _)) in t.toks.iter().enumerate() {
        if let Token::Word(w) = tok {
            let v = w.value.to_ascii_lowercase();
            if v.starts_with("pg_") || v == "current_setting" {
                calls_system = true;
            }
        }
        if !matches!(t.kw(Some(i)), Some(Keyword::FROM | Keyword::JOIN)) {
            continue;
        }
        let mut at = t.next(i + 1);
        if t.kw(at) == Some(Keyword::ONLY) {
            at = at.and_then(|k| t.next(k + 1));
        }
        let mut name = Vec::new();
        while let Some(Token::Word(w)) = t.tok(at) {
            name.push(if w.quote_style.is_some() {
                w.value.clone()
            } else {
                w.value.to_ascii_lowercase()
            });
            let dot = at.and_then(|k| t.next(k + 1));
            if t.tok(dot) != Some(&Token::Period) {
                break;
            }
            at = dot.and_then(|k| t.next(k + 1));
        }
        if !name.is_empty() {
            relations.push(name);
        }
    }
    let system = |name: &Vec<String>| {
        matches!(
            name.first().map(String::as_str),
            Some("pg_catalog" | "information_schema")
        ) || name.last().is_some_and(|n| n.starts_with("pg_"))
    };
    if relations.is_empty() {
        calls_system
    } else {
        relations.iter().all(system)
    }
}

/// The parameter numbers a text references.
fn referenced(sql: &str) -> Vec<usize> {
    let Ok(toks) = tokens(sql) else {
        return vec![];
    };
    toks.iter()
        .filter_map(|(t, _, _)| match t {
            Token::Placeholder(p) => p.strip_prefix('$')?.parse().ok(),
            _ => None,
        })
        .collect()
}

/// The parameters that are the right operand of a binary `+` or `-` (`now() - $2`): the ones
/// whose type the server guesses from the other operand, wrongly for date arithmetic.
fn arithmetic_parameters(sql: &str) -> Vec<usize> {
    let Ok(toks) = tokens(sql) else {
        return vec![];
    };
    let t = Toks { sql, toks };
    let mut out = Vec::new();
    for (i, (tok, _, _)) in t.toks.iter().enumerate() {
        let Token::Placeholder(p) = tok else { continue };
        let op = t.prev(i);
        if !matches!(t.tok(op), Some(Token::Minus | Token::Plus)) {
            continue;
        }
        // Binary only: an operand ends before the operator (not `WHERE -$1`, `(-$1`).
        let before = op.and_then(|k| t.prev(k));
        let binary = match t.tok(before) {
            Some(Token::RParen | Token::Placeholder(_) | Token::Number(..)) => true,
            Some(Token::Word(_)) => !t.kw(before).is_some_and(is_operator_context),
            _ => false,
        };
        if let (true, Some(n)) = (binary, p.strip_prefix('$').and_then(|d| d.parse().ok())) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// Keywords after which a `-` or `+` is a sign, not arithmetic.
fn is_operator_context(k: Keyword) -> bool {
    use Keyword as K;
    matches!(
        k,
        K::SELECT
            | K::WHERE
            | K::AND
            | K::OR
            | K::NOT
            | K::WHEN
            | K::THEN
            | K::ELSE
            | K::CASE
            | K::ON
            | K::BY
            | K::HAVING
            | K::LIMIT
            | K::OFFSET
            | K::RETURNING
            | K::SET
            | K::VALUES
            | K::IN
            | K::IS
            | K::BETWEEN
            | K::LIKE
            | K::ILIKE
            | K::AS
            | K::FROM
            | K::DISTINCT
            | K::ALL
            | K::ANY
            | K::SOME
            | K::TO
    )
}

/// The parameter types to try after the server refused `types` with SQLSTATE `code` and
/// `message`, or `None` when the error implies nothing to change:
///
/// - 42P18 `could not determine data type of parameter $n`: `$n` as `text`;
/// - 42883 `operator does not exist: timestamp with time zone >= interval` (or 42804, a
///   mismatch of the same kind): the server read `now() - $2` as the difference of two
///   timestamps; the parameter of that arithmetic is the other type the message names
///   (`interval`, or `integer` for `date - $1`).
pub fn retype(sql: &str, types: &[String], code: &str, message: &str) -> Option<Vec<String>> {
    let mut out = types.to_vec();
    match code {
        "42P18" => {
            let n: usize = message
                .rsplit('$')
                .next()?
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()?;
            let slot = out.get_mut(n.checked_sub(1)?)?;
            (slot.as_str() == "unknown").then_some(())?;
            *slot = "text".into();
        }
        "42883" | "42804" => {
            const DATETIME: &[&str] = &[
                "timestamp with time zone",
                "timestamp without time zone",
                "date",
                "time without time zone",
                "time with time zone",
            ];
            let lower = message.to_ascii_lowercase();
            let datetime = DATETIME.iter().any(|d| lower.contains(d));
            let implied = if !datetime {
                return None;
            } else if lower.contains("interval") {
                "interval"
            } else if lower.contains("integer") && lower.contains("date") {
                "integer"
            } else {
                return None;
            };
            let mut changed = false;
            for n in arithmetic_parameters(sql) {
                if let Some(slot) = out.get_mut(n - 1) {
                    if slot.as_str() == "unknown" {
                        *slot = implied.into();
                        changed = true;
                    }
                }
            }
            changed.then_some(())?;
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests;
