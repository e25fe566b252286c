//! What the search knows about costs: the what-if cache, keyed on (statement, relevant
//! indexes), the costs it derives instead of asking, index sizes and index maintenance.
//!
//! Kept apart from the search's state so every step can ask for costs while it reads or
//! changes that state.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::ids::{Id, Ids, Name};
use super::moves::Move;
use super::Candidate;
use super::{Oracle, SearchOptions, StmtInput};
use crate::advisor::writes::Writes;

/// A what-if result in ids.
#[derive(Debug, Clone)]
pub(super) struct Costed {
    pub(super) cost: f64,
    pub(super) used: Box<[Id]>,
}

/// The what-if machinery of one search.
pub(super) struct Costs<'a, O: Oracle> {
    pub(super) stmts: &'a [StmtInput],
    pub(super) oracle: &'a mut O,
    pub(super) ids: Ids,
    /// Per statement: relevant indexes -> what-if result.
    pub(super) cache: Vec<HashMap<Box<[Id]>, Costed>>,
    /// Per statement: costs derived without a what-if call (see `useless`), for moves from
    /// its current configuration (cleared when that changes); never reported as final.
    pub(super) derived: Vec<HashMap<Box<[Id]>, Costed>>,
    /// Per statement: indexes a plan had and did not use, since the statement's current
    /// configuration was set (a new index can make another one useful: a merge join wants
    /// both sides sorted, so these are forgotten when that configuration changes) ...
    pub(super) useless: Vec<HashSet<Id>>,
    /// ... and those its plan passed over with every candidate available (the screening).
    pub(super) screened_useless: Vec<HashSet<Id>>,
    pub(super) failed: BTreeMap<usize, String>,
    pub(super) sizes: HashMap<Id, i64>,
    pub(super) maintenance: HashMap<Id, f64>,
    /// Per statement: the (table, column) names it constrains, sorted.
    pub(super) cols: Vec<Vec<Name>>,
    writes: Writes,
}

impl<'a, O: Oracle> Costs<'a, O> {
    pub(super) fn new(
        stmts: &'a [StmtInput],
        oracle: &'a mut O,
        mut ids: Ids,
        opts: &SearchOptions,
    ) -> Self {
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
        let n = stmts.len();
        Costs {
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
            writes: Writes::new(stmts, &opts.existing, opts.write_cost_per_row),
        }
    }

    /// The candidates of `config` the planner could use for statement `q`, sorted.
    pub(super) fn relevant(&self, q: usize, config: &[Id]) -> Vec<Id> {
        let mut r: Vec<Id> = config
            .iter()
            .copied()
            .filter(|&c| self.usable(q, c))
            .collect();
        r.sort_unstable();
        r
    }

    /// Statement q reads c's table and names its leading column.
    pub(super) fn usable(&self, q: usize, c: Id) -> bool {
        self.ids.lead[c as usize].is_some_and(|n| self.cols[q].binary_search(&n).is_ok())
    }

    /// `relevant(q, config)` where config is the one `now` came from with `replaced` (if
    /// any) swapped for `c`.
    pub(super) fn relevant_with(
        &self,
        q: usize,
        now: &[Id],
        c: Id,
        replaced: Option<Id>,
    ) -> Vec<Id> {
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
    pub(super) fn known(&self, q: usize, rel: &[Id]) -> Option<&Costed> {
        self.cache[q].get(rel).or_else(|| self.derived[q].get(rel))
    }

    /// Cost of statement q with exactly these relevant indexes (0 when it cannot be planned).
    pub(super) fn cost_of(&self, q: usize, rel: &[Id]) -> f64 {
        if self.failed.contains_key(&q) {
            return 0.0;
        }
        self.known(q, rel).map_or(0.0, |e| e.cost)
    }

    pub(super) fn cost(&self, q: usize, config: &[Id]) -> f64 {
        self.cost_of(q, &self.relevant(q, config))
    }

    /// How much a move lowers the weighted cost of the statements on its table.
    pub(super) fn read_gain(
        &self,
        now_rel: &[Vec<Id>],
        cost_now: &[f64],
        m: &Move,
        on: &[usize],
    ) -> f64 {
        on.iter()
            .map(|&q| {
                let rel = self.relevant_with(q, &now_rel[q], m.c, m.replaced);
                self.stmts[q].weight * (cost_now[q] - self.cost_of(q, &rel))
            })
            .sum()
    }

    /// Statement q can be planned and was never asked with these relevant indexes.
    pub(super) fn needs_call(&self, q: usize, rel: &[Id]) -> bool {
        !self.failed.contains_key(&q) && !self.cache[q].contains_key(rel)
    }

    /// The asked what-if result of statement q under `config` (the final plans).
    pub(super) fn plan(&self, q: usize, config: &[Id]) -> Option<&Costed> {
        self.cache[q].get(&self.relevant(q, config)[..])
    }

    /// Cost derivation (after Chaudhuri & Narasayya's atomic configurations) for statement q
    /// under a move from its relevant indexes `now`: an index a statement's plan already
    /// passed over is assumed to stay unused in a larger configuration, and widening by a
    /// column the statement never names cannot help it; such pairs cost what the current
    /// configuration costs. The move that wins a step is costed for real before it is taken
    /// (see `Search::best_move`). Returns the pair to ask when the cost cannot be derived.
    pub(super) fn derive(
        &mut self,
        q: usize,
        now: &[Id],
        c: Id,
        replaced: Option<Id>,
        large: bool,
    ) -> Option<(usize, Vec<Id>)> {
        let rel = self.relevant_with(q, now, c, replaced);
        if rel == now {
            return None;
        }
        let known = self.known(q, now).cloned();
        let foreign_column = replaced.is_some()
            && self.ids.last[c as usize].is_some_and(|l| self.cols[q].binary_search(&l).is_err());
        // Large workloads: a new index costs at best what it costs alone or what the
        // statement costs now (the derivation of budget-aware tuning, Wu et al. SIGMOD 2022).
        let alone = (large && !now.is_empty())
            .then(|| self.cache[q].get(&[c][..]))
            .flatten()
            .cloned();
        // ... and widening an index the statement's plan does not use leaves it where it is.
        let unused_widened =
            large && replaced.is_some_and(|r| known.as_ref().is_some_and(|e| !e.used.contains(&r)));
        let asked = self.cache[q].contains_key(&rel[..]);
        match (known, alone) {
            (Some(e), _)
                if foreign_column
                    || unused_widened
                    || replaced.is_none()
                        && (self.useless[q].contains(&c)
                            || self.screened_useless[q].contains(&c)) =>
            {
                if !asked {
                    self.derived[q].insert(rel.into_boxed_slice(), e);
                }
                None
            }
            (Some(e), Some(a)) if !asked => {
                let best = if a.cost < e.cost { a } else { e };
                self.derived[q].insert(rel.into_boxed_slice(), best);
                None
            }
            _ => Some((q, rel)),
        }
    }

    pub(super) async fn eval_many(&mut self, pairs: Vec<(usize, Vec<Id>)>) {
        let mut todo: Vec<(usize, Vec<Id>)> = pairs
            .into_iter()
            .filter(|(q, rel)| self.needs_call(*q, rel))
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

    /// Cost of keeping index `c` up to date (see [`crate::advisor::writes`]).
    pub(super) fn maintenance(&mut self, c: Id) -> f64 {
        if let Some(&m) = self.maintenance.get(&c) {
            return m;
        }
        let m = self.writes.added(self.ids.get(c));
        self.maintenance.insert(c, m);
        m
    }

    pub(super) async fn size(&mut self, c: Id) -> i64 {
        if let Some(s) = self.sizes.get(&c) {
            return *s;
        }
        let s = self.oracle.size(self.ids.get(c)).await;
        self.sizes.insert(c, s);
        s
    }
}
