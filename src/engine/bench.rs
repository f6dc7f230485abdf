//! `chaos bench`'s driver: measures a cluster against its goals. Brings the
//! cluster up (timing it from nothing when the project has no containers),
//! offers open-loop load at a target rate for a step, or a ramp of steps,
//! through the same client tasks and history recorder as a run (every op in
//! `history.jsonl`, which `chaos check` can check), then restarts one node
//! through a [`FaultSession`] (journaled, healed on every path) and times
//! how long until ops through it succeed again. The figures are judged by
//! the pure [`crate::bench`] and kept in the run directory (`bench.json`,
//! `report.txt`).
//!
//! Like [`super::run`]: inputs, a cancellation token and a progress sink
//! in, a value out; never prints, never exits, never installs signal
//! handlers. Layer: the engine; imports nothing above it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connect;
use super::progress::{Phase, ProgressSink, RunEvent};
use super::session::FaultSession;
use super::workload::{self, ClientState, ClientTask, Counters, Step};
use super::{EngineError, unix_ms};
use crate::bench::ramp::{Next, Ramp, RampSpec};
use crate::bench::{
    self, BenchReport, Goals, LoadRecorder, LoadSummary, Objective, RestartReport, Settings,
    Startup, StepFacts, StepReport,
};
use crate::client::AnyClient;
use crate::docker::ComposeCluster;
use crate::experiment::{Experiment, Fault, ReadMode};
use crate::loader::Loaded;
use crate::lock::ProjectLock;
use crate::plan::{Plan, PlannedFault, PlannedTargets};
use crate::results;
use crate::seed::Seed;
use crate::store::{RunDir, files};
use crate::workload::Outcome;

/// Process ids of the restart probes start here, far above any client's.
const PROBE_PROCESS: u64 = 1 << 41;

/// How often the restart probe tries an op through the restarted node.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// How long a restarted node may take to serve again before the bench
/// gives up on it.
const RESTART_BUDGET: Duration = Duration::from_secs(120);

/// Which node to restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartChoice {
    /// The workload's first endpoint.
    FirstEndpoint,
    Service(String),
    /// No restart (its goal is then not measured).
    Skip,
}

/// How to bench.
#[derive(Clone)]
pub struct BenchOptions {
    /// The experiment file as the user named it (for the rerun command).
    pub file_arg: String,
    pub seed: Seed,
    /// Run directories go under `<results_root>/<experiment>/`.
    pub results_root: PathBuf,
    /// The offered rate (ops/s over all clients) instead of the file's.
    pub rate: Option<u64>,
    /// Each step's length (the whole load without a ramp).
    pub step: Duration,
    /// Clients instead of the file's.
    pub clients: Option<u64>,
    /// Ramp from a rate to a maximum instead of one step.
    pub ramp: Option<RampSpec>,
    pub objective: Objective,
    pub goals: Goals,
    pub restart: RestartChoice,
    /// Tear the project down first, so that start-up is timed from nothing.
    pub cold: bool,
    /// The command that runs this bench again (the CLI knows its flags).
    pub rerun: String,
    pub cancel: CancellationToken,
    pub progress: Arc<dyn ProgressSink>,
    pub wait_lock: bool,
}

impl std::fmt::Debug for BenchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchOptions")
            .field("file_arg", &self.file_arg)
            .field("seed", &self.seed)
            .field("rate", &self.rate)
            .field("step", &self.step)
            .field("ramp", &self.ramp)
            .finish_non_exhaustive()
    }
}

impl BenchOptions {
    /// Defaults: results under `results/`, 30 s, the file's rate and
    /// clients, the default objective and goals, restart the first
    /// endpoint, no progress, a fresh token.
    pub fn new(file_arg: &str, seed: Seed) -> BenchOptions {
        BenchOptions {
            file_arg: file_arg.to_string(),
            seed,
            results_root: PathBuf::from("results"),
            rate: None,
            step: Duration::from_secs(30),
            clients: None,
            ramp: None,
            objective: Objective::default(),
            goals: Goals::default(),
            restart: RestartChoice::FirstEndpoint,
            cold: false,
            rerun: format!("chaos bench {file_arg} --seed {seed}"),
            cancel: CancellationToken::new(),
            progress: Arc::new(super::progress::NoProgress),
            wait_lock: false,
        }
    }
}

/// A finished bench.
#[derive(Debug, Clone)]
pub struct BenchOutcome {
    pub report: BenchReport,
    pub run_dir: PathBuf,
    /// The text (also in `report.txt`).
    pub text: String,
}

/// Bench an experiment's cluster (see the module docs).
pub async fn bench(loaded: &Loaded, opts: BenchOptions) -> Result<BenchOutcome, EngineError> {
    let progress = opts.progress.clone();
    let cancel = opts.cancel.clone();
    let mut experiment = loaded.experiment.clone();
    if let Some(rate) = opts.rate {
        experiment.workload.rate = rate;
    }
    if let Some(clients) = opts.clients {
        experiment.workload.clients = clients;
    }
    experiment.duration = opts.step;
    let mut notes = Vec::new();
    if !experiment.nemeses.is_empty() {
        notes.push(format!(
            "the experiment's {} nemeses were not applied: a bench breaks nothing but the \
             one restart",
            experiment.nemeses.len()
        ));
    }
    let project = experiment.cluster.project.clone();
    let _lock = ProjectLock::acquire(&project, &opts.rerun, opts.wait_lock).await?;

    let connected =
        connect::cluster(&experiment, &loaded.compose_file, &[], progress.as_ref()).await?;
    if connected.overlay.is_some() {
        notes.push(
            "the experiment's faults need chaos-fs or libfaketime in their targets, so its \
             compose override was laid: what is measured runs through that layer (no fault \
             applied; libfaketime's offset is +0)"
                .to_string(),
        );
    }
    let cluster = connected.cluster;
    let restart_service = match &opts.restart {
        RestartChoice::FirstEndpoint => experiment.workload.endpoints.first().cloned(),
        RestartChoice::Service(s) => Some(s.clone()),
        RestartChoice::Skip => None,
    };

    // Start-up, timed from nothing when there is nothing.
    if opts.cold && experiment.cluster.up {
        progress.event(RunEvent::Phase(Phase::TearingDown));
        cluster.down().await.map_err(EngineError::docker(
            "tearing the project down first (--cold)",
        ))?;
    }
    let existing = cluster
        .containers()
        .await
        .map_err(EngineError::docker("listing the containers"))?
        .len();
    let up_started = Instant::now();
    connect::ready(&experiment, &cluster, progress.as_ref(), &cancel).await?;
    let startup = if !experiment.cluster.up {
        Startup {
            cluster_ms: None,
            cluster_note: Some(
                "the experiment says `up = false`: chaos did not start the cluster".into(),
            ),
        }
    } else if existing > 0 {
        Startup {
            cluster_ms: None,
            cluster_note: Some(format!(
                "the project had {existing} container{} already: start-up is timed only from \
                 nothing (`chaos bench --cold` tears the project down first)",
                if existing == 1 { "" } else { "s" }
            )),
        }
    } else {
        Startup {
            cluster_ms: Some(round3(up_started.elapsed().as_secs_f64() * 1e3)),
            cluster_note: None,
        }
    };
    let images = connect::images(&cluster).await?;

    // The run directory, the clients, the fault session.
    let started_ms = unix_ms();
    let stamp = format!("{}-bench", results::compact_utc(started_ms));
    let run_dir = RunDir::create(&opts.results_root, &experiment.name, &stamp, opts.seed.0)
        .map_err(EngineError::store(format!(
            "creating the run directory under {}",
            opts.results_root.display()
        )))?;
    progress.event(RunEvent::RunDir(run_dir.path().to_path_buf()));
    run_dir
        .write(files::EXPERIMENT, loaded.text.as_bytes())
        .map_err(EngineError::store("writing experiment.toml"))?;
    let mut log = run_dir
        .lines(files::LOG)
        .map_err(EngineError::store("creating chaos.log"))?;
    let _ = log.line(&format!(
        "{} bench of {} seed {} in project {project}",
        results::rfc3339(started_ms),
        experiment.name,
        opts.seed
    ));
    progress.event(RunEvent::Phase(Phase::Connecting));
    let prefix = format!("chaos/{}/{stamp}-{}/", experiment.name, opts.seed);
    let base = loaded.path.parent().unwrap_or(std::path::Path::new("."));
    let clients = match connect::clients(&experiment, &cluster, &prefix, base, &cancel).await {
        Err(connect::ConnectError::Cancelled) => return Err(EngineError::Cancelled),
        other => other?,
    };
    let start = Instant::now();
    let restart_fault = restart_service.as_ref().map(|service| PlannedFault {
        id: 1,
        nemesis: 0,
        at_ms: 0,
        heal_at_ms: 0,
        fault: Fault::Restart {
            grace: Duration::from_secs(10),
        },
        targets: PlannedTargets::Services(vec![service.clone()]),
    });
    let plan = Plan {
        experiment: experiment.name.clone(),
        seed: opts.seed.0,
        duration_ms: opts.step.as_millis() as u64,
        faults: restart_fault.iter().cloned().collect(),
        clients: Vec::new(),
    };
    let resolver = connect::resolver(&experiment, &cluster, &prefix, &clients).await;
    let first_client = clients.first().map(|(_, c)| c.clone());
    let mut session = FaultSession::open(
        cluster.clone(),
        &run_dir,
        &plan,
        resolver,
        experiment.cluster.components.clone(),
        start,
    )
    .await?;

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let history = run_dir
        .lines(files::HISTORY)
        .map_err(EngineError::store("creating history.jsonl"))?;
    let recorder = tokio::spawn(workload::record(events_rx, history));
    let counters = Arc::new(Counters::default());
    let task = |thread: u64, node: &str, client: AnyClient| ClientTask {
        thread,
        threads: experiment.workload.clients,
        client,
        node: node.to_string(),
        workload: experiment.workload.clone(),
        seed: opts.seed,
        start,
        events: events_tx.clone(),
        counters: counters.clone(),
        stop: cancel.clone(),
    };
    let tasks: Vec<ClientTask> = clients
        .iter()
        .enumerate()
        .map(|(t, (node, client))| task(t as u64, node, client.clone()))
        .collect();

    // The load, then the restart; the session heals on every path.
    let measured = async {
        let load = drive_load(
            tasks,
            &experiment,
            &opts,
            start,
            &counters,
            progress.as_ref(),
        )
        .await?;
        let restart = match (&restart_fault, cancel.is_cancelled()) {
            (Some(fault), false) => Some(
                measure_restart(
                    &mut session,
                    fault,
                    &experiment,
                    &cluster,
                    &prefix,
                    first_client.as_ref(),
                    |client: AnyClient| task(PROBE_PROCESS, &fault_service(fault), client),
                    start,
                    &cancel,
                    progress.as_ref(),
                )
                .await,
            ),
            _ => None,
        };
        Ok::<_, EngineError>((load, restart))
    }
    .await;
    progress.event(RunEvent::Phase(Phase::Healing));
    let finish = session.finish().await;
    for e in &finish.errors {
        let note =
            format!("healing reported: {e}; run `chaos heal --project {project}` to make sure");
        progress.event(RunEvent::Note(note.clone()));
        notes.push(note);
    }
    drop(events_tx);
    let events: String = recorder
        .await
        .map_err(|_| EngineError::Panicked("the history recorder"))?
        .map_err(EngineError::store("writing history.jsonl"))?;
    let (load, restart) = measured?;
    let _ = log.line(&format!(
        "load done: {} steps, {} events in the history",
        load.steps.len(),
        events.lines().count()
    ));

    // The report.
    notes.extend(load.notes);
    let judged = load.judged;
    let restart_why = match &opts.restart {
        RestartChoice::Skip => "skipped (--no-restart)".to_string(),
        _ => "not reached: the bench was interrupted".to_string(),
    };
    let goals = bench::evaluate(
        &opts.goals,
        judged.map(|i| &load.steps[i].load),
        &startup,
        restart.as_ref().ok_or(restart_why.as_str()),
    );
    let w = &experiment.workload;
    let report = BenchReport {
        schema_version: bench::BENCH_SCHEMA_VERSION,
        experiment: experiment.name.clone(),
        file: opts.file_arg.clone(),
        seed: opts.seed.0,
        rerun: opts.rerun.clone(),
        client: w.client.name().to_string(),
        project: project.clone(),
        images,
        started_at: results::rfc3339(started_ms),
        ended_at: results::rfc3339(unix_ms()),
        run_dir: run_dir.path().display().to_string(),
        settings: Settings {
            rate: opts.ramp.map_or(w.rate, |r| r.from),
            step_s: opts.step.as_secs_f64(),
            clients: w.clients,
            ramp: opts.ramp,
            objective: opts.objective,
            keys: w.keys,
            mix: format!(
                "{}/{}/{} read/write/cas",
                w.weight("read"),
                w.weight("write"),
                w.weight("cas")
            ),
            read_mode: match w.read_mode {
                ReadMode::Linearizable => "linearizable",
                ReadMode::Serializable => "serializable",
            }
            .to_string(),
            timeout_ms: w.timeout.as_millis() as u64,
        },
        steps: load.steps,
        judged_step: judged,
        best_rate: load.best_rate,
        startup,
        restart,
        goals,
        notes,
        interrupted: cancel.is_cancelled(),
    };
    let json = serde_json::to_string_pretty(&report).expect("a bench report serializes");
    run_dir
        .write(files::BENCH, json.as_bytes())
        .map_err(EngineError::store("writing bench.json"))?;
    let text = bench::render(&report);
    run_dir
        .write(files::REPORT, text.as_bytes())
        .map_err(EngineError::store("writing report.txt"))?;
    let _ = log.line(&format!(
        "goals: {}",
        report
            .goals
            .iter()
            .map(|g| format!("{} {}", g.goal, g.status.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let _ = log.sync();
    if experiment.cluster.down {
        progress.event(RunEvent::Phase(Phase::TearingDown));
        cluster
            .down()
            .await
            .map_err(EngineError::docker("tearing the cluster down"))?;
    }
    Ok(BenchOutcome {
        report,
        run_dir: run_dir.path().to_path_buf(),
        text,
    })
}

fn fault_service(fault: &PlannedFault) -> String {
    match &fault.targets {
        PlannedTargets::Services(s) => s.first().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What the load phase produced.
struct Load {
    steps: Vec<StepReport>,
    judged: Option<usize>,
    best_rate: Option<u64>,
    notes: Vec<String>,
}

/// One step, or a ramp of steps, of open-loop load.
async fn drive_load(
    tasks: Vec<ClientTask>,
    experiment: &Experiment,
    opts: &BenchOptions,
    start: Instant,
    counters: &Arc<Counters>,
    progress: &dyn ProgressSink,
) -> Result<Load, EngineError> {
    let mut clients: Vec<(ClientTask, ClientState)> = tasks
        .into_iter()
        .map(|t| {
            let state = ClientState::new(&t);
            (t, state)
        })
        .collect();
    let n = clients.len() as u64;
    let (mut ramp, mut rate) = match opts.ramp {
        Some(spec) => {
            let (ramp, first) = Ramp::new(spec);
            (Some(ramp), first)
        }
        None => (None, experiment.workload.rate),
    };
    let mut steps: Vec<StepReport> = Vec::new();
    let mut notes = Vec::new();
    let mut best_rate = None;
    loop {
        let number = steps.len() + 1;
        progress.event(RunEvent::Note(format!(
            "step {number}: offering {} ops/s with {n} clients for {}",
            bench::thousands(rate),
            crate::duration::format(opts.step)
        )));
        progress.event(RunEvent::Phase(Phase::Running { total: opts.step }));
        let step_start = Instant::now() + Duration::from_millis(20);
        let step = Step::new(rate, step_start, step_start + opts.step);
        let handles: Vec<_> = clients
            .drain(..)
            .map(|(task, mut state)| {
                let step = step.clone();
                tokio::spawn(async move {
                    let mut load = LoadRecorder::new();
                    let started = task.run_step(&mut state, &step, &mut load).await;
                    (task, state, load, started)
                })
            })
            .collect();
        let stop_ticks = CancellationToken::new();
        let ticker = ticks(step_start, opts.step, counters, &stop_ticks, progress);
        let joined = async {
            let all = futures_util::future::join_all(handles).await;
            stop_ticks.cancel();
            all
        };
        let ((), joined) = tokio::join!(ticker, joined);
        let mut merged = LoadRecorder::new();
        let mut started = 0;
        for j in joined {
            let (task, state, load, n) = j.map_err(|_| EngineError::Panicked("a client task"))?;
            merged.merge(&load);
            started += n;
            clients.push((task, state));
        }
        // The slots due before the end (or the stop) that no client took.
        let until = if opts.cancel.is_cancelled() {
            Instant::now()
        } else {
            step.end
        };
        let not_started = step.due_before(until).saturating_sub(started);
        // A step cut short by a cancellation lasted until then.
        let offered = if opts.cancel.is_cancelled() {
            step_start.elapsed().min(opts.step)
        } else {
            opts.step
        };
        let summary: LoadSummary = merged.summary(&StepFacts {
            target_rate: rate,
            clients: n,
            start_ns: step_start.saturating_duration_since(start).as_nanos() as u64,
            duration_ns: offered.as_nanos() as u64,
            not_started,
        });
        let judgement = bench::judge(&summary, &opts.objective);
        progress.event(RunEvent::Note(format!(
            "step {number}: {} ops/s completed ({} ok/s), p99 {} ms: {}",
            bench::thousands(summary.throughput_per_s.round() as u64),
            bench::thousands(summary.throughput_ok_per_s.round() as u64),
            summary.latency.p99_ms.map_or("-".into(), bench::fmt_ms),
            if judgement.met {
                "meets the objective".to_string()
            } else {
                format!("misses it ({})", judgement.reasons.join("; "))
            }
        )));
        if summary.pool_busy > 0.9 {
            notes.push(format!(
                "step {number}: the {n} clients were busy {:.0}% of the time: the client pool, \
                 not only the cluster, bounded the rate (a pool needs about rate x latency \
                 clients; try --clients)",
                summary.pool_busy * 100.0
            ));
        }
        let met = judgement.met;
        steps.push(StepReport {
            load: summary,
            objective: judgement,
        });
        if opts.cancel.is_cancelled() {
            notes.push(format!(
                "interrupted during step {number}: that step is shorter than planned"
            ));
            break;
        }
        match ramp.as_mut().map(|r| r.observe(rate, met)) {
            None => break,
            Some(Next::Try(next)) => rate = next,
            Some(Next::Done { best }) => {
                best_rate = best;
                break;
            }
        }
    }
    if let (Some(r), None) = (&ramp, best_rate) {
        best_rate = r.best();
    }
    // The single step; or the ramp's best; or, when no rate met the
    // objective, the step that did the most ok ops per second.
    let judged = if opts.ramp.is_none() {
        (!steps.is_empty()).then_some(0)
    } else {
        best_rate
            .and_then(|b| steps.iter().position(|s| s.load.target_rate == b))
            .or_else(|| {
                (0..steps.len()).max_by(|&a, &b| {
                    steps[a]
                        .load
                        .throughput_ok_per_s
                        .total_cmp(&steps[b].load.throughput_ok_per_s)
                })
            })
    };
    Ok(Load {
        steps,
        judged,
        best_rate,
        notes,
    })
}

/// A [`RunEvent::Tick`] every half second of a step until `stop`.
async fn ticks(
    start: Instant,
    total: Duration,
    counters: &Counters,
    stop: &CancellationToken,
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
            faults: Vec::new(),
        });
    }
}

/// Restart one node through the session and time it: from the restart's
/// start until Docker has it running and healthy, and until a read through
/// it succeeds again. A probe reads through the node every
/// [`PROBE_EVERY`] from the restart's start, looking its published port up
/// again after each failure (a port Docker chose moves on a restart); the
/// node serves again at the first ok read invoked after a probe failed
/// (or, if none failed, after the restart was done).
#[allow(clippy::too_many_arguments)]
async fn measure_restart(
    session: &mut FaultSession,
    fault: &PlannedFault,
    experiment: &Experiment,
    cluster: &ComposeCluster,
    prefix: &str,
    existing: Option<&AnyClient>,
    probe_task: impl Fn(AnyClient) -> ClientTask,
    start: Instant,
    cancel: &CancellationToken,
    progress: &dyn ProgressSink,
) -> RestartReport {
    let service = fault_service(fault);
    let port_of = || async {
        cluster
            .published_port(&service, connect::client_port(&experiment.workload))
            .await
            .ok()
    };
    let port_before = port_of().await;
    let done = AtomicBool::new(false);
    let t0 = Instant::now();
    progress.event(RunEvent::FaultApplied {
        id: fault.id,
        kind: "restart".into(),
        targets: vec![service.clone()],
    });
    let apply = async {
        let r = session
            .nemesis()
            .apply(fault, start.elapsed())
            .await
            .map(|_| t0.elapsed());
        done.store(true, Ordering::SeqCst);
        r
    };
    // The probe reads key 0, as a final read does.
    let probe = experiment
        .workload
        .kind
        .room()
        .final_reads(&experiment.workload, &std::collections::BTreeSet::from([0]))
        .remove(0);
    let probe = async {
        let probe = &probe;
        let mut failed = 0u64;
        let mut port = port_before;
        let mut task: Option<ClientTask> = None;
        let mut process = PROBE_PROCESS;
        loop {
            if t0.elapsed() > RESTART_BUDGET || cancel.is_cancelled() {
                return (None, failed, port, Some("gave up waiting".to_string()));
            }
            let after_failure_or_done = failed > 0 || done.load(Ordering::SeqCst);
            if task.is_none()
                && let Some(p) = port
            {
                let address = format!("127.0.0.1:{p}");
                let client = match existing {
                    Some(c) => {
                        connect::client_again(experiment, c, &service, &address, prefix).await
                    }
                    None => connect::client_at(experiment, &address, prefix).await,
                };
                if let Ok(client) = client {
                    task = Some(probe_task(client));
                }
            }
            let ok = match &task {
                Some(t) => {
                    let timed = t.invoke_timed(process, probe, false).await;
                    if matches!(timed.outcome, Outcome::Info(_)) {
                        process += 1;
                    }
                    matches!(timed.outcome, Outcome::Ok(_))
                }
                None => false,
            };
            if ok && after_failure_or_done {
                return (Some(t0.elapsed()), failed, port, None);
            }
            if !ok {
                failed += 1;
                // Look the port up again: it moves when Docker chose it.
                let now = port_of().await;
                if now != port || now.is_none() {
                    port = now;
                    task = None;
                }
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    };
    let (applied, (serving, failed, port_after, gave_up)) = tokio::join!(apply, probe);
    let mut error = gave_up;
    let to_healthy_ms = match applied {
        Ok(d) => Some(round3(d.as_secs_f64() * 1e3)),
        Err(e) => {
            error = Some(format!("the restart: {e}"));
            None
        }
    };
    match session.nemesis().heal(fault.id).await {
        Ok(_) => progress.event(RunEvent::FaultHealed { id: fault.id }),
        Err(e) => progress.event(RunEvent::FaultError {
            id: fault.id,
            error: e.to_string(),
        }),
    }
    RestartReport {
        service,
        to_serving_ms: serving.map(|d| round3(d.as_secs_f64() * 1e3)),
        to_healthy_ms,
        failed_probes: failed,
        port_before,
        port_after,
        error,
    }
}
