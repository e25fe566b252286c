//! Grouping single executions (a log line, a statement in a file, an activity sample) into
//! pg_stat_statements-like [`Statement`]s: calls, total/mean/min/max and the standard
//! deviation, computed in one pass (Welford) so a multi-gigabyte log needs no second read.

use std::collections::HashMap;

use super::normalize::normalize;
use super::{Source, Statement, Workload};

#[derive(Debug, Default)]
struct Acc {
    st: Statement,
    /// Running sum of squared deviations (Welford's M2).
    m2: f64,
}

/// Collects executions keyed by fingerprint, in first-seen order.
#[derive(Debug, Default)]
pub struct Collector {
    order: Vec<String>,
    by_fp: HashMap<String, Acc>,
}

impl Collector {
    pub fn new() -> Self {
        Self::default()
    }

    /// One execution of `sql` (raw text; normalized here) that took `ms` (None when unknown)
    /// and returned `rows` rows.
    pub fn add(&mut self, sql: &str, ms: Option<f64>, rows: i64, source: Source) {
        let n = normalize(sql);
        if n.text.is_empty() {
            return;
        }
        let acc = self.by_fp.entry(n.fingerprint.clone()).or_insert_with(|| {
            self.order.push(n.fingerprint.clone());
            Acc {
                st: Statement {
                    fingerprint: n.fingerprint.clone(),
                    query: n.text.clone(),
                    toplevel: true,
                    source,
                    min_ms: f64::INFINITY,
                    example: (n.text != sql.trim()).then(|| sql.trim().to_string()),
                    ..Default::default()
                },
                m2: 0.0,
            }
        });
        let s = &mut acc.st;
        s.calls += 1;
        s.rows += rows;
        let x = ms.unwrap_or(0.0);
        #[allow(clippy::cast_precision_loss)]
        let k = s.calls as f64;
        let delta = x - s.mean_ms;
        s.mean_ms += delta / k;
        acc.m2 += delta * (x - s.mean_ms);
        s.total_ms += x;
        s.min_ms = s.min_ms.min(x);
        s.max_ms = s.max_ms.max(x);
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The statements, most total time first (then first seen). Standard deviation is the
    /// population one, as pg_stat_statements reports.
    pub fn finish(mut self) -> Workload {
        let mut statements: Vec<Statement> = self
            .order
            .iter()
            .filter_map(|fp| self.by_fp.remove(fp))
            .map(|mut a| {
                #[allow(clippy::cast_precision_loss)]
                let k = a.st.calls as f64;
                a.st.stddev_ms = if k > 0.0 { (a.m2 / k).sqrt() } else { 0.0 };
                if !a.st.min_ms.is_finite() {
                    a.st.min_ms = 0.0;
                }
                a.st
            })
            .collect();
        statements.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        Workload {
            statements,
            ..Default::default()
        }
    }
}

/// Fold `other` into `into`: statements with the same fingerprint (from different sources)
/// have their counters combined, others are appended.
pub fn merge(into: &mut Workload, other: Workload) {
    for s in other.statements {
        match into
            .statements
            .iter_mut()
            .find(|t| t.fingerprint == s.fingerprint)
        {
            Some(t) => {
                let calls = t.calls + s.calls;
                if calls > 0 {
                    #[allow(clippy::cast_precision_loss)]
                    let (a, b, n) = (t.calls as f64, s.calls as f64, calls as f64);
                    let mean = (t.total_ms + s.total_ms) / n;
                    let var = (a * (t.stddev_ms.powi(2) + (t.mean_ms - mean).powi(2))
                        + b * (s.stddev_ms.powi(2) + (s.mean_ms - mean).powi(2)))
                        / n;
                    t.mean_ms = mean;
                    t.stddev_ms = var.sqrt();
                }
                t.calls = calls;
                t.total_ms += s.total_ms;
                t.min_ms = t.min_ms.min(s.min_ms);
                t.max_ms = t.max_ms.max(s.max_ms);
                t.rows += s.rows;
                t.shared_blks_hit += s.shared_blks_hit;
                t.shared_blks_read += s.shared_blks_read;
                t.temp_blks_read += s.temp_blks_read;
                t.temp_blks_written += s.temp_blks_written;
                t.blk_read_ms += s.blk_read_ms;
                t.blk_write_ms += s.blk_write_ms;
            }
            None => into.statements.push(s),
        }
    }
    into.hidden += other.hidden;
    // The statistics window (pg_stat_statements'): rates per second depend on it.
    into.window_s = into.window_s.or(other.window_s);
    into.notes.extend(other.notes);
    into.plans.extend(other.plans);
    into.statements
        .sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executions_group_with_pgss_statistics() {
        let mut c = Collector::new();
        c.add("select * from t where id = 1", Some(2.0), 1, Source::Log);
        c.add("SELECT * FROM t WHERE id = 2", Some(4.0), 1, Source::Log);
        c.add("select 1", Some(1.0), 1, Source::Log);
        let w = c.finish();
        assert_eq!(w.statements.len(), 2);
        let s = &w.statements[0];
        assert_eq!(s.query, "select * from t where id = $1");
        assert_eq!((s.calls, s.total_ms, s.mean_ms), (2, 6.0, 3.0));
        assert_eq!((s.min_ms, s.max_ms, s.stddev_ms), (2.0, 4.0, 1.0));
    }

    #[test]
    fn merge_keeps_the_statistics_window() {
        let mut w = Workload::default();
        merge(
            &mut w,
            Workload {
                window_s: Some(120.0),
                ..Default::default()
            },
        );
        assert_eq!(w.window_s, Some(120.0));
    }

    #[test]
    fn merge_combines_the_same_statement() {
        let mut a = Collector::new();
        a.add("select 1", Some(2.0), 0, Source::Log);
        let mut b = Collector::new();
        b.add("select 2", Some(4.0), 0, Source::File);
        b.add("select x from y", Some(1.0), 0, Source::File);
        let mut w = a.finish();
        merge(&mut w, b.finish());
        assert_eq!(w.statements.len(), 2);
        assert_eq!(w.statements[0].calls, 2);
        assert!((w.statements[0].stddev_ms - 1.0).abs() < 1e-9);
    }
}
