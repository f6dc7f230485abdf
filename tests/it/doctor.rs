//! `chaos doctor` against this machine's engine (the Docker group): what it
//! says of netem and of the etcd image agrees with asking Docker directly,
//! and its exit code with its verdicts.

use std::process::Command;

use crate::{chaos, docker_group};

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn doctor_reports_netem_and_the_etcd_image_as_docker_does() {
    let _docker = docker_group("doctor");
    let started = std::time::Instant::now();
    let out = chaos(&[
        "doctor".into(),
        "--json".into(),
        "--experiments".into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/experiments").into(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let machine = &report["machine"];
    assert_eq!(machine["engine"]["state"], "yes", "{machine:#}");
    // netem, asked directly in the helper image (this machine's kernel
    // lacks sch_netem: doctor must say "no", and name the failure).
    let netem = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--cap-add",
            "NET_ADMIN",
            "chaos/nethelper:local",
            "sh",
            "-c",
            "tc qdisc add dev lo root netem delay 1ms",
        ])
        .output()
        .unwrap();
    let expected = if netem.status.success() { "yes" } else { "no" };
    assert_eq!(machine["netem"]["state"], expected, "{machine:#}");
    if !netem.status.success() {
        assert!(
            machine["netem"]["detail"]
                .as_str()
                .unwrap()
                .contains("netem"),
            "{machine:#}"
        );
    }
    let etcd = Command::new("docker")
        .args(["image", "inspect", "chaos/etcd:3.4-local"])
        .output()
        .unwrap();
    assert!(
        etcd.status.success(),
        "the etcd image is part of the test set-up"
    );
    assert_eq!(
        machine["images"]["chaos/etcd:3.4-local"]["state"], "yes",
        "{machine:#}"
    );
    // The registry probe is quick even where no network answers.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // Exit 0 exactly when every experiment can run.
    let verdicts = report["experiments"].as_array().unwrap();
    assert!(verdicts.len() >= 20, "{}", verdicts.len());
    let all = verdicts.iter().all(|v| v["can_run"] == true);
    assert_eq!(out.status.code(), Some(if all { 0 } else { 1 }), "{out:?}");
    let etcd_baseline = verdicts
        .iter()
        .find(|v| v["file"].as_str().unwrap().ends_with("etcd-baseline.toml"))
        .unwrap();
    // It needs only the etcd image, which is here: anything that stops it
    // is a port another project holds.
    for p in etcd_baseline["problems"].as_array().unwrap() {
        assert!(
            p["why"].as_str().unwrap().starts_with("port "),
            "{etcd_baseline:#}"
        );
    }
}
