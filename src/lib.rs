//! chaos: seeded, declarative chaos experiments against Docker Compose
//! clusters, checked for linearizability.
//!
//! Layout (pure core first, effectful shell last):
//! - [`duration`]: human durations (`30s`, `1m30s`). Pure.
//! - [`experiment`]: experiment files, parsed and checked. Pure.
//! - [`cli`]: the command line and exit codes. Shell.

pub mod checker;
pub mod cli;
pub mod client;
pub mod docker;
pub mod duration;
pub mod experiment;
pub mod histgen;
pub mod history;
pub mod journal;
pub mod loader;
pub mod nemesis;
pub mod plan;
pub mod report;
pub mod results;
pub mod runner;
pub mod seed;
pub mod store;
