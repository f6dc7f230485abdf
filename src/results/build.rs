//! Building a [`Results`] from what a run produced: the experiment, the
//! plan's faults and what became of each, the recorded history and the
//! checker's report. Pure: no clock (times come in as numbers), no files, no
//! runtime. The run engine calls [`build`] at the end of every run;
//! anything that can read a run directory back (a report made again, a
//! replay) can call it too. [`simulated`] makes the results of a run that
//! never touched a cluster (a generated, checked history with its
//! experiment's faults), for report tests and benches.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{
    Anomaly, CheckerSummary, ExperimentInfo, FaultRecord, FaultSpan, OpSample, Outcome,
    RegisterAnomaly, Results, SCHEMA_VERSION, Status, TargetInfo, ToolInfo, TxnSummary, Undecided,
    Verdict, Window, recoveries, recovery_ms, rfc3339, workload_stats,
};
use crate::checker::txn::{self, TxnLine, TxnReport};
use crate::checker::{self, CheckReport};
use crate::experiment::Experiment;
use crate::history::{self, History};
use crate::plan::{self, Plan, PlannedFault, PlannedTargets};
use crate::seed::Seed;

/// What became of one planned fault.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultOutcome {
    pub fault: PlannedFault,
    /// From the run's start: when it was in place (`None`: never applied).
    pub applied_at: Option<Duration>,
    /// The services it struck (roles resolved).
    pub targets: Vec<String>,
    /// The service a role it named resolved to, if it named one.
    pub role: Option<String>,
    /// From the run's start: when its heal finished (`None`: not healed).
    pub healed_at: Option<Duration>,
    /// Why it was not applied or not healed.
    pub error: Option<String>,
    /// What was seen of it as it was applied and healed (chaos-fs's
    /// answers: bytes unsynced at a power loss, errors injected).
    pub observed: Vec<String>,
}

impl FaultOutcome {
    /// A planned fault nothing has happened to yet.
    pub fn planned(fault: &PlannedFault) -> FaultOutcome {
        FaultOutcome {
            fault: fault.clone(),
            applied_at: None,
            targets: Vec::new(),
            role: None,
            healed_at: None,
            error: None,
            observed: Vec::new(),
        }
    }
}

/// Everything a run produced that results.json is made from.
#[derive(Debug)]
pub struct RunFacts<'a> {
    pub experiment: &'a Experiment,
    /// The experiment file as the user named it.
    pub file_arg: &'a str,
    pub seed: u64,
    /// The command that reruns it exactly.
    pub rerun: String,
    pub compose_file: String,
    /// Compose service to the image its container ran.
    pub images: BTreeMap<String, String>,
    pub status: Status,
    /// Wall clock, Unix milliseconds.
    pub started_ms: u64,
    pub ended_ms: u64,
    /// The length of the workload phase (before healing and final reads).
    pub workload_ns: u64,
    pub faults: &'a [FaultOutcome],
    /// What the workload's checker said.
    pub checker: CheckerSummary,
    /// Every completed op of the history ([`crate::workload::op::samples`]).
    pub samples: Vec<OpSample>,
    pub check_ms: f64,
    /// Service to its log file, relative to the run directory.
    pub logs: BTreeMap<String, String>,
    /// Notes from the shell (a heal that failed, an interruption).
    pub notes: Vec<String>,
}

/// Every completed transaction of a list-append history as a statistics
/// sample (`txn`, or `final-read` for the final reads), paired by process:
/// a process has at most one transaction open. Lines without times, and
/// invocations never completed, are left out.
pub fn txn_samples(lines: &[TxnLine]) -> Vec<OpSample> {
    let mut open: BTreeMap<u64, (u64, bool)> = BTreeMap::new();
    let mut out = Vec::with_capacity(lines.len() / 2);
    for l in lines {
        let Some(t) = l.time_ns else { continue };
        let outcome = match l.kind {
            history::Kind::Invoke => {
                let write = !l.final_read
                    && l.value
                        .iter()
                        .any(|m| matches!(m, txn::MicroOp::Append(..)));
                open.insert(l.process, (t, write));
                continue;
            }
            history::Kind::Ok => Outcome::Ok,
            history::Kind::Fail => Outcome::Fail,
            history::Kind::Info => Outcome::Info,
        };
        if let Some((invoked_ns, write)) = open.remove(&l.process) {
            out.push(OpSample {
                write,
                f: if l.final_read { "final-read" } else { "txn" }.to_string(),
                outcome,
                invoked_ns,
                completed_ns: t,
            });
        }
    }
    out
}

/// Every completed operation of a history as a statistics sample: its
/// function (`final-read` for the final reads), outcome and times. Ops
/// without times or without a completion are left out.
pub fn samples(history: &History) -> Vec<OpSample> {
    let mut out = Vec::with_capacity(history.operations.len());
    for operation in &history.operations {
        let Some(completion) = history.completion(operation) else {
            continue;
        };
        let invocation = history.invocation(operation);
        let (Some(invoked_ns), Some(completed_ns)) = (invocation.time_ns, completion.time_ns)
        else {
            continue;
        };
        out.push(OpSample {
            write: !invocation.final_read && operation.f.as_str() != "read",
            f: if invocation.final_read {
                "final-read"
            } else {
                operation.f.as_str()
            }
            .to_string(),
            outcome: match operation.outcome {
                history::Outcome::Ok => Outcome::Ok,
                history::Outcome::Fail => Outcome::Fail,
                history::Outcome::Info => Outcome::Info,
            },
            invoked_ns,
            completed_ns,
        });
    }
    out
}

/// The results of a run.
pub fn build(facts: RunFacts<'_>) -> Results {
    let mut notes = facts.notes;
    let samples = facts.samples;
    let (finals, workload_samples): (Vec<OpSample>, Vec<OpSample>) =
        samples.into_iter().partition(|s| s.f == "final-read");
    let windows: Vec<Window> = facts
        .faults
        .iter()
        .filter_map(|f| {
            let start = f.applied_at?;
            let end = f
                .healed_at
                .unwrap_or(Duration::from_nanos(facts.workload_ns));
            Some(Window {
                start_ns: start.as_nanos() as u64,
                end_ns: end.as_nanos() as u64,
            })
        })
        .collect();
    let mut workload = workload_stats(&workload_samples, &windows, facts.workload_ns);
    workload.kind = facts.experiment.workload.kind.name().to_string();
    if !finals.is_empty() {
        let counts = workload.by_f.entry("final-read".into()).or_default();
        for s in &finals {
            counts.add(s.outcome);
        }
        let missed = counts.fail + counts.info;
        if missed > 0 {
            notes.push(format!(
                "{missed} of {} final reads did not succeed: the cluster had not recovered",
                counts.total()
            ));
        }
    }
    let spans: Vec<Option<FaultSpan>> = facts
        .faults
        .iter()
        .map(|f| {
            Some(FaultSpan {
                applied_ns: f.applied_at?.as_nanos() as u64,
                healed_ns: f.healed_at.map(|h| h.as_nanos() as u64),
            })
        })
        .collect();
    let recovered = recoveries(
        &workload_samples,
        &spans,
        facts.workload_ns,
        facts.experiment.checker.recovery_rule(),
    );
    let faults = facts
        .faults
        .iter()
        .zip(recovered)
        .map(|(f, recovery)| FaultRecord {
            recovery,
            ..fault_record(f, &workload_samples)
        })
        .collect();
    let mut checker = facts.checker;
    checker.elapsed_ms = (facts.check_ms * 1000.0).round() / 1000.0;
    Results {
        schema_version: SCHEMA_VERSION,
        status: facts.status,
        experiment: ExperimentInfo {
            name: facts.experiment.name.clone(),
            file: facts.file_arg.to_string(),
            description: facts.experiment.description.clone(),
        },
        seed: facts.seed,
        rerun: facts.rerun,
        tool: ToolInfo {
            name: "chaos".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        target: TargetInfo {
            client: facts.experiment.workload.client.name().into(),
            read_mode: facts.experiment.workload.read_mode.name().into(),
            compose_file: facts.compose_file,
            project: facts.experiment.cluster.project.clone(),
            images: facts.images,
        },
        started_at: rfc3339(facts.started_ms),
        ended_at: rfc3339(facts.ended_ms),
        duration_s: facts.ended_ms.saturating_sub(facts.started_ms) as f64 / 1000.0,
        verdict: checker.verdict,
        faults,
        workload,
        checker,
        logs: facts.logs,
        notes,
    }
}

/// Where a [`simulated`] run starts: 2026-11-27T03:04:05.678Z, Unix
/// milliseconds.
const SIMULATED_START_MS: u64 = 1_795_748_645_678;

/// The results of a run that never touched a cluster, as [`build`] would
/// make them had it run: `history` is a generated history in chaos JSONL
/// (`crate::histgen`, `crate::txngen`) and `checker` what the workload's
/// checker said of it, `experiment` the
/// experiment parsed from `file_arg`. The run lasts until the history's
/// last time (a register history's last op, a list-append one's latest
/// line; 0 without times): the experiment is planned for that long with
/// `seed`, and every planned fault is applied and healed on time on
/// `targets`. It is completed, starts at a fixed instant
/// (2026-11-27T03:04:05.678Z), names `compose_file` as its target, keeps no
/// images or logs and no notes but [`build`]'s own, and its check took 1 ms.
/// Returns the results and the plan (plan.json's content).
pub fn simulated(
    mut experiment: Experiment,
    file_arg: &str,
    seed: u64,
    compose_file: &str,
    targets: &[&str],
    history: &str,
    checker: CheckerSummary,
) -> (Results, Plan) {
    let end_ns = crate::workload::op::last_time_ns(history);
    experiment.duration = Duration::from_nanos(end_ns);
    let plan = plan::plan(&experiment, Seed(seed));
    let faults: Vec<FaultOutcome> = plan
        .faults
        .iter()
        .map(|f| FaultOutcome {
            applied_at: Some(f.at()),
            targets: targets.iter().map(|t| t.to_string()).collect(),
            healed_at: Some(f.heal_at()),
            ..FaultOutcome::planned(f)
        })
        .collect();
    let results = build(RunFacts {
        experiment: &experiment,
        file_arg,
        seed,
        rerun: format!("chaos run {file_arg} --seed {seed}"),
        compose_file: compose_file.into(),
        images: Default::default(),
        status: Status::Completed,
        started_ms: SIMULATED_START_MS,
        ended_ms: SIMULATED_START_MS + end_ns / 1_000_000,
        workload_ns: end_ns,
        faults: &faults,
        checker,
        samples: crate::workload::op::samples(history).expect("a generated history is well formed"),
        check_ms: 1.0,
        logs: Default::default(),
        notes: Vec::new(),
    });
    (results, plan)
}

/// One fault in the results format.
fn fault_record(f: &FaultOutcome, samples: &[OpSample]) -> FaultRecord {
    FaultRecord {
        id: f.fault.id,
        nemesis: f.fault.nemesis,
        kind: f.fault.fault.name().to_string(),
        description: match &f.fault.targets {
            // A partition's shape says more than its list of nodes.
            PlannedTargets::Partition { .. } => format!(
                "{}: {}",
                f.fault.fault.describe(),
                f.fault.targets.describe()
            ),
            _ => f.fault.fault.describe(),
        },
        targets: f.targets.clone(),
        isolated: plan::isolated(&f.fault.fault, &f.fault.targets, f.role.as_deref()),
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
            .and_then(|h| recovery_ms(samples, h.as_nanos() as u64)),
        recovery: None,
        error: f.error.clone(),
        observed: f.observed.clone(),
    }
}

/// A node a disk fault struck that had not come back when the run ended
/// (not running, or running but unhealthy, after the heal and the
/// recovery): a result of its own kind (`"type": "node"`, class
/// `did-not-come-back`), with the end of its log: a database that cannot
/// start on what it had made durable, or refuses to serve it, failed its
/// users as surely as one that lost a write.
pub fn did_not_come_back(
    service: &str,
    fault: &PlannedFault,
    state: &str,
    log_tail: &str,
) -> Anomaly {
    let mut details = serde_json::Map::new();
    details.insert("service".into(), service.into());
    details.insert("fault".into(), fault.id.into());
    details.insert("state".into(), state.into());
    details.insert("log_tail".into(), log_tail.into());
    Anomaly::Workload(super::WorkloadAnomaly {
        kind: "node".into(),
        anomaly: "did-not-come-back".into(),
        subject: format!("node {service}"),
        explanation: format!(
            "after fault #{} ({}) was healed and the cluster had its recovery time, {service} \
             is {state}: it did not come back on what it had made durable{}",
            fault.id,
            fault.fault.describe(),
            if log_tail.trim().is_empty() {
                String::new()
            } else {
                format!(". The end of its log:\n{}", log_tail.trim_end())
            }
        ),
        allowed: false,
        details,
    })
}

/// Add what the run saw of its nodes (`"type": "node"` anomalies such as
/// [`did_not_come_back`]) to a checker's summary: each counts against the
/// verdict. One rule for the run that records them and for `chaos check
/// RUN_DIR`, which re-checks the history and carries the recorded node
/// anomalies over (a history cannot show them).
pub fn add_node_anomalies(summary: &mut CheckerSummary, nodes: Vec<Anomaly>) {
    if !nodes.is_empty() {
        summary.verdict = Verdict::Invalid;
        summary.anomalies.extend(nodes);
    }
}

/// The node anomalies a summary holds (see [`add_node_anomalies`]).
pub fn node_anomalies(summary: &CheckerSummary) -> Vec<Anomaly> {
    summary
        .anomalies
        .iter()
        .filter(|a| matches!(a, Anomaly::Workload(w) if w.kind == "node"))
        .cloned()
        .collect()
}

/// The checker's report in the results format.
pub fn checker_summary(report: &CheckReport, elapsed_ms: f64) -> CheckerSummary {
    let mut anomalies = Vec::new();
    let mut undecided = Vec::new();
    for k in &report.keys {
        match (k.verdict, &k.witness, &k.reason) {
            (checker::Verdict::Invalid, Some(w), _) => {
                anomalies.push(Anomaly::Register(RegisterAnomaly {
                    key: k.key_label(),
                    class: w.class,
                    explanation: w.explanation.clone(),
                    linearizable_prefix: Some(w.linearizable_prefix),
                    ops: w
                        .ops
                        .iter()
                        .map(|op| serde_json::to_value(op).expect("ops serialize"))
                        .collect(),
                }))
            }
            (checker::Verdict::Invalid, None, _) => {
                anomalies.push(Anomaly::Register(RegisterAnomaly {
                    key: k.key_label(),
                    class: checker::AnomalyClass::Other,
                    explanation: "not linearizable (no witness recorded)".into(),
                    linearizable_prefix: None,
                    ops: Vec::new(),
                }))
            }
            (checker::Verdict::Unknown, _, reason) => undecided.push(Undecided {
                key: k.key_label(),
                reason: reason.clone().unwrap_or_else(|| "not decided".into()),
            }),
            _ => {}
        }
    }
    CheckerSummary {
        verdict: verdict(report.verdict),
        keys: report.keys.len() as u64,
        keys_valid: report.count(checker::Verdict::Valid) as u64,
        keys_invalid: report.count(checker::Verdict::Invalid) as u64,
        keys_unknown: report.count(checker::Verdict::Unknown) as u64,
        elapsed_ms: (elapsed_ms * 1000.0).round() / 1000.0,
        anomalies,
        undecided,
        model: None,
        txn: None,
        figures: None,
    }
}

/// The list-append checker's report in the results format. `keys` counts
/// the keys touched; `keys_invalid` those an anomaly is about (a cycle's
/// keys are those of its steps); the rest are `keys_valid`, or
/// `keys_unknown` when the verdict is unknown. The verdict is the one for
/// the experiment's model (`report.model`).
pub fn txn_checker_summary(report: &TxnReport, elapsed_ms: f64) -> CheckerSummary {
    use std::collections::BTreeSet;
    let mut bad: BTreeSet<String> = BTreeSet::new();
    for a in &report.anomalies {
        match a {
            txn::Anomaly::Cycle(c) => {
                bad.extend(
                    c.steps
                        .iter()
                        .filter_map(|s| s.key.as_ref())
                        .map(txn::key_text),
                );
            }
            txn::Anomaly::Read(r) => {
                bad.insert(txn::key_text(&r.key));
            }
            txn::Anomaly::Txn(t) => {
                bad.insert(txn::key_text(&t.key));
            }
            txn::Anomaly::Key(k) => {
                bad.insert(txn::key_text(&k.key));
            }
        }
    }
    let keys = report.counts.keys;
    let invalid = (bad.len() as u64).min(keys);
    let unknown = report.verdict == checker::Verdict::Unknown;
    let undecided = match (&report.reason, unknown) {
        (Some(reason), true) => vec![Undecided {
            key: "(all)".into(),
            reason: reason.clone(),
        }],
        (None, true) => vec![Undecided {
            key: "(all)".into(),
            reason: "not decided".into(),
        }],
        _ => Vec::new(),
    };
    CheckerSummary {
        verdict: verdict(report.verdict),
        keys,
        keys_valid: if unknown { 0 } else { keys - invalid },
        keys_invalid: invalid,
        keys_unknown: if unknown { keys - invalid } else { 0 },
        elapsed_ms: (elapsed_ms * 1000.0).round() / 1000.0,
        anomalies: report
            .anomalies
            .iter()
            .cloned()
            .map(Anomaly::from)
            .collect(),
        undecided,
        model: Some(report.model.as_str().to_string()),
        figures: None,
        txn: Some(TxnSummary {
            model: report.model,
            counts: report.counts,
            graph: report.graph,
            models: report.models.clone(),
            not: report.not.clone(),
            also_not: report.also_not.clone(),
            anomaly_types: report.anomaly_types.clone(),
            anomalies_omitted: report.anomalies_omitted.clone(),
            uncertainties: report.uncertainties.clone(),
        }),
    }
}

/// The checker's verdict in the results format.
pub fn verdict(v: checker::Verdict) -> Verdict {
    match v {
        checker::Verdict::Valid => Verdict::Valid,
        checker::Verdict::Invalid => Verdict::Invalid,
        checker::Verdict::Unknown => Verdict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::CheckOptions;
    use crate::history::{Format, parse};

    const EXPERIMENT: &str = r#"
name = "unit"
description = "a results test"
duration = "10s"
[cluster]
compose_file = "c.yml"
project = "p"
components = { db = ["n1", "n2", "n3"] }
[workload]
client = "etcd"
endpoints = ["n1"]
[[nemesis]]
fault = "pause"
targets = { services = ["n2"] }
schedule = { start = "1s", interval = "10s", duration = "2s", count = 1 }
"#;

    /// A history with a stale read at 3.5 s, inside no fault, and final
    /// reads.
    const HISTORY: &str = r#"{"process":0,"type":"invoke","f":"write","key":1,"value":1,"time_ns":1000000000}
{"process":0,"type":"ok","f":"write","key":1,"value":1,"time_ns":1010000000}
{"process":1,"type":"invoke","f":"write","key":1,"value":2,"time_ns":1500000000}
{"process":1,"type":"ok","f":"write","key":1,"value":2,"time_ns":1600000000}
{"process":0,"type":"invoke","f":"read","key":1,"value":null,"time_ns":3500000000}
{"process":0,"type":"ok","f":"read","key":1,"value":1,"time_ns":3520000000}
{"process":2,"type":"invoke","f":"write","key":2,"value":7,"time_ns":3600000000}
{"process":2,"type":"info","f":"write","key":2,"value":7,"time_ns":4600000000}
{"process":9,"type":"invoke","f":"read","key":1,"value":null,"time_ns":11000000000,"final":true}
{"process":9,"type":"ok","f":"read","key":1,"value":2,"time_ns":11001000000,"final":true}
{"process":10,"type":"invoke","f":"read","key":2,"value":null,"time_ns":11002000000,"final":true}
{"process":10,"type":"fail","f":"read","key":2,"value":null,"time_ns":11003000000,"final":true}
"#;

    fn facts_of<'a>(
        experiment: &'a Experiment,
        faults: &'a [FaultOutcome],
        history: &str,
        check: &CheckReport,
    ) -> RunFacts<'a> {
        RunFacts {
            experiment,
            file_arg: "experiments/unit.toml",
            seed: 7,
            rerun: "chaos run experiments/unit.toml --seed 7".into(),
            compose_file: "/x/c.yml".into(),
            images: BTreeMap::from([("n1".into(), "chaos/etcd:3.4-local".into())]),
            status: Status::Completed,
            started_ms: 1_795_748_645_000,
            ended_ms: 1_795_748_657_500,
            workload_ns: 10_000_000_000,
            faults,
            checker: checker_summary(check, 0.0),
            samples: crate::workload::op::samples(history).unwrap(),
            check_ms: 1.25,
            logs: BTreeMap::from([("n1".into(), "logs/n1.log".into())]),
            notes: vec!["from the shell".into()],
        }
    }

    #[test]
    fn results_are_built_from_history_faults_and_report() {
        let experiment = crate::experiment::parse(EXPERIMENT, "unit.toml")
            .unwrap()
            .experiment;
        let plan = crate::plan::plan(&experiment, Seed(7));
        let mut pause = FaultOutcome::planned(&plan.faults[0]);
        pause.applied_at = Some(Duration::from_millis(1_005));
        pause.healed_at = Some(Duration::from_millis(3_010));
        pause.targets = vec!["n2".into()];
        let faults = [pause];
        let history = parse(HISTORY, Format::Chaos).unwrap();
        let check = checker::check(&history, &CheckOptions::default());
        let r = build(facts_of(&experiment, &faults, HISTORY, &check));

        assert_eq!(r.schema_version, SCHEMA_VERSION);
        assert_eq!(r.status, Status::Completed);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.started_at, "2026-11-27T03:04:05.000Z");
        assert_eq!(r.duration_s, 12.5);
        // Final reads are counted apart, and a missed one is noted.
        assert_eq!(r.workload.ops.total(), 4);
        assert_eq!(r.workload.by_f["final-read"].ok, 1);
        assert_eq!(r.workload.by_f["final-read"].fail, 1);
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("1 of 2 final reads did not succeed")),
            "{:?}",
            r.notes
        );
        assert_eq!(r.notes[0], "from the shell");
        // The fault: lag from the plan, recovery from the first ok after.
        let f = &r.faults[0];
        assert_eq!(f.applied_at_ms, Some(1_005));
        assert_eq!(f.lag_ms, Some(5.0));
        assert_eq!(f.recovery_ms, Some(510));
        // The anomaly, tagged, with its class.
        assert_eq!(r.checker.anomalies.len(), 1);
        let Anomaly::Register(a) = &r.checker.anomalies[0] else {
            panic!("a register anomaly")
        };
        assert_eq!(a.key, "1");
        assert_eq!(a.class, checker::AnomalyClass::StaleRead);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["checker"]["anomalies"][0]["type"], "register");
        assert_eq!(json["checker"]["anomalies"][0]["class"], "stale-read");
        assert_eq!(json["status"], "completed");
        assert_eq!(json["workload"]["kind"], "register");
        assert_eq!(json["logs"]["n1"], "logs/n1.log");
        assert!(json.get("exit_code").is_none());
    }

    #[test]
    fn an_interrupted_run_keeps_its_status_and_unapplied_faults() {
        let experiment = crate::experiment::parse(EXPERIMENT, "unit.toml")
            .unwrap()
            .experiment;
        let plan = crate::plan::plan(&experiment, Seed(7));
        let faults = [FaultOutcome::planned(&plan.faults[0])];
        let text = HISTORY.lines().take(4).collect::<Vec<_>>().join("\n");
        let history = parse(&text, Format::Chaos).unwrap();
        let check = checker::check(&history, &CheckOptions::default());
        let mut facts = facts_of(&experiment, &faults, &text, &check);
        facts.status = Status::Interrupted;
        let r = build(facts);
        assert_eq!(r.status, Status::Interrupted);
        assert_eq!(r.verdict, Verdict::Valid);
        assert_eq!(r.faults[0].applied_at_ms, None);
        assert_eq!(r.faults[0].recovery_ms, None);
        assert!(!r.workload.by_f.contains_key("final-read"));
    }

    #[test]
    fn a_simulated_run_lasts_its_history_and_applies_every_fault_on_time() {
        let experiment = crate::experiment::parse(EXPERIMENT, "unit.toml")
            .unwrap()
            .experiment;
        let history = parse(HISTORY, Format::Chaos).unwrap();
        let check = checker::check(&history, &CheckOptions::default());
        let (r, plan) = simulated(
            experiment.clone(),
            "experiments/unit.toml",
            7,
            "compose/c.yml",
            &["n1", "n2"],
            HISTORY,
            checker_summary(&check, 0.0),
        );
        // As long as the history: its last op completes at 11.003 s.
        assert_eq!(plan.duration_ms, 11_003);
        assert_eq!(plan.seed, 7);
        assert_eq!(r.duration_s, 11.003);
        assert_eq!(r.started_at, "2026-11-27T03:04:05.678Z");
        assert_eq!(r.ended_at, "2026-11-27T03:04:16.681Z");
        assert_eq!(r.status, Status::Completed);
        assert_eq!(r.rerun, "chaos run experiments/unit.toml --seed 7");
        assert_eq!(r.experiment.file, "experiments/unit.toml");
        assert_eq!(r.target.compose_file, "compose/c.yml");
        assert!(r.target.images.is_empty() && r.logs.is_empty());
        assert_eq!(r.checker.elapsed_ms, 1.0);
        assert_eq!(r.verdict, Verdict::Invalid);
        // Every planned fault applied and healed on time, on the targets.
        assert_eq!(plan.faults.len(), 1);
        assert_eq!(r.faults.len(), 1);
        let (f, p) = (&r.faults[0], &plan.faults[0]);
        assert_eq!(f.applied_at_ms, Some(p.at_ms));
        assert_eq!(f.lag_ms, Some(0.0));
        assert_eq!(f.healed_at_ms, Some(p.heal_at_ms));
        assert_eq!(f.targets, ["n1", "n2"]);
        assert_eq!(f.error, None);
        // The same as planning the experiment for that long by hand.
        let mut by_hand = experiment;
        by_hand.duration = Duration::from_millis(11_003);
        assert_eq!(plan, crate::plan::plan(&by_hand, Seed(7)));

        // A list-append history lasts until its latest line.
        let lines = crate::txngen::generate(&crate::txngen::TxnGenConfig {
            seed: 5,
            txns: 200,
            ..Default::default()
        });
        let end_ns = lines.iter().filter_map(|l| l.time_ns).max().unwrap();
        let txn_history = txn::TxnHistory::from_lines(&lines).unwrap();
        let report = txn::check(&txn_history, &Default::default());
        let experiment = crate::experiment::parse(EXPERIMENT, "unit.toml")
            .unwrap()
            .experiment;
        let (r, plan) = simulated(
            experiment,
            "experiments/unit.toml",
            5,
            "compose/c.yml",
            &["n1"],
            &lines
                .iter()
                .map(|l| txn::jsonl::to_line(l) + "\n")
                .collect::<String>(),
            txn_checker_summary(&report, 0.0),
        );
        assert_eq!(plan.duration_ms, end_ns / 1_000_000);
        assert_eq!(r.faults.len(), plan.faults.len());
        assert!(r.checker.txn.is_some());
    }
}
