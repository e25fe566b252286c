//! The greedy search as a sequence of steps over one [`State`]: check the candidates, screen
//! them, then step (re-cost the moves of the tables the last step touched, rank them, verify
//! the best, apply it) until no move gains enough, prune what the final plans do not use, and
//! report the outcome.
//!
//! Everything the loop carries is kept per table, so one step costs what its table's
//! statements cost, not what the whole workload does: a move on table T changes the plans of
//! the statements that read T, and the gains of moves on the tables those statements also read.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashSet};

use super::costs::Costs;
use super::ids::{Id, Ids};
use super::moves::{Move, Ranked};
use super::{
    serves, Candidate, IndexKey, Oracle, Outcome, SearchOptions, StmtInput, Withheld,
    LARGE_WORKLOAD_PAIRS,
};

/// One search: its costs, the per-table layout and the state its steps change.
pub(super) struct Search<'a, O: Oracle> {
    pub(super) costs: Costs<'a, O>,
    pub(super) opts: &'a SearchOptions,
    pub(super) tables: Tables,
    pub(super) state: State,
}

/// The tables and what belongs to each, indexed by position in the sorted table list.
pub(super) struct Tables {
    /// Per table: the statements that read it, and the tables those statements also read.
    pub(super) affected: Vec<Vec<usize>>,
    pub(super) dependents: Vec<BTreeSet<usize>>,
    /// Per table (after screening): columns available for widening, as written in
    /// candidates (with direction), and its candidates.
    pub(super) widen_cols: Vec<BTreeSet<IndexKey>>,
    pub(super) cands: Vec<Vec<Id>>,
    /// The workload is large: screened candidates and min-derived costs.
    pub(super) large: bool,
}

/// What the steps carry from one to the next.
pub(super) struct State {
    pub(super) chosen: Vec<Id>,
    pub(super) chosen_set: HashSet<Id>,
    /// Turned down for their writes in the latest step (read, write, min gain): a candidate
    /// withheld early may later be chosen, or become useless once another index serves its
    /// statements.
    pub(super) withheld: BTreeMap<Id, (f64, f64, f64)>,
    pub(super) steps: usize,
    /// Per statement: its relevant chosen indexes, and its cost with them.
    pub(super) now_rel: Vec<Vec<Id>>,
    pub(super) cost_now: Vec<f64>,
    /// Per table: its moves (None: never built).
    pub(super) moves: Vec<Option<Vec<Move>>>,
    /// Tables whose moves must be rebuilt before the next ranking.
    pub(super) stale: BTreeSet<usize>,
}

impl<'a, O: Oracle> Search<'a, O> {
    /// Run the whole search.
    pub(super) async fn run(
        stmts: &'a [StmtInput],
        candidates: &[Candidate],
        oracle: &'a mut O,
        opts: &'a SearchOptions,
    ) -> Outcome {
        let mut s = Self::new(stmts, candidates, oracle, opts);
        let (valid, invalid) = s.check(candidates).await;
        let n = stmts.len();
        s.costs
            .eval_many((0..n).map(|q| (q, vec![])).collect())
            .await;
        let selected = s.screen(&valid).await;
        let base: Vec<f64> = (0..n).map(|q| s.costs.cost(q, &[])).collect();
        s.start(&selected, &base);
        while s.step().await {}
        s.prune().await;
        s.outcome(base, invalid)
    }

    fn new(
        stmts: &'a [StmtInput],
        candidates: &[Candidate],
        oracle: &'a mut O,
        opts: &'a SearchOptions,
    ) -> Self {
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
        let ids = Ids::new(&tables);
        let nt = tables.len();
        let mut affected: Vec<Vec<usize>> = vec![Vec::new(); nt];
        let mut dependents: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nt];
        for (q, ts) in tables_of.iter().enumerate() {
            let ts: Vec<usize> = ts.iter().map(|t| ids.tables[*t]).collect();
            for &t in &ts {
                affected[t].push(q);
                dependents[t].extend(ts.iter().copied());
            }
        }
        let n = stmts.len();
        Search {
            costs: Costs::new(stmts, oracle, ids, opts),
            opts,
            tables: Tables {
                affected,
                dependents,
                widen_cols: vec![BTreeSet::new(); nt],
                cands: vec![Vec::new(); nt],
                large: false,
            },
            state: State {
                chosen: Vec::new(),
                chosen_set: HashSet::new(),
                withheld: BTreeMap::new(),
                steps: 0,
                now_rel: vec![Vec::new(); n],
                cost_now: Vec::new(),
                moves: vec![None; nt],
                stale: BTreeSet::new(),
            },
        }
    }

    /// The candidates the server accepts (as ids, first occurrence order), and those it
    /// refuses with its error.
    async fn check(&mut self, candidates: &[Candidate]) -> (Vec<Id>, Vec<(Candidate, String)>) {
        let mut invalid = Vec::new();
        let mut valid: Vec<Id> = Vec::with_capacity(candidates.len());
        for c in candidates {
            match self.costs.oracle.check(c).await {
                Ok(()) => {
                    let id = self.costs.ids.id(c);
                    if !valid.contains(&id) {
                        valid.push(id);
                    }
                }
                Err(e) => invalid.push((c.clone(), e)),
            }
        }
        (valid, invalid)
    }

    /// Screening, one call per statement with every candidate it could use (as DB2Advis
    /// does): the candidates its plan then passes over are marked unused for it, so the search
    /// derives rather than asks for most (statement, candidate) pairs of a large workload.
    /// Returns the candidates that stay in play.
    async fn screen(&mut self, valid: &[Id]) -> Vec<Id> {
        let c = &mut self.costs;
        let n = c.stmts.len();
        let all_rel: Vec<Vec<Id>> = (0..n).map(|q| c.relevant(q, valid)).collect();
        let screens: Vec<(usize, Vec<Id>)> = all_rel
            .iter()
            .enumerate()
            .filter(|(_, r)| r.len() > 1)
            .map(|(q, r)| (q, r.clone()))
            .collect();
        c.eval_many(screens.clone()).await;
        // A candidate led by the same column as one the plan chose may serve alone just as
        // well (the narrower index of a pair): it stays in play. Those leading columns are
        // also what candidate selection (AutoAdmin's) keeps for a large workload: a candidate
        // no plan picked even with every candidate available, leading with no column a picked
        // one leads with, is not worth a move of its own. A statement's only candidate was not
        // screened and stays.
        let mut picked: BTreeSet<super::ids::Name> = BTreeSet::new();
        for (q, cfg) in &screens {
            let Some(used) = c.cache[*q].get(&cfg[..]).map(|e| e.used.clone()) else {
                continue;
            };
            let leads: Vec<super::ids::Name> = used
                .iter()
                .filter_map(|&u| c.ids.lead[u as usize])
                .collect();
            picked.extend(leads.iter().copied());
            for &x in cfg {
                if c.ids.lead[x as usize].is_some_and(|l| leads.contains(&l)) {
                    c.useless[*q].remove(&x);
                }
            }
        }
        c.screened_useless = std::mem::replace(&mut c.useless, vec![HashSet::new(); n]);
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
        self.tables.large = large;
        valid
            .iter()
            .copied()
            .filter(|x| {
                !large
                    || single.contains(x)
                    || c.ids.lead[*x as usize].is_some_and(|l| picked.contains(&l))
            })
            .collect()
    }

    /// Give each table its selected candidates and the columns they can widen by; every
    /// statement starts at its base cost, every table with candidates needs its moves.
    fn start(&mut self, selected: &[Id], base: &[f64]) {
        for &c in selected {
            let t = self.costs.ids.table(c);
            let tb = &mut self.tables;
            tb.widen_cols[t].extend(self.costs.ids.get(c).columns.iter().cloned());
            tb.cands[t].push(c);
        }
        self.state.cost_now = base.to_vec();
        self.state.stale = (0..self.tables.cands.len())
            .filter(|&t| !self.tables.cands[t].is_empty())
            .collect();
    }

    /// One step: re-cost, rank, take the best move. False when no move gains enough.
    async fn step(&mut self) -> bool {
        self.state.steps += 1;
        let used_bytes: i64 = self
            .state
            .chosen
            .iter()
            .map(|c| self.costs.sizes.get(c).copied().unwrap_or(0))
            .sum();
        self.rebuild_moves().await;
        let min_gain = self.min_gains();
        let queue: BinaryHeap<Ranked> = self.rank(used_bytes, &min_gain);
        let Some(m) = self.best_move(queue, &min_gain).await else {
            return false;
        };
        self.apply(&m);
        true
    }

    /// Extend's rule, per table: a step must lower the cost the workload has now by
    /// min_improvement; or the cost of the statements it touches by min_table_improvement.
    fn min_gains(&mut self) -> Vec<f64> {
        let st = &self.state;
        let upkeep: f64 = st.chosen.iter().map(|&c| self.costs.maintenance(c)).sum();
        let stmts = self.costs.stmts;
        let current: f64 = (0..stmts.len())
            .map(|q| stmts[q].weight * st.cost_now[q])
            .sum::<f64>()
            + upkeep;
        (0..st.moves.len())
            .map(|t| {
                let workload = current * self.opts.min_improvement;
                match (self.opts.min_table_improvement, &st.moves[t]) {
                    (Some(share), Some(list)) if !list.is_empty() => {
                        let touched: f64 = self.tables.affected[t]
                            .iter()
                            .map(|&q| stmts[q].weight * st.cost_now[q])
                            .sum();
                        workload.min(touched * share)
                    }
                    _ => workload,
                }
            })
            .collect()
    }

    /// Take move m: the chosen set, the plans of the statements on its table and the tables
    /// whose moves it makes stale.
    fn apply(&mut self, m: &Move) {
        let t = self.costs.ids.table(m.c);
        let st = &mut self.state;
        match m.replaced {
            Some(r) => {
                if let Some(slot) = st.chosen.iter_mut().find(|x| **x == r) {
                    *slot = m.c;
                }
                st.chosen_set.remove(&r);
            }
            None => st.chosen.push(m.c),
        }
        st.chosen_set.insert(m.c);
        st.withheld.remove(&m.c);
        let c = &mut self.costs;
        for &q in &self.tables.affected[t] {
            let rel = c.relevant_with(q, &st.now_rel[q], m.c, m.replaced);
            if rel != st.now_rel[q] {
                c.useless[q].clear();
                st.now_rel[q] = rel;
            }
            st.cost_now[q] = c.cost_of(q, &st.now_rel[q]);
            c.derived[q].clear();
        }
        st.stale = self.tables.dependents[t].clone();
        st.stale.insert(t);
        // A new index changes every table's count against --max-indexes.
        if self
            .opts
            .max_indexes
            .is_some_and(|mx| st.chosen.len() >= mx)
        {
            let built: Vec<usize> = (0..st.moves.len())
                .filter(|&t| st.moves[t].is_some())
                .collect();
            st.stale.extend(built);
        }
    }

    /// Final plans: drop chosen indexes no plan uses (or that a wider chosen one covers),
    /// then cost again.
    async fn prune(&mut self) {
        let n = self.costs.stmts.len();
        loop {
            let chosen = &mut self.state.chosen;
            let c = &mut self.costs;
            let pairs: Vec<(usize, Vec<Id>)> = (0..n).map(|q| (q, c.relevant(q, chosen))).collect();
            c.eval_many(pairs).await;
            let used_any: HashSet<Id> = (0..n)
                .filter_map(|q| c.plan(q, chosen))
                .flat_map(|e| e.used.iter().copied())
                .collect();
            let before = chosen.len();
            chosen.retain(|x| used_any.contains(x));
            // An index whose keys lead another chosen index (same method, predicate) is
            // redundant: the wider one serves its statements too. Drop the narrower and cost
            // again.
            let wider = chosen.clone();
            chosen.retain(|&x| {
                let x = c.ids.get(x);
                !wider
                    .iter()
                    .map(|&w| c.ids.get(w))
                    .any(|w| w.columns.len() > x.columns.len() && serves(w, x))
            });
            if chosen.len() == before {
                break;
            }
        }
    }

    /// The outcome of the search.
    fn outcome(mut self, base: Vec<f64>, invalid: Vec<(Candidate, String)>) -> Outcome {
        let n = self.costs.stmts.len();
        let chosen = std::mem::take(&mut self.state.chosen);
        let c = &mut self.costs;
        let after: Vec<f64> = (0..n).map(|q| c.cost(q, &chosen)).collect();
        let used: Vec<Vec<Candidate>> = (0..n)
            .map(|q| {
                c.plan(q, &chosen)
                    .map(|e| c.ids.candidates(&e.used))
                    .unwrap_or_default()
            })
            .collect();
        let write_cost = chosen.iter().map(|&x| c.maintenance(x)).sum();
        let sizes = chosen
            .iter()
            .map(|x| (c.ids.get(*x).clone(), c.sizes.get(x).copied().unwrap_or(0)))
            .collect();
        // Never both recommended and withheld: a chosen index, or one a chosen index serves
        // (its keys lead the chosen one's, same method and predicate, INCLUDE columns covered).
        let chosen_cands = c.ids.candidates(&chosen);
        let mut withheld: Vec<Withheld> = std::mem::take(&mut self.state.withheld)
            .into_iter()
            .map(|(x, (read_benefit, write_cost, min_gain))| Withheld {
                candidate: c.ids.get(x).clone(),
                read_benefit,
                write_cost,
                min_gain,
            })
            .filter(|w| !chosen_cands.iter().any(|k| serves(k, &w.candidate)))
            .collect();
        withheld.sort_by(|a, b| a.candidate.cmp(&b.candidate));
        Outcome {
            chosen: chosen_cands,
            sizes,
            base,
            after,
            used,
            failed: std::mem::take(&mut c.failed),
            withheld,
            invalid,
            rule: self.opts.rule(),
            write_cost,
            steps: self.state.steps,
        }
    }
}
