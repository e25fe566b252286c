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
    ExtensionMissing { name: String, detail: String },

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
            PgError::Query { code: Some(c), .. } if c == "42501" => "the role lacks a privilege: GRANT pg_read_all_stats (or pg_monitor) to it, or connect as the table owner".into(),
            PgError::Query { code: Some(c), .. } if c == "57014" => "the statement hit statement_timeout; raise it with --statement-timeout".into(),
            PgError::Query { code: Some(c), .. } if c == "25006" => "dbopt connected read-only; this command needs an explicit write flag".into(),
            PgError::Query { .. } => return None,
            PgError::ExtensionMissing { name, detail } if detail.contains("shared_preload_libraries") => format!("ALTER SYSTEM SET shared_preload_libraries = '{name}' (keeping the libraries already listed), restart the server, then run CREATE EXTENSION IF NOT EXISTS {name};"),
            PgError::ExtensionMissing { name, .. } => format!("install the package that ships it (Debian: postgresql-15-{name}) and run CREATE EXTENSION {name};"),
            PgError::NoBinaries { .. } => "install the server (Debian: apt-get install postgresql-15) or point DBOPT_PG_BINDIR at its bin directory".into(),
            PgError::PortInUse { .. } => "choose another port, or leave the port unset to let dbopt pick a free one".into(),
            PgError::Throwaway { log_tail, .. } if log_tail.is_empty() => "run `dbopt doctor` for the local installation; set DBOPT_KEEP_TMP=1 to keep the data directory for inspection".into(),
            PgError::Throwaway { log_tail, .. } => format!("server log says: {log_tail}"),
            PgError::Io(_) => return None,
        })
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
