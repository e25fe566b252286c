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

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use super::candidates::{Access, Candidate};
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

/// A candidate as the search handles it: its number in [`Ids`]. Configurations are sorted
/// lists of ids, so the millions of comparisons, hashes and cache keys of a large workload's
/// search are a few integers each instead of whole index definitions (10,000 statements on
/// 500 tables: 830 MB and half the run time went to cloning and comparing candidates).
type Id = u32;

/// A (table, column) pair as a number.
type Name = u32;

/// Interned candidates, with what the search asks of them precomputed.
struct Ids {
    all: Vec<Candidate>,
    of: HashMap<Candidate, Id>,
    /// Per id: its table (index into the search's sorted table list).
    table: Vec<usize>,
    /// Per id: (table, leading key) and (table, last key).
    lead: Vec<Option<Name>>,
    last: Vec<Option<Name>>,
    names: HashMap<(String, KeyExpr), Name>,
    tables: HashMap<String, usize>,
}

impl Ids {
    fn new(tables: &[String]) -> Self {
        Ids {
            all: Vec::new(),
            of: HashMap::new(),
            table: Vec::new(),
            lead: Vec::new(),
            last: Vec::new(),
            names: HashMap::new(),
            tables: tables
                .iter()
                .enumerate()
                .map(|(i, t)| (t.clone(), i))
                .collect(),
        }
    }

    fn name(&mut self, table: &str, col: &KeyExpr) -> Name {
        let next = Name::try_from(self.names.len()).expect("fewer than 2^32 column names");
        *self
            .names
            .entry((table.to_string(), col.clone()))
            .or_insert(next)
    }

    fn id(&mut self, c: &Candidate) -> Id {
        if let Some(&i) = self.of.get(c) {
            return i;
        }
        let i = Id::try_from(self.all.len()).expect("fewer than 2^32 candidates");
        let lead = c.key(0).map(|k| self.name(&c.table, k));
        let last = c.columns.last().map(|k| self.name(&c.table, &k.expr));
        self.table.push(self.tables[&c.table]);
        self.lead.push(lead);
        self.last.push(last);
        self.all.push(c.clone());
        self.of.insert(c.clone(), i);
        i
    }

    fn get(&self, i: Id) -> &Candidate {
        &self.all[i as usize]
    }

    fn table(&self, i: Id) -> usize {
        self.table[i as usize]
    }

    fn candidates(&self, ids: &[Id]) -> Vec<Candidate> {
        ids.iter().map(|&i| self.get(i).clone()).collect()
    }
}

/// A what-if result in ids.
#[derive(Debug, Clone)]
struct Costed {
    cost: f64,
    used: Box<[Id]>,
}

/// One step the search can take on a table: add `c`, or widen `replaced` into `c`.
#[derive(Debug, Clone)]
struct Move {
    c: Id,
    replaced: Option<Id>,
    /// Bytes it adds.
    dsize: i64,
    /// Index maintenance it adds, and the read cost it saves (same units).
    write: f64,
    read: f64,
}

/// A move's place in the queue: higher score first, then table and move order (determinism).
#[derive(Debug, PartialEq)]
struct Ranked(f64, usize, usize);

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0
            .total_cmp(&o.0)
            .then(o.1.cmp(&self.1))
            .then(o.2.cmp(&self.2))
    }
}

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

struct Search<'a, O: Oracle> {
    stmts: &'a [StmtInput],
    oracle: &'a mut O,
    ids: Ids,
    /// Per statement: relevant indexes -> what-if result.
    cache: Vec<HashMap<Box<[Id]>, Costed>>,
    /// Per statement: costs derived without a what-if call (see `useless`), for moves from
    /// its current configuration (cleared when that changes); never reported as final.
    derived: Vec<HashMap<Box<[Id]>, Costed>>,
    /// Per statement: indexes a plan had and did not use, since the statement's current
    /// configuration was set (a new index can make another one useful: a merge join wants
    /// both sides sorted, so these are forgotten when that configuration changes) ...
    useless: Vec<HashSet<Id>>,
    /// ... and those its plan passed over with every candidate available (the screening).
    screened_useless: Vec<HashSet<Id>>,
    failed: BTreeMap<usize, String>,
    sizes: HashMap<Id, i64>,
    maintenance: HashMap<Id, f64>,
    /// Per statement: the (table, column) names it constrains, sorted.
    cols: Vec<Vec<Name>>,
    writes: super::writes::Writes,
}

impl<O: Oracle> Search<'_, O> {
    /// The candidates of `config` the planner could use for statement `q`, sorted.
    fn relevant(&self, q: usize, config: &[Id]) -> Vec<Id> {
        let mut r: Vec<Id> = config
            .iter()
            .copied()
            .filter(|&c| self.usable(q, c))
            .collect();
        r.sort_unstable();
        r
    }

    /// Statement q reads c's table and names its leading column.
    fn usable(&self, q: usize, c: Id) -> bool {
        self.ids.lead[c as usize].is_some_and(|n| self.cols[q].binary_search(&n).is_ok())
    }

    /// `relevant(q, config)` where config is the one `now` came from with `replaced` (if
    /// any) swapped for `c`.
    fn relevant_with(&self, q: usize, now: &[Id], c: Id, replaced: Option<Id>) -> Vec<Id> {
        let mut r: Vec<Id> = now
            .iter()
            .copied()
            .filter(|&x| Some(x) != replaced)
            .collect();
        if self.usable(q, c) {
            if let Err(at) = r.binary_search(&c) {
                r.insert(at, c);
            }
        }
        r
    }

    /// The what-if result (asked or derived) of statement q with these relevant indexes.
    fn known(&self, q: usize, rel: &[Id]) -> Option<&Costed> {
        self.cache[q].get(rel).or_else(|| self.derived[q].get(rel))
    }

    /// Cost of statement q with exactly these relevant indexes (0 when it cannot be planned).
    fn cost_of(&self, q: usize, rel: &[Id]) -> f64 {
        if self.failed.contains_key(&q) {
            return 0.0;
        }
        self.known(q, rel).map_or(0.0, |e| e.cost)
    }

    fn cost(&self, q: usize, config: &[Id]) -> f64 {
        self.cost_of(q, &self.relevant(q, config))
    }

    /// How much a move lowers the weighted cost of the statements on its table.
    fn read_gain(&self, now_rel: &[Vec<Id>], cost_now: &[f64], m: &Move, on: &[usize]) -> f64 {
        on.iter()
            .map(|&q| {
                let rel = self.relevant_with(q, &now_rel[q], m.c, m.replaced);
                self.stmts[q].weight * (cost_now[q] - self.cost_of(q, &rel))
            })
            .sum()
    }

    async fn eval_many(&mut self, pairs: Vec<(usize, Vec<Id>)>) {
        let mut todo: Vec<(usize, Vec<Id>)> = pairs
            .into_iter()
            .filter(|(q, rel)| {
                !self.failed.contains_key(q) && !self.cache[*q].contains_key(&rel[..])
            })
            .collect();
        todo.sort_unstable();
        todo.dedup();
        if todo.is_empty() {
            return;
        }
        let reqs: Vec<(usize, Vec<Candidate>)> = todo
            .iter()
            .map(|(q, rel)| (*q, self.ids.candidates(rel)))
            .collect();
        let results = self.oracle.evaluate(&reqs).await;
        for ((q, rel), res) in todo.into_iter().zip(results) {
            match res {
                Ok(e) => {
                    for (pos, &c) in rel.iter().enumerate() {
                        if e.used.contains(&pos) {
                            self.useless[q].remove(&c);
                        } else {
                            self.useless[q].insert(c);
                        }
                    }
                    let used = e.used.iter().filter_map(|&p| rel.get(p).copied()).collect();
                    self.cache[q].insert(rel.into_boxed_slice(), Costed { cost: e.cost, used });
                }
                Err(msg) => {
                    self.failed.entry(q).or_insert(msg);
                }
            }
        }
    }

    /// Cost of keeping index `c` up to date (see [`super::writes`]).
    fn maintenance(&mut self, c: Id) -> f64 {
        if let Some(&m) = self.maintenance.get(&c) {
            return m;
        }
        let m = self.writes.added(self.ids.get(c));
        self.maintenance.insert(c, m);
        m
    }

    async fn size(&mut self, c: Id) -> i64 {
        if let Some(s) = self.sizes.get(&c) {
            return *s;
        }
        let s = self.oracle.size(self.ids.get(c)).await;
        self.sizes.insert(c, s);
        s
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
    // Tables by name: the search's per-table state is indexed by position in this list.
    let tables_of: Vec<BTreeSet<&str>> = stmts
        .iter()
        .map(|s| s.accesses.iter().map(|a| a.table.as_str()).collect())
        .collect();
    let tables: Vec<String> = tables_of
        .iter()
        .flatten()
        .copied()
        .chain(candidates.iter().map(|c| c.table.as_str()))
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut ids = Ids::new(&tables);
    let cols: Vec<Vec<Name>> = stmts
        .iter()
        .map(|s| {
            let mut v = Vec::new();
            for a in &s.accesses {
                for c in a.named() {
                    v.push(ids.name(&a.table, c));
                }
            }
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let writes = super::writes::Writes::new(stmts, &opts.existing, opts.write_cost_per_row);
    let nt = tables.len();
    let tix = |t: &str| ids.tables[t];
    // Per table: the statements that read it, and the tables those statements also read.
    let mut affected: Vec<Vec<usize>> = vec![Vec::new(); nt];
    let mut dependents: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nt];
    for (q, ts) in tables_of.iter().enumerate() {
        let ts: Vec<usize> = ts.iter().map(|t| tix(t)).collect();
        for &t in &ts {
            affected[t].push(q);
            dependents[t].extend(ts.iter().copied());
        }
    }
    let n = stmts.len();
    let mut st = Search {
        stmts,
        oracle,
        ids,
        cache: vec![HashMap::new(); n],
        derived: vec![HashMap::new(); n],
        useless: vec![HashSet::new(); n],
        screened_useless: Vec::new(),
        failed: BTreeMap::new(),
        sizes: HashMap::new(),
        maintenance: HashMap::new(),
        cols,
        writes,
    };
    let mut invalid = Vec::new();
    let mut valid: Vec<Id> = Vec::with_capacity(candidates.len());
    for c in candidates {
        match st.oracle.check(c).await {
            Ok(()) => {
                let id = st.ids.id(c);
                if !valid.contains(&id) {
                    valid.push(id);
                }
            }
            Err(e) => invalid.push((c.clone(), e)),
        }
    }
    st.eval_many((0..n).map(|q| (q, vec![])).collect()).await;
    // Screening, one call per statement with every candidate it could use (as DB2Advis
    // does): the candidates its plan then passes over are marked unused for it, so the search
    // derives rather than asks for most (statement, candidate) pairs of a large workload.
    let all_rel: Vec<Vec<Id>> = (0..n).map(|q| st.relevant(q, &valid)).collect();
    let screens: Vec<(usize, Vec<Id>)> = all_rel
        .iter()
        .enumerate()
        .filter(|(_, r)| r.len() > 1)
        .map(|(q, r)| (q, r.clone()))
        .collect();
    st.eval_many(screens.clone()).await;
    // A candidate led by the same column as one the plan chose may serve alone just as well
    // (the narrower index of a pair): it stays in play. Those leading columns are also what
    // candidate selection (AutoAdmin's) keeps for a large workload: a candidate no plan
    // picked even with every candidate available, leading with no column a picked one leads
    // with, is not worth a move of its own. A statement's only candidate was not screened and
    // stays.
    let mut picked: BTreeSet<Name> = BTreeSet::new();
    for (q, cfg) in &screens {
        let Some(used) = st.cache[*q].get(&cfg[..]).map(|e| e.used.clone()) else {
            continue;
        };
        let leads: Vec<Name> = used
            .iter()
            .filter_map(|&u| st.ids.lead[u as usize])
            .collect();
        picked.extend(leads.iter().copied());
        for &c in cfg {
            if st.ids.lead[c as usize].is_some_and(|l| leads.contains(&l)) {
                st.useless[*q].remove(&c);
            }
        }
    }
    st.screened_useless = std::mem::replace(&mut st.useless, vec![HashSet::new(); n]);
    let single: BTreeSet<Id> = all_rel
        .iter()
        .filter_map(|r| match &r[..] {
            [only] => Some(*only),
            _ => None,
        })
        .collect();
    // Exhaustive where it is cheap; screened candidates and min-derived costs where the
    // (statement, candidate) pairs run into the tens of thousands.
    let large = screens.iter().map(|(_, r)| r.len()).sum::<usize>() > LARGE_WORKLOAD_PAIRS;
    let selected: Vec<Id> = valid
        .iter()
        .copied()
        .filter(|c| {
            !large
                || single.contains(c)
                || st.ids.lead[*c as usize].is_some_and(|l| picked.contains(&l))
        })
        .collect();
    let base: Vec<f64> = (0..n).map(|q| st.cost(q, &[])).collect();
    // Columns available for widening, per table, as written in candidates (with direction);
    // the candidates of each table.
    let mut widen_cols: Vec<BTreeSet<IndexKey>> = vec![BTreeSet::new(); nt];
    let mut cands_by_table: Vec<Vec<Id>> = vec![Vec::new(); nt];
    for &c in &selected {
        let t = st.ids.table(c);
        widen_cols[t].extend(st.ids.get(c).columns.iter().cloned());
        cands_by_table[t].push(c);
    }
    let mut chosen: Vec<Id> = Vec::new();
    let mut chosen_set: HashSet<Id> = HashSet::new();
    // Turned down for their writes in the latest step: a candidate withheld early may later be
    // chosen, or become useless once another index serves its statements.
    let mut withheld: BTreeMap<Id, (f64, f64, f64)> = BTreeMap::new();
    let mut steps = 0;
    // Everything below is kept per table, so one step costs what its table's statements
    // cost, not what the whole workload does: a move on table T changes the plans of the
    // statements that read T, and the gains of moves on the tables those statements also read.
    let mut now_rel: Vec<Vec<Id>> = vec![Vec::new(); n];
    let mut cost_now: Vec<f64> = base.clone();
    let mut moves: Vec<Option<Vec<Move>>> = vec![None; nt];
    let mut stale: BTreeSet<usize> = (0..nt).filter(|&t| !cands_by_table[t].is_empty()).collect();
    loop {
        steps += 1;
        let used_bytes: i64 = chosen
            .iter()
            .map(|c| st.sizes.get(c).copied().unwrap_or(0))
            .sum();
        // Rebuild and re-cost the moves of the tables the last step touched.
        for t in std::mem::take(&mut stale) {
            let mut list: Vec<(Id, Option<Id>)> = Vec::new();
            if opts.max_indexes.is_none_or(|m| chosen.len() < m) {
                for &c in &cands_by_table[t] {
                    if !chosen_set.contains(&c) {
                        list.push((c, None));
                    }
                }
            }
            let on_table: Vec<Id> = chosen
                .iter()
                .copied()
                .filter(|&s| st.ids.table(s) == t)
                .collect();
            for s in on_table {
                let sc = st.ids.get(s).clone();
                if sc.columns.len() >= opts.max_width || !sc.include.is_empty() {
                    continue;
                }
                for col in &widen_cols[t] {
                    if sc.keys().contains(&&col.expr) {
                        continue;
                    }
                    let mut w = sc.clone();
                    w.columns.push(col.clone());
                    let w = st.ids.id(&w);
                    if !chosen_set.contains(&w) {
                        list.push((w, Some(s)));
                    }
                }
            }
            let mut built = Vec::with_capacity(list.len());
            let mut pairs = Vec::new();
            for (c, replaced) in list {
                let dsize = st.size(c).await
                    - match replaced {
                        Some(r) => st.size(r).await,
                        None => 0,
                    };
                // Cost derivation (after Chaudhuri & Narasayya's atomic configurations): an
                // index a statement's plan already passed over is assumed to stay unused in a
                // larger configuration, and widening by a column the statement never names
                // cannot help it; such pairs cost what the current configuration costs. The
                // move that wins a step is costed for real before it is taken (below).
                for &q in &affected[t] {
                    let rel = st.relevant_with(q, &now_rel[q], c, replaced);
                    if rel == now_rel[q] {
                        continue;
                    }
                    let known = st.known(q, &now_rel[q]).cloned();
                    let foreign_column = replaced.is_some()
                        && st.ids.last[c as usize]
                            .is_some_and(|l| st.cols[q].binary_search(&l).is_err());
                    // Large workloads: a new index costs at best what it costs alone or what
                    // the statement costs now (the derivation of budget-aware tuning, Wu et
                    // al. SIGMOD 2022).
                    let alone = (large && !now_rel[q].is_empty())
                        .then(|| st.cache[q].get(&[c][..]))
                        .flatten()
                        .cloned();
                    // ... and widening an index the statement's plan does not use leaves it
                    // where it is.
                    let unused_widened = large
                        && replaced
                            .is_some_and(|r| known.as_ref().is_some_and(|e| !e.used.contains(&r)));
                    let asked = st.cache[q].contains_key(&rel[..]);
                    match (known, alone) {
                        (Some(e), _)
                            if foreign_column
                                || unused_widened
                                || replaced.is_none()
                                    && (st.useless[q].contains(&c)
                                        || st.screened_useless[q].contains(&c)) =>
                        {
                            if !asked {
                                st.derived[q].insert(rel.into_boxed_slice(), e);
                            }
                        }
                        (Some(e), Some(a)) if !asked => {
                            let best = if a.cost < e.cost { a } else { e };
                            st.derived[q].insert(rel.into_boxed_slice(), best);
                        }
                        _ => pairs.push((q, rel)),
                    }
                }
                let write = st.maintenance(c) - replaced.map_or(0.0, |r| st.maintenance(r));
                built.push(Move {
                    c,
                    replaced,
                    dsize,
                    write,
                    read: 0.0,
                });
            }
            st.eval_many(pairs).await;
            for m in &mut built {
                m.read = st.read_gain(&now_rel, &cost_now, m, &affected[t]);
            }
            moves[t] = Some(built);
        }
        let upkeep: f64 = chosen.iter().map(|&c| st.maintenance(c)).sum();
        let current: f64 = (0..n)
            .map(|q| st.stmts[q].weight * cost_now[q])
            .sum::<f64>()
            + upkeep;
        // Extend's rule: a step must lower the cost the workload has now by min_improvement;
        // or the cost of the statements it touches by min_table_improvement.
        let min_gain: Vec<f64> = (0..nt)
            .map(|t| {
                let workload = current * opts.min_improvement;
                match (opts.min_table_improvement, &moves[t]) {
                    (Some(share), Some(list)) if !list.is_empty() => {
                        let touched: f64 = affected[t]
                            .iter()
                            .map(|&q| st.stmts[q].weight * cost_now[q])
                            .sum();
                        workload.min(touched * share)
                    }
                    _ => workload,
                }
            })
            .collect();
        // Per byte; widening that costs (almost) nothing in size is scored as one page.
        #[allow(clippy::cast_precision_loss)]
        let score_of = |m: &Move| (m.read - m.write) / m.dsize.max(8192) as f64;
        let mut queue: Vec<Ranked> = Vec::new();
        withheld.clear();
        for (t, list) in moves.iter().enumerate() {
            for (i, m) in list.iter().flatten().enumerate() {
                if opts.budget_bytes.is_some_and(|b| used_bytes + m.dsize > b) {
                    continue;
                }
                let gain = m.read - m.write;
                if gain < min_gain[t] {
                    if m.read >= min_gain[t] && m.write > 0.0 && m.replaced.is_none() {
                        withheld.insert(m.c, (m.read, m.write, min_gain[t]));
                    }
                    continue;
                }
                queue.push(Ranked(score_of(m), t, i));
            }
        }
        // Lazy verification: the best move by (partly derived) score is costed for real
        // before it is taken; if it falls behind, the next one is checked, and so on.
        let mut queue = BinaryHeap::from(queue);
        let mut best = None;
        while let Some(Ranked(_, t, i)) = queue.pop() {
            let m = &moves[t].as_ref().expect("moves of a queued table")[i];
            let unverified: Vec<(usize, Vec<Id>)> = affected[t]
                .iter()
                .map(|&q| (q, st.relevant_with(q, &now_rel[q], m.c, m.replaced)))
                .filter(|(q, rel)| {
                    !st.failed.contains_key(q) && !st.cache[*q].contains_key(&rel[..])
                })
                .collect();
            if unverified.is_empty() {
                best = Some(m.clone());
                break;
            }
            st.eval_many(unverified).await;
            let read = st.read_gain(&now_rel, &cost_now, m, &affected[t]);
            let m = &mut moves[t].as_mut().expect("moves of a queued table")[i];
            m.read = read;
            if read - m.write >= min_gain[t] {
                queue.push(Ranked(score_of(m), t, i));
            }
        }
        let Some(m) = best else { break };
        let t = st.ids.table(m.c);
        match m.replaced {
            Some(r) => {
                if let Some(slot) = chosen.iter_mut().find(|x| **x == r) {
                    *slot = m.c;
                }
                chosen_set.remove(&r);
            }
            None => chosen.push(m.c),
        }
        chosen_set.insert(m.c);
        withheld.remove(&m.c);
        for &q in &affected[t] {
            let rel = st.relevant_with(q, &now_rel[q], m.c, m.replaced);
            if rel != now_rel[q] {
                st.useless[q].clear();
                now_rel[q] = rel;
            }
            cost_now[q] = st.cost_of(q, &now_rel[q]);
            st.derived[q].clear();
        }
        stale = dependents[t].clone();
        stale.insert(t);
        // A new index changes every table's count against --max-indexes.
        if opts.max_indexes.is_some_and(|mx| chosen.len() >= mx) {
            stale.extend((0..nt).filter(|&t| moves[t].is_some()));
        }
    }
    // Final plans: drop chosen indexes no plan uses (or that a wider chosen one covers), then
    // cost again.
    loop {
        let pairs: Vec<(usize, Vec<Id>)> = (0..n).map(|q| (q, st.relevant(q, &chosen))).collect();
        st.eval_many(pairs).await;
        let used_any: HashSet<Id> = (0..n)
            .filter_map(|q| st.cache[q].get(&st.relevant(q, &chosen)[..]))
            .flat_map(|e| e.used.iter().copied())
            .collect();
        let before = chosen.len();
        chosen.retain(|c| used_any.contains(c));
        // An index whose keys lead another chosen index (same method, predicate) is redundant:
        // the wider one serves its statements too. Drop the narrower and cost again.
        let wider = chosen.clone();
        chosen.retain(|&c| {
            let c = st.ids.get(c);
            !wider
                .iter()
                .map(|&w| st.ids.get(w))
                .any(|w| w.columns.len() > c.columns.len() && serves(w, c))
        });
        if chosen.len() == before {
            break;
        }
    }
    let after: Vec<f64> = (0..n).map(|q| st.cost(q, &chosen)).collect();
    let used: Vec<Vec<Candidate>> = (0..n)
        .map(|q| {
            st.cache[q]
                .get(&st.relevant(q, &chosen)[..])
                .map(|e| st.ids.candidates(&e.used))
                .unwrap_or_default()
        })
        .collect();
    let write_cost = chosen.iter().map(|&c| st.maintenance(c)).sum();
    let sizes = chosen
        .iter()
        .map(|c| {
            (
                st.ids.get(*c).clone(),
                st.sizes.get(c).copied().unwrap_or(0),
            )
        })
        .collect();
    // Never both recommended and withheld: a chosen index, or one a chosen index serves
    // (its keys lead the chosen one's, same method and predicate, INCLUDE columns covered).
    let chosen_cands = st.ids.candidates(&chosen);
    let mut withheld: Vec<Withheld> = withheld
        .into_iter()
        .map(|(c, (read_benefit, write_cost, min_gain))| Withheld {
            candidate: st.ids.get(c).clone(),
            read_benefit,
            write_cost,
            min_gain,
        })
        .filter(|w| !chosen_cands.iter().any(|k| serves(k, &w.candidate)))
        .collect();
    withheld.sort_by(|a, b| a.candidate.cmp(&b.candidate));
    Outcome {
        chosen: st.ids.candidates(&chosen),
        sizes,
        base,
        after,
        used,
        failed: st.failed,
        withheld,
        invalid,
        rule: opts.rule(),
        write_cost,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy oracle: a statement costs 1000 unless an index leads with its first column (100),
    /// or 5 with a two-column index matching both its columns.
    struct Toy {
        calls: u64,
        wants: Vec<Vec<&'static str>>,
        seen: std::collections::HashSet<(usize, Vec<Candidate>)>,
    }

    impl Oracle for Toy {
        async fn evaluate(
            &mut self,
            reqs: &[(usize, Vec<Candidate>)],
        ) -> Vec<Result<Eval, String>> {
            self.calls += reqs.len() as u64;
            for r in reqs {
                assert!(self.seen.insert(r.clone()), "evaluated twice: {r:?}");
            }
            reqs.iter()
                .map(|(q, cfg)| {
                    let want = &self.wants[*q];
                    let mut best = Eval {
                        cost: 1000.0,
                        used: vec![],
                    };
                    for (pos, c) in cfg.iter().enumerate() {
                        let keys: Vec<&str> = c.keys().into_iter().map(KeyExpr::label).collect();
                        let cost = if want.len() == 2 && keys.len() >= 2 && keys[..2] == want[..] {
                            5.0
                        } else if keys[0] == want[0] {
                            100.0
                        } else {
                            continue;
                        };
                        if cost < best.cost {
                            best = Eval {
                                cost,
                                used: vec![pos],
                            };
                        }
                    }
                    Ok(best)
                })
                .collect()
        }
        async fn size(&mut self, c: &Candidate) -> i64 {
            1_000_000 * c.columns.len() as i64
        }
        fn calls(&self) -> u64 {
            self.calls
        }
        fn name(&self) -> &'static str {
            "toy"
        }
    }

    fn toy(wants: &[&[&'static str]]) -> Toy {
        Toy {
            calls: 0,
            wants: wants.iter().map(|w| w.to_vec()).collect(),
            seen: Default::default(),
        }
    }

    fn stmt(cols: &[&str], weight: f64) -> StmtInput {
        StmtInput {
            weight,
            accesses: vec![Access {
                table: "public.t".into(),
                eq: cols
                    .iter()
                    .map(|c| KeyExpr::Column(c.to_string()))
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn cand(cols: &[&str]) -> Candidate {
        Candidate::btree(
            "public.t",
            cols.iter().map(|c| IndexKey::column(*c)).collect(),
        )
    }

    #[tokio::test]
    async fn widens_and_adds_within_budget_deterministically() {
        let stmts = vec![stmt(&["a", "b"], 10.0), stmt(&["c"], 1.0)];
        let cands = vec![cand(&["a"]), cand(&["b"]), cand(&["c"])];
        let out = search(
            &stmts,
            &cands,
            &mut toy(&[&["a", "b"], &["c"]]),
            &SearchOptions::default(),
        )
        .await;
        assert_eq!(out.chosen, vec![cand(&["a", "b"]), cand(&["c"])]);
        assert_eq!(out.after, vec![5.0, 100.0]);
        let again = search(
            &stmts,
            &cands,
            &mut toy(&[&["a", "b"], &["c"]]),
            &SearchOptions::default(),
        )
        .await;
        assert_eq!(again.chosen, out.chosen);

        let tight = search(
            &stmts,
            &cands,
            &mut toy(&[&["a", "b"], &["c"]]),
            &SearchOptions {
                budget_bytes: Some(1_500_000),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            tight.chosen,
            vec![cand(&["a"])],
            "one 1 MB index fits; the heavier statement wins"
        );
    }

    #[tokio::test]
    async fn write_heavy_tables_get_their_index_withheld_with_the_reason() {
        let mut s = stmt(&["c"], 1.0);
        s.writes = vec![("public.t".into(), 1_000_000.0)];
        let out = search(
            &[s],
            &[cand(&["c"])],
            &mut toy(&[&["c"]]),
            &SearchOptions::default(),
        )
        .await;
        assert!(out.chosen.is_empty());
        assert_eq!(out.withheld.len(), 1);
        assert!(out.withheld[0].write_cost > out.withheld[0].read_benefit);
    }

    /// The report of a search on the toy oracle, for the withheld-reason tests.
    fn toy_report(
        stmts: Vec<StmtInput>,
        cands: &[Candidate],
        out: &Outcome,
    ) -> crate::advisor::report::AdviseReport {
        let prep = crate::advisor::Prepared {
            stmts,
            candidates: cands.to_vec(),
            ..Default::default()
        };
        crate::advisor::build_report(
            &crate::catalog::Catalog::default(),
            &crate::workload::Workload::default(),
            &prep,
            out,
            "toy",
        )
    }

    /// Every withheld reason states a comparison that holds for the numbers the search used:
    /// "outweighs" only when maintenance is larger than the read savings. Swept over write
    /// volumes, so the cases where maintenance is smaller than the savings but the net gain
    /// misses the minimum are among them.
    #[tokio::test]
    async fn withheld_reasons_state_a_true_comparison() {
        let mut between = 0;
        for rows in (300..=500).step_by(3) {
            let mut s = stmt(&["c"], 1.0);
            s.writes = vec![("public.t".into(), f64::from(rows))];
            let cands = [cand(&["c"])];
            let out = search(
                &[s.clone()],
                &cands,
                &mut toy(&[&["c"]]),
                &SearchOptions::default(),
            )
            .await;
            let rep = toy_report(vec![s], &cands, &out);
            let reasons: Vec<&str> = rep
                .skipped
                .iter()
                .filter(|x| x.reason.starts_with("withheld"))
                .map(|x| x.reason.as_str())
                .collect();
            assert_eq!(reasons.len(), out.withheld.len());
            for (w, reason) in out.withheld.iter().zip(&reasons) {
                assert!(w.read_benefit > 0.0 && w.write_cost > 0.0);
                if reason.contains("outweighs") {
                    assert!(w.write_cost > w.read_benefit, "{rows} rows: {reason}");
                }
                assert!(reason.contains(&format!("{:.0}", w.write_cost)), "{reason}");
                assert!(
                    reason.contains(&format!("{:.0}", w.read_benefit)),
                    "{reason}"
                );
                if w.write_cost < w.read_benefit {
                    between += 1;
                }
            }
        }
        assert!(
            between > 0,
            "the sweep must reach maintenance below the savings"
        );
    }

    /// A covering variant that an UPDATE of its INCLUDE column makes costlier is turned down
    /// while the plain index is recommended: the report must not show the plain index's
    /// description among the withheld ones (the INCLUDE column is part of what is withheld).
    #[tokio::test]
    async fn a_recommended_index_is_never_listed_as_withheld() {
        let read = stmt(&["c"], 1.0);
        let update = StmtInput {
            writes: vec![("public.t".into(), 200.0)],
            updated: vec!["x".into()],
            ..Default::default()
        };
        let mut covering = cand(&["c"]);
        covering.include = vec!["x".into()];
        let cands = [cand(&["c"]), covering];
        let stmts = vec![read, update];
        let out = search(
            &stmts,
            &cands,
            &mut toy(&[&["c"], &["zzz"]]),
            &SearchOptions::default(),
        )
        .await;
        assert_eq!(out.chosen, vec![cand(&["c"])]);
        let rep = toy_report(stmts, &cands, &out);
        for r in &rep.recommendations {
            let plain = format!("(index {} on {})", labels_of(&r.columns), r.table);
            assert!(
                !rep.skipped.iter().any(|s| s.statement == plain),
                "{plain} is recommended and listed as withheld: {:?}",
                rep.skipped
            );
        }
        for w in &out.withheld {
            assert!(!out.chosen.contains(&w.candidate));
        }
    }

    fn labels_of(keys: &[IndexKey]) -> String {
        keys.iter()
            .map(IndexKey::label)
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[tokio::test]
    async fn no_pair_is_evaluated_twice() {
        let stmts = vec![stmt(&["a", "b"], 10.0), stmt(&["c"], 1.0)];
        let cands = vec![cand(&["a"]), cand(&["b"]), cand(&["c"])];
        let mut t = toy(&[&["a", "b"], &["c"]]);
        search(&stmts, &cands, &mut t, &SearchOptions::default()).await;
        // The oracle asserts on repeats; irrelevant indexes share cache entries, so this stays
        // far below moves x statements x steps.
        assert!(t.calls < 20, "{} calls", t.calls);
    }
}
