//! The moves of one step: which are possible on a table, what each costs and saves (asked
//! or derived), their ranking by net gain per byte, and the lazy check of the best one.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::greedy::Search;
use super::ids::Id;
use super::Oracle;

/// One step the search can take on a table: add `c`, or widen `replaced` into `c`.
#[derive(Debug, Clone)]
pub(super) struct Move {
    pub(super) c: Id,
    pub(super) replaced: Option<Id>,
    /// Bytes it adds.
    pub(super) dsize: i64,
    /// Index maintenance it adds, and the read cost it saves (same units).
    pub(super) write: f64,
    pub(super) read: f64,
}

/// A move's place in the queue: higher score first, then table and move order (determinism).
#[derive(Debug, PartialEq)]
pub(super) struct Ranked(f64, usize, usize);

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

/// A move's score: net gain per byte; widening that costs (almost) nothing in size is scored
/// as one page.
#[allow(clippy::cast_precision_loss)]
fn score(m: &Move) -> f64 {
    (m.read - m.write) / m.dsize.max(8192) as f64
}

impl<O: Oracle> Search<'_, O> {
    /// Rebuild and re-cost the moves of the tables the last step touched.
    pub(super) async fn rebuild_moves(&mut self) {
        for t in std::mem::take(&mut self.state.stale) {
            let list = self.possible_moves(t);
            let built = self.cost_moves(t, list).await;
            self.state.moves[t] = Some(built);
        }
    }

    /// The moves on table t: each candidate not chosen yet (while --max-indexes allows one
    /// more), and each chosen plain index widened by one column of the table's candidates.
    fn possible_moves(&mut self, t: usize) -> Vec<(Id, Option<Id>)> {
        let mut list: Vec<(Id, Option<Id>)> = Vec::new();
        let st = &self.state;
        if self.opts.max_indexes.is_none_or(|m| st.chosen.len() < m) {
            for &c in &self.tables.cands[t] {
                if !st.chosen_set.contains(&c) {
                    list.push((c, None));
                }
            }
        }
        let on_table: Vec<Id> = st
            .chosen
            .iter()
            .copied()
            .filter(|&s| self.costs.ids.table(s) == t)
            .collect();
        for s in on_table {
            let sc = self.costs.ids.get(s).clone();
            if sc.columns.len() >= self.opts.max_width || !sc.include.is_empty() {
                continue;
            }
            for col in &self.tables.widen_cols[t] {
                if sc.keys().contains(&&col.expr) {
                    continue;
                }
                let mut w = sc.clone();
                w.columns.push(col.clone());
                let w = self.costs.ids.id(&w);
                if !self.state.chosen_set.contains(&w) {
                    list.push((w, Some(s)));
                }
            }
        }
        list
    }

    /// Size, maintenance and read gain of each move on table t, asking only for the costs
    /// that cannot be derived.
    async fn cost_moves(&mut self, t: usize, list: Vec<(Id, Option<Id>)>) -> Vec<Move> {
        let mut built = Vec::with_capacity(list.len());
        let mut pairs = Vec::new();
        for (c, replaced) in list {
            let dsize = self.costs.size(c).await
                - match replaced {
                    Some(r) => self.costs.size(r).await,
                    None => 0,
                };
            for &q in &self.tables.affected[t] {
                let now = &self.state.now_rel[q];
                pairs.extend(self.costs.derive(q, now, c, replaced, self.tables.large));
            }
            let write =
                self.costs.maintenance(c) - replaced.map_or(0.0, |r| self.costs.maintenance(r));
            built.push(Move {
                c,
                replaced,
                dsize,
                write,
                read: 0.0,
            });
        }
        self.costs.eval_many(pairs).await;
        for m in &mut built {
            m.read = self.gain(t, m);
        }
        built
    }

    /// How much move m on table t lowers the weighted cost of the statements on that table.
    fn gain(&self, t: usize, m: &Move) -> f64 {
        let st = &self.state;
        self.costs
            .read_gain(&st.now_rel, &st.cost_now, m, &self.tables.affected[t])
    }

    /// The moves that fit the budget and gain enough, best first; those turned down for their
    /// writes alone are recorded as withheld (replacing the previous step's list).
    pub(super) fn rank(&mut self, used_bytes: i64, min_gain: &[f64]) -> BinaryHeap<Ranked> {
        let mut queue: Vec<Ranked> = Vec::new();
        let st = &mut self.state;
        st.withheld.clear();
        for (t, list) in st.moves.iter().enumerate() {
            for (i, m) in list.iter().flatten().enumerate() {
                if self
                    .opts
                    .budget_bytes
                    .is_some_and(|b| used_bytes + m.dsize > b)
                {
                    continue;
                }
                let gain = m.read - m.write;
                if gain < min_gain[t] {
                    if m.read >= min_gain[t] && m.write > 0.0 && m.replaced.is_none() {
                        st.withheld.insert(m.c, (m.read, m.write, min_gain[t]));
                    }
                    continue;
                }
                queue.push(Ranked(score(m), t, i));
            }
        }
        BinaryHeap::from(queue)
    }

    /// Lazy verification: the best move by (partly derived) score is costed for real before
    /// it is taken; if it falls behind, the next one is checked, and so on.
    pub(super) async fn best_move(
        &mut self,
        mut queue: BinaryHeap<Ranked>,
        min_gain: &[f64],
    ) -> Option<Move> {
        while let Some(Ranked(_, t, i)) = queue.pop() {
            let m = self.state.moves[t]
                .as_ref()
                .expect("moves of a queued table")[i]
                .clone();
            let unverified: Vec<(usize, Vec<Id>)> = self.tables.affected[t]
                .iter()
                .map(|&q| {
                    let now = &self.state.now_rel[q];
                    (q, self.costs.relevant_with(q, now, m.c, m.replaced))
                })
                .filter(|(q, rel)| self.costs.needs_call(*q, rel))
                .collect();
            if unverified.is_empty() {
                return Some(m);
            }
            self.costs.eval_many(unverified).await;
            let read = self.gain(t, &m);
            let m = &mut self.state.moves[t]
                .as_mut()
                .expect("moves of a queued table")[i];
            m.read = read;
            if read - m.write >= min_gain[t] {
                queue.push(Ranked(score(m), t, i));
            }
        }
        None
    }
}
