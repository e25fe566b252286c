//! Streaming replication: each standby's lag as the primary sees it, or this server's replay delay when it is a standby.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Replication {}
