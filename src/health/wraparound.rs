//! Transaction-ID and multixact ages of each database and of the oldest tables, against autovacuum_freeze_max_age.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Wraparound {}
