//! Flyway: `V<version>__<name>.sql` with a `.sql.conf` script configuration saying
//! `executeInTransaction=false`, and `U<version>__<name>.sql` to undo (Flyway Teams).

use super::header::{block, Direction};
use super::plan::Unit;
use super::writer::{whole_file, EmitContext, FileOut, Version};

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version) -> Vec<FileOut> {
    let why = if unit.concurrent() {
        "CONCURRENTLY cannot run inside a transaction block"
    } else {
        "this step is transactional"
    };
    let conf = format!(
        "{}# executeInTransaction: {why}.\nexecuteInTransaction={}\n",
        block(ctx, unit, Direction::Up, "", "#"),
        !unit.concurrent()
    );
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
