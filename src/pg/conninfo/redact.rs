//! Masking connection strings in messages: every piece of the input that could be a
//! password is replaced before a parse error quotes it.
//!
//! Why by candidates rather than by parsing: the input is malformed (that is why there is an
//! error), so which part is the password is a guess; every plausible guess is masked.

use std::fmt;

use percent_encoding::percent_decode_str;

use super::url::url_like;

/// What replaces a piece of text that could be a password.
const MASK: &str = "********";

/// Pieces of a candidate shorter than this are not masked (they would mask ordinary words);
/// a whole candidate that short is still masked where it stands alone.
const MIN_PIECE: usize = 4;

/// Text derived from a connection string (an error message quoting it), with every piece that
/// could be the password masked. It can only be built by masking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    /// `message` about `input`, with every piece of `input` that could be a password masked.
    pub fn new(input: &str, message: &str) -> Self {
        Redacted(mask(message, &password_candidates(input)))
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every piece of `input` that could be a password, raw, percent-decoded and unescaped: in a
/// URL the userinfo after its first `:` (up to the last `@`); without an `@`, everything after
/// the first `:` of the authority (a forgotten `@` turns the password into a "port"); the
/// `password=` values of the query; in key=value pairs each `password` value, an unquoted one
/// up to the next `key=` (a password with an unquoted space runs on into the next word).
pub(super) fn password_candidates(input: &str) -> Vec<String> {
    let mut found: Vec<&str> = Vec::new();
    let s = input.trim();
    if let Some(u) = url_like(s) {
        let before_query = u.rest.split('?').next().unwrap_or("");
        for part in [u.rest, before_query] {
            match part.rsplit_once('@') {
                Some((userinfo, _)) => found.extend(userinfo.split_once(':').map(|x| x.1)),
                None => {
                    let authority = part.split(['/', '?']).next().unwrap_or("");
                    // The colons of a bracketed IPv6 address are not the password's.
                    let after_host = match authority.strip_prefix('[') {
                        Some(a) => a.split_once(']').map(|x| x.1),
                        None => Some(authority),
                    };
                    found.extend(after_host.and_then(|a| a.split_once(':')).map(|x| x.1));
                }
            }
        }
        if let Some((_, query)) = u.rest.split_once('?') {
            for pair in query.split('&') {
                if let Some((k, v)) = pair.split_once('=') {
                    if decode_lossy(k) == "password" {
                        found.push(v);
                    }
                }
            }
        }
    }
    let kv = regex::Regex::new(
        r"(?s)(?:^|\s)password\s*=\s*(?:'((?:[^'\\]|\\.)*)'?|(.*?)(?:\s+\w+\s*=|$))",
    )
    .expect("valid regex");
    for c in kv.captures_iter(s) {
        found.extend(c.get(1).or(c.get(2)).map(|m| m.as_str().trim()));
    }
    let mut all: Vec<String> = Vec::new();
    for c in found.into_iter().filter(|c| !c.is_empty()) {
        for form in [c.to_string(), decode_lossy(c), c.replace('\\', "")] {
            if !all.contains(&form) {
                all.push(form);
            }
        }
    }
    all
}

fn decode_lossy(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `message` with every run of at least [`MIN_PIECE`] characters that occurs in a candidate
/// replaced by [`MASK`] (so a parser error quoting part of a password is masked too), and each
/// shorter whole candidate where it stands alone.
pub(super) fn mask(message: &str, candidates: &[String]) -> String {
    let cands: Vec<Vec<char>> = candidates.iter().map(|c| c.chars().collect()).collect();
    let msg: Vec<char> = message.chars().collect();
    let alone = |i: usize, len: usize| {
        let edge = |c: Option<&char>| c.is_none_or(|c| !c.is_alphanumeric());
        edge(i.checked_sub(1).and_then(|j| msg.get(j))) && edge(msg.get(i + len))
    };
    let mut out = String::new();
    let mut i = 0;
    while i < msg.len() {
        let mut best = 0;
        for c in &cands {
            for start in 0..c.len() {
                let n = c[start..]
                    .iter()
                    .zip(&msg[i..])
                    .take_while(|(a, b)| a == b)
                    .count();
                let whole = start == 0 && n == c.len() && alone(i, n);
                if (n >= MIN_PIECE || whole) && n > best {
                    best = n;
                }
            }
        }
        if best > 0 {
            out.push_str(MASK);
            i += best;
        } else {
            out.push(msg[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_covers_pieces_and_short_whole_candidates() {
        let c = vec!["hunter22".to_string(), "ab".to_string()];
        assert_eq!(mask("bad \"nter2\" here", &c), "bad \"********\" here");
        assert_eq!(mask("port \"ab\" about", &c), "port \"********\" about");
        assert_eq!(mask("nothing", &c), "nothing");
        // IPv6 colons and the port of a URL with userinfo are not password positions.
        assert!(password_candidates("postgresql://[::1]/db").is_empty());
        assert!(password_candidates("postgresql://u@h:5432/db").is_empty());
        assert_eq!(
            password_candidates("host=h password='it\\'s'"),
            ["it\\'s", "it's"]
        );
    }
}
