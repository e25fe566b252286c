//! ## What it does
//! Flags statements that sort by `random()` (`ORDER BY random() LIMIT n`).
//!
//! ## Why is this bad?
//! Every matching row is read and given a random number, then sorted, to keep a handful: the
//! cost grows with the table, not with the rows wanted, and no index can help.
//!
//! ## Thresholds
//! `min_calls` (5). Severity `warning`.
//!
//! ## Fix
//! `TABLESAMPLE SYSTEM_ROWS(n)` (tsm_system_rows), a random key range
//! (`WHERE id >= $random ORDER BY id LIMIT n`), or a precomputed random column with an index.

use crate::rules::prelude::*;
use crate::workload::shaped::short;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_calls: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params { min_calls: 5 }
    }
}

pub static RULE: Rule = Rule {
    id: "order-by-random",
    scope: Scope::Workload,
    summary: "ORDER BY random() sorts every row to keep a few",
    check,
};

/// `ORDER BY random()` in any spacing and case.
fn sorts_randomly(query: &str) -> bool {
    let squashed: String = query
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    squashed.contains("orderbyrandom()")
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(w) = ctx.workload else {
        return Ok(vec![]);
    };
    Ok(w.statements
        .iter()
        .filter(|s| s.calls >= p.min_calls && sorts_randomly(&s.query))
        .map(|s| Finding {
            rule: RULE.id.into(),
            severity: Severity::Warning,
            object: s.fingerprint.clone(),
            message: format!("ORDER BY random(): `{}`", short(&s.query, 100)),
            evidence: vec![format!(
                "{} calls, {:.1} ms mean, {:.1} ms in total",
                s.calls, s.mean_ms, s.total_ms
            )],
            remedy: "sample with TABLESAMPLE SYSTEM_ROWS(n), or pick a random key and read WHERE id >= $1 ORDER BY id LIMIT n".into(),
            fix: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn spacing_and_case() {
        assert!(super::sorts_randomly(
            "select * from t order by  RANDOM ( ) limit 1"
        ));
        assert!(!super::sorts_randomly("select random() from t order by id"));
    }
}
