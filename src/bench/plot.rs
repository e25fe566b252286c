//! The `--plot FILE` chart of a ramp: throughput and p95 latency against concurrency (or pool
//! size), with the knee marked.
//!
//! Why a small hand-written SVG rather than a plotting crate: two lines and two axes are a
//! hundred lines of text, SVG opens in any browser and CI artifact viewer, and the build stays
//! lean on the small machines dbopt runs on.

use std::fmt::Write as _;

use super::pool::{RampReport, Vary};

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 80.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const TP_COLOR: &str = "#1f77b4";
const LAT_COLOR: &str = "#d62728";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" upper bound for an axis (1, 2, 5 x 10^n).
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

/// The chart as an SVG document.
pub fn svg(r: &RampReport) -> String {
    let n = r.steps.len().max(1);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x_at = |i: usize| {
        if n == 1 {
            LEFT + pw / 2.0
        } else {
            LEFT + pw * i as f64 / (n - 1) as f64
        }
    };
    let tp_max = nice_max(r.steps.iter().map(|s| s.throughput).fold(0.0, f64::max));
    let lat_max = nice_max(r.steps.iter().map(|s| s.latency.p95_ms).fold(0.0, f64::max));
    let y_tp = |v: f64| TOP + ph - ph * v / tp_max;
    let y_lat = |v: f64| TOP + ph - ph * v / lat_max;
    let xlabel = match r.vary {
        Vary::Concurrency => "concurrent clients",
        Vary::Pool => "pool size",
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        esc(&format!("dbopt bench pool: {} ({})", r.workload, r.target))
    );
    // Grid and axes.
    for k in 0..=5 {
        let f = f64::from(k) / 5.0;
        let y = TOP + ph - ph * f;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/>"##,
            LEFT + pw
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{TP_COLOR}">{:.0}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            tp_max * f
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" fill="{LAT_COLOR}">{}</text>"#,
            LEFT + pw + 6.0,
            y + 4.0,
            esc(&super::histogram::ms(lat_max * f))
        );
    }
    for (i, st) in r.steps.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x_at(i),
            TOP + ph + 18.0,
            st.x(r.vary)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{xlabel}</text>"#,
        LEFT + pw / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle" fill="{TP_COLOR}">throughput (requests/s)</text>"#,
        TOP + ph / 2.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate({:.1} {:.1}) rotate(90)" text-anchor="middle" fill="{LAT_COLOR}">p95 latency</text>"#,
        W - 14.0,
        TOP + ph / 2.0
    );
    // The knee.
    if let Some(k) = &r.knee {
        if let Some(i) = r.steps.iter().position(|st| st.x(r.vary) == k.at) {
            let x = x_at(i);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#555" stroke-dasharray="5,4"/>"##,
                TOP + ph
            );
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#555">knee: {}</text>"##,
                x + 4.0,
                TOP + 14.0,
                k.at
            );
        }
    }
    let line = |s: &mut String, color: &str, y: &dyn Fn(f64) -> f64, v: &dyn Fn(usize) -> f64| {
        let pts: Vec<String> = (0..r.steps.len())
            .map(|i| format!("{:.1},{:.1}", x_at(i), y(v(i))))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        for p in &pts {
            let (cx, cy) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(s, r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>"#);
        }
    };
    line(&mut s, TP_COLOR, &y_tp, &|i| r.steps[i].throughput);
    line(&mut s, LAT_COLOR, &y_lat, &|i| r.steps[i].latency.p95_ms);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{:.1}" fill="{TP_COLOR}">— throughput</text><text x="{:.1}" y="{:.1}" fill="{LAT_COLOR}">— p95 latency</text>"#,
        TOP - 8.0,
        LEFT + 110.0,
        TOP - 8.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_bounds_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.3), 10.0);
        assert_eq!(nice_max(1234.0), 2000.0);
        assert_eq!(nice_max(0.03), 0.05);
        assert_eq!(esc("a<b&\"c\""), "a&lt;b&amp;&quot;c&quot;");
    }
}
