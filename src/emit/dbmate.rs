//! dbmate: one `<version>_<name>.sql` with `-- migrate:up` and `-- migrate:down` sections.
//! `transaction:false` makes dbmate run each section with one Exec (one message), so each
//! section holds one CONCURRENTLY statement.

use super::header::{block, Direction};
use super::plan::Unit;
use super::writer::{whole_file_sql, whole_file_timeouts, EmitContext, FileOut, Version};

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version) -> Vec<FileOut> {
    let opt = if unit.concurrent() {
        " transaction:false"
    } else {
        ""
    };
    vec![FileOut {
        rel: format!("{}_{}.sql", v.digits(), unit.slug).into(),
        text: format!(
            "-- migrate:up{opt}\n{}{}\n-- migrate:down{opt}\n{}",
            block(
                ctx,
                unit,
                Direction::Both,
                &whole_file_timeouts("dbmate", unit),
                "--"
            ),
            whole_file_sql(unit, unit.up()),
            whole_file_sql(unit, unit.down())
        ),
    }]
}
