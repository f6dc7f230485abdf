//! `chaos run` end to end on the local 3-node etcd cluster (Docker group:
//! `CHAOS_DOCKER_TESTS=1`). Each shipped etcd experiment runs once,
//! shortened: the correct read mode must pass, serializable reads under
//! partitions must be caught, every fault must be healed, results.json must
//! match its schema, and the stored plan must be the one `chaos plan` prints
//! for the same seed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::docker_group;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    dir: PathBuf,
    results: Value,
}

/// `chaos run EXPERIMENT --seed SEED --duration D` into a fresh results dir.
fn run(experiment: &str, seed: u64, duration: &str, results_dir: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .current_dir(repo())
        .args([
            "run",
            experiment,
            "--seed",
            &seed.to_string(),
            "--duration",
            duration,
        ])
        .arg("--results-dir")
        .arg(results_dir)
        .output()
        .expect("chaos runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("run directory: "))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{experiment}: no run directory in output\n{stdout}\n{stderr}"));
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("results.json")).expect("results.json exists"),
    )
    .expect("results.json is JSON");
    Run {
        code: out.status.code(),
        stdout,
        stderr,
        dir,
        results,
    }
}

fn schema_errors(doc: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schemas/results.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator.iter_errors(doc).map(|e| e.to_string()).collect()
}

/// What every run must satisfy, whatever its verdict.
fn check_common(r: &Run, experiment: &str, seed: u64, duration: &str) {
    let errs = schema_errors(&r.results);
    assert!(errs.is_empty(), "{experiment}: schema: {errs:#?}");
    assert_eq!(r.results["seed"], seed);
    assert_eq!(
        r.results["rerun"],
        format!("chaos run {experiment} --seed {seed} --duration {duration}")
    );
    // Every applied fault was healed.
    for f in r.results["faults"].as_array().unwrap() {
        if !f["applied_at_ms"].is_null() {
            assert!(
                !f["healed_at_ms"].is_null(),
                "{experiment}: fault not healed: {f}\n{}",
                r.stdout
            );
        }
    }
    // The stored plan is the one `chaos plan` gives for the same seed.
    let plan = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .current_dir(repo())
        .args(["plan", experiment, "--seed", &seed.to_string()])
        .args(["--duration", duration, "--json"])
        .output()
        .unwrap();
    let stored = std::fs::read_to_string(r.dir.join("plan.json")).unwrap();
    assert_eq!(String::from_utf8_lossy(&plan.stdout).trim(), stored.trim());
    for file in [
        "experiment.toml",
        "history.jsonl",
        "journal.jsonl",
        "report.txt",
        "chaos.log",
    ] {
        assert!(r.dir.join(file).is_file(), "{experiment}: no {file}");
    }
    // The recorded history re-checks to the same verdict.
    let check = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(["check", "--json"])
        .arg(r.dir.join("history.jsonl"))
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        r.code,
        "{experiment}: chaos check disagrees"
    );
}

#[test]
fn etcd_experiments_end_to_end() {
    let Some(_guard) = docker_group("etcd_experiments_end_to_end") else {
        return;
    };
    let results = tempfile::tempdir().unwrap();
    let duration = "20s";
    // Linearizable reads: valid under every fault kind.
    for experiment in [
        "experiments/etcd-leader-kill.toml",
        "experiments/etcd-partition.toml",
        "experiments/etcd-pause.toml",
        "experiments/etcd-disconnect.toml",
    ] {
        let r = run(experiment, 1, duration, results.path());
        assert_eq!(
            r.code,
            Some(0),
            "{experiment}: expected valid\n{}\n{}",
            r.stdout,
            r.stderr
        );
        check_common(&r, experiment, 1, duration);
        assert_eq!(r.results["verdict"], "valid");
        let ok = r.results["workload"]["ops"]["ok"].as_u64().unwrap();
        assert!(ok >= 500, "{experiment}: only {ok} ok ops\n{}", r.stdout);
        assert!(
            !r.results["faults"].as_array().unwrap().is_empty(),
            "{experiment}: no fault in 20s"
        );
    }
    // Serializable reads under partitions: stale reads must be found.
    let experiment = "experiments/etcd-serializable-stale-reads.toml";
    let r = run(experiment, 1, "30s", results.path());
    assert_eq!(
        r.code,
        Some(1),
        "{experiment}: expected anomalies\n{}\n{}",
        r.stdout,
        r.stderr
    );
    check_common(&r, experiment, 1, "30s");
    let anomalies = r.results["checker"]["anomalies"].as_array().unwrap();
    assert!(!anomalies.is_empty());
    for a in anomalies {
        assert!(a["explanation"].as_str().unwrap().contains("read"), "{a}");
    }
    assert!(r.stdout.contains("verdict: INVALID"));

    // Nothing is left applied: chaos status shows every node running and no
    // applied fault.
    let status = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .current_dir(repo())
        .args(["status", "experiments/etcd-pause.toml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    assert!(!text.contains("paused"), "{text}");
    let down = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .current_dir(repo())
        .args(["down", "experiments/etcd-pause.toml"])
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}
