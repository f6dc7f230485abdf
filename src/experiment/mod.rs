//! Experiment files: the TOML a user writes, checked and turned into an
//! [`Experiment`].
//!
//! Pure: takes the file's text and a label for messages, never touches the
//! file system, Docker or the clock (the shell reads files, see
//! [`crate::loader`]). Owns the schema (the `Raw*` types: what the user
//! typed, unknown fields refused), validation with errors that name the file,
//! line, column and field, and the resolved types the planner consumes.
//! The field-by-field reference is `docs/experiments.md`.

mod raw;
pub mod spans;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use toml::de::DeTable;

use crate::duration;
use raw::{RawDurationRange, RawExperiment, RawNemesis, RawTargets};
use spans::SpanIndex;

/// Upper bounds that catch typos (an extra zero or three) before they reach a
/// cluster.
pub mod limits {
    pub const MAX_CLIENTS: u64 = 1_000;
    pub const MAX_KEYS: u64 = 1_000_000;
    pub const MAX_KEY_OPS: u64 = 1_000_000;
    pub const MAX_RATE: u64 = 100_000;
    pub const MAX_MIX_WEIGHT: u64 = 1_000_000;
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

/// The register workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
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
    pub mix: OpMix,
}

/// Relative weights of the operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OpMix {
    pub read: u64,
    pub write: u64,
    pub cas: u64,
}

impl OpMix {
    pub fn total(&self) -> u64 {
        self.read + self.write + self.cas
    }
}

/// One nemesis: a kind of fault, where it strikes, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nemesis {
    pub fault: Fault,
    pub targets: TargetSelector,
    pub schedule: Schedule,
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
}

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
        }
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

/// An experiment file that failed to parse or validate. Its `Display` is one
/// line: `FILE:LINE:COL: FIELD: what was expected`.
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
    let raw: RawExperiment = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let field = e.span().and_then(|s| spans.path_at(&s).map(str::to_string));
            return Err(ExperimentError {
                file: file.to_string(),
                position: e.span().map(|s| spans.line_col(s.start)),
                field,
                message: e.message().trim().to_string(),
            });
        }
    };
    let experiment = Validator {
        file,
        spans: &spans,
    }
    .experiment(raw)?;
    Ok(Parsed {
        experiment,
        file: file.to_string(),
        spans,
    })
}

/// An error pointing at a field of a file.
fn error_at(
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
            let (name, set) = match &nemesis.targets {
                TargetSelector::Services(s) => ("services", s),
                TargetSelector::OneOf(s) => ("one_of", s),
                TargetSelector::SomeOf { set, .. } => ("some_of", set),
                TargetSelector::Component(_) | TargetSelector::Role { .. } => continue,
            };
            for (i, s) in set.iter().enumerate() {
                check(format!("nemesis[{n}].targets.{name}[{i}]"), s)?;
            }
        }
        Ok(())
    }
}

/// Turns raw (typed-as-written) values into checked ones, with errors that
/// point into the file.
struct Validator<'a> {
    file: &'a str,
    spans: &'a SpanIndex,
}

type Result2<T> = Result<T, ExperimentError>;

impl Validator<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> ExperimentError {
        error_at(self.file, self.spans, field, message)
    }

    fn duration(&self, field: &str, text: &str) -> Result2<Duration> {
        duration::parse(text).map_err(|e| self.err(field, e.to_string()))
    }

    fn positive_duration(&self, field: &str, text: &str) -> Result2<Duration> {
        let d = self.duration(field, text)?;
        if d.is_zero() {
            return Err(self.err(
                field,
                format!("`{text}` is zero; expected a positive duration"),
            ));
        }
        Ok(d)
    }

    fn bounded(&self, field: &str, value: u64, min: u64, max: u64) -> Result2<u64> {
        if value < min {
            let what = if min == 1 { "at least 1" } else { "larger" };
            return Err(self.err(field, format!("{value} is too small; expected {what}")));
        }
        if value > max {
            return Err(self.err(
                field,
                format!("{value} is too large; expected at most {max}"),
            ));
        }
        Ok(value)
    }

    fn name(&self, field: &str, text: &str) -> Result2<String> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !ok {
            return Err(self.err(
                field,
                format!(
                    "`{text}` is not a usable name; expected 1 to 64 letters, digits, `-`, `_` or `.`"
                ),
            ));
        }
        Ok(text.to_string())
    }

    fn experiment(&self, raw: RawExperiment) -> Result2<Experiment> {
        let name = self.name("name", &raw.name)?;
        let duration = self.positive_duration("duration", &raw.duration)?;
        if duration > limits::MAX_RUN {
            return Err(self.err(
                "duration",
                format!("`{}` is longer than the maximum of 24h", raw.duration),
            ));
        }
        let seed = match raw.seed {
            None => None,
            Some(s) if s < 0 => {
                return Err(self.err(
                    "seed",
                    format!("{s} is negative; expected a non-negative integer"),
                ));
            }
            Some(s) => Some(s as u64),
        };
        let cluster = self.cluster(raw.cluster)?;
        let workload = self.workload(raw.workload, &cluster)?;
        if raw.nemesis.len() > limits::MAX_NEMESES {
            return Err(self.err(
                "nemesis",
                format!(
                    "{} nemeses; expected at most {}",
                    raw.nemesis.len(),
                    limits::MAX_NEMESES
                ),
            ));
        }
        let nemeses = raw
            .nemesis
            .into_iter()
            .enumerate()
            .map(|(i, n)| self.nemesis(i, n, &cluster, duration))
            .collect::<Result2<Vec<_>>>()?;
        Ok(Experiment {
            name,
            description: raw.description.unwrap_or_default(),
            duration,
            seed,
            cluster,
            workload,
            nemeses,
        })
    }

    fn cluster(&self, raw: raw::RawCluster) -> Result2<Cluster> {
        if raw.compose_file.trim().is_empty() {
            return Err(self.err("cluster.compose_file", "empty; expected a path"));
        }
        let project = raw.project.to_ascii_lowercase();
        let valid_project = !project.is_empty()
            && project.len() <= 63
            && project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && project.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !valid_project || project != raw.project {
            return Err(self.err(
                "cluster.project",
                format!(
                    "`{}` is not a valid compose project name; expected lowercase letters, digits, `-` and `_`, starting with a letter or digit",
                    raw.project
                ),
            ));
        }
        if raw.components.is_empty() {
            return Err(self.err(
                "cluster.components",
                "no components; expected at least one, e.g. `etcd = [\"etcd1\", \"etcd2\", \"etcd3\"]`",
            ));
        }
        let mut seen = BTreeSet::new();
        for (component, services) in &raw.components {
            let field = format!("cluster.components.{component}");
            self.name(&field, component)?;
            if services.is_empty() {
                return Err(self.err(
                    &field,
                    "empty; expected the compose services of this component",
                ));
            }
            for (i, s) in services.iter().enumerate() {
                if !seen.insert(s.clone()) {
                    return Err(self.err(
                        &format!("{field}[{i}]"),
                        format!("service `{s}` is listed twice; a node belongs to one component"),
                    ));
                }
            }
        }
        Ok(Cluster {
            compose_file: raw.compose_file,
            project,
            components: raw.components,
            up: raw.up.unwrap_or(true),
            down: raw.down.unwrap_or(false),
            ready_timeout: match raw.ready_timeout {
                Some(t) => self.positive_duration("cluster.ready_timeout", &t)?,
                None => Duration::from_secs(120),
            },
            recovery: match raw.recovery {
                Some(t) => self.duration("cluster.recovery", &t)?,
                None => Duration::from_secs(10),
            },
            env: self.env(raw.env)?,
        })
    }

    /// `cluster.env`: names a shell and compose accept, values without NUL.
    fn env(&self, raw: BTreeMap<String, raw::RawEnvValue>) -> Result2<BTreeMap<String, String>> {
        let mut env = BTreeMap::new();
        for (name, raw::RawEnvValue::Text(value)) in raw {
            let field = format!("cluster.env.{name}");
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(self.err(
                    &field,
                    format!(
                        "`{name}` is not a usable variable name; expected letters, digits and `_`, not starting with a digit (e.g. `SURREAL_TIKV_ASYNC_COMMIT`)"
                    ),
                ));
            }
            if let Some(prefix) = RESERVED_ENV_PREFIXES
                .iter()
                .find(|p| name.to_ascii_uppercase().starts_with(*p))
            {
                return Err(self.err(
                    &field,
                    format!(
                        "`{name}` is refused: `{prefix}*` variables change what the compose command itself does (project, files, engine); set the compose file's own variables only"
                    ),
                ));
            }
            if value.contains('\0') {
                return Err(self.err(&field, "the value contains a NUL character"));
            }
            env.insert(name, value);
        }
        Ok(env)
    }

    fn workload(&self, raw: raw::RawWorkload, cluster: &Cluster) -> Result2<Workload> {
        let client = match raw.client.as_str() {
            "etcd" => ClientKind::Etcd,
            "surrealdb" => ClientKind::Surrealdb,
            other => {
                return Err(self.err(
                    "workload.client",
                    format!("unknown client `{other}`; expected one of: etcd, surrealdb"),
                ));
            }
        };
        if raw.endpoints.is_empty() {
            return Err(self.err(
                "workload.endpoints",
                "empty; expected the compose services clients connect to",
            ));
        }
        let nodes: BTreeSet<&String> = cluster.components.values().flatten().collect();
        for (i, e) in raw.endpoints.iter().enumerate() {
            if !nodes.contains(e) {
                return Err(self.err(
                    &format!("workload.endpoints[{i}]"),
                    format!("`{e}` is not a node of any component in cluster.components"),
                ));
            }
        }
        let read_mode = match raw.read_mode.as_deref() {
            None => client.read_modes()[0],
            Some(text) => {
                let modes = client.read_modes();
                *modes.iter().find(|m| m.name() == text).ok_or_else(|| {
                    let names: Vec<_> = modes.iter().map(|m| m.name()).collect();
                    self.err(
                        "workload.read_mode",
                        format!(
                            "`{text}` is not a read mode of {}; expected one of: {}",
                            client.name(),
                            names.join(", ")
                        ),
                    )
                })?
            }
        };
        let mix = match raw.mix {
            None => OpMix {
                read: 50,
                write: 30,
                cas: 20,
            },
            Some(m) => OpMix {
                read: self.bounded(
                    "workload.mix.read",
                    m.read.unwrap_or(0),
                    0,
                    limits::MAX_MIX_WEIGHT,
                )?,
                write: self.bounded(
                    "workload.mix.write",
                    m.write.unwrap_or(0),
                    0,
                    limits::MAX_MIX_WEIGHT,
                )?,
                cas: self.bounded(
                    "workload.mix.cas",
                    m.cas.unwrap_or(0),
                    0,
                    limits::MAX_MIX_WEIGHT,
                )?,
            },
        };
        if mix.total() == 0 {
            return Err(self.err(
                "workload.mix",
                "no operation has a positive weight; expected e.g. `{ read = 50, write = 30, cas = 20 }`",
            ));
        }
        Ok(Workload {
            client,
            endpoints: raw.endpoints,
            keys: self.bounded("workload.keys", raw.keys.unwrap_or(8), 1, limits::MAX_KEYS)?,
            key_ops: self.bounded(
                "workload.key_ops",
                raw.key_ops.unwrap_or(200),
                1,
                limits::MAX_KEY_OPS,
            )?,
            clients: self.bounded(
                "workload.clients",
                raw.clients.unwrap_or(5),
                1,
                limits::MAX_CLIENTS,
            )?,
            rate: self.bounded(
                "workload.rate",
                raw.rate.unwrap_or(100),
                1,
                limits::MAX_RATE,
            )?,
            timeout: match raw.timeout {
                Some(t) => self.positive_duration("workload.timeout", &t)?,
                None => Duration::from_secs(1),
            },
            read_mode,
            mix,
        })
    }

    fn range(&self, field: &str, raw: &RawDurationRange) -> Result2<DurationRange> {
        let (min, max) = match raw {
            RawDurationRange::Fixed(d) => {
                let d = self.positive_duration(field, d)?;
                (d, d)
            }
            RawDurationRange::Range(v) => {
                if v.len() != 2 {
                    return Err(self.err(
                        field,
                        format!(
                            "{} values; expected one duration or two, `[min, max]`",
                            v.len()
                        ),
                    ));
                }
                (
                    self.positive_duration(&format!("{field}[0]"), &v[0])?,
                    self.positive_duration(&format!("{field}[1]"), &v[1])?,
                )
            }
        };
        if min > max {
            return Err(self.err(
                field,
                format!(
                    "min {} is greater than max {}; expected `[min, max]` with min <= max",
                    duration::format(min),
                    duration::format(max)
                ),
            ));
        }
        Ok(DurationRange { min, max })
    }

    fn nemesis(
        &self,
        i: usize,
        raw: RawNemesis,
        cluster: &Cluster,
        run: Duration,
    ) -> Result2<Nemesis> {
        let at = |f: &str| format!("nemesis[{i}].{f}");
        let kinds = "kill, stop, pause, disconnect, partition, netem, restart";
        // Parameters that belong to other kinds are refused, not ignored.
        let only_for = |field: &str, present: bool, kind: &str| -> Result2<()> {
            if present && raw.fault != kind {
                return Err(self.err(
                    &at(field),
                    format!(
                        "`{field}` applies to `fault = \"{kind}\"` only, not `{}`",
                        raw.fault
                    ),
                ));
            }
            Ok(())
        };
        only_for("partition", raw.partition.is_some(), "partition")?;
        only_for("network", raw.network.is_some(), "disconnect")?;
        only_for("delay", raw.delay.is_some(), "netem")?;
        only_for("jitter", raw.jitter.is_some(), "netem")?;
        only_for("loss", raw.loss.is_some(), "netem")?;
        if raw.grace.is_some() && raw.fault != "stop" && raw.fault != "restart" {
            return Err(self.err(
                &at("grace"),
                format!(
                    "`grace` applies to `stop` and `restart` only, not `{}`",
                    raw.fault
                ),
            ));
        }
        let grace = match &raw.grace {
            Some(g) => self.duration(&at("grace"), g)?,
            None => Duration::from_secs(10),
        };
        let fault = match raw.fault.as_str() {
            "kill" => Fault::Kill,
            "stop" => Fault::Stop { grace },
            "pause" => Fault::Pause,
            "restart" => Fault::Restart { grace },
            "disconnect" => Fault::Disconnect {
                network: raw.network.clone(),
            },
            "partition" => {
                let names: Vec<_> = PartitionKind::ALL.iter().map(|k| k.name()).collect();
                let Some(text) = raw.partition.as_deref() else {
                    return Err(self.err(
                        &at("fault"),
                        format!(
                            "a partition needs `partition = ...`, one of: {}",
                            names.join(", ")
                        ),
                    ));
                };
                let kind = PartitionKind::ALL
                    .into_iter()
                    .find(|k| k.name() == text)
                    .ok_or_else(|| {
                        self.err(
                            &at("partition"),
                            format!(
                                "unknown partition `{text}`; expected one of: {}",
                                names.join(", ")
                            ),
                        )
                    })?;
                Fault::Partition { partition: kind }
            }
            "netem" => {
                let delay = match &raw.delay {
                    Some(d) => self.duration(&at("delay"), d)?,
                    None => Duration::ZERO,
                };
                let jitter = match &raw.jitter {
                    Some(d) => self.duration(&at("jitter"), d)?,
                    None => Duration::ZERO,
                };
                let loss = raw.loss.unwrap_or(0.0);
                if !(0.0..=100.0).contains(&loss) {
                    return Err(self.err(
                        &at("loss"),
                        format!("{loss} is out of range; expected a percentage from 0 to 100"),
                    ));
                }
                if delay.is_zero() && loss == 0.0 {
                    return Err(self.err(
                        &at("fault"),
                        "netem with neither `delay` nor `loss` would do nothing",
                    ));
                }
                Fault::Netem {
                    delay,
                    jitter,
                    loss,
                }
            }
            other => {
                return Err(self.err(
                    &at("fault"),
                    format!("unknown fault `{other}`; expected one of: {kinds}"),
                ));
            }
        };
        let targets = self.targets(i, &raw.targets, cluster)?;
        self.check_fault_targets(i, &fault, &targets, cluster)?;
        let schedule = self.schedule(i, &raw.schedule, run)?;
        Ok(Nemesis {
            fault,
            targets,
            schedule,
        })
    }

    fn targets(&self, i: usize, raw: &RawTargets, cluster: &Cluster) -> Result2<TargetSelector> {
        let field = format!("nemesis[{i}].targets");
        let forms = [
            raw.services.is_some(),
            raw.one_of.is_some(),
            raw.some_of.is_some(),
            raw.role.is_some(),
        ];
        let n = forms.iter().filter(|x| **x).count();
        let expected = "expected exactly one of `services = [...]`, `one_of = [...]`, \
                        `some_of = [...]` with `count`, `role = \"leader\"` with `component`, \
                        or `component` alone";
        if n > 1 {
            return Err(self.err(&field, format!("several selectors given; {expected}")));
        }
        if raw.count.is_some() && raw.some_of.is_none() {
            return Err(self.err(
                &format!("{field}.count"),
                "`count` goes with `some_of` only",
            ));
        }
        let component = |c: &str| -> Result2<String> {
            if cluster.components.contains_key(c) {
                Ok(c.to_string())
            } else {
                let known: Vec<_> = cluster.components.keys().cloned().collect();
                Err(self.err(
                    &format!("{field}.component"),
                    format!(
                        "unknown component `{c}`; cluster.components defines: {}",
                        known.join(", ")
                    ),
                ))
            }
        };
        let non_empty = |name: &str, set: &Vec<String>| -> Result2<()> {
            if set.is_empty() {
                return Err(self.err(
                    &format!("{field}.{name}"),
                    "empty target set; expected at least one service",
                ));
            }
            let mut seen = BTreeSet::new();
            for (j, s) in set.iter().enumerate() {
                if !seen.insert(s) {
                    return Err(self.err(
                        &format!("{field}.{name}[{j}]"),
                        format!("`{s}` is listed twice"),
                    ));
                }
            }
            Ok(())
        };
        if raw.component.is_some() && raw.role.is_none() && n > 0 {
            return Err(self.err(
                &format!("{field}.component"),
                "`component` goes with `role`, or stands alone",
            ));
        }
        if let Some(set) = &raw.services {
            non_empty("services", set)?;
            return Ok(TargetSelector::Services(set.clone()));
        }
        if let Some(set) = &raw.one_of {
            non_empty("one_of", set)?;
            return Ok(TargetSelector::OneOf(set.clone()));
        }
        if let Some(set) = &raw.some_of {
            non_empty("some_of", set)?;
            let Some(count) = raw.count else {
                return Err(self.err(&field, "`some_of` needs `count`, how many to choose"));
            };
            if count == 0 || count > set.len() as u64 {
                return Err(self.err(
                    &format!("{field}.count"),
                    format!(
                        "{count} is out of range; expected 1 to {} (the size of the set)",
                        set.len()
                    ),
                ));
            }
            return Ok(TargetSelector::SomeOf {
                set: set.clone(),
                count,
            });
        }
        if let Some(role) = &raw.role {
            if !ROLES.contains(&role.as_str()) {
                return Err(self.err(
                    &format!("{field}.role"),
                    format!(
                        "unknown role `{role}`; expected one of: {}",
                        ROLES.join(", ")
                    ),
                ));
            }
            let Some(c) = &raw.component else {
                return Err(self.err(&field, "a role needs `component`, whose role it is"));
            };
            return Ok(TargetSelector::Role {
                role: role.clone(),
                component: component(c)?,
            });
        }
        if let Some(c) = &raw.component {
            return Ok(TargetSelector::Component(component(c)?));
        }
        Err(self.err(&field, format!("no target; {expected}")))
    }

    /// Faults whose shape constrains their targets.
    fn check_fault_targets(
        &self,
        i: usize,
        fault: &Fault,
        targets: &TargetSelector,
        cluster: &Cluster,
    ) -> Result2<()> {
        let field = format!("nemesis[{i}].targets");
        let Fault::Partition { partition } = fault else {
            return Ok(());
        };
        let component_of = |s: &str| {
            cluster
                .components
                .iter()
                .find(|(_, nodes)| nodes.iter().any(|n| n == s))
                .map(|(c, nodes)| (c.clone(), nodes.len()))
        };
        if partition.splits_a_set() {
            let set_len = match targets {
                TargetSelector::Component(c) => cluster.components[c].len(),
                TargetSelector::Services(s) => s.len(),
                _ => {
                    return Err(self.err(
                        &field,
                        format!(
                            "a {} partition splits a set of nodes; expected `component = ...` or `services = [...]`",
                            partition.name()
                        ),
                    ));
                }
            };
            if set_len < 3 {
                return Err(self.err(
                    &field,
                    format!(
                        "a {} partition needs at least 3 nodes, got {set_len}",
                        partition.name()
                    ),
                ));
            }
            return Ok(());
        }
        // isolate-one and one-way act on one node, cut from the rest of its
        // component.
        let one = match targets {
            TargetSelector::Services(s) if s.len() == 1 => Some(s.clone()),
            TargetSelector::OneOf(s) => Some(s.clone()),
            TargetSelector::Role { .. } => None,
            _ => {
                return Err(self.err(
                    &field,
                    format!(
                        "a {} partition acts on one node; expected `services = [one]`, `one_of = [...]` or a role",
                        partition.name()
                    ),
                ));
            }
        };
        for s in one.iter().flatten() {
            match component_of(s) {
                None => {
                    return Err(self.err(
                        &field,
                        format!("`{s}` is not a node of any component, so it has no peers to be cut from"),
                    ));
                }
                Some((c, n)) if n < 2 => {
                    return Err(self.err(
                        &field,
                        format!("`{s}` is the only node of component `{c}`; there is nothing to cut it from"),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn schedule(&self, i: usize, raw: &raw::RawSchedule, run: Duration) -> Result2<Schedule> {
        let at = |f: &str| format!("nemesis[{i}].schedule.{f}");
        let start = match &raw.start {
            Some(s) => self.duration(&at("start"), s)?,
            None => Duration::ZERO,
        };
        if start >= run {
            return Err(self.err(
                &at("start"),
                format!(
                    "starts at {}, but the run lasts {}; expected a start inside the run",
                    duration::format(start),
                    duration::format(run)
                ),
            ));
        }
        let count = match raw.count {
            Some(c) => Some(self.bounded(&at("count"), c, 1, limits::MAX_FAULT_COUNT)?),
            None => None,
        };
        Ok(Schedule {
            start,
            interval: self.range(&at("interval"), &raw.interval)?,
            duration: self.range(&at("duration"), &raw.duration)?,
            count,
        })
    }
}

#[cfg(test)]
mod tests;
