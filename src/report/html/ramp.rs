//! The page of `dbopt bench pool --format html`: the ramp as a line chart (throughput on the
//! left axis, p95 and p99 latency on the right, the knee and the steps with refused
//! connections marked), the table of every step, and what the ramp concluded.
//!
//! Why a line chart and not bars: the question a ramp answers is where throughput stops
//! growing while latency keeps rising, which is the shape of two curves over the steps. The
//! table's cells and the conclusions are the ones the text rendering prints
//! ([`step_cells`], [`ramp_conclusions`]); each step's figures are also in `data-*`
//! attributes, written as the JSON report writes them.

use std::fmt::Write as _;

use super::svg::{self, Axis, Line, LineChart, Mark, Series, Side};
use super::{card, esc, page};
use crate::bench::histogram::ms;
use crate::bench::pool::RampReport;
use crate::report::bench::{label, ramp_conclusions, step_cells, RAMP_COLUMNS};

const THROUGHPUT: Series = Series {
    name: "throughput",
    class: "tp",
};
const P95: Series = Series {
    name: "p95 latency",
    class: "p95",
};
const P99: Series = Series {
    name: "p99 latency",
    class: "p99",
};

/// The chart of the ramp.
fn chart(r: &RampReport) -> String {
    let per_step = |v: fn(&crate::bench::pool::StepReport) -> f64| -> Vec<f64> {
        r.steps.iter().map(v).collect()
    };
    let mut marks: Vec<Mark> = r
        .knee
        .iter()
        .filter_map(|k| {
            let step = r.steps.iter().position(|s| s.x(r.vary) == k.at)?;
            Some(Mark {
                step,
                class: "knee",
                text: format!("knee: {}", k.at),
            })
        })
        .collect();
    marks.extend(
        r.steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.refused > 0)
            .map(|(step, s)| Mark {
                step,
                class: "refused",
                text: format!("{} refused", s.refused),
            }),
    );
    svg::lines(&LineChart {
        title: format!(
            "Throughput and latency against {} ({})",
            step_name(r),
            r.workload
        ),
        steps: r.steps.iter().map(|s| s.x(r.vary).to_string()).collect(),
        step_title: step_name(r),
        left: Axis {
            title: "throughput (requests/s)",
            tick: |v| format!("{v:.0}"),
        },
        right: Axis {
            title: "latency",
            tick: ms,
        },
        lines: vec![
            Line {
                series: THROUGHPUT,
                side: Side::Left,
                values: per_step(|s| s.throughput),
            },
            Line {
                series: P95,
                side: Side::Right,
                values: per_step(|s| s.latency.p95_ms),
            },
            Line {
                series: P99,
                side: Side::Right,
                values: per_step(|s| s.latency.p99_ms),
            },
        ],
        marks,
    })
}

/// What the steps count, for a person.
fn step_name(r: &RampReport) -> &'static str {
    match label(r.vary) {
        "clients" => "concurrent clients",
        _ => "pool size",
    }
}

/// The table of every step; the knee's row and rows with refusals carry a class.
fn steps(out: &mut String, r: &RampReport) {
    out.push_str("<table class=\"steps\">\n<tr>");
    for (i, h) in RAMP_COLUMNS.iter().enumerate() {
        let class = if i == 0 { "" } else { " class=\"n\"" };
        let _ = write!(out, "<th{class}>{}</th>", esc(h));
    }
    out.push_str("</tr>\n");
    let knee = r.knee.as_ref().map(|k| k.at);
    for s in &r.steps {
        let mut class = String::from("step");
        if knee == Some(s.x(r.vary)) {
            class.push_str(" knee");
        }
        if s.refused > 0 {
            class.push_str(" refused");
        }
        let _ = write!(
            out,
            "<tr class=\"{class}\" data-concurrency=\"{}\" data-pool-size=\"{}\" data-ok=\"{}\" data-errors=\"{}\" data-refused=\"{}\" data-wait-timeouts=\"{}\" data-throughput=\"{}\" data-error-rate=\"{}\" data-p50-ms=\"{}\" data-p95-ms=\"{}\" data-p99-ms=\"{}\" data-max-ms=\"{}\" data-pool-wait-p95-ms=\"{}\" data-query-p95-ms=\"{}\">",
            s.concurrency,
            s.pool_size,
            s.ok,
            s.errors,
            s.refused,
            s.wait_timeouts,
            s.throughput,
            s.error_rate,
            s.latency.p50_ms,
            s.latency.p95_ms,
            s.latency.p99_ms,
            s.latency.max_ms,
            s.pool_wait.p95_ms,
            s.query.p95_ms
        );
        for (i, cell) in step_cells(s).iter().enumerate() {
            let class = if i == 0 { "" } else { " class=\"n\"" };
            let _ = write!(out, "<td{class}>{}</td>", esc(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// The page of a `bench pool` ramp.
pub fn page_of(r: &RampReport) -> String {
    let mut b = String::new();
    let rate = r
        .open_loop_rate
        .map(|x| format!(" · open loop at {x} requests/s"))
        .unwrap_or_default();
    let _ = writeln!(
        b,
        "<h1>dbopt bench pool · {}</h1>\n<p class=\"meta\">{} · {} s warm-up, {} s per step · {} client thread(s){}{}</p>\n<div class=\"cards\">",
        esc(&r.workload),
        esc(&r.target),
        r.warmup_seconds,
        r.step_seconds,
        r.threads,
        if r.pinned { ", pinned" } else { "" },
        esc(&rate)
    );
    let or_none = |v: Option<usize>| v.map_or_else(|| "none".to_string(), |n| n.to_string());
    card(
        &mut b,
        "recommended-pool-size",
        &or_none(r.recommended_pool_size),
        "recommended pool size",
    );
    card(
        &mut b,
        "knee",
        &or_none(r.knee.as_ref().map(|k| k.at)),
        &format!("knee ({})", label(r.vary)),
    );
    let peak = r.steps.iter().map(|s| s.throughput).fold(0.0, f64::max);
    card(&mut b, "peak", &format!("{peak:.0}"), "peak requests/s");
    card(
        &mut b,
        "refused-from",
        &or_none(r.refused_from),
        "refused connections from",
    );
    b.push_str("</div>\n<h2>The ramp</h2>\n");
    b.push_str(&chart(r));
    b.push_str("\n<h2>Steps</h2>\n");
    steps(&mut b, r);
    b.push_str("<h2>Conclusion</h2>\n");
    for line in ramp_conclusions(r) {
        let _ = writeln!(b, "<p class=\"conclusion\">{}</p>", esc(&line));
    }
    page(
        &format!("dbopt bench pool · {}", r.workload),
        &format!(
            " data-report=\"bench-pool\" data-steps=\"{}\" data-vary=\"{}\"",
            r.steps.len(),
            label(r.vary)
        ),
        &b,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::bench::tests::{ramp_of, sample};

    #[test]
    fn ramp_page() {
        insta::assert_snapshot!(page_of(&sample()));
    }

    #[test]
    fn refused_steps_and_the_knee_are_marked_in_the_chart_and_the_table() {
        let r = ramp_of(&[
            (1, 10_000.0, 0.1, 0),
            (2, 18_000.0, 0.12, 0),
            (4, 30_000.0, 0.2, 0),
            (8, 45_000.0, 0.3, 250),
        ]);
        let html = page_of(&r);
        assert!(html.contains("<g class=\"mark knee\">"), "{html}");
        assert!(html.contains(">knee: 4</text>"), "{html}");
        assert!(html.contains("<g class=\"mark refused\">"), "{html}");
        assert!(html.contains(">250 refused</text>"), "{html}");
        assert_eq!(html.matches("<tr class=\"step knee\"").count(), 1);
        assert_eq!(html.matches("<tr class=\"step refused\"").count(), 1);
        assert!(html.contains("data-refused-from=\"8\""), "{html}");
    }

    /// Every figure of a step in `data-*` reads back as the JSON report's number.
    #[test]
    fn step_attributes_are_the_json_figures() {
        let mut r = sample();
        r.steps[1].throughput = 1.0 / 3.0;
        r.steps[2].latency.p99_ms = 12_345.678_9;
        let json = serde_json::to_value(&r).unwrap();
        let html = page_of(&r);
        let rows: Vec<&str> = html
            .lines()
            .filter(|l| l.starts_with("<tr class=\"step"))
            .collect();
        assert_eq!(rows.len(), r.steps.len());
        let attr = |row: &str, name: &str| -> f64 {
            let key = format!(" data-{name}=\"");
            let rest = row.split(&key).nth(1).unwrap_or_else(|| panic!("{name}"));
            rest.split('"').next().unwrap().parse().unwrap()
        };
        for (row, s) in rows.iter().zip(json["steps"].as_array().unwrap()) {
            for (name, v) in [
                ("concurrency", &s["concurrency"]),
                ("pool-size", &s["pool_size"]),
                ("ok", &s["ok"]),
                ("errors", &s["errors"]),
                ("refused", &s["refused"]),
                ("wait-timeouts", &s["wait_timeouts"]),
                ("throughput", &s["throughput"]),
                ("error-rate", &s["error_rate"]),
                ("p50-ms", &s["latency"]["p50_ms"]),
                ("p95-ms", &s["latency"]["p95_ms"]),
                ("p99-ms", &s["latency"]["p99_ms"]),
                ("max-ms", &s["latency"]["max_ms"]),
                ("pool-wait-p95-ms", &s["pool_wait"]["p95_ms"]),
                ("query-p95-ms", &s["query"]["p95_ms"]),
            ] {
                assert_eq!(attr(row, name), v.as_f64().unwrap(), "{name}: {row}");
            }
        }
    }

    #[test]
    fn user_text_is_escaped() {
        let mut r = sample();
        r.workload = "<script>x</script>".into();
        r.steps[0].first_error = Some("<i>refused</i>".into());
        let html = page_of(&r);
        assert!(
            !html.contains("<script>") && !html.contains("<i>"),
            "{html}"
        );
        assert!(html.contains("first error: &lt;i&gt;refused&lt;/i&gt;"));
        assert!(html.contains("<title>dbopt bench pool · &lt;script&gt;x&lt;/script&gt;</title>"));
    }
}
