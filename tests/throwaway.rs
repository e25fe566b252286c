//! The throwaway server's life cycle: start, stop, cleanup after a panic, a crash, kill -9 and
//! Ctrl-C of dbopt itself, and the bad-input cases of starting one.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dbopt::pg::throwaway::{Throwaway, ThrowawayOptions};
use dbopt::pg::{self, PgError};

fn process_alive(pid: u32) -> bool {
    // kill(pid, 0): the process exists (and is not a zombie we own).
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn starts_serves_and_removes_everything_on_stop() {
    let s = Throwaway::start(&ThrowawayOptions::default()).expect("start");
    let root = s.root().to_path_buf();
    let pid = s.pid().expect("pid");
    assert!(root.join("data/PG_VERSION").exists());
    assert!(process_alive(pid));
    assert!(s.startup_time() < Duration::from_secs(30));
    // Not quiet: a quiet session turns pg_stat_statements.track off for itself.
    let c = pg::connect(&s.params("postgres"), &pg::SessionOptions::unrestricted())
        .await
        .expect("connect");
    let preload: String = common::scalar(&c, "SHOW shared_preload_libraries").await;
    assert!(preload.contains("pg_stat_statements"));
    let exts: Vec<String> = c
        .query("SELECT extname::text FROM pg_extension ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(exts.contains(&"pg_stat_statements".to_string()), "{exts:?}");
    assert_eq!(exts.contains(&"hypopg".to_string()), s.has_hypopg());
    let track: String = common::scalar(&c, "SHOW pg_stat_statements.track").await;
    assert_eq!(track, "all");
    let io: String = common::scalar(&c, "SHOW track_io_timing").await;
    assert_eq!(io, "on");
    let listen: String = common::scalar(&c, "SHOW listen_addresses").await;
    assert_eq!(listen, "127.0.0.1");
    drop(c);
    s.stop();
    assert!(
        !root.exists(),
        "data directory left behind: {}",
        root.display()
    );
    assert!(!process_alive(pid), "server process left behind");
}

#[test]
fn hypopg_is_created_when_installed() {
    // These machines install postgresql-15-hypopg (see .ci/run); its absence is a set-up gap.
    let s = common::server();
    assert!(
        s.has_hypopg(),
        "HypoPG is not installed for this server: apt-get install postgresql-15-hypopg"
    );
}

#[test]
fn cleans_up_after_a_panic() {
    let mut seen = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let s = Throwaway::start(&ThrowawayOptions::default()).expect("start");
        seen = Some((s.root().to_path_buf(), s.pid().unwrap()));
        panic!("a test failed while the server ran");
    }));
    assert!(result.is_err());
    let (root, pid) = seen.expect("server started");
    assert!(!root.exists(), "data directory left behind after panic");
    assert!(!process_alive(pid), "server left running after panic");
}

#[tokio::test]
async fn a_crashed_server_gives_a_clear_error_and_still_cleans_up() {
    let mut s = Throwaway::start(&ThrowawayOptions::default()).expect("start");
    let root = s.root().to_path_buf();
    let pid = s.pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("server to die", Duration::from_secs(10), || !s.is_running());
    let err = pg::connect(&s.params("postgres"), &pg::SessionOptions::default())
        .await
        .err()
        .expect("must fail");
    assert!(matches!(err, PgError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("connection refused"), "{err}");
    drop(s);
    assert!(!root.exists());
}

#[test]
fn no_binaries_is_a_clear_error() {
    let err = Throwaway::start(&ThrowawayOptions {
        bindir: Some("/nonexistent/pg/bin".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, PgError::NoBinaries { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/pg/bin"));
    assert!(err.hint().unwrap().contains("apt-get install postgresql"));
}

#[test]
fn port_in_use_is_a_clear_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let err = Throwaway::start(&ThrowawayOptions {
        port: Some(port),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        matches!(err, PgError::PortInUse { port: p } if p == port),
        "{err:?}"
    );
}

#[test]
fn cli_no_binaries_and_port_in_use() {
    let out = common::dbopt()
        .args(["demo", "--scale", "0.001"])
        .env("DBOPT_PG_BINDIR", "/nonexistent/bin")
        .output()
        .unwrap();
    common::assert_clean_error(
        &out,
        &[
            "no PostgreSQL server binaries found",
            "/nonexistent/bin",
            "hint:",
        ],
    );
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let out = common::dbopt()
        .args(["demo", "--scale", "0.001", "--port", &port])
        .output()
        .unwrap();
    common::assert_clean_error(&out, &["already in use", &port, "hint:"]);
}

/// Start `dbopt demo --keep` and return it with the server's directory and postmaster pid once
/// the URL is printed.
fn start_kept_demo() -> (std::process::Child, std::path::PathBuf, u32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbopt"))
        .args(["demo", "--keep", "--scale", "0.001", "--rounds", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut port = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("@127.0.0.1:").nth(1) {
            port = rest.split('/').next().map(str::to_string);
            break;
        }
    }
    let port = port.expect("demo printed a URL");
    // Find the server: its command line names our port and a dbopt-pg- directory.
    let mut found = None;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        if args.first().is_some_and(|a| a.ends_with("postgres"))
            && args.iter().any(|a| a == &format!("port={port}"))
        {
            let dir = args
                .iter()
                .position(|a| a == "-D")
                .map(|i| Path::new(&args[i + 1]).parent().unwrap().to_path_buf());
            found = Some((dir.unwrap(), pid));
        }
    }
    let (dir, pid) = found.expect("server process of the demo");
    (child, dir, pid)
}

#[test]
fn kill_9_of_dbopt_leaves_no_server_and_no_directory() {
    let (mut child, dir, pid) = start_kept_demo();
    assert!(dir.exists() && process_alive(pid));
    child.kill().unwrap(); // SIGKILL: no destructor runs; the watchdog must clean up.
    child.wait().unwrap();
    wait_until(
        "server to stop after kill -9",
        Duration::from_secs(15),
        || !process_alive(pid),
    );
    wait_until(
        "directory to be removed after kill -9",
        Duration::from_secs(15),
        || !dir.exists(),
    );
}

#[test]
fn ctrl_c_stops_the_kept_demo_cleanly() {
    let (mut child, dir, pid) = start_kept_demo();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "Ctrl-C of `demo --keep` is the normal way to end it"
    );
    assert!(
        !process_alive(pid),
        "server {pid} still alive: {:?} {:?}",
        std::fs::read_to_string(format!("/proc/{pid}/cmdline")),
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
    );
    assert!(!dir.exists());
}
