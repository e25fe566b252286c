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
pub mod inspect;
pub mod pgss;
pub mod throwaway;
pub mod whatif;

pub use connect::{connect, pool, Conn, SessionOptions};
pub use conninfo::{ConnParams, SslMode};
pub use error::{PgError, Result};

/// Quote an identifier the way `quote_ident` does, always (dbopt never trusts a name).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quote a string literal the way `quote_literal` does.
pub fn quote_literal(value: &str) -> String {
    if value.contains('\\') {
        format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("Events 2024"), "\"Events 2024\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }
}
