//! The catalog model: tables, columns, indexes, constraints and their statistics, as plain
//! serde-able data.
//!
//! Why a model of our own instead of querying as we go: every analysis (advise, explain,
//! inspect, rules) reads the same facts, works offline from a snapshot file, and is testable
//! without a server. `crate::pg::catalog` fills it from a live server; a snapshot file fills it
//! from disk.

pub mod bloat;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub server_version_num: i32,
    pub database: String,
    pub tables: Vec<Table>,
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
    pub settings: CostSettings,
    /// Seconds since statistics were last reset (pg_stat_database.stats_reset), if known.
    #[serde(default)]
    pub stats_reset_age_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    #[default]
    Table,
    Partitioned,
    View,
    MaterializedView,
    Foreign,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub kind: TableKind,
    /// `schema.name` of the partitioned parent, for a partition.
    pub parent: Option<String>,
    /// `schema.name` of each partition, for a partitioned table.
    #[serde(default)]
    pub partitions: Vec<String>,
    /// pg_class.reltuples (-1 or 0 when never analyzed).
    pub reltuples: f64,
    pub relpages: i64,
    /// Heap size in bytes (pg_relation_size).
    pub heap_bytes: i64,
    /// All indexes of the table, in bytes.
    pub index_bytes: i64,
    /// TOAST in bytes.
    pub toast_bytes: i64,
    pub columns: Vec<Column>,
    #[serde(default)]
    pub stats: TableStats,
    /// View definition (pg_get_viewdef), for views.
    pub view_definition: Option<String>,
    /// Whether the table has ever been analyzed (last_analyze or last_autoanalyze set).
    pub analyzed: bool,
}

impl Table {
    /// `schema.name`, unquoted.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// format_type(atttypid, atttypmod), e.g. `text`, `timestamp with time zone`.
    pub type_name: String,
    pub not_null: bool,
    /// From pg_stats, when analyzed.
    pub stats: Option<ColumnStats>,
}

/// One row of pg_stats. Values are kept as text, as the server prints them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub null_frac: f64,
    pub avg_width: i32,
    /// Positive: number of distinct values; negative: minus the fraction of rows (as in pg_stats).
    pub n_distinct: f64,
    #[serde(default)]
    pub most_common_vals: Vec<String>,
    #[serde(default)]
    pub most_common_freqs: Vec<f64>,
    #[serde(default)]
    pub histogram_bounds: Vec<String>,
    pub correlation: Option<f64>,
}

impl ColumnStats {
    /// Distinct values for a table of `rows` rows.
    pub fn distinct(&self, rows: f64) -> f64 {
        if self.n_distinct >= 0.0 {
            self.n_distinct.max(1.0)
        } else {
            (-self.n_distinct * rows).max(1.0)
        }
    }
}

/// pg_stat_user_tables counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableStats {
    pub seq_scan: i64,
    pub seq_tup_read: i64,
    pub idx_scan: i64,
    pub idx_tup_fetch: i64,
    pub n_tup_ins: i64,
    pub n_tup_upd: i64,
    pub n_tup_del: i64,
    pub n_tup_hot_upd: i64,
    pub n_live_tup: i64,
    pub n_dead_tup: i64,
    pub last_vacuum: Option<String>,
    pub last_autovacuum: Option<String>,
    pub last_analyze: Option<String>,
    pub last_autoanalyze: Option<String>,
    /// Times autovacuum has vacuumed the table since statistics were reset.
    #[serde(default)]
    pub autovacuum_count: i64,
    /// pg_statio_user_tables: heap blocks found in shared buffers / read from outside them.
    #[serde(default)]
    pub heap_blks_hit: i64,
    #[serde(default)]
    pub heap_blks_read: i64,
    /// pg_class.reloptions of the table (`autovacuum_enabled=false`, `fillfactor=70`).
    #[serde(default)]
    pub reloptions: Vec<String>,
}

impl TableStats {
    /// The value of storage parameter `name` in [`TableStats::reloptions`], as text.
    pub fn reloption(&self, name: &str) -> Option<&str> {
        reloption(&self.reloptions, name)
    }
}

/// The value of `name` in a `name=value` reloptions list (as pg_class prints it).
pub fn reloption<'a>(options: &'a [String], name: &str) -> Option<&'a str> {
    options.iter().find_map(|o| {
        o.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

/// One key of an index: a column or an expression, with its ordering.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    /// The column name, or `None` for an expression key.
    pub column: Option<String>,
    /// The key as written in the definition (`status`, `lower(email)`).
    pub expr: String,
    pub desc: bool,
    pub nulls_first: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub schema: String,
    pub name: String,
    /// `schema.name` of the table.
    pub table: String,
    /// btree, hash, gin, gist, brin, spgist.
    pub method: String,
    pub keys: Vec<IndexKey>,
    #[serde(default)]
    pub include: Vec<String>,
    /// Partial-index predicate (pg_get_expr(indpred)).
    pub predicate: Option<String>,
    pub unique: bool,
    pub primary: bool,
    /// indisvalid: false after a failed CREATE INDEX CONCURRENTLY.
    pub valid: bool,
    pub size_bytes: i64,
    /// pg_stat_user_indexes.idx_scan.
    pub scans: i64,
    /// pg_get_indexdef.
    pub definition: String,
    /// The constraint it backs: `p` primary, `u` unique, `x` exclusion; None for a plain index.
    pub constraint: Option<String>,
    /// Used as the table's replica identity.
    #[serde(default)]
    pub replica_identity: bool,
    /// `schema.name` of the partitioned table's index this partition's index is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_index: Option<String>,
    /// Size facts of the index itself, for the index bloat estimate.
    #[serde(default)]
    pub stats: IndexStats,
}

/// pg_class and pg_statio_user_indexes facts of one index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexStats {
    /// pg_class.relpages and reltuples of the index (as of the last VACUUM/ANALYZE/CREATE).
    pub relpages: i64,
    pub reltuples: f64,
    /// pg_class.reloptions of the index (`fillfactor=70`).
    pub reloptions: Vec<String>,
    /// Index blocks found in shared buffers / read from outside them.
    pub blks_hit: i64,
    pub blks_read: i64,
}

impl Index {
    /// Column names of the keys, in order; `None` entries for expression keys.
    pub fn key_columns(&self) -> Vec<Option<&str>> {
        self.keys.iter().map(|k| k.column.as_deref()).collect()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    /// Referencing table, `schema.name`.
    pub table: String,
    pub columns: Vec<String>,
    /// Referenced table, `schema.name`.
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

/// The planner cost settings our own cost model uses when HypoPG is not there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostSettings {
    pub seq_page_cost: f64,
    pub random_page_cost: f64,
    pub cpu_tuple_cost: f64,
    pub cpu_index_tuple_cost: f64,
    pub cpu_operator_cost: f64,
    /// In 8 kB pages.
    pub effective_cache_size_pages: f64,
    pub block_size: i64,
}

impl Default for CostSettings {
    fn default() -> Self {
        CostSettings {
            seq_page_cost: 1.0,
            random_page_cost: 4.0,
            cpu_tuple_cost: 0.01,
            cpu_index_tuple_cost: 0.005,
            cpu_operator_cost: 0.0025,
            effective_cache_size_pages: 524_288.0,
            block_size: 8192,
        }
    }
}

impl Catalog {
    /// Find a table by `schema.name` or by bare name (first match in `public`, then any schema).
    pub fn table(&self, name: &str) -> Option<&Table> {
        match name.split_once('.') {
            Some((s, n)) => self.tables.iter().find(|t| t.schema == s && t.name == n),
            None => self
                .tables
                .iter()
                .find(|t| t.schema == "public" && t.name == name)
                .or_else(|| self.tables.iter().find(|t| t.name == name)),
        }
    }

    pub fn indexes_on<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a Index> + 'a {
        self.indexes.iter().filter(move |i| i.table == table)
    }

    /// The user tables a name typed on the command line means (`--include`, `--exclude`):
    /// the exact text first (`Weird Table` unquoted, `app.events`), then the text read as an
    /// SQL name (`Orders` folds to `orders`, `'"Weird Table"'` keeps its case,
    /// `app."Events"`). A bare name means that table in every schema.
    pub fn tables_named(&self, spelled: &str) -> Result<Vec<&Table>, UnknownTable> {
        let user = || {
            self.tables
                .iter()
                .filter(|t| t.schema != "pg_catalog" && t.schema != "information_schema")
        };
        let exact: Vec<&Table> = user()
            .filter(|t| t.name == spelled || t.qualified() == spelled)
            .collect();
        if !exact.is_empty() {
            return Ok(exact);
        }
        let parts = crate::sql::ident::sql_name(spelled);
        let found: Vec<&Table> = match parts.as_deref() {
            Some([name]) => user().filter(|t| &t.name == name).collect(),
            Some([schema, name]) => user()
                .filter(|t| &t.schema == schema && &t.name == name)
                .collect(),
            _ => vec![],
        };
        if !found.is_empty() {
            return Ok(found);
        }
        // The closest names, by edit distance on the name as typed (quotes and case aside).
        let typed = parts
            .as_ref()
            .and_then(|p| p.last().cloned())
            .unwrap_or_else(|| spelled.to_string())
            .to_lowercase();
        let limit = (typed.chars().count() / 3).max(2);
        let mut near: Vec<(usize, String)> = user()
            .map(|t| (edit_distance(&typed, &t.name.to_lowercase()), t.qualified()))
            .filter(|(d, _)| *d <= limit)
            .collect();
        near.sort();
        near.dedup();
        Err(UnknownTable {
            spelled: spelled.to_string(),
            database: self.database.clone(),
            closest: near.into_iter().take(3).map(|(_, n)| n).collect(),
        })
    }
}

/// A table name from the command line that names no table of the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no table named {spelled} in database \"{database}\"")]
pub struct UnknownTable {
    pub spelled: String,
    pub database: String,
    /// The most similar existing tables (`schema.name`), closest first.
    pub closest: Vec<String>,
}

impl UnknownTable {
    pub fn hint(&self) -> String {
        if self.closest.is_empty() {
            "`dbopt tables` lists the tables; spell a name as `schema.table` or `table`, and quote one with capitals or spaces (`'\"Weird Table\"'`); is --database-url the right database?".into()
        } else {
            format!("did you mean {}?", self.closest.join(", "))
        }
    }
}

/// Levenshtein distance in characters (also for rule names: `rules::find`).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(names: &[(&str, &str)]) -> Catalog {
        Catalog {
            database: "app".into(),
            tables: names
                .iter()
                .map(|(s, n)| Table {
                    schema: (*s).into(),
                    name: (*n).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn names_from_the_command_line_resolve_like_sql() {
        let c = catalog(&[
            ("public", "orders"),
            ("app", "orders"),
            ("public", "Weird Table"),
            ("pg_catalog", "pg_class"),
        ]);
        let q = |s: &str| -> Vec<String> {
            c.tables_named(s)
                .unwrap()
                .iter()
                .map(|t| t.qualified())
                .collect()
        };
        assert_eq!(q("orders"), ["public.orders", "app.orders"]);
        assert_eq!(q("Orders"), ["public.orders", "app.orders"]);
        assert_eq!(q("app.orders"), ["app.orders"]);
        assert_eq!(q("APP.\"orders\""), ["app.orders"]);
        assert_eq!(q("Weird Table"), ["public.Weird Table"]);
        assert_eq!(q("\"Weird Table\""), ["public.Weird Table"]);
        assert_eq!(q("public.\"Weird Table\""), ["public.Weird Table"]);
        let e = c.tables_named("\"weird table\"").unwrap_err();
        assert_eq!(e.closest, ["public.Weird Table"]);
        let e = c.tables_named("ordrs").unwrap_err();
        assert_eq!(e.closest, ["app.orders", "public.orders"]);
        assert!(e.hint().contains("did you mean app.orders"), "{}", e.hint());
        assert!(
            c.tables_named("pg_class").is_err(),
            "system tables are not advised on"
        );
        let e = c.tables_named("invoices").unwrap_err();
        assert!(e.closest.is_empty() && e.hint().contains("dbopt tables"));
    }
}
