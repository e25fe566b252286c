//! `--verify`: row counts and an order-independent checksum of the rows in scope, in the source
//! and the archive, before and after the run.
//!
//! Why a sum of per-row hashes: it does not depend on row order or physical layout (the archive
//! is written in another order, maybe in another database), it is additive (source + archive
//! before = source + archive after proves that no row was lost or doubled by a move), and it is
//! computed on the server without shipping rows. Each row hashes as `md5(ROW(columns)::text)`
//! over the copied columns, which have the same types on both sides.

use serde::Serialize;

use super::plan::{Plan, Strategy};
use super::sql::{copied, predicate, predicate_params, refs};
use super::{q, Result};
use crate::pg::{quote_ident, Conn};

/// Count and checksum of the rows in scope of one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sum {
    pub rows: i64,
    /// Sum of the first 64 bits of each row's md5 (as a signed number).
    #[serde(serialize_with = "as_string")]
    pub checksum: i128,
}

fn as_string<S: serde::Serializer>(v: &i128, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl std::ops::Add for Sum {
    type Output = Sum;
    fn add(self, o: Sum) -> Sum {
        Sum {
            rows: self.rows + o.rows,
            checksum: self.checksum + o.checksum,
        }
    }
}

/// Checksum of the rows of `table` (source or archive) matching the plan's scope.
pub async fn checksum(c: &Conn, plan: &Plan, table: &str) -> Result<Sum> {
    let Some(max) = &plan.max_key else {
        return Ok(Sum::default());
    };
    let cols = copied(plan)
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT count(*), coalesce(sum(('x' || left(md5(ROW({cols})::text), 16))::bit(64)::bigint::numeric), 0)::text
           FROM {table} WHERE {}",
        predicate(plan)
    );
    let params = predicate_params(plan, max);
    let row = c
        .query_one(&sql, &refs(&params))
        .await
        .map_err(q(format!("checksumming {table}")))?;
    let text: String = row.get(1);
    Ok(Sum {
        rows: row.get(0),
        checksum: text.parse().unwrap_or_default(),
    })
}

/// The sums of source and archive (when there is one).
pub async fn snapshot(src: &Conn, dst: &Conn, plan: &Plan) -> Result<(Sum, Sum)> {
    let s = checksum(src, plan, &plan.source).await?;
    let a = match (&plan.archive, plan.strategy.writes_archive()) {
        (Some(a), true) => checksum(dst, plan, a).await?,
        _ => Sum::default(),
    };
    Ok((s, a))
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub source_before: Sum,
    pub archive_before: Sum,
    pub source_after: Sum,
    pub archive_after: Sum,
    pub ok: bool,
    pub detail: String,
}

/// Judge before/after sums for the strategy. `finished`: the run went to the end (not stopped);
/// `inserted`: rows the run inserted into the archive.
pub fn judge(
    strategy: Strategy,
    before: (Sum, Sum),
    after: (Sum, Sum),
    finished: bool,
    inserted: i64,
) -> Verification {
    let (sb, ab) = before;
    let (sa, aa) = after;
    let (ok, detail) = match strategy {
        Strategy::Move => {
            let conserved = sb + ab == sa + aa;
            let done = !finished || sa.rows == 0;
            (
                conserved && done,
                if !conserved {
                    "source + archive differ before and after: rows were lost, doubled or changed during the run".to_string()
                } else if !done {
                    format!("{} rows in scope are still in the source", sa.rows)
                } else {
                    format!(
                        "{} rows moved; source + archive hold the same rows as before",
                        sa.rows.abs_diff(sb.rows)
                    )
                },
            )
        }
        Strategy::Copy => {
            let same_source = sb == sa;
            // An archive that started empty must now equal the source rows in scope; one that
            // already held rows (an earlier move, say) must have grown by exactly the inserts.
            let complete = if ab.rows == 0 {
                !finished || aa == sa
            } else {
                aa.rows - ab.rows == inserted
            };
            (
                same_source && complete,
                if !same_source {
                    "the source rows in scope changed during the run".to_string()
                } else if !complete {
                    "the archive does not hold exactly the source rows in scope".to_string()
                } else {
                    format!("archive holds the {} source rows in scope", sa.rows)
                },
            )
        }
        Strategy::Delete => {
            let done = !finished || sa.rows == 0;
            (
                done,
                if done {
                    format!("{} rows deleted", sb.rows - sa.rows)
                } else {
                    format!("{} rows in scope are still in the source", sa.rows)
                },
            )
        }
    };
    Verification {
        source_before: sb,
        archive_before: ab,
        source_after: sa,
        archive_after: aa,
        ok,
        detail,
    }
}
