//! `key=value` connection strings, quoted values and backslash escapes as libpq reads them.

use std::collections::BTreeMap;

use super::Raw;

/// `key=value key2='quoted \' value'`
pub(super) fn parse_kv(s: &str) -> Raw<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut last_key = String::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            // After an unquoted password this word is the rest of the password: never echo it.
            return Err(if last_key == "password" {
                "missing \"=\" after the password value: quote a password that contains spaces (password='...')".to_string()
            } else {
                format!(
                    "missing \"=\" after \"{key}\" (expected a postgresql:// URL or key=value pairs)"
                )
            });
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(format!("unterminated quoted value for \"{key}\""));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    value.extend(chars.next());
                } else {
                    value.push(c);
                    chars.next();
                }
            }
        }
        if key.is_empty() {
            return Err("empty parameter name".into());
        }
        last_key.clone_from(&key);
        out.insert(key, value);
    }
    Ok(out)
}
