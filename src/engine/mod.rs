//! The run engine: one experiment run, from a loaded experiment and a seed
//! to a [`RunOutcome`], callable any number of times in one process (the
//! daemon calls it again and again, on several projects at once).
//!
//! Called like mini-redis's `server::run(listener, shutdown)`: inputs, a
//! cancellation token and a progress sink in, a value out. It never prints
//! (it reports [`progress::RunEvent`]s), never installs signal handlers,
//! never exits the process and never picks an exit code: the command line
//! maps signals to the token, draws the progress and chooses the code.
//!
//! The steps of [`run`]:
//! 1. Plan (pure); take the project's lock ([`crate::lock`]); connect to
//!    Docker; the local images and the faults' needs (helper image, netem)
//!    are checked before anything is touched.
//! 2. Bring the cluster up, or wait until the running one is healthy.
//! 3. Create the run directory: the experiment (its compose file resolved)
//!    and `replay.json`, the plan, history, chaos.log; open the
//!    [`session::FaultSession`] (journal + nemesis).
//! 4. Drive clients and faults together until the end, a cancellation, or
//!    a process client's adapter breaking the protocol (then the faults
//!    are healed and the run ends in an error naming the adapter's line).
//!    After a fault that starts containers again, the workload's endpoints
//!    are resolved again and the clients follow a node that moved to a new
//!    published port ([`connect::Addresses`]).
//! 5. Heal everything, let the cluster recover, read every key once more
//!    (skipped when cancelled).
//! 6. Check the history (a short budget when cancelled, `unknown` for what
//!    it could not decide), keep each node's log, write results.json and
//!    the reports (report.txt, and report.html from [`crate::html`]). A
//!    cancelled run is `status = "interrupted"`.
//! 7. Tear down if the experiment says so.
//!
//! Healing is not optional: whatever ends the run (its end, an error, a
//! panic in a task, a cancellation), every applied fault is healed before
//! `run` returns; a SIGKILL of the process is covered by the journal.
//!
//! Layer: above the nemesis, the clients, roles, docker, store, journal and
//! the pure core; below the daemon, the demos and the CLI, and imports none
//! of them.

pub mod bench;
pub mod connect;
pub mod progress;
pub mod session;
pub mod timeline;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::checker::Clock;
use crate::client::AnyClient;
use crate::docker::{ComposeCluster, DockerError};
use crate::history::HistoryError;
use crate::images::ImageError;
use crate::loader::Loaded;
use crate::lock::{LockError, ProjectLock};
use crate::nemesis::{self, Nemesis, NemesisError};
use crate::plan::{self, Plan, PlannedFault};
use crate::results::build::{FaultOutcome, RunFacts};
use crate::results::{self, Results, Status};
use crate::seed::Seed;
use crate::store::{RunDir, files};
use progress::{Phase, ProgressSink, RunEvent};
use session::{FaultSession, SessionError};
use timeline::{Applied, Faults, Stopped};
use workload::{ClientTask, Counters};

/// Process ids of the final reads start here, far above any client's.
const FINAL_PROCESS: u64 = 1 << 40;

/// A list-append run's results list at most this many anomalies of one
/// name in full (the rest are counted in `anomalies_omitted`).
const TXN_MAX_CASES: usize = 20;

/// How long the checker may take on the history of a cancelled run.
pub const INTERRUPTED_CHECK_BUDGET: Duration = Duration::from_secs(10);

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// The experiment file as the user named it (for the rerun command).
    pub file_arg: String,
    pub seed: Seed,
    /// Run directories go under `<results_root>/<experiment>/`.
    pub results_root: PathBuf,
    /// Run for this long instead of the file's duration.
    pub duration: Option<Duration>,
    /// The checker's budget per key.
    pub budget: Duration,
    /// Cancel to stop the run: it heals, checks what it has and returns an
    /// interrupted outcome.
    pub cancel: CancellationToken,
    /// Where the run's events go.
    pub progress: Arc<dyn ProgressSink>,
    /// Wait for the project's lock instead of refusing when it is held.
    pub wait_lock: bool,
    /// Who is running, for the lock's holder record (default: the rerun
    /// command; the daemon says `chaos daemon (campaign x, run 12)`).
    pub holder: Option<String>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("file_arg", &self.file_arg)
            .field("seed", &self.seed)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

impl RunOptions {
    /// Options with defaults: results under `results/`, a 60 s budget per
    /// key, no progress, a fresh token, refuse a held lock.
    pub fn new(file_arg: &str, seed: Seed) -> RunOptions {
        RunOptions {
            file_arg: file_arg.to_string(),
            seed,
            results_root: PathBuf::from("results"),
            duration: None,
            budget: Duration::from_secs(60),
            cancel: CancellationToken::new(),
            progress: Arc::new(progress::NoProgress),
            wait_lock: false,
            holder: None,
        }
    }

    /// The command that reruns this run exactly.
    pub fn rerun_command(&self) -> String {
        plan::run_command(
            std::path::Path::new(&self.file_arg),
            self.seed,
            self.duration,
        )
    }
}

/// A finished run (completed or interrupted).
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub results: Results,
    pub run_dir: PathBuf,
    /// The human report (also in `report.txt`).
    pub report: String,
}

impl RunOutcome {
    pub fn status(&self) -> Status {
        self.results.status
    }
}

/// Why a run could not be carried out. (A verdict is not an error: an
/// invalid history is an `Ok` outcome.)
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{context}: {source}")]
    Docker {
        context: &'static str,
        #[source]
        source: DockerError,
    },
    #[error(transparent)]
    Images(#[from] ImageError),
    #[error("checking what the faults need: {0}")]
    Preflight(#[source] NemesisError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("connecting the clients: {0}")]
    Connect(#[from] connect::ConnectError),
    #[error("{context}: {source}")]
    Store {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the recorded history is inconsistent: {0}")]
    History(#[from] HistoryError),
    #[error("{0} panicked")]
    Panicked(&'static str),
    #[error("the process client's adapter broke the protocol, so the run has no verdict: {0}")]
    Adapter(String),
    #[error("cancelled before the run started (nothing was applied)")]
    Cancelled,
}

impl EngineError {
    fn docker(context: &'static str) -> impl FnOnce(DockerError) -> EngineError {
        move |source| EngineError::Docker { context, source }
    }

    fn store(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
        let context = context.into();
        move |source| EngineError::Store { context, source }
    }
}

/// The SHA-256 of some bytes, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The checker's clock: time since the check started, or "out of time" as
/// soon as `cancel` fires (the checker then answers `unknown` for the keys
/// it has not decided).
struct CheckClock {
    start: std::time::Instant,
    cancel: Option<CancellationToken>,
}

impl Clock for CheckClock {
    fn now(&self) -> Duration {
        if self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            return Duration::from_secs(u32::MAX as u64);
        }
        self.start.elapsed()
    }
}

/// The nemesis as the timeline's [`Faults`]; after a fault that restarts
/// containers (as it is applied, and as it is healed), the workload's
/// endpoints are resolved again and the clients follow a node to a new
/// published port (the moves are recorded as what was seen of the fault).
struct NemesisFaults<'a> {
    nemesis: &'a mut Nemesis,
    follow: Follow<'a>,
}

/// What following the nodes' addresses needs.
struct Follow<'a> {
    experiment: &'a crate::experiment::Experiment,
    cluster: &'a ComposeCluster,
    clients: &'a [(String, AnyClient)],
    addresses: connect::Addresses,
    /// The planned faults that restart containers, by id.
    restarting: BTreeSet<u64>,
}

impl Follow<'_> {
    async fn after(&mut self, id: u64) -> Vec<String> {
        if !self.restarting.contains(&id) {
            return Vec::new();
        }
        self.refresh().await
    }

    async fn refresh(&mut self) -> Vec<String> {
        self.addresses
            .refresh(self.experiment, self.cluster, self.clients)
            .await
    }
}

impl Faults for NemesisFaults<'_> {
    async fn apply(&mut self, fault: &PlannedFault) -> Result<Applied, String> {
        let applied = self
            .nemesis
            .apply(fault, fault.at())
            .await
            .map_err(|e| format!("{e:#}"))?;
        let mut observed = applied.notes;
        observed.extend(self.follow.after(fault.id).await);
        Ok(Applied {
            role: applied.role,
            targets: applied.targets.into_iter().map(|t| t.service).collect(),
            observed,
        })
    }

    async fn heal(&mut self, id: u64) -> Result<Vec<String>, String> {
        let mut actions = self
            .nemesis
            .heal(id)
            .await
            .map(|h| h.actions)
            .map_err(|e| format!("{e:#}"))?;
        actions.extend(self.follow.after(id).await);
        Ok(actions)
    }

    async fn heal_all(&mut self) -> Vec<String> {
        self.nemesis
            .heal_all()
            .await
            .into_iter()
            .filter_map(|r| r.err().map(|e| format!("{e:#}")))
            .collect()
    }
}

/// Everything the drive phase produced.
struct Driven {
    faults: Vec<FaultOutcome>,
    stopped: Stopped,
    /// history.jsonl's text.
    recorded: String,
    workload_ns: u64,
}

/// Run an experiment (see the module docs for the steps).
pub async fn run(loaded: &Loaded, opts: RunOptions) -> Result<RunOutcome, EngineError> {
    let progress = opts.progress.clone();
    let cancel = opts.cancel.clone();
    let mut experiment = loaded.experiment.clone();
    if let Some(d) = opts.duration {
        experiment.duration = d;
    }
    let plan = plan::plan(&experiment, opts.seed);
    let project = experiment.cluster.project.clone();
    let holder = opts.holder.clone().unwrap_or_else(|| opts.rerun_command());
    // A wait for the lock ends with a cancellation too (the waiting thread
    // lets go of the lock if it gets it later).
    let _lock = tokio::select! {
        lock = ProjectLock::acquire(&project, &holder, opts.wait_lock) => lock?,
        _ = cancel.cancelled() => return Err(EngineError::Cancelled),
    };

    // 1. Nothing is touched until everything the run needs is known to be
    // there.
    let helper = if nemesis::needs_helpers(&plan) {
        vec![nemesis::helper_image()]
    } else {
        Vec::new()
    };
    let connect::Connected {
        cluster,
        overlay: compose_override,
    } = connect::cluster(
        &experiment,
        &loaded.compose_file,
        &helper,
        progress.as_ref(),
    )
    .await?;
    nemesis::preflight(&cluster, &plan)
        .await
        .map_err(EngineError::Preflight)?;

    // 2. The cluster.
    connect::ready(&experiment, &cluster, progress.as_ref(), &cancel).await?;
    let images = connect::images(&cluster).await?;

    // 3. The run directory and the fault session.
    let started_ms = unix_ms();
    let run_dir = RunDir::create(
        &opts.results_root,
        &experiment.name,
        &results::compact_utc(started_ms),
        opts.seed.0,
    )
    .map_err(EngineError::store(format!(
        "creating the run directory under {}",
        opts.results_root.display()
    )))?;
    progress.event(RunEvent::RunDir(run_dir.path().to_path_buf()));
    let write = |name: &str, bytes: &[u8]| {
        run_dir
            .write(name, bytes)
            .map_err(EngineError::store(format!("writing {name}")))
    };
    // The experiment as run, loadable from anywhere, and what a replay
    // needs beside it.
    let compose_abs = crate::docker::absolute(&loaded.compose_file);
    let copy = crate::experiment::with_compose_file(
        &loaded.text,
        &loaded.path.display().to_string(),
        &compose_abs.display().to_string(),
    )
    .unwrap_or_else(|_| loaded.text.clone());
    write(files::EXPERIMENT, copy.as_bytes())?;
    let compose_bytes = std::fs::read(&loaded.compose_file).map_err(EngineError::store(
        format!("reading {}", loaded.compose_file.display()),
    ))?;
    let replay = plan::ReplayInfo {
        format: 1,
        chaos_version: env!("CARGO_PKG_VERSION").to_string(),
        experiment_file: opts.file_arg.clone(),
        seed: opts.seed.0,
        duration_ms: opts.duration.map(|d| d.as_millis() as u64),
        compose_file: compose_abs.display().to_string(),
        compose_sha256: sha256_hex(&compose_bytes),
    };
    write(
        files::REPLAY,
        serde_json::to_string_pretty(&replay)
            .expect("replay info serializes")
            .as_bytes(),
    )?;
    let plan_text = plan::plan_json(&plan, &loaded.path, opts.duration);
    write(files::PLAN, plan_text.as_bytes())?;
    if let Some(text) = &compose_override {
        write(files::OVERRIDE, text.as_bytes())?;
    }
    let mut log = run_dir
        .lines(files::LOG)
        .map_err(EngineError::store("creating chaos.log"))?;
    let _ = log.line(&format!(
        "{} run of {} seed {} in project {project}",
        results::rfc3339(started_ms),
        experiment.name,
        opts.seed
    ));

    // One client per process; the prefix makes every run's registers fresh.
    progress.event(RunEvent::Phase(Phase::Connecting));
    let prefix = format!(
        "chaos/{}/{}-{}/",
        experiment.name,
        results::compact_utc(started_ms),
        opts.seed
    );
    let base = loaded.path.parent().unwrap_or(std::path::Path::new("."));
    let clients = match connect::clients(&experiment, &cluster, &prefix, base, &cancel).await {
        Err(connect::ConnectError::Cancelled) => return Err(EngineError::Cancelled),
        other => other?,
    };
    match connect::setup(&experiment, &clients, &cancel).await {
        Err(connect::ConnectError::Cancelled) => return Err(EngineError::Cancelled),
        other => other?,
    }
    let resolver = connect::resolver(&experiment, &cluster, &prefix, &clients).await;
    let mut session = FaultSession::open(
        cluster.clone(),
        &run_dir,
        &plan,
        resolver,
        experiment.cluster.components.clone(),
        Instant::now(),
    )
    .await?;
    // The run's clock starts once the session is ready (its helpers made).
    let start = Instant::now();
    session.nemesis().set_start(start);
    session.nemesis().set_seed(opts.seed.0);

    // 4-5. Drive, heal, recover, final reads.
    let addresses = connect::Addresses::resolve(&experiment, &cluster).await;
    let driven = drive(
        &experiment,
        &plan,
        opts.seed,
        session.nemesis(),
        &cluster,
        addresses,
        &clients,
        &run_dir,
        &cancel,
        start,
        progress.as_ref(),
    )
    .await;
    // Healing runs on every path, success or error, before anything else
    // (`drive` already healed on its own paths; this is the last word).
    let finish = session.finish().await;
    let driven = driven?;
    // An adapter that broke the protocol gave answers chaos cannot trust:
    // no verdict, an error that names its line (the history stays on disk).
    if let Some(why) = clients.iter().find_map(|(_, c)| c.fatal()) {
        return Err(EngineError::Adapter(why));
    }
    let mut notes = Vec::new();
    for e in &finish.errors {
        let note =
            format!("healing reported: {e}; run `chaos heal --project {project}` to make sure");
        progress.event(RunEvent::Note(note.clone()));
        notes.push(note);
    }
    let status = if driven.stopped == Stopped::Interrupted || cancel.is_cancelled() {
        notes.push(
            "the run was interrupted: its faults were healed, the history is shorter than \
             planned and has no final reads"
                .into(),
        );
        Status::Interrupted
    } else {
        Status::Completed
    };
    let _ = log.line(&format!(
        "workload done: {} events; faults healed",
        driven.recorded.lines().count()
    ));

    // 6. Check, keep the logs, write the results.
    let (budget, check_cancel) = match status {
        // The run was cancelled: a short, fixed bound.
        Status::Interrupted => (opts.budget.min(INTERRUPTED_CHECK_BUDGET), None),
        // A cancellation during the check ends it.
        _ => (opts.budget, Some(cancel.clone())),
    };
    let clock = Arc::new(CheckClock {
        start: std::time::Instant::now(),
        cancel: check_cancel,
    });
    let check_started = std::time::Instant::now();
    let room = experiment.workload.kind.room();
    let history_text = Arc::new(driven.recorded);
    let samples = crate::workload::op::samples(&history_text)?;
    progress.event(RunEvent::Phase(Phase::Checking { ops: samples.len() }));
    let checked = {
        let text = history_text.clone();
        let workload = experiment.workload.clone();
        let model = experiment
            .checker
            .model_for(experiment.workload.kind)
            .map(str::to_string);
        tokio::task::spawn_blocking(move || {
            room.check(&crate::workload::CheckInput {
                history: &text,
                workload: &workload,
                model: model.as_deref(),
                budget,
                clock: Some(clock),
                threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
                max_cases: TXN_MAX_CASES,
            })
        })
        .await
        .map_err(|_| EngineError::Panicked("the checker"))??
    };
    let check_ms = check_started.elapsed().as_secs_f64() * 1000.0;
    let mut checked = checked;
    if status == Status::Completed {
        let gone = unrecovered(
            &cluster,
            &driven.faults,
            started_ms,
            experiment.cluster.ready_timeout,
        )
        .await;
        results::build::add_node_anomalies(&mut checked.summary, gone);
    }
    let status = if status == Status::Completed && cancel.is_cancelled() {
        notes.push("the run was interrupted while its history was checked".into());
        Status::Interrupted
    } else {
        status
    };

    progress.event(RunEvent::Phase(Phase::SavingLogs));
    let (logs, log_notes) = save_logs(&cluster, &run_dir, started_ms).await;
    notes.extend(log_notes);

    progress.event(RunEvent::Phase(Phase::Writing));
    let results = results::build::build(RunFacts {
        experiment: &experiment,
        file_arg: &opts.file_arg,
        seed: opts.seed.0,
        rerun: opts.rerun_command(),
        compose_file: loaded.compose_file.display().to_string(),
        images,
        status,
        started_ms,
        ended_ms: unix_ms(),
        workload_ns: driven.workload_ns,
        faults: &driven.faults,
        checker: checked.summary,
        samples,
        check_ms,
        logs,
        notes,
    });
    let json = serde_json::to_string_pretty(&results).expect("results serialize");
    write(files::RESULTS, json.as_bytes())?;
    let shown_dir = run_dir.path().display().to_string();
    let text = crate::report::render(&results, &shown_dir);
    write(files::REPORT, text.as_bytes())?;
    // The page is made from what the files hold (plan.json as written), so
    // that `chaos report` on this directory makes the same bytes.
    let plan_value: Option<serde_json::Value> = serde_json::from_str(&plan_text).ok();
    let page = room
        .page(&crate::workload::PageInput {
            results: &results,
            history: Some(&history_text),
            plan: plan_value.as_ref(),
            notes: &[],
        })
        .map_err(EngineError::History)?;
    write(files::REPORT_HTML, page.as_bytes())?;
    let _ = log.line(&format!(
        "verdict {} status {}",
        results.verdict.as_str(),
        results.status.as_str()
    ));
    let _ = log.sync();

    // 7. Tear down.
    if experiment.cluster.down {
        progress.event(RunEvent::Phase(Phase::TearingDown));
        cluster
            .down()
            .await
            .map_err(EngineError::docker("tearing the cluster down"))?;
    }
    Ok(RunOutcome {
        results,
        run_dir: run_dir.path().to_path_buf(),
        report: text,
    })
}

/// The nodes a disk fault struck that are not running, or not healthy,
/// at the end of the run (after the heal and the recovery): an anomaly
/// each, with the end of the node's log ([`results::build::did_not_come_back`]).
async fn unrecovered(
    cluster: &ComposeCluster,
    faults: &[FaultOutcome],
    started_ms: u64,
    ready_timeout: Duration,
) -> Vec<results::Anomaly> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    if !faults.iter().any(|f| f.fault.fault.needs_chaos_fs()) {
        return out;
    }
    // Give the nodes the experiment's own start-up budget: only a node
    // that is still not running and healthy after it did not come back.
    if cluster.wait_healthy(ready_timeout).await.is_ok() {
        return out;
    }
    let Ok(containers) = cluster.containers().await else {
        return out;
    };
    for f in faults.iter().filter(|f| f.fault.fault.needs_chaos_fs()) {
        for service in &f.targets {
            if !seen.insert(service.clone()) {
                continue;
            }
            let state = match containers.get(service) {
                None => "gone (no container)".to_string(),
                Some(c) if c.state != crate::docker::State::Running => {
                    format!("{} ({})", c.state.name(), c.status)
                }
                Some(c)
                    if matches!(
                        c.health,
                        crate::docker::Health::Unhealthy | crate::docker::Health::Starting
                    ) =>
                {
                    format!(
                        "running but not healthy within {} ({})",
                        crate::duration::format(ready_timeout),
                        c.status
                    )
                }
                Some(_) => continue,
            };
            let tail = match containers.get(service) {
                Some(c) => {
                    let since = (started_ms / 1000) as i64 - 1;
                    match cluster.logs_since(&cluster.scoped_info(c), since).await {
                        Ok(bytes) => {
                            let text = String::from_utf8_lossy(&bytes);
                            let lines: Vec<&str> = text.lines().collect();
                            lines[lines.len().saturating_sub(15)..].join("\n")
                        }
                        Err(_) => String::new(),
                    }
                }
                None => String::new(),
            };
            out.push(results::build::did_not_come_back(
                service, &f.fault, &state, &tail,
            ));
        }
    }
    out
}

/// Each service's container log since the run started, into
/// `logs/<service>.log`; returns (service, relative path) and notes for
/// the logs that could not be kept.
async fn save_logs(
    cluster: &ComposeCluster,
    run_dir: &RunDir,
    started_ms: u64,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut logs = BTreeMap::new();
    let mut notes = Vec::new();
    let containers = match cluster.containers().await {
        Ok(c) => c,
        Err(e) => {
            notes.push(format!("node logs not kept: {e}"));
            return (logs, notes);
        }
    };
    let dir = run_dir.file(files::LOGS);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        notes.push(format!("node logs not kept: {}: {e}", dir.display()));
        return (logs, notes);
    }
    // A second early, so that the lines of the run's first second are in.
    let since = (started_ms / 1000) as i64 - 1;
    for (service, c) in containers {
        let relative = format!("{}/{service}.log", files::LOGS);
        let saved = match cluster.logs_since(&cluster.scoped_info(&c), since).await {
            Ok(bytes) => run_dir.write(&relative, &bytes).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match saved {
            Ok(()) => {
                logs.insert(service, relative);
            }
            Err(e) => notes.push(format!("the log of {service} was not kept: {e}")),
        }
    }
    (logs, notes)
}

/// Clients and faults together, then (unless cancelled) recovery and the
/// final reads.
#[allow(clippy::too_many_arguments)]
async fn drive(
    experiment: &crate::experiment::Experiment,
    plan: &Plan,
    seed: Seed,
    nemesis: &mut Nemesis,
    cluster: &ComposeCluster,
    addresses: connect::Addresses,
    clients: &[(String, AnyClient)],
    run_dir: &RunDir,
    cancel: &CancellationToken,
    start: Instant,
    progress: &dyn ProgressSink,
) -> Result<Driven, EngineError> {
    let w = &experiment.workload;
    let room = w.kind.room();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let history = run_dir
        .lines(files::HISTORY)
        .map_err(EngineError::store("creating history.jsonl"))?;
    let recorder = tokio::spawn(async move { workload::record(events_rx, history).await });
    let counters = Arc::new(Counters::default());
    // The workload and the faults stop at the end of the run, when the run
    // is cancelled, or when a process client's adapter broke the protocol
    // (`halt`: the run then ends in an error, after its faults are healed,
    // with no recovery and no final reads).
    let halt = cancel.child_token();
    let stop = halt.child_token();
    let (now_tx, now_rx) = watch::channel(Vec::new());

    let task = |thread: u64, stop: CancellationToken| {
        let (node, client) = &clients[(thread as usize) % clients.len()];
        ClientTask {
            thread,
            threads: w.clients,
            client: client.clone(),
            node: node.clone(),
            workload: w.clone(),
            seed,
            start,
            events: events_tx.clone(),
            counters: counters.clone(),
            stop,
        }
    };
    let tasks: Vec<_> = (0..w.clients)
        .map(|t| tokio::spawn(task(t, stop.clone()).run()))
        .collect();
    progress.event(RunEvent::Phase(Phase::Running {
        total: experiment.duration,
    }));
    let ticker = ticks(
        start,
        experiment.duration,
        counters.clone(),
        now_rx,
        stop.clone(),
        progress,
    );

    let end = start + experiment.duration;
    let timer = async {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => {}
            _ = halt.cancelled() => {}
        }
        stop.cancel();
    };
    let untrusted = async {
        if !clients
            .iter()
            .any(|(_, c)| matches!(c, AnyClient::Process(_)))
        {
            return;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.cancelled() => return,
            }
            if let Some(why) = clients.iter().find_map(|(_, c)| c.fatal()) {
                progress.event(RunEvent::Note(format!("stopping the run: {why}")));
                halt.cancel();
                return;
            }
        }
    };
    let restarting: BTreeSet<u64> = plan
        .faults
        .iter()
        .filter(|f| f.fault.restarts_containers())
        .map(|f| f.id)
        .collect();
    let mut faults = NemesisFaults {
        nemesis,
        follow: Follow {
            experiment,
            cluster,
            clients,
            addresses,
            restarting,
        },
    };
    let ((fault_events, stopped), (), (), ()) = tokio::join!(
        timeline::drive_faults(plan, &mut faults, start, &halt, &now_tx, progress),
        timer,
        ticker,
        untrusted
    );
    let workload_ns = start.elapsed().as_nanos() as u64;
    let mut touched = BTreeSet::new();
    for t in tasks {
        touched.extend(
            t.await
                .map_err(|_| EngineError::Panicked("a client task"))?,
        );
    }
    let stopped = if cancel.is_cancelled() {
        Stopped::Interrupted
    } else {
        stopped
    };

    // Heal everything before the final reads (the timeline already healed
    // its faults; this catches anything left).
    progress.event(RunEvent::Phase(Phase::Healing));
    for e in faults.heal_all().await {
        progress.event(RunEvent::Note(format!("heal error: {e}")));
    }
    if !faults.follow.restarting.is_empty() {
        // The final reads go where the nodes are now.
        for note in faults.follow.refresh().await {
            progress.event(RunEvent::Note(note));
        }
    }
    if stopped == Stopped::Completed {
        progress.event(RunEvent::Phase(Phase::Recovering {
            wait: experiment.cluster.recovery,
        }));
        tokio::select! {
            _ = tokio::time::sleep(experiment.cluster.recovery) => {}
            _ = cancel.cancelled() => {}
        }
        let finals = room.final_reads(w, &touched);
        progress.event(RunEvent::Phase(Phase::FinalReads { keys: finals.len() }));
        let never = CancellationToken::new();
        for (i, op) in finals.iter().enumerate() {
            if cancel.is_cancelled() {
                break;
            }
            let process = FINAL_PROCESS + i as u64;
            task(i as u64, never.clone())
                .invoke(process, op, true)
                .await;
        }
    }
    drop(events_tx);
    let recorded = recorder
        .await
        .map_err(|_| EngineError::Panicked("the history recorder"))?
        .map_err(EngineError::store("writing history.jsonl"))?;
    Ok(Driven {
        faults: fault_events,
        stopped,
        recorded,
        workload_ns,
    })
}

/// A [`RunEvent::Tick`] every half second until `stop`.
async fn ticks(
    start: Instant,
    total: Duration,
    counters: Arc<Counters>,
    now_applied: watch::Receiver<Vec<String>>,
    stop: CancellationToken,
    progress: &dyn ProgressSink,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.cancelled() => break,
        }
        progress.event(RunEvent::Tick {
            elapsed: start.elapsed().min(total),
            total,
            ok: counters.ok.load(Ordering::Relaxed),
            fail: counters.fail.load(Ordering::Relaxed),
            info: counters.info.load(Ordering::Relaxed),
            faults: now_applied.borrow().clone(),
        });
    }
}
