//! Sequences and identity columns: last value against the maximum of the sequence's type and of the column it feeds.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sequences {}
