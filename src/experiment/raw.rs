//! The experiment file exactly as written: serde types that refuse unknown
//! fields. Kept apart from the checked types in the parent module, so that
//! the file format can change without touching the planner.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExperiment {
    pub name: String,
    pub description: Option<String>,
    pub duration: String,
    pub seed: Option<i64>,
    /// What a run should find: `valid` (the default) or `invalid` (a
    /// known-bad control).
    pub expect: Option<String>,
    pub cluster: RawCluster,
    pub workload: RawWorkload,
    pub checker: Option<RawChecker>,
    #[serde(default)]
    pub nemesis: Vec<RawNemesis>,
}

/// `[checker]`: what the history is held to (list-append).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChecker {
    pub model: Option<String>,
    /// The share of its level before a fault that throughput must be back
    /// to after the heal (0.8).
    pub recovery_share: Option<f64>,
    /// For how long, in whole seconds (`"3s"`).
    pub recovery_sustain: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// `compose` (default) or `swarm`.
    pub orchestrator: Option<String>,
    pub compose_file: String,
    /// The compose project (compose); absent for a Swarm, which has `stack`.
    pub project: Option<String>,
    /// The Swarm stack's name (swarm only).
    pub stack: Option<String>,
    /// `[cluster.nodes]`: each Swarm node's engine and address (swarm only).
    #[serde(default)]
    pub nodes: BTreeMap<String, RawNode>,
    #[serde(default)]
    pub components: BTreeMap<String, Vec<String>>,
    pub up: Option<bool>,
    pub down: Option<bool>,
    /// `lazy` (default) or `strict`: chaos-fs's mode under the data of the
    /// services a disk fault targets.
    pub chaos_fs: Option<String>,
    pub ready_timeout: Option<String>,
    pub recovery: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, RawEnvValue>,
}

/// One Swarm node: its Docker engine and where its host-mode ports are
/// reached.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub docker: Option<String>,
    pub address: Option<String>,
    pub tls_dir: Option<String>,
    pub ssh_config: Option<String>,
}

/// The value of a `cluster.env` variable: a string, nothing else (a TOML
/// `false` or `1` would leave open how it is spelled to compose).
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a string; quote the value, e.g. `VAR = \"false\"`"
)]
pub enum RawEnvValue {
    Text(String),
}

/// `[workload]`: the fields every workload has. A workload's own fields
/// (`ops_per_txn`, `accounts`, ...) are read by its room from the table
/// itself, so serde lets unknown fields through here; the validator
/// refuses any field that is neither common nor the room's
/// ([`COMMON_WORKLOAD_FIELDS`]).
#[derive(Debug, Deserialize)]
pub struct RawWorkload {
    pub kind: Option<String>,
    pub client: String,
    #[serde(default)]
    pub endpoints: Vec<String>,
    pub keys: Option<u64>,
    pub key_ops: Option<u64>,
    pub clients: Option<u64>,
    pub rate: Option<u64>,
    pub timeout: Option<String>,
    pub read_mode: Option<String>,
    /// `serializable`, `repeatable-read`, `read-committed` (PostgreSQL).
    pub isolation: Option<String>,
    /// Services the reads go to (a PostgreSQL replica).
    #[serde(default)]
    pub read_endpoints: Vec<String>,
    /// Op name to weight; the room says which names it takes.
    pub mix: Option<BTreeMap<String, u64>>,
    /// `[workload.adapter]`: the adapter command of `client = "process"`.
    pub adapter: Option<RawAdapter>,
}

/// `[workload.adapter]`: the program chaos starts for `client =
/// "process"` (`docs/clients.md`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdapter {
    /// The program and its arguments, run from the experiment file's
    /// directory.
    pub command: Vec<String>,
    /// The port inside each endpoint's container that the adapter talks
    /// to (its published address is what the adapter is given).
    pub port: u16,
    /// Passed to the adapter verbatim in its `init` message.
    pub options: Option<toml::Table>,
}

/// The fields of [`RawWorkload`], as the file spells them.
pub const COMMON_WORKLOAD_FIELDS: &[&str] = &[
    "kind",
    "client",
    "endpoints",
    "keys",
    "key_ops",
    "clients",
    "rate",
    "timeout",
    "read_mode",
    "isolation",
    "read_endpoints",
    "mix",
    "adapter",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNemesis {
    pub fault: String,
    pub targets: Option<RawTargets>,
    pub schedule: Option<RawSchedule>,
    /// Exact faults instead of `targets` and `schedule`.
    pub faults: Option<Vec<RawExplicitFault>>,
    pub partition: Option<String>,
    pub network: Option<String>,
    pub grace: Option<String>,
    pub delay: Option<String>,
    pub jitter: Option<String>,
    pub loss: Option<f64>,
    /// netem: percent of packets sent twice.
    pub duplicate: Option<f64>,
    /// netem: percent of packets with a flipped bit.
    pub corrupt: Option<f64>,
    /// netem: percent of packets sent at once, ahead of the delayed ones.
    pub reorder: Option<f64>,
    /// power-loss: a prefix of the last unsynced write survives.
    pub torn: Option<bool>,
    /// disk-full: ENOSPC after this many more bytes.
    pub after_bytes: Option<u64>,
    /// io-error: percent of the chosen operations that fail.
    pub share: Option<f64>,
    /// io-error, io-delay: the operations (read, write, fsync, open, create).
    pub ops: Option<Vec<String>>,
    /// io-error, io-delay: only files under this glob (relative to the
    /// data directory).
    pub path: Option<String>,
    /// bandwidth: the rate a target may send at (`"1mbit"`).
    pub rate: Option<String>,
    /// cpu: the fraction of a core the target may use.
    pub cpus: Option<f64>,
    /// memory: the target's memory limit (`"256MiB"`).
    pub memory: Option<String>,
    /// clock: how the clock moves (`offset`, `rate`, `strobe`).
    pub clock: Option<String>,
    /// clock offset and strobe: the shift (`"+30s"`, `"-5m"`).
    pub offset: Option<String>,
    /// clock rate: how many times as fast as the real clock.
    pub factor: Option<f64>,
    /// clock strobe: how long each half of the strobe lasts.
    pub period: Option<String>,
}

/// One exact fault: `{ at = "5s", duration = "4s", services = ["etcd1"] }`
/// (or `role` with `component`, or `drops` for a partition's cut).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExplicitFault {
    pub at: String,
    pub duration: String,
    pub services: Option<Vec<String>>,
    pub role: Option<String>,
    pub component: Option<String>,
    pub drops: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTargets {
    pub services: Option<Vec<String>>,
    pub one_of: Option<Vec<String>>,
    pub some_of: Option<Vec<String>>,
    pub count: Option<u64>,
    pub role: Option<String>,
    pub component: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub start: Option<String>,
    pub interval: RawDurationRange,
    pub duration: RawDurationRange,
    pub count: Option<u64>,
}

/// `"5s"` or `["2s", "8s"]`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a duration such as \"5s\", or a range such as [\"2s\", \"8s\"]"
)]
pub enum RawDurationRange {
    Fixed(String),
    Range(Vec<String>),
}
