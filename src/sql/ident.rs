//! Quoting of identifiers and string literals: the one place dbopt turns a name or a value
//! into SQL text, and (with [`sql_name`]) reads a name the user spelled in SQL back into its
//! parts.
//!
//! Why one place: a name is data the user's schema chose (`Mixed Case`, `select`, `日本`, even
//! `id) WHERE true; DROP TABLE x; --`), and every statement dbopt prints may be pasted into
//! psql or committed as a migration. Quoting always, and only here, means no caller decides
//! whether a name "looks safe", so no name can end a statement or change its meaning.

/// `"name"`: always quoted, embedded `"` doubled, like PostgreSQL's `quote_ident` but without
/// its "leave plain names bare" shortcut (dbopt never trusts a name).
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// `'value'` with embedded `'` doubled. A value holding a backslash is written `E'...'` with
/// the backslashes doubled too, which reads the same whatever the server's
/// `standard_conforming_strings` (dbopt does not set it; with `off`, a plain `'a\'` would not
/// end where it seems to).
pub fn quote_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 3);
    if value.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for ch in value.chars() {
        if ch == '\'' || ch == '\\' {
            out.push(ch);
        }
        out.push(ch);
    }
    out.push('\'');
    out
}

/// Split an SQL-spelled name (`app.events`, `"My Schema"."T"`) into its parts, the way
/// PostgreSQL reads it (unquoted parts fold to lower case). `None` when it is not valid SQL
/// name syntax; the caller then takes the text as one exact name. Never returns raw SQL.
pub fn sql_name(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' || c == '$' {
                    part.extend(c.to_lowercase());
                    chars.next();
                } else {
                    break;
                }
            }
        }
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted_and_quotes_doubled() {
        assert_eq!(quote_ident("status"), r#""status""#);
        assert_eq!(quote_ident("Events 2024"), r#""Events 2024""#);
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_ident(r#"a\"b"#), r#""a\""b""#);
        assert_eq!(quote_ident("select"), r#""select""#);
        assert_eq!(quote_ident("日本"), r#""日本""#);
        assert_eq!(
            quote_ident("id) WHERE true; DROP TABLE x; --"),
            r#""id) WHERE true; DROP TABLE x; --""#
        );
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\b"), r"E'a\\b'");
        assert_eq!(quote_literal(r"a\'b"), r"E'a\\''b'");
        assert_eq!(quote_literal(""), "''");
    }

    #[test]
    fn sql_names() {
        assert_eq!(sql_name("App.Events").unwrap(), ["app", "events"]);
        assert_eq!(sql_name(r#""My S"."T""x""#).unwrap(), ["My S", "T\"x"]);
        assert_eq!(sql_name("events_archive").unwrap(), ["events_archive"]);
        assert!(sql_name("a.b; DROP TABLE events; --").is_none());
        assert!(sql_name("Old \"Events\"").is_none());
        assert!(sql_name("a..b").is_none());
        assert!(sql_name(r#""unterminated"#).is_none());
    }
}
