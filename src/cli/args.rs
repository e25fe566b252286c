//! Option groups shared by several subcommands (flattened into each), so a flag means the same
//! thing everywhere.

use std::time::Duration;

use std::path::PathBuf;

use clap::Args;

use super::{ExitStatus, Globals};
use crate::commands::Origin;
use crate::findings::Finding;
use crate::findings::Severity;
use crate::pg::source::Live;
use crate::pg::{Conn, ConnParams, SessionOptions};

/// Where to connect, libpq style.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Connection URL (postgresql://user@host:port/db) or key=value conninfo
    /// ("host=... dbname=..."). Unset parts come from PGHOST, PGPORT, PGUSER, PGPASSWORD,
    /// PGDATABASE, PGSSLMODE, PGAPPNAME and ~/.pgpass, as with psql.
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// statement_timeout for dbopt's sessions ("30s", "500ms", "5min"; 0 for none).
    #[arg(long, global = true, default_value = "60s", value_parser = parse_pg_timeout, value_name = "DURATION")]
    pub statement_timeout: Duration,
}

impl ConnectArgs {
    pub fn params(&self) -> crate::pg::Result<ConnParams> {
        ConnParams::from_env(self.database_url.as_deref())
    }

    /// A session on the server these flags name (read-only unless `read_only` is false).
    pub async fn open(&self, read_only: bool) -> crate::pg::Result<Conn> {
        crate::pg::connect(&self.params()?, &self.session(read_only)).await
    }

    /// Where to connect and how, for a command that connects later (`read_only` as in
    /// [`ConnectArgs::open`]).
    pub fn live(&self, read_only: bool) -> crate::pg::Result<Live> {
        self.live_with(self.session(read_only))
    }

    /// Where to connect, with session options of the caller's own (`migrations --apply`).
    pub fn live_with(&self, session: SessionOptions) -> crate::pg::Result<Live> {
        Ok(Live {
            params: self.params()?,
            session,
        })
    }

    pub fn session(&self, read_only: bool) -> SessionOptions {
        SessionOptions {
            read_only,
            statement_timeout: (!self.statement_timeout.is_zero())
                .then_some(self.statement_timeout),
            quiet: true,
        }
    }
}

/// `--fail-on`: exit 1 when a finding reaches this severity.
#[derive(Debug, Clone, Args)]
pub struct FailOn {
    /// Exit with status 1 when a finding is at least this severe.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,
}

impl FailOn {
    pub fn status(&self, findings: &[Finding]) -> ExitStatus {
        self.status_of(findings.iter().map(|f| f.severity).max())
    }

    /// The exit status when the worst outcome is `worst`.
    pub fn status_of(&self, worst: Option<Severity>) -> ExitStatus {
        fail_status(self.fail_on, worst)
    }
}

/// Exit 1 when the worst outcome reaches `--fail-on`, else 0: the one rule of every command
/// that has the flag.
pub fn fail_status(limit: Option<Severity>, worst: Option<Severity>) -> ExitStatus {
    match (limit, worst) {
        (Some(level), Some(w)) if w >= level => ExitStatus::Findings,
        _ => ExitStatus::Ok,
    }
}

/// Where the catalog comes from: the server, or a snapshot file.
#[derive(Debug, Clone, Args)]
pub struct CatalogArgs {
    /// Read the catalog from a file written by `dbopt snapshot` (no server needed).
    #[arg(long, value_name = "FILE")]
    pub from_snapshot: Option<PathBuf>,
}

impl CatalogArgs {
    /// The snapshot file, else the server of the connection flags (read-only).
    pub fn origin(&self, g: &Globals) -> crate::pg::Result<Origin> {
        origin(self.from_snapshot.as_ref(), g)
    }
}

/// `--from-snapshot FILE` when given, else the server of the connection flags (read-only).
pub fn origin(from_snapshot: Option<&PathBuf>, g: &Globals) -> crate::pg::Result<Origin> {
    Ok(match from_snapshot {
        Some(p) => Origin::Snapshot(p.clone()),
        None => Origin::Server(g.connect.live(true)?),
    })
}

pub use crate::units::{parse_duration, parse_percent, parse_pg_timeout, MAX_COUNT};

/// A count of clients, connections or steps: a whole number from 1 to [`MAX_COUNT`].
pub fn parse_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_COUNT).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {MAX_COUNT}")),
    }
}

/// Like [`parse_count`], but 0 is allowed (spindles of an SSD server).
pub fn parse_count_or_zero(s: &str) -> Result<usize, String> {
    if s.trim() == "0" {
        return Ok(0);
    }
    parse_count(s).map_err(|_| format!("expected a whole number from 0 to {MAX_COUNT}"))
}
