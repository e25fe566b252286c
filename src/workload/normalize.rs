//! Statement text handling for sources that see raw SQL (log files, `.sql` files, activity
//! samples): splitting a script into statements, replacing constants by `$n` the way
//! pg_stat_statements prints them, and a fingerprint that groups executions of one statement.
//!
//! Why sqlparser's tokenizer and not string scanning: quotes, `E''` escapes, dollar quotes,
//! nested comments and `::` casts are exactly where hand-written splitters go wrong. The
//! tokenizer knows them; we only decide which tokens are constants. We never need a full parse,
//! so statements sqlparser cannot parse (PG-only syntax) are still normalized.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

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
type Spanned = (Token, usize, usize);

/// Tokens with their byte ranges, or the tokenizer's message and the byte offset of the error.
fn tokens(sql: &str) -> Result<Vec<Spanned>, (String, usize)> {
    let dialect = PostgreSqlDialect {};
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |line: u64, col: u64| -> usize {
        let Some(&start) = usize::try_from(line)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .and_then(|l| line_starts.get(l))
        else {
            return sql.len();
        };
        let skip = usize::try_from(col.saturating_sub(1)).unwrap_or(usize::MAX);
        sql[start..]
            .char_indices()
            .nth(skip)
            .map_or(sql.len(), |(i, _)| start + i)
    };
    let toks: Vec<TokenWithSpan> = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| {
            (
                e.message.clone(),
                offset(e.location.line, e.location.column),
            )
        })?;
    let starts: Vec<usize> = toks
        .iter()
        .map(|t| offset(t.span.start.line, t.span.start.column))
        .collect();
    Ok(toks
        .into_iter()
        .enumerate()
        .filter(|(_, t)| t.token != Token::EOF)
        .map(|(i, t)| {
            let end = starts.get(i + 1).copied().unwrap_or(sql.len());
            (t.token, starts[i], end.max(starts[i]))
        })
        .collect())
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

/// Split a script into statements at top-level semicolons. Comments-only pieces are dropped.
pub fn split(script: &str) -> Split {
    let (toks, error) = match tokens(script) {
        Ok(t) => (t, None),
        Err((msg, at)) => {
            // Keep what precedes the statement holding the error: those are complete.
            let line = script[..at.min(script.len())].matches('\n').count() + 1;
            let head = &script[..at.min(script.len())];
            let cut = match tokens(head) {
                Ok(t) => t
                    .iter()
                    .rev()
                    .find(|(tok, _, _)| *tok == Token::SemiColon)
                    .map_or(0, |(_, _, end)| *end),
                Err(_) => 0,
            };
            let done = split(&head[..cut]);
            return Split {
                statements: done.statements,
                error: Some(format!("{msg} at line {line}")),
            };
        }
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut meaningful = false;
    for (tok, s, e) in &toks {
        if *tok == Token::SemiColon {
            if meaningful {
                out.push(script[start..*s].trim().to_string());
            }
            start = *e;
            meaningful = false;
        } else if !is_trivia(tok) {
            meaningful = true;
        }
    }
    if meaningful {
        out.push(script[start..].trim().to_string());
    }
    Split {
        statements: out,
        error,
    }
}

/// Replace constants by `$n` and compute the fingerprint. Text that cannot be tokenized is
/// kept as is and fingerprinted on its collapsed whitespace.
pub fn normalize(sql: &str) -> Normalized {
    let sql = sql.trim().trim_end_matches(';').trim_end();
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
            Token::Placeholder(p) => p.strip_prefix('$')?.parse::<u32>().ok(),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let mut text = String::with_capacity(sql.len());
    let mut key = String::with_capacity(sql.len());
    let mut prev: Option<&Token> = None;
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
        if is_constant(tok) || unary_minus {
            if unary_minus {
                i += 1;
            }
            next += 1;
            text.push_str(&format!("${next}"));
            key.push_str(" ?");
            prev = Some(&toks[i].0);
            i += 1;
            continue;
        }
        match tok {
            Token::Whitespace(Whitespace::SingleLineComment { .. })
            | Token::Whitespace(Whitespace::MultiLineComment(_)) => {
                // pg_stat_statements keeps comments; so do we in the text, not in the key.
                text.push_str(&sql[*s..*e]);
            }
            Token::Whitespace(_) => text.push_str(&sql[*s..*e]),
            Token::Placeholder(_) => {
                text.push_str(&sql[*s..*e]);
                key.push_str(" ?");
            }
            Token::Word(w) if w.quote_style.is_none() => {
                text.push_str(&sql[*s..*e]);
                key.push(' ');
                key.push_str(&w.value.to_lowercase());
            }
            _ => {
                text.push_str(&sql[*s..*e]);
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
    fn fingerprints_are_stable() {
        // Written to snapshot files: must never change between builds.
        assert_eq!(fingerprint_of(""), "cbf29ce484222325");
        assert_eq!(fingerprint_of("a"), "af63dc4c8601ec8c");
    }
}
