//! Snapshot files: catalog, statistics and workload of one database in one versioned JSON file,
//! so every analysis can run offline (on a laptop, in CI, in a bug report) exactly as it runs
//! against the server.
//!
//! Why a format marker and a version number: a file outlives the binary that wrote it. A reader
//! that silently half-understands an older or newer layout gives wrong advice; one that refuses
//! with "written by format N, this dbopt reads M" lets the user re-run the right version.
//! Why `--redact`: query texts and pg_stats sample values can hold personal data.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::workload::activity::Activity;
use crate::workload::normalize::normalize;
use crate::workload::Workload;

/// The `format` field of every snapshot file.
pub const FORMAT: &str = "dbopt-snapshot";
/// The layout version this build reads and writes.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: String,
    pub version: u32,
    /// RFC 3339 time of writing.
    pub created_at: String,
    /// The dbopt version that wrote it.
    pub dbopt_version: String,
    /// Whether constants and sample values were removed.
    pub redacted: bool,
    /// pg_database_size of the database, when known.
    #[serde(default)]
    pub database_bytes: Option<i64>,
    pub catalog: Catalog,
    pub workload: Workload,
    /// The sessions connected when the snapshot was taken (for `connections`).
    #[serde(default)]
    pub activity: Option<Activity>,
    /// Server health facts when taken (for `check`).
    #[serde(default)]
    pub health: Option<crate::health::Health>,
}

impl Snapshot {
    pub fn new(catalog: Catalog, workload: Workload, database_bytes: Option<i64>) -> Self {
        Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            dbopt_version: env!("CARGO_PKG_VERSION").into(),
            redacted: false,
            database_bytes,
            catalog,
            workload,
            activity: None,
            health: None,
        }
    }

    /// Replace the constants in query texts and plans by `$n`, and pg_stats sample values
    /// (most common values, histogram bounds) by `<redacted>`; frequencies and counts stay,
    /// so selectivity estimates still work.
    pub fn redact(&mut self) {
        for s in &mut self.workload.statements {
            s.query = normalize(&s.query).text;
        }
        if let Some(a) = &mut self.activity {
            for s in &mut a.sessions {
                s.query = s.query.as_deref().map(|q| normalize(q).text);
            }
        }
        if let Some(h) = &mut self.health {
            for x in &mut h.horizon.holders {
                x.query = x.query.as_deref().map(|q| normalize(q).text);
            }
            for sp in &mut h.server.statements.spills {
                sp.query = normalize(&sp.query).text;
            }
        }
        for p in &mut self.workload.plans {
            p.plan = "<redacted>".into();
        }
        for t in &mut self.catalog.tables {
            for c in &mut t.columns {
                if let Some(st) = &mut c.stats {
                    for v in st
                        .most_common_vals
                        .iter_mut()
                        .chain(st.histogram_bounds.iter_mut())
                    {
                        *v = "<redacted>".into();
                    }
                }
            }
        }
        self.redacted = true;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read snapshot {path}: {message}")]
    Io { path: String, message: String },
    #[error("{path} is not a dbopt snapshot: {message}")]
    NotASnapshot { path: String, message: String },
    #[error("{path} is a snapshot of format version {found}; this dbopt reads version {VERSION}")]
    UnknownVersion { path: String, found: u64 },
}

impl SnapshotError {
    pub fn hint(&self) -> String {
        match self {
            SnapshotError::Io { .. } => "check the path; write one with `dbopt snapshot -o FILE.json`".into(),
            SnapshotError::NotASnapshot { .. } => "pass a file written by `dbopt snapshot -o FILE.json`".into(),
            SnapshotError::UnknownVersion { .. } => "write the snapshot again with this dbopt (`dbopt snapshot -o FILE.json`), or use the dbopt version that wrote it".into(),
        }
    }
}

/// Read and check a snapshot file.
pub fn read(path: &Path) -> Result<Snapshot, SnapshotError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SnapshotError::Io {
        path: name.clone(),
        message: e.to_string(),
    })?;
    parse(&text, &name)
}

/// Check the marker and version first, so a foreign or future file gets the right message.
pub fn parse(text: &str, name: &str) -> Result<Snapshot, SnapshotError> {
    let not = |message: String| SnapshotError::NotASnapshot {
        path: name.to_string(),
        message,
    };
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| not(e.to_string()))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(not(format!("no \"format\": \"{FORMAT}\" field")));
    }
    let found = v
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if found != u64::from(VERSION) {
        return Err(SnapshotError::UnknownVersion {
            path: name.to_string(),
            found,
        });
    }
    serde_json::from_value(v).map_err(|e| not(e.to_string()))
}

/// Write a snapshot as pretty JSON.
pub fn write(path: &Path, snap: &Snapshot) -> Result<(), SnapshotError> {
    let io = |e: String| SnapshotError::Io {
        path: path.display().to_string(),
        message: e,
    };
    let text = serde_json::to_string_pretty(snap).map_err(|e| io(e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, ColumnStats, Table};
    use crate::workload::Statement;

    fn sample() -> Snapshot {
        let mut cat = Catalog::default();
        cat.tables.push(Table {
            name: "t".into(),
            columns: vec![Column {
                name: "email".into(),
                stats: Some(ColumnStats {
                    most_common_vals: vec!["a@b.c".into()],
                    most_common_freqs: vec![0.5],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        });
        let w = Workload {
            statements: vec![Statement {
                query: "select * from t where email = 'a@b.c'".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        Snapshot::new(cat, w, Some(1))
    }

    #[test]
    fn round_trip_and_redaction() {
        let mut s = sample();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(parse(&text, "f").unwrap(), s);
        s.redact();
        assert_eq!(
            s.workload.statements[0].query,
            "select * from t where email = $1"
        );
        let st = s.catalog.tables[0].columns[0].stats.as_ref().unwrap();
        assert_eq!(st.most_common_vals, vec!["<redacted>"]);
        assert_eq!(st.most_common_freqs, vec![0.5]);
    }

    /// The health section holds statement texts too: the sessions holding the horizon and the
    /// statements that spilled to temp files (utility statements keep their constants).
    #[test]
    fn redaction_reaches_the_health_texts() {
        use crate::health::horizon::Holder;
        use crate::health::server::Spill;
        let mut s = sample();
        let mut h = crate::health::Health::default();
        h.horizon.holders.push(Holder {
            query: Some("select * from t where email = 'a@example.com'".into()),
            ..Default::default()
        });
        h.server.statements.spills.push(Spill {
            query: "create table x as select 'b@example.com' as e".into(),
            calls: 1,
            temp_blks_written: 10,
        });
        s.health = Some(h);
        s.redact();
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("@example.com"), "{text}");
    }

    #[test]
    fn other_versions_and_foreign_files_are_refused() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["version"] = 99.into();
        let e = parse(&v.to_string(), "old.json").unwrap_err();
        assert!(matches!(e, SnapshotError::UnknownVersion { found: 99, .. }));
        assert!(e.to_string().contains("version 99"));
        assert!(matches!(
            parse("{\"hello\": 1}", "x.json"),
            Err(SnapshotError::NotASnapshot { .. })
        ));
        assert!(matches!(
            parse("not json", "x.json"),
            Err(SnapshotError::NotASnapshot { .. })
        ));
    }
}
