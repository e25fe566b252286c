//! Connections: libpq conventions end to end, session guarantees, and every bad-input case
//! giving one clear line, exit 2, no panic and no password.

mod common;

use common::{assert_clean_error, dbopt, server};
use dbopt::pg::{self, ConnParams, PgError, SessionOptions};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn unreachable_host_and_wrong_port() {
    let out = dbopt()
        .args([
            "doctor",
            "--database-url",
            &format!("postgresql://u@127.0.0.1:{}/db", free_port()),
        ])
        .output()
        .unwrap();
    assert_clean_error(&out, &["could not connect", "connection refused", "hint:"]);
    let out = dbopt()
        .args([
            "doctor",
            "--database-url",
            "postgresql://u@no-such-host.invalid:5432/db",
        ])
        .output()
        .unwrap();
    assert_clean_error(
        &out,
        &["could not connect", "no-such-host.invalid", "hint:"],
    );
}

#[test]
fn wrong_password_is_named_and_never_printed() {
    let s = server();
    let out = dbopt()
        .args([
            "doctor",
            "--database-url",
            &format!(
                "postgresql://postgres:Sup3rS3cret@127.0.0.1:{}/postgres?sslmode=disable",
                s.port()
            ),
        ])
        .output()
        .unwrap();
    let err = assert_clean_error(
        &out,
        &[
            "password authentication failed",
            "postgres",
            "hint:",
            "PGPASSWORD",
        ],
    );
    assert!(!err.contains("Sup3rS3cret"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Sup3rS3cret"));
}

#[test]
fn unknown_database_and_role() {
    let s = server();
    let mut p = s.params("no_such_db");
    let out = dbopt()
        .args(["doctor", "--database-url", &p.url_with_password()])
        .output()
        .unwrap();
    assert_clean_error(&out, &["database \"no_such_db\" does not exist", "hint:"]);
    p.set("dbname", "postgres");
    p.set("user", "nobody_here");
    let out = dbopt()
        .args(["doctor", "--database-url", &p.url_with_password()])
        .output()
        .unwrap();
    // With scram, an unknown role is reported by the server as a failed password (no user enumeration).
    assert_clean_error(&out, &["nobody_here", "hint:"]);
}

#[test]
fn malformed_urls_and_conninfo() {
    for bad in [
        "postgresql://u@host:port/db",
        "host=localhost dbname",
        "sslmode=maybe",
        "postgres://[::1/db",
    ] {
        let out = dbopt()
            .args(["doctor", "--database-url", bad])
            .output()
            .unwrap();
        assert_clean_error(&out, &["invalid connection string", "hint:"]);
    }
}

#[test]
fn pg_environment_variables_and_keyvalue_conninfo_work() {
    let s = server();
    let p = s.params("postgres");
    let out = dbopt()
        .args(["doctor", "--format", "json"])
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", s.port().to_string())
        .env("PGUSER", "postgres")
        .env("PGPASSWORD", p.password().unwrap())
        .env("PGDATABASE", "postgres")
        .env("PGSSLMODE", "disable")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["database"], "postgres");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(p.password().unwrap()));

    let kv = format!(
        "host=127.0.0.1 port={} user=postgres password='{}' dbname=postgres sslmode=disable",
        s.port(),
        p.password().unwrap()
    );
    let out = dbopt()
        .args(["doctor", "--format", "json"])
        .env("DATABASE_URL", kv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn sessions_are_read_only_named_and_time_limited() {
    let p = common::fresh_db("session").await;
    common::setup_conn(&p)
        .await
        .batch_execute("CREATE TABLE t (x int)")
        .await
        .unwrap();
    let c = pg::connect(
        &p,
        &SessionOptions {
            read_only: true,
            statement_timeout: Some(std::time::Duration::from_millis(1500)),
            quiet: true,
        },
    )
    .await
    .unwrap();
    let app: String = common::scalar(&c, "SHOW application_name").await;
    assert_eq!(app, "dbopt");
    let st: String = common::scalar(&c, "SHOW statement_timeout").await;
    assert_eq!(st, "1500ms");
    let err = c
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "25006", "read-only transaction");
    let err = PgError::query(
        "sleeping",
        c.execute("SELECT pg_sleep(5)", &[]).await.unwrap_err(),
    );
    assert_eq!(err.code(), Some("57014"));
    assert!(err.hint().unwrap().contains("--statement-timeout"));
}

#[tokio::test]
async fn pool_sessions_get_the_same_settings() {
    let p = server().params("postgres");
    let pool = pg::pool(&p, &SessionOptions::default(), 4).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let c = pool.get().await.unwrap();
                let ro: String = common::scalar(&c, "SHOW default_transaction_read_only").await;
                let app: String = common::scalar(&c, "SHOW application_name").await;
                (ro, app)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.await.unwrap(), ("on".to_string(), "dbopt".to_string()));
    }
}

#[tokio::test]
async fn sslmode_require_against_a_server_without_tls_is_a_clear_error() {
    let mut p = server().params("postgres");
    p.set("sslmode", "require");
    let err = pg::connect(&p, &SessionOptions::default())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, PgError::Tls { .. } | PgError::Unreachable { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().to_lowercase().contains("tls") || err.to_string().contains("ssl"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_with_sslmode_require_and_verify_ca() {
    use dbopt::pg::throwaway::{Throwaway, ThrowawayOptions};
    // A self-signed CA and server certificate, made with openssl.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sh = |args: &str| {
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{args}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    };
    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=dbopt-test-ca -keyout ca.key -out ca.crt 2>/dev/null");
    sh("openssl req -newkey rsa:2048 -nodes -subj /CN=not-this-host -keyout server.key -out server.csr 2>/dev/null");
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:not-this-host\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    sh("openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.crt 2>/dev/null");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(d.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    if nix::unistd::geteuid().is_root() {
        let pgu = nix::unistd::User::from_name("postgres").unwrap().unwrap();
        for f in ["server.key", "server.crt"] {
            nix::unistd::chown(&d.join(f), Some(pgu.uid), Some(pgu.gid)).unwrap();
        }
    }
    let s = Throwaway::start(&ThrowawayOptions {
        settings: vec![
            ("ssl".into(), "on".into()),
            (
                "ssl_cert_file".into(),
                d.join("server.crt").display().to_string(),
            ),
            (
                "ssl_key_file".into(),
                d.join("server.key").display().to_string(),
            ),
        ],
        ..Default::default()
    })
    .expect("TLS server");
    let mut p: ConnParams = s.params("postgres");
    p.set("sslmode", "require");
    let c = pg::connect(&p, &SessionOptions::default())
        .await
        .expect("sslmode=require connects");
    let ssl: bool = common::scalar(
        &c,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .await;
    assert!(ssl, "the session must be encrypted");
    p.set("sslmode", "verify-ca");
    p.set("sslrootcert", d.join("ca.crt").display().to_string());
    pg::connect(&p, &SessionOptions::default())
        .await
        .expect("verify-ca accepts a cert signed by the given CA");
    p.set("sslmode", "verify-full");
    let err = pg::connect(&p, &SessionOptions::default())
        .await
        .err()
        .expect("verify-full must reject a cert for another host name");
    assert!(matches!(err, PgError::Tls { .. }), "{err:?}");
}

/// The password and every 4-character piece of it (a parser error may quote a piece).
fn password_pieces(pw: &str) -> Vec<String> {
    let chars: Vec<char> = pw.chars().collect();
    let mut out = vec![pw.to_string()];
    out.extend(chars.windows(4).map(|w| w.iter().collect::<String>()));
    out
}

#[test]
fn malformed_connection_strings_never_print_the_password() {
    let cases = [
        ("postgressql://app:S3cr3tPw@localhost/db", "S3cr3tPw"),
        ("postgres:/app:S3cr3tPw@localhost/db", "S3cr3tPw"),
        ("postgresql//app:S3cr3tPw@localhost/db", "S3cr3tPw"),
        ("http://app:S3cr3tPw@localhost/db", "S3cr3tPw"),
        ("POSTGRESQL://app:S3cr3tPw@localhost/db", "S3cr3tPw"),
        ("Postgres://app:S3cr3tPw@localhost/db", "S3cr3tPw"),
        ("postgresql://app:S3cr3tPw/db", "S3cr3tPw"),
        (
            "host=localhost password=S3cr3t Pw0rd dbname=db",
            "S3cr3t Pw0rd",
        ),
        (
            "host=localhost user=app password=S3cr3t Pw0rd",
            "S3cr3t Pw0rd",
        ),
        ("postgresql://app:S3cr%ffPw@localhost/db", "S3cr%ffPw"),
        ("postgresql://localhost/db?password=S3cr%ffPw", "S3cr%ffPw"),
        ("postgresql://app:S3cr3tPw@[::1/db", "S3cr3tPw"),
        ("host=localhost password='S3cr3tPw", "S3cr3tPw"),
        ("postgresql://app:S3cr3tPw@localhost:port/db", "S3cr3tPw"),
        (
            "postgresql://app:S3cr3tPw@localhost/db?sslmode=maybe",
            "S3cr3tPw",
        ),
        ("postgresql://app:pa/ssw0rd@localhost/db", "pa/ssw0rd"),
    ];
    for (input, pw) in cases {
        for via in ["--database-url", "DATABASE_URL", "archive --to-database"] {
            let mut cmd = dbopt();
            match via {
                "--database-url" => cmd.args(["doctor", "--database-url", input]),
                "DATABASE_URL" => cmd.env("DATABASE_URL", input).arg("doctor"),
                _ => cmd.args([
                    "archive",
                    "--table",
                    "events",
                    "--older-than",
                    "30d",
                    "--to-database",
                    input,
                ]),
            };
            let out = cmd.output().unwrap();
            let err = assert_clean_error(&out, &["invalid connection string", "hint:"]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            for piece in pw.split(' ').flat_map(password_pieces) {
                assert!(
                    !err.contains(&piece) && !stdout.contains(&piece),
                    "{via} {input}: {piece:?} printed: {err}"
                );
            }
        }
    }
}

#[tokio::test]
async fn urls_with_an_ipv6_host_connect() {
    use dbopt::pg::throwaway::{Throwaway, ThrowawayOptions};
    let s = Throwaway::start(&ThrowawayOptions {
        settings: vec![("listen_addresses".into(), "127.0.0.1,::1".into())],
        ..Default::default()
    })
    .expect("a throwaway server listening on ::1 too");
    let mut p = s.params("postgres");
    p.set("host", "::1");
    let url = p.url_with_password();
    assert!(url.contains(&format!("@[::1]:{}/", s.port())), "{url}");
    let c = pg::connect(
        &ConnParams::parse(&url).unwrap(),
        &SessionOptions::default(),
    )
    .await
    .expect("connect over IPv6 with the built URL");
    let addr: String = common::scalar(&c, "SELECT host(inet_client_addr())").await;
    assert_eq!(addr, "::1");
    let out = dbopt()
        .args(["doctor", "--format", "json", "--database-url", &url])
        .output()
        .unwrap();
    common::assert_success(&out);
}

/// `host=/socket/dir` connects over the Unix-domain socket, as libpq does, and without TLS
/// whatever sslmode says (libpq never uses TLS on a socket). It used to fail with
/// "TLS handshake: invalid dns name" even with sslmode=disable.
#[test]
fn unix_socket_hosts_connect() {
    let s = server();
    let p = s.params("postgres");
    for mode in ["disable", "prefer", "require"] {
        let kv = format!(
            "host={} port={} user=postgres password='{}' dbname=postgres sslmode={mode}",
            s.root().display(),
            s.port(),
            p.password().unwrap()
        );
        let out = dbopt()
            .args(["doctor", "--format", "json", "--database-url", &kv])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("sslmode={mode}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(v["database"], "postgres", "sslmode={mode}");
    }
    let url = format!(
        "postgresql://postgres:{}@/postgres?host={}&port={}",
        p.password().unwrap(),
        s.root().display(),
        s.port()
    );
    let out = dbopt()
        .args(["doctor", "--format", "json", "--database-url", &url])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{url}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["database"], "postgres");
}
