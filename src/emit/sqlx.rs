//! sqlx: `<version>_<name>.up.sql` / `.down.sql` (or `<version>_<name>.sql` when DIR already
//! holds simple migrations). A file whose first line is `-- no-transaction` is sent with one
//! `execute`, a single simple-query message, so it holds one CONCURRENTLY statement.

use super::header::Direction;
use super::plan::Unit;
use super::writer::{whole_file, DirState, EmitContext, FileOut, Version};

fn file(ctx: &EmitContext, unit: &Unit, dir: Direction) -> String {
    // sqlx checks `starts_with("-- no-transaction")`: nothing may come before it.
    let marker = if unit.concurrent() {
        "-- no-transaction\n"
    } else {
        ""
    };
    format!("{marker}{}", whole_file(ctx, unit, dir, "sqlx"))
}

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version, state: &DirState) -> Vec<FileOut> {
    let base = format!("{}_{}", v.digits(), unit.slug);
    if state.sqlx_simple {
        return vec![FileOut {
            rel: format!("{base}.sql").into(),
            text: file(ctx, unit, Direction::Up),
        }];
    }
    vec![
        FileOut {
            rel: format!("{base}.up.sql").into(),
            text: file(ctx, unit, Direction::Up),
        },
        FileOut {
            rel: format!("{base}.down.sql").into(),
            text: file(ctx, unit, Direction::Down),
        },
    ]
}
