//! The bank and set workloads end to end on etcd (Docker group:
//! `CHAOS_DOCKER_TESTS=1`), short: a correct configuration is valid, and
//! each known-bad control is caught by the anomaly it names. (The many-seed
//! runs of the controls are `experiments/scripts/workload-controls.sh`,
//! reported in docs/findings.md.)

use crate::docker_group;
use crate::run::{assert_valid_run, check_common, run};

fn classes(r: &crate::run::Run) -> Vec<String> {
    r.results["checker"]["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["anomaly"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn etcd_bank_keeps_its_total_and_the_unguarded_control_does_not() {
    let _guard = docker_group("etcd_bank_keeps_its_total_and_the_unguarded_control_does_not");
    let results = tempfile::tempdir().unwrap();
    let duration = "15s";
    let experiment = "experiments/etcd-bank-partition.toml";
    let r = run(experiment, 1, duration, results.path());
    assert_valid_run(&r, experiment, 1, duration, 300);
    assert_eq!(r.results["workload"]["kind"], "bank");
    let figures = &r.results["checker"]["figures"];
    assert!(figures["reads_checked"].as_u64().unwrap() > 50, "{figures}");
    assert_eq!(figures["bad_reads"], 0);
    // Transfers happened: the balances moved.
    assert!(
        figures["transfers"]["ok"].as_u64().unwrap() > 50,
        "{figures}"
    );

    let control = "experiments/etcd-bank-unguarded.toml";
    let r = run(control, 1, duration, results.path());
    assert_eq!(r.code, Some(1), "{control}: expected invalid\n{}", r.stdout);
    check_common(&r, control, 1, duration);
    assert!(
        classes(&r).iter().any(|c| c == "wrong-total"),
        "{control}: {:?}",
        classes(&r)
    );
    let first = &r.results["checker"]["anomalies"][0];
    assert!(
        first["explanation"]
            .as_str()
            .unwrap()
            .contains("Transfers in flight around it"),
        "{first}"
    );
    assert!(r.stdout.contains("wrong-total"), "{}", r.stdout);
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn etcd_set_loses_nothing_and_serializable_reads_are_stale() {
    let _guard = docker_group("etcd_set_loses_nothing_and_serializable_reads_are_stale");
    let results = tempfile::tempdir().unwrap();
    let duration = "15s";
    let experiment = "experiments/etcd-set-partition.toml";
    let r = run(experiment, 1, duration, results.path());
    assert_valid_run(&r, experiment, 1, duration, 300);
    let figures = &r.results["checker"]["figures"];
    assert_eq!(figures["final_read"], true, "{figures}");
    assert_eq!(figures["lost"], 0);
    assert!(figures["ok"].as_u64().unwrap() > 100, "{figures}");

    let control = "experiments/etcd-set-serializable.toml";
    let r = run(control, 1, duration, results.path());
    assert_eq!(r.code, Some(1), "{control}: expected invalid\n{}", r.stdout);
    check_common(&r, control, 1, duration);
    assert!(
        classes(&r).iter().any(|c| c == "stale"),
        "{control}: {:?}",
        classes(&r)
    );
    // Nothing was lost: serializable reads are stale, not lossy.
    assert!(
        !classes(&r).iter().any(|c| c == "lost"),
        "{:?}",
        classes(&r)
    );
}
