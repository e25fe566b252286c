//! Sequences and identity columns: last value against the maximum of the sequence's type and
//! of the column it feeds.
//!
//! Why both limits: a `bigint` sequence feeding an `integer` column (a common leftover of a
//! partial migration) fails the INSERT at 2^31 although the sequence itself has room for
//! 2^63; a `serial` column fails at 2^31 whatever the column's later type.

use serde::{Deserialize, Serialize};

/// Every sequence of the current database this role can see.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sequences {
    #[serde(default)]
    pub items: Vec<SequenceUse>,
    /// Sequences whose last value this role may not read (no SELECT or USAGE on them).
    #[serde(default)]
    pub unreadable: Vec<String>,
}

/// The column a sequence feeds (OWNED BY, identity, or a `nextval` default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FedColumn {
    /// `schema.table`, unquoted.
    pub table: String,
    pub column: String,
    /// `format_type` of the column: `integer`, `bigint`, `smallint`, `numeric`...
    pub data_type: String,
    /// `GENERATED ... AS IDENTITY`.
    pub identity: bool,
}

/// One sequence (and one column it feeds; a sequence feeding two columns is two entries).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SequenceUse {
    pub schema: String,
    pub name: String,
    /// The sequence's own type: `smallint`, `integer` or `bigint`.
    pub data_type: String,
    pub min_value: i64,
    pub max_value: i64,
    pub increment: i64,
    pub cycle: bool,
    /// None: never used (or not readable; see [`Sequences::unreadable`]).
    pub last_value: Option<i64>,
    #[serde(default)]
    pub column: Option<FedColumn>,
    /// Values used per day, from two readings (see [`Sequences::add_history`]); None without
    /// history.
    #[serde(default)]
    pub per_day: Option<f64>,
}

/// The largest value a column of this type holds, for the integer types (others: no limit).
pub fn type_max(data_type: &str) -> Option<i64> {
    match data_type {
        "smallint" => Some(i64::from(i16::MAX)),
        "integer" => Some(i64::from(i32::MAX)),
        "bigint" => Some(i64::MAX),
        _ => None,
    }
}

/// Which limit comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Limiter {
    Sequence,
    Column,
}

impl SequenceUse {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The value the next `nextval` may not pass, in the direction it counts, and what sets it:
    /// the fed column's type when it is as small as the sequence's own bound (then the column
    /// must change), else the sequence's bound.
    pub fn limit(&self) -> (i64, Limiter) {
        let up = self.increment > 0;
        let own = if up { self.max_value } else { self.min_value };
        let col = self
            .column
            .as_ref()
            .and_then(|c| type_max(&c.data_type))
            .map(|m| if up { m } else { -m - 1 });
        match col {
            Some(c) if (up && c <= own) || (!up && c >= own) => (c, Limiter::Column),
            _ => (own, Limiter::Sequence),
        }
    }

    /// The share of the range used, 0..1 (from zero to the limit), or None when unused.
    #[allow(clippy::cast_precision_loss)]
    pub fn share_used(&self) -> Option<f64> {
        let last = self.last_value?;
        let (limit, _) = self.limit();
        if limit == 0 || (last > 0) != (limit > 0) {
            return Some(0.0);
        }
        Some(last as f64 / limit as f64)
    }

    /// Values left before the limit.
    pub fn remaining(&self) -> Option<i128> {
        let last = i128::from(self.last_value?);
        let (limit, _) = self.limit();
        Some((i128::from(limit) - last).abs())
    }

    /// Days left at [`SequenceUse::per_day`], when known and positive.
    #[allow(clippy::cast_precision_loss)]
    pub fn days_left(&self) -> Option<f64> {
        let rate = self.per_day.filter(|r| *r > 0.0)?;
        Some(self.remaining()? as f64 / rate)
    }
}

impl Sequences {
    /// Fill each sequence's rate from an `earlier` reading taken `elapsed_days` before this
    /// one (two snapshots, or a snapshot and now). Sequences absent earlier, unused then, or
    /// reset since (they went backwards) keep no rate.
    #[allow(clippy::cast_precision_loss)]
    pub fn add_history(&mut self, earlier: &Sequences, elapsed_days: f64) {
        if elapsed_days <= 0.0 {
            return;
        }
        for s in &mut self.items {
            let before = earlier
                .items
                .iter()
                .find(|e| e.schema == s.schema && e.name == s.name)
                .and_then(|e| e.last_value);
            if let (Some(b), Some(now)) = (before, s.last_value) {
                let used = (i128::from(now) - i128::from(b)) * i128::from(s.increment.signum());
                s.per_day = (used >= 0).then(|| used as f64 / elapsed_days);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(data_type: &str, col: Option<&str>, last: i64) -> SequenceUse {
        SequenceUse {
            schema: "public".into(),
            name: "s".into(),
            data_type: data_type.into(),
            min_value: 1,
            max_value: type_max(data_type).unwrap(),
            increment: 1,
            last_value: Some(last),
            column: col.map(|t| FedColumn {
                table: "public.t".into(),
                column: "id".into(),
                data_type: t.into(),
                identity: false,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_smaller_of_sequence_and_column_type_limits() {
        let s = seq("bigint", Some("integer"), 2_000_000_000);
        assert_eq!(s.limit(), (i64::from(i32::MAX), Limiter::Column));
        assert!(s.share_used().unwrap() > 0.93);
        let s = seq("integer", Some("bigint"), 10);
        assert_eq!(s.limit(), (i64::from(i32::MAX), Limiter::Sequence));
        let s = seq("bigint", Some("numeric"), 10);
        assert_eq!(s.limit(), (i64::MAX, Limiter::Sequence));
        let mut d = seq("integer", None, -10);
        d.increment = -1;
        d.min_value = i64::from(i32::MIN);
        assert_eq!(d.limit(), (i64::from(i32::MIN), Limiter::Sequence));
        assert!(d.share_used().unwrap() < 1e-6);
    }

    #[test]
    fn days_left_needs_two_readings() {
        let mut now = Sequences {
            items: vec![seq("integer", None, 2_147_000_000)],
            ..Default::default()
        };
        assert_eq!(now.items[0].days_left(), None);
        let earlier = Sequences {
            items: vec![seq("integer", None, 2_146_000_000)],
            ..Default::default()
        };
        now.add_history(&earlier, 2.0);
        assert_eq!(now.items[0].per_day, Some(500_000.0));
        let left = now.items[0].days_left().unwrap();
        assert!((left - 483_647.0 / 500_000.0).abs() < 1e-9, "{left}");
    }
}
