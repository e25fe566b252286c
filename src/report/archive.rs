//! `archive` and `bench archive` for people and machines: the dry run (plan table, the SQL,
//! what to add to run it), the run's statistics, the benchmark table.
//!
//! Why apart from the command: what a run does must not depend on how it is shown, and the
//! JSON shapes (`mode: dry-run` / `mode: execute`) are a stable schema scripts read.

use serde::Serialize;

use super::Format;
use crate::archive::bench::BenchResult;
use crate::archive::{Archived, DryRun, Executed, Plan, Stats, Strategy};

#[derive(Serialize)]
struct DryRunJson<'a> {
    mode: &'static str,
    plan: &'a Plan,
    rows_in_scope: i64,
    sql: &'a [String],
}

#[derive(Serialize)]
struct ExecutedJson<'a> {
    mode: &'static str,
    strategy: Strategy,
    source: &'a str,
    archive: Option<&'a str>,
    cutoff: &'a str,
    stats: &'a Stats,
}

/// Print what `archive` did in `format`.
pub fn print(format: Format, a: &Archived) -> std::io::Result<()> {
    match a {
        Archived::DryRun(d) => {
            let json = DryRunJson {
                mode: "dry-run",
                plan: &d.plan,
                rows_in_scope: d.rows_in_scope,
                sql: &d.sql,
            };
            super::print(format, &json, |f| dry_run(f, d))
        }
        Archived::Executed(e) => {
            let p = &e.plan;
            let json = ExecutedJson {
                mode: "execute",
                strategy: p.strategy,
                source: &p.source,
                archive: p.archive.as_deref(),
                cutoff: &p.cutoff,
                stats: &e.stats,
            };
            super::print(format, &json, |f| stats(f, e))
        }
    }
}

fn plan_rows(p: &Plan) -> Vec<(String, String)> {
    let mut rows = vec![
        ("strategy".into(), p.strategy.label().into()),
        ("source".into(), p.source.clone()),
        (
            "key".into(),
            p.key
                .iter()
                .map(|k| format!("{} ({})", k.name, k.type_name))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "cutoff".into(),
            format!("{} < {}", p.age_column.name, p.cutoff),
        ),
        (
            "highest key at start".into(),
            p.max_key
                .as_ref()
                .map_or("(table is empty)".into(), |k| k.join(", ")),
        ),
    ];
    if let Some(f) = &p.filter {
        rows.push(("where".into(), f.clone()));
    }
    if let Some(a) = &p.archive {
        let state = if p.archive_exists {
            "exists"
        } else {
            "to be created"
        };
        let place = if p.cross_database {
            ", other database"
        } else {
            ""
        };
        rows.push(("archive".into(), format!("{a} ({state}{place})")));
    }
    rows
}

/// The dry run: the plan, the rows it would touch, each statement, and how to run it.
fn dry_run(format: Format, d: &DryRun) -> String {
    let mut t = super::table(format, &["dry run", ""]);
    for (k, v) in plan_rows(&d.plan) {
        t.add_row(vec![k, v]);
    }
    t.add_row(vec![
        "rows it would touch now".to_string(),
        d.rows_in_scope.to_string(),
    ]);
    let mut out = format!("{t}\n");
    for s in &d.sql {
        out.push_str(&format!("\n{s};\n"));
    }
    out.push_str("\nNothing was changed. Add --execute to run it.\n");
    out
}

/// The statistics of a run.
fn stats(format: Format, e: &Executed) -> String {
    let (p, s) = (&e.plan, &e.stats);
    let mut t = super::table(format, &["statistic", "value"]);
    let mut add = |k: &str, v: String| {
        t.add_row(vec![k.to_string(), v]);
    };
    add("strategy", format!("{} {}", p.strategy.label(), p.source));
    if let Some(a) = p.archive.as_deref().filter(|_| p.strategy.writes_archive()) {
        add("archive", a.to_string());
    }
    add("rows in scope at start", s.rows_in_scope.to_string());
    add("rows selected", s.rows_selected.to_string());
    add("rows archived", s.rows_archived.to_string());
    add("rows deleted", s.rows_deleted.to_string());
    add("batches", s.batches.to_string());
    add(
        "batch size (min–max)",
        format!("{}–{}", s.batch_size_min, s.batch_size_max),
    );
    add("longest batch", format!("{:.0} ms", s.batch_ms_max));
    add("rows/s", format!("{:.0}", s.rows_per_second()));
    add("time counting", format!("{:.2} s", s.seconds_count));
    add("time in batches", format!("{:.2} s", s.seconds_batches));
    add("time throttled", format!("{:.2} s", s.seconds_throttled));
    let optional = [
        ("time waiting for replicas", s.seconds_replica_wait),
        ("time verifying", s.seconds_verify),
        ("time vacuuming", s.seconds_vacuum),
    ];
    for (k, secs) in optional {
        if secs > 0.0 {
            add(k, format!("{secs:.2} s"));
        }
    }
    if s.archive_created {
        add("archive created", "yes".into());
    }
    if !s.detached_partitions.is_empty() {
        add("detached partitions", s.detached_partitions.join(", "));
    }
    if let Some(v) = &s.verify {
        add(
            "verify",
            format!("{}: {}", if v.ok { "ok" } else { "MISMATCH" }, v.detail),
        );
    }
    if let Some(why) = &s.stopped {
        add(
            "stopped",
            format!("{why}; run the same command again to continue"),
        );
    }
    for n in &s.notes {
        add("note", n.clone());
    }
    format!("{t}\n")
}

/// `bench archive`: a row per strategy and batch size, then the idle baseline.
pub fn bench(format: Format, res: &BenchResult) -> String {
    let mut t = super::table(
        format,
        &[
            "run",
            "batch",
            "rows",
            "rows/s",
            "vs single statement",
            "reader p99 ms",
            "writer p99 ms",
            "reader p99 vs idle",
            "writer p99 vs idle",
        ],
    );
    for r in &res.runs {
        t.add_row(vec![
            r.name.clone(),
            r.batch_size.map_or("all".into(), |b| b.to_string()),
            r.rows.to_string(),
            format!("{:.0}", r.rows_per_second),
            format!("{:.2}x", r.throughput_ratio),
            format!("{:.2}", r.reader_p99_ms),
            format!("{:.2}", r.writer_p99_ms),
            format!("{:.2}x", r.reader_p99_ratio),
            format!("{:.2}x", r.writer_p99_ratio),
        ]);
    }
    format!(
        "{t}\nidle (no archival): reader p99 {:.2} ms, writer p99 {:.2} ms; scale {} ({} events); medians of {} runs each.\n",
        res.idle_reader_p99_ms, res.idle_writer_p99_ms, res.scale, res.events, res.repeat
    )
}
