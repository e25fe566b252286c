//! The HypoPG what-if oracle: the advisor's [`Oracle`] answered by the server's planner,
//! through the [`HypoPool`] of `whatif`.
//!
//! Why in `pg` and not in `advisor`: the advisor's search only knows the [`Oracle`] trait and
//! works on plain data; everything that sends SQL to a server is the adapter's.

use super::whatif::{HypoPool, WhatIfRequest};
use crate::advisor::candidates::Candidate;
use crate::advisor::oracle::SizeEstimate;
use crate::advisor::select::{Eval, Oracle};
use crate::advisor::size;
use crate::catalog::Catalog;
use crate::workload::shape::placeholders;

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
