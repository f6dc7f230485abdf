//! The daemon's loop: start runs as the schedule says, through the run
//! engine; record each in the run index; react to how each ended (the
//! campaign's `on_anomaly`, `on_unknown`, `on_error`); obey pause, resume,
//! stop and runs queued by hand; keep the status the API serves.
//!
//! Shell. Healing belongs to the engine (every run heals on every path)
//! and, after a crash of chaos, to the start-up here: before the first run
//! the daemon heals every project of the campaign from its journals (the
//! same recovery as `chaos heal`) and records runs the crash cut short as
//! `crashed`. The loop never prints: it logs through `tracing`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::campaign::{Cadence, Campaign, Reaction};
use super::index::{self, Ended, Folded, Record, RunIndex, RunRow, Started};
use super::metrics::Metrics;
use super::schedule::{Decision, NextRun, Schedule, Slot};
use super::stats;
use crate::docker::ComposeCluster;
use crate::engine::progress::{Phase, ProgressSink, RunEvent};
use crate::engine::{self, EngineError, RunOptions, RunOutcome};
use crate::journal::utc_now;
use crate::loader::Loaded;
use crate::lock::ProjectLock;
use crate::nemesis;
use crate::results::{Status as RunStatus, Verdict};
use crate::seed::Seed;
use crate::shrink::{self, ShrinkEvent, ShrinkOptions, ShrinkOutcome};

/// One experiment of the campaign, loaded and checked.
#[derive(Debug)]
pub struct Member {
    /// The experiment's name (unique in the campaign).
    pub name: String,
    /// The experiment file as the daemon passes it on (the rerun command
    /// of its runs names it).
    pub file: String,
    pub loaded: Loaded,
    pub duration: Option<Duration>,
    pub cadence: Cadence,
}

impl Member {
    pub fn project(&self) -> &str {
        &self.loaded.experiment.cluster.project
    }

    /// How long a run takes, roughly: the run, the recovery, and a margin
    /// for start-up and checking (for `chaos daemon plan`).
    pub fn nominal(&self) -> Duration {
        let e = &self.loaded.experiment;
        self.duration.unwrap_or(e.duration) + e.cluster.recovery + Duration::from_secs(10)
    }
}

/// Everything the daemon runs with.
#[derive(Debug)]
pub struct Config {
    pub campaign: Campaign,
    pub members: Vec<Member>,
    /// Resolved (absolute or relative to the working directory).
    pub results_dir: PathBuf,
    pub seed: u64,
    pub seed_drawn: bool,
    pub token: String,
}

/// The daemon's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Running,
    Paused,
    Stopping,
}

/// A run in progress, as the status shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Current {
    pub run: u64,
    pub experiment: String,
    pub seed: u64,
    pub project: String,
    pub trigger: String,
    pub started_at: String,
    pub phase: String,
    pub elapsed_s: f64,
    pub total_s: f64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Ok ops per second over the last [`RATE_WINDOW_S`] seconds.
    pub ok_per_s: f64,
    /// The faults in place now, described (`#3 pause etcd2`).
    pub faults: Vec<String>,
    /// The faults in place now: kind, targets, when applied and when each
    /// heals (run seconds).
    pub in_effect: Vec<LiveFault>,
    pub run_dir: Option<String>,
    /// (elapsed s, ok count) of the recent ticks, for `ok_per_s`.
    #[serde(skip)]
    recent: std::collections::VecDeque<(f64, u64)>,
    /// Fault id to its planned heal (run seconds), from the run's plan.
    #[serde(skip)]
    heal_at: BTreeMap<u64, f64>,
}

/// The window of the live ops rate, in seconds.
pub const RATE_WINDOW_S: f64 = 5.0;

/// A fault in place in a run in progress.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LiveFault {
    pub id: u64,
    pub kind: String,
    pub targets: Vec<String>,
    /// When it was applied (run seconds, as of the last tick).
    pub applied_at_s: f64,
    /// When the plan heals it (run seconds).
    pub heals_at_s: Option<f64>,
}

impl Current {
    fn new(run: u64, experiment: &str, seed: u64, project: &str, trigger: &str) -> Current {
        Current {
            run,
            experiment: experiment.to_string(),
            seed,
            project: project.to_string(),
            trigger: trigger.to_string(),
            started_at: utc_now(),
            phase: "starting".into(),
            elapsed_s: 0.0,
            total_s: 0.0,
            ok: 0,
            fail: 0,
            info: 0,
            ok_per_s: 0.0,
            faults: Vec::new(),
            in_effect: Vec::new(),
            run_dir: None,
            recent: Default::default(),
            heal_at: BTreeMap::new(),
        }
    }

    /// A tick: the counts, and the rate over the last seconds.
    fn tick(&mut self, elapsed_s: f64, ok: u64, fail: u64, info: u64) {
        self.elapsed_s = elapsed_s;
        self.ok = ok;
        self.fail = fail;
        self.info = info;
        self.recent.push_back((elapsed_s, ok));
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| elapsed_s - t > RATE_WINDOW_S)
        {
            self.recent.pop_front();
        }
        self.ok_per_s = match (self.recent.front(), self.recent.back()) {
            (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => (n1 - n0) as f64 / (t1 - t0),
            _ => 0.0,
        };
    }
}

/// What the API reads: kept by the loop, behind a lock.
#[derive(Debug)]
pub struct Status {
    pub campaign: String,
    pub seed: u64,
    pub mode: Mode,
    /// Why the daemon is paused or stopping.
    pub why: Option<String>,
    pub started_at: String,
    pub started: Instant,
    pub current: BTreeMap<u64, Current>,
    pub runs: BTreeMap<u64, RunRow>,
    pub queued: usize,
    /// The next scheduled run, when the daemon runs.
    pub next: Option<Next>,
    pub metrics: Metrics,
    pub results_dir: PathBuf,
    /// The runs whose row changed (started, ended, ...), in order: the
    /// event stream sends each reader the rows changed since it looked.
    pub changes: Vec<u64>,
}

impl Status {
    /// A running campaign named "synthetic" whose index holds `runs` and
    /// nothing in flight: what the page's bench and tests render (the
    /// runs from [`stats::synthetic`]).
    pub fn synthetic(runs: BTreeMap<u64, RunRow>) -> Status {
        Status {
            campaign: "synthetic".into(),
            seed: 1,
            mode: Mode::Running,
            why: None,
            started_at: "2026-12-01T00:00:00.000Z".into(),
            started: Instant::now(),
            current: BTreeMap::new(),
            runs,
            queued: 0,
            next: None,
            metrics: Metrics::default(),
            results_dir: "results".into(),
            changes: Vec::new(),
        }
    }
}

/// When the next scheduled run starts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "when", rename_all = "kebab-case")]
pub enum Next {
    /// This one, as soon as a slot is free.
    Now { experiment: String, seed: u64 },
    /// In this many seconds (an `every` due, a gap ending).
    In { in_s: f64 },
    /// When a run in progress ends.
    AfterCurrent,
}

/// Orders the API gives the loop.
#[derive(Debug)]
pub enum Control {
    Pause(String),
    Resume,
    Stop(String),
    Trigger {
        experiment: String,
        seed: u64,
        reply: oneshot::Sender<Result<usize, String>>,
    },
}

/// Why the daemon stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// A signal or `chaos daemon stop`.
    Asked(String),
    /// `on_anomaly`, `on_unknown` or `on_error` said stop.
    Policy {
        verdict: Option<Verdict>,
        why: String,
    },
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Index(#[from] index::IndexError),
}

/// The handle the API holds.
#[derive(Debug, Clone)]
pub struct Handle {
    pub status: Arc<Mutex<Status>>,
    pub control: mpsc::UnboundedSender<Control>,
    pub token: Arc<String>,
    pub experiments: Arc<Vec<String>>,
}

/// A finished task of the loop: a run, or a shrink of a run's schedule.
enum Done {
    Run(u64, Box<Result<RunOutcome, EngineError>>),
    Shrink(u64, Box<Result<ShrinkOutcome, shrink::ReplayError>>),
}

/// Forwards a run's engine events to the loop, tagged with its number.
struct Forward {
    run: u64,
    tx: mpsc::UnboundedSender<(u64, RunEvent)>,
}

impl ProgressSink for Forward {
    fn event(&self, event: RunEvent) {
        let _ = self.tx.send((self.run, event));
    }
}

fn phase_name(p: &Phase) -> &'static str {
    match p {
        Phase::Preflight => "preflight",
        Phase::StartingCluster => "starting the cluster",
        Phase::WaitingHealthy => "waiting for health",
        Phase::Connecting => "connecting",
        Phase::Running { .. } => "running",
        Phase::Healing => "healing",
        Phase::Recovering { .. } => "recovering",
        Phase::FinalReads { .. } => "final reads",
        Phase::Checking { .. } => "checking",
        Phase::SavingLogs => "saving logs",
        Phase::Writing => "writing results",
        Phase::TearingDown => "tearing down",
    }
}

/// The daemon: its configuration, its index, and its shared status.
pub struct Daemon {
    config: Config,
    index: RunIndex,
    folded: Folded,
    handle: Handle,
    control_rx: mpsc::UnboundedReceiver<Control>,
}

impl Daemon {
    /// Open the run index and build the shared status (nothing runs yet).
    pub fn open(config: Config) -> Result<Daemon, DaemonError> {
        let (index, records) = RunIndex::open(&config.results_dir)?;
        let folded = index::fold(&records, &config.campaign.name);
        let (control, control_rx) = mpsc::unbounded_channel();
        let mut metrics = Metrics::default();
        for row in folded.runs.values() {
            metrics.count_run(row);
        }
        let status = Status {
            campaign: config.campaign.name.clone(),
            seed: config.seed,
            mode: Mode::Running,
            why: None,
            started_at: utc_now(),
            started: Instant::now(),
            current: BTreeMap::new(),
            runs: folded.runs.clone(),
            queued: 0,
            next: None,
            metrics,
            results_dir: config.results_dir.clone(),
            changes: Vec::new(),
        };
        let handle = Handle {
            status: Arc::new(Mutex::new(status)),
            control,
            token: Arc::new(config.token.clone()),
            experiments: Arc::new(config.members.iter().map(|m| m.name.clone()).collect()),
        };
        Ok(Daemon {
            config,
            index,
            folded,
            handle,
            control_rx,
        })
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    fn record(&mut self, record: Record) {
        if let Err(e) = self.index.append(&record) {
            tracing::error!("{e}");
        }
        index::apply(&mut self.folded, &record, &self.config.campaign.name);
        let run = match &record {
            Record::Started(s) => Some(s.run),
            Record::RunDir { run, .. } | Record::Pruned { run, .. } => Some(*run),
            Record::Shrunk(sh) => Some(sh.run),
            Record::Ended(e) => Some(e.run),
            _ => None,
        };
        let Some(row) = run.and_then(|r| self.folded.runs.get(&r)) else {
            return;
        };
        let mut s = self.handle.status.lock().expect("status lock");
        if matches!(record, Record::Ended(_)) {
            s.metrics.count_run(row);
        }
        s.runs.insert(row.started.run, row.clone());
        s.changes.push(row.started.run);
    }

    fn member(&self, name: &str) -> Option<&Member> {
        self.config.members.iter().find(|m| m.name == name)
    }

    /// Heal every project of the campaign from its journals, and record the
    /// runs a crash cut short as `crashed`.
    async fn recover(&mut self) {
        let mut projects: BTreeMap<String, &Member> = BTreeMap::new();
        for m in &self.config.members {
            projects.entry(m.project().to_string()).or_insert(m);
        }
        let mut healed_note = Vec::new();
        for (project, m) in &projects {
            let lock = match ProjectLock::try_acquire(project, "chaos daemon (start-up heal)") {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!("not healing {project} at start-up: {e}");
                    continue;
                }
            };
            let cluster = match ComposeCluster::connect_to(
                &m.loaded.experiment.cluster,
                &m.loaded.compose_file,
            )
            .await
            {
                Ok(c) => c.with_env(&m.loaded.experiment.cluster.env),
                Err(e) => {
                    tracing::warn!("not healing {project} at start-up: {e}");
                    continue;
                }
            };
            let report = nemesis::recover(&cluster).await;
            let undone: usize = report.journals.iter().map(|j| j.healed.len()).sum();
            if undone > 0 || !report.clean() {
                tracing::warn!(
                    project = %project,
                    faults = undone,
                    clean = report.clean(),
                    "start-up: healed what a crash left applied"
                );
            }
            healed_note.push(format!("{project}: {undone} fault(s) undone from journals"));
            drop(lock);
        }
        let unfinished: Vec<RunRow> = self.folded.unfinished().into_iter().cloned().collect();
        for row in unfinished {
            tracing::warn!(
                run = row.started.run,
                "run cut short by a crash of chaos: recorded crashed"
            );
            let mut ended = Ended::bare(
                row.started.run,
                RunStatus::Crashed.as_str(),
                format!(
                    "chaos died during this run (found at the next start); its faults were healed \
                     from the journals at start-up ({})",
                    healed_note.join("; ")
                ),
                0.0,
                utc_now(),
            );
            ended.run_dir = row.run_dir.clone();
            self.record(Record::Ended(ended));
        }
    }

    /// Run the campaign until stopped: by `shutdown` (a signal), by the API,
    /// or by a reaction to a run.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<StopReason, DaemonError> {
        self.record(Record::Campaign {
            campaign: self.config.campaign.name.clone(),
            seed: self.config.seed,
            drawn: self.config.seed_drawn,
            pid: std::process::id(),
            utc: utc_now(),
        });
        self.recover().await;

        let slots: Vec<Slot> = self
            .config
            .members
            .iter()
            .map(|m| Slot {
                experiment: m.name.clone(),
                project: m.project().to_string(),
                cadence: m.cadence,
            })
            .collect();
        let weighted: BTreeSet<&str> = self
            .config
            .members
            .iter()
            .filter(|m| matches!(m.cadence, Cadence::Weight(_)))
            .map(|m| m.name.as_str())
            .collect();
        let picks = self
            .folded
            .runs
            .values()
            .filter(|r| r.started.k.is_some() && weighted.contains(r.started.experiment.as_str()))
            .count() as u64;
        let mut schedule = Schedule::new(
            self.config.seed,
            slots,
            self.config.campaign.gap,
            self.folded.counts(),
            picks,
        );
        let start = Instant::now();
        let now = || start.elapsed();
        let max_parallel = self.config.campaign.max_parallel as usize;
        let mut mode = Mode::Running;
        let mut stop_reason: Option<StopReason> = None;
        let mut next_run = self.folded.next_run();
        // Run number -> (project, its cancellation token, when it started).
        let mut running: BTreeMap<u64, (String, CancellationToken, Instant)> = BTreeMap::new();
        let mut tasks: JoinSet<Done> = JoinSet::new();
        let (events_tx, mut events_rx) = mpsc::unbounded_channel::<(u64, RunEvent)>();
        tracing::info!(
            campaign = %self.config.campaign.name,
            seed = self.config.seed,
            next_run,
            "campaign started"
        );

        loop {
            // Start what can start.
            let mut wake: Option<Duration> = None;
            while mode != Mode::Stopping && running.len() < max_parallel {
                let busy: BTreeSet<String> = running.values().map(|(p, _, _)| p.clone()).collect();
                // Paused: only runs queued by hand start.
                let decision = if mode == Mode::Paused {
                    match schedule.next_queued(now(), &busy) {
                        Some(r) => Decision::Start(r),
                        None => Decision::Idle,
                    }
                } else {
                    schedule.next(now(), &busy)
                };
                match decision {
                    Decision::Start(r) => {
                        let run = next_run;
                        next_run += 1;
                        let token = shutdown.child_token();
                        self.spawn_run(run, r, token.clone(), &events_tx, &mut tasks);
                        let project = self.folded.runs[&run].started.project.clone();
                        running.insert(run, (project, token, Instant::now()));
                    }
                    Decision::WaitUntil(t) => {
                        wake = Some(t);
                        break;
                    }
                    Decision::Idle => break,
                }
            }
            self.publish(&mode, &schedule, now(), &running);
            if mode == Mode::Stopping && running.is_empty() {
                break;
            }
            let sleep = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(start + t).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                Some(done) = tasks.join_next() => {
                    let done = match done {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::error!("a task of the daemon failed: {e}");
                            continue;
                        }
                    };
                    let (run, result) = match done {
                        Done::Run(run, result) => (run, *result),
                        Done::Shrink(run, result) => {
                            let result = *result;
                            let (project, _, _) = running.remove(&run).expect("a shrink in progress");
                            schedule.ended(&project, now());
                            self.handle.status.lock().expect("status lock").current.remove(&run);
                            self.shrunk(run, result);
                            continue;
                        }
                    };
                    let (project, _, began) = running.remove(&run).expect("a running run");
                    schedule.ended(&project, now());
                    self.handle.status.lock().expect("status lock").current.remove(&run);
                    let reaction = self.ended(run, result, began.elapsed());
                    if let Some((reaction, verdict, why)) = reaction {
                        match reaction {
                            Reaction::Continue => {}
                            Reaction::Shrink => {
                                if mode == Mode::Running
                                    && let Some(token) = self.spawn_shrink(run, &shutdown, &mut tasks)
                                {
                                    running.insert(run, (project, token, Instant::now()));
                                }
                            }
                            Reaction::Pause => {
                                if mode == Mode::Running {
                                    mode = Mode::Paused;
                                    self.state("paused", &why);
                                }
                            }
                            Reaction::Stop => {
                                if mode != Mode::Stopping {
                                    mode = Mode::Stopping;
                                    self.state("stopping", &why);
                                    stop_reason = Some(StopReason::Policy { verdict, why });
                                    for (_, token, _) in running.values() {
                                        token.cancel();
                                    }
                                }
                            }
                        }
                    }
                }
                Some((run, event)) = events_rx.recv() => self.progress(run, event),
                Some(control) = self.control_rx.recv() => match control {
                    Control::Pause(why) => {
                        if mode == Mode::Running {
                            mode = Mode::Paused;
                            self.state("paused", &why);
                            // In-flight runs heal at once and are recorded
                            // interrupted.
                            for (_, token, _) in running.values() {
                                token.cancel();
                            }
                        }
                    }
                    Control::Resume => {
                        if mode == Mode::Paused {
                            mode = Mode::Running;
                            schedule.resume(now());
                            self.state("resumed", "resumed by the API");
                        }
                    }
                    Control::Stop(why) => {
                        if mode != Mode::Stopping {
                            mode = Mode::Stopping;
                            self.state("stopping", &why);
                            stop_reason = Some(StopReason::Asked(why));
                            for (_, token, _) in running.values() {
                                token.cancel();
                            }
                        }
                    }
                    Control::Trigger { experiment, seed, reply } => {
                        let answer = match self.member(&experiment) {
                            None => Err(format!(
                                "no experiment `{experiment}` in campaign {} (it has: {})",
                                self.config.campaign.name,
                                self.handle.experiments.join(", ")
                            )),
                            Some(_) if mode == Mode::Stopping => {
                                Err("the daemon is stopping".to_string())
                            }
                            Some(m) => {
                                schedule.queue(NextRun {
                                    experiment: m.name.clone(),
                                    project: m.project().to_string(),
                                    seed,
                                    k: None,
                                });
                                Ok(schedule.queued())
                            }
                        };
                        let _ = reply.send(answer);
                    }
                },
                _ = shutdown.cancelled(), if mode != Mode::Stopping => {
                    mode = Mode::Stopping;
                    self.state("stopping", "a signal asked the daemon to stop");
                    stop_reason = Some(StopReason::Asked("a signal".into()));
                    for (_, token, _) in running.values() {
                        token.cancel();
                    }
                }
                _ = sleep => {}
            }
        }
        Ok(stop_reason.unwrap_or(StopReason::Asked("stopped".into())))
    }

    fn state(&mut self, state: &str, why: &str) {
        tracing::info!(state, why, "daemon state");
        self.record(Record::State {
            state: state.to_string(),
            why: why.to_string(),
            utc: utc_now(),
        });
        let mut s = self.handle.status.lock().expect("status lock");
        s.why = (state != "resumed").then(|| why.to_string());
    }

    /// Refresh the status the API shows.
    fn publish(
        &self,
        mode: &Mode,
        schedule: &Schedule,
        now: Duration,
        running: &BTreeMap<u64, (String, CancellationToken, Instant)>,
    ) {
        let busy: BTreeSet<String> = running.values().map(|(p, _, _)| p.clone()).collect();
        let next = if *mode == Mode::Running {
            match schedule.clone().next(now, &busy) {
                Decision::Start(r) => Some(Next::Now {
                    experiment: r.experiment,
                    seed: r.seed,
                }),
                Decision::WaitUntil(t) => Some(Next::In {
                    in_s: (t - now).as_secs_f64(),
                }),
                Decision::Idle if !running.is_empty() => Some(Next::AfterCurrent),
                Decision::Idle => None,
            }
        } else {
            None
        };
        let mut s = self.handle.status.lock().expect("status lock");
        s.mode = mode.clone();
        s.queued = schedule.queued();
        s.next = next;
    }

    fn spawn_run(
        &mut self,
        run: u64,
        next: NextRun,
        cancel: CancellationToken,
        events: &mpsc::UnboundedSender<(u64, RunEvent)>,
        tasks: &mut JoinSet<Done>,
    ) {
        let member = self
            .member(&next.experiment)
            .expect("the schedule only names members");
        let trigger = if next.k.is_some() { "schedule" } else { "api" };
        let started = Started {
            run,
            campaign: self.config.campaign.name.clone(),
            experiment: next.experiment.clone(),
            k: next.k,
            seed: next.seed,
            project: next.project.clone(),
            trigger: trigger.to_string(),
            utc: utc_now(),
        };
        let mut opts = RunOptions::new(&member.file, Seed(next.seed));
        opts.results_root = self.config.results_dir.clone();
        opts.duration = member.duration;
        opts.budget = self.config.campaign.budget;
        opts.cancel = cancel;
        opts.progress = Arc::new(Forward {
            run,
            tx: events.clone(),
        });
        opts.holder = Some(format!(
            "chaos daemon {} (run {run})",
            self.config.campaign.name
        ));
        let loaded = member.loaded.clone();
        tracing::info!(run, experiment = %next.experiment, seed = next.seed, trigger, "run starts");
        self.handle
            .status
            .lock()
            .expect("status lock")
            .current
            .insert(run, {
                let mut c = Current::new(run, &next.experiment, next.seed, &next.project, trigger);
                c.started_at = started.utc.clone();
                let mut experiment = member.loaded.experiment.clone();
                if let Some(d) = member.duration {
                    experiment.duration = d;
                }
                c.total_s = experiment.duration.as_secs_f64();
                c.heal_at = crate::plan::plan(&experiment, Seed(next.seed))
                    .faults
                    .iter()
                    .map(|f| (f.id, f.heal_at_ms as f64 / 1000.0))
                    .collect();
                c
            });
        self.record(Record::Started(started));
        tasks.spawn(async move { Done::Run(run, Box::new(engine::run(&loaded, opts).await)) });
    }

    /// `on_anomaly = "shrink"`: shrink run `run`'s schedule on its project
    /// (the project stays busy meanwhile); returns the shrink's token.
    fn spawn_shrink(
        &mut self,
        run: u64,
        shutdown: &CancellationToken,
        tasks: &mut JoinSet<Done>,
    ) -> Option<CancellationToken> {
        let row = self.folded.runs.get(&run)?.clone();
        let dir = row.run_dir.clone()?;
        let recorded = match shrink::read_run(Path::new(&dir)) {
            Ok(r) => r,
            Err(e) => {
                self.shrunk(run, Err(e));
                return None;
            }
        };
        let token = shutdown.child_token();
        let mut o = shrink::Options::new(PathBuf::new());
        o.budget = self.config.campaign.budget;
        o.cancel = token.clone();
        tracing::info!(run, "shrinking the run's schedule (on_anomaly = shrink)");
        self.handle
            .status
            .lock()
            .expect("status lock")
            .current
            .insert(run, {
                let mut c = Current::new(
                    run,
                    &row.started.experiment,
                    row.started.seed,
                    &row.started.project,
                    "shrink",
                );
                c.phase = "shrinking".into();
                c.run_dir = Some(dir);
                c
            });
        tasks.spawn(async move {
            let sink = move |e: ShrinkEvent| {
                if let ShrinkEvent::Decided {
                    n,
                    reproduced,
                    best,
                    ..
                } = e
                {
                    tracing::info!(run, candidate = n, reproduced, %best, "shrink");
                }
            };
            let result = shrink::shrink(&recorded, &ShrinkOptions::default(), &o, &sink).await;
            Done::Shrink(run, Box::new(result))
        });
        Some(token)
    }

    /// Record a shrink's end.
    fn shrunk(&mut self, run: u64, result: Result<ShrinkOutcome, shrink::ReplayError>) {
        let record = match result {
            Ok(o) => {
                tracing::info!(
                    run,
                    best = %o.best.describe(),
                    dir = %o.dir.display(),
                    "shrink done: {} of {} fresh runs reproduced",
                    o.fresh_reproduced,
                    o.fresh_runs
                );
                index::Shrunk {
                    run,
                    dir: Some(o.dir.display().to_string()),
                    best: Some(o.best.describe()),
                    fresh: Some(format!("{}/{}", o.fresh_reproduced, o.fresh_runs)),
                    stopped: o.stopped,
                    utc: utc_now(),
                }
            }
            Err(e) => {
                tracing::warn!(run, "shrink failed: {e}");
                index::Shrunk {
                    run,
                    dir: None,
                    best: None,
                    fresh: None,
                    stopped: Some(e.to_string()),
                    utc: utc_now(),
                }
            }
        };
        self.record(Record::Shrunk(record));
    }

    /// A run's engine event: progress for the status, faults for the
    /// metrics.
    fn progress(&mut self, run: u64, event: RunEvent) {
        if let RunEvent::RunDir(dir) = &event {
            self.record(Record::RunDir {
                run,
                run_dir: dir.display().to_string(),
            });
        }
        let mut s = self.handle.status.lock().expect("status lock");
        match event {
            RunEvent::FaultApplied { .. } => s.metrics.faults_applied += 1,
            RunEvent::FaultHealed { .. } => s.metrics.faults_healed += 1,
            RunEvent::FaultError { ref error, .. } if error.starts_with("heal failed") => {
                s.metrics.heal_failures += 1
            }
            _ => {}
        }
        let Some(c) = s.current.get_mut(&run) else {
            return;
        };
        match event {
            RunEvent::Phase(p) => c.phase = phase_name(&p).to_string(),
            RunEvent::RunDir(d) => c.run_dir = Some(d.display().to_string()),
            RunEvent::Tick {
                elapsed,
                ok,
                fail,
                info,
                faults,
                ..
            } => {
                c.tick(elapsed.as_secs_f64(), ok, fail, info);
                c.faults = faults;
            }
            RunEvent::FaultApplied { id, kind, targets } => {
                let heals_at_s = c.heal_at.get(&id).copied();
                c.in_effect.retain(|f| f.id != id);
                c.in_effect.push(LiveFault {
                    id,
                    kind,
                    targets,
                    applied_at_s: c.elapsed_s,
                    heals_at_s,
                });
            }
            RunEvent::FaultHealed { id } => c.in_effect.retain(|f| f.id != id),
            _ => {}
        }
    }

    /// Record how a run ended; returns the campaign's reaction, if one
    /// applies, with the verdict and why.
    fn ended(
        &mut self,
        run: u64,
        result: Result<RunOutcome, EngineError>,
        took: Duration,
    ) -> Option<(Reaction, Option<Verdict>, String)> {
        let campaign = &self.config.campaign;
        let experiment = self.folded.runs[&run].started.experiment.clone();
        let seed = self.folded.runs[&run].started.seed;
        let (ended, reaction) = match result {
            Ok(outcome) => {
                let r = &outcome.results;
                let verdict = r.verdict;
                let anomalies = r.checker.decisive().count() as u64;
                let (reason, reaction) = match (r.status, verdict) {
                    (RunStatus::Completed, Verdict::Valid) => {
                        ("ran to its end: valid".to_string(), None)
                    }
                    (RunStatus::Completed, Verdict::Invalid) => {
                        let why = format!(
                            "run {run} ({experiment}, seed {seed}) found {anomalies} anomal{}",
                            if anomalies == 1 { "y" } else { "ies" }
                        );
                        (why.clone(), Some((campaign.on_anomaly, Some(verdict), why)))
                    }
                    (RunStatus::Completed, Verdict::Unknown) => {
                        let why = format!(
                            "run {run} ({experiment}, seed {seed}): the checker could not decide \
                             every key"
                        );
                        (why.clone(), Some((campaign.on_unknown, Some(verdict), why)))
                    }
                    (status, _) => (
                        format!(
                            "{}: cancelled (pause, stop or a signal); healed",
                            status.as_str()
                        ),
                        None,
                    ),
                };
                let figures = stats::RunFigures::of(r);
                let ended = Ended {
                    run,
                    status: r.status.as_str().to_string(),
                    verdict: Some(verdict.as_str().to_string()),
                    anomalies,
                    run_dir: Some(outcome.run_dir.display().to_string()),
                    reason,
                    duration_s: took.as_secs_f64(),
                    utc: utc_now(),
                    anomaly_kinds: figures.anomaly_kinds,
                    ok_per_s: figures.ok_per_s,
                    recovery_s: figures.recovery_s,
                };
                (ended, reaction)
            }
            Err(e) => {
                let (status, reaction) = match &e {
                    EngineError::Cancelled => ("interrupted", None),
                    // Another chaos holds the project: not the campaign's
                    // failure; the slot comes round again.
                    EngineError::Lock(_) => ("error", None),
                    _ => {
                        let why = format!("run {run} ({experiment}, seed {seed}) failed: {e}");
                        ("error", Some((campaign.on_error, None, why)))
                    }
                };
                let ended = Ended::bare(run, status, e.to_string(), took.as_secs_f64(), utc_now());
                (ended, reaction)
            }
        };
        tracing::info!(
            run,
            status = %ended.status,
            verdict = ended.verdict.as_deref().unwrap_or("-"),
            reason = %ended.reason,
            "run ended"
        );
        let keep_pruning = ended.status == "completed" && ended.verdict.as_deref() == Some("valid");
        self.record(Record::Ended(ended));
        if keep_pruning {
            self.retain();
        }
        reaction
    }

    /// Retention: beyond the newest `keep` valid runs, valid runs lose their
    /// history and node logs (results.json, the reports and the journal
    /// stay). Anomalous, unknown, failed and interrupted runs stay whole.
    fn retain(&mut self) {
        let keep = self.config.campaign.keep as usize;
        let valid: Vec<(u64, String)> = self
            .folded
            .runs
            .values()
            .rev()
            .filter(|r| r.outcome() == "valid" && !r.pruned)
            .filter_map(|r| Some((r.started.run, r.run_dir.clone()?)))
            .collect();
        for (run, dir) in valid.into_iter().skip(keep) {
            let dir = Path::new(&dir);
            let _ = std::fs::remove_file(dir.join(crate::store::files::HISTORY));
            let _ = std::fs::remove_dir_all(dir.join(crate::store::files::LOGS));
            tracing::info!(run, "retention: history and logs removed");
            self.record(Record::Pruned {
                run,
                utc: utc_now(),
            });
        }
    }
}
