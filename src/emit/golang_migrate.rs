//! golang-migrate: `<version>_<name>.up.sql` / `.down.sql`. It adds no transaction of its own
//! but sends the whole file in one Exec (an implicit transaction), so one CONCURRENTLY
//! statement per file.

use super::header::Direction;
use super::plan::Unit;
use super::writer::{whole_file, EmitContext, FileOut, Version};

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version) -> Vec<FileOut> {
    let base = format!("{}_{}", v.digits(), unit.slug);
    vec![
        FileOut {
            rel: format!("{base}.up.sql").into(),
            text: whole_file(ctx, unit, Direction::Up, "golang-migrate"),
        },
        FileOut {
            rel: format!("{base}.down.sql").into(),
            text: whole_file(ctx, unit, Direction::Down, "golang-migrate"),
        },
    ]
}
