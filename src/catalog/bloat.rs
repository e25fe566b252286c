//! Table bloat estimates from the catalog alone (no extension, no table scan), shared by
//! `dbopt tables` and the `table-bloat` rule.
//!
//! Why two measures: dead tuples (pg_stat_user_tables) show bloat autovacuum has not cleaned
//! yet; the size estimate (pages the live rows need, from pg_stats widths, against the pages the
//! heap has) also shows space vacuum freed but the file kept. Either may be the one that matters.

use serde::{Deserialize, Serialize};

use super::Table;

/// Per-tuple overhead: 23-byte header rounded to 24, plus the 4-byte line pointer.
const TUPLE_OVERHEAD: f64 = 28.0;
/// Page header.
const PAGE_HEADER: f64 = 24.0;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Bloat {
    /// n_dead_tup / (n_live_tup + n_dead_tup).
    pub dead_ratio: f64,
    /// Estimated share of the heap not needed by live rows (None without pg_stats widths).
    pub estimated_ratio: Option<f64>,
    /// Estimated wasted bytes (from `estimated_ratio`).
    pub estimated_bytes: Option<i64>,
}

impl Bloat {
    /// The larger of the two measures.
    pub fn ratio(&self) -> f64 {
        self.dead_ratio.max(self.estimated_ratio.unwrap_or(0.0))
    }
}

/// Estimate the bloat of `t` for pages of `block_size` bytes.
pub fn estimate(t: &Table, block_size: i64) -> Bloat {
    let s = &t.stats;
    #[allow(clippy::cast_precision_loss)]
    let (live, dead) = (s.n_live_tup as f64, s.n_dead_tup as f64);
    let dead_ratio = if live + dead > 0.0 {
        dead / (live + dead)
    } else {
        0.0
    };
    let widths: Option<f64> = t
        .columns
        .iter()
        .map(|c| {
            c.stats
                .as_ref()
                .map(|st| f64::from(st.avg_width) * (1.0 - st.null_frac))
        })
        .sum::<Option<f64>>()
        .filter(|_| !t.columns.is_empty());
    #[allow(clippy::cast_precision_loss)]
    let (block, heap) = (block_size.max(1) as f64, t.heap_bytes as f64);
    let rows = t.reltuples.max(live);
    let estimated_ratio = widths.filter(|_| heap > 0.0 && rows > 0.0).map(|w| {
        // Tuples are MAXALIGNed (8 bytes).
        let tuple = ((TUPLE_OVERHEAD + w) / 8.0).ceil() * 8.0;
        let per_page = ((block - PAGE_HEADER) / tuple).floor().max(1.0);
        let needed = (rows / per_page).ceil() * block;
        ((heap - needed) / heap).max(0.0)
    });
    Bloat {
        dead_ratio,
        estimated_ratio,
        #[allow(clippy::cast_possible_truncation)]
        estimated_bytes: estimated_ratio.map(|r| (r * heap) as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, ColumnStats, TableStats};

    fn table(rows: f64, heap_pages: i64, dead: i64) -> Table {
        Table {
            reltuples: rows,
            heap_bytes: heap_pages * 8192,
            stats: TableStats {
                n_live_tup: rows as i64,
                n_dead_tup: dead,
                ..Default::default()
            },
            columns: vec![Column {
                name: "id".into(),
                stats: Some(ColumnStats {
                    avg_width: 4,
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn compact_and_bloated_heaps() {
        // 4-byte rows: 32 bytes a tuple, 255 a page: 10,000 rows need 40 pages.
        let tight = estimate(&table(10_000.0, 40, 0), 8192);
        assert_eq!(tight.dead_ratio, 0.0);
        assert!(tight.estimated_ratio.unwrap() < 0.01, "{tight:?}");
        let bloated = estimate(&table(10_000.0, 80, 10_000), 8192);
        assert!((bloated.dead_ratio - 0.5).abs() < 1e-9);
        assert!((bloated.estimated_ratio.unwrap() - 0.5).abs() < 0.02);
        assert!((bloated.ratio() - 0.5).abs() < 0.02);
    }

    #[test]
    fn no_width_statistics_means_no_size_estimate() {
        let mut t = table(100.0, 10, 0);
        t.columns[0].stats = None;
        assert_eq!(estimate(&t, 8192).estimated_ratio, None);
    }
}
