//! Choosing a set of indexes for the whole workload under a storage budget.
//!
//! The search is greedy on benefit per byte, in the spirit of Extend (Schlosser et al., ICDE
//! 2019): each step either adds a candidate (of any width, so one wide high-benefit index can
//! win at a small budget) or widens an index already chosen by one column, and interactions
//! are re-evaluated after every step because two indexes on one table rarely add up.
//!
//! Why the cache is keyed on (statement, relevant indexes): the planner can only use an index
//! whose table the statement reads and whose leading column it names (filters, joins, sorts,
//! groups on or reads in a correlated subquery).
//! Two configurations that differ only in other indexes cost the same for that statement, so
//! most what-if calls of a step are answered from earlier steps.
//!
//! The search lives in steps, one file each concern: `ids` interns candidates, `costs`
//! holds the what-if cache and the cost derivation, `moves` builds, ranks and verifies the
//! moves of a step, and `greedy` runs the steps over one state.

mod costs;
mod greedy;
mod ids;
mod moves;

use std::collections::BTreeMap;

use super::candidates::{Access, Candidate};
// One import of the key types for the whole search (the submodules name them through it).
use crate::sql::index_key::{IndexKey, KeyExpr};

/// One statement of the workload, as the search sees it.
#[derive(Debug, Clone, Default)]
pub struct StmtInput {
    pub fingerprint: String,
    pub query: String,
    /// The text to plan when it differs from `query` (see `workload::Statement::example`).
    pub example: Option<String>,
    /// How often it runs (calls), the weight of its cost.
    pub weight: f64,
    pub mean_ms: f64,
    pub accesses: Vec<Access>,
    /// Rows written per the statistics window, per table (INSERT/UPDATE/DELETE).
    pub writes: Vec<(String, f64)>,
    /// UPDATE: columns it sets (an index on them stops HOT updates).
    pub updated: Vec<String>,
    /// What kind of statement it is (decides what its writes cost an index); None: unknown.
    pub kind: Option<crate::workload::shape::StatementKind>,
}

/// The result of one what-if call.
#[derive(Debug, Clone, PartialEq)]
pub struct Eval {
    pub cost: f64,
    /// The indexes the plan uses, as positions in the request's list.
    pub used: Vec<usize>,
}

/// Where costs come from: HypoPG on the server, or dbopt's own model.
pub trait Oracle {
    /// Cost each (statement, indexes) pair; an error is that statement's planning error.
    fn evaluate(
        &mut self,
        reqs: &[(usize, Vec<Candidate>)],
    ) -> impl std::future::Future<Output = Vec<Result<Eval, String>>>;
    /// Estimated size of an index in bytes.
    fn size(&mut self, c: &Candidate) -> impl std::future::Future<Output = i64>;
    /// Whether the server accepts the index at all (an expression it cannot index, a column
    /// a view renamed): a bad candidate is dropped, not allowed to fail its statements.
    fn check(&mut self, _c: &Candidate) -> impl std::future::Future<Output = Result<(), String>> {
        std::future::ready(Ok(()))
    }
    /// Uncached what-if calls so far.
    fn calls(&self) -> u64;
    /// "hypopg" or "dbopt-cost-model".
    fn name(&self) -> &'static str;
}

#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub budget_bytes: Option<i64>,
    pub max_indexes: Option<usize>,
    pub max_width: usize,
    /// Each step (a new index, or a wider one) must lower the workload's current estimated cost
    /// by at least this share (0.01 = 1 %).
    pub min_improvement: f64,
    /// ... or lower the current cost of the statements it can change (those on its table) by
    /// at least this share: a table with a small part of the workload still gets the index
    /// that makes its own statements much cheaper. None: the workload rule alone.
    pub min_table_improvement: Option<f64>,
    /// Planner cost units per index entry written (insert or non-HOT update).
    pub write_cost_per_row: f64,
    /// The columns the tables' existing indexes read (see [`super::writes`]).
    pub existing: super::writes::Existing,
}

impl SearchOptions {
    /// The minimum benefit, in plain words (the report states it).
    pub fn rule(&self) -> String {
        let w = format!(
            "each index must lower the workload's estimated cost by at least {} %",
            self.min_improvement * 100.0
        );
        match self.min_table_improvement {
            Some(t) => format!(
                "{w}, or the cost of the statements on its table by at least {} %",
                t * 100.0
            ),
            None => w,
        }
    }
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            budget_bytes: None,
            max_indexes: None,
            max_width: 3,
            min_improvement: 0.01,
            min_table_improvement: Some(0.2),
            write_cost_per_row: 2.0,
            existing: super::writes::Existing::new(),
        }
    }
}

/// Above this many (statement, candidate) pairs the search screens candidates and derives
/// costs instead of asking for each (TPC-H has about 600; 10,000 statements on 500 tables
/// about 100,000).
const LARGE_WORKLOAD_PAIRS: usize = 20_000;

/// A candidate the search turned down because its index maintenance left too little of its
/// read savings: `read_benefit - write_cost < min_gain` although `read_benefit >= min_gain`.
#[derive(Debug, Clone)]
pub struct Withheld {
    pub candidate: Candidate,
    pub read_benefit: f64,
    pub write_cost: f64,
    /// The smallest net gain a step had to reach when it was turned down.
    pub min_gain: f64,
}

impl Withheld {
    /// Why it was turned down, from the very numbers the decision compared: "outweighs" only
    /// when the maintenance is larger than the savings, else the net gain against the minimum.
    pub fn reason(&self) -> String {
        let (read, write) = (self.read_benefit, self.write_cost);
        if write > read {
            format!(
                "withheld: write-heavy table, estimated index maintenance {write:.0} outweighs the read savings {read:.0} (cost units)"
            )
        } else {
            format!(
                "withheld: write-heavy table, read savings {read:.0} minus estimated index maintenance {write:.0} leave {:.0}, below the {:.0} a new index must save (cost units)",
                read - write,
                self.min_gain
            )
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub chosen: Vec<Candidate>,
    pub sizes: BTreeMap<Candidate, i64>,
    /// Per statement: cost with no new index, and with the chosen set (weighted by calls: no).
    pub base: Vec<f64>,
    pub after: Vec<f64>,
    /// Per statement: chosen candidates its final plan uses.
    pub used: Vec<Vec<Candidate>>,
    /// Statements that could not be planned, with the error.
    pub failed: BTreeMap<usize, String>,
    pub withheld: Vec<Withheld>,
    /// Candidates the server refused to create, with its error.
    pub invalid: Vec<(Candidate, String)>,
    /// The minimum benefit the search applied, in plain words.
    pub rule: String,
    /// Index maintenance cost of the chosen set (same units as the workload cost).
    pub write_cost: f64,
    pub steps: usize,
}

impl StmtInput {
    /// What a what-if call plans for this statement.
    pub fn plan_text(&self) -> &str {
        self.example.as_deref().unwrap_or(&self.query)
    }
}

impl Outcome {
    pub fn workload_cost(&self, stmts: &[StmtInput], after: bool) -> f64 {
        let v = if after { &self.after } else { &self.base };
        stmts.iter().zip(v).map(|(s, c)| s.weight * c).sum()
    }
}

/// Whether index `w` serves whatever `c` would: same table, method and predicate, `c`'s keys
/// lead `w`'s, and `c`'s INCLUDE columns are in `w` (as keys or INCLUDE).
fn serves(w: &Candidate, c: &Candidate) -> bool {
    w.table == c.table
        && w.method == c.method
        && w.predicate == c.predicate
        && w.columns.starts_with(&c.columns)
        && c.include
            .iter()
            .all(|i| w.include.contains(i) || w.keys().iter().any(|k| k.is_column(i)))
}

/// Run the search.
pub async fn search<O: Oracle>(
    stmts: &[StmtInput],
    candidates: &[Candidate],
    oracle: &mut O,
    opts: &SearchOptions,
) -> Outcome {
    greedy::Search::run(stmts, candidates, oracle, opts).await
}

#[cfg(test)]
mod tests;
