//! Load generation against a server: the demo database and its workload, the pool-saturation
//! ramps of `dbopt bench pool` and the latency-regression runs of `dbopt bench queries`.
//!
//! This module, with `pg` and `archive`, is allowed to talk to a server: it exists to put load
//! on one.

pub mod advise_scale;
pub mod agreement;
pub mod demo;
pub mod demo_workload;
pub mod error;
pub mod histogram;
pub mod pgbench;
pub mod plot;
pub mod pool;
pub mod queries;
pub mod runner;
pub mod target;
pub mod workload;

pub use error::BenchError;
pub mod tpch;
