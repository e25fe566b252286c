//! ## What it does
//! Flags statements nested too deeply for dbopt to analyse: generated `AND`/`OR` chains of
//! thousands of terms, thousands of `UNION` branches, long `+`/`||` chains. dbopt gives them
//! no shape, so no index advice and no findings from the other statement rules.
//!
//! ## Why is this bad?
//! The server parses, plans and (for pg_stat_statements) fingerprints such a statement on
//! every call, and planning time grows with its size; the same chains tend to hit
//! `max_stack_depth` on the server too. And whatever it costs stays invisible to dbopt.
//!
//! ## Thresholds
//! `max_depth` (1000, the deepest dbopt analyses; a higher value is read as 1000). The depth
//! is estimated from the tokens: parentheses plus the length of operator chains.
//! Severity `warning`.
//!
//! ## Fix
//! Pass long value lists as one array parameter (`= ANY($1)`), load many rows with one
//! `INSERT ... SELECT FROM unnest($1, $2)` or `COPY`, and split generated chains into several
//! statements or a join against a VALUES list.

use crate::rules::prelude::*;
use crate::workload::shape::{nesting, MAX_DEPTH};
use crate::workload::shaped::short;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub max_depth: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            max_depth: MAX_DEPTH,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "statement-too-large",
    scope: Scope::Workload,
    summary: "statement too large to analyse (nested too deeply)",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(w) = ctx.workload else {
        return Ok(vec![]);
    };
    let limit = p.max_depth.min(MAX_DEPTH);
    Ok(w.statements
        .iter()
        .filter_map(|s| {
            let depth = nesting(&s.query);
            (depth > limit).then(|| Finding {
                rule: RULE.id.into(),
                severity: Severity::Warning,
                object: s.fingerprint.clone(),
                message: format!(
                    "statement too large to analyse (nesting deeper than {limit}): `{}`",
                    short(&s.query, 80)
                ),
                evidence: vec![format!(
                    "estimated depth {depth}, {} characters, {} calls, {:.1} ms in total",
                    s.query.chars().count(),
                    s.calls,
                    s.total_ms
                )],
                remedy: "pass long lists as one array parameter (= ANY($1)) and split generated AND/OR/UNION chains".into(),
                fix: None,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{check_with_defaults, Config};
    use crate::workload::{Statement, Workload};

    fn workload(queries: &[String]) -> Workload {
        Workload {
            statements: queries
                .iter()
                .enumerate()
                .map(|(i, q)| Statement {
                    fingerprint: format!("fp{i}"),
                    query: q.clone(),
                    calls: 1,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn and_chain(n: usize) -> String {
        let terms: Vec<String> = (0..n).map(|i| format!("c = {i}")).collect();
        format!("SELECT * FROM t WHERE {}", terms.join(" AND "))
    }

    #[test]
    fn flags_deep_statements_only() {
        let w = workload(&[
            and_chain(5_000),
            and_chain(50),
            "SELECT 1 FROM t WHERE id IN (1, 2, 3)".into(),
        ]);
        let ctx = Ctx {
            workload: Some(&w),
            ..Default::default()
        };
        let f = check_with_defaults(&RULE, &ctx);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].object, "fp0");
        assert!(
            f[0].message
                .starts_with("statement too large to analyse (nesting deeper than 1000)"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn max_depth_lowers_but_never_raises_the_limit() {
        let w = workload(&[and_chain(200), and_chain(5_000)]);
        let ctx = Ctx {
            workload: Some(&w),
            ..Default::default()
        };
        let run = |toml: &str| {
            let c = Config::parse(toml, "t").unwrap();
            (RULE.check)(&ctx, &c.for_rule(RULE.id)).unwrap().len()
        };
        assert_eq!(run("[rules.statement-too-large]\nmax_depth = 100\n"), 2);
        assert_eq!(run("[rules.statement-too-large]\nmax_depth = 100000\n"), 1);
    }
}
