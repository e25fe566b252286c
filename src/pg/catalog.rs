//! Fills [`crate::catalog::Catalog`] from a live server: pg_class, pg_attribute, pg_index,
//! pg_constraint, pg_stat_user_tables/indexes and pg_stats, in a handful of queries.
//!
//! Why few, wide queries: a catalog of 500 tables must load in well under a second even over a
//! slow link, so each kind of object is fetched once and joined in memory.
//!
//! Why only objects any role may read: managed servers (RDS, Cloud SQL, Azure, Supabase, Neon)
//! give no superuser, so the catalog never touches superuser-only relations such as
//! `pg_statistic`; "has statistics" comes from `pg_stats`, which shows the rows of the tables
//! this role may SELECT, and from `pg_stat_user_tables.last_(auto)analyze`, which any role sees.

use std::collections::HashMap;

use tokio_postgres::Row;

use super::connect::Conn;
use super::error::{PgError, Result};
use crate::catalog::{
    Catalog, Column, ColumnStats, CostSettings, ForeignKey, Index, IndexKey, IndexStats, Table,
    TableKind, TableStats,
};

const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'";

fn q(what: &'static str) -> impl Fn(tokio_postgres::Error) -> PgError {
    move |e| PgError::query(format!("reading the catalog ({what})"), e)
}

/// The rows of one catalog query; `what` names it in the error.
async fn rows(c: &Conn, what: &'static str, sql: &str) -> Result<Vec<Row>> {
    c.query(sql, &[]).await.map_err(q(what))
}

/// `schema.table` -> its index in `cat.tables`.
type ByName = HashMap<String, usize>;

/// `(schema.table, attnum)` -> column name, for resolving index keys.
type AttNames = HashMap<(String, i16), String>;

/// Load the catalog of the connected database (user schemas only).
pub async fn load(c: &Conn) -> Result<Catalog> {
    let head = c
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_database()::text, \
             (SELECT extract(epoch FROM now() - stats_reset)::float8 FROM pg_stat_database WHERE datname = current_database())",
            &[],
        )
        .await
        .map_err(q("server"))?;
    let mut cat = Catalog {
        server_version_num: head.get(0),
        database: head.get(1),
        stats_reset_age_s: head.get(2),
        ..Default::default()
    };
    cat.settings = settings(c).await?;
    cat.tables = tables(c).await?;
    let by_name: ByName = cat
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.qualified(), i))
        .collect();
    link_partitions(&mut cat.tables, &by_name);
    let attnames = columns(c, &mut cat.tables, &by_name).await?;
    column_stats(c, &mut cat.tables, &by_name).await?;
    cat.indexes = indexes(c, &attnames).await?;
    cat.foreign_keys = foreign_keys(c).await?;
    Ok(cat)
}

/// Tables, views and their counters (pg_class and pg_stat_user_tables), without columns.
async fn tables(c: &Conn) -> Result<Vec<Table>> {
    let rows = rows(
        c,
        "tables",
        &format!(
            "SELECT n.nspname::text, c.relname::text, c.relkind::text, c.reltuples::float8, c.relpages::int8, \
             pg_relation_size(c.oid), pg_indexes_size(c.oid), \
             CASE WHEN c.reltoastrelid <> 0 THEN pg_total_relation_size(c.reltoastrelid) ELSE 0 END, \
             (SELECT pn.nspname || '.' || p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent \
                JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = c.oid LIMIT 1), \
             CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END, \
             coalesce(s.seq_scan, 0), coalesce(s.seq_tup_read, 0), coalesce(s.idx_scan, 0), coalesce(s.idx_tup_fetch, 0), \
             coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_del, 0), coalesce(s.n_tup_hot_upd, 0), \
             coalesce(s.n_live_tup, 0), coalesce(s.n_dead_tup, 0), \
             s.last_vacuum::text, s.last_autovacuum::text, s.last_analyze::text, s.last_autoanalyze::text, \
             st.tablename IS NOT NULL, coalesce(s.autovacuum_count, 0), \
             coalesce(io.heap_blks_hit, 0), coalesce(io.heap_blks_read, 0), coalesce(c.reloptions::text[], '{{}}') \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid \
             LEFT JOIN pg_statio_user_tables io ON io.relid = c.oid \
             LEFT JOIN (SELECT DISTINCT schemaname, tablename FROM pg_stats) st \
               ON st.schemaname = n.nspname AND st.tablename = c.relname \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_SCHEMAS} ORDER BY 1, 2"
        ),
    )
    .await?;
    Ok(rows.iter().map(table).collect())
}

fn table(r: &Row) -> Table {
    let kind = match r.get::<_, String>(2).as_str() {
        "p" => TableKind::Partitioned,
        "v" => TableKind::View,
        "m" => TableKind::MaterializedView,
        "f" => TableKind::Foreign,
        _ => TableKind::Table,
    };
    let stats = TableStats {
        seq_scan: r.get(10),
        seq_tup_read: r.get(11),
        idx_scan: r.get(12),
        idx_tup_fetch: r.get(13),
        n_tup_ins: r.get(14),
        n_tup_upd: r.get(15),
        n_tup_del: r.get(16),
        n_tup_hot_upd: r.get(17),
        n_live_tup: r.get(18),
        n_dead_tup: r.get(19),
        last_vacuum: r.get(20),
        last_autovacuum: r.get(21),
        last_analyze: r.get(22),
        last_autoanalyze: r.get(23),
        autovacuum_count: r.get(25),
        heap_blks_hit: r.get(26),
        heap_blks_read: r.get(27),
        reloptions: r.get(28),
    };
    let analyzed =
        stats.last_analyze.is_some() || stats.last_autoanalyze.is_some() || r.get::<_, bool>(24);
    Table {
        schema: r.get(0),
        name: r.get(1),
        kind,
        reltuples: r.get(3),
        relpages: r.get(4),
        heap_bytes: r.get(5),
        index_bytes: r.get(6),
        toast_bytes: r.get(7),
        parent: r.get(8),
        view_definition: r.get(9),
        stats,
        analyzed,
        ..Default::default()
    }
}

/// Each partitioned table lists its partitions.
fn link_partitions(tables: &mut [Table], by_name: &ByName) {
    for i in 0..tables.len() {
        if let Some(parent) = tables[i].parent.clone() {
            if let Some(&p) = by_name.get(&parent) {
                let child = tables[i].qualified();
                tables[p].partitions.push(child);
            }
        }
    }
}

/// Columns into their tables; returns the attnum map for resolving index keys.
async fn columns(c: &Conn, tables: &mut [Table], by_name: &ByName) -> Result<AttNames> {
    let mut attnames = AttNames::new();
    let rows = rows(
        c,
        "columns",
        &format!(
            "SELECT n.nspname || '.' || c.relname, a.attnum, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_SCHEMAS} \
             ORDER BY 1, 2"
        ),
    )
    .await?;
    for r in rows {
        let table: String = r.get(0);
        let name: String = r.get(2);
        attnames.insert((table.clone(), r.get(1)), name.clone());
        if let Some(&i) = by_name.get(&table) {
            tables[i].columns.push(Column {
                name,
                type_name: r.get(3),
                not_null: r.get(4),
                stats: None,
            });
        }
    }
    Ok(attnames)
}

/// pg_stats into the columns: partitioned parents only have "inherited" rows; plain tables
/// the others.
async fn column_stats(c: &Conn, tables: &mut [Table], by_name: &ByName) -> Result<()> {
    let rows = rows(
        c,
        "pg_stats",
        "SELECT schemaname || '.' || tablename, attname::text, inherited, null_frac::float8, avg_width, n_distinct::float8, \
         most_common_vals::text, most_common_freqs::float8[], histogram_bounds::text, correlation::float8 \
         FROM pg_stats WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .await?;
    for r in rows {
        let table: String = r.get(0);
        let Some(&i) = by_name.get(&table) else {
            continue;
        };
        let inherited: bool = r.get(2);
        if inherited != (tables[i].kind == TableKind::Partitioned) {
            continue;
        }
        let att: String = r.get(1);
        if let Some(col) = tables[i].columns.iter_mut().find(|c| c.name == att) {
            let array = |k: usize| {
                r.get::<_, Option<String>>(k)
                    .map(|s| parse_array(&s))
                    .unwrap_or_default()
            };
            col.stats = Some(ColumnStats {
                null_frac: r.get(3),
                avg_width: r.get(4),
                n_distinct: r.get(5),
                most_common_vals: array(6),
                most_common_freqs: r.get::<_, Option<Vec<f64>>>(7).unwrap_or_default(),
                histogram_bounds: array(8),
                correlation: r.get(9),
            });
        }
    }
    Ok(())
}

async fn indexes(c: &Conn, attnames: &AttNames) -> Result<Vec<Index>> {
    let rows = rows(
        c,
        "indexes",
        &format!(
            "SELECT n.nspname::text, ic.relname::text, tn.nspname || '.' || tc.relname, am.amname::text, \
             i.indisunique, i.indisprimary, i.indisvalid, pg_relation_size(ic.oid), coalesce(s.idx_scan, 0), \
             pg_get_indexdef(ic.oid), con.contype::text, i.indisreplident, i.indnkeyatts::int4, \
             pg_get_expr(i.indpred, i.indrelid), i.indkey::int2[], i.indoption::int2[], \
             array(SELECT pg_get_indexdef(ic.oid, k, true) FROM generate_series(1, i.indnatts) k), \
             ic.relpages::int8, ic.reltuples::float8, coalesce(ic.reloptions::text[], '{{}}'), \
             coalesce(sio.idx_blks_hit, 0), coalesce(sio.idx_blks_read, 0), \
             (SELECT pn.nspname || '.' || pc.relname FROM pg_inherits ih JOIN pg_class pc ON pc.oid = ih.inhparent \
              JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE ih.inhrelid = ic.oid) \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace \
             JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace \
             JOIN pg_am am ON am.oid = ic.relam \
             LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid \
             LEFT JOIN pg_statio_user_indexes sio ON sio.indexrelid = i.indexrelid \
             LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x') \
             WHERE {} ORDER BY 3, 2",
            USER_SCHEMAS.replace("n.nspname", "tn.nspname")
        ),
    )
    .await?;
    Ok(rows.iter().map(|r| index(r, attnames)).collect())
}

fn index(r: &Row, attnames: &AttNames) -> Index {
    let table: String = r.get(2);
    let nkey = usize::try_from(r.get::<_, i32>(12)).unwrap_or(0);
    let attnums: Vec<i16> = r.get(14);
    let options: Vec<i16> = r.get(15);
    let exprs: Vec<String> = r.get(16);
    let mut keys = Vec::new();
    let mut include = Vec::new();
    for (k, expr) in exprs.into_iter().enumerate() {
        let attnum = attnums.get(k).copied().unwrap_or(0);
        let column = (attnum != 0)
            .then(|| attnames.get(&(table.clone(), attnum)).cloned())
            .flatten();
        if k < nkey {
            let opt = options.get(k).copied().unwrap_or(0);
            keys.push(IndexKey {
                column,
                expr,
                desc: opt & 1 != 0,
                nulls_first: opt & 2 != 0,
            });
        } else {
            include.push(column.unwrap_or(expr));
        }
    }
    Index {
        schema: r.get(0),
        name: r.get(1),
        table,
        method: r.get(3),
        unique: r.get(4),
        primary: r.get(5),
        valid: r.get(6),
        size_bytes: r.get(7),
        scans: r.get(8),
        definition: r.get(9),
        constraint: r.get(10),
        replica_identity: r.get(11),
        parent_index: r.get(22),
        predicate: r.get(13),
        keys,
        include,
        stats: IndexStats {
            relpages: r.get(17),
            reltuples: r.get(18),
            reloptions: r.get(19),
            blks_hit: r.get(20),
            blks_read: r.get(21),
        },
    }
}

async fn foreign_keys(c: &Conn) -> Result<Vec<ForeignKey>> {
    let rows = rows(
        c,
        "foreign keys",
        &format!(
            "SELECT con.conname::text, n.nspname || '.' || tc.relname, \
             array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord) \
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord), \
             rn.nspname || '.' || rc.relname, \
             array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord) \
                   JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord) \
             FROM pg_constraint con JOIN pg_class tc ON tc.oid = con.conrelid JOIN pg_namespace n ON n.oid = tc.relnamespace \
             JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace \
             WHERE con.contype = 'f' AND con.conparentid = 0 AND {USER_SCHEMAS} ORDER BY 2, 1"
        ),
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| ForeignKey {
            name: r.get(0),
            table: r.get(1),
            columns: r.get(2),
            ref_table: r.get(3),
            ref_columns: r.get(4),
        })
        .collect())
}

async fn settings(c: &Conn) -> Result<CostSettings> {
    let rows = rows(
        c,
        "settings",
        "SELECT name, setting FROM pg_settings WHERE name IN ('seq_page_cost', 'random_page_cost', 'cpu_tuple_cost', \
         'cpu_index_tuple_cost', 'cpu_operator_cost', 'effective_cache_size', 'block_size')",
    )
    .await?;
    let mut s = CostSettings::default();
    for r in rows {
        let name: String = r.get(0);
        let v: String = r.get(1);
        let f: f64 = v.parse().unwrap_or(0.0);
        match name.as_str() {
            "seq_page_cost" => s.seq_page_cost = f,
            "random_page_cost" => s.random_page_cost = f,
            "cpu_tuple_cost" => s.cpu_tuple_cost = f,
            "cpu_index_tuple_cost" => s.cpu_index_tuple_cost = f,
            "cpu_operator_cost" => s.cpu_operator_cost = f,
            "effective_cache_size" => s.effective_cache_size_pages = f,
            "block_size" => s.block_size = v.parse().unwrap_or(8192),
            _ => {}
        }
    }
    Ok(s)
}

/// Parse a PostgreSQL array literal (`{a,"b c",NULL}`) into its elements (NULL kept as text).
pub fn parse_array(s: &str) -> Vec<String> {
    let inner = s
        .trim()
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or("");
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = inner.chars();
    let mut any = false;
    while let Some(ch) = chars.next() {
        any = true;
        match ch {
            '"' => quoted = !quoted,
            '\\' if quoted => cur.extend(chars.next()),
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_array;

    #[test]
    fn array_literals() {
        assert_eq!(parse_array("{a,b}"), vec!["a", "b"]);
        assert_eq!(
            parse_array(r#"{"x, y","q\"uote",NULL}"#),
            vec!["x, y", "q\"uote", "NULL"]
        );
        assert!(parse_array("{}").is_empty());
    }
}
