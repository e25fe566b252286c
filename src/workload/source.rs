//! Where a workload comes from: the sources a [`SourceSpec`] names, and the offline ones
//! read ([`read_offline`]). The one entry point that reads them all, server included, is
//! `crate::pg::source::load` (reading a server is the adapter's job).
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
use crate::workload::shape::ShapeError;

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

/// A workload, and the catalog when the source carried one (a snapshot).
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub workload: Workload,
    pub catalog: Option<Catalog>,
    /// Statements of the `--queries` files that dbopt cannot parse, in file order: each is
    /// worth one warning, since the advice silently lacks them.
    pub bad_statements: Vec<BadStatement>,
}

/// A statement of a SQL file that dbopt cannot parse: where it starts and why, never its
/// text (it may be huge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadStatement {
    pub path: String,
    /// 1-based position in the file.
    pub number: usize,
    /// 1-based line where it starts (0 when unknown).
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for BadStatement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: statement {}", self.path, self.number)?;
        if self.line > 0 {
            write!(f, " (line {})", self.line)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The longest parser message quoted in a warning or error (it may quote a huge token).
const MAX_REASON_CHARS: usize = 160;

impl BadStatement {
    fn new(path: &str, number: usize, line: usize, e: &ShapeError) -> Self {
        let reason = if e.too_deep {
            format!("cannot analyse: {e}")
        } else if e.line > 0 {
            // The parser counts lines from the statement's start; the user counts in the file.
            let at = usize::try_from(e.line).unwrap_or(1).saturating_sub(1) + line.max(1);
            format!(
                "cannot parse at line {at}, column {}: {}",
                e.column, e.message
            )
        } else {
            format!("cannot parse: {}", e.message)
        };
        let mut short: String = reason.chars().take(MAX_REASON_CHARS).collect();
        if short.len() < reason.len() {
            short.push('…');
        }
        BadStatement {
            path: path.to_string(),
            number,
            line,
            reason: short,
        }
    }
}

/// A SQL script read: its statements grouped, and those dbopt cannot parse.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub workload: Workload,
    /// Statements in the script.
    pub statements: usize,
    pub bad: Vec<BadStatement>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
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
    #[error("{path} is not a SQL text file: {why}")]
    Binary { path: String, why: &'static str },
    #[error("{}", nothing_parsed(paths, *statements, first.as_ref()))]
    NothingParsed {
        paths: String,
        statements: usize,
        first: Option<BadStatement>,
    },
    #[error("no statement in {paths} read as {format} log(s): no entry is a statement with its duration")]
    NoLogStatements { paths: String, format: &'static str },
}

impl SourceError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SourceError::Io { .. } => Some("check the path and its permissions".into()),
            SourceError::ForeignLog { .. } => Some("pick the format with --log-format stderr|csv|json, and for stderr give the server's prefix with --log-line-prefix (SHOW log_line_prefix)".into()),
            SourceError::BadPrefix { .. } => Some("copy the value of SHOW log_line_prefix".into()),
            SourceError::BadSql { .. } => Some("close the string, quoted name, dollar quote or comment that starts there".into()),
            SourceError::Binary { .. } => Some("give a plain-text UTF-8 .sql file (a pg_dump archive: `pg_restore -f - FILE` prints its SQL; another encoding: convert it with iconv)".into()),
            SourceError::NothingParsed { statements: 0, .. } => Some("give a file of SQL statements separated by `;` (this one is empty or only comments)".into()),
            SourceError::NothingParsed { .. } => Some("dbopt reads PostgreSQL SQL: is the file in another dialect (MySQL backticks, T-SQL brackets) or not SQL at all?".into()),
            SourceError::NoLogStatements { .. } => Some("check --log-format and --log-line-prefix against the server (SHOW log_destination, log_line_prefix), and log statements with log_min_duration_statement (0 logs every one)".into()),
        }
    }
}

fn nothing_parsed(paths: &str, statements: usize, first: Option<&BadStatement>) -> String {
    match first {
        None if statements == 0 => format!("no SQL statement in {paths}"),
        None => format!("none of the {statements} statement(s) in {paths} can be used"),
        Some(b) => {
            format!("none of the {statements} statement(s) in {paths} can be parsed (first: {b})")
        }
    }
}

/// Read a `.sql` script (or stdin for `-`) into executions of unknown duration. A file that
/// is not text (NUL bytes, not UTF-8) is refused rather than read as garbage statements.
pub fn read_queries(path: &Path) -> Result<Script, SourceError> {
    use std::io::Read;
    let name = path.display().to_string();
    let io = |e: std::io::Error| SourceError::Io {
        path: name.clone(),
        message: e.to_string(),
    };
    let bytes = if path == Path::new("-") {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b).map_err(io)?;
        b
    } else {
        std::fs::read(path).map_err(io)?
    };
    let binary = |why| SourceError::Binary {
        path: name.clone(),
        why,
    };
    if bytes.contains(&0) {
        return Err(binary("it holds NUL bytes"));
    }
    let text = String::from_utf8(bytes).map_err(|_| binary("it is not valid UTF-8"))?;
    queries_from_text(&text, &name)
}

/// The statements of a script, grouped; `name` labels notes and errors. Each statement is
/// also parsed, so those dbopt cannot read are reported with where they start.
pub fn queries_from_text(text: &str, name: &str) -> Result<Script, SourceError> {
    let s = split(text);
    if let (Some(e), true) = (&s.error, s.statements.is_empty()) {
        return Err(SourceError::BadSql {
            path: name.to_string(),
            message: e.clone(),
        });
    }
    let mut c = Collector::new();
    let mut bad = Vec::new();
    // Where each statement starts: found in order, counting the lines passed over.
    let (mut from, mut line) = (0usize, 1usize);
    for (i, st) in s.statements.iter().enumerate() {
        let at = text.get(from..).and_then(|rest| rest.find(st.as_str()));
        let start = match at {
            Some(off) => {
                line += text
                    .get(from..from + off)
                    .map_or(0, |p| p.matches('\n').count());
                from += off + st.len();
                let start = line;
                line += st.matches('\n').count();
                start
            }
            None => 0,
        };
        if let Err(e) = crate::workload::shape::parse(st) {
            bad.push(BadStatement::new(name, i + 1, start, &e));
        }
        c.add(st, None, 0, Source::File);
    }
    let mut w = c.finish();
    if let Some(e) = s.error {
        w.notes.push(format!(
            "{name}: stopped reading at {e}; the {} statement(s) before it are used",
            s.statements.len()
        ));
    }
    Ok(Script {
        workload: w,
        statements: s.statements.len(),
        bad,
    })
}

/// Read the offline sources of `spec` (its `--queries` files and logs) into `out`, after
/// what `out` already holds (a snapshot's and the server's statements, read by
/// `crate::pg::source::load`, the one entry point).
pub fn read_offline(spec: &SourceSpec, out: &mut Loaded) -> Result<(), SourceError> {
    let from_others = out.workload.statements.len();
    let (mut in_files, mut parsed) = (0, 0);
    for path in &spec.queries {
        let script = read_queries(path)?;
        in_files += script.statements;
        parsed += script.statements - script.bad.len();
        out.bad_statements.extend(script.bad);
        merge(&mut out.workload, script.workload);
    }
    let prefix = if spec.log_line_prefix.is_empty() {
        log::DEFAULT_PREFIX
    } else {
        &spec.log_line_prefix
    };
    let mut logged = 0;
    for path in &spec.logs {
        let w = log::read_file(path, spec.log_format, prefix)?;
        logged += w.statements.len();
        merge(&mut out.workload, w);
    }
    // Input was given, and nothing in it is a statement dbopt can read: say so, not "no
    // index is worth building".
    if from_others == 0 && parsed == 0 && logged == 0 {
        let names = |ps: &[PathBuf]| {
            ps.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !spec.queries.is_empty() {
            return Err(SourceError::NothingParsed {
                paths: names(&spec.queries),
                statements: in_files,
                first: out.bad_statements.first().cloned(),
            });
        }
        if !spec.logs.is_empty() {
            return Err(SourceError::NoLogStatements {
                paths: names(&spec.logs),
                format: spec.log_format.name(),
            });
        }
    }
    Ok(())
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
        let w = queries_from_text("select 1; select 2; select 'x", "t.sql")
            .unwrap()
            .workload;
        assert_eq!(w.statements.len(), 1, "select 1 and 2 are one shape");
        assert_eq!(w.statements[0].calls, 2);
        assert!(w.notes[0].contains("stopped reading"), "{:?}", w.notes);
        let e = queries_from_text("select 'x", "t.sql").unwrap_err();
        assert!(e.to_string().contains("t.sql"));
    }

    #[test]
    fn unparsable_statements_are_named_by_number_and_line() {
        let text = "select 1;\n-- two\nselec * form t;\n\nselect\n  `a` from t;\nselect 'é';";
        let s = queries_from_text(text, "x.sql").unwrap();
        assert_eq!(s.statements, 4);
        let got: Vec<String> = s.bad.iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with("x.sql: statement 2 (line 2): cannot parse at line 3, column 1: "),
            "{got:?}"
        );
        assert!(
            got[1].starts_with("x.sql: statement 3 (line 5): ")
                && got[1].contains("cannot parse at line 6, column 3: "),
            "{got:?}"
        );
        let long = format!("select (1 '{}');", "x".repeat(1000));
        let s = queries_from_text(&long, "y.sql").unwrap();
        let r = &s.bad[0].reason;
        assert!(
            r.ends_with('…') && r.chars().count() == MAX_REASON_CHARS + 1,
            "{r}"
        );
    }
}
