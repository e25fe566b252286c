//! Analyses over plain data that no single command owns: the EXPLAIN plan model
//! (`plan`). They never talk to a server, so they are tested from JSON text.

pub mod plan;
