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

use super::error::{PgError, Result};

mod keyvalue;
mod pgpass;
mod redact;
mod url;

use keyvalue::parse_kv;
use pgpass::pgpass_lookup;
pub use redact::Redacted;
use url::{parse_url, url_like};

/// Errors of the inner parsers: a message that may quote the input, redacted by the caller.
type Raw<T> = std::result::Result<T, String>;

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
