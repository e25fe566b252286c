//! Resolution against the catalog: tables qualified through `search_path`, partitions
//! replaced by their parent, views by their base tables, and unqualified columns of
//! multi-table scopes attributed to the table that has them.
//!
//! Why after the walk: the walk needs only the SQL; what a name means depends on the database,
//! which the caller may not have (a SQL file read offline).

use std::collections::HashMap;

use sqlparser::ast::{SelectItem, SetExpr, Statement};

use super::classify::bare;
use super::walk::dedup;
use super::{extract, parse, Shape, TableAccess, Unattributed, UnattributedRole};
use crate::catalog::{Catalog, TableKind};

/// Qualify tables as `schema.table` through `search_path`, replace views by their base tables
/// (parsing the view definition) and partitions by their parent, and attribute unqualified
/// columns of multi-table scopes to the table that has them.
pub fn resolve(shape: &mut Shape, catalog: &Catalog, search_path: &[String]) {
    resolve_depth(shape, catalog, search_path, 0);
}

fn find_table<'c>(
    catalog: &'c Catalog,
    written: &str,
    search_path: &[String],
) -> Option<&'c crate::catalog::Table> {
    let parts: Vec<&str> = written.split('.').collect();
    match parts.as_slice() {
        [.., schema, name] => catalog
            .tables
            .iter()
            .find(|t| t.schema == *schema && t.name == *name),
        [name] => {
            let default = ["public".to_string()];
            let path = if search_path.is_empty() {
                &default[..]
            } else {
                search_path
            };
            path.iter()
                .filter(|s| s.as_str() != "$user")
                .chain(std::iter::once(&"pg_catalog".to_string()))
                .find_map(|s| {
                    catalog
                        .tables
                        .iter()
                        .find(|t| t.schema == *s && t.name == *name)
                })
        }
        [] => None,
    }
}

fn resolve_depth(shape: &mut Shape, catalog: &Catalog, search_path: &[String], depth: usize) {
    attribute(shape, catalog, search_path);
    // Qualify, follow partitions and views.
    let mut out = Vec::with_capacity(shape.accesses.len());
    let mut renames: HashMap<String, String> = HashMap::new();
    for mut a in std::mem::take(&mut shape.accesses) {
        let Some(t) = find_table(catalog, &a.table, search_path) else {
            if !shape.unknown_tables.contains(&a.table) {
                shape.unknown_tables.push(a.table.clone());
            }
            out.push(a);
            continue;
        };
        let mut t = t;
        while let Some(parent) = t.parent.as_deref().and_then(|p| catalog.table(p)) {
            t = parent;
        }
        let view_def = match t.kind {
            TableKind::View => t.view_definition.as_deref(),
            _ => None,
        };
        if let (Some(def), true) = (view_def, depth < 8) {
            if let Ok(mut inner) = extract(def) {
                if let Some(mut v) = inner.pop() {
                    resolve_depth(&mut v, catalog, search_path, depth + 1);
                    shape.unknown_tables.extend(v.unknown_tables);
                    // A one-table view passes the outer predicates, sort and columns through
                    // (same column names); a multi-table view contributes its own accesses.
                    if let [only] = v.accesses.as_mut_slice() {
                        pass_through(&mut a, only, def);
                    }
                    renames.insert(
                        a.table.clone(),
                        v.accesses
                            .first()
                            .map_or_else(|| t.qualified(), |x| x.table.clone()),
                    );
                    out.extend(v.accesses);
                    continue;
                }
            }
        }
        renames.insert(a.table.clone(), t.qualified());
        a.table = t.qualified();
        out.push(a);
    }
    for a in &mut out {
        dedup(&mut a.selected);
    }
    shape.accesses = out;
    for g in &mut shape.group_by {
        if let Some(new) = g.table.as_ref().and_then(|t| renames.get(t)) {
            g.table = Some(new.clone());
        }
    }
}

/// Attribute the unqualified columns of multi-table scopes to the table that has them; run
/// before tables are renamed or replaced, while indexes into `accesses` still hold.
fn attribute(shape: &mut Shape, catalog: &Catalog, search_path: &[String]) {
    let old_names: Vec<String> = shape.accesses.iter().map(|a| a.table.clone()).collect();
    for u in std::mem::take(&mut shape.unattributed) {
        let has = |i: &usize| {
            find_table(catalog, &old_names[*i], search_path)
                .is_some_and(|t| t.column(&u.column).is_some())
        };
        // The innermost scope that has the column owns it (SQL's rule for correlated names).
        let owners: Vec<usize> = std::iter::once(&u.candidates)
            .chain(&u.outer)
            .map(|level| level.iter().copied().filter(has).collect::<Vec<_>>())
            .find(|o| !o.is_empty())
            .unwrap_or_default();
        match (owners.as_slice(), u.role) {
            ([i], UnattributedRole::Predicate(p)) => shape.accesses[*i].predicates.push(p),
            ([i], UnattributedRole::Selected) => shape.accesses[*i].selected.push(u.column),
            ([i], UnattributedRole::JoinKey) => {
                shape.accesses[*i].join_keys.push(u.column.clone());
                shape.accesses[*i].selected.push(u.column);
            }
            (_, role) => shape.unattributed.push(Unattributed {
                candidates: u.candidates,
                column: u.column,
                role,
                outer: u.outer,
            }),
        }
    }
}

/// What the outer statement asks of a one-table view (`a`), moved onto the view's own access
/// of its base table (`only`), through the view's output names.
fn pass_through(a: &mut TableAccess, only: &mut TableAccess, def: &str) {
    // Through the view's output names (`l_suppkey AS supplier_no`); what
    // an aggregate or expression computes has no base column to index.
    let map = view_columns(def);
    let through = |c: &str| match map.get(c) {
        Some(base) => base.clone(),
        None => Some(c.to_string()),
    };
    a.predicates.retain_mut(|p| {
        if p.expr.is_some() {
            return p
                .column
                .as_deref()
                .is_none_or(|c| through(c).as_deref() == Some(c));
        }
        match p.column.as_deref().map(through) {
            Some(Some(base)) => {
                p.column = Some(base);
                true
            }
            Some(None) => false,
            None => true,
        }
    });
    for list in [&mut a.join_keys, &mut a.selected] {
        *list = list.iter().filter_map(|c| through(c)).collect();
    }
    let mut ok = true;
    for o in &mut a.order_by {
        match through(&o.column) {
            Some(base) => o.column = base,
            None => ok = false,
        }
    }
    if !ok {
        a.order_by.clear();
    }
    only.alias = a.alias.take();
    only.predicates.append(&mut a.predicates);
    only.join_keys.append(&mut a.join_keys);
    if !a.order_by.is_empty() {
        only.order_by = std::mem::take(&mut a.order_by);
    }
    only.selected.append(&mut a.selected);
    only.limit_applies |= a.limit_applies;
    only.target |= a.target;
    dedup(&mut only.selected);
    dedup(&mut only.join_keys);
}

/// A view definition's output columns: name -> the base column it passes through unchanged,
/// or None when it is computed (`sum(...) AS total`).
fn view_columns(def: &str) -> HashMap<String, Option<String>> {
    let mut out = HashMap::new();
    let Ok(stmts) = parse(def) else {
        return out;
    };
    let Some(Statement::Query(q)) = stmts.first() else {
        return out;
    };
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return out;
    };
    for item in &sel.projection {
        match item {
            SelectItem::UnnamedExpr(e) => {
                if let Some(b) = bare(e) {
                    out.insert(b.clone(), Some(b));
                }
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                out.insert(alias.value.clone(), bare(expr));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::shape::tests::one;

    #[test]
    fn shape_resolve_search_path_views_partitions() {
        use crate::catalog::{Column, Table};
        let col = |n: &str| Column {
            name: n.into(),
            ..Default::default()
        };
        let mut cat = Catalog::default();
        cat.tables.push(Table {
            schema: "app".into(),
            name: "users".into(),
            columns: vec![col("id"), col("email")],
            ..Default::default()
        });
        cat.tables.push(Table {
            schema: "app".into(),
            name: "orders".into(),
            kind: TableKind::Partitioned,
            columns: vec![col("id"), col("user_id"), col("total")],
            ..Default::default()
        });
        cat.tables.push(Table {
            schema: "app".into(),
            name: "orders_2024".into(),
            parent: Some("app.orders".into()),
            columns: vec![col("id"), col("user_id"), col("total")],
            ..Default::default()
        });
        cat.tables.push(Table {
            schema: "app".into(),
            name: "active_users".into(),
            kind: TableKind::View,
            columns: vec![col("id"), col("email")],
            view_definition: Some(" SELECT id, email FROM app.users WHERE id > 0;".into()),
            ..Default::default()
        });
        let mut s = one(
            "SELECT email, total FROM active_users u JOIN orders_2024 o ON o.user_id = u.id \
             WHERE email = $1",
        );
        resolve(&mut s, &cat, &["app".into()]);
        let tables: Vec<_> = s.accesses.iter().map(|a| a.table.as_str()).collect();
        assert_eq!(tables, ["app.users", "app.orders"]);
        assert!(s.unattributed.is_empty(), "{:?}", s.unattributed);
        assert_eq!(
            s.accesses[0].predicates.len(),
            2,
            "view's own and the outer one"
        );
        assert!(s.accesses[1].selected.contains(&"total".to_string()));
    }
}

#[cfg(test)]
mod unqualified_join_tests {
    use super::*;
    use crate::catalog::{Catalog, Column, Table};

    fn table(name: &str, cols: &[&str]) -> Table {
        Table {
            schema: "public".into(),
            name: name.into(),
            columns: cols
                .iter()
                .map(|c| Column {
                    name: (*c).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn comma_join_with_unqualified_columns_has_join_keys_after_resolve() {
        let mut cat = Catalog::default();
        cat.tables
            .push(table("customer", &["c_custkey", "c_mktsegment"]));
        cat.tables
            .push(table("orders", &["o_orderkey", "o_custkey", "o_orderdate"]));
        cat.tables
            .push(table("lineitem", &["l_orderkey", "l_shipdate"]));
        let mut s = extract(
            "SELECT l_orderkey FROM customer, orders, lineitem WHERE c_mktsegment = 'B' \
             AND c_custkey = o_custkey AND l_orderkey = o_orderkey AND o_orderdate < $1",
        )
        .unwrap()
        .remove(0);
        resolve(&mut s, &cat, &[]);
        let keys = |t: &str| {
            let mut k = s
                .accesses
                .iter()
                .find(|a| a.table == t)
                .unwrap()
                .join_keys
                .clone();
            k.sort();
            k.dedup();
            k
        };
        assert_eq!(keys("public.customer"), ["c_custkey"]);
        assert_eq!(keys("public.orders"), ["o_custkey", "o_orderkey"]);
        assert_eq!(keys("public.lineitem"), ["l_orderkey"]);
        assert!(s.unattributed.is_empty(), "{:?}", s.unattributed);
    }

    fn tpch() -> Catalog {
        let mut cat = Catalog::default();
        cat.tables
            .push(table("orders", &["o_orderkey", "o_custkey", "o_orderdate"]));
        cat.tables.push(table(
            "lineitem",
            &[
                "l_orderkey",
                "l_partkey",
                "l_suppkey",
                "l_commitdate",
                "l_receiptdate",
                "l_shipmode",
            ],
        ));
        cat.tables.push(table("part", &["p_partkey", "p_brand"]));
        cat
    }

    fn resolved(sql: &str, cat: &Catalog) -> Shape {
        let mut s = extract(sql).unwrap().remove(0);
        resolve(&mut s, cat, &[]);
        s
    }

    fn keys_of(s: &Shape, t: &str) -> Vec<String> {
        let mut k: Vec<String> = s
            .accesses
            .iter()
            .filter(|a| a.table == t)
            .flat_map(|a| a.join_keys.clone())
            .collect();
        k.sort();
        k.dedup();
        k
    }

    #[test]
    fn correlated_subquery_keys_belong_to_the_scope_that_has_the_column() {
        let cat = tpch();
        // TPC-H Q4: both names unqualified; o_orderkey is the outer query's.
        let s = resolved(
            "SELECT count(*) FROM orders WHERE o_orderdate >= $1 AND EXISTS \
             (SELECT * FROM lineitem WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)",
            &cat,
        );
        assert_eq!(keys_of(&s, "public.lineitem"), ["l_orderkey"]);
        assert_eq!(keys_of(&s, "public.orders"), ["o_orderkey"]);
        assert!(s.unattributed.is_empty(), "{:?}", s.unattributed);
        // Its twin: both columns are the inner table's, so there is no join to the outer one.
        let s = resolved(
            "SELECT count(*) FROM orders WHERE EXISTS \
             (SELECT 1 FROM lineitem WHERE l_partkey = l_suppkey)",
            &cat,
        );
        assert!(keys_of(&s, "public.orders").is_empty());
    }

    #[test]
    fn or_arms_share_their_common_conjuncts() {
        // TPC-H Q19's shape: the join key is in every arm, so it is a join key of the whole.
        let s = resolved(
            "SELECT count(*) FROM lineitem, part WHERE \
             (p_partkey = l_partkey AND p_brand = 'A' AND l_shipmode IN ('AIR', 'REG AIR')) \
             OR (p_partkey = l_partkey AND p_brand = 'B' AND l_shipmode = 'AIR')",
            &tpch(),
        );
        assert_eq!(keys_of(&s, "public.lineitem"), ["l_partkey"]);
        assert_eq!(keys_of(&s, "public.part"), ["p_partkey"]);
        // Nothing is shared: no key.
        let s = resolved(
            "SELECT count(*) FROM lineitem, part WHERE (p_partkey = l_partkey AND p_brand = 'A') \
             OR (p_partkey = l_suppkey AND p_brand = 'B')",
            &tpch(),
        );
        assert!(keys_of(&s, "public.lineitem").is_empty());
    }

    #[test]
    fn a_view_passes_renamed_columns_through_and_drops_computed_ones() {
        let mut cat = tpch();
        cat.tables.push(Table {
            schema: "public".into(),
            name: "revenue".into(),
            kind: TableKind::View,
            columns: vec![
                Column {
                    name: "supplier_no".into(),
                    ..Default::default()
                },
                Column {
                    name: "total".into(),
                    ..Default::default()
                },
            ],
            view_definition: Some(
                " SELECT lineitem.l_suppkey AS supplier_no, count(*) AS total FROM lineitem \
                 GROUP BY lineitem.l_suppkey;"
                    .into(),
            ),
            ..Default::default()
        });
        let s = resolved(
            "SELECT * FROM part, revenue WHERE p_partkey = supplier_no AND total > 5",
            &cat,
        );
        assert_eq!(keys_of(&s, "public.lineitem"), ["l_suppkey"]);
        let l = s
            .accesses
            .iter()
            .find(|a| a.table == "public.lineitem")
            .unwrap();
        assert!(
            l.predicates
                .iter()
                .all(|p| p.column.as_deref() != Some("total")),
            "an aggregate is not a column to index: {:?}",
            l.predicates
        );
    }
}
