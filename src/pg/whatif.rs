//! What-if costing with HypoPG: the planner's cost of a statement as if some indexes existed.
//!
//! Why private sessions: hypothetical indexes live in the memory of one backend, so each
//! session of the pool holds its own set and nothing is ever visible to, or left behind for,
//! anyone else; `hypopg_reset()` runs when a session is done, and closing it frees the rest.
//!
//! Why PREPARE per call for `$n` statements: pg_stat_statements texts carry parameters, and
//! PostgreSQL 15 has no `EXPLAIN (GENERIC_PLAN)`. A prepared statement with
//! `plan_cache_mode = force_generic_plan` gives the generic plan, but its plan is cached and
//! creating a hypothetical index does not invalidate it, so each call prepares afresh (in the
//! same round trip as the EXPLAIN).

use std::collections::BTreeMap;

use super::connect::{connect, Conn, SessionOptions};
use super::conninfo::ConnParams;
use super::error::{PgError, Result};

/// The outcome of one what-if call.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIfPlan {
    /// Root "Total Cost" of the plan.
    pub cost: f64,
    /// Indices (into the request's index list) of the hypothetical indexes the plan uses.
    pub used: Vec<usize>,
    /// Real index names the plan uses.
    pub real_indexes: Vec<String>,
}

/// One statement to cost under one set of hypothetical indexes (CREATE INDEX statements).
#[derive(Debug, Clone)]
pub struct WhatIfRequest {
    pub sql: String,
    /// Number of `$n` parameters (0: EXPLAIN the text as is).
    pub params: usize,
    /// Their types for `PREPARE (types)`, as found when the statement was first planned
    /// ([`super::explain::plan_generic`]); empty: the server infers them all.
    pub types: Vec<String>,
    pub indexes: Vec<String>,
}

/// A HypoPG session.
pub struct HypoSession {
    conn: Conn,
    /// CREATE INDEX text -> hypothetical index oid, currently defined in this session.
    current: BTreeMap<String, u32>,
    /// Uncached what-if calls made (EXPLAINs).
    pub calls: u64,
}

impl HypoSession {
    pub async fn open(p: &ConnParams, s: &SessionOptions) -> Result<Self> {
        let conn = connect(p, s).await?;
        super::server::require_extension(&conn, "hypopg").await?;
        conn.batch_execute("SET plan_cache_mode = force_generic_plan; SELECT hypopg_reset();")
            .await
            .map_err(|e| PgError::query("preparing a what-if session", e))?;
        Ok(HypoSession {
            conn,
            current: BTreeMap::new(),
            calls: 0,
        })
    }

    /// Make exactly `wanted` the hypothetical indexes of this session and run `then` (SQL,
    /// possibly empty), all in one round trip: the first column of each row `then` returns.
    /// (A large search makes 100,000 what-if calls; with a round trip per drop, create and
    /// EXPLAIN, 10,000 statements took 50 s instead of 29 s.) On an error the session is
    /// reset, since part of the batch may have run.
    async fn with_indexes(
        &mut self,
        wanted: &[String],
        then: &str,
        context: &str,
    ) -> Result<Vec<Option<String>>> {
        use std::fmt::Write;
        let stale: Vec<String> = self
            .current
            .keys()
            .filter(|k| !wanted.contains(k))
            .cloned()
            .collect();
        let mut fresh: Vec<&String> = Vec::new();
        for d in wanted {
            if !self.current.contains_key(d) && !fresh.contains(&d) {
                fresh.push(d);
            }
        }
        let mut text = String::new();
        for ddl in &stale {
            let _ = write!(text, "SELECT hypopg_drop_index({});", self.current[ddl]);
        }
        for ddl in &fresh {
            let _ = write!(
                text,
                "SELECT indexrelid FROM hypopg_create_index({});",
                crate::sql::quote_literal(ddl)
            );
        }
        text.push_str(then);
        let rows: Result<Vec<Option<String>>, tokio_postgres::Error> =
            match self.conn.simple_query(&text).await {
                // `try_get`, not `get`: `get` panics on text that is not UTF-8, which HypoPG
                // writes when it cuts a long index name in the middle of a character.
                Ok(msgs) => msgs
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => {
                            Some(row.try_get(0).map(|v| v.map(str::to_string)))
                        }
                        _ => None,
                    })
                    .collect(),
                Err(e) => Err(e),
            };
        let mut rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                self.reset().await?;
                return Err(PgError::query(context, e));
            }
        };
        // One row per drop, one per create (the new oid), then what `then` returned.
        let ours = stale.len() + fresh.len();
        let oids: Option<Vec<u32>> = rows
            .get(stale.len()..ours)
            .and_then(|r| r.iter().map(|o| o.as_deref()?.parse().ok()).collect());
        let Some(oids) = oids else {
            self.reset().await?;
            return Err(PgError::Io(format!(
                "{context}: HypoPG returned no index oid"
            )));
        };
        for ddl in &stale {
            self.current.remove(ddl);
        }
        for (ddl, oid) in fresh.into_iter().zip(oids) {
            self.current.insert(ddl.clone(), oid);
        }
        Ok(rows.split_off(ours))
    }

    /// HypoPG's size estimate of an index (bytes); it ignores B-tree deduplication.
    pub async fn hypo_size(&mut self, ddl: &str) -> Result<i64> {
        self.with_indexes(
            &[ddl.to_string()],
            "",
            &format!("creating hypothetical index ({ddl})"),
        )
        .await?;
        let oid = self.current[ddl];
        let row = self
            .conn
            .query_one(
                "SELECT hypopg_relation_size($1)",
                &[&tokio_postgres::types::Oid::from(oid)],
            )
            .await
            .map_err(|e| PgError::query("sizing a hypothetical index", e))?;
        Ok(row.get(0))
    }

    /// Cost one statement under the request's hypothetical indexes (one round trip).
    pub async fn explain(&mut self, r: &WhatIfRequest) -> Result<WhatIfPlan> {
        let plan = if r.params == 0 {
            format!("EXPLAIN (FORMAT JSON) {}", r.sql)
        } else {
            let nulls = vec!["NULL"; r.params].join(", ");
            let types = if r.types.len() == r.params {
                format!(" ({})", r.types.join(", "))
            } else {
                String::new()
            };
            format!("DEALLOCATE ALL; PREPARE dbopt_whatif{types} AS {}; EXPLAIN (FORMAT JSON) EXECUTE dbopt_whatif({nulls})", r.sql)
        };
        self.calls += 1;
        let rows = self
            .with_indexes(&r.indexes, &plan, "planning a statement")
            .await?;
        let Some(Some(json)) = rows.last() else {
            return Err(PgError::Io("EXPLAIN returned no plan".into()));
        };
        let plan: serde_json::Value =
            serde_json::from_str(json).map_err(|e| PgError::Io(format!("EXPLAIN JSON: {e}")))?;
        let root = &plan[0]["Plan"];
        let cost = root["Total Cost"].as_f64().unwrap_or(0.0);
        let mut names = Vec::new();
        collect_index_names(root, &mut names);
        let mut used = Vec::new();
        let mut real_indexes = Vec::new();
        for n in names {
            // HypoPG names its indexes "<oid>btree_table_cols".
            let oid = n
                .strip_prefix('<')
                .and_then(|s| s.split_once('>'))
                .and_then(|(o, _)| o.parse::<u32>().ok());
            match oid
                .and_then(|o| self.current.iter().find(|(_, v)| **v == o))
                .and_then(|(ddl, _)| r.indexes.iter().position(|d| d == ddl))
            {
                Some(i) if !used.contains(&i) => used.push(i),
                Some(_) => {}
                None if !real_indexes.contains(&n) => real_indexes.push(n),
                None => {}
            }
        }
        used.sort_unstable();
        Ok(WhatIfPlan {
            cost,
            used,
            real_indexes,
        })
    }

    /// Remove every hypothetical index of this session.
    pub async fn reset(&mut self) -> Result<()> {
        self.conn
            .batch_execute("SELECT hypopg_reset(); DEALLOCATE ALL;")
            .await
            .map_err(|e| PgError::query("resetting hypopg", e))?;
        self.current.clear();
        Ok(())
    }
}

fn collect_index_names(node: &serde_json::Value, out: &mut Vec<String>) {
    if let Some(n) = node["Index Name"].as_str() {
        out.push(n.to_string());
    }
    if let Some(children) = node["Plans"].as_array() {
        for c in children {
            collect_index_names(c, out);
        }
    }
}

/// Several HypoPG sessions that share out a batch of what-if calls.
pub struct HypoPool {
    sessions: Vec<HypoSession>,
}

impl HypoPool {
    pub async fn open(p: &ConnParams, s: &SessionOptions, size: usize) -> Result<Self> {
        let mut sessions = Vec::new();
        for _ in 0..size.max(1) {
            sessions.push(HypoSession::open(p, s).await?);
        }
        Ok(HypoPool { sessions })
    }

    /// Uncached what-if calls made so far, over all sessions.
    pub fn calls(&self) -> u64 {
        self.sessions.iter().map(|s| s.calls).sum()
    }

    pub fn first(&mut self) -> &mut HypoSession {
        &mut self.sessions[0]
    }

    /// Cost every request; results in request order. Requests with the same index set go to
    /// the same session, one after another, so fewer hypothetical indexes are made.
    pub async fn explain_all(&mut self, reqs: &[WhatIfRequest]) -> Vec<Result<WhatIfPlan>> {
        let n = self.sessions.len();
        let mut order: Vec<usize> = (0..reqs.len()).collect();
        order.sort_by(|a, b| reqs[*a].indexes.cmp(&reqs[*b].indexes));
        let mut shares: Vec<Vec<usize>> = vec![Vec::new(); n];
        let chunk = order.len().div_ceil(n).max(1);
        for (k, i) in order.into_iter().enumerate() {
            shares[(k / chunk).min(n - 1)].push(i);
        }
        let futures = self
            .sessions
            .iter_mut()
            .zip(shares)
            .map(|(s, share)| async move {
                let mut out = Vec::new();
                for i in share {
                    out.push((i, s.explain(&reqs[i]).await));
                }
                out
            });
        let mut results: Vec<Option<Result<WhatIfPlan>>> = (0..reqs.len()).map(|_| None).collect();
        for part in futures_util::future::join_all(futures).await {
            for (i, r) in part {
                results[i] = Some(r);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(PgError::Io("BUG: what-if request lost".into()))))
            .collect()
    }

    /// Reset every session (also done implicitly when the sessions close).
    pub async fn reset(&mut self) -> Result<()> {
        for s in &mut self.sessions {
            s.reset().await?;
        }
        Ok(())
    }
}
