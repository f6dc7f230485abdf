//! The Docker group for the grey faults: packet loss, bandwidth, CPU and
//! memory limits, on the 3-node etcd cluster of [`crate::docker`].
//!
//! Each fault's effect is observed from outside, through the `docker` CLI
//! and the kernel's own counters, not only its configuration: the DROP
//! rules' packet counters rise and requests slow; a transfer through the
//! `tbf` link runs at its rate; `cpu.stat` counts throttled periods; a
//! process that allocates past the memory limit is OOM-killed. Each heal
//! is observed too, and each fault survives a SIGKILL of `chaos run` and
//! goes with `chaos heal`.

use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use chaos::experiment::{Fault, PartitionKind};
use chaos::plan::PlannedTargets;
use chaos::roles::FixedRoles;

use crate::docker::{
    NODES, TestCluster, assert_clean, chaos_rules, held_on_etcd2, inspect, kill_run_when_applied,
    planned, services, sh, status, text,
};

/// `docker exec CONTAINER sh -c SCRIPT`.
pub(crate) fn exec(container: &str, script: &str) -> Output {
    sh("docker", &["exec", container, "sh", "-c", script])
}

pub(crate) fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The packets the chaos rules in a container's namespace have dropped,
/// read from their counters by a throwaway helper.
fn dropped(container: &str) -> u64 {
    let o = sh(
        "docker",
        &[
            "run",
            "--rm",
            "--cap-add",
            "NET_ADMIN",
            "--network",
            &format!("container:{container}"),
            crate::docker::HELPER_IMAGE,
            "sh",
            "-c",
            "iptables -w -L INPUT -v -x -n | grep 'chaos:' | awk '{n+=$1} END {print n+0}'",
        ],
    );
    assert!(o.status.success(), "reading counters: {}", text(&o));
    out(&o).parse().unwrap()
}

/// The root qdisc kinds of a container's interfaces (`noqueue`, `tbf`).
pub(crate) fn root_qdiscs(container: &str) -> String {
    let o = exec(container, "tc qdisc show 2>/dev/null || cat /proc/net/dev");
    out(&o)
}

/// Ten requests from `from` to `to`'s client port, a second each at most:
/// how many failed and the slowest, in seconds.
fn requests(t: &TestCluster, from: &str, to: &str) -> (usize, f64) {
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do curl -s -m 1 -o /dev/null -w '%{{time_total}} %{{http_code}}\\n' http://{to}:2379/version; done; true"
    );
    let o = exec(&t.container(from), &script);
    // curl prints its line on a timeout too (code 000); a request that
    // printed nothing failed as well.
    let mut ok = 0;
    let mut slowest: f64 = 0.0;
    for line in out(&o).lines() {
        let mut w = line.split_whitespace();
        let secs: f64 = w.next().and_then(|x| x.parse().ok()).unwrap_or(1.0);
        if w.next() == Some("200") {
            ok += 1;
        }
        slowest = slowest.max(secs);
    }
    (10usize.saturating_sub(ok), slowest)
}

/// Store a value of 600 kB (800 kB in base64) under key `big`, through
/// `via`'s HTTP gateway.
fn put_big(t: &TestCluster, via: &str) {
    let script = "printf '{\"key\":\"Ymln\",\"value\":\"%s\"}' \"$(head -c 600000 /dev/zero | base64 -w0)\" > /tmp/body && \
         curl -s -m 30 -o /dev/null -w '%{http_code}' -X POST --data-binary @/tmp/body http://127.0.0.1:2379/v3/kv/put";
    let o = exec(&t.container(via), script);
    assert_eq!(out(&o), "200", "put: {}", text(&o));
}

/// Fetch the big value from `from` (a local, serializable read: cheap for
/// it, so the time is the transfer's): the rate `from` sent it at, in bits
/// per second.
fn download_rate(t: &TestCluster, from: &str, to: &str) -> f64 {
    let script = format!(
        "curl -s -m 60 -o /dev/null -w '%{{size_download}} %{{time_total}}' -X POST \
         --data '{{\"key\":\"Ymln\",\"serializable\":true}}' http://{from}:2379/v3/kv/range"
    );
    let o = exec(&t.container(to), &script);
    let said = out(&o);
    let mut w = said.split_whitespace();
    let bytes: f64 = w.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
    let secs: f64 = w.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
    assert!(
        bytes > 700_000.0 && secs > 0.0,
        "download: {said} {}",
        text(&o)
    );
    bytes * 8.0 / secs
}

/// `nr_throttled` of a container's CPU cgroup (v1, or v2's cpu.stat).
fn throttled(container: &str) -> u64 {
    let o = exec(
        container,
        "cat /sys/fs/cgroup/cpu/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpu.stat",
    );
    out(&o)
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no nr_throttled: {}", text(&o)))
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_loss_bandwidth_cpu_and_memory_act_and_heal() {
    let _group = crate::docker_group("docker_grey_faults");
    let t = TestCluster::up("grey");
    let mut n = t.nemesis(Arc::new(FixedRoles::new()));
    let e2 = t.container("etcd2");

    // loss, everything etcd2 receives: its rule drops packets (counters
    // rise) and requests to it slow down (TCP retransmits) or fail.
    let f = planned(
        1,
        Fault::Loss {
            loss: 50.0,
            partition: None,
        },
        services(&["etcd2"]),
    );
    t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert_eq!(chaos_rules(&e2), 1);
    let (failed, slowest) = requests(&t, "etcd1", "etcd2");
    let d = dropped(&e2);
    assert!(d > 0, "the loss rule dropped nothing");
    assert!(
        failed > 0 || slowest >= 0.2,
        "ten requests through 50% loss: none failed and none waited for a retransmit ({slowest}s)"
    );
    let healed = t.block(n.heal(1)).unwrap();
    assert!(
        healed.actions.iter().any(|a| a.contains("dropped")),
        "{:?}",
        healed.actions
    );
    assert_eq!(chaos_rules(&e2), 0);
    let (failed, slowest) = requests(&t, "etcd1", "etcd2");
    assert_eq!(failed, 0, "requests fail after the heal");
    assert!(
        slowest < 0.5,
        "requests still slow after the heal: {slowest}s"
    );

    // loss along a cut: only the peers' packets, not the host's.
    let f = planned(
        2,
        Fault::Loss {
            loss: 100.0,
            partition: Some(PartitionKind::IsolateOne),
        },
        PlannedTargets::Partition {
            drops: chaos::plan::isolate("etcd3", &crate::docker::NODES.map(String::from), false),
        },
    );
    t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert_eq!(chaos_rules(&t.container("etcd3")), 2, "one rule per peer");
    let (failed, _) = requests(&t, "etcd1", "etcd3");
    assert_eq!(failed, 10, "a 100% loss from a peer passed a request");
    let (failed, _) = requests(&t, "etcd1", "etcd2");
    assert_eq!(failed, 0, "the loss struck a pair outside the cut");
    t.block(n.heal(2)).unwrap();
    assert_eq!(chaos_rules(&t.container("etcd3")), 0);
    t.wait_healthy();

    // bandwidth: what etcd2 sends (a large value fetched from it) leaves at
    // the tbf's rate, and at full speed again after the heal.
    put_big(&t, "etcd1");
    let free = download_rate(&t, "etcd2", "etcd1");
    let f = planned(
        3,
        Fault::Bandwidth { rate: 4_000_000 },
        services(&["etcd2"]),
    );
    t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert!(root_qdiscs(&e2).contains("tbf"), "{}", root_qdiscs(&e2));
    let limited = download_rate(&t, "etcd2", "etcd1");
    assert!(
        (2_000_000.0..=5_200_000.0).contains(&limited),
        "a transfer through a 4 mbit/s limit went at {limited:.0} bit/s (free: {free:.0})"
    );
    t.block(n.heal(3)).unwrap();
    assert!(!root_qdiscs(&e2).contains("tbf"), "{}", root_qdiscs(&e2));
    let again = download_rate(&t, "etcd2", "etcd1");
    assert!(
        again > 3.0 * limited,
        "after the heal the transfer went at {again:.0} bit/s, the limited one at {limited:.0}"
    );

    // cpu: a busy loop in etcd2 is throttled under a tenth of a core, and
    // the heal lifts the quota (-1).
    let f = planned(4, Fault::Cpu { cpus: 0.1 }, services(&["etcd2"]));
    t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert_eq!(inspect(&e2, "{{.HostConfig.CpuQuota}}"), "10000");
    let before = throttled(&e2);
    exec(&e2, "timeout 2 sh -c 'while :; do :; done'; true");
    let after = throttled(&e2);
    assert!(after > before + 5, "throttled periods {before} -> {after}");
    t.block(n.heal(4)).unwrap();
    let quota = exec(
        &e2,
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max",
    );
    assert!(
        out(&quota).starts_with("-1") || out(&quota).starts_with("max"),
        "quota after the heal: {}",
        out(&quota)
    );
    let before = throttled(&e2);
    exec(&e2, "timeout 1 sh -c 'while :; do :; done'; true");
    assert_eq!(throttled(&e2), before, "throttled after the heal");

    // memory: a process that allocates past the limit is OOM-killed; the
    // heal gives back what the container could use before (it started
    // with no limit: the host's memory) and etcd2 runs.
    assert_eq!(inspect(&e2, "{{.HostConfig.Memory}}"), "0");
    let f = planned(5, Fault::Memory { bytes: 96 << 20 }, services(&["etcd2"]));
    t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert_eq!(
        inspect(&e2, "{{.HostConfig.Memory}}"),
        (96u64 << 20).to_string()
    );
    // `tail` keeps a line without a newline whole: 200 MB of it.
    let hog = exec(&e2, "head -c 200000000 /dev/zero | tail -n 1 >/dev/null");
    assert_eq!(
        hog.status.code(),
        Some(137),
        "a process past the limit was not OOM-killed: {}",
        text(&hog)
    );
    let healed = t.block(n.heal(5)).unwrap();
    let limit: u64 = inspect(&e2, "{{.HostConfig.Memory}}").parse().unwrap();
    assert!(limit > 1 << 30, "memory limit after the heal: {limit}");
    assert_eq!(status(&e2), "running", "{:?}", healed.actions);
    let ok = exec(&e2, "head -c 200000000 /dev/zero | tail -n 1 >/dev/null");
    assert!(
        ok.status.success(),
        "still limited after the heal: {}",
        text(&ok)
    );
    t.wait_healthy();

    t.block(n.finish());
    assert_clean(&t, "after the grey faults");
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_sigkill_during_each_grey_fault_then_chaos_heal_leaves_nothing() {
    let _group = crate::docker_group("docker_sigkill_grey_faults");
    let t = TestCluster::up("greyheal");
    let faults = [
        ("loss", "fault = \"loss\"\nloss = 30\n"),
        ("bandwidth", "fault = \"bandwidth\"\nrate = \"1mbit\"\n"),
        ("cpu", "fault = \"cpu\"\ncpus = 0.2\n"),
        ("memory", "fault = \"memory\"\nmemory = \"256MiB\"\n"),
    ];
    for (kind, fields) in faults {
        let exp = t.experiment(&format!("{kind}.toml"), &held_on_etcd2(fields));
        let results = t.dir.path().join(format!("results-{kind}"));
        kill_run_when_applied(&t, &exp, &results);
        let e2 = t.container("etcd2");
        // The fault outlived chaos.
        match kind {
            "loss" => assert_eq!(chaos_rules(&e2), 1, "{kind}"),
            "bandwidth" => assert!(root_qdiscs(&e2).contains("tbf"), "{kind}"),
            "cpu" => assert_eq!(inspect(&e2, "{{.HostConfig.CpuQuota}}"), "20000"),
            _ => assert_eq!(
                inspect(&e2, "{{.HostConfig.Memory}}"),
                (256u64 << 20).to_string()
            ),
        }
        let healed = t.chaos(&["heal", exp.to_str().unwrap()]);
        assert!(healed.status.success(), "{kind}: {}", text(&healed));
        assert!(
            text(&healed).contains("fault 1"),
            "{kind}: {}",
            text(&healed)
        );
        assert_eq!(chaos_rules(&e2), 0, "{kind}");
        assert!(!root_qdiscs(&e2).contains("tbf"), "{kind}");
        let quota = inspect(&e2, "{{.HostConfig.CpuQuota}}");
        assert!(quota == "0" || quota == "-1", "{kind}: CPU quota {quota}");
        let memory: u64 = inspect(&e2, "{{.HostConfig.Memory}}").parse().unwrap();
        assert!(memory == 0 || memory > 1 << 30, "{kind}: memory {memory}");
        t.wait_healthy();
        for s in NODES {
            assert_eq!(status(&t.container(s)), "running", "{kind}: {s}");
        }
    }
    assert_clean(&t, "after the grey faults' heals");
}

/// The containers of a compose project (any state).
fn project_containers(project: &str) -> Vec<String> {
    let filter = format!("label=com.docker.compose.project={project}");
    let o = sh("docker", &["ps", "-aq", "--filter", &filter]);
    out(&o).split_whitespace().map(String::from).collect()
}

/// A clock fault on etcd is refused before the cluster is touched, with
/// the reason (a Go binary: libfaketime cannot shift it), never run as a
/// no-op.
#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_a_clock_fault_on_etcd_is_refused_with_the_reason() {
    let _group = crate::docker_group("docker_clock_refused");
    let before = project_containers("chaos-etcd");
    let results = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_chaos"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "experiments/etcd-clock-refused.toml", "--seed", "1"])
        .arg("--results-dir")
        .arg(results.path())
        .env("CHAOS_STATE_DIR", results.path().join("state"))
        .output()
        .unwrap();
    let said = text(&o);
    assert!(!o.status.success(), "{said}");
    assert!(
        said.contains("cannot take a clock fault") && said.contains("libfaketime"),
        "{said}"
    );
    assert_eq!(
        project_containers("chaos-etcd"),
        before,
        "the cluster was touched"
    );
}
