//! Index advice for a whole workload: candidates, what-if costing, selection under a budget.

pub mod candidates;
pub mod oracle;
pub mod report;
pub mod select;
pub mod size;
