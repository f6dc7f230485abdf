//! Workloads: one room per workload, behind one small trait
//! ([`Workload`]), listed in one registry ([`REGISTRY`]).
//!
//! A room owns everything that is particular to its workload: its fields of
//! `[workload]` and its mix, its op streams (a [`Generator`] per client,
//! drawn from the client's named seed stream), the ops a client must offer
//! to serve it ([`Capabilities::ops`]), how a completion reads in the
//! history, its final reads, its checker entry and anomaly kinds, and its
//! part of report.html. The rest of chaos (the validator, the planner, the
//! engine, the results builder, `chaos check`, `chaos report`) asks the
//! room through the trait and never branches on a workload's name.
//!
//! Between a room and a client, ops travel in one shape ([`op`]): an
//! invocation (`f`, maybe a key, a JSON value) and an outcome (`ok` with a
//! value, `fail`, `info`); clients declare which workloads' ops they serve
//! ([`crate::client::serves`]) and decode the values into the room's own
//! types. The history file is the same envelope for every workload.
//!
//! Rooms: [`register`] (read, write and compare-and-set registers, one key
//! per op: linearizability per key), [`list_append`] (transactions of
//! appends and reads: Elle's analysis against a consistency model),
//! [`bank`] (transfers between accounts: every read sees the total),
//! [`set`] (unique adds, reads of the whole set: lost, stale and
//! unexpected elements). A lost write has one definition: [`lost`].
//!
//! Pure: no tokio, Docker, file system or clock (the purity test holds
//! every room to it). A room may use the pure core (experiment, seed,
//! history, checker, results, html); nothing in the pure core below it
//! may name a room.

pub mod bank;
pub mod list_append;
pub mod lost;
pub mod op;
pub mod register;
pub mod set;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

pub use op::{Invocation, Outcome};

use crate::experiment::Workload as WorkloadConfig;
use crate::history::HistoryError;
use crate::results::{CheckerSummary, Results};
use crate::seed::Seed;

/// What a workload is and offers: the registry's line of it.
#[derive(Debug)]
pub struct Capabilities {
    /// `workload.kind` in the experiment file.
    pub name: &'static str,
    /// One line for people.
    pub summary: &'static str,
    /// The functions of its ops: what a client must offer to serve it.
    pub ops: &'static [&'static str],
    /// The weights `workload.mix` may give, in the order the streams draw
    /// them, with their defaults.
    pub mix: &'static [(&'static str, u64)],
    /// Its own fields of `[workload]`, beside the common ones.
    pub fields: &'static [&'static str],
    /// The consistency models `checker.model` may name, the default first;
    /// empty when it checks one fixed property.
    pub models: &'static [&'static str],
    /// What its checker holds a history to when no model is chosen.
    pub checks: &'static str,
    /// The anomaly kinds its checker reports (results.json `anomaly` or
    /// `class`).
    pub anomalies: &'static [&'static str],
    /// What one op is, in counts ("op", "transaction").
    pub unit: &'static str,
    /// `chaos bench` can load a cluster with it.
    pub bench: bool,
    /// Its ops work on keys that rotate (`workload.keys`, `key_ops`).
    pub keys: bool,
}

/// A field of `[workload]` a room refused: the field's path below
/// `workload` (`ops_per_txn[0]`, `mix.append`) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// One client's endless, deterministic op stream, and what the client
/// learns along the way (a register client's last known value, which its
/// next compare-and-set expects).
pub trait Generator: Send {
    /// The next op.
    fn next_op(&mut self) -> Invocation;
    /// Learn from an op's outcome.
    fn observe(&mut self, _op: &Invocation, _outcome: &Outcome) {}
    /// The keys its ops touched (what the final reads read).
    fn touched(&self) -> BTreeSet<u64>;
}

/// What a room's checker is given.
pub struct CheckInput<'a> {
    /// The history, chaos JSONL (history.jsonl's text).
    pub history: &'a str,
    /// The workload as the experiment gave it.
    pub workload: &'a WorkloadConfig,
    /// `checker.model`, if the experiment named one.
    pub model: Option<&'a str>,
    /// The checker's budget (per key, for registers).
    pub budget: Duration,
    /// The checker's clock and cancellation (tests and benches: none).
    pub clock: Option<Arc<dyn crate::checker::Clock>>,
    /// Threads the checker may use.
    pub threads: usize,
    /// At most this many anomalies of one name listed in full.
    pub max_cases: usize,
}

/// What a room's checker says of a history.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The verdict, the anomalies and the room's figures, in the results'
    /// terms (`elapsed_ms` is the caller's to fill).
    pub summary: CheckerSummary,
    /// How many operations (or transactions) were checked.
    pub ops: usize,
}

/// What a room's part of report.html is made from.
pub struct PageInput<'a> {
    pub results: &'a Results,
    /// history.jsonl's text, if the run kept it.
    pub history: Option<&'a str>,
    pub plan: Option<&'a serde_json::Value>,
    /// What the reader noticed (an older results.json).
    pub notes: &'a [String],
}

/// What a client's stream holds over a run, for the plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamSummary {
    /// Ops (micro-ops, for transactions) by function.
    pub ops: BTreeMap<String, u64>,
    pub first_key: u64,
    pub last_key: u64,
    /// The first ops, as people read them.
    pub first: Vec<String>,
}

/// A workload's room.
pub trait Workload: Sync {
    /// Its registry line.
    fn caps(&self) -> &'static Capabilities;

    /// Check the room's own fields of `[workload]` (those of
    /// [`Capabilities::fields`] that the file gives) and return them as
    /// the room's parameters (`Null` when it has none).
    fn params(&self, fields: &toml::Table) -> Result<serde_json::Value, FieldError> {
        let _ = fields;
        Ok(serde_json::Value::Null)
    }

    /// Checks of the whole workload section once it is resolved (what the
    /// mix, the keys and the room's parameters allow together).
    fn validate(&self, w: &WorkloadConfig) -> Result<(), FieldError> {
        let _ = w;
        Ok(())
    }

    /// Client `client`'s op stream, drawn from the seed's stream
    /// `client/C`.
    fn generator(&self, w: &WorkloadConfig, seed: Seed, client: u64) -> Box<dyn Generator>;

    /// What a stream holds over its first `ops` ops, for the plan.
    fn summarize(&self, w: &WorkloadConfig, seed: Seed, client: u64, ops: u64) -> StreamSummary;

    /// A line for the printed plan about what is particular to this
    /// workload (`None`: nothing more than the common line).
    fn describe(&self, w: &WorkloadConfig, model: Option<&str>) -> Option<String> {
        let _ = (w, model);
        None
    }

    /// Ops a client runs once before the workload starts (creating the
    /// bank's accounts), retried until each is `ok`; they are not part of
    /// the history.
    fn setup(&self, w: &WorkloadConfig) -> Vec<Invocation> {
        let _ = w;
        Vec::new()
    }

    /// Does this op change nothing (so that one that got no answer did not
    /// happen)?
    fn read_only(&self, op: &Invocation) -> bool;

    /// The `value` of an op's completion line in the history.
    fn completed(&self, op: &Invocation, outcome: &Outcome) -> serde_json::Value;

    /// The reads made after the faults are healed and the cluster has
    /// recovered, given the keys the clients touched.
    fn final_reads(&self, w: &WorkloadConfig, touched: &BTreeSet<u64>) -> Vec<Invocation>;

    /// Check a history.
    fn check(&self, input: &CheckInput<'_>) -> Result<Checked, HistoryError>;

    /// The run's report.html.
    fn page(&self, input: &PageInput<'_>) -> Result<String, HistoryError>;
}

/// Every workload chaos knows: one line each.
pub static REGISTRY: &[&dyn Workload] = &[
    &register::Register,
    &list_append::ListAppend,
    &bank::Bank,
    &set::Set,
];

/// The room of `workload.kind = name`.
pub fn by_name(name: &str) -> Option<&'static dyn Workload> {
    REGISTRY.iter().copied().find(|w| w.caps().name == name)
}

/// The names, in registry order.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|w| w.caps().name).collect()
}

/// The weight of `f` in the mix (0 when absent).
pub fn weight(mix: &BTreeMap<String, u64>, f: &str) -> u64 {
    mix.get(f).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_lists_each_workload_once_with_its_capabilities() {
        let names = names();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for w in REGISTRY {
            let c = w.caps();
            assert!(!c.ops.is_empty(), "{}: no ops", c.name);
            assert!(!c.mix.is_empty(), "{}: no mix", c.name);
            for (f, _) in c.mix {
                assert!(
                    c.ops.contains(f) || c.name == "list-append",
                    "{}: mix weight {f} is no op",
                    c.name
                );
            }
            assert!(!c.anomalies.is_empty(), "{}: no anomaly kinds", c.name);
            assert!(std::ptr::eq(by_name(c.name).unwrap().caps(), c));
        }
        assert_eq!(&names[..2], &["register", "list-append"]);
    }
}
