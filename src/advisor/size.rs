//! Index size estimates that account for B-tree deduplication (PostgreSQL 13+).
//!
//! Why not HypoPG's estimate: it ignores deduplication and can be 2-4x too large for indexes
//! on low-cardinality columns (measured: 456 MB estimated vs 189 MB built for one TPC-H set),
//! which would make a storage budget refuse good indexes. We model leaf tuples from pg_stats
//! widths, fold duplicate keys into posting lists where PostgreSQL would, and add the inner
//! pages.

use crate::catalog::{Catalog, Table};
use crate::sql::index_key::KeyExpr;

use super::candidates::Candidate;

const PAGE: f64 = 8192.0;
/// Usable bytes of a B-tree leaf page (page header 24, special space 16).
const USABLE: f64 = PAGE - 40.0;
/// Default leaf fillfactor.
const FILL: f64 = 0.9;

fn maxalign(n: f64) -> f64 {
    (n / 8.0).ceil() * 8.0
}

/// Types whose B-tree indexes cannot be deduplicated.
fn dedup_blocked(type_name: &str) -> bool {
    let t = type_name.to_ascii_lowercase();
    t.starts_with("numeric")
        || t == "jsonb"
        || t == "real"
        || t == "double precision"
        || t.ends_with("[]")
        || t.contains("range")
}

/// Rows of the table (partitions summed for a partitioned parent).
pub fn rows(cat: &Catalog, t: &Table) -> f64 {
    if t.partitions.is_empty() {
        t.reltuples.max(0.0)
    } else {
        t.partitions
            .iter()
            .filter_map(|p| cat.table(p))
            .map(|p| p.reltuples.max(0.0))
            .sum()
    }
}

/// Estimated bytes of the index `c` once built.
pub fn estimate(c: &Candidate, cat: &Catalog) -> i64 {
    let Some(t) = cat.table(&c.table) else {
        return 8192 * 2;
    };
    let mut rows = rows(cat, t);
    let stats = |col: &str| t.column(col).and_then(|c| c.stats.clone());
    // A partial index holds only the rows its predicate keeps.
    if let Some(p) = &c.predicate {
        rows *= predicate_fraction(p, t);
    }
    let key_cols = c.keys();
    let width = |key: &KeyExpr| -> f64 {
        match key {
            KeyExpr::Column(col) => t.column(col).map_or(8.0, |cl| {
                f64::from(cl.stats.as_ref().map_or(8, |s| s.avg_width.max(1)))
            }),
            // An expression: assume the width of a column it mentions, else 8 bytes.
            KeyExpr::Expression(e) => t
                .columns
                .iter()
                .find(|cl| e.contains(&crate::sql::ident::quote_ident(&cl.name)))
                .and_then(|cl| cl.stats.as_ref())
                .map_or(8.0, |s| f64::from(s.avg_width.max(1))),
        }
    };
    let key_width: f64 = key_cols.iter().map(|k| width(k)).sum::<f64>()
        + c.include
            .iter()
            .map(|k| width(&KeyExpr::Column(k.clone())))
            .sum::<f64>();
    // IndexTupleData (8 bytes, with the heap TID) + aligned key data + a 4-byte line pointer.
    let tuple = maxalign(8.0 + key_width) + 4.0;
    let can_dedup = cat.server_version_num >= 130_000
        && c.method == "btree"
        && c.include.is_empty()
        && key_cols.iter().all(|k| {
            k.column()
                .and_then(|col| t.column(col))
                .is_some_and(|cl| !dedup_blocked(&cl.type_name))
        });
    let leaf_bytes = if can_dedup {
        // Distinct key combinations: the product of per-column distinct counts, capped by rows.
        let distinct: f64 = key_cols
            .iter()
            .map(|k| {
                k.column()
                    .and_then(stats)
                    .map_or(rows, |s| s.distinct(rows.max(1.0)))
            })
            .product::<f64>()
            .min(rows)
            .max(1.0);
        let dups = rows / distinct;
        if dups > 1.5 {
            // One posting tuple per distinct key (split every ~400 TIDs), 6 bytes per extra TID.
            let posting_tuples = distinct * (dups / 400.0).ceil().max(1.0);
            posting_tuples * tuple + (rows - posting_tuples).max(0.0) * 6.0
        } else {
            rows * tuple
        }
    } else {
        rows * tuple
    };
    let leaf_pages = (leaf_bytes / (USABLE * FILL)).ceil().max(1.0);
    // Inner levels: roughly one downlink per leaf page.
    let fanout = (USABLE / tuple).max(2.0);
    let inner_pages = (leaf_pages / fanout).ceil() + (leaf_pages / fanout / fanout).ceil();
    // pages fit in i64 for any real table.
    #[allow(clippy::cast_possible_truncation)]
    let bytes = ((leaf_pages + inner_pages + 1.0) * PAGE) as i64;
    bytes
}

/// The share of rows a partial-index predicate keeps, from pg_stats where it can tell.
pub fn predicate_fraction(pred: &str, t: &Table) -> f64 {
    let mut frac = 1.0;
    for part in pred.split(" AND ") {
        let part = part.trim();
        let f = t
            .columns
            .iter()
            .filter(|c| part.trim_start_matches('"').starts_with(c.name.as_str()))
            .max_by_key(|c| c.name.len())
            .and_then(|c| c.stats.as_ref())
            .map(|s| {
                if part.ends_with("IS NULL") {
                    s.null_frac
                } else if part.ends_with("IS NOT NULL") {
                    1.0 - s.null_frac
                } else if let Some((_, v)) = part.split_once(" = ") {
                    let v = v.trim().trim_matches('\'');
                    s.most_common_vals
                        .iter()
                        .position(|m| m == v)
                        .and_then(|i| s.most_common_freqs.get(i).copied())
                        .unwrap_or(0.5)
                } else {
                    0.5
                }
            })
            .unwrap_or(0.5);
        frac *= f;
    }
    frac.clamp(0.0001, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, ColumnStats};

    fn cat(n_distinct: f64, type_name: &str) -> Catalog {
        let mut c = Catalog {
            server_version_num: 150_000,
            ..Default::default()
        };
        c.tables.push(Table {
            schema: "public".into(),
            name: "t".into(),
            reltuples: 1_000_000.0,
            columns: vec![Column {
                name: "a".into(),
                type_name: type_name.into(),
                not_null: true,
                stats: Some(ColumnStats {
                    n_distinct,
                    avg_width: 4,
                    null_frac: 0.25,
                    ..Default::default()
                }),
            }],
            ..Default::default()
        });
        c
    }

    #[test]
    fn unique_int_column_is_about_22_mb() {
        // A real 1M-row int4 unique index is ~21.4 MB (measured on PG 15).
        let s = estimate(
            &Candidate::btree(
                "public.t",
                vec![crate::sql::index_key::IndexKey::column("a")],
            ),
            &cat(-1.0, "integer"),
        );
        let mb = s as f64 / 1e6;
        assert!((19.0..26.0).contains(&mb), "{mb} MB");
    }

    #[test]
    fn low_cardinality_deduplicates() {
        let dedup = estimate(
            &Candidate::btree(
                "public.t",
                vec![crate::sql::index_key::IndexKey::column("a")],
            ),
            &cat(10.0, "integer"),
        );
        let unique = estimate(
            &Candidate::btree(
                "public.t",
                vec![crate::sql::index_key::IndexKey::column("a")],
            ),
            &cat(-1.0, "integer"),
        );
        assert!(dedup * 2 < unique, "{dedup} vs {unique}");
        let blocked = estimate(
            &Candidate::btree(
                "public.t",
                vec![crate::sql::index_key::IndexKey::column("a")],
            ),
            &cat(10.0, "numeric"),
        );
        assert!(blocked > dedup * 2, "numeric cannot deduplicate");
    }

    #[test]
    fn partial_index_is_smaller() {
        let c = cat(-1.0, "integer");
        let mut p = Candidate::btree(
            "public.t",
            vec![crate::sql::index_key::IndexKey::column("a")],
        );
        let full = estimate(&p, &c);
        p.predicate = Some("a IS NULL".into());
        assert!(estimate(&p, &c) < full / 3);
    }
}
