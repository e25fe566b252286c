//! The sessions connected to a server and its connection limits, as plain data: what
//! `pg::activity` reads from pg_stat_activity, what a snapshot file keeps, and what the
//! connection rules and `dbopt connections` judge.
//!
//! Why here and not in `pg`: the rules, the inspection and the snapshot format all use these
//! types without a server, so they sit in the domain layer; `pg` only fills them.

use serde::{Deserialize, Serialize};

/// One client session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub pid: i32,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application: String,
    pub client: Option<String>,
    /// active, idle, idle in transaction, ...
    pub state: Option<String>,
    /// Seconds in the current state.
    pub state_age_s: Option<f64>,
    /// Seconds since the transaction started.
    pub xact_age_s: Option<f64>,
    /// Seconds since the current (or last) query started.
    pub query_age_s: Option<f64>,
    pub wait_event: Option<String>,
    /// Sessions blocking this one (pg_blocking_pids).
    #[serde(default)]
    pub blocked_by: Vec<i32>,
    /// The lock this session waits for (`ShareLock on transaction 1234`), from pg_locks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_wanted: Option<String>,
    /// Seconds it has waited for that lock (pg_locks.waitstart, PG 14+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_wait_s: Option<f64>,
    pub query: Option<String>,
}

impl Session {
    /// Seconds waiting for its lock: pg_locks.waitstart when the server has it (PG 14+),
    /// else the time in the current state.
    pub fn wait_s(&self) -> Option<f64> {
        self.lock_wait_s.or(self.state_age_s)
    }
}

/// One session of a blocking tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChainNode {
    pub pid: i32,
    /// 0 for the root blocker, 1 for the sessions it blocks, 2 for those they block, ...
    pub depth: usize,
    /// The session above it in the tree (one of its blockers).
    pub parent: Option<i32>,
    pub user: Option<String>,
    pub state: Option<String>,
    /// Seconds waiting (see [`Session::wait_s`]); None for the root.
    pub wait_s: Option<f64>,
    pub lock_wanted: Option<String>,
    /// Seconds since the transaction started (for the root: how long it has held its locks).
    pub xact_age_s: Option<f64>,
    pub query: Option<String>,
}

/// A root blocker and every session waiting beneath it, depth first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    /// `nodes[0]` is the root, then its tree in depth-first order.
    pub nodes: Vec<ChainNode>,
}

impl Chain {
    pub fn root(&self) -> &ChainNode {
        &self.nodes[0]
    }

    /// Sessions waiting beneath the root.
    pub fn waiting(&self) -> usize {
        self.nodes.len() - 1
    }

    /// The deepest level (1 when the root blocks sessions that block nobody).
    pub fn depth(&self) -> usize {
        self.nodes.iter().map(|n| n.depth).max().unwrap_or(0)
    }

    /// The longest any session in the tree has waited.
    pub fn longest_wait_s(&self) -> f64 {
        self.nodes
            .iter()
            .filter_map(|n| n.wait_s)
            .fold(0.0, f64::max)
    }
}

/// Every client session and the connection limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub max_connections: i32,
    pub reserved_connections: i32,
    /// Client backends on the whole server (what counts against max_connections).
    pub total: i64,
    pub sessions: Vec<Session>,
    /// Sessions whose query text this role cannot see.
    pub hidden: i64,
}

impl Activity {
    /// The blocking trees (pg_blocking_pids): one per root blocker, a session that blocks
    /// others and waits for nobody (or one not listed, e.g. a hidden or background process).
    /// A session waiting on several appears once, under the first found. A cycle (a
    /// deadlock not yet detected) has no root: its lowest pid stands in for one.
    pub fn blocking_chains(&self) -> Vec<Chain> {
        use std::collections::{BTreeMap, BTreeSet};
        let by_pid: BTreeMap<i32, &Session> = self.sessions.iter().map(|s| (s.pid, s)).collect();
        let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for s in &self.sessions {
            for b in &s.blocked_by {
                children.entry(*b).or_default().push(s.pid);
            }
        }
        let is_root = |p: &i32| by_pid.get(p).is_none_or(|s| s.blocked_by.is_empty());
        let mut starts: Vec<i32> = children.keys().copied().filter(is_root).collect();
        // Cycles last: every blocker not reached from a real root.
        starts.extend(children.keys().copied().filter(|p| !is_root(p)));
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for start in starts {
            if seen.contains(&start) {
                continue;
            }
            let mut chain = Chain::default();
            let mut stack = vec![(start, 0usize, None)];
            while let Some((pid, depth, parent)) = stack.pop() {
                if !seen.insert(pid) {
                    continue;
                }
                let s = by_pid.get(&pid);
                chain.nodes.push(ChainNode {
                    pid,
                    depth,
                    parent,
                    user: s.and_then(|s| s.user.clone()),
                    state: s.and_then(|s| s.state.clone()),
                    wait_s: s.filter(|_| depth > 0).and_then(|s| s.wait_s()),
                    lock_wanted: s.and_then(|s| s.lock_wanted.clone()),
                    xact_age_s: s.and_then(|s| s.xact_age_s),
                    query: s.and_then(|s| s.query.clone()),
                });
                for c in children.get(&pid).into_iter().flatten().rev() {
                    stack.push((*c, depth + 1, Some(pid)));
                }
            }
            out.push(chain);
        }
        out
    }

    /// Used share of the connections ordinary roles may open.
    pub fn utilization(&self) -> f64 {
        let usable = f64::from((self.max_connections - self.reserved_connections).max(1));
        #[allow(clippy::cast_precision_loss)]
        let used = self.total as f64;
        used / usable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pid: i32, blocked_by: &[i32]) -> Session {
        Session {
            pid,
            blocked_by: blocked_by.to_vec(),
            lock_wait_s: Some(f64::from(pid)),
            ..Default::default()
        }
    }

    fn shape(a: &Activity) -> Vec<Vec<(i32, usize)>> {
        a.blocking_chains()
            .iter()
            .map(|c| c.nodes.iter().map(|n| (n.pid, n.depth)).collect())
            .collect()
    }

    #[test]
    fn chains_are_trees_not_one_level() {
        let a = Activity {
            sessions: vec![
                s(1, &[]),
                s(2, &[1]),
                s(3, &[2]),
                s(4, &[1]),
                s(5, &[]),
                s(6, &[99]),
            ],
            ..Default::default()
        };
        assert_eq!(
            shape(&a),
            vec![vec![(1, 0), (2, 1), (3, 2), (4, 1)], vec![(99, 0), (6, 1)]]
        );
        let c = &a.blocking_chains()[0];
        assert_eq!((c.waiting(), c.depth(), c.longest_wait_s()), (3, 2, 4.0));
        assert_eq!(c.root().wait_s, None, "the root waits for nobody");
        assert_eq!(c.nodes[2].parent, Some(2));
    }

    #[test]
    fn a_cycle_is_one_chain_and_no_chain_when_nobody_waits() {
        let a = Activity {
            sessions: vec![s(7, &[8]), s(8, &[7])],
            ..Default::default()
        };
        assert_eq!(shape(&a), vec![vec![(7, 0), (8, 1)]]);
        let calm = Activity {
            sessions: vec![s(1, &[]), s(2, &[])],
            ..Default::default()
        };
        assert!(calm.blocking_chains().is_empty());
    }
}
