//! The Docker group: real faults on a real 3-node etcd cluster
//! (`compose/etcd.yml`, images from `compose/images/build.sh`).
//!
//! Gated by `CHAOS_DOCKER_TESTS=1` ([`crate::docker_group`]): unset, each
//! test is ignored (and shown so); set, Docker must answer and the images
//! must exist, or the test fails. Each test brings up its own compose
//! project (`chaos-test-<name>-<pid>`, host ports chosen by the engine), and
//! a guard tears it down (`down -v`, helpers, stray containers) even when
//! the test panics. Observations go through the `docker` CLI, not through
//! the code under test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chaos::docker::{ComposeCluster, DockerError};
use chaos::experiment::{Fault, PartitionKind};
use chaos::journal::{self, Journal};
use chaos::nemesis::{self, Nemesis, NemesisError};
use chaos::plan::{self, Plan, PlannedFault, PlannedTargets};
use chaos::roles::FixedRoles;

pub(crate) const NODES: [&str; 3] = ["etcd1", "etcd2", "etcd3"];
const PORTS: [(&str, &str); 3] = [
    ("CHAOS_ETCD1_PORT", "0"),
    ("CHAOS_ETCD2_PORT", "0"),
    ("CHAOS_ETCD3_PORT", "0"),
];
pub(crate) const HELPER_IMAGE: &str = "chaos/nethelper:local";

fn compose_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/etcd.yml")
}

pub(crate) fn sh(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"))
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The compose CLI, as chaos picks it: `docker compose` if it works.
fn compose_cli() -> Vec<String> {
    if sh("docker", &["compose", "version"]).status.success() {
        vec!["docker".into(), "compose".into()]
    } else {
        vec!["docker-compose".into()]
    }
}

/// A compose project of the etcd cluster, up for one test, down when
/// dropped (also on panic).
pub(crate) struct TestCluster {
    pub(crate) project: String,
    pub(crate) dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    cluster: ComposeCluster,
}

impl TestCluster {
    pub(crate) fn up(name: &str) -> TestCluster {
        let project = format!("chaos-test-{name}-{}", std::process::id());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cluster = rt
            .block_on(ComposeCluster::connect(&project, &compose_file()))
            .expect("Docker answers")
            .with_env(PORTS);
        let t = TestCluster {
            project,
            dir: tempfile::tempdir().unwrap(),
            rt,
            cluster,
        };
        assert!(
            t.rt.block_on(t.cluster.has_image(HELPER_IMAGE)).unwrap(),
            "{HELPER_IMAGE} is missing: run `bash compose/images/build.sh`"
        );
        t.rt.block_on(t.cluster.up(Duration::from_secs(120)))
            .unwrap_or_else(|e| panic!("{}: up: {e}", t.project));
        t
    }

    /// The cluster, as the code under test sees it (for `nemesis::preflight`).
    pub(crate) fn cluster(&self) -> &ComposeCluster {
        &self.cluster
    }

    pub(crate) fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub(crate) fn container(&self, service: &str) -> String {
        self.block(self.cluster.container(service)).unwrap().id
    }

    fn network(&self) -> String {
        format!("{}_cluster", self.project)
    }

    pub(crate) fn wait_healthy(&self) {
        self.block(self.cluster.wait_healthy(Duration::from_secs(90)))
            .unwrap_or_else(|e| panic!("the cluster did not recover: {e}"));
    }

    /// A nemesis over this cluster with a journal of its own in the test's
    /// directory.
    pub(crate) fn nemesis(&self, roles: Arc<FixedRoles>) -> Nemesis {
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let journal = Journal::create_in(
            &self.state_dir(),
            &self.dir.path().join(format!("run-{run}/journal.jsonl")),
            &self.project,
            Some(&compose_file()),
        )
        .unwrap();
        let components = BTreeMap::from([("etcd".to_string(), nodes())]);
        Nemesis::new(
            self.cluster.clone(),
            journal,
            roles,
            components,
            tokio::time::Instant::now(),
        )
    }

    /// An experiment file for this project (for the CLI); `nemesis` is
    /// TOML for its `[[nemesis]]` tables.
    pub(crate) fn experiment(&self, file: &str, nemesis: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        let body = format!(
            r#"name = "docker-test"
duration = "60s"

[cluster]
compose_file = "{}"
project = "{}"
components = {{ etcd = ["etcd1", "etcd2", "etcd3"] }}
up = false
down = false

[workload]
client = "etcd"
endpoints = ["etcd1", "etcd2", "etcd3"]
clients = 3
rate = 30
keys = 3
timeout = "1s"

{nemesis}
"#,
            compose_file().display(),
            self.project
        );
        std::fs::write(&path, body).unwrap();
        path
    }

    /// The chaos binary, with this test's state dir and port overrides.
    pub(crate) fn chaos_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_chaos"));
        c.args(args)
            .env("CHAOS_STATE_DIR", self.state_dir())
            .stdin(Stdio::null());
        for (k, v) in PORTS {
            c.env(k, v);
        }
        c
    }

    pub(crate) fn chaos(&self, args: &[&str]) -> Output {
        self.chaos_cmd(args)
            .output()
            .expect("the chaos binary runs")
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let label = format!("label=io.chaos.helper.project={}", self.project);
        let stray = format!("label=io.chaos.test={}", self.project);
        for filter in [label, stray] {
            let ids = sh("docker", &["ps", "-aq", "--filter", &filter]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                sh("docker", &["rm", "-f", id]);
            }
        }
        let cli = compose_cli();
        let file = compose_file();
        let mut args: Vec<&str> = cli[1..].iter().map(String::as_str).collect();
        args.extend([
            "-p",
            &self.project,
            "-f",
            file.to_str().unwrap(),
            "down",
            "-v",
        ]);
        let out = Command::new(&cli[0])
            .args(&args)
            .envs(PORTS)
            .stdin(Stdio::null())
            .output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("{}: compose down failed: {out:?}", self.project);
        }
    }
}

fn nodes() -> Vec<String> {
    NODES.map(String::from).to_vec()
}

pub(crate) fn planned(id: u64, fault: Fault, targets: PlannedTargets) -> PlannedFault {
    PlannedFault {
        id,
        nemesis: 0,
        at_ms: 0,
        heal_at_ms: 1_000,
        fault,
        targets,
    }
}

pub(crate) fn services(s: &[&str]) -> PlannedTargets {
    PlannedTargets::Services(s.iter().map(|s| s.to_string()).collect())
}

pub(crate) fn plan_of(faults: &[PlannedFault]) -> Plan {
    Plan {
        experiment: "docker-test".to_string(),
        seed: 0,
        duration_ms: 60_000,
        faults: faults.to_vec(),
        clients: Vec::new(),
    }
}

// --- observations, through the docker CLI ----------------------------------

pub(crate) fn inspect(container: &str, format: &str) -> String {
    let o = sh("docker", &["inspect", "-f", format, container]);
    assert!(o.status.success(), "inspect {container}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

pub(crate) fn status(container: &str) -> String {
    inspect(container, "{{.State.Status}}")
}

fn started_at(container: &str) -> String {
    inspect(container, "{{.State.StartedAt}}")
}

fn networks_of(container: &str) -> Vec<String> {
    inspect(
        container,
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
    )
    .split_whitespace()
    .map(String::from)
    .collect()
}

/// Can `from` open a connection to `to`'s client port (any HTTP answer)?
fn reaches(t: &TestCluster, from: &str, to: &str) -> bool {
    let url = format!("http://{to}:2379/version");
    let o = sh(
        "docker",
        &[
            "exec",
            &t.container(from),
            "curl",
            "-s",
            "-m",
            "2",
            "-o",
            "/dev/null",
            &url,
        ],
    );
    o.status.success()
}

/// Wait until `from` reaches `to` (a healed cluster settles in seconds).
fn eventually_reaches(t: &TestCluster, from: &str, to: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reaches(t, from, to) {
        assert!(Instant::now() < deadline, "{from} never reached {to} again");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The chaos-tagged iptables rules in a container's namespace, counted from
/// a throwaway helper.
pub(crate) fn chaos_rules(container: &str) -> usize {
    let o = sh(
        "docker",
        &[
            "run",
            "--rm",
            "--cap-add",
            "NET_ADMIN",
            "--network",
            &format!("container:{container}"),
            HELPER_IMAGE,
            "sh",
            "-c",
            "iptables -w -S 2>/dev/null | grep -c -- '--comment \"\\?chaos:' || true",
        ],
    );
    assert!(o.status.success(), "counting rules: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

pub(crate) fn helpers_left(t: &TestCluster) -> usize {
    let filter = format!("label=io.chaos.helper.project={}", t.project);
    let o = sh("docker", &["ps", "-aq", "--filter", &filter]);
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .count()
}

/// Every node running, unpaused, on its compose network, no chaos rule, no
/// helper container.
pub(crate) fn assert_clean(t: &TestCluster, context: &str) {
    assert_eq!(helpers_left(t), 0, "{context}: helper containers left");
    for s in NODES {
        let c = t.container(s);
        assert_eq!(status(&c), "running", "{context}: {s} not running");
        assert_eq!(
            networks_of(&c),
            vec![t.network()],
            "{context}: {s} networks"
        );
        assert_eq!(chaos_rules(&c), 0, "{context}: chaos rules left in {s}");
    }
}

// --- the tests ---------------------------------------------------------------

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_pause_kill_stop_restart_are_applied_observed_and_healed() {
    let _group = crate::docker_group("docker_pause_kill_stop_restart");
    let t = TestCluster::up("states");
    let mut n = t.nemesis(Arc::new(FixedRoles::new()));
    let e2 = t.container("etcd2");
    let e3 = t.container("etcd3");

    // pause: the container is paused and answers nothing; unpause heals it.
    let f = planned(1, Fault::Pause, services(&["etcd2"]));
    let a = t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert_eq!(a.targets[0].service, "etcd2");
    assert_eq!(status(&e2), "paused");
    assert!(!reaches(&t, "etcd1", "etcd2"), "a paused node answered");
    assert!(reaches(&t, "etcd1", "etcd3"));
    t.block(n.heal(1)).unwrap();
    assert_eq!(status(&e2), "running");
    eventually_reaches(&t, "etcd1", "etcd2");
    t.wait_healthy();

    // kill: SIGKILL, the container exits; start heals it.
    let f = planned(2, Fault::Kill, services(&["etcd3"]));
    t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert_eq!(status(&e3), "exited");
    assert_eq!(inspect(&e3, "{{.State.ExitCode}}"), "137");
    t.block(n.heal(2)).unwrap();
    assert_eq!(status(&e3), "running");
    t.wait_healthy();

    // stop: SIGTERM, a clean exit within the grace period; start heals it.
    let f = planned(
        3,
        Fault::Stop {
            grace: Duration::from_secs(5),
        },
        services(&["etcd3"]),
    );
    t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert_eq!(status(&e3), "exited");
    assert_eq!(
        inspect(&e3, "{{.State.ExitCode}}"),
        "0",
        "etcd stops on SIGTERM"
    );
    t.block(n.heal(3)).unwrap();
    assert_eq!(status(&e3), "running");
    t.wait_healthy();

    // restart (rolling): both targets restart, one after the other, and are
    // running and healthy when apply returns.
    let before: Vec<String> = ["etcd1", "etcd2"]
        .iter()
        .map(|s| started_at(&t.container(s)))
        .collect();
    let f = planned(
        4,
        Fault::Restart {
            grace: Duration::from_secs(5),
        },
        services(&["etcd1", "etcd2"]),
    );
    t.block(n.apply(&f, Duration::ZERO)).unwrap();
    let after: Vec<String> = ["etcd1", "etcd2"]
        .iter()
        .map(|s| started_at(&t.container(s)))
        .collect();
    assert!(
        before[0] != after[0] && before[1] != after[1],
        "{before:?} {after:?}"
    );
    assert!(
        after[0][..19] <= after[1][..19],
        "etcd1 restarted before etcd2: {after:?}"
    );
    t.block(n.heal(4)).unwrap();
    t.wait_healthy();

    // A role target resolves when the fault strikes, and the journal says to
    // what.
    let roles = Arc::new(FixedRoles::new());
    roles.set("leader", "etcd", "etcd3");
    drop(n);
    let mut n = t.nemesis(roles.clone());
    let f = planned(
        5,
        Fault::Pause,
        PlannedTargets::Role {
            role: "leader".into(),
            component: "etcd".into(),
        },
    );
    let a = t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert_eq!(a.role.as_deref(), Some("etcd3"));
    assert_eq!(status(&e3), "paused");
    let journal_path = n.journal_path().unwrap();
    let report = t.block(n.finish());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(status(&e3), "running");
    let records = journal::read(&journal_path).unwrap();
    assert!(journal::unhealed(&records).is_empty());
    let role = records.iter().find_map(|r| match r {
        journal::Record::Intent(i) if i.fault == 5 => i.role.clone(),
        _ => None,
    });
    assert_eq!(role.unwrap().service, "etcd3");
    t.wait_healthy();

    // A nemesis dropped with a fault still applied (a panic unwinding
    // through the runner) heals it from its journal.
    let e1 = t.container("etcd1");
    let mut n = t.nemesis(Arc::new(FixedRoles::new()));
    let f = planned(6, Fault::Pause, services(&["etcd1"]));
    t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert_eq!(status(&e1), "paused");
    let journal_path = n.journal_path().unwrap();
    drop(n);
    assert_eq!(status(&e1), "running");
    let records = journal::read(&journal_path).unwrap();
    assert!(journal::unhealed(&records).is_empty(), "{records:?}");
    // Every nemesis of this test closed its journal healed: none is left
    // for `chaos heal` to find.
    let active = journal::active_runs_in(&t.state_dir(), &t.project).unwrap();
    assert!(active.is_empty(), "{active:?}");
    t.wait_healthy();
    assert_clean(&t, "after the state faults");
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_disconnect_is_applied_observed_and_healed() {
    let _group = crate::docker_group("docker_disconnect");
    let t = TestCluster::up("disconnect");
    let mut n = t.nemesis(Arc::new(FixedRoles::new()));
    let e1 = t.container("etcd1");
    assert_eq!(networks_of(&e1), vec![t.network()]);

    // By compose name (`cluster`, the project prefix added).
    let f = planned(
        1,
        Fault::Disconnect {
            network: Some("cluster".into()),
        },
        services(&["etcd1"]),
    );
    t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert!(networks_of(&e1).is_empty(), "{:?}", networks_of(&e1));
    assert!(!reaches(&t, "etcd2", "etcd1"));
    assert!(reaches(&t, "etcd2", "etcd3"));
    t.block(n.heal(1)).unwrap();
    assert_eq!(networks_of(&e1), vec![t.network()]);
    // Reconnected with its aliases: the service name resolves again.
    eventually_reaches(&t, "etcd2", "etcd1");
    t.wait_healthy();

    // Every network when none is named; healed by finish.
    let f = planned(2, Fault::Disconnect { network: None }, services(&["etcd3"]));
    t.block(n.apply(&f, Duration::ZERO)).unwrap();
    assert!(networks_of(&t.container("etcd3")).is_empty());
    let report = t.block(n.finish());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    eventually_reaches(&t, "etcd1", "etcd3");
    t.wait_healthy();
    assert_clean(&t, "after disconnects");
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_partitions_cut_exactly_the_pairs_they_name_and_heal_exactly() {
    let _group = crate::docker_group("docker_partitions");
    let t = TestCluster::up("partition");
    let roles = Arc::new(FixedRoles::new());
    let mut n = t.nemesis(roles.clone());
    let isolate = planned(
        1,
        Fault::Partition {
            partition: PartitionKind::IsolateOne,
        },
        PlannedTargets::Partition {
            drops: plan::isolate("etcd1", &nodes(), false),
        },
    );
    t.block(n.check_targets(&plan_of(std::slice::from_ref(&isolate))))
        .unwrap();

    // Isolate etcd1, both ways: etcd1 <-> etcd2 fails, etcd2 <-> etcd3 works.
    let a = t.block(n.apply(&isolate, Duration::ZERO)).unwrap();
    assert!(a.notes.is_empty(), "{:?}", a.notes);
    assert!(!reaches(&t, "etcd2", "etcd1"));
    assert!(!reaches(&t, "etcd1", "etcd2"));
    assert!(reaches(&t, "etcd2", "etcd3"));
    assert_eq!(chaos_rules(&t.container("etcd1")), 2);
    assert_eq!(chaos_rules(&t.container("etcd2")), 1);
    // A rule that is not chaos's survives the heal.
    let e3 = t.container("etcd3");
    let keep = "iptables -w -A INPUT -s 192.0.2.1 -m comment --comment keep-me -j DROP";
    let o = sh(
        "docker",
        &[
            "run",
            "--rm",
            "--cap-add",
            "NET_ADMIN",
            "--network",
            &format!("container:{e3}"),
            HELPER_IMAGE,
            "sh",
            "-c",
            keep,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    t.block(n.heal(1)).unwrap();
    for s in NODES {
        assert_eq!(chaos_rules(&t.container(s)), 0, "{s}");
    }
    let listing = sh(
        "docker",
        &[
            "run",
            "--rm",
            "--cap-add",
            "NET_ADMIN",
            "--network",
            &format!("container:{e3}"),
            HELPER_IMAGE,
            "sh",
            "-c",
            "iptables -w -S INPUT; iptables -w -D INPUT -s 192.0.2.1 -m comment --comment keep-me -j DROP",
        ],
    );
    assert!(
        text(&listing).contains("keep-me"),
        "the heal deleted a rule that was not chaos's: {}",
        text(&listing)
    );
    eventually_reaches(&t, "etcd2", "etcd1");
    t.wait_healthy();

    // Bridge: etcd1 and etcd2 cannot talk, etcd3 talks to both.
    let mut drops = BTreeMap::new();
    drops.insert("etcd1".to_string(), vec!["etcd2".to_string()]);
    drops.insert("etcd2".to_string(), vec!["etcd1".to_string()]);
    let bridge = planned(
        2,
        Fault::Partition {
            partition: PartitionKind::Bridge,
        },
        PlannedTargets::Partition { drops },
    );
    t.block(n.apply(&bridge, Duration::ZERO)).unwrap();
    assert!(!reaches(&t, "etcd1", "etcd2"));
    assert!(reaches(&t, "etcd1", "etcd3"));
    assert!(reaches(&t, "etcd2", "etcd3"));
    assert!(reaches(&t, "etcd3", "etcd1"));
    t.block(n.heal(2)).unwrap();
    eventually_reaches(&t, "etcd1", "etcd2");

    // One way: only etcd1 drops what it receives; the others hold no rule.
    let one_way = planned(
        3,
        Fault::Partition {
            partition: PartitionKind::OneWay,
        },
        PlannedTargets::Partition {
            drops: plan::isolate("etcd1", &nodes(), true),
        },
    );
    t.block(n.apply(&one_way, Duration::ZERO)).unwrap();
    assert_eq!(chaos_rules(&t.container("etcd1")), 2);
    assert_eq!(chaos_rules(&t.container("etcd2")), 0);
    assert!(!reaches(&t, "etcd2", "etcd1"));
    assert!(reaches(&t, "etcd2", "etcd3"));
    t.block(n.heal(3)).unwrap();
    eventually_reaches(&t, "etcd2", "etcd1");
    t.wait_healthy();

    // Isolate the leader: a role, resolved now, cut with plan::isolate.
    roles.set("leader", "etcd", "etcd2");
    let leader = planned(
        4,
        Fault::Partition {
            partition: PartitionKind::IsolateOne,
        },
        PlannedTargets::Role {
            role: "leader".into(),
            component: "etcd".into(),
        },
    );
    let a = t.block(n.apply(&leader, Duration::ZERO)).unwrap();
    assert_eq!(a.role.as_deref(), Some("etcd2"));
    assert!(!reaches(&t, "etcd1", "etcd2"));
    assert!(reaches(&t, "etcd1", "etcd3"));
    let report = t.block(n.finish());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    eventually_reaches(&t, "etcd1", "etcd2");
    t.wait_healthy();
    assert_clean(&t, "after partitions");
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_scope_guard_refuses_containers_outside_the_project() {
    let _group = crate::docker_group("docker_scope_guard");
    let t = TestCluster::up("scope");
    // A container of another compose project, and one of no project.
    let label = format!("io.chaos.test={}", t.project);
    let mut outsiders = Vec::new();
    for project_label in ["com.docker.compose.project=someone-else", "x=y"] {
        let o = sh(
            "docker",
            &[
                "run",
                "-d",
                "--label",
                &label,
                "--label",
                project_label,
                "--label",
                "com.docker.compose.service=etcd1",
                HELPER_IMAGE,
                "sleep",
                "300",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        outsiders.push(String::from_utf8_lossy(&o.stdout).trim().to_string());
    }
    for id in &outsiders {
        let err = t.block(t.cluster.scoped(id)).unwrap_err();
        assert!(matches!(err, DockerError::OutOfScope { .. }), "{err}");
        assert!(err.to_string().contains("refused"), "{err}");
    }
    // A project container passes.
    let inside = t.block(t.cluster.scoped(&t.container("etcd1"))).unwrap();
    assert_eq!(inside.service, "etcd1");

    // Faults name services of the project only; a role must resolve inside
    // its component.
    let roles = Arc::new(FixedRoles::new());
    let mut n = t.nemesis(roles.clone());
    let err = t
        .block(n.apply(
            &planned(1, Fault::Pause, services(&["not-here"])),
            Duration::ZERO,
        ))
        .unwrap_err();
    assert!(
        matches!(err, NemesisError::Docker(DockerError::NoContainer { .. })),
        "{err}"
    );
    roles.set("leader", "etcd", "someone-elses-node");
    let role = PlannedTargets::Role {
        role: "leader".into(),
        component: "etcd".into(),
    };
    let err = t
        .block(n.apply(&planned(2, Fault::Kill, role), Duration::ZERO))
        .unwrap_err();
    assert!(
        matches!(err, NemesisError::RoleOutsideComponent { .. }),
        "{err}"
    );
    assert!(n.applied().is_empty(), "refused faults are not applied");

    // `chaos heal --project` sweeps the project and leaves the rest alone:
    // a paused outsider stays paused.
    assert!(sh("docker", &["pause", &outsiders[0]]).status.success());
    let out = t.chaos(&["heal", "--project", &t.project]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(status(&outsiders[0]), "paused");
    assert!(sh("docker", &["unpause", &outsiders[0]]).status.success());
    drop(n);
    assert_clean(&t, "after the scope checks");
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_netem_is_refused_before_the_run_where_the_kernel_lacks_it() {
    let _group = crate::docker_group("docker_netem");
    let t = TestCluster::up("netem");
    let netem = planned(
        1,
        Fault::Netem {
            delay: Duration::from_millis(50),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 1.0,
            corrupt: 0.5,
            reorder: 25.0,
        },
        services(&["etcd1"]),
    );
    let supported = sh(
        "docker",
        &[
            "run",
            "--rm",
            "--cap-add",
            "NET_ADMIN",
            "--network",
            "none",
            HELPER_IMAGE,
            "sh",
            "-c",
            "tc qdisc add dev lo root netem delay 1ms",
        ],
    )
    .status
    .success();
    let pre = t.block(nemesis::preflight(
        &t.cluster,
        &plan_of(std::slice::from_ref(&netem)),
    ));
    if supported {
        // A kernel with netem (not this machine's): apply, observe, heal.
        pre.unwrap();
        let mut n = t.nemesis(Arc::new(FixedRoles::new()));
        t.block(n.apply(&netem, Duration::ZERO)).unwrap();
        t.block(n.heal(1)).unwrap();
    } else {
        let err = pre.unwrap_err();
        assert!(
            matches!(err, NemesisError::NetemUnsupported { ref faults, .. } if faults == &[1]),
            "{err}"
        );
        assert!(err.to_string().contains("netem is not available"), "{err}");
        // The CLI refuses before applying anything: exit 4, nothing touched.
        let exp = t.experiment(
            "netem.toml",
            "[[nemesis]]\nfault = \"netem\"\ndelay = \"50ms\"\nduplicate = 1\ncorrupt = 0.5\nreorder = 25\ntargets = { services = [\"etcd1\"] }\nschedule = { start = \"1s\", interval = \"5s\", duration = \"2s\", count = 1 }\n",
        );
        let out = t.chaos(&[
            "nemesis-apply",
            exp.to_str().unwrap(),
            "--fault",
            "1",
            "--seed",
            "1",
            "--results-dir",
            t.dir.path().join("results").to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(4), "{}", text(&out));
        assert!(
            text(&out).contains("netem is not available"),
            "{}",
            text(&out)
        );
        assert!(!t.dir.path().join("results").exists(), "no run was started");
    }
    assert_clean(&t, "after netem");
}

/// Start `args` (a chaos command that applies faults), wait until its
/// journal says fault 1 is applied, SIGKILL it.
pub(crate) fn kill_when_applied(t: &TestCluster, args: &[&str], results: &Path) {
    let mut child = t
        .chaos_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chaos starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut log = Vec::new();
    loop {
        while let Ok(line) = rx.try_recv() {
            log.push(line);
        }
        if applied_in(results) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "chaos exited ({status}) before the fault was applied:\n{}",
                log.join("\n")
            );
        }
        assert!(
            Instant::now() < deadline,
            "the fault was never applied:\n{}",
            log.join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
}

/// `chaos run EXPERIMENT --seed 1 --results-dir RESULTS`, SIGKILLed once
/// fault 1 is applied ([`kill_when_applied`]).
pub(crate) fn kill_run_when_applied(t: &TestCluster, exp: &Path, results: &Path) {
    kill_when_applied(
        t,
        &[
            "run",
            exp.to_str().unwrap(),
            "--seed",
            "1",
            "--results-dir",
            results.to_str().unwrap(),
        ],
        results,
    );
}

/// One `[[nemesis]]` table of `fields` (`fault = ...` and its parameters)
/// on etcd2, striking at 0.5 s and held for a minute: for the tests that
/// SIGKILL chaos while a fault holds.
pub(crate) fn held_on_etcd2(fields: &str) -> String {
    format!(
        "[[nemesis]]\n{fields}targets = {{ services = [\"etcd2\"] }}\nschedule = {{ start = \"500ms\", interval = \"5s\", duration = \"60s\", count = 1 }}\n"
    )
}

/// Does a journal under `results` hold an `applied` record for fault 1?
fn applied_in(results: &Path) -> bool {
    let Ok(exps) = std::fs::read_dir(results) else {
        return false;
    };
    for exp in exps.flatten() {
        for run in std::fs::read_dir(exp.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let j = run.path().join("journal.jsonl");
            if let Ok(text) = std::fs::read_to_string(&j)
                && text
                    .lines()
                    .any(|l| l.contains("\"record\":\"applied\"") && l.contains("\"fault\":1,"))
            {
                return true;
            }
        }
    }
    false
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_sigkill_of_chaos_run_then_chaos_heal_leaves_nothing_behind_10_times() {
    let _group = crate::docker_group("docker_sigkill_then_heal");
    let t = TestCluster::up("crash");
    let pause_exp = t.experiment(
        "pause.toml",
        "[[nemesis]]\nfault = \"pause\"\ntargets = { services = [\"etcd2\"] }\nschedule = { start = \"500ms\", interval = \"5s\", duration = \"30s\", count = 1 }\n",
    );
    let partition_exp = t.experiment(
        "partition.toml",
        "[[nemesis]]\nfault = \"partition\"\npartition = \"isolate-one\"\ntargets = { one_of = [\"etcd1\"] }\nschedule = { start = \"500ms\", interval = \"5s\", duration = \"30s\", count = 1 }\n",
    );

    for round in 1..=10 {
        for (what, exp) in [("pause", &pause_exp), ("partition", &partition_exp)] {
            let context = format!("round {round}, {what}");
            let results = t.dir.path().join(format!("results-{round}-{what}"));
            kill_run_when_applied(&t, exp, &results);
            // The fault outlived chaos.
            match what {
                "pause" => assert_eq!(status(&t.container("etcd2")), "paused", "{context}"),
                _ => assert!(chaos_rules(&t.container("etcd1")) > 0, "{context}"),
            }
            let out = t.chaos(&["heal", exp.to_str().unwrap()]);
            assert!(out.status.success(), "{context}: {}", text(&out));
            let said = text(&out);
            assert!(said.contains("fault 1"), "{context}: {said}");
            assert_clean(&t, &context);
            // Healing twice is harmless and finds nothing to do.
            let again = t.chaos(&["heal", exp.to_str().unwrap()]);
            assert!(again.status.success(), "{context}: {}", text(&again));
            assert!(
                text(&again).contains("sweep: nothing left to undo"),
                "{context}: {}",
                text(&again)
            );
            t.wait_healthy();
        }
    }
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_nemesis_apply_status_and_heal_through_the_cli() {
    let _group = crate::docker_group("docker_cli_nemesis_apply");
    let t = TestCluster::up("cli");
    let exp = t.experiment(
        "hold.toml",
        "[[nemesis]]\nfault = \"partition\"\npartition = \"isolate-one\"\ntargets = { one_of = [\"etcd3\"] }\nschedule = { start = \"1s\", interval = \"5s\", duration = \"30s\", count = 1 }\n",
    );
    let exp_s = exp.to_str().unwrap();
    let results = t.dir.path().join("results");
    kill_when_applied(
        &t,
        &[
            "nemesis-apply",
            exp_s,
            "--fault",
            "1",
            "--seed",
            "1",
            "--hold",
            "--results-dir",
            results.to_str().unwrap(),
        ],
        &results,
    );
    let status_out = t.chaos(&["status", exp_s]);
    assert!(status_out.status.success(), "{}", text(&status_out));
    let said = text(&status_out);
    for s in NODES {
        assert!(said.contains(s), "{said}");
    }
    assert!(said.contains("fault 1 partition isolate-one"), "{said}");
    assert!(!reaches(&t, "etcd1", "etcd3"));
    let healed = t.chaos(&["heal", exp_s]);
    assert!(healed.status.success(), "{}", text(&healed));
    assert!(text(&healed).contains("deleted"), "{}", text(&healed));
    let status_out = t.chaos(&["status", exp_s]);
    assert!(
        text(&status_out).contains("faults applied: none"),
        "{}",
        text(&status_out)
    );
    assert_clean(&t, "after nemesis-apply and heal");

    // Without --hold the fault is held for its planned time, then healed by
    // the same process, which says so.
    let short = t.experiment(
        "short.toml",
        "[[nemesis]]\nfault = \"pause\"\ntargets = { services = [\"etcd1\"] }\nschedule = { start = \"1s\", interval = \"5s\", duration = \"1s\", count = 1 }\n",
    );
    let out = t.chaos(&[
        "nemesis-apply",
        short.to_str().unwrap(),
        "--fault",
        "1",
        "--seed",
        "1",
        "--results-dir",
        results.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("applied fault 1 (pause) to etcd1"), "{said}");
    assert!(said.contains("healed fault 1: unpaused etcd1"), "{said}");
    let status_out = t.chaos(&["status", exp_s]);
    assert!(
        text(&status_out).contains("faults applied: none"),
        "{}",
        text(&status_out)
    );
    assert_clean(&t, "after a held and healed pause");
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_up_status_down_through_the_cli() {
    let _group = crate::docker_group("docker_cli_up_down");
    // A project the CLI brings up itself; the guard downs it if we fail.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let project = format!("chaos-test-updown-{}", std::process::id());
    let cluster = rt
        .block_on(ComposeCluster::connect_project(&project))
        .expect("Docker answers");
    let t = TestCluster {
        project,
        dir: tempfile::tempdir().unwrap(),
        rt,
        cluster,
    };
    let exp = t.experiment("updown.toml", "");
    let exp_s = exp.to_str().unwrap();
    let up = t.chaos(&["up", exp_s, "--timeout", "120s"]);
    assert!(up.status.success(), "{}", text(&up));
    let said = text(&up);
    assert!(said.contains("is up"), "{said}");
    assert_eq!(said.matches("healthy").count(), 3, "{said}");
    let st = t.chaos(&["status", exp_s]);
    assert!(st.status.success(), "{}", text(&st));
    assert!(text(&st).contains("127.0.0.1:"), "{}", text(&st));
    let down = t.chaos(&["down", exp_s]);
    assert!(down.status.success(), "{}", text(&down));
    let st = t.chaos(&["status", exp_s]);
    assert!(text(&st).contains("no containers"), "{}", text(&st));
}

// --- disk faults (chaos-fs) ---------------------------------------------------

/// `compose/chaos-fs/check.sh` in a container of the etcd image: power loss
/// keeps exactly the synced bytes (and a torn freeze a prefix of the last
/// unsynced write), EIO and ENOSPC are seen from inside and gone after
/// `clear`, an fsync is delayed, a clean stop flushes, strict mode keeps
/// only what a directory fsync made durable. The script fails on any of
/// them (exit 1, a FAIL line).
#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_chaos_fs_keeps_exactly_what_was_synced_and_injects_errors() {
    let _group = crate::docker_group("docker_chaos_fs_check");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/chaos-fs/check.sh");
    let out = sh("bash", &[script.to_str().unwrap()]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("[check] FAIL"), "{said}");
    for pass in [
        "PASS power loss kept exactly the fsynced bytes",
        "Input/output error",
        "No space left on device",
    ] {
        assert!(said.contains(pass), "no `{pass}` in:\n{said}");
    }
}

/// The experiment of this project with `up = true` (disk faults need chaos
/// to bring the services up with its compose override).
fn disk_experiment(t: &TestCluster, file: &str, nemesis: &str) -> PathBuf {
    let path = t.experiment(file, nemesis);
    let body = std::fs::read_to_string(&path)
        .unwrap()
        .replace("up = false", "up = true");
    std::fs::write(&path, body).unwrap();
    path
}

/// chaos-fs's status in a service's container (`chaos-fs ctl status`).
fn chaos_fs_status(t: &TestCluster, service: &str) -> serde_json::Value {
    let out = sh(
        "docker",
        &["exec", &t.container(service), "chaos-fs", "ctl", "status"],
    );
    assert!(out.status.success(), "{service}: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

/// SIGKILL of `chaos run` while each disk fault is applied, then `chaos
/// heal`: no fault mode left, no freeze, every member running on its data
/// and healthy. Each fault's effect is seen in chaos-fs first.
#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_sigkill_during_each_disk_fault_then_chaos_heal_leaves_nothing() {
    let _group = crate::docker_group("docker_sigkill_disk_faults");
    let t = TestCluster::up("disk");
    let faults = [
        ("disk-full", "fault = \"disk-full\"\n"),
        (
            "io-error",
            "fault = \"io-error\"\nshare = 50\nops = [\"write\", \"fsync\"]\n",
        ),
        (
            "io-delay",
            "fault = \"io-delay\"\ndelay = \"100ms\"\nops = [\"fsync\"]\n",
        ),
        ("power-loss", "fault = \"power-loss\"\n"),
    ];
    for (kind, fields) in faults {
        let exp = disk_experiment(&t, &format!("{kind}.toml"), &held_on_etcd2(fields));
        let results = t.dir.path().join(format!("results-{kind}"));
        kill_run_when_applied(&t, &exp, &results);
        // The run laid its override: etcd2 runs on chaos-fs.
        let run = std::fs::read_dir(results.join("docker-test"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let overlay = std::fs::read_to_string(run.join("compose.override.yml")).unwrap();
        assert!(
            overlay.contains("etcd2:") && overlay.contains("CHAOS_FS"),
            "{overlay}"
        );
        // The fault outlived chaos (or etcd gave up under it: it exits on
        // a failed write, and chaos-fs with it).
        // etcd may give up between the look at its state and the question
        // to chaos-fs: a failed `docker exec` on a container that is no
        // longer running is that case, not a fault gone.
        match kind {
            "power-loss" => assert_ne!(status(&t.container("etcd2")), "running", "{kind}"),
            _ if status(&t.container("etcd2")) != "running" => {}
            _ => {
                let out = sh(
                    "docker",
                    &["exec", &t.container("etcd2"), "chaos-fs", "ctl", "status"],
                );
                if out.status.success() {
                    let s: serde_json::Value = serde_json::from_slice(&out.stdout)
                        .unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
                    let key = kind.replace('-', "_");
                    assert!(!s["faults"][&key].is_null(), "{kind}: {s}");
                } else {
                    assert_ne!(
                        status(&t.container("etcd2")),
                        "running",
                        "{kind}: chaos-fs did not answer in a running etcd2: {}",
                        text(&out)
                    );
                }
            }
        }
        let out = t.chaos(&["heal", exp.to_str().unwrap()]);
        assert!(out.status.success(), "{kind}: {}", text(&out));
        assert!(text(&out).contains("fault 1"), "{kind}: {}", text(&out));
        t.wait_healthy();
        for s in NODES {
            assert_eq!(status(&t.container(s)), "running", "{kind}: {s}");
        }
        let s = chaos_fs_status(&t, "etcd2");
        assert_eq!(s["frozen"], false, "{kind}: {s}");
        for f in ["disk_full", "io_error", "io_delay"] {
            assert!(s["faults"][f].is_null(), "{kind}: {f} left: {s}");
        }
    }
}

/// `chaos run` of the power-loss experiment and its no-fsync control,
/// short: etcd with fsync keeps every acknowledged write through three
/// members losing power at once; without fsync it loses some (or does not
/// come back), and the checker says so.
#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn docker_power_loss_of_every_etcd_member_and_the_no_fsync_control() {
    let _group = crate::docker_group("docker_power_loss_runs");
    let results = tempfile::tempdir().unwrap();
    let duration = "25s";
    let experiment = "experiments/etcd-power-loss.toml";
    let r = crate::run::run(experiment, 1, duration, results.path());
    crate::run::assert_valid_run(&r, experiment, 1, duration, 300);
    let faults = r.results["faults"].as_array().unwrap();
    assert!(
        faults
            .iter()
            .any(|f| f["kind"] == "power-loss" && !f["applied_at_ms"].is_null()),
        "{faults:?}"
    );
    assert!(r.dir.join("compose.override.yml").is_file());
    let control = "experiments/etcd-power-loss-nofsync.toml";
    let r = crate::run::run(control, 1, duration, results.path());
    assert_eq!(r.code, Some(1), "{control}: expected flagged\n{}", r.stdout);
    crate::run::check_common(&r, control, 1, duration);
}
