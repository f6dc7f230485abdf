//! List-append runs end to end (Docker group: `CHAOS_DOCKER_TESTS=1`), short:
//! etcd with linearizable reads under partitions keeps strict
//! serializability; etcd with serializable reads is caught; SurrealDB killed
//! and restarted keeps snapshot isolation, its documented level. Every fault
//! is healed and results.json matches its schema (`run::check_common`).

use crate::docker_group;
use crate::run::{assert_valid_run, check_common, run};

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
fn etcd_list_append_end_to_end() {
    let _guard = docker_group("etcd_list_append_end_to_end");
    let results = tempfile::tempdir().unwrap();
    let duration = "20s";

    let experiment = "experiments/etcd-append-partition.toml";
    let r = run(experiment, 1, duration, results.path());
    assert_valid_run(&r, experiment, 1, duration, 300);
    assert_eq!(r.results["workload"]["kind"], "list-append");
    let txn = &r.results["checker"]["txn"];
    assert_eq!(txn["model"], "strict-serializable");
    assert!(
        txn["not"].as_array().unwrap().is_empty(),
        "{experiment}: {txn}"
    );
    // Transactions really appended and read: the graph has dependencies.
    assert!(
        txn["graph"]["edges"]["wr"].as_u64().unwrap() > 100,
        "{experiment}: {txn}"
    );
    assert!(
        r.results["faults"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| !f["applied_at_ms"].is_null()),
        "{experiment}: no fault applied"
    );

    // The known-bad control: serializable reads are served from a member's
    // own, possibly stale, state.
    let experiment = "experiments/etcd-append-serializable.toml";
    let r = run(experiment, 1, duration, results.path());
    assert_eq!(
        r.code,
        Some(1),
        "{experiment}: expected anomalies\n{}\n{}",
        r.stdout,
        r.stderr
    );
    check_common(&r, experiment, 1, duration);
    let names = anomaly_names(&r);
    assert!(!names.is_empty(), "{experiment}: no anomaly listed");
    // Strict serializability is ruled out (a real-time cycle rules out
    // strong snapshot isolation first, then strict serializability with it).
    let txn = &r.results["checker"]["txn"];
    assert!(
        txn["not"]
            .as_array()
            .unwrap()
            .iter()
            .chain(txn["also_not"].as_array().unwrap())
            .any(|m| m == "strict-serializable"),
        "{experiment}: {}",
        r.results["checker"]["txn"]
    );
    assert!(
        r.stdout
            .contains("INVALID: the history rules out strict-serializable")
    );
}
