//! The nemesis: applies a plan's faults to real containers through the
//! Docker Engine API, each paired with its heal, and journals them so that
//! they are undone even after chaos is killed.
//!
//! Shell. Builds on [`crate::docker`] (the cluster, the scope guard),
//! [`crate::journal`] and [`crate::roles`] (who leads: asked when a fault
//! names a role); knows nothing of clients, histories, checkers or the
//! engine above it. It never prints to the terminal and never exits the
//! process: a problem is an error value or a `tracing` event.
//!
//! # Faults and their heals
//!
//! | fault | apply | heal |
//! |---|---|---|
//! | kill | SIGKILL | start |
//! | stop | SIGTERM, SIGKILL after the grace period | start |
//! | pause | pause (cgroup freezer) | unpause |
//! | disconnect | disconnect from the named compose network (or all) | reconnect, same aliases |
//! | partition | iptables `INPUT -s <peer> -j DROP` in each node's namespace, from a helper container, tagged `chaos:<project>:f<id>` | delete exactly the rules with that tag |
//! | netem | `tc qdisc replace ... root netem` (delay, loss, duplicate, corrupt, reorder) on each interface | delete the root netem qdisc |
//! | restart | one target after another: SIGTERM, grace, SIGKILL, start, wait until healthy | start any target not running |
//! | power-loss | `chaos-fs ctl freeze [--torn]` in every target at once (nothing more reaches its disk), then SIGKILL: what was not synced is gone | start |
//! | disk-full, io-error, io-delay | `chaos-fs ctl disk-full` / `io-error` / `io-delay` in each target | `chaos-fs ctl clear` |
//! | loss | iptables `INPUT [-s <peer>] -m statistic --probability p -j DROP`, from the helper, tagged as a partition's | read the rules' counters, delete exactly those rules |
//! | bandwidth | `tc qdisc replace ... root tbf rate R` on each interface | delete the root tbf qdisc |
//! | clock | write the libfaketime offset file the target's database reads (mounted from the state dir by the run's override); rate and strobe: rewritten every 50 ms by a task | stop the task, write `+0.000` |
//! | cpu, memory | the engine's update API (CPU quota, memory limit), the limits before journaled first | the journaled limits (see [`cpu_restore`], [`memory_restore`]) |
//!
//! # The API the runner uses
//!
//! ```text
//! let cluster = ComposeCluster::connect(project, &compose_file).await?;     // crate::docker
//! preflight(&cluster, &plan).await?;            // before `up`: helper image, netem probe
//! cluster.up(ready_timeout).await?;
//! let journal = Journal::create(&run_dir.file("journal.jsonl"), project, Some(&compose_file))?;
//! let mut nemesis = Nemesis::new(cluster, journal, resolver, components, run_start);
//! nemesis.check_targets(&plan).await?;          // every named service has a container;
//!                                               // helpers made ahead when the plan partitions
//! let applied = nemesis.apply(&planned_fault, planned_at).await?;  // intent journaled first
//! let healed = nemesis.heal(applied.id).await?;
//! let report = nemesis.finish().await;          // heal_all + remove helpers + close journal
//! ```
//!
//! - `Nemesis::new(cluster: ComposeCluster, journal: Journal, resolver: Arc<dyn RoleResolver>,
//!   components: BTreeMap<String, Vec<String>>, run_start: tokio::time::Instant) -> Nemesis`
//! - `Nemesis::apply(&mut self, fault: &PlannedFault, planned_at: Duration) -> Result<AppliedFault, NemesisError>`:
//!   resolves the targets (roles through the [`RoleResolver`], services by
//!   compose label), writes and fsyncs the intent, applies, journals the
//!   apply. It returns when the fault is complete (a stop waits for the
//!   exit, a rolling restart for every target); [`AppliedFault`] says when
//!   chaos issued it (`issued`, `issue_lag`) and when the engine confirmed
//!   it (`effective`, `lag`). A fault that failed part way is still
//!   recorded as applied, so its heal runs.
//! - `Nemesis::heal(&mut self, id: u64) -> Result<HealedFault, NemesisError>`; a failed
//!   heal keeps the fault applied, so the next heal or `heal_all` retries.
//! - `Nemesis::heal_all(&mut self) -> Vec<Result<HealedFault, NemesisError>>`: every
//!   unhealed fault, newest first, then the helper containers. Call it on
//!   every exit path (the engine's `FaultSession` does); dropping a
//!   `Nemesis` with faults still applied (a panic) heals them from its
//!   journal on a separate thread, then closes it.
//! - `Nemesis::finish(self) -> FinishReport`: `heal_all`, then closes the
//!   journal (and leaves the active index when all healed).
//! - [`sweep`]`(&ComposeCluster) -> SweepReport` and
//!   [`recover()`]`(&ComposeCluster) -> RecoveryReport` (the journals, then the
//!   sweep): what `chaos heal` runs, and what a runner may run after a run.
//!
//! Times are run-relative (`tokio::time::Instant` at the run's start); the
//! journal adds wall-clock UTC for people. `chaos nemesis-apply` (hidden)
//! applies one planned fault through exactly this path and holds it; the
//! crash tests SIGKILL it and `chaos run` (which makes the same calls), then
//! check that `chaos heal` leaves nothing behind.
//!
//! # Scope guard
//!
//! Targets come only from the project's containers (listed by compose
//! label); a role must resolve to a node of its component; a container
//! named by a journal is re-checked ([`ComposeCluster::scoped`]). Anything
//! else is refused with an error.

pub mod netns;
pub mod recover;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use crate::docker::{ComposeCluster, ContainerInfo, DockerError, Health, Scoped, State};
use crate::docker::{LimitUpdate, Limits};
use crate::experiment::{Fault, PartitionKind};
use crate::journal::{
    AppliedRecord, FaultKind, HealedRecord, Intent, Journal, JournalError, LimitRecord, LinkRecord,
    Record, RoleRecord, RuleRecord, TargetRecord, utc_now,
};
use crate::plan::{self, Plan, PlannedFault, PlannedTargets};
use crate::roles::RoleResolver;

pub use netns::{Helpers, helper_image};
pub use recover::{
    JournalRecovery, RecoveryReport, SweepReport, heal_journal, recover, recover_in, sweep, undo,
};

/// The `chaos-fs ctl` words that apply a disk fault (`None` for other
/// faults). Pure.
pub fn chaos_fs_command(fault: &Fault, seed: u64) -> Option<Vec<String>> {
    let words = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let scope = |ops: &[String], path: &Option<String>| {
        let mut v = vec!["--ops".to_string(), ops.join(",")];
        if let Some(p) = path {
            v.push("--path".into());
            v.push(p.clone());
        }
        v
    };
    Some(match fault {
        Fault::PowerLoss { torn: false } => words(&["freeze"]),
        Fault::PowerLoss { torn: true } => {
            let mut v = words(&["freeze", "--torn", "--seed"]);
            v.push(seed.to_string());
            v
        }
        Fault::DiskFull { after_bytes } => {
            let mut v = words(&["disk-full"]);
            if let Some(n) = after_bytes {
                v.push("--after-bytes".into());
                v.push(n.to_string());
            }
            v
        }
        Fault::IoError { share, ops, path } => {
            let mut v = words(&["io-error", "--share"]);
            v.push(format!("{share}%"));
            v.extend(scope(ops, path));
            v.push("--seed".into());
            v.push(seed.to_string());
            v
        }
        Fault::IoDelay {
            delay,
            jitter,
            ops,
            path,
        } => {
            let mut v = words(&["io-delay", "--delay"]);
            v.push(format!("{}ms", delay.as_millis()));
            v.push("--jitter".into());
            v.push(format!("{}ms", jitter.as_millis()));
            v.extend(scope(ops, path));
            v.push("--seed".into());
            v.push(seed.to_string());
            v
        }
        _ => return None,
    })
}

/// How often chaos moves a clock that moves (rate, strobe).
pub const CLOCK_TICK: Duration = Duration::from_millis(50);

/// The libfaketime offset file's content for a clock `secs` seconds off
/// the real one (`+30.000`, `-300.000`, `+0.000`). Pure.
pub fn faketime_line(secs: f64) -> String {
    format!("{secs:+.3}\n")
}

/// The file a target's libfaketime reads its offset from
/// ([`crate::journal::clock_dir`]).
pub fn clock_file(project: &str, service: &str) -> PathBuf {
    crate::journal::clock_dir(&crate::journal::state_dir(), project, service).join("faketime")
}

/// Write a clock offset into an offset file, atomically (its directory
/// made if need be).
pub fn write_clock_file(file: &std::path::Path, secs: f64) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::store::write_atomic(file, faketime_line(secs).as_bytes())
}

/// Write a target's clock offset where its libfaketime reads it.
pub fn write_clock(project: &str, service: &str, secs: f64) -> std::io::Result<()> {
    write_clock_file(&clock_file(project, service), secs)
}

/// A clock fault that moves: the task that moves it, and the switch that
/// stops it before the heal writes the real clock back.
struct ClockTicker {
    stopped: Arc<std::sync::Mutex<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl ClockTicker {
    fn stop(self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.task.abort();
    }
}

/// The CPU period chaos sets with a quota: the kernel's default, 100 ms.
pub const CPU_PERIOD_US: i64 = 100_000;

/// The update that leaves a container `cpus` of a core. A container
/// started with `cpus:` (NanoCpus) is limited the same way (the engine
/// refuses a quota beside it); otherwise a quota per 100 ms period. Pure.
pub fn cpu_update(cpus: f64, before: &Limits) -> LimitUpdate {
    if before.nano_cpus > 0 {
        LimitUpdate {
            nano_cpus: Some((cpus * 1e9).round() as i64),
            ..Default::default()
        }
    } else {
        LimitUpdate {
            cpu_period: Some(CPU_PERIOD_US),
            cpu_quota: Some(((cpus * CPU_PERIOD_US as f64).round() as i64).max(1_000)),
            ..Default::default()
        }
    }
}

/// The update back to the CPU limits a container started with: its
/// NanoCpus, or its quota and period, or no quota at all (the engine
/// resets a quota only with -1; 0 would leave it). Pure.
pub fn cpu_restore(before: &Limits) -> LimitUpdate {
    if before.nano_cpus > 0 {
        return LimitUpdate {
            nano_cpus: Some(before.nano_cpus),
            ..Default::default()
        };
    }
    LimitUpdate {
        cpu_quota: Some(if before.cpu_quota > 0 {
            before.cpu_quota
        } else {
            -1
        }),
        cpu_period: (before.cpu_period > 0).then_some(before.cpu_period),
        ..Default::default()
    }
}

/// The update that limits a container's memory to `bytes`, swap included
/// (the engine refuses a memory limit above the swap limit, so both go
/// together). Pure.
pub fn memory_update(bytes: u64) -> LimitUpdate {
    LimitUpdate {
        memory: Some(bytes as i64),
        memory_swap: Some(bytes as i64),
        ..Default::default()
    }
}

/// The update back to the memory a container started with. The engine
/// cannot lift a memory limit once set (0 leaves it; -1 is refused as
/// under its 6 MiB minimum), so a container that started with none gets
/// the host's whole memory as its limit, and twice that for memory and
/// swap together: what it could use before. (A swap limit of -1 is
/// recorded by the engine but not written to the kernel once a limit was
/// set, and the kernel then refuses a memory limit above the old swap
/// limit: checked on this engine, so the swap limit is written out.) One that started with a limit gets it back, with its swap
/// limit (0, "twice the memory" in the engine's words, is written out).
/// Pure.
pub fn memory_restore(before: &Limits, host_memory: i64) -> LimitUpdate {
    if before.memory <= 0 {
        let memory = host_memory.max(6 << 20);
        return LimitUpdate {
            memory: Some(memory),
            memory_swap: Some(memory.saturating_mul(2)),
            ..Default::default()
        };
    }
    let swap = match before.memory_swap {
        0 => before.memory.saturating_mul(2),
        s => s,
    };
    LimitUpdate {
        memory: Some(before.memory),
        memory_swap: Some(swap),
        ..Default::default()
    }
}

/// The limits a journal recorded.
pub fn limits_of(l: &LimitRecord) -> Limits {
    Limits {
        cpu_quota: l.cpu_quota,
        cpu_period: l.cpu_period,
        nano_cpus: l.nano_cpus,
        memory: l.memory,
        memory_swap: l.memory_swap,
    }
}

/// Run `chaos-fs ctl WORDS...` in a target; its one-line JSON answer, or
/// an error that says what chaos-fs said (or that it is not running).
pub(crate) async fn chaos_fs_ctl(
    cluster: &ComposeCluster,
    target: &Scoped,
    words: &[String],
) -> Result<String, NemesisError> {
    let mut cmd: Vec<&str> = vec!["/usr/local/bin/chaos-fs", "ctl"];
    cmd.extend(words.iter().map(String::as_str));
    let out = cluster.exec(&target.id, &cmd).await?;
    if out.ok() {
        return Ok(format!("{}: {}", target.service, out.stdout.trim()));
    }
    let said = format!("{} {}", out.stdout.trim(), out.stderr.trim());
    Err(NemesisError::ChaosFs {
        service: target.service.clone(),
        command: words.join(" "),
        message: match out.code {
            3 => format!(
                "chaos-fs is not running there (was the container started with the run's \
                 compose override?): {}",
                said.trim()
            ),
            _ => said.trim().to_string(),
        },
    })
}

/// The containers an intent names, as the scope guard knows them.
fn scoped_targets(intent: &Intent) -> Vec<Scoped> {
    intent
        .targets
        .iter()
        .map(|t| Scoped {
            id: t.container.clone(),
            service: t.service.clone(),
            node: t.engine.clone(),
        })
        .collect()
}

/// Why a fault could not be applied or healed.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{service}: chaos-fs ctl {command}: {message}")]
    ChaosFs {
        service: String,
        command: String,
        message: String,
    },
    #[error("cannot resolve the {role} of `{component}`: {message}")]
    Resolve {
        role: String,
        component: String,
        message: String,
    },
    #[error(
        "refused: the {role} of `{component}` resolved to `{service}`, which is not a node of that component"
    )]
    RoleOutsideComponent {
        role: String,
        component: String,
        service: String,
    },
    #[error("fault {fault}: {message}")]
    BadTargets { fault: u64, message: String },
    #[error(
        "faults {faults:?} ({fault}) cannot be carried out on a Swarm: {why}; refused before the run, nothing was touched"
    )]
    SwarmRefuses {
        faults: Vec<u64>,
        fault: &'static str,
        why: &'static str,
    },
    #[error(
        "image `{image}` is missing on Swarm node(s) {nodes}; load it into each: `docker save {image} | docker -H <node's engine> load` (compose/swarm/testbed-up.sh does it for the test bed)"
    )]
    MissingOnNodes { image: String, nodes: String },
    #[error("fault {0} is already applied")]
    AlreadyApplied(u64),
    #[error("fault {0} is not applied")]
    NotApplied(u64),
    #[error(
        "netem is not available on this kernel, so fault(s) {faults:?} cannot run; \
         remove the netem nemesis or run on a kernel with the sch_netem module ({detail})"
    )]
    NetemUnsupported { faults: Vec<u64>, detail: String },
    #[error("{service}: no network namespace to work in (container is {state})")]
    NoNamespace { service: String, state: String },
    #[error("{service}: {purpose} failed in the helper container: {detail}")]
    Helper {
        service: String,
        purpose: String,
        detail: String,
    },
    #[error("fault {fault} ({kind}) applied only in part: {errors}")]
    Partial {
        fault: u64,
        kind: &'static str,
        errors: String,
    },
    #[error("fault {fault} ({kind}): heal failed: {errors}")]
    HealFailed {
        fault: u64,
        kind: &'static str,
        errors: String,
    },
}

/// A resolved target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    pub service: String,
    pub container: String,
}

/// A fault as applied.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AppliedFault {
    pub id: u64,
    pub kind: FaultKind,
    pub description: String,
    /// The services struck (roles resolved), in order.
    pub targets: Vec<Target>,
    /// What a role resolved to, if the fault named one.
    pub role: Option<String>,
    /// Run-relative times: planned; apply started; the first Docker request
    /// issued (targets resolved, intent fsynced); the engine confirmed the
    /// fault (see the table in the module docs); applying finished.
    pub planned: Duration,
    pub started: Duration,
    pub issued: Duration,
    pub effective: Duration,
    pub done: Duration,
    /// `effective - planned` (zero if early): the fault is in place.
    pub lag: Duration,
    /// `issued - planned`: chaos's own part of the lag.
    pub issue_lag: Duration,
    /// What was skipped (a partition node that was down, a source without
    /// an address).
    pub notes: Vec<String>,
}

/// A fault as healed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HealedFault {
    pub id: u64,
    pub kind: FaultKind,
    pub targets: Vec<Target>,
    /// Run-relative time the heal finished.
    pub at: Duration,
    /// What the heal did, for people.
    pub actions: Vec<String>,
}

/// The end of a nemesis's life.
#[derive(Debug)]
pub struct FinishReport {
    pub healed: Vec<Result<HealedFault, NemesisError>>,
    pub helpers_removed: usize,
    pub errors: Vec<String>,
}

/// Applies and heals the faults of one run.
pub struct Nemesis {
    cluster: ComposeCluster,
    journal: Option<Journal>,
    resolver: Arc<dyn RoleResolver>,
    components: BTreeMap<String, Vec<String>>,
    start: Instant,
    applied: BTreeMap<u64, Intent>,
    helpers: Helpers,
    /// The plan partitions: keep a helper ready in every node's namespace
    /// (re-made after a node restarts), so that a partition costs no
    /// container start.
    keep_helpers: bool,
    /// The project's containers as last listed, after the last apply or
    /// heal: the next apply resolves its targets from it without a list
    /// call. Only chaos's own faults change addresses during a run, and each
    /// one re-lists when it is done.
    snapshot: Option<BTreeMap<String, ContainerInfo>>,
    /// The run's seed: the draws inside a fault (chaos-fs's errors and
    /// delays, a torn write's length) come from its stream `fault/<id>`.
    seed: u64,
    /// Clock faults that move (rate, strobe), by fault id.
    clocks: BTreeMap<u64, ClockTicker>,
}

impl std::fmt::Debug for Nemesis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nemesis")
            .field("project", &self.cluster.project())
            .field("applied", &self.applied.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The netem faults of a plan. Pure.
pub fn netem_faults(plan: &Plan) -> Vec<u64> {
    plan.faults
        .iter()
        .filter(|f| matches!(f.fault, Fault::Netem { .. }))
        .map(|f| f.id)
        .collect()
}

/// Does the plan need helper containers (partitions, loss, bandwidth,
/// netem)? Pure.
pub fn needs_helpers(plan: &Plan) -> bool {
    plan.faults.iter().any(|f| {
        matches!(
            f.fault,
            Fault::Partition { .. }
                | Fault::Netem { .. }
                | Fault::Loss { .. }
                | Fault::Bandwidth { .. }
        )
    })
}

/// Checks to run before a run starts (and before `up`): the helper image is
/// present when the plan needs it, and netem works when the plan has netem
/// faults. A refusal here means nothing was touched.
///
/// On a Swarm also: the stack file keeps a fault in place (restart
/// condition `none`, no health check, host-mode ports, dnsrr), and the plan
/// has no fault Swarm makes impossible (disconnecting a task from an overlay
/// network: Swarm owns the attachment, and a task cannot be reconnected by
/// hand); the helper image is on every node.
pub async fn preflight(cluster: &ComposeCluster, plan: &Plan) -> Result<(), NemesisError> {
    if cluster.swarm().is_some() {
        let disconnects: Vec<u64> = plan
            .faults
            .iter()
            .filter(|f| matches!(f.fault, Fault::Disconnect { .. }))
            .map(|f| f.id)
            .collect();
        if !disconnects.is_empty() {
            return Err(NemesisError::SwarmRefuses {
                faults: disconnects,
                fault: "disconnect",
                why: "a Swarm task's overlay network attachment belongs to Swarm: the Engine API refuses to disconnect it or connect it again (partition the task instead: `fault = \"partition\"` drops the same traffic with iptables in its namespace)",
            });
        }
        cluster.check_stack_file()?;
    }
    if !needs_helpers(plan) {
        return Ok(());
    }
    let image = helper_image();
    let missing = cluster.nodes_without_image(&image).await?;
    if !missing.is_empty() {
        if cluster.swarm().is_some() {
            return Err(NemesisError::MissingOnNodes {
                image,
                nodes: missing.join(", "),
            });
        }
        return Err(DockerError::MissingImage(image).into());
    }
    let netem = netem_faults(plan);
    if !netem.is_empty()
        && let Some(detail) = netns::probe_netem(cluster).await?
    {
        return Err(NemesisError::NetemUnsupported {
            faults: netem,
            detail,
        });
    }
    Ok(())
}

fn joined(errors: &[String]) -> String {
    errors.join("; ")
}

impl Nemesis {
    pub fn new(
        cluster: ComposeCluster,
        journal: Journal,
        resolver: Arc<dyn RoleResolver>,
        components: BTreeMap<String, Vec<String>>,
        run_start: Instant,
    ) -> Nemesis {
        Nemesis {
            cluster,
            journal: Some(journal),
            resolver,
            components,
            start: run_start,
            applied: BTreeMap::new(),
            helpers: Helpers::default(),
            keep_helpers: false,
            snapshot: None,
            seed: 0,
            clocks: BTreeMap::new(),
        }
    }

    /// The run's seed, for the draws inside faults (before any apply).
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
    }

    /// The seed of fault `id`'s own draws.
    fn fault_seed(&self, id: u64) -> u64 {
        use rand::RngCore;
        crate::seed::Seed(self.seed)
            .stream(&format!("fault/{id}"))
            .next_u64()
    }

    pub fn cluster(&self) -> &ComposeCluster {
        &self.cluster
    }

    /// Move the run's clock origin (before any fault is applied): the
    /// engine starts the clock once the session is open, so that preparing
    /// helpers (seconds on a Swarm node whose engine copies each container's
    /// image: vfs) does not eat into the fault schedule.
    pub fn set_start(&mut self, start: Instant) {
        debug_assert!(self.applied.is_empty());
        self.start = start;
    }

    /// The journal's path.
    pub fn journal_path(&self) -> Option<PathBuf> {
        self.journal.as_ref().map(|j| j.path().to_path_buf())
    }

    /// The faults applied and not yet healed.
    pub fn applied(&self) -> Vec<u64> {
        self.applied.keys().copied().collect()
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn journal(&mut self, record: Record) -> Result<(), JournalError> {
        match self.journal.as_mut() {
            Some(j) => j.append(&record),
            None => Ok(()),
        }
    }

    /// Every service a plan names has a container in the project; where the
    /// plan partitions, helpers are created now so the first partition is
    /// fast.
    pub async fn check_targets(&mut self, plan: &Plan) -> Result<(), NemesisError> {
        // On a Swarm, what is deployed must keep a fault in place too.
        self.cluster.check_restart_policy().await?;
        let containers = self.cluster.containers().await?;
        let mut named = BTreeSet::new();
        for f in &plan.faults {
            match &f.targets {
                PlannedTargets::Services(s) => named.extend(s.iter().cloned()),
                PlannedTargets::Partition { drops } => {
                    for (to, froms) in drops {
                        named.insert(to.clone());
                        named.extend(froms.iter().cloned());
                    }
                }
                PlannedTargets::Role { component, .. } => named.extend(
                    self.components
                        .get(component)
                        .into_iter()
                        .flatten()
                        .cloned(),
                ),
            }
        }
        for s in &named {
            if !containers.contains_key(s) {
                return Err(self.cluster.no_container(s).into());
            }
        }
        if plan
            .faults
            .iter()
            .any(|f| matches!(f.fault, Fault::Partition { .. }))
        {
            let targets: Vec<Scoped> = named
                .iter()
                .filter_map(|s| containers.get(s))
                .map(|c| self.cluster.scoped_info(c))
                .collect();
            self.keep_helpers = true;
            self.helpers.prepare(&self.cluster, &targets).await;
        }
        self.snapshot = Some(containers);
        Ok(())
    }

    async fn resolve_role(&self, role: &str, component: &str) -> Result<String, NemesisError> {
        let service =
            self.resolver
                .resolve(role, component)
                .await
                .map_err(|e| NemesisError::Resolve {
                    role: role.to_string(),
                    component: component.to_string(),
                    message: e.to_string(),
                })?;
        let nodes = self.components.get(component);
        if !nodes.is_some_and(|n| n.contains(&service)) {
            return Err(NemesisError::RoleOutsideComponent {
                role: role.to_string(),
                component: component.to_string(),
                service,
            });
        }
        Ok(service)
    }

    /// Build the intent: resolve roles and containers, the rules or links.
    async fn intent(
        &self,
        fault: &PlannedFault,
        planned_at: Duration,
    ) -> Result<(Intent, Vec<String>), NemesisError> {
        let kind = FaultKind::of(&fault.fault);
        let listed;
        let containers = match &self.snapshot {
            Some(c) if fault_services(fault).iter().all(|s| c.contains_key(s)) => c,
            _ => {
                listed = self.cluster.containers().await?;
                &listed
            }
        };
        let find = |service: &str| -> Result<&ContainerInfo, NemesisError> {
            containers
                .get(service)
                .ok_or_else(|| self.cluster.no_container(service).into())
        };
        let mut role = None;
        let mut notes = Vec::new();
        let mut intent = Intent {
            fault: fault.id,
            kind,
            description: fault.fault.describe(),
            planned_ms: planned_at.as_millis() as u64,
            at_ms: 0,
            utc: String::new(),
            role: None,
            targets: Vec::new(),
            links: Vec::new(),
            rules: Vec::new(),
            limits: Vec::new(),
        };
        let probability = match &fault.fault {
            Fault::Loss { loss, .. } => Some(loss / 100.0),
            _ => None,
        };
        let services: Vec<String> = match (&fault.targets, &fault.fault) {
            (PlannedTargets::Services(s), _) => s.clone(),
            (PlannedTargets::Role { role: r, component }, _) => {
                let service = self.resolve_role(r, component).await?;
                role = Some(RoleRecord {
                    role: r.clone(),
                    component: component.clone(),
                    service: service.clone(),
                });
                vec![service]
            }
            (PlannedTargets::Partition { .. }, _) => Vec::new(),
        };
        if let Some(partition) = fault.fault.cut() {
            let drops = match &fault.targets {
                PlannedTargets::Partition { drops } => drops.clone(),
                PlannedTargets::Role { component, .. } => {
                    let peers = self.components.get(component).cloned().unwrap_or_default();
                    plan::isolate(&services[0], &peers, partition == PartitionKind::OneWay)
                }
                PlannedTargets::Services(_) => {
                    return Err(NemesisError::BadTargets {
                        fault: fault.id,
                        message:
                            "a partition needs a cut (drops) or a role, not a list of services"
                                .to_string(),
                    });
                }
            };
            let tag = netns::rule_tag(self.cluster.project(), fault.id);
            for (to, froms) in &drops {
                let node = find(to)?;
                let mut drop_from = BTreeMap::new();
                for from in froms {
                    let ips = find(from)?.ips();
                    if ips.is_empty() {
                        notes.push(format!(
                            "{from} has no address: nothing to drop from it at {to}"
                        ));
                    }
                    drop_from.insert(from.clone(), ips);
                }
                intent.targets.push(TargetRecord {
                    service: to.clone(),
                    container: node.id.clone(),
                    engine: node.node.clone(),
                });
                intent.rules.push(RuleRecord {
                    service: to.clone(),
                    container: node.id.clone(),
                    engine: node.node.clone(),
                    tag: tag.clone(),
                    drop_from,
                    probability,
                });
            }
        } else {
            for s in &services {
                let c = find(s)?;
                intent.targets.push(TargetRecord {
                    service: s.clone(),
                    container: c.id.clone(),
                    engine: c.node.clone(),
                });
            }
        }
        // A loss without a cut: every target drops a share of all it
        // receives, as one tagged rule.
        if let Fault::Loss {
            partition: None, ..
        } = &fault.fault
        {
            let tag = netns::rule_tag(self.cluster.project(), fault.id);
            for t in &intent.targets {
                intent.rules.push(RuleRecord {
                    service: t.service.clone(),
                    container: t.container.clone(),
                    engine: t.engine.clone(),
                    tag: tag.clone(),
                    drop_from: BTreeMap::new(),
                    probability,
                });
            }
        }
        // CPU and memory faults: the limits before, journaled before they
        // change, are what the heal restores.
        if matches!(fault.fault, Fault::Cpu { .. } | Fault::Memory { .. }) {
            for t in &intent.targets {
                let scoped = Scoped {
                    id: t.container.clone(),
                    service: t.service.clone(),
                    node: t.engine.clone(),
                };
                let (l, _) = self.cluster.limits(&scoped).await?;
                intent.limits.push(LimitRecord {
                    service: t.service.clone(),
                    container: t.container.clone(),
                    engine: t.engine.clone(),
                    cpu_quota: l.cpu_quota,
                    cpu_period: l.cpu_period,
                    nano_cpus: l.nano_cpus,
                    memory: l.memory,
                    memory_swap: l.memory_swap,
                });
            }
        }
        if let Fault::Disconnect { network } = &fault.fault {
            for t in &intent.targets {
                let c = find(&t.service)?;
                let endpoints = self.cluster.endpoints(&self.cluster.scoped_info(c)).await?;
                let chosen: Vec<(&String, _)> = match network {
                    None => endpoints.iter().collect(),
                    Some(n) => {
                        let full = format!("{}_{n}", self.cluster.project());
                        endpoints
                            .iter()
                            .filter(|(name, _)| *name == n || **name == full)
                            .collect()
                    }
                };
                if chosen.is_empty() {
                    return Err(NemesisError::BadTargets {
                        fault: fault.id,
                        message: format!(
                            "{} is on no network{}",
                            t.service,
                            network
                                .as_ref()
                                .map(|n| format!(" named `{n}`"))
                                .unwrap_or_default()
                        ),
                    });
                }
                for (name, e) in chosen {
                    let mut aliases = e.aliases.clone();
                    if !aliases.contains(&t.service) {
                        aliases.push(t.service.clone());
                    }
                    intent.links.push(LinkRecord {
                        service: t.service.clone(),
                        container: t.container.clone(),
                        engine: t.engine.clone(),
                        network: name.clone(),
                        aliases,
                        ip: e.ip.clone(),
                    });
                }
            }
        }
        intent.role = role;
        Ok((intent, notes))
    }

    /// Apply a planned fault. The intent is journaled (fsynced) before
    /// anything is touched; see the module docs.
    pub async fn apply(
        &mut self,
        fault: &PlannedFault,
        planned_at: Duration,
    ) -> Result<AppliedFault, NemesisError> {
        if self.applied.contains_key(&fault.id) {
            return Err(NemesisError::AlreadyApplied(fault.id));
        }
        let started = self.now();
        let (mut intent, mut notes) = self.intent(fault, planned_at).await?;
        intent.at_ms = self.now().as_millis() as u64;
        intent.utc = utc_now();
        self.journal(Record::Intent(intent.clone()))?;
        let issued = self.now();
        self.applied.insert(fault.id, intent.clone());
        tracing::info!(fault = fault.id, kind = intent.kind.name(), targets = ?intent.targets, "applying");

        let (effective, errors) = self
            .act(&fault.fault, &intent, self.fault_seed(fault.id), &mut notes)
            .await;
        let done = self.now();
        self.relist().await;
        if intent.kind == FaultKind::Restart {
            self.refresh_helpers(&intent).await;
        }
        if let Fault::Clock { clock } = &fault.fault
            && clock.moves()
        {
            let ticker = self.clock_ticker(*clock, &intent);
            self.clocks.insert(fault.id, ticker);
        }
        let effective = effective.unwrap_or(done);
        let lag = effective.saturating_sub(planned_at);
        let error = (!errors.is_empty()).then(|| joined(&errors));
        self.journal(Record::Applied(AppliedRecord {
            fault: fault.id,
            planned_ms: intent.planned_ms,
            issued_ms: issued.as_millis() as u64,
            effective_ms: effective.as_millis() as u64,
            done_ms: done.as_millis() as u64,
            lag_us: lag.as_micros() as u64,
            utc: utc_now(),
            error: error.clone(),
        }))?;
        if let Some(errors) = error {
            return Err(NemesisError::Partial {
                fault: fault.id,
                kind: intent.kind.name(),
                errors,
            });
        }
        Ok(AppliedFault {
            id: fault.id,
            kind: intent.kind,
            description: intent.description.clone(),
            targets: targets_of(&intent),
            role: intent.role.as_ref().map(|r| r.service.clone()),
            planned: planned_at,
            started,
            issued,
            effective,
            done,
            lag,
            issue_lag: issued.saturating_sub(planned_at),
            notes,
        })
    }

    /// The task that moves a clock fault's clock every [`CLOCK_TICK`] until
    /// it is stopped.
    fn clock_ticker(&self, shape: crate::experiment::ClockShape, intent: &Intent) -> ClockTicker {
        let stopped = Arc::new(std::sync::Mutex::new(false));
        // The files once, not at every tick (apply wrote them already).
        let files: Vec<(String, PathBuf)> = intent
            .targets
            .iter()
            .map(|t| {
                (
                    t.service.clone(),
                    clock_file(self.cluster.project(), &t.service),
                )
            })
            .collect();
        let flag = stopped.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            loop {
                tokio::time::sleep(CLOCK_TICK).await;
                let secs = shape.offset_at(start.elapsed());
                let stopped = flag.lock().unwrap_or_else(|e| e.into_inner());
                if *stopped {
                    return;
                }
                for (s, file) in &files {
                    if let Err(e) = write_clock_file(file, secs) {
                        tracing::warn!(service = %s, "moving the clock: {e}");
                    }
                }
            }
        });
        ClockTicker { stopped, task }
    }

    /// Do the fault. Returns when it took effect and the errors.
    async fn act(
        &self,
        fault: &Fault,
        intent: &Intent,
        seed: u64,
        notes: &mut Vec<String>,
    ) -> (Option<Duration>, Vec<String>) {
        let c = &self.cluster;
        let scoped = scoped_targets(intent);
        let errs = |rs: Vec<Result<(), NemesisError>>| -> Vec<String> {
            rs.into_iter()
                .filter_map(|r| r.err().map(|e| e.to_string()))
                .collect()
        };
        match fault {
            Fault::Kill => {
                let rs = join_all(scoped.iter().map(|t| async move {
                    c.signal(t, "SIGKILL").await.map_err(NemesisError::from)
                }))
                .await;
                (Some(self.now()), errs(rs))
            }
            Fault::Pause => {
                let rs = join_all(
                    scoped
                        .iter()
                        .map(|t| async move { c.pause(t).await.map_err(NemesisError::from) }),
                )
                .await;
                (Some(self.now()), errs(rs))
            }
            Fault::Stop { grace } => {
                let rs = join_all(scoped.iter().map(|t| async move {
                    c.signal(t, "SIGTERM").await.map_err(NemesisError::from)
                }))
                .await;
                let effective = self.now();
                let mut errors = errs(rs);
                let rs = join_all(scoped.iter().map(|t| stop_within(c, t, *grace))).await;
                errors.extend(errs(rs));
                (Some(effective), errors)
            }
            Fault::Restart { grace } => {
                let mut effective = None;
                let mut errors = Vec::new();
                for t in &scoped {
                    if let Err(e) = c.signal(t, "SIGTERM").await {
                        errors.push(e.to_string());
                    }
                    effective.get_or_insert_with(|| self.now());
                    let r = async {
                        stop_within(c, t, *grace).await?;
                        c.start(t).await?;
                        wait_running(c, &t.service, RESTART_READY).await
                    }
                    .await;
                    if let Err(e) = r {
                        errors.push(e.to_string());
                    }
                }
                (effective, errors)
            }
            Fault::Disconnect { .. } => {
                let rs = join_all(intent.links.iter().map(|l| async move {
                    let t = Scoped {
                        id: l.container.clone(),
                        service: l.service.clone(),
                        node: l.engine.clone(),
                    };
                    c.disconnect_network(&t, &l.network)
                        .await
                        .map_err(NemesisError::from)
                }))
                .await;
                (Some(self.now()), errs(rs))
            }
            Fault::Partition { .. } | Fault::Loss { .. } => {
                let helpers = &self.helpers;
                let rs = join_all(intent.rules.iter().map(|r| async move {
                    let ips: Vec<String> = r.drop_from.values().flatten().cloned().collect();
                    // A cut with no address to drop drops nothing; a loss
                    // without a cut (no sources) drops from everyone.
                    if ips.is_empty() && (fault.cut().is_some() || r.probability.is_none()) {
                        return Ok(None);
                    }
                    let script = match r.probability {
                        Some(p) => netns::add_loss_script(&r.tag, &ips, p),
                        None => netns::add_rules_script(&r.tag, &ips),
                    };
                    let t = Scoped {
                        id: r.container.clone(),
                        service: r.service.clone(),
                        node: r.engine.clone(),
                    };
                    match helpers.run(c, &t, "adding iptables rules", &script).await {
                        Ok(_) => Ok(None),
                        // A node that is down receives nothing anyway.
                        Err(NemesisError::NoNamespace { service, state }) => {
                            Ok(Some(format!("{service} is {state}: no rules added there")))
                        }
                        Err(e) => Err(e),
                    }
                }))
                .await;
                let mut errors = Vec::new();
                for r in rs {
                    match r {
                        Ok(Some(note)) => notes.push(note),
                        Ok(None) => {}
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                (Some(self.now()), errors)
            }
            Fault::Netem {
                delay,
                jitter,
                loss,
                duplicate,
                corrupt,
                reorder,
            } => {
                let script = netns::netem_add_script(&netns::NetemArgs {
                    delay_ms: delay.as_millis() as u64,
                    jitter_ms: jitter.as_millis() as u64,
                    loss: *loss,
                    duplicate: *duplicate,
                    corrupt: *corrupt,
                    reorder: *reorder,
                });
                let helpers = &self.helpers;
                let script = &script;
                let rs = join_all(scoped.iter().map(|t| async move {
                    helpers.run(c, t, "adding netem", script).await.map(|_| ())
                }))
                .await;
                (Some(self.now()), errs(rs))
            }
            Fault::Clock { clock } => {
                let secs = clock.offset_at(Duration::ZERO);
                let mut errors = Vec::new();
                for t in &scoped {
                    match write_clock(c.project(), &t.service, secs) {
                        Ok(()) => notes.push(format!(
                            "{}: clock {} ({})",
                            t.service,
                            faketime_line(secs).trim(),
                            fault.describe()
                        )),
                        Err(e) => {
                            errors.push(format!("{}: writing its clock offset: {e}", t.service))
                        }
                    }
                }
                (Some(self.now()), errors)
            }
            Fault::Bandwidth { rate } => {
                let script = netns::tbf_add_script(*rate);
                let helpers = &self.helpers;
                let script = &script;
                let rs = join_all(scoped.iter().map(|t| async move {
                    helpers
                        .run(c, t, "adding a tbf qdisc", script)
                        .await
                        .map(|_| ())
                }))
                .await;
                (Some(self.now()), errs(rs))
            }
            Fault::Cpu { .. } | Fault::Memory { .. } => {
                let rs = join_all(intent.limits.iter().map(|l| async move {
                    let t = Scoped {
                        id: l.container.clone(),
                        service: l.service.clone(),
                        node: l.engine.clone(),
                    };
                    let update = match fault {
                        Fault::Cpu { cpus } => cpu_update(*cpus, &limits_of(l)),
                        Fault::Memory { bytes } => memory_update(*bytes),
                        _ => unreachable!("matched above"),
                    };
                    c.update_limits(&t, update)
                        .await
                        .map_err(NemesisError::from)
                }))
                .await;
                (Some(self.now()), errs(rs))
            }
            Fault::PowerLoss { .. } => {
                // Every target's disk stops at once, then every process
                // dies: the database never sees a write after the freeze.
                let freeze = chaos_fs_command(fault, seed).unwrap_or_default();
                let freeze = &freeze;
                let rs = join_all(
                    scoped
                        .iter()
                        .map(|t| async move { chaos_fs_ctl(c, t, freeze).await }),
                )
                .await;
                let effective = self.now();
                let mut errors = Vec::new();
                for r in rs {
                    match r {
                        Ok(out) => notes.push(out),
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                let rs = join_all(scoped.iter().map(|t| async move {
                    c.signal(t, "SIGKILL").await.map_err(NemesisError::from)
                }))
                .await;
                errors.extend(errs(rs));
                (Some(effective), errors)
            }
            Fault::DiskFull { .. } | Fault::IoError { .. } | Fault::IoDelay { .. } => {
                let cmd = chaos_fs_command(fault, seed).unwrap_or_default();
                let cmd = &cmd;
                let rs = join_all(
                    scoped
                        .iter()
                        .map(|t| async move { chaos_fs_ctl(c, t, cmd).await.map(|_| ()) }),
                )
                .await;
                (Some(self.now()), errs(rs))
            }
        }
    }

    /// List the containers again for the next apply (forget them if the
    /// list fails: the next apply lists for itself).
    async fn relist(&mut self) {
        self.snapshot = self.cluster.containers().await.ok();
    }

    /// Targets that restarted have a new namespace: make their helpers
    /// anew now, not when the next partition strikes.
    async fn refresh_helpers(&self, intent: &Intent) {
        if self.keep_helpers {
            let targets = scoped_targets(intent);
            self.helpers.prepare(&self.cluster, &targets).await;
        }
    }

    /// Heal one applied fault.
    pub async fn heal(&mut self, id: u64) -> Result<HealedFault, NemesisError> {
        let intent = self
            .applied
            .get(&id)
            .cloned()
            .ok_or(NemesisError::NotApplied(id))?;
        if let Some(t) = self.clocks.remove(&id) {
            t.stop();
        }
        let result = undo(&self.cluster, &self.helpers, &intent).await;
        let at = self.now();
        let error = result.as_ref().err().map(|e| e.to_string());
        self.journal(Record::Healed(HealedRecord {
            fault: id,
            at_ms: Some(at.as_millis() as u64),
            utc: utc_now(),
            by: "run".to_string(),
            error,
        }))?;
        self.relist().await;
        let actions = result?;
        self.applied.remove(&id);
        if matches!(
            intent.kind,
            FaultKind::Kill
                | FaultKind::Stop
                | FaultKind::Restart
                | FaultKind::PowerLoss
                | FaultKind::Memory
        ) {
            self.refresh_helpers(&intent).await;
        }
        tracing::info!(fault = id, ?actions, "healed");
        Ok(HealedFault {
            id,
            kind: intent.kind,
            targets: targets_of(&intent),
            at,
            actions,
        })
    }

    /// Heal every applied fault, newest first, then remove the helper
    /// containers. Errors are returned, not raised: the caller is on its way
    /// out.
    pub async fn heal_all(&mut self) -> Vec<Result<HealedFault, NemesisError>> {
        let ids: Vec<u64> = self.applied.keys().rev().copied().collect();
        let mut out = Vec::new();
        for id in ids {
            out.push(self.heal(id).await);
        }
        if let Err(e) = self.helpers.remove_all(&self.cluster).await {
            out.push(Err(e.into()));
        }
        out
    }

    /// Heal everything, remove the helpers and close the journal (leaving
    /// the active index when every fault is healed).
    pub async fn finish(mut self) -> FinishReport {
        let healed = self.heal_all().await;
        let mut errors: Vec<String> = healed
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
            .collect();
        let helpers_removed = match self.cluster.remove_helpers().await {
            Ok(n) => n,
            Err(e) => {
                errors.push(e.to_string());
                0
            }
        };
        let all_healed = self.applied.is_empty();
        if let Some(j) = self.journal.take()
            && let Err(e) = j.close(all_healed)
        {
            errors.push(e.to_string());
        }
        FinishReport {
            healed,
            helpers_removed,
            errors,
        }
    }
}

impl Drop for Nemesis {
    /// Faults still applied when the nemesis goes away without `finish` (a
    /// panic, a forgotten `heal_all`): heal them from the journal, on a
    /// thread with its own runtime and Docker connection, blocking the drop
    /// until done. Then close the journal (leaving the active index if all
    /// is healed).
    fn drop(&mut self) {
        for (_, t) in std::mem::take(&mut self.clocks) {
            t.stop();
        }
        let Some(journal) = self.journal.take() else {
            return;
        };
        if self.applied.is_empty() {
            if let Err(e) = journal.close(true) {
                tracing::error!("closing the journal: {e}");
            }
            return;
        }
        let path = journal.path().to_path_buf();
        let project = self.cluster.project().to_string();
        let compose = self.cluster.compose_file().map(|p| p.to_path_buf());
        // A stack's engines are this cluster's (its clients keep no idle
        // connection, so they work in the healer's runtime too).
        let swarm = self.cluster.swarm().is_some().then(|| self.cluster.clone());
        let faults: Vec<u64> = self.applied.keys().copied().collect();
        tracing::warn!(
            ?faults,
            "nemesis dropped with faults applied: healing from the journal"
        );
        let healer = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(heal_dropped(&project, compose.as_deref(), swarm, &path))
        });
        let all_healed = matches!(healer.join(), Ok(Some(true)));
        if let Err(e) = journal.close(all_healed) {
            tracing::error!("closing the journal: {e}");
        }
    }
}

/// Heal one journal in a fresh Docker connection; true if all healed.
async fn heal_dropped(
    project: &str,
    compose: Option<&std::path::Path>,
    swarm: Option<ComposeCluster>,
    journal: &std::path::Path,
) -> Option<bool> {
    let cluster = match (swarm, compose) {
        (Some(c), _) => Ok(c),
        (None, Some(f)) => ComposeCluster::connect(project, f).await,
        (None, None) => ComposeCluster::connect_project(project).await,
    };
    let cluster = match cluster {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot heal (run `chaos heal --project {project}`): {e}");
            return Some(false);
        }
    };
    let helpers = Helpers::default();
    let r = recover::heal_journal(&cluster, &helpers, journal, "drop").await;
    let _ = helpers.remove_all(&cluster).await;
    let _ = cluster.remove_helpers().await;
    for (id, e) in &r.failed {
        tracing::error!(
            "fault {id} could not be healed: {e}; run `chaos heal --project {project}`"
        );
    }
    Some(r.failed.is_empty() && r.unreadable.is_none())
}

/// The services a planned fault names (roles are resolved later).
fn fault_services(fault: &PlannedFault) -> Vec<String> {
    match &fault.targets {
        PlannedTargets::Services(s) => s.clone(),
        PlannedTargets::Partition { drops } => drops
            .iter()
            .flat_map(|(to, froms)| std::iter::once(to).chain(froms))
            .cloned()
            .collect(),
        PlannedTargets::Role { .. } => Vec::new(),
    }
}

/// The targets of an intent.
fn targets_of(intent: &Intent) -> Vec<Target> {
    intent
        .targets
        .iter()
        .map(|t| Target {
            service: t.service.clone(),
            container: t.container.clone(),
        })
        .collect()
}

/// How long a restarted node may take to be running (and healthy) again.
const RESTART_READY: Duration = Duration::from_secs(60);

/// Wait for a container to stop after SIGTERM; SIGKILL it past the grace.
async fn stop_within(c: &ComposeCluster, t: &Scoped, grace: Duration) -> Result<(), NemesisError> {
    if !c.wait_stopped(t, grace).await? {
        c.signal(t, "SIGKILL").await?;
        c.wait_stopped(t, Duration::from_secs(10)).await?;
    }
    Ok(())
}

/// Wait until a service is running and, if it has a health check, healthy.
async fn wait_running(
    c: &ComposeCluster,
    service: &str,
    timeout: Duration,
) -> Result<(), NemesisError> {
    let start = Instant::now();
    loop {
        let info = c.container(service).await?;
        if info.state == State::Running
            && !matches!(info.health, Health::Starting | Health::Unhealthy)
        {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(DockerError::NotReady {
                project: c.project().to_string(),
                waited: timeout,
                pending: format!("{service}: {} ({})", info.state.name(), info.status),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_offsets_and_their_file() {
        use crate::experiment::ClockShape;
        assert_eq!(faketime_line(30.0), "+30.000\n");
        assert_eq!(faketime_line(-300.0), "-300.000\n");
        assert_eq!(faketime_line(0.0), "+0.000\n");
        let jump = ClockShape::Offset { offset_ms: -5_000 };
        assert_eq!(jump.offset_at(Duration::from_secs(9)), -5.0);
        // A rate starts without a jump and drifts by (factor - 1) a second.
        let fast = ClockShape::Rate { factor: 2.0 };
        assert_eq!(fast.offset_at(Duration::ZERO), 0.0);
        assert_eq!(fast.offset_at(Duration::from_secs(10)), 10.0);
        let slow = ClockShape::Rate { factor: 0.5 };
        assert_eq!(slow.offset_at(Duration::from_secs(10)), -5.0);
        // Each step of the moving clock is at most (factor - 1) x the tick:
        // continuous as far as a reader can tell.
        let a = fast.offset_at(Duration::from_millis(1_000));
        let b = fast.offset_at(Duration::from_millis(1_000) + CLOCK_TICK);
        assert!((b - a - 0.05).abs() < 1e-9);
        // A strobe alternates: shifted, real, shifted.
        let strobe = ClockShape::Strobe {
            offset_ms: 2_000,
            period_ms: 500,
        };
        assert_eq!(strobe.offset_at(Duration::from_millis(100)), 2.0);
        assert_eq!(strobe.offset_at(Duration::from_millis(600)), 0.0);
        assert_eq!(strobe.offset_at(Duration::from_millis(1_100)), 2.0);
        assert!(!jump.moves() && fast.moves() && strobe.moves());
    }

    #[test]
    fn cpu_limits_and_their_restore() {
        let none = Limits::default();
        let u = cpu_update(0.2, &none);
        assert_eq!(
            (u.cpu_quota, u.cpu_period, u.nano_cpus),
            (Some(20_000), Some(100_000), None)
        );
        // Never under the kernel's 1 ms quota.
        assert_eq!(cpu_update(0.001, &none).cpu_quota, Some(1_000));
        // No quota before: -1 lifts it (0 would leave it in place).
        let r = cpu_restore(&none);
        assert_eq!(
            (r.cpu_quota, r.cpu_period, r.nano_cpus),
            (Some(-1), None, None)
        );
        // A quota before is put back, with its period.
        let q = Limits {
            cpu_quota: 50_000,
            cpu_period: 200_000,
            ..Default::default()
        };
        let r = cpu_restore(&q);
        assert_eq!((r.cpu_quota, r.cpu_period), (Some(50_000), Some(200_000)));
        // Started with `cpus:`: the same knob both ways.
        let n = Limits {
            nano_cpus: 1_500_000_000,
            ..Default::default()
        };
        let u = cpu_update(0.25, &n);
        assert_eq!((u.nano_cpus, u.cpu_quota), (Some(250_000_000), None));
        assert_eq!(cpu_restore(&n).nano_cpus, Some(1_500_000_000));
    }

    #[test]
    fn memory_limits_and_their_restore() {
        let u = memory_update(64 << 20);
        assert_eq!((u.memory, u.memory_swap), (Some(64 << 20), Some(64 << 20)));
        // None before: the host's memory, and twice that with swap.
        let r = memory_restore(&Limits::default(), 24 << 30);
        assert_eq!((r.memory, r.memory_swap), (Some(24 << 30), Some(48 << 30)));
        // A limit before comes back, its swap written out.
        let before = Limits {
            memory: 512 << 20,
            memory_swap: 0,
            ..Default::default()
        };
        let r = memory_restore(&before, 24 << 30);
        assert_eq!((r.memory, r.memory_swap), (Some(512 << 20), Some(1 << 30)));
        let before = Limits {
            memory: 512 << 20,
            memory_swap: -1,
            ..Default::default()
        };
        assert_eq!(memory_restore(&before, 1).memory_swap, Some(-1));
    }

    #[test]
    fn plans_that_need_netem_or_helpers() {
        use crate::experiment;
        let text = |fault: &str| {
            format!(
                r#"name = "t"
duration = "20s"
[cluster]
compose_file = "c.yml"
project = "p"
components = {{ db = ["a", "b", "c"] }}
[workload]
client = "etcd"
endpoints = ["a"]
[[nemesis]]
{fault}
targets = {{ one_of = ["a", "b", "c"] }}
schedule = {{ start = "1s", interval = "5s", duration = "2s" }}
"#
            )
        };
        let plan_of = |fault: &str| {
            let e = experiment::parse(&text(fault), "t.toml")
                .unwrap()
                .experiment;
            plan::plan(&e, crate::seed::Seed(1))
        };
        let p = plan_of("fault = \"netem\"\ndelay = \"50ms\"");
        assert!(!netem_faults(&p).is_empty());
        assert!(needs_helpers(&p));
        let p = plan_of("fault = \"pause\"");
        assert!(netem_faults(&p).is_empty());
        assert!(!needs_helpers(&p));
        let p = plan_of("fault = \"partition\"\npartition = \"isolate-one\"");
        assert!(needs_helpers(&p));
        let p = plan_of("fault = \"loss\"\nloss = 20");
        assert!(needs_helpers(&p) && netem_faults(&p).is_empty());
        let p = plan_of("fault = \"bandwidth\"\nrate = \"1mbit\"");
        assert!(needs_helpers(&p));
        let p = plan_of("fault = \"cpu\"\ncpus = 0.2");
        assert!(!needs_helpers(&p));
    }
}
