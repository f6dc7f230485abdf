//! Experiment files: the TOML a user writes, checked and turned into an
//! [`Experiment`].
//!
//! Pure: takes the file's text and a label for messages, never touches the
//! file system, Docker or the clock (the shell reads files, see
//! [`crate::loader`]). Owns the schema (the `Raw*` types: what the user
//! typed, unknown fields refused), validation with errors that name the file,
//! line, column and field, and the resolved types the planner consumes.
//! The field-by-field reference is `docs/experiments.md`.

pub mod endpoint;
pub mod overlay;
mod raw;
pub mod spans;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use toml::de::DeTable;

use crate::duration;
use raw::RawExperiment;
use spans::SpanIndex;

/// Upper bounds that catch typos (an extra zero or three) before they reach a
/// cluster.
pub mod limits {
    pub const MAX_CLIENTS: u64 = 1_000;
    pub const MAX_KEYS: u64 = 1_000_000;
    pub const MAX_KEY_OPS: u64 = 1_000_000;
    pub const MAX_RATE: u64 = 100_000;
    pub const MAX_MIX_WEIGHT: u64 = 1_000_000;
    pub const MAX_TXN_OPS: u64 = 64;
    pub const MAX_ACCOUNTS: u64 = 10_000;
    pub const MAX_FAULT_COUNT: u64 = 100_000;
    pub const MAX_NEMESES: usize = 64;
    /// The longest run: one day.
    pub const MAX_RUN: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
}

/// A checked experiment, ready to plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    pub name: String,
    pub description: String,
    #[serde(serialize_with = "ser_duration")]
    pub duration: Duration,
    /// The seed written in the file, if any (`--seed` overrides it).
    pub seed: Option<u64>,
    pub cluster: Cluster,
    pub workload: Workload,
    pub checker: CheckerConfig,
    pub nemeses: Vec<Nemesis>,
}

/// The compose cluster the experiment runs against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    /// The compose file as written (relative to the experiment file).
    pub compose_file: String,
    /// The compose project name: chaos touches only this project's containers.
    pub project: String,
    /// Component name (e.g. `etcd`, `tikv`) to the compose services that are
    /// its nodes.
    pub components: BTreeMap<String, Vec<String>>,
    /// Bring the cluster up before the run.
    pub up: bool,
    /// Tear the cluster down (with its volumes) after the run.
    pub down: bool,
    /// How long to wait for every service to be healthy.
    #[serde(serialize_with = "ser_duration")]
    pub ready_timeout: Duration,
    /// How long to let the cluster recover after the last heal before the
    /// final reads.
    #[serde(serialize_with = "ser_duration")]
    pub recovery: Duration,
    /// Environment variables for the compose command line (`up`, `down`),
    /// so that the compose file can read `${VAR:-default}`. Empty: none.
    /// Compose recreates the containers whose environment changed on `up`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Who runs the cluster: a compose project on the local engine (the
    /// default, not serialized), or a stack on a Docker Swarm (`project` is
    /// then the stack's name).
    #[serde(skip_serializing_if = "Orchestrator::is_compose")]
    pub orchestrator: Orchestrator,
    /// chaos-fs's mode under the data of the services a disk fault targets
    /// (`cluster.chaos_fs`): `lazy` (LazyFS's rules: metadata durable at
    /// once, file data at its fsync) or `strict` (directory entries too
    /// wait for the directory's fsync).
    pub chaos_fs: ChaosFsMode,
}

/// `cluster.chaos_fs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChaosFsMode {
    #[default]
    Lazy,
    Strict,
}

impl ChaosFsMode {
    pub fn name(self) -> &'static str {
        match self {
            ChaosFsMode::Lazy => "lazy",
            ChaosFsMode::Strict => "strict",
        }
    }
}

/// The cluster back end: `[cluster] orchestrator`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Orchestrator {
    /// `docker compose` on the local engine (or `DOCKER_HOST`).
    #[default]
    Compose,
    /// `docker stack deploy` on a Swarm; each fault goes through the engine
    /// of the node that runs its target.
    Swarm {
        /// Node hostname (as the Swarm names it) to its engine and address.
        nodes: BTreeMap<String, SwarmNode>,
    },
}

impl Orchestrator {
    pub fn is_compose(&self) -> bool {
        matches!(self, Orchestrator::Compose)
    }

    /// The Swarm's nodes (empty for compose).
    pub fn swarm_nodes(&self) -> Option<&BTreeMap<String, SwarmNode>> {
        match self {
            Orchestrator::Compose => None,
            Orchestrator::Swarm { nodes } => Some(nodes),
        }
    }
}

/// One Swarm node, as `[cluster.nodes]` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwarmNode {
    /// Its Docker engine: `unix:///path`, `tcp://host:port` (with
    /// `tls_dir` for TLS), or `ssh://[user@]host[:port][/socket]`
    /// ([`endpoint::Endpoint`]).
    pub docker: String,
    /// The host (name or IP) where the node's host-mode published ports
    /// are reached from this machine.
    pub address: String,
    /// For `tcp://`: the directory with `ca.pem`, `cert.pem` and `key.pem`
    /// (the docker CLI's `DOCKER_CERT_PATH` layout); the engine is then
    /// spoken to over TLS, each side verifying the other. Absolute or `~/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_dir: Option<String>,
    /// For `ssh://`: an ssh_config file given to `ssh -F` (identity, port,
    /// known hosts). Absolute or `~/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_config: Option<String>,
}

impl Cluster {
    /// `cluster env: A=1 B=x` for people, or `None` without variables.
    pub fn describe_env(&self) -> Option<String> {
        if self.env.is_empty() {
            return None;
        }
        let pairs: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Some(format!("cluster env: {}", pairs.join(" ")))
    }
}

/// Variable name prefixes `cluster.env` refuses: they change what the
/// compose and docker command lines themselves do (which project, which
/// files, which engine), and chaos must act on the project it names.
pub const RESERVED_ENV_PREFIXES: &[&str] = &["COMPOSE_", "DOCKER_"];

/// Which client adapter drives the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Etcd,
    Surrealdb,
}

impl ClientKind {
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Etcd => "etcd",
            ClientKind::Surrealdb => "surrealdb",
        }
    }

    /// The workloads whose ops this client serves (`workload.kind`
    /// values): what [`crate::client::AnyClient::call`] can run, and what
    /// the validator checks an experiment's pair against.
    pub fn serves(self) -> &'static [&'static str] {
        match self {
            ClientKind::Etcd => &["register", "list-append", "bank", "set"],
            ClientKind::Surrealdb => &["register", "list-append", "bank", "set"],
        }
    }

    /// The read modes this target offers; the first is the default.
    pub fn read_modes(self) -> &'static [ReadMode] {
        match self {
            ClientKind::Etcd => &[ReadMode::Linearizable, ReadMode::Serializable],
            ClientKind::Surrealdb => &[ReadMode::Linearizable],
        }
    }
}

/// How reads are served, where the target has several ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadMode {
    /// Reads go through consensus (etcd's default).
    Linearizable,
    /// Reads are served by the local member and may be stale.
    Serializable,
}

impl ReadMode {
    pub fn name(self) -> &'static str {
        match self {
            ReadMode::Linearizable => "linearizable",
            ReadMode::Serializable => "serializable",
        }
    }
}

/// Which workload the clients run: a room of [`crate::workload`], by its
/// registry name (`workload.kind`).
#[derive(Clone, Copy)]
pub struct WorkloadKind(&'static dyn crate::workload::Workload);

impl WorkloadKind {
    /// The workload named `name`, if the registry has it.
    pub fn named(name: &str) -> Option<WorkloadKind> {
        crate::workload::by_name(name).map(WorkloadKind)
    }

    /// The register workload, the default.
    pub fn register() -> WorkloadKind {
        WorkloadKind::named("register").expect("the registry has the register workload")
    }

    pub fn name(self) -> &'static str {
        self.0.caps().name
    }

    /// The workload's room.
    pub fn room(self) -> &'static dyn crate::workload::Workload {
        self.0
    }
}

impl Default for WorkloadKind {
    fn default() -> Self {
        WorkloadKind::register()
    }
}

impl PartialEq for WorkloadKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for WorkloadKind {}

impl fmt::Debug for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorkloadKind({})", self.name())
    }
}

impl Serialize for WorkloadKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub client: ClientKind,
    /// Compose services the clients talk to; processes are spread over them.
    pub endpoints: Vec<String>,
    /// Keys in use at any time.
    pub keys: u64,
    /// Operations on a key before it retires and a fresh key takes its place.
    pub key_ops: u64,
    /// Concurrent client processes.
    pub clients: u64,
    /// Target operations per second over all clients.
    pub rate: u64,
    /// Per-operation timeout: past it the outcome is unknown (`info`).
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    pub read_mode: ReadMode,
    /// Relative weights of the ops (micro-ops, for transactions) by name,
    /// as the workload's room allows them ([`crate::workload::Capabilities::mix`]).
    pub mix: BTreeMap<String, u64>,
    /// The room's own parameters, as its `params` checked them (`null`:
    /// none).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub params: serde_json::Value,
}

impl Workload {
    /// The weight of op `f` in the mix (0 when absent).
    pub fn weight(&self, f: &str) -> u64 {
        self.mix.get(f).copied().unwrap_or(0)
    }

    /// The room's parameters as its own type (`T::default()` when the
    /// experiment gave none).
    pub fn params<T: serde::de::DeserializeOwned + Default>(&self) -> T {
        if self.params.is_null() {
            return T::default();
        }
        serde_json::from_value(self.params.clone()).unwrap_or_default()
    }
}

/// What the checker holds the database to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CheckerConfig {
    /// `checker.model`: a consistency model the workload's room offers
    /// ([`crate::workload::Capabilities::models`]); `None`: the room's
    /// default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl CheckerConfig {
    /// The model a run of `kind` is held to: the one named, or the room's
    /// default (`None` for a workload that checks one fixed property).
    pub fn model_for(&self, kind: WorkloadKind) -> Option<&str> {
        self.model
            .as_deref()
            .or_else(|| kind.room().caps().models.first().copied())
    }
}

/// One nemesis: a kind of fault, where it strikes, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nemesis {
    pub fault: Fault,
    pub timing: Timing,
}

/// Where and when a nemesis strikes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// Faults drawn by the seed: targets chosen by the selector, times by
    /// the schedule.
    Scheduled {
        targets: TargetSelector,
        schedule: Schedule,
    },
    /// Exact faults, as written (`faults = [...]`): a shrunk schedule, a
    /// hand-made one. The seed draws nothing for them.
    Explicit(Vec<ExplicitFault>),
}

/// One exact fault of an explicit schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExplicitFault {
    #[serde(serialize_with = "ser_duration")]
    pub at: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub duration: Duration,
    pub targets: ExplicitTargets,
}

/// The targets of an exact fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExplicitTargets {
    /// These services (for an isolate-one or one-way partition: the one
    /// node cut from the rest of its component).
    Services(Vec<String>),
    /// A role of a component, resolved when the fault strikes.
    Role { role: String, component: String },
    /// A partition's exact cut: each node drops what it receives from the
    /// listed nodes.
    Drops(BTreeMap<String, Vec<String>>),
}

/// A fault and the parameters of its kind. Every fault has a heal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// SIGKILL the targets; heal: start them.
    Kill,
    /// SIGTERM, SIGKILL after the grace period; heal: start them.
    Stop {
        #[serde(serialize_with = "ser_duration")]
        grace: Duration,
    },
    /// Freeze the targets' processes; heal: unpause.
    Pause,
    /// Disconnect the targets from a compose network (all of their networks
    /// when none is named); heal: reconnect.
    Disconnect { network: Option<String> },
    /// Drop traffic between groups of nodes with iptables; heal: delete
    /// exactly the rules chaos added.
    Partition { partition: PartitionKind },
    /// Delay and lose packets with netem (where the kernel has it).
    Netem {
        #[serde(serialize_with = "ser_duration")]
        delay: Duration,
        #[serde(serialize_with = "ser_duration")]
        jitter: Duration,
        /// Packet loss in percent.
        loss: f64,
    },
    /// Restart the targets one after another (rolling); heal: make sure all
    /// are running.
    Restart {
        #[serde(serialize_with = "ser_duration")]
        grace: Duration,
    },
    /// A power loss through chaos-fs: every target's file system stops
    /// serving at one instant (with `torn`, a prefix of its last unsynced
    /// write survives first), then the containers are killed: what was not
    /// synced is gone. Heal: start them on what was durable.
    PowerLoss { torn: bool },
    /// Writes and creates fail with ENOSPC (after `after_bytes` more
    /// bytes); heal: clear.
    DiskFull {
        #[serde(skip_serializing_if = "Option::is_none")]
        after_bytes: Option<u64>,
    },
    /// EIO on `share` percent of the chosen operations (under a path
    /// glob); heal: clear.
    IoError {
        share: f64,
        ops: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// The chosen operations (fsync above all) delayed by `delay` plus up
    /// to `jitter`; heal: clear.
    IoDelay {
        #[serde(serialize_with = "ser_duration")]
        delay: Duration,
        #[serde(serialize_with = "ser_duration")]
        jitter: Duration,
        ops: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
}

/// The operations chaos-fs can fail or delay (`ops = [...]`).
pub const IO_OPS: &[&str] = &["read", "write", "fsync", "open", "create"];

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Stop { .. } => "stop",
            Fault::Pause => "pause",
            Fault::Disconnect { .. } => "disconnect",
            Fault::Partition { .. } => "partition",
            Fault::Netem { .. } => "netem",
            Fault::Restart { .. } => "restart",
            Fault::PowerLoss { .. } => "power-loss",
            Fault::DiskFull { .. } => "disk-full",
            Fault::IoError { .. } => "io-error",
            Fault::IoDelay { .. } => "io-delay",
        }
    }

    /// A clock fault: its targets' database must run with libfaketime
    /// (the run's compose override preloads it).
    pub fn needs_faketime(&self) -> bool {
        false
    }

    /// A disk fault: its targets must run on chaos-fs (the run's compose
    /// override puts them there).
    pub fn needs_chaos_fs(&self) -> bool {
        matches!(
            self,
            Fault::PowerLoss { .. }
                | Fault::DiskFull { .. }
                | Fault::IoError { .. }
                | Fault::IoDelay { .. }
        )
    }

    /// A one-line description with its parameters.
    pub fn describe(&self) -> String {
        match self {
            Fault::Kill | Fault::Pause => self.name().to_string(),
            Fault::Stop { grace } => format!("stop (grace {})", duration::format(*grace)),
            Fault::Restart { grace } => format!("restart (grace {})", duration::format(*grace)),
            Fault::Disconnect { network: Some(n) } => format!("disconnect from {n}"),
            Fault::Disconnect { network: None } => "disconnect".to_string(),
            Fault::Partition { partition } => format!("partition {}", partition.name()),
            Fault::Netem {
                delay,
                jitter,
                loss,
            } => format!(
                "netem delay {}±{} loss {loss}%",
                duration::format(*delay),
                duration::format(*jitter)
            ),
            Fault::PowerLoss { torn: false } => "power-loss".to_string(),
            Fault::PowerLoss { torn: true } => "power-loss (torn write)".to_string(),
            Fault::DiskFull { after_bytes: None } => "disk-full".to_string(),
            Fault::DiskFull {
                after_bytes: Some(n),
            } => format!("disk-full after {n} bytes"),
            Fault::IoError { share, ops, path } => format!(
                "io-error {share}% of {}{}",
                ops.join(","),
                path.as_ref()
                    .map(|p| format!(" under {p}"))
                    .unwrap_or_default()
            ),
            Fault::IoDelay {
                delay,
                jitter,
                ops,
                path,
            } => format!(
                "io-delay {}±{} on {}{}",
                duration::format(*delay),
                duration::format(*jitter),
                ops.join(","),
                path.as_ref()
                    .map(|p| format!(" under {p}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// The shapes of a network partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionKind {
    /// Cut one node off from the rest of its component, both ways.
    IsolateOne,
    /// Split the nodes into a majority and a minority, both ways.
    MajorityMinority,
    /// Two halves that cannot talk, and one node that talks to both.
    Bridge,
    /// The target stops receiving from the rest of its component, but can
    /// still send to it.
    OneWay,
}

impl PartitionKind {
    pub const ALL: [PartitionKind; 4] = [
        PartitionKind::IsolateOne,
        PartitionKind::MajorityMinority,
        PartitionKind::Bridge,
        PartitionKind::OneWay,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PartitionKind::IsolateOne => "isolate-one",
            PartitionKind::MajorityMinority => "majority-minority",
            PartitionKind::Bridge => "bridge",
            PartitionKind::OneWay => "one-way",
        }
    }

    /// Kinds that split a whole set of nodes (rather than act on one target).
    pub fn splits_a_set(self) -> bool {
        matches!(
            self,
            PartitionKind::MajorityMinority | PartitionKind::Bridge
        )
    }
}

/// Which containers a fault strikes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSelector {
    /// Exactly these services.
    Services(Vec<String>),
    /// Every node of a component.
    Component(String),
    /// One service chosen by the seed from the set, anew for every fault.
    OneOf(Vec<String>),
    /// `count` services chosen by the seed from the set, anew for every fault.
    SomeOf { set: Vec<String>, count: u64 },
    /// A role (such as `leader`) of a component, resolved when the fault
    /// strikes.
    Role { role: String, component: String },
}

impl TargetSelector {
    pub fn describe(&self) -> String {
        match self {
            TargetSelector::Services(s) => s.join(", "),
            TargetSelector::Component(c) => format!("every {c} node"),
            TargetSelector::OneOf(s) => format!("one of {}", s.join(", ")),
            TargetSelector::SomeOf { set, count } => format!("{count} of {}", set.join(", ")),
            TargetSelector::Role { role, component } => format!("the {component} {role}"),
        }
    }
}

/// Roles a target can resolve at fault time.
pub const ROLES: &[&str] = &["leader"];

/// When a nemesis strikes: first at `start`, each fault lasts a duration from
/// `duration`, then a pause from `interval` before the next, at most `count`
/// times, and never past the end of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    #[serde(serialize_with = "ser_duration")]
    pub start: Duration,
    pub interval: DurationRange,
    pub duration: DurationRange,
    pub count: Option<u64>,
}

/// A duration drawn uniformly from `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DurationRange {
    #[serde(serialize_with = "ser_duration")]
    pub min: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub max: Duration,
}

impl fmt::Display for DurationRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", duration::Human(self.min))
        } else {
            write!(
                f,
                "{}..{}",
                duration::Human(self.min),
                duration::Human(self.max)
            )
        }
    }
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&duration::format(*d))
}

/// `; did you mean `x`?` when one of `candidates` is a likely misspelling
/// of `word` (at most a third of its letters apart), else nothing.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    suggest(word, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// The candidate closest to `word` by edit distance, if it is close enough
/// to be a misspelling (at most a third of the longer word's letters).
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let w: Vec<char> = word.to_ascii_lowercase().chars().collect();
    candidates
        .iter()
        .map(|c| {
            let v: Vec<char> = c.to_ascii_lowercase().chars().collect();
            (edit_distance(&w, &v), *c, w.len().max(v.len()))
        })
        .filter(|(d, _, len)| *d > 0 && *d * 3 <= *len)
        .min_by_key(|(d, c, _)| (*d, *c))
        .map(|(_, c, _)| c)
}

/// Levenshtein distance.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A TOML input file (an experiment, a campaign) that failed to parse or
/// validate. Its `Display` is one line: `FILE:LINE:COL: FIELD: what was
/// expected`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ExperimentError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line and column, where known.
    pub position: Option<(usize, usize)>,
    /// The field path (`nemesis[0].schedule.interval`), where known.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// A parsed experiment that still remembers where each field stands in its
/// file, so that checks needing outside facts (the compose file's services)
/// can point at the right line.
#[derive(Debug)]
pub struct Parsed {
    pub experiment: Experiment,
    file: String,
    spans: SpanIndex,
}

/// Parse and validate an experiment file's text. `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Parsed, ExperimentError> {
    let (raw, spans): (RawExperiment, SpanIndex) = parse_toml(text, file)?;
    // The workload's table as written: its room reads its own fields there.
    let table: toml::Table = toml::from_str(text).unwrap_or_default();
    let workload = match table.get("workload") {
        Some(toml::Value::Table(t)) => t.clone(),
        _ => toml::Table::new(),
    };
    let experiment = validate::Validator::new(file, &spans).experiment(raw, &workload)?;
    Ok(Parsed {
        experiment,
        file: file.to_string(),
        spans,
    })
}

/// Parse a TOML input file (an experiment, a campaign) into its raw type,
/// keeping the index of where each field stands; a syntax error, an unknown
/// field or a wrong type is an error at its line and field. Pure.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<(T, SpanIndex), ExperimentError> {
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let spans = SpanIndex::lines_only(text);
            return Err(ExperimentError {
                file: file.to_string(),
                position: e.span().map(|s| spans.line_col(s.start)),
                field: None,
                message: format!("invalid TOML: {}", e.message().trim()),
            });
        }
    };
    let spans = SpanIndex::new(text, doc.get_ref());
    match toml::from_str(text) {
        Ok(raw) => Ok((raw, spans)),
        Err(e) => {
            let field = e.span().and_then(|s| spans.path_at(&s).map(str::to_string));
            Err(ExperimentError {
                file: file.to_string(),
                position: e.span().map(|s| spans.line_col(s.start)),
                field,
                message: e.message().trim().to_string(),
            })
        }
    }
}

/// The text of an experiment file with `cluster.compose_file` set to
/// `compose_file` (a resolved, absolute path), everything else as written:
/// the copy kept with a run loads from anywhere. Pure.
pub fn with_compose_file(
    text: &str,
    file: &str,
    compose_file: &str,
) -> Result<String, ExperimentError> {
    let (_, spans): (toml::Table, SpanIndex) = parse_toml(text, file)?;
    let span = spans
        .span_of("cluster.compose_file")
        .filter(|s| text[s.clone()].starts_with(['"', '\'']))
        .ok_or_else(|| ExperimentError {
            file: file.to_string(),
            position: None,
            field: Some("cluster.compose_file".into()),
            message: "missing; expected the compose file's path".into(),
        })?;
    let quoted = toml::Value::String(compose_file.to_string()).to_string();
    Ok(format!(
        "{}{quoted}{}",
        &text[..span.start],
        &text[span.end..]
    ))
}

/// An error pointing at a field of a file.
pub fn error_at(
    file: &str,
    spans: &SpanIndex,
    field: &str,
    message: impl Into<String>,
) -> ExperimentError {
    ExperimentError {
        file: file.to_string(),
        position: spans.span_of(field).map(|s| spans.line_col(s.start)),
        field: Some(field.to_string()),
        message: message.into(),
    }
}

impl Parsed {
    /// An error pointing at a field of this file.
    pub fn error_at(&self, field: &str, message: impl Into<String>) -> ExperimentError {
        error_at(&self.file, &self.spans, field, message)
    }

    /// Check every service the experiment names against the services the
    /// compose file defines.
    pub fn check_services(&self, defined: &BTreeSet<String>) -> Result<(), ExperimentError> {
        let known = || defined.iter().cloned().collect::<Vec<_>>().join(", ");
        let check = |field: String, name: &str| {
            if defined.contains(name) {
                Ok(())
            } else {
                Err(self.error_at(
                    &field,
                    format!(
                        "unknown compose service `{name}`; the compose file defines: {}",
                        known()
                    ),
                ))
            }
        };
        let exp = &self.experiment;
        for (component, services) in &exp.cluster.components {
            for (i, s) in services.iter().enumerate() {
                check(format!("cluster.components.{component}[{i}]"), s)?;
            }
        }
        for (i, s) in exp.workload.endpoints.iter().enumerate() {
            check(format!("workload.endpoints[{i}]"), s)?;
        }
        for (n, nemesis) in exp.nemeses.iter().enumerate() {
            let faults = match &nemesis.timing {
                Timing::Scheduled { targets, .. } => {
                    let (name, set) = match targets {
                        TargetSelector::Services(s) => ("services", s),
                        TargetSelector::OneOf(s) => ("one_of", s),
                        TargetSelector::SomeOf { set, .. } => ("some_of", set),
                        TargetSelector::Component(_) | TargetSelector::Role { .. } => continue,
                    };
                    for (i, s) in set.iter().enumerate() {
                        check(format!("nemesis[{n}].targets.{name}[{i}]"), s)?;
                    }
                    continue;
                }
                Timing::Explicit(faults) => faults,
            };
            for (j, f) in faults.iter().enumerate() {
                match &f.targets {
                    ExplicitTargets::Services(set) => {
                        for (i, s) in set.iter().enumerate() {
                            check(format!("nemesis[{n}].faults[{j}].services[{i}]"), s)?;
                        }
                    }
                    ExplicitTargets::Drops(drops) => {
                        for (to, froms) in drops {
                            check(format!("nemesis[{n}].faults[{j}].drops.{to}"), to)?;
                            for (i, s) in froms.iter().enumerate() {
                                check(format!("nemesis[{n}].faults[{j}].drops.{to}[{i}]"), s)?;
                            }
                        }
                    }
                    ExplicitTargets::Role { .. } => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
