//! From a recommendation to the ordered statements that build (and remove) its index.
//!
//! Why steps: a plain table needs one `CREATE INDEX CONCURRENTLY`. A partitioned table cannot
//! be indexed concurrently as a whole, so PostgreSQL's recipe is an invalid catalog-only index
//! `ON ONLY` the parent, a concurrent build on each partition, then `ATTACH PARTITION` of each,
//! after which the parent index turns valid. Each step is safe to run again (`IF [NOT] EXISTS`,
//! attaching an attached index does nothing), and every format writes the same steps.

use crate::advisor::report::{AdviseReport, IndexRecommendation};
use crate::sql::quote_ident;

use super::{EmitError, MigrationFormat};
use crate::sql::ddl::{self, MAX_IDENT};

/// Index methods dbopt writes DDL for.
pub const METHODS: [&str; 6] = ["btree", "hash", "gist", "spgist", "gin", "brin"];

/// What a step does, for headers and for `--apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// `CREATE INDEX CONCURRENTLY` on a plain table.
    Build,
    /// `CREATE INDEX ... ON ONLY` a partitioned parent (catalog only, instant, not valid yet).
    Parent,
    /// `CREATE INDEX CONCURRENTLY` on one partition.
    Partition,
    /// `ALTER INDEX parent ATTACH PARTITION` for every partition's index.
    Attach,
}

/// One migration's worth of work: statements up and down, each a complete SQL statement
/// without the trailing semicolon.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: StepKind,
    /// The part of the file name after the version, e.g. `create_leads_status_idx`.
    pub slug: String,
    pub up: Vec<String>,
    pub down: Vec<String>,
    /// `"schema"."index"` this step creates (for the INVALID-index recovery advice).
    pub index: String,
    /// The same index name, unquoted and without schema.
    pub name: String,
    /// The table (`schema.table`, unquoted) the step works on.
    pub table: String,
    /// One line for the header: what this step does and why it is separate.
    pub about: String,
}

impl Step {
    /// Whether a statement of this step may not run inside a transaction block.
    pub fn concurrent(&self) -> bool {
        self.up
            .iter()
            .chain(&self.down)
            .any(|s| s.contains(" CONCURRENTLY "))
    }
}

/// One migration to write: the steps it holds and the recommendation they come from.
#[derive(Debug, Clone)]
pub struct Unit<'a> {
    pub rec: &'a IndexRecommendation,
    /// The index name (schema is the table's).
    pub name: String,
    pub slug: String,
    pub steps: Vec<Step>,
    /// `(n, of)` when the index takes several migrations (partitioned, whole-file tools).
    pub part: Option<(usize, usize)>,
}

impl Unit<'_> {
    pub fn up(&self) -> Vec<&str> {
        self.steps
            .iter()
            .flat_map(|s| s.up.iter().map(String::as_str))
            .collect()
    }

    /// Down statements in reverse step order, each distinct statement once.
    pub fn down(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in self.steps.iter().rev() {
            for d in &s.down {
                if !out.contains(&d.as_str()) {
                    out.push(d);
                }
            }
        }
        out
    }

    pub fn concurrent(&self) -> bool {
        self.steps.iter().any(Step::concurrent)
    }
}

/// Lower-case letters, digits and single underscores: safe in every tool's file names.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

fn bad(rec: &IndexRecommendation, reason: impl Into<String>) -> EmitError {
    EmitError::BadRecommendation {
        index: if rec.name.is_empty() {
            rec.table.clone()
        } else {
            rec.name.clone()
        },
        reason: reason.into(),
    }
}

/// The index name: the report's, or the deterministic one when the report has none.
pub fn index_name(rec: &IndexRecommendation) -> String {
    if rec.name.is_empty() {
        ddl::index_name(&rec.table, &rec.columns, rec.predicate.as_deref())
    } else {
        rec.name.clone()
    }
}

fn check(rec: &IndexRecommendation) -> Result<(), EmitError> {
    let name = index_name(rec);
    let (schema, table) = ddl::split_table(&rec.table);
    if schema.is_empty() || table.is_empty() {
        return Err(bad(
            rec,
            format!("table {:?} is not schema.table", rec.table),
        ));
    }
    if rec.columns.is_empty() || rec.columns.iter().any(|c| c.expr.label().is_empty()) {
        return Err(bad(rec, "it has no key columns"));
    }
    if name.len() > MAX_IDENT {
        return Err(bad(
            rec,
            format!(
                "index name is {} bytes, PostgreSQL allows {MAX_IDENT}",
                name.len()
            ),
        ));
    }
    if !METHODS.contains(&rec.method.as_str()) {
        return Err(bad(
            rec,
            format!(
                "unknown index method {:?} (expected one of {})",
                rec.method,
                METHODS.join(", ")
            ),
        ));
    }
    // Keys were read back in dbopt's own form (quoted names, rendered expressions); the
    // predicate is pasted as written.
    for frag in rec.predicate.iter() {
        if let Err(why) = one_fragment(frag) {
            return Err(bad(rec, format!("{frag:?} {why}")));
        }
    }
    if rec
        .partitions
        .iter()
        .any(|p| ddl::split_table(p).1.is_empty())
    {
        return Err(bad(rec, "a partition name is empty"));
    }
    Ok(())
}

/// A predicate is pasted into DDL as written, so it must be one SQL
/// fragment: no `;` or comment outside quotes, balanced parentheses, closed quotes. This
/// keeps an edited or foreign report from smuggling a second statement into a migration.
fn one_fragment(s: &str) -> Result<(), &'static str> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for ch in s.chars() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None => match ch {
                '\'' | '"' => quote = Some(ch),
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth < 0 {
                        return Err("has an unbalanced ')'");
                    }
                }
                ';' => return Err("contains ';'"),
                '-' if prev == '-' => return Err("contains a comment"),
                '*' if prev == '/' => return Err("contains a comment"),
                _ => {}
            },
        }
        prev = ch;
    }
    if quote.is_some() {
        return Err("has an unclosed quote");
    }
    if depth != 0 {
        return Err("has an unbalanced '('");
    }
    Ok(())
}

fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// A recommendation's index, named as recommended, on its table.
pub fn index_def(rec: &IndexRecommendation) -> ddl::IndexDef {
    ddl::IndexDef {
        name: Some(rec.name.clone()),
        table: rec.table.clone(),
        method: rec.method.clone(),
        keys: rec.columns.clone(),
        opclass: None,
        include: rec.include.clone(),
        predicate: rec.predicate.clone(),
        only: false,
    }
}

/// The steps that build a recommendation's index, in the order they must run.
pub fn steps(rec: &IndexRecommendation) -> Result<Vec<Step>, EmitError> {
    check(rec)?;
    let name = index_name(rec);
    let (schema, _) = ddl::split_table(&rec.table);
    let build = |index: &str, table: &str, only: bool| {
        ddl::IndexDef {
            name: Some(index.to_string()),
            table: table.to_string(),
            only,
            ..index_def(rec)
        }
        .create_sql()
    };
    if rec.partitions.is_empty() {
        return Ok(vec![Step {
            kind: StepKind::Build,
            slug: format!("create_{}", slug(&name)),
            up: vec![build(&name, &rec.table, false)],
            down: vec![ddl::drop_index(schema, &name)],
            index: qualified(schema, &name),
            name: name.clone(),
            table: rec.table.clone(),
            about: format!(
                "builds {} on {} without blocking writes (CONCURRENTLY)",
                name, rec.table
            ),
        }]);
    }
    // A partitioned index cannot be dropped CONCURRENTLY, and an attached partition index
    // cannot be detached or dropped alone: dropping the parent index removes them all.
    let drop_parent = format!("DROP INDEX IF EXISTS {}", qualified(schema, &name));
    let mut out = vec![Step {
        kind: StepKind::Parent,
        slug: format!("create_{}_on_only_parent", slug(&name)),
        up: vec![build(&name, &rec.table, true)],
        down: vec![drop_parent.clone()],
        index: qualified(schema, &name),
        name: name.clone(),
        table: rec.table.clone(),
        about: format!(
            "creates {name} ON ONLY the partitioned table {} (catalog only, instant; it stays \
             invalid until every partition's index is attached)",
            rec.table
        ),
    }];
    let mut attach = Vec::new();
    for p in &rec.partitions {
        let (ps, _) = ddl::split_table(p);
        let pname = ddl::index_name(p, &rec.columns, rec.predicate.as_deref());
        out.push(Step {
            kind: StepKind::Partition,
            slug: format!("create_{}", slug(&pname)),
            up: vec![build(&pname, p, false)],
            down: vec![ddl::drop_index(ps, &pname)],
            index: qualified(ps, &pname),
            name: pname.clone(),
            table: p.clone(),
            about: format!(
                "builds {pname} on the partition {p} without blocking writes (CONCURRENTLY)"
            ),
        });
        attach.push(format!(
            "ALTER INDEX {} ATTACH PARTITION {}",
            qualified(schema, &name),
            qualified(ps, &pname)
        ));
    }
    out.push(Step {
        kind: StepKind::Attach,
        slug: format!("attach_{}_partitions", slug(&name)),
        up: attach,
        down: vec![drop_parent],
        index: qualified(schema, &name),
        name: name.clone(),
        table: rec.table.clone(),
        about: format!(
            "attaches each partition's index to {name}, which then becomes valid; undoing it \
             drops {name} with all its partition indexes (an attached index cannot be detached)"
        ),
    });
    Ok(out)
}

/// The migrations to write for a report, in order: one per step for tools that send a whole
/// file as one message, one per index otherwise. `only` keeps the named indexes.
pub fn units<'a>(
    report: &'a AdviseReport,
    format: MigrationFormat,
    only: &[String],
) -> Result<Vec<Unit<'a>>, EmitError> {
    let known: Vec<String> = report.recommendations.iter().map(index_name).collect();
    for o in only {
        if !known.contains(o) {
            return Err(EmitError::UnknownIndex {
                name: o.clone(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        }
    }
    let mut out = Vec::new();
    for (rec, name) in report.recommendations.iter().zip(&known) {
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        let steps = steps(rec)?;
        if format.sends_whole_file() && steps.len() > 1 {
            let of = steps.len();
            for (i, s) in steps.into_iter().enumerate() {
                out.push(Unit {
                    rec,
                    name: name.clone(),
                    slug: s.slug.clone(),
                    steps: vec![s],
                    part: Some((i + 1, of)),
                });
            }
        } else {
            out.push(Unit {
                rec,
                name: name.clone(),
                slug: format!("create_{}", slug(name)),
                steps,
                part: None,
            });
        }
    }
    if out.is_empty() {
        return Err(EmitError::NothingToWrite);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_cannot_smuggle_statements() {
        assert!(one_fragment("lower(\"email\")").is_ok());
        assert!(one_fragment("status = 'a;b' AND \"x--y\" IS NULL").is_ok());
        assert!(one_fragment("deleted_at IS NULL; DROP TABLE leads").is_err());
        assert!(one_fragment("a -- rest").is_err());
        assert!(one_fragment("a /* b */").is_err());
        assert!(one_fragment("lower(email").is_err());
        assert!(one_fragment("a)").is_err());
        assert!(one_fragment("'open").is_err());
    }

    #[test]
    fn partitioned_steps_in_order() {
        let rec = IndexRecommendation {
            table: "app.Events".into(),
            columns: vec![crate::sql::index_key::IndexKey::column("entity_id")],
            method: "btree".into(),
            partitions: vec!["app.events_p1".into()],
            ..Default::default()
        };
        let s = steps(&rec).unwrap();
        let kinds: Vec<StepKind> = s.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [StepKind::Parent, StepKind::Partition, StepKind::Attach]
        );
        assert_eq!(s[0].name, "events_entity_id_idx");
        assert!(s[0].up[0].contains(" ON ONLY \"app\".\"Events\" "));
        assert_eq!(
            s[2].up,
            ["ALTER INDEX \"app\".\"events_entity_id_idx\" ATTACH PARTITION \"app\".\"events_p1_entity_id_idx\""]
        );
        assert!(!s[0].concurrent() && s[1].concurrent() && !s[2].concurrent());
    }
}
