//! The netem group: the netem fault applied to etcd2 of the 3-node etcd
//! cluster of [`crate::docker`], its effect observed from outside, its heal
//! observed too, and a netem held by a SIGKILLed `chaos run` removed by
//! `chaos heal`.
//!
//! Switched on by `CHAOS_NETEM_TESTS=1` (build.rs: `chaos_netem`), for a
//! machine whose kernel has `sch_netem`; the tests need Docker as well
//! ([`crate::docker_group`]). None of this project's machines has netem, so
//! `.ci/run` leaves the group off; there the refusal is what is tested
//! (`docker::docker_netem_is_refused_before_the_run_where_the_kernel_lacks_it`).
//! Switched on where the kernel lacks netem, the test fails at the
//! preflight a run makes, with the refusal: it never passes there.
//!
//! Observations: requests from etcd1 to etcd2 (a new connection each) and
//! their times; the root qdisc of etcd2's interfaces (`tc qdisc show`);
//! the TCP counters of etcd1's own namespace, where the second copy of each
//! duplicated segment is counted as old data.

use std::sync::Arc;
use std::time::Duration;

use chaos::experiment::Fault;
use chaos::nemesis;
use chaos::roles::FixedRoles;

use crate::docker::{
    TestCluster, assert_clean, held_on_etcd2, kill_run_when_applied, plan_of, planned, services,
    text,
};
use crate::grey_faults::{exec, out, root_qdiscs};

/// A netem fault of a delay and shares in percent.
fn netem(delay_ms: u64, loss: f64, duplicate: f64) -> Fault {
    Fault::Netem {
        delay: Duration::from_millis(delay_ms),
        jitter: Duration::ZERO,
        loss,
        duplicate,
        corrupt: 0.0,
        reorder: 0.0,
    }
}

/// Ten requests from `from` to `to`'s client port, a new connection and a
/// second at most each: how many failed, the fastest and the slowest, in
/// seconds.
fn request_times(t: &TestCluster, from: &str, to: &str) -> (usize, f64, f64) {
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do curl -s -m 1 -o /dev/null -w '%{{time_total}} %{{http_code}}\\n' http://{to}:2379/version; done; true"
    );
    let o = exec(&t.container(from), &script);
    let mut ok = 0;
    let mut fastest = f64::MAX;
    let mut slowest: f64 = 0.0;
    for line in out(&o).lines() {
        let mut w = line.split_whitespace();
        let secs: f64 = w.next().and_then(|x| x.parse().ok()).unwrap_or(1.0);
        if w.next() == Some("200") {
            ok += 1;
        }
        fastest = fastest.min(secs);
        slowest = slowest.max(secs);
    }
    (10usize.saturating_sub(ok), fastest, slowest)
}

/// A `TcpExt:` counter of the kernel's TCP statistics in a container's
/// network namespace (`/proc/net/netstat` read from inside it).
fn tcp_ext(t: &TestCluster, service: &str, name: &str) -> u64 {
    let o = exec(&t.container(service), "cat /proc/net/netstat");
    let said = out(&o);
    let mut lines = said.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        panic!("no TcpExt in /proc/net/netstat: {}", text(&o));
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no TcpExt {name}: {said}"))
}

#[test]
#[cfg_attr(
    not(chaos_netem),
    ignore = "needs a kernel with sch_netem and Docker: CHAOS_NETEM_TESTS=1"
)]
fn netem_delay_loss_and_duplicate_act_and_heal() {
    let _group = crate::docker_group("netem");
    let t = TestCluster::up("netemact");
    let e2 = t.container("etcd2");
    let delay = planned(1, netem(200, 0.0, 0.0), services(&["etcd2"]));
    let lose = planned(2, netem(0, 100.0, 0.0), services(&["etcd2"]));
    let twice = planned(3, netem(0, 0.0, 100.0), services(&["etcd2"]));
    // What `chaos run` checks before it touches the cluster: on a kernel
    // without netem the test ends here, with the refusal.
    t.block(nemesis::preflight(
        t.cluster(),
        &plan_of(&[delay.clone(), lose.clone(), twice.clone()]),
    ))
    .unwrap_or_else(|e| panic!("the preflight refused netem: {e}"));
    let mut n = t.nemesis(Arc::new(FixedRoles::new()));
    let (failed, _, free) = request_times(&t, "etcd1", "etcd2");
    assert_eq!(failed, 0, "requests fail before any fault");

    // delay: everything etcd2 sends waits 200 ms, its SYN-ACK and its
    // answer both, so a request on a new connection takes two delays.
    t.block(n.apply(&delay, Duration::ZERO)).unwrap();
    let q = root_qdiscs(&e2);
    assert!(q.contains("netem") && q.contains("delay 200"), "{q}");
    let (failed, fastest, slowest) = request_times(&t, "etcd1", "etcd2");
    assert_eq!(failed, 0, "requests failed under a 200 ms delay");
    assert!(
        fastest >= 0.36,
        "the fastest request through a 200 ms delay took {fastest}s (two delays: 0.4 s; \
         {free}s at most without it)"
    );
    t.block(n.heal(1)).unwrap();
    let q = root_qdiscs(&e2);
    assert!(!q.contains("netem"), "netem left after the heal: {q}");
    let (failed, fastest, slowest_after) = request_times(&t, "etcd1", "etcd2");
    assert_eq!(failed, 0, "requests fail after the heal");
    assert!(
        fastest < 0.1 && slowest_after < 0.4,
        "requests still slow after the heal: {fastest}s to {slowest_after}s \
         (under the delay: up to {slowest}s)"
    );

    // loss 100%: nothing etcd2 sends arrives, so no request is answered;
    // after the heal every one is.
    t.block(n.apply(&lose, Duration::ZERO)).unwrap();
    assert!(
        root_qdiscs(&e2).contains("loss 100%"),
        "{}",
        root_qdiscs(&e2)
    );
    let (failed, _, _) = request_times(&t, "etcd1", "etcd2");
    assert_eq!(failed, 10, "a request was answered through a 100% loss");
    t.block(n.heal(2)).unwrap();
    assert!(!root_qdiscs(&e2).contains("netem"), "{}", root_qdiscs(&e2));
    let (failed, _, _) = request_times(&t, "etcd1", "etcd2");
    assert_eq!(failed, 0, "requests fail after the loss was healed");
    t.wait_healthy();

    // duplicate 100%: every segment etcd2 sends arrives twice; etcd1's
    // kernel counts each second copy of a data segment as old data
    // (DelayedACKLost). Healthy, the count stands still.
    let before = tcp_ext(&t, "etcd1", "DelayedACKLost");
    t.block(n.apply(&twice, Duration::ZERO)).unwrap();
    assert!(
        root_qdiscs(&e2).contains("duplicate 100%"),
        "{}",
        root_qdiscs(&e2)
    );
    let (failed, _, _) = request_times(&t, "etcd1", "etcd2");
    assert_eq!(failed, 0, "requests fail when their packets come twice");
    let during = tcp_ext(&t, "etcd1", "DelayedACKLost");
    assert!(
        during >= before + 5,
        "ten answers sent twice, etcd1 counted {} old segments",
        during - before
    );
    t.block(n.heal(3)).unwrap();
    assert!(!root_qdiscs(&e2).contains("netem"), "{}", root_qdiscs(&e2));
    // Raft's traffic came twice until the heal: count from after it.
    let healed = tcp_ext(&t, "etcd1", "DelayedACKLost");
    let (failed, _, _) = request_times(&t, "etcd1", "etcd2");
    assert_eq!(failed, 0);
    let after = tcp_ext(&t, "etcd1", "DelayedACKLost");
    assert!(
        after <= healed + 1,
        "after the heal etcd1 still counted {} old segments",
        after - healed
    );
    t.block(n.finish());

    // A netem held by `chaos run` outlives its SIGKILL; `chaos heal`
    // removes it.
    let exp = t.experiment(
        "netem.toml",
        &held_on_etcd2("fault = \"netem\"\ndelay = \"100ms\"\nduplicate = 1\n"),
    );
    let results = t.dir.path().join("results-netem");
    kill_run_when_applied(&t, &exp, &results);
    assert!(root_qdiscs(&e2).contains("netem"), "{}", root_qdiscs(&e2));
    let healed = t.chaos(&["heal", exp.to_str().unwrap()]);
    assert!(healed.status.success(), "{}", text(&healed));
    assert!(text(&healed).contains("fault 1"), "{}", text(&healed));
    assert!(!root_qdiscs(&e2).contains("netem"), "{}", root_qdiscs(&e2));
    t.wait_healthy();
    assert_clean(&t, "after netem");
}
