//! Settings, server-wide counters (pg_stat_database, pg_stat_statements_info) and vacuum progress, for the settings and autovacuum reviews.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Server {}
