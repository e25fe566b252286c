//! The SQL of a run, built in one place from a [`Plan`] so that `--dry-run` prints exactly what
//! `--execute` sends.
//!
//! Every identifier comes quoted from the catalog (`format('%I.%I')`, [`quote_ident`]); every
//! value (cutoff, keys, batch size) is a bind parameter, cast on the server from text to the
//! column's own type, so keys of any type (bigint, uuid, text, composite) walk the same way.
//!
//! Parameters of the batch statements: `$1` cutoff, `$2..` the highest key at the start, then
//! the batch size, then (after the first batch) the last key done.

use tokio_postgres::types::ToSql;

use super::filter::{shown, Filter};
use super::plan::{Column, Plan, Strategy};
use super::{q, ArchiveError, Result};
use crate::pg::Conn;
use crate::sql::quote_ident;

fn list(cols: &[&Column], prefix: &str) -> String {
    cols.iter()
        .map(|c| format!("{prefix}{}", quote_ident(&c.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Non-generated columns: the ones an archive row is made of.
pub fn copied(plan: &Plan) -> Vec<&Column> {
    plan.columns.iter().filter(|c| !c.generated).collect()
}

fn key_refs(plan: &Plan) -> Vec<&Column> {
    plan.key.iter().collect()
}

/// `($n::text::type, ...)` for the key starting at parameter `first`.
fn key_params(plan: &Plan, first: usize) -> String {
    let parts: Vec<String> = plan
        .key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("${}::text::{}", first + i, k.type_name))
        .collect();
    format!("({})", parts.join(", "))
}

fn key_tuple(plan: &Plan, prefix: &str) -> String {
    format!("({})", list(&key_refs(plan), prefix))
}

fn order_by(plan: &Plan, prefix: &str, desc: bool) -> String {
    key_refs(plan)
        .iter()
        .map(|k| {
            format!(
                "{prefix}{}{}",
                quote_ident(&k.name),
                if desc { " DESC" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows a run may touch: older than the cutoff, at or below the highest key at the start,
/// and matching `--where`. Uses `$1` and `$2..$(1+k)`.
pub fn predicate(plan: &Plan) -> String {
    let mut p = format!(
        "{} < $1::text::{} AND {} <= {}",
        quote_ident(&plan.age_column.name),
        plan.age_column.type_name,
        key_tuple(plan, ""),
        key_params(plan, 2)
    );
    if let Some(f) = &plan.filter {
        p.push_str(" AND ");
        p.push_str(f);
    }
    p
}

fn limit_param(plan: &Plan) -> usize {
    2 + plan.key.len()
}

fn after_param(plan: &Plan) -> usize {
    3 + plan.key.len()
}

/// `WHERE` of a batch: the predicate, plus `key > last` after the first batch.
fn batch_where(plan: &Plan, next: bool) -> String {
    let mut w = predicate(plan);
    if next {
        w.push_str(&format!(
            " AND {} > {}",
            key_tuple(plan, ""),
            key_params(plan, after_param(plan))
        ));
    }
    w
}

/// The archive's column list and `OVERRIDING SYSTEM VALUE` (identity columns keep their values).
fn insert_head(plan: &Plan, archive: &str) -> String {
    format!(
        "INSERT INTO {archive} ({}) OVERRIDING SYSTEM VALUE",
        list(&copied(plan), "")
    )
}

/// One batch in the source's database, as one statement (one transaction). Returns one row
/// `(written, selected, last key...)`, or no row when nothing was left.
pub fn batch(plan: &Plan, next: bool) -> String {
    let src = &plan.source;
    let key = list(&key_refs(plan), "");
    let cols = list(&copied(plan), "");
    let w = batch_where(plan, next);
    let lim = limit_param(plan);
    let ord = order_by(plan, "", false);
    let (batch_cols, lock) = match plan.strategy {
        Strategy::Copy => (cols.clone(), ""),
        _ => (key.clone(), " FOR UPDATE"),
    };
    let head = format!(
        "WITH batch AS (\n  SELECT {batch_cols} FROM {src}\n  WHERE {w}\n  ORDER BY {ord} LIMIT ${lim}{lock}\n)"
    );
    // How the DELETE finds the batch's rows. One key column: `= ANY(ARRAY(...))`, an index
    // probe per key whatever the batch size (a join may turn into a hash join that scans the
    // rest of the table in every batch). Composite keys: a join, bounded by the key range so a
    // merge join does not walk the dead index entries of every earlier batch.
    let target = if plan.key.len() == 1 {
        let k = quote_ident(&plan.key[0].name);
        format!("WHERE s.{k} = ANY(ARRAY(SELECT b.{k} FROM batch b))")
    } else {
        let mut join = format!(
            "USING batch b WHERE {} = {} AND {} <= {}",
            key_tuple(plan, "s."),
            key_tuple(plan, "b."),
            key_tuple(plan, "s."),
            key_params(plan, 2)
        );
        if next {
            join.push_str(&format!(
                " AND {} > {}",
                key_tuple(plan, "s."),
                key_params(plan, after_param(plan))
            ));
        }
        join
    };
    let (body, written) = match plan.strategy {
        Strategy::Move => (
            format!(
                ", moved AS (\n  DELETE FROM {src} s {target}\n  RETURNING {}\n), ins AS (\n  {} SELECT {cols} FROM moved\n  RETURNING 1\n)",
                list(&copied(plan), "s."),
                insert_head(plan, plan.archive.as_deref().unwrap_or_default())
            ),
            "ins",
        ),
        Strategy::Copy => (
            format!(
                ", ins AS (\n  {} SELECT {cols} FROM batch\n  ON CONFLICT DO NOTHING RETURNING 1\n)",
                insert_head(plan, plan.archive.as_deref().unwrap_or_default())
            ),
            "ins",
        ),
        Strategy::Delete => (
            format!(", del AS (\n  DELETE FROM {src} s {target}\n  RETURNING 1\n)"),
            "del",
        ),
    };
    let last: Vec<String> = key_refs(plan)
        .iter()
        .map(|k| format!("b.{}::text", quote_ident(&k.name)))
        .collect();
    format!(
        "{head}{body}\nSELECT (SELECT count(*) FROM {written}), (SELECT count(*) FROM batch), {}\n  FROM batch b ORDER BY {} LIMIT 1",
        last.join(", "),
        order_by(plan, "b.", true)
    )
}

/// Cross-database: read (and, when moving, lock) one batch of rows as JSON, in key order.
pub fn fetch(plan: &Plan, next: bool) -> String {
    let lock = if plan.strategy == Strategy::Move {
        " FOR UPDATE"
    } else {
        ""
    };
    select_batch(plan, next, &copied(plan), lock)
}

/// `--verify`: the next chunk of source keys in scope as JSON, in key order (same parameters
/// as [`fetch`]).
pub fn fetch_keys(plan: &Plan, next: bool) -> String {
    select_batch(plan, next, &key_refs(plan), "")
}

/// `(row_to_json, last key...)` of one batch of `cols` of the source rows in scope.
fn select_batch(plan: &Plan, next: bool, cols: &[&Column], lock: &str) -> String {
    let last: Vec<String> = key_refs(plan)
        .iter()
        .map(|k| format!("t.{}::text", quote_ident(&k.name)))
        .collect();
    format!(
        "SELECT row_to_json(t)::text, {} FROM (\n  SELECT {} FROM {} WHERE {}\n  ORDER BY {} LIMIT ${}{lock}\n) t ORDER BY {}",
        last.join(", "),
        list(cols, ""),
        plan.source,
        batch_where(plan, next),
        order_by(plan, "", false),
        limit_param(plan),
        order_by(plan, "t.", false)
    )
}

/// The rows of a [`fetch`] or [`fetch_keys`] as one JSON array (column 0 of each row).
pub fn json_rows(rows: &[tokio_postgres::Row]) -> String {
    let mut json = String::from("[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(r.get::<_, &str>(0));
    }
    json.push(']');
    json
}

/// `--verify`: over the rows of `table` in scope (the [`predicate`]'s parameters), the number
/// of rows, of distinct keys, and the sum of the first 64 bits of each distinct key's md5.
/// With `among_json`, only keys listed in the JSON array `$(2+k)` count (the keys that are in
/// both places).
pub fn key_sums(plan: &Plan, table: &str, among_json: bool) -> String {
    let keys = list(&key_refs(plan), "t.");
    let mut w = predicate(plan);
    if among_json {
        w.push_str(&format!(
            " AND {} IN (SELECT {} FROM json_populate_recordset(NULL::{table}, ${}::text::json) j)",
            key_tuple(plan, "t."),
            list(&key_refs(plan), "j."),
            limit_param(plan)
        ));
    }
    format!(
        "SELECT coalesce(sum(d.dbopt_rows), 0)::int8, count(*),
                coalesce(sum(('x' || left(md5(ROW({})::text), 16))::bit(64)::bigint::numeric), 0)::text
           FROM (SELECT {keys}, count(*) AS dbopt_rows FROM {table} t WHERE {w} GROUP BY {keys}) d",
        list(&key_refs(plan), "d.")
    )
}

/// Cross-database: the idempotent insert into the destination (`$1` = JSON array of rows).
pub fn remote_insert(plan: &Plan) -> String {
    let archive = plan.archive.as_deref().unwrap_or_default();
    format!(
        "{} SELECT {} FROM json_populate_recordset(NULL::{archive}, $1::text::json)\n  ON CONFLICT DO NOTHING",
        insert_head(plan, archive),
        list(&copied(plan), "")
    )
}

/// Cross-database: delete the rows fetched (and locked) in this transaction (`$1` = JSON).
pub fn remote_delete(plan: &Plan) -> String {
    format!(
        "DELETE FROM {src} s USING json_populate_recordset(NULL::{src}, $1::text::json) j WHERE {} = {}",
        key_tuple(plan, "s."),
        key_tuple(plan, "j."),
        src = plan.source
    )
}

/// The archive table, created like the source. Same database: `LIKE ... INCLUDING ALL`; another
/// database: columns, NOT NULLs and the primary key spelled out from the catalog. By month:
/// range-partitioned on the age column, whose column joins the primary key (PostgreSQL requires
/// the partition key in every unique index); the month partitions are added by the run.
pub fn create_archive(plan: &Plan) -> String {
    let archive = plan.archive.as_deref().unwrap_or_default();
    let age = quote_ident(&plan.age_column.name);
    if !plan.cross_database && !plan.archive_by_month {
        return format!(
            "CREATE TABLE IF NOT EXISTS {archive} (LIKE {} INCLUDING ALL)",
            plan.source
        );
    }
    let mut key: Vec<&Column> = key_refs(plan);
    if plan.archive_by_month && !key.iter().any(|k| k.name == plan.age_column.name) {
        key.push(&plan.age_column);
    }
    let mut parts: Vec<String> = copied(plan)
        .iter()
        .map(|c| {
            format!(
                "{} {}{}",
                quote_ident(&c.name),
                c.type_name,
                if c.not_null { " NOT NULL" } else { "" }
            )
        })
        .collect();
    parts.push(format!("PRIMARY KEY ({})", list(&key, "")));
    let partition = if plan.archive_by_month {
        format!(" PARTITION BY RANGE ({age})")
    } else {
        String::new()
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {archive} ({}){partition}",
        parts.join(", ")
    )
}

/// The months (`YYYYMM`, from, to) that the rows in scope fall into, as bounds in the age
/// column's type. Uses the predicate's parameters.
pub fn months_in_scope(plan: &Plan) -> String {
    let t = &plan.age_column.type_name;
    let age = quote_ident(&plan.age_column.name);
    format!(
        "SELECT to_char(m, 'YYYYMM'), m::{t}::text, (m + interval '1 month')::{t}::text
           FROM generate_series(date_trunc('month', (SELECT min({age}) FROM {} WHERE {})::timestamp),
                                date_trunc('month', $1::text::{t}::timestamp), interval '1 month') m",
        plan.source,
        predicate(plan)
    )
}

/// Owned parameter values, handed to tokio-postgres as `&dyn ToSql`.
pub enum Param {
    Text(String),
    Int(i64),
}

pub fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(s) => s as &(dyn ToSql + Sync),
            Param::Int(i) => i as &(dyn ToSql + Sync),
        })
        .collect()
}

/// `$1` cutoff and `$2..` highest key: the parameters of [`predicate`].
pub fn predicate_params(plan: &Plan, max_key: &[String]) -> Vec<Param> {
    let mut p = vec![Param::Text(plan.cutoff.clone())];
    p.extend(max_key.iter().cloned().map(Param::Text));
    p
}

/// The parameters of [`batch`] / [`fetch`].
pub fn batch_params(
    plan: &Plan,
    max_key: &[String],
    size: i64,
    last: Option<&[String]>,
) -> Vec<Param> {
    let mut p = predicate_params(plan, max_key);
    p.push(Param::Int(size));
    if let Some(l) = last {
        p.extend(l.iter().cloned().map(Param::Text));
    }
    p
}

/// The highest key of the table now, or None when it is empty.
pub async fn max_key(c: &Conn, source: &str, key: &[Column]) -> Result<Option<Vec<String>>> {
    let refs: Vec<&Column> = key.iter().collect();
    let sel = refs
        .iter()
        .map(|k| format!("t.{}::text", quote_ident(&k.name)))
        .collect::<Vec<_>>()
        .join(", ");
    // Qualified, so ORDER BY sorts the key and not the text output column of the same name.
    let ord = refs
        .iter()
        .map(|k| format!("t.{} DESC", quote_ident(&k.name)))
        .collect::<Vec<_>>()
        .join(", ");
    let row = c
        .query_opt(
            &format!("SELECT {sel} FROM {source} t ORDER BY {ord} LIMIT 1"),
            &[],
        )
        .await
        .map_err(q("reading the highest key"))?;
    Ok(row.map(|r| (0..key.len()).map(|i| r.get::<_, String>(i)).collect()))
}

/// How many rows the run would touch now.
pub async fn count(c: &Conn, plan: &Plan) -> Result<i64> {
    let Some(max) = &plan.max_key else {
        return Ok(0);
    };
    let params = predicate_params(plan, max);
    let row = c
        .query_one(
            &format!(
                "SELECT count(*) FROM {} WHERE {}",
                plan.source,
                predicate(plan)
            ),
            &refs(&params),
        )
        .await
        .map_err(q("counting the rows to archive"))?;
    Ok(row.get(0))
}

/// The server-side check of a `--where` that passed the allow-list, inside a READ ONLY
/// transaction: no operator the filter resolves through may have a same-named twin that a user
/// (not an extension) created in a schema on the search path, since PostgreSQL could pick it
/// instead of the built-in one; then the filter runs once, so the server rejects anything that
/// would write.
pub async fn probe_filter(c: &Conn, plan: &Plan, filter: &Filter, text: &str) -> Result<()> {
    let bad = |why: String| ArchiveError::BadWhere {
        text: shown(text),
        why,
        table: plan.source.clone(),
    };
    c.batch_execute("BEGIN READ ONLY")
        .await
        .map_err(q("starting the read-only check of --where"))?;
    let res = async {
        let twins: Option<String> = c
            .query_one(
                "SELECT string_agg(DISTINCT format('%s.%s', n.nspname, o.oprname), ', ')
                   FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
                  WHERE o.oprname::text = ANY($1::text[]) AND n.nspname <> 'pg_catalog'
                    AND n.nspname = ANY(current_schemas(true))
                    AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                     WHERE d.classid = 'pg_operator'::regclass
                                       AND d.objid = o.oid AND d.deptype = 'e')",
                &[&filter.operators],
            )
            .await?
            .get(0);
        c.query_opt(
            &format!("SELECT 1 FROM {} WHERE {} LIMIT 1", plan.source, filter.sql),
            &[],
        )
        .await?;
        Ok::<_, tokio_postgres::Error>(twins)
    }
    .await;
    let _ = c.batch_execute("ROLLBACK").await;
    match res {
        Ok(None) => Ok(()),
        Ok(Some(twins)) => Err(bad(format!(
            "the operator {twins} is defined outside pg_catalog (not by an extension) and could run instead of the built-in one"
        ))),
        Err(e) => {
            let (code, msg) = e
                .as_db_error()
                .map(|d| (d.code().code().to_string(), d.message().to_string()))
                .unwrap_or_else(|| (String::new(), e.to_string()));
            if code == "25006" {
                Err(ArchiveError::WhereNotReadOnly {
                    text: shown(text),
                    why: msg,
                })
            } else {
                Err(bad(msg))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::plan::Column;

    fn col(name: &str, t: &str) -> Column {
        Column {
            name: name.into(),
            type_name: t.into(),
            not_null: true,
            generated: false,
        }
    }

    fn plan(strategy: Strategy, key: &[&str], cross: bool) -> Plan {
        let columns = vec![
            col("id", "bigint"),
            col("Created At", "timestamp with time zone"),
            col("kind", "text"),
            Column {
                generated: true,
                ..col("kind_upper", "text")
            },
        ];
        Plan {
            strategy,
            source: "public.\"Events 2024\"".into(),
            source_oid: 1,
            partitioned: false,
            key: key
                .iter()
                .map(|k| columns.iter().find(|c| c.name == *k).unwrap().clone())
                .collect(),
            age_column: columns[1].clone(),
            columns,
            cutoff: "2024-01-01 00:00:00+00".into(),
            max_key: Some(vec!["10".into()]),
            filter: Some("(kind = 'x')".into()),
            archive: (strategy != Strategy::Delete)
                .then(|| "public.\"Events 2024_archive\"".into()),
            cross_database: cross,
            archive_exists: false,
            archive_by_month: false,
            referencing_fks: vec![],
            old_partitions: vec![],
        }
    }

    #[test]
    fn batch_statements() {
        insta::assert_snapshot!(
            "move_next",
            batch(&plan(Strategy::Move, &["id"], false), true)
        );
        insta::assert_snapshot!(
            "copy_first",
            batch(&plan(Strategy::Copy, &["id"], false), false)
        );
        insta::assert_snapshot!(
            "delete_composite_next",
            batch(&plan(Strategy::Delete, &["id", "Created At"], false), true)
        );
    }

    #[test]
    fn cross_database_statements() {
        let p = plan(Strategy::Move, &["id"], true);
        insta::assert_snapshot!("cross_fetch", fetch(&p, true));
        insta::assert_snapshot!("cross_insert", remote_insert(&p));
        insta::assert_snapshot!("cross_delete", remote_delete(&p));
        insta::assert_snapshot!("cross_create", create_archive(&p));
    }

    #[test]
    fn generated_columns_are_not_copied() {
        let p = plan(Strategy::Move, &["id"], false);
        assert!(!batch(&p, true).contains("kind_upper"));
        assert_eq!(predicate_params(&p, &["10".into()]).len(), 2);
        assert_eq!(
            batch_params(&p, &["10".into()], 5, Some(&["3".into()])).len(),
            4
        );
    }
}
