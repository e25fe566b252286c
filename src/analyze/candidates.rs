//! Candidate indexes for one statement, from its shape: the equality columns of each table's
//! predicates, then one range column, else the ORDER BY keys. `dbopt explain --compare` plans
//! the statement with them as HypoPG hypothetical indexes.
//!
//! Why this simple rule and not the advisor: `explain --compare` answers "would an index help
//! this one query?"; the workload-wide choice (one index serving many queries, write cost,
//! existing indexes) is `dbopt advise`'s job.

use crate::sql::ddl::{Build, IndexDef};
use crate::sql::index_key::IndexKey;
use crate::workload::shape::{PredKind, Shape};

/// `CREATE INDEX ON ...` statements, one per table that has indexable predicates or a sort.
pub fn for_shape(shape: &Shape) -> Vec<String> {
    let mut out = Vec::new();
    for a in &shape.accesses {
        let plain = |k: PredKind| {
            a.predicates
                .iter()
                .filter(move |p| p.kind == k && p.expr.is_none())
                .filter_map(|p| p.column.clone())
        };
        let mut cols: Vec<String> = Vec::new();
        for c in plain(PredKind::Eq) {
            if !cols.contains(&c) {
                cols.push(c);
            }
        }
        match plain(PredKind::Range).find(|c| !cols.contains(c)) {
            Some(r) => cols.push(r),
            None => {
                for k in &a.order_by {
                    if !cols.contains(&k.column) {
                        cols.push(k.column.clone());
                    }
                }
            }
        }
        if cols.is_empty() {
            continue;
        }
        let keys = cols.iter().map(IndexKey::column).collect();
        let ddl = IndexDef::hypothetical(&a.table, keys).render_as_written(Build::Hypothetical);
        if !out.contains(&ddl) {
            out.push(ddl);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::workload::shape::extract;

    #[test]
    fn equality_then_range_else_sort() {
        let s = &extract("SELECT * FROM app.t WHERE b > $1 AND a = $2 ORDER BY c").unwrap()[0];
        assert_eq!(
            super::for_shape(s),
            [r#"CREATE INDEX ON "app"."t" ("a", "b")"#]
        );
        let s = &extract("SELECT * FROM t WHERE a = $1 ORDER BY c DESC").unwrap()[0];
        assert_eq!(super::for_shape(s), [r#"CREATE INDEX ON "t" ("a", "c")"#]);
        let s = &extract("SELECT * FROM t WHERE a <> 1").unwrap()[0];
        assert!(super::for_shape(s).is_empty());
    }
}
