//! Planning: everything the run needs is read from the catalog and fixed *before* the first
//! batch: the table and its primary key, the age column, the cutoff and the highest key (both
//! captured once, so rows arriving during the run are never touched), the archive's shape, the
//! foreign keys that would make deletes fail or cascade, and partitions that could be detached
//! whole. Planning only reads, so it runs on a read-only session and backs `--dry-run`.

use std::time::Duration;

use serde::Serialize;

use super::{filter, q, sql, ArchiveError, Result};
use crate::pg::Conn;
pub use crate::sql::ident::sql_name;
use crate::sql::quote_ident;

/// What happens to the selected rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Insert into the archive, then delete from the source.
    Move,
    /// Insert into the archive; keep the source rows.
    Copy,
    /// Delete from the source; keep nothing.
    Delete,
}

impl Strategy {
    pub fn label(self) -> &'static str {
        match self {
            Strategy::Move => "move",
            Strategy::Copy => "copy",
            Strategy::Delete => "delete",
        }
    }
    pub fn deletes(self) -> bool {
        self != Strategy::Copy
    }
    pub fn writes_archive(self) -> bool {
        self != Strategy::Delete
    }
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub table: String,
    pub older_than: Duration,
    pub column: Option<String>,
    pub strategy: Strategy,
    /// Archive table name (same database, or the other database with `cross_database`).
    pub to: Option<String>,
    /// The archive lives in another database (a second connection).
    pub cross_database: bool,
    pub filter: Option<String>,
    /// Create the archive partitioned by month of the age column.
    pub archive_by_month: bool,
}

/// A column of the source table.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    pub type_name: String,
    pub not_null: bool,
    pub generated: bool,
}

/// A partition of the source that holds only rows older than the cutoff.
#[derive(Debug, Clone, Serialize)]
pub struct OldPartition {
    pub name: String,
    pub bound: String,
    pub detach_sql: String,
}

/// The fixed plan of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub strategy: Strategy,
    /// Quoted, schema-qualified source name.
    pub source: String,
    pub source_oid: u32,
    pub partitioned: bool,
    pub columns: Vec<Column>,
    pub key: Vec<Column>,
    pub age_column: Column,
    /// The cutoff, in the age column's type, as text (`age < cutoff`).
    pub cutoff: String,
    /// The highest key when the run started (`key <= max_key`), or None for an empty table.
    pub max_key: Option<Vec<String>>,
    /// The `--where` filter, re-rendered and parenthesised.
    pub filter: Option<String>,
    /// Quoted archive name, when the strategy writes one.
    pub archive: Option<String>,
    pub cross_database: bool,
    /// Whether the archive table exists already.
    pub archive_exists: bool,
    /// The archive is (or will be created) range-partitioned by month of the age column;
    /// the run adds the month partitions its rows need.
    pub archive_by_month: bool,
    pub referencing_fks: Vec<String>,
    pub old_partitions: Vec<OldPartition>,
}

/// Resolve `name` exactly (so `Events 2024` works unquoted), then as an SQL identifier.
async fn resolve(c: &Conn, name: &str) -> Result<Option<(u32, String, char)>> {
    let row = c
        .query_opt(
            "SELECT c.oid, format('%I.%I', n.nspname, c.relname), c.relkind::text
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE (c.relname = $1 AND pg_table_is_visible(c.oid))
                 OR (strpos($1, '.') > 0 AND n.nspname || '.' || c.relname = $1)
              ORDER BY pg_table_is_visible(c.oid) DESC LIMIT 1",
            &[&name],
        )
        .await
        .map_err(q("looking up the table"))?;
    let row = match row {
        Some(r) => Some(r),
        None => c
            .query_opt(
                "SELECT c.oid, format('%I.%I', n.nspname, c.relname), c.relkind::text
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.oid = to_regclass($1)",
                &[&name],
            )
            .await
            .unwrap_or(None),
    };
    Ok(row.map(|r| {
        let kind: String = r.get(2);
        (r.get(0), r.get(1), kind.chars().next().unwrap_or('?'))
    }))
}

async fn columns(c: &Conn, oid: u32) -> Result<Vec<Column>> {
    let rows = c
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull, attgenerated <> ''
               FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped
              ORDER BY attnum",
            &[&oid],
        )
        .await
        .map_err(q("reading the table's columns"))?;
    Ok(rows
        .iter()
        .map(|r| Column {
            name: r.get(0),
            type_name: r.get(1),
            not_null: r.get(2),
            generated: r.get(3),
        })
        .collect())
}

/// Columns of the primary key, in key order (empty when there is none).
async fn primary_key(c: &Conn, oid: u32) -> Result<Vec<String>> {
    let rows = c
        .query(
            "SELECT a.attname::text
               FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indrelid = $1 AND i.indisprimary
              ORDER BY k.ord",
            &[&oid],
        )
        .await
        .map_err(q("reading the primary key"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Whether `oid` has a unique index on these columns (any order), optionally plus `extra`
/// (the partition column of an archive partitioned by month).
pub async fn has_unique_on(
    c: &Conn,
    oid: u32,
    cols: &[String],
    extra: Option<&str>,
) -> Result<bool> {
    let mut want: Vec<String> = cols.to_vec();
    want.sort();
    let mut want_extra = want.clone();
    if let Some(e) = extra.filter(|e| !cols.iter().any(|c| c == e)) {
        want_extra.push(e.to_string());
        want_extra.sort();
    }
    let rows = c
        .query(
            "SELECT array_agg(a.attname::text ORDER BY a.attname)
               FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey::int2[]) k(attnum)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL
              GROUP BY i.indexrelid",
            &[&oid],
        )
        .await
        .map_err(q("reading the archive's unique indexes"))?;
    Ok(rows.iter().any(|r| {
        let got = r.get::<_, Vec<String>>(0);
        got == want || got == want_extra
    }))
}

const TIME_TYPES: &[&str] = &[
    "timestamp with time zone",
    "timestamp without time zone",
    "date",
];
const AGE_NAMES: &[&str] = &[
    "created_at",
    "timestamp",
    "inserted_at",
    "created",
    "ts",
    "occurred_at",
    "event_time",
    "logged_at",
];

fn is_time(t: &str) -> bool {
    TIME_TYPES.iter().any(|x| t.starts_with(x))
}

/// A column named the way `--table` names a table: the exact name first (so `Created At` works
/// unquoted), then as one SQL identifier (`created_AT` folds to `created_at`, `"Created At"`
/// keeps its case).
fn find_column<'a>(cols: &'a [Column], spelled: &str) -> Option<&'a Column> {
    cols.iter()
        .find(|c| c.name == spelled)
        .or_else(|| match sql_name(spelled)?.as_slice() {
            [one] => cols.iter().find(|c| &c.name == one),
            _ => None,
        })
}

fn age_column(table: &str, cols: &[Column], wanted: Option<&str>) -> Result<Column> {
    if let Some(w) = wanted {
        let c = find_column(cols, w).ok_or_else(|| ArchiveError::NoColumn {
            column: w.to_string(),
            table: table.to_string(),
            candidates: {
                let times: Vec<&str> = cols
                    .iter()
                    .filter(|c| is_time(&c.type_name))
                    .map(|c| c.name.as_str())
                    .collect();
                if times.is_empty() {
                    "none".into()
                } else {
                    times.join(", ")
                }
            },
        })?;
        if !is_time(&c.type_name) {
            return Err(ArchiveError::NotATime {
                column: c.name.clone(),
                table: table.to_string(),
                type_name: c.type_name.clone(),
            });
        }
        return Ok(c.clone());
    }
    let times: Vec<&Column> = cols.iter().filter(|c| is_time(&c.type_name)).collect();
    if let Some(c) = AGE_NAMES
        .iter()
        .find_map(|n| times.iter().find(|c| c.name == *n))
    {
        return Ok((*c).clone());
    }
    match times.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ArchiveError::NoAgeColumn {
            table: table.to_string(),
            why: "it has no date or timestamp column".into(),
        }),
        many => Err(ArchiveError::NoAgeColumn {
            table: table.to_string(),
            why: format!(
                "it has several ({})",
                many.iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// Foreign keys of other tables (or this one) that reference the source or its partitions.
async fn referencing_fks(c: &Conn, oid: u32) -> Result<Vec<String>> {
    let rows = c
        .query(
            "SELECT format('%s on %s', quote_ident(conname), conrelid::regclass::text)
               FROM pg_constraint
              WHERE contype = 'f' AND conparentid = 0
                AND (confrelid = $1
                     OR confrelid IN (SELECT relid FROM pg_partition_tree($1::oid::regclass)))
              ORDER BY 1",
            &[&oid],
        )
        .await
        .map_err(q("looking for foreign keys that reference the table"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Range partitions on the age column whose upper bound is at or before the cutoff.
async fn old_partitions(
    c: &Conn,
    plan_source: &str,
    oid: u32,
    age: &Column,
    cutoff: &str,
) -> Result<Vec<OldPartition>> {
    let key: Option<String> = c
        .query_one("SELECT pg_get_partkeydef($1)", &[&oid])
        .await
        .map_err(q("reading the partition key"))?
        .get(0);
    let expected = format!("RANGE ({})", age.name);
    let expected_quoted = format!("RANGE ({})", quote_ident(&age.name));
    if !key.is_some_and(|k| k == expected || k == expected_quoted) {
        return Ok(Vec::new());
    }
    let has_default: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
                             WHERE i.inhparent = $1 AND pg_get_expr(p.relpartbound, p.oid) = 'DEFAULT')",
            &[&oid],
        )
        .await
        .map_err(q("reading partitions"))?
        .get(0);
    let rows = c
        .query(
            "SELECT format('%I.%I', n.nspname, p.relname), pg_get_expr(p.relpartbound, p.oid)
               FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
               JOIN pg_namespace n ON n.oid = p.relnamespace
              WHERE i.inhparent = $1 ORDER BY 1",
            &[&oid],
        )
        .await
        .map_err(q("reading partitions"))?;
    let mut out = Vec::new();
    for r in rows {
        let name: String = r.get(0);
        let bound: String = r.get(1);
        // "FOR VALUES FROM ('...') TO ('...')": the upper bound is the last quoted literal.
        let Some(to) = bound.split(" TO (").nth(1) else {
            continue;
        };
        let Some(lit) = to
            .strip_prefix('\'')
            .and_then(|s| s.split('\'').next())
            .map(str::to_string)
        else {
            continue; // MAXVALUE
        };
        let sql = format!("SELECT $1::text::{t} <= $2::text::{t}", t = age.type_name);
        let older: bool = c
            .query_one(&sql, &[&lit, &cutoff])
            .await
            .map_err(q("comparing a partition bound with the cutoff"))?
            .get(0);
        if older {
            let concurrently = if has_default { "" } else { " CONCURRENTLY" };
            out.push(OldPartition {
                detach_sql: format!(
                    "ALTER TABLE {plan_source} DETACH PARTITION {name}{concurrently}"
                ),
                name,
                bound,
            });
        }
    }
    Ok(out)
}

/// Build the plan. `src` may be read-only; `dst` is the archive's database when it differs.
pub async fn build(src: &Conn, dst: Option<&Conn>, o: &PlanOptions) -> Result<Plan> {
    let (oid, source, kind) = resolve(src, &o.table)
        .await?
        .ok_or_else(|| ArchiveError::NoTable(o.table.clone()))?;
    if kind != 'r' && kind != 'p' {
        return Err(ArchiveError::NotATable(source));
    }
    let cols = columns(src, oid).await?;
    // Checked against the allow-list before any of it reaches the server.
    let filter = o
        .filter
        .as_deref()
        .map(|f| filter::check_where(f, &source, &cols))
        .transpose()?;
    let key_names = primary_key(src, oid).await?;
    if key_names.is_empty() {
        return Err(ArchiveError::NoPrimaryKey(source));
    }
    let key: Vec<Column> = key_names
        .iter()
        .filter_map(|k| cols.iter().find(|c| &c.name == k).cloned())
        .collect();
    let age = age_column(&source, &cols, o.column.as_deref())?;
    let referencing = if o.strategy.deletes() {
        referencing_fks(src, oid).await?
    } else {
        Vec::new()
    };
    if !referencing.is_empty() {
        return Err(ArchiveError::ReferencedBy {
            table: source,
            list: referencing.join(", "),
        });
    }
    // The cutoff, once, on the server's clock, in the column's own type.
    let secs = format!("{} seconds", o.older_than.as_secs_f64());
    let cutoff: String = src
        .query_one(
            &format!(
                "SELECT (now() - $1::text::interval)::{}::text",
                age.type_name
            ),
            &[&secs],
        )
        .await
        .map_err(q("computing the cutoff"))?
        .get(0);
    let max_key = sql::max_key(src, &source, &key).await?;
    let mut plan = Plan {
        strategy: o.strategy,
        source: source.clone(),
        source_oid: oid,
        partitioned: kind == 'p',
        columns: cols,
        key,
        age_column: age.clone(),
        cutoff: cutoff.clone(),
        max_key,
        filter: filter.as_ref().map(|f| f.sql.clone()),
        archive: None,
        cross_database: o.cross_database,
        archive_exists: false,
        archive_by_month: o.archive_by_month,
        referencing_fks: referencing,
        old_partitions: Vec::new(),
    };
    if plan.partitioned {
        plan.old_partitions = old_partitions(src, &source, oid, &age, &cutoff).await?;
    }
    if let (Some(f), Some(text)) = (&filter, o.filter.as_deref()) {
        // The allow-list passed it; now the server must agree that its operators are the
        // built-in ones and that it only reads.
        sql::probe_filter(src, &plan, f, text).await?;
    }
    if o.strategy.writes_archive() {
        let name = o.to.clone().unwrap_or_else(|| {
            let bare = source.rsplit('.').next().unwrap_or(&source);
            format!("{}_archive", bare.trim_matches('"').replace("\"\"", "\""))
        });
        let conn = dst.unwrap_or(src);
        match resolve(conn, &name).await? {
            Some((aoid, aname, akind)) => {
                if akind != 'r' && akind != 'p' {
                    return Err(ArchiveError::NotATable(aname));
                }
                check_compatible(conn, &plan, aoid, &aname).await?;
                plan.archive_by_month = akind == 'p' && by_month_on(conn, aoid, &age).await?;
                plan.archive = Some(aname);
                plan.archive_exists = true;
            }
            None => {
                // Created later (with --create) in the source's schema.
                let schema = source
                    .rsplit_once('.')
                    .map(|(s, _)| s.to_string())
                    .unwrap_or_default();
                let quoted = match sql_name(&name) {
                    Some(parts) if parts.len() > 1 => parts
                        .iter()
                        .map(|p| quote_ident(p))
                        .collect::<Vec<_>>()
                        .join("."),
                    Some(parts) if name.starts_with('"') => qualify(&schema, &parts[0], o),
                    _ => qualify(&schema, &name, o),
                };
                plan.archive = Some(quoted);
            }
        }
    }
    Ok(plan)
}

/// Whether the archive is range-partitioned on the age column (then the run adds months).
async fn by_month_on(c: &Conn, oid: u32, age: &Column) -> Result<bool> {
    let key: Option<String> = c
        .query_one("SELECT pg_get_partkeydef($1)", &[&oid])
        .await
        .map_err(q("reading the archive's partition key"))?
        .get(0);
    Ok(key.is_some_and(|k| {
        k == format!("RANGE ({})", age.name) || k == format!("RANGE ({})", quote_ident(&age.name))
    }))
}

fn qualify(schema: &str, name: &str, o: &PlanOptions) -> String {
    if schema.is_empty() || o.cross_database {
        quote_ident(name)
    } else {
        format!("{schema}.{}", quote_ident(name))
    }
}

/// The archive must have every copied column with the same type, and (for idempotent
/// strategies) a unique index on the key.
async fn check_compatible(c: &Conn, plan: &Plan, aoid: u32, aname: &str) -> Result<()> {
    let acols = columns(c, aoid).await?;
    for col in plan.columns.iter().filter(|c| !c.generated) {
        match acols.iter().find(|a| a.name == col.name) {
            None => {
                return Err(ArchiveError::Incompatible {
                    archive: aname.into(),
                    table: plan.source.clone(),
                    detail: format!("column \"{}\" is missing", col.name),
                })
            }
            Some(a) if a.type_name != col.type_name => {
                return Err(ArchiveError::Incompatible {
                    archive: aname.into(),
                    table: plan.source.clone(),
                    detail: format!(
                        "column \"{}\" is {} in the archive but {} in the source",
                        col.name, a.type_name, col.type_name
                    ),
                })
            }
            Some(_) => {}
        }
    }
    let idempotent = plan.strategy == Strategy::Copy || plan.cross_database;
    let key: Vec<String> = plan.key.iter().map(|k| k.name.clone()).collect();
    if idempotent && !has_unique_on(c, aoid, &key, Some(&plan.age_column.name)).await? {
        return Err(ArchiveError::ArchiveNotUnique {
            archive: aname.into(),
            key: key.join(", "),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{find_column, Column};

    #[test]
    fn columns_are_spelled_like_tables() {
        let cols: Vec<Column> = ["created_at", "Created At", "When"]
            .iter()
            .map(|n| Column {
                name: (*n).into(),
                type_name: "date".into(),
                not_null: true,
                generated: false,
            })
            .collect();
        let found = |s: &str| find_column(&cols, s).map(|c| c.name.as_str());
        assert_eq!(found("Created At"), Some("Created At"));
        assert_eq!(found("\"Created At\""), Some("Created At"));
        assert_eq!(found("CREATED_AT"), Some("created_at"));
        assert_eq!(found("When"), Some("When"));
        assert_eq!(found("\"When\""), Some("When"));
        assert_eq!(found("WHEN"), None);
        assert_eq!(found("\"CREATED_AT\""), None);
        assert_eq!(found("a.created_at"), None);
    }
}
