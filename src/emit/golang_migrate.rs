//! golang-migrate: `<version>_<name>.up.sql` / `.down.sql`. It adds no transaction of its own
//! but sends the whole file in one Exec (an implicit transaction), so one CONCURRENTLY
//! statement per file.

use super::header::{block, Direction};
use super::plan::Unit;
use super::writer::{whole_file_sql, whole_file_timeouts, EmitContext, FileOut, Version};

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version) -> Vec<FileOut> {
    let base = format!("{}_{}", v.digits(), unit.slug);
    let text = |dir, stmts| {
        format!(
            "{}{}",
            block(
                ctx,
                unit,
                dir,
                &whole_file_timeouts("golang-migrate", unit),
                "--"
            ),
            whole_file_sql(unit, stmts)
        )
    };
    vec![
        FileOut {
            rel: format!("{base}.up.sql").into(),
            text: text(Direction::Up, unit.up()),
        },
        FileOut {
            rel: format!("{base}.down.sql").into(),
            text: text(Direction::Down, unit.down()),
        },
    ]
}
