//! Errors from talking to PostgreSQL, each carrying the hint a user needs to fix it.
//!
//! Why a hand-made mapping: tokio-postgres errors are precise but terse ("db error: ...",
//! "error connecting to server: Connection refused"). A DBA wants to know *what to change*:
//! the host, the password, the extension to create. Every variant therefore has a `hint()`.

use std::fmt;

use super::conninfo::Redacted;

/// too_many_connections: max_connections, or a role's or database's CONNECTION LIMIT.
pub const TOO_MANY_CONNECTIONS: &str = "53300";
/// cannot_connect_now: the server is starting up, shutting down or in recovery.
pub const CANNOT_CONNECT_NOW: &str = "57P03";
/// The SQLSTATEs with which a server refuses a new session: too_many_connections,
/// configuration_limit_exceeded and cannot_connect_now.
pub const REFUSAL_CODES: [&str; 3] = [TOO_MANY_CONNECTIONS, "53400", CANNOT_CONNECT_NOW];

/// insufficient_privilege: "permission denied for table x", "must be owner of ...".
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// The result type of the `pg` module.
pub type Result<T, E = PgError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// Built only from a [`Redacted`] message: it may quote the connection string.
    #[error("invalid connection string: {0}")]
    BadConninfo(Redacted),

    #[error("could not connect to {target}: {reason}")]
    Unreachable { target: String, reason: String },

    #[error("password authentication failed for user \"{user}\" at {target}")]
    AuthFailed { user: String, target: String },

    #[error("database \"{dbname}\" does not exist on {target}")]
    UnknownDatabase { dbname: String, target: String },

    #[error("role \"{user}\" does not exist on {target}")]
    UnknownRole { user: String, target: String },

    /// The server answered and refused a new session (SQLSTATE 53300, 53400 or 57P03): a
    /// limit, not a network problem, so it needs its own hint.
    #[error("{server} refused the connection: {reason}")]
    Refused {
        /// "the server at user@host:port/db", or "the server" where the target is not known.
        server: String,
        code: String,
        reason: String,
    },

    #[error("TLS problem with {target}: {reason}")]
    Tls { target: String, reason: String },

    #[error("{context}: {message}")]
    Query {
        context: String,
        message: String,
        code: Option<String>,
        hint: Option<String>,
    },

    #[error("extension \"{name}\" is not available: {detail}")]
    ExtensionMissing {
        name: String,
        detail: String,
        /// For the package name of extensions packaged per major version (HypoPG).
        server_version_num: Option<i32>,
    },

    #[error("no PostgreSQL server binaries found (looked in {searched})")]
    NoBinaries { searched: String },

    #[error("port {port} on 127.0.0.1 is already in use")]
    PortInUse { port: u16 },

    #[error("the throwaway PostgreSQL server failed: {reason}")]
    Throwaway { reason: String, log_tail: String },

    #[error("{0}")]
    Io(String),
}

impl PgError {
    /// What the user can do about it. One sentence, never the password.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PgError::BadConninfo(_) => "use a URL like postgresql://user@host:5432/db or key=value pairs like \"host=localhost dbname=app\"".into(),
            PgError::Unreachable { .. } => "check that the server is running and accepts TCP connections there (--database-url, PGHOST, PGPORT)".into(),
            PgError::AuthFailed { .. } => "check the password in the URL, PGPASSWORD or ~/.pgpass, and the role name".into(),
            PgError::UnknownDatabase { .. } => "check the database name (--database-url, PGDATABASE); list them with `psql -l`".into(),
            PgError::UnknownRole { .. } => "check the user name (--database-url, PGUSER)".into(),
            PgError::Refused { code, .. } if code == TOO_MANY_CONNECTIONS => "too many clients (max_connections, or the role's or database's CONNECTION LIMIT); use fewer connections (bench pool: a lower --pool-size), close idle sessions, or raise the limit".into(),
            PgError::Refused { code, .. } if code == CANNOT_CONNECT_NOW => "the server is starting up, shutting down or in recovery; wait until it accepts connections and retry".into(),
            PgError::Refused { .. } => "a server limit on sessions was reached; use fewer connections (bench pool: a lower --pool-size) or raise the limit the message names".into(),
            PgError::Tls { .. } => "check sslmode, sslrootcert and the server's certificate; sslmode=require encrypts without verifying".into(),
            PgError::Query { hint: Some(h), .. } => h.clone(),
            PgError::Query { code: Some(c), message, .. } if c == INSUFFICIENT_PRIVILEGE => privilege_hint(message, None),
            PgError::Query { code: Some(c), .. } if c == "57014" => "the statement hit statement_timeout; raise it with --statement-timeout".into(),
            PgError::Query { code: Some(c), .. } if c == "25006" => "dbopt connected read-only; this command needs an explicit write flag".into(),
            PgError::Query { .. } => return None,
            PgError::ExtensionMissing { name, detail, .. } if detail.contains("shared_preload_libraries") => format!("ALTER SYSTEM SET shared_preload_libraries = '{name}' (keeping the libraries already listed), restart the server, then run CREATE EXTENSION IF NOT EXISTS {name};"),
            PgError::ExtensionMissing { name, server_version_num, .. } => format!("run CREATE EXTENSION {name}; (if the server lacks its files: {})", install_hint(name, *server_version_num)),
            PgError::NoBinaries { .. } => "install the server (Debian/Ubuntu: apt-get install postgresql, or postgresql-NN for major version NN) or point DBOPT_PG_BINDIR at its bin directory".into(),
            PgError::PortInUse { .. } => "choose another port, or leave the port unset to let dbopt pick a free one".into(),
            PgError::Throwaway { log_tail, .. } if log_tail.is_empty() => "run `dbopt doctor` for the local installation; set DBOPT_KEEP_TMP=1 to keep the data directory for inspection".into(),
            PgError::Throwaway { log_tail, .. } => format!("server log says: {log_tail}"),
            PgError::Io(_) => return None,
        })
    }

    /// [`PgError::hint`] as the user should read it when connected as `role`: a missing
    /// privilege names the GRANT for that role rather than a placeholder.
    pub fn hint_for(&self, role: Option<&str>) -> Option<String> {
        match self {
            PgError::Query {
                code: Some(c),
                message,
                hint: None,
                ..
            } if c == INSUFFICIENT_PRIVILEGE => Some(privilege_hint(message, role)),
            _ => self.hint(),
        }
    }

    /// SQLSTATE, when the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            PgError::Query { code, .. } => code.as_deref(),
            PgError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The refusal of a new session, when `err` is one (see [`REFUSAL_CODES`]); `server`
    /// names who refused, for the message.
    pub fn refused(server: impl Into<String>, err: &tokio_postgres::Error) -> Option<Self> {
        let db = err.as_db_error()?;
        let code = db.code().code();
        REFUSAL_CODES.contains(&code).then(|| PgError::Refused {
            server: server.into(),
            code: code.to_string(),
            reason: db.message().to_string(),
        })
    }

    /// Wrap a tokio-postgres error raised by a statement, with what dbopt was doing.
    pub fn query(context: impl fmt::Display, err: tokio_postgres::Error) -> Self {
        if let Some(db) = err.as_db_error() {
            PgError::Query {
                context: context.to_string(),
                message: db.message().to_string(),
                code: Some(db.code().code().to_string()),
                hint: db.hint().map(str::to_string),
            }
        } else {
            PgError::Query {
                context: context.to_string(),
                message: flatten(&err),
                code: None,
                hint: None,
            }
        }
    }
}

/// The error with its sources joined on one line ("a: b: c"), without repeats.
pub fn flatten(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut src = err.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

/// What a "permission denied for KIND NAME" message (SQLSTATE 42501) denies: the kind of
/// object, relations folded into `table` (the server also says view, materialized view,
/// foreign table), and the name as the server wrote it.
fn denied_object(message: &str) -> Option<(&'static str, &str)> {
    let rest = message.strip_prefix("permission denied for ")?;
    let (kind, name) = rest.split_once(' ')?;
    let (kind, name) = match kind {
        "table" | "view" | "relation" => ("table", name),
        "materialized" | "foreign" => ("table", name.split_once(' ')?.1),
        "sequence" => ("sequence", name),
        "schema" => ("schema", name),
        "database" => ("database", name),
        "function" | "procedure" => ("function", name),
        _ => return None,
    };
    // Connection checks quote the database name; aclcheck messages do not.
    let name = name
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(name);
    Some((kind, name))
}

/// The GRANT that lifts a server's "permission denied" (SQLSTATE 42501), read from its message:
/// `permission denied for table|view|sequence|schema|database|function X`, or `must be
/// superuser or have privileges of ROLE ...`. The one place every command's privilege hint comes
/// from, so a role is never told to get a grant it already has. `role` is who dbopt connected
/// as; unknown, the GRANT says `<role>`.
pub fn privilege_hint(message: &str, role: Option<&str>) -> String {
    grant_hint(message, None, role)
}

/// [`privilege_hint`] with the denied relation's schema-qualified, quoted name when the caller
/// found it (the server's message has the bare name).
fn grant_hint(message: &str, qualified: Option<&str>, role: Option<&str>) -> String {
    use crate::sql::ident::quote_ident;
    /// Superuser-only catalogs: no GRANT is the answer, their views are.
    const SUPERUSER_ONLY: [&str; 2] = ["pg_statistic", "pg_statistic_ext_data"];
    let to = role.map_or_else(|| "<role>".to_string(), quote_ident);
    if let Some(("table", name)) = denied_object(message) {
        if SUPERUSER_ONLY.contains(&name) {
            return format!("{name} is readable only by superusers; read its view instead (pg_stats, pg_stats_ext), which shows the rows of the tables this role may SELECT");
        }
    }
    let grant = denied_object(message).map(|(kind, name)| {
        let object = qualified.map_or_else(|| quote_ident(name), str::to_string);
        match kind {
            "table" => format!("GRANT SELECT ON {object} TO {to};"),
            "sequence" => format!("GRANT SELECT ON SEQUENCE {object} TO {to};"),
            "schema" => format!("GRANT USAGE ON SCHEMA {object} TO {to};"),
            "database" => format!("GRANT CONNECT ON DATABASE {object} TO {to};"),
            _ => format!("GRANT EXECUTE ON FUNCTION {object} TO {to};"),
        }
    });
    let grant = grant.or_else(|| {
        // "must be superuser or have privileges of pg_read_all_settings to examine ..."
        let (_, after) = message.split_once("have privileges of ")?;
        let granted: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        (!granted.is_empty()).then(|| format!("GRANT {granted} TO {to};"))
    });
    match grant {
        Some(g) => format!("an administrator (or the object's owner) can run: {g}"),
        None if message.starts_with("must be owner of ") => {
            "connect as the object's owner (or a member of the owning role)".into()
        }
        None => "the role lacks a privilege the message names; connect as a role that has it, or GRANT it".into(),
    }
}

/// How to install an extension's files on the server. pg_stat_statements ships with the
/// server itself (contrib); third-party ones such as HypoPG are packaged per major version,
/// so the package name needs `server_version_num` (unknown: `NN`).
pub fn install_hint(extension: &str, server_version_num: Option<i32>) -> String {
    let major = server_version_num
        .filter(|v| *v > 0)
        .map_or_else(|| "NN".to_string(), |v| (v / 10_000).to_string());
    match extension {
        "pg_stat_statements" => format!("pg_stat_statements ships with the server as a contrib module (Debian/Ubuntu: part of postgresql-{major}; RHEL: postgresql{major}-contrib; managed services: enable it in the parameter group)"),
        other => format!("install the package that ships {other} (Debian/Ubuntu: postgresql-{major}-{other}; RHEL: {other}_{major})"),
    }
}

/// The error with its privilege hint filled in for the session's role, and with the denied
/// relation's schema when the server's message only has the bare name: looked up among the
/// relations this role cannot SELECT (ambiguous or not found, the name stays bare).
pub async fn qualify_denied(c: &super::Conn, err: PgError) -> PgError {
    let PgError::Query {
        context,
        message,
        code: Some(code),
        hint: None,
    } = err
    else {
        return err;
    };
    if code != INSUFFICIENT_PRIVILEGE {
        return PgError::Query {
            context,
            message,
            code: Some(code),
            hint: None,
        };
    }
    let relation =
        denied_object(&message).filter(|(kind, _)| matches!(*kind, "table" | "sequence"));
    let qualified = match relation {
        Some((_, name)) => c
            .query(
                "SELECT n.nspname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relname = $1 AND NOT has_table_privilege(c.oid, 'SELECT')",
                &[&name],
            )
            .await
            .ok()
            .filter(|rows| rows.len() == 1)
            .map(|rows| {
                let schema: String = rows[0].get(0);
                format!(
                    "{}.{}",
                    crate::sql::ident::quote_ident(&schema),
                    crate::sql::ident::quote_ident(name)
                )
            }),
        None => None,
    };
    let hint = grant_hint(&message, qualified.as_deref(), Some(c.params().user()));
    PgError::Query {
        context,
        message,
        code: Some(code),
        hint: Some(hint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_hints_name_the_exact_grant() {
        let r = Some("app_ro");
        let cases = [
            ("permission denied for table orders", "GRANT SELECT ON \"orders\" TO \"app_ro\";"),
            ("permission denied for view v", "GRANT SELECT ON \"v\" TO \"app_ro\";"),
            ("permission denied for materialized view mv", "GRANT SELECT ON \"mv\" TO \"app_ro\";"),
            ("permission denied for sequence s", "GRANT SELECT ON SEQUENCE \"s\" TO \"app_ro\";"),
            ("permission denied for schema vault", "GRANT USAGE ON SCHEMA \"vault\" TO \"app_ro\";"),
            ("permission denied for database \"shop\"", "GRANT CONNECT ON DATABASE \"shop\" TO \"app_ro\";"),
            ("permission denied for database shop", "GRANT CONNECT ON DATABASE \"shop\" TO \"app_ro\";"),
            ("permission denied for function pg_stat_statements_reset", "GRANT EXECUTE ON FUNCTION \"pg_stat_statements_reset\" TO \"app_ro\";"),
            ("must be superuser or have privileges of pg_read_all_settings to examine \"shared_preload_libraries\"", "GRANT pg_read_all_settings TO \"app_ro\";"),
        ];
        for (message, grant) in cases {
            let h = privilege_hint(message, r);
            assert!(h.contains(grant), "{message}: {h}");
        }
        assert_eq!(
            grant_hint("permission denied for table orders", Some("\"app\".\"orders\""), r),
            "an administrator (or the object's owner) can run: GRANT SELECT ON \"app\".\"orders\" TO \"app_ro\";"
        );
        // A role name is quoted like any identifier; unknown, it is a placeholder.
        assert!(
            privilege_hint("permission denied for schema s", Some("Bob \"B\""))
                .contains("TO \"Bob \"\"B\"\"\";")
        );
        assert!(privilege_hint("permission denied for schema s", None).contains("TO <role>;"));
        // No grant exists for superuser-only catalogs, and pg_read_all_stats is not one.
        let h = privilege_hint("permission denied for table pg_statistic", r);
        assert!(h.contains("pg_stats") && !h.contains("GRANT"), "{h}");
        assert!(privilege_hint("must be owner of table t", r).contains("owner"));
        // Through the error, at the CLI edge with the role.
        let e = PgError::Query {
            context: "x".into(),
            message: "permission denied for schema vault".into(),
            code: Some(INSUFFICIENT_PRIVILEGE.into()),
            hint: None,
        };
        assert!(e.hint_for(r).unwrap().contains("TO \"app_ro\""));
        assert!(!e.hint().unwrap().contains("pg_read_all_stats"));
    }

    #[test]
    fn install_hints_follow_the_server_and_name_real_packages() {
        let pgss = PgError::ExtensionMissing {
            name: "pg_stat_statements".into(),
            detail: "not created in this database".into(),
            server_version_num: None,
        }
        .hint()
        .unwrap();
        assert!(
            !pgss.contains("postgresql-15-pg_stat_statements")
                && !pgss.contains("-pg_stat_statements"),
            "{pgss}"
        );
        assert!(
            pgss.contains("contrib") && pgss.contains("CREATE EXTENSION pg_stat_statements"),
            "{pgss}"
        );
        let hypo = PgError::ExtensionMissing {
            name: "hypopg".into(),
            detail: "not created in this database".into(),
            server_version_num: Some(160_004),
        }
        .hint()
        .unwrap();
        assert!(
            hypo.contains("postgresql-16-hypopg") && !hypo.contains("postgresql-15"),
            "{hypo}"
        );
        assert!(install_hint("hypopg", Some(130_011)).contains("postgresql-13-hypopg"));
        assert!(install_hint("hypopg", None).contains("postgresql-NN-hypopg"));
    }
}
