//! The throwaway Postgres: a private cluster in a temporary directory, for `--demo`, the tests
//! and the benchmarks.
//!
//! Why not Docker: these machines have no Docker engine, and a cluster started from the local
//! binaries is ready in about a second. The cluster listens on a free loopback port with its
//! socket inside its own directory, so it never meets a user's real server.
//!
//! Why a watchdog process: a `Drop` does not run on `kill -9`, on `std::process::exit`, for a
//! `static` server shared by a test binary, or when Ctrl-C kills the process. So next to the
//! server we start a tiny `sh` that blocks reading a pipe only we hold. However we end, the
//! kernel closes that pipe; the watchdog then stops the server and deletes the directory. The
//! server and the watchdog run in their own process group, so a terminal's Ctrl-C reaches dbopt
//! (which shuts down in order) and not them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::conninfo::ConnParams;
use super::error::{PgError, Result};

/// The superuser of every throwaway cluster.
pub const SUPERUSER: &str = "postgres";

/// How to start a throwaway server.
#[derive(Debug, Clone, Default)]
pub struct ThrowawayOptions {
    /// A fixed port; `None` picks a free one.
    pub port: Option<u16>,
    /// The directory holding `initdb` and `postgres`; `None` searches (see [`find_bindir`]).
    pub bindir: Option<PathBuf>,
    /// Extra `-c name=value` settings, after dbopt's own (so they win).
    pub settings: Vec<(String, String)>,
}

/// A running throwaway cluster. Dropping it stops the server and deletes its directory.
pub struct Throwaway {
    root: PathBuf,
    port: u16,
    password: String,
    server: Option<Child>,
    watchdog: Option<(Child, ChildStdin)>,
    version: String,
    startup: Duration,
    hypopg: bool,
    /// What `restart` needs to launch the same server again.
    relaunch: Option<(PathBuf, Vec<(String, String)>)>,
}

impl std::fmt::Debug for Throwaway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throwaway")
            .field("root", &self.root)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Where the PostgreSQL server binaries are: `explicit` or `$DBOPT_PG_BINDIR` alone when given;
/// otherwise `pg_config --bindir`, `PATH`, then `/usr/lib/postgresql/*/bin` newest version first.
pub fn find_bindir(explicit: Option<&Path>) -> Result<PathBuf> {
    let mut searched = Vec::new();
    let has_server = |d: &Path| d.join("postgres").is_file() && d.join("initdb").is_file();
    let mut candidates: Vec<PathBuf> = Vec::new();
    let from_env = std::env::var_os("DBOPT_PG_BINDIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    if let Some(d) = explicit.map(Path::to_path_buf).or(from_env) {
        // An explicit choice is the only candidate: silently using another server would surprise.
        candidates.push(d);
    } else {
        if let Ok(out) = Command::new("pg_config")
            .arg("--bindir")
            .stderr(Stdio::null())
            .output()
        {
            if out.status.success() {
                candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            for d in std::env::split_paths(&path) {
                if d.join("initdb").is_file() {
                    // Follow symlinks so we use the real installation directory (shares its lib dir).
                    let real = std::fs::canonicalize(d.join("postgres"))
                        .ok()
                        .and_then(|p| p.parent().map(Path::to_path_buf));
                    candidates.push(real.unwrap_or(d));
                }
            }
        }
        let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                Some((
                    e.file_name().to_str()?.parse::<u32>().ok()?,
                    e.path().join("bin"),
                ))
            })
            .collect();
        versioned.sort_by_key(|v| std::cmp::Reverse(v.0));
        candidates.extend(versioned.into_iter().map(|(_, p)| p));
    }
    for c in candidates {
        if has_server(&c) {
            return Ok(c);
        }
        searched.push(c.display().to_string());
    }
    if searched.is_empty() {
        searched.push("DBOPT_PG_BINDIR, pg_config, PATH, /usr/lib/postgresql/*/bin".into());
    }
    Err(PgError::NoBinaries {
        searched: searched.join(", "),
    })
}

/// The OS user the server runs as: ourselves, or `postgres` when we are root (the server
/// refuses to run as root).
fn server_user() -> Result<Option<nix::unistd::User>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name("postgres") {
        Ok(Some(u)) => Ok(Some(u)),
        _ => Err(PgError::Throwaway {
            reason: "running as root, and there is no \"postgres\" OS user to run the server as"
                .into(),
            log_tail: String::new(),
        }),
    }
}

fn io(what: &str) -> impl Fn(std::io::Error) -> PgError + '_ {
    move |e| PgError::Throwaway {
        reason: format!("{what}: {e}"),
        log_tail: String::new(),
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(l.local_addr().map_err(io("finding a free port"))?.port())
}

fn random_password() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..24)
        .map(|_| {
            char::from(
                b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"[rng.gen_range(0..57)],
            )
        })
        .collect()
}

impl Throwaway {
    /// Start a new cluster. Blocks until it accepts connections (typically about a second).
    pub fn start(opts: &ThrowawayOptions) -> Result<Self> {
        let t0 = Instant::now();
        let bindir = find_bindir(opts.bindir.as_deref())?;
        let user = server_user()?;
        if let Some(p) = opts.port {
            if TcpListener::bind(("127.0.0.1", p)).is_err() {
                return Err(PgError::PortInUse { port: p });
            }
        }
        let mut me = Self::new_root(random_password(), user.as_ref())?;
        me.initdb(&bindir, user.as_ref())?;
        me.launch_on_port(&bindir, user.as_ref(), opts.port, &opts.settings)?;
        me.prepare_databases()?;
        me.startup = t0.elapsed();
        Ok(me)
    }

    /// Start a streaming standby of `primary`: `pg_basebackup -R` (as the server's OS user,
    /// so the new data directory is its own, mode 0700) into a directory of its own, then
    /// the server on another free port with the same settings plus `extra`. With `slot`,
    /// the base backup creates that physical slot on the primary and the standby streams
    /// through it. Blocks until the standby accepts read-only connections; dropping it
    /// stops it and deletes its directory, as for any throwaway.
    pub fn replica(
        primary: &Throwaway,
        slot: Option<&str>,
        extra: &[(String, String)],
    ) -> Result<Self> {
        let t0 = Instant::now();
        let (bindir, mut settings) =
            primary.relaunch.clone().ok_or_else(|| PgError::Throwaway {
                reason: "the primary was never started".into(),
                log_tail: String::new(),
            })?;
        settings.extend(extra.iter().cloned());
        let user = server_user()?;
        let mut me = Self::new_root(primary.password.clone(), user.as_ref())?;
        let mut cmd = Command::new(bindir.join("pg_basebackup"));
        cmd.arg("-D")
            .arg(me.data())
            .args([
                "-R",
                "-X",
                "stream",
                "--no-sync",
                "-h",
                "127.0.0.1",
                "-U",
                SUPERUSER,
            ])
            .arg("-p")
            .arg(primary.port.to_string())
            .env("PGPASSWORD", &primary.password);
        if let Some(s) = slot {
            cmd.args(["-C", "-S", s]);
        }
        me.as_server_user(&mut cmd, user.as_ref());
        let out = cmd.output().map_err(io("running pg_basebackup"))?;
        if !out.status.success() {
            return Err(PgError::Throwaway {
                reason: "pg_basebackup failed".into(),
                log_tail: last_lines(&String::from_utf8_lossy(&out.stderr), 3),
            });
        }
        me.launch_on_port(&bindir, user.as_ref(), None, &settings)?;
        me.hypopg = primary.hypopg;
        me.startup = t0.elapsed();
        Ok(me)
    }

    /// An empty root directory owned by the server's OS user, with its cleanup watchdog.
    fn new_root(password: String, user: Option<&nix::unistd::User>) -> Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("dbopt-pg-")
            .tempdir_in(std::env::temp_dir())
            .map_err(io("creating the temporary directory"))?
            .keep();
        let mut me = Throwaway {
            root,
            port: 0,
            password,
            server: None,
            watchdog: None,
            version: String::new(),
            startup: Duration::ZERO,
            hypopg: false,
            relaunch: None,
        };
        // From here on, `me` owns the directory: any error drops it and cleans up.
        me.spawn_watchdog()?;
        if let Some(u) = user {
            nix::unistd::chown(&me.root, Some(u.uid), Some(u.gid)).map_err(|e| {
                PgError::Throwaway {
                    reason: format!("handing {} to the postgres user: {e}", me.root.display()),
                    log_tail: String::new(),
                }
            })?;
        }
        Ok(me)
    }

    /// Launch the server on `port`, or on a free one (retrying when another process takes
    /// it first); then record its version and what `restart` needs.
    fn launch_on_port(
        &mut self,
        bindir: &Path,
        user: Option<&nix::unistd::User>,
        port: Option<u16>,
        settings: &[(String, String)],
    ) -> Result<()> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let p = match port {
                Some(p) => p,
                None => free_port()?,
            };
            match self.launch(bindir, user, p, settings) {
                Ok(()) => break,
                Err(PgError::PortInUse { .. }) if port.is_none() && attempts < 5 => continue,
                Err(e) => return Err(e),
            }
        }
        self.version = Command::new(bindir.join("postgres"))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        self.relaunch = Some((bindir.to_path_buf(), settings.to_vec()));
        Ok(())
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    fn spawn_watchdog(&mut self) -> Result<()> {
        use std::os::unix::process::CommandExt;
        let script = r#"cat >/dev/null
pidfile="$0/data/postmaster.pid"
if [ -f "$pidfile" ]; then
  pid=$(head -n 1 "$pidfile")
  [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null
  i=0
  while [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; i=$((i+1)); done
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
fi
[ -n "$DBOPT_KEEP_TMP" ] || rm -rf "$0"
"#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(io("starting the cleanup watchdog (sh)"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        self.watchdog = Some((child, stdin));
        Ok(())
    }

    fn as_server_user(&self, cmd: &mut Command, user: Option<&nix::unistd::User>) {
        use std::os::unix::process::CommandExt;
        if let Some(u) = user {
            cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
        }
        cmd.current_dir(&self.root)
            .env_remove("PGDATA")
            .env("LC_ALL", "C");
    }

    fn initdb(&self, bindir: &Path, user: Option<&nix::unistd::User>) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let pwfile = self.root.join("pwfile");
        std::fs::write(&pwfile, &self.password).map_err(io("writing the password file"))?;
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o600))
            .map_err(io("pwfile"))?;
        if let Some(u) = user {
            let _ = nix::unistd::chown(&pwfile, Some(u.uid), Some(u.gid));
        }
        let mut cmd = Command::new(bindir.join("initdb"));
        cmd.arg("-D")
            .arg(self.data())
            .args([
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()));
        self.as_server_user(&mut cmd, user);
        let out = cmd.output().map_err(io("running initdb"))?;
        let _ = std::fs::remove_file(&pwfile);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(PgError::Throwaway {
                reason: "initdb failed".into(),
                log_tail: last_lines(&err, 3),
            });
        }
        Ok(())
    }

    fn launch(
        &mut self,
        bindir: &Path,
        user: Option<&nix::unistd::User>,
        port: u16,
        extra: &[(String, String)],
    ) -> Result<()> {
        use std::os::unix::process::CommandExt;
        let preload = if bindir.join("../lib/pg_qualstats.so").exists()
            && std::env::var_os("DBOPT_PG_QUALSTATS").is_some()
        {
            "pg_stat_statements,pg_qualstats"
        } else {
            "pg_stat_statements"
        };
        let mut settings: Vec<(String, String)> = [
            ("listen_addresses", "127.0.0.1".to_string()),
            ("port", port.to_string()),
            ("unix_socket_directories", self.root.display().to_string()),
            ("shared_preload_libraries", preload.to_string()),
            ("pg_stat_statements.track", "all".to_string()),
            ("pg_stat_statements.max", "10000".to_string()),
            ("track_io_timing", "on".to_string()),
            ("track_activity_query_size", "8192".to_string()),
            ("max_connections", "200".to_string()),
            ("shared_buffers", "256MB".to_string()),
            ("maintenance_work_mem", "256MB".to_string()),
            ("fsync", "off".to_string()),
            ("synchronous_commit", "off".to_string()),
            ("full_page_writes", "off".to_string()),
            ("max_wal_size", "4GB".to_string()),
            ("checkpoint_timeout", "30min".to_string()),
            ("logging_collector", "off".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        settings.extend(extra.iter().cloned());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .map_err(io("opening the server log"))?;
        if let Some(u) = user {
            let _ = nix::unistd::chown(&self.log_file(), Some(u.uid), Some(u.gid));
        }
        let mut cmd = Command::new(bindir.join("postgres"));
        cmd.arg("-D").arg(self.data());
        for (k, v) in &settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("server log"))?)
            .stderr(log)
            .process_group(0);
        self.as_server_user(&mut cmd, user);
        let child = cmd.spawn().map_err(io("starting postgres"))?;
        self.server = Some(child);
        self.port = port;
        let deadline = Instant::now() + Duration::from_secs(60);
        let pidfile = self.data().join("postmaster.pid");
        loop {
            if let Some(status) = self
                .server
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.server = None;
                let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
                if log.contains("could not bind") || log.contains("Address already in use") {
                    return Err(PgError::PortInUse { port });
                }
                return Err(PgError::Throwaway {
                    reason: format!("postgres exited during start-up ({status})"),
                    log_tail: last_lines(&log, 3),
                });
            }
            if std::fs::read_to_string(&pidfile).is_ok_and(|s| {
                // "standby": a hot standby accepting read-only connections.
                s.lines()
                    .nth(7)
                    .is_some_and(|l| matches!(l.trim(), "ready" | "standby"))
            }) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(PgError::Throwaway {
                    reason: "postgres did not become ready within 60 s".into(),
                    log_tail: last_lines(
                        &std::fs::read_to_string(self.log_file()).unwrap_or_default(),
                        3,
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Create the extensions in `template1` (so every database made later has them) and in
    /// `postgres`.
    fn prepare_databases(&mut self) -> Result<()> {
        self.hypopg = create_extensions(self.params("template1"))?;
        Ok(())
    }

    /// Connection parameters for `dbname` on this server (TCP on loopback, with the password).
    pub fn params(&self, dbname: &str) -> ConnParams {
        ConnParams::parse(&format!(
            "host=127.0.0.1 port={} user={SUPERUSER} password={} dbname={dbname} sslmode=disable",
            self.port, self.password
        ))
        .expect("valid throwaway conninfo")
    }

    /// A `postgresql://` URL for `dbname`, including the generated password so it can be used
    /// as-is (this is the throwaway server's own credential, not a user's).
    pub fn url(&self, dbname: &str) -> String {
        self.params(dbname).url_with_password()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the data directory, the socket and `server.log`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `postgres (PostgreSQL) 15.x`
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Wall time from `start` until the server accepted connections with extensions created.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Whether HypoPG is installed (and created in every database).
    pub fn has_hypopg(&self) -> bool {
        self.hypopg
    }

    /// The server process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// Whether the server process is still alive (false after a crash).
    pub fn is_running(&mut self) -> bool {
        self.server
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// The last lines of the server log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        last_lines(
            &std::fs::read_to_string(self.log_file()).unwrap_or_default(),
            lines,
        )
    }

    /// Stop the server (fast shutdown) and delete everything. Also what `Drop` does.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Stop the server (fast shutdown: sessions are cut) and start it again on the same port
    /// and data directory, as a server restart in production would. For crash-safety tests.
    pub fn restart(&mut self) -> Result<()> {
        let (bindir, settings) = self.relaunch.clone().ok_or_else(|| PgError::Throwaway {
            reason: "the server was never started".into(),
            log_tail: String::new(),
        })?;
        self.stop_server();
        let user = server_user()?;
        self.launch(&bindir, user.as_ref(), self.port, &settings)
    }

    fn shutdown(&mut self) {
        self.stop_server();
        if std::env::var_os("DBOPT_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
        if let Some((mut child, stdin)) = self.watchdog.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }

    fn stop_server(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        if let Some(mut child) = self.server.take() {
            let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
            let _ = kill(pid, Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    // Not reapable by us (reaped elsewhere): the process may still be shutting
                    // down, so wait until it is gone.
                    Err(_) if kill(pid, None).is_err() => break,
                    Ok(None) | Err(_) if Instant::now() > deadline => {
                        let _ = kill(pid, Signal::SIGQUIT);
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) | Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Run a future to completion on a private runtime in its own thread, so the synchronous
/// start-up works both inside and outside a tokio runtime.
pub(crate) fn run_blocking<T: Send + 'static>(
    fut: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PgError::Io(e.to_string()))?
            .block_on(fut)
    })
    .join()
    .unwrap_or_else(|_| Err(PgError::Io("BUG: the start-up thread panicked".into())))
}

/// Create pg_stat_statements (and HypoPG when the server has it) in `template1`, so every
/// database made later has them, and in `postgres`. Returns whether HypoPG is there.
pub(crate) fn create_extensions(base: ConnParams) -> Result<bool> {
    run_blocking(async move {
        let s = super::SessionOptions::unrestricted();
        let c = super::connect(&base, &s).await?;
        let hypopg: bool = c
            .query_one(
                "SELECT count(*) > 0 FROM pg_available_extensions WHERE name = 'hypopg'",
                &[],
            )
            .await
            .map_err(|e| PgError::query("checking for hypopg", e))?
            .get(0);
        let mut sql = String::from("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;");
        if hypopg {
            sql.push_str("CREATE EXTENSION IF NOT EXISTS hypopg;");
        }
        c.batch_execute(&sql)
            .await
            .map_err(|e| PgError::query("creating extensions in template1", e))?;
        let p = base.clone();
        let mut p = p;
        p.set("dbname", "postgres");
        let c2 = super::connect(&p, &s).await?;
        c2.batch_execute(&sql)
            .await
            .map_err(|e| PgError::query("creating extensions in postgres", e))?;
        Ok::<_, PgError>(hypopg)
    })
}
