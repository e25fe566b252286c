//! The comment block at the top of every emitted file.
//!
//! Why: a migration outlives the run that produced it. The reviewer of the pull request, and
//! the person who finds the index a year later, need to see which statements it serves, what
//! it was expected to save and cost, who wrote it and when, and what to do if the build fails
//! halfway (a failed `CREATE INDEX CONCURRENTLY` leaves an INVALID index that `IF NOT EXISTS`
//! would then silently skip).

use super::plan::Unit;
use super::writer::EmitContext;

/// Longest statement text quoted in a header, in characters.
const MAX_QUERY: usize = 200;

/// Which file of a migration the header is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    /// A file that holds both directions (dbmate, Rails).
    Both,
}

/// One line of text: whitespace collapsed, cut at [`MAX_QUERY`] characters.
fn one_line(s: &str) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX_QUERY {
        flat
    } else {
        let cut: String = flat.chars().take(MAX_QUERY).collect();
        format!("{cut} ...")
    }
}

/// The header lines (without comment markers).
pub fn lines(ctx: &EmitContext, unit: &Unit, dir: Direction, timeouts: &str) -> Vec<String> {
    let rec = unit.rec;
    let mut out = vec![
        format!(
            "Written by dbopt {} on {} (costing: {}).",
            ctx.dbopt_version,
            ctx.now.format("%Y-%m-%d %H:%M UTC"),
            if ctx.costing.is_empty() {
                "unknown"
            } else {
                &ctx.costing
            },
        ),
        format!(
            "Index {} on {} ({}: {}).",
            unit.name,
            rec.table,
            rec.method,
            one_line(&crate::advisor::report::index_label(
                &rec.columns,
                &rec.include,
                rec.predicate.as_deref()
            )),
        ),
    ];
    match unit.part {
        Some((n, of)) => out.push(format!(
            "Migration {n} of {of} for this index: {}.",
            unit.steps[0].about
        )),
        None => {
            for s in &unit.steps {
                out.push(format!("This migration {}.", s.about));
            }
        }
    }
    if !rec.reason.is_empty() {
        out.push(format!("Why: {}", one_line(&rec.reason)));
    }
    if !rec.statements.is_empty() {
        out.push("Statements it serves:".into());
        for s in &rec.statements {
            out.push(format!(
                "  - {}: {} calls, cost {:.1} -> {:.1}, saves ~{:.0} ms/day",
                s.fingerprint, s.calls, s.cost_before, s.cost_after, s.time_saved_ms_per_day
            ));
            out.push(format!("    {}", one_line(&s.query)));
        }
    }
    out.push(format!(
        "Estimated size: {}; write overhead: +{:.1}% of the table's write time.",
        crate::units::bytes(rec.size_bytes),
        rec.write_overhead * 100.0
    ));
    for w in &rec.warnings {
        out.push(format!("Warning: {}.", one_line(w)));
    }
    out.extend(timeouts.lines().map(str::to_string));
    if dir != Direction::Down && unit.concurrent() {
        let built: Vec<&str> = unit
            .steps
            .iter()
            .filter(|s| s.concurrent())
            .map(|s| s.index.as_str())
            .collect();
        let index = if built.len() == 1 {
            built[0].to_string()
        } else {
            "<the invalid index>".to_string()
        };
        out.push(
            "If a CONCURRENTLY build fails (lock timeout, cancel, deadlock, duplicate key), it \
             leaves an INVALID index"
                .into(),
        );
        out.push("behind that IF NOT EXISTS would skip on the next run. Find it with".into());
        out.push("  SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid;".into());
        out.push(format!(
            "drop it with DROP INDEX CONCURRENTLY IF EXISTS {index}; then run this migration again."
        ));
    }
    if dir != Direction::Up {
        let down = unit.down();
        if down.iter().any(|d| d.contains(" CONCURRENTLY ")) {
            out.push(
                "Undo: DROP INDEX CONCURRENTLY does not block writes; if it fails it leaves the \
                 index INVALID: run it again."
                    .into(),
            );
        }
        if down.iter().any(|d| !d.contains(" CONCURRENTLY ")) {
            out.push(
                "Undo: a partitioned index cannot be dropped CONCURRENTLY, and dropping it drops \
                 its partitions' indexes; the DROP holds an ACCESS EXCLUSIVE lock on the tables \
                 briefly."
                    .into(),
            );
        }
    }
    out
}

/// The header as comment lines with `prefix` (`--` for SQL, `#` for Ruby and TOML). A line
/// holding a name with a line break (`"a\nb"` is a valid table name) becomes several
/// comment lines, so no name can step out of the comment into the migration's SQL.
pub fn block(
    ctx: &EmitContext,
    unit: &Unit,
    dir: Direction,
    timeouts: &str,
    prefix: &str,
) -> String {
    let mut s = String::new();
    for line in lines(ctx, unit, dir, timeouts) {
        s.push_str(&comment(&line, prefix));
    }
    s
}

/// `text` as comment lines with `prefix`, one per line of it (any of `\n`, `\r`, `\r\n`).
pub fn comment(text: &str, prefix: &str) -> String {
    let mut s = String::new();
    for l in text.split(['\n', '\r']) {
        if l.is_empty() {
            s.push_str(prefix);
        } else {
            s.push_str(&format!("{prefix} {l}"));
        }
        s.push('\n');
    }
    s
}
