//! `dbopt ... | head`: a reader that closes stdout early is not an error (exit 0, nothing on
//! stderr), like other Unix tools. No server needed: the workload comes from a SQL file.

#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let sql: String = (0..5000)
        .map(|i| format!("SELECT * FROM t{i} WHERE id = {i};\n"))
        .collect();
    let file = dir.path().join("q.sql");
    std::fs::write(&file, sql).unwrap();
    for format in ["json", "table"] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dbopt"))
            .args([
                "queries",
                "--limit",
                "5000",
                "--format",
                format,
                "--queries",
            ])
            .arg(&file)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before dbopt writes its (much larger than a pipe) report.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {stderr}");
        assert!(!stderr.contains("error"), "{format}: {stderr}");
    }
}
