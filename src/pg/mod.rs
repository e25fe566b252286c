//! The only module (with `bench` and `archive`) that talks to a PostgreSQL server.
//!
//! Everything above it works on plain data (catalog, workload, plans), so analyses run the same
//! against a live server or a snapshot file, and the places that can change a database are few
//! and easy to audit.

pub mod activity;
pub mod apply;
pub mod catalog;
pub mod connect;
pub mod conninfo;
#[cfg(feature = "docker")]
pub mod docker;
pub mod doctor;
pub mod error;
pub mod explain;
pub mod health;
pub mod hypo;
pub mod inspect;
pub mod pgss;
pub mod server;
pub mod source;
pub mod throwaway;
pub mod whatif;

pub use connect::{connect, pool, Conn, SessionOptions};
pub use conninfo::{ConnParams, SslMode};
pub use error::{PgError, Result};
