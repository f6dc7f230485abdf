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
    /// What a run should find (`expect`): `valid`, or `invalid` for a
    /// known-bad control. A run that meets it passes in JUnit and in a
    /// sweep's exit code; the verdict itself is unchanged.
    #[serde(skip_serializing_if = "Expect::is_valid")]
    pub expect: Expect,
    pub cluster: Cluster,
    pub workload: Workload,
    pub checker: CheckerConfig,
    pub nemeses: Vec<Nemesis>,
}

impl Experiment {
    /// Whether one of its faults can leave a store damaged
    /// ([`Fault::can_damage_store`]).
    pub fn can_damage_store(&self) -> bool {
        self.nemeses.iter().any(|n| n.fault.can_damage_store())
    }
}

/// What an experiment's runs are expected to find: `expect` in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// A correct set-up: every run should be valid (the default).
    #[default]
    Valid,
    /// A known-bad control: every run should find an anomaly (if one
    /// does not, distrust the pipeline, or the seed).
    Invalid,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Valid => "valid",
            Expect::Invalid => "invalid",
        }
    }

    /// `valid` or `invalid`.
    pub fn parse(text: &str) -> Option<Expect> {
        match text {
            "valid" => Some(Expect::Valid),
            "invalid" => Some(Expect::Invalid),
            _ => None,
        }
    }

    pub fn is_valid(&self) -> bool {
        *self == Expect::Valid
    }
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
    /// An adapter program chaos starts and speaks JSON lines with
    /// (`[workload.adapter]`, `docs/clients.md`).
    Process,
    Postgres,
}

impl ClientKind {
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Etcd => "etcd",
            ClientKind::Surrealdb => "surrealdb",
            ClientKind::Process => "process",
            ClientKind::Postgres => "postgres",
        }
    }

    /// Every client, in the order errors list them.
    pub const ALL: [ClientKind; 4] = [
        ClientKind::Etcd,
        ClientKind::Surrealdb,
        ClientKind::Postgres,
        ClientKind::Process,
    ];

    /// The workloads whose ops this client serves (`workload.kind`
    /// values): what [`crate::client::AnyClient::call`] can run, and what
    /// the validator checks an experiment's pair against.
    pub fn serves(self) -> &'static [&'static str] {
        match self {
            ClientKind::Etcd => &["register", "list-append", "bank", "set"],
            ClientKind::Surrealdb => &["register", "list-append", "bank", "set"],
            // What the protocol can carry; the adapter's hello narrows it
            // ([`Parsed::check_adapter`]).
            ClientKind::Process => &["register", "list-append", "bank", "set"],
            ClientKind::Postgres => &["register", "list-append", "bank", "set"],
        }
    }

    /// The read modes this target offers; the first is the default.
    pub fn read_modes(self) -> &'static [ReadMode] {
        match self {
            ClientKind::Etcd => &[ReadMode::Linearizable, ReadMode::Serializable],
            ClientKind::Surrealdb => &[ReadMode::Linearizable],
            // Passed to the adapter in `init`: what it means is the
            // adapter's to say.
            ClientKind::Process => &[ReadMode::Linearizable, ReadMode::Serializable],
            ClientKind::Postgres => &[ReadMode::Linearizable],
        }
    }

    /// The isolation levels `workload.isolation` may name for this
    /// target, the default first; empty: it has none to choose (the field
    /// is refused).
    pub fn isolations(self) -> &'static [Isolation] {
        match self {
            ClientKind::Postgres => &[
                Isolation::Serializable,
                Isolation::RepeatableRead,
                Isolation::ReadCommitted,
            ],
            ClientKind::Etcd | ClientKind::Surrealdb | ClientKind::Process => &[],
        }
    }

    /// The workloads whose reads this target can send to other services
    /// than its writes (`workload.read_endpoints`: a PostgreSQL replica);
    /// empty: the field is refused.
    pub fn read_endpoints_serve(self) -> &'static [&'static str] {
        match self {
            ClientKind::Postgres => &["register"],
            ClientKind::Etcd | ClientKind::Surrealdb | ClientKind::Process => &[],
        }
    }

    /// The isolation levels a read endpoint cannot run (PostgreSQL refuses
    /// serializable on a hot standby).
    pub fn refused_on_read_endpoints(self) -> &'static [Isolation] {
        match self {
            ClientKind::Postgres => &[Isolation::Serializable],
            ClientKind::Etcd | ClientKind::Surrealdb | ClientKind::Process => &[],
        }
    }
}

/// The isolation level transactions run at (`workload.isolation`), where
/// the target lets a client choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    Serializable,
    RepeatableRead,
    ReadCommitted,
}

impl Isolation {
    /// As the experiment file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::Serializable => "serializable",
            Isolation::RepeatableRead => "repeatable-read",
            Isolation::ReadCommitted => "read-committed",
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
    /// `workload.isolation`: the level the client runs transactions at,
    /// for a target that offers a choice ([`ClientKind::isolations`]);
    /// `None` for the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// `workload.read_endpoints`: services the reads go to instead of
    /// `endpoints` (client `c` reads through `read_endpoints[c mod n]`,
    /// writes through `endpoints[c mod m]`); empty: reads go with the
    /// writes ([`ClientKind::read_endpoints_serve`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub read_endpoints: Vec<String>,
    /// Relative weights of the ops (micro-ops, for transactions) by name,
    /// as the workload's room allows them ([`crate::workload::Capabilities::mix`]).
    pub mix: BTreeMap<String, u64>,
    /// The room's own parameters, as its `params` checked them (`null`:
    /// none).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub params: serde_json::Value,
    /// `[workload.adapter]`, for `client = "process"` (and only then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterSpec>,
}

/// `[workload.adapter]`: the program a process client starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdapterSpec {
    /// The program and its arguments; relative paths are relative to the
    /// experiment file's directory, where it runs.
    pub command: Vec<String>,
    /// The port inside each endpoint's container the adapter talks to.
    pub port: u16,
    /// Handed to the adapter verbatim in its `init` message (an object).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub options: serde_json::Value,
}

/// What an adapter declares in its hello, as far as validation needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdapterFacts {
    /// The workloads whose ops it serves.
    pub serves: Vec<String>,
    /// It answers `leader` requests.
    pub leader: bool,
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
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct CheckerConfig {
    /// `checker.model`: a consistency model the workload's room offers
    /// ([`crate::workload::Capabilities::models`]); `None`: the room's
    /// default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `checker.recovery_share`: the share of its level before a fault
    /// that throughput must be back to after the heal to count as
    /// recovered, in (0, 1]; `None`: 0.8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_share: Option<f64>,
    /// `checker.recovery_sustain`: for how many whole seconds it must hold;
    /// `None`: 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_sustain_s: Option<u32>,
}

impl CheckerConfig {
    /// What counts as recovered after a heal (results.json
    /// `faults[].recovery`).
    pub fn recovery_rule(&self) -> crate::results::RecoveryRule {
        let d = crate::results::RecoveryRule::default();
        crate::results::RecoveryRule {
            share: self.recovery_share.unwrap_or(d.share),
            sustain_s: self.recovery_sustain_s.unwrap_or(d.sustain_s),
        }
    }
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
    /// Delay, lose, duplicate, corrupt and reorder the packets a target
    /// sends, with netem (where the kernel has it); heal: delete the qdisc.
    Netem {
        #[serde(serialize_with = "ser_duration")]
        delay: Duration,
        #[serde(serialize_with = "ser_duration")]
        jitter: Duration,
        /// Packet loss in percent.
        loss: f64,
        /// Packets sent twice, in percent.
        duplicate: f64,
        /// Packets with a flipped bit, in percent.
        corrupt: f64,
        /// Packets sent at once, ahead of the delayed ones, in percent
        /// (needs a `delay`).
        reorder: f64,
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
    /// Drop `loss` percent of the packets a target receives (iptables
    /// `statistic`), from the peers of a partition's cut (`partition`) or
    /// from everyone (clients included); heal: delete exactly those rules.
    Loss {
        loss: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        partition: Option<PartitionKind>,
    },
    /// Limit the rate a target sends at (`tc` `tbf` on each interface);
    /// heal: delete the qdisc.
    Bandwidth {
        /// Bits per second.
        rate: u64,
    },
    /// Limit the target to a fraction of a core (the engine's CPU quota);
    /// heal: the quota it started with.
    Cpu { cpus: f64 },
    /// A memory limit (swap included); heal: the limit it started with (see
    /// docs/nemesis.md for a container that started with none).
    Memory { bytes: u64 },
    /// Shift the wall clock the target's database reads (libfaketime,
    /// preloaded by the run's compose override); heal: the real clock.
    Clock { clock: ClockShape },
}

/// How a clock fault moves the clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "shape", rename_all = "kebab-case")]
pub enum ClockShape {
    /// A jump by `offset_ms` (negative: backwards), held.
    Offset { offset_ms: i64 },
    /// The clock runs `factor` times as fast as the real one (from the
    /// fault's start, so it starts without a jump).
    Rate { factor: f64 },
    /// The clock jumps by `offset_ms` and back every `period_ms`.
    Strobe { offset_ms: i64, period_ms: u64 },
}

impl ClockShape {
    pub const NAMES: [&'static str; 3] = ["offset", "rate", "strobe"];

    /// The clock's offset from the real one, in seconds, `elapsed` after
    /// the fault was applied. Pure.
    pub fn offset_at(&self, elapsed: Duration) -> f64 {
        match *self {
            ClockShape::Offset { offset_ms } => offset_ms as f64 / 1e3,
            ClockShape::Rate { factor } => (factor - 1.0) * elapsed.as_secs_f64(),
            ClockShape::Strobe {
                offset_ms,
                period_ms,
            } => {
                let n = elapsed.as_millis() as u64 / period_ms.max(1);
                if n.is_multiple_of(2) {
                    offset_ms as f64 / 1e3
                } else {
                    0.0
                }
            }
        }
    }

    /// Does the offset move over time (chaos rewrites it as it goes)?
    pub fn moves(&self) -> bool {
        !matches!(self, ClockShape::Offset { .. })
    }
}

/// A signed duration in milliseconds as the experiment file spells it:
/// `+30s`, `-5m`, `-1.5s`. Pure.
pub fn format_offset(ms: i64) -> String {
    let d = duration::format(Duration::from_millis(ms.unsigned_abs()));
    if ms < 0 {
        format!("-{d}")
    } else {
        format!("+{d}")
    }
}

/// `"+30s"`, `"-5m"`, `"30s"` to signed milliseconds. Pure.
pub fn parse_offset(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let d = duration::parse(rest).map_err(|e| {
        format!("`{text}`: {e}; expected a signed duration such as `+30s` or `-5m`")
    })?;
    if d.is_zero() {
        return Err(format!(
            "`{text}` is no shift; expected a signed duration such as `+30s` or `-5m`"
        ));
    }
    if d > Duration::from_secs(10 * 365 * 24 * 3600) {
        return Err(format!(
            "`{text}` is out of range; expected at most ten years"
        ));
    }
    Ok(sign * d.as_millis() as i64)
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
            Fault::Loss { .. } => "loss",
            Fault::Bandwidth { .. } => "bandwidth",
            Fault::Cpu { .. } => "cpu",
            Fault::Memory { .. } => "memory",
            Fault::Clock { .. } => "clock",
        }
    }

    /// The cut a fault acts along: a partition's, or a loss between the
    /// groups of a partition.
    pub fn cut(&self) -> Option<PartitionKind> {
        match self {
            Fault::Partition { partition } => Some(*partition),
            Fault::Loss { partition, .. } => *partition,
            _ => None,
        }
    }

    /// A clock fault: its targets' database must run with libfaketime
    /// (the run's compose override preloads it).
    pub fn needs_faketime(&self) -> bool {
        matches!(self, Fault::Clock { .. })
    }

    /// A fault that can leave a store damaged for the next run on the same
    /// volumes (a power loss, a full disk, I/O errors): a seed sweep gives
    /// each seed fresh volumes unless told otherwise.
    pub fn can_damage_store(&self) -> bool {
        matches!(
            self,
            Fault::PowerLoss { .. } | Fault::DiskFull { .. } | Fault::IoError { .. }
        )
    }

    /// A fault that starts its targets' containers again (at its heal, or
    /// for a rolling restart as it is applied): Docker may publish their
    /// ports on new host ports (`"127.0.0.1:0:5432"`), so a run resolves
    /// the workload's endpoints again after it.
    pub fn restarts_containers(&self) -> bool {
        matches!(
            self,
            Fault::Kill | Fault::Stop { .. } | Fault::Restart { .. } | Fault::PowerLoss { .. }
        )
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
                duplicate,
                corrupt,
                reorder,
            } => {
                let mut s = format!(
                    "netem delay {}±{} loss {loss}%",
                    duration::format(*delay),
                    duration::format(*jitter)
                );
                for (name, share) in [
                    ("duplicate", duplicate),
                    ("corrupt", corrupt),
                    ("reorder", reorder),
                ] {
                    if *share > 0.0 {
                        s.push_str(&format!(" {name} {share}%"));
                    }
                }
                s
            }
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
            Fault::Loss {
                loss,
                partition: None,
            } => format!("loss {loss}%"),
            Fault::Loss {
                loss,
                partition: Some(p),
            } => format!("loss {loss}% across {}", p.name()),
            Fault::Bandwidth { rate } => format!("bandwidth {}", format_rate(*rate)),
            Fault::Cpu { cpus } => format!("cpu {cpus} of a core"),
            Fault::Memory { bytes } => format!("memory limit {}", format_bytes(*bytes)),
            Fault::Clock {
                clock: ClockShape::Offset { offset_ms },
            } => format!("clock {}", format_offset(*offset_ms)),
            Fault::Clock {
                clock: ClockShape::Rate { factor },
            } => format!("clock rate x{factor}"),
            Fault::Clock {
                clock:
                    ClockShape::Strobe {
                        offset_ms,
                        period_ms,
                    },
            } => format!(
                "clock strobe {} every {}",
                format_offset(*offset_ms),
                duration::format(Duration::from_millis(*period_ms))
            ),
        }
    }
}

/// A rate in bits per second, as `tc` and the experiment file spell it
/// (`1mbit`, `256kbit`, `1500bit`: the largest unit that divides it).
/// Pure.
pub fn format_rate(bits: u64) -> String {
    for (unit, n) in [
        ("gbit", 1_000_000_000),
        ("mbit", 1_000_000),
        ("kbit", 1_000),
    ] {
        if bits >= n && bits.is_multiple_of(n) {
            return format!("{}{unit}", bits / n);
        }
    }
    format!("{bits}bit")
}

/// `"1mbit"`, `"256kbit"`, `"1.5mbit"`, `"800bit"` (SI units, as `tc`) to
/// bits per second. Pure.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let units = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)];
    for (unit, scale) in units {
        if let Some(n) = t.strip_suffix(unit) {
            let n: f64 = n.trim().parse().map_err(|_| {
                format!("`{text}` is not a rate; expected a number and a unit, e.g. `1mbit`")
            })?;
            let bits = (n * scale).round();
            if !(bits >= 8.0 && bits.is_finite() && bits <= 1e12) {
                return Err(format!(
                    "`{text}` is out of range; expected from 8bit to 1000gbit"
                ));
            }
            return Ok(bits as u64);
        }
    }
    Err(format!(
        "`{text}` has no unit; expected bit, kbit, mbit or gbit (bits per second, as tc), \
         e.g. `1mbit`"
    ))
}

/// Bytes in the largest binary unit that divides them (`64MiB`). Pure.
pub fn format_bytes(bytes: u64) -> String {
    for (unit, n) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= n && bytes.is_multiple_of(n) {
            return format!("{}{unit}", bytes / n);
        }
    }
    format!("{bytes}B")
}

/// `"256MiB"`, `"1GiB"`, `"512m"`, `"64k"`, `"1g"` (binary units, as
/// Docker's `--memory`) to bytes. Pure.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let units: [(&str, u64); 10] = [
        ("gib", 1 << 30),
        ("mib", 1 << 20),
        ("kib", 1 << 10),
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1 << 30),
        ("m", 1 << 20),
        ("k", 1 << 10),
        ("b", 1),
    ];
    for (unit, scale) in units {
        if let Some(n) = t.strip_suffix(unit) {
            let n: f64 = n.trim().parse().map_err(|_| {
                format!("`{text}` is not a size; expected a number and a unit, e.g. `256MiB`")
            })?;
            let bytes = (n * scale as f64).round();
            if !(bytes.is_finite() && (0.0..=1e15).contains(&bytes)) {
                return Err(format!("`{text}` is out of range"));
            }
            return Ok(bytes as u64);
        }
    }
    Err(format!(
        "`{text}` has no unit; expected KiB, MiB or GiB (or k, m, g, as Docker), e.g. `256MiB`"
    ))
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
/// Edit distance with adjacent transpositions counted as one edit (the
/// optimal string alignment distance): `garce` is one edit from `grace`.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j - 1] + cost)
                .min(d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
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
            let mut field = e.span().and_then(|s| spans.path_at(&s).map(str::to_string));
            let mut position = e.span().map(|s| spans.line_col(s.start));
            // serde points an unknown field at its table: name the field's
            // whole path (`workload.read_mod`), at its own line.
            if let Some(word) = e
                .message()
                .strip_prefix("unknown field `")
                .and_then(|r| r.split_once('`'))
                .map(|(w, _)| w)
            {
                let at_key = e
                    .span()
                    .and_then(|s| spans.key_path_after(s.start, word))
                    .map(str::to_string);
                let whole = match (&field, at_key) {
                    (_, Some(k)) => k,
                    (Some(f), None) if f.ends_with(&format!(".{word}")) || f == word => f.clone(),
                    (Some(f), None) => format!("{f}.{word}"),
                    (None, None) => word.to_string(),
                };
                if let Some(s) = spans.span_of(&whole) {
                    position = Some(spans.line_col(s.start));
                }
                field = Some(whole);
            }
            Err(ExperimentError {
                file: file.to_string(),
                position,
                field,
                message: in_file_terms(&with_suggestion(e.message().trim())),
            })
        }
    }
}

/// serde's Rust words in an error turned into the file's terms: `expected
/// f64` says "expected a number", `u64` "a whole number, 0 or more", a
/// sequence is an array and a map a table; a percentage written as a
/// string (`"5%"` where a number goes) gets the mend. Pure.
pub fn in_file_terms(message: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected u8", "expected a whole number, 0 or more"),
        ("expected u16", "expected a whole number, 0 or more"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("invalid type: sequence", "invalid type: array"),
        ("invalid type: map", "invalid type: table"),
    ];
    let mut out = message.to_string();
    for (rust, file) in WORDS {
        if let Some(at) = out.find(rust) {
            let end = at + rust.len();
            // Whole words only: `expected u8` must not match `expected u80`.
            if !out[end..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                out.replace_range(at..end, file);
            }
        }
    }
    if out.contains("expected a number") {
        let percent = out
            .strip_prefix("invalid type: string \"")
            .and_then(|r| r.split_once('"'))
            .and_then(|(v, _)| v.trim().strip_suffix('%'))
            .filter(|n| n.trim().parse::<f64>().is_ok());
        if let Some(n) = percent {
            out.push_str(&format!(
                " (a percentage is a bare number here: {})",
                n.trim()
            ));
        }
    }
    out
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown
/// variant") with a "did you mean" from those it lists. Pure.
pub fn with_suggestion(message: &str) -> String {
    let Some(rest) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
    else {
        return message.to_string();
    };
    let Some((word, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    format!("{message}{}", did_you_mean(word, &candidates))
}

/// The text of an experiment file with `cluster.compose_file` set to
/// `compose_file` (a resolved, absolute path), everything else as written:
/// the copy kept with a run loads from anywhere. Pure.
pub fn with_compose_file(
    text: &str,
    file: &str,
    compose_file: &str,
) -> Result<String, ExperimentError> {
    with_strings(text, file, &[("cluster.compose_file", compose_file)])
}

/// The text of an experiment file with each named string field (a path
/// such as `cluster.compose_file` or `workload.adapter.command[1]`) set
/// to its new value, everything else (comments, order, layout) as
/// written. A field that is absent or not a string literal is an error
/// naming it. Pure.
pub fn with_strings(
    text: &str,
    file: &str,
    fields: &[(&str, &str)],
) -> Result<String, ExperimentError> {
    let (_, spans): (toml::Table, SpanIndex) = parse_toml(text, file)?;
    let mut edits = Vec::new();
    for (field, value) in fields {
        let span = Some(field)
            .filter(|f| spans.has(f))
            .and_then(|f| spans.span_of(f))
            .filter(|s| text[s.clone()].starts_with(['"', '\'']))
            .ok_or_else(|| ExperimentError {
                file: file.to_string(),
                position: None,
                field: Some(field.to_string()),
                message: "missing or not a string; expected a path".into(),
            })?;
        edits.push((span, toml::Value::String(value.to_string()).to_string()));
    }
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut out = text.to_string();
    for (span, quoted) in edits {
        out.replace_range(span, &quoted);
    }
    Ok(out)
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

    /// An experiment with `client = "process"` against what its adapter
    /// declared in its hello: the workload must be one it serves, and a
    /// fault that targets a role (`role = "leader"`) needs an adapter that
    /// answers `leader` requests. The error points at the field.
    pub fn check_adapter(&self, facts: &AdapterFacts) -> Result<(), ExperimentError> {
        check_adapter(&self.experiment, facts, |field, message| {
            self.error_at(field, message)
        })
    }

    /// A `disconnect` from a named network strikes only services on it:
    /// checked against the networks the compose file gives each service
    /// (`networks` maps a service to its networks as the file names them;
    /// a service without `networks:` is on `default`). A component or a
    /// role is checked for every node it may strike.
    pub fn check_networks(
        &self,
        networks: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<(), ExperimentError> {
        let exp = &self.experiment;
        for (n, nemesis) in exp.nemeses.iter().enumerate() {
            let Fault::Disconnect { network: Some(net) } = &nemesis.fault else {
                continue;
            };
            let mut struck: Vec<&String> = Vec::new();
            match &nemesis.timing {
                Timing::Scheduled { targets, .. } => match targets {
                    TargetSelector::Services(s) | TargetSelector::OneOf(s) => struck.extend(s),
                    TargetSelector::SomeOf { set, .. } => struck.extend(set),
                    TargetSelector::Component(c) | TargetSelector::Role { component: c, .. } => {
                        struck.extend(exp.cluster.components.get(c).into_iter().flatten())
                    }
                },
                Timing::Explicit(faults) => {
                    for f in faults {
                        match &f.targets {
                            ExplicitTargets::Services(s) => struck.extend(s),
                            ExplicitTargets::Role { component, .. } => struck.extend(
                                exp.cluster.components.get(component).into_iter().flatten(),
                            ),
                            ExplicitTargets::Drops(_) => {}
                        }
                    }
                }
            }
            for service in struck {
                let Some(on) = networks.get(service) else {
                    continue;
                };
                if !on.contains(net) {
                    return Err(self.error_at(
                        &format!("nemesis[{n}].network"),
                        format!(
                            "`{service}` is not on network `{net}`; the compose file puts it on: {}{}",
                            on.iter().cloned().collect::<Vec<_>>().join(", "),
                            did_you_mean(net, &on.iter().map(String::as_str).collect::<Vec<_>>())
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// [`Parsed::check_adapter`], with errors made by `err(field, message)`.
pub fn check_adapter<E>(
    exp: &Experiment,
    facts: &AdapterFacts,
    err: impl Fn(&str, String) -> E,
) -> Result<(), E> {
    if exp.workload.client != ClientKind::Process {
        return Ok(());
    }
    let kind = exp.workload.kind.name();
    if !facts.serves.iter().any(|s| s == kind) {
        return Err(err(
            "workload.kind",
            format!(
                "the adapter does not serve a {kind} workload; its hello says it serves: {}",
                if facts.serves.is_empty() {
                    "nothing".to_string()
                } else {
                    facts.serves.join(", ")
                }
            ),
        ));
    }
    if facts.leader {
        return Ok(());
    }
    for (n, nemesis) in exp.nemeses.iter().enumerate() {
        let field = match &nemesis.timing {
            Timing::Scheduled {
                targets: TargetSelector::Role { .. },
                ..
            } => format!("nemesis[{n}].targets.role"),
            Timing::Explicit(faults) => {
                match faults
                    .iter()
                    .position(|f| matches!(f.targets, ExplicitTargets::Role { .. }))
                {
                    Some(j) => format!("nemesis[{n}].faults[{j}].role"),
                    None => continue,
                }
            }
            Timing::Scheduled { .. } => continue,
        };
        return Err(err(
            &field,
            "a fault on a role needs an adapter that answers `leader` requests, and this \
             adapter's hello does not declare `\"leader\": true` (docs/clients.md); target \
             services instead, or add `leader` to the adapter"
                .to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
