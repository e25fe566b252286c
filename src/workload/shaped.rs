//! The workload's statements with their resolved shapes, for the rules that look at access
//! patterns (N+1 loops, OFFSET pagination, `SELECT *`, leading wildcards, ...).
//!
//! Why a helper: every workload rule needs "parse, skip what cannot be parsed or only reads
//! system catalogs, resolve against the catalog"; doing it in one place keeps those rules to
//! their own logic and makes them agree on which statements count.

use super::shape::{self, Shape, StatementKind};
use super::{Statement, Workload};
use crate::catalog::Catalog;

/// A statement and its (first) shape, resolved through the default `search_path` (`public`).
#[derive(Debug, Clone)]
pub struct Shaped<'a> {
    pub statement: &'a Statement,
    pub shape: Shape,
}

/// The shape of one query text, resolved when a catalog is given; `None` for utility
/// statements, text that does not parse, and statements on system catalogs only. A wrapped
/// statement (`PREPARE q AS ...`) has the shape of the statement inside.
pub fn shape_of(query: &str, catalog: Option<&Catalog>) -> Option<Shape> {
    let text = super::plannable::plannable(query).parse_sql;
    let mut sh = shape::extract(&text).ok()?.into_iter().next()?;
    if sh.kind == StatementKind::Utility {
        return None;
    }
    if let Some(c) = catalog {
        shape::resolve(&mut sh, c, &[]);
    }
    let system = |t: &str| {
        let bare = bare(t);
        t.starts_with("pg_catalog.")
            || t.starts_with("information_schema.")
            || (bare.starts_with("pg_") && catalog.is_none_or(|c| c.table(t).is_none()))
    };
    if sh.accesses.is_empty() || sh.accesses.iter().all(|a| system(&a.table)) {
        return None;
    }
    Some(sh)
}

/// Every statement of the workload that has a shape.
pub fn shaped<'a>(workload: &'a Workload, catalog: Option<&Catalog>) -> Vec<Shaped<'a>> {
    workload
        .statements
        .iter()
        .filter_map(|s| {
            shape_of(&s.query, catalog).map(|shape| Shaped {
                statement: s,
                shape,
            })
        })
        .collect()
}

/// `table` of `schema.table`.
pub fn bare(table: &str) -> &str {
    table.rsplit('.').next().unwrap_or(table)
}

/// A statement text cut to `n` characters for messages.
pub fn short(query: &str, n: usize) -> String {
    let q: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if q.chars().count() <= n {
        q
    } else {
        format!("{}…", q.chars().take(n).collect::<String>())
    }
}
