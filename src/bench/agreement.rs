//! How good dbopt's cost model (the fallback when a server has no HypoPG) is at choosing
//! indexes, measured against HypoPG on the same workload.
//!
//! Why this figure: the model's own costs are not comparable to the planner's, so agreement
//! is judged by outcome. The search runs twice with the same options and size estimate (dbopt's,
//! so both spend the budget alike): once with HypoPG's costs, once with the model's. Both
//! chosen sets are then costed by HypoPG, the planner's own judgement, over the whole workload
//! (each statement's cost times its calls). The ratio model set / HypoPG set is 1.0 when the
//! model chooses as well as HypoPG, and above 1.0 by the share of workload cost it leaves on
//! the table.

use serde::Serialize;

use crate::advisor::candidates::Candidate;
use crate::advisor::oracle::{CostModel, SizeEstimate};
use crate::advisor::select::{self, SearchOptions};
use crate::advisor::Prepared;
use crate::catalog::Catalog;
use crate::pg::hypo::HypoOracle;
use crate::pg::whatif::{HypoPool, WhatIfRequest};
use crate::pg::{self, ConnParams, SessionOptions};
use crate::workload::shape::placeholders;

#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    /// Which workload (`demo`, `tpch`), and the budget in MB (10^6 bytes; None: unlimited).
    pub workload: String,
    pub budget_mb: Option<f64>,
    /// Workload cost by HypoPG: with no new index, with HypoPG's set, with the model's set.
    pub no_index_cost: f64,
    pub hypopg_set_cost: f64,
    pub model_set_cost: f64,
    /// model_set_cost / hypopg_set_cost.
    pub ratio: f64,
    pub hypopg_set: Vec<String>,
    pub model_set: Vec<String>,
}

/// `table(keys)` for people.
fn label(c: &Candidate) -> String {
    format!(
        "{}({})",
        c.table,
        crate::advisor::report::index_label(&c.columns, &c.include, c.predicate.as_deref())
    )
}

/// The workload's cost (statement cost x calls) with these indexes, by HypoPG; a statement
/// that cannot be planned counts 0 in every configuration.
async fn workload_cost(pool: &mut HypoPool, prep: &Prepared, set: &[Candidate]) -> f64 {
    let ddls: Vec<String> = set.iter().map(Candidate::hypo_ddl).collect();
    let reqs: Vec<WhatIfRequest> = prep
        .stmts
        .iter()
        .map(|s| WhatIfRequest {
            sql: s.plan_text().to_string(),
            params: placeholders(s.plan_text()),
            types: vec![],
            indexes: ddls.clone(),
        })
        .collect();
    pool.explain_all(&reqs)
        .await
        .into_iter()
        .zip(&prep.stmts)
        .map(|(r, s)| r.map_or(0.0, |p| p.cost) * s.weight)
        .sum()
}

/// Measure the agreement on database `p` (which must have HypoPG) for `prep`.
pub async fn measure(
    p: &ConnParams,
    catalog: &Catalog,
    prep: &Prepared,
    opts: &SearchOptions,
    jobs: usize,
    workload: &str,
) -> pg::Result<Agreement> {
    let ro = SessionOptions {
        read_only: true,
        statement_timeout: None,
        ..SessionOptions::default()
    };
    let texts: Vec<String> = prep
        .stmts
        .iter()
        .map(|s| s.plan_text().to_string())
        .collect();
    let pool = HypoPool::open(p, &ro, jobs.max(1)).await?;
    let mut hypo = HypoOracle::new(pool, &texts, catalog.clone(), SizeEstimate::Dbopt);
    let by_hypo = select::search(&prep.stmts, &prep.candidates, &mut hypo, opts).await;
    let mut pool = hypo.pool;
    pool.reset().await?;
    let mut model = CostModel::new(
        catalog.clone(),
        prep.stmts.iter().map(|s| s.accesses.clone()).collect(),
    );
    let by_model = select::search(&prep.stmts, &prep.candidates, &mut model, opts).await;
    let no_index_cost = workload_cost(&mut pool, prep, &[]).await;
    let hypopg_set_cost = workload_cost(&mut pool, prep, &by_hypo.chosen).await;
    let model_set_cost = workload_cost(&mut pool, prep, &by_model.chosen).await;
    pool.reset().await?;
    #[allow(clippy::cast_precision_loss)]
    Ok(Agreement {
        workload: workload.to_string(),
        budget_mb: opts.budget_bytes.map(|b| b as f64 / 1e6),
        no_index_cost,
        hypopg_set_cost,
        model_set_cost,
        ratio: model_set_cost / hypopg_set_cost.max(1e-9),
        hypopg_set: by_hypo.chosen.iter().map(label).collect(),
        model_set: by_model.chosen.iter().map(label).collect(),
    })
}
