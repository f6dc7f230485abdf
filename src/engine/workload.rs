//! The workload: one task per client process, each replaying its planned op
//! stream at its share of the target rate, recording every invocation before
//! the request leaves and every completion after the answer arrives.
//!
//! Recording order is conservative: an invocation is recorded before its
//! request is sent and a completion after its answer is received, so two ops
//! can only look more concurrent in the history than they were, never less.
//! That can hide an anomaly but never invent one.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{AnyClient, Completion, Request};
use crate::experiment::Workload;
use crate::history::{Function, Key, Kind, Op, Value};
use crate::plan::{OpStream, PlannedF};
use crate::seed::Seed;

/// What a client task reports; the recorder numbers them in arrival order.
#[derive(Debug, Clone)]
pub struct Event {
    pub time_ns: u64,
    pub process: u64,
    pub kind: Kind,
    pub request: Request,
    /// For ok reads: the value read.
    pub read: Option<Option<u64>>,
    pub error: Option<String>,
    pub node: String,
    /// Final reads after the faults, counted apart in the statistics.
    pub final_read: bool,
}

impl Event {
    fn f(&self) -> Function {
        match self.request {
            Request::Read { .. } => Function::Read,
            Request::Write { .. } => Function::Write,
            Request::Cas { .. } => Function::Cas,
        }
    }

    /// The history op of this event, numbered `index`.
    pub fn op(&self, index: u64) -> Op {
        let value = match (self.request, self.kind) {
            (Request::Read { .. }, Kind::Ok) => match self.read.flatten() {
                Some(v) => Value::Int(v),
                None => Value::Null,
            },
            (Request::Read { .. }, _) => Value::Null,
            (Request::Write { value, .. }, _) => Value::Int(value),
            (Request::Cas { expected, new, .. }, _) => {
                Value::List(vec![Value::Int(expected), Value::Int(new)])
            }
        };
        Op {
            index,
            time_ns: Some(self.time_ns),
            process: self.process,
            kind: self.kind,
            f: self.f(),
            key: Key::Int(self.request.key()),
            value,
            error: self.error.clone(),
            node: Some(self.node.clone()),
            final_read: self.final_read,
            line: 0,
        }
    }
}

/// Live counters for the progress line.
#[derive(Debug, Default)]
pub struct Counters {
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
}

/// Everything a client task needs.
pub struct ClientTask {
    pub thread: u64,
    pub threads: u64,
    pub client: AnyClient,
    pub node: String,
    pub workload: Workload,
    pub seed: Seed,
    pub start: Instant,
    pub events: mpsc::UnboundedSender<Event>,
    pub counters: Arc<Counters>,
    /// Cancelled when the workload must stop.
    pub stop: CancellationToken,
}

impl ClientTask {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Run until `stop`; returns the keys this client touched.
    pub async fn run(self) -> BTreeSet<u64> {
        let interval = Duration::from_secs_f64(self.threads as f64 / self.workload.rate as f64);
        let mut stream = OpStream::new(&self.workload, self.seed, self.thread);
        let mut process = self.thread;
        let mut known: HashMap<u64, u64> = HashMap::new();
        let mut touched = BTreeSet::new();
        // Spread the clients' first ops over one interval.
        let mut next = Instant::now() + interval.mul_f64(self.thread as f64 / self.threads as f64);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.stop.cancelled() => break,
            }
            let planned = stream.next().expect("op streams are endless");
            let key = planned.key;
            let request = match planned.f {
                PlannedF::Read => Request::Read { key },
                PlannedF::Write(value) => Request::Write { key, value },
                // Nothing to compare with yet: read instead.
                PlannedF::Cas(new) => match known.get(&key) {
                    Some(&expected) => Request::Cas { key, expected, new },
                    None => Request::Read { key },
                },
            };
            touched.insert(key);
            let completion = self.invoke(process, request, false).await;
            match (&completion, request) {
                (Completion::Ok { read: Some(v) }, Request::Read { .. }) => {
                    known.insert(key, *v);
                }
                (Completion::Ok { .. }, Request::Write { value, .. }) => {
                    known.insert(key, value);
                }
                (Completion::Ok { .. }, Request::Cas { new, .. }) => {
                    known.insert(key, new);
                }
                (Completion::Info { .. }, _) => {
                    // An indeterminate op stays open forever: this process
                    // is done, a new one takes its place (as in Jepsen).
                    process += self.threads;
                }
                _ => {}
            }
            // Keep the planned rate; after a slow op, do not burst to catch up.
            next += interval;
            let now = Instant::now();
            if next < now {
                next = now;
            }
        }
        touched
    }

    /// Invoke one request under the timeout and record both ends.
    pub async fn invoke(&self, process: u64, request: Request, final_read: bool) -> Completion {
        let timeout = self.workload.timeout;
        self.record(process, Kind::Invoke, request, None, None, final_read);
        let completion = match tokio::time::timeout(timeout, self.client.invoke(&request)).await {
            Ok(c) => c,
            Err(_) => Completion::timed_out(&request, timeout),
        };
        let (kind, read, error, counter) = match &completion {
            Completion::Ok { read } => (Kind::Ok, Some(*read), None, &self.counters.ok),
            Completion::Fail { error } => {
                (Kind::Fail, None, Some(error.clone()), &self.counters.fail)
            }
            Completion::Info { error } => {
                (Kind::Info, None, Some(error.clone()), &self.counters.info)
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.record(process, kind, request, read, error, final_read);
        completion
    }

    fn record(
        &self,
        process: u64,
        kind: Kind,
        request: Request,
        read: Option<Option<u64>>,
        error: Option<String>,
        final_read: bool,
    ) {
        // The recorder outlives the clients; a closed channel means the run
        // is being torn down, and the event has nowhere to go.
        let _ = self.events.send(Event {
            time_ns: self.now_ns(),
            process,
            kind,
            request,
            read,
            error,
            node: self.node.clone(),
            final_read,
        });
    }
}

/// Collects client events into the history file, numbering them in arrival
/// order, and keeps them for the checker and the statistics.
pub async fn record(
    mut events: mpsc::UnboundedReceiver<Event>,
    mut history: crate::store::LineWriter,
) -> std::io::Result<Vec<Event>> {
    let mut all = Vec::new();
    while let Some(event) = events.recv().await {
        history.line(&crate::history::to_line(&event.op(all.len() as u64)))?;
        all.push(event);
    }
    history.sync()?;
    Ok(all)
}
