//! Flyway: `V<version>__<name>.sql` with a `.sql.conf` script configuration saying
//! `executeInTransaction=false`, and `U<version>__<name>.sql` to undo (Flyway Teams).

use super::header::Direction;
use super::plan::Unit;
use super::writer::{whole_file, EmitContext, FileOut, Version};

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version) -> Vec<FileOut> {
    let conf = format!("executeInTransaction={}\n", !unit.concurrent());
    let mut out = Vec::new();
    for (prefix, dir) in [("V", Direction::Up), ("U", Direction::Down)] {
        let name = format!("{prefix}{}__{}.sql", v.digits(), unit.slug);
        out.push(FileOut {
            rel: name.clone().into(),
            text: whole_file(ctx, unit, dir, "Flyway"),
        });
        out.push(FileOut {
            rel: format!("{name}.conf").into(),
            text: conf.clone(),
        });
    }
    out
}
