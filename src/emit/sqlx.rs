//! sqlx: `<version>_<name>.up.sql` / `.down.sql` (or `<version>_<name>.sql` when DIR already
//! holds simple migrations). A file whose first line is `-- no-transaction` is sent with one
//! `execute`, a single simple-query message, so it holds one CONCURRENTLY statement.

use super::header::{block, Direction};
use super::plan::Unit;
use super::writer::{whole_file_sql, whole_file_timeouts, DirState, EmitContext, FileOut, Version};

fn file(ctx: &EmitContext, unit: &Unit, dir: Direction, stmts: Vec<&str>) -> String {
    // sqlx checks `starts_with("-- no-transaction")`: nothing may come before it.
    let marker = if unit.concurrent() {
        "-- no-transaction\n"
    } else {
        ""
    };
    format!(
        "{marker}{}{}",
        block(ctx, unit, dir, &whole_file_timeouts("sqlx", unit), "--"),
        whole_file_sql(unit, stmts)
    )
}

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version, state: &DirState) -> Vec<FileOut> {
    let base = format!("{}_{}", v.digits(), unit.slug);
    if state.sqlx_simple {
        return vec![FileOut {
            rel: format!("{base}.sql").into(),
            text: file(ctx, unit, Direction::Up, unit.up()),
        }];
    }
    vec![
        FileOut {
            rel: format!("{base}.up.sql").into(),
            text: file(ctx, unit, Direction::Up, unit.up()),
        },
        FileOut {
            rel: format!("{base}.down.sql").into(),
            text: file(ctx, unit, Direction::Down, unit.down()),
        },
    ]
}
