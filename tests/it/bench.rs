//! `chaos bench` through the binary, against etcd on a project of its own
//! (Docker group): every goal printed with its figure, the JSON's shape,
//! the exit code agreeing with the goals, a history that `chaos check`
//! accepts, the restarted node serving again and nothing left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn experiment(dir: &Path, project: &str) -> PathBuf {
    let path = dir.join("bench-etcd.toml");
    let body = format!(
        r#"name = "bench-etcd"
duration = "30s"

[cluster]
compose_file = "{}"
project = "{project}"
components = {{ etcd = ["etcd1", "etcd2", "etcd3"] }}
down = true
env = {{ CHAOS_ETCD1_PORT = "0", CHAOS_ETCD2_PORT = "0", CHAOS_ETCD3_PORT = "0" }}

[workload]
client = "etcd"
endpoints = ["etcd1", "etcd2", "etcd3"]
clients = 8
rate = 200
keys = 8
timeout = "1s"
"#,
        repo().join("compose/etcd.yml").display()
    );
    std::fs::write(&path, body).unwrap();
    path
}

/// Tears the project down whatever happens to the test.
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let compose = repo().join("compose/etcd.yml");
        let _ = Command::new("docker-compose")
            .args(["-p", &self.0, "-f", compose.to_str().unwrap(), "down", "-v"])
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

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn bench_prints_each_goal_with_its_figure_and_keeps_a_checkable_history() {
    let _guard = crate::docker_group("bench_prints_each_goal_with_its_figure");
    let dir = tempfile::tempdir().unwrap();
    let project = format!("chaos-test-bench-{}", std::process::id());
    let _down = Down(project.clone());
    let file = experiment(dir.path(), &project);
    let results = dir.path().join("results");
    let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(["bench", file.to_str().unwrap(), "--duration", "5s"])
        .args(["--seed", "1", "--json", "--results-dir"])
        .arg(&results)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"));

    // The four goals, each judged with a figure.
    let goals = report["goals"].as_array().unwrap();
    let names: Vec<&str> = goals.iter().map(|g| g["goal"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["latency", "throughput", "cluster-startup", "node-restart"],
        "{report:#}"
    );
    for g in goals {
        let status = g["status"].as_str().unwrap();
        assert!(["met", "not-met"].contains(&status), "{g}: {stderr}");
        assert!(g["value"].as_f64().is_some(), "{g}");
        assert!(!g["figure"].as_str().unwrap().is_empty(), "{g}");
    }
    let missed = goals.iter().any(|g| g["status"] == "not-met");
    assert_eq!(
        out.status.code(),
        Some(if missed { 1 } else { 0 }),
        "the exit code follows the goals: {stderr}"
    );
    // 200 ops/s offered to a cluster that does it: that goal's figure is
    // what was achieved, within 10 %, and the latency has every percentile.
    let step = &report["steps"][0];
    assert_eq!(step["target_rate"], 200);
    let achieved = step["throughput_per_s"].as_f64().unwrap();
    assert!((180.0..=220.0).contains(&achieved), "{step:#}");
    for p in ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"] {
        assert!(step["latency"][p].as_f64().unwrap() > 0.0, "{p}: {step:#}");
    }
    for kind in ["read", "write", "cas"] {
        assert!(
            step["by_kind"][kind]["ops"]["ok"].as_u64().unwrap() > 0,
            "{kind}"
        );
    }
    assert!(step["errors"].is_object());
    assert_eq!(report["judged_step"], 0);
    // Start-up from nothing (a fresh project), and the restart.
    assert!(report["startup"]["cluster_ms"].as_f64().unwrap() > 0.0);
    let restart = &report["restart"];
    assert_eq!(restart["service"], "etcd1");
    // A restart takes longer than a probe's interval: some probes failed,
    // then one succeeded through the port the node has now.
    assert!(
        restart["to_serving_ms"].as_f64().unwrap() > 0.0,
        "{restart:#}"
    );
    assert!(
        restart["failed_probes"].as_u64().unwrap() > 0,
        "{restart:#}"
    );
    assert!(restart["port_after"].as_u64().is_some(), "{restart:#}");
    assert!(restart["error"].is_null(), "{restart:#}");

    // The run directory: the report as text, bench.json, a history that
    // `chaos check` accepts.
    let run_dir = PathBuf::from(report["run_dir"].as_str().unwrap());
    assert!(run_dir.starts_with(&results), "{run_dir:?}");
    let text = std::fs::read_to_string(run_dir.join("report.txt")).unwrap();
    for g in goals {
        let line = text
            .lines()
            .find(|l| {
                l.contains(g["goal"].as_str().unwrap()) && (l.contains(" < ") || l.contains(" > "))
            })
            .unwrap_or_else(|| panic!("{g} missing from:\n{text}"));
        assert!(line.contains(g["figure"].as_str().unwrap()), "{line}");
        let status = if g["status"] == "met" {
            "[met]"
        } else {
            "[NOT MET]"
        };
        assert!(line.trim_start().starts_with(status), "{line}");
    }
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("bench.json")).unwrap())
            .unwrap();
    assert_eq!(on_disk, report);
    let history = run_dir.join("history.jsonl");
    let lines = std::fs::read_to_string(&history).unwrap().lines().count() as u64;
    let ops = step["ops"]["ok"].as_u64().unwrap()
        + step["ops"]["fail"].as_u64().unwrap()
        + step["ops"]["info"].as_u64().unwrap();
    // Two lines per op, and the restart's probes besides.
    assert!(lines >= 2 * ops + 2, "{lines} lines for {ops} ops");
    let check = crate::chaos(&["check".into(), history.display().to_string()]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // The restart was journaled and healed; the project is gone (down = true).
    let journal = std::fs::read_to_string(run_dir.join("journal.jsonl")).unwrap();
    assert!(journal.contains("\"restart\""), "{journal}");
    let left = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label=com.docker.compose.project={project}"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "");
}

/// An etcd-shaped HTTP server on 127.0.0.1 that answers every request
/// after `delay` (one connection at a time per client, keep-alive).
async fn slow_stub(delay: std::time::Duration) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let body = r#"{"header":{},"kvs":[{"value":"MQ=="}],"succeeded":true}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let mut buf = vec![0u8; 8192];
                let mut pending = Vec::new();
                loop {
                    let n = match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if pending.len() < end + 4 + len {
                            break;
                        }
                        pending.drain(..end + 4 + len);
                        tokio::time::sleep(delay).await;
                        if sock.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

/// Open loop: one client offered 100 ops/s against a server that takes
/// 50 ms per answer can do about 20 ops/s. Each op's latency counts from
/// when the schedule wanted it, so the figures show the queue building up
/// (closed-loop timing would report a flat 50 ms), the ops never started
/// are counted, and every op is in the history twice.
#[test]
fn open_loop_latency_counts_the_wait_for_a_busy_client() {
    use std::sync::Arc;
    use std::time::Duration;

    use chaos::bench::{LoadRecorder, StepFacts};
    use chaos::client::AnyClient;
    use chaos::client::etcd::EtcdClient;
    use chaos::engine::workload::{ClientState, ClientTask, Counters, Step, record};
    use chaos::experiment::{ClientKind, ReadMode, Workload};
    use chaos::seed::Seed;
    use tokio::time::Instant;

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let port = slow_stub(Duration::from_millis(50)).await;
        let dir = tempfile::tempdir().unwrap();
        let history = chaos::store::LineWriter::create(&dir.path().join("h.jsonl")).unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let recorder = tokio::spawn(record(rx, history));
        let workload = Workload {
            kind: chaos::experiment::WorkloadKind::register(),
            client: ClientKind::Etcd,
            endpoints: vec!["stub".into()],
            keys: 4,
            key_ops: 100,
            clients: 1,
            rate: 100,
            timeout: Duration::from_secs(5),
            read_mode: ReadMode::Linearizable,
            isolation: None,
            read_endpoints: Vec::new(),
            mix: [("read", 50), ("write", 30), ("cas", 20)]
                .into_iter()
                .map(|(f, w)| (f.to_string(), w))
                .collect(),
            params: serde_json::Value::Null,
            adapter: None,
        };
        let start = Instant::now();
        let task = ClientTask {
            thread: 0,
            threads: 1,
            client: AnyClient::Etcd(EtcdClient::new(
                format!("http://127.0.0.1:{port}"),
                "t/".into(),
                false,
                workload.timeout,
            )),
            node: "stub".into(),
            workload,
            seed: Seed(1),
            start,
            events: tx,
            counters: Arc::new(Counters::default()),
            stop: tokio_util::sync::CancellationToken::new(),
        };
        let mut state = ClientState::new(&task);
        let step_start = Instant::now();
        let step = Step::new(100, step_start, step_start + Duration::from_secs(1));
        let mut load = LoadRecorder::new();
        let started = task.run_step(&mut state, &step, &mut load).await;
        let not_started = step.due_before(step.end) - started;
        drop(task);
        let events = recorder.await.unwrap().unwrap();
        let s = load.summary(&StepFacts {
            target_rate: 100,
            clients: 1,
            start_ns: step_start.duration_since(start).as_nanos() as u64,
            duration_ns: 1_000_000_000,
            not_started,
        });
        let done = s.ops.total();
        assert_eq!(events.lines().count() as u64, 2 * done);
        // About 20 done; the rest of the 100 due were never started.
        assert!((5..=25).contains(&done), "{s:#?}");
        assert_eq!(done + not_started, 100, "{s:#?}");
        // Each answer took about 50 ms...
        let service = s.service_time.p50_ms.unwrap();
        assert!((45.0..500.0).contains(&service), "{s:#?}");
        // ...but the last ops were due long before they started: op i
        // starts at about 50i ms and was due at 10i ms.
        let max = s.latency.max_ms.unwrap();
        assert!(max > 500.0, "{s:#?}");
        assert!(s.latency.p50_ms.unwrap() > 3.0 * service, "{s:#?}");
        assert!(s.pool_busy > 0.9, "{s:#?}");
    });
}
