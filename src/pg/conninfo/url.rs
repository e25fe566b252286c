//! `postgresql://` URLs: telling one from key=value pairs, its scheme, and its parts.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use super::Raw;

/// A connection string that looks like a URL: `scheme`, the `:`/`/` run after it, the rest.
pub(super) struct UrlLike<'a> {
    pub(super) scheme: &'a str,
    pub(super) separator: &'a str,
    pub(super) rest: &'a str,
}

/// The input is URL-like when its first word (up to `=` or a blank) has a `:` or a `/`:
/// key=value strings never do, so `postgressql://`, `postgres:/` and `http://` are caught
/// here instead of being read as a key without `=` (and echoed, password and all).
pub(super) fn url_like(s: &str) -> Option<UrlLike<'_>> {
    let first = s.split(|c: char| c == '=' || c.is_whitespace()).next()?;
    if !first.contains([':', '/']) {
        return None;
    }
    let re = regex::Regex::new(r"(?s)^([A-Za-z0-9+.\-]*)(://|[:/]*)(.*)$").expect("valid regex");
    let c = re.captures(s)?;
    let part = |i| c.get(i).map_or("", |m: regex::Match<'_>| m.as_str());
    Some(UrlLike {
        scheme: part(1),
        separator: part(2),
        rest: part(3),
    })
}

impl UrlLike<'_> {
    /// libpq accepts exactly `postgresql://` and `postgres://`, in lower case.
    pub(super) fn check_scheme(&self) -> Raw<()> {
        let known = ["postgresql", "postgres"];
        if known.contains(&self.scheme) && self.separator == "://" {
            return Ok(());
        }
        Err(if known.contains(&self.scheme) {
            format!(
                "malformed URL: `{}{}` must be `{}://`",
                self.scheme, self.separator, self.scheme
            )
        } else if known.iter().any(|k| k.eq_ignore_ascii_case(self.scheme)) {
            format!(
                "URL scheme `{}` must be lower case, as libpq requires (postgresql:// or postgres://)",
                self.scheme
            )
        } else if self.scheme.is_empty() {
            "neither a postgresql:// URL nor key=value pairs".to_string()
        } else {
            format!(
                "unknown URL scheme `{}`; use postgresql:// or postgres://",
                self.scheme
            )
        })
    }
}

fn decode(s: &str) -> Raw<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("invalid percent-encoding in \"{s}\""))
}

/// `postgresql://[user[:password]@][host][:port][,...][/dbname][?param=value&...]`, from the
/// part after `://`.
pub(super) fn parse_url(rest: &str) -> Raw<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let (rest, query) = match rest.split_once('?') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let has_userinfo = authority.contains('@');
    let hostspec = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let (user, pw) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                out.insert("user".into(), decode(user)?);
            }
            if let Some(p) = pw {
                out.insert("password".into(), decode(p)?);
            }
            hosts
        }
        None => authority,
    };
    if !hostspec.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for part in hostspec.split(',') {
            let (h, p) = if let Some(stripped) = part.strip_prefix('[') {
                let end = stripped
                    .find(']')
                    .ok_or_else(|| format!("unterminated IPv6 address in \"{part}\""))?;
                let after = &stripped[end + 1..];
                (stripped[..end].to_string(), after.strip_prefix(':'))
            } else {
                match part.split_once(':') {
                    Some((h, p)) => (h.to_string(), Some(p)),
                    None => (part.to_string(), None),
                }
            };
            hosts.push(decode(&h)?);
            if let Some(p) = p {
                if p.parse::<u16>().is_err() {
                    return Err(if has_userinfo {
                        format!("invalid port \"{p}\" in URL")
                    } else {
                        format!("invalid port \"{p}\" in URL (with a password, write user:password@host)")
                    });
                }
                ports.push(p.to_string());
            }
        }
        if hosts.iter().any(|h| !h.is_empty()) {
            out.insert("host".into(), hosts.join(","));
        }
        if !ports.is_empty() {
            out.insert("port".into(), ports.join(","));
        }
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        out.insert("dbname".into(), decode(db)?);
    }
    if let Some(q) = query {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("URL parameter \"{pair}\" has no value"))?;
            out.insert(decode(k)?, decode(v)?);
        }
    }
    Ok(out)
}
