//! The two sources of what-if costs: HypoPG on the server (the planner's own judgement), and
//! dbopt's cost model for servers without HypoPG.
//!
//! Why a model of our own at all: HypoPG is an extension many managed services do not offer.
//! The model follows the planner's formulas (sequential pages, random pages weighted by
//! correlation, per-tuple CPU, sorts avoided by index order, LIMIT stopping early) with the
//! server's own cost settings and pg_stats, so its ranking agrees with the planner's in the
//! common cases; the report always says which source was used.

use crate::catalog::Catalog;
use crate::index_key::KeyExpr;
use crate::pg::whatif::{HypoPool, WhatIfRequest};

use super::candidates::{Access, Candidate};
use super::select::{Eval, Oracle};
use super::size;
use crate::workload::shape::placeholders;

/// Which size estimate the budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SizeEstimate {
    /// dbopt's estimate, aware of B-tree deduplication (close to the built size).
    Dbopt,
    /// HypoPG's estimate (ignores deduplication; the index-selection literature's protocol).
    Hypopg,
}

/// What-if costs from HypoPG.
pub struct HypoOracle {
    pub pool: HypoPool,
    /// Text, number of parameters, and their types (empty: inferred).
    statements: Vec<(String, usize, Vec<String>)>,
    catalog: Catalog,
    sizes: SizeEstimate,
}

impl HypoOracle {
    pub fn new(
        pool: HypoPool,
        statements: &[String],
        catalog: Catalog,
        sizes: SizeEstimate,
    ) -> Self {
        HypoOracle {
            pool,
            statements: statements
                .iter()
                .map(|s| (s.clone(), placeholders(s), vec![]))
                .collect(),
            catalog,
            sizes,
        }
    }

    /// The parameter types each statement plans with (as [`crate::pg::explain::plan_generic`]
    /// found them), in statement order; an empty list leaves them to the server.
    #[must_use]
    pub fn with_types(mut self, types: Vec<Vec<String>>) -> Self {
        for (s, t) in self.statements.iter_mut().zip(types) {
            s.2 = t;
        }
        self
    }
}

impl Oracle for HypoOracle {
    async fn evaluate(&mut self, reqs: &[(usize, Vec<Candidate>)]) -> Vec<Result<Eval, String>> {
        let wreqs: Vec<WhatIfRequest> = reqs
            .iter()
            .map(|(q, cfg)| WhatIfRequest {
                sql: self.statements[*q].0.clone(),
                params: self.statements[*q].1,
                types: self.statements[*q].2.clone(),
                indexes: cfg.iter().map(Candidate::hypo_ddl).collect(),
            })
            .collect();
        let results = self.pool.explain_all(&wreqs).await;
        results
            .into_iter()
            .map(|r| match r {
                Ok(p) => Ok(Eval {
                    cost: p.cost,
                    used: p.used,
                }),
                Err(e) => Err(e.to_string()),
            })
            .collect()
    }

    async fn size(&mut self, c: &Candidate) -> i64 {
        match self.sizes {
            SizeEstimate::Dbopt => size::estimate(c, &self.catalog),
            SizeEstimate::Hypopg => match self.pool.first().hypo_size(&c.hypo_ddl()).await {
                Ok(s) => s,
                Err(_) => size::estimate(c, &self.catalog),
            },
        }
    }

    async fn check(&mut self, c: &Candidate) -> Result<(), String> {
        self.pool
            .first()
            .hypo_size(&c.hypo_ddl())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn calls(&self) -> u64 {
        self.pool.calls()
    }

    fn name(&self) -> &'static str {
        "hypopg"
    }
}

/// What-if costs from dbopt's own model of the planner.
pub struct CostModel {
    catalog: Catalog,
    accesses: Vec<Vec<Access>>,
    calls: u64,
}

impl CostModel {
    pub fn new(catalog: Catalog, accesses: Vec<Vec<Access>>) -> Self {
        CostModel {
            catalog,
            accesses,
            calls: 0,
        }
    }

    /// Selectivity of an equality on `col` (1 / distinct, or the MCV share when skewed).
    fn eq_sel(&self, table: &str, key: &KeyExpr) -> f64 {
        let Some(t) = self.catalog.table(table) else {
            return 0.005;
        };
        match key
            .column()
            .and_then(|col| t.column(col))
            .and_then(|c| c.stats.as_ref())
        {
            Some(s) => {
                let d = s.distinct(t.reltuples.max(1.0));
                // A generic plan does not know the value: the planner uses the average.
                (1.0 - s.null_frac) / d
            }
            None => 0.005,
        }
    }

    /// Planner-style cost of one access with the best usable index of `cfg` (its position),
    /// or a seq scan.
    fn access_cost(&self, a: &Access, cfg: &[Candidate]) -> (f64, Option<usize>) {
        let s = &self.catalog.settings;
        let Some(t) = self.catalog.table(&a.table) else {
            return (0.0, None);
        };
        let rows = size::rows(&self.catalog, t).max(1.0);
        let pages = t.relpages.max(1) as f64;
        let quals = (a.eq.len() + a.range.len()) as f64;
        let out_rows = rows
            * a.eq
                .iter()
                .map(|c| self.eq_sel(&a.table, c))
                .product::<f64>()
            * 0.333f64.powi(i32::try_from(a.range.len()).unwrap_or(1));
        let sort = |n: f64| {
            if a.order.is_empty() || n < 2.0 {
                0.0
            } else {
                2.0 * s.cpu_operator_cost * n * n.log2()
            }
        };
        // A LIMIT we cannot see ($n): the planner assumes 10 % of the rows are fetched.
        let limit_frac = |n: f64| {
            if a.limit {
                (10.0_f64.max(n * 0.1) / n.max(1.0)).min(1.0)
            } else {
                1.0
            }
        };
        let seq = pages * s.seq_page_cost
            + rows * (s.cpu_tuple_cost + quals * s.cpu_operator_cost)
            + sort(out_rows);
        let mut best = (seq, None);
        for (pos, c) in cfg.iter().enumerate().filter(|(_, c)| c.table == a.table) {
            // Matched prefix: equality columns, then one range column or the ORDER BY.
            let mut sel = 1.0;
            let mut matched = 0;
            let mut ordered = false;
            let keys = c.keys();
            let mut i = 0;
            while i < keys.len() && a.eq.iter().any(|e| e == keys[i]) {
                sel *= self.eq_sel(&a.table, keys[i]);
                matched += 1;
                i += 1;
            }
            if i < keys.len() && a.range.iter().any(|r| r == keys[i]) {
                sel *= 0.333;
                matched += 1;
                i += 1;
            }
            if !a.order.is_empty()
                && keys.len() >= i + a.order.len()
                && a.order
                    .iter()
                    .enumerate()
                    .all(|(k, o)| *keys[i + k] == o.column)
            {
                ordered = true;
            }
            if matched == 0 && !ordered {
                continue;
            }
            let fetched = rows * sel * if ordered { limit_frac(rows * sel) } else { 1.0 };
            let corr = keys
                .first()
                .and_then(|k| t.column(k.column()?))
                .and_then(|col| col.stats.as_ref())
                .and_then(|st| st.correlation)
                .unwrap_or(0.0);
            let index_pages = (size::estimate(c, &self.catalog) as f64 / 8192.0) * sel;
            let heap_random = fetched.min(pages) * s.random_page_cost;
            let heap_seq = pages * sel * s.seq_page_cost;
            let heap = corr * corr * heap_seq + (1.0 - corr * corr) * heap_random;
            let covering = !a.selected.iter().any(|x| x == "*")
                && a.selected
                    .iter()
                    .all(|x| keys.iter().any(|k| k.is_column(x)) || c.include.contains(x));
            let heap = if covering { heap * 0.1 } else { heap };
            let cost = index_pages * s.random_page_cost
                + heap
                + fetched * (s.cpu_index_tuple_cost + s.cpu_tuple_cost)
                + if ordered { 0.0 } else { sort(fetched) };
            if cost < best.0 {
                best = (cost, Some(pos));
            }
        }
        best
    }
}

impl Oracle for CostModel {
    async fn evaluate(&mut self, reqs: &[(usize, Vec<Candidate>)]) -> Vec<Result<Eval, String>> {
        self.calls += reqs.len() as u64;
        reqs.iter()
            .map(|(q, cfg)| {
                let mut cost = 0.0;
                let mut used = Vec::new();
                for a in &self.accesses[*q] {
                    let (c, u) = self.access_cost(a, cfg);
                    cost += c;
                    used.extend(u);
                }
                used.sort();
                used.dedup();
                Ok(Eval { cost, used })
            })
            .collect()
    }

    async fn size(&mut self, c: &Candidate) -> i64 {
        size::estimate(c, &self.catalog)
    }

    fn calls(&self) -> u64 {
        self.calls
    }

    fn name(&self) -> &'static str {
        "dbopt-cost-model"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, ColumnStats, Table};

    #[tokio::test]
    async fn model_prefers_a_matching_index_on_a_big_table() {
        let mut cat = Catalog {
            server_version_num: 150_000,
            ..Default::default()
        };
        cat.tables.push(Table {
            schema: "public".into(),
            name: "t".into(),
            reltuples: 1e6,
            relpages: 10_000,
            columns: vec![Column {
                name: "a".into(),
                type_name: "integer".into(),
                not_null: true,
                stats: Some(ColumnStats {
                    n_distinct: -1.0,
                    avg_width: 4,
                    ..Default::default()
                }),
            }],
            ..Default::default()
        });
        let a = Access {
            table: "public.t".into(),
            eq: vec![KeyExpr::Column("a".into())],
            selected: vec!["*".into()],
            ..Default::default()
        };
        let mut m = CostModel::new(cat, vec![vec![a]]);
        let ix = Candidate::btree("public.t", vec![crate::index_key::IndexKey::column("a")]);
        let r = m.evaluate(&[(0, vec![]), (0, vec![ix.clone()])]).await;
        let (seq, idx) = (r[0].as_ref().unwrap(), r[1].as_ref().unwrap());
        assert!(idx.cost * 100.0 < seq.cost, "{} vs {}", idx.cost, seq.cost);
        assert_eq!(idx.used, vec![0]);
    }
}
