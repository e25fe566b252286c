//! Latency recording: HDR histograms in microseconds, and the percentile summary every report
//! shows.
//!
//! Why HDR histograms: percentiles of millions of samples in constant memory with a bounded
//! relative error (3 significant digits), and per-task histograms merge exactly. Open-loop runs
//! measure each request from its *intended* start time, so a stalled server shows up in the tail
//! instead of being hidden by a client that politely waits (coordinated omission).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The longest latency a histogram can hold (longer ones are clamped to it).
const MAX_MICROS: u64 = 3_600_000_000;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds"))
    }
}

impl Latency {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS).max(1);
        self.0.saturating_record(us);
    }

    pub fn add(&mut self, other: &Latency) {
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn summary(&self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: self.0.len(),
            mean_ms: self.0.mean() / 1000.0,
            p50_ms: ms(self.0.value_at_quantile(0.50)),
            p95_ms: ms(self.0.value_at_quantile(0.95)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            max_ms: ms(self.0.max()),
        }
    }
}

/// What a report shows of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A latency metric a budget can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Mean,
    P50,
    P95,
    P99,
    Max,
}

impl Metric {
    pub fn parse(s: &str) -> Option<Metric> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "mean" | "avg" => Metric::Mean,
            "p50" | "med" | "median" => Metric::P50,
            "p95" => Metric::P95,
            "p99" => Metric::P99,
            "max" => Metric::Max,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Metric::Mean => "mean",
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::Max => "max",
        }
    }

    pub fn of(self, p: &Percentiles) -> f64 {
        match self {
            Metric::Mean => p.mean_ms,
            Metric::P50 => p.p50_ms,
            Metric::P95 => p.p95_ms,
            Metric::P99 => p.p99_ms,
            Metric::Max => p.max_ms,
        }
    }
}

/// Milliseconds for people: `0.12 ms`, `14.3 ms`, `2.10 s`.
pub fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else if v >= 1.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.3} ms")
    }
}

/// The median of some values (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let mut h = Latency::default();
        for i in 1..=100u64 {
            h.record(Duration::from_millis(i));
        }
        let p = h.summary();
        assert_eq!(p.count, 100);
        assert!((p.p50_ms - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p95_ms - 95.0).abs() < 0.1, "{p:?}");
        assert!((p.max_ms - 100.0).abs() < 0.1, "{p:?}");
        let mut other = Latency::default();
        other.record(Duration::from_secs(2));
        h.add(&other);
        assert_eq!(h.len(), 101);
        assert!((h.summary().max_ms - 2000.0).abs() < 2.0);
    }

    #[test]
    fn medians_and_metric_names() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(Metric::parse("P95"), Some(Metric::P95));
        assert_eq!(Metric::parse("p42"), None);
        assert_eq!(ms(0.123), "0.123 ms");
        assert_eq!(ms(1.5), "1.50 ms");
        assert_eq!(ms(2100.0), "2.10 s");
    }
}
