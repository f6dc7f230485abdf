//! `chaos replay` and `chaos shrink` on a real etcd cluster (Docker group),
//! short: a valid run replays to the same plan and is refused by shrink; a
//! run with stale reads shrinks within a few runs to a schedule that is
//! runnable where it is written; a changed compose file is reported; a
//! SIGKILL during a shrink's candidate run is healed by `chaos heal`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Bed {
    dir: tempfile::TempDir,
    project: String,
}

impl Bed {
    fn chaos(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_chaos"))
            .args(args)
            .env("CHAOS_STATE_DIR", self.dir.path().join("state"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn experiment(&self, name: &str, read_mode: &str, nemesis: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                r#"name = "{name}"
duration = "12s"

[cluster]
compose_file = "compose.yml"
project = "{}"
components = {{ etcd = ["etcd1", "etcd2", "etcd3"] }}
recovery = "2s"
env = {{ CHAOS_ETCD1_PORT = "0", CHAOS_ETCD2_PORT = "0", CHAOS_ETCD3_PORT = "0" }}

[workload]
client = "etcd"
endpoints = ["etcd1", "etcd2", "etcd3"]
read_mode = "{read_mode}"
clients = 6
rate = 150
keys = 4
timeout = "1s"
mix = {{ read = 60, write = 30, cas = 10 }}

{nemesis}
"#,
                self.project
            ),
        )
        .unwrap();
        path
    }

    /// `chaos run`, returning its run directory and exit code.
    fn run(&self, file: &Path, seed: u64) -> (PathBuf, Option<i32>) {
        let results = self.dir.path().join("results");
        let out = self.chaos(&[
            "run",
            file.to_str().unwrap(),
            "--seed",
            &seed.to_string(),
            "--results-dir",
            results.to_str().unwrap(),
            "--budget",
            "20s",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let dir = text
            .lines()
            .find_map(|l| l.strip_prefix("run directory: "))
            .unwrap_or_else(|| {
                panic!(
                    "no run directory:\n{text}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        (PathBuf::from(dir), out.status.code())
    }

    /// Chaos iptables rules in the project's members, and members not
    /// running.
    fn applied(&self) -> (usize, usize) {
        let ps = Command::new("docker")
            .args(["ps", "-a", "--filter"])
            .arg(format!("label=com.docker.compose.project={}", self.project))
            .args(["--format", "{{.ID}} {{.State}}"])
            .output()
            .unwrap();
        let (mut rules, mut down) = (0, 0);
        for line in String::from_utf8_lossy(&ps.stdout).lines() {
            let (id, state) = line.split_once(' ').unwrap();
            if state != "running" {
                down += 1;
                continue;
            }
            let out = Command::new("docker")
                .args(["run", "--rm", "--cap-add", "NET_ADMIN", "--network"])
                .arg(format!("container:{id}"))
                .args(["chaos/nethelper:local", "iptables-save"])
                .output()
                .unwrap();
            rules += String::from_utf8_lossy(&out.stdout)
                .matches("chaos:")
                .count();
        }
        (rules, down)
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-f"])
            .arg(self.dir.path())
            .status();
        let file = self.dir.path().join("stale.toml");
        if file.exists() {
            let _ = self.chaos(&["heal", file.to_str().unwrap()]);
            let _ = self.chaos(&["down", file.to_str().unwrap()]);
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn without_rerun(plan: &str) -> Value {
    let mut v: Value = serde_json::from_str(plan).unwrap();
    v.as_object_mut().unwrap().remove("rerun");
    v
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn replay_reproduces_a_plan_and_shrink_finds_a_smaller_schedule() {
    let _guard =
        crate::docker_group("replay_reproduces_a_plan_and_shrink_finds_a_smaller_schedule");
    let bed = Bed {
        dir: tempfile::tempdir().unwrap(),
        project: format!("chaos-test-shrink-{}", std::process::id()),
    };
    // Its own copy of the compose file, to change it later.
    let compose = bed.dir.path().join("compose.yml");
    std::fs::copy(repo().join("compose/etcd.yml"), &compose).unwrap();
    let partition = "[[nemesis]]\nfault = \"partition\"\npartition = \"isolate-one\"\n\
                     targets = { one_of = [\"etcd1\", \"etcd2\", \"etcd3\"] }\n\
                     schedule = { start = \"1s\", interval = \"1s\", duration = \"3s\" }";
    // A valid run: replayed, its plan is the same; shrink refuses it.
    let lin = bed.experiment("lin", "linearizable", partition);
    let (valid, code) = bed.run(&lin, 5);
    assert_eq!(code, Some(0), "{}", valid.display());
    let out = bed.chaos(&["shrink", valid.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("found no anomaly"), "{}", text(&out));
    let out = bed.chaos(&["replay", valid.to_str().unwrap(), "--budget", "20s"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("1 of 1 replays valid"), "{said}");
    let replay_dir = said
        .lines()
        .find_map(|l| l.split_once(" -> ").map(|(_, d)| PathBuf::from(d.trim())))
        .expect("the replay's directory");
    let original = std::fs::read_to_string(valid.join("plan.json")).unwrap();
    let again = std::fs::read_to_string(replay_dir.join("plan.json")).unwrap();
    assert_eq!(without_rerun(&original), without_rerun(&again));
    // The kept copy of the experiment loads from anywhere.
    let moved = bed.dir.path().join("elsewhere/experiment.toml");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::copy(valid.join("experiment.toml"), &moved).unwrap();
    let out = bed.chaos(&["plan", moved.to_str().unwrap(), "--seed", "5"]);
    assert!(out.status.success(), "{}", text(&out));

    // A run with stale reads (serializable reads under partitions).
    let stale = bed.experiment("stale", "serializable", partition);
    let (invalid, code) = (1..=3)
        .map(|seed| bed.run(&stale, seed))
        .find(|(_, code)| *code == Some(1))
        .expect("serializable reads under a partition show stale reads within 3 seeds");
    assert_eq!(code, Some(1));
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(invalid.join("results.json")).unwrap())
            .unwrap();
    let faults = results["faults"].as_array().unwrap().len();
    assert!(faults >= 3, "{faults} faults");
    // The compose file changes: replay and shrink say so.
    let mut yml = std::fs::read_to_string(&compose).unwrap();
    yml.push_str("\n# changed after the run\n");
    std::fs::write(&compose, yml).unwrap();

    let t0 = Instant::now();
    let out = bed.chaos(&[
        "shrink",
        invalid.to_str().unwrap(),
        "--max-runs",
        "6",
        "--tries",
        "1",
        "--fresh",
        "1",
        "--budget",
        "20s",
    ]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("the compose file") && said.contains("changed"),
        "{said}"
    );
    let shrunk = said
        .lines()
        .find_map(|l| l.strip_prefix("shrunk.toml: "))
        .map(PathBuf::from)
        .expect("the shrunk file");
    let dir = shrunk.parent().unwrap();
    assert_eq!(
        dir.parent().unwrap(),
        invalid.parent().unwrap(),
        "beside the run"
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(summary["runs"].as_u64().unwrap() <= 6, "{summary}");
    let best = summary["best"]["faults"].as_array().unwrap().len();
    assert!(best <= faults, "{summary}");
    let lines: Vec<Value> = std::fs::read_to_string(dir.join("shrink.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l["reproduced"].is_boolean() && l["runs"].is_array(), "{l}");
    }
    // shrunk.toml loads where it is written, and plans its exact faults.
    let out = bed.chaos(&["plan", shrunk.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["faults"].as_array().unwrap().len(), best);
    assert_eq!(
        bed.applied(),
        (0, 0),
        "a candidate run left a fault applied"
    );
    eprintln!(
        "shrink of {faults} faults to {best} took {:?}",
        t0.elapsed()
    );

    // SIGKILL during a candidate run, then `chaos heal`: nothing left.
    let mut child = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args([
            "shrink",
            invalid.to_str().unwrap(),
            "--max-runs",
            "2",
            "--tries",
            "1",
            "--fresh",
            "0",
        ])
        .env("CHAOS_STATE_DIR", bed.dir.path().join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let parent = invalid.parent().unwrap().to_path_buf();
    loop {
        let applied = walk(&parent).into_iter().any(|p| {
            p.starts_with(&parent)
                && p.ends_with("journal.jsonl")
                && std::fs::metadata(&p).is_ok_and(|m| {
                    m.modified().unwrap() > std::time::SystemTime::now() - Duration::from_secs(60)
                })
                && std::fs::read_to_string(&p).is_ok_and(|t| {
                    t.contains("\"record\":\"applied\"") && !t.contains("\"record\":\"closed\"")
                })
        });
        if applied {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the shrink ended before a fault"
        );
        assert!(Instant::now() < deadline, "no fault applied in 90 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (rules, down) = bed.applied();
    assert!(rules + down > 0, "the fault outlived the shrink");
    let out = bed.chaos(&["heal", stale.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(bed.applied(), (0, 0), "left applied after chaos heal");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
