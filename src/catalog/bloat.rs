//! Table bloat estimates from the catalog alone (no extension, no table scan), shared by
//! `dbopt tables` and the `table-bloat` rule.
//!
//! Why two measures: dead tuples (pg_stat_user_tables) show bloat autovacuum has not cleaned
//! yet; the size estimate (pages the live rows need, from pg_stats widths, against the pages the
//! heap has) also shows space vacuum freed but the file kept. Either may be the one that matters.
//!
//! Indexes have no dead-tuple counter of their own, so their estimate is the size one only:
//! [`estimate_index`] is the B-tree estimate PgHero shows (the ioguix/pgexperts query), done here
//! on catalog facts so that a snapshot file gives the same answer as the live server.

use serde::{Deserialize, Serialize};

use super::{reloption, Index, Table};

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

/// B-tree page opaque data (BTPageOpaqueData) at the end of each page.
const BTREE_OPAQUE: f64 = 16.0;
/// MAXALIGN on the 64-bit platforms PostgreSQL runs on.
const MAXALIGN: f64 = 8.0;
/// Index tuple header (IndexTupleData).
const INDEX_TUPLE_HEADER: f64 = 8.0;
/// The null bitmap an index tuple carries when a key may be NULL (INDEX_MAX_KEYS bits).
const INDEX_NULL_BITMAP: f64 = 4.0;
/// Line pointer per tuple.
const LINE_POINTER: f64 = 4.0;
/// B-tree fillfactor when the index sets none.
const BTREE_FILLFACTOR: f64 = 90.0;

/// The size estimate of one B-tree index.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IndexBloat {
    /// Pages the index has (pg_class.relpages).
    pub pages: i64,
    /// Pages its entries need at its fillfactor.
    pub expected_pages: i64,
    /// Share of the pages not needed.
    pub ratio: f64,
    /// Bytes not needed.
    pub bytes: i64,
}

fn align(n: f64) -> f64 {
    (n / MAXALIGN).ceil() * MAXALIGN
}

/// Estimate the bloat of B-tree index `ix` on `table` (pages of `block_size` bytes). None for
/// other methods, an index not counted since it was filled (reltuples -1, or 0 on a table
/// with rows) or without pg_stats widths for every
/// column it stores (expression keys have none in the table's statistics).
pub fn estimate_index(ix: &Index, table: &Table, block_size: i64) -> Option<IndexBloat> {
    let s = &ix.stats;
    if ix.method != "btree" || s.reltuples < 0.0 || s.relpages <= 0 {
        return None;
    }
    // An index counted empty on a table with rows was filled after its last count (PG 13
    // shows 0, not -1, for "never counted"): its pages say nothing about bloat.
    #[allow(clippy::cast_precision_loss)]
    if s.reltuples == 0.0 && table.reltuples.max(table.stats.n_live_tup as f64) > 0.0 {
        return None;
    }
    let names = ix
        .keys
        .iter()
        .map(|k| k.column.as_deref())
        .chain(ix.include.iter().map(|c| Some(c.as_str())));
    let stats: Vec<_> = names
        .map(|n| table.column(n?)?.stats.as_ref())
        .collect::<Option<_>>()?;
    let nullable = stats.iter().any(|st| st.null_frac > 0.0);
    let width: f64 = stats
        .iter()
        .map(|st| (1.0 - st.null_frac) * f64::from(st.avg_width))
        .sum();
    let header = INDEX_TUPLE_HEADER + if nullable { INDEX_NULL_BITMAP } else { 0.0 };
    let tuple = align(header) + align(width.round()) + LINE_POINTER;
    let fillfactor = reloption(&s.reloptions, "fillfactor")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(BTREE_FILLFACTOR);
    #[allow(clippy::cast_precision_loss)]
    let block = block_size.max(1) as f64;
    let per_page = ((block - BTREE_OPAQUE - PAGE_HEADER) * fillfactor / (100.0 * tuple))
        .floor()
        .max(1.0);
    // One metapage, then the leaf pages (inner pages are a rounding error the query ignores too).
    #[allow(clippy::cast_possible_truncation)]
    let expected_pages = 1 + (s.reltuples / per_page).ceil() as i64;
    let spare = (s.relpages - expected_pages).max(0);
    #[allow(clippy::cast_precision_loss)]
    Some(IndexBloat {
        pages: s.relpages,
        expected_pages,
        ratio: spare as f64 / s.relpages as f64,
        bytes: spare * block_size,
    })
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

    fn int_index(pages: i64, rows: f64) -> Index {
        Index {
            method: "btree".into(),
            keys: vec![crate::catalog::IndexKey {
                column: Some("id".into()),
                expr: "id".into(),
                ..Default::default()
            }],
            stats: crate::catalog::IndexStats {
                relpages: pages,
                reltuples: rows,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn btree_estimate_as_the_ioguix_query() {
        let t = table(100_000.0, 400, 0);
        // int4 key: 8-byte header + 8 aligned key + 4 line pointer = 20 bytes; 8152 * 0.9 / 20
        // = 366 a page: 100,000 entries need 1 + 274 pages.
        let fresh = estimate_index(&int_index(276, 100_000.0), &t, 8192).unwrap();
        assert_eq!(fresh.expected_pages, 275);
        assert!(fresh.ratio < 0.01, "{fresh:?}");
        let bloated = estimate_index(&int_index(1100, 100_000.0), &t, 8192).unwrap();
        assert!((bloated.ratio - 0.75).abs() < 0.01, "{bloated:?}");
        assert_eq!(bloated.bytes, (1100 - 275) * 8192);
        let mut ff = int_index(1100, 100_000.0);
        ff.stats.reloptions = vec!["fillfactor=45".into()];
        assert_eq!(estimate_index(&ff, &t, 8192).unwrap().expected_pages, 548); // 183 a page
        assert_eq!(
            estimate_index(&int_index(1100, 0.0), &t, 8192),
            None,
            "never counted since it was filled"
        );
        let mut gin = int_index(1100, 100_000.0);
        gin.method = "gin".into();
        assert_eq!(estimate_index(&gin, &t, 8192), None);
        let mut expr = int_index(1100, 100_000.0);
        expr.keys[0].column = None;
        assert_eq!(
            estimate_index(&expr, &t, 8192),
            None,
            "no widths for expressions"
        );
    }

    #[test]
    fn no_width_statistics_means_no_size_estimate() {
        let mut t = table(100.0, 10, 0);
        t.columns[0].stats = None;
        assert_eq!(estimate(&t, 8192).estimated_ratio, None);
    }
}
