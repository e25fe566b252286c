//! Reads [`crate::health::sequences`] from the server.
//!
//! Read-only and open to every role: `pg_sequences` lists every sequence and shows
//! `last_value` only where the role has SELECT or USAGE on it (NULL otherwise, told apart from
//! an unused sequence with `has_sequence_privilege`), so a role without the grant gets the
//! list and a note. The fed column comes from `pg_depend`: OWNED BY (`serial`, deptype `a`),
//! identity (deptype `i`), or a column default that calls `nextval` (the default's
//! pg_attrdef row depends on the sequence).
//!
//! Versions: `pg_sequences` and `AS type` sequences exist since PostgreSQL 10; the columns
//! read here are the same in 13 to 18 (18 reads `last_value` through `pg_get_sequence_data`
//! inside the view, which returns NULL for an unlogged sequence on a standby, as the older
//! versions' error there would not). Only 15 is tested here.

use crate::health::sequences::{FedColumn, SequenceUse, Sequences};
use crate::pg::connect::Conn;
use crate::pg::error::{PgError, Result};

const SQL: &str = "
WITH fed AS (
  SELECT d.objid AS seq, d.refobjid AS rel, d.refobjsubid AS attnum
    FROM pg_depend d
   WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
     AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
  UNION
  SELECT d.refobjid, ad.adrelid, ad.adnum
    FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
   WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
)
SELECT s.schemaname::text, s.sequencename::text, format_type(s.data_type, NULL),
       s.min_value, s.max_value, s.increment_by, s.cycle, s.last_value,
       has_sequence_privilege(c.oid, 'SELECT,USAGE'),
       tn.nspname::text, t.relname::text, a.attname::text,
       format_type(a.atttypid, a.atttypmod), coalesce(a.attidentity <> '', false)
  FROM pg_sequences s
  JOIN pg_namespace n ON n.nspname = s.schemaname
  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
  LEFT JOIN fed f ON f.seq = c.oid
  LEFT JOIN pg_class t ON t.oid = f.rel
  LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
  LEFT JOIN pg_attribute a ON a.attrelid = f.rel AND a.attnum = f.attnum AND NOT a.attisdropped
 WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1, 2, 10, 11, 12";

/// Every sequence of the current database with the column it feeds.
pub async fn read(c: &Conn) -> Result<Sequences> {
    let rows = c
        .query(SQL, &[])
        .await
        .map_err(|e| PgError::query("reading pg_sequences", e))?;
    let mut out = Sequences::default();
    for r in rows {
        let (schema, name): (String, String) = (r.get(0), r.get(1));
        let readable: bool = r.get(8);
        let column = match (
            r.get::<_, Option<String>>(9),
            r.get::<_, Option<String>>(11),
        ) {
            (Some(ts), Some(col)) => Some(FedColumn {
                table: format!("{ts}.{}", r.get::<_, String>(10)),
                column: col,
                data_type: r.get(12),
                identity: r.get(13),
            }),
            _ => None,
        };
        let qualified = format!("{schema}.{name}");
        if !readable && !out.unreadable.contains(&qualified) {
            out.unreadable.push(qualified);
        }
        out.items.push(SequenceUse {
            schema,
            name,
            data_type: r.get(2),
            min_value: r.get(3),
            max_value: r.get(4),
            increment: r.get(5),
            cycle: r.get(6),
            last_value: r.get(7),
            column,
            per_day: None,
        });
    }
    Ok(out)
}
