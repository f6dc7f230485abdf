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
        function(&self.request)
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

    /// Run until `stop` at this client's share of the rate; returns the keys
    /// this client touched. After a slow op the schedule goes on from now:
    /// no burst to catch up (`chaos run`; `chaos bench` keeps the schedule,
    /// see [`ClientTask::run_step`]).
    pub async fn run(self) -> BTreeSet<u64> {
        let interval = Duration::from_secs_f64(self.threads as f64 / self.workload.rate as f64);
        let mut state = ClientState::new(&self);
        // Spread the clients' first ops over one interval.
        let mut next = Instant::now() + interval.mul_f64(self.thread as f64 / self.threads as f64);
        loop {
            // Sleep only when the next op is due later: the timer's tick is a
            // millisecond, and a sleep until a time already past still waits
            // for the next tick.
            if next > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = self.stop.cancelled() => break,
                }
            } else if self.stop.is_cancelled() {
                break;
            }
            let request = state.next_request();
            let timed = self.invoke_timed(state.process, request, false).await;
            state.observe(request, &timed.completion, self.threads);
            // Keep the planned rate; after a slow op, do not burst to catch up.
            next += interval;
            let now = Instant::now();
            if next < now {
                next = now;
            }
        }
        state.touched
    }

    /// One step of open-loop load (`chaos bench`). The step's schedule is
    /// shared: slot `k` is due at `step.start + k / rate`, whatever happened
    /// before, and whichever client is free takes the next slot (a client
    /// issues its own op stream, as its own process, in the slots it
    /// takes). A slot taken late, because every client was busy, counts its
    /// wait: the op's latency is from when its slot was due, so a slow
    /// answer is not hidden by the ops it delayed (no coordinated
    /// omission). Sharing the schedule keeps the queue in one place, as in
    /// front of a server: with a schedule per client, one client's slow op
    /// would delay its own next ops while others idle, and the harness's
    /// partition of the load would show as the cluster's latency. No op
    /// starts at or after `step.end` (or after `stop`). Every op is recorded
    /// in the history as in a run, and in `load`. Returns the ops this
    /// client started.
    pub async fn run_step(
        &self,
        state: &mut ClientState,
        step: &Step,
        load: &mut crate::bench::LoadRecorder,
    ) -> u64 {
        let mut started = 0u64;
        loop {
            let slot = step.next.fetch_add(1, Ordering::Relaxed);
            let due = step.due(slot);
            if due >= step.end {
                break;
            }
            let now = Instant::now();
            if now >= step.end || self.stop.is_cancelled() {
                break;
            }
            if due > now {
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    _ = self.stop.cancelled() => break,
                }
            }
            let request = state.next_request();
            let timed = self.invoke_timed(state.process, request, false).await;
            load.record(crate::bench::Sample {
                f: function(&request),
                outcome: timed.outcome(),
                intended_ns: due.saturating_duration_since(self.start).as_nanos() as u64,
                started_ns: timed.invoked_ns,
                completed_ns: timed.completed_ns,
                error: timed.completion.error(),
            });
            state.observe(request, &timed.completion, self.threads);
            started += 1;
        }
        started
    }

    /// Invoke one request under the timeout and record both ends.
    pub async fn invoke(&self, process: u64, request: Request, final_read: bool) -> Completion {
        self.invoke_timed(process, request, final_read)
            .await
            .completion
    }

    /// [`ClientTask::invoke`], with when the invocation and the completion
    /// were recorded (nanoseconds since `start`).
    pub async fn invoke_timed(&self, process: u64, request: Request, final_read: bool) -> Timed {
        let timeout = self.workload.timeout;
        let invoked_ns = self.record(process, Kind::Invoke, request, None, None, final_read);
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
        let completed_ns = self.record(process, kind, request, read, error, final_read);
        Timed {
            completion,
            invoked_ns,
            completed_ns,
        }
    }

    /// Record one end of an op; returns its time.
    fn record(
        &self,
        process: u64,
        kind: Kind,
        request: Request,
        read: Option<Option<u64>>,
        error: Option<String>,
        final_read: bool,
    ) -> u64 {
        let time_ns = self.now_ns();
        // The recorder outlives the clients; a closed channel means the run
        // is being torn down, and the event has nowhere to go.
        let _ = self.events.send(Event {
            time_ns,
            process,
            kind,
            request,
            read,
            error,
            node: self.node.clone(),
            final_read,
        });
        time_ns
    }
}

/// A completion with the times of both ends, as recorded in the history.
#[derive(Debug, Clone)]
pub struct Timed {
    pub completion: Completion,
    pub invoked_ns: u64,
    pub completed_ns: u64,
}

impl Timed {
    pub fn outcome(&self) -> crate::results::Outcome {
        match self.completion {
            Completion::Ok { .. } => crate::results::Outcome::Ok,
            Completion::Fail { .. } => crate::results::Outcome::Fail,
            Completion::Info { .. } => crate::results::Outcome::Info,
        }
    }
}

/// The history function of a request.
pub fn function(request: &Request) -> Function {
    match request {
        Request::Read { .. } => Function::Read,
        Request::Write { .. } => Function::Write,
        Request::Cas { .. } => Function::Cas,
    }
}

/// One step of open-loop load: the total rate over all clients, from
/// `start` until `end`, and the next slot of its shared schedule.
#[derive(Debug, Clone)]
pub struct Step {
    pub rate: u64,
    pub start: Instant,
    pub end: Instant,
    next: Arc<AtomicU64>,
}

impl Step {
    pub fn new(rate: u64, start: Instant, end: Instant) -> Step {
        Step {
            rate,
            start,
            end,
            next: Arc::new(AtomicU64::new(0)),
        }
    }

    /// When slot `k` is due.
    pub fn due(&self, slot: u64) -> Instant {
        self.start + Duration::from_secs_f64(slot as f64 / self.rate.max(1) as f64)
    }

    /// How many slots were due before `until` (at most the step's end):
    /// with the ops started, what tells how many were never started.
    pub fn due_before(&self, until: Instant) -> u64 {
        let end = self.end.min(until);
        let span = end.saturating_duration_since(self.start).as_secs_f64();
        (span * self.rate as f64).ceil() as u64
    }
}

/// What a client carries from op to op (and, in a bench, from step to
/// step): its op stream, its process number, the values it last knew.
#[derive(Debug)]
pub struct ClientState {
    stream: OpStream,
    /// The process its next op runs as (a new one after each `info`).
    pub process: u64,
    known: HashMap<u64, u64>,
    /// The keys it touched.
    pub touched: BTreeSet<u64>,
}

impl ClientState {
    pub fn new(task: &ClientTask) -> ClientState {
        ClientState {
            stream: OpStream::new(&task.workload, task.seed, task.thread),
            process: task.thread,
            known: HashMap::new(),
            touched: BTreeSet::new(),
        }
    }

    /// The next planned op as a request (a CAS on a key whose value this
    /// client does not know yet is a read instead).
    fn next_request(&mut self) -> Request {
        let planned = self.stream.next().expect("op streams are endless");
        let key = planned.key;
        self.touched.insert(key);
        match planned.f {
            PlannedF::Read => Request::Read { key },
            PlannedF::Write(value) => Request::Write { key, value },
            // Nothing to compare with yet: read instead.
            PlannedF::Cas(new) => match self.known.get(&key) {
                Some(&expected) => Request::Cas { key, expected, new },
                None => Request::Read { key },
            },
        }
    }

    /// Learn from a completion.
    fn observe(&mut self, request: Request, completion: &Completion, threads: u64) {
        let key = request.key();
        match (completion, request) {
            (Completion::Ok { read: Some(v) }, Request::Read { .. }) => {
                self.known.insert(key, *v);
            }
            (Completion::Ok { .. }, Request::Write { value, .. }) => {
                self.known.insert(key, value);
            }
            (Completion::Ok { .. }, Request::Cas { new, .. }) => {
                self.known.insert(key, new);
            }
            (Completion::Info { .. }, _) => {
                // An indeterminate op stays open forever: this process
                // is done, a new one takes its place (as in Jepsen).
                self.process += threads;
            }
            _ => {}
        }
    }
}

/// Collects client events into the history file, numbering them in arrival
/// order, and keeps them for the checker and the statistics.
///
/// It takes the events in batches: whatever the clients sent since it last
/// looked (at most [`RECORD_BATCH`]), written as one batch and handed to
/// the OS before it waits for more. An event is therefore in the file as
/// soon as the recorder is free, as it was when each line was flushed on
/// its own, at a write per batch instead of a write per line; a crash can
/// lose the events of the batch being written, as it could lose those
/// still in the channel. (Invocations are still recorded, in the channel,
/// before their requests are sent.)
pub async fn record(
    mut events: mpsc::UnboundedReceiver<Event>,
    mut history: crate::store::LineWriter,
) -> std::io::Result<Vec<Event>> {
    let mut all: Vec<Event> = Vec::new();
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while events.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        for event in batch.drain(..) {
            history.push(&crate::history::to_line(&event.op(all.len() as u64)))?;
            all.push(event);
        }
        history.flush()?;
    }
    history.sync()?;
    Ok(all)
}

/// The most events the recorder writes in one batch.
pub const RECORD_BATCH: usize = 256;
