//! PostgreSQL runs end to end (Docker group: `CHAOS_DOCKER_TESTS=1`), on
//! `compose/postgres.yml` (a primary and an asynchronous streaming replica,
//! the local image `chaos/postgres:15-local`: `.ci/install.sh --tests`
//! builds it), shortened to 30 s, seed 1: the primary killed, paused and
//! cut from its replica. Serializable list-append keeps serializability;
//! the same transactions at read committed are caught; register reads on
//! the replica are caught as stale. Every fault is healed, results.json
//! matches its schema and re-checks to the same verdict
//! (`run::check_common`), and the replica holds what the primary holds
//! once the run is over (it caught up after the kills). The serializable
//! run is repeated through the process client and the Python adapter
//! (`examples/adapters/postgres.py`, Debian's python3-psycopg2 under
//! `/usr/bin/python3`) on the same seed, to the same verdict, and `chaos
//! adapter-check` passes that adapter against the live primary. The bank
//! keeps its total under a kill; and on a cluster whose ports Docker
//! chooses (project `chaos-postgres-ports`, taken down after), a killed
//! primary comes back on a new port that the native client and the
//! adapter follow.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::docker_group;
use crate::run::{Run, assert_valid_run, check_common, run};

const DURATION: &str = "30s";

/// The anomaly names (list-append) or classes (registers) of a run.
fn anomaly_names(r: &Run) -> Vec<String> {
    r.results["checker"]["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["anomaly"]
                .as_str()
                .or(a["class"].as_str())
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

/// Was a fault of `kind` on `service` applied and healed?
fn applied_and_healed(r: &Run, kind: &str, service: &str) -> bool {
    r.results["faults"].as_array().unwrap().iter().any(|f| {
        f["kind"] == kind
            && f.to_string().contains(service)
            && !f["applied_at_ms"].is_null()
            && !f["healed_at_ms"].is_null()
    })
}

/// The errors of the run's failed and indeterminate ops.
fn errors(r: &Run) -> Vec<String> {
    std::fs::read_to_string(r.dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["error"].as_str().map(str::to_string)
        })
        .collect()
}

/// `psql` inside the container of `service` of the `chaos-postgres`
/// project, as the server's own user over its socket: one line of output.
fn psql(service: &str, sql: &str) -> String {
    let id = Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            "label=com.docker.compose.project=chaos-postgres",
        ])
        .args([
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    assert!(!id.is_empty(), "no running container of {service}");
    let out = Command::new("docker")
        .args(["exec", &id, "psql", "-XtA", "-d", "chaos", "-c", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "{service}: {sql}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The replica holds what the primary holds for `sql` within 15 s.
fn replica_catches_up(sql: &str) {
    let primary = psql("pg-primary", sql);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let replica = psql("pg-replica", sql);
        if replica == primary {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not catch up: primary {primary}, replica {replica} ({sql})"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn postgres_serializable_list_append_under_a_kill_is_valid() {
    let _guard = docker_group("postgres_serializable_list_append_under_a_kill_is_valid");
    let results = tempfile::tempdir().unwrap();
    let experiment = "experiments/postgres-append-serializable.toml";
    let r = run(experiment, 1, DURATION, results.path());
    assert_valid_run(&r, experiment, 1, DURATION, 300);
    let txn = &r.results["checker"]["txn"];
    assert_eq!(txn["model"], "serializable");
    assert!(txn["not"].as_array().unwrap().is_empty(), "{txn}");
    // Transactions really appended and read one another's appends.
    assert!(txn["graph"]["edges"]["wr"].as_u64().unwrap() > 100, "{txn}");
    assert!(applied_and_healed(&r, "kill", "pg-primary"), "{}", r.stdout);
    assert!(
        applied_and_healed(&r, "pause", "pg-primary"),
        "{}",
        r.stdout
    );
    // They conflicted: SERIALIZABLE refused some (40001, `fail`), and the
    // kill cut some off (connection errors).
    let errors = errors(&r);
    assert!(
        errors.iter().any(|e| e.starts_with("ERROR 40001")),
        "no serialization failure: {:?}",
        &errors[..errors.len().min(20)]
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("connect") || e.contains("closed")),
        "no connection error under the kill"
    );
    // The replica, cut off and reconnected after each kill, holds every
    // list the primary holds.
    replica_catches_up("select count(*), coalesce(sum(cardinality(v)), 0) from chaos_list");

    // The same experiment and seed through the process client and the
    // Python adapter (examples/adapters/postgres.py, psycopg2): the same
    // plan, the same verdict, reached by the same kinds of evidence.
    let adapter = "experiments/postgres-append-adapter.toml";
    let a = run(adapter, 1, DURATION, results.path());
    assert_valid_run(&a, adapter, 1, DURATION, 300);
    assert_eq!(a.results["verdict"], r.results["verdict"]);
    assert_eq!(a.results["target"]["client"], "process", "{}", a.results);
    // The same faults at the same times, the same transactions per client.
    let plan = |dir: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap()
    };
    let (pa, pr) = (plan(&a.dir), plan(&r.dir));
    assert_eq!(pa["faults"], pr["faults"]);
    assert_eq!(pa["clients"], pr["clients"]);
    let txn = &a.results["checker"]["txn"];
    assert_eq!(txn["model"], "serializable");
    assert!(txn["not"].as_array().unwrap().is_empty(), "{txn}");
    assert!(txn["graph"]["edges"]["wr"].as_u64().unwrap() > 100, "{txn}");
    assert!(applied_and_healed(&a, "kill", "pg-primary"), "{}", a.stdout);
    let seen = self::errors(&a);
    assert!(
        seen.iter().any(|e| e.starts_with("ERROR 40001")),
        "the adapter saw no serialization failure: {:?}",
        &seen[..seen.len().min(20)]
    );
    assert!(
        seen.iter()
            .any(|e| e.contains("refused") || e.contains("closed")),
        "the adapter saw no connection error under the kill"
    );
    // The adapter wrote to its own table, through the protocol.
    assert_ne!(psql("pg-primary", "select count(*) from adapter_list"), "0");

    // `chaos adapter-check` against the healthy primary: the adapter
    // conforms on every workload; the deliberately broken one does not.
    let check = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
            .current_dir(crate::run::repo())
            .args(["adapter-check", "--endpoint", "pg-primary=127.0.0.1:25432"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = check(&["/usr/bin/python3", "examples/adapters/postgres.py"]);
    assert_eq!(code, Some(0), "{text}");
    for name in [
        "register/read-your-write",
        "register/cas",
        "list-append/own-writes",
        "list-append/atomic",
        "bank/transfer",
        "set/add-read",
        "list-append/concurrent-2",
        "list-append/leader",
    ] {
        assert!(text.contains(&format!("ok    {name}\n")), "{name}: {text}");
    }
    let (code, text) = check(&["python3", "tests/adapters/broken.py"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAIL  register/cas: "), "{text}");
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn postgres_read_committed_list_append_is_flagged() {
    let _guard = docker_group("postgres_read_committed_list_append_is_flagged");
    let results = tempfile::tempdir().unwrap();
    let experiment = "experiments/postgres-append-read-committed.toml";
    let r = run(experiment, 1, DURATION, results.path());
    assert_eq!(
        r.code,
        Some(1),
        "{experiment}: expected anomalies\n{}\n{}",
        r.stdout,
        r.stderr
    );
    check_common(&r, experiment, 1, DURATION);
    let txn = &r.results["checker"]["txn"];
    let ruled_out: Vec<&serde_json::Value> = txn["not"]
        .as_array()
        .unwrap()
        .iter()
        .chain(txn["also_not"].as_array().unwrap())
        .collect();
    assert!(ruled_out.iter().any(|m| *m == "serializable"), "{txn}");
    // What read committed allows and serializable does not: a read of a
    // new snapshot per statement (read skew, G-single) or an append on a
    // list changed since it was read (internal, lost update).
    let names = anomaly_names(&r);
    assert!(
        names.iter().any(|n| {
            ["G-single-item", "G2-item", "internal", "lost-update"].contains(&n.as_str())
        }),
        "{names:?}"
    );
    // No anomaly read committed itself forbids: nothing dirty, nothing lost.
    for forbidden in ["G0", "G1a", "G1b", "G1c", "lost-write", "dirty-update"] {
        assert!(
            !names.iter().any(|n| n == forbidden),
            "{forbidden}: {names:?}"
        );
    }
    assert!(
        r.stdout
            .contains("INVALID: the history rules out serializable"),
        "{}",
        r.stdout
    );
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn postgres_replica_reads_are_flagged_and_the_replica_catches_up() {
    let _guard = docker_group("postgres_replica_reads_are_flagged_and_the_replica_catches_up");
    let results = tempfile::tempdir().unwrap();
    let experiment = "experiments/postgres-replica-reads.toml";
    let r = run(experiment, 1, DURATION, results.path());
    assert_eq!(
        r.code,
        Some(1),
        "{experiment}: expected stale reads\n{}\n{}",
        r.stdout,
        r.stderr
    );
    check_common(&r, experiment, 1, DURATION);
    let names = anomaly_names(&r);
    assert!(names.iter().any(|n| n == "stale-read"), "{names:?}");
    // Reads were served (by the replica), writes too (by the primary).
    let by_f = &r.results["workload"]["by_f"];
    let ok = |f: &str| by_f[f]["ok"].as_u64().unwrap_or(0);
    assert!(ok("read") > 300 && ok("write") > 100, "{by_f}");
    // The history names the node that served each op: reads the replica,
    // writes and compare-and-sets the primary.
    let history = std::fs::read_to_string(r.dir.join("history.jsonl")).unwrap();
    for line in history.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let want = if v["f"] == "read" {
            "pg-replica"
        } else {
            "pg-primary"
        };
        assert_eq!(v["node"], want, "{line}");
    }
    // Seed 1 kills the primary, then the replica (`chaos plan`); the
    // replica comes back and replays what it missed.
    assert!(applied_and_healed(&r, "kill", "pg-primary"), "{}", r.stdout);
    assert!(applied_and_healed(&r, "kill", "pg-replica"), "{}", r.stdout);
    replica_catches_up("select count(*), coalesce(sum(v), 0) from chaos_register");
}

/// An experiment of `client` ("postgres", or "process" with the Python
/// adapter) on a PostgreSQL cluster whose ports Docker chooses (`0`), in
/// its own project: the primary killed once and started again, on a new
/// host port.
fn moved_port_experiment(dir: &std::path::Path, client: &str, down: bool) -> std::path::PathBuf {
    let repo = crate::run::repo();
    let adapter = if client == "process" {
        format!(
            "\n[workload.adapter]\ncommand = [\"/usr/bin/python3\", \"{}\"]\nport = 5432\noptions = {{ isolation = \"serializable\", timeout_ms = 900 }}\n",
            repo.join("examples/adapters/postgres.py").display()
        )
    } else {
        "isolation = \"serializable\"\n".to_string()
    };
    let path = dir.join(format!("moved-{client}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"name = "postgres-moved-port-{client}"
duration = "10s"

[cluster]
compose_file = "{compose}"
project = "chaos-postgres-ports"
components = {{ postgres = ["pg-primary", "pg-replica"] }}
env = {{ CHAOS_PG_PRIMARY_PORT = "0", CHAOS_PG_REPLICA_PORT = "0" }}
up = true
down = {down}
ready_timeout = "90s"
recovery = "1s"

[workload]
kind = "list-append"
client = "{client}"
endpoints = ["pg-primary"]
clients = 4
rate = 60
keys = 5
timeout = "1s"
{adapter}
[[nemesis]]
fault = "kill"
targets = {{ services = ["pg-primary"] }}
schedule = {{ start = "2s", interval = "20s", duration = "2s", count = 1 }}
"#,
            compose = repo.join("compose/postgres.yml").display(),
        ),
    )
    .unwrap();
    path
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn a_restarted_node_on_a_new_port_is_followed_by_the_native_client_and_the_adapter() {
    let _guard = docker_group(
        "a_restarted_node_on_a_new_port_is_followed_by_the_native_client_and_the_adapter",
    );
    let dir = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    for (client, down) in [("postgres", false), ("process", true)] {
        let experiment = moved_port_experiment(dir.path(), client, down);
        let r = run(experiment.to_str().unwrap(), 1, "10s", results.path());
        assert_eq!(r.code, Some(0), "{client}:\n{}\n{}", r.stdout, r.stderr);
        assert_eq!(r.results["verdict"], "valid", "{client}");
        let kill = &r.results["faults"][0];
        assert_eq!(kill["kind"], "kill", "{kill}");
        // The kill's start gave the primary a new port; the run found it
        // and the clients followed.
        let observed = kill["observed"].to_string();
        assert!(
            observed.contains("pg-primary moved from 127.0.0.1:")
                && observed.contains("the clients follow it"),
            "{client}: {kill}\n{}",
            r.stdout
        );
        // Ops succeeded again after the heal, through the new port.
        assert!(kill["recovery_ms"].is_number(), "{client}: {kill}");
        let healed_ns = kill["healed_at_ms"].as_u64().unwrap() * 1_000_000;
        let after = std::fs::read_to_string(r.dir.join("history.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| {
                v["type"] == "ok"
                    && v["final"].is_null()
                    && v["time_ns"].as_u64().unwrap() > healed_ns
            })
            .count();
        assert!(after > 50, "{client}: {after} ok ops after the heal");
    }
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn postgres_bank_under_a_kill_keeps_the_total() {
    let _guard = docker_group("postgres_bank_under_a_kill_keeps_the_total");
    let results = tempfile::tempdir().unwrap();
    let experiment = "experiments/postgres-bank-kill.toml";
    let duration = "15s";
    let r = run(experiment, 1, duration, results.path());
    assert_valid_run(&r, experiment, 1, duration, 200);
    assert_eq!(r.results["workload"]["kind"], "bank");
    // Transfers committed and every account was read, many times.
    let by_f = &r.results["workload"]["by_f"];
    let ok = |f: &str| by_f[f]["ok"].as_u64().unwrap_or(0);
    assert!(ok("transfer") > 100 && ok("read") > 100, "{by_f}");
    assert!(applied_and_healed(&r, "kill", "pg-primary"), "{}", r.stdout);
    // Serializable refused some transfers (40001), the kill cut some off.
    let seen = errors(&r);
    assert!(
        seen.iter().any(|e| e.starts_with("ERROR 40001")),
        "no serialization failure: {:?}",
        &seen[..seen.len().min(20)]
    );
    assert!(
        seen.iter()
            .any(|e| e.contains("connect") || e.contains("closed")),
        "no connection error under the kill"
    );
    // The money is all there on the server too: the run's accounts
    // (prefix `chaos/<experiment>/<time>-<seed>/`, the time as in the run
    // directory's name) hold the total.
    let stamp = r
        .dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace("-seed", "-");
    let total = psql(
        "pg-primary",
        &format!(
            "select count(*), sum(b) from chaos_bank where k like 'chaos/postgres-bank-kill/{stamp}/%'"
        ),
    );
    assert_eq!(total, "5|100");
}
