//! Small facts about the server and the session that several commands need: the effective
//! search_path, the role, whether an extension is created.
//!
//! Why one module: each of these used to be asked in several places, each its own way (the
//! search path by replacing `$user` in `SHOW search_path` here and with `current_schemas`
//! there; the HypoPG check four times). One adapter per question keeps the answers identical
//! everywhere and the SQL dbopt sends easy to audit.

use super::{Conn, PgError, Result};

/// The session's effective search_path (`current_schemas(false)`: existing schemas only,
/// `$user` resolved), for resolving the unqualified tables of a statement.
pub async fn search_path(c: &Conn) -> Result<Vec<String>> {
    let row = c
        .query_one("SELECT current_schemas(false)::text[]", &[])
        .await
        .map_err(|e| PgError::query("reading search_path", e))?;
    Ok(row.get(0))
}

/// The role the session runs as.
pub async fn current_user(c: &Conn) -> Result<String> {
    let row = c
        .query_one("SELECT current_user::text", &[])
        .await
        .map_err(|e| PgError::query("reading the role", e))?;
    Ok(row.get(0))
}

/// Whether extension `name` is created in the connected database.
pub async fn has_extension(c: &Conn, name: &str) -> Result<bool> {
    Ok(extension(c, name).await?.0)
}

/// `Ok` when extension `name` is created in the connected database, else
/// [`PgError::ExtensionMissing`] carrying the server version (for the package name to install).
pub async fn require_extension(c: &Conn, name: &str) -> Result<()> {
    match extension(c, name).await? {
        (true, _) => Ok(()),
        (false, version) => Err(PgError::ExtensionMissing {
            name: name.to_string(),
            detail: "not created in this database".into(),
            server_version_num: Some(version),
        }),
    }
}

/// (created in this database, server_version_num).
async fn extension(c: &Conn, name: &str) -> Result<(bool, i32)> {
    let row = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1), current_setting('server_version_num')::int",
            &[&name],
        )
        .await
        .map_err(|e| PgError::query(format!("looking for {name}"), e))?;
    Ok((row.get(0), row.get(1)))
}
