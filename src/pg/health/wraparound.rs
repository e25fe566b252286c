//! Reads [`crate::health::wraparound`] from the server.
//!
//! Read-only and open to every role: `pg_database` and `pg_class` are readable by all, and
//! `age()`/`mxid_age()` need no privilege. Tables are those of the current database (a
//! session sees only its own database's pg_class); the TOAST table's age counts for its
//! table, since vacuum freezes both and either can hold `datfrozenxid` back.
//!
//! Versions: `mxid_age` exists since 9.5, the columns read are the same in 13 to 18. Only
//! 15 is tested here.

use crate::health::wraparound::{DatabaseAge, TableAge, Wraparound};
use crate::pg::connect::Conn;
use crate::pg::error::{PgError, Result};

/// How many of the oldest tables to keep.
const TABLES: i64 = 20;

const SETTINGS: &str = "SELECT current_setting('autovacuum_freeze_max_age')::bigint, \
     current_setting('autovacuum_multixact_freeze_max_age')::bigint";

const DATABASES: &str = "SELECT datname::text, age(datfrozenxid)::bigint, \
     mxid_age(datminmxid)::bigint, datname = current_database() \
     FROM pg_database ORDER BY 2 DESC, 1";

const TABLES_SQL: &str = "
SELECT n.nspname::text || '.' || c.relname::text,
       greatest(age(c.relfrozenxid), age(tc.relfrozenxid))::bigint,
       greatest(mxid_age(c.relminmxid), mxid_age(tc.relminmxid))::bigint,
       (SELECT split_part(o, '=', 2)::bigint FROM unnest(c.reloptions) o
         WHERE o LIKE 'autovacuum\\_freeze\\_max\\_age=%'),
       (SELECT split_part(o, '=', 2)::bigint FROM unnest(c.reloptions) o
         WHERE o LIKE 'autovacuum\\_multixact\\_freeze\\_max\\_age=%'),
       (c.relpages::bigint + coalesce(tc.relpages, 0)) * current_setting('block_size')::bigint,
       greatest(pg_stat_get_last_vacuum_time(c.oid), pg_stat_get_last_autovacuum_time(c.oid))::text
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid
 WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT pg_is_other_temp_schema(n.oid)
 ORDER BY 2 DESC, 1
 LIMIT $1";

/// Database ages, the oldest tables of this database, and the freeze settings.
pub async fn read(c: &Conn) -> Result<Wraparound> {
    let s = c
        .query_one(SETTINGS, &[])
        .await
        .map_err(|e| PgError::query("reading the freeze settings", e))?;
    let dbs = c
        .query(DATABASES, &[])
        .await
        .map_err(|e| PgError::query("reading pg_database ages", e))?;
    let tables = c
        .query(TABLES_SQL, &[&TABLES])
        .await
        .map_err(|e| PgError::query("reading table ages", e))?;
    Ok(Wraparound {
        freeze_max_age: s.get(0),
        multixact_freeze_max_age: s.get(1),
        databases: dbs
            .iter()
            .map(|r| DatabaseAge {
                name: r.get(0),
                xid_age: r.get(1),
                mxid_age: r.get(2),
                current: r.get(3),
            })
            .collect(),
        tables: tables
            .iter()
            .map(|r| TableAge {
                table: r.get(0),
                xid_age: r.get(1),
                mxid_age: r.get(2),
                freeze_max_age: r.get(3),
                multixact_freeze_max_age: r.get(4),
                bytes: r.get(5),
                last_vacuum: r.get(6),
            })
            .collect(),
    })
}
