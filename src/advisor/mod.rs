//! Index advice for a whole workload: candidates from every statement's shape, what-if costs
//! (HypoPG or dbopt's model), a greedy search for the best set under a budget, and a report
//! that shows the evidence.
//!
//! This module never talks to a server itself: the caller hands in an [`select::Oracle`], the
//! HypoPG one (`crate::pg::hypo`) or dbopt's cost model ([`oracle::CostModel`]).

pub mod candidates;
pub mod oracle;
pub mod report;
pub mod select;
pub mod size;
pub mod writes;

use std::collections::BTreeSet;

use crate::catalog::{Catalog, TableKind};
use crate::findings::Fix;
use crate::sql::ddl;
use crate::sql::index_key::KeyExpr;
use crate::workload::plannable::{self, plannable, Plannable};
use crate::workload::shape::{self, PredKind, PredValue, StatementKind};
use crate::workload::Workload;
use candidates::{Access, Candidate, OrderCol};
use report::{AdviseReport, IndexRecommendation, Skipped, StatementBenefit, WorkloadCost};
use select::{Outcome, StmtInput};

/// Which statements and tables take part.
#[derive(Debug, Clone)]
pub struct Filters {
    pub min_calls: i64,
    pub min_time_ms: f64,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Tables with fewer rows get no advice (a scan of them is as cheap as an index).
    pub min_rows: f64,
    pub max_width: usize,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            min_calls: 1,
            min_time_ms: 0.0,
            include: vec![],
            exclude: vec![],
            min_rows: 1_000.0,
            max_width: 3,
        }
    }
}

/// The workload as the search sees it, with what was left out and why.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub stmts: Vec<StmtInput>,
    pub candidates: Vec<Candidate>,
    pub skipped: Vec<Skipped>,
    /// Statements that read only system catalogs (monitoring tools, dbopt itself): ignored.
    pub system_statements: usize,
    /// The workload's SELECT/INSERT/UPDATE/DELETE/MERGE statements (after --min-calls and
    /// --min-time, system statements left out), whether or not they take part in the search:
    /// what `workload.planned` counts.
    pub dml: Vec<Dml>,
    /// Statements dbopt could not parse (or refused as too large).
    pub unparsed: usize,
    /// Statements that parsed but name no relation of the catalog, and those names: a workload
    /// of only these is for another database.
    pub on_unknown_tables: usize,
    pub unknown_tables: BTreeSet<String>,
    /// Statements naming at least one relation of the catalog (whether or not they get advice).
    pub on_known_tables: usize,
}

impl Prepared {
    /// Some statements were given, and not one of them can be used: none parses, or none names
    /// a table of this database. (System-catalog statements and utility commands are not
    /// counted either way.)
    pub fn nothing_usable(&self) -> bool {
        self.on_known_tables == 0 && (self.unparsed + self.on_unknown_tables) > 0
    }
}

/// One DML statement of the workload, as the server is to plan it.
#[derive(Debug, Clone)]
pub struct Dml {
    /// As the workload holds it (for the report).
    pub query: String,
    pub plan: Plannable,
    /// Its position in [`Prepared::stmts`] when it takes part in the search.
    pub stmt: Option<usize>,
}

fn matches_table(list: &[String], table: &str) -> bool {
    let bare = table.split_once('.').map_or(table, |x| x.1);
    list.iter().any(|t| t == table || t == bare)
}

/// The lower-case identifiers a statement names outside string literals.
fn identifiers(sql: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_str = false;
    let mut word = String::new();
    for ch in sql.chars().chain(std::iter::once(' ')) {
        if ch == '\'' {
            in_str = !in_str;
            word.clear();
            continue;
        }
        if in_str {
            continue;
        }
        if ch.is_ascii_alphanumeric() || ch == '_' {
            word.push(ch.to_ascii_lowercase());
        } else if !word.is_empty() {
            out.insert(std::mem::take(&mut word));
        }
    }
    out
}

/// A constant predicate as SQL for a partial index (`"deleted_at" IS NULL`, `"status" = 'new'`);
/// `value` is the constant as dbopt rendered it.
fn constant_sql(column: &str, op: &str, value: Option<&str>) -> Option<String> {
    let col = crate::sql::quote_ident(column);
    match op {
        "IS NULL" => Some(format!("{col} IS NULL")),
        "=" | "IS TRUE" | "IS FALSE" => Some(format!("{col} = {}", value?)),
        _ => None,
    }
}

/// Parse and resolve every statement, reduce it to table accesses, and generate candidates.
pub fn prepare(
    catalog: &Catalog,
    workload: &Workload,
    search_path: &[String],
    f: &Filters,
) -> Prepared {
    let mut prep = Preparing {
        catalog,
        search_path,
        f,
        p: Prepared::default(),
        cands: Vec::new(),
    };
    for s in &workload.statements {
        if s.calls < f.min_calls || s.total_ms < f.min_time_ms {
            continue;
        }
        prep.statement(s);
    }
    let Preparing {
        mut p, mut cands, ..
    } = prep;
    cands.sort();
    p.candidates = cands;
    p
}

/// What [`prepare`] reads, and what it has gathered so far.
struct Preparing<'a> {
    catalog: &'a Catalog,
    search_path: &'a [String],
    f: &'a Filters,
    p: Prepared,
    cands: Vec<Candidate>,
}

impl Preparing<'_> {
    fn skip(&mut self, q: &str, why: String) {
        self.p.skipped.push(Skipped {
            statement: q.to_string(),
            reason: why,
        });
    }

    /// Count statement s among the workload's DML, planned as `planned`.
    fn dml(&mut self, s: &crate::workload::Statement, planned: &Plannable) {
        self.p.dml.push(Dml {
            query: s.query.clone(),
            plan: planned.clone(),
            stmt: None,
        });
    }

    /// One statement: its shape, its table accesses (and their candidates), and its place in
    /// the search, or the reason it has none.
    fn statement(&mut self, s: &crate::workload::Statement) {
        // What the server plans: the example when the source has one (constants included),
        // else the normalised text, made plannable.
        let plan = plannable(&s.query);
        let planned = s.example.as_deref().map_or_else(|| plan.clone(), plannable);
        let Some(sh) = self.shape(s, &plan, &planned) else {
            return;
        };
        let (accesses, writes, notes) = self.accesses(s, &sh);
        if accesses.is_empty() && writes.is_empty() {
            let why = if notes.is_empty() {
                "filters no user table on an indexable column".to_string()
            } else {
                notes.join("; ")
            };
            self.skip(&s.query, why);
            return;
        }
        let updated = sh.set_columns.clone();
        let p = &mut self.p;
        if let Some(d) = p.dml.last_mut() {
            d.stmt = Some(p.stmts.len());
        }
        p.stmts.push(StmtInput {
            fingerprint: s.fingerprint.clone(),
            query: s.query.clone(),
            example: (planned.sql != s.query).then(|| planned.sql.clone()),
            weight: s.calls.max(1) as f64,
            mean_ms: s.mean_ms,
            accesses,
            writes,
            updated,
            kind: Some(sh.kind),
        });
    }

    /// The statement's resolved shape; None when it is no statement to index (it is counted
    /// or skipped with the reason): unparsable, a utility command, on system catalogs only.
    fn shape(
        &mut self,
        s: &crate::workload::Statement,
        plan: &Plannable,
        planned: &Plannable,
    ) -> Option<shape::Shape> {
        let shapes = match shape::extract(&plan.parse_sql) {
            Ok(v) => v,
            // Refused before parsing (it would overflow the stack): say so, not "cannot parse".
            Err(e) if e.too_deep => {
                self.unparsed(s, plan, planned, e.to_string());
                return None;
            }
            Err(_) if plannable::reads_only_system(&plan.sql) => {
                self.p.system_statements += 1;
                return None;
            }
            // SET, SHOW, VACUUM, PREPARE, ...: nothing to index, whether or not it parses.
            Err(_) if shape::is_utility_text(&s.query) => return None,
            Err(e) => {
                self.unparsed(s, plan, planned, format!("cannot parse: {e}"));
                return None;
            }
        };
        let mut sh = shapes.into_iter().next()?;
        if sh.kind == StatementKind::Utility {
            return None;
        }
        shape::resolve(&mut sh, self.catalog, self.search_path);
        // Statements on system catalogs only (monitoring, dbopt's own) are not the workload.
        let catalog = self.catalog;
        let system = |t: &str| {
            let bare = t.rsplit('.').next().unwrap_or(t);
            t.starts_with("pg_catalog.")
                || t.starts_with("information_schema.")
                || (bare.starts_with("pg_") && catalog.table(t).is_none())
        };
        if sh.accesses.iter().all(|a| system(&a.table)) {
            self.p.system_statements += 1;
            return None;
        }
        self.dml(s, planned);
        let p = &mut self.p;
        if sh
            .accesses
            .iter()
            .any(|a| catalog.table(&a.table).is_some())
        {
            p.on_known_tables += 1;
        } else {
            p.on_unknown_tables += 1;
            p.unknown_tables.extend(
                sh.accesses
                    .iter()
                    .filter(|a| !system(&a.table))
                    .map(|a| a.table.clone()),
            );
        }
        Some(sh)
    }

    /// A statement dbopt could not parse (or refused): counted, skipped with `why`, and among
    /// the DML when its text is DML.
    fn unparsed(
        &mut self,
        s: &crate::workload::Statement,
        plan: &Plannable,
        planned: &Plannable,
        why: String,
    ) {
        if plan.is_dml() {
            self.dml(s, planned);
        }
        self.p.unparsed += 1;
        self.skip(&s.query, why);
    }

    /// The statement's indexable table accesses (their candidates added to the list), the rows
    /// it writes per table, and notes on the tables it leaves out.
    fn accesses(
        &mut self,
        s: &crate::workload::Statement,
        sh: &shape::Shape,
    ) -> (Vec<Access>, Vec<(String, f64)>, Vec<String>) {
        let (catalog, f) = (self.catalog, self.f);
        let mut accesses = Vec::new();
        let mut writes = Vec::new();
        let mut notes = Vec::new();
        let named = identifiers(&s.query);
        for ta in &sh.accesses {
            let Some(t) = catalog.table(&ta.table) else {
                continue;
            };
            if t.schema == "pg_catalog"
                || t.schema == "information_schema"
                || matches!(t.kind, TableKind::View | TableKind::Foreign)
            {
                continue;
            }
            let q = t.qualified();
            if !f.include.is_empty() && !matches_table(&f.include, &q)
                || matches_table(&f.exclude, &q)
            {
                notes.push(format!("{q} excluded by --include/--exclude"));
                continue;
            }
            if ta.target && sh.kind != StatementKind::Select {
                #[allow(clippy::cast_precision_loss)]
                writes.push((q.clone(), s.rows.max(s.calls) as f64));
            }
            let rows = size::rows(catalog, t);
            if rows < f.min_rows {
                notes.push(format!(
                    "{q} has {rows:.0} rows (below {:.0}): a scan is as cheap as an index",
                    f.min_rows
                ));
                continue;
            }
            if !t.analyzed {
                notes.push(format!("{q} has no statistics: run ANALYZE {q}"));
            }
            let a = access(ta, t, q, &named);
            if a.named().is_empty() {
                continue;
            }
            for c in candidates::for_access(&a, catalog, f.max_width) {
                if !self.cands.contains(&c) {
                    self.cands.push(c);
                }
            }
            accesses.push(a);
        }
        (accesses, writes, notes)
    }
}

/// Table access `ta` of table `t` (named `q`) as the candidate generator sees it: its
/// equality and range keys, partial-index constants, joins, sort order, and the columns the
/// statement names elsewhere (`named`: GROUP BY, correlated subqueries).
fn access(
    ta: &shape::TableAccess,
    t: &crate::catalog::Table,
    q: String,
    named: &BTreeSet<String>,
) -> Access {
    let mut a = Access {
        table: q,
        selected: ta.selected.clone(),
        limit: ta.limit_applies,
        join: ta.join_keys.iter().cloned().map(KeyExpr::Column).collect(),
        ..Default::default()
    };
    for pr in &ta.predicates {
        // The key as dbopt rendered it; never one holding a parameter (an index
        // expression cannot), which rendering refuses.
        let Some(key) = pr.key.clone() else { continue };
        match pr.kind {
            PredKind::Eq => {
                if let (PredValue::Constant(_), KeyExpr::Column(col)) = (&pr.value, &key) {
                    if let Some(sql) = constant_sql(col, &pr.op, pr.value_sql.as_deref()) {
                        a.constants.push((col.clone(), sql));
                    }
                }
                a.eq.push(key);
            }
            PredKind::Range => a.range.push(key),
            PredKind::NotIndexable => {}
        }
    }
    a.order = ta
        .order_by
        .iter()
        .map(|o| OrderCol {
            column: KeyExpr::Column(o.column.clone()),
            desc: o.desc,
            nulls_first: o.nulls_first,
        })
        .collect();
    // Columns named elsewhere in the statement (GROUP BY, correlated subqueries).
    let used: BTreeSet<KeyExpr> = a.columns().into_iter().cloned().collect();
    for col in &t.columns {
        let key = KeyExpr::Column(col.name.clone());
        if named.contains(&col.name.to_ascii_lowercase()) && !used.contains(&key) {
            a.extra.push(key);
        }
    }
    a
}

/// Drop findings a recommendation already fixes: a foreign key without an index, when a
/// recommended plain (not partial) B-tree leads with its columns (in any order). The finding is matched by the
/// fix it proposes, built by the same function the rule uses.
pub fn drop_resolved(
    findings: &mut Vec<crate::findings::Finding>,
    recs: &[IndexRecommendation],
    catalog: &Catalog,
) {
    findings.retain(|f| {
        let Some(fix) = &f.fix else { return true };
        !catalog.foreign_keys.iter().any(|fk| {
            Fix::CreateIndex(ddl::foreign_key_index(&fk.table, &fk.columns)) == *fix
                && recs.iter().any(|r| {
                    // A partial index serves no foreign-key check (the check's rows need not
                    // match its predicate); only a plain B-tree does.
                    r.table == fk.table
                        && r.predicate.is_none()
                        && r.method == "btree"
                        && fk.columns.len() <= r.columns.len()
                        && fk.columns.iter().all(|c| {
                            r.columns[..fk.columns.len()]
                                .iter()
                                .any(|k| k.expr.is_column(c))
                        })
                })
        })
    });
}

/// A candidate for people, whole: `(index status, created_at DESC INCLUDE total WHERE ... on
/// public.orders)`.
fn described(c: &Candidate) -> String {
    format!(
        "(index {} on {})",
        report::index_label(&c.columns, &c.include, c.predicate.as_deref()),
        c.table
    )
}

/// Turn the search's outcome into the report.
pub fn build_report(
    catalog: &Catalog,
    workload: &Workload,
    prep: &Prepared,
    out: &Outcome,
    costing: &str,
) -> AdviseReport {
    AdviseReport {
        schema_version: report::SCHEMA_VERSION,
        dbopt_version: env!("CARGO_PKG_VERSION").into(),
        costing: costing.into(),
        recommendations: recommendations(catalog, workload, prep, out),
        workload: WorkloadCost {
            cost_before: out.workload_cost(&prep.stmts, false),
            cost_after: out.workload_cost(&prep.stmts, true) + out.write_cost,
            statements: prep.dml.len(),
            planned: None,
            searched: prep.stmts.len(),
        },
        findings: vec![],
        skipped: skipped(prep, out),
        whatif_calls: 0,
        verification: None,
    }
}

/// One recommendation per chosen index: its DDL, the statements it serves and its cost.
fn recommendations(
    catalog: &Catalog,
    workload: &Workload,
    prep: &Prepared,
    out: &Outcome,
) -> Vec<IndexRecommendation> {
    let days = workload
        .window_s
        .filter(|w| *w > 60.0)
        .map_or(1.0, |w| w / 86_400.0);
    let defs: Vec<(&str, &[crate::sql::index_key::IndexKey], Option<&str>)> = out
        .chosen
        .iter()
        .map(|c| {
            (
                c.table.as_str(),
                c.columns.as_slice(),
                c.predicate.as_deref(),
            )
        })
        .collect();
    let names = ddl::unique_names(&defs);
    // Overhead is a ratio: the cost per row cancels out.
    let model = writes::Writes::new(&prep.stmts, &writes::existing(catalog), 1.0);
    let base_total = out.workload_cost(&prep.stmts, false).max(1e-9);
    let mut recs = Vec::new();
    for (c, name) in out.chosen.iter().zip(names) {
        let statements = benefits(c, prep, out, days);
        let partitions = catalog
            .table(&c.table)
            .map(|t| t.partitions.clone())
            .unwrap_or_default();
        let served: f64 = statements
            .iter()
            .map(|s| s.cost_before * s.calls as f64)
            .sum();
        let helped: f64 = statements
            .iter()
            .map(|s| (s.cost_before - s.cost_after) * s.calls as f64)
            .sum();
        recs.push(IndexRecommendation {
            table: c.table.clone(),
            columns: c.columns.clone(),
            include: c.include.clone(),
            predicate: c.predicate.clone(),
            method: c.method.clone(),
            ddl: c.def(Some(name.clone())).create_sql(),
            name,
            size_bytes: out.sizes.get(c).copied().unwrap_or(0),
            partitions,
            reason: format!(
                "serves {} statement(s); they account for {:.1} % of the workload's estimated cost before, and this set cuts that part by {:.0} %",
                statements.len(),
                100.0 * served / base_total,
                if helped > 0.0 { 100.0 * helped / served.max(1e-9) } else { 0.0 }
            ),
            write_overhead: model.overhead(c),
            warnings: model.hot_warnings(c, workload.window_s),
            statements,
        });
    }
    recs
}

/// The statements whose final plan uses index c, with their costs and the time saved per day
/// (`days`: the statistics window in days).
fn benefits(c: &Candidate, prep: &Prepared, out: &Outcome, days: f64) -> Vec<StatementBenefit> {
    let mut statements = Vec::new();
    for (q, s) in prep.stmts.iter().enumerate() {
        if !out.used[q].contains(c) {
            continue;
        }
        let (before, after) = (out.base[q], out.after[q]);
        let saved_share = if before > 0.0 {
            (1.0 - after / before).max(0.0)
        } else {
            0.0
        };
        statements.push(StatementBenefit {
            fingerprint: s.fingerprint.clone(),
            query: s.query.clone(),
            #[allow(clippy::cast_possible_truncation)]
            calls: s.weight as i64,
            cost_before: before,
            cost_after: after,
            time_saved_ms_per_day: s.mean_ms * s.weight / days * saved_share,
        });
    }
    statements
}

/// Everything left without advice, with the reason: what preparation skipped, statements the
/// planner refused, withheld and invalid candidates, and statements no index helped.
fn skipped(prep: &Prepared, out: &Outcome) -> Vec<Skipped> {
    let mut skipped = prep.skipped.clone();
    for (q, err) in &out.failed {
        skipped.push(Skipped {
            statement: prep.stmts[*q].query.clone(),
            reason: format!("the planner could not plan it: {err}"),
        });
    }
    for w in &out.withheld {
        skipped.push(Skipped {
            statement: described(&w.candidate),
            reason: w.reason(),
        });
    }
    for (c, err) in &out.invalid {
        skipped.push(Skipped {
            statement: described(c),
            reason: format!("the server cannot build this candidate: {err}"),
        });
    }
    let helped: BTreeSet<usize> = (0..prep.stmts.len())
        .filter(|q| !out.used[*q].is_empty())
        .collect();
    for (q, s) in prep.stmts.iter().enumerate() {
        if helped.contains(&q) || out.failed.contains_key(&q) || s.accesses.is_empty() {
            continue;
        }
        skipped.push(Skipped {
            statement: s.query.clone(),
            reason: format!(
                "no candidate index paid for itself ({}), or an existing index already serves it",
                out.rule
            ),
        });
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Statement, Workload};

    #[test]
    fn utility_statements_the_parser_rejects_are_not_cannot_parse_rows() {
        let st = |q: &str| Statement {
            fingerprint: q.into(),
            query: q.into(),
            calls: 10,
            total_ms: 10.0,
            ..Default::default()
        };
        let w = Workload {
            statements: vec![
                st("CREATE FUNCTION hypopg_reset() RETURNS void LANGUAGE C VOLATILE COST 100 AS '$libdir/hypopg', 'hypopg_reset'"),
                st("/* c */ VACUUM (ANALYZE, SKIP_LOCKED) t"),
                st("SELECT * FROM t WHERE"),
            ],
            ..Default::default()
        };
        let p = prepare(
            &Catalog::default(),
            &w,
            &["public".into()],
            &Filters::default(),
        );
        let skipped: Vec<(&str, bool)> = p
            .skipped
            .iter()
            .map(|s| (s.statement.as_str(), s.reason.starts_with("cannot parse")))
            .collect();
        assert_eq!(
            skipped,
            [("SELECT * FROM t WHERE", true)],
            "{:?}",
            p.skipped
        );
    }

    /// A foreign key on child(p_id), its finding, and a recommendation on p_id with `pred`.
    fn fk_case(
        pred: Option<&str>,
    ) -> (
        Vec<crate::findings::Finding>,
        Vec<IndexRecommendation>,
        Catalog,
    ) {
        let mut cat = Catalog::default();
        cat.foreign_keys.push(crate::catalog::ForeignKey {
            name: "child_p_fkey".into(),
            table: "public.child".into(),
            columns: vec!["p_id".into()],
            ref_table: "public.p".into(),
            ref_columns: vec!["id".into()],
        });
        let finding = crate::findings::Finding {
            rule: "fk-without-index".into(),
            severity: crate::findings::Severity::Warning,
            object: "public.child".into(),
            message: String::new(),
            evidence: vec![],
            remedy: String::new(),
            fix: Some(Fix::CreateIndex(ddl::foreign_key_index(
                "public.child",
                &["p_id".into()],
            ))),
        };
        let rec = IndexRecommendation {
            table: "public.child".into(),
            columns: vec![crate::sql::index_key::IndexKey::column("p_id")],
            predicate: pred.map(str::to_string),
            method: "btree".into(),
            ..Default::default()
        };
        (vec![finding], vec![rec], cat)
    }

    #[test]
    fn a_partial_index_does_not_resolve_a_foreign_key_finding() {
        let (mut findings, recs, cat) = fk_case(Some("\"deleted_at\" IS NULL"));
        drop_resolved(&mut findings, &recs, &cat);
        assert_eq!(
            findings.len(),
            1,
            "a partial index does not serve FK checks"
        );
        let (mut findings, recs, cat) = fk_case(None);
        drop_resolved(&mut findings, &recs, &cat);
        assert!(findings.is_empty(), "a full index on the FK columns does");
    }
}
