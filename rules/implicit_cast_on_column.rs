//! ## What it does
//! Flags comparisons of an integer column with a parameter cast to `numeric` or a floating
//! type (`WHERE id = $1::numeric`), which makes PostgreSQL cast the column instead.
//!
//! ## Why is this bad?
//! There is no B-tree operator between integers and numeric/float, so the column side is
//! converted row by row and the index on the column cannot be used: an indexed lookup becomes
//! a full scan. ORMs and drivers do this when they send numbers as decimals.
//!
//! ## Thresholds
//! `min_calls` (5). Severity `warning`.
//!
//! ## Fix
//! Send the parameter with the column's type (`$1::bigint`, or an integer in the driver).

use crate::rules::prelude::*;
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
    id: "implicit-cast-on-column",
    scope: Scope::Workload,
    summary: "an integer column compared with a numeric/float parameter loses its index",
    check,
};

const INTEGER: [&str; 3] = ["integer", "bigint", "smallint"];
const WIDER: [&str; 6] = ["numeric", "decimal", "float", "real", "double", "money"];

/// The type `column <op> $n::type` casts the parameter to, read from the text.
fn cast_of(query: &str, column: &str) -> Option<String> {
    let q = query.to_ascii_lowercase();
    let col = column.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = q[from..].find(&col).map(|i| i + from) {
        from = pos + col.len();
        if pos > 0 && {
            let b = q.as_bytes()[pos - 1];
            b.is_ascii_alphanumeric() || b == b'_'
        } {
            continue;
        }
        let rest = q[from..].trim_start_matches('"').trim_start();
        let rest = rest.trim_start_matches(['=', '<', '>', '!']).trim_start();
        let Some(rest) = rest.strip_prefix('$') else {
            continue;
        };
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        if let Some(ty) = rest.strip_prefix("::") {
            return Some(
                ty.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    None
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
            let Some(t) = cat.table(&a.table) else {
                continue;
            };
            for pr in &a.predicates {
                let Some(col) = pr.column.as_deref().filter(|_| pr.expr.is_none()) else {
                    continue;
                };
                let Some(c) = t.column(col) else { continue };
                if !INTEGER.contains(&c.type_name.as_str()) {
                    continue;
                }
                let Some(ty) = cast_of(&st.query, col) else {
                    continue;
                };
                if !WIDER.iter().any(|w| ty.starts_with(w)) {
                    continue;
                }
                out.push(Finding {
                    rule: RULE.id.into(),
                    severity: Severity::Warning,
                    object: st.fingerprint.clone(),
                    message: format!(
                        "{col} ({}) is compared with a {ty} parameter, so the column is cast and its index unused: `{}`",
                        c.type_name,
                        short(&st.query, 100)
                    ),
                    evidence: vec![format!("{} calls, {:.1} ms in total", st.calls, st.total_ms)],
                    remedy: format!("send the parameter as {} ($n::{})", c.type_name, c.type_name),
                    fix: None,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_cast() {
        assert_eq!(
            super::cast_of("SELECT * FROM t WHERE a = $1::numeric", "a").as_deref(),
            Some("numeric")
        );
        assert_eq!(
            super::cast_of("SELECT * FROM t WHERE ba = $1::numeric", "a"),
            None
        );
        assert_eq!(super::cast_of("SELECT * FROM t WHERE a = $1", "a"), None);
    }
}
