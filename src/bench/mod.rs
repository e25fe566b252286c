//! Load generation against a server: the demo database and its workload, and (later) the
//! pool-saturation ramps and latency-regression runs of `dbopt bench`.
//!
//! This module, with `pg` and `archive`, is allowed to talk to a server: it exists to put load
//! on one.

pub mod demo;
pub mod demo_workload;
pub mod tpch;
