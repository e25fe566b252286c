//! What `dbopt doctor` checks: can dbopt do its job on this server, and if not, what exactly
//! to run to fix it. Facts are gathered here (server side); rendering lives in `report`.

use serde::Serialize;

use super::connect::Conn;
use super::error::{PgError, Result};
use crate::sql::quote_ident;

/// One check, with the command that fixes it when it fails.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warning,
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub server_version: String,
    pub server_version_num: i32,
    pub database: String,
    pub user: String,
    pub checks: Vec<Check>,
}

impl DoctorReport {
    pub fn problems(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status != CheckStatus::Ok)
            .count()
    }
}

fn check(name: &str, ok: bool, detail: String, fix: impl FnOnce() -> String) -> Check {
    Check {
        name: name.into(),
        status: if ok {
            CheckStatus::Ok
        } else {
            CheckStatus::Missing
        },
        detail,
        fix: (!ok).then(fix),
    }
}

async fn one<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    c: &Conn,
    what: &str,
    sql: &str,
) -> Result<T> {
    Ok(c.query_one(sql, &[])
        .await
        .map_err(|e| PgError::query(what, e))?
        .get(0))
}

/// Who and where: what every check is about.
struct Facts<'a> {
    c: &'a Conn,
    server_version_num: i32,
    database: String,
    user: String,
    /// `user`, quoted for the GRANTs a fix proposes.
    q_user: String,
    /// The schema pg_stat_statements is created in, when it is.
    pgss_schema: Option<String>,
    /// Member of pg_read_all_stats (or pg_monitor).
    stats_ok: bool,
}

impl Facts<'_> {
    fn grant_stats(&self) -> String {
        format!(
            "GRANT pg_read_all_stats TO {};  -- or pg_monitor",
            self.q_user
        )
    }
}

/// Every check, in the order the report lists them: the server, its extensions, this role's
/// privileges, what each command needs, then the settings that make the numbers better.
pub async fn run(c: &Conn) -> Result<DoctorReport> {
    let server_version: String =
        one(c, "reading the server version", "SHOW server_version").await?;
    let num: String = one(c, "reading the server version", "SHOW server_version_num").await?;
    let server_version_num: i32 = num.parse().unwrap_or(0);
    let database: String = one(c, "reading the database name", "SELECT current_database()").await?;
    let user = super::server::current_user(c).await?;
    let pgss: Option<(String, String)> = c
        .query_opt(
            "SELECT e.extversion, n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'pg_stat_statements'",
            &[],
        )
        .await
        .map_err(|e| PgError::query("looking for pg_stat_statements", e))?
        .map(|r| (r.get(0), r.get(1)));
    // Privileges are checked, never inferred from superuser-ness: pg_has_role is true for a
    // superuser anyway, and a managed server's "admin" is not one.
    let stats_ok: bool = one(
        c,
        "reading role memberships",
        "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')",
    )
    .await?;
    let f = Facts {
        c,
        server_version_num,
        q_user: quote_ident(&user),
        pgss_schema: pgss.as_ref().map(|(_, s)| s.clone()),
        database,
        user,
        stats_ok,
    };
    let mut checks = vec![
        check(
            "server version",
            server_version_num >= 130_000,
            format!("PostgreSQL {server_version}"),
            || "dbopt supports PostgreSQL 13 and newer; upgrade the server".into(),
        ),
        preloaded(c, f.pgss_schema.as_deref(), &f.user).await?,
        pgss_created(&f, pgss.as_ref().map(|(v, _)| v.as_str())),
        hypopg(&f).await?,
        statistics_privileges(&f).await?,
    ];
    checks.extend(per_command(&f).await?);
    checks.extend(settings(&f).await?);
    Ok(DoctorReport {
        server_version,
        server_version_num,
        database: f.database,
        user: f.user,
        checks,
    })
}

/// A check that does not stop dbopt from working: missing becomes a warning.
fn soft(mut ch: Check) -> Check {
    if ch.status != CheckStatus::Ok {
        ch.status = CheckStatus::Warning;
    }
    ch
}

fn pgss_created(f: &Facts, version: Option<&str>) -> Check {
    let database = &f.database;
    check(
        "pg_stat_statements created",
        version.is_some(),
        version
            .map(|v| format!("version {v} in {database}"))
            .unwrap_or_else(|| format!("not created in {database}")),
        || {
            format!(
                "psql -d {} -c 'CREATE EXTENSION pg_stat_statements;'",
                quote_ident(database)
            )
        },
    )
}

async fn hypopg(f: &Facts<'_>) -> Result<Check> {
    let version = |sql: &'static str| async move {
        Ok::<Option<String>, PgError>(
            f.c.query_opt(sql, &[])
                .await
                .map_err(|e| PgError::query("looking for hypopg", e))?
                .map(|r| r.get(0)),
        )
    };
    let hypo_avail =
        version("SELECT default_version FROM pg_available_extensions WHERE name = 'hypopg'")
            .await?;
    let hypo_created =
        version("SELECT extversion FROM pg_extension WHERE extname = 'hypopg'").await?;
    let database = &f.database;
    let db = quote_ident(database);
    let major = f.server_version_num / 10_000;
    let mut hypo = check(
        "hypopg",
        hypo_created.is_some(),
        match (&hypo_avail, &hypo_created) {
            (_, Some(v)) => format!("version {v} created in {database}"),
            (Some(v), None) => format!("version {v} installed, not created in {database}"),
            (None, None) => "not installed on the server".into(),
        },
        || {
            match hypo_avail {
            Some(_) => format!("psql -d {db} -c 'CREATE EXTENSION hypopg;'"),
            None => format!("apt-get install postgresql-{major}-hypopg && psql -d {db} -c 'CREATE EXTENSION hypopg;'"),
        }
        },
    );
    if hypo.status != CheckStatus::Ok {
        // dbopt still advises without it, with its own cost model.
        hypo.detail
            .push_str(" (advise falls back to dbopt's own cost model)");
    }
    Ok(soft(hypo))
}

async fn statistics_privileges(f: &Facts<'_>) -> Result<Check> {
    let monitor: bool = one(
        f.c,
        "reading role memberships",
        "SELECT pg_has_role(current_user, 'pg_monitor', 'USAGE')",
    )
    .await?;
    Ok(check(
        "statistics privileges",
        f.stats_ok,
        format!(
            "pg_read_all_stats: {}, pg_monitor: {}",
            yes_no(f.stats_ok),
            yes_no(monitor)
        ),
        || {
            format!(
                "{}; lets dbopt see every user's statements",
                f.grant_stats()
            )
        },
    ))
}

/// The settings that make the numbers better; none of them stops dbopt, so all are soft.
async fn settings(f: &Facts<'_>) -> Result<Vec<Check>> {
    let c = f.c;
    let mut out = Vec::new();
    for (name, want, why) in [
        (
            "track_io_timing",
            "on",
            "I/O time per statement and per plan node",
        ),
        ("track_counts", "on", "table and index usage counters"),
    ] {
        let v = show(c, name).await?.unwrap_or_else(|| "hidden".into());
        out.push(soft(check(name, v == want, format!("{v} ({why})"), || {
            format!("ALTER SYSTEM SET {name} = {want}; SELECT pg_reload_conf();")
        })));
    }
    let tqs = show(c, "track_activity_query_size")
        .await?
        .unwrap_or_else(|| "1kB".into());
    out.push(soft(check(
        "track_activity_query_size",
        parse_size(&tqs) >= 4096,
        format!("{tqs} (long ORM queries are cut at this length in pg_stat_activity)"),
        || "ALTER SYSTEM SET track_activity_query_size = '4kB'; -- then restart".into(),
    )));
    let maxconn = show(c, "max_connections")
        .await?
        .unwrap_or_else(|| "100".into());
    let used: i64 = one(
        c,
        "counting connections",
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
    )
    .await?;
    let max: i64 = maxconn.parse().unwrap_or(100);
    out.push(soft(check(
        "max_connections",
        used * 10 < max * 8,
        format!("{used} of {max} client connections in use"),
        || {
            "put a pooler (PgBouncer) in front, or raise max_connections; see `dbopt connections`"
                .into()
        },
    )));
    Ok(out)
}

/// A setting's value, or `None` when this role may not read it (SQLSTATE 42501).
async fn show(c: &Conn, name: &str) -> Result<Option<String>> {
    match c.query_one(&format!("SHOW {name}"), &[]).await {
        Ok(r) => Ok(Some(r.get(0))),
        Err(e) if e.code().is_some_and(|s| s.code() == "42501") => Ok(None),
        Err(e) => Err(PgError::query(format!("reading {name}"), e)),
    }
}

/// `8kB`, `1MB`, `1024` (bytes) -> bytes.
fn parse_size(s: &str) -> i64 {
    let s = s.trim();
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let n: i64 = digits.parse().unwrap_or(0);
    match s[digits.len()..].trim() {
        "kB" => n * 1024,
        "MB" => n * 1024 * 1024,
        "GB" => n * 1024 * 1024 * 1024,
        _ => n,
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Is pg_stat_statements loaded? Found by using its view when the extension exists: the
/// setting is hidden from roles without pg_read_all_settings, and "listed" is not "working".
async fn preloaded(c: &Conn, schema: Option<&str>, user: &str) -> Result<Check> {
    const NAME: &str = "pg_stat_statements preloaded";
    let alter = "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; -- keep the libraries already listed, then restart the server";
    let preload = show(c, "shared_preload_libraries").await?;
    let listed = preload
        .as_deref()
        .map(|l| l.split(',').any(|x| x.trim() == "pg_stat_statements"));
    let setting = match &preload {
        Some(list) => format!("shared_preload_libraries = '{list}'"),
        None => "shared_preload_libraries is hidden from this role (pg_read_all_settings)".into(),
    };
    let mk = |status, detail: String, fix: Option<String>| Check {
        name: NAME.into(),
        status,
        detail,
        fix,
    };
    let Some(schema) = schema else {
        return Ok(match listed {
            Some(true) => mk(CheckStatus::Ok, setting, None),
            Some(false) => mk(CheckStatus::Missing, setting, Some(alter.into())),
            None => mk(
                CheckStatus::Warning,
                format!("cannot tell: {setting} and the extension is not created, so its view cannot be tried"),
                Some(format!("GRANT pg_read_all_settings TO {};  -- or create the extension and rerun", quote_ident(user))),
            ),
        });
    };
    let probe = format!(
        "SELECT 1 FROM {}.pg_stat_statements LIMIT 1",
        quote_ident(schema)
    );
    Ok(match c.query(&probe, &[]).await {
        Ok(_) => mk(
            CheckStatus::Ok,
            format!("loaded: its view answers ({setting})"),
            None,
        ),
        Err(e) if e.code().is_some_and(|s| s.code() == "55000") => mk(
            CheckStatus::Missing,
            format!("created but not loaded ({setting})"),
            Some(alter.into()),
        ),
        Err(e) => {
            let e =
                super::error::qualify_denied(c, PgError::query("reading pg_stat_statements", e))
                    .await;
            mk(CheckStatus::Missing, e.to_string(), e.hint_for(Some(user)))
        }
    })
}

/// A command's check from trying what the command does: ok, or missing with the error's hint.
fn tried<T>(name: &str, user: &str, r: Result<T>, ok: impl FnOnce(T) -> Check) -> Check {
    match r {
        Ok(v) => ok(v),
        Err(e) => Check {
            name: name.into(),
            status: CheckStatus::Missing,
            detail: e.to_string(),
            fix: e.hint_for(Some(user)),
        },
    }
}

/// A warning with the command that fixes it.
fn warning(name: &str, detail: String, fix: String) -> Check {
    Check {
        name: name.into(),
        status: CheckStatus::Warning,
        detail,
        fix: Some(fix),
    }
}

/// One check per command family: what it needs, and whether this role has it, found by doing
/// what the command does (loading the catalog, reading pg_stat_statements) or by asking the
/// server's privilege functions (has_table_privilege, pg_has_role) for what would write.
/// Read-only commands that cannot work are `missing`; writing commands, which run only when
/// asked, and partial visibility are `warning`.
async fn per_command(f: &Facts<'_>) -> Result<Vec<Check>> {
    let schemas = schemas(f).await?;
    let mut out = vec![
        catalog_check(f).await,
        pgss_check(f).await,
        explain_check(f, &schemas),
        connections_check(f),
    ];
    out.extend(reset_check(f).await?);
    out.push(archive_check(f, &schemas));
    out.push(vacuum_check(f, &schemas));
    out.push(bench_check(f).await?);
    Ok(out)
}

/// tables, indexes, size, snapshot: the catalog and the database size.
async fn catalog_check(f: &Facts<'_>) -> Check {
    const CATALOG: &str = "tables, indexes, size, snapshot: catalog";
    let loaded = match super::catalog::load(f.c).await {
        Ok(cat) => super::inspect::database_size(f.c).await.map(|_| cat),
        Err(e) => Err(e),
    };
    let loaded = match loaded {
        Err(e) => Err(super::error::qualify_denied(f.c, e).await),
        ok => ok,
    };
    tried(CATALOG, &f.user, loaded, |cat| {
        let with_stats = cat
            .tables
            .iter()
            .filter(|t| t.columns.iter().any(|col| col.stats.is_some()))
            .count();
        check(
            CATALOG,
            true,
            format!(
                "{} relations and {} indexes read; column statistics visible for {with_stats}",
                cat.tables.len(),
                cat.indexes.len()
            ),
            String::new,
        )
    })
}

/// queries, advise, nplusone: pg_stat_statements.
async fn pgss_check(f: &Facts<'_>) -> Check {
    const PGSS: &str = "queries, advise, nplusone: pg_stat_statements";
    let read = match super::pgss::read(f.c).await {
        Err(e) => Err(super::error::qualify_denied(f.c, e).await),
        ok => ok,
    };
    tried(PGSS, &f.user, read, |w| {
        let seen = format!("{} statements readable", w.statements.len());
        if w.hidden > 0 {
            warning(
                PGSS,
                format!(
                    "{seen}; {} statements of other roles are hidden (<insufficient privilege>) and are not advised on",
                    w.hidden
                ),
                f.grant_stats(),
            )
        } else {
            check(PGSS, true, seen, String::new)
        }
    })
}

/// What this role may do with the tables of one schema.
struct Schema {
    name: String,
    usage: bool,
    tables: i64,
    unreadable: i64,
    unwritable: i64,
    unmaintainable: i64,
    /// Owners of the tables this role may not VACUUM: ordinary roles, and superusers
    /// (whose membership must not be handed out).
    owners: Vec<String>,
    super_owners: Vec<String>,
}

/// Per schema: what this role may do with the tables in it.
async fn schemas(f: &Facts<'_>) -> Result<Vec<Schema>> {
    let maintain = if f.server_version_num >= 170_000 {
        "has_table_privilege(c.oid, 'MAINTAIN')"
    } else {
        "(pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE'))"
    };
    let rows = f
        .c
        .query(
            &format!(
                "SELECT n.nspname::text, has_schema_privilege(n.oid, 'USAGE'), count(*), \
                 count(*) FILTER (WHERE NOT has_table_privilege(c.oid, 'SELECT')), \
                 count(*) FILTER (WHERE NOT (has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT') \
                                             AND has_table_privilege(c.oid, 'DELETE'))), \
                 count(*) FILTER (WHERE c.relkind <> 'v' AND NOT {maintain}), \
                 coalesce(array_agg(DISTINCT o.rolname::text) FILTER (WHERE c.relkind <> 'v' AND NOT {maintain} AND NOT o.rolsuper), '{{}}'), \
                 coalesce(array_agg(DISTINCT o.rolname::text) FILTER (WHERE c.relkind <> 'v' AND NOT {maintain} AND o.rolsuper), '{{}}') \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_roles o ON o.oid = c.relowner \
                 JOIN pg_database d ON d.datname = current_database() \
                 WHERE c.relkind IN ('r', 'p', 'm', 'v') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' GROUP BY 1, 2 ORDER BY 1"
            ),
            &[],
        )
        .await
        .map_err(|e| PgError::query("checking table privileges", e))?;
    Ok(rows
        .iter()
        .map(|r| Schema {
            name: r.get(0),
            usage: r.get(1),
            tables: r.get(2),
            unreadable: r.get(3),
            unwritable: r.get(4),
            unmaintainable: r.get(5),
            owners: r.get(6),
            super_owners: r.get(7),
        })
        .collect())
}

/// A check over the schemas: ok with `all` when no schema lacks what `lacking` counts, else
/// a warning naming them, "s (n of m)", through `short`, with the GRANTs `grant` writes.
struct PerSchema<'a> {
    name: &'a str,
    lacking: &'a dyn Fn(&Schema) -> i64,
    grant: &'a dyn Fn(&Schema) -> String,
    all: &'a dyn Fn(i64) -> String,
    short: &'a dyn Fn(String) -> String,
    /// Sort the GRANTs and drop repeats (several schemas may need the same membership).
    dedup: bool,
}

impl PerSchema<'_> {
    fn check(&self, f: &Facts, schemas: &[Schema]) -> Check {
        let short: Vec<&Schema> = schemas
            .iter()
            .filter(|s| (self.lacking)(s) > 0 || (!s.usage && s.tables > 0))
            .collect();
        if short.is_empty() {
            let total: i64 = schemas.iter().map(|s| s.tables).sum();
            return check(self.name, true, (self.all)(total), String::new);
        }
        let names: Vec<String> = short
            .iter()
            .map(|s| {
                let n = if s.usage { (self.lacking)(s) } else { s.tables };
                format!("{} ({n} of {})", s.name, s.tables)
            })
            .collect();
        let mut grants: Vec<String> = short
            .iter()
            .map(|s| {
                let usage = if s.usage {
                    String::new()
                } else {
                    format!(
                        "GRANT USAGE ON SCHEMA {} TO {}; ",
                        quote_ident(&s.name),
                        f.q_user
                    )
                };
                let rest = if (self.lacking)(s) > 0 {
                    (self.grant)(s)
                } else {
                    String::new()
                };
                format!("{usage}{rest}").trim().to_string()
            })
            .collect();
        if self.dedup {
            grants.sort();
            grants.dedup();
        }
        warning(self.name, (self.short)(names.join(", ")), grants.join(" "))
    }
}

/// explain (and advise's what-if plans): SELECT on the tables the statements read.
fn explain_check(f: &Facts, schemas: &[Schema]) -> Check {
    PerSchema {
        name: "explain: SELECT on tables",
        lacking: &|s| s.unreadable,
        grant: &|s| {
            format!(
                "GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {};",
                quote_ident(&s.name),
                f.q_user
            )
        },
        all: &|total| format!("all {total} tables and views readable"),
        short: &|names| {
            format!("not readable: {names} (statements on them fail, and their pg_stats rows are hidden)")
        },
        dedup: false,
    }
    .check(f, schemas)
}

/// archive: SELECT, INSERT and DELETE (move); the archive table needs INSERT.
fn archive_check(f: &Facts, schemas: &[Schema]) -> Check {
    PerSchema {
        name: "archive: SELECT, INSERT, DELETE on tables",
        lacking: &|s| s.unwritable,
        grant: &|s| {
            format!(
                "GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA {} TO {};",
                quote_ident(&s.name),
                f.q_user
            )
        },
        all: &|total| format!("all {total} tables"),
        short: &|names| format!("lacking on: {names} (archive --execute fails on them)"),
        dedup: false,
    }
    .check(f, schemas)
}

/// vacuum: the table's owner (PG 17: the MAINTAIN privilege).
fn vacuum_check(f: &Facts, schemas: &[Schema]) -> Check {
    let q_user = &f.q_user;
    PerSchema {
        name: "vacuum: table owner",
        lacking: &|s| s.unmaintainable,
        grant: &|s| {
            if f.server_version_num >= 170_000 {
                return format!("GRANT pg_maintain TO {q_user};");
            }
            let grants = s
                .owners
                .iter()
                .map(|o| format!("GRANT {} TO {q_user};", quote_ident(o)));
            let supers = s.super_owners.iter().map(|o| {
                format!(
                    "VACUUM the tables of {} in {} as {} (a superuser) or ALTER TABLE ... OWNER TO a role this one belongs to;",
                    quote_ident(o),
                    quote_ident(&s.name),
                    quote_ident(o)
                )
            });
            grants.chain(supers).collect::<Vec<_>>().join(" ")
        },
        all: &|total| format!("may VACUUM all {total} tables"),
        short: &|names| format!("not the owner of: {names}"),
        dedup: true,
    }
    .check(f, schemas)
}

/// connections: other roles' sessions.
fn connections_check(f: &Facts) -> Check {
    const CONNS: &str = "connections: other sessions' queries";
    if f.stats_ok {
        check(
            CONNS,
            true,
            "every session's query is visible".into(),
            String::new,
        )
    } else {
        warning(
            CONNS,
            "other roles' sessions are listed without their query text".into(),
            f.grant_stats(),
        )
    }
}

/// queries --reset: EXECUTE on pg_stat_statements_reset (no check without the extension).
async fn reset_check(f: &Facts<'_>) -> Result<Option<Check>> {
    const RESET: &str = "queries --reset: pg_stat_statements_reset";
    let Some(schema) = &f.pgss_schema else {
        return Ok(None);
    };
    let fns = f
        .c
        .query(
            "SELECT n.nspname::text, p.proname::text, pg_get_function_identity_arguments(p.oid), \
             has_function_privilege(p.oid, 'EXECUTE') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND p.proname = 'pg_stat_statements_reset' ORDER BY pronargs DESC LIMIT 1",
            &[schema],
        )
        .await
        .map_err(|e| PgError::query("checking pg_stat_statements_reset", e))?;
    Ok(fns.first().map(|r| {
        let sig = format!(
            "{}.{}({})",
            quote_ident(&r.get::<_, String>(0)),
            quote_ident(&r.get::<_, String>(1)),
            r.get::<_, String>(2)
        );
        let ok: bool = r.get(3);
        soft(check(
            RESET,
            ok,
            format!("EXECUTE on {sig}: {}", yes_no(ok)),
            || format!("GRANT EXECUTE ON FUNCTION {sig} TO {};", f.q_user),
        ))
    }))
}

/// bench on --database-url --allow-writes: creates its built-in tables.
async fn bench_check(f: &Facts<'_>) -> Result<Check> {
    const BENCH: &str = "bench --allow-writes: CREATE in the current schema";
    let create: Option<(String, bool)> = f
        .c
        .query_one(
            "SELECT current_schema()::text, coalesce(has_schema_privilege(current_schema(), 'CREATE'), false)",
            &[],
        )
        .await
        .map_err(|e| PgError::query("checking CREATE on the current schema", e))
        .map(|r| r.get::<_, Option<String>>(0).map(|s| (s, r.get(1))))?;
    Ok(soft(match &create {
        Some((schema, ok)) => check(
            BENCH,
            *ok,
            format!("CREATE on schema {schema}: {}", yes_no(*ok)),
            || {
                format!("GRANT CREATE ON SCHEMA {} TO {};  -- or bench on a throwaway server (no --database-url)", quote_ident(schema), f.q_user)
            },
        ),
        None => check(
            BENCH,
            false,
            "no schema on the search_path exists".into(),
            || {
                "set search_path to a schema this role may CREATE in, or bench on a throwaway server".into()
            },
        ),
    }))
}
