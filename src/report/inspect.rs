//! Human output of the inspection commands (`--format table|markdown`); JSON is the serde form
//! of the reports in `crate::inspect`.

use std::fmt::Write as _;

use comfy_table::Cell;

use super::{status_cell, table, Format};
use crate::findings::Finding;
use crate::inspect::{
    ConnectionsReport, Count, IndexesReport, QueriesReport, SizeReport, TablesReport,
};
use crate::sql::one_line;
use crate::units::bytes;
use crate::workload::activity::{Chain, Session};

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), pct)
}

/// The findings table (or a line saying there are none).
pub fn findings(out: &mut String, f: &[Finding], format: Format, none: &str) {
    if f.is_empty() {
        let _ = writeln!(out, "{none}");
        return;
    }
    let mut t = table(format, &["severity", "rule", "object", "finding", "fix"]);
    for x in f {
        let mut what = x.message.clone();
        for e in &x.evidence {
            what.push_str("\n· ");
            what.push_str(e);
        }
        let fix = match x.sql() {
            Some(sql) => format!("{}\n{sql};", x.remedy),
            None => x.remedy.clone(),
        };
        t.add_row(vec![
            status_cell(x.severity.label(), Some(x.severity)),
            Cell::new(&x.rule),
            Cell::new(&x.object),
            Cell::new(what),
            Cell::new(fix),
        ]);
    }
    let _ = writeln!(out, "{t}");
}

fn notes(out: &mut String, notes: &[String]) {
    for n in notes {
        let _ = writeln!(out, "note: {n}");
    }
}

pub fn queries(r: &QueriesReport, format: Format) -> String {
    let mut out = String::new();
    let mut t = table(
        format,
        &[
            "query",
            "calls",
            "total ms",
            "mean ms",
            "share",
            "rows/call",
            "hit %",
            "flags",
        ],
    );
    for q in &r.statements {
        t.add_row(vec![
            Cell::new(one_line(&q.query, 70)),
            Cell::new(q.calls),
            Cell::new(format!("{:.1}", q.total_ms)),
            Cell::new(format!("{:.2}", q.mean_ms)),
            Cell::new(pct(q.share)),
            Cell::new(format!("{:.1}", q.rows_per_call)),
            Cell::new(opt_pct(q.cache_hit_ratio)),
            Cell::new(q.flags.join(", ")),
        ]);
    }
    let _ = writeln!(
        out,
        "{} statements, {:.0} ms in total; top {} by {}",
        r.statements_total,
        r.total_ms,
        r.statements.len(),
        match r.sort {
            crate::inspect::QuerySort::Total => "total time",
            crate::inspect::QuerySort::Mean => "mean time",
            crate::inspect::QuerySort::Calls => "calls",
            crate::inspect::QuerySort::Io => "I/O",
        },
    );
    let _ = writeln!(out, "{t}");
    findings(
        &mut out,
        &r.findings,
        format,
        "no slow or erratic statements",
    );
    notes(&mut out, &r.notes);
    out
}

pub fn tables(r: &TablesReport, format: Format) -> String {
    let mut out = String::new();
    let mut t = table(
        format,
        &[
            "table",
            "heap",
            "indexes",
            "toast",
            "live",
            "dead",
            "bloat",
            "seq scans",
            "seq rows",
            "idx scans",
            "ins/upd(HOT)/del",
            "last vacuum",
            "last analyze",
        ],
    );
    for x in &r.tables {
        let vac = x
            .last_vacuum
            .clone()
            .max(x.last_autovacuum.clone())
            .unwrap_or_else(|| "never".into());
        let ana = x
            .last_analyze
            .clone()
            .max(x.last_autoanalyze.clone())
            .unwrap_or_else(|| "never".into());
        t.add_row(vec![
            Cell::new(&x.table),
            Cell::new(bytes(x.heap_bytes)),
            Cell::new(bytes(x.index_bytes)),
            Cell::new(bytes(x.toast_bytes)),
            Cell::new(x.live_tuples),
            Cell::new(x.dead_tuples),
            Cell::new(pct(x.bloat.ratio())),
            Cell::new(x.seq_scans),
            Cell::new(x.seq_rows_read),
            Cell::new(x.index_scans),
            Cell::new(format!(
                "{}/{}({})/{}",
                x.writes.inserts, x.writes.updates, x.writes.hot_updates, x.writes.deletes
            )),
            Cell::new(vac.get(..19).unwrap_or(&vac)),
            Cell::new(ana.get(..19).unwrap_or(&ana)),
        ]);
    }
    let _ = writeln!(out, "{t}");
    findings(&mut out, &r.findings, format, "no table problems found");
    out
}

pub fn indexes(r: &IndexesReport, format: Format) -> String {
    let mut out = String::new();
    let age = r.stats_reset_age_s.map_or_else(
        || "statistics never reset".to_string(),
        |s| format!("statistics reset {:.1} days ago", s / 86_400.0),
    );
    let _ = writeln!(out, "{} indexes; {age}", r.indexes);
    findings(&mut out, &r.findings, format, "no index problems found");
    out
}

pub fn size(r: &SizeReport, format: Format) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "database {}: {}",
        r.database,
        r.database_bytes
            .map_or_else(|| "size unknown".into(), bytes)
    );
    let mut s = table(format, &["schema", "size", "relations"]);
    for x in &r.schemas {
        s.add_row(vec![
            Cell::new(&x.schema),
            Cell::new(bytes(x.bytes)),
            Cell::new(x.tables),
        ]);
    }
    let _ = writeln!(out, "{s}");
    let mut t = table(format, &["relation", "total", "heap", "indexes", "toast"]);
    for x in &r.top {
        t.add_row(vec![
            Cell::new(&x.relation),
            Cell::new(bytes(x.total_bytes)),
            Cell::new(bytes(x.heap_bytes)),
            Cell::new(bytes(x.index_bytes)),
            Cell::new(bytes(x.toast_bytes)),
        ]);
    }
    let _ = writeln!(out, "{t}");
    out
}

fn counts(out: &mut String, format: Format, what: &str, v: &[Count]) {
    let mut t = table(format, &[what, "sessions"]);
    for c in v {
        t.add_row(vec![Cell::new(&c.key), Cell::new(c.count)]);
    }
    let _ = writeln!(out, "{t}");
}

fn sessions(
    out: &mut String,
    format: Format,
    title: &str,
    v: &[Session],
    age: fn(&Session) -> Option<f64>,
) {
    if v.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}");
    let mut t = table(
        format,
        &["pid", "user", "application", "seconds", "waits on", "query"],
    );
    for s in v {
        t.add_row(vec![
            Cell::new(s.pid),
            Cell::new(s.user.as_deref().unwrap_or("?")),
            Cell::new(&s.application),
            Cell::new(format!("{:.0}", age(s).unwrap_or(0.0))),
            Cell::new(
                s.blocked_by
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Cell::new(one_line(s.query.as_deref().unwrap_or(""), 60)),
        ]);
    }
    let _ = writeln!(out, "{t}");
}

/// The blocking trees, one row per session, indented by depth (nothing when no one waits).
fn chains(out: &mut String, format: Format, v: &[Chain]) {
    if v.is_empty() {
        return;
    }
    let _ = writeln!(out, "blocking chains:");
    let mut t = table(
        format,
        &["pid", "user", "state", "waited s", "lock wanted", "query"],
    );
    for n in v.iter().flat_map(|c| &c.nodes) {
        let pid = match n.depth {
            0 => n.pid.to_string(),
            d => format!("{}└ {}", "  ".repeat(d - 1), n.pid),
        };
        t.add_row(vec![
            Cell::new(pid),
            Cell::new(n.user.as_deref().unwrap_or("?")),
            Cell::new(n.state.as_deref().unwrap_or("?")),
            Cell::new(n.wait_s.map_or_else(String::new, |w| format!("{w:.0}"))),
            Cell::new(n.lock_wanted.as_deref().unwrap_or("")),
            Cell::new(one_line(n.query.as_deref().unwrap_or(""), 60)),
        ]);
    }
    let _ = writeln!(out, "{t}");
}

pub fn connections(r: &ConnectionsReport, format: Format) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} connections of {} usable (max_connections {}, {} reserved): {}",
        r.total,
        r.max_connections - r.reserved_connections,
        r.max_connections,
        r.reserved_connections,
        pct(r.utilization)
    );
    counts(&mut out, format, "state", &r.by_state);
    counts(&mut out, format, "user", &r.by_user);
    counts(&mut out, format, "application", &r.by_application);
    sessions(
        &mut out,
        format,
        "idle in transaction:",
        &r.idle_in_transaction,
        |s| s.state_age_s,
    );
    sessions(
        &mut out,
        format,
        "longest running:",
        &r.longest_running,
        |s| s.query_age_s,
    );
    sessions(
        &mut out,
        format,
        "waiting on locks:",
        &r.waiting_on_locks,
        |s| s.state_age_s,
    );
    chains(&mut out, format, &r.blocking_chains);
    findings(
        &mut out,
        &r.findings,
        format,
        "no connection problems found",
    );
    if r.hidden > 0 {
        let _ = writeln!(out, "note: {} sessions' queries are hidden from this role; GRANT pg_read_all_stats to see them", r.hidden);
    }
    out
}
