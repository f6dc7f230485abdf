//! results.json against its published schema: what the code writes validates,
//! and the schema refuses what it should.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chaos::results::*;

fn schema() -> jsonschema::Validator {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/results.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

fn errors(doc: &serde_json::Value) -> Vec<String> {
    schema()
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

pub fn sample(verdict: Verdict) -> Results {
    let samples = [
        OpSample {
            write: false,
            f: "read".into(),
            outcome: Outcome::Ok,
            invoked_ns: 1_000_000,
            completed_ns: 3_000_000,
        },
        OpSample {
            write: true,
            f: "write".into(),
            outcome: Outcome::Info,
            invoked_ns: 5_000_000,
            completed_ns: 1_005_000_000,
        },
    ];
    let windows = [Window {
        start_ns: 4_000_000,
        end_ns: 9_000_000,
    }];
    Results {
        schema_version: SCHEMA_VERSION,
        status: Status::Completed,
        experiment: ExperimentInfo {
            name: "etcd-pause".into(),
            file: "experiments/etcd-pause.toml".into(),
            description: "d".into(),
        },
        seed: 42,
        rerun: "chaos run experiments/etcd-pause.toml --seed 42".into(),
        tool: ToolInfo {
            name: "chaos".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        target: TargetInfo {
            client: "etcd".into(),
            read_mode: "linearizable".into(),
            compose_file: "compose/etcd.yml".into(),
            project: "chaos-etcd".into(),
            images: BTreeMap::from([("etcd1".into(), "chaos/etcd:3.4".into())]),
        },
        started_at: rfc3339(1_795_748_645_678),
        ended_at: rfc3339(1_795_748_705_678),
        duration_s: 60.0,
        verdict,
        faults: vec![
            FaultRecord {
                id: 1,
                nemesis: 0,
                kind: "pause".into(),
                description: "pause".into(),
                targets: vec!["etcd2".into()],
                isolated: None,
                planned_at_ms: 4,
                applied_at_ms: Some(5),
                lag_ms: Some(1.25),
                planned_heal_at_ms: 9,
                healed_at_ms: Some(9),
                recovery_ms: recovery_ms(&samples, 9_000_000),
                recovery: Some(Recovery {
                    throughput_ms: None,
                    not_recovered: Some(NotRecovered::EndOfRun),
                    level_ok_per_s: Some(180.5),
                    level_measured_s: 4.75,
                    share: 0.8,
                    sustain_s: 3,
                    write_ms: Some(3_912),
                }),
                error: None,
                observed: Vec::new(),
            },
            FaultRecord {
                id: 2,
                nemesis: 0,
                kind: "partition".into(),
                description: "partition isolate-one: etcd1 x etcd2, etcd1 x etcd3".into(),
                targets: vec!["etcd1".into(), "etcd2".into(), "etcd3".into()],
                isolated: Some("etcd1".into()),
                planned_at_ms: 20,
                applied_at_ms: None,
                lag_ms: None,
                planned_heal_at_ms: 30,
                healed_at_ms: None,
                recovery_ms: None,
                recovery: None,
                error: Some("the leader could not be resolved".into()),
                observed: Vec::new(),
            },
        ],
        workload: workload_stats(&samples, &windows, 60_000_000_000),
        checker: CheckerSummary {
            verdict,
            keys: 2,
            keys_valid: 1,
            keys_invalid: 1,
            keys_unknown: 0,
            elapsed_ms: 1.5,
            anomalies: vec![Anomaly::Register(RegisterAnomaly {
                key: "3".into(),
                class: chaos::checker::AnomalyClass::StaleRead,
                explanation: "process 7 read 3 at 1.204 s, but ...".into(),
                linearizable_prefix: Some(4),
                ops: vec![serde_json::json!({"process": 7, "type": "ok", "f": "read", "value": 3})],
            })],
            undecided: vec![Undecided {
                key: "9".into(),
                reason: "budget of 60s exceeded".into(),
            }],
            model: None,
            txn: None,
            figures: None,
        },
        logs: BTreeMap::from([("etcd1".into(), "logs/etcd1.log".into())]),
        notes: vec!["a note".into()],
    }
}

#[test]
fn written_results_validate_against_the_schema() {
    for verdict in [Verdict::Valid, Verdict::Invalid, Verdict::Unknown] {
        let doc = serde_json::to_value(sample(verdict)).unwrap();
        let errs = errors(&doc);
        assert!(errs.is_empty(), "{errs:#?}");
        // And it reads back to the same value.
        let back: Results = serde_json::from_value(doc).unwrap();
        assert_eq!(back, sample(verdict));
    }
}

type Breakage = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn the_schema_refuses_broken_results() {
    let good = serde_json::to_value(sample(Verdict::Valid)).unwrap();
    let breakages: Vec<(&str, Breakage)> = vec![
        (
            "no seed",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("seed");
            }),
        ),
        (
            "no rerun",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("rerun");
            }),
        ),
        (
            "rerun without seed",
            Box::new(|v| v["rerun"] = "chaos run x.toml".into()),
        ),
        ("negative seed", Box::new(|v| v["seed"] = (-1).into())),
        (
            "other version",
            Box::new(|v| v["schema_version"] = 1.into()),
        ),
        ("bad verdict", Box::new(|v| v["verdict"] = "maybe".into())),
        ("unknown field", Box::new(|v| v["extra"] = 1.into())),
        (
            "bad time",
            Box::new(|v| v["started_at"] = "yesterday".into()),
        ),
        (
            "bad fault kind",
            Box::new(|v| v["faults"][0]["kind"] = "explode".into()),
        ),
        (
            "counts missing info",
            Box::new(|v| {
                v["workload"]["ops"].as_object_mut().unwrap().remove("info");
            }),
        ),
        (
            "anomaly without explanation",
            Box::new(|v| v["checker"]["anomalies"][0]["explanation"] = "".into()),
        ),
        (
            "anomaly without a type",
            Box::new(|v| {
                v["checker"]["anomalies"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("type");
            }),
        ),
        (
            "anomaly of an unknown class",
            Box::new(|v| v["checker"]["anomalies"][0]["class"] = "weird".into()),
        ),
        ("bad status", Box::new(|v| v["status"] = "half-done".into())),
        ("a version 1 field", Box::new(|v| v["exit_code"] = 0.into())),
        (
            "no workload kind",
            Box::new(|v| {
                v["workload"].as_object_mut().unwrap().remove("kind");
            }),
        ),
        (
            "a log outside logs/",
            Box::new(|v| v["logs"]["etcd1"] = "/etc/passwd".into()),
        ),
    ];
    for (what, breakage) in breakages {
        let mut doc = good.clone();
        breakage(&mut doc);
        assert!(!errors(&doc).is_empty(), "{what}: the schema accepted it");
    }
}

#[test]
fn the_report_tells_the_verdict_faults_anomalies_and_rerun() {
    let text = chaos::report::render(&sample(Verdict::Invalid), "results/etcd-pause/x");
    for expected in [
        "verdict: INVALID: anomalies found",
        "2 ops: 1 ok, 0 fail, 1 info",
        "#1   pause",
        "etcd2",
        "lag 1.2ms",
        "error: the leader could not be resolved",
        "stale-read on key 3:",
        "process 7 read 3",
        "undecided key 9: budget of 60s exceeded",
        "run directory: results/etcd-pause/x",
        "rerun: chaos run experiments/etcd-pause.toml --seed 42",
        // Recovery that means recovered, beside the first ok op.
        "        recovery: no op succeeded after it; throughput back to 80% of 180.5 ok ops/s \
         (its level before) for 3s: not recovered by the end of the run; a write succeeded \
         again 3912ms later",
        // A partition: its cut, the isolated node and its targets, each on
        // a line of its own.
        "  #2   partition isolate-one",
        "\n        cut: etcd1 x etcd2, etcd1 x etcd3\n        isolated: etcd1\n        targets: etcd1, etcd2, etcd3\n",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert!(!text.contains("etcd1 x etcd3 etcd1"), "{text}");
}

/// Every run kept under results/examples/ is a real run with its history:
/// its results.json validates, and `chaos check` of its history.jsonl gives
/// the verdict the run recorded, and the invalid keys (registers) or the
/// models ruled out and the anomaly types (list-append, checked against the
/// model the run was held to).
#[test]
fn kept_examples_recheck_to_their_recorded_verdict() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results/examples");
    let mut runs = Vec::new();
    for experiment in std::fs::read_dir(&root).unwrap() {
        let experiment = experiment.unwrap().path();
        if !experiment.is_dir() {
            continue;
        }
        for run in std::fs::read_dir(&experiment).unwrap() {
            let run = run.unwrap().path();
            if run.join("results.json").is_file() {
                runs.push(run);
            }
        }
    }
    assert!(runs.len() >= 2, "kept examples: {runs:?}");
    for run in runs {
        let results: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap())
                .unwrap();
        let errs = errors(&results);
        assert!(errs.is_empty(), "{}: {errs:#?}", run.display());
        let history = run.join("history.jsonl");
        assert!(history.is_file(), "{}: no history.jsonl", run.display());
        // A list-append run is checked against the model it was held to.
        let txn = results["checker"].get("txn").filter(|t| t.is_object());
        let mut args = vec!["check".to_string(), "--json".to_string()];
        if let Some(t) = txn {
            args.push("--model".into());
            args.push(t["model"].as_str().unwrap().to_string());
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_chaos"))
            .args(&args)
            .arg(&history)
            .output()
            .unwrap();
        let verdict = match out.status.code() {
            Some(0) => "valid",
            Some(1) => "invalid",
            Some(3) => "unknown",
            other => panic!("{}: chaos check exited {other:?}", run.display()),
        };
        assert_eq!(
            results["verdict"],
            verdict,
            "{}: recorded verdict vs chaos check",
            run.display()
        );
        let checked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if let Some(t) = txn {
            let file = &checked["files"][0];
            for field in ["not", "also_not", "anomaly_types"] {
                assert_eq!(
                    file[field],
                    t[field],
                    "{}: {field}, recorded vs chaos check",
                    run.display()
                );
            }
        } else {
            let invalid_keys = checked["files"][0]["keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| k["verdict"] == "invalid")
                .count() as u64;
            assert_eq!(
                invalid_keys,
                results["checker"]["keys_invalid"].as_u64().unwrap(),
                "{}: invalid keys",
                run.display()
            );
        }
        for log in results["logs"].as_object().unwrap().values() {
            assert!(
                run.join(log.as_str().unwrap()).is_file(),
                "{}: {log} is named but missing",
                run.display()
            );
        }
    }
}

/// A list-append run's results, with every kind of transaction anomaly
/// (one history with each of the generator's gadgets), validate against
/// the schema and read back to the same value; the report tells the model
/// and lists each anomaly.
#[test]
fn list_append_results_with_every_anomaly_validate() {
    use chaos::checker::txn;
    use chaos::txngen::{Gadget, TxnGenConfig, generate};
    let lines = generate(&TxnGenConfig {
        seed: 3,
        txns: 300,
        gadgets: Gadget::ALL.to_vec(),
        ..TxnGenConfig::default()
    });
    let history = txn::TxnHistory::from_lines(&lines).unwrap();
    let report = txn::check(
        &history,
        &txn::TxnCheckOptions {
            model: txn::ConsistencyModel::SnapshotIsolation,
            ..Default::default()
        },
    );
    let checker = chaos::results::build::txn_checker_summary(&report, 2.0);
    let kinds: std::collections::BTreeSet<&str> = checker
        .anomalies
        .iter()
        .map(|a| match a {
            Anomaly::Register(_) => "register",
            Anomaly::TxnCycle(_) => "cycle",
            Anomaly::TxnRead(_) => "read",
            Anomaly::TxnSingle(_) => "single",
            Anomaly::TxnKey(_) => "key",
            Anomaly::Workload(_) => "workload",
        })
        .collect();
    assert_eq!(
        kinds,
        ["cycle", "key", "read", "single"].into(),
        "every kind of anomaly is exercised"
    );
    assert_eq!(checker.verdict, Verdict::Invalid);
    let mut results = sample(Verdict::Invalid);
    results.workload.kind = "list-append".into();
    results.workload.by_f = BTreeMap::from([("txn".into(), Counts::default())]);
    results.checker = checker;
    let doc = serde_json::to_value(&results).unwrap();
    let errs = errors(&doc);
    assert!(errs.is_empty(), "{errs:#?}");
    let back: Results = serde_json::from_str(&doc.to_string()).unwrap();
    assert_eq!(back, results);
    let text = chaos::report::render(&results, "results/x");
    assert!(
        text.contains("INVALID: the history rules out snapshot-isolation"),
        "{text}"
    );
    for a in &results.checker.anomalies {
        assert!(
            text.contains(&format!("{} on {}:", a.class(), a.subject())),
            "{text}"
        );
    }
    assert!(
        text.contains("found, and allowed by snapshot-isolation"),
        "G2-item is allowed: {text}"
    );
}

/// The kept example whose recovery figure contradicts its chart: after
/// fault #1 (an isolate-one partition) the first op invoked after the heal
/// succeeded 10 ms later, while ok ops per second stayed far below their
/// level for seconds. Recovery that means recovered says so.
#[test]
fn a_kept_example_whose_first_ok_op_hides_a_long_dip() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("results/examples/etcd-serializable-stale-reads");
    let run = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("results.json").is_file())
        .expect("the kept run");
    let results: Results =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("plan.json")).unwrap()).unwrap();
    let end_ns = plan["duration_ms"].as_u64().unwrap() * 1_000_000;
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let samples: Vec<OpSample> = chaos::workload::op::samples(&history)
        .unwrap()
        .into_iter()
        .filter(|s| s.f != "final-read")
        .collect();
    let spans: Vec<Option<FaultSpan>> = results
        .faults
        .iter()
        .map(|f| {
            Some(FaultSpan {
                applied_ns: f.applied_at_ms? * 1_000_000,
                healed_ns: f.healed_at_ms.map(|h| h * 1_000_000),
            })
        })
        .collect();
    let recovered = recoveries(&samples, &spans, end_ns, RecoveryRule::default());
    let f = &results.faults[0];
    let r = recovered[0].as_ref().expect("fault #1 was healed");
    // The recorded figure: ok again almost at once.
    assert!(f.recovery_ms.unwrap() < 100, "{:?}", f.recovery_ms);
    // The chart: every 1 s after the heal for 2 s holds under half the
    // level before the fault.
    let level = r.level_ok_per_s.expect("a level before the fault");
    assert!(level > 100.0, "{level}");
    let heal = f.healed_at_ms.unwrap() * 1_000_000;
    for s in 0..2u64 {
        let from = heal + s * 1_000_000_000;
        let ok = samples
            .iter()
            .filter(|x| x.outcome == Outcome::Ok)
            .filter(|x| (from..from + 1_000_000_000).contains(&x.completed_ns))
            .count() as f64;
        assert!(
            ok < level / 2.0,
            "second {s} after the heal: {ok} ok of {level}"
        );
    }
    // The new figure reflects the dip: not back for at least 2 s, if at all.
    assert!(
        r.throughput_ms.is_none_or(|ms| ms >= 2_000),
        "throughput back after {:?} ms",
        r.throughput_ms
    );
    if r.throughput_ms.is_none() {
        assert!(r.not_recovered.is_some());
    }
    // And the faults table says it in words beside the 10 ms.
    let mut with = results.clone();
    with.faults[0].recovery = Some(r.clone());
    let text = chaos::report::render(&with, "x");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("recovery: ops succeeded again"))
        .unwrap();
    assert!(line.contains("throughput back to 80%"), "{line}");
}
