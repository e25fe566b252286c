//! Flyway: `V<version>__<name>.sql` with a `.sql.conf` script configuration saying
//! `executeInTransaction=false`, and `U<version>__<name>.sql` to undo (Flyway Teams).

use super::header::{block, Direction};
use super::plan::Unit;
use super::writer::{whole_file_sql, whole_file_timeouts, EmitContext, FileOut, Version};

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version) -> Vec<FileOut> {
    let timeouts = whole_file_timeouts("Flyway", unit);
    let conf = format!("executeInTransaction={}\n", !unit.concurrent());
    let mut out = Vec::new();
    for (prefix, dir, stmts) in [
        ("V", Direction::Up, unit.up()),
        ("U", Direction::Down, unit.down()),
    ] {
        let name = format!("{prefix}{}__{}.sql", v.digits(), unit.slug);
        out.push(FileOut {
            rel: name.clone().into(),
            text: format!(
                "{}{}",
                block(ctx, unit, dir, &timeouts, "--"),
                whole_file_sql(unit, stmts)
            ),
        });
        out.push(FileOut {
            rel: format!("{name}.conf").into(),
            text: conf.clone(),
        });
    }
    out
}
