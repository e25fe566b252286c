//! The one writer behind every format: numbering, file contents and safe writing.
//!
//! Why one writer: what a migration *says* is the same for every tool; only names and
//! wrappers differ, and those live in one small module per format. The writer continues the
//! versions already in DIR (a timestamp directory stays timestamped, `0007_...` goes on with
//! `0008_...`), never overwrites a file (`create_new` semantics through a rename that refuses
//! to clobber), and leaves nothing behind when any file cannot be written.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use crate::advisor::report::AdviseReport;

use super::header::{block, Direction};
use super::plan::{self, Unit};
use super::{dbmate, diesel, flyway, golang_migrate, plain, rails, sqlx};
use super::{EmitError, MigrationFormat};

/// Inputs that would make output vary from run to run; tests freeze them.
#[derive(Debug, Clone)]
pub struct EmitContext {
    pub now: DateTime<Utc>,
    pub dbopt_version: String,
    /// The report's costing method, quoted in headers.
    pub costing: String,
}

/// A migration's version, in the style of the directory it joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `20260101120000` (diesel: `2026-01-01-120000`).
    Timestamp(NaiveDateTime),
    /// `0007` with the directory's zero padding.
    Sequence { n: u64, width: usize },
}

impl Version {
    /// The version as digits: `20260101120000`, `0007`.
    pub fn digits(&self) -> String {
        match self {
            Version::Timestamp(t) => t.format("%Y%m%d%H%M%S").to_string(),
            Version::Sequence { n, width } => format!("{n:0width$}"),
        }
    }

    /// diesel's directory prefix: `2026-01-01-120000` (or the plain sequence).
    pub fn dashed(&self) -> String {
        match self {
            Version::Timestamp(t) => t.format("%Y-%m-%d-%H%M%S").to_string(),
            Version::Sequence { .. } => self.digits(),
        }
    }

    fn next(self) -> Version {
        match self {
            Version::Timestamp(t) => Version::Timestamp(t + Duration::seconds(1)),
            Version::Sequence { n, width } => Version::Sequence { n: n + 1, width },
        }
    }
}

/// What a format needs to know about the directory it writes into.
#[derive(Debug, Clone, Default)]
pub struct DirState {
    /// sqlx: DIR already holds simple (not reversible) migrations, so continue that way.
    pub sqlx_simple: bool,
}

/// One file to write, relative to DIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOut {
    pub rel: PathBuf,
    pub text: String,
}

/// Statements as SQL text, one per line, each ending in `;`.
pub fn sql_lines<'a>(stmts: impl IntoIterator<Item = &'a str>) -> String {
    stmts.into_iter().map(|s| format!("{s};\n")).collect()
}

/// The version in an existing migration's file or directory name, as digits:
/// `0007_x.sql`, `20260101120000_x.up.sql`, `2026-01-01-120000_x/`, `V7__x.sql`, `V7.1__x.sql`.
fn version_of(name: &str) -> Option<String> {
    if name.starts_with('.') {
        return None;
    }
    let n = name
        .strip_prefix('V')
        .or_else(|| name.strip_prefix('U'))
        .unwrap_or(name);
    let head = n.split('_').next()?.split('.').next()?;
    let digits: String = head.chars().filter(|c| *c != '-').collect();
    (!digits.is_empty() && digits.len() <= 30 && digits.chars().all(|c| c.is_ascii_digit()))
        .then_some(digits)
}

/// The first version to use in `dir`: after the last one there, in its style; a timestamp
/// (at least `now`) when the directory is empty or timestamped.
pub fn first_version(names: &[String], now: DateTime<Utc>) -> Version {
    let now = now.naive_utc().with_nanosecond_zero();
    let last = names
        .iter()
        .filter_map(|n| version_of(n))
        .max_by_key(|d| d.parse::<u128>().unwrap_or(0));
    match last {
        None => Version::Timestamp(now),
        Some(d) if d.len() == 14 => match NaiveDateTime::parse_from_str(&d, "%Y%m%d%H%M%S") {
            Ok(t) if t >= now => Version::Timestamp(t + Duration::seconds(1)),
            Ok(_) => Version::Timestamp(now),
            // Fourteen digits that are no date: count on from them.
            Err(_) => Version::Sequence {
                n: d.parse::<u64>().unwrap_or(0) + 1,
                width: 14,
            },
        },
        Some(d) => Version::Sequence {
            n: d.parse::<u64>().unwrap_or(0) + 1,
            width: d.len(),
        },
    }
}

trait NoNanos {
    fn with_nanosecond_zero(self) -> Self;
}

impl NoNanos for NaiveDateTime {
    fn with_nanosecond_zero(self) -> Self {
        chrono::Timelike::with_nanosecond(&self, 0).unwrap_or(self)
    }
}

fn files_for(
    format: MigrationFormat,
    ctx: &EmitContext,
    unit: &Unit,
    v: Version,
    state: &DirState,
) -> Vec<FileOut> {
    match format {
        MigrationFormat::Sqlx => sqlx::files(ctx, unit, v, state),
        MigrationFormat::Diesel => diesel::files(ctx, unit, v),
        MigrationFormat::GolangMigrate => golang_migrate::files(ctx, unit, v),
        MigrationFormat::Flyway => flyway::files(ctx, unit, v),
        MigrationFormat::Dbmate => dbmate::files(ctx, unit, v),
        MigrationFormat::Rails => rails::files(ctx, unit, v),
        MigrationFormat::Plain => plain::files(ctx, unit, v),
    }
}

/// Every file the report turns into, without touching the disk (besides listing `dir`).
pub fn render(
    report: &AdviseReport,
    dir: &Path,
    format: MigrationFormat,
    only: &[String],
    ctx: &EmitContext,
) -> Result<Vec<FileOut>, EmitError> {
    let units = plan::units(report, format, only)?;
    let names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(EmitError::Write {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    let state = DirState {
        sqlx_simple: names.iter().any(|n| {
            version_of(n).is_some()
                && n.ends_with(".sql")
                && !n.ends_with(".up.sql")
                && !n.ends_with(".down.sql")
        }),
    };
    let mut v = first_version(&names, ctx.now);
    let mut out = Vec::new();
    for u in &units {
        out.extend(files_for(format, ctx, u, v, &state));
        v = v.next();
    }
    Ok(out)
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> EmitError {
    EmitError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Write all files or none: every target is checked first, each file is written to a
/// temporary file beside it and renamed without clobbering, and on any failure the files and
/// directories already made are removed again.
pub fn write_all(dir: &Path, files: &[FileOut]) -> Result<Vec<PathBuf>, EmitError> {
    for f in files {
        let p = dir.join(&f.rel);
        if p.exists() || p.parent().is_some_and(|d| d != dir && d.exists()) {
            return Err(EmitError::Exists {
                path: if p.exists() {
                    p
                } else {
                    p.parent().unwrap_or(dir).to_path_buf()
                }
                .display()
                .to_string(),
            });
        }
    }
    let new_dir = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    let mut made: Vec<PathBuf> = Vec::new();
    let result = (|| {
        for f in files {
            let p = dir.join(&f.rel);
            let parent = p.parent().unwrap_or(dir).to_path_buf();
            if !parent.exists() {
                std::fs::create_dir(&parent).map_err(|e| write_err(&parent, e))?;
                made_dirs.push(parent.clone());
            }
            let mut tmp = tempfile::NamedTempFile::new_in(&parent).map_err(|e| write_err(&p, e))?;
            tmp.write_all(f.text.as_bytes())
                .and_then(|()| tmp.as_file().sync_all())
                .map_err(|e| write_err(&p, e))?;
            tmp.persist_noclobber(&p).map_err(|e| {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    EmitError::Exists {
                        path: p.display().to_string(),
                    }
                } else {
                    write_err(&p, e.error)
                }
            })?;
            made.push(p);
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(made),
        Err(e) => {
            for p in made.iter().rev() {
                let _ = std::fs::remove_file(p);
            }
            for d in made_dirs.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
            if new_dir {
                let _ = std::fs::remove_dir(dir);
            }
            Err(e)
        }
    }
}

/// Write the migrations for `report` into `dir` in `format`, keeping only the indexes named
/// in `only` (all when empty). Returns the files written, in the order they run.
pub fn write_migrations(
    report: &AdviseReport,
    dir: &Path,
    format: MigrationFormat,
    only: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<PathBuf>, EmitError> {
    let ctx = EmitContext {
        now,
        dbopt_version: env!("CARGO_PKG_VERSION").to_string(),
        costing: report.costing.clone(),
    };
    write_migrations_with(report, dir, format, only, &ctx)
}

/// [`write_migrations`] with every varying input given (tests freeze version and date).
pub fn write_migrations_with(
    report: &AdviseReport,
    dir: &Path,
    format: MigrationFormat,
    only: &[String],
    ctx: &EmitContext,
) -> Result<Vec<PathBuf>, EmitError> {
    let files = render(report, dir, format, only, ctx)?;
    write_all(dir, &files)
}

/// The lock_timeout dbopt's migrations ask for: long enough to get the lock on a busy table,
/// short enough not to queue every other session behind the migration for long.
pub const LOCK_TIMEOUT: &str = "5s";

/// Timeout advice for tools that send a file as one message.
pub fn whole_file_timeouts(tool: &str, unit: &Unit) -> String {
    if !unit.concurrent() {
        return format!(
            "Timeouts: {tool} runs this migration in one transaction, so it sets them with SET LOCAL."
        );
    }
    format!(
        "Timeouts: {tool} sends this file as one query message, which PostgreSQL runs as one implicit\n\
         transaction, so the file cannot SET them (SET followed by CONCURRENTLY in one message fails).\n\
         Set them on the migration connection: PGOPTIONS='-c lock_timeout={LOCK_TIMEOUT} -c statement_timeout=0'\n\
         (or options=-c%20lock_timeout%3D{LOCK_TIMEOUT} in the URL); a concurrent build may take long."
    )
}

/// One direction of a migration for a tool that sends the file as one message: the header
/// (with `tool`'s timeout advice), then the SQL.
pub fn whole_file(ctx: &EmitContext, unit: &Unit, dir: Direction, tool: &str) -> String {
    let stmts = if dir == Direction::Down {
        unit.down()
    } else {
        unit.up()
    };
    format!(
        "{}{}",
        block(ctx, unit, dir, &whole_file_timeouts(tool, unit), "--"),
        whole_file_sql(unit, stmts)
    )
}

/// The SQL of one direction of a migration for a tool that sends the file as one message:
/// a CONCURRENTLY statement alone; anything else runs in a transaction, where `SET LOCAL`
/// timeouts hold for just this migration.
pub fn whole_file_sql(unit: &Unit, stmts: Vec<&str>) -> String {
    if unit.concurrent() {
        sql_lines(stmts)
    } else {
        let local = format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'");
        sql_lines(
            [local.as_str(), "SET LOCAL statement_timeout = '1min'"]
                .into_iter()
                .chain(stmts),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn versions_continue_the_directory_style() {
        let now = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.7Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(first_version(&[], now).digits(), "20260102030405");
        assert_eq!(
            first_version(&names(&["0001_a.sql", "0007_b.sql", "README.md"]), now).digits(),
            "0008"
        );
        assert_eq!(
            first_version(
                &names(&["V2__a.sql", "V2__a.sql.conf", "V10.1__c.sql"]),
                now
            )
            .digits(),
            "11"
        );
        // A later timestamp in DIR (clock skew, hand-made names) is continued, not undercut.
        let v = first_version(&names(&["2030-01-01-000000_x", ".tmpABC"]), now);
        assert_eq!(v.dashed(), "2030-01-01-000001");
        assert_eq!(v.next().digits(), "20300101000002");
        assert_eq!(
            first_version(&names(&["20200101000000_old.up.sql"]), now).digits(),
            "20260102030405"
        );
        assert_eq!(
            first_version(&names(&["99999999999999_x.sql"]), now).digits(),
            "100000000000000"
        );
    }
}
