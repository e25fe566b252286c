//! ## What it does
//! Flags a server whose client connections use a large share of `max_connections` (less the
//! connections reserved for superusers).
//!
//! ## Why is this bad?
//! At the limit new connections fail with "too many clients already": the application errors
//! out, and so does the DBA trying to look. Many connections also cost memory and contention
//! long before the limit.
//!
//! ## Thresholds
//! Share of usable connections, `levels`: `warning` from 0.8, `critical` from 0.9.
//!
//! ## Fix
//! Put a pooler (PgBouncer) in front, shrink application pools, end idle sessions; raising
//! `max_connections` needs a restart and memory.

use crate::rules::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub levels: Levels,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            levels: Levels {
                warning: 0.8,
                critical: 0.9,
            },
        }
    }
}

pub static RULE: Rule = Rule {
    id: "connection-utilization",
    scope: Scope::Activity,
    summary: "client connections close to max_connections",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(a) = ctx.activity else {
        return Ok(vec![]);
    };
    let u = a.utilization();
    let Some(severity) = p.levels.grade(u) else {
        return Ok(vec![]);
    };
    Ok(vec![Finding {
        rule: RULE.id.into(),
        severity,
        object: "server".into(),
        message: format!(
            "{} of {} usable connections in use ({:.0} %)",
            a.total,
            a.max_connections - a.reserved_connections,
            u * 100.0
        ),
        evidence: vec![format!(
            "max_connections {}, {} reserved",
            a.max_connections, a.reserved_connections
        )],
        remedy: "pool connections (PgBouncer), shrink application pools, end idle sessions".into(),
        fix: None,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_with_defaults;
    use crate::workload::activity::Activity;

    #[test]
    fn utilization_grades() {
        let grade = |total| {
            let a = Activity {
                max_connections: 103,
                reserved_connections: 3,
                total,
                ..Default::default()
            };
            check_with_defaults(
                &RULE,
                &Ctx {
                    activity: Some(&a),
                    ..Default::default()
                },
            )
            .first()
            .map(|f| f.severity)
        };
        assert_eq!(grade(50), None);
        assert_eq!(grade(85), Some(Severity::Warning));
        assert_eq!(grade(95), Some(Severity::Critical));
    }
}
