//! The detection-rule framework. Each rule is one file under `rules/` (found by `build.rs`):
//! its `//!` header is its documentation, its `Params` struct its thresholds (overridable under
//! `[rules.<id>]` in `dbopt.toml`), and its tests sit at its end.
//!
//! Why rules are Rust and not data: the logic (prefix coverage of foreign keys, plan shapes)
//! needs code; only the thresholds are data. Why one file per rule: adding a rule touches one
//! place, and a reviewer sees a rule's docs, numbers and tests together.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::findings::{Finding, Severity};
use crate::workload::Workload;

/// What a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Tables, indexes and their statistics.
    Catalog,
    /// The statements of a workload (pg_stat_statements, logs, files).
    Workload,
    /// One EXPLAIN plan.
    Plan,
    /// The sessions connected now (pg_stat_activity).
    Activity,
    /// Server health: sequences, wraparound, the xmin horizon, replication, settings.
    Health,
}

/// The facts a rule may use. Rules never talk to a server.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ctx<'a> {
    pub catalog: Option<&'a Catalog>,
    pub workload: Option<&'a Workload>,
    /// Sessions and connection limits, for the connection rules.
    pub activity: Option<&'a crate::workload::activity::Activity>,
    /// One EXPLAIN plan, for the plan rules.
    pub plan: Option<&'a crate::analyze::plan::Plan>,
    /// Server health facts, for the health rules.
    pub health: Option<&'a crate::health::Health>,
}

pub type CheckFn = fn(&Ctx<'_>, &RuleConfig) -> Result<Vec<Finding>, RuleError>;

/// A rule's static definition (`pub static RULE: Rule` in its file).
pub struct Rule {
    /// Kebab-case id, the file name with `-` for `_`; names the problem, not the fix.
    pub id: &'static str,
    pub scope: Scope,
    /// One line for listings.
    pub summary: &'static str,
    pub check: CheckFn,
}

/// A registry entry: the rule, its file stem and its documentation.
pub struct RuleEntry {
    pub rule: &'static Rule,
    pub file: &'static str,
    pub docs: &'static str,
    /// The rule's default `Params`, as JSON (the `[rules.<id>]` keys and their defaults).
    pub defaults: fn() -> serde_json::Value,
    /// Whether this rule's `[rules.<id>]` section of a config gives valid `Params`.
    pub validate: fn(&RuleConfig) -> Result<(), RuleError>,
}

#[allow(clippy::all)]
mod registry {
    use super::RuleEntry;
    include!(concat!(env!("OUT_DIR"), "/rules.rs"));
}
/// The N+1 thresholds, for the log reader (`n_plus_one::Params::log`).
pub use registry::n_plus_one;
pub use registry::RULES;

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("invalid settings for rule {rule} in dbopt.toml: {message}")]
    BadParams { rule: String, message: String },
    #[error("cannot read {path}: {message}")]
    Config { path: String, message: String },
    #[error("unknown rule \"{0}\" in dbopt.toml")]
    UnknownRule(String),
    #[error("no rule named \"{name}\"")]
    NotFound {
        name: String,
        closest: Option<String>,
    },
}

impl RuleError {
    /// One line; it points only at what exists: the rule's documented thresholds (its
    /// `## Thresholds` section) and the list of rule ids, not at a command dbopt lacks.
    pub fn hint(&self) -> String {
        match self {
            RuleError::BadParams { rule, .. } => {
                let common = "every rule also takes enabled = true|false and severity = \"info\"|\"warning\"|\"critical\"";
                match thresholds_doc(rule) {
                    Some(doc) => format!("the settings of {rule}: {doc}; {common}; `dbopt rules {rule}` prints its [rules.{rule}] block"),
                    None => format!("check the keys and values under [rules.{rule}]; {common}"),
                }
            }
            RuleError::Config { .. } => {
                "dbopt.toml must be valid TOML with [rules.<id>] tables".into()
            }
            RuleError::NotFound {
                closest: Some(c), ..
            } => format!("did you mean {c}? `dbopt rules` lists every rule"),
            RuleError::NotFound { .. } => "`dbopt rules` lists every rule".into(),
            RuleError::UnknownRule(_) => format!(
                "the rule ids are: {}",
                RULES
                    .iter()
                    .map(|e| e.rule.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The rule named `name` (its id, or its file name with `_`), or the closest id as the hint.
pub fn find(name: &str) -> Result<&'static RuleEntry, RuleError> {
    let wanted = name.trim().replace('_', "-").to_lowercase();
    if let Some(e) = RULES.iter().find(|e| e.rule.id == wanted) {
        return Ok(e);
    }
    let closest = RULES
        .iter()
        .map(|e| (crate::catalog::edit_distance(&wanted, e.rule.id), e.rule.id))
        .filter(|(d, id)| *d <= id.chars().count() / 2)
        .min()
        .map(|(_, id)| id.to_string());
    Err(RuleError::NotFound {
        name: name.to_string(),
        closest,
    })
}

/// What `dbopt rules` lists about a rule; `defaults` are its `[rules.<id>]` keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleInfo {
    pub id: &'static str,
    pub scope: Scope,
    pub summary: &'static str,
    pub defaults: serde_json::Value,
}

impl RuleEntry {
    pub fn info(&self) -> RuleInfo {
        RuleInfo {
            id: self.rule.id,
            scope: self.rule.scope,
            summary: self.rule.summary,
            defaults: (self.defaults)(),
        }
    }

    /// The `[rules.<id>]` block of `dbopt.toml` with every setting at its default.
    pub fn config_block(&self) -> String {
        let id = self.rule.id;
        let mut rules = toml::Table::new();
        let params = toml::Value::try_from((self.defaults)())
            .unwrap_or_else(|_| toml::Value::Table(toml::Table::new()));
        rules.insert(id.to_string(), params);
        let mut doc = toml::Table::new();
        doc.insert("rules".into(), toml::Value::Table(rules));
        let body = toml::to_string(&doc).unwrap_or_default();
        let header = format!("[rules.{id}]\n");
        let rest = body.strip_prefix(&header).unwrap_or(&body);
        format!("{header}# enabled = true\n# severity = \"warning\"   # info | warning | critical: overrides the computed one\n{rest}")
    }
}

/// A rule's defaults on one line: `levels.warning = 0.3, min_bytes = 1048576`.
pub fn defaults_line(v: &serde_json::Value) -> String {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, x, out);
                }
            }
            x => out.push(format!("{prefix} = {x}")),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    if out.is_empty() {
        "-".into()
    } else {
        out.join(", ")
    }
}

/// The `## Thresholds` section of a rule's documentation, on one line.
fn thresholds_doc(rule_id: &str) -> Option<String> {
    let entry = RULES.iter().find(|e| e.rule.id == rule_id)?;
    let text: Vec<&str> = entry
        .docs
        .lines()
        .skip_while(|l| l.trim() != "## Thresholds")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    (!text.is_empty()).then(|| text.join(" "))
}

/// A rule's section of `dbopt.toml`: `enabled`, `severity`, and its own thresholds.
#[derive(Debug, Clone, Default)]
pub struct RuleConfig {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub params: toml::Table,
    rule: String,
}

impl RuleConfig {
    /// The rule's `Params`, defaults overlaid with `dbopt.toml`; unknown keys are errors.
    pub fn params<P: DeserializeOwned>(&self) -> Result<P, RuleError> {
        toml::Value::Table(self.params.clone())
            .try_into()
            .map_err(|e: toml::de::Error| RuleError::BadParams {
                rule: self.rule.clone(),
                message: e.message().to_string(),
            })
    }

    /// The severity to report: the configured override, else the one the rule computed.
    pub fn severity(&self, computed: Severity) -> Severity {
        self.severity.unwrap_or(computed)
    }
}

/// All of `dbopt.toml` that concerns rules.
#[derive(Debug, Clone, Default)]
pub struct Config {
    rules: BTreeMap<String, RuleConfig>,
}

impl Config {
    /// Parse `dbopt.toml` text.
    pub fn parse(text: &str, path: &str) -> Result<Self, RuleError> {
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| RuleError::Config {
                path: path.into(),
                message: e.message().to_string(),
            })?;
        let mut rules = BTreeMap::new();
        if let Some(toml::Value::Table(sections)) = doc.get("rules") {
            for (id, v) in sections {
                if !RULES.iter().any(|e| e.rule.id == id) {
                    return Err(RuleError::UnknownRule(id.clone()));
                }
                let mut params = v.as_table().cloned().ok_or_else(|| RuleError::Config {
                    path: path.into(),
                    message: format!("[rules.{id}] must be a table"),
                })?;
                let enabled = params.remove("enabled").and_then(|x| x.as_bool());
                let severity =
                    match params.remove("severity") {
                        Some(s) => Some(s.try_into().map_err(|e: toml::de::Error| {
                            RuleError::BadParams {
                                rule: id.clone(),
                                message: e.message().to_string(),
                            }
                        })?),
                        None => None,
                    };
                rules.insert(
                    id.clone(),
                    RuleConfig {
                        enabled,
                        severity,
                        params,
                        rule: id.clone(),
                    },
                );
            }
        }
        Ok(Config { rules })
    }

    /// `path` if given, else `./dbopt.toml` when present, else defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, RuleError> {
        let p = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| Path::new("dbopt.toml").to_path_buf());
        match std::fs::read_to_string(&p) {
            Ok(text) => Self::parse(&text, &p.display().to_string()),
            Err(e) if path.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Config::default())
            }
            Err(e) => Err(RuleError::Config {
                path: p.display().to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// Every rule's settings checked against its `Params` (unknown keys, wrong types), as
    /// running the rules would.
    pub fn validate(&self) -> Result<(), RuleError> {
        RULES
            .iter()
            .try_for_each(|e| (e.validate)(&self.for_rule(e.rule.id)))
    }

    pub fn for_rule(&self, id: &str) -> RuleConfig {
        self.rules.get(id).cloned().unwrap_or_else(|| RuleConfig {
            rule: id.to_string(),
            ..Default::default()
        })
    }
}

/// Run every enabled rule of `scope`; findings sorted most severe first, then by object.
pub fn run(scope: Scope, ctx: &Ctx<'_>, config: &Config) -> Result<Vec<Finding>, RuleError> {
    let mut out = Vec::new();
    for entry in RULES.iter().filter(|e| e.rule.scope == scope) {
        let cfg = config.for_rule(entry.rule.id);
        if cfg.enabled == Some(false) {
            continue;
        }
        let mut found = (entry.rule.check)(ctx, &cfg)?;
        for f in &mut found {
            f.severity = cfg.severity(f.severity);
        }
        out.extend(found);
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    Ok(out)
}

/// A warning/critical pair of thresholds, the usual shape of a rule's `Params`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Levels {
    pub warning: f64,
    pub critical: f64,
}

impl Levels {
    /// The severity of `value` (higher is worse), or None below the warning level.
    pub fn grade(&self, value: f64) -> Option<Severity> {
        if value >= self.critical {
            Some(Severity::Critical)
        } else if value >= self.warning {
            Some(Severity::Warning)
        } else {
            None
        }
    }
}

/// What a rule file needs, in one `use`.
pub mod prelude {
    pub use super::{Ctx, Levels, Rule, RuleConfig, RuleError, Scope};
    pub use crate::catalog::{Catalog, Index, Table};
    pub use crate::findings::{Finding, Fix, Severity};
    pub use crate::sql::ddl;
    pub use serde::{Deserialize, Serialize};
}

/// Run one rule with its default thresholds (for the rules' own tests).
#[cfg(test)]
pub fn check_with_defaults(rule: &Rule, ctx: &Ctx<'_>) -> Vec<Finding> {
    (rule.check)(ctx, &Config::default().for_rule(rule.id)).expect("default params are valid")
}

/// For rule tests: run one plan rule with default settings on a plan given as EXPLAIN JSON.
#[cfg(test)]
pub fn check_plan(rule: &Rule, json: &str) -> Vec<Finding> {
    let v: serde_json::Value = serde_json::from_str(json).expect("test plan JSON");
    let p = crate::analyze::plan::Plan::from_json(&v).expect("test plan");
    let ctx = Ctx {
        plan: Some(&p),
        ..Default::default()
    };
    check_with_defaults(rule, &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_hints_point_at_what_exists() {
        let unknown = RuleError::UnknownRule("nope".into()).hint();
        assert!(
            unknown.contains("slow-query") && unknown.contains("row-misestimate"),
            "{unknown}"
        );
        let bad = RuleError::BadParams {
            rule: "row-misestimate".into(),
            message: "unknown field".into(),
        }
        .hint();
        assert!(
            bad.contains("`dbopt rules row-misestimate`") && !bad.contains('\n'),
            "{bad}"
        );
        assert!(
            bad.contains("min_rows") && bad.contains("severity"),
            "{bad}"
        );
    }

    /// Invariants over the registry (ripgrep-style): every rule is well-formed and documented.
    #[test]
    fn every_rule_is_well_formed() {
        assert!(!RULES.is_empty());
        let mut ids = std::collections::HashSet::new();
        for e in RULES {
            assert!(ids.insert(e.rule.id), "duplicate id {}", e.rule.id);
            assert_eq!(
                e.rule.id,
                e.file.replace('_', "-"),
                "id must be the file name in kebab-case"
            );
            for banned in ["ban-", "disallow-", "drop-", "add-"] {
                assert!(
                    !e.rule.id.starts_with(banned),
                    "{}: name the problem, not the fix",
                    e.rule.id
                );
            }
            assert!(
                e.docs.contains("## What it does"),
                "{}: docs need '## What it does'",
                e.rule.id
            );
            assert!(
                e.docs.contains("## Why is this bad?"),
                "{}: docs need '## Why is this bad?'",
                e.rule.id
            );
            assert!(!e.rule.summary.is_empty());
        }
    }

    #[test]
    fn config_overrides_and_rejects_unknowns() {
        let id = RULES[0].rule.id;
        let c = Config::parse(
            &format!("[rules.{id}]\nenabled = false\nseverity = \"critical\"\n"),
            "t",
        )
        .unwrap();
        let rc = c.for_rule(id);
        assert_eq!(rc.enabled, Some(false));
        assert_eq!(rc.severity, Some(Severity::Critical));
        assert!(matches!(
            Config::parse("[rules.no-such-rule]\n", "t"),
            Err(RuleError::UnknownRule(_))
        ));
        assert!(matches!(
            Config::parse("[rules", "t"),
            Err(RuleError::Config { .. })
        ));
    }

    #[test]
    fn find_by_id_or_file_name_else_the_closest() {
        assert_eq!(find("table_bloat").unwrap().rule.id, "table-bloat");
        let Err(e) = find("tabel-bloat") else {
            panic!("tabel-bloat found")
        };
        assert_eq!(e.to_string(), "no rule named \"tabel-bloat\"");
        assert!(
            e.hint().starts_with("did you mean table-bloat?"),
            "{}",
            e.hint()
        );
        assert!(matches!(
            find("zzzzzzzz"),
            Err(RuleError::NotFound { closest: None, .. })
        ));
    }

    #[test]
    fn every_rule_has_a_config_block_that_parses_back() {
        for e in RULES {
            let block = e.config_block();
            let c = Config::parse(&block, "t")
                .unwrap_or_else(|err| panic!("{}: {err}\n{block}", e.rule.id));
            assert_eq!(
                toml::Value::Table(c.for_rule(e.rule.id).params),
                toml::Value::try_from((e.defaults)()).unwrap(),
                "{}",
                e.rule.id
            );
        }
        assert_eq!(
            defaults_line(&find("table-bloat").unwrap().info().defaults),
            "levels.critical = 0.6, levels.warning = 0.3, min_bytes = 1048576"
        );
    }

    #[test]
    fn levels() {
        let l = Levels {
            warning: 0.8,
            critical: 0.9,
        };
        assert_eq!(l.grade(0.5), None);
        assert_eq!(l.grade(0.85), Some(Severity::Warning));
        assert_eq!(l.grade(0.95), Some(Severity::Critical));
    }
}
