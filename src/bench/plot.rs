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

/// Where things go: the plot area inside the margins, and the two value axes' tops.
struct Frame<'a> {
    r: &'a RampReport,
    /// Plot width and height.
    pw: f64,
    ph: f64,
    tp_max: f64,
    lat_max: f64,
}

impl Frame<'_> {
    /// The x of step `i` (one step sits in the middle).
    fn x_at(&self, i: usize) -> f64 {
        let n = self.r.steps.len().max(1);
        if n == 1 {
            LEFT + self.pw / 2.0
        } else {
            LEFT + self.pw * i as f64 / (n - 1) as f64
        }
    }

    /// The y of `v` on an axis that ends at `max`.
    fn y(&self, v: f64, max: f64) -> f64 {
        TOP + self.ph - self.ph * v / max
    }
}

/// The chart as an SVG document.
pub fn svg(r: &RampReport) -> String {
    let f = Frame {
        r,
        pw: W - LEFT - RIGHT,
        ph: H - TOP - BOTTOM,
        tp_max: nice_max(r.steps.iter().map(|s| s.throughput).fold(0.0, f64::max)),
        lat_max: nice_max(r.steps.iter().map(|s| s.latency.p95_ms).fold(0.0, f64::max)),
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
    grid(&mut s, &f);
    axis_labels(&mut s, &f);
    knee(&mut s, &f);
    let steps = &r.steps;
    line(&mut s, &f, TP_COLOR, f.tp_max, &|i| steps[i].throughput);
    line(&mut s, &f, LAT_COLOR, f.lat_max, &|i| {
        steps[i].latency.p95_ms
    });
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

/// Five grid lines, with throughput ticks on the left and latency ticks on the right.
fn grid(s: &mut String, f: &Frame) {
    let (pw, ph) = (f.pw, f.ph);
    for k in 0..=5 {
        let frac = f64::from(k) / 5.0;
        let y = TOP + ph - ph * frac;
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
            f.tp_max * frac
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" fill="{LAT_COLOR}">{}</text>"#,
            LEFT + pw + 6.0,
            y + 4.0,
            esc(&super::histogram::ms(f.lat_max * frac))
        );
    }
}

/// The steps under the x axis, and the three axes' titles.
fn axis_labels(s: &mut String, f: &Frame) {
    let (r, pw, ph) = (f.r, f.pw, f.ph);
    for (i, st) in r.steps.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            f.x_at(i),
            TOP + ph + 18.0,
            st.x(r.vary)
        );
    }
    let xlabel = match r.vary {
        Vary::Concurrency => "concurrent clients",
        Vary::Pool => "pool size",
    };
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
}

/// A dashed line at the knee, when the ramp found one.
fn knee(s: &mut String, f: &Frame) {
    let r = f.r;
    let Some(k) = &r.knee else { return };
    let Some(i) = r.steps.iter().position(|st| st.x(r.vary) == k.at) else {
        return;
    };
    let x = f.x_at(i);
    let _ = writeln!(
        s,
        r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#555" stroke-dasharray="5,4"/>"##,
        TOP + f.ph
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" fill="#555">knee: {}</text>"##,
        x + 4.0,
        TOP + 14.0,
        k.at
    );
}

/// One series, `v(step)` on an axis that ends at `max`: a polyline with a dot per step.
fn line(s: &mut String, f: &Frame, color: &str, max: f64, v: &dyn Fn(usize) -> f64) {
    let pts: Vec<(String, String)> = (0..f.r.steps.len())
        .map(|i| {
            (
                format!("{:.1}", f.x_at(i)),
                format!("{:.1}", f.y(v(i), max)),
            )
        })
        .collect();
    let points: Vec<String> = pts.iter().map(|(x, y)| format!("{x},{y}")).collect();
    let _ = writeln!(
        s,
        r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
        points.join(" ")
    );
    for (cx, cy) in &pts {
        let _ = writeln!(s, r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>"#);
    }
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
