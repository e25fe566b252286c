//! Preparing the database a benchmark runs against: the pgbench-compatible tables of the
//! select-only and read-write workloads, or the demo database of the demo lookups.
//!
//! Why pgbench's own table layout: `bench pool --compare-pgbench` runs `pgbench -S` and dbopt
//! on the same rows, so the ratio measures the clients and nothing else.

use super::demo::{self, DemoOptions};
use super::error::Result;
use super::workload::{
    pgbench_tables_sql, BuiltIn, Workload, ACCOUNTS_PER_SCALE, SETTLE_PGBENCH_TABLES_SQL,
};
use crate::pg::{self, ConnParams, PgError, SessionOptions};

/// Create (when absent) and fill what `builtin` needs in the database `p` points at, then
/// return its workload. Writes: callers check the user agreed (or that the server is ours).
/// `scale` is pgbench's scale for the pgbench tables, the demo scale for the demo database.
pub async fn prepare(p: &ConnParams, builtin: BuiltIn, scale: f64) -> Result<Workload> {
    let write = SessionOptions::unrestricted();
    match builtin {
        BuiltIn::SelectOnly | BuiltIn::ReadWrite => {
            let s = scale.round().clamp(1.0, 1000.0) as u32;
            let c = pg::connect(p, &write).await?;
            let flag = |sql: &'static str| {
                let c = &c;
                async move {
                    c.query_one(sql, &[])
                        .await
                        .map(|r| r.get::<_, bool>(0))
                        .map_err(|e| PgError::query("looking for the pgbench tables", e))
                }
            };
            // Absent or empty: this run loads them.
            let fresh = !flag("SELECT to_regclass('pgbench_accounts') IS NOT NULL").await?
                || !flag("SELECT EXISTS (SELECT 1 FROM pgbench_accounts)").await?;
            // A synchronous commit, so the VACUUM after it can mark the pages all-visible
            // (not before the commit is flushed, on a server that commits asynchronously).
            c.batch_execute("SET synchronous_commit = on")
                .await
                .map_err(|e| PgError::query("setting synchronous_commit", e))?;
            c.batch_execute(&pgbench_tables_sql(s))
                .await
                .map_err(|e| PgError::query("creating the pgbench tables", e))?;
            if fresh {
                c.batch_execute(SETTLE_PGBENCH_TABLES_SQL)
                    .await
                    .map_err(|e| PgError::query("vacuuming the fresh pgbench tables", e))?;
            }
            let accounts: i64 = c
                .query_one("SELECT count(*) FROM pgbench_accounts", &[])
                .await
                .map_err(|e| PgError::query("counting pgbench_accounts", e))?
                .get(0);
            let accounts = accounts.max(1).min(i64::from(s) * ACCOUNTS_PER_SCALE);
            Ok(builtin.workload(&|_| accounts))
        }
        BuiltIn::DemoLookups => {
            let c = pg::connect(p, &write).await?;
            let exists: bool = c
                .query_one("SELECT to_regclass('leads') IS NOT NULL", &[])
                .await
                .map_err(|e| PgError::query("looking for the demo tables", e))?
                .get(0);
            if !exists {
                let opts = DemoOptions {
                    scale,
                    ..Default::default()
                };
                demo::load(p, &opts, &|_, _| {}).await?;
            }
            let mut rows = std::collections::HashMap::new();
            for t in ["leads", "agents", "lead_assignments", "carriers"] {
                let n: i64 = c
                    .query_one(
                        &format!(
                            "SELECT coalesce(max(id), 1) FROM {}",
                            crate::sql::quote_ident(t)
                        ),
                        &[],
                    )
                    .await
                    .map_err(|e| PgError::query(format!("sizing {t}"), e))?
                    .get(0);
                rows.insert(t, n);
            }
            Ok(builtin.workload(&|t| rows.get(t).copied().unwrap_or(1)))
        }
    }
}

/// Leave autovacuum nothing to do on a throwaway server before measuring: VACUUM (FREEZE,
/// ANALYZE) the whole database, catalogs included (creating tables changed them). Only for a
/// server dbopt owns: on a user's database this is not ours to decide. The checkpoint first
/// flushes the WAL: the throwaway commits asynchronously, and VACUUM may not mark a page
/// all-visible while the commit that filled it is not yet on disk.
pub async fn settle_throwaway(p: &ConnParams) -> Result<()> {
    let c = pg::connect(p, &SessionOptions::unrestricted()).await?;
    for sql in ["CHECKPOINT", "VACUUM (FREEZE, ANALYZE)", "CHECKPOINT"] {
        c.batch_execute(sql)
            .await
            .map_err(|e| PgError::query("settling the throwaway database", e))?;
    }
    Ok(())
}
