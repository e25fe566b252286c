//! Charts as inline SVG, drawn here so the HTML report needs no script and no asset from the
//! network: horizontal bars ([`bars`]) and lines over ordered steps ([`lines`]).
//!
//! Why two kinds: most pictures the reports draw are "a value per labelled thing" (cost
//! before and after per statement, size per index, findings per area and severity), which one
//! bar chart with grouped or stacked series serves; the pool ramp is a curve over ordered
//! steps with two units (requests per second, milliseconds), where the shape (the knee) is the
//! point, so it gets a line chart with a value axis on each side and marked steps.

use std::fmt::Write as _;

use super::esc;

/// One series of a chart: its legend name and its CSS class (the colour, in the page style).
#[derive(Debug, Clone, Copy)]
pub struct Series {
    pub name: &'static str,
    pub class: &'static str,
}

/// One labelled thing: a value per series, and the text shown for each value.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    pub values: Vec<f64>,
    pub texts: Vec<String>,
}

/// How the series of a row are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One bar per series, one under the other.
    Grouped,
    /// One bar, the series end to end.
    Stacked,
}

const WIDTH: f64 = 760.0;
const LABEL: f64 = 270.0;
const TEXT: f64 = 110.0;
const BAR: f64 = 14.0;
const GAP: f64 = 12.0;
/// Characters of a label shown; the whole label is the bar's tooltip.
const LABEL_CHARS: usize = 34;

fn clip(s: &str) -> String {
    let one = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > LABEL_CHARS {
        format!("{}…", one.chars().take(LABEL_CHARS - 1).collect::<String>())
    } else {
        one
    }
}

/// A bar chart: `title` is its accessible name; bars scale to the largest bar (a stacked bar
/// counts as its sum). Negative values are drawn as zero.
pub fn bars(title: &str, series: &[Series], rows: &[Row], layout: Layout) -> String {
    let lanes = match layout {
        Layout::Grouped => series.len().max(1),
        Layout::Stacked => 1,
    };
    let row_h = lanes as f64 * BAR + GAP;
    let legend_h = 24.0;
    let height = legend_h + rows.len() as f64 * row_h + GAP;
    let span = WIDTH - LABEL - TEXT;
    let extent = |r: &Row| -> f64 {
        let v = r.values.iter().map(|v| v.max(0.0));
        match layout {
            Layout::Grouped => v.fold(0.0, f64::max),
            Layout::Stacked => v.sum(),
        }
    };
    let max = rows.iter().map(extent).fold(0.0, f64::max);
    let scale = |v: f64| {
        if max > 0.0 {
            v.max(0.0) / max * span
        } else {
            0.0
        }
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart\" role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = esc(title)
    );
    let mut x = LABEL;
    for s in series {
        let _ = write!(
            out,
            "<rect class=\"{}\" x=\"{x}\" y=\"6\" width=\"12\" height=\"12\"/><text x=\"{}\" y=\"16\">{}</text>",
            s.class,
            x + 16.0,
            esc(s.name)
        );
        x += 16.0 + 9.0 * s.name.chars().count() as f64 + 20.0;
    }
    for (i, r) in rows.iter().enumerate() {
        let top = legend_h + i as f64 * row_h;
        let _ = write!(
            out,
            "<g class=\"row\"><title>{}</title><text class=\"label\" x=\"{}\" y=\"{}\">{}</text>",
            esc(&r.label),
            LABEL - 8.0,
            top + lanes as f64 * BAR / 2.0 + 4.0,
            esc(&clip(&r.label))
        );
        let mut start = LABEL;
        for (j, s) in series.iter().enumerate() {
            let v = r.values.get(j).copied().unwrap_or(0.0);
            let w = scale(v);
            let (bx, by) = match layout {
                Layout::Grouped => (LABEL, top + j as f64 * BAR),
                Layout::Stacked => (start, top),
            };
            let _ = write!(
                out,
                "<rect class=\"{}\" x=\"{bx:.1}\" y=\"{by:.1}\" width=\"{w:.1}\" height=\"{}\"/>",
                s.class,
                BAR - 2.0
            );
            start += w;
            if layout == Layout::Grouped {
                let text = r.texts.get(j).map_or("", String::as_str);
                let _ = write!(
                    out,
                    "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    bx + w + 4.0,
                    by + BAR - 4.0,
                    esc(text)
                );
            }
        }
        if layout == Layout::Stacked {
            let _ = write!(
                out,
                "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                start + 4.0,
                top + BAR - 4.0,
                esc(&r.texts.join(" · "))
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// Which value axis a line is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// One line: its series (legend and colour), its axis, and a value per step.
#[derive(Debug, Clone)]
pub struct Line {
    pub series: Series,
    pub side: Side,
    pub values: Vec<f64>,
}

/// A value axis: its title and how a tick value reads.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    pub title: &'static str,
    pub tick: fn(f64) -> String,
}

/// A step drawn apart (the knee, refusals): a dashed vertical line, its CSS class and label.
#[derive(Debug, Clone)]
pub struct Mark {
    pub step: usize,
    pub class: &'static str,
    pub text: String,
}

/// A line chart over ordered steps, evenly spaced whatever their values (a geometric ramp
/// reads as a ramp).
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    /// The steps' labels, in order, and what they count.
    pub steps: Vec<String>,
    pub step_title: &'static str,
    pub left: Axis,
    pub right: Axis,
    pub lines: Vec<Line>,
    pub marks: Vec<Mark>,
}

const L_HEIGHT: f64 = 380.0;
const L_LEFT: f64 = 80.0;
const L_RIGHT: f64 = 80.0;
const L_TOP: f64 = 40.0;
const L_BOTTOM: f64 = 56.0;
const TICKS: u32 = 5;

/// A round upper bound for an axis (1, 2, 5 x 10^n) at or above `v`.
pub fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&top| v <= top)
        .unwrap_or(10.0 * mag)
}

/// The line chart: each axis ends at a round bound over its lines' largest value; negative
/// and non-finite values are drawn as zero.
pub fn lines(c: &LineChart) -> String {
    let (pw, ph) = (WIDTH - L_LEFT - L_RIGHT, L_HEIGHT - L_TOP - L_BOTTOM);
    let n = c.steps.len();
    let x_at = |i: usize| {
        if n <= 1 {
            L_LEFT + pw / 2.0
        } else {
            L_LEFT + pw * i as f64 / (n - 1) as f64
        }
    };
    let clean = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
    let top = |side: Side| {
        nice_max(
            c.lines
                .iter()
                .filter(|l| l.side == side)
                .flat_map(|l| l.values.iter().copied().map(clean))
                .fold(0.0, f64::max),
        )
    };
    let (left_max, right_max) = (top(Side::Left), top(Side::Right));
    let y_at = |v: f64, max: f64| L_TOP + ph - ph * clean(v) / max;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart lines\" role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {WIDTH} {L_HEIGHT}\" width=\"{WIDTH}\" height=\"{L_HEIGHT}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = esc(&c.title)
    );
    for k in 0..=TICKS {
        let frac = f64::from(k) / f64::from(TICKS);
        let y = L_TOP + ph - ph * frac;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{L_LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/><text class=\"label\" x=\"{:.1}\" y=\"{:.1}\">{}</text><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            L_LEFT + pw,
            L_LEFT - 6.0,
            y + 4.0,
            esc(&(c.left.tick)(left_max * frac)),
            L_LEFT + pw + 6.0,
            y + 4.0,
            esc(&(c.right.tick)(right_max * frac))
        );
    }
    for (i, s) in c.steps.iter().enumerate() {
        let _ = write!(
            out,
            "<text class=\"step\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x_at(i),
            L_TOP + ph + 18.0,
            esc(s)
        );
    }
    let _ = write!(
        out,
        "<text class=\"step\" x=\"{:.1}\" y=\"{:.1}\">{}</text><text class=\"step\" transform=\"translate(16 {mid:.1}) rotate(-90)\">{}</text><text class=\"step\" transform=\"translate({:.1} {mid:.1}) rotate(90)\">{}</text>",
        L_LEFT + pw / 2.0,
        L_HEIGHT - 14.0,
        esc(c.step_title),
        esc(c.left.title),
        WIDTH - 14.0,
        esc(c.right.title),
        mid = L_TOP + ph / 2.0
    );
    for (j, m) in c.marks.iter().filter(|m| m.step < n).enumerate() {
        let x = x_at(m.step);
        let _ = write!(
            out,
            "<g class=\"mark {}\"><line x1=\"{x:.1}\" y1=\"{L_TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            m.class,
            L_TOP + ph,
            x + 4.0,
            L_TOP + 14.0 + 14.0 * j as f64,
            esc(&m.text)
        );
    }
    let mut lx = L_LEFT;
    for l in &c.lines {
        let max = match l.side {
            Side::Left => left_max,
            Side::Right => right_max,
        };
        let pts: Vec<(f64, f64)> = (0..n)
            .map(|i| (x_at(i), y_at(l.values.get(i).copied().unwrap_or(0.0), max)))
            .collect();
        let points: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(
            out,
            "<g class=\"line {}\"><polyline points=\"{}\"/>",
            l.series.class,
            points.join(" ")
        );
        for (i, (x, y)) in pts.iter().enumerate() {
            let v = clean(l.values.get(i).copied().unwrap_or(0.0));
            let tick = match l.side {
                Side::Left => c.left.tick,
                Side::Right => c.right.tick,
            };
            let _ = write!(
                out,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\"><title>{}: {} {}</title></circle>",
                esc(&c.steps[i]),
                esc(l.series.name),
                esc(&tick(v))
            );
        }
        let _ = write!(
            out,
            "<rect x=\"{lx}\" y=\"10\" width=\"12\" height=\"12\"/><text x=\"{}\" y=\"20\">{}</text></g>",
            lx + 16.0,
            esc(l.series.name)
        );
        lx += 16.0 + 9.0 * l.series.name.chars().count() as f64 + 20.0;
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: [Series; 2] = [
        Series {
            name: "before",
            class: "before",
        },
        Series {
            name: "after",
            class: "after",
        },
    ];

    fn row(label: &str, values: &[f64]) -> Row {
        Row {
            label: label.into(),
            values: values.to_vec(),
            texts: values.iter().map(|v| format!("{v}")).collect(),
        }
    }

    #[test]
    fn the_largest_bar_spans_the_plot_and_the_others_scale_to_it() {
        let svg = bars(
            "t",
            &TWO,
            &[row("a", &[100.0, 25.0]), row("b", &[50.0, -3.0])],
            Layout::Grouped,
        );
        let span = WIDTH - LABEL - TEXT;
        for w in [span, span / 4.0, span / 2.0, 0.0] {
            assert!(svg.contains(&format!("width=\"{w:.1}\"")), "{w}: {svg}");
        }
    }

    #[test]
    fn a_stacked_bar_is_as_long_as_its_sum() {
        let svg = bars(
            "t",
            &TWO,
            &[row("a", &[3.0, 1.0]), row("b", &[1.0, 1.0])],
            Layout::Stacked,
        );
        let span = WIDTH - LABEL - TEXT;
        // a: 3/4 and 1/4 of the span, the second segment starting where the first ends
        assert!(svg.contains(&format!(
            "x=\"{LABEL:.1}\" y=\"24.0\" width=\"{:.1}\"",
            span * 0.75
        )));
        assert!(svg.contains(&format!(
            "x=\"{:.1}\" y=\"24.0\" width=\"{:.1}\"",
            LABEL + span * 0.75,
            span * 0.25
        )));
    }

    #[test]
    fn labels_are_escaped_and_clipped_by_characters() {
        let long = format!("<script>{}</script>", "é".repeat(60));
        let svg = bars("<b>", &TWO, &[row(&long, &[1.0, 1.0])], Layout::Grouped);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;éé"), "{svg}");
        assert!(svg.contains("é…</text>"), "{svg}");
    }

    fn ramp(values: &[f64], marks: Vec<Mark>) -> LineChart {
        LineChart {
            title: "ramp <1>".into(),
            steps: (1..=values.len()).map(|i| i.to_string()).collect(),
            step_title: "clients",
            left: Axis {
                title: "req/s",
                tick: |v| format!("{v:.0}"),
            },
            right: Axis {
                title: "ms",
                tick: |v| format!("{v:.1}"),
            },
            lines: vec![
                Line {
                    series: TWO[0],
                    side: Side::Left,
                    values: values.to_vec(),
                },
                Line {
                    series: TWO[1],
                    side: Side::Right,
                    values: values.iter().map(|v| v / 100.0).collect(),
                },
            ],
            marks,
        }
    }

    #[test]
    fn each_line_scales_to_its_own_axis_and_steps_are_evenly_spaced() {
        let svg = lines(&ramp(&[100.0, 50.0, 0.0], vec![]));
        let (pw, ph) = (WIDTH - L_LEFT - L_RIGHT, L_HEIGHT - L_TOP - L_BOTTOM);
        // 100 req/s and 1 ms are each their axis' top; 50 is half way; 0 sits on the x axis.
        let expect = format!(
            "{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
            L_LEFT,
            L_TOP,
            L_LEFT + pw / 2.0,
            L_TOP + ph / 2.0,
            L_LEFT + pw,
            L_TOP + ph
        );
        assert_eq!(svg.matches(&expect).count(), 2, "{svg}");
        assert!(svg.contains(">ramp &lt;1&gt;</title>"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 6);
    }

    #[test]
    fn marks_outside_the_steps_are_left_out_and_labels_stack() {
        let m = |step, text: &str| Mark {
            step,
            class: "knee",
            text: text.into(),
        };
        let svg = lines(&ramp(&[1.0, 2.0], vec![m(1, "a"), m(1, "<b>"), m(9, "c")]));
        assert_eq!(svg.matches("class=\"mark knee\"").count(), 2, "{svg}");
        assert!(svg.contains(">&lt;b&gt;</text>"), "{svg}");
        assert!(!svg.contains(">c</text>"), "{svg}");
        assert!(
            svg.contains(&format!("y=\"{:.1}\">a<", L_TOP + 14.0)),
            "{svg}"
        );
        assert!(
            svg.contains(&format!("y=\"{:.1}\">&lt;b", L_TOP + 28.0)),
            "{svg}"
        );
    }

    #[test]
    fn axis_bounds_are_round_and_bad_values_draw_as_zero() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.3), 10.0);
        assert_eq!(nice_max(1234.0), 2000.0);
        assert_eq!(nice_max(0.03), 0.05);
        let svg = lines(&ramp(&[f64::NAN, -4.0, f64::INFINITY], vec![]));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert!(lines(&ramp(&[], vec![])).ends_with("</svg>"));
    }

    #[test]
    fn no_rows_and_zero_values_draw_without_dividing_by_zero() {
        let svg = bars("t", &TWO, &[row("a", &[0.0, 0.0])], Layout::Grouped);
        assert!(!svg.contains("NaN"), "{svg}");
        assert!(bars("t", &TWO, &[], Layout::Stacked).ends_with("</svg>"));
    }
}
