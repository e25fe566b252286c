//! The throwaway Postgres on a Docker engine (cargo feature `docker`), for machines that have
//! one: the same interface as [`super::throwaway::Throwaway`] (`params`, `url`, `port`,
//! `has_hypopg`, `stop`), backed by the official `postgres:15` image through testcontainers.
//!
//! Why only a feature: the default backend needs no engine and starts in about a second; this
//! one helps where no PostgreSQL binaries are installed but Docker is. The official image has
//! no HypoPG, so advice there uses dbopt's cost model.

use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::testcontainers::runners::SyncRunner;
use testcontainers_modules::testcontainers::{Container, ImageExt};

use super::conninfo::ConnParams;
use super::error::{PgError, Result};
use super::throwaway::{create_extensions, SUPERUSER};

const PASSWORD: &str = "postgres";

/// A running container; dropping it stops and removes the container.
pub struct DockerThrowaway {
    container: Container<Postgres>,
    port: u16,
    hypopg: bool,
}

impl DockerThrowaway {
    /// Pull (if needed) and start `postgres:15` with pg_stat_statements preloaded.
    pub fn start() -> Result<Self> {
        let fail = |what: &str, e: &dyn std::fmt::Display| PgError::Throwaway {
            reason: format!("{what}: {e}"),
            log_tail: "is a Docker engine running? (docker info)".into(),
        };
        let container = Postgres::default()
            .with_tag("15")
            .with_cmd([
                "postgres",
                "-c",
                "shared_preload_libraries=pg_stat_statements",
                "-c",
                "pg_stat_statements.track=all",
                "-c",
                "track_io_timing=on",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
            ])
            .start()
            .map_err(|e| fail("starting the postgres:15 container", &e))?;
        let port = container
            .get_host_port_ipv4(5432)
            .map_err(|e| fail("reading the container's port", &e))?;
        let mut me = DockerThrowaway {
            container,
            port,
            hypopg: false,
        };
        me.hypopg = create_extensions(me.params("template1"))?;
        Ok(me)
    }

    pub fn params(&self, dbname: &str) -> ConnParams {
        ConnParams::parse(&format!("host=127.0.0.1 port={} user={SUPERUSER} password={PASSWORD} dbname={dbname} sslmode=disable", self.port)).expect("valid container conninfo")
    }

    pub fn url(&self, dbname: &str) -> String {
        self.params(dbname).url_with_password()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn has_hypopg(&self) -> bool {
        self.hypopg
    }

    /// Stop and remove the container.
    pub fn stop(self) {
        let _ = self.container.rm();
    }
}
