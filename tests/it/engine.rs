//! The run engine as a library: one project at a time (the lock), and two
//! runs at once in one process on two compose projects, one of them
//! cancelled in the middle of a fault (Docker group).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chaos::engine::progress::{ProgressSink, RunEvent};
use chaos::engine::{self, RunOptions};
use chaos::lock::ProjectLock;
use chaos::results::{Status, Verdict};
use chaos::seed::Seed;
use tokio_util::sync::CancellationToken;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_second_run_on_a_project_in_use_exits_4_naming_the_holder() {
    let state = tempfile::tempdir().unwrap();
    // This process holds chaos-etcd's lock, as a running `chaos run` would.
    let _held = ProjectLock::try_acquire_in(
        state.path(),
        "chaos-etcd",
        "chaos run held-by-the-test.toml",
    )
    .unwrap();
    let results = tempfile::tempdir().unwrap();
    let results_dir = results.path().to_str().unwrap();
    for args in [
        vec![
            "run",
            "experiments/etcd-pause.toml",
            "--seed",
            "1",
            "--results-dir",
            results_dir,
        ],
        vec!["up", "experiments/etcd-pause.toml"],
        vec!["down", "experiments/etcd-leader-kill.toml"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
            .current_dir(repo())
            .args(&args)
            .env("CHAOS_STATE_DIR", state.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {stderr}");
        for part in [
            "`chaos-etcd` is in use by pid",
            &std::process::id().to_string(),
            "chaos run held-by-the-test.toml",
            "since 20",
            "--wait-lock",
        ] {
            assert!(
                stderr.contains(part),
                "{args:?}: `{part}` missing: {stderr}"
            );
        }
    }
    // Nothing was created.
    assert!(
        std::fs::read_dir(results.path()).unwrap().next().is_none(),
        "a refused run created files"
    );
}

/// An etcd experiment on its own project, with the engine choosing host
/// ports, short enough for CI.
fn experiment(dir: &Path, name: &str, project: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let body = format!(
        r#"name = "{name}"
duration = "12s"

[cluster]
compose_file = "{}"
project = "{project}"
components = {{ etcd = ["etcd1", "etcd2", "etcd3"] }}
recovery = "2s"
down = true
env = {{ CHAOS_ETCD1_PORT = "0", CHAOS_ETCD2_PORT = "0", CHAOS_ETCD3_PORT = "0" }}

[workload]
client = "etcd"
endpoints = ["etcd1", "etcd2", "etcd3"]
clients = 3
rate = 60
keys = 3
timeout = "1s"

[[nemesis]]
fault = "pause"
targets = {{ services = ["etcd2"] }}
schedule = {{ start = "3s", interval = "20s", duration = "5s", count = 1 }}
"#,
        repo().join("compose/etcd.yml").display()
    );
    std::fs::write(&path, body).unwrap();
    path
}

/// Cancels its token as soon as a fault is applied: a cancellation in the
/// middle of a fault.
struct CancelOnFault(CancellationToken);

impl ProgressSink for CancelOnFault {
    fn event(&self, event: RunEvent) {
        if matches!(event, RunEvent::FaultApplied { .. }) {
            self.0.cancel();
        }
    }
}

/// Tears a project down whatever happens to the test.
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let compose = repo().join("compose/etcd.yml");
        let compose = compose.to_str().unwrap();
        let v2 = Command::new("docker")
            .args(["compose", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        let mut cmd = if v2 {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        } else {
            Command::new("docker-compose")
        };
        let _ = cmd
            .args(["-p", &self.0, "-f", compose, "down", "-v"])
            .envs([
                ("CHAOS_ETCD1_PORT", "0"),
                ("CHAOS_ETCD2_PORT", "0"),
                ("CHAOS_ETCD3_PORT", "0"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn paused_containers(project: &str) -> String {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            "status=paused",
            "-q",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn two_runs_at_once_in_one_process_one_cancelled_mid_fault() {
    let _guard = crate::docker_group("two_runs_at_once_in_one_process_one_cancelled_mid_fault");
    let dir = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let (pa, pb) = (
        format!("chaos-test-eng-a-{pid}"),
        format!("chaos-test-eng-b-{pid}"),
    );
    let _down = (Down(pa.clone()), Down(pb.clone()));
    let a = chaos::loader::load(&experiment(dir.path(), "engine-a", &pa)).unwrap();
    let b = chaos::loader::load(&experiment(dir.path(), "engine-b", &pb)).unwrap();
    let options = |file: &str, seed: u64| {
        let mut o = RunOptions::new(file, Seed(seed));
        o.results_root = dir.path().join("results");
        o.budget = Duration::from_secs(20);
        o
    };
    let mut opts_a = options("engine-a.toml", 1);
    let cancel_a = opts_a.cancel.clone();
    opts_a.progress = Arc::new(CancelOnFault(cancel_a));
    let opts_b = options("engine-b.toml", 2);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ra, rb) =
        rt.block_on(async { tokio::join!(engine::run(&a, opts_a), engine::run(&b, opts_b)) });
    let ra = ra.unwrap_or_else(|e| panic!("run a: {e}"));
    let rb = rb.unwrap_or_else(|e| panic!("run b: {e}"));

    // The cancelled one healed, and says it was interrupted.
    assert_eq!(ra.results.status, Status::Interrupted, "{}", ra.report);
    let fault = &ra.results.faults[0];
    assert!(fault.applied_at_ms.is_some(), "{}", ra.report);
    assert!(fault.healed_at_ms.is_some(), "{}", ra.report);
    assert!(
        fault.healed_at_ms.unwrap() < fault.planned_heal_at_ms,
        "healed at the cancellation, before its planned heal: {}",
        ra.report
    );
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ra.run_dir.join("results.json")).unwrap())
            .unwrap();
    assert_eq!(on_disk["status"], "interrupted");
    // The other ran to its end, valid, with its own fault healed.
    assert_eq!(rb.results.status, Status::Completed, "{}", rb.report);
    assert_eq!(rb.results.verdict, Verdict::Valid, "{}", rb.report);
    assert!(rb.results.faults[0].healed_at_ms.is_some(), "{}", rb.report);
    assert!(rb.results.workload.ops.ok > 100, "{}", rb.report);
    // They ran at the same time.
    assert!(
        ra.results.started_at < rb.results.ended_at && rb.results.started_at < ra.results.ended_at,
        "a: {}..{}, b: {}..{}",
        ra.results.started_at,
        ra.results.ended_at,
        rb.results.started_at,
        rb.results.ended_at
    );
    // Each kept its nodes' logs.
    for r in [&ra, &rb] {
        assert_eq!(r.results.logs.len(), 3, "{:?}", r.results.logs);
        for log in r.results.logs.values() {
            assert!(r.run_dir.join(log).is_file(), "{log}");
        }
    }
    // Nothing left paused (the experiments tear their clusters down, and
    // nothing was paused before that).
    assert_eq!(paused_containers(&pa), "");
    assert_eq!(paused_containers(&pb), "");
}
