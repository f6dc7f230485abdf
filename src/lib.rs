//! chaos: seeded, declarative chaos experiments against Docker Compose
//! clusters, checked for linearizability.
//!
//! Layout, from the bottom layer up (`docs/architecture.md` is the map;
//! nothing imports a layer above its own):
//!
//! Pure core (no IO, no clock, no runtime):
//! - [`duration`]: human durations (`30s`, `1m30s`).
//! - [`error_text`]: an error in words with its causes.
//! - [`experiment`]: experiment files, parsed and checked.
//! - [`seed`]: one seed, named ChaCha streams.
//! - [`plan`]: fault timeline and op streams from (experiment, seed); the
//!   plan as JSON and the commands that repeat it.
//! - [`history`]: ops, pairing, the history formats.
//! - [`checker`]: linearizability per key, verdicts with witnesses; and
//!   [`checker::txn`], Elle's list-append analysis (transactions against
//!   consistency models).
//! - [`histgen`]: seeded simulated histories for tests and benches.
//! - [`txngen`]: seeded simulated list-append transaction histories.
//! - [`workload`]: one room per workload (register, list-append): its op
//!   streams, the ops a client must offer, its checker entry, its anomaly
//!   kinds and its page, behind one trait, in one registry.
//! - [`results`]: the results.json model, its statistics and its builder.
//! - [`report`]: the human report.
//! - [`html`]: the pages: a run's report.html, a history's anomaly page,
//!   the daemon's index of runs.
//! - [`roles`]: who holds a role (the leader) now: the resolver trait.
//! - [`runs`]: past runs as rows: the list `chaos runs` prints, a run's
//!   expectation met or not, seed sweeps, the difference of two runs,
//!   JUnit XML.
//! - [`bundle`]: a run's bug-report bundle: which files go where, the
//!   experiment rewritten to rerun from the unpacked bundle, its README.
//! - [`doctor`]: what this machine can run: each experiment's verdict from
//!   the probed facts, and the report.
//! - [`bench`]: load benchmarks: HDR latency summaries, the objective, the
//!   ramp's decisions, the cluster's goals, the bench report.
//!
//! Shell, infrastructure:
//! - [`loader`]: reads experiment and compose files.
//! - [`store`]: run directories and atomic writes.
//! - [`runfiles`]: a run directory read back for its report.
//! - [`journal`]: the fault journal and the active-runs index.
//! - [`lock`]: one user of a compose project at a time.
//! - [`docker`]: the Engine API, compose labels and CLI.
//! - [`images`]: the local images, their recipes, missing ones, builds.
//!
//! Shell, the parts of a run:
//! - [`client`]: database clients, ok/fail/info; the protocol-speaking role
//!   resolvers (etcd leader, PD).
//! - [`nemesis`]: faults paired with heals, sweep and recovery.
//! - [`engine`]: one run, end to end, callable many times in one process.
//!
//! On top:
//! - [`daemon`]: campaigns of runs as a long-running service, its HTTP API.
//! - [`demo`]: the SurrealDB CRUD and failover demonstrations.
//! - [`cli`]: the command line: signals, output, exit codes.

pub mod bench;
pub mod bundle;
pub mod checker;
pub mod cli;
pub mod client;
pub mod daemon;
pub mod demo;
pub mod docker;
pub mod doctor;
pub mod duration;
pub mod engine;
pub mod error_text;
pub mod experiment;
pub mod histgen;
pub mod history;
pub mod html;
pub mod images;
pub mod journal;
pub mod loader;
pub mod lock;
pub mod nemesis;
pub mod plan;
pub mod report;
pub mod results;
pub mod roles;
pub mod runfiles;
pub mod runs;
pub mod seed;
pub mod shrink;
pub mod store;
pub mod txngen;
pub mod warnings;
pub mod workload;
