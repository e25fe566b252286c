//! What `dbopt doctor` checks: can dbopt do its job on this server, and if not, what exactly
//! to run to fix it. Facts are gathered here (server side); rendering lives in `report`.

use serde::Serialize;

use super::connect::Conn;
use super::error::{PgError, Result};
use super::quote_ident;

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

pub async fn run(c: &Conn) -> Result<DoctorReport> {
    let server_version: String =
        one(c, "reading the server version", "SHOW server_version").await?;
    let num: String = one(c, "reading the server version", "SHOW server_version_num").await?;
    let server_version_num: i32 = num.parse().unwrap_or(0);
    let database: String = one(c, "reading the database name", "SELECT current_database()").await?;
    let user: String = one(c, "reading the role", "SELECT current_user").await?;
    let db = quote_ident(&database);
    let mut checks = Vec::new();

    checks.push(check(
        "server version",
        server_version_num >= 130_000,
        format!("PostgreSQL {server_version}"),
        || "dbopt supports PostgreSQL 13 and newer; upgrade the server".into(),
    ));

    let pgss: Option<String> = c
        .query_opt(
            "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'",
            &[],
        )
        .await
        .map_err(|e| PgError::query("looking for pg_stat_statements", e))?
        .map(|r| r.get(0));
    // Reading shared_preload_libraries needs pg_read_all_settings; without it, probe the view.
    let preload = show(c, "shared_preload_libraries").await?;
    let preloaded = match &preload {
        Some(list) => Some(list.split(',').any(|l| l.trim() == "pg_stat_statements")),
        None if pgss.is_some() => Some(
            c.query("SELECT 1 FROM pg_stat_statements LIMIT 1", &[])
                .await
                .is_ok(),
        ),
        None => None,
    };
    let mut ch = check(
        "pg_stat_statements preloaded",
        preloaded.unwrap_or(false),
        match &preload {
            Some(list) => format!("shared_preload_libraries = '{list}'"),
            None => {
                "shared_preload_libraries is hidden from this role (needs pg_read_all_settings)"
                    .into()
            }
        },
        || {
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; -- then restart the server".into()
        },
    );
    if preloaded.is_none() {
        ch.status = CheckStatus::Warning;
        ch.fix = Some(format!(
            "GRANT pg_read_all_settings TO {};  -- or pg_monitor",
            quote_ident(&user)
        ));
    }
    checks.push(ch);
    checks.push(check(
        "pg_stat_statements created",
        pgss.is_some(),
        pgss.as_ref()
            .map(|v| format!("version {v} in {database}"))
            .unwrap_or_else(|| format!("not created in {database}")),
        || format!("psql -d {db} -c 'CREATE EXTENSION pg_stat_statements;'"),
    ));

    let hypo_avail: Option<String> = c
        .query_opt(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'hypopg'",
            &[],
        )
        .await
        .map_err(|e| PgError::query("looking for hypopg", e))?
        .map(|r| r.get(0));
    let hypo_created: Option<String> = c
        .query_opt(
            "SELECT extversion FROM pg_extension WHERE extname = 'hypopg'",
            &[],
        )
        .await
        .map_err(|e| PgError::query("looking for hypopg", e))?
        .map(|r| r.get(0));
    let major = server_version_num / 10_000;
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
        hypo.status = CheckStatus::Warning;
        hypo.detail
            .push_str(" (advise falls back to dbopt's own cost model)");
    }
    checks.push(hypo);

    let roles: Vec<(String, bool)> = c
        .query(
            "SELECT r, pg_has_role(current_user, r, 'USAGE') FROM unnest(ARRAY['pg_read_all_stats','pg_monitor']) r",
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading role memberships", e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let superuser: bool = one(
        c,
        "reading the role",
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .await?;
    let stats_ok = superuser || roles.iter().any(|(_, has)| *has);
    let q_user = quote_ident(&user);
    checks.push(check(
        "statistics privileges",
        stats_ok,
        if superuser {
            "superuser".into()
        } else {
            roles.iter().map(|(r, h)| format!("{r}: {}", if *h { "yes" } else { "no" })).collect::<Vec<_>>().join(", ")
        },
        || format!("GRANT pg_read_all_stats TO {q_user};  -- or pg_monitor; lets dbopt see every user's statements"),
    ));
    let unreadable: i64 = one(
        c,
        "checking table privileges",
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r','p','m') AND n.nspname NOT IN ('pg_catalog','information_schema') \
         AND n.nspname NOT LIKE 'pg_toast%' AND NOT has_table_privilege(c.oid, 'SELECT')",
    )
    .await?;
    checks.push(check(
        "SELECT on tables (for pg_stats)",
        unreadable == 0,
        if unreadable == 0 {
            "all user tables readable".into()
        } else {
            format!("{unreadable} tables not readable: their pg_stats rows are hidden")
        },
        || format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {q_user};  -- per schema"),
    ));

    for (name, want, why) in [
        (
            "track_io_timing",
            "on",
            "I/O time per statement and per plan node",
        ),
        ("track_counts", "on", "table and index usage counters"),
    ] {
        let v = show(c, name).await?.unwrap_or_else(|| "hidden".into());
        let mut ch = check(name, v == want, format!("{v} ({why})"), || {
            format!("ALTER SYSTEM SET {name} = {want}; SELECT pg_reload_conf();")
        });
        if ch.status != CheckStatus::Ok {
            ch.status = CheckStatus::Warning;
        }
        checks.push(ch);
    }
    let tqs = show(c, "track_activity_query_size")
        .await?
        .unwrap_or_else(|| "1kB".into());
    let tqs_bytes = parse_size(&tqs);
    let mut ch = check(
        "track_activity_query_size",
        tqs_bytes >= 4096,
        format!("{tqs} (long ORM queries are cut at this length in pg_stat_activity)"),
        || "ALTER SYSTEM SET track_activity_query_size = '4kB'; -- then restart".into(),
    );
    if ch.status != CheckStatus::Ok {
        ch.status = CheckStatus::Warning;
    }
    checks.push(ch);
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
    let ok = used * 10 < max * 8;
    let mut ch = check(
        "max_connections",
        ok,
        format!("{used} of {max} client connections in use"),
        || {
            "put a pooler (PgBouncer) in front, or raise max_connections; see `dbopt connections`"
                .into()
        },
    );
    if !ok {
        ch.status = CheckStatus::Warning;
    }
    checks.push(ch);

    Ok(DoctorReport {
        server_version,
        server_version_num,
        database,
        user,
        checks,
    })
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
