//! The process client (`workload.client = "process"`, docs/clients.md)
//! against small scripted adapters (`tests/adapters/scripted.py MODE`):
//! every way an adapter can fail (garbage, a wrong id, a malformed value,
//! death mid-op, a slow reply, an exit at start, no answer to `leader`)
//! ends as the protocol says: an outcome by the timeout rule, a restart,
//! or an error naming the line; never a wrong answer. Then `chaos
//! adapter-check` on the reference adapter and the broken one, `chaos
//! plan`'s refusal of a leader fault for an adapter without `leader`, and
//! (Docker group) a whole `chaos run` with the reference adapter.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chaos::client::process::protocol::{Endpoint, Init};
use chaos::client::process::{Adapter, AdapterConfig};
use chaos::workload::{Invocation, Outcome};
use serde_json::{Value as Json, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config(args: &[&str]) -> AdapterConfig {
    let mut command = vec![
        "python3".to_string(),
        root()
            .join("tests/adapters/scripted.py")
            .display()
            .to_string(),
    ];
    command.extend(args.iter().map(|a| a.to_string()));
    AdapterConfig {
        command,
        dir: root(),
        init: Init {
            clients: 2,
            endpoints: vec![Endpoint::parse("n1", "127.0.0.1:1").unwrap()],
            workload: "register".into(),
            read_mode: "linearizable".into(),
            prefix: "test/".into(),
            options: json!({}),
        },
    }
}

fn read(key: u64) -> Invocation {
    Invocation::new("read", Some(key), Json::Null)
}

fn write(key: u64, value: u64) -> Invocation {
    Invocation::new("write", Some(key), json!(value))
}

/// One op under `timeout`, as the engine runs it.
async fn call(adapter: &Adapter, op: &Invocation, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, adapter.call(0, "n1", "register", op)).await {
        Ok(o) => o,
        Err(_) => Outcome::timed_out(op.f == "read", timeout),
    }
}

const LONG: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_good_adapter_answers_each_op_by_its_id() {
    let adapter = Adapter::start(config(&["good"])).await.unwrap();
    assert_eq!(adapter.hello().serves, ["register", "list-append"]);
    assert_eq!(
        call(&adapter, &read(1), LONG).await,
        Outcome::Ok(Json::Null)
    );
    assert_eq!(
        call(&adapter, &write(1, 5), LONG).await,
        Outcome::Ok(Json::Null)
    );
    assert_eq!(call(&adapter, &read(1), LONG).await, Outcome::Ok(json!(5)));
    let cas = Invocation::new("cas", Some(1), json!([4, 6]));
    assert_eq!(
        call(&adapter, &cas, LONG).await,
        Outcome::Fail("differs".into())
    );
    // Endpoints moved: the adapter is told (it logs them to stderr).
    adapter
        .update_endpoints(vec![Endpoint::parse("n1", "127.0.0.1:2").unwrap()])
        .await;
    assert_eq!(call(&adapter, &read(1), LONG).await, Outcome::Ok(json!(5)));
    // Its stderr is read on its own: give the reader a moment.
    let mut tail = String::new();
    for _ in 0..50 {
        tail = adapter.stderr_tail().join("\n");
        if tail.contains(r#""port": 2"#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(tail.contains(r#""port": 2"#), "{tail}");
    assert_eq!(adapter.fatal(), None);
    assert_eq!(adapter.starts(), 1);
}

#[tokio::test]
async fn a_slow_reply_times_out_by_the_rule_and_its_late_answer_is_ignored() {
    let adapter = Adapter::start(config(&["slow", "0.6"])).await.unwrap();
    let short = Duration::from_millis(150);
    // A read that timed out changed nothing: fail. A write may have: info.
    let r = call(&adapter, &read(1), short).await;
    assert!(
        matches!(r, Outcome::Fail(ref e) if e.contains("timed out")),
        "{r:?}"
    );
    let w = call(&adapter, &write(1, 7), short).await;
    assert!(
        matches!(w, Outcome::Info(ref e) if e.contains("timed out")),
        "{w:?}"
    );
    // The next op gets its own answer, not a late one of those before.
    assert_eq!(call(&adapter, &read(1), LONG).await, Outcome::Ok(json!(7)));
    assert_eq!(adapter.fatal(), None, "late answers are no protocol error");
}

/// The adapter broke the protocol at `line`: the op in flight is resolved
/// by the rule (never `ok`), the adapter is given up on with an error
/// naming the line, and later ops are not sent (`fail`).
async fn broken_at(mode: &str, op: Invocation, line: &str, reason: &str) {
    let adapter = Adapter::start(config(&[mode])).await.unwrap();
    let o = call(&adapter, &op, LONG).await;
    if op.f == "read" {
        assert!(matches!(o, Outcome::Fail(_)), "{mode}: {o:?}");
    } else {
        assert!(matches!(o, Outcome::Info(_)), "{mode}: {o:?}");
    }
    let fatal = adapter.fatal().expect("the adapter is given up on");
    assert!(fatal.contains(line), "{mode}: {fatal}");
    assert!(fatal.contains(reason), "{mode}: {fatal}");
    let later = call(&adapter, &write(2, 1), LONG).await;
    assert!(
        matches!(later, Outcome::Fail(ref e) if e.starts_with("not sent")),
        "{mode}: {later:?}"
    );
}

#[tokio::test]
async fn garbage_is_an_error_naming_the_line() {
    // Line 1 is the hello, line 2 init's reply.
    broken_at(
        "garbage",
        write(1, 1),
        "adapter stdout line 3",
        "`this is not json`",
    )
    .await;
}

#[tokio::test]
async fn a_reply_to_an_id_never_sent_is_an_error_naming_the_line() {
    broken_at("wrong-id", read(1), "adapter stdout line 3", "never sent").await;
}

#[tokio::test]
async fn a_malformed_value_never_reaches_the_history() {
    broken_at(
        "bad-value",
        read(1),
        "adapter stdout line 3",
        "must be a whole number",
    )
    .await;
}

#[tokio::test]
async fn an_adapter_that_dies_mid_op_is_restarted_and_its_op_resolved_by_the_rule() {
    let marker = tempfile::tempdir().unwrap();
    let flag = marker.path().join("died");
    let adapter = Adapter::start(config(&["die-once", flag.to_str().unwrap()]))
        .await
        .unwrap();
    let w = call(&adapter, &write(1, 3), LONG).await;
    assert!(
        matches!(w, Outcome::Info(ref e) if e.contains("exited before answering")),
        "{w:?}"
    );
    // The next op starts it again; it answers.
    assert_eq!(
        call(&adapter, &write(1, 4), LONG).await,
        Outcome::Ok(Json::Null)
    );
    assert_eq!(call(&adapter, &read(1), LONG).await, Outcome::Ok(json!(4)));
    assert_eq!(adapter.starts(), 2);
    assert_eq!(adapter.fatal(), None);

    // A read in flight when it died: fail.
    let flag2 = marker.path().join("died2");
    let adapter = Adapter::start(config(&["die-once", flag2.to_str().unwrap()]))
        .await
        .unwrap();
    let r = call(&adapter, &read(1), LONG).await;
    assert!(matches!(r, Outcome::Fail(_)), "{r:?}");
}

#[tokio::test]
async fn an_adapter_that_always_dies_is_given_up_on() {
    let adapter = Adapter::start(config(&["die-always"])).await.unwrap();
    let mut last = Outcome::Ok(Json::Null);
    for _ in 0..(chaos::client::process::MAX_RESTARTS + 3) {
        last = call(&adapter, &write(1, 1), LONG).await;
        assert!(!matches!(last, Outcome::Ok(_)));
    }
    assert!(
        matches!(last, Outcome::Fail(ref e) if e.starts_with("not sent")),
        "{last:?}"
    );
    assert!(adapter.fatal().unwrap().contains("gave up"));
}

#[tokio::test]
async fn an_adapter_that_cannot_start_says_why() {
    for (mode, why) in [
        ("exit-at-start", "cannot connect to the database"),
        ("exit-at-start", "before its hello"),
        ("no-hello", "a reply before the hello"),
        ("init-fails", "init failed: the database refused"),
    ] {
        let e = Adapter::start(config(&[mode])).await.unwrap_err();
        assert!(e.to_string().contains(why), "{mode}: {e}");
        assert!(e.to_string().contains("scripted.py"), "{mode}: {e}");
    }
    let mut missing = config(&["good"]);
    missing.command = vec!["/nonexistent/adapter".into()];
    let e = Adapter::start(missing).await.unwrap_err();
    assert!(e.to_string().contains("cannot start"), "{e}");
}

#[tokio::test]
async fn leader_requests_are_answered_or_refused_in_time() {
    let nodes = vec!["n1".to_string(), "n2".to_string()];
    let good = Adapter::start(config(&["good"])).await.unwrap();
    assert_eq!(good.leader("db", &nodes, LONG).await, Ok("n2".to_string()));
    let silent = Adapter::start(config(&["silent-leader"])).await.unwrap();
    let t = std::time::Instant::now();
    let e = silent
        .leader("db", &nodes, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(e.contains("did not answer `leader`"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3));
    // An op after the unanswered leader request still works.
    assert_eq!(call(&silent, &read(9), LONG).await, Outcome::Ok(Json::Null));
    let undeclared = Adapter::start(config(&["no-leader"])).await.unwrap();
    let e = undeclared.leader("db", &nodes, LONG).await.unwrap_err();
    assert!(e.contains("does not answer `leader`"), "{e}");
}

fn chaos(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn adapter_check_passes_the_reference_adapter_and_fails_the_broken_one() {
    let out = chaos(&[
        "adapter-check",
        "python3",
        "examples/adapters/memory.py",
        "--leader",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for name in [
        "register/read-your-write",
        "register/cas",
        "list-append/atomic",
        "bank/transfer",
        "set/add-read",
        "register/leader",
        "register/concurrent-2",
    ] {
        assert!(text.contains(&format!("ok    {name}\n")), "{name}: {text}");
    }
    assert!(!text.contains("FAIL"), "{text}");

    let out = chaos(&["adapter-check", "python3", "tests/adapters/broken.py"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for name in [
        "register/cas",
        "list-append/own-writes",
        "bank/transfer",
        "set/add-read",
    ] {
        assert!(text.contains(&format!("FAIL  {name}: ")), "{name}: {text}");
    }
    assert!(text.contains("ok    register/read-your-write"), "{text}");

    let out = chaos(&[
        "adapter-check",
        "python3",
        "tests/adapters/scripted.py",
        "exit-at-start",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  protocol/hello: "), "{text}");
}

/// An experiment of a process client with `adapter` (scripted mode) and a
/// leader-targeted fault, in `dir`.
fn leader_experiment(dir: &Path, mode: &str) -> PathBuf {
    std::fs::write(
        dir.join("compose.yml"),
        "services:\n  n1:\n    image: x\n  n2:\n    image: x\n",
    )
    .unwrap();
    let script = root().join("tests/adapters/scripted.py");
    let path = dir.join("exp.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "p"
duration = "10s"

[cluster]
compose_file = "compose.yml"
project = "p"
components = {{ db = ["n1", "n2"] }}

[workload]
client = "process"
endpoints = ["n1", "n2"]

[workload.adapter]
command = ["python3", "{}", "{mode}"]
port = 5432

[[nemesis]]
fault = "kill"
targets = {{ role = "leader", component = "db" }}
schedule = {{ start = "1s", interval = "2s", duration = "1s" }}
"#,
            script.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_leader_fault_is_refused_at_plan_time_for_an_adapter_without_leader() {
    let dir = tempfile::tempdir().unwrap();
    let path = leader_experiment(dir.path(), "no-leader");
    let out = chaos(&["plan", path.to_str().unwrap(), "--seed", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("exp.toml:19:")
            && err.contains(": nemesis[0].targets.role: a fault on a role needs an adapter that answers `leader`"),
        "{err}"
    );
    let path = leader_experiment(dir.path(), "good");
    let out = chaos(&["plan", path.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An adapter that does not start is an error at its command.
    let path = leader_experiment(dir.path(), "exit-at-start");
    let out = chaos(&["plan", path.to_str().unwrap(), "--seed", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("workload.adapter.command: the adapter did not say hello"),
        "{err}"
    );
    assert!(err.contains("cannot connect to the database"), "{err}");
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn a_whole_run_through_the_reference_adapter_is_valid() {
    let _guard = crate::docker_group("a_whole_run_through_the_reference_adapter_is_valid");
    let results = tempfile::tempdir().unwrap();
    let out = chaos(&[
        "run",
        "experiments/process-memory.toml",
        "--seed",
        "1",
        "--results-dir",
        results.path().to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let run = std::fs::read_dir(results.path().join("process-memory"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let r: Json =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["verdict"], "valid", "{r}");
    // Both faults struck: the leader one through a `leader` request.
    let faults = r["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 2, "{r}");
    assert!(
        faults.iter().all(|f| f["applied_at_ms"].is_number()),
        "{faults:?}"
    );
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let oks = history
        .lines()
        .filter(|l| l.contains(r#""type":"ok""#))
        .count();
    assert!(oks > 200, "{oks} ok ops");
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn a_run_whose_adapter_breaks_the_protocol_stops_promptly_with_an_error_naming_the_line() {
    let _guard = crate::docker_group(
        "a_run_whose_adapter_breaks_the_protocol_stops_promptly_with_an_error_naming_the_line",
    );
    let dir = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    // process-memory.toml, 60 s long, with an adapter that answers its
    // first op with garbage, and a pause from 2 s to 30 s (no kill).
    let text = std::fs::read_to_string(root().join("experiments/process-memory.toml"))
        .unwrap()
        .replace("duration = \"15s\"", "duration = \"60s\"")
        .replace(
            "compose_file = \"../compose/process-memory.yml\"",
            &format!(
                "compose_file = \"{}\"",
                root().join("compose/process-memory.yml").display()
            ),
        )
        .replace(
            "command = [\"python3\", \"../examples/adapters/memory.py\", \"--leader\"]",
            &format!(
                "command = [\"python3\", \"{}\", \"garbage\"]",
                root().join("tests/adapters/scripted.py").display()
            ),
        )
        .replace(
            "schedule = { start = \"2s\", interval = \"3s\", duration = \"2s\", count = 1 }",
            "schedule = { start = \"2s\", interval = \"3s\", duration = \"28s\", count = 1 }",
        );
    let text = text[..text.find("[[nemesis]]\nfault = \"kill\"").unwrap()].to_string();
    assert!(text.contains("garbage") && text.contains("28s"), "{text}");
    let path = dir.path().join("garbage.toml");
    std::fs::write(&path, text).unwrap();
    let started = std::time::Instant::now();
    let out = chaos(&[
        "run",
        path.to_str().unwrap(),
        "--seed",
        "1",
        "--results-dir",
        results.path().to_str().unwrap(),
    ]);
    let elapsed = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("adapter stdout line 3") && err.contains("this is not json"),
        "{err}"
    );
    // Stopped at once (the first op broke the protocol), not at the
    // planned end (60 s) nor after the 28 s pause planned at 2 s.
    assert!(elapsed < Duration::from_secs(25), "took {elapsed:?}: {err}");
    assert!(
        results.path().join("process-memory").is_dir(),
        "the run directory (its history) is kept"
    );
}
