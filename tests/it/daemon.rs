//! `chaos daemon` end to end (Docker group): a campaign of two short etcd
//! experiments on a project of its own, driven through the HTTP API and the
//! CLI, with a pause during a partition, a resume, a SIGKILL during a fault
//! and a restart, and a campaign that stops on its first anomaly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{DaemonBed, http, json, runs_listed, wait_for};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A raw request (`extra` headers, a form `body`): the status, the
/// response's headers and its body.
pub(crate) fn http_raw(
    port: u16,
    method: &str,
    path: &str,
    extra: &str,
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (code, head.to_string(), body.to_string())
}

pub(crate) fn write_experiment(
    dir: &Path,
    name: &str,
    project: &str,
    extra_workload: &str,
    nemesis: &str,
) {
    let body = format!(
        r#"name = "{name}"
duration = "10s"

[cluster]
compose_file = "{}"
project = "{project}"
components = {{ etcd = ["etcd1", "etcd2", "etcd3"] }}
recovery = "2s"
env = {{ CHAOS_ETCD1_PORT = "0", CHAOS_ETCD2_PORT = "0", CHAOS_ETCD3_PORT = "0" }}

[workload]
client = "etcd"
endpoints = ["etcd1", "etcd2", "etcd3"]
clients = 6
rate = 150
keys = 4
timeout = "1s"
{extra_workload}

{nemesis}
"#,
        repo().join("compose/etcd.yml").display()
    );
    std::fs::write(dir.join(format!("{name}.toml")), body).unwrap();
}

/// A daemon's bed (see [`DaemonBed`], which it derefs to) and the compose
/// project its experiments run on, taken down when the test ends.
pub(crate) struct Bed {
    daemon: DaemonBed,
    pub(crate) project: String,
}

impl std::ops::Deref for Bed {
    type Target = DaemonBed;

    fn deref(&self) -> &DaemonBed {
        &self.daemon
    }
}

impl Bed {
    pub(crate) fn new(tag: &str) -> Bed {
        Bed {
            daemon: DaemonBed::new(),
            project: format!("chaos-test-daemon-{tag}-{}", std::process::id()),
        }
    }

    /// A campaign file: `body` is its top-level keys, then its
    /// `[[experiments]]`; the results directory, the API's port and the
    /// token file are this bed's.
    pub(crate) fn campaign(&self, body: &str) -> PathBuf {
        let path = self.dir.path().join("campaign.toml");
        let (head, tables) = body.split_at(body.find("[[experiments]]").unwrap());
        let text = format!(
            "{head}results_dir = \"results\"\n\n{tables}\n[api]\nlisten = \"127.0.0.1:{}\"\ntoken_file = \"token\"\n",
            self.port
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Chaos iptables rules in the project's members, and members not
    /// running (paused, stopped).
    pub(crate) fn applied(&self) -> (usize, Vec<String>) {
        let ps = Command::new("docker")
            .args(["ps", "-a", "--filter"])
            .arg(format!("label=com.docker.compose.project={}", self.project))
            .args(["--format", "{{.ID}} {{.State}}"])
            .output()
            .unwrap();
        let ps = String::from_utf8_lossy(&ps.stdout).to_string();
        let mut rules = 0;
        let mut down = Vec::new();
        for line in ps.lines() {
            let (id, state) = line.split_once(' ').unwrap();
            if state != "running" {
                down.push(format!("{id} {state}"));
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
            .arg(self.dir.path().join("campaign.toml"))
            .status();
        let compose = repo().join("compose/etcd.yml");
        let v2 = Command::new("docker")
            .args(["compose", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        let mut cmd = if v2 {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        } else {
            Command::new("docker-compose")
        };
        let _ = cmd
            .args(["-p", &self.project, "-f"])
            .arg(&compose)
            .args(["down", "-v"])
            .envs([
                ("CHAOS_ETCD1_PORT", "0"),
                ("CHAOS_ETCD2_PORT", "0"),
                ("CHAOS_ETCD3_PORT", "0"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let helpers = Command::new("docker")
            .args(["ps", "-aq", "--filter"])
            .arg(format!("label=io.chaos.helper.project={}", self.project))
            .output()
            .unwrap();
        for id in String::from_utf8_lossy(&helpers.stdout).split_whitespace() {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
    }
}

fn current_faults(status: &Value) -> Vec<String> {
    status["current"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["faults"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn a_campaign_runs_pauses_resumes_survives_a_sigkill_and_stops() {
    let _guard = crate::docker_group("a_campaign_runs_pauses_resumes_survives_a_sigkill_and_stops");
    let bed = Bed::new("a");
    let dir = bed.dir.path();
    write_experiment(
        dir,
        "d-pause",
        &bed.project,
        "",
        "[[nemesis]]\nfault = \"pause\"\ntargets = { one_of = [\"etcd1\", \"etcd2\", \"etcd3\"] }\nschedule = { start = \"2s\", interval = \"5s\", duration = \"3s\" }",
    );
    write_experiment(
        dir,
        "d-partition",
        &bed.project,
        "",
        "[[nemesis]]\nfault = \"partition\"\npartition = \"isolate-one\"\ntargets = { one_of = [\"etcd1\", \"etcd2\", \"etcd3\"] }\nschedule = { start = \"2s\", interval = \"4s\", duration = \"3s\" }",
    );
    let campaign = bed.campaign(
        "name = \"dtest\"\nseed = 11\ngap = \"1s\"\nbudget = \"20s\"\n\n[[experiments]]\nfile = \"d-pause.toml\"\n\n[[experiments]]\nfile = \"d-partition.toml\"\n",
    );
    let planned = bed.plan(&campaign, 6);

    let mut daemon = bed.start(&campaign, "daemon-1.log");
    let port = bed.port;
    let token = bed.token();

    // The token: none or a wrong one is 401; /healthz and /login need none.
    for (path, t) in [
        ("/api/v1/status", None),
        ("/api/v1/runs", Some("wrong")),
        ("/metrics", None),
        ("/", Some("x")),
    ] {
        let (code, _) = http(port, "GET", path, t, None).unwrap();
        assert_eq!(code, 401, "{path} with {t:?}");
    }
    assert_eq!(
        http(port, "POST", "/api/v1/pause", None, None).unwrap().0,
        401
    );
    assert_eq!(http(port, "GET", "/healthz", None, None).unwrap().0, 200);
    assert_eq!(http(port, "GET", "/login", None, None).unwrap().0, 200);

    // Three runs complete, with the seeds `chaos daemon plan` printed.
    wait_for("three runs", 150, || (bed.ended().len() >= 3).then_some(()));
    let (listed, runs) = runs_listed(port, "limit=100", &token);
    assert!(listed.len() >= 3, "{runs}");
    for (i, (run, experiment, seed, _)) in listed.iter().take(3).enumerate() {
        assert_eq!(*run, i as u64 + 1);
        assert_eq!((experiment.clone(), *seed), planned[i], "run {run}");
    }
    let first = json(port, "GET", "/api/v1/runs/1", &token);
    assert_eq!(first["schema_version"], 2);

    // The pages: /login sets an HttpOnly, SameSite=Strict cookie; with it
    // the index lists the runs newest first and links each report.
    let (code, _, _) = http_raw(port, "POST", "/login", "", "token=wrong");
    assert_eq!(code, 401);
    let (code, head, _) = http_raw(port, "POST", "/login", "", &format!("token={token}"));
    assert_eq!(code, 303, "{head}");
    let cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .map(|l| l["set-cookie:".len()..].trim())
        .unwrap_or_else(|| panic!("no cookie: {head}"));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!head.contains(&token), "the token never travels back");
    let session = format!("Cookie: {}\r\n", cookie.split(';').next().unwrap());
    let (code, _, index) = http_raw(port, "GET", "/", &session, "");
    assert_eq!(code, 200, "{index}");
    let listed: Vec<u64> = index
        .split("<tr data-run=\"")
        .skip(1)
        .map(|t| t.split('"').next().unwrap().parse().unwrap())
        .collect();
    assert!(listed.len() >= 3, "{index}");
    assert!(
        listed.windows(2).all(|w| w[0] > w[1]),
        "newest first: {listed:?}"
    );
    assert!(index.contains("href=\"/runs/1/report.html\""), "{index}");
    assert!(index.contains(&planned[0].0), "the experiment is named");
    let (code, _, report) = http_raw(port, "GET", "/runs/1/report.html", &session, "");
    assert_eq!(code, 200);
    assert!(
        report.contains(&format!("seed {}", planned[0].1)),
        "the run's own page"
    );
    assert_eq!(
        http(port, "GET", "/runs/1/report.html", None, None)
            .unwrap()
            .0,
        401
    );
    assert_eq!(
        http(port, "GET", "/runs/1/report.html", Some(&token), None)
            .unwrap()
            .0,
        200
    );
    assert_eq!(first["seed"].as_u64(), Some(planned[0].1));
    let metrics = http(port, "GET", "/metrics", Some(&token), None).unwrap().1;
    assert!(
        metrics.contains("chaos_runs_total{campaign=\"dtest\",status=\"completed\"}"),
        "{metrics}"
    );

    // Pause during a partition: within 2 s nothing is left applied.
    let status = wait_for("a partition in progress", 120, || {
        let s = json(port, "GET", "/api/v1/status", &token);
        current_faults(&s)
            .iter()
            .any(|f| f.contains("partition"))
            .then_some(s)
    });
    let paused_run = status["current"][0]["run"].as_u64().unwrap();
    let t0 = Instant::now();
    assert_eq!(
        http(port, "POST", "/api/v1/pause", Some(&token), None)
            .unwrap()
            .0,
        202
    );
    let (rules, down) = wait_for("the pause to heal", 2, || {
        let (rules, down) = bed.applied();
        (rules == 0 && down.is_empty()).then_some((rules, down))
    });
    assert_eq!((rules, down.len()), (0, 0));
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "healed after {:?}",
        t0.elapsed()
    );
    let s = wait_for("the paused state", 20, || {
        let s = json(port, "GET", "/api/v1/status", &token);
        (s["state"] == "paused" && s["current"].as_array().unwrap().is_empty()).then_some(s)
    });
    assert_eq!(s["why"], "paused by the API");
    let ended = wait_for("the paused run's end", 20, || {
        bed.index()
            .into_iter()
            .find(|r| r["record"] == "ended" && r["run"] == paused_run)
    });
    assert_eq!(ended["status"], "interrupted", "{ended}");
    // Paused: no run starts.
    std::thread::sleep(Duration::from_secs(3));
    let before = bed
        .index()
        .iter()
        .filter(|r| r["record"] == "started")
        .count();
    // Resume: the next run starts at once.
    let resumed = Instant::now();
    assert_eq!(
        http(port, "POST", "/api/v1/resume", Some(&token), None)
            .unwrap()
            .0,
        202
    );
    wait_for("a run right after resume", 3, || {
        (bed.index()
            .iter()
            .filter(|r| r["record"] == "started")
            .count()
            > before)
            .then_some(())
    });
    assert!(resumed.elapsed() < Duration::from_secs(3));

    // SIGKILL during a fault, then start again.
    let status = wait_for("a fault in progress", 120, || {
        let s = json(port, "GET", "/api/v1/status", &token);
        (!current_faults(&s).is_empty()).then_some(s)
    });
    let killed_run = status["current"][0]["run"].as_u64().unwrap();
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let (rules, down) = bed.applied();
    assert!(
        rules > 0 || !down.is_empty(),
        "the fault outlived the daemon"
    );
    let daemon2 = bed.start(&campaign, "daemon-2.log");
    let crashed = wait_for("the killed run recorded crashed", 60, || {
        bed.index()
            .into_iter()
            .find(|r| r["record"] == "ended" && r["run"] == killed_run)
    });
    assert_eq!(crashed["status"], "crashed", "{crashed}");
    let next = wait_for("the next run", 60, || {
        bed.index()
            .into_iter()
            .find(|r| r["record"] == "started" && r["run"].as_u64() == Some(killed_run + 1))
    });
    // Healed before the next run began: every intent of the killed run's
    // journal has a heal written before that run's start.
    let killed_dir = bed
        .index()
        .into_iter()
        .find(|r| r["record"] == "run_dir" && r["run"] == killed_run)
        .expect("the killed run's directory is in the index");
    let journal = std::fs::read_to_string(
        Path::new(killed_dir["run_dir"].as_str().unwrap()).join("journal.jsonl"),
    )
    .unwrap();
    let records: Vec<Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let intents: Vec<&Value> = records.iter().filter(|r| r["record"] == "intent").collect();
    assert!(!intents.is_empty(), "{journal}");
    for i in intents {
        let healed = records
            .iter()
            .find(|r| r["record"] == "healed" && r["fault"] == i["fault"] && r["error"].is_null())
            .unwrap_or_else(|| panic!("fault {} not healed: {journal}", i["fault"]));
        assert!(
            healed["utc"].as_str().unwrap() < next["utc"].as_str().unwrap(),
            "healed at {} but the next run started at {}",
            healed["utc"],
            next["utc"]
        );
    }

    // Two runs on one project never overlapped.
    let index = bed.index();
    let mut spans: Vec<(String, String)> = Vec::new();
    for s in index.iter().filter(|r| r["record"] == "started") {
        if let Some(e) = index
            .iter()
            .find(|r| r["record"] == "ended" && r["run"] == s["run"])
        {
            spans.push((
                s["utc"].as_str().unwrap().into(),
                e["utc"].as_str().unwrap().into(),
            ));
        }
    }
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "runs overlap: {w:?}");
    }

    // The CLI client agrees, then stops the daemon gracefully.
    let out = bed
        .chaos()
        .args(["daemon", "status", "--campaign"])
        .arg(&campaign)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("campaign dtest: running"), "{said}");
    let out = bed
        .chaos()
        .args(["daemon", "stop", "--campaign"])
        .arg(&campaign)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut daemon2 = daemon2;
    let code = wait_for("the daemon to exit", 30, || daemon2.try_wait().unwrap());
    assert_eq!(code.code(), Some(0), "{}", bed.log("daemon-2.log"));
    let (rules, down) = bed.applied();
    assert_eq!(
        (rules, down.len()),
        (0, 0),
        "left applied after stop: {down:?}"
    );
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn on_anomaly_stop_stops_after_the_first_invalid_run_and_status_says_why() {
    let _guard = crate::docker_group(
        "on_anomaly_stop_stops_after_the_first_invalid_run_and_status_says_why",
    );
    let bed = Bed::new("b");
    write_experiment(
        bed.dir.path(),
        "d-stale",
        &bed.project,
        "read_mode = \"serializable\"\nmix = { read = 60, write = 30, cas = 10 }",
        "[[nemesis]]\nfault = \"partition\"\npartition = \"isolate-one\"\ntargets = { one_of = [\"etcd1\", \"etcd2\", \"etcd3\"] }\nschedule = { start = \"2s\", interval = \"1s\", duration = \"6s\", count = 1 }",
    );
    let campaign = bed.campaign(
        "name = \"dstop\"\nseed = 3\non_anomaly = \"stop\"\n\n[[experiments]]\nfile = \"d-stale.toml\"\n",
    );
    let mut daemon = bed.start(&campaign, "daemon.log");
    let code = wait_for("the daemon to stop on the anomaly", 150, || {
        daemon.try_wait().unwrap()
    });
    assert_eq!(
        code.code(),
        Some(1),
        "exit 1: stopped on an anomaly\n{}",
        bed.log("daemon.log")
    );
    let index = bed.index();
    let ended = bed.ended();
    assert_eq!(ended.len(), 1, "one run, then stop: {index:?}");
    assert_eq!(ended[0]["verdict"], "invalid");
    assert!(ended[0]["anomalies"].as_u64().unwrap() > 0);
    let state = index.iter().rev().find(|r| r["record"] == "state").unwrap();
    assert_eq!(state["state"], "stopping");
    assert!(state["why"].as_str().unwrap().contains("anomal"), "{state}");
    // Healed, and `chaos daemon status` says why from the index.
    assert_eq!(bed.applied(), (0, Vec::new()));
    let out = bed
        .chaos()
        .args(["daemon", "status", "--campaign"])
        .arg(&campaign)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("not running"), "{said}");
    assert!(
        said.contains("stopping") && said.contains("anomal"),
        "{said}"
    );
    assert!(said.contains("invalid"), "{said}");
}
