//! diesel: a directory `<timestamp>_<name>/` with `up.sql`, `down.sql` and `metadata.toml`.
//! `run_in_transaction = false` makes diesel run the file with one `batch_execute` (one
//! message), so one CONCURRENTLY statement per migration.

use super::header::{block, Direction};
use super::plan::Unit;
use super::writer::{whole_file, EmitContext, FileOut, Version};

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version) -> Vec<FileOut> {
    let dir = format!("{}_{}", v.dashed(), unit.slug);
    let why = if unit.concurrent() {
        "CONCURRENTLY cannot run inside a transaction block"
    } else {
        "this step is transactional"
    };
    vec![
        FileOut {
            rel: format!("{dir}/up.sql").into(),
            text: whole_file(ctx, unit, Direction::Up, "diesel"),
        },
        FileOut {
            rel: format!("{dir}/down.sql").into(),
            text: whole_file(ctx, unit, Direction::Down, "diesel"),
        },
        FileOut {
            rel: format!("{dir}/metadata.toml").into(),
            text: format!(
                "{}# run_in_transaction: {why}.\nrun_in_transaction = {}\n",
                block(ctx, unit, Direction::Up, "", "#"),
                !unit.concurrent()
            ),
        },
    ]
}
