//! ## What it does
//! Flags valid indexes with no scan since statistics were last reset that do not enforce
//! anything: not backing a primary key, unique or exclusion constraint, not unique, and not
//! the replica identity. The age of the statistics is shown: zero scans over an hour mean less
//! than zero scans over a month.
//!
//! ## Why is this bad?
//! Every INSERT, and every UPDATE that is not HOT, writes to every index of the table. An index
//! nobody reads costs write time, WAL, disk, cache space and vacuum work for nothing.
//!
//! ## Thresholds
//! `min_bytes` (default 0): smaller indexes are skipped. Severity is `warning`; `info` while
//! the statistics are younger than `min_stats_age_days` (default 7; too little history to be
//! sure), `critical` from `critical_bytes` (default 1 GiB).
//!
//! ## Fix
//! `DROP INDEX CONCURRENTLY` (check replicas and rarely-run reports first: statistics are per
//! server).

use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_bytes: i64,
    pub critical_bytes: i64,
    pub min_stats_age_days: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_bytes: 0,
            critical_bytes: 1 << 30,
            min_stats_age_days: 7.0,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "unused-index",
    scope: Scope::Catalog,
    summary: "index never scanned since statistics were reset",
    check,
};

/// Indexes that enforce something are never "unused".
pub fn enforces_something(ix: &Index) -> bool {
    ix.primary || ix.unique || ix.constraint.is_some() || ix.replica_identity
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(cat) = ctx.catalog else {
        return Ok(vec![]);
    };
    let age = cat.stats_reset_age_s;
    let age_text = age.map_or_else(
        || "statistics never reset (counting since the cluster was created)".to_string(),
        |s| format!("statistics reset {:.1} days ago", s / 86_400.0),
    );
    let young = age.is_some_and(|s| s / 86_400.0 < p.min_stats_age_days);
    let partitioned = |t: &str| {
        cat.table(t)
            .is_some_and(|t| t.kind == crate::catalog::TableKind::Partitioned)
    };
    Ok(cat
        .indexes
        .iter()
        .filter(|ix| {
            ix.valid
                && ix.scans == 0
                && ix.size_bytes >= p.min_bytes
                && !enforces_something(ix)
                && !partitioned(&ix.table)
        })
        .map(|ix| Finding {
            rule: RULE.id.into(),
            severity: if young {
                Severity::Info
            } else if ix.size_bytes >= p.critical_bytes {
                Severity::Critical
            } else {
                Severity::Warning
            },
            object: format!("{}.{}", ix.schema, ix.name),
            message: format!("index {} on {} has never been scanned", ix.name, ix.table),
            evidence: vec![
                format!("0 scans; {age_text}"),
                format!("{} on disk", crate::units::bytes(ix.size_bytes)),
            ],
            remedy: "drop it, after checking replicas and rare jobs".into(),
            fix: Some(Fix::sql(ddl::drop_index(&ix.schema, &ix.name))),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_with_defaults;

    fn ix(name: &str, scans: i64) -> Index {
        Index {
            schema: "public".into(),
            name: name.into(),
            table: "public.t".into(),
            valid: true,
            scans,
            size_bytes: 8192,
            ..Default::default()
        }
    }

    fn found(cat: &Catalog) -> Vec<Finding> {
        check_with_defaults(
            &RULE,
            &Ctx {
                catalog: Some(cat),
                ..Default::default()
            },
        )
    }

    #[test]
    fn only_plain_unscanned_indexes() {
        let mut cat = Catalog {
            stats_reset_age_s: Some(30.0 * 86_400.0),
            ..Default::default()
        };
        cat.indexes.push(ix("a_idx", 0));
        cat.indexes.push(ix("b_idx", 5));
        cat.indexes.push(Index {
            constraint: Some("p".into()),
            primary: true,
            ..ix("t_pkey", 0)
        });
        cat.indexes.push(Index {
            unique: true,
            ..ix("u_idx", 0)
        });
        cat.indexes.push(Index {
            replica_identity: true,
            ..ix("r_idx", 0)
        });
        let f = found(&cat);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].object, "public.a_idx");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].evidence[0].contains("30.0 days"));
        assert_eq!(
            f[0].sql().as_deref(),
            Some("DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"a_idx\"")
        );
    }

    #[test]
    fn young_statistics_only_inform() {
        let mut cat = Catalog {
            stats_reset_age_s: Some(3600.0),
            ..Default::default()
        };
        cat.indexes.push(ix("a_idx", 0));
        assert_eq!(found(&cat)[0].severity, Severity::Info);
    }
}
