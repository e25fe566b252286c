//! libpq-compatible connection parameters: URLs, `key=value` strings, `PG*` variables, `.pgpass`.
//!
//! Why our own parser: tokio-postgres understands URLs and key=value strings but not the
//! environment, `.pgpass`, `sslmode=verify-ca|verify-full` or `sslrootcert`, and its `Debug`
//! shows the password. Users expect dbopt to connect exactly where `psql` would, so the
//! precedence is libpq's: explicit parameters, then `PG*` variables, then built-in defaults,
//! and the password from `.pgpass` when none was given.
//!
//! Why every parse error goes through [`Redacted`]: a malformed connection string is exactly the
//! case where dbopt cannot tell which part is the password (a mistyped scheme, a URL without a
//! host, an unquoted space in `password=`), so messages quoting the input mask every piece of
//! it that could be one. The inner parsers return plain text; [`ConnParams::parse`] is the one
//! place that turns it into an error, through the one masking function.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

use super::error::{PgError, Result};

/// Errors of the inner parsers: a message that may quote the input, redacted by the caller.
type Raw<T> = std::result::Result<T, String>;

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

/// A connection string that looks like a URL: `scheme`, the `:`/`/` run after it, the rest.
struct UrlLike<'a> {
    scheme: &'a str,
    separator: &'a str,
    rest: &'a str,
}

/// The input is URL-like when its first word (up to `=` or a blank) has a `:` or a `/`:
/// key=value strings never do, so `postgressql://`, `postgres:/` and `http://` are caught
/// here instead of being read as a key without `=` (and echoed, password and all).
fn url_like(s: &str) -> Option<UrlLike<'_>> {
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
    fn check_scheme(&self) -> Raw<()> {
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

/// Every piece of `input` that could be a password, raw, percent-decoded and unescaped: in a
/// URL the userinfo after its first `:` (up to the last `@`); without an `@`, everything after
/// the first `:` of the authority (a forgotten `@` turns the password into a "port"); the
/// `password=` values of the query; in key=value pairs each `password` value, an unquoted one
/// up to the next `key=` (a password with an unquoted space runs on into the next word).
fn password_candidates(input: &str) -> Vec<String> {
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
fn mask(message: &str, candidates: &[String]) -> String {
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

/// Parameters libpq accepts that dbopt honours (others are rejected, as libpq does).
const KNOWN: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "connect_timeout",
    "options",
    "application_name",
    "fallback_application_name",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "target_session_attrs",
    "client_encoding",
    "keepalives",
    "keepalives_idle",
];

/// `PG*` environment variables and the parameter each one sets.
const ENV: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
];

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Raw<Self> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "invalid sslmode \"{other}\" (use disable, allow, prefer, require, verify-ca or verify-full)"
                ))
            }
        })
    }
}

/// Resolved connection parameters. `Display` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnParams {
    params: BTreeMap<String, String>,
}

impl fmt::Debug for ConnParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: BTreeMap<_, _> = self
            .params
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if k == "password" {
                        "********"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("ConnParams")
            .field("params", &shown)
            .finish()
    }
}

impl ConnParams {
    /// Parse an explicit connection string (URL or key=value) only, with no environment.
    /// Errors quote the input only through [`Redacted`].
    pub fn parse(conninfo: &str) -> Result<Self> {
        Self::parse_raw(conninfo.trim())
            .map_err(|m| PgError::BadConninfo(Redacted::new(conninfo, &m)))
    }

    fn parse_raw(trimmed: &str) -> Raw<Self> {
        let params = match url_like(trimmed) {
            Some(u) => {
                u.check_scheme()?;
                parse_url(u.rest)?
            }
            None => parse_kv(trimmed)?,
        };
        for key in params.keys() {
            if !KNOWN.contains(&key.as_str()) {
                return Err(format!("unknown connection option \"{key}\""));
            }
        }
        let me = ConnParams { params };
        if let Some(m) = me.get("sslmode") {
            SslMode::parse(m)?;
        }
        if let Some(p) = me.get("port") {
            for part in p.split(',') {
                part.parse::<u16>()
                    .map_err(|_| format!("invalid port \"{part}\""))?;
            }
        }
        Ok(me)
    }

    /// An error about these parameters, masked against their password like a parse error.
    pub fn bad(&self, message: &str) -> PgError {
        PgError::BadConninfo(Redacted::new(&self.to_kv_string(), message))
    }

    /// The full libpq resolution: explicit string, then `env`, then defaults, then `.pgpass`.
    /// `env` is passed in so tests can resolve without touching the process environment.
    pub fn resolve(conninfo: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let mut me = match conninfo {
            Some(s) if !s.trim().is_empty() => Self::parse(s)?,
            _ => ConnParams {
                params: BTreeMap::new(),
            },
        };
        for (var, key) in ENV {
            if !me.params.contains_key(*key) {
                if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                    me.params.insert((*key).to_string(), v);
                }
            }
        }
        // Validate what the environment brought in, too.
        let me = Self::parse(&me.to_kv_string())?;
        let mut me = me;
        if !me.params.contains_key("host") && !me.params.contains_key("hostaddr") {
            let host = if Path::new("/var/run/postgresql").is_dir() {
                "/var/run/postgresql"
            } else {
                "localhost"
            };
            me.params.insert("host".into(), host.into());
        }
        me.params
            .entry("port".into())
            .or_insert_with(|| "5432".into());
        if !me.params.contains_key("user") {
            me.params.insert("user".into(), os_user());
        }
        if !me.params.contains_key("dbname") {
            let user = me.params["user"].clone();
            me.params.insert("dbname".into(), user);
        }
        if !me.params.contains_key("password") {
            let passfile = me
                .get("passfile")
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|h| Path::new(&h).join(".pgpass")));
            if let Some(pw) = passfile.and_then(|f| pgpass_lookup(&f, &me)) {
                me.params.insert("password".into(), pw);
            }
        }
        Ok(me)
    }

    /// Resolve against the real process environment.
    pub fn from_env(conninfo: Option<&str>) -> Result<Self> {
        Self::resolve(conninfo, &|k| std::env::var(k).ok())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.params.insert(key.to_string(), value.into());
    }

    pub fn hosts(&self) -> Vec<String> {
        self.get("host")
            .map(|h| h.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    }

    pub fn ports(&self) -> Vec<u16> {
        self.get("port")
            .map(|p| p.split(',').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default()
    }

    pub fn user(&self) -> &str {
        self.get("user").unwrap_or("")
    }

    pub fn dbname(&self) -> &str {
        self.get("dbname").unwrap_or("")
    }

    pub fn password(&self) -> Option<&str> {
        self.get("password")
    }

    pub fn sslmode(&self) -> SslMode {
        self.get("sslmode")
            .and_then(|m| SslMode::parse(m).ok())
            .unwrap_or(SslMode::Prefer)
    }

    /// `user@host:port/dbname`, for messages. Never includes the password.
    pub fn target(&self) -> String {
        let hosts = match self.get("hostaddr").or(self.get("host")) {
            Some(h) => h.split(',').map(str::to_string).collect(),
            None => vec!["localhost".to_string()],
        };
        format!(
            "{}@{}/{}",
            self.user(),
            self.host_ports(&hosts, |h| h.to_string()),
            self.dbname()
        )
    }

    /// `host:port,...`: each host with its port (one port serves every host, as in libpq),
    /// IPv6 addresses in brackets; `enc` encodes each host.
    fn host_ports(&self, hosts: &[String], enc: impl Fn(&str) -> String) -> String {
        let ports: Vec<&str> = self.get("port").unwrap_or("5432").split(',').collect();
        hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or("5432");
                if h.contains(':') {
                    format!("[{}]:{port}", enc(h))
                } else {
                    format!("{}:{port}", enc(h))
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A `postgresql://` URL without the password, safe to print.
    pub fn redacted_url(&self) -> String {
        self.url(false)
    }

    /// A `postgresql://` URL including the password, for handing to other programs.
    pub fn url_with_password(&self) -> String {
        self.url(true)
    }

    fn url(&self, with_password: bool) -> String {
        use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
        // RFC 3986 unreserved characters stay as they are.
        const SET: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let enc = |s: &str| utf8_percent_encode(s, SET).to_string();
        let mut out = String::from("postgresql://");
        out.push_str(&enc(self.user()));
        if let (true, Some(pw)) = (with_password, self.password()) {
            out.push(':');
            out.push_str(&enc(pw));
        }
        out.push('@');
        let host = self.get("host").unwrap_or("localhost");
        let socket = host.split(',').any(|h| h.starts_with('/'));
        if !socket {
            let hosts: Vec<String> = host.split(',').map(str::to_string).collect();
            // ':' stays as it is inside the brackets of an IPv6 address.
            out.push_str(&self.host_ports(&hosts, |h| enc(h).replace("%3A", ":")));
        }
        out.push('/');
        out.push_str(&enc(self.dbname()));
        let mut query: Vec<String> = Vec::new();
        if socket {
            query.push(format!("host={}", enc(host)));
            query.push(format!("port={}", self.get("port").unwrap_or("5432")));
        }
        for (k, v) in &self.params {
            if !matches!(k.as_str(), "user" | "password" | "host" | "port" | "dbname") {
                query.push(format!("{k}={}", enc(v)));
            }
        }
        if !query.is_empty() {
            out.push('?');
            out.push_str(&query.join("&"));
        }
        out
    }

    /// key=value form (with the password), used to re-validate merged parameters.
    fn to_kv_string(&self) -> String {
        self.params
            .iter()
            .map(|(k, v)| format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn os_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "postgres".into())
}

fn decode(s: &str) -> Raw<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("invalid percent-encoding in \"{s}\""))
}

/// `postgresql://[user[:password]@][host][:port][,...][/dbname][?param=value&...]`, from the
/// part after `://`.
fn parse_url(rest: &str) -> Raw<BTreeMap<String, String>> {
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

/// `key=value key2='quoted \' value'`
fn parse_kv(s: &str) -> Raw<BTreeMap<String, String>> {
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

/// Look the password up in a `.pgpass` file, as libpq does (first match wins; `*` matches
/// anything; a socket directory matches `localhost`). Files readable by group or others are
/// ignored with a warning, like libpq.
fn pgpass_lookup(file: &Path, p: &ConnParams) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            file.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let host = p.hosts().into_iter().next().unwrap_or_default();
    let host = if host.starts_with('/') || host.is_empty() {
        "localhost".to_string()
    } else {
        host
    };
    let port = p
        .get("port")
        .unwrap_or("5432")
        .split(',')
        .next()
        .unwrap_or("5432")
        .to_string();
    let want = [host.as_str(), port.as_str(), p.dbname(), p.user()];
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass(line);
        if fields.len() < 5 {
            continue;
        }
        if want.iter().zip(&fields).all(|(w, f)| f == "*" || f == w) {
            return Some(fields[4..].join(":"));
        }
    }
    None
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().unwrap().extend(chars.next()),
            ':' => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn url_with_everything() {
        let p = ConnParams::parse("postgresql://al%40ice:s3cr%3At@db.example.com:6432/app%20db?sslmode=require&application_name=x").unwrap();
        assert_eq!(p.user(), "al@ice");
        assert_eq!(p.password(), Some("s3cr:t"));
        assert_eq!(p.hosts(), vec!["db.example.com"]);
        assert_eq!(p.ports(), vec![6432]);
        assert_eq!(p.dbname(), "app db");
        assert_eq!(p.sslmode(), SslMode::Require);
        assert_eq!(p.get("application_name"), Some("x"));
    }

    #[test]
    fn url_multi_host_and_ipv6() {
        let p = ConnParams::parse("postgres://[::1]:5433,other:5434/db").unwrap();
        assert_eq!(p.hosts(), vec!["::1", "other"]);
        assert_eq!(p.ports(), vec![5433, 5434]);
    }

    #[test]
    fn url_socket_host_in_query() {
        let p = ConnParams::parse("postgresql:///mydb?host=/tmp/sock&port=5999").unwrap();
        assert_eq!(p.hosts(), vec!["/tmp/sock"]);
        assert_eq!(p.dbname(), "mydb");
        assert_eq!(p.ports(), vec![5999]);
    }

    #[test]
    fn kv_with_quotes_and_escapes() {
        let p = ConnParams::parse(
            "host=localhost  port = 5544 dbname='my db' password='it\\'s' user=bob",
        )
        .unwrap();
        assert_eq!(p.dbname(), "my db");
        assert_eq!(p.password(), Some("it's"));
        assert_eq!(p.ports(), vec![5544]);
        assert_eq!(p.user(), "bob");
    }

    #[test]
    fn malformed_inputs_are_rejected_with_a_reason() {
        for (input, needle) in [
            ("host=localhost dbname", "missing \"=\""),
            ("postgresql://u@h:notaport/db", "invalid port"),
            ("bogus=1", "unknown connection option"),
            ("sslmode=sometimes", "invalid sslmode"),
            ("password='open", "unterminated"),
            ("postgresql://[::1/db", "IPv6"),
        ] {
            let err = ConnParams::parse(input).unwrap_err().to_string();
            assert!(err.contains(needle), "{input}: {err}");
        }
    }

    #[test]
    fn explicit_beats_env_beats_defaults() {
        let env = |k: &str| match k {
            "PGHOST" => Some("envhost".to_string()),
            "PGPORT" => Some("7777".to_string()),
            "PGUSER" => Some("envuser".to_string()),
            "PGDATABASE" => Some("envdb".to_string()),
            "PGPASSWORD" => Some("envpw".to_string()),
            "PGSSLMODE" => Some("verify-full".to_string()),
            "PGAPPNAME" => Some("myapp".to_string()),
            _ => None,
        };
        let p = ConnParams::resolve(Some("host=explicit dbname=d"), &env).unwrap();
        assert_eq!(p.hosts(), vec!["explicit"]);
        assert_eq!(p.dbname(), "d");
        assert_eq!(p.ports(), vec![7777]);
        assert_eq!(p.user(), "envuser");
        assert_eq!(p.password(), Some("envpw"));
        assert_eq!(p.sslmode(), SslMode::VerifyFull);
        assert_eq!(p.get("application_name"), Some("myapp"));
    }

    #[test]
    fn defaults_fill_the_rest() {
        let p = ConnParams::resolve(None, &no_env).unwrap();
        assert_eq!(p.ports(), vec![5432]);
        assert!(!p.user().is_empty());
        assert_eq!(p.dbname(), p.user());
        assert_eq!(p.sslmode(), SslMode::Prefer);
    }

    #[test]
    fn bad_env_value_is_an_error() {
        let env = |k: &str| (k == "PGPORT").then(|| "54x".to_string());
        let err = ConnParams::resolve(None, &env).unwrap_err().to_string();
        assert!(err.contains("invalid port"), "{err}");
    }

    #[test]
    fn pgpass_matches_like_libpq() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pgpass");
        std::fs::write(
            &f,
            "# comment\nother:*:*:*:nope\nlocalhost:5432:*:bob:pa\\:ss\n*:*:*:*:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let pf = f.display().to_string();
        let env = move |k: &str| (k == "PGPASSFILE").then(|| pf.clone());
        let p = ConnParams::resolve(Some("host=/var/run/x user=bob dbname=d"), &env).unwrap();
        assert_eq!(p.password(), Some("pa:ss"));
        let p = ConnParams::resolve(Some("host=elsewhere user=carol"), &env).unwrap();
        assert_eq!(p.password(), Some("fallback"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let p = ConnParams::resolve(Some("host=elsewhere user=carol"), &env).unwrap();
        assert_eq!(p.password(), None, "world-readable .pgpass must be ignored");
    }

    /// Every 4-character piece of `pw` (and `pw` itself) is absent from `text`.
    fn assert_no_piece(text: &str, pw: &str) {
        let c: Vec<char> = pw.chars().collect();
        assert!(!text.contains(pw), "{text}");
        for w in c.windows(4) {
            let piece: String = w.iter().collect();
            assert!(
                !text.contains(&piece),
                "{piece:?} of the password in: {text}"
            );
        }
    }

    #[test]
    fn malformed_strings_never_echo_the_password() {
        for (input, pw, needle) in [
            (
                "postgressql://u:S3cr3tPw@h/db",
                "S3cr3tPw",
                "unknown URL scheme `postgressql`",
            ),
            (
                "postgres:/u:S3cr3tPw@h/db",
                "S3cr3tPw",
                "`postgres:/` must be `postgres://`",
            ),
            (
                "postgresql//u:S3cr3tPw@h/db",
                "S3cr3tPw",
                "must be `postgresql://`",
            ),
            (
                "http://u:S3cr3tPw@h/db",
                "S3cr3tPw",
                "unknown URL scheme `http`",
            ),
            ("POSTGRESQL://u:S3cr3tPw@h/db", "S3cr3tPw", "lower case"),
            ("postgresql://u:S3cr3tPw/db", "S3cr3tPw", "invalid port"),
            ("postgresql://u:ab/db", "ab", "user:password@host"),
            (
                "host=h password=S3cr3t Pw0rd dbname=d",
                "S3cr3t Pw0rd",
                "quote a password",
            ),
            (
                "host=h password=S3cr3t Pw0rd",
                "S3cr3t Pw0rd",
                "quote a password",
            ),
            (
                "postgresql://u:S3cr%ffPw@h/db",
                "S3cr%ffPw",
                "percent-encoding",
            ),
            (
                "postgresql://h/db?password=S3cr%ffPw",
                "S3cr%ffPw",
                "percent-encoding",
            ),
            ("postgresql://u:S3cr3tPw@[::1/db", "S3cr3tPw", "IPv6"),
            ("host=h password='S3cr3tPw", "S3cr3tPw", "unterminated"),
            ("postgresql://u:pa/ssw0rd@h/db", "pa/ssw0rd", "invalid port"),
        ] {
            let err = match ConnParams::parse(input) {
                Err(e) => e.to_string(),
                Ok(p) => panic!("{input} must be refused: {p:?}"),
            };
            assert!(err.contains(needle), "{input}: {err}");
            assert_no_piece(&err, pw);
            if let Some((a, b)) = pw.split_once(' ') {
                assert_no_piece(&err, a);
                assert_no_piece(&err, b);
            }
        }
    }

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

    #[test]
    fn urls_bracket_ipv6_hosts_and_pair_each_host_with_its_port() {
        let p = ConnParams::parse("host=::1 port=5433 user=u password=pw dbname=d").unwrap();
        assert_eq!(p.url_with_password(), "postgresql://u:pw@[::1]:5433/d");
        assert_eq!(ConnParams::parse(&p.url_with_password()).unwrap(), p);
        assert_eq!(p.target(), "u@[::1]:5433/d");
        let p = ConnParams::parse("host=a.example,::1 port=5433,5434 user=u dbname=d").unwrap();
        assert_eq!(
            p.redacted_url(),
            "postgresql://u@a.example:5433,[::1]:5434/d"
        );
        assert_eq!(ConnParams::parse(&p.redacted_url()).unwrap(), p);
        let p = ConnParams::parse("host=a,b port=7 user=u dbname=d").unwrap();
        assert_eq!(p.redacted_url(), "postgresql://u@a:7,b:7/d");
        assert_eq!(
            ConnParams::parse(&p.redacted_url()).unwrap().hosts(),
            ["a", "b"]
        );
    }

    #[test]
    fn password_never_displayed() {
        let p = ConnParams::parse("postgresql://u:hunter2@h:5432/db").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(!p.target().contains("hunter2"));
        assert!(!p.redacted_url().contains("hunter2"));
        assert!(p.url_with_password().contains("hunter2"));
        let round = ConnParams::parse(&p.url_with_password()).unwrap();
        assert_eq!(round, p);
    }
}
