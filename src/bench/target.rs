//! Preparing the database a benchmark runs against: the pgbench-compatible tables of the
//! select-only and read-write workloads, or the demo database of the demo lookups.
//!
//! Why pgbench's own table layout: `bench pool --compare-pgbench` runs `pgbench -S` and dbopt
//! on the same rows, so the ratio measures the clients and nothing else.

use super::demo::{self, DemoOptions};
use super::error::Result;
use super::workload::{pgbench_tables_sql, BuiltIn, Workload, ACCOUNTS_PER_SCALE};
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
            c.batch_execute(&pgbench_tables_sql(s))
                .await
                .map_err(|e| PgError::query("creating the pgbench tables", e))?;
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
                        &format!("SELECT coalesce(max(id), 1) FROM {}", pg::quote_ident(t)),
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
