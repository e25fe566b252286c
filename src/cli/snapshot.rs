//! `dbopt snapshot -o FILE.json`: catalog, statistics and workload in one file, for offline
//! analysis with `--from-snapshot`. Flags in, [`crate::commands::snapshot`] reads and writes.

use std::path::PathBuf;

use clap::Args;

use super::source::SourceArgs;
use super::{ExitStatus, Globals};
use crate::commands::snapshot as cmd;

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
    let req = cmd::Request {
        server: g.connect.live(true)?,
        source: a.source.spec(),
        source_explicit: a.source.spec() != SourceArgs::default_spec(&a.source),
        redact: a.redact,
        output: a.output.clone(),
    };
    let warn = |m: &str| eprintln!("warning: {m}");
    let s = cmd::run(&req, &super::source::warn_bad_statements, &warn).await?;
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
