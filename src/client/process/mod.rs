//! The process client (`workload.client = "process"`): chaos starts the
//! adapter program an experiment names and speaks JSON lines with it over
//! its stdin and stdout ([`protocol`], `docs/clients.md`), so that a
//! database chaos has no Rust client for can be tested through an adapter
//! in any language.
//!
//! One adapter process serves every client of a run ([`Adapter`]); each
//! client is a [`ProcessClient`] (the shared adapter, its client number and
//! its node), and requests carry ids so that answers may come in any
//! order. This module owns the process: starting it (hello, then `init`
//! with the endpoints), routing replies to the ops that wait for them,
//! resolving ops whose adapter died by the timeout rule (a read-only op
//! `fail`, anything else `info`), restarting it, and stopping the run's
//! use of it on a line that breaks the protocol ([`Adapter::fatal`]: the
//! engine then ends the run with an error naming the line, never a
//! verdict). Timeouts are the caller's (the engine's
//! `tokio::time::timeout`): a dropped call forgets its id, and the late
//! answer is ignored. [`AdapterLeader`] answers roles by asking the
//! adapter (`leader` requests). [`conformance`] is `chaos adapter-check`'s
//! suite, as data.
//!
//! Shell: a child process and its pipes. Knows no faults, plans or
//! checker (the purity test's layer rule for clients); must not depend on
//! the engine, the nemesis or the other clients.

pub mod conformance;
pub mod protocol;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::oneshot;

use crate::roles::{ResolveFuture, RoleResolver};
use crate::workload::{Invocation, Outcome};
use protocol::{Endpoint, FromAdapter, Hello, Init, LineError, Reply, ToAdapter};

/// How long an adapter has to print its hello after it starts.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an adapter has to answer `init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a `leader` request may take.
pub const LEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// After this many restarts in one run the adapter is given up on.
pub const MAX_RESTARTS: u64 = 20;
/// Lines of the adapter's stderr kept for error messages.
const STDERR_TAIL: usize = 20;

/// How to start an adapter.
#[derive(Debug, Clone)]
pub struct AdapterConfig {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Where it runs (the experiment file's directory).
    pub dir: PathBuf,
    /// What `init` tells it.
    pub init: Init,
}

/// Why an adapter could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("adapter `{command}`: {reason}")]
pub struct AdapterError {
    pub command: String,
    pub reason: String,
}

/// Requests waiting for their reply: id to (the adapter's start it was
/// sent to, its waiter).
type Waiters = HashMap<u64, (u64, oneshot::Sender<Answer>)>;

/// A reply as the reader hands it over: the reply, and its line.
struct Answer {
    reply: Reply,
    line: u64,
    text: String,
}

/// A process that said hello: its pipes, and how many lines it wrote.
struct Hailed {
    child: Child,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
    line_no: u64,
}

/// A started adapter process.
struct Running {
    generation: u64,
    stdin: ChildStdin,
    child: Child,
    alive: Arc<AtomicBool>,
}

struct Inner {
    config: AdapterConfig,
    endpoints: Mutex<Vec<Endpoint>>,
    next_id: AtomicU64,
    /// Requests waiting for their reply: id to (generation, waiter).
    pending: Mutex<Waiters>,
    running: tokio::sync::Mutex<Option<Running>>,
    hello: Mutex<Option<Hello>>,
    fatal: Mutex<Option<String>>,
    generations: AtomicU64,
    stderr_tail: Mutex<VecDeque<String>>,
}

/// One adapter process shared by every client of a run (restarted when it
/// dies). Cloning shares it.
#[derive(Clone)]
pub struct Adapter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("command", &self.inner.config.command)
            .finish_non_exhaustive()
    }
}

impl Adapter {
    /// Start the adapter: its hello, then `init` answered `ok`.
    pub async fn start(config: AdapterConfig) -> Result<Adapter, AdapterError> {
        let adapter = Adapter::new(config);
        {
            let mut running = adapter.inner.running.lock().await;
            *running = Some(
                adapter
                    .spawn()
                    .await
                    .map_err(|reason| adapter.error(reason))?,
            );
        }
        Ok(adapter)
    }

    fn new(config: AdapterConfig) -> Adapter {
        Adapter {
            inner: Arc::new(Inner {
                endpoints: Mutex::new(config.init.endpoints.clone()),
                config,
                next_id: AtomicU64::new(1),
                pending: Mutex::new(HashMap::new()),
                running: tokio::sync::Mutex::new(None),
                hello: Mutex::new(None),
                fatal: Mutex::new(None),
                generations: AtomicU64::new(0),
                stderr_tail: Mutex::new(VecDeque::new()),
            }),
        }
    }

    fn error(&self, reason: String) -> AdapterError {
        AdapterError {
            command: self.inner.config.command.join(" "),
            reason,
        }
    }

    /// The adapter's hello (of its latest start).
    pub fn hello(&self) -> Hello {
        self.inner
            .hello
            .lock()
            .expect("hello lock")
            .clone()
            .expect("a started adapter has said hello")
    }

    /// Why chaos stopped trusting the adapter (a line that broke the
    /// protocol, an adapter that would not start again), if it did: a run
    /// with such an adapter ends in an error, not a verdict.
    pub fn fatal(&self) -> Option<String> {
        self.inner.fatal.lock().expect("fatal lock").clone()
    }

    /// How many times the adapter was started (1 without a restart).
    pub fn starts(&self) -> u64 {
        self.inner.generations.load(Ordering::Relaxed)
    }

    /// The last lines the adapter wrote to stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.inner
            .stderr_tail
            .lock()
            .expect("stderr lock")
            .iter()
            .cloned()
            .collect()
    }

    /// Give up on the adapter: every later op is not sent, and the running
    /// process is killed (its ops in flight resolved by the timeout rule).
    fn poison(&self, why: String) {
        poison(&self.inner, why);
    }

    /// Start the adapter only to read its hello, then stop it (closing its
    /// stdin, then killing it): what `chaos plan` and `chaos run` check
    /// an experiment against before anything else is done.
    pub async fn probe(config: AdapterConfig) -> Result<Hello, AdapterError> {
        let adapter = Adapter::new(config);
        let Hailed {
            mut child, stdin, ..
        } = adapter
            .spawn_hello()
            .await
            .map_err(|reason| adapter.error(reason))?;
        drop(stdin);
        if tokio::time::timeout(Duration::from_secs(2), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
        Ok(adapter.hello())
    }

    /// Start a process and read its hello.
    async fn spawn_hello(&self) -> Result<Hailed, String> {
        let config = &self.inner.config;
        let mut command = tokio::process::Command::new(&config.command[0]);
        command
            .args(&config.command[1..])
            .current_dir(&config.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            format!(
                "cannot start `{}` (in {}): {e}",
                config.command[0],
                config.dir.display()
            )
        })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "chaos::adapter", "adapter stderr: {line}");
                let Some(inner) = weak.upgrade() else { break };
                let mut tail = inner.stderr_tail.lock().expect("stderr lock");
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let mut line_no = 0u64;
        let hello = loop {
            let next = tokio::time::timeout(HELLO_TIMEOUT, lines.next_line()).await;
            let text = match next {
                Err(_) => {
                    return Err(format!(
                        "no hello within {} of its start",
                        crate::duration::format(HELLO_TIMEOUT)
                    ));
                }
                Ok(Err(e)) => return Err(format!("reading its stdout: {e}")),
                Ok(Ok(None)) => return Err(self.exited(&mut child, "before its hello").await),
                Ok(Ok(Some(t))) => t,
            };
            line_no += 1;
            match protocol::parse_line(line_no, &text) {
                Ok(None) => continue,
                Ok(Some(FromAdapter::Hello(h))) => break h,
                Ok(Some(FromAdapter::Reply(_))) => {
                    return Err(
                        LineError::new(line_no, &text, "a reply before the hello").to_string()
                    );
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        protocol::check_hello(&hello)?;
        *self.inner.hello.lock().expect("hello lock") = Some(hello);
        Ok(Hailed {
            child,
            stdin,
            lines,
            line_no,
        })
    }

    /// Start a process: hello, reader, init. The caller holds `running`.
    async fn spawn(&self) -> Result<Running, String> {
        let config = &self.inner.config;
        let generation = self.inner.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let Hailed {
            child,
            stdin,
            lines,
            line_no,
        } = self.spawn_hello().await?;
        let alive = Arc::new(AtomicBool::new(true));
        tokio::spawn(read_replies(
            Arc::downgrade(&self.inner),
            lines,
            line_no,
            generation,
            alive.clone(),
        ));
        let mut running = Running {
            generation,
            stdin,
            child,
            alive,
        };
        // init, answered like any request.
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending().insert(id, (generation, tx));
        let _forget = Forget {
            inner: Arc::downgrade(&self.inner),
            id,
        };
        let init = Init {
            endpoints: self.inner.endpoints.lock().expect("endpoints lock").clone(),
            ..config.init.clone()
        };
        let line = ToAdapter::Init { id, init: &init }.line();
        if let Err(e) = write_line(&mut running.stdin, &line).await {
            return Err(format!("writing init: {e}"));
        }
        match tokio::time::timeout(INIT_TIMEOUT, rx).await {
            Err(_) => Err(format!(
                "no answer to init within {}",
                crate::duration::format(INIT_TIMEOUT)
            )),
            Ok(Err(_)) => Err(match self.fatal() {
                Some(f) => f,
                None => {
                    self.exited(&mut running.child, "before answering init")
                        .await
                }
            }),
            Ok(Ok(a)) => match a.reply.kind {
                protocol::ReplyType::Ok => Ok(running),
                _ => Err(format!(
                    "init failed: {}",
                    a.reply.error.as_deref().unwrap_or("no reason given")
                )),
            },
        }
    }

    /// "exited with status 3 before its hello; its stderr ended: ...".
    async fn exited(&self, child: &mut Child, when: &str) -> String {
        let status = tokio::time::timeout(Duration::from_secs(2), child.wait())
            .await
            .ok()
            .and_then(Result::ok)
            .map_or("closed its stdout".to_string(), |s| format!("exited ({s})"));
        // Let the stderr reader catch up with what the process wrote last.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let tail = self.stderr_tail();
        if tail.is_empty() {
            format!("{status} {when}; it wrote nothing to stderr")
        } else {
            format!("{status} {when}; its stderr ended: {}", tail.join(" | "))
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.inner.pending.lock().expect("pending lock")
    }

    /// Send one request (`make` builds its line from its id), restarting
    /// the adapter first if it died. `Err`: it was not sent.
    async fn send(
        &self,
        make: impl FnOnce(u64) -> String,
    ) -> Result<(u64, oneshot::Receiver<Answer>, Forget), String> {
        if let Some(f) = self.fatal() {
            return Err(f);
        }
        let mut running = self.inner.running.lock().await;
        let dead = running
            .as_ref()
            .is_none_or(|r| !r.alive.load(Ordering::Acquire));
        if dead {
            if let Some(mut old) = running.take() {
                let _ = old.child.start_kill();
            }
            if self.starts() > MAX_RESTARTS {
                let why = format!(
                    "the adapter died {} times; chaos gave up on it",
                    self.starts()
                );
                self.poison(why.clone());
                return Err(why);
            }
            tracing::warn!(
                starts = self.starts(),
                "the adapter died; starting it again"
            );
            match self.spawn().await {
                Ok(r) => *running = Some(r),
                Err(e) => {
                    let why = format!("restarting the adapter: {e}");
                    self.poison(why.clone());
                    return Err(why);
                }
            }
        }
        let r = running.as_mut().expect("running");
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending().insert(id, (r.generation, tx));
        let forget = Forget {
            inner: Arc::downgrade(&self.inner),
            id,
        };
        if let Err(e) = write_line(&mut r.stdin, &make(id)).await {
            // The adapter is gone (its stdin closed): whatever it read is
            // resolved by the rule, through the dropped waiter.
            r.alive.store(false, Ordering::Release);
            tracing::debug!(error = %e, "writing to the adapter");
        }
        Ok((id, rx, forget))
    }

    /// Run one op for `client` through `node`, an op of the room
    /// `workload`. The caller bounds the time (the engine's timeout).
    pub async fn call(&self, client: u64, node: &str, workload: &str, op: &Invocation) -> Outcome {
        let read_only = crate::workload::by_name(workload).is_some_and(|r| r.read_only(op));
        let sent = self
            .send(|id| {
                ToAdapter::Invoke {
                    id,
                    client,
                    node,
                    workload,
                    op: op.f,
                    key: op.key,
                    value: &op.value,
                }
                .line()
            })
            .await;
        let (id, rx, _forget) = match sent {
            Ok(s) => s,
            Err(why) => return Outcome::Fail(format!("not sent: {why}")),
        };
        match rx.await {
            Ok(a) => match protocol::outcome(workload, op, &a.reply) {
                Ok(o) => o,
                Err(reason) => {
                    let e = LineError::new(
                        a.line,
                        &a.text,
                        format!("the reply to request {id} ({}): {reason}", op.f),
                    );
                    self.poison(e.to_string());
                    protocol::lost(read_only, &format!("a malformed reply: {e}"))
                }
            },
            Err(_) => protocol::lost(
                read_only,
                &match self.fatal() {
                    Some(f) => format!("no answer: {f}"),
                    None => "the adapter exited before answering".to_string(),
                },
            ),
        }
    }

    /// Ask which of `nodes` leads `component`; an adapter that did not
    /// declare `leader` in its hello is not asked.
    pub async fn leader(
        &self,
        component: &str,
        nodes: &[String],
        timeout: Duration,
    ) -> Result<String, String> {
        if !self.hello().leader {
            return Err("the adapter does not answer `leader` requests (its hello)".into());
        }
        let (_, rx, _forget) = self
            .send(|id| {
                ToAdapter::Leader {
                    id,
                    component,
                    nodes,
                }
                .line()
            })
            .await?;
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(format!(
                "the adapter did not answer `leader` within {}",
                crate::duration::format(timeout)
            )),
            Ok(Err(_)) => Err("the adapter exited before answering `leader`".into()),
            Ok(Ok(a)) => protocol::leader(&a.reply, nodes),
        }
    }

    /// The endpoints the adapter was last given.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.inner.endpoints.lock().expect("endpoints lock").clone()
    }

    /// Tell the adapter where the nodes are now (and every later start).
    pub async fn update_endpoints(&self, endpoints: Vec<Endpoint>) {
        let line = ToAdapter::Endpoints {
            endpoints: &endpoints,
        }
        .line();
        *self.inner.endpoints.lock().expect("endpoints lock") = endpoints;
        let mut running = self.inner.running.lock().await;
        if let Some(r) = running.as_mut()
            && let Err(e) = write_line(&mut r.stdin, &line).await
        {
            tracing::debug!(error = %e, "telling the adapter its endpoints");
        }
    }

    /// Close the adapter's stdin (its cue to exit) and wait up to `grace`
    /// for it; then kill it.
    pub async fn close(&self, grace: Duration) {
        let mut running = self.inner.running.lock().await;
        if let Some(Running {
            stdin, mut child, ..
        }) = running.take()
        {
            drop(stdin);
            if tokio::time::timeout(grace, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
}

fn poison(inner: &Inner, why: String) {
    tracing::error!("{why}");
    let mut fatal = inner.fatal.lock().expect("fatal lock");
    if fatal.is_none() {
        *fatal = Some(why);
    }
    drop(fatal);
    if let Ok(mut running) = inner.running.try_lock()
        && let Some(r) = running.as_mut()
    {
        let _ = r.child.start_kill();
    } else {
        // Someone holds the process: drop every waiter now; the process
        // is killed when the adapter is dropped or restarted (never: it
        // is poisoned).
        inner.pending.lock().expect("pending lock").clear();
    }
}

async fn write_line(stdin: &mut ChildStdin, line: &str) -> std::io::Result<()> {
    stdin.write_all(line.as_bytes()).await?;
    stdin.write_all(b"\n").await?;
    stdin.flush().await
}

/// Removes a request from the pending table when its caller is done with
/// it (answered, or given up on at its timeout): a later answer is late.
struct Forget {
    inner: Weak<Inner>,
    id: u64,
}

impl Drop for Forget {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.pending.lock().expect("pending lock").remove(&self.id);
        }
    }
}

/// Route each reply of one process to its waiter until the process's
/// stdout ends; then drop its waiters (their ops are resolved by the
/// rule). A line that breaks the protocol poisons the adapter.
async fn read_replies(
    inner: Weak<Inner>,
    mut lines: tokio::io::Lines<BufReader<ChildStdout>>,
    mut line_no: u64,
    generation: u64,
    alive: Arc<AtomicBool>,
) {
    loop {
        let text = match lines.next_line().await {
            Ok(Some(t)) => t,
            Ok(None) | Err(_) => break,
        };
        line_no += 1;
        let Some(inner) = inner.upgrade() else { return };
        let reply = match protocol::parse_line(line_no, &text) {
            Ok(None) => continue,
            Ok(Some(FromAdapter::Reply(r))) => r,
            Ok(Some(FromAdapter::Hello(_))) => {
                poison(
                    &inner,
                    LineError::new(line_no, &text, "a second hello").to_string(),
                );
                break;
            }
            Err(e) => {
                poison(&inner, e.to_string());
                break;
            }
        };
        let waiter = inner
            .pending
            .lock()
            .expect("pending lock")
            .remove(&reply.id);
        match waiter {
            Some((g, tx)) if g == generation => {
                let _ = tx.send(Answer {
                    reply,
                    line: line_no,
                    text,
                });
            }
            Some(_) => {
                poison(
                    &inner,
                    LineError::new(
                        line_no,
                        &text,
                        format!(
                            "a reply to request {}, sent to an earlier start of the adapter",
                            reply.id
                        ),
                    )
                    .to_string(),
                );
                break;
            }
            None if reply.id < inner.next_id.load(Ordering::Relaxed) => {
                // Its caller gave up on it (the op timed out): a late
                // answer, ignored.
                tracing::debug!(id = reply.id, line = line_no, "a late answer, ignored");
            }
            None => {
                poison(
                    &inner,
                    LineError::new(
                        line_no,
                        &text,
                        format!("a reply to request {}, which chaos never sent", reply.id),
                    )
                    .to_string(),
                );
                break;
            }
        }
    }
    alive.store(false, Ordering::Release);
    if let Some(inner) = inner.upgrade() {
        inner
            .pending
            .lock()
            .expect("pending lock")
            .retain(|_, (g, _)| *g != generation);
    }
}

/// One client of a run on the shared adapter: its number and its node.
#[derive(Debug, Clone)]
pub struct ProcessClient {
    pub adapter: Adapter,
    pub client: u64,
    pub node: String,
}

impl ProcessClient {
    pub async fn call(&self, workload: &str, op: &Invocation) -> Outcome {
        self.adapter
            .call(self.client, &self.node, workload, op)
            .await
    }
}

/// Roles asked of the adapter (`leader` requests) for each component's
/// nodes.
pub struct AdapterLeader {
    pub adapter: Adapter,
    pub components: BTreeMap<String, Vec<String>>,
}

impl RoleResolver for AdapterLeader {
    fn resolve<'a>(&'a self, role: &'a str, component: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            if role != "leader" {
                return Err(format!("the adapter knows no role `{role}`").into());
            }
            let nodes = self
                .components
                .get(component)
                .ok_or_else(|| format!("no component `{component}`"))?;
            self.adapter
                .leader(component, nodes, LEADER_TIMEOUT)
                .await
                .map_err(Into::into)
        })
    }
}
