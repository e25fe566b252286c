//! ## What it does
//! Flags databases and tables whose oldest unfrozen transaction ID (`age(datfrozenxid)`,
//! `age(relfrozenxid)`) or multixact ID (`mxid_age`) is past `autovacuum_freeze_max_age` (for
//! a table: its own reloption when smaller), the point where autovacuum should already have
//! run an anti-wraparound vacuum on it.
//!
//! ## Why is this bad?
//! Transaction IDs are 32 bits and compared modulo 2^32. Vacuum must freeze old rows before
//! their age reaches 2^31; close to that (2^31 - 3 million) PostgreSQL stops assigning new
//! transaction IDs and the database accepts no writes until a VACUUM, run in single-user mode
//! in the worst case, has finished. An age past the freeze threshold means autovacuum is
//! behind, disabled for the table, or cannot advance the age because something holds the xmin
//! horizon back (a long or idle-in-transaction session, a prepared transaction, a replication
//! slot).
//!
//! ## Thresholds
//! Share of the freeze threshold, `levels`: `warning` from 1.0 (past it), `critical` from 5.0;
//! and always critical from `critical_age` (default 1,000,000,000, half the way to the stop).
//!
//! ## Fix
//! `VACUUM (FREEZE, VERBOSE)` the oldest tables (it does not block reads or writes). When the
//! age does not drop afterwards, end what holds the xmin horizon back (the `xmin-horizon-held` and
//! `inactive-replication-slot` findings of `dbopt check`), then vacuum again; check that autovacuum is on and not disabled for the
//! table.

use crate::health::wraparound::STOP_AGE;
use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub levels: Levels,
    pub critical_age: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            levels: Levels {
                warning: 1.0,
                critical: 5.0,
            },
            critical_age: 1_000_000_000,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "transaction-id-wraparound",
    scope: Scope::Health,
    summary: "transaction-ID or multixact age past autovacuum_freeze_max_age",
    check,
};

/// One age against its threshold: the severity, or None when young enough.
#[allow(clippy::cast_precision_loss)]
fn grade(p: &Params, age: i64, threshold: i64) -> Option<Severity> {
    if age >= p.critical_age {
        return Some(Severity::Critical);
    }
    p.levels.grade(age as f64 / threshold.max(1) as f64)
}

/// The worse of the XID and multixact readings, with the words for it.
fn worst(p: &Params, ages: [(i64, i64, &'static str); 2]) -> Option<(Severity, String)> {
    ages.iter()
        .filter_map(|&(age, threshold, what)| {
            let s = grade(p, age, threshold)?;
            Some((
                s,
                age,
                format!(
                    "{what} age {age} (freeze threshold {threshold}, stop at about {STOP_AGE})"
                ),
            ))
        })
        .max_by_key(|(s, age, _)| (*s, *age))
        .map(|(s, _, words)| (s, words))
}

const REMEDY: &str = "VACUUM (FREEZE) it (reads and writes go on); if the age does not drop, end what holds the xmin horizon back (the xmin-horizon-held and inactive-replication-slot findings of dbopt check) and check that autovacuum runs on it";

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(h) = ctx.health else {
        return Ok(vec![]);
    };
    let w = &h.wraparound;
    let mut out = Vec::new();
    for d in &w.databases {
        let Some((severity, words)) = worst(
            &p,
            [
                (d.xid_age, w.freeze_max_age, "transaction-ID"),
                (d.mxid_age, w.multixact_freeze_max_age, "multixact"),
            ],
        ) else {
            continue;
        };
        let mut evidence = vec![words];
        if d.current {
            let oldest: Vec<String> = w
                .tables
                .iter()
                .take(3)
                .map(|t| format!("{} ({})", t.table, t.xid_age))
                .collect();
            evidence.push(format!("oldest tables: {}", oldest.join(", ")));
        }
        out.push(Finding {
            rule: RULE.id.into(),
            severity,
            object: format!("database {}", d.name),
            message: format!(
                "database {} is past its freeze threshold: {}",
                d.name, evidence[0]
            ),
            evidence,
            remedy: format!(
                "{REMEDY} (vacuumdb --freeze --dbname {} vacuums every table)",
                crate::sql::ident::quote_ident(&d.name)
            ),
            fix: None,
        });
    }
    for t in &w.tables {
        let Some((severity, words)) = worst(
            &p,
            [
                (t.xid_age, w.table_threshold(t), "transaction-ID"),
                (t.mxid_age, w.table_mxid_threshold(t), "multixact"),
            ],
        ) else {
            continue;
        };
        out.push(Finding {
            rule: RULE.id.into(),
            severity,
            object: t.table.clone(),
            message: format!("table {} is past its freeze threshold: {words}", t.table),
            evidence: vec![
                words,
                format!(
                    "{}, last vacuum {}",
                    crate::units::bytes(t.bytes),
                    t.last_vacuum.as_deref().unwrap_or("never")
                ),
            ],
            remedy: REMEDY.into(),
            fix: Some(Fix::sql(format!(
                "VACUUM (FREEZE, VERBOSE) {}",
                ddl::quote_table(&t.table)
            ))),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::wraparound::{DatabaseAge, TableAge, Wraparound};
    use crate::health::Health;
    use crate::rules::check_with_defaults;

    #[test]
    fn ages_against_the_server_and_the_table_threshold() {
        let t = |name: &str, xid, own| TableAge {
            table: format!("public.{name}"),
            xid_age: xid,
            mxid_age: 1,
            freeze_max_age: own,
            ..Default::default()
        };
        let h = Health {
            wraparound: Wraparound {
                freeze_max_age: 200_000_000,
                multixact_freeze_max_age: 400_000_000,
                databases: vec![
                    DatabaseAge {
                        name: "young".into(),
                        xid_age: 1000,
                        mxid_age: 1,
                        current: false,
                    },
                    DatabaseAge {
                        name: "app".into(),
                        xid_age: 5,
                        mxid_age: 450_000_000,
                        current: true,
                    },
                ],
                tables: vec![
                    t("old", 1_200_000_000, None),
                    t("own", 60_000_000, Some(50_000_000)),
                    t("fine", 150_000_000, None),
                ],
            },
            ..Default::default()
        };
        let f = check_with_defaults(
            &RULE,
            &Ctx {
                health: Some(&h),
                ..Default::default()
            },
        );
        let got: Vec<_> = f.iter().map(|f| (f.object.as_str(), f.severity)).collect();
        assert_eq!(
            got,
            vec![
                ("database app", Severity::Warning),
                ("public.old", Severity::Critical),
                ("public.own", Severity::Warning),
            ]
        );
        assert!(
            f[0].message.contains("multixact age 450000000"),
            "{}",
            f[0].message
        );
        assert_eq!(
            f[1].sql().as_deref(),
            Some("VACUUM (FREEZE, VERBOSE) \"public\".\"old\"")
        );
    }
}
