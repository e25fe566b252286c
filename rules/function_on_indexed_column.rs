//! ## What it does
//! Flags predicates that wrap an indexed column in a function or cast
//! (`lower(email) = $1`, `created_at::date = $1`) when no index is on that expression.
//!
//! ## Why is this bad?
//! An index on `email` orders the raw values; it cannot find `lower(email)`. The planner
//! reads the whole table (or the whole index) although an index on the column exists.
//!
//! ## Thresholds
//! `min_calls` (5). Severity `warning`.
//!
//! ## Fix
//! An expression index on exactly that expression, or rewrite the predicate on the bare
//! column (`created_at >= $1 AND created_at < $1 + 1 day` instead of `created_at::date = $1`).

use crate::rules::prelude::*;
use crate::sql::ddl;
use crate::sql::index_key::{IndexKey, KeyExpr};
use crate::workload::shape::PredKind;
use crate::workload::shaped::{shaped, short};

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
    id: "function-on-indexed-column",
    scope: Scope::Workload,
    summary: "a function or cast on an indexed column hides it from its index",
    check,
};

/// Expressions compared without case, quotes, spaces or the outer parentheses pg adds.
fn norm(e: &str) -> String {
    e.chars()
        .filter(|c| !c.is_whitespace() && *c != '"')
        .collect::<String>()
        .to_ascii_lowercase()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .to_string()
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let (Some(cat), Some(w)) = (ctx.catalog, ctx.workload) else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for s in shaped(w, Some(cat)) {
        let st = s.statement;
        if st.calls < p.min_calls {
            continue;
        }
        for a in &s.shape.accesses {
            for pr in &a.predicates {
                let (Some(col), Some(expr), Some(key @ KeyExpr::Expression(_))) =
                    (&pr.column, &pr.expr, &pr.key)
                else {
                    continue;
                };
                if pr.kind == PredKind::NotIndexable {
                    continue;
                }
                let indexed = cat
                    .indexes_on(&a.table)
                    .any(|ix| ix.valid && ix.key_columns().first() == Some(&Some(col.as_str())));
                let served = cat.indexes_on(&a.table).any(|ix| {
                    ix.valid && ix.keys.first().is_some_and(|k| norm(&k.expr) == norm(expr))
                });
                if !indexed || served {
                    continue;
                }
                let keys = vec![IndexKey::new(key.clone())];
                let fix =
                    ddl::IndexDef::btree(&ddl::index_name(&a.table, &keys, None), &a.table, keys);
                out.push(Finding {
                    rule: RULE.id.into(),
                    severity: Severity::Warning,
                    object: format!("{}.{col}", a.table),
                    message: format!(
                        "`{expr}` hides the index on {col}: `{}`",
                        short(&st.query, 100)
                    ),
                    evidence: vec![format!(
                        "{} calls, {:.1} ms in total",
                        st.calls, st.total_ms
                    )],
                    remedy: format!("index the expression {expr}, or compare the bare column"),
                    fix: Some(Fix::CreateIndex(fix)),
                });
            }
        }
    }
    Ok(out)
}
