//! The tests that need the SurrealDB server image (Docker group:
//! `CHAOS_DOCKER_TESTS=1`): `chaos run` of the local SurrealDB experiments
//! end to end, registers, list-append, bank and set, and the CRUD
//! demonstration.
//!
//! They live in this one module so that CI can run every other test while
//! the image's long first build goes on (`.ci/run`: phase 1 is `cargo test
//! -- --skip surrealdb_image::`, phase 2, once the image is built, `cargo
//! test --test it -- surrealdb_image::`). A test that needs the image
//! belongs here: anywhere else it fails on a fresh machine.

use crate::docker_group;
use crate::run::{assert_valid_run, run};
use crate::surreal::{chaos, text};

/// The anomaly names of a run.
fn anomaly_names(r: &crate::run::Run) -> Vec<String> {
    r.results["checker"]["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["anomaly"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn surrealdb_local_experiments_end_to_end() {
    let _guard = docker_group("surrealdb_local_experiments_end_to_end");
    let results = tempfile::tempdir().unwrap();
    let duration = "30s";
    for (experiment, fault) in [
        ("experiments/surrealdb-local-kill.toml", "kill"),
        ("experiments/surrealdb-local-pause.toml", "pause"),
    ] {
        let r = run(experiment, 1, duration, results.path());
        assert_valid_run(&r, experiment, 1, duration, 500);
        let ops = &r.results["workload"]["ops"];
        let faults = r.results["faults"].as_array().unwrap();
        assert!(
            faults
                .iter()
                .any(|f| f["kind"] == fault && !f["applied_at_ms"].is_null()),
            "{experiment}: no {fault} fault applied in {duration}: {faults:?}"
        );
        // The node was really down: some ops in the fault windows did not
        // succeed (a fake fault would leave every op ok).
        let not_ok = ops["fail"].as_u64().unwrap() + ops["info"].as_u64().unwrap();
        assert!(
            not_ok > 0,
            "{experiment}: every op succeeded although the node was {fault}ed\n{}",
            r.stdout
        );
    }
    let status = chaos(&["status", "experiments/surrealdb-local-kill.toml"]);
    let shown = text(&status);
    assert!(status.status.success(), "{shown}");
    assert!(
        !shown.contains("paused") && !shown.contains("exited"),
        "{shown}"
    );
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn crud_demo_against_the_local_image() {
    let _guard = docker_group("crud_demo_against_the_local_image");
    let out = chaos(&[
        "demo",
        "crud",
        "experiments/surrealdb-local-kill.toml",
        "--up",
    ]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for step in [
        "schema", "create", "read", "update", "unique", "delete", "cleanup",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("[ ok ]") && l.contains(step)),
            "step {step} not verified\n{shown}"
        );
    }
    assert!(!stdout.contains("[FAIL]"), "{shown}");
    // One node: the report says what it cannot show.
    assert!(stdout.contains("replication"), "{shown}");
    // A second run works on the same database (the schema is idempotent,
    // the first run cleaned up after itself).
    let again = chaos(&["demo", "crud", "experiments/surrealdb-local-kill.toml"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn surrealdb_list_append_end_to_end() {
    let _guard = docker_group("surrealdb_list_append_end_to_end");
    let results = tempfile::tempdir().unwrap();
    let duration = "20s";
    let experiment = "experiments/surrealdb-local-append-kill.toml";
    let r = run(experiment, 1, duration, results.path());
    assert_valid_run(&r, experiment, 1, duration, 300);
    let txn = &r.results["checker"]["txn"];
    assert_eq!(txn["model"], "strong-snapshot-isolation");
    assert!(
        txn["graph"]["edges"]["wr"].as_u64().unwrap() > 100,
        "{experiment}: {txn}"
    );
    // The kill was real: some transactions did not commit.
    let ops = &r.results["workload"]["ops"];
    assert!(
        ops["fail"].as_u64().unwrap() + ops["info"].as_u64().unwrap() > 0,
        "{experiment}: every transaction committed although the server was killed\n{}",
        r.stdout
    );
    // Whatever was found is allowed by snapshot isolation, and said so.
    for name in anomaly_names(&r) {
        assert!(
            r.stdout
                .contains("found, and allowed by strong-snapshot-isolation"),
            "{experiment}: {name} listed without saying it is allowed\n{}",
            r.stdout
        );
    }
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn surrealdb_bank_and_set_survive_kills() {
    let _guard = docker_group("surrealdb_bank_and_set_survive_kills");
    let results = tempfile::tempdir().unwrap();
    let duration = "20s";
    for (experiment, kind) in [
        ("experiments/surrealdb-local-bank-kill.toml", "bank"),
        ("experiments/surrealdb-local-set-kill.toml", "set"),
    ] {
        let r = run(experiment, 1, duration, results.path());
        assert_valid_run(&r, experiment, 1, duration, 200);
        assert_eq!(r.results["workload"]["kind"], kind);
        // The kill was real: some ops did not succeed.
        let ops = &r.results["workload"]["ops"];
        assert!(
            ops["fail"].as_u64().unwrap() + ops["info"].as_u64().unwrap() > 0,
            "{experiment}: every op succeeded although the server was killed\n{}",
            r.stdout
        );
    }
}

/// What SurrealDB says `time::now()` is, in Unix seconds (asked inside its
/// container, over HTTP, as a client would).
fn surreal_now(container: &str) -> i64 {
    let o = std::process::Command::new("docker")
        .args([
            "exec",
            container,
            "curl",
            "-s",
            "-u",
            "root:root",
            "-H",
            "Accept: application/json",
            "-H",
            "surreal-ns: t",
            "-H",
            "surreal-db: t",
            "--data",
            "RETURN time::unix(time::now());",
            "http://127.0.0.1:8000/sql",
        ])
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&o.stdout).to_string();
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body} {}", text(&o)));
    v[0]["result"]
        .as_i64()
        .unwrap_or_else(|| panic!("no time in {body}"))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The clock fault on the real server: `chaos up` lays the override
/// (libfaketime preloaded, the offset file mounted); a held forward jump
/// moves what SurrealDB's `time::now()` says by the offset; a SIGKILL of
/// chaos leaves it; `chaos heal` puts the real clock back. Then a short
/// `chaos run` of the experiment applies and heals its jumps.
#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn surrealdb_clock_jump_is_seen_by_the_database_and_healed() {
    use std::io::{BufRead, BufReader};
    let _guard = docker_group("surrealdb_clock_jump");
    let exp = "experiments/surrealdb-local-clock-jump.toml";
    let state = tempfile::tempdir().unwrap();
    let cmd = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_chaos"));
        c.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .env("CHAOS_STATE_DIR", state.path())
            .stdin(std::process::Stdio::null());
        c
    };
    let up = cmd(&["up", exp]).output().unwrap();
    assert!(up.status.success(), "{}", text(&up));
    let container = || {
        let id = String::from_utf8_lossy(
            &std::process::Command::new("docker")
                .args([
                    "ps",
                    "-q",
                    "--filter",
                    "label=com.docker.compose.project=chaos-surrealdb-local",
                    "--filter",
                    "label=com.docker.compose.service=surrealdb1",
                ])
                .output()
                .unwrap()
                .stdout,
        )
        .trim()
        .to_string();
        assert!(!id.is_empty(), "no surrealdb1 container");
        id
    };
    let id = container();
    let drift = surreal_now(&id) - unix_now();
    assert!(
        drift.abs() <= 2,
        "the clock is off before any fault: {drift}s"
    );

    // Fault 1 of the plan is the forward jump of five minutes.
    let results = state.path().join("results");
    let mut child = cmd(&[
        "nemesis-apply",
        exp,
        "--fault",
        "1",
        "--seed",
        "1",
        "--hold",
    ])
    .arg("--results-dir")
    .arg(&results)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("applied fault 1 (clock +5m)"), "{line}");
    let drift = surreal_now(&id) - unix_now();
    assert!(
        (298..=302).contains(&drift),
        "SurrealDB's clock is {drift}s off, not +300s"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let drift = surreal_now(&id) - unix_now();
    assert!(
        (298..=302).contains(&drift),
        "the jump did not outlive chaos: {drift}s"
    );
    let heal = cmd(&["heal", exp]).output().unwrap();
    assert!(heal.status.success(), "{}", text(&heal));
    assert!(
        text(&heal).contains("clock back to the real one"),
        "{}",
        text(&heal)
    );
    let drift = surreal_now(&id) - unix_now();
    assert!(
        drift.abs() <= 2,
        "the clock is {drift}s off after chaos heal"
    );

    // A short run: every jump applied and healed; the verdict is the
    // database's (reported in docs/findings.md), not asserted here.
    let r = run(exp, 1, "25s", results.as_path());
    let faults = r.results["faults"].as_array().unwrap();
    assert!(
        faults.iter().filter(|f| f["kind"] == "clock").count() >= 2,
        "{faults:?}"
    );
    for f in faults {
        assert!(
            !f["applied_at_ms"].is_null() && !f["healed_at_ms"].is_null(),
            "{f}"
        );
    }
    // (The run laid its own override: a new container.)
    let drift = surreal_now(&container()) - unix_now();
    assert!(drift.abs() <= 2, "the clock is {drift}s off after the run");
}
