//! What holds the xmin horizon back (long and idle-in-transaction sessions, prepared transactions, replication slots, hot-standby feedback).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Horizon {}
