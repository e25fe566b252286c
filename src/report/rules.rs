//! Output of `dbopt rules`: every rule as a table (JSON: the list of
//! [`crate::rules::RuleInfo`]), and one rule's documentation with its `dbopt.toml` block.

use std::fmt::Write as _;

use comfy_table::Cell;

use super::{table, Format};
use crate::rules::{defaults_line, RuleEntry, RuleInfo};

/// The list: id, scope, summary, default thresholds.
pub fn list(rules: &[RuleInfo], format: Format) -> String {
    let mut t = table(format, &["rule", "scope", "what it finds", "defaults"]);
    for r in rules {
        t.add_row(vec![
            Cell::new(r.id),
            Cell::new(
                serde_json::to_value(r.scope)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            ),
            Cell::new(r.summary),
            Cell::new(defaults_line(&r.defaults)),
        ]);
    }
    format!(
        "{t}\n{} rules; `dbopt rules NAME` prints one rule's documentation and settings\n",
        rules.len()
    )
}

/// One rule: its documentation (the `//!` header of its file) and its `dbopt.toml` block.
pub fn doc(e: &RuleEntry) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}: {}\n", e.rule.id, e.rule.summary);
    let _ = writeln!(out, "{}\n", e.docs.trim_end());
    let _ = writeln!(
        out,
        "## Configure in dbopt.toml\nThe defaults; change what you need (unknown keys are errors):\n\n{}",
        e.config_block().trim_end()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{find, RULES};

    #[test]
    fn rules_list() {
        let infos: Vec<RuleInfo> = RULES.iter().map(RuleEntry::info).collect();
        insta::assert_snapshot!(list(&infos, Format::Markdown));
    }

    #[test]
    fn one_rule_doc() {
        insta::assert_snapshot!(doc(find("sequence-near-overflow").unwrap()));
    }
}
