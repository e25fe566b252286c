//! The workload-source flags, flattened into every command that reads a workload (`advise`,
//! `queries`, `snapshot`, ...), so `--log FILE` means the same thing everywhere.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::args::parse_duration;
use super::Globals;
use crate::pg::source::Live;
use crate::workload::log::{LogFormat, DEFAULT_PREFIX};
use crate::workload::source::{self, SourceSpec};

/// Where the workload comes from. Without any of these, pg_stat_statements is read.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Workload sources")]
pub struct SourceArgs {
    /// Read pg_stat_statements (the default when no other source is given; combine with the
    /// others by naming it).
    #[arg(long)]
    pub pg_stat_statements: bool,

    /// Read statements from a .sql file (`-` for standard input); repeatable.
    #[arg(long = "queries", value_name = "FILE")]
    pub queries: Vec<PathBuf>,

    /// Read statements and their durations from a PostgreSQL log file
    /// (log_min_duration_statement lines); repeatable.
    #[arg(long = "log", value_name = "FILE")]
    pub log: Vec<PathBuf>,

    /// Format of the --log files.
    #[arg(long, value_enum, default_value_t = LogFormat::Stderr)]
    pub log_format: LogFormat,

    /// log_line_prefix of stderr logs (SHOW log_line_prefix).
    #[arg(long, default_value = DEFAULT_PREFIX, value_name = "PREFIX")]
    pub log_line_prefix: String,

    /// Sample pg_stat_activity for this long ("10s", "1min") and use what ran.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub sample_activity: Option<Duration>,

    /// Read workload and catalog from a file written by `dbopt snapshot` (no server needed).
    #[arg(long, value_name = "FILE")]
    pub from_snapshot: Option<PathBuf>,
}

impl SourceArgs {
    /// The library's view of these flags.
    pub fn spec(&self) -> SourceSpec {
        SourceSpec {
            pg_stat_statements: self.pg_stat_statements,
            queries: self.queries.clone(),
            logs: self.log.clone(),
            log_format: self.log_format,
            log_line_prefix: self.log_line_prefix.clone(),
            sample_activity: self.sample_activity,
            from_snapshot: self.from_snapshot.clone(),
        }
    }

    /// The spec with no source flag given (log format and prefix as in `self`): pg_stat_statements.
    pub fn default_spec(&self) -> SourceSpec {
        SourceArgs {
            log_format: self.log_format,
            log_line_prefix: self.log_line_prefix.clone(),
            ..Default::default()
        }
        .spec()
    }

    /// The server to read, when these sources read one (read-only); `None` for offline
    /// sources, so they need no connection flags.
    pub fn server(&self, g: &Globals) -> crate::pg::Result<Option<Live>> {
        if self.spec().needs_server() {
            g.connect.live(true).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// At most this many unparsable statements are named one by one.
const SHOWN_BAD_STATEMENTS: usize = 20;

/// One `warning:` line per statement dbopt cannot parse (the first few, then how many more),
/// on stderr, so the report on stdout stays clean.
pub fn warn_bad_statements(bad: &[source::BadStatement]) {
    for b in bad.iter().take(SHOWN_BAD_STATEMENTS) {
        eprintln!("warning: {b}");
    }
    if bad.len() > SHOWN_BAD_STATEMENTS {
        eprintln!(
            "warning: and {} more statement(s) dbopt cannot parse",
            bad.len() - SHOWN_BAD_STATEMENTS
        );
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};
    use crate::workload::log::LogFormat;

    fn spec(args: &[&str]) -> crate::workload::source::SourceSpec {
        let cli = Cli::try_parse_from(args).unwrap();
        match cli.command {
            Command::Queries(q) => q.source.spec(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_become_the_spec() {
        let s = spec(&[
            "dbopt",
            "queries",
            "--queries",
            "a.sql",
            "--queries",
            "-",
            "--log",
            "pg.csv",
            "--log-format",
            "csv",
            "--sample-activity",
            "10s",
        ]);
        assert_eq!(
            s.queries,
            vec![std::path::PathBuf::from("a.sql"), "-".into()]
        );
        assert_eq!(s.logs, vec![std::path::PathBuf::from("pg.csv")]);
        assert_eq!(s.log_format, LogFormat::Csv);
        assert_eq!(s.log_line_prefix, "%m [%p] %q%u@%d ");
        assert_eq!(s.sample_activity, Some(std::time::Duration::from_secs(10)));
        assert!(!s.reads_pgss() && s.needs_server());
        assert!(spec(&["dbopt", "queries"]).reads_pgss());
        assert!(Cli::try_parse_from(["dbopt", "queries", "--log-format", "xml"]).is_err());
        assert!(Cli::try_parse_from(["dbopt", "queries", "--sample-activity", "soon"]).is_err());
    }
}
