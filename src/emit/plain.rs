//! A psql script, `<version>_<name>.sql` and `<version>_<name>.down.sql`, for a DBA to run by
//! hand. psql sends statement by statement, so the script sets its own timeouts and holds
//! every step of an index in order.

use super::header::{block, Direction};
use super::plan::Unit;
use super::writer::{sql_lines, EmitContext, FileOut, Version, LOCK_TIMEOUT};

fn timeouts(file: &str) -> String {
    format!(
        "Run with: psql -v ON_ERROR_STOP=1 -f {file}\n\
         (never with --single-transaction: CONCURRENTLY cannot run inside a transaction block).\n\
         Timeouts: psql sends each statement on its own, so this script sets lock_timeout to\n\
         {LOCK_TIMEOUT} (give up rather than queue writes behind the build) and statement_timeout to 0."
    )
}

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version) -> Vec<FileOut> {
    let base = format!("{}_{}", v.digits(), unit.slug);
    let sets = format!("SET lock_timeout = '{LOCK_TIMEOUT}';\nSET statement_timeout = 0;\n");
    let mut out = Vec::new();
    for (name, dir, stmts) in [
        (format!("{base}.sql"), Direction::Up, unit.up()),
        (format!("{base}.down.sql"), Direction::Down, unit.down()),
    ] {
        out.push(FileOut {
            text: format!(
                "{}{sets}{}",
                block(ctx, unit, dir, &timeouts(&name), "--"),
                sql_lines(stmts)
            ),
            rel: name.into(),
        });
    }
    out
}
