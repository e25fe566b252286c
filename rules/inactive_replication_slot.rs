//! ## What it does
//! Flags replication slots that no consumer is connected to (`active = false` in
//! pg_replication_slots), measured by the WAL they keep on the primary's disk:
//! `pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)`. A slot whose `wal_status` is
//! `unreserved` (about to lose WAL it needs) or `lost` is critical whatever its size.
//!
//! ## Why is this bad?
//! A slot keeps every WAL segment from its restart_lsn on, whether or not anyone will
//! read it: with the standby or the logical consumer gone, pg_wal grows until the disk is
//! full and the primary stops. Unless `max_slot_wal_keep_size` caps it (PG 13+), nothing
//! else ever removes it. A slot with an xmin also holds the horizon back: that part is
//! `xmin-horizon-held`.
//!
//! ## Thresholds
//! Retained WAL in bytes, `levels`: `warning` from 1 GiB (1073741824), `critical` from
//! 16 GiB (17179869184); an inactive slot under `warning` is `info`.
//!
//! ## Fix
//! Reconnect its consumer, or drop it: `SELECT pg_drop_replication_slot('name')`. Set
//! `max_slot_wal_keep_size` so that a forgotten slot can no longer fill the disk.

use crate::health::horizon::Slot;
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
                warning: 1_073_741_824.0,
                critical: 17_179_869_184.0,
            },
        }
    }
}

pub static RULE: Rule = Rule {
    id: "inactive-replication-slot",
    scope: Scope::Health,
    summary: "replication slot with no consumer retaining WAL",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(h) = ctx.health else {
        return Ok(vec![]);
    };
    Ok(h.horizon
        .slots
        .iter()
        .filter(|s| !s.active)
        .map(|s| finding(s, &p))
        .collect())
}

fn finding(s: &Slot, p: &Params) -> Finding {
    let retained = s.retained_bytes.unwrap_or(0);
    let status = s.wal_status.as_deref().unwrap_or("unknown");
    #[allow(clippy::cast_precision_loss)]
    let by_size = p.levels.grade(retained as f64).unwrap_or(Severity::Info);
    let severity = if matches!(status, "lost" | "unreserved") {
        Severity::Critical
    } else {
        by_size
    };
    let mut evidence = vec![format!(
        "{} slot{}, wal_status {status}",
        s.slot_type,
        s.database
            .as_deref()
            .map(|d| format!(" on database {d}"))
            .unwrap_or_default()
    )];
    if let Some(safe) = s.safe_wal_size {
        evidence.push(format!(
            "{} more WAL before it is lost (max_slot_wal_keep_size)",
            crate::units::bytes(safe)
        ));
    } else {
        evidence.push("max_slot_wal_keep_size is unlimited: it can fill the disk".into());
    }
    if let Some(i) = s.inactive_s {
        evidence.push(format!("inactive for {i:.0} s"));
    }
    Finding {
        rule: RULE.id.into(),
        severity,
        object: format!("slot {}", s.name),
        message: format!(
            "replication slot {} has no consumer and retains {} of WAL",
            s.name,
            crate::units::bytes(retained)
        ),
        evidence,
        remedy: "reconnect its consumer or drop the slot; set max_slot_wal_keep_size".into(),
        fix: Some(Fix::sql(format!(
            "SELECT pg_drop_replication_slot({})",
            crate::sql::quote_literal(&s.name)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Health;
    use crate::rules::check_with_defaults;

    #[test]
    fn inactive_slots_graded_by_retained_wal_active_ones_ignored() {
        let slot = |name: &str, active, bytes, status: &str| Slot {
            name: name.into(),
            slot_type: "physical".into(),
            active,
            retained_bytes: Some(bytes),
            wal_status: Some(status.into()),
            ..Default::default()
        };
        let mut h = Health::default();
        h.horizon.slots = vec![
            slot("busy", true, 1 << 40, "extended"),
            slot("small", false, 1 << 20, "reserved"),
            slot("big", false, 2 << 30, "reserved"),
            slot("lost", false, 0, "lost"),
        ];
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
                ("slot small", Severity::Info),
                ("slot big", Severity::Warning),
                ("slot lost", Severity::Critical)
            ]
        );
        assert_eq!(
            f[1].sql().as_deref(),
            Some("SELECT pg_drop_replication_slot('big')")
        );
    }
}
