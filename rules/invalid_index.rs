//! ## What it does
//! Flags indexes marked invalid (`pg_index.indisvalid = false`), the leftover of a
//! `CREATE INDEX CONCURRENTLY` or `REINDEX CONCURRENTLY` that failed or was cancelled.
//!
//! ## Why is this bad?
//! The planner never uses an invalid index, yet every write still maintains it: all the cost of
//! an index, none of the benefit. A unique one may also still reject rows.
//!
//! ## Thresholds
//! None. Severity is `warning`.
//!
//! ## Fix
//! `DROP INDEX CONCURRENTLY`, then create it again (the finding shows its definition), or
//! `REINDEX INDEX CONCURRENTLY`.

use crate::rules::prelude::*;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {}

pub static RULE: Rule = Rule {
    id: "invalid-index",
    scope: Scope::Catalog,
    summary: "index left invalid by a failed concurrent build",
    check,
};

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let _: Params = cfg.params()?;
    let Some(cat) = ctx.catalog else {
        return Ok(vec![]);
    };
    Ok(cat
        .indexes
        .iter()
        .filter(|ix| !ix.valid)
        .map(|ix| Finding {
            rule: RULE.id.into(),
            severity: Severity::Warning,
            object: format!("{}.{}", ix.schema, ix.name),
            message: format!("index {} on {} is invalid", ix.name, ix.table),
            evidence: vec![
                ix.definition.clone(),
                format!("{} on disk", crate::units::bytes(ix.size_bytes)),
            ],
            remedy: format!(
                "drop it and build it again: {}",
                ddl::concurrent_definition(&ix.definition)
            ),
            fix: Some(Fix::sql(ddl::drop_index(&ix.schema, &ix.name))),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check_with_defaults;

    #[test]
    fn invalid_indexes_only() {
        let mk = |name: &str, valid| Index {
            schema: "public".into(),
            name: name.into(),
            valid,
            definition: format!("CREATE INDEX {name} ON public.t USING btree (x)"),
            ..Default::default()
        };
        let cat = Catalog {
            indexes: vec![mk("good", true), mk("bad", false)],
            ..Default::default()
        };
        let f = check_with_defaults(
            &RULE,
            &Ctx {
                catalog: Some(&cat),
                ..Default::default()
            },
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].object, "public.bad");
        assert!(f[0]
            .remedy
            .contains("CREATE INDEX CONCURRENTLY bad ON public.t"));
    }
}
