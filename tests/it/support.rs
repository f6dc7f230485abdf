//! Driving a `chaos daemon` from a test, shared by the modules that do
//! (`daemon`: campaigns on a local etcd project; `swarm`: the shipped Swarm
//! campaign): [`DaemonBed`], a daemon's directory and API port, which plans,
//! starts and waits for a daemon and reads its token, index and logs;
//! [`Daemon`], a daemon stopped by SIGTERM when the test ends, and
//! [`sigterm`]; the runs its API lists ([`runs_listed`]); and the plain HTTP
//! client and the polling the tests talk to the daemon with.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request; (status, body). `None` if nothing answers.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// An API call with the token that must succeed: its JSON answer.
pub fn json(port: u16, method: &str, path: &str, token: &str) -> Value {
    let (code, body) = http(port, method, path, Some(token), None)
        .unwrap_or_else(|| panic!("{method} {path}: no answer"));
    assert!(code < 300, "{method} {path}: {code} {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Poll until `f` gives something, or fail after `secs`.
pub fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "waited {secs} s for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The runs `GET /api/v1/runs?{query}` lists, in run order: (run,
/// experiment, seed, run directory); and the answer itself, for messages.
pub fn runs_listed(
    port: u16,
    query: &str,
    token: &str,
) -> (Vec<(u64, String, u64, String)>, Value) {
    let runs = json(port, "GET", &format!("/api/v1/runs?{query}"), token);
    let mut listed: Vec<(u64, String, u64, String)> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run"].as_u64().unwrap(),
                r["experiment"].as_str().unwrap().to_string(),
                r["seed"].as_u64().unwrap(),
                r["run_dir"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    listed.sort();
    (listed, runs)
}

/// `kill -TERM` a process.
pub fn sigterm(child: &Child) -> std::io::Result<ExitStatus> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
}

/// The daemon under test: stopped when the test ends, even by a failed
/// assertion (SIGTERM: it heals what it applied; SIGKILL after 30 s), so
/// it never goes on running campaigns on the cluster under the next test.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        let _ = sigterm(&self.0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where a daemon under test lives: a temporary directory (its state
/// directory `state/`; the campaign puts its `results/` and `token` file
/// there, the daemon's logs go there) and a free port for its API.
pub struct DaemonBed {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl DaemonBed {
    pub fn new() -> DaemonBed {
        DaemonBed {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
        }
    }

    /// The `chaos` binary with this bed's state directory, stdin closed.
    pub fn chaos(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_chaos"));
        c.env("CHAOS_STATE_DIR", self.dir.path().join("state"))
            .stdin(Stdio::null());
        c
    }

    /// The first `n` runs of `campaign` as `chaos daemon plan` prints them:
    /// (experiment, seed).
    pub fn plan(&self, campaign: &Path, n: usize) -> Vec<(String, u64)> {
        let planned = self
            .chaos()
            .args(["daemon", "plan", "-n", &n.to_string(), "--json"])
            .arg(campaign)
            .output()
            .unwrap();
        assert!(
            planned.status.success(),
            "{}",
            String::from_utf8_lossy(&planned.stderr)
        );
        let planned: Value = serde_json::from_slice(&planned.stdout).unwrap();
        planned["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["experiment"].as_str().unwrap().to_string(),
                    r["seed"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// `chaos daemon run campaign`, its output to `log` in the bed's
    /// directory.
    pub fn spawn(&self, campaign: &Path, log: &str) -> Child {
        let log = std::fs::File::create(self.dir.path().join(log)).unwrap();
        self.chaos()
            .args(["daemon", "run"])
            .arg(campaign)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// Fail at once, with its `log`, if the daemon has exited.
    pub fn assert_running(&self, daemon: &mut Child, log: &str) {
        if let Ok(Some(status)) = daemon.try_wait() {
            panic!("the daemon exited ({status}):\n{}", self.log(log));
        }
    }

    /// Wait until the daemon's API answers `/healthz` (a minute at most).
    pub fn wait_healthy(&self, daemon: &mut Child, log: &str) {
        wait_for("the daemon's /healthz", 60, || {
            self.assert_running(daemon, log);
            http(self.port, "GET", "/healthz", None, None).filter(|(c, _)| *c == 200)
        });
    }

    /// [`spawn`](Self::spawn), then [`wait_healthy`](Self::wait_healthy).
    pub fn start(&self, campaign: &Path, log: &str) -> Child {
        let mut daemon = self.spawn(campaign, log);
        self.wait_healthy(&mut daemon, log);
        daemon
    }

    /// The API's token, from the campaign's `token` file.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("token"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// The records of `results/index.jsonl` so far.
    pub fn index(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("results/index.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The index's `ended` records so far, one per run that ended.
    pub fn ended(&self) -> Vec<Value> {
        self.index()
            .into_iter()
            .filter(|r| r["record"] == "ended")
            .collect()
    }

    /// A log in the bed's directory, so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}
