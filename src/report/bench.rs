//! The benchmarks for people: the pool ramp (a row per step, the knee, the pool size to use),
//! dbopt against pgbench, the advisor on TPC-H and at scale. JSON is the reports' own shape.
//!
//! Why apart from the commands: the measurements are the same whoever reads them; only this
//! file knows how a person sees them.

use std::fmt::Write as _;

use super::Format;
use crate::bench::advise_scale::ScaleReport;
use crate::bench::histogram::ms;
use crate::bench::pgbench::Compared;
use crate::bench::pool::{PoolReport, RampReport, StepReport, Vary};
use crate::bench::tpch::TpchReport;

/// A progress note on stderr, only for a person watching (so a failure stays one line).
pub fn note(text: &str) {
    if super::stderr_is_terminal() {
        eprintln!("{text}");
    }
}

/// Print what `bench pool` measured in `format`.
pub fn print_pool(format: Format, r: &PoolReport) -> std::io::Result<()> {
    match r {
        PoolReport::Ramp(rep) if format == Format::Html => {
            super::print_text(&super::html::ramp::page_of(rep))
        }
        PoolReport::Ramp(rep) => super::print(format, rep, |f| ramp_text(f, rep)),
        PoolReport::Compare(c) => super::print(format, c, |f| compare(f, c)),
    }
}

/// What the ramp varies, as a column name.
pub fn label(v: Vary) -> &'static str {
    match v {
        Vary::Concurrency => "clients",
        Vary::Pool => "pool",
    }
}

/// The columns of the ramp table, one per figure of a step.
pub const RAMP_COLUMNS: [&str; 15] = [
    "clients",
    "pool",
    "req/s",
    "errors",
    "refused",
    "wait t/o",
    "p50",
    "p95",
    "p99",
    "max",
    "wait p95",
    "query p95",
    "pool use",
    "waiting max",
    "active (srv)",
];

/// A step's figures as the ramp table shows them, in [`RAMP_COLUMNS`] order.
pub fn step_cells(s: &StepReport) -> Vec<String> {
    vec![
        s.concurrency.to_string(),
        s.pool_size.to_string(),
        format!("{:.0}", s.throughput),
        s.errors.to_string(),
        s.refused.to_string(),
        s.wait_timeouts.to_string(),
        ms(s.latency.p50_ms),
        ms(s.latency.p95_ms),
        ms(s.latency.p99_ms),
        ms(s.latency.max_ms),
        ms(s.pool_wait.p95_ms),
        ms(s.query.p95_ms),
        format!("{:.0} %", s.occupancy.pool_utilization * 100.0),
        s.occupancy.pool_waiting_max.to_string(),
        format!(
            "{:.1} (max {})",
            s.occupancy.server_active_mean, s.occupancy.server_active_max
        ),
    ]
}

/// What the ramp concluded, a line each: the first error, the knee, the advice, the pool
/// size to use beside the rule of thumb.
pub fn ramp_conclusions(r: &RampReport) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = r.steps.iter().find_map(|s| s.first_error.as_ref()) {
        out.push(format!("first error: {e}"));
    }
    out.push(match &r.knee {
        Some(k) => format!(
            "knee: {} {} ({:.0} req/s, p95 {})",
            k.at,
            label(r.vary),
            k.throughput,
            ms(k.p95_ms)
        ),
        None => "knee: none found".to_string(),
    });
    out.push(r.advice.clone());
    let thumb = match (r.rule_of_thumb, r.cores) {
        (Some(n), Some(c)) => format!("{n} (cores {c} x 2 + spindles {})", r.spindles),
        _ => "unknown (pass --server-cores)".into(),
    };
    out.push(match r.recommended_pool_size {
        Some(n) => {
            format!("recommended pool size: {n}; rule of thumb (cores x 2) + spindles: {thumb}")
        }
        None => format!("rule of thumb (cores x 2) + spindles: {thumb}"),
    });
    out
}

/// The ramp for a person: a table per step, the knee and the recommendation.
pub fn ramp_text(format: Format, r: &RampReport) -> String {
    let mut out = String::new();
    let mut t = super::table(format, &RAMP_COLUMNS);
    for s in &r.steps {
        t.add_row(step_cells(s));
    }
    _ = writeln!(out, "{t}");
    for line in ramp_conclusions(r) {
        _ = writeln!(out, "{line}");
    }
    out
}

/// dbopt against pgbench, a row per client count.
fn compare(format: Format, c: &Compared) -> String {
    let mut out = String::new();
    let mut tb = super::table(
        format,
        &[
            "clients",
            "dbopt req/s",
            "pgbench tps",
            "ratio (range over rounds)",
            "dbopt p95",
            "server/s dbopt",
            "server/s pgbench",
        ],
    );
    for r in &c.rows {
        tb.add_row(vec![
            r.clients.to_string(),
            format!("{:.0}", r.dbopt_tps),
            format!("{:.0}", r.pgbench_tps),
            if r.rounds > 1 {
                format!(
                    "{:.2} ({:.2}–{:.2})",
                    r.ratio, r.ratio_range.0, r.ratio_range.1
                )
            } else {
                format!("{:.2}", r.ratio)
            },
            ms(r.dbopt_p95_ms),
            r.server_dbopt_per_s
                .map_or("-".into(), |v| format!("{v:.0}")),
            r.server_pgbench_per_s
                .map_or("-".into(), |v| format!("{v:.0}")),
        ]);
    }
    _ = writeln!(out, "{tb}");
    _ = writeln!(out, "lowest ratio: {:.2} (goal: 0.90 or more at every point); server/s: executions pg_stat_statements counted per second of each run's wall time", c.min_ratio);
    _ = writeln!(
        out,
        "client threads: {} on each side{}",
        c.threads,
        if c.pinned {
            ", dbopt's bound to a CPU each (--no-pin to leave them unbound like pgbench's)"
        } else {
            ""
        }
    );
    out
}

/// `bench advise`: the summary line, a row per width and budget, the notes and index sets.
pub fn tpch(format: Format, r: &TpchReport) -> String {
    let mut out = String::new();
    let loaded = match r.load_seconds {
        Some(s) => format!("SF{} loaded in {s:.1} s", r.scale_factor),
        None => "tables already loaded, statistics kept".to_string(),
    };
    _ = writeln!(
        out,
        "TPC-H ({} queries: Q2, Q17, Q20 excluded; {loaded}). No index = 100 %; every width-2 candidate at once = {:.2} %.",
        r.queries.len(),
        r.all_width2_pct
    );
    let mut t = super::table(
        format,
        &[
            "width",
            "budget MB",
            "cost %",
            "indexes",
            "HypoPG MB",
            "dbopt MB",
            "what-if calls",
            "seconds",
            "Extend's set %",
        ],
    );
    for run in &r.runs {
        t.add_row(vec![
            run.max_width.to_string(),
            format!("{:.0}", run.budget_mb),
            format!("{:.2}", run.cost_pct),
            run.indexes.len().to_string(),
            format!("{:.0}", run.hypopg_mb),
            format!("{:.0}", run.dbopt_mb),
            run.whatif_calls.to_string(),
            format!("{:.2}", run.seconds),
            r.reference
                .iter()
                .find(|(b, _)| run.max_width == 2 && (*b - run.budget_mb).abs() < 1.0)
                .map_or_else(|| "-".to_string(), |(_, pct)| format!("{pct:.2}")),
        ]);
    }
    _ = writeln!(out, "{t}");
    _ = writeln!(out, "Extend's set %: the reference implementation's published width-2 picks at that budget, costed on this run's statistics.");
    if let (Some(b), Some(c)) = (r.built_mb, r.real_cost_pct) {
        _ = writeln!(out, "Width 2 at 500 MB, built for real: {b:.0} MB on disk; workload cost with the real indexes {c:.2} % of no index.");
    }
    for a in &r.agreement {
        _ = writeln!(
            out,
            "Cost model vs HypoPG, width 2 @ {:.0} MB (dbopt's size estimate): the model's set costs {:.2} % of no index, HypoPG's {:.2} %; ratio {:.3}.",
            a.budget_mb.unwrap_or(f64::INFINITY),
            100.0 * a.model_set_cost / a.no_index_cost.max(1e-9),
            100.0 * a.hypopg_set_cost / a.no_index_cost.max(1e-9),
            a.ratio
        );
    }
    for run in &r.runs {
        _ = writeln!(
            out,
            "width {} @ {:.0} MB: {}",
            run.max_width,
            run.budget_mb,
            run.indexes.join(", ")
        );
    }
    out
}

/// `bench advise-scale`: the summary line and a row per workload size.
pub fn scale(format: Format, r: &ScaleReport) -> String {
    let loaded = match r.load_seconds {
        Some(s) => format!("loaded in {s:.1} s"),
        None => "already loaded, statistics kept".to_string(),
    };
    let mut t = super::table(
        format,
        &[
            "statements",
            "tables",
            "seconds",
            "ms / statement",
            "peak MB",
            "costing",
            "what-if calls",
            "indexes",
            "cost after %",
        ],
    );
    for run in &r.runs {
        #[allow(clippy::cast_precision_loss)]
        let per = 1000.0 * run.seconds / run.statements as f64;
        t.add_row(vec![
            run.statements.to_string(),
            run.tables_touched.to_string(),
            format!("{:.1}", run.seconds),
            format!("{per:.2}"),
            format!("{:.0}", run.peak_mb),
            run.costing.clone(),
            run.whatif_calls.to_string(),
            run.indexes.to_string(),
            format!("{:.1}", run.cost_pct),
        ]);
    }
    format!(
        "{} tables of {} rows ({loaded}); each size is one `dbopt advise --queries FILE` process.\n{t}\n",
        r.tables, r.rows_per_table
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::histogram::Percentiles;
    use crate::bench::plot;
    use crate::bench::pool::{self, RampOptions, StepReport};
    use crate::bench::runner::Occupancy;
    use crate::pg;

    /// A fixed ramp: throughput levels off at 4 clients on a pool of 8.
    pub(crate) fn sample() -> RampReport {
        ramp_of(&[
            (1, 10_000.0, 0.1, 0),
            (2, 18_000.0, 0.12, 0),
            (4, 30_000.0, 0.2, 0),
            (8, 30_500.0, 0.5, 0),
        ])
    }

    /// Steps of (clients, req/s, p95 ms, refused connections) on a pool of 8.
    pub(crate) fn ramp_of(points: &[(usize, f64, f64, u64)]) -> RampReport {
        let o = RampOptions {
            vary: Vary::Concurrency,
            steps: vec![1, 2, 4, 8],
            pool_size: 8,
            concurrency: 1,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            rate: None,
            pool_timeout: Duration::from_secs(5),
            session: pg::SessionOptions::default(),
            cores: Some(2),
            spindles: 1,
            threads: 2,
            pin: true,
        };
        let steps = points
            .iter()
            .map(|&(c, tp, p95, refused)| StepReport {
                concurrency: c,
                pool_size: 8,
                ok: (tp * 5.0) as u64,
                errors: refused,
                refused,
                wait_timeouts: 0,
                throughput: tp,
                error_rate: 0.0,
                latency: Percentiles {
                    count: 1,
                    mean_ms: p95 / 2.0,
                    p50_ms: p95 / 2.0,
                    p95_ms: p95,
                    p99_ms: p95 * 2.0,
                    max_ms: p95 * 10.0,
                },
                pool_wait: Percentiles::default(),
                query: Percentiles {
                    count: 1,
                    mean_ms: p95 / 2.0,
                    p50_ms: p95 / 2.0,
                    p95_ms: p95,
                    p99_ms: p95 * 2.0,
                    max_ms: p95 * 10.0,
                },
                occupancy: Occupancy {
                    pool_utilization: c as f64 / 8.0,
                    server_active_mean: c as f64 / 2.0,
                    server_active_max: c as i64,
                    ..Default::default()
                },
                first_error: None,
            })
            .collect();
        pool::summarize(
            "select-only",
            "postgres@127.0.0.1:5432/bench",
            &o,
            steps,
            true,
        )
    }

    #[test]
    fn ramp_table_knee_and_advice() {
        insta::assert_snapshot!(ramp_text(Format::Markdown, &sample()));
    }

    #[test]
    fn refusals_show_per_step_and_bound_the_knee() {
        // Still growing at 8 clients, but the server refused connections there.
        let r = ramp_of(&[
            (1, 10_000.0, 0.1, 0),
            (2, 18_000.0, 0.12, 0),
            (4, 30_000.0, 0.2, 0),
            (8, 45_000.0, 0.3, 250),
        ]);
        assert_eq!(r.refused_from, Some(8));
        assert_eq!(r.knee.as_ref().map(|k| k.at), Some(4));
        let text = ramp_text(Format::Markdown, &r);
        let header = text.lines().next().unwrap();
        assert!(header.contains("| refused |"), "{text}");
        let last = text.lines().find(|l| l.starts_with("| 8 ")).unwrap();
        assert!(last.contains("| 250 "), "{text}");
        assert!(
            text.contains("the server refused connections from 8 clients on"),
            "{text}"
        );
    }

    #[test]
    fn ramp_chart() {
        let svg = plot::svg(&sample());
        assert!(svg.contains("knee: 4"), "{svg}");
        insta::assert_snapshot!(svg);
    }
}
