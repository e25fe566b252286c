//! Where a workload comes from, and the one entry point that reads it: [`load`].
//!
//! Why one entry point: `advise`, `queries`, `nplusone` and `snapshot` all accept the same
//! source flags, and each source (pg_stat_statements, log files, SQL files, activity sampling,
//! a snapshot file) must give the same [`Workload`] so the analyses never care which it was.
//! Several sources can be combined; statements with the same fingerprint are merged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::collect::{merge, Collector};
use super::log::{self, LogFormat};
use super::normalize::split;
use super::{Source, Workload};
use crate::catalog::Catalog;
use crate::pg::{ConnParams, PgError, SessionOptions};
use crate::snapshot::{self, SnapshotError};

/// Which sources to read (plain data; `crate::cli::source::SourceArgs` builds it from flags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceSpec {
    /// Read pg_stat_statements of the connected database. Implied when no other source is given.
    pub pg_stat_statements: bool,
    /// `.sql` files; `-` is standard input.
    pub queries: Vec<PathBuf>,
    pub logs: Vec<PathBuf>,
    pub log_format: LogFormat,
    pub log_line_prefix: String,
    /// Sample pg_stat_activity for this long.
    pub sample_activity: Option<Duration>,
    /// A file written by `dbopt snapshot`: its workload and catalog, no server needed.
    pub from_snapshot: Option<PathBuf>,
}

impl SourceSpec {
    /// Whether pg_stat_statements is read: asked for, or nothing else was.
    pub fn reads_pgss(&self) -> bool {
        self.pg_stat_statements
            || (self.queries.is_empty()
                && self.logs.is_empty()
                && self.sample_activity.is_none()
                && self.from_snapshot.is_none())
    }

    /// Whether reading needs a server connection.
    pub fn needs_server(&self) -> bool {
        self.reads_pgss() || self.sample_activity.is_some()
    }
}

/// Where to connect for the live sources.
#[derive(Debug, Clone)]
pub struct Live {
    pub params: ConnParams,
    pub session: SessionOptions,
}

/// A workload, and the catalog when the source carried one (a snapshot).
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub workload: Workload,
    pub catalog: Option<Catalog>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("{path} is not a PostgreSQL {format} log (no entry recognized; it starts with \"{first_line}\")")]
    ForeignLog {
        path: String,
        format: &'static str,
        first_line: String,
    },
    #[error("invalid --log-line-prefix \"{prefix}\": {message}")]
    BadPrefix { prefix: String, message: String },
    #[error("{path}: {message}, and no complete statement precedes it")]
    BadSql { path: String, message: String },
    #[error("this source needs a server connection")]
    NoServer,
}

impl SourceError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SourceError::Pg(e) => e.hint(),
            SourceError::Snapshot(e) => Some(e.hint()),
            SourceError::Io { .. } => Some("check the path and its permissions".into()),
            SourceError::ForeignLog { .. } => Some("pick the format with --log-format stderr|csv|json, and for stderr give the server's prefix with --log-line-prefix (SHOW log_line_prefix)".into()),
            SourceError::BadPrefix { .. } => Some("copy the value of SHOW log_line_prefix".into()),
            SourceError::BadSql { .. } => Some("close the string, quoted name, dollar quote or comment that starts there".into()),
            SourceError::NoServer => Some("give --database-url, or read an offline source (--queries, --log, --from-snapshot)".into()),
        }
    }
}

/// Read a `.sql` script (or stdin for `-`) into executions of unknown duration.
pub fn read_queries(path: &Path) -> Result<Workload, SourceError> {
    let name = path.display().to_string();
    let io = |e: std::io::Error| SourceError::Io {
        path: name.clone(),
        message: e.to_string(),
    };
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(io)?
    } else {
        String::from_utf8_lossy(&std::fs::read(path).map_err(io)?).into_owned()
    };
    queries_from_text(&text, &name)
}

/// The statements of a script, grouped; `name` labels notes and errors.
pub fn queries_from_text(text: &str, name: &str) -> Result<Workload, SourceError> {
    let s = split(text);
    if let (Some(e), true) = (&s.error, s.statements.is_empty()) {
        return Err(SourceError::BadSql {
            path: name.to_string(),
            message: e.clone(),
        });
    }
    let mut c = Collector::new();
    for st in &s.statements {
        c.add(st, None, 0, Source::File);
    }
    let mut w = c.finish();
    if let Some(e) = s.error {
        w.notes.push(format!(
            "{name}: stopped reading at {e}; the {} statement(s) before it are used",
            s.statements.len()
        ));
    }
    Ok(w)
}

/// Read every source of `spec` into one workload. `live` is needed for pg_stat_statements and
/// activity sampling (else [`SourceError::NoServer`]); one session serves both.
pub async fn load(spec: &SourceSpec, live: Option<&Live>) -> Result<Loaded, SourceError> {
    let mut out = Loaded::default();
    if let Some(path) = &spec.from_snapshot {
        let snap = snapshot::read(path)?;
        out.workload = snap.workload;
        out.catalog = Some(snap.catalog);
    }
    if spec.needs_server() {
        let live = live.ok_or(SourceError::NoServer)?;
        let conn = crate::pg::connect(&live.params, &live.session).await?;
        if spec.reads_pgss() {
            merge(&mut out.workload, crate::pg::pgss::read(&conn).await?);
        }
        if let Some(d) = spec.sample_activity {
            let samples = crate::pg::activity::sample(&conn, d).await?;
            merge(&mut out.workload, from_activity(&samples));
        }
    }
    for path in &spec.queries {
        merge(&mut out.workload, read_queries(path)?);
    }
    let prefix = if spec.log_line_prefix.is_empty() {
        log::DEFAULT_PREFIX
    } else {
        &spec.log_line_prefix
    };
    for path in &spec.logs {
        merge(
            &mut out.workload,
            log::read_file(path, spec.log_format, prefix)?,
        );
    }
    Ok(out)
}

/// Activity samples to statements: each (backend, query start) seen is one execution, timed by
/// the longest it was seen running (a lower bound of its duration).
pub fn from_activity(samples: &[crate::pg::activity::Sample]) -> Workload {
    let mut longest: std::collections::BTreeMap<(i32, String), (f64, &str)> =
        std::collections::BTreeMap::new();
    // Other dbopt sessions that could not keep out of the statistics are not the workload either.
    for s in samples
        .iter()
        .filter(|s| !crate::pg::connect::is_own(&s.query))
    {
        let e = longest
            .entry((s.pid, s.query_start.clone()))
            .or_insert((0.0, &s.query));
        e.0 = e.0.max(s.running_ms);
    }
    let mut c = Collector::new();
    for (ms, q) in longest.values() {
        c.add(q, Some(*ms), 0, Source::Activity);
    }
    let mut w = c.finish();
    w.notes.push(format!(
        "sampled pg_stat_activity: {} execution(s) seen; durations are lower bounds, short statements are missed",
        longest.len()
    ));
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgss_is_the_default_only_when_nothing_else_is_asked() {
        assert!(SourceSpec::default().reads_pgss());
        let files = SourceSpec {
            queries: vec!["a.sql".into()],
            ..Default::default()
        };
        assert!(!files.reads_pgss() && !files.needs_server());
        let both = SourceSpec {
            pg_stat_statements: true,
            ..files
        };
        assert!(both.reads_pgss());
    }

    #[test]
    fn sql_text_with_a_broken_tail_keeps_the_good_part() {
        let w = queries_from_text("select 1; select 2; select 'x", "t.sql").unwrap();
        assert_eq!(w.statements.len(), 1, "select 1 and 2 are one shape");
        assert_eq!(w.statements[0].calls, 2);
        assert!(w.notes[0].contains("stopped reading"), "{:?}", w.notes);
        let e = queries_from_text("select 'x", "t.sql").unwrap_err();
        assert!(e.to_string().contains("t.sql"));
    }
}
