//! `--verify`: what the archiver guarantees, checked on the keys of the rows in scope: every key
//! archived is there exactly once, in exactly one place (moved: in the archive and no longer in
//! the source), and no key was lost.
//!
//! Why keys and not row contents: a writer may update non-key columns of rows in scope while the
//! run goes on (that is allowed; the batches never hold locks between them), so a checksum of
//! whole rows moves with the writer and reports a false mismatch. Keys do not move.
//!
//! Why the keys in both places are counted: a cross-database move commits the destination
//! insert before the source delete, so a killed run can leave one batch in both databases; the
//! next run absorbs it (`ON CONFLICT DO NOTHING`, then the delete). Summing source + archive
//! would count those keys twice before and once after. Instead the set of distinct keys is
//! compared: |source ∪ archive| = |source| + |archive| - |both|, and the same for the sum of
//! per-key hashes (the first 64 bits of `md5(ROW(key)::text)`, order-independent and computed on
//! the server). The keys in both places are found by walking the source's keys in scope in
//! chunks and looking them up in the archive (an index probe each), so it also works across two
//! databases; the source's keys in scope are the rows the run moves anyway.

use serde::Serialize;

use super::plan::{Plan, Strategy};
use super::sql::{self, refs, Param};
use super::{q, Result};
use crate::pg::Conn;

/// Source keys looked up in the archive per round trip.
const CHUNK: i64 = 10_000;

/// Rows, distinct keys and the key checksum of the rows in scope of one table (or of the keys
/// found in both tables).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Keys {
    pub rows: i64,
    /// Distinct keys among the rows (`rows - keys` rows are duplicates).
    pub keys: i64,
    /// Sum of the first 64 bits of each distinct key's md5 (as a signed number).
    #[serde(serialize_with = "as_string")]
    pub checksum: i128,
}

fn as_string<S: serde::Serializer>(v: &i128, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl std::ops::Add for Keys {
    type Output = Keys;
    fn add(self, o: Keys) -> Keys {
        Keys {
            rows: self.rows + o.rows,
            keys: self.keys + o.keys,
            checksum: self.checksum + o.checksum,
        }
    }
}

impl Keys {
    fn duplicates(self) -> i64 {
        self.rows - self.keys
    }
}

/// The keys in scope at one moment: in the source, in the archive, and in both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub source: Keys,
    pub archive: Keys,
    pub in_both: Keys,
}

impl Snapshot {
    /// Distinct keys in either place, and their checksum.
    fn union(self) -> (i64, i128) {
        (
            self.source.keys + self.archive.keys - self.in_both.keys,
            self.source.checksum + self.archive.checksum - self.in_both.checksum,
        )
    }
}

fn keys_of(row: &tokio_postgres::Row) -> Keys {
    let text: String = row.get(2);
    Keys {
        rows: row.get(0),
        keys: row.get(1),
        checksum: text.parse().unwrap_or_default(),
    }
}

/// The keys of `table` (source or archive) in the plan's scope.
async fn table_keys(c: &Conn, plan: &Plan, max: &[String], table: &str) -> Result<Keys> {
    let params = sql::predicate_params(plan, max);
    let row = c
        .query_one(&sql::key_sums(plan, table, false), &refs(&params))
        .await
        .map_err(q(format!("checksumming the keys of {table}")))?;
    Ok(keys_of(&row))
}

/// The archive's keys in scope that are also source keys in scope.
async fn keys_in_both(
    src: &Conn,
    dst: &Conn,
    plan: &Plan,
    max: &[String],
    archive: &str,
) -> Result<Keys> {
    let lookup = sql::key_sums(plan, archive, true);
    let mut total = Keys::default();
    let mut last: Option<Vec<String>> = None;
    loop {
        let params = sql::batch_params(plan, max, CHUNK, last.as_deref());
        let rows = src
            .query(&sql::fetch_keys(plan, last.is_some()), &refs(&params))
            .await
            .map_err(q("reading the source's keys to verify"))?;
        let Some(final_row) = rows.last() else {
            break;
        };
        let mut params = sql::predicate_params(plan, max);
        params.push(Param::Text(sql::json_rows(&rows)));
        let row = dst
            .query_one(&lookup, &refs(&params))
            .await
            .map_err(q(format!("looking up source keys in {archive}")))?;
        total = total + keys_of(&row);
        #[allow(clippy::cast_possible_wrap)]
        if (rows.len() as i64) < CHUNK {
            break;
        }
        last = Some((0..plan.key.len()).map(|i| final_row.get(1 + i)).collect());
    }
    Ok(total)
}

/// The keys in scope now, in the source and the archive (when the strategy writes one).
pub async fn snapshot(src: &Conn, dst: &Conn, plan: &Plan) -> Result<Snapshot> {
    let Some(max) = &plan.max_key else {
        return Ok(Snapshot::default());
    };
    let source = table_keys(src, plan, max, &plan.source).await?;
    let (archive, in_both) = match (&plan.archive, plan.strategy.writes_archive()) {
        (Some(a), true) => {
            let archive = table_keys(dst, plan, max, a).await?;
            let both = if source.rows > 0 && archive.rows > 0 {
                keys_in_both(src, dst, plan, max, a).await?
            } else {
                Keys::default()
            };
            (archive, both)
        }
        _ => (Keys::default(), Keys::default()),
    };
    Ok(Snapshot {
        source,
        archive,
        in_both,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub source_before: Keys,
    pub archive_before: Keys,
    /// Keys in the source and the archive at the start (an interrupted cross-database batch).
    pub in_both_before: Keys,
    pub source_after: Keys,
    pub archive_after: Keys,
    pub in_both_after: Keys,
    pub ok: bool,
    pub detail: String,
}

/// Judge the keys before and after for the strategy. `finished`: the run went to the end (not
/// stopped); `inserted`: rows the run inserted into the archive.
pub fn judge(
    strategy: Strategy,
    before: Snapshot,
    after: Snapshot,
    finished: bool,
    inserted: i64,
) -> Verification {
    let mut problems: Vec<String> = Vec::new();
    let dups = after.archive.duplicates();
    if dups > 0 {
        problems.push(format!("{dups} duplicate rows (same key) in the archive"));
    }
    let left = if finished { after.source.rows } else { 0 };
    let ok_detail = match strategy {
        Strategy::Move => {
            let (kb, cb) = before.union();
            let (ka, ca) = after.union();
            if (kb, cb) != (ka, ca) {
                problems.push(if kb == ka {
                    format!("the {kb} distinct keys in scope are not the same keys before and after the run")
                } else {
                    format!("{kb} distinct keys were in scope before the run and {ka} after: rows were lost or added")
                });
            }
            if after.in_both.keys > 0 {
                problems.push(format!(
                    "{} keys are in both the source and the archive",
                    after.in_both.keys
                ));
            }
            if left > 0 {
                problems.push(format!("{left} rows in scope are still in the source"));
            }
            let healed = if before.in_both.keys > 0 {
                format!(
                    " ({} left in both places by an interrupted run are now only in the archive)",
                    before.in_both.keys
                )
            } else {
                String::new()
            };
            format!(
                "{} keys moved; every key in scope is in the archive exactly once{healed}",
                before.source.keys
            )
        }
        Strategy::Copy => {
            if finished && after.in_both.keys != after.source.keys {
                problems.push(format!(
                    "{} of the {} source keys in scope are not in the archive",
                    after.source.keys - after.in_both.keys,
                    after.source.keys
                ));
            }
            if after.archive.keys != before.archive.keys + inserted {
                problems.push(format!(
                    "the archive held {} keys and the run inserted {inserted}, but it holds {}",
                    before.archive.keys, after.archive.keys
                ));
            }
            format!(
                "archive holds each of the {} source keys in scope exactly once",
                after.source.keys
            )
        }
        Strategy::Delete => {
            if left > 0 {
                problems.push(format!("{left} rows in scope are still in the source"));
            }
            format!("{} rows deleted", before.source.rows - after.source.rows)
        }
    };
    let ok = problems.is_empty();
    Verification {
        source_before: before.source,
        archive_before: before.archive,
        in_both_before: before.in_both,
        source_after: after.source,
        archive_after: after.archive,
        in_both_after: after.in_both,
        ok,
        detail: if ok { ok_detail } else { problems.join("; ") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(keys: i64, checksum: i128) -> Keys {
        Keys {
            rows: keys,
            keys,
            checksum,
        }
    }

    fn snap(source: Keys, archive: Keys, in_both: Keys) -> Snapshot {
        Snapshot {
            source,
            archive,
            in_both,
        }
    }

    #[test]
    fn a_batch_in_both_places_at_the_start_is_not_a_mismatch() {
        // keys 1..=10 hash to their number; keys 1..=3 were archived by a killed run,
        // 4 and 5 were copied to the archive but not yet deleted from the source.
        let before = snap(k(7, 4 + 5 + 6 + 7 + 8 + 9 + 10), k(5, 15), k(2, 9));
        let after = snap(k(0, 0), k(10, 55), k(0, 0));
        let v = judge(Strategy::Move, before, after, true, 5);
        assert!(v.ok, "{}", v.detail);
        assert!(v.detail.contains("2 left in both places"), "{}", v.detail);
    }

    #[test]
    fn lost_doubled_or_left_keys_are_mismatches() {
        let before = snap(k(10, 55), k(0, 0), k(0, 0));
        let lost = snap(k(0, 0), k(9, 45), k(0, 0));
        assert!(!judge(Strategy::Move, before, lost, true, 9).ok);
        let doubled = snap(
            k(0, 0),
            Keys {
                rows: 11,
                keys: 10,
                checksum: 55,
            },
            k(0, 0),
        );
        let v = judge(Strategy::Move, before, doubled, true, 11);
        assert!(!v.ok && v.detail.contains("1 duplicate"), "{}", v.detail);
        let both = snap(k(1, 10), k(10, 55), k(1, 10));
        let v = judge(Strategy::Move, before, both, true, 10);
        assert!(!v.ok && v.detail.contains("in both"), "{}", v.detail);
        let copy_missing = snap(k(10, 55), k(9, 45), k(9, 45));
        assert!(!judge(Strategy::Copy, before, copy_missing, true, 9).ok);
        let copy_ok = snap(k(10, 55), k(10, 55), k(10, 55));
        assert!(judge(Strategy::Copy, before, copy_ok, true, 10).ok);
    }
}
