//! `vacuum TABLE...`: resolve the tables and show the statements ([`plan`]), then run them with
//! progress ([`run`]). The confirmation in between belongs to the caller (a terminal prompt).

use super::Error;
use crate::pg::inspect::{self, VacuumDone, VacuumProgress};
use crate::pg::source::Live;
use crate::report::vacuum::VacuumReport;

/// The tables as the server names them, and the statement for each.
pub struct Plan {
    pub tables: Vec<String>,
    pub statements: Vec<String>,
}

/// Resolve `tables` (`name` or `schema.name`) on the server: a name of no table is an error
/// before anything runs.
pub async fn plan(server: &Live, tables: &[String]) -> Result<Plan, Error> {
    let conn = crate::pg::connect(&server.params, &server.session).await?;
    inspect::check_version(&conn).await?;
    let mut resolved = Vec::new();
    for t in tables {
        resolved.push(inspect::resolve_table(&conn, t).await?);
    }
    let statements = resolved
        .iter()
        .map(|t| format!("VACUUM (ANALYZE) {}", crate::sql::ddl::quote_table(t)))
        .collect();
    Ok(Plan {
        tables: resolved,
        statements,
    })
}

/// Run the plan, one table at a time, with a progress bar each.
pub async fn run(server: &Live, plan: Plan) -> Result<VacuumReport, Error> {
    let mut done: Vec<VacuumDone> = Vec::new();
    for t in &plan.tables {
        let pb = crate::report::progress(0, &format!("vacuum {t}"));
        let on_progress = |p: &VacuumProgress| {
            pb.set_length(u64::try_from(p.heap_blks_total).unwrap_or(0));
            pb.set_position(u64::try_from(p.heap_blks_scanned).unwrap_or(0));
            pb.set_message(format!("{t}: {}", p.phase));
        };
        let d = inspect::vacuum(&server.params, &server.session, t, &on_progress).await?;
        pb.finish_and_clear();
        done.push(d);
    }
    Ok(VacuumReport {
        dry_run: false,
        statements: plan.statements,
        done,
    })
}
