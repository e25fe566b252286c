//! dbopt: a command-line tool for the people who keep PostgreSQL fast.
//!
//! Layout (dependencies point down): `cli` parses flags and renders through `report`; the
//! analyses work on plain data; only `pg`, `bench` and `archive` talk to a server.

pub mod advisor;
pub mod analyze;
pub mod archive;
pub mod bench;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod emit;
pub mod hint;
pub mod ident;
pub mod index_key;
pub mod inspect;
pub mod pg;
pub mod report;
pub mod rules;
pub mod snapshot;
pub mod units;
pub mod workload;
