//! Index names and index DDL: deterministic, quoted, and within PostgreSQL's 63-byte limit.
//!
//! Why deterministic names: the same advice run twice must produce the same migration file, and
//! a reviewer must recognise an index from its name (`leads_status_created_at_idx`).

use crate::sql::ident::quote_ident;
use crate::sql::index_key::IndexKey;

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

/// `<table>_<key1>_<key2>_idx` from the key columns (directions dropped, names and
/// expressions reduced to words), at most 63 bytes: when longer, cut at a character boundary
/// and end with a stable 8-hex-digit hash of the full definition so distinct indexes never
/// collide. [`unique_names`] settles the rarer case of two definitions with the same words.
pub fn index_name(table: &str, keys: &[IndexKey], predicate: Option<&str>) -> String {
    let (_, t) = split_table(table);
    let mut parts: Vec<String> = Vec::new();
    for w in std::iter::once(word(t)).chain(keys.iter().map(|k| word(k.expr.label()))) {
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
    hashed_name(&full, table, keys, predicate)
}

/// `full` cut to fit a `_<hash>_idx` ending, at a character boundary.
fn hashed_name(full: &str, table: &str, keys: &[IndexKey], predicate: Option<&str>) -> String {
    let sqls: Vec<String> = keys.iter().map(IndexKey::sql).collect();
    let hash = fnv1a(&format!(
        "{table}|{}|{}",
        sqls.join(","),
        predicate.unwrap_or("")
    ));
    let suffix = format!("_{hash:08x}_idx");
    let stem = full.strip_suffix("_idx").unwrap_or(full);
    let room = MAX_IDENT - suffix.len();
    let mut head = String::new();
    for ch in stem.chars() {
        if head.len() + ch.len_utf8() > room {
            break;
        }
        head.push(ch);
    }
    format!("{}{suffix}", head.trim_end_matches('_'))
}

/// Index names for a set of definitions `(table, keys, predicate)`, unique per schema: a name
/// two different definitions would share gets the hash ending on all of them, so which one
/// is which does not depend on their order.
pub fn unique_names(defs: &[(&str, &[IndexKey], Option<&str>)]) -> Vec<String> {
    let names: Vec<String> = defs.iter().map(|(t, k, p)| index_name(t, k, *p)).collect();
    names
        .iter()
        .zip(defs)
        .map(|(n, (t, k, p))| {
            let (schema, _) = split_table(t);
            let clash = names.iter().zip(defs).any(|(m, (t2, k2, p2))| {
                m == n && split_table(t2).0 == schema && (t2, k2, p2) != (t, k, p)
            });
            if clash {
                hashed_name(n, t, k, *p)
            } else {
                n.clone()
            }
        })
        .collect()
}

/// Lower-case letters, digits and single underscores only.
fn word(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_alphanumeric() {
            out.extend(ch.to_lowercase());
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

/// An access method or operator class: written bare when it is a plain lower-case word (as
/// PostgreSQL prints them), else quoted.
fn word_or_quoted(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        s.to_string()
    } else {
        quote_ident(s)
    }
}

/// One index definition, and the only builder of `CREATE INDEX` / `DROP INDEX` text.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDef {
    /// `None` for a HypoPG what-if index (`CREATE INDEX ON ...`: no name, not concurrent).
    pub name: Option<String>,
    /// `schema.table`, unquoted.
    pub table: String,
    pub method: String,
    pub keys: Vec<IndexKey>,
    /// An operator class for every key (`gin_trgm_ops`).
    pub opclass: Option<String>,
    pub include: Vec<String>,
    /// Partial-index predicate: SQL dbopt rendered (identifiers quoted).
    pub predicate: Option<String>,
    /// The parent-only index of a partitioned table (`ON ONLY`, never concurrently).
    pub only: bool,
}

impl IndexDef {
    /// A named B-tree on `keys`.
    pub fn btree(name: &str, table: &str, keys: Vec<IndexKey>) -> Self {
        IndexDef {
            name: Some(name.to_string()),
            table: table.to_string(),
            method: "btree".into(),
            keys,
            opclass: None,
            include: vec![],
            predicate: None,
            only: false,
        }
    }

    /// A what-if index on `keys` (no name), as HypoPG takes it.
    pub fn hypothetical(table: &str, keys: Vec<IndexKey>) -> Self {
        IndexDef {
            name: None,
            ..IndexDef::btree("", table, keys)
        }
    }

    /// `CREATE INDEX CONCURRENTLY IF NOT EXISTS "name" ON "s"."t" USING method (keys) INCLUDE (..) WHERE ..`:
    /// how a user builds it on a live server (a what-if index, without a name, as HypoPG
    /// takes it).
    pub fn create_sql(&self) -> String {
        self.render(if self.name.is_some() {
            Build::Concurrent
        } else {
            Build::Hypothetical
        })
    }

    /// The `CREATE INDEX` statement for building it the way `build` says. A parent-only index
    /// (`ON ONLY`) is never built concurrently, and an index without a name only as a what-if.
    pub fn render(&self, build: Build) -> String {
        self.render_on(build, &quote_table(&self.table))
    }

    /// [`IndexDef::render`] with the table as written: each part quoted, a bare name left
    /// bare so it resolves through the session's `search_path` (where `explain --compare`
    /// plans a statement that names it so) instead of meaning `public`.
    pub fn render_as_written(&self, build: Build) -> String {
        let parts: Vec<String> = self.table.split('.').map(quote_ident).collect();
        self.render_on(build, &parts.join("."))
    }

    /// The statement, with `table` already quoted.
    fn render_on(&self, build: Build, table: &str) -> String {
        let named = self.name.as_deref().map(quote_ident);
        let mut sql = match (build, named) {
            (Build::Hypothetical, _) | (_, None) => format!("CREATE INDEX ON {table}"),
            (Build::Concurrent, Some(n)) if !self.only => {
                format!("CREATE INDEX CONCURRENTLY IF NOT EXISTS {n} ON {table}")
            }
            (_, Some(n)) => {
                let only = if self.only { "ONLY " } else { "" };
                format!("CREATE INDEX IF NOT EXISTS {n} ON {only}{table}")
            }
        };
        if self.method != "btree" {
            sql.push_str(&format!(" USING {}", word_or_quoted(&self.method)));
        }
        let opclass = self
            .opclass
            .as_deref()
            .map(|o| format!(" {}", word_or_quoted(o)))
            .unwrap_or_default();
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("{}{opclass}{}", k.expr.sql(), k.order_sql()))
            .collect();
        sql.push_str(&format!(" ({})", keys.join(", ")));
        if !self.include.is_empty() {
            let inc: Vec<String> = self.include.iter().map(|c| quote_ident(c)).collect();
            sql.push_str(&format!(" INCLUDE ({})", inc.join(", ")));
        }
        if let Some(p) = &self.predicate {
            sql.push_str(&format!(" WHERE {p}"));
        }
        sql
    }

    /// `DROP INDEX CONCURRENTLY IF EXISTS "schema"."name"` (a named index).
    pub fn drop_sql(&self) -> Option<String> {
        self.drop_as(Build::Concurrent)
    }

    /// The `DROP INDEX` statement that undoes [`IndexDef::render`] with `build` (none for an
    /// index without a name, or a what-if one: HypoPG forgets those with the session).
    pub fn drop_as(&self, build: Build) -> Option<String> {
        let (schema, _) = split_table(&self.table);
        let name = self.name.as_deref()?;
        match build {
            Build::Concurrent => Some(drop_index(schema, name)),
            Build::InTransaction => Some(format!(
                "DROP INDEX IF EXISTS {}.{}",
                quote_ident(schema),
                quote_ident(name)
            )),
            Build::Hypothetical => None,
        }
    }
}

/// How an index is built, which decides the statement's form.
///
/// Why the renderer takes it rather than callers editing its text: `CONCURRENTLY` is right on
/// a live server and wrong inside a transaction block, and a what-if index has no name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// On a live server, next to its users: `CONCURRENTLY IF NOT EXISTS`, writes not blocked.
    Concurrent,
    /// In a transaction, or on a server nobody else uses: `CREATE INDEX IF NOT EXISTS`.
    InTransaction,
    /// A HypoPG what-if index: `CREATE INDEX ON ...`, no name.
    Hypothetical,
}

/// The index a foreign key of `table` on `columns` needs (the fix `fk-without-index` proposes).
pub fn foreign_key_index(table: &str, columns: &[String]) -> IndexDef {
    let keys: Vec<IndexKey> = columns.iter().map(IndexKey::column).collect();
    IndexDef::btree(&index_name(table, &keys, None), table, keys)
}

/// `REINDEX INDEX CONCURRENTLY "schema"."name"`: rebuilds the index without blocking writes.
pub fn reindex_concurrently(schema: &str, name: &str) -> String {
    format!(
        "REINDEX INDEX CONCURRENTLY {}.{}",
        quote_ident(schema),
        quote_ident(name)
    )
}

/// `ALTER INDEX "s"."parent" ATTACH PARTITION "s"."child"` (both `schema.name`, unquoted):
/// makes a partition's index part of its partitioned table's index, which turns valid once
/// every partition has one attached.
pub fn attach_partition_index(parent: &str, child: &str) -> String {
    format!(
        "ALTER INDEX {} ATTACH PARTITION {}",
        quote_table(parent),
        quote_table(child)
    )
}

/// `DROP INDEX CONCURRENTLY IF EXISTS "schema"."name"`
pub fn drop_index(schema: &str, name: &str) -> String {
    format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {}.{}",
        quote_ident(schema),
        quote_ident(name)
    )
}

/// An index definition as PostgreSQL prints it (`pg_get_indexdef`: always
/// `CREATE [UNIQUE] INDEX name ON ...`), to be built again concurrently on a live server:
/// `CREATE [UNIQUE] INDEX CONCURRENTLY name ON ...`. Text of another form is returned as it is.
pub fn concurrent_definition(definition: &str) -> String {
    for head in ["CREATE INDEX ", "CREATE UNIQUE INDEX "] {
        if let Some(rest) = definition.strip_prefix(head) {
            return format!("{head}CONCURRENTLY {rest}");
        }
    }
    definition.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_printed_definition_is_built_again_concurrently() {
        assert_eq!(
            concurrent_definition("CREATE UNIQUE INDEX \"INDEX x\" ON public.t USING btree (x)"),
            "CREATE UNIQUE INDEX CONCURRENTLY \"INDEX x\" ON public.t USING btree (x)"
        );
        assert_eq!(
            concurrent_definition("CREATE INDEX i ON public.t USING gin (doc)"),
            "CREATE INDEX CONCURRENTLY i ON public.t USING gin (doc)"
        );
    }

    use super::*;
    use crate::sql::index_key::KeyExpr;

    fn cols(c: &[&str]) -> Vec<IndexKey> {
        c.iter().map(|s| IndexKey::column(*s)).collect()
    }

    #[test]
    fn readable_names() {
        let mut keys = cols(&["status", "created_at"]);
        keys[1].desc = true;
        assert_eq!(
            index_name("public.leads", &keys, None),
            "leads_status_created_at_idx"
        );
        assert_eq!(
            index_name(
                "leads",
                &[IndexKey::new(KeyExpr::Expression(
                    "lower(\"email\")".into()
                ))],
                None
            ),
            "leads_lower_email_idx"
        );
        assert_eq!(
            index_name("app.Events 2024", &cols(&["entity_id"]), Some("x IS NULL")),
            "events_2024_entity_id_partial_idx"
        );
        assert_eq!(index_name("public.t", &cols(&["日本"]), None), "t_日本_idx");
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
    fn multi_byte_names_are_cut_at_character_boundaries() {
        // 21 three-byte characters: 63 bytes, the longest name PostgreSQL keeps.
        let long = "名".repeat(21);
        for t in ["public.t", "public.日本", &format!("public.{long}")] {
            for k in [&long, "日本", "é"] {
                let n = index_name(t, &cols(&[k, k]), None);
                assert!(n.len() <= MAX_IDENT, "{n}");
                assert!(n.ends_with("_idx"), "{n}");
            }
        }
    }

    #[test]
    fn names_that_share_their_words_get_distinct_hashes() {
        let (a, b, c) = (cols(&["a_b"]), cols(&["a", "b"]), cols(&["c"]));
        let defs: Vec<(&str, &[IndexKey], Option<&str>)> = vec![
            ("public.t", &a, None),
            ("public.t", &b, None),
            ("public.t", &c, None),
            ("other.t", &c, None),
        ];
        let n = unique_names(&defs);
        assert_ne!(n[0], n[1]);
        assert!(
            n[0].starts_with("t_a_b_") && n[0].len() > "t_a_b_idx".len(),
            "{n:?}"
        );
        assert_eq!(n[2], "t_c_idx");
        assert_eq!(n[3], "t_c_idx");
    }

    #[test]
    fn the_build_decides_the_statement() {
        let mut d = IndexDef::btree("t_a_idx", "app.t", cols(&["a"]));
        assert_eq!(
            d.render(Build::Concurrent),
            r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "t_a_idx" ON "app"."t" ("a")"#
        );
        assert_eq!(d.render(Build::Concurrent), d.create_sql());
        assert_eq!(
            d.render(Build::InTransaction),
            r#"CREATE INDEX IF NOT EXISTS "t_a_idx" ON "app"."t" ("a")"#
        );
        assert_eq!(
            d.render(Build::Hypothetical),
            r#"CREATE INDEX ON "app"."t" ("a")"#
        );
        assert_eq!(
            d.drop_as(Build::InTransaction).unwrap(),
            r#"DROP INDEX IF EXISTS "app"."t_a_idx""#
        );
        assert_eq!(d.drop_as(Build::Hypothetical), None);
        d.only = true;
        assert_eq!(
            d.render(Build::Concurrent),
            r#"CREATE INDEX IF NOT EXISTS "t_a_idx" ON ONLY "app"."t" ("a")"#,
            "a parent-only index is never built concurrently"
        );
        d.name = None;
        assert_eq!(
            d.render(Build::InTransaction),
            r#"CREATE INDEX ON "app"."t" ("a")"#
        );
        assert_eq!(
            d.render_as_written(Build::InTransaction),
            r#"CREATE INDEX ON "app"."t" ("a")"#
        );
        let bare = IndexDef::hypothetical("t", cols(&["a"]));
        assert_eq!(
            bare.render_as_written(Build::Hypothetical),
            r#"CREATE INDEX ON "t" ("a")"#,
            "a bare table resolves through search_path"
        );
        assert_eq!(
            bare.render(Build::Hypothetical),
            r#"CREATE INDEX ON "public"."t" ("a")"#
        );
        assert_eq!(d.render(Build::InTransaction), d.create_sql());
    }

    #[test]
    fn ddl_quotes_everything() {
        let mut keys = cols(&["entity_type", "timestamp"]);
        keys[1].desc = true;
        keys.push(IndexKey::new(KeyExpr::Expression(
            "lower(\"email\")".into(),
        )));
        keys.push(IndexKey::column("id) WHERE true; DROP TABLE x; --"));
        let mut d = IndexDef::btree("e_idx", "public.Events 2024", keys);
        d.include = vec!["payload".into()];
        d.predicate = Some("\"deleted_at\" IS NULL".into());
        assert_eq!(
            d.create_sql(),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"e_idx\" ON \"public\".\"Events 2024\" (\"entity_type\", \"timestamp\" DESC, (lower(\"email\")), \"id) WHERE true; DROP TABLE x; --\") INCLUDE (\"payload\") WHERE \"deleted_at\" IS NULL"
        );
        assert_eq!(
            d.drop_sql().unwrap(),
            "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"e_idx\""
        );
        d.name = None;
        d.include.clear();
        d.predicate = None;
        d.keys.truncate(1);
        d.method = "gin".into();
        d.opclass = Some("gin_trgm_ops".into());
        assert_eq!(
            d.create_sql(),
            "CREATE INDEX ON \"public\".\"Events 2024\" USING gin (\"entity_type\" gin_trgm_ops)"
        );
    }
}
