//! chaos: seeded, declarative chaos experiments against Docker Compose
//! clusters, checked for linearizability.
//!
//! Layout (pure core first, effectful shell last; `docs/architecture.md`
//! is the map):
//! - [`duration`]: human durations (`30s`, `1m30s`). Pure.
//! - [`experiment`]: experiment files, parsed and checked. Pure.
//! - [`seed`]: one seed, named ChaCha streams. Pure.
//! - [`plan`]: fault timeline and op streams from (experiment, seed). Pure.
//! - [`history`]: ops, pairing, the history formats. Pure.
//! - [`checker`]: linearizability per key, verdicts with witnesses; and
//!   [`checker::txn`], Elle's list-append analysis (transactions against
//!   consistency models). Pure.
//! - [`histgen`]: seeded simulated histories for tests and benches. Pure.
//! - [`txngen`]: seeded simulated list-append transaction histories. Pure.
//! - [`results`]: the results.json model and its statistics. Pure.
//! - [`report`]: the human report. Pure.
//! - [`loader`]: reads experiment and compose files. Shell.
//! - [`store`]: run directories and atomic writes. Shell.
//! - [`docker`]: the Engine API, compose labels and CLI. Shell.
//! - [`journal`]: the fault journal and the active-runs index. Shell.
//! - [`nemesis`]: faults paired with heals, sweep and recovery. Shell.
//! - [`client`]: database clients, ok/fail/info. Shell.
//! - [`runner`]: `chaos run`, end to end. Shell.
//! - [`demo`]: the SurrealDB CRUD and failover demonstrations. Shell.
//! - [`cli`]: the command line and exit codes. Shell.

pub mod checker;
pub mod cli;
pub mod client;
pub mod demo;
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
pub mod txngen;
