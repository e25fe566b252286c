//! diesel: a directory `<timestamp>_<name>/` with `up.sql`, `down.sql` and `metadata.toml`.
//! `run_in_transaction = false` makes diesel run the file with one `batch_execute` (one
//! message), so one CONCURRENTLY statement per migration.

use super::header::{block, Direction};
use super::plan::Unit;
use super::writer::{whole_file_sql, whole_file_timeouts, EmitContext, FileOut, Version};

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version) -> Vec<FileOut> {
    let dir = format!("{}_{}", v.dashed(), unit.slug);
    let timeouts = whole_file_timeouts("diesel", unit);
    let text = |d, stmts| {
        format!(
            "{}{}",
            block(ctx, unit, d, &timeouts, "--"),
            whole_file_sql(unit, stmts)
        )
    };
    vec![
        FileOut {
            rel: format!("{dir}/up.sql").into(),
            text: text(Direction::Up, unit.up()),
        },
        FileOut {
            rel: format!("{dir}/down.sql").into(),
            text: text(Direction::Down, unit.down()),
        },
        FileOut {
            rel: format!("{dir}/metadata.toml").into(),
            text: format!(
                "# Written by dbopt {}: CONCURRENTLY cannot run inside a transaction block.\n\
                 run_in_transaction = {}\n",
                ctx.dbopt_version,
                !unit.concurrent()
            ),
        },
    ]
}
