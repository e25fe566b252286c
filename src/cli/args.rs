//! Option groups shared by several subcommands (flattened into each), so a flag means the same
//! thing everywhere.

use std::time::Duration;

use clap::Args;

use crate::pg::{ConnParams, SessionOptions};

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

    pub fn session(&self, read_only: bool) -> SessionOptions {
        SessionOptions {
            read_only,
            statement_timeout: (!self.statement_timeout.is_zero())
                .then_some(self.statement_timeout),
            quiet: true,
        }
    }
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
