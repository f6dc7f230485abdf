//! `results.json`: the versioned record of one run, and the pure computations
//! that fill it (op counts, throughput, latency percentiles overall and inside
//! fault windows, recovery after each heal, UTC timestamps). [`build`] makes
//! the whole record from what a run produced (the history, the plan, the
//! fault outcomes, the checker's report), so it is tested without Docker and
//! can be made again from a run directory's files.
//!
//! Pure: times come in as numbers (nanoseconds since the run's start, Unix
//! milliseconds for wall clock); nothing here reads a clock or a file. The
//! schema is `schemas/results.schema.json`; bump [`SCHEMA_VERSION`] on any
//! incompatible change and say what changed in `results/README.md`.
//! Internal types (checker reports, journal records) convert into these;
//! only this module decides the JSON shape.
//!
//! Version 2 (from version 1): `status` (completed, interrupted, crashed);
//! `workload.kind`; each anomaly is a tagged variant (`"type": "register"`
//! with its `class`, room for transaction cycles); `logs` names each node's
//! log kept with the run; `exit_code` is gone (exit codes belong to the
//! command line: `verdict` and `status` say what they are made from).

pub mod build;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checker::txn;

/// The version of the results format; `schemas/results.schema.json` matches it.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything a run leaves for people and programs to inspect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    /// Whether the run went to its end.
    pub status: Status,
    pub experiment: ExperimentInfo,
    pub seed: u64,
    /// The exact command that reruns this experiment with this seed.
    pub rerun: String,
    pub tool: ToolInfo,
    pub target: TargetInfo,
    /// UTC, RFC 3339.
    pub started_at: String,
    pub ended_at: String,
    pub duration_s: f64,
    pub verdict: Verdict,
    pub faults: Vec<FaultRecord>,
    pub workload: WorkloadStats,
    pub checker: CheckerSummary,
    /// Each compose service's container log since the run's start, as a
    /// path relative to the run directory (`logs/<service>.log`).
    pub logs: BTreeMap<String, String>,
    /// Things the user should know that are not anomalies: a heal that
    /// failed, a fault that could not be applied, a final read that timed out.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentInfo {
    pub name: String,
    /// The experiment file as given on the command line.
    pub file: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub client: String,
    pub read_mode: String,
    pub compose_file: String,
    pub project: String,
    /// Compose service to the image its container ran.
    pub images: BTreeMap<String, String>,
}

/// How far a run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It ran for its whole duration, healed, read every key and was checked.
    Completed,
    /// It was cancelled (a signal, a daemon's pause or stop): its faults
    /// were healed, and the shorter history was checked.
    Interrupted,
    /// chaos itself died during it (recorded afterwards, by the daemon that
    /// healed what it left).
    Crashed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Interrupted => "interrupted",
            Status::Crashed => "crashed",
        }
    }
}

/// The run's verdict: the checker's, unless the run itself failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every key's history is linearizable.
    Valid,
    /// At least one key's history is not: see `checker.anomalies`.
    Invalid,
    /// The checker could not decide some key within its budget, and found no
    /// anomaly elsewhere.
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        }
    }
}

/// One fault as it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub id: u64,
    pub nemesis: usize,
    pub kind: String,
    pub description: String,
    /// The services it struck, as resolved when it struck.
    pub targets: Vec<String>,
    /// An isolate-one or one-way partition: the node cut off from the
    /// others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolated: Option<String>,
    pub planned_at_ms: u64,
    pub applied_at_ms: Option<u64>,
    /// Actual minus planned apply time.
    pub lag_ms: Option<f64>,
    pub planned_heal_at_ms: u64,
    pub healed_at_ms: Option<u64>,
    /// From the heal until the first op invoked after it succeeded.
    pub recovery_ms: Option<u64>,
    /// Recovery that means recovered: from the heal until throughput was
    /// back near its level before the fault, and until a write succeeded
    /// again ([`recoveries`]). Healed faults only; absent in results
    /// written before it was added (within version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// Why it was not applied or not healed, if so.
    pub error: Option<String>,
    /// What was seen of the fault as it was applied and healed, in words
    /// (chaos-fs's answers: the bytes unsynced at a power loss, the errors
    /// it injected).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<String>,
}

/// Ok / fail / info counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.ok + self.fail + self.info
    }

    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Info => self.info += 1,
        }
    }
}

/// Latency percentiles of completed ops, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadStats {
    /// The workload: `register` (read, write, compare-and-set per key).
    pub kind: String,
    pub ops: Counts,
    /// Per function (`read`, `write`, `cas`, `final-read`).
    pub by_f: BTreeMap<String, Counts>,
    /// Ok ops per second over the workload phase.
    pub throughput_ok_per_s: f64,
    /// Latency of ok ops.
    pub latency: Latency,
    /// Latency of ok ops invoked while a fault was applied.
    pub latency_in_faults: Latency,
    /// Latency of ok ops invoked while no fault was applied.
    pub latency_outside_faults: Latency,
}

/// The checker's answer, in the results format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckerSummary {
    pub verdict: Verdict,
    pub keys: u64,
    pub keys_valid: u64,
    pub keys_invalid: u64,
    pub keys_unknown: u64,
    pub elapsed_ms: f64,
    /// One entry per non-linearizable key.
    pub anomalies: Vec<Anomaly>,
    /// One entry per undecided key.
    pub undecided: Vec<Undecided>,
    /// The consistency model the run was held to, for a workload that
    /// has models (`checker.model`, or the workload's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// List-append runs: the transaction checker's verdicts by model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<TxnSummary>,
    /// A workload room's own figures (a bank's total and reads checked, a
    /// set's elements by outcome and their latency to visibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<serde_json::Value>,
}

/// An anomaly, explained: one variant per kind of anomaly, tagged by
/// `type`: `register` for a key that is not linearizable, `txn-*` for the
/// list-append checker's (Elle's) anomalies, and a workload room's own
/// type (`bank`, `set`, `lost-write`, ...) for the rest
/// ([`WorkloadAnomaly`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Anomaly {
    /// A register (or map) key whose history is not linearizable.
    Register(RegisterAnomaly),
    /// A cycle of transactions (G0, G1c, G-single-item, G2-item, ...).
    TxnCycle(txn::CycleAnomaly),
    /// A read of what was never committed (G1a, G1b, garbage-read).
    TxnRead(txn::ReadAnomaly),
    /// One transaction at odds with itself (internal, duplicate-elements).
    TxnSingle(txn::TxnAnomaly),
    /// Transactions that disagree on one key's versions
    /// (incompatible-order, lost-update, dirty-update).
    TxnKey(txn::KeyAnomaly),
    /// An anomaly of a workload room's own (a bank read whose total is
    /// wrong, a lost set element, a lost write).
    Workload(WorkloadAnomaly),
}

/// The anomalies with a type of their own in results.json, as serde
/// writes them (internally tagged by `type`).
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Tagged {
    Register(RegisterAnomaly),
    #[serde(rename = "txn-cycle")]
    TxnCycle(txn::CycleAnomaly),
    #[serde(rename = "txn-read")]
    TxnRead(txn::ReadAnomaly),
    #[serde(rename = "txn-single")]
    TxnSingle(txn::TxnAnomaly),
    #[serde(rename = "txn-key")]
    TxnKey(txn::KeyAnomaly),
}

/// The `type`s [`Tagged`] reads.
const TAGGED: &[&str] = &["register", "txn-cycle", "txn-read", "txn-single", "txn-key"];

impl Serialize for Anomaly {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let tagged = match self.clone() {
            Anomaly::Register(a) => Tagged::Register(a),
            Anomaly::TxnCycle(a) => Tagged::TxnCycle(a),
            Anomaly::TxnRead(a) => Tagged::TxnRead(a),
            Anomaly::TxnSingle(a) => Tagged::TxnSingle(a),
            Anomaly::TxnKey(a) => Tagged::TxnKey(a),
            Anomaly::Workload(a) => return a.serialize(s),
        };
        tagged.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Anomaly {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        let kind = value
            .get("type")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| D::Error::missing_field("type"))?;
        if TAGGED.contains(&kind) {
            let tagged: Tagged = serde_json::from_value(value).map_err(D::Error::custom)?;
            Ok(match tagged {
                Tagged::Register(a) => Anomaly::Register(a),
                Tagged::TxnCycle(a) => Anomaly::TxnCycle(a),
                Tagged::TxnRead(a) => Anomaly::TxnRead(a),
                Tagged::TxnSingle(a) => Anomaly::TxnSingle(a),
                Tagged::TxnKey(a) => Anomaly::TxnKey(a),
            })
        } else {
            serde_json::from_value(value)
                .map(Anomaly::Workload)
                .map_err(D::Error::custom)
        }
    }
}

/// An anomaly a workload room reports in its own terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadAnomaly {
    /// The room's anomaly type (`bank`, `set`, `lost-write`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its class (`wrong-total`, `negative-balance`, `lost`, `stale`,
    /// `unexpected`, ...).
    pub anomaly: String,
    /// What it is about, for a one-line list (`read at line 812`,
    /// `element 41`).
    pub subject: String,
    pub explanation: String,
    /// Listed, but allowed by the model the run is held to (it does not
    /// count against the verdict).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allowed: bool,
    /// The room's facts about it (the read and its total, the transfers in
    /// flight; an element's acknowledgement and the read that missed it).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Anomaly {
    /// The explanation in words.
    pub fn explanation(&self) -> &str {
        match self {
            Anomaly::Register(a) => &a.explanation,
            Anomaly::TxnCycle(a) => &a.explanation,
            Anomaly::TxnRead(a) => &a.explanation,
            Anomaly::TxnSingle(a) => &a.explanation,
            Anomaly::TxnKey(a) => &a.explanation,
            Anomaly::Workload(a) => &a.explanation,
        }
    }

    /// The anomaly's class: `stale-read`, ... for a register; Elle's name
    /// (`G2-item`, `G1a`, `lost-update`, ...) for transactions.
    pub fn class(&self) -> &str {
        match self {
            Anomaly::Register(a) => a.class.as_str(),
            Anomaly::TxnCycle(a) => &a.anomaly,
            Anomaly::TxnRead(a) => &a.anomaly,
            Anomaly::TxnSingle(a) => &a.anomaly,
            Anomaly::TxnKey(a) => &a.anomaly,
            Anomaly::Workload(a) => &a.anomaly,
        }
    }

    /// What it is about, for a one-line list: `key 4`, or a cycle's
    /// transactions by history line.
    pub fn subject(&self) -> String {
        match self {
            Anomaly::Register(a) => format!("key {}", a.key),
            Anomaly::TxnCycle(a) => {
                let l: Vec<String> = a
                    .txns
                    .iter()
                    .map(|t| t.complete_line.unwrap_or(t.invoke_line).to_string())
                    .collect();
                format!("transactions at lines {}", l.join(", "))
            }
            Anomaly::TxnRead(a) => format!("key {}", txn::key_text(&a.key)),
            Anomaly::TxnSingle(a) => format!("key {}", txn::key_text(&a.key)),
            Anomaly::TxnKey(a) => format!("key {}", txn::key_text(&a.key)),
            Anomaly::Workload(a) => a.subject.clone(),
        }
    }
}

impl CheckerSummary {
    /// Does this anomaly count against the verdict? Every register
    /// anomaly does; a list-append anomaly does when it rules out the
    /// model the run is held to (a write skew under snapshot isolation is
    /// listed, and allowed).
    pub fn decides(&self, a: &Anomaly) -> bool {
        match (&self.txn, a) {
            (_, Anomaly::Workload(w)) => !w.allowed,
            (_, Anomaly::Register(_)) | (None, _) => true,
            (Some(t), a) => txn::models::ruled_out([a.class()]).contains(&t.model),
        }
    }

    /// The anomalies that count against the verdict (see
    /// [`CheckerSummary::decides`]).
    pub fn decisive(&self) -> impl Iterator<Item = &Anomaly> {
        self.anomalies.iter().filter(|a| self.decides(a))
    }
}

impl From<txn::Anomaly> for Anomaly {
    fn from(a: txn::Anomaly) -> Anomaly {
        match a {
            txn::Anomaly::Cycle(a) => Anomaly::TxnCycle(a),
            txn::Anomaly::Read(a) => Anomaly::TxnRead(a),
            txn::Anomaly::Txn(a) => Anomaly::TxnSingle(a),
            txn::Anomaly::Key(a) => Anomaly::TxnKey(a),
        }
    }
}

/// What the list-append checker said beyond the anomalies: the model the
/// run was held to, the verdict for each of the six models, Elle's `not`
/// and `also-not`, and what was checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnSummary {
    /// The model of the experiment's `[checker]`: the run is invalid
    /// exactly when the history rules it out.
    pub model: txn::ConsistencyModel,
    pub counts: txn::TxnCounts,
    pub graph: txn::GraphStats,
    /// Each model's verdict, strongest first.
    pub models: Vec<txn::ModelVerdict>,
    /// The weakest models ruled out...
    pub not: Vec<txn::ConsistencyModel>,
    /// ...and the stronger ones ruled out with them.
    pub also_not: Vec<txn::ConsistencyModel>,
    /// The names of the anomalies found.
    pub anomaly_types: Vec<String>,
    /// How many more of each name were found than are listed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub anomalies_omitted: BTreeMap<String, u64>,
    /// What left a verdict unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncertainties: Vec<txn::Uncertainty>,
}

/// A non-linearizable key, explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterAnomaly {
    /// The key as the history has it: a number for an integer key (as in
    /// `ops` and the transaction anomalies), else its label (a quoted
    /// string key, `all keys`). Results written before read as strings.
    #[serde(with = "key_label")]
    pub key: String,
    /// `stale-read`, `never-written`, `impossible-cas` or `other`.
    pub class: crate::checker::AnomalyClass,
    /// In words: which ops, and why no order explains them.
    pub explanation: String,
    /// How many ops of the key could be linearized before the search got
    /// stuck.
    pub linearizable_prefix: Option<u64>,
    /// The ops that cannot be placed, as history lines.
    pub ops: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Undecided {
    /// As a register anomaly's `key`: a number for an integer key.
    #[serde(with = "key_label")]
    pub key: String,
    pub reason: String,
}

/// A key's label in results.json: an integer key's label (`"4"`) is
/// written as the number `4`, as the history writes it; any other label
/// as a string. Read back from either (older results wrote strings).
mod key_label {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(label: &str, s: S) -> Result<S::Ok, S::Error> {
        match label.parse::<u64>() {
            Ok(n) if n.to_string() == label => s.serialize_u64(n),
            _ => s.serialize_str(label),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        Ok(match Either::deserialize(d)? {
            Either::Number(n) => n.to_string(),
            Either::Text(t) => t,
        })
    }
}

/// How an op ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

/// One completed op, as the statistics need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpSample {
    pub f: String,
    pub outcome: Outcome,
    /// It writes (a write, cas, transfer, add, a transaction with an
    /// append): anything but a read.
    pub write: bool,
    /// Nanoseconds since the run's start.
    pub invoked_ns: u64,
    pub completed_ns: u64,
}

/// A fault window, in nanoseconds since the run's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Window {
    fn contains(&self, t: u64) -> bool {
        self.start_ns <= t && t < self.end_ns
    }
}

/// Counts, throughput and latencies of a workload. `elapsed_ns` is the length
/// of the workload phase.
pub fn workload_stats(samples: &[OpSample], windows: &[Window], elapsed_ns: u64) -> WorkloadStats {
    let mut ops = Counts::default();
    let mut by_f: BTreeMap<String, Counts> = BTreeMap::new();
    let (mut all, mut inside, mut outside) = (Vec::new(), Vec::new(), Vec::new());
    for s in samples {
        ops.add(s.outcome);
        by_f.entry(s.f.to_string()).or_default().add(s.outcome);
        if s.outcome == Outcome::Ok {
            let latency = s.completed_ns.saturating_sub(s.invoked_ns);
            all.push(latency);
            if windows.iter().any(|w| w.contains(s.invoked_ns)) {
                inside.push(latency);
            } else {
                outside.push(latency);
            }
        }
    }
    let secs = elapsed_ns as f64 / 1e9;
    WorkloadStats {
        kind: "register".to_string(),
        ops,
        by_f,
        throughput_ok_per_s: if secs > 0.0 {
            round3(ops.ok as f64 / secs)
        } else {
            0.0
        },
        latency: latency(all),
        latency_in_faults: latency(inside),
        latency_outside_faults: latency(outside),
    }
}

/// Percentiles (nearest rank) of latencies in nanoseconds, in milliseconds.
pub fn latency(mut ns: Vec<u64>) -> Latency {
    if ns.is_empty() {
        return Latency::default();
    }
    ns.sort_unstable();
    let at = |p: f64| {
        let rank = ((p / 100.0) * ns.len() as f64).ceil() as usize;
        round3(ns[rank.clamp(1, ns.len()) - 1] as f64 / 1e6)
    };
    Latency {
        count: ns.len() as u64,
        p50_ms: Some(at(50.0)),
        p90_ms: Some(at(90.0)),
        p99_ms: Some(at(99.0)),
        max_ms: Some(round3(*ns.last().expect("not empty") as f64 / 1e6)),
    }
}

/// From `heal_ns` until the first op invoked at or after it completed ok, in
/// milliseconds; `None` if none did.
pub fn recovery_ms(samples: &[OpSample], heal_ns: u64) -> Option<u64> {
    samples
        .iter()
        .filter(|s| s.outcome == Outcome::Ok && s.invoked_ns >= heal_ns)
        .map(|s| s.completed_ns)
        .min()
        .map(|t| (t - heal_ns) / 1_000_000)
}

/// What counts as recovered: throughput back to at least `share` of its
/// level before the fault, in every 1 s bucket for `sustain_s` seconds
/// (an experiment's `[checker]` `recovery_share` and `recovery_sustain`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoveryRule {
    /// In (0, 1]; 0.8 by default.
    pub share: f64,
    /// Whole seconds, at least 1; 3 by default.
    pub sustain_s: u32,
}

impl Default for RecoveryRule {
    fn default() -> RecoveryRule {
        RecoveryRule {
            share: 0.8,
            sustain_s: 3,
        }
    }
}

/// The level before a fault is measured over up to this much steady time
/// before it was applied (5 s).
pub const LEVEL_WINDOW_NS: u64 = 5_000_000_000;
/// Less steady time than this (1 s) before a fault gives it no level.
pub const LEVEL_MIN_NS: u64 = 1_000_000_000;
/// Throughput recovery is looked for on a grid of this step after the heal
/// (100 ms): its figure is a multiple of it.
pub const RECOVERY_STEP_NS: u64 = 100_000_000;
const BUCKET_NS: u64 = 1_000_000_000;

/// After a heal: how long until the cluster was back, by throughput and by
/// writes (results.json `faults[].recovery`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// From the heal until throughput was back: the first moment after it
    /// (on a 100 ms grid) from which every 1 s bucket for `sustain_s`
    /// seconds held at least `share` of `level_ok_per_s` ok ops. `null`:
    /// not recovered, `not_recovered` says until when.
    pub throughput_ms: Option<u64>,
    /// Why `throughput_ms` is null: `end-of-run` (not back before the
    /// workload ended), `next-fault` (not back before the next fault was
    /// applied), `no-level` (no steady time with ok ops before the fault
    /// to be back to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_recovered: Option<NotRecovered>,
    /// Ok ops per second before the fault: over up to 5 s of steady time
    /// before it was applied (no fault in place, no earlier fault's
    /// recovery under way).
    pub level_ok_per_s: Option<f64>,
    /// How much steady time the level was measured over, in seconds.
    pub level_measured_s: f64,
    /// The share of the level that counts as back.
    pub share: f64,
    /// For how long it must hold, in seconds.
    pub sustain_s: u32,
    /// From the heal until the first write (anything but a read) invoked
    /// after it succeeded; `null`: none did. For any fault: after a
    /// leader's kill, pause or partition, when writes are back.
    pub write_ms: Option<u64>,
}

/// Why throughput did not recover after a heal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotRecovered {
    EndOfRun,
    NextFault,
    NoLevel,
}

impl NotRecovered {
    /// In words, for the reports.
    pub fn words(self) -> &'static str {
        match self {
            NotRecovered::EndOfRun => "not recovered by the end of the run",
            NotRecovered::NextFault => "not recovered before the next fault",
            NotRecovered::NoLevel => "no steady level before the fault to recover to",
        }
    }
}

/// A fault's window for [`recoveries`], in nanoseconds since the run's
/// start: `None` if never applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultSpan {
    pub applied_ns: u64,
    /// `None`: not healed.
    pub healed_ns: Option<u64>,
}

/// Each fault's [`Recovery`] (`None` for a fault not applied or not
/// healed), from the workload's ops (final reads left out) and the fault
/// windows; the workload ran until `end_ns`.
///
/// The level before a fault: ok ops (by completion) per second over the
/// steady time in the 5 s before it was applied, going back further past
/// what is not steady (another fault in place, an earlier fault's
/// recovery not yet done) until 5 s are found or the workload's first op;
/// less than 1 s of it, or no ok op in it, is no level. After the heal,
/// throughput is looked at until the workload's end or the next fault's
/// application, whichever is first.
pub fn recoveries(
    samples: &[OpSample],
    faults: &[Option<FaultSpan>],
    end_ns: u64,
    rule: RecoveryRule,
) -> Vec<Option<Recovery>> {
    let mut oks: Vec<u64> = samples
        .iter()
        .filter(|s| s.outcome == Outcome::Ok)
        .map(|s| s.completed_ns)
        .collect();
    oks.sort_unstable();
    let count = |from: u64, to: u64| -> u64 {
        (oks.partition_point(|&t| t < to) - oks.partition_point(|&t| t < from)) as u64
    };
    let first_op = samples.iter().map(|s| s.invoked_ns).min().unwrap_or(end_ns);
    // Not steady: every fault's window, then each recovery as found.
    let mut unsteady: Vec<(u64, u64)> = faults
        .iter()
        .flatten()
        .map(|f| {
            (
                f.applied_ns,
                f.healed_ns.unwrap_or(end_ns).max(f.applied_ns),
            )
        })
        .collect();
    let sustain_ns = u64::from(rule.sustain_s.max(1)) * BUCKET_NS;
    let mut order: Vec<usize> = (0..faults.len()).filter(|i| faults[*i].is_some()).collect();
    order.sort_by_key(|i| faults[*i].map(|f| f.applied_ns));
    let mut out = vec![None; faults.len()];
    for i in order {
        let Some(FaultSpan {
            applied_ns,
            healed_ns: Some(heal),
        }) = faults[i]
        else {
            continue;
        };
        // The level before: steady time, newest first, up to 5 s.
        let (mut measured, mut oks_in) = (0u64, 0u64);
        for (from, to) in steady(&unsteady, first_op, applied_ns).into_iter().rev() {
            let from = from.max(to.saturating_sub(LEVEL_WINDOW_NS - measured));
            measured += to - from;
            oks_in += count(from, to);
            if measured >= LEVEL_WINDOW_NS {
                break;
            }
        }
        let level = (measured >= LEVEL_MIN_NS && oks_in > 0)
            .then(|| oks_in as f64 / (measured as f64 / 1e9));
        // Looked at until the next fault or the end.
        let next = faults
            .iter()
            .flatten()
            .map(|f| f.applied_ns)
            .filter(|a| *a >= heal)
            .min();
        let until = next.map_or(end_ns, |n| n.min(end_ns));
        let (throughput_ms, not_recovered, back_at) = match level {
            None => (None, Some(NotRecovered::NoLevel), until),
            Some(level) => {
                let need = rule.share * level;
                let mut t = heal;
                let mut found = None;
                while t + sustain_ns <= until {
                    let holds = (0..u64::from(rule.sustain_s.max(1))).all(|m| {
                        let from = t + m * BUCKET_NS;
                        count(from, from + BUCKET_NS) as f64 >= need
                    });
                    if holds {
                        found = Some(t);
                        break;
                    }
                    t += RECOVERY_STEP_NS;
                }
                match found {
                    Some(t) => (Some((t - heal) / 1_000_000), None, t),
                    None if next.is_some_and(|n| n < end_ns) => {
                        (None, Some(NotRecovered::NextFault), until)
                    }
                    None => (None, Some(NotRecovered::EndOfRun), until),
                }
            }
        };
        if back_at > heal {
            unsteady.push((heal, back_at));
        }
        let write_ms = samples
            .iter()
            .filter(|s| s.write && s.outcome == Outcome::Ok && s.invoked_ns >= heal)
            .map(|s| s.completed_ns)
            .min()
            .map(|t| (t - heal) / 1_000_000);
        out[i] = Some(Recovery {
            throughput_ms,
            not_recovered,
            level_ok_per_s: level.map(round3),
            level_measured_s: round3(measured as f64 / 1e9),
            share: rule.share,
            sustain_s: rule.sustain_s.max(1),
            write_ms,
        });
    }
    out
}

/// Fill in `recovery` for the healed faults of results written before it
/// existed, from the history's samples (final reads are left out here)
/// and the workload's length `end_ns`, as [`recoveries`] does for a run.
/// Returns whether it filled any.
pub fn fill_recovery(
    r: &mut Results,
    samples: &[OpSample],
    end_ns: u64,
    rule: RecoveryRule,
) -> bool {
    if !r
        .faults
        .iter()
        .any(|f| f.healed_at_ms.is_some() && f.recovery.is_none())
    {
        return false;
    }
    let workload: Vec<OpSample> = samples
        .iter()
        .filter(|s| s.f != "final-read")
        .cloned()
        .collect();
    let spans: Vec<Option<FaultSpan>> = r
        .faults
        .iter()
        .map(|f| {
            Some(FaultSpan {
                applied_ns: f.applied_at_ms? * 1_000_000,
                healed_ns: f.healed_at_ms.map(|h| h * 1_000_000),
            })
        })
        .collect();
    let mut filled = false;
    for (f, rec) in r
        .faults
        .iter_mut()
        .zip(recoveries(&workload, &spans, end_ns, rule))
    {
        if f.recovery.is_none() && rec.is_some() {
            f.recovery = rec;
            filled = true;
        }
    }
    filled
}

/// The parts of `[from, to)` that no span of `unsteady` covers, oldest
/// first.
fn steady(unsteady: &[(u64, u64)], from: u64, to: u64) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = unsteady
        .iter()
        .map(|(a, b)| ((*a).max(from), (*b).min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort_unstable();
    let mut out = Vec::new();
    let mut at = from;
    for (a, b) in spans {
        if a > at {
            out.push((at, a));
        }
        at = at.max(b);
    }
    if at < to {
        out.push((at, to));
    }
    out
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Unix milliseconds as RFC 3339 UTC, `2026-11-27T03:04:05.678Z`.
pub fn rfc3339(unix_ms: u64) -> String {
    let (date, ms) = (unix_ms / 86_400_000, unix_ms % 86_400_000);
    let (y, m, d) = civil_from_days(date as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1_000) % 60,
        ms % 1_000
    )
}

/// Unix milliseconds as a compact UTC stamp for directory names,
/// `20261127T030405Z`.
pub fn compact_utc(unix_ms: u64) -> String {
    let full = rfc3339(unix_ms);
    let mut out: String = full[..19]
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    out.push('Z');
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cycle(name: &str) -> Anomaly {
        Anomaly::TxnCycle(txn::CycleAnomaly {
            anomaly: name.into(),
            txns: Vec::new(),
            steps: Vec::new(),
            explanation: format!("{name}: ..."),
        })
    }

    #[test]
    fn only_what_rules_out_the_model_decides() {
        let summary = |model| CheckerSummary {
            verdict: Verdict::Invalid,
            keys: 2,
            keys_valid: 1,
            keys_invalid: 1,
            keys_unknown: 0,
            elapsed_ms: 1.0,
            anomalies: vec![cycle("G2-item"), cycle("G-single-item")],
            undecided: Vec::new(),
            model: None,
            figures: None,
            txn: Some(TxnSummary {
                model,
                counts: Default::default(),
                graph: Default::default(),
                models: Vec::new(),
                not: Vec::new(),
                also_not: Vec::new(),
                anomaly_types: Vec::new(),
                anomalies_omitted: BTreeMap::new(),
                uncertainties: Vec::new(),
            }),
        };
        let si = summary(txn::ConsistencyModel::SnapshotIsolation);
        let names: Vec<&str> = si.decisive().map(Anomaly::class).collect();
        assert_eq!(names, ["G-single-item"], "write skew is allowed by SI");
        let ser = summary(txn::ConsistencyModel::Serializable);
        assert_eq!(ser.decisive().count(), 2);
        let rc = summary(txn::ConsistencyModel::ReadCommitted);
        assert_eq!(rc.decisive().count(), 0);
    }

    fn op(f: &'static str, outcome: Outcome, invoked_ms: u64, latency_ms: u64) -> OpSample {
        OpSample {
            write: f != "read",
            f: f.to_string(),
            outcome,
            invoked_ns: invoked_ms * 1_000_000,
            completed_ns: (invoked_ms + latency_ms) * 1_000_000,
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let l = latency((1..=100).map(|ms| ms * 1_000_000).collect());
        assert_eq!(l.count, 100);
        assert_eq!(l.p50_ms, Some(50.0));
        assert_eq!(l.p90_ms, Some(90.0));
        assert_eq!(l.p99_ms, Some(99.0));
        assert_eq!(l.max_ms, Some(100.0));
        assert_eq!(latency(vec![]), Latency::default());
        assert_eq!(latency(vec![3_000_000]).p99_ms, Some(3.0));
    }

    #[test]
    fn stats_split_fault_windows() {
        let samples = [
            op("read", Outcome::Ok, 0, 2),
            op("write", Outcome::Ok, 100, 50),
            op("write", Outcome::Info, 120, 1000),
            op("cas", Outcome::Fail, 130, 1),
            op("read", Outcome::Ok, 300, 4),
        ];
        let windows = [Window {
            start_ns: 90_000_000,
            end_ns: 200_000_000,
        }];
        let s = workload_stats(&samples, &windows, 2_000_000_000);
        assert_eq!(
            s.ops,
            Counts {
                ok: 3,
                fail: 1,
                info: 1
            }
        );
        assert_eq!(
            s.by_f["write"],
            Counts {
                ok: 1,
                fail: 0,
                info: 1
            }
        );
        assert_eq!(s.throughput_ok_per_s, 1.5);
        assert_eq!(s.latency_in_faults.count, 1);
        assert_eq!(s.latency_in_faults.max_ms, Some(50.0));
        assert_eq!(s.latency_outside_faults.count, 2);
    }

    #[test]
    fn recovery_is_the_first_ok_after_the_heal() {
        let samples = [
            op("read", Outcome::Ok, 10, 1),
            op("read", Outcome::Info, 110, 500),
            op("read", Outcome::Ok, 130, 20),
            op("read", Outcome::Ok, 140, 2),
        ];
        assert_eq!(recovery_ms(&samples, 100_000_000), Some(42));
        assert_eq!(recovery_ms(&samples, 1_000_000_000), None);
    }

    /// Ok ops every `every_ms` from `from_ms` to `to_ms` (reads, or
    /// writes), each taking 2 ms.
    fn steady(f: &'static str, from_ms: u64, to_ms: u64, every_ms: u64) -> Vec<OpSample> {
        (from_ms..to_ms)
            .step_by(every_ms as usize)
            .map(|t| op(f, Outcome::Ok, t, 2))
            .collect()
    }

    fn span(applied_ms: u64, healed_ms: u64) -> Option<FaultSpan> {
        Some(FaultSpan {
            applied_ns: applied_ms * 1_000_000,
            healed_ns: Some(healed_ms * 1_000_000),
        })
    }

    #[test]
    fn throughput_that_dips_and_comes_back() {
        // 100 ok/s until the fault at 10 s, nothing during it, 20/s for 2 s
        // after the heal at 15 s, then 100/s again until 30 s.
        let mut samples = steady("read", 0, 10_000, 10);
        samples.extend(steady("read", 15_000, 17_000, 50));
        samples.extend(steady("read", 17_000, 30_000, 10));
        let r = recoveries(
            &samples,
            &[span(10_000, 15_000)],
            30_000_000_000,
            RecoveryRule::default(),
        );
        let r = r[0].as_ref().unwrap();
        // The first ok op came 2 ms after the heal; throughput 2 s later.
        assert_eq!(recovery_ms(&samples, 15_000_000_000), Some(2));
        assert_eq!(r.level_ok_per_s, Some(100.0));
        assert_eq!(r.level_measured_s, 5.0);
        // From 16.8 s every 1 s bucket holds at least 80 (80 % of 100):
        // 0.2 s at 20/s and 0.8 s at 100/s make 84; from 16.7 s, 76.
        assert_eq!(r.throughput_ms, Some(1_800));
        assert_eq!(r.not_recovered, None);
        // No write at all after the heal.
        assert_eq!(r.write_ms, None);

        // A stricter rule waits for the full level.
        let strict = RecoveryRule {
            share: 1.0,
            sustain_s: 5,
        };
        let r = recoveries(&samples, &[span(10_000, 15_000)], 30_000_000_000, strict);
        assert_eq!(r[0].as_ref().unwrap().throughput_ms, Some(2_000));
    }

    #[test]
    fn throughput_that_never_comes_back() {
        // Half the level after the heal, to the end of the run.
        let mut samples = steady("read", 0, 10_000, 10);
        samples.extend(steady("read", 12_000, 30_000, 20));
        let r = recoveries(
            &samples,
            &[span(10_000, 12_000)],
            30_000_000_000,
            RecoveryRule::default(),
        );
        let r = r[0].as_ref().unwrap();
        assert_eq!(r.throughput_ms, None);
        assert_eq!(r.not_recovered, Some(NotRecovered::EndOfRun));
        assert_eq!(recovery_ms(&samples, 12_000_000_000), Some(2));
        // Back, but too late to hold for 3 s before the end: not recovered.
        let mut samples = steady("read", 0, 10_000, 10);
        samples.extend(steady("read", 28_000, 30_000, 10));
        let r = recoveries(
            &samples,
            &[span(10_000, 12_000)],
            30_000_000_000,
            RecoveryRule::default(),
        );
        assert_eq!(
            r[0].as_ref().unwrap().not_recovered,
            Some(NotRecovered::EndOfRun)
        );
    }

    #[test]
    fn a_fault_with_no_ops_before_has_no_level() {
        // Applied before the first op; and one whose only time before was
        // all failures.
        let samples = steady("read", 500, 20_000, 10);
        let r = recoveries(
            &samples,
            &[span(0, 5_000)],
            20_000_000_000,
            RecoveryRule::default(),
        );
        let r = r[0].as_ref().unwrap();
        assert_eq!(r.level_ok_per_s, None);
        assert_eq!(r.level_measured_s, 0.0);
        assert_eq!(r.throughput_ms, None);
        assert_eq!(r.not_recovered, Some(NotRecovered::NoLevel));
        let failing: Vec<OpSample> = (0..3_000)
            .step_by(10)
            .map(|t| op("read", Outcome::Fail, t, 2))
            .chain(steady("read", 6_000, 20_000, 10))
            .collect();
        let r = recoveries(
            &failing,
            &[span(3_000, 6_000)],
            20_000_000_000,
            RecoveryRule::default(),
        );
        assert_eq!(
            r[0].as_ref().unwrap().not_recovered,
            Some(NotRecovered::NoLevel)
        );
        // Not applied, or not healed: no recovery at all.
        let unhealed = Some(FaultSpan {
            applied_ns: 1_000_000_000,
            healed_ns: None,
        });
        assert_eq!(
            recoveries(
                &samples,
                &[None, unhealed],
                20_000_000_000,
                RecoveryRule::default()
            ),
            [None, None]
        );
    }

    #[test]
    fn the_next_fault_cuts_a_recovery_short_and_its_level_skips_the_dip() {
        // 100/s, fault 1 at 5-8 s, 10/s after it until fault 2 at 10-12 s,
        // then 100/s.
        let mut samples = steady("read", 0, 5_000, 10);
        samples.extend(steady("read", 8_000, 10_000, 100));
        samples.extend(steady("read", 12_000, 30_000, 10));
        let r = recoveries(
            &samples,
            &[span(5_000, 8_000), span(10_000, 12_000)],
            30_000_000_000,
            RecoveryRule::default(),
        );
        let (first, second) = (r[0].as_ref().unwrap(), r[1].as_ref().unwrap());
        assert_eq!(first.not_recovered, Some(NotRecovered::NextFault));
        // The second fault's level is the first's (0-5 s), not the dip.
        assert_eq!(second.level_ok_per_s, Some(100.0));
        assert_eq!(second.throughput_ms, Some(0));
    }

    #[test]
    fn writes_back_is_timed_apart_from_reads() {
        // Reads come back at once after the heal at 5 s; writes 2.5 s later.
        let mut samples = steady("read", 0, 3_000, 10);
        samples.extend(steady("write", 0, 3_000, 20));
        samples.extend(steady("read", 5_000, 20_000, 10));
        samples.push(op("write", Outcome::Info, 5_000, 1_000));
        samples.push(op("write", Outcome::Fail, 6_000, 10));
        samples.extend(steady("write", 7_500, 20_000, 20));
        let r = recoveries(
            &samples,
            &[span(3_000, 5_000)],
            20_000_000_000,
            RecoveryRule::default(),
        );
        let r = r[0].as_ref().unwrap();
        assert_eq!(recovery_ms(&samples, 5_000_000_000), Some(2));
        assert_eq!(r.write_ms, Some(2_502));
    }

    #[test]
    fn a_register_key_is_a_number_as_in_the_history_and_old_strings_still_read() {
        let a = RegisterAnomaly {
            key: "4".into(),
            class: crate::checker::AnomalyClass::StaleRead,
            explanation: "e".into(),
            linearizable_prefix: None,
            ops: vec![serde_json::json!({"key": 4})],
        };
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["key"], serde_json::json!(4));
        assert_eq!(json["key"], json["ops"][0]["key"]);
        assert_eq!(serde_json::from_value::<RegisterAnomaly>(json).unwrap(), a);
        // Written before: a string.
        let mut old = serde_json::to_value(&a).unwrap();
        old["key"] = "4".into();
        assert_eq!(serde_json::from_value::<RegisterAnomaly>(old).unwrap(), a);
        // Labels that are not integer keys stay strings.
        for label in ["\"k1\"", "all keys", "007"] {
            let u = Undecided {
                key: label.into(),
                reason: "r".into(),
            };
            let json = serde_json::to_value(&u).unwrap();
            assert_eq!(json["key"], label);
            assert_eq!(serde_json::from_value::<Undecided>(json).unwrap(), u);
        }
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_748_645_678), "2026-11-27T03:04:05.678Z");
        assert_eq!(compact_utc(1_795_748_645_678), "20261127T030405Z");
    }
}
