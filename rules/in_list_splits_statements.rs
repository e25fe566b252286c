//! ## What it does
//! Finds statements that pg_stat_statements records several times, once per length of an
//! `IN ($1, $2, ...)` list: the same statement with lists of varying length.
//!
//! ## Why is this bad?
//! Each list length is a different statement to the server: planned separately, prepared
//! separately, and counted as a separate entry, so the statement's real weight is split and
//! can fall out of every "top statements" list (and out of pg_stat_statements itself).
//!
//! ## Thresholds
//! `min_variants` (3 entries that differ only by the list length). Severity `warning`.
//!
//! ## Fix
//! Pass the values as one array: `WHERE id = ANY($1)` with `$1` an array parameter.

use std::collections::BTreeMap;

use crate::rules::prelude::*;
use crate::workload::shaped::short;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_variants: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params { min_variants: 3 }
    }
}

pub static RULE: Rule = Rule {
    id: "in-list-splits-statements",
    scope: Scope::Workload,
    summary: "IN lists of varying length split one statement into many",
    check,
};

/// The text with every `IN ($1, $2, ...)` list of parameters collapsed to `IN (...)`, and
/// whether there was one.
fn collapse(query: &str) -> (String, bool) {
    let lower = query.to_ascii_lowercase();
    let mut out = String::with_capacity(query.len());
    let mut found = false;
    let mut i = 0;
    while let Some(rel) = lower[i..].find("in (") {
        let at = i + rel;
        let open = at + "in (".len();
        let close = lower[open..].find(')').map(|c| open + c);
        let word_start = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
        match close {
            Some(end)
                if word_start
                    && lower[open..end].contains('$')
                    && lower[open..end]
                        .chars()
                        .all(|c| c == '$' || c == ',' || c == ' ' || c.is_ascii_digit()) =>
            {
                out.push_str(&query[i..open]);
                out.push_str("...");
                i = end;
                found = true;
            }
            _ => {
                out.push_str(&query[i..open]);
                i = open;
            }
        }
    }
    out.push_str(&query[i..]);
    (out, found)
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(w) = ctx.workload else {
        return Ok(vec![]);
    };
    let mut groups: BTreeMap<String, Vec<&crate::workload::Statement>> = BTreeMap::new();
    for s in &w.statements {
        if let (text, true) = collapse(&s.query) {
            groups.entry(text).or_default().push(s);
        }
    }
    let mut out = Vec::new();
    for (text, stmts) in groups {
        if stmts.len() < p.min_variants.max(2) {
            continue;
        }
        let calls: i64 = stmts.iter().map(|s| s.calls).sum();
        let ms: f64 = stmts.iter().map(|s| s.total_ms).sum();
        out.push(Finding {
            rule: RULE.id.into(),
            severity: Severity::Warning,
            object: stmts[0].fingerprint.clone(),
            message: format!(
                "{} pg_stat_statements entries differ only by the length of an IN list: `{}`",
                stmts.len(),
                short(&text, 100)
            ),
            evidence: vec![format!("{calls} calls and {ms:.1} ms over all the entries")],
            remedy: "pass the list as one array parameter: = ANY($1)".into(),
            fix: Some(Fix::sql(
                text.replacen("IN (...)", "= ANY($1)", 1)
                    .replacen("in (...)", "= ANY($1)", 1),
            )),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::collapse;

    #[test]
    fn collapses_parameter_lists_only() {
        assert_eq!(
            collapse("SELECT * FROM t WHERE id IN ($1, $2, $3) AND b = $4"),
            ("SELECT * FROM t WHERE id IN (...) AND b = $4".into(), true)
        );
        assert!(!collapse("SELECT * FROM t WHERE id IN (SELECT x FROM u)").1);
        assert!(!collapse("SELECT * FROM t WHERE id = ANY($1)").1);
        assert!(!collapse("SELECT * FROM t WHERE origin (x) AND join (y)").1);
    }
}
