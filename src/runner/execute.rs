//! One whole run, end to end: cluster, run directory, clients, nemesis,
//! healing, final reads, checker, results. The steps are listed in
//! [`run`]; each failure names what failed and leaves no fault applied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::workload::{ClientTask, Counters, Event};
use super::{Applied, FaultEvent, Faults, Stopped, drive_faults, progress, record};
use crate::checker::{self, CheckOptions, CheckReport, Clock};
use crate::client::etcd::{EtcdClient, EtcdLeader};
use crate::client::pd::{self, PdRoles};
use crate::client::surreal::{SurrealClient, SurrealConfig};
use crate::client::{AnyClient, Request};
use crate::docker::ComposeCluster;
use crate::experiment::{ClientKind, Experiment, ReadMode};
use crate::history::{History, Kind};
use crate::journal::Journal;
use crate::loader::Loaded;
use crate::nemesis::{self, FixedRoles, Nemesis, RoleResolver, Shutdown};
use crate::plan::{self, Plan, PlannedFault};
use crate::results::{self, Results};
use crate::seed::Seed;
use crate::store::{RunDir, files};

/// Process ids of the final reads start here, far above any client's.
const FINAL_PROCESS: u64 = 1 << 40;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The experiment file as the user typed it (for the rerun command).
    pub file_arg: String,
    pub seed: Seed,
    pub results_root: PathBuf,
    /// Run for this long instead of the file's duration.
    pub duration: Option<Duration>,
    /// The checker's budget per key.
    pub budget: Duration,
}

/// A finished run.
#[derive(Debug)]
pub struct RunOutcome {
    pub results: Results,
    pub run_dir: PathBuf,
    pub report: String,
}

/// The command that reruns this run exactly.
pub fn rerun_command(opts: &RunOptions) -> String {
    let mut cmd = format!("chaos run {} --seed {}", opts.file_arg, opts.seed);
    if let Some(d) = opts.duration {
        cmd.push_str(&format!(" --duration {}", crate::duration::format(d)));
    }
    cmd
}

/// The port each client adapter talks to inside its container.
fn client_port(kind: ClientKind) -> u16 {
    match kind {
        ClientKind::Etcd => 2379,
        ClientKind::Surrealdb => 8000,
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The wall clock the checker's budget is measured with.
struct MonotonicClock(std::time::Instant);

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// The nemesis as the runner's [`Faults`].
struct NemesisFaults<'a> {
    nemesis: &'a mut Nemesis,
}

impl Faults for NemesisFaults<'_> {
    async fn apply(&mut self, fault: &PlannedFault) -> Result<Applied, String> {
        let applied = self
            .nemesis
            .apply(fault, fault.at())
            .await
            .map_err(|e| format!("{e:#}"))?;
        Ok(Applied {
            targets: applied.targets.into_iter().map(|t| t.service).collect(),
        })
    }

    async fn heal(&mut self, id: u64) -> Result<(), String> {
        self.nemesis
            .heal(id)
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
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
    faults: Vec<FaultEvent>,
    stopped: Stopped,
    events: Vec<Event>,
    workload_ns: u64,
}

/// Run an experiment: the steps, in order.
///
/// 1. Plan (pure), connect to Docker, preflight (images, netem).
/// 2. Bring the cluster up, or wait until the running one is healthy.
/// 3. Create the run directory: experiment, plan, journal, history, log.
/// 4. Drive clients and faults together until the end (or a signal).
/// 5. Heal everything, let the cluster recover, read every key once more.
/// 6. Check the history, write results.json and report.txt.
/// 7. Tear down if the experiment says so.
pub async fn run(loaded: &Loaded, opts: &RunOptions) -> anyhow::Result<RunOutcome> {
    let mut experiment = loaded.experiment.clone();
    if let Some(d) = opts.duration {
        experiment.duration = d;
    }
    let plan = plan::plan(&experiment, opts.seed);
    let project = &experiment.cluster.project;

    let cluster = ComposeCluster::connect(project, &loaded.compose_file)
        .await
        .context("connecting to the Docker engine")?
        .with_env(&experiment.cluster.env);
    nemesis::preflight(&cluster, &plan)
        .await
        .context("checking what the faults need")?;
    if experiment.cluster.up {
        eprintln!(
            "chaos: bringing up `{project}` ({})",
            loaded.compose_file.display()
        );
        cluster
            .up(experiment.cluster.ready_timeout)
            .await
            .context("bringing the cluster up")?;
    } else {
        cluster
            .wait_healthy(experiment.cluster.ready_timeout)
            .await
            .context("waiting for the running cluster to be healthy")?;
    }
    let images: BTreeMap<String, String> = cluster
        .containers()
        .await?
        .into_iter()
        .map(|(service, c)| (service, c.image))
        .collect();

    let started_ms = unix_ms();
    let run_dir = RunDir::create(
        &opts.results_root,
        &experiment.name,
        &results::compact_utc(started_ms),
        opts.seed.0,
    )
    .with_context(|| {
        format!(
            "creating the run directory under {}",
            opts.results_root.display()
        )
    })?;
    run_dir.write(files::EXPERIMENT, loaded.text.as_bytes())?;
    run_dir.write(
        files::PLAN,
        crate::cli::plan::plan_json(&plan, &loaded.path, opts.duration).as_bytes(),
    )?;
    let mut log = run_dir.lines(files::LOG)?;
    let _ = log.line(&format!(
        "{} run of {} seed {} in project {project}",
        results::rfc3339(started_ms),
        experiment.name,
        opts.seed
    ));

    // One client per endpoint service, through its published port; the
    // prefix makes every run's registers fresh.
    let prefix = format!(
        "chaos/{}/{}-{}/",
        experiment.name,
        results::compact_utc(started_ms),
        opts.seed
    );
    let clients = connect_clients(&experiment, &cluster, &prefix)
        .await
        .context("connecting the clients")?;
    let resolver: Arc<dyn RoleResolver> = match experiment.workload.client {
        ClientKind::Etcd => {
            // The leader of the etcd component: ask every member of it.
            let members = etcd_members(&experiment, &cluster, &prefix).await?;
            Arc::new(EtcdLeader::new(members))
        }
        ClientKind::Surrealdb => pd_roles(&experiment, &cluster).await,
    };

    let journal = Journal::create(
        &run_dir.file(files::JOURNAL),
        project,
        Some(&loaded.compose_file),
    )
    .context("creating the fault journal")?;
    let shutdown = Shutdown::install(project);
    let start = Instant::now();
    let mut nemesis = Nemesis::new(
        cluster.clone(),
        journal,
        resolver,
        experiment.cluster.components.clone(),
        start,
    );
    let driven = match nemesis.check_targets(&plan).await {
        Ok(()) => {
            drive(
                &experiment,
                &plan,
                opts.seed,
                &mut nemesis,
                &clients,
                &run_dir,
                &shutdown,
                start,
            )
            .await
        }
        Err(e) => Err(anyhow!(e).context("resolving the fault targets")),
    };
    // Healing runs on every path, success or error, before anything else.
    let finish = nemesis.finish().await;
    let driven = driven?;
    let mut notes = Vec::new();
    for e in &finish.errors {
        notes.push(format!(
            "healing reported: {e}; run `chaos heal --project {project}` to make sure"
        ));
    }
    if driven.stopped == Stopped::Interrupted {
        notes.push(
            "the run was interrupted by a signal: the history is shorter than planned".into(),
        );
    }
    let _ = log.line(&format!(
        "workload done: {} events; faults healed",
        driven.events.len()
    ));

    // Check.
    let ops: Vec<_> = driven
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            // Witnesses cite history.jsonl by line: op i is on line i + 1.
            let mut op = e.op(i as u64);
            op.line = i + 1;
            op
        })
        .collect();
    let history = History::from_ops(ops).context("the recorded history is inconsistent")?;
    let budget = opts.budget;
    let check_started = std::time::Instant::now();
    let report: CheckReport = tokio::task::spawn_blocking(move || {
        let options = CheckOptions {
            budget,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            clock: Some(Arc::new(MonotonicClock(std::time::Instant::now()))),
            ..CheckOptions::default()
        };
        checker::check(&history, &options)
    })
    .await
    .context("the checker panicked")?;
    let check_ms = check_started.elapsed().as_secs_f64() * 1000.0;

    let ended_ms = unix_ms();
    let results = build_results(
        &experiment,
        opts,
        loaded,
        images,
        &driven,
        &report,
        check_ms,
        started_ms,
        ended_ms,
        notes,
    );
    let json = serde_json::to_string_pretty(&results).expect("results serialize");
    run_dir.write(files::RESULTS, json.as_bytes())?;
    let shown_dir = run_dir.path().display().to_string();
    let text = crate::report::render(&results, &shown_dir);
    run_dir.write(files::REPORT, text.as_bytes())?;
    let _ = log.line(&format!("verdict {:?}", results.verdict));
    let _ = log.sync();

    if experiment.cluster.down {
        eprintln!("chaos: tearing down `{project}`");
        cluster.down().await.context("tearing the cluster down")?;
    }
    Ok(RunOutcome {
        results,
        run_dir: run_dir.path().to_path_buf(),
        report: text,
    })
}

/// (service, `127.0.0.1:PORT`) of each of the workload's endpoints: the
/// host port its client port is published on.
pub async fn endpoint_addresses(
    experiment: &Experiment,
    cluster: &ComposeCluster,
) -> anyhow::Result<Vec<(String, String)>> {
    let w = &experiment.workload;
    let mut addresses = Vec::new();
    for service in &w.endpoints {
        let port = cluster
            .published_port(service, client_port(w.client))
            .await
            .with_context(|| format!("finding the published port of `{service}`"))?;
        addresses.push((service.clone(), format!("127.0.0.1:{port}")));
    }
    Ok(addresses)
}

/// One client per process, spread over the endpoint services round-robin
/// (process `t` talks to endpoint `t % endpoints`), each through its node's
/// published port.
async fn connect_clients(
    experiment: &Experiment,
    cluster: &ComposeCluster,
    prefix: &str,
) -> anyhow::Result<Vec<(String, AnyClient)>> {
    let w = &experiment.workload;
    let addresses = endpoint_addresses(experiment, cluster).await?;
    let mut clients = Vec::new();
    match w.client {
        ClientKind::Etcd => {
            let serializable = w.read_mode == ReadMode::Serializable;
            let per_node: Vec<_> = addresses
                .iter()
                .map(|(service, address)| {
                    let client = EtcdClient::new(
                        format!("http://{address}"),
                        prefix.to_string(),
                        serializable,
                        w.timeout,
                    );
                    (service.clone(), AnyClient::Etcd(client))
                })
                .collect();
            for t in 0..w.clients as usize {
                clients.push(per_node[t % per_node.len()].clone());
            }
        }
        ClientKind::Surrealdb => {
            // Set-up calls get more time than ops: a node just started may
            // still be opening its storage.
            let setup = SurrealConfig::new(w.timeout.max(Duration::from_secs(10)));
            SurrealClient::define(&addresses[0].1, &setup).await?;
            for t in 0..w.clients as usize {
                let (service, address) = &addresses[t % addresses.len()];
                let client = SurrealClient::connect(address, prefix, &setup)
                    .await?
                    .with_timeout(w.timeout);
                clients.push((service.clone(), AnyClient::Surreal(client)));
            }
        }
    }
    Ok(clients)
}

/// Roles of a SurrealDB-on-TiKV cluster (the `leader` of `tikv`: the store
/// leading the register table's region; of `pd`: the PD leader), asked of
/// PD through the published ports of the `pd` component. Without a `pd`
/// component (the local image) no role can be named.
async fn pd_roles(experiment: &Experiment, cluster: &ComposeCluster) -> Arc<dyn RoleResolver> {
    let Some(pd) = experiment.cluster.components.get("pd") else {
        return Arc::new(FixedRoles::new());
    };
    let mut members = Vec::new();
    for service in pd {
        if let Ok(port) = cluster.published_port(service, 2379).await {
            members.push((service.clone(), format!("http://127.0.0.1:{port}")));
        }
    }
    let config = SurrealConfig::new(experiment.workload.timeout);
    let key = pd::surreal_table_key(&config.namespace, &config.database, &config.table);
    Arc::new(
        PdRoles::new(members, key, Duration::from_secs(2))
            .with_components(experiment.cluster.components.clone()),
    )
}

/// Clients of every node of the component whose leader a role may name.
async fn etcd_members(
    experiment: &Experiment,
    cluster: &ComposeCluster,
    prefix: &str,
) -> anyhow::Result<Vec<(String, EtcdClient)>> {
    let mut members = Vec::new();
    let services: BTreeSet<&String> = experiment.cluster.components.values().flatten().collect();
    for service in services {
        let Ok(port) = cluster.published_port(service, 2379).await else {
            continue;
        };
        members.push((
            service.clone(),
            EtcdClient::new(
                format!("http://127.0.0.1:{port}"),
                prefix.to_string(),
                false,
                Duration::from_millis(500),
            ),
        ));
    }
    Ok(members)
}

/// Clients and faults together, then the final reads.
#[allow(clippy::too_many_arguments)]
async fn drive(
    experiment: &Experiment,
    plan: &Plan,
    seed: Seed,
    nemesis: &mut Nemesis,
    clients: &[(String, AnyClient)],
    run_dir: &RunDir,
    shutdown: &Shutdown,
    start: Instant,
) -> anyhow::Result<Driven> {
    let w = &experiment.workload;
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let recorder = tokio::spawn(record(events_rx, run_dir.lines(files::HISTORY)?));
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (now_tx, now_rx) = watch::channel(None);

    let task = |thread: u64, stop: watch::Receiver<bool>| {
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
        .map(|t| tokio::spawn(task(t, stop_rx.clone()).run()))
        .collect();
    let progress = tokio::spawn(progress(
        start,
        experiment.duration,
        counters.clone(),
        now_rx,
        stop_rx.clone(),
    ));

    // The clients stop at the end of the run or on a signal; the timeline
    // stops at its end or on a signal, healing what it applied.
    let end = start + experiment.duration;
    let mut signal = shutdown.receiver();
    let timer = async {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => {}
            _ = super::wait_true(&mut signal) => {}
        }
        let _ = stop_tx.send(true);
    };
    let mut faults = NemesisFaults { nemesis };
    let ((fault_events, stopped), ()) = tokio::join!(
        drive_faults(plan, &mut faults, start, shutdown.receiver(), &now_tx),
        timer
    );
    let workload_ns = start.elapsed().as_nanos() as u64;
    let mut touched = BTreeSet::new();
    for t in tasks {
        touched.extend(t.await.context("a client task panicked")?);
    }
    let _ = progress.await;
    let stopped = if shutdown.requested() {
        Stopped::Interrupted
    } else {
        stopped
    };

    // Heal everything before the final reads (the timeline already healed
    // its faults; this catches anything left).
    for e in faults.heal_all().await {
        eprintln!("chaos: heal error: {e}");
    }
    if stopped == Stopped::Completed {
        eprintln!(
            "chaos: faults healed; letting the cluster recover for {}, then reading every key",
            crate::duration::format(experiment.cluster.recovery)
        );
        let mut signal = shutdown.receiver();
        tokio::select! {
            _ = tokio::time::sleep(experiment.cluster.recovery) => {}
            _ = super::wait_true(&mut signal) => {}
        }
        let (_never_tx, never) = watch::channel(false);
        for (i, key) in touched.iter().enumerate() {
            if shutdown.requested() {
                break;
            }
            let reader = task(i as u64, never.clone());
            reader
                .invoke(FINAL_PROCESS + i as u64, Request::Read { key: *key }, true)
                .await;
        }
    }
    drop(events_tx);
    let events = recorder
        .await
        .context("the history recorder panicked")?
        .context("writing history.jsonl")?;
    Ok(Driven {
        faults: fault_events,
        stopped,
        events,
        workload_ns,
    })
}

#[allow(clippy::too_many_arguments)]
fn build_results(
    experiment: &Experiment,
    opts: &RunOptions,
    loaded: &Loaded,
    images: BTreeMap<String, String>,
    driven: &Driven,
    report: &CheckReport,
    check_ms: f64,
    started_ms: u64,
    ended_ms: u64,
    mut notes: Vec<String>,
) -> Results {
    use results::{OpSample, Outcome, Window};
    // Completed ops as samples: pair each completion with its invocation.
    let mut open: BTreeMap<u64, &Event> = BTreeMap::new();
    let mut samples = Vec::new();
    for e in &driven.events {
        if e.kind == Kind::Invoke {
            open.insert(e.process, e);
            continue;
        }
        let Some(inv) = open.remove(&e.process) else {
            continue;
        };
        let f = match (e.final_read, inv.request) {
            (true, _) => "final-read",
            (_, Request::Read { .. }) => "read",
            (_, Request::Write { .. }) => "write",
            (_, Request::Cas { .. }) => "cas",
        };
        let outcome = match e.kind {
            Kind::Ok => Outcome::Ok,
            Kind::Fail => Outcome::Fail,
            _ => Outcome::Info,
        };
        samples.push(OpSample {
            f,
            outcome,
            invoked_ns: inv.time_ns,
            completed_ns: e.time_ns,
        });
    }
    let workload_samples: Vec<OpSample> = samples
        .iter()
        .copied()
        .filter(|s| s.f != "final-read")
        .collect();
    let windows: Vec<Window> = driven
        .faults
        .iter()
        .filter_map(|f| {
            let start = f.applied_at?;
            let end = f
                .healed_at
                .unwrap_or(Duration::from_nanos(driven.workload_ns));
            Some(Window {
                start_ns: start.as_nanos() as u64,
                end_ns: end.as_nanos() as u64,
            })
        })
        .collect();
    let mut workload = results::workload_stats(&workload_samples, &windows, driven.workload_ns);
    for s in samples.iter().filter(|s| s.f == "final-read") {
        let c = workload.by_f.entry("final-read".into()).or_default();
        match s.outcome {
            Outcome::Ok => c.ok += 1,
            Outcome::Fail => c.fail += 1,
            Outcome::Info => c.info += 1,
        }
    }
    let finals = workload.by_f.get("final-read").copied().unwrap_or_default();
    if finals.fail + finals.info > 0 {
        notes.push(format!(
            "{} of {} final reads did not succeed: the cluster had not recovered",
            finals.fail + finals.info,
            finals.total()
        ));
    }
    let faults = driven
        .faults
        .iter()
        .map(|f| results::FaultRecord {
            id: f.fault.id,
            nemesis: f.fault.nemesis,
            kind: f.fault.fault.name().to_string(),
            description: match &f.fault.targets {
                // A partition's shape says more than its list of nodes.
                plan::PlannedTargets::Partition { .. } => {
                    format!(
                        "{}: {}",
                        f.fault.fault.describe(),
                        f.fault.targets.describe()
                    )
                }
                _ => f.fault.fault.describe(),
            },
            targets: f.targets.clone(),
            planned_at_ms: f.fault.at_ms,
            applied_at_ms: f.applied_at.map(|d| d.as_millis() as u64),
            lag_ms: f
                .applied_at
                .map(|d| (d.as_secs_f64() * 1000.0 - f.fault.at_ms as f64).max(0.0))
                .map(|x| (x * 1000.0).round() / 1000.0),
            planned_heal_at_ms: f.fault.heal_at_ms,
            healed_at_ms: f.healed_at.map(|d| d.as_millis() as u64),
            recovery_ms: f
                .healed_at
                .and_then(|h| results::recovery_ms(&workload_samples, h.as_nanos() as u64)),
            error: f.error.clone(),
        })
        .collect();
    let checker = checker_summary(report, check_ms);
    let verdict = checker.verdict;
    let exit_code = match verdict {
        results::Verdict::Valid => 0,
        results::Verdict::Invalid => 1,
        results::Verdict::Unknown => 3,
    };
    Results {
        schema_version: results::SCHEMA_VERSION,
        experiment: results::ExperimentInfo {
            name: experiment.name.clone(),
            file: opts.file_arg.clone(),
            description: experiment.description.clone(),
        },
        seed: opts.seed.0,
        rerun: rerun_command(opts),
        tool: results::ToolInfo {
            name: "chaos".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        target: results::TargetInfo {
            client: experiment.workload.client.name().into(),
            read_mode: experiment.workload.read_mode.name().into(),
            compose_file: loaded.compose_file.display().to_string(),
            project: experiment.cluster.project.clone(),
            images,
        },
        started_at: results::rfc3339(started_ms),
        ended_at: results::rfc3339(ended_ms),
        duration_s: (ended_ms.saturating_sub(started_ms)) as f64 / 1000.0,
        verdict,
        exit_code,
        faults,
        workload,
        checker,
        notes,
    }
}

/// The checker's report in the results format.
pub fn checker_summary(report: &CheckReport, elapsed_ms: f64) -> results::CheckerSummary {
    let convert = |v: checker::Verdict| match v {
        checker::Verdict::Valid => results::Verdict::Valid,
        checker::Verdict::Invalid => results::Verdict::Invalid,
        checker::Verdict::Unknown => results::Verdict::Unknown,
    };
    let mut anomalies = Vec::new();
    let mut undecided = Vec::new();
    for k in &report.keys {
        match (k.verdict, &k.witness, &k.reason) {
            (checker::Verdict::Invalid, Some(w), _) => anomalies.push(results::Anomaly {
                key: k.key_label(),
                explanation: w.explanation.clone(),
                linearizable_prefix: Some(w.linearizable_prefix),
                ops: w
                    .ops
                    .iter()
                    .map(|op| serde_json::to_value(op).expect("ops serialize"))
                    .collect(),
            }),
            (checker::Verdict::Invalid, None, _) => anomalies.push(results::Anomaly {
                key: k.key_label(),
                explanation: "not linearizable (no witness recorded)".into(),
                linearizable_prefix: None,
                ops: Vec::new(),
            }),
            (checker::Verdict::Unknown, _, reason) => undecided.push(results::Undecided {
                key: k.key_label(),
                reason: reason.clone().unwrap_or_else(|| "not decided".into()),
            }),
            _ => {}
        }
    }
    results::CheckerSummary {
        verdict: convert(report.verdict),
        keys: report.keys.len() as u64,
        keys_valid: report.count(checker::Verdict::Valid) as u64,
        keys_invalid: report.count(checker::Verdict::Invalid) as u64,
        keys_unknown: report.count(checker::Verdict::Unknown) as u64,
        elapsed_ms: (elapsed_ms * 1000.0).round() / 1000.0,
        anomalies,
        undecided,
    }
}
