//! Opening sessions and pools with the guarantees dbopt promises: `application_name=dbopt`,
//! a `statement_timeout`, read-only unless the command writes, TLS per `sslmode`.
//!
//! Why the session settings travel in the startup packet (`options=-c ...`): they are in force
//! before the first statement, cost no round trip, and cannot be forgotten by a code path.
//!
//! Why dbopt's own sessions are quiet: with `pg_stat_statements.track = all`, every EXPLAIN and
//! what-if call dbopt makes is counted, as a nested call, under the queryid of the user's
//! statement it plans, and dbopt's catalog queries become "workload". A quiet session turns
//! pg_stat_statements off for itself (`SET pg_stat_statements.track = none`, allowed to
//! superusers and to roles granted SET on that parameter); where the role may not, every
//! statement it sends starts with [`MARKER`], which pg_stat_statements keeps in the text, so
//! the reader ([`super::pgss`]) can tell dbopt's statements from the user's. That SET cannot
//! go in the startup packet: a role without the right would not be let in at all.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as TpSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::conninfo::{ConnParams, SslMode};
use super::error::{flatten, PgError, Result};

/// How a session behaves once connected.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// `default_transaction_read_only`: true for every command that does not write.
    pub read_only: bool,
    /// `statement_timeout`; `None` leaves the server's setting.
    pub statement_timeout: Option<Duration>,
    /// dbopt's own work (reading, planning, inspecting, archiving): kept out of
    /// pg_stat_statements, or marked where it cannot be (see the module docs). False for
    /// sessions that run a workload on purpose (test and demo set-up, benchmarks), which must be
    /// recorded like any application's. Applies to [`connect`]; [`pool`] sessions run
    /// benchmark workloads and are recorded.
    pub quiet: bool,
}

impl SessionOptions {
    /// Read-write with no statement_timeout, recorded by pg_stat_statements: for dbopt's own
    /// throwaway servers and the workloads it runs on purpose (demo, benchmarks, test set-up).
    pub fn unrestricted() -> Self {
        SessionOptions {
            read_only: false,
            statement_timeout: None,
            quiet: false,
        }
    }

    /// The same session, kept out of pg_stat_statements: for writes dbopt makes for the user
    /// (`--apply`, `vacuum`), which are not the workload.
    pub fn quiet(self) -> Self {
        SessionOptions {
            quiet: true,
            ..self
        }
    }
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            read_only: true,
            statement_timeout: Some(Duration::from_secs(60)),
            quiet: true,
        }
    }
}

/// The comment that starts every statement a quiet session sends when pg_stat_statements could
/// not be turned off for it. A user statement that starts with it is taken for dbopt's.
pub const MARKER: &str = "/* dbopt */ ";

/// Whether a statement text (as pg_stat_statements keeps it) is one dbopt sent.
pub fn is_own(query: &str) -> bool {
    query.trim_start().starts_with(MARKER.trim_end())
}

/// `sql` with [`MARKER`] in front of each of its statements: pg_stat_statements keeps each
/// statement of a multi-statement text from just after the previous `;`.
pub fn mark(sql: &str) -> String {
    let parts = crate::workload::shape::split(sql);
    if parts.len() <= 1 {
        return format!("{MARKER}{sql}");
    }
    parts
        .iter()
        .map(|p| format!("{MARKER}{p}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// A connected session; the connection task runs in the background until it is dropped.
///
/// Its `query`, `query_one`, `query_opt`, `execute`, `batch_execute`, `simple_query` and
/// `prepare` put [`MARKER`] in front of the SQL when the session is quiet but could not turn
/// pg_stat_statements off; `client` is the raw client (prepared statements, transactions).
pub struct Conn {
    pub client: tokio_postgres::Client,
    params: ConnParams,
    /// Mark every statement: quiet, but `SET pg_stat_statements.track` was refused.
    marks: bool,
}

impl std::ops::Deref for Conn {
    type Target = tokio_postgres::Client;
    fn deref(&self) -> &Self::Target {
        &self.client
    }
}

type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

impl Conn {
    pub fn params(&self) -> &ConnParams {
        &self.params
    }

    /// Whether this session's statements reach pg_stat_statements (marked): it was meant to be
    /// quiet, but the role may not turn pg_stat_statements off.
    pub fn marks(&self) -> bool {
        self.marks
    }

    fn sql<'a>(&self, sql: &'a str) -> std::borrow::Cow<'a, str> {
        if self.marks {
            std::borrow::Cow::Owned(mark(sql))
        } else {
            std::borrow::Cow::Borrowed(sql)
        }
    }

    pub async fn query(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> std::result::Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        self.client.query(self.sql(sql).as_ref(), params).await
    }

    pub async fn query_one(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> std::result::Result<tokio_postgres::Row, tokio_postgres::Error> {
        self.client.query_one(self.sql(sql).as_ref(), params).await
    }

    pub async fn query_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> std::result::Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
        self.client.query_opt(self.sql(sql).as_ref(), params).await
    }

    pub async fn execute(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> std::result::Result<u64, tokio_postgres::Error> {
        self.client.execute(self.sql(sql).as_ref(), params).await
    }

    pub async fn batch_execute(&self, sql: &str) -> std::result::Result<(), tokio_postgres::Error> {
        self.client.batch_execute(&self.sql(sql)).await
    }

    pub async fn simple_query(
        &self,
        sql: &str,
    ) -> std::result::Result<Vec<tokio_postgres::SimpleQueryMessage>, tokio_postgres::Error> {
        self.client.simple_query(&self.sql(sql)).await
    }

    pub async fn prepare(
        &self,
        sql: &str,
    ) -> std::result::Result<tokio_postgres::Statement, tokio_postgres::Error> {
        self.client.prepare(&self.sql(sql)).await
    }
}

/// Turn pg_stat_statements off for this session. False when the role may not (42501), or
/// when the server refuses the setting for another reason (the session is then marked).
async fn silence(client: &tokio_postgres::Client) -> Result<bool> {
    // Marked: with track = all this SET is itself recorded (a utility statement, counted after it ran).
    match client
        .batch_execute(&format!("{MARKER}SET pg_stat_statements.track = 'none'"))
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.as_db_error().is_some() => Ok(false),
        Err(e) => Err(PgError::query("setting up the session", e)),
    }
}

/// Build the tokio-postgres configuration for these parameters and session options.
pub fn pg_config(p: &ConnParams, s: &SessionOptions) -> Result<tokio_postgres::Config> {
    let mut c = tokio_postgres::Config::new();
    let hostaddrs: Vec<&str> = p
        .get("hostaddr")
        .map(|h| h.split(',').collect())
        .unwrap_or_default();
    for h in p.hosts() {
        c.host(&h);
    }
    for a in hostaddrs {
        let ip = a
            .parse()
            .map_err(|_| p.bad(&format!("invalid hostaddr \"{a}\"")))?;
        c.hostaddr(ip);
    }
    for port in p.ports() {
        c.port(port);
    }
    c.user(p.user());
    c.dbname(p.dbname());
    if let Some(pw) = p.password() {
        c.password(pw);
    }
    c.application_name(p.get("application_name").unwrap_or("dbopt"));
    let timeout = p
        .get("connect_timeout")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .unwrap_or(10);
    c.connect_timeout(Duration::from_secs(timeout));
    let mut options = p.get("options").unwrap_or("").to_string();
    if let Some(t) = s.statement_timeout {
        options.push_str(&format!(" -c statement_timeout={}", t.as_millis()));
    }
    if s.read_only {
        options.push_str(" -c default_transaction_read_only=on");
    }
    let options = options.trim();
    if !options.is_empty() {
        c.options(options);
    }
    if let Some(tsa) = p.get("target_session_attrs") {
        use tokio_postgres::config::TargetSessionAttrs as T;
        c.target_session_attrs(match tsa {
            "read-write" => T::ReadWrite,
            "any" => T::Any,
            other => return Err(p.bad(&format!("unsupported target_session_attrs \"{other}\""))),
        });
    }
    c.ssl_mode(match p.sslmode() {
        // libpq never uses TLS on a Unix-domain socket, whatever sslmode says.
        _ if unix_socket_only(p) => TpSslMode::Disable,
        SslMode::Disable => TpSslMode::Disable,
        SslMode::Allow | SslMode::Prefer => TpSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => TpSslMode::Require,
    });
    Ok(c)
}

/// The TLS connector for `sslmode`: no verification for prefer/require (libpq's meaning),
/// the chain for verify-ca, chain and host name for verify-full.
pub fn tls_connector(p: &ConnParams) -> Result<MakeRustlsConnect> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Tls {
            target: p.target(),
            reason: e.to_string(),
        })?;
    let config = match p.sslmode() {
        SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth(),
        mode @ (SslMode::VerifyCa | SslMode::VerifyFull) => {
            let roots = Arc::new(root_store(p)?);
            let webpki =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| PgError::Tls {
                        target: p.target(),
                        reason: e.to_string(),
                    })?;
            if mode == SslMode::VerifyCa {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                    .with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(webpki)
                    .with_no_client_auth()
            }
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

fn root_store(p: &ConnParams) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let file = p
        .get("sslrootcert")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var("HOME")
                .ok()
                .map(|h| std::path::Path::new(&h).join(".postgresql/root.crt"))
        })
        .filter(|f| f.exists());
    match file {
        Some(f) if f.as_os_str() == "system" => {}
        Some(f) => {
            let pem = std::fs::read(&f).map_err(|e| PgError::Tls {
                target: p.target(),
                reason: format!("reading {}: {e}", f.display()),
            })?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| PgError::Tls {
                    target: p.target(),
                    reason: format!("{}: {e}", f.display()),
                })?;
                roots.add(cert).map_err(|e| PgError::Tls {
                    target: p.target(),
                    reason: e.to_string(),
                })?;
            }
            return Ok(roots);
        }
        None => {}
    }
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Ok(roots)
}

/// sslmode=require: encrypt, accept any certificate (libpq's documented behaviour).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// sslmode=verify-ca: the chain must lead to a trusted root; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        e: &CertificateDer<'_>,
        i: &[CertificateDer<'_>],
        n: &ServerName<'_>,
        o: &[u8],
        t: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(e, i, n, o, t) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Open one session.
pub async fn connect(p: &ConnParams, s: &SessionOptions) -> Result<Conn> {
    let config = pg_config(p, s)?;
    let opened = if unix_socket_only(p) {
        open(&config, tokio_postgres::NoTls).await
    } else {
        open(&config, tls_connector(p)?).await
    };
    let client = opened.map_err(|e| connect_error(p, e))?;
    let marks = s.quiet && !silence(&client).await?;
    Ok(Conn {
        client,
        params: p.clone(),
        marks,
    })
}

/// Every host is a Unix-domain socket directory (`host=/var/run/postgresql`) and no `hostaddr`
/// is given: no TLS then, as in libpq. rustls cannot even be set up for such a host, since
/// tokio-postgres hands it an empty server name.
fn unix_socket_only(p: &ConnParams) -> bool {
    let hosts = p.hosts();
    p.get("hostaddr").is_none() && !hosts.is_empty() && hosts.iter().all(|h| h.starts_with('/'))
}

/// Connect with `tls` and drive the connection in the background.
async fn open<T>(
    config: &tokio_postgres::Config,
    tls: T,
) -> std::result::Result<tokio_postgres::Client, tokio_postgres::Error>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A pool for commands that run work in parallel; every pooled session gets the same settings.
pub fn pool(
    p: &ConnParams,
    s: &SessionOptions,
    max_size: usize,
) -> Result<deadpool_postgres::Pool> {
    use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
    let config = pg_config(p, s)?;
    let how = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let mgr = if unix_socket_only(p) {
        Manager::from_config(config, tokio_postgres::NoTls, how)
    } else {
        Manager::from_config(config, tls_connector(p)?, how)
    };
    deadpool_postgres::Pool::builder(mgr)
        .max_size(max_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| PgError::Io(format!("building the connection pool: {e}")))
}

/// Turn a connection failure into the variant that names the fix.
pub fn connect_error(p: &ConnParams, e: tokio_postgres::Error) -> PgError {
    let target = p.target();
    if let Some(refused) = PgError::refused(format!("the server at {target}"), &e) {
        return refused;
    }
    if let Some(db) = e.as_db_error() {
        return match db.code().code() {
            "28P01" => PgError::AuthFailed {
                user: p.user().into(),
                target,
            },
            "3D000" => PgError::UnknownDatabase {
                dbname: p.dbname().into(),
                target,
            },
            "28000" if db.message().contains("does not exist") => PgError::UnknownRole {
                user: p.user().into(),
                target,
            },
            // The server is up and answered: the role may not connect to this database.
            super::error::INSUFFICIENT_PRIVILEGE => PgError::Query {
                context: format!("connecting to {target}"),
                message: db.message().to_string(),
                code: Some(db.code().code().to_string()),
                hint: Some(super::error::privilege_hint(db.message(), Some(p.user()))),
            },
            _ => PgError::Unreachable {
                target,
                reason: db.message().to_string(),
            },
        };
    }
    let reason = flatten(&e);
    let lower = reason.to_lowercase();
    if lower.contains("password missing") {
        return PgError::AuthFailed {
            user: p.user().into(),
            target,
        };
    }
    if lower.contains("tls") || lower.contains("certificate") || lower.contains("ssl") {
        return PgError::Tls { target, reason };
    }
    let reason = if lower.contains("connection refused") {
        "connection refused".to_string()
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "timed out".to_string()
    } else if lower.contains("lookup address") || lower.contains("name or service not known") {
        "host name not found".to_string()
    } else if lower.contains("no such file") {
        "no server socket there".to_string()
    } else {
        reason
            .trim_start_matches("error connecting to server: ")
            .to_string()
    };
    PgError::Unreachable { target, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_of_a_batch_is_marked() {
        assert_eq!(mark("SELECT 1"), "/* dbopt */ SELECT 1");
        assert_eq!(
            mark("SELECT hypopg_create_index('CREATE INDEX ON t (a); --'); EXPLAIN SELECT ';'"),
            "/* dbopt */ SELECT hypopg_create_index('CREATE INDEX ON t (a); --');/* dbopt */ EXPLAIN SELECT ';'"
        );
        assert!(is_own(&mark("DEALLOCATE ALL; PREPARE p AS SELECT 1")));
        for part in mark("DEALLOCATE ALL; PREPARE p AS SELECT 1").split(';') {
            assert!(is_own(part), "{part}");
        }
        assert!(!is_own("SELECT 1 /* dbopt */"));
    }
}
