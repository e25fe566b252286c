//! `dbopt snapshot -o FILE.json`: catalog, statistics and workload in one file, for offline
//! analysis with `--from-snapshot`.

use std::path::PathBuf;

use clap::Args;

use super::source::SourceArgs;
use super::{ExitStatus, Globals};
use crate::snapshot::{self, Snapshot};
use crate::workload::Workload;

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The file to write.
    #[arg(long, short = 'o', value_name = "FILE.json")]
    pub output: PathBuf,
    /// Replace constants in query texts and sample values in column statistics.
    #[arg(long)]
    pub redact: bool,
    #[command(flatten)]
    pub source: SourceArgs,
}

pub async fn run(g: &Globals, a: &SnapshotArgs) -> anyhow::Result<ExitStatus> {
    let conn = g.connect.open(true).await?;
    crate::pg::inspect::check_version(&conn).await?;
    let catalog = crate::pg::catalog::load(&conn).await?;
    let size = crate::pg::inspect::database_size(&conn).await?;
    let explicit = a.source.spec() != SourceArgs::default_spec(&a.source);
    let workload = match a.source.load(g).await {
        Ok(l) => l.workload,
        // The catalog alone is still worth having; say plainly what is missing.
        Err(e) if !explicit => {
            let msg = crate::sql::one_line(&format!("{e:#}"), 300);
            eprintln!("warning: no workload in the snapshot: {msg}");
            Workload {
                notes: vec![format!("no workload: {msg}")],
                ..Default::default()
            }
        }
        Err(e) => return Err(e),
    };
    let mut s = Snapshot::new(catalog, workload, Some(size));
    s.activity = Some(crate::pg::activity::read(&conn).await?);
    s.health = Some(crate::pg::health::read(&conn).await?);
    if a.redact {
        s.redact();
    }
    snapshot::write(&a.output, &s)?;
    eprintln!(
        "wrote {}: {} tables, {} indexes, {} statements{}",
        a.output.display(),
        s.catalog.tables.len(),
        s.catalog.indexes.len(),
        s.workload.statements.len(),
        if s.redacted { " (redacted)" } else { "" }
    );
    Ok(ExitStatus::Ok)
}
