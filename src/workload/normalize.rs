//! Statement text handling for sources that see raw SQL (log files, `.sql` files, activity
//! samples): splitting a script into statements, replacing constants by `$n` the way
//! pg_stat_statements prints them, and a fingerprint that groups executions of one statement.
//!
//! Why sqlparser's tokenizer and not string scanning: quotes, `E''` escapes, dollar quotes,
//! nested comments and `::` casts are exactly where hand-written splitters go wrong. The
//! tokenizer knows them; we only decide which tokens are constants. We never need a full parse,
//! so statements sqlparser cannot parse (PG-only syntax) are still normalized.

use sqlparser::dialect::PostgreSqlDialect;

use super::shape::MAX_PARAMETER;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// A statement in pg_stat_statements form, with the key that groups its executions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The text with each constant replaced by `$n` (numbered after any existing parameters).
    pub text: String,
    /// 16 hex digits; equal for texts that differ only in constants, whitespace, comments or
    /// the case of keywords and unquoted names.
    pub fingerprint: String,
}

/// The statements of a script, and the reason it stopped early if it did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub statements: Vec<String>,
    /// Set when the text could not be read to its end (an unterminated string or comment):
    /// `statements` then holds those before the problem.
    pub error: Option<String>,
}

/// A token with its byte range in the source.
pub(super) type Spanned = (Token, usize, usize);

/// Maps the tokenizer's (line, column) locations to byte offsets in one forward pass.
///
/// Why a cursor: locations come in source order, so walking the text once from the previous
/// location keeps the whole mapping linear. Looking each one up from its line start (as this
/// once did) rescans a long line for every token: quadratic on a one-line 30,000-value IN list.
struct Cursor<'s> {
    chars: std::str::CharIndices<'s>,
    len: usize,
    line: u64,
    column: u64,
    /// Byte offset of (line, column).
    at: usize,
}

impl<'s> Cursor<'s> {
    fn new(sql: &'s str) -> Self {
        Cursor {
            chars: sql.char_indices(),
            len: sql.len(),
            line: 1,
            column: 1,
            at: 0,
        }
    }

    /// The byte offset of `loc` (counted as the tokenizer counts: a `\n` starts a new line,
    /// every other character is one column), or the end of the text. Locations before the
    /// cursor give the cursor's own offset: it never moves backwards.
    fn seek(&mut self, loc: Location) -> usize {
        while (self.line, self.column) < (loc.line, loc.column) {
            let Some((_, ch)) = self.chars.next() else {
                self.at = self.len;
                return self.at;
            };
            if ch == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
            self.at = self.chars.offset();
        }
        self.at
    }
}

/// Tokens with their byte ranges, or the tokenizer's message and the byte offset of the error.
pub(super) fn tokens(sql: &str) -> Result<Vec<Spanned>, (String, usize)> {
    let dialect = PostgreSqlDialect {};
    let toks: Vec<TokenWithSpan> = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| (e.message.clone(), Cursor::new(sql).seek(e.location)))?;
    let mut cursor = Cursor::new(sql);
    let mut out = Vec::with_capacity(toks.len());
    for t in toks {
        if t.token == Token::EOF {
            continue;
        }
        let start = cursor.seek(t.span.start);
        let end = cursor.seek(t.span.end);
        out.push((t.token, start, end));
    }
    Ok(out)
}

fn is_trivia(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_))
}

fn is_constant(t: &Token) -> bool {
    matches!(
        t,
        Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::EscapedStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
    )
}

/// The statements of a script as slices of it, and the part the tokenizer could not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pieces<'s> {
    pub statements: Vec<&'s str>,
    /// From the statement holding an unterminated string or comment to the end of the script.
    pub unread: Option<Unread<'s>>,
}

/// The tail of a script the tokenizer stopped in, and why (`... at line L`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread<'s> {
    pub text: &'s str,
    pub error: String,
}

/// The one statement splitter: cut a script at top-level semicolons, as the tokenizer sees
/// them (quotes, dollar quotes, nested comments). Comments-only pieces are dropped. [`split`]
/// and `shape::split` are two views of it.
pub fn pieces(script: &str) -> Pieces<'_> {
    let toks = match tokens(script) {
        Ok(t) => t,
        Err((msg, at)) => {
            // Keep what precedes the statement holding the error: those are complete.
            let head = &script[..at.min(script.len())];
            let line = head.matches('\n').count() + 1;
            let cut = match tokens(head) {
                Ok(t) => t
                    .iter()
                    .rev()
                    .find(|(tok, _, _)| *tok == Token::SemiColon)
                    .map_or(0, |(_, _, end)| *end),
                Err(_) => 0,
            };
            let mut done = pieces(&script[..cut]);
            done.unread = Some(Unread {
                text: script[cut..].trim(),
                error: format!("{msg} at line {line}"),
            });
            return done;
        }
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut meaningful = false;
    for (tok, s, e) in &toks {
        if *tok == Token::SemiColon {
            if meaningful {
                out.push(script[start..*s].trim());
            }
            start = *e;
            meaningful = false;
        } else if !is_trivia(tok) {
            meaningful = true;
        }
    }
    if meaningful {
        out.push(script[start..].trim());
    }
    Pieces {
        statements: out,
        unread: None,
    }
}

/// Split a script into statements at top-level semicolons (see [`pieces`]); a statement the
/// tokenizer cannot read ends the script, with the reason in [`Split::error`].
pub fn split(script: &str) -> Split {
    let p = pieces(script);
    Split {
        statements: p.statements.into_iter().map(str::to_string).collect(),
        error: p.unread.map(|u| u.error),
    }
}

/// Replace constants by `$n` and compute the fingerprint. Text that cannot be tokenized is
/// kept as is and fingerprinted on its collapsed whitespace.
///
/// Idempotent: `normalize(&normalize(x).text) == normalize(x)`. Snapshots and logs hold
/// normalized text that is read again, and it must keep its fingerprint. So a `$n` is set
/// apart by a space where it would otherwise run into its neighbour (`$1.5e3` is `$1` and
/// `.5e3`: written `$1$2` it would read as a dollar quote), and parameter numbers that
/// PostgreSQL cannot have (above [`MAX_PARAMETER`]) do not move the numbering.
pub fn normalize(sql: &str) -> Normalized {
    let sql = sql
        .trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    let Ok(toks) = tokens(sql) else {
        let collapsed = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        return Normalized {
            fingerprint: fingerprint_of(&collapsed),
            text: sql.to_string(),
        };
    };
    // Existing parameters ($1 from the extended protocol) keep their numbers; constants follow.
    let mut next = toks
        .iter()
        .filter_map(|(t, _, _)| match t {
            Token::Placeholder(p) => p.strip_prefix('$')?.parse::<usize>().ok(),
            _ => None,
        })
        .filter(|&n| n <= MAX_PARAMETER)
        .max()
        .unwrap_or(0);
    let kept = kept_constants(&toks);
    let mut text = String::with_capacity(sql.len());
    let mut key = String::with_capacity(sql.len());
    let mut prev: Option<&Token> = None;
    // The last thing written to `text` was a `$n` of ours.
    let mut after_param = false;
    let mut i = 0;
    while i < toks.len() {
        let (tok, s, e) = &toks[i];
        // A minus sign directly before a number is part of the constant (`= -5`), unless it
        // is a binary minus (`a - 5`).
        let unary_minus = *tok == Token::Minus
            && matches!(toks.get(i + 1), Some((Token::Number(..), _, _)))
            && !matches!(
                prev,
                Some(Token::Word(_) | Token::Number(..) | Token::RParen | Token::Placeholder(_))
            )
            && !prev.is_some_and(is_constant);
        if (is_constant(tok) || unary_minus) && !kept[i] {
            if unary_minus {
                i += 1;
            }
            next = next.saturating_add(1);
            if text.chars().next_back().is_some_and(joins_a_parameter) {
                text.push(' ');
            }
            text.push('$');
            text.push_str(&next.to_string());
            after_param = true;
            key.push_str(" ?");
            prev = Some(&toks[i].0);
            i += 1;
            continue;
        }
        let piece = &sql[*s..*e];
        if after_param && piece.chars().next().is_some_and(joins_a_parameter) {
            text.push(' ');
        }
        after_param = false;
        text.push_str(piece);
        match tok {
            // pg_stat_statements keeps comments; so do we in the text, not in the key.
            Token::Whitespace(_) => {}
            Token::Placeholder(_) => key.push_str(" ?"),
            Token::Word(w) if w.quote_style.is_none() => {
                key.push(' ');
                key.push_str(&w.value.to_lowercase());
            }
            _ => {
                key.push(' ');
                key.push_str(&tok.to_string());
            }
        }
        if !is_trivia(tok) {
            prev = Some(tok);
        }
        i += 1;
    }
    Normalized {
        fingerprint: fingerprint_of(&key),
        text: text.trim().to_string(),
    }
}

/// A clause that follows an ORDER BY / GROUP BY list and so ends it.
fn ends_by_list(k: sqlparser::keywords::Keyword) -> bool {
    use sqlparser::keywords::Keyword as K;
    matches!(
        k,
        K::LIMIT
            | K::OFFSET
            | K::HAVING
            | K::WINDOW
            | K::FETCH
            | K::FOR
            | K::UNION
            | K::EXCEPT
            | K::INTERSECT
    )
}

/// Per token: a number pg_stat_statements leaves as it is, because it is not a value: a type
/// modifier (`decimal(15,4)`, `x::varchar(50)`; written `decimal($1,$2)` it no longer parses)
/// or a position in ORDER BY / GROUP BY (`GROUP BY 1`; as `GROUP BY $1` it groups by a constant
/// and no longer plans).
fn kept_constants(toks: &[Spanned]) -> Vec<bool> {
    use sqlparser::keywords::Keyword as K;
    let mut kept = vec![false; toks.len()];
    let solid: Vec<usize> = (0..toks.len())
        .filter(|&k| !is_trivia(&toks[k].0))
        .collect();
    let kw = |k: Option<&usize>| match k.map(|&k| &toks[k].0) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    };
    // Per open parenthesis: whether it holds a type modifier.
    let mut parens: Vec<bool> = Vec::new();
    // The parenthesis depth of the ORDER BY / GROUP BY list being read.
    let mut by_list: Option<usize> = None;
    for (n, &k) in solid.iter().enumerate() {
        let before = |back: usize| n.checked_sub(back).and_then(|b| solid.get(b));
        match &toks[k].0 {
            Token::LParen => {
                // `::type(` or `AS type(` (one or two words: `character varying(`).
                let typed = |words: usize| {
                    (1..=words)
                        .all(|b| matches!(before(b).map(|&x| &toks[x].0), Some(Token::Word(_))))
                        && (matches!(
                            before(words + 1).map(|&x| &toks[x].0),
                            Some(Token::DoubleColon)
                        ) || kw(before(words + 1)) == Some(K::AS))
                };
                parens.push(typed(1) || typed(2));
            }
            Token::RParen => {
                parens.pop();
                if by_list.is_some_and(|d| d > parens.len()) {
                    by_list = None;
                }
            }
            Token::Number(..) if parens.last() == Some(&true) => kept[k] = true,
            Token::Number(..) if by_list == Some(parens.len()) => {
                let after_item = matches!(before(1).map(|&x| &toks[x].0), Some(Token::Comma))
                    || kw(before(1)) == Some(K::BY);
                let next = solid.get(n + 1);
                let ends = match next.map(|&x| &toks[x].0) {
                    None | Some(Token::Comma | Token::RParen | Token::SemiColon) => true,
                    Some(Token::Word(_)) => {
                        let k = kw(next);
                        matches!(k, Some(K::ASC | K::DESC | K::NULLS | K::ORDER))
                            || k.is_some_and(ends_by_list)
                    }
                    _ => false,
                };
                kept[k] = after_item && ends;
            }
            Token::Word(_) => match kw(Some(&k)) {
                Some(K::BY) if matches!(kw(before(1)), Some(K::ORDER | K::GROUP)) => {
                    by_list = Some(parens.len());
                }
                Some(k)
                    if (ends_by_list(k) || matches!(k, K::SELECT | K::FROM | K::WHERE))
                        && by_list == Some(parens.len()) =>
                {
                    by_list = None
                }
                _ => {}
            },
            Token::SemiColon => {
                by_list = None;
                parens.clear();
            }
            _ => {}
        }
    }
    kept
}

/// A character that, written right next to a `$n`, would be read as part of it (`$1` `2`) or
/// make it part of a name (`b$1`, PostgreSQL names may hold `$`).
fn joins_a_parameter(c: char) -> bool {
    use sqlparser::dialect::Dialect;
    c.is_alphanumeric() || c == '$' || PostgreSqlDialect {}.is_identifier_part(c)
}

/// FNV-1a 64: stable across Rust versions and platforms (std's hasher is not), which matters
/// because fingerprints are written to snapshot files and compared later.
pub fn fingerprint_of(key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_become_numbered_parameters() {
        let n = normalize("SELECT * FROM t WHERE a = 5 AND b = 'x''y' AND c > -2.5;");
        assert_eq!(n.text, "SELECT * FROM t WHERE a = $1 AND b = $2 AND c > $3");
        let m = normalize("select *  from T where A = 7 and b = 'z' and c > 1");
        assert_eq!(n.fingerprint, m.fingerprint, "same shape, same fingerprint");
        assert_ne!(
            n.fingerprint,
            normalize("SELECT * FROM t WHERE a = 5").fingerprint
        );
    }

    #[test]
    fn binary_minus_and_existing_parameters() {
        assert_eq!(
            normalize("select a - 1 from t").text,
            "select a - $1 from t"
        );
        assert_eq!(
            normalize("select * from t where id = $1 and x = 3 limit 10").text,
            "select * from t where id = $1 and x = $2 limit $3"
        );
        assert_eq!(
            normalize("select E'a\\'b', $$x;y$$::text, x'1f'").text,
            "select $1, $2::text, $3"
        );
        assert_eq!(
            normalize("select \"Weird\".id from \"Weird\"").text,
            "select \"Weird\".id from \"Weird\""
        );
    }

    #[test]
    fn split_respects_strings_dollar_quotes_and_comments() {
        let s = split(
            "select 'a;b';\n-- c;d\nselect $f$ x; $f$ /* ; */;\n\n\
             CREATE FUNCTION f() RETURNS int AS $$ select 1; $$ LANGUAGE sql;\n-- only a comment\n",
        );
        assert_eq!(s.error, None);
        assert_eq!(
            s.statements,
            vec![
                "select 'a;b'",
                "-- c;d\nselect $f$ x; $f$ /* ; */",
                "CREATE FUNCTION f() RETURNS int AS $$ select 1; $$ LANGUAGE sql",
            ]
        );
    }

    #[test]
    fn split_stops_at_an_unterminated_string_with_the_complete_part() {
        let s = split("select 1;\nselect 2;\nselect 'oops from t;\n");
        assert_eq!(s.statements, vec!["select 1", "select 2"]);
        let e = s.error.unwrap();
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn type_modifiers_and_sort_positions_stay_as_pg_stat_statements_keeps_them() {
        // As PostgreSQL 15's pg_stat_statements recorded these statements.
        assert_eq!(
            normalize("SELECT cast(price AS decimal(15,4)), x::varchar(50)[], y::character varying(9) FROM t WHERE a = 5").text,
            "SELECT cast(price AS decimal(15,4)), x::varchar(50)[], y::character varying(9) FROM t WHERE a = $1"
        );
        assert_eq!(
            normalize("SELECT status, count(*) FROM post GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5")
                .text,
            "SELECT status, count(*) FROM post GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $1"
        );
        // Values stay values: in a function call, an expression, a subquery's WHERE.
        assert_eq!(
            normalize(
                "SELECT round(x, 2) FROM t ORDER BY coalesce(a, 0), b + 1, (SELECT 1 WHERE c = 3)"
            )
            .text,
            "SELECT round(x, $1) FROM t ORDER BY coalesce(a, $2), b + $3, (SELECT $4 WHERE c = $5)"
        );
    }

    #[test]
    fn fingerprints_are_stable() {
        // Written to snapshot files: must never change between builds.
        assert_eq!(fingerprint_of(""), "cbf29ce484222325");
        assert_eq!(fingerprint_of("a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn normalizing_twice_changes_nothing() {
        for sql in [
            "$1.79e309",
            "select $1.79e309 from t",
            "select 1;;",
            "select 1; ; \n;",
            "select b'01', x'1f'",
            "select 1abc",
            "select 'a'$$b$$",
            "select $'a'",
            "select $4294967295 = 1, 2",
            "select $99999999999999999999999 = 1",
            "select $65535, 1, 2",
        ] {
            let once = normalize(sql);
            assert_eq!(normalize(&once.text), once, "{sql:?} gave {:?}", once.text);
        }
        assert_eq!(normalize("$1.79e309").text, "$1 $2");
        assert_eq!(normalize("select 1; ;").text, "select $1");
        // PostgreSQL has no $4294967296: it does not move the numbering (and cannot overflow it).
        assert_eq!(
            normalize("select $4294967295 = 1").text,
            "select $4294967295 = $1"
        );
    }

    #[test]
    fn a_long_line_is_normalized_in_linear_time() {
        // Each token's position was found by rescanning its line: quadratic, 6 s for 30,000
        // values. One pass takes well under a second even unoptimised.
        let values: Vec<String> = (1..=100_000).map(|i| i.to_string()).collect();
        let sql = format!("SELECT * FROM t WHERE id IN ({})", values.join(", "));
        let started = std::time::Instant::now();
        let n = normalize(&sql);
        let took = started.elapsed();
        assert!(n.text.ends_with("$99999, $100000)"));
        assert!(took.as_secs() < 20, "took {took:?}");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Pieces that tokenize into every kind of token, including the awkward neighbours
        /// (`$1` before `.79e309`, a name before a string, dollar quotes, casts, comments).
        const PIECES: &[&str] = &[
            "select",
            "x",
            "b",
            "e",
            "_",
            "$",
            "$1",
            "$2",
            "$70000",
            "$4294967295",
            "1",
            "1.79e309",
            ".79e309",
            "1e",
            "-",
            "+",
            "=",
            "::",
            "(",
            ")",
            ",",
            ".",
            ";",
            "'a'",
            "E'b\\'c'",
            "x'1f'",
            "B'01'",
            "N'n'",
            "U&'u'",
            "$$d$$",
            "$t$q$t$",
            "\"Q\"",
            "/*c*/",
            "--c\n",
            " ",
            "\n",
            "\t",
        ];

        fn soup() -> impl Strategy<Value = String> {
            proptest::collection::vec(proptest::sample::select(PIECES), 0..30)
                .prop_map(|v| v.concat())
        }

        /// Single tokens that stay the same tokens whatever whitespace separates them.
        const TOKENS: &[&str] = &[
            "select", "from", "T", "where", "and", "$1", "$3", "1", "-", "2.5", "'a'", "=", "<",
            "(", ")", ",", "::", "int", "E'x'", "\"Q\"", "$$d$$", "in", "*", "||",
        ];

        proptest! {
            #[test]
            fn idempotent(sql in prop_oneof![soup(), ".{0,80}"]) {
                let once = normalize(&sql);
                prop_assert_eq!(normalize(&once.text), once);
            }

            #[test]
            fn never_panics(sql in ".{0,200}") {
                let _ = normalize(&sql);
                let _ = split(&sql);
            }

            /// The same tokens, however they are spaced and broken over lines, are one
            /// statement.
            #[test]
            fn spacing_does_not_change_the_fingerprint(
                toks in proptest::collection::vec(proptest::sample::select(TOKENS), 1..30),
                gaps in proptest::collection::vec(
                    proptest::sample::select(&[" ", "  ", "\n", "\t", " \n  "][..]), 30),
            ) {
                let plain = toks.join(" ");
                let spaced: String = toks
                    .iter()
                    .zip(&gaps)
                    .flat_map(|(t, g)| [*t, *g])
                    .collect();
                prop_assert_eq!(normalize(&plain).fingerprint, normalize(&spaced).fingerprint);
            }
        }
    }
}
