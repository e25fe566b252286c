//! The one entry point that reads a workload from every source a [`SourceSpec`] names: a
//! snapshot file, the server (pg_stat_statements, pg_stat_activity samples), then the
//! `--queries` files and logs (`workload::source::read_offline`).
//!
//! Why in `pg`: reading a server is the adapter's job, and `workload` (below it) stays plain
//! data and parsing. `advise`, `queries`, `nplusone` and `snapshot` all call [`load`], so each
//! source gives the same [`Workload`] whichever command asked.

use super::activity::Sample;
use super::connect::is_own;
use super::{ConnParams, PgError, SessionOptions};
use crate::snapshot::{self, SnapshotError};
use crate::workload::collect::{merge, Collector};
use crate::workload::source::{read_offline, Loaded, SourceError, SourceSpec};
use crate::workload::{Source, Workload};

/// Where to connect for the live sources.
#[derive(Debug, Clone)]
pub struct Live {
    pub params: ConnParams,
    pub session: SessionOptions,
}

/// Why a workload could not be read: a source's own error, or the server's, or the snapshot's.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("this source needs a server connection")]
    NoServer,
}

impl LoadError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LoadError::Pg(e) => e.hint(),
            LoadError::Snapshot(e) => Some(e.hint()),
            LoadError::Source(e) => e.hint(),
            LoadError::NoServer => Some(
                "give --database-url, or read an offline source (--queries, --log, --from-snapshot)"
                    .into(),
            ),
        }
    }
}

/// Read every source of `spec` into one workload. `live` is needed for pg_stat_statements and
/// activity sampling (else [`LoadError::NoServer`]); one session serves both.
pub async fn load(spec: &SourceSpec, live: Option<&Live>) -> Result<Loaded, LoadError> {
    let mut out = Loaded::default();
    if let Some(path) = &spec.from_snapshot {
        let snap = snapshot::read(path)?;
        out.workload = snap.workload;
        out.catalog = Some(snap.catalog);
    }
    if spec.needs_server() {
        let live = live.ok_or(LoadError::NoServer)?;
        let conn = super::connect(&live.params, &live.session).await?;
        if spec.reads_pgss() {
            merge(&mut out.workload, super::pgss::read(&conn).await?);
        }
        if let Some(d) = spec.sample_activity {
            let samples = super::activity::sample(&conn, d).await?;
            merge(&mut out.workload, from_activity(&samples));
        }
    }
    read_offline(spec, &mut out)?;
    Ok(out)
}

/// Activity samples to statements: each (backend, query start) seen is one execution, timed by
/// the longest it was seen running (a lower bound of its duration).
pub fn from_activity(samples: &[Sample]) -> Workload {
    let mut longest: std::collections::BTreeMap<(i32, String), (f64, &str)> =
        std::collections::BTreeMap::new();
    // Other dbopt sessions that could not keep out of the statistics are not the workload either.
    for s in samples.iter().filter(|s| !is_own(&s.query)) {
        let e = longest
            .entry((s.pid, s.query_start.clone()))
            .or_insert((0.0, &s.query));
        e.0 = e.0.max(s.running_ms);
    }
    let mut c = Collector::new();
    for (ms, q) in longest.values() {
        c.add(q, Some(*ms), 0, Source::Activity);
    }
    let mut w = c.finish();
    w.notes.push(format!(
        "sampled pg_stat_activity: {} execution(s) seen; durations are lower bounds, short statements are missed",
        longest.len()
    ));
    w
}
