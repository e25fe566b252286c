//! What an analysis found: [`Finding`]s and their [`Severity`]. Every layer above reads or
//! writes them (rules raise them, the advisor adds its own, `report` renders them, `--fail-on`
//! compares severities), so they live here on the ground floor, with no behaviour of their own.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sql::ddl::IndexDef;

/// Severity of a finding, ordered (`--fail-on`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One problem found, with what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule's id (`fk-without-index`).
    pub rule: String,
    pub severity: Severity,
    /// What it is about: a table, an index, a statement fingerprint, a plan node.
    pub object: String,
    /// One sentence.
    pub message: String,
    /// The numbers behind it.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// What to do, in words.
    pub remedy: String,
    /// The statement that fixes it, when there is one; in JSON its text, under `sql`.
    #[serde(
        default,
        rename = "sql",
        skip_serializing_if = "Option::is_none",
        serialize_with = "fix_text",
        deserialize_with = "fix_from_text"
    )]
    pub fix: Option<Fix>,
}

impl Finding {
    /// The text of the statement that fixes it.
    pub fn sql(&self) -> Option<String> {
        self.fix.as_ref().map(Fix::render)
    }
}

/// The statement that fixes a finding, typed where dbopt builds it, so nobody edits its text.
///
/// Why typed: an index fix is an [`IndexDef`], rendered one way for every reader
/// (`CREATE INDEX CONCURRENTLY IF NOT EXISTS ...`); other fixes are statements dbopt rendered
/// with quoted identifiers ([`Fix::sql`]). Two fixes are equal when their statements are, so a
/// report read back from JSON (where every fix is text) equals the one written.
#[derive(Debug, Clone)]
pub enum Fix {
    /// Build this index (concurrently, on a live server).
    CreateIndex(IndexDef),
    /// Any other statement (`DROP INDEX ...`, `VACUUM ...`, a rewritten query).
    Sql(String),
}

impl Fix {
    /// A fix that is a statement given as text.
    pub fn sql(text: impl Into<String>) -> Self {
        Fix::Sql(text.into())
    }

    /// The statement, as the user runs it.
    pub fn render(&self) -> String {
        match self {
            Fix::CreateIndex(def) => def.create_sql(),
            Fix::Sql(text) => text.clone(),
        }
    }
}

impl PartialEq for Fix {
    fn eq(&self, other: &Self) -> bool {
        self.render() == other.render()
    }
}

fn fix_text<S: Serializer>(fix: &Option<Fix>, s: S) -> Result<S::Ok, S::Error> {
    fix.as_ref().map(Fix::render).serialize(s)
}

fn fix_from_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Fix>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Fix::Sql))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ddl;

    fn finding(fix: Option<Fix>) -> Finding {
        Finding {
            rule: "fk-without-index".into(),
            severity: Severity::Warning,
            object: "public.child".into(),
            message: "m".into(),
            evidence: vec![],
            remedy: "r".into(),
            fix,
        }
    }

    #[test]
    fn the_fix_is_its_text_under_sql_and_reads_back() {
        let def = ddl::foreign_key_index("public.child", &["p_id".into()]);
        let f = finding(Some(Fix::CreateIndex(def)));
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(
            json["sql"],
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"child_p_id_idx\" ON \"public\".\"child\" (\"p_id\")"
        );
        let back: Finding = serde_json::from_value(json).unwrap();
        assert_eq!(back, f);
        assert!(matches!(back.fix, Some(Fix::Sql(_))));
        let none = serde_json::to_value(finding(None)).unwrap();
        assert!(none.get("sql").is_none(), "{none}");
        let old: Finding = serde_json::from_value(serde_json::json!({
            "rule": "r", "severity": "info", "object": "o", "message": "m", "remedy": "r"
        }))
        .unwrap();
        assert_eq!(old.fix, None);
    }
}
