//! Index names and index DDL: deterministic, quoted, and within PostgreSQL's 63-byte limit.
//!
//! Why deterministic names: the same advice run twice must produce the same migration file, and
//! a reviewer must recognise an index from its name (`leads_status_created_at_idx`).

use crate::pg::quote_ident;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
pub const MAX_IDENT: usize = 63;

/// Split `schema.table` (unquoted) into its parts; a bare name is in `public`.
pub fn split_table(table: &str) -> (&str, &str) {
    table.split_once('.').unwrap_or(("public", table))
}

/// `"schema"."table"`, always quoted.
pub fn quote_table(table: &str) -> String {
    let (s, t) = split_table(table);
    format!("{}.{}", quote_ident(s), quote_ident(t))
}

/// `<table>_<col1>_<col2>_idx` from the key columns (directions and expressions reduced to
/// words), at most 63 bytes: when longer, cut and end with a stable 8-hex-digit hash of the
/// full name so distinct indexes never collide.
pub fn index_name(table: &str, columns: &[String], predicate: Option<&str>) -> String {
    let (_, t) = split_table(table);
    let mut parts: Vec<String> = vec![word(t)];
    for c in columns {
        let w = word(strip_direction(c));
        if !w.is_empty() {
            parts.push(w);
        }
    }
    if predicate.is_some() {
        parts.push("partial".into());
    }
    parts.push("idx".into());
    let full = parts.join("_");
    if full.len() <= MAX_IDENT {
        return full;
    }
    let hash = fnv1a(&format!(
        "{table}|{}|{}",
        columns.join(","),
        predicate.unwrap_or("")
    ));
    let suffix = format!("_{hash:08x}_idx");
    let mut cut = MAX_IDENT - suffix.len();
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", full[..cut].trim_end_matches('_'))
}

/// A key column without ` ASC|DESC [NULLS FIRST|LAST]`.
pub fn strip_direction(col: &str) -> &str {
    let mut c = col.trim();
    for suffix in [" NULLS FIRST", " NULLS LAST", " DESC", " ASC"] {
        if c.len() >= suffix.len() && c[c.len() - suffix.len()..].eq_ignore_ascii_case(suffix) {
            c = c[..c.len() - suffix.len()].trim_end();
        }
    }
    c
}

/// Lower-case letters, digits and single underscores only.
fn word(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Quote a key column: a plain name is quoted, a direction kept, an expression kept as is
/// (expressions come from dbopt's own parser and are already valid SQL).
pub fn quote_column(col: &str) -> String {
    let bare = strip_direction(col);
    let rest = &col.trim()[bare.len()..];
    let is_name = !bare.is_empty()
        && bare.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !bare.starts_with(|c: char| c.is_ascii_digit());
    if is_name {
        format!("{}{rest}", quote_ident(bare))
    } else {
        format!("{bare}{rest}")
    }
}

/// `CREATE INDEX CONCURRENTLY IF NOT EXISTS "name" ON "s"."t" USING method (cols) INCLUDE (..) WHERE ..`
/// `only` builds the parent-only index of a partitioned table (`ON ONLY`, never concurrently).
pub fn create_index(
    name: &str,
    table: &str,
    method: &str,
    columns: &[String],
    include: &[String],
    predicate: Option<&str>,
    only: bool,
) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote_column(c)).collect();
    let mut sql = if only {
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON ONLY {}",
            quote_ident(name),
            quote_table(table)
        )
    } else {
        format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {}",
            quote_ident(name),
            quote_table(table)
        )
    };
    if method != "btree" {
        sql.push_str(&format!(" USING {method}"));
    }
    sql.push_str(&format!(" ({})", cols.join(", ")));
    if !include.is_empty() {
        let inc: Vec<String> = include.iter().map(|c| quote_ident(c)).collect();
        sql.push_str(&format!(" INCLUDE ({})", inc.join(", ")));
    }
    if let Some(p) = predicate {
        sql.push_str(&format!(" WHERE {p}"));
    }
    sql
}

/// `DROP INDEX CONCURRENTLY IF EXISTS "schema"."name"`
pub fn drop_index(schema: &str, name: &str) -> String {
    format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {}.{}",
        quote_ident(schema),
        quote_ident(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn readable_names() {
        assert_eq!(
            index_name("public.leads", &cols(&["status", "created_at DESC"]), None),
            "leads_status_created_at_idx"
        );
        assert_eq!(
            index_name("leads", &cols(&["lower(email)"]), None),
            "leads_lower_email_idx"
        );
        assert_eq!(
            index_name("app.Events 2024", &cols(&["entity_id"]), Some("x IS NULL")),
            "events_2024_entity_id_partial_idx"
        );
    }

    #[test]
    fn long_names_are_cut_with_a_stable_hash() {
        let c = cols(&[
            "a_very_long_column_name_number_one",
            "another_very_long_column_name_two",
            "third",
        ]);
        let n = index_name("public.some_rather_long_table_name", &c, None);
        assert!(n.len() <= MAX_IDENT, "{n}");
        assert!(n.ends_with("_idx"));
        assert_eq!(
            n,
            index_name("public.some_rather_long_table_name", &c, None)
        );
        let other = index_name(
            "public.some_rather_long_table_name",
            &cols(&[
                "a_very_long_column_name_number_one",
                "another_very_long_column_name_two",
                "fourth",
            ]),
            None,
        );
        assert_ne!(n, other);
    }

    #[test]
    fn ddl_quotes_everything() {
        let sql = create_index(
            "e_idx",
            "public.Events 2024",
            "btree",
            &cols(&["entity_type", "timestamp DESC", "lower(email)"]),
            &cols(&["payload"]),
            Some("\"deleted_at\" IS NULL"),
            false,
        );
        assert_eq!(
            sql,
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"e_idx\" ON \"public\".\"Events 2024\" (\"entity_type\", \"timestamp\" DESC, lower(email)) INCLUDE (\"payload\") WHERE \"deleted_at\" IS NULL"
        );
        assert_eq!(
            drop_index("public", "e_idx"),
            "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"e_idx\""
        );
    }
}
