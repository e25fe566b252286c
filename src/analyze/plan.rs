//! The EXPLAIN plan as plain data: PostgreSQL's `EXPLAIN (FORMAT JSON)` tree, read into typed
//! nodes with the derived numbers every finding needs (per-node inclusive and exclusive time,
//! estimate error, rows removed), numbered in display order.
//!
//! Why our own model rather than `serde_json::Value` everywhere: the rules, the renderer and
//! the JSON output then agree on what "time of a node" or "misestimate" mean, and the JSON keys
//! PostgreSQL uses (which vary by version and by node type) are read in one place.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("cannot read the EXPLAIN output: {0}")]
pub struct PlanError(pub String);

impl PlanError {
    pub fn hint(&self) -> String {
        "this is a bug in dbopt or an unusual server; please report it with the server version"
            .into()
    }
}

/// One EXPLAIN result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub root: Node,
    /// Whether the statement was executed (EXPLAIN ANALYZE): actual numbers are present.
    pub analyzed: bool,
    pub planning_ms: Option<f64>,
    pub execution_ms: Option<f64>,
    pub jit: Option<Jit>,
    /// Time spent in triggers (e.g. foreign-key checks), total.
    pub trigger_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Jit {
    pub functions: i64,
    pub generation_ms: f64,
    pub inlining_ms: f64,
    pub optimization_ms: f64,
    pub emission_ms: f64,
    pub total_ms: f64,
}

/// One plan node. Actual numbers are per loop, as PostgreSQL reports them; the `*_total`
/// helpers multiply by loops.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Position in display order (pre-order), from 1; findings name nodes by it.
    pub id: usize,
    pub node_type: String,
    /// `schema.relation` for scans.
    pub relation: Option<String>,
    pub alias: Option<String>,
    pub index_name: Option<String>,
    pub join_type: Option<String>,
    pub parent_relationship: Option<String>,
    pub startup_cost: f64,
    pub total_cost: f64,
    pub plan_rows: f64,
    pub actual_rows: Option<f64>,
    pub actual_total_ms: Option<f64>,
    pub loops: Option<f64>,
    pub filter: Option<String>,
    pub index_cond: Option<String>,
    pub recheck_cond: Option<String>,
    pub join_filter: Option<String>,
    pub hash_cond: Option<String>,
    pub rows_removed_by_filter: Option<f64>,
    pub rows_removed_by_index_recheck: Option<f64>,
    pub heap_fetches: Option<f64>,
    pub exact_heap_blocks: Option<f64>,
    pub lossy_heap_blocks: Option<f64>,
    pub sort_key: Vec<String>,
    pub sort_method: Option<String>,
    /// `Memory` or `Disk`.
    pub sort_space_type: Option<String>,
    pub sort_space_kb: Option<f64>,
    pub hash_batches: Option<f64>,
    pub original_hash_batches: Option<f64>,
    pub shared_hit: f64,
    pub shared_read: f64,
    pub temp_read: f64,
    pub temp_written: f64,
    pub workers_launched: Option<f64>,
    /// Processes sharing this node's loops below a Gather (workers plus the leader); its
    /// actual time is their average, so time is not multiplied by them.
    pub participants: Option<f64>,
    pub children: Vec<Node>,
}

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}
fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

impl Plan {
    /// Read the JSON PostgreSQL returns for `EXPLAIN (FORMAT JSON)`: an array of one object.
    pub fn from_json(v: &Value) -> Result<Plan, PlanError> {
        let top = match v {
            Value::Array(a) => a.first(),
            other => Some(other),
        }
        .ok_or_else(|| PlanError("empty EXPLAIN result".into()))?;
        let root = top
            .get("Plan")
            .ok_or_else(|| PlanError("no \"Plan\" key".into()))?;
        let mut next = 1;
        let root = Node::read(root, &mut next, None);
        let jit = top.get("JIT").map(|j| {
            let t = j.get("Timing").cloned().unwrap_or(Value::Null);
            // PG 15 reports Generation etc. as numbers; later versions nest some as objects.
            let ms = |k: &str| {
                t.get(k)
                    .and_then(|x| x.as_f64().or_else(|| f(x, "Total")))
                    .unwrap_or(0.0)
            };
            Jit {
                functions: j.get("Functions").and_then(Value::as_i64).unwrap_or(0),
                generation_ms: ms("Generation"),
                inlining_ms: ms("Inlining"),
                optimization_ms: ms("Optimization"),
                emission_ms: ms("Emission"),
                total_ms: ms("Total"),
            }
        });
        let trigger_ms = top
            .get("Triggers")
            .and_then(Value::as_array)
            .map_or(0.0, |ts| ts.iter().filter_map(|t| f(t, "Time")).sum());
        Ok(Plan {
            analyzed: root.actual_total_ms.is_some() || root.loops.is_some(),
            root,
            planning_ms: f(top, "Planning Time"),
            execution_ms: f(top, "Execution Time"),
            jit,
            trigger_ms,
        })
    }

    /// Every node, in display order.
    pub fn nodes(&self) -> Vec<&Node> {
        let mut out = Vec::new();
        fn walk<'a>(n: &'a Node, out: &mut Vec<&'a Node>) {
            out.push(n);
            for c in &n.children {
                walk(c, out);
            }
        }
        walk(&self.root, &mut out);
        out
    }

    /// The time the whole statement took: execution time, else the root's inclusive time.
    pub fn total_ms(&self) -> Option<f64> {
        self.execution_ms.or_else(|| self.root.inclusive_ms())
    }

    /// Relations, filters and sort keys as the plan shows them: the shape of a statement
    /// dbopt's parser could not read.
    pub fn summary(&self) -> PlanSummary {
        let mut out = PlanSummary::default();
        for n in self.nodes() {
            if let Some(r) = &n.relation {
                if !out.relations.contains(r) {
                    out.relations.push(r.clone());
                }
                for cond in [&n.filter, &n.index_cond, &n.recheck_cond]
                    .into_iter()
                    .flatten()
                {
                    out.conditions.push(format!("{r}: {cond}"));
                }
            }
            out.sort_keys.extend(n.sort_key.iter().cloned());
        }
        out
    }
}

/// What a plan says about a statement's access shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub relations: Vec<String>,
    pub conditions: Vec<String>,
    pub sort_keys: Vec<String>,
}

impl Node {
    fn read(v: &Value, next: &mut usize, participants: Option<f64>) -> Node {
        let id = *next;
        *next += 1;
        let node_type = s(v, "Node Type").unwrap_or_else(|| "?".into());
        let below = if node_type.starts_with("Gather") {
            // The leader takes part unless parallel_leader_participation is off; counting it
            // errs on the side of smaller times.
            f(v, "Workers Launched").map(|w| w + 1.0)
        } else {
            participants
        };
        let relation = s(v, "Relation Name").map(|r| match s(v, "Schema") {
            Some(schema) => format!("{schema}.{r}"),
            None => r,
        });
        let children = v
            .get("Plans")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().map(|p| Node::read(p, next, below)).collect())
            .unwrap_or_default();
        Node {
            id,
            node_type,
            relation,
            alias: s(v, "Alias"),
            index_name: s(v, "Index Name"),
            join_type: s(v, "Join Type"),
            parent_relationship: s(v, "Parent Relationship"),
            startup_cost: f(v, "Startup Cost").unwrap_or(0.0),
            total_cost: f(v, "Total Cost").unwrap_or(0.0),
            plan_rows: f(v, "Plan Rows").unwrap_or(0.0),
            actual_rows: f(v, "Actual Rows"),
            actual_total_ms: f(v, "Actual Total Time"),
            loops: f(v, "Actual Loops"),
            filter: s(v, "Filter"),
            index_cond: s(v, "Index Cond"),
            recheck_cond: s(v, "Recheck Cond"),
            join_filter: s(v, "Join Filter"),
            hash_cond: s(v, "Hash Cond"),
            rows_removed_by_filter: f(v, "Rows Removed by Filter"),
            rows_removed_by_index_recheck: f(v, "Rows Removed by Index Recheck"),
            heap_fetches: f(v, "Heap Fetches"),
            exact_heap_blocks: f(v, "Exact Heap Blocks"),
            lossy_heap_blocks: f(v, "Lossy Heap Blocks"),
            sort_key: v
                .get("Sort Key")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            sort_method: s(v, "Sort Method"),
            sort_space_type: s(v, "Sort Space Type"),
            sort_space_kb: f(v, "Sort Space Used"),
            hash_batches: f(v, "Hash Batches"),
            original_hash_batches: f(v, "Original Hash Batches"),
            shared_hit: f(v, "Shared Hit Blocks").unwrap_or(0.0),
            shared_read: f(v, "Shared Read Blocks").unwrap_or(0.0),
            temp_read: f(v, "Temp Read Blocks").unwrap_or(0.0),
            temp_written: f(v, "Temp Written Blocks").unwrap_or(0.0),
            workers_launched: f(v, "Workers Launched"),
            participants,
            children,
        }
    }

    /// `#3 Seq Scan on public.leads l` — how findings and the tree name a node.
    pub fn label(&self) -> String {
        let mut l = format!("#{} {}", self.id, self.node_type);
        if let Some(ix) = &self.index_name {
            l.push_str(&format!(" using {ix}"));
        }
        if let Some(r) = &self.relation {
            l.push_str(&format!(" on {r}"));
            if let Some(a) = self
                .alias
                .as_ref()
                .filter(|a| !r.ends_with(&format!(".{a}")))
            {
                if a != r {
                    l.push_str(&format!(" {a}"));
                }
            }
        }
        l
    }

    pub fn loops_or_one(&self) -> f64 {
        self.loops.unwrap_or(1.0).max(1.0)
    }

    /// Time including children, all loops (ms), as wall-clock time: loops shared by parallel
    /// workers ran at the same time.
    pub fn inclusive_ms(&self) -> Option<f64> {
        let loops = self.loops_or_one() / self.participants.unwrap_or(1.0).max(1.0);
        self.actual_total_ms.map(|t| t * loops.max(1.0))
    }

    /// Time of this node alone, all loops (ms): inclusive minus the children's inclusive.
    /// Approximate with parallel workers and InitPlans, never negative.
    pub fn exclusive_ms(&self) -> Option<f64> {
        let own = self.inclusive_ms()?;
        let kids: f64 = self
            .children
            .iter()
            .filter(|c| c.parent_relationship.as_deref() != Some("InitPlan"))
            .filter_map(Node::inclusive_ms)
            .sum();
        Some((own - kids).max(0.0))
    }

    /// Actual rows over all loops.
    pub fn actual_rows_total(&self) -> Option<f64> {
        self.actual_rows.map(|r| r * self.loops_or_one())
    }

    /// Rows removed by the filter over all loops.
    pub fn removed_total(&self) -> f64 {
        self.rows_removed_by_filter.unwrap_or(0.0) * self.loops_or_one()
    }

    /// How far the row estimate is off (≥ 1), with its direction: `(factor, underestimate)`.
    /// Compares per-loop numbers, as both are per loop; zero rows count as one.
    pub fn misestimate(&self) -> Option<(f64, bool)> {
        let actual = self.actual_rows?.max(1.0);
        let est = self.plan_rows.max(1.0);
        Some(if actual >= est {
            (actual / est, true)
        } else {
            (est / actual, false)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_analyzed_plan() {
        let v: Value = serde_json::from_str(
            r#"[{"Plan": {"Node Type": "Sort", "Startup Cost": 1.0, "Total Cost": 2.0,
                "Plan Rows": 10, "Actual Total Time": 5.0, "Actual Rows": 1000, "Actual Loops": 1,
                "Sort Key": ["x"], "Sort Space Type": "Disk", "Sort Method": "external merge",
                "Plans": [{"Node Type": "Seq Scan", "Relation Name": "t", "Schema": "public",
                  "Alias": "t", "Plan Rows": 10, "Actual Total Time": 0.5, "Actual Rows": 1000,
                  "Actual Loops": 2, "Filter": "(a = 1)", "Rows Removed by Filter": 50}]},
              "Planning Time": 0.2, "Execution Time": 5.5,
              "JIT": {"Functions": 3, "Timing": {"Generation": 1.0, "Inlining": 0.0,
                "Optimization": 2.0, "Emission": 3.0, "Total": 6.0}}}]"#,
        )
        .unwrap();
        let p = Plan::from_json(&v).unwrap();
        assert!(p.analyzed);
        assert_eq!(p.nodes().len(), 2);
        let scan = &p.root.children[0];
        assert_eq!(scan.id, 2);
        assert_eq!(scan.label(), "#2 Seq Scan on public.t");
        assert_eq!(scan.inclusive_ms(), Some(1.0));
        assert_eq!(p.root.exclusive_ms(), Some(4.0));
        assert_eq!(scan.removed_total(), 100.0);
        assert_eq!(p.root.misestimate(), Some((100.0, true)));
        assert_eq!(p.jit.as_ref().unwrap().total_ms, 6.0);
        let sum = p.summary();
        assert_eq!(sum.relations, ["public.t"]);
        assert_eq!(sum.conditions, ["public.t: (a = 1)"]);
        assert_eq!(sum.sort_keys, ["x"]);
    }

    #[test]
    fn parallel_loops_are_not_added_up_as_time() {
        let v: Value = serde_json::from_str(
            r#"[{"Plan": {"Node Type": "Gather", "Workers Launched": 2, "Actual Total Time": 30.0,
                "Actual Rows": 6, "Actual Loops": 1, "Plans": [{"Node Type": "Seq Scan",
                "Relation Name": "t", "Actual Total Time": 28.0, "Actual Rows": 2,
                "Actual Loops": 3, "Rows Removed by Filter": 100}]}}]"#,
        )
        .unwrap();
        let p = Plan::from_json(&v).unwrap();
        let scan = &p.root.children[0];
        assert_eq!(scan.inclusive_ms(), Some(28.0));
        assert_eq!(scan.actual_rows_total(), Some(6.0));
        assert_eq!(scan.removed_total(), 300.0);
        assert_eq!(p.root.exclusive_ms(), Some(2.0));
    }
}
