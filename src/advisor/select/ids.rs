//! Candidates and (table, column) names as small integers, so the search compares, hashes
//! and caches configurations cheaply.

use std::collections::HashMap;

use super::{Candidate, KeyExpr};

/// A candidate as the search handles it: its number in [`Ids`]. Configurations are sorted
/// lists of ids, so the millions of comparisons, hashes and cache keys of a large workload's
/// search are a few integers each instead of whole index definitions (10,000 statements on
/// 500 tables: 830 MB and half the run time went to cloning and comparing candidates).
pub(super) type Id = u32;

/// A (table, column) pair as a number.
pub(super) type Name = u32;

/// Interned candidates, with what the search asks of them precomputed.
pub(super) struct Ids {
    all: Vec<Candidate>,
    of: HashMap<Candidate, Id>,
    /// Per id: its table (index into the search's sorted table list).
    table: Vec<usize>,
    /// Per id: (table, leading key) and (table, last key).
    pub(super) lead: Vec<Option<Name>>,
    pub(super) last: Vec<Option<Name>>,
    names: HashMap<(String, KeyExpr), Name>,
    pub(super) tables: HashMap<String, usize>,
}

impl Ids {
    pub(super) fn new(tables: &[String]) -> Self {
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

    pub(super) fn name(&mut self, table: &str, col: &KeyExpr) -> Name {
        let next = Name::try_from(self.names.len()).expect("fewer than 2^32 column names");
        *self
            .names
            .entry((table.to_string(), col.clone()))
            .or_insert(next)
    }

    pub(super) fn id(&mut self, c: &Candidate) -> Id {
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

    pub(super) fn get(&self, i: Id) -> &Candidate {
        &self.all[i as usize]
    }

    pub(super) fn table(&self, i: Id) -> usize {
        self.table[i as usize]
    }

    pub(super) fn candidates(&self, ids: &[Id]) -> Vec<Candidate> {
        ids.iter().map(|&i| self.get(i).clone()).collect()
    }
}
