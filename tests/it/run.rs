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

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub dir: PathBuf,
    pub results: Value,
}

/// `chaos run EXPERIMENT --seed SEED --duration D` into a fresh results dir.
pub(crate) fn run(experiment: &str, seed: u64, duration: &str, results_dir: &Path) -> Run {
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
pub(crate) fn check_common(r: &Run, experiment: &str, seed: u64, duration: &str) {
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
        "report.html",
        "chaos.log",
    ] {
        assert!(r.dir.join(file).is_file(), "{experiment}: no {file}");
    }
    // `chaos report` makes the same page again from the run's files.
    let again = r.dir.join("report-again.html");
    let report = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("report")
        .arg(&r.dir)
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(report.status.code(), Some(0), "{experiment}: {report:?}");
    assert!(
        std::fs::read(&again).unwrap() == std::fs::read(r.dir.join("report.html")).unwrap(),
        "{experiment}: chaos report made a different page from the run's files"
    );
    std::fs::remove_file(&again).unwrap();
    // The run directory re-checks to the same verdict (its workload's
    // checker, the model and parameters the run recorded).
    let check = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(["check", "--json"])
        .arg(&r.dir)
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        r.code,
        "{experiment}: chaos check RUN_DIR disagrees: {}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// A run that must be valid: exit 0, everything [`check_common`] asks, and
/// at least `min_ok` ok ops.
pub(crate) fn assert_valid_run(r: &Run, experiment: &str, seed: u64, duration: &str, min_ok: u64) {
    assert_eq!(
        r.code,
        Some(0),
        "{experiment}: expected valid\n{}\n{}",
        r.stdout,
        r.stderr
    );
    check_common(r, experiment, seed, duration);
    assert_eq!(r.results["verdict"], "valid");
    let ok = r.results["workload"]["ops"]["ok"].as_u64().unwrap();
    assert!(ok >= min_ok, "{experiment}: only {ok} ok ops\n{}", r.stdout);
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn etcd_experiments_end_to_end() {
    let _guard = docker_group("etcd_experiments_end_to_end");
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
        assert_valid_run(&r, experiment, 1, duration, 500);
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
    // Its isolate-one partitions say which node was cut off, and each
    // healed fault says when throughput and writes were back.
    for f in r.results["faults"].as_array().unwrap() {
        if f["applied_at_ms"].is_null() {
            continue;
        }
        let isolated = f["isolated"].as_str().unwrap_or_else(|| panic!("{f}"));
        assert!(
            f["targets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == isolated),
            "{f}"
        );
        if !f["healed_at_ms"].is_null() {
            let rec = &f["recovery"];
            assert!(rec.is_object(), "{f}");
            assert!(
                !rec["throughput_ms"].is_null() || rec["not_recovered"].is_string(),
                "{f}"
            );
        }
    }
    assert!(r.stdout.contains("        isolated: etcd"), "{}", r.stdout);
    // The register anomaly's key is the history's number.
    assert!(anomalies[0]["key"].is_u64(), "{}", anomalies[0]);
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

/// `docker` with arguments; stdout.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything a healed `chaos-etcd` project must be: three members running
/// (not paused), each on the project network, no chaos iptables rule in any
/// member's namespace, no helper container.
fn assert_cluster_clean(when: &str) {
    let ps = docker(&[
        "ps",
        "-a",
        "--filter",
        "label=com.docker.compose.project=chaos-etcd",
        "--format",
        "{{.ID}} {{.State}}",
    ]);
    let members: Vec<(&str, &str)> = ps.lines().filter_map(|l| l.split_once(' ')).collect();
    assert_eq!(members.len(), 3, "{when}: members: {ps}");
    for (id, state) in &members {
        assert_eq!(*state, "running", "{when}: {id} is {state}");
        let networks = docker(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", id]);
        assert!(
            networks.contains("chaos-etcd_cluster"),
            "{when}: {id} off its network: {networks}"
        );
        let rules = docker(&[
            "run",
            "--rm",
            "--cap-add",
            "NET_ADMIN",
            "--network",
            &format!("container:{id}"),
            "chaos/nethelper:local",
            "iptables-save",
        ]);
        assert!(
            !rules.contains("chaos"),
            "{when}: {id} keeps chaos rules:\n{rules}"
        );
    }
    let helpers = docker(&[
        "ps",
        "-a",
        "--filter",
        "label=io.chaos.helper.project=chaos-etcd",
        "-q",
    ]);
    assert!(
        helpers.trim().is_empty(),
        "{when}: helper containers left: {helpers}"
    );
}

/// Wait until some journal under `dir` records an applied fault.
fn wait_applied(dir: &Path, child: &mut std::process::Child, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let found = walk(dir).into_iter().any(|p| {
            p.ends_with("journal.jsonl")
                && std::fs::read_to_string(&p).is_ok_and(|t| t.contains("\"record\":\"applied\""))
        });
        if found {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what}: chaos run exited ({status}) before applying a fault");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: no fault applied in 90 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

use std::time::Duration;

/// SIGKILL followed by `chaos heal` is `docker.rs`'s crash loop; here the
/// signals chaos can catch: SIGTERM and Ctrl-C (SIGINT) while faults are
/// applied make `chaos run` heal by itself, with no `chaos heal` afterwards.
#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn sigterm_and_ctrl_c_during_a_fault_heal_before_exit() {
    let _guard = docker_group("sigterm_and_ctrl_c_during_a_fault_heal_before_exit");
    for (round, (signal, experiment)) in [
        ("-TERM", "experiments/etcd-partition.toml"),
        ("-INT", "experiments/etcd-pause.toml"),
        ("-TERM", "experiments/etcd-disconnect.toml"),
    ]
    .into_iter()
    .enumerate()
    {
        let what = format!("{signal} during {experiment}");
        let results = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_chaos"))
            .current_dir(repo())
            .args([
                "run",
                experiment,
                "--seed",
                &round.to_string(),
                "--results-dir",
            ])
            .arg(results.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_applied(results.path(), &mut child, &what);
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = child.wait().unwrap();
        assert_cluster_clean(&format!("{what}, without chaos heal"));
        // The interrupted run still wrote its results, and says so.
        let results_json = walk(results.path())
            .into_iter()
            .find(|p| p.ends_with("results.json"))
            .unwrap_or_else(|| panic!("{what}: no results.json (exit {status})"));
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(results_json).unwrap()).unwrap();
        let notes = doc["notes"].to_string();
        assert!(notes.contains("interrupted"), "{what}: {notes}");
    }
    let down = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .current_dir(repo())
        .args(["down", "experiments/etcd-pause.toml"])
        .output()
        .unwrap();
    assert!(down.status.success());
}
