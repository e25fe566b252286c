//! N+1 loops from what the database records: a parent statement lists rows, then a child
//! statement looks up one key per row, once per row.
//!
//! Why from the database side: application tools (Bullet, Sentry) see the ORM; a DBA only has
//! pg_stat_statements and the server log. Two signals are used:
//!
//! - **pg_stat_statements** has no order or session, so the loop is inferred from counts: the
//!   child (`WHERE fk = $1`, few rows per call) is called about as often as the parent returned
//!   rows, and the child's key column is linked to the parent's table (foreign key, or matching
//!   key names such as `lead_id` → `leads.id`).
//! - **Statement logs** ([`LogEvent`]) have sessions and times, so the loop is seen directly:
//!   the same fingerprint at least N times in one session, close together, with different
//!   parameters, right after a different (parent) statement on a linked table.
//!
//! The thresholds live in `rules/n_plus_one.rs` (overridable in `dbopt.toml`); this module is
//! the detection itself, on plain data, so it is testable without a server.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::shape::{PredKind, PredValue, Shape, StatementKind};
use super::shaped::{bare, shape_of, shaped};
use super::Workload;
use crate::catalog::Catalog;

/// Where an N+1 finding comes from, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// Counts in pg_stat_statements (calls of the child ≈ rows of the parent).
    PgStatStatements,
    /// Sessions and timestamps of a statement log.
    Log,
    /// pg_stat_activity samples: a weaker signal, statements between two samples are missed.
    Activity,
}

/// One statement of a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StmtRef {
    pub fingerprint: String,
    pub query: String,
}

/// One N+1 loop: the parent, the child run once per parent row, and the fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NPlusOne {
    pub evidence: Evidence,
    pub parent: StmtRef,
    pub child: StmtRef,
    /// `schema.table` the parent lists (as written when no catalog was available).
    pub parent_table: String,
    /// The parent's column the child's key holds (`id`).
    pub parent_column: String,
    pub child_table: String,
    /// The child's lookup column (`lead_id`).
    pub child_column: String,
    /// `foreign key <name>` or `matching key names`.
    pub link: String,
    /// Executions of the child (pg_stat_statements calls, or log events in loops).
    pub child_calls: i64,
    /// Rows the parent returned (pg_stat_statements), or parent executions followed by a loop (log).
    pub parent_rows: i64,
    /// pg_stat_statements: child calls / parent rows (1.0 = once per row). Log: child runs per loop.
    pub ratio: f64,
    /// Loops seen (parent executions for pg_stat_statements, loops for logs).
    pub loops: i64,
    pub child_total_ms: f64,
    pub parent_total_ms: f64,
    /// The child rewritten to take every key at once (`= ANY($1)`).
    pub rewrite: String,
    /// Parent and child as one statement (`fk IN (SELECT key FROM (<parent>) AS parent)`),
    /// when the child's key comparison could be located in its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_statement: Option<String>,
    /// The same as one JOIN, in words.
    pub join: String,
}

/// Thresholds of the pg_stat_statements detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PgssThresholds {
    /// Children called fewer times are ignored.
    pub min_child_calls: i64,
    /// A child returning more rows per call is not a "one key" lookup.
    pub max_rows_per_call: f64,
    /// Accept child calls / parent rows within 1 ± tolerance.
    pub tolerance: f64,
}

/// Thresholds of the log detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogThresholds {
    /// Repetitions of the child in one loop.
    pub min_repeats: usize,
    /// Largest gap between the parent and the first child, and between two children (ms).
    pub window_ms: f64,
    /// A loop that costs less in total is not reported (ms).
    pub min_total_ms: f64,
}

/// One statement from a log, as the log readers produce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEvent {
    /// The session id (`%c` in log_line_prefix, `session_id` in csvlog/jsonlog).
    pub session: String,
    pub at: DateTime<Utc>,
    /// Normalized text, constants replaced by `$n`.
    pub query: String,
    /// Same fingerprint = same normalized statement.
    pub fingerprint: String,
    pub duration_ms: f64,
    /// The parameter values (`DETAIL: parameters: $1 = '42'`, or the constants normalization
    /// removed), when the log has them; empty when unknown.
    #[serde(default)]
    pub params: Vec<String>,
}

/// A child candidate: one table, exactly one `column = $n`.
fn lookup_key(shape: &Shape) -> Option<(String, String)> {
    if shape.kind != StatementKind::Select || shape.accesses.len() != 1 {
        return None;
    }
    let a = &shape.accesses[0];
    let keys: Vec<&str> = a
        .predicates
        .iter()
        .filter(|p| p.value == PredValue::Param || p.value == PredValue::Other)
        .filter_map(|p| {
            (p.kind == PredKind::Eq && p.op == "=" && p.expr.is_none())
                .then_some(p.column.as_deref())
                .flatten()
        })
        .collect();
    let params = a
        .predicates
        .iter()
        .filter(|p| matches!(p.value, PredValue::Param | PredValue::Other))
        .count();
    match keys.as_slice() {
        [k] if params == 1 => Some((a.table.clone(), (*k).to_string())),
        _ => None,
    }
}

/// How the child's key column points at `parent_table`: (parent column, link description).
fn link(
    catalog: Option<&Catalog>,
    child_table: &str,
    child_col: &str,
    parent_table: &str,
) -> Option<(String, String)> {
    if let Some(c) = catalog {
        for fk in &c.foreign_keys {
            if fk.columns.len() != 1 {
                continue;
            }
            // One-to-many: the children of each parent row.
            if fk.table == child_table && fk.columns[0] == child_col && fk.ref_table == parent_table
            {
                return Some((
                    fk.ref_columns[0].clone(),
                    format!("foreign key {}", fk.name),
                ));
            }
            // Many-to-one: the referenced row of each listed row.
            if fk.ref_table == child_table
                && fk.ref_columns[0] == child_col
                && fk.table == parent_table
            {
                return Some((fk.columns[0].clone(), format!("foreign key {}", fk.name)));
            }
        }
    }
    // Matching key names: `lead_id` → `leads.id` / `lead.id`.
    let p = bare(parent_table);
    let stem = child_col.strip_suffix("_id")?;
    [stem.to_string(), format!("{stem}s"), format!("{stem}es")]
        .iter()
        .any(|n| n == p)
        .then(|| ("id".to_string(), "matching key names".to_string()))
}

/// The parent's access to `table` when it returns `column` (or `*`) from it: a list the
/// application can loop over.
fn lists(shape: &Shape, table: &str, column: &str) -> bool {
    shape.kind == StatementKind::Select
        && shape
            .accesses
            .iter()
            .any(|a| a.table == table && a.selected.iter().any(|s| s == column || s == "*"))
}

/// The child with its key compared to an array: `lead_id = $1` → `lead_id = ANY($1)`.
pub fn rewrite_any(query: &str, column: &str) -> String {
    match key_param(query, column) {
        Some((eq, start, end)) => format!(
            "{}= ANY({}){}",
            &query[..eq],
            &query[start..end],
            &query[end..]
        ),
        None => {
            format!("{query} -- compare {column} with = ANY($1) and pass every key as one array")
        }
    }
}

/// Parent and child as one statement: the child's key taken from the parent's rows,
/// `lead_id IN (SELECT id FROM (<parent>) AS parent)`. The parent's parameters stay as they are.
pub fn rewrite_single(
    parent: &str,
    child: &str,
    child_column: &str,
    parent_column: &str,
) -> Option<String> {
    let (eq, _, end) = key_param(child, child_column)?;
    let parent = parent.trim().trim_end_matches(';');
    let head = &child[..eq];
    let sep = if head.ends_with(' ') { "" } else { " " };
    Some(format!(
        "{head}{sep}IN (SELECT {} FROM ({parent}) AS parent){}",
        crate::sql::quote_ident(parent_column),
        &child[end..]
    ))
}

/// Where `column = $n` is in `query`: (offset of `=`, start of `$n`, end of `$n`).
fn key_param(query: &str, column: &str) -> Option<(usize, usize, usize)> {
    let lower = query.to_ascii_lowercase();
    let col = column.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&col).map(|i| i + from) {
        let before_ok = pos == 0 || {
            let b = bytes[pos - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        let mut i = pos + col.len();
        if i < bytes.len() && bytes[i] == b'"' {
            i += 1;
        }
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if before_ok && i < bytes.len() && bytes[i] == b'=' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            let start = j;
            if j < bytes.len() && bytes[j] == b'$' {
                j += 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                if j > start + 1 {
                    return Some((i, start, j));
                }
            }
        }
        from = pos + col.len();
    }
    None
}

impl NPlusOne {
    /// A finding of `child`'s lookups on (child table, child column), fed by `parent`'s rows of
    /// (parent table, parent column, linked via), with its rewrites and no counts yet.
    fn linked(
        evidence: Evidence,
        parent: StmtRef,
        child: StmtRef,
        (child_table, child_column): (String, String),
        (parent_table, parent_column, link): (String, String, String),
    ) -> Self {
        let mut n = NPlusOne {
            evidence,
            rewrite: rewrite_any(&child.query, &child_column),
            parent,
            child,
            parent_table,
            parent_column,
            child_table,
            child_column,
            link,
            child_calls: 0,
            parent_rows: 0,
            ratio: 0.0,
            loops: 0,
            child_total_ms: 0.0,
            parent_total_ms: 0.0,
            single_statement: None,
            join: String::new(),
        };
        n.join = join_text(&mut n);
        n
    }
}

fn join_text(n: &mut NPlusOne) -> String {
    // A parent prepared with SQL (`PREPARE q AS SELECT ...`) is nested as its statement.
    n.single_statement = rewrite_single(
        &super::plannable::plannable(&n.parent.query).sql,
        &n.child.query,
        &n.child_column,
        &n.parent_column,
    );
    format!(
        "or fetch both in one statement: JOIN {} ON {}.{} = {}.{} in the parent query",
        n.child_table,
        bare(&n.child_table),
        n.child_column,
        bare(&n.parent_table),
        n.parent_column
    )
}

/// N+1 loops in pg_stat_statements: for each one-key child, the linked parent whose returned
/// rows best match the child's calls.
pub fn detect_pgss(workload: &Workload, catalog: &Catalog, t: &PgssThresholds) -> Vec<NPlusOne> {
    let stmts = shaped(workload, Some(catalog));
    let mut out = Vec::new();
    for c in &stmts {
        let cs = c.statement;
        if cs.calls < t.min_child_calls.max(1) {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        if cs.rows as f64 / cs.calls as f64 > t.max_rows_per_call {
            continue;
        }
        let Some((child_table, child_col)) = lookup_key(&c.shape) else {
            continue;
        };
        let mut best: Option<(f64, NPlusOne)> = None;
        for p in &stmts {
            let ps = p.statement;
            if std::ptr::eq(ps, cs) || ps.rows <= 0 || ps.calls >= cs.calls {
                continue;
            }
            #[allow(clippy::cast_precision_loss)]
            let ratio = cs.calls as f64 / ps.rows as f64;
            if (ratio - 1.0).abs() > t.tolerance {
                continue;
            }
            for a in &p.shape.accesses {
                let Some((pcol, via)) = link(Some(catalog), &child_table, &child_col, &a.table)
                else {
                    continue;
                };
                if !lists(&p.shape, &a.table, &pcol) {
                    continue;
                }
                let dist = (ratio - 1.0).abs();
                if best.as_ref().is_some_and(|(d, _)| *d <= dist) {
                    continue;
                }
                let n = NPlusOne {
                    child_calls: cs.calls,
                    parent_rows: ps.rows,
                    ratio,
                    loops: ps.calls,
                    child_total_ms: cs.total_ms,
                    parent_total_ms: ps.total_ms,
                    ..NPlusOne::linked(
                        Evidence::PgStatStatements,
                        StmtRef {
                            fingerprint: ps.fingerprint.clone(),
                            query: ps.query.clone(),
                        },
                        StmtRef {
                            fingerprint: cs.fingerprint.clone(),
                            query: cs.query.clone(),
                        },
                        (child_table.clone(), child_col.clone()),
                        (a.table.clone(), pcol, via),
                    )
                };
                best = Some((dist, n));
            }
        }
        out.extend(best.map(|b| b.1));
    }
    out.sort_by(|a, b| b.child_total_ms.total_cmp(&a.child_total_ms));
    out
}

/// The loop that starts at event `i`: the same fingerprint again and again, no gap longer
/// than the window, until the parent runs again (the next loop). Indexes into `evs`.
fn burst(evs: &[&LogEvent], i: usize, parent: &LogEvent, window: chrono::Duration) -> Vec<usize> {
    let fp = &evs[i].fingerprint;
    let mut burst = vec![i];
    let mut last = evs[i].at;
    for (k, e) in evs.iter().enumerate().skip(i + 1) {
        if e.at - last > window || e.fingerprint == parent.fingerprint {
            break;
        }
        if &e.fingerprint == fp {
            burst.push(k);
            last = e.at;
        }
    }
    burst
}

/// N+1 loops in a statement log. `catalog`, when given, resolves tables and foreign keys;
/// without it tables are compared as written and linked by key names only.
pub fn detect_log(
    events: &[LogEvent],
    catalog: Option<&Catalog>,
    t: &LogThresholds,
) -> Vec<NPlusOne> {
    let mut sessions: BTreeMap<&str, Vec<&LogEvent>> = BTreeMap::new();
    for e in events {
        sessions.entry(e.session.as_str()).or_default().push(e);
    }
    // (parent fingerprint, child fingerprint) -> finding being accumulated
    let mut found: BTreeMap<(String, String), NPlusOne> = BTreeMap::new();
    let mut shapes: BTreeMap<&str, Option<Shape>> = BTreeMap::new();
    let window = chrono::Duration::microseconds((t.window_ms * 1000.0) as i64);
    for evs in sessions.values_mut() {
        evs.sort_by_key(|e| e.at);
        let mut used: HashSet<usize> = HashSet::new();
        for i in 0..evs.len() {
            if used.contains(&i) {
                continue;
            }
            let fp = &evs[i].fingerprint;
            // The parent: the statement before the loop, skipping earlier runs of the same
            // statement and the children of loops already seen (lookups interleave).
            let Some(parent) = evs[..i]
                .iter()
                .enumerate()
                .rev()
                .find(|(k, e)| !used.contains(k) && &e.fingerprint != fp)
                .map(|(_, e)| *e)
            else {
                continue;
            };
            if evs[i].at - parent.at > window {
                continue;
            }
            let burst = burst(evs, i, parent, window);
            if burst.len() < t.min_repeats {
                continue;
            }
            used.extend(burst.iter().copied());
            let distinct: HashSet<&Vec<String>> = burst.iter().map(|&k| &evs[k].params).collect();
            let params_known = burst.iter().all(|&k| !evs[k].params.is_empty());
            if params_known && distinct.len() < t.min_repeats {
                continue;
            }
            let total: f64 = burst.iter().map(|&k| evs[k].duration_ms).sum();
            if total < t.min_total_ms {
                continue;
            }
            let child = evs[i];
            let cshape = shapes
                .entry(child.query.as_str())
                .or_insert_with(|| shape_of(&child.query, catalog))
                .clone();
            let Some((child_table, child_col)) = cshape.as_ref().and_then(lookup_key) else {
                continue;
            };
            let pshape = shapes
                .entry(parent.query.as_str())
                .or_insert_with(|| shape_of(&parent.query, catalog))
                .clone();
            let Some(pshape) = pshape else { continue };
            let linked = pshape.accesses.iter().find_map(|a| {
                let (pcol, via) = link(catalog, &child_table, &child_col, &a.table)?;
                lists(&pshape, &a.table, &pcol).then(|| (a.table.clone(), pcol, via))
            });
            let Some((ptable, pcol, via)) = linked else {
                continue;
            };
            let key = (parent.fingerprint.clone(), fp.clone());
            let n = found.entry(key).or_insert_with(|| {
                NPlusOne::linked(
                    Evidence::Log,
                    StmtRef {
                        fingerprint: parent.fingerprint.clone(),
                        query: parent.query.clone(),
                    },
                    StmtRef {
                        fingerprint: fp.clone(),
                        query: child.query.clone(),
                    },
                    (child_table.clone(), child_col.clone()),
                    (ptable, pcol, via),
                )
            });
            n.loops += 1;
            n.parent_rows += 1;
            n.child_calls += burst.len() as i64;
            n.child_total_ms += total;
            n.parent_total_ms += parent.duration_ms;
        }
    }
    let mut out: Vec<NPlusOne> = found
        .into_values()
        .map(|mut n| {
            #[allow(clippy::cast_precision_loss)]
            {
                n.ratio = n.child_calls as f64 / n.loops.max(1) as f64;
            }
            n
        })
        .collect();
    out.sort_by(|a, b| b.child_total_ms.total_cmp(&a.child_total_ms));
    out
}

/// N+1 loops in pg_stat_activity samples (see `crate::pg::activity`): the log detector on
/// the executions seen, with pg_stat_statements' normalized text for each `query_id`, and
/// durations not seen to end bounded by the session's next execution. A weaker signal.
pub fn detect_activity(
    events: &[LogEvent],
    workload: &Workload,
    catalog: &Catalog,
    t: &LogThresholds,
) -> Vec<NPlusOne> {
    let texts: BTreeMap<&str, &str> = workload
        .statements
        .iter()
        .map(|s| (s.fingerprint.as_str(), s.query.as_str()))
        .collect();
    let mut evs: Vec<LogEvent> = events.to_vec();
    evs.sort_by(|a, b| a.session.cmp(&b.session).then(a.at.cmp(&b.at)));
    for i in 0..evs.len() {
        if let Some(q) = texts.get(evs[i].fingerprint.as_str()) {
            evs[i].query = (*q).to_string();
        }
        if evs[i].duration_ms <= 0.0 {
            if let Some(next) = evs.get(i + 1).filter(|n| n.session == evs[i].session) {
                #[allow(clippy::cast_precision_loss)]
                {
                    evs[i].duration_ms =
                        (next.at - evs[i].at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                }
            }
        }
    }
    let mut out = detect_log(&evs, Some(catalog), t);
    for n in &mut out {
        n.evidence = Evidence::Activity;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const PARENT: &str = "SELECT id, name FROM posts WHERE author = $1 ORDER BY id LIMIT 20";
    const CHILD: &str = "SELECT id, body FROM comments WHERE post_id = $1";

    fn ev(session: &str, ms: i64, query: &str, param: &str, dur: f64) -> LogEvent {
        LogEvent {
            session: session.into(),
            at: Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap(),
            query: query.into(),
            fingerprint: format!("fp:{query}"),
            duration_ms: dur,
            params: if param.is_empty() {
                vec![]
            } else {
                vec![param.into()]
            },
        }
    }

    fn th() -> LogThresholds {
        LogThresholds {
            min_repeats: 5,
            window_ms: 500.0,
            min_total_ms: 50.0,
        }
    }

    /// A parent, then `n` children 20 ms apart with parameters from `param(i)`.
    fn looped(parent: &str, child: &str, n: i64, param: impl Fn(i64) -> String) -> Vec<LogEvent> {
        let mut v = vec![ev("s1", 0, parent, "7", 3.0)];
        for i in 0..n {
            v.push(ev("s1", 10 + i * 20, child, &param(i), 12.0));
        }
        v
    }

    #[test]
    fn loop_after_a_linked_parent_is_found_with_the_rewrite() {
        let f = detect_log(&looped(PARENT, CHILD, 8, |i| i.to_string()), None, &th());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].child_calls, 8);
        assert_eq!(f[0].loops, 1);
        assert_eq!(f[0].child_column, "post_id");
        assert_eq!(f[0].parent_table, "posts");
        assert_eq!(
            f[0].rewrite,
            "SELECT id, body FROM comments WHERE post_id = ANY($1)"
        );
        assert!((f[0].child_total_ms - 96.0).abs() < 1e-9);
        assert_eq!(
            f[0].single_statement.as_deref(),
            Some("SELECT id, body FROM comments WHERE post_id IN (SELECT \"id\" FROM (SELECT id, name FROM posts WHERE author = $1 ORDER BY id LIMIT 20) AS parent)")
        );
    }

    #[test]
    fn loop_without_a_parent_relation_is_not_found() {
        let f = detect_log(
            &looped("SELECT value FROM settings WHERE key = $1", CHILD, 8, |i| {
                i.to_string()
            }),
            None,
            &th(),
        );
        assert!(f.is_empty(), "{f:?}");
        // No statement before the loop in the session: no parent at all.
        let mut v = looped(PARENT, CHILD, 8, |i| i.to_string());
        v.remove(0);
        assert!(detect_log(&v, None, &th()).is_empty());
    }

    #[test]
    fn batched_any_query_is_not_found() {
        let mut v = vec![ev("s1", 0, PARENT, "7", 3.0)];
        v.push(ev(
            "s1",
            5,
            "SELECT id, body FROM comments WHERE post_id = ANY($1)",
            "{1,2,3,4,5,6,7,8}",
            90.0,
        ));
        assert!(detect_log(&v, None, &th()).is_empty());
    }

    #[test]
    fn thresholds_are_respected() {
        // Too few, too cheap, same parameters, too slow a loop.
        assert!(detect_log(&looped(PARENT, CHILD, 4, |i| i.to_string()), None, &th()).is_empty());
        let cheap: Vec<LogEvent> = looped(PARENT, CHILD, 8, |i| i.to_string())
            .into_iter()
            .map(|mut e| {
                e.duration_ms = 1.0;
                e
            })
            .collect();
        assert!(detect_log(&cheap, None, &th()).is_empty());
        assert!(detect_log(&looped(PARENT, CHILD, 8, |_| "1".into()), None, &th()).is_empty());
        let slow = LogThresholds {
            window_ms: 5.0,
            ..th()
        };
        assert!(detect_log(&looped(PARENT, CHILD, 8, |i| i.to_string()), None, &slow).is_empty());
    }

    #[test]
    fn a_loop_whose_parent_was_not_seen_does_not_swallow_the_next_one() {
        // Two loops back to back; the first parent is missing (as sampling can miss it).
        let mut v = looped(PARENT, CHILD, 6, |i| i.to_string());
        v.remove(0);
        v.push(ev("s1", 130, PARENT, "8", 3.0));
        for i in 0..6 {
            v.push(ev("s1", 140 + i * 20, CHILD, &(i + 100).to_string(), 12.0));
        }
        let f = detect_log(&v, None, &th());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].loops, f[0].child_calls), (1, 6));
        // Both parents seen: two loops of 6.
        let mut w = looped(PARENT, CHILD, 6, |i| i.to_string());
        w.extend(v.into_iter().skip(6));
        let f = detect_log(&w, None, &th());
        assert_eq!((f[0].loops, f[0].child_calls), (2, 12), "{f:?}");
    }

    #[test]
    fn sessions_are_separate() {
        let mut v = looped(PARENT, CHILD, 3, |i| i.to_string());
        for i in 0..3 {
            v.push(ev("s2", 15 + i * 20, CHILD, &(i + 10).to_string(), 12.0));
        }
        assert!(detect_log(&v, None, &th()).is_empty());
    }

    #[test]
    fn interleaved_loops_share_their_parent_and_foreign_keys_link_any_names() {
        use crate::catalog::{Column, ForeignKey, Table};
        let other = "SELECT id, note FROM remarks WHERE target = $1";
        let mut v = vec![ev("s1", 0, PARENT, "7", 3.0)];
        for i in 0..6 {
            v.push(ev("s1", 10 + i * 20, CHILD, &i.to_string(), 12.0));
            v.push(ev("s1", 15 + i * 20, other, &i.to_string(), 12.0));
        }
        // Without a catalog `target` means nothing: only the comments loop is linked.
        let f = detect_log(&v, None, &th());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].child.query, CHILD);
        // With the foreign key remarks.target -> posts.id both loops are found, same parent.
        let mut c = Catalog::default();
        for (t, cols) in [
            ("posts", &["id", "name", "author"][..]),
            ("comments", &["id", "body", "post_id"][..]),
            ("remarks", &["id", "note", "target"][..]),
        ] {
            c.tables.push(Table {
                schema: "public".into(),
                name: t.into(),
                columns: cols
                    .iter()
                    .map(|n| Column {
                        name: (*n).into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            });
        }
        c.foreign_keys.push(ForeignKey {
            name: "remarks_target_fkey".into(),
            table: "public.remarks".into(),
            columns: vec!["target".into()],
            ref_table: "public.posts".into(),
            ref_columns: vec!["id".into()],
        });
        let f = detect_log(&v, Some(&c), &th());
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f
            .iter()
            .all(|n| n.parent.query == PARENT && n.child_calls == 6));
        assert!(f
            .iter()
            .any(|n| n.link == "foreign key remarks_target_fkey"));
    }

    #[test]
    fn rewrite_handles_quotes_and_numbers() {
        assert_eq!(
            rewrite_any(
                "SELECT * FROM x WHERE \"lead_id\" = $12 AND b = 1",
                "lead_id"
            ),
            "SELECT * FROM x WHERE \"lead_id\" = ANY($12) AND b = 1"
        );
        assert_eq!(
            rewrite_any(
                "SELECT * FROM x WHERE x.other_lead_id = $1 AND lead_id=$2",
                "lead_id"
            ),
            "SELECT * FROM x WHERE x.other_lead_id = $1 AND lead_id= ANY($2)"
        );
    }
}
