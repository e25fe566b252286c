//! Log parsing over the fixture folder `fixtures/logs/`: each `*.log` (stderr format; its
//! `log_line_prefix` in `<file>.prefix` when not the Debian default) is parsed and the grouped
//! workload pinned with insta. Adding a case is adding a file. The same parser is tested on
//! logs a real server writes in `tests/workload_sources.rs`.

use std::fmt::Write as _;
use std::path::Path;

use dbopt::workload::log::{self, LogFormat, DEFAULT_PREFIX};

#[test]
fn every_fixture_log() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/logs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "fixtures missing in {}", dir.display());
    for path in files {
        let prefix = std::fs::read_to_string(path.with_extension("log.prefix"))
            .map(|p| p.trim_end_matches('\n').to_string())
            .unwrap_or_else(|_| DEFAULT_PREFIX.to_string());
        let w = log::read_file(&path, LogFormat::Stderr, &prefix).unwrap();
        let mut out = String::new();
        for s in &w.statements {
            let _ = writeln!(
                out,
                "{} call(s), {:.3} ms total, {:.3} max: {}",
                s.calls, s.total_ms, s.max_ms, s.query
            );
        }
        for p in &w.plans {
            let _ = writeln!(
                out,
                "plan for {} ({} ms):\n{}",
                p.fingerprint, p.duration_ms, p.plan
            );
        }
        for n in &w.notes {
            // Notes name the file by its full path; keep the snapshot machine-independent.
            let _ = writeln!(
                out,
                "note: {}",
                n.replace(&dir.display().to_string(), "fixtures/logs")
            );
        }
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        insta::assert_snapshot!(name, out);
    }
}
