//! dbopt: a command-line tool for the people who keep PostgreSQL fast.
//!
//! # Layers
//!
//! Dependencies point down. The table lists the top-level modules by layer, highest first. A
//! module may use the modules of its own layer and of the layers below it, never those above,
//! and no two modules may depend on each other, directly or through others. Why: the pure
//! analyses stay testable from plain data, the SQL dbopt sends stays in one adapter (`pg`),
//! and a change to how something is printed never reaches the analyses. `tests/layers.rs`
//! reads this table (it is written nowhere else) and fails on any path that points up or
//! closes a circle.
//!
//! | layer   | modules                                                                        | what it is                                            |
//! |---------|--------------------------------------------------------------------------------|-------------------------------------------------------|
//! | cli     | `cli`                                                                          | flags and commands, at the edge                       |
//! | commands| `commands`, `hint`                                                             | one function per command, plain request in, report out; error hints |
//! | report  | `report`                                                                       | rendering for people and machines                     |
//! | servers | `bench`, `archive`                                                             | work that drives a server through `pg`                |
//! | adapter | `pg`                                                                           | connections, and every SQL text dbopt sends           |
//! | domain  | `emit`, `advisor`, `inspect`, `snapshot`, `rules`, `analyze`, `workload`, `health`, `catalog` | the analyses, on plain data; no server   |
//! | ground  | `sql`, `findings`, `units`                                                     | quoting, index keys and DDL, findings, units; no I/O  |

pub mod advisor;
pub mod analyze;
pub mod archive;
pub mod bench;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod emit;
pub mod findings;
pub mod health;
pub mod hint;
pub mod inspect;
pub mod pg;
pub mod report;
pub mod rules;
pub mod snapshot;
pub mod sql;
pub mod units;
pub mod workload;
