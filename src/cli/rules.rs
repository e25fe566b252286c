//! `dbopt rules [NAME]`: every rule with its scope and default thresholds, or one rule's
//! documentation and its `[rules.<id>]` block for dbopt.toml. Needs no server.

use clap::Args;

use super::{ExitStatus, Globals};
use crate::report::{self, Format};
use crate::rules::{self, RuleEntry, RuleInfo};

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// A rule id (`table-bloat`): print its documentation and settings.
    pub name: Option<String>,
}

pub async fn run(g: &Globals, a: &RulesArgs) -> anyhow::Result<ExitStatus> {
    // A dbopt.toml with a wrong key or value is said here, before a check relies on it.
    g.config()?.validate()?;
    match &a.name {
        None => {
            let infos: Vec<RuleInfo> = rules::RULES.iter().map(RuleEntry::info).collect();
            report::print(g.format, &infos, |f| report::rules::list(&infos, f))?;
        }
        Some(name) => {
            let e = rules::find(name)?;
            if g.format == Format::Json {
                #[derive(serde::Serialize)]
                struct Doc<'a> {
                    #[serde(flatten)]
                    info: RuleInfo,
                    docs: &'a str,
                    config: String,
                }
                report::print_json(&Doc {
                    info: e.info(),
                    docs: e.docs,
                    config: e.config_block(),
                })?;
            } else {
                report::print_text(&report::rules::doc(e))?;
            }
        }
    }
    Ok(ExitStatus::Ok)
}
