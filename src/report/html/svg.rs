//! Horizontal bar charts as inline SVG, drawn here so the HTML report needs no script and no
//! asset from the network.
//!
//! Why one chart kind: every picture the reports draw is "a value per labelled thing" (cost
//! before and after per statement, size per index, findings per area and severity), so one
//! bar chart with grouped or stacked series serves all of them and looks alike in each.

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

    #[test]
    fn no_rows_and_zero_values_draw_without_dividing_by_zero() {
        let svg = bars("t", &TWO, &[row("a", &[0.0, 0.0])], Layout::Grouped);
        assert!(!svg.contains("NaN"), "{svg}");
        assert!(bars("t", &TWO, &[], Layout::Stacked).ends_with("</svg>"));
    }
}
