//! ## What it does
//! Flags sequences (serial, identity and `nextval` defaults) whose last value has used most of
//! its range: the smaller of the sequence type's maximum and the maximum of the column it
//! feeds (an `integer` column fed by a `bigint` sequence overflows at 2^31 - 1). Days left are
//! shown when two readings exist (`dbopt check --baseline SNAPSHOT`); from one reading there
//! is no rate, and none is guessed.
//!
//! ## Why is this bad?
//! When the sequence or the column reaches its maximum, every INSERT fails ("nextval: reached
//! maximum value" or "integer out of range") until the type is changed, and changing the type
//! of a large table's key is slow. Found early, it is a planned migration; found late, an
//! outage.
//!
//! ## Thresholds
//! Share of the range used, `levels`: `warning` from 0.75, `critical` from 0.9.
//!
//! ## Fix
//! When the sequence alone limits (`AS integer` on a `bigint` column): `ALTER SEQUENCE ... AS
//! bigint`, a catalog change, instant. When the column limits: `ALTER TABLE ... ALTER COLUMN
//! ... TYPE bigint` takes an ACCESS EXCLUSIVE lock and rewrites the whole table and its
//! indexes (reads and writes wait for the whole rewrite). Online alternative: add a `bigint`
//! column, fill it from a trigger and in batches, build its index CONCURRENTLY, then swap the
//! columns in one short transaction. Referencing foreign keys change type too.

use crate::health::sequences::{Limiter, SequenceUse};
use crate::rules::prelude::*;
use crate::sql::ident::quote_ident;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub levels: Levels,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            levels: Levels {
                warning: 0.75,
                critical: 0.9,
            },
        }
    }
}

pub static RULE: Rule = Rule {
    id: "sequence-near-overflow",
    scope: Scope::Health,
    summary: "sequence or the column it feeds near its maximum value",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(h) = ctx.health else {
        return Ok(vec![]);
    };
    Ok(h.sequences
        .items
        .iter()
        .filter_map(|s| {
            let share = s.share_used()?;
            let severity = p.levels.grade(share)?;
            Some(finding(s, share, severity))
        })
        .collect())
}

fn finding(s: &SequenceUse, share: f64, severity: Severity) -> Finding {
    let (limit, by) = s.limit();
    let last = s.last_value.unwrap_or_default();
    let object = match &s.column {
        Some(c) => format!("{}.{}", c.table, c.column),
        None => s.qualified(),
    };
    let mut evidence = vec![format!(
        "last value {last} of {limit} ({:.2} % used, {} left)",
        share * 100.0,
        s.remaining().unwrap_or_default()
    )];
    if let Some(c) = &s.column {
        evidence.push(format!(
            "feeds {}.{} ({}{}); the sequence is {}",
            c.table,
            c.column,
            c.data_type,
            if c.identity { ", identity" } else { "" },
            s.data_type
        ));
    }
    evidence.push(match s.days_left() {
        Some(d) => format!(
            "about {d:.0} days left at {:.0} a day",
            s.per_day.unwrap_or_default()
        ),
        None => {
            "days left unknown: one reading only (pass --baseline with an earlier snapshot)".into()
        }
    });
    if s.cycle {
        evidence.push("CYCLE is set: it wraps to its minimum and repeats keys".into());
    }
    let (remedy, sql) = fix(s, by);
    Finding {
        rule: RULE.id.into(),
        severity,
        object,
        message: format!(
            "sequence {} has used {:.1} % of its range ({})",
            s.qualified(),
            // Rounded down: a sequence with values left never reads "100.0 %".
            (share * 1000.0).floor() / 10.0,
            match by {
                Limiter::Column => "limited by the column's type",
                Limiter::Sequence => "limited by the sequence's type",
            }
        ),
        evidence,
        remedy,
        fix: Some(Fix::sql(sql)),
    }
}

/// The remedy and its SQL: only the sequence when the column already has room.
fn fix(s: &SequenceUse, by: Limiter) -> (String, String) {
    let seq = format!("{}.{}", quote_ident(&s.schema), quote_ident(&s.name));
    let alter_seq = format!("ALTER SEQUENCE {seq} AS bigint");
    match (&s.column, by) {
        (Some(c), Limiter::Column) if c.data_type != "bigint" => {
            let table = ddl::quote_table(&c.table);
            let col = quote_ident(&c.column);
            let mut sql = format!("ALTER TABLE {table} ALTER COLUMN {col} TYPE bigint");
            if !c.identity && s.data_type != "bigint" {
                sql.push_str(&format!(";\n{alter_seq}"));
            }
            (
                "change the column to bigint: ALTER COLUMN ... TYPE takes an ACCESS EXCLUSIVE lock and rewrites the table and its indexes (all reads and writes wait); online: add a bigint column, backfill it in batches with a trigger for new rows, index it CONCURRENTLY, swap in one short transaction".into(),
                sql,
            )
        }
        _ if s.data_type != "bigint" => (
            "change the sequence to bigint: a catalog change, no rewrite, a brief lock".into(),
            alter_seq,
        ),
        _ => (
            "the bigint range itself is nearly used: check the increment and CYCLE; a new sequence (or a uuid key) is the way out".into(),
            format!("SELECT * FROM pg_sequences WHERE schemaname = {} AND sequencename = {}", crate::sql::ident::quote_literal(&s.schema), crate::sql::ident::quote_literal(&s.name)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::sequences::{FedColumn, Sequences};
    use crate::health::Health;
    use crate::rules::check_with_defaults;

    fn seq(name: &str, ty: &str, col: Option<(&str, bool)>, last: i64) -> SequenceUse {
        SequenceUse {
            schema: "public".into(),
            name: name.into(),
            data_type: ty.into(),
            min_value: 1,
            max_value: crate::health::sequences::type_max(ty).unwrap(),
            increment: 1,
            last_value: Some(last),
            column: col.map(|(t, identity)| FedColumn {
                table: "public.t".into(),
                column: name.into(),
                data_type: t.into(),
                identity,
            }),
            ..Default::default()
        }
    }

    fn run(items: Vec<SequenceUse>) -> Vec<Finding> {
        let h = Health {
            sequences: Sequences {
                items,
                ..Default::default()
            },
            ..Default::default()
        };
        check_with_defaults(
            &RULE,
            &Ctx {
                health: Some(&h),
                ..Default::default()
            },
        )
    }

    #[test]
    fn grades_by_the_smaller_limit_and_fixes_the_right_thing() {
        let f = run(vec![
            seq(
                "serial_id",
                "integer",
                Some(("integer", false)),
                2_147_000_002,
            ),
            seq("wide", "bigint", Some(("integer", false)), 1_700_000_000),
            seq(
                "seq_only",
                "integer",
                Some(("bigint", false)),
                1_900_000_000,
            ),
            seq("ident", "smallint", Some(("smallint", true)), 30_000),
            seq("roomy", "bigint", Some(("bigint", false)), 2_147_000_002),
            seq("low", "integer", None, 1000),
        ]);
        let got: Vec<_> = f.iter().map(|f| (f.object.as_str(), f.severity)).collect();
        assert_eq!(
            got,
            vec![
                ("public.t.serial_id", Severity::Critical),
                ("public.t.wide", Severity::Warning),
                ("public.t.seq_only", Severity::Warning),
                ("public.t.ident", Severity::Critical),
            ]
        );
        assert_eq!(
            f[0].sql().as_deref(),
            Some("ALTER TABLE \"public\".\"t\" ALTER COLUMN \"serial_id\" TYPE bigint;\nALTER SEQUENCE \"public\".\"serial_id\" AS bigint")
        );
        assert!(f[0].remedy.contains("ACCESS EXCLUSIVE") && f[0].remedy.contains("backfill"));
        assert_eq!(
            f[1].sql().as_deref(),
            Some("ALTER TABLE \"public\".\"t\" ALTER COLUMN \"wide\" TYPE bigint")
        );
        assert_eq!(
            f[2].sql().as_deref(),
            Some("ALTER SEQUENCE \"public\".\"seq_only\" AS bigint")
        );
        assert!(f[2].remedy.contains("no rewrite"));
        // An identity column's sequence follows the column's new type.
        assert!(!f[3].sql().as_deref().unwrap().contains("ALTER SEQUENCE"));
        assert!(f[0]
            .evidence
            .iter()
            .any(|e| e.contains("days left unknown")));
    }
}
