//! PostgreSQL server logs as a workload source: stderr (with its `log_line_prefix`), csvlog and
//! jsonlog, reading the lines `log_min_duration_statement` writes (`duration: X ms  statement:`
//! and, for the extended protocol, `execute <name>:`), multi-line statements, and the plans
//! auto_explain adds.
//!
//! Why parse logs at all: pg_stat_statements is often not installed, or reset, or shows only
//! one database; the log of last night's incident is what the DBA has. Why a prefix-derived
//! regex for stderr: the prefix is user-defined, and matching it exactly is the only reliable way
//! to tell a new entry from a statement line that happens to contain `LOG:`.

use std::collections::HashMap;

use regex::Regex;

use super::collect::Collector;
use super::normalize::normalize;
use super::source::SourceError;
use super::{LoggedPlan, Source, Workload};

/// `--log-format`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Plain text lines, each starting with `log_line_prefix`.
    #[default]
    Stderr,
    /// `log_destination = csvlog`.
    Csv,
    /// `log_destination = jsonlog` (PostgreSQL 15+).
    Json,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Stderr => "stderr",
            LogFormat::Csv => "csv",
            LogFormat::Json => "json",
        }
    }
}

/// The Debian/Ubuntu default `log_line_prefix`.
pub const DEFAULT_PREFIX: &str = "%m [%p] %q%u@%d ";

/// One log entry: severity, message and the DETAIL that belongs to it.
#[derive(Debug, Default)]
struct Entry {
    /// The backend's process id, when the format or prefix has it (pairs `log_statement`
    /// lines with the `duration:` line logged when the statement ends).
    pid: Option<String>,
    /// The session id (`%c`, csvlog/jsonlog `session_id`), when the log has it.
    session: Option<String>,
    /// The entry's timestamp as logged (`%m`, `log_time`, `timestamp`).
    at: Option<String>,
    severity: String,
    message: String,
    detail: Option<String>,
}

/// What reading one log gave.
#[derive(Debug)]
pub struct Parsed {
    pub workload: Workload,
    /// Entries recognized as log entries (any kind).
    pub entries: usize,
    /// Lines or records that were not log entries in the chosen format.
    pub unrecognized: usize,
    /// Why reading stopped before the end, if it did.
    pub truncated: Option<String>,
}

/// Build the regex matching a stderr line that starts an entry, from `log_line_prefix`.
pub fn prefix_regex(prefix: &str) -> Result<Regex, SourceError> {
    let mut re = String::from("^");
    let mut optional_tail = false;
    let mut chars = prefix.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            re.push_str(&regex::escape(&c.to_string()));
            continue;
        }
        // Padding (%-10u, %5p) adds spaces on one side.
        let mut padded = false;
        while chars
            .peek()
            .is_some_and(|d| *d == '-' || d.is_ascii_digit())
        {
            chars.next();
            padded = true;
        }
        let Some(esc) = chars.next() else {
            break;
        };
        let part = match esc {
            'm' if !re.contains("?P<ts>") => {
                r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+(?: \S+)?)"
            }
            'm' => r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+(?: \S+)?",
            't' | 's' => r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: \S+)?",
            'n' => r"\d+(?:\.\d+)?",
            'p' if !re.contains("?P<pid>") => r"(?P<pid>\d+)",
            'p' | 'l' | 'Q' | 'P' => r"-?\d*",
            'c' if !re.contains("?P<sess>") => r"(?P<sess>[0-9a-f]+\.[0-9a-f]+)",
            'c' => r"[0-9a-f]+\.[0-9a-f]+",
            'u' => r"[^\s@]*",
            'd' | 'h' | 'r' | 'x' | 'v' | 'e' | 'L' => r"\S*",
            'a' | 'i' | 'b' => r".*?",
            '%' => "%",
            'q' => {
                // Non-session processes stop the prefix here: the rest is optional.
                optional_tail = true;
                "(?:"
            }
            _ => r".*?",
        };
        if padded {
            re.push_str(&format!(" *{part} *"));
        } else {
            re.push_str(part);
        }
    }
    if optional_tail {
        re.push_str(")?");
    }
    re.push_str(r"(?P<sev>LOG|ERROR|WARNING|NOTICE|INFO|DEBUG\d?|FATAL|PANIC|DETAIL|HINT|CONTEXT|STATEMENT|QUERY|LOCATION):  ?(?P<msg>.*)$");
    Regex::new(&re).map_err(|e| SourceError::BadPrefix {
        prefix: prefix.to_string(),
        message: e.to_string(),
    })
}

fn attach(entries: &mut Vec<Entry>, head: Entry) {
    match (head.severity.as_str(), entries.last_mut()) {
        ("DETAIL", Some(last)) => last.detail = Some(head.message),
        ("HINT" | "CONTEXT" | "STATEMENT" | "QUERY" | "LOCATION", Some(_)) => {}
        _ => entries.push(head),
    }
}

fn stderr_entries(text: &str, prefix: &Regex) -> (Vec<Entry>, usize) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut unrecognized = 0;
    // Which part a continuation line (tab-indented) extends: the message or the detail.
    let mut in_detail = false;
    let mut last_ok = false;
    for line in text.lines() {
        if let Some(cont) = line.strip_prefix('\t') {
            if last_ok {
                if let Some(e) = entries.last_mut() {
                    let target = if in_detail {
                        e.detail.get_or_insert_with(String::new)
                    } else {
                        &mut e.message
                    };
                    target.push('\n');
                    target.push_str(cont);
                }
                continue;
            }
        }
        match prefix.captures(line) {
            Some(c) => {
                let sev = &c["sev"];
                in_detail = sev == "DETAIL";
                let known_parent = !matches!(sev, "DETAIL" | "HINT" | "CONTEXT" | "STATEMENT")
                    || !entries.is_empty();
                if known_parent {
                    let text = |n: &str| c.name(n).map(|m| m.as_str().to_string());
                    attach(
                        &mut entries,
                        Entry {
                            pid: text("pid"),
                            session: text("sess"),
                            at: text("ts"),
                            severity: sev.to_string(),
                            message: c["msg"].to_string(),
                            detail: None,
                        },
                    );
                }
                last_ok = true;
            }
            None if line.trim().is_empty() => {}
            None => {
                unrecognized += 1;
                last_ok = false;
            }
        }
    }
    (entries, unrecognized)
}

// csvlog columns (0-based): 0 log_time, 3 process_id, 5 session_id, 11 error_severity,
// 13 message, 14 detail.
const CSV_TIME: usize = 0;
const CSV_PID: usize = 3;
const CSV_SESSION: usize = 5;
const CSV_SEVERITY: usize = 11;
const CSV_MESSAGE: usize = 13;
const CSV_DETAIL: usize = 14;

fn csv_entries(text: &str) -> (Vec<Entry>, usize, Option<String>) {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut entries = Vec::new();
    let mut unrecognized = 0;
    let mut truncated = None;
    for rec in rdr.records() {
        match rec {
            Ok(r) if r.len() > CSV_DETAIL && r.get(0).is_some_and(looks_like_timestamp) => {
                entries.push(Entry {
                    pid: Some(r[CSV_PID].to_string()),
                    session: Some(r[CSV_SESSION].to_string()),
                    at: Some(r[CSV_TIME].to_string()),
                    severity: r[CSV_SEVERITY].to_string(),
                    message: r[CSV_MESSAGE].to_string(),
                    detail: Some(r[CSV_DETAIL].to_string()).filter(|d| !d.is_empty()),
                });
            }
            Ok(_) => unrecognized += 1,
            Err(e) => {
                truncated = Some(e.to_string());
                break;
            }
        }
    }
    // A csv record cut mid-quote is read to the end of input as one field: not an entry.
    if truncated.is_none() && !text.is_empty() && !text.ends_with('\n') {
        truncated = Some("the last record is incomplete".into());
    }
    (entries, unrecognized, truncated)
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && b[13] == b':'
}

fn json_entries(text: &str) -> (Vec<Entry>, usize, Option<String>) {
    let mut entries = Vec::new();
    let mut unrecognized = 0;
    let mut truncated = None;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => match (v["error_severity"].as_str(), v["message"].as_str()) {
                (Some(sev), Some(msg)) => entries.push(Entry {
                    pid: v.get("pid").map(ToString::to_string),
                    session: v["session_id"].as_str().map(str::to_string),
                    at: v["timestamp"].as_str().map(str::to_string),
                    severity: sev.to_string(),
                    message: msg.to_string(),
                    detail: v["detail"].as_str().map(str::to_string),
                }),
                _ => unrecognized += 1,
            },
            Err(e) if i + 1 == lines.len() && e.is_eof() => {
                truncated = Some("the last line is incomplete".into());
            }
            Err(_) => unrecognized += 1,
        }
    }
    (entries, unrecognized, truncated)
}

/// `duration: 1.914 ms  <rest>` → (1.914, rest).
fn split_duration(msg: &str) -> Option<(f64, &str)> {
    let rest = msg.strip_prefix("duration: ")?;
    let (num, rest) = rest.split_once(" ms")?;
    // `NaN`, `inf` and `-1` parse as numbers, but no statement took that long.
    let ms = num
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)?;
    Some((ms, rest.trim_start()))
}

/// auto_explain text: `plan:\nQuery Text: <sql>\n<plan>`, or JSON with "Query Text".
fn split_plan(body: &str) -> Option<(String, String)> {
    let body = body.strip_prefix("plan:")?.trim_start();
    if body.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        let q = v["Query Text"].as_str()?.to_string();
        return Some((q, body.to_string()));
    }
    let body = body.strip_prefix("Query Text: ")?;
    let mut query = Vec::new();
    let mut plan = Vec::new();
    for line in body.lines() {
        if plan.is_empty() && !(line.contains("(cost=") || line.contains("(actual time=")) {
            query.push(line);
        } else {
            plan.push(line);
        }
    }
    Some((query.join("\n"), plan.join("\n")))
}

/// The SQL of `statement: sql` or `execute <name>: sql` (parse and bind steps are not runs).
fn statement_text(rest: &str) -> Option<&str> {
    if let Some(sql) = rest.strip_prefix("statement: ") {
        return Some(sql);
    }
    rest.strip_prefix("execute ")?
        .split_once(": ")
        .map(|(_, sql)| sql)
}

/// Parse a whole log in `format` into a workload.
pub fn parse(text: &str, format: LogFormat, prefix: &str) -> Result<Parsed, SourceError> {
    let (entries, unrecognized, truncated) = match format {
        LogFormat::Stderr => {
            let re = prefix_regex(prefix)?;
            let (e, u) = stderr_entries(text, &re);
            (e, u, None)
        }
        LogFormat::Csv => csv_entries(text),
        LogFormat::Json => json_entries(text),
    };
    let mut timed = Collector::new();
    let mut untimed = Collector::new();
    let mut plans = Vec::new();
    // With log_statement, the text comes first and the end logs `duration: X ms` alone.
    let mut started: HashMap<Option<&str>, &str> = HashMap::new();
    for e in &entries {
        if e.severity != "LOG" {
            continue;
        }
        let pid = e.pid.as_deref();
        if let Some((ms, rest)) = split_duration(&e.message) {
            if let Some(sql) = statement_text(rest) {
                timed.add(sql, Some(ms), 0, Source::Log);
            } else if let Some((sql, plan)) = split_plan(rest) {
                plans.push(LoggedPlan {
                    fingerprint: normalize(&sql).fingerprint,
                    duration_ms: ms,
                    plan,
                });
            } else if rest.is_empty() {
                if let Some(sql) = started.remove(&pid) {
                    timed.add(sql, Some(ms), 0, Source::Log);
                }
            }
        } else if let Some(sql) = statement_text(&e.message) {
            untimed.add(sql, None, 0, Source::Log);
            started.insert(pid, sql);
        }
    }
    let mut workload = if timed.is_empty() && !untimed.is_empty() {
        let mut w = untimed.finish();
        w.notes.push("the log has statements without durations (log_statement): calls are counted, times are unknown; set log_min_duration_statement = 0 for timings".into());
        w
    } else {
        timed.finish()
    };
    workload.plans = plans;
    Ok(Parsed {
        workload,
        entries: entries.len(),
        unrecognized,
        truncated,
    })
}

/// Each timed statement of a log as an event of its session, in log order, for the N+1
/// detector (`crate::workload::nplusone::detect_log`). Sessions are `%c`/`session_id`, else the
/// process id; entries without a timestamp are left out.
pub fn events(
    text: &str,
    format: LogFormat,
    prefix: &str,
) -> Result<Vec<crate::workload::nplusone::LogEvent>, SourceError> {
    let entries = match format {
        LogFormat::Stderr => stderr_entries(text, &prefix_regex(prefix)?).0,
        LogFormat::Csv => csv_entries(text).0,
        LogFormat::Json => json_entries(text).0,
    };
    let mut out = Vec::new();
    for e in &entries {
        let (Some(at), Some(session)) = (
            e.at.as_deref().and_then(parse_time),
            e.session.clone().or_else(|| e.pid.clone()),
        ) else {
            continue;
        };
        if e.severity != "LOG" {
            continue;
        }
        let Some((ms, rest)) = split_duration(&e.message) else {
            continue;
        };
        let Some(sql) = statement_text(rest) else {
            continue;
        };
        let n = normalize(sql);
        let params = e
            .detail
            .as_deref()
            .and_then(|d| d.strip_prefix("parameters: "))
            .map(|p| {
                p.split(", $")
                    .map(|x| x.split_once(" = ").map_or(x, |kv| kv.1).to_string())
                    .collect()
            })
            .unwrap_or_default();
        out.push(crate::workload::nplusone::LogEvent {
            session,
            at,
            query: n.text,
            fingerprint: n.fingerprint,
            duration_ms: ms,
            params,
        });
    }
    Ok(out)
}

/// `2026-11-22 21:00:00.123 UTC` (or with a numeric offset: `+05`, `-0330`, `+05:30`); other
/// zone names, and offsets no zone has (`+99:99`), are read as UTC: the detector only compares
/// times within one session. A line is hostile input: nothing here may overflow.
fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let (stamp, zone) = s
        .trim()
        .split_once(' ')
        .map_or((s, ""), |(d, rest)| (d, rest));
    let (time, tz) = zone.split_once(' ').unwrap_or((zone, ""));
    let naive =
        chrono::NaiveDateTime::parse_from_str(&format!("{stamp} {time}"), "%Y-%m-%d %H:%M:%S%.f")
            .ok()?;
    let offset = chrono::Duration::seconds(offset_seconds(tz).unwrap_or(0));
    Some(chrono::DateTime::<chrono::Utc>::from_naive_utc_and_offset(
        naive.checked_sub_signed(offset)?,
        chrono::Utc,
    ))
}

/// A numeric UTC offset in seconds: `+HH`, `+HHMM` or `+HH:MM` (either sign), hours below 24
/// and minutes below 60; None for anything else.
fn offset_seconds(tz: &str) -> Option<i64> {
    let (sign, rest) = match tz.strip_prefix('+') {
        Some(rest) => (1, rest),
        None => (-1, tz.strip_prefix('-')?),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at_checked(2)?,
        None => (rest, "0"),
    };
    let two_digits = |x: &str| {
        (!x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit()))
            .then(|| x.parse::<i64>().ok())
            .flatten()
    };
    let (h, m) = (two_digits(h)?, two_digits(m)?);
    (h < 24 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// Read a log file (`-` is not accepted: logs are files). Errors when nothing in it is a log
/// entry of `format`; notes when part of it was not.
pub fn read_file(
    path: &std::path::Path,
    format: LogFormat,
    prefix: &str,
) -> Result<Workload, SourceError> {
    let bytes = std::fs::read(path).map_err(|e| SourceError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let p = parse(&text, format, prefix)?;
    let name = path.display();
    if p.entries == 0 && !text.trim().is_empty() {
        let first: String = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .chars()
            .take(60)
            .collect();
        return Err(SourceError::ForeignLog {
            path: name.to_string(),
            format: format.name(),
            first_line: first,
        });
    }
    let mut w = p.workload;
    if p.unrecognized > 0 {
        w.notes.push(format!(
            "{name}: {} line(s) were not {} log entries and were skipped",
            p.unrecognized,
            format.name()
        ));
    }
    if let Some(t) = p.truncated {
        w.notes
            .push(format!("{name}: {t}; the statements before it are counted"));
    }
    if w.statements.is_empty() {
        w.notes.push(format!("{name}: {} log entries, but no statement durations; set log_min_duration_statement (0 logs every statement)", p.entries));
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_prefix_lines_with_parameters_and_multiline() {
        let log = "2026-11-22 21:00:00.123 UTC [4242] app@shop LOG:  duration: 1.500 ms  statement: select *\n\
\tfrom t where id = 5\n\
2026-11-22 21:00:00.200 UTC [4243] app@shop LOG:  duration: 0.500 ms  execute <unnamed>: select * from t where id = $1\n\
2026-11-22 21:00:00.200 UTC [4243] app@shop DETAIL:  parameters: $1 = '7'\n\
2026-11-22 21:00:01.000 UTC [100] LOG:  checkpoint starting: time\n";
        let p = parse(log, LogFormat::Stderr, DEFAULT_PREFIX).unwrap();
        assert_eq!(p.unrecognized, 0);
        assert_eq!(p.entries, 3);
        let s = &p.workload.statements;
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].query, "select *\nfrom t where id = $1");
        assert_eq!(s[0].calls, 2);
        assert!((s[0].total_ms - 2.0).abs() < 1e-9);
    }

    #[test]
    fn prefix_with_session_and_padding() {
        let re = prefix_regex("%t [%-6p] %c %l %q%u@%d/%a ").unwrap();
        assert!(re.is_match("2026-01-01 00:00:00 UTC [42    ] 6b03.3e 1 u@d/psql LOG:  x"));
        assert!(!re.is_match("hello LOG:  x"));
    }

    #[test]
    fn auto_explain_json_plan_and_csv_multiline() {
        let (q, plan) = split_plan(
            "plan:\n{\"Query Text\": \"select 1\", \"Plan\": {\"Node Type\": \"Result\"}}",
        )
        .unwrap();
        assert_eq!(q, "select 1");
        assert!(plan.contains("\"Node Type\": \"Result\""));
        let csv = "2026-11-22 21:00:00.123 UTC,\"u\",\"d\",42,\"[local]\",6b.2a,1,\"SELECT\",2026-11-22 21:00:00 UTC,3/4,0,LOG,00000,\"duration: 2.000 ms  statement: select a,\n  b from t where c = 'x,y'\",,,,,,,,,\"psql\",\"client backend\",,0\n";
        let p = parse(csv, LogFormat::Csv, DEFAULT_PREFIX).unwrap();
        assert_eq!(p.truncated, None);
        assert_eq!(
            p.workload.statements[0].query,
            "select a,\n  b from t where c = $1"
        );
    }

    #[test]
    fn auto_explain_text_plan() {
        let (q, plan) = split_plan(
            "plan:\nQuery Text: select *\nfrom t\nSeq Scan on t  (cost=0.00..1.00 rows=1 width=4)",
        )
        .unwrap();
        assert_eq!(q, "select *\nfrom t");
        assert!(plan.starts_with("Seq Scan on t"));
    }

    #[test]
    fn offsets_and_timestamps_never_overflow() {
        let at = |s: &str| parse_time(s).map(|t| t.to_rfc3339());
        assert_eq!(
            at("2026-11-22 21:00:00.000 +05:30").as_deref(),
            Some("2026-11-22T15:30:00+00:00")
        );
        assert_eq!(
            at("2026-11-22 21:00:00.000 -0800").as_deref(),
            Some("2026-11-23T05:00:00+00:00")
        );
        assert_eq!(
            at("2026-11-22 21:00:00.000 +05").as_deref(),
            Some("2026-11-22T16:00:00+00:00")
        );
        // No zone has these offsets: read as UTC, as zone names are.
        for tz in ["+99:99", "+99999999999", "-2147483648", "+24", "+5:", "+"] {
            assert_eq!(
                at(&format!("2026-11-22 21:00:00.000 {tz}")).as_deref(),
                Some("2026-11-22T21:00:00+00:00"),
                "{tz}"
            );
        }
        assert_eq!(
            split_duration("duration: NaN ms  statement: select 1"),
            None
        );
        assert_eq!(split_duration("duration: -1 ms  statement: select 1"), None);
    }

    proptest::proptest! {
        /// Hostile log text (any bytes, or lines built from the pieces of real entries) is
        /// read or rejected, never a panic, in every format.
        #[test]
        fn hostile_logs_never_panic(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "2026-11-22 21:00:00.123 UTC ", "2026-11-22 21:00:00.123 +99:99 ",
                "9999-12-31 23:59:59.999 -23:59 ", "[4242] ", "app@shop ", "LOG:  ",
                "DETAIL:  ", "duration: ", "1e308", " ms  ", "statement: ", "execute <x>: ",
                "plan:\n", "Query Text: ", "select $1.79e309", "'", "\"", "$$", "\n", "\t",
                ",", "{\"error_severity\":\"LOG\",\"message\":", "parameters: $1 = ",
            ]), 0..40),
            raw in ".{0,200}",
        ) {
            let text = pieces.concat();
            for t in [&text, &raw] {
                for f in [LogFormat::Stderr, LogFormat::Csv, LogFormat::Json] {
                    let _ = parse(t, f, DEFAULT_PREFIX);
                    let _ = events(t, f, "%m [%p] %c ");
                }
            }
        }
    }
}
