//! The workload: one task per client process, each replaying its planned op
//! stream at its share of the target rate, recording every invocation before
//! the request leaves and every completion after the answer arrives.
//!
//! Recording order is conservative: an invocation is recorded before its
//! request is sent and a completion after its answer is received, so two ops
//! can only look more concurrent in the history than they were, never less.
//! That can hide an anomaly but never invent one.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::AnyClient;
use crate::experiment::Workload;
use crate::history::Kind;
use crate::seed::Seed;
use crate::workload::op::Line;
use crate::workload::{Generator, Invocation, Outcome};

/// What a client task reports; the recorder numbers them in arrival order.
#[derive(Debug, Clone)]
pub struct Event {
    pub time_ns: u64,
    pub process: u64,
    pub kind: Kind,
    pub f: &'static str,
    pub key: Option<u64>,
    /// The invocation's value, or the completion's as the room writes it.
    pub value: serde_json::Value,
    pub error: Option<String>,
    pub node: String,
    /// Final reads after the faults, counted apart in the statistics.
    pub final_read: bool,
}

impl Event {
    /// The history line of this event, numbered `index`.
    pub fn line(&self, index: u64) -> String {
        Line {
            index,
            time_ns: self.time_ns,
            process: self.process,
            kind: self.kind,
            f: self.f,
            key: self.key,
            value: &self.value,
            error: self.error.as_deref(),
            node: &self.node,
            final_read: self.final_read,
        }
        .to_json()
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
            let op = state.next_op();
            let timed = self.invoke_timed(state.process, &op, false).await;
            state.observe(&op, &timed.outcome, self.threads);
            // Keep the planned rate; after a slow op, do not burst to catch up.
            next += interval;
            let now = Instant::now();
            if next < now {
                next = now;
            }
        }
        state.touched()
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
            let op = state.next_op();
            let timed = self.invoke_timed(state.process, &op, false).await;
            load.record(crate::bench::Sample {
                f: crate::bench::function(op.f),
                outcome: timed.outcome(),
                intended_ns: due.saturating_duration_since(self.start).as_nanos() as u64,
                started_ns: timed.invoked_ns,
                completed_ns: timed.completed_ns,
                error: timed.outcome.error(),
            });
            state.observe(&op, &timed.outcome, self.threads);
            started += 1;
        }
        started
    }

    /// Run one op under the timeout and record both ends.
    pub async fn invoke(&self, process: u64, op: &Invocation, final_read: bool) -> Outcome {
        self.invoke_timed(process, op, final_read).await.outcome
    }

    /// [`ClientTask::invoke`], with when the invocation and the completion
    /// were recorded (nanoseconds since `start`).
    pub async fn invoke_timed(&self, process: u64, op: &Invocation, final_read: bool) -> Timed {
        let room = self.workload.kind.room();
        let timeout = self.workload.timeout;
        let invoked_ns = self.record(
            process,
            Kind::Invoke,
            op,
            op.value.clone(),
            None,
            final_read,
        );
        let outcome =
            match tokio::time::timeout(timeout, self.client.call(room.caps().name, op)).await {
                Ok(c) => c,
                Err(_) => Outcome::timed_out(room.read_only(op), timeout),
            };
        let counter = match &outcome {
            Outcome::Ok(_) => &self.counters.ok,
            Outcome::Fail(_) => &self.counters.fail,
            Outcome::Info(_) => &self.counters.info,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let value = room.completed(op, &outcome);
        let error = outcome.error().map(str::to_string);
        let completed_ns = self.record(process, outcome.kind(), op, value, error, final_read);
        Timed {
            outcome,
            invoked_ns,
            completed_ns,
        }
    }

    /// Record one end of an op; returns its time.
    fn record(
        &self,
        process: u64,
        kind: Kind,
        op: &Invocation,
        value: serde_json::Value,
        error: Option<String>,
        final_read: bool,
    ) -> u64 {
        let time_ns = self.now_ns();
        // The node that serves it: the client's, or the one its reads go
        // to (a replica).
        let node = self
            .client
            .node_of(self.workload.kind.room().caps().name, op)
            .unwrap_or(&self.node)
            .to_string();
        // The recorder outlives the clients; a closed channel means the run
        // is being torn down, and the event has nowhere to go.
        let _ = self.events.send(Event {
            time_ns,
            process,
            kind,
            f: op.f,
            key: op.key,
            value,
            error,
            node,
            final_read,
        });
        time_ns
    }
}

/// An outcome with the times of both ends, as recorded in the history.
#[derive(Debug, Clone)]
pub struct Timed {
    pub outcome: Outcome,
    pub invoked_ns: u64,
    pub completed_ns: u64,
}

impl Timed {
    pub fn outcome(&self) -> crate::results::Outcome {
        self.outcome.sample_outcome()
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
/// step): its op stream and what it learned (the room's [`Generator`]),
/// its process number.
pub struct ClientState {
    generator: Box<dyn Generator>,
    /// The process its next op runs as (a new one after each `info`).
    pub process: u64,
}

impl std::fmt::Debug for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientState")
            .field("process", &self.process)
            .finish_non_exhaustive()
    }
}

impl ClientState {
    pub fn new(task: &ClientTask) -> ClientState {
        ClientState {
            generator: task
                .workload
                .kind
                .room()
                .generator(&task.workload, task.seed, task.thread),
            process: task.thread,
        }
    }

    /// The next op of the stream.
    fn next_op(&mut self) -> Invocation {
        self.generator.next_op()
    }

    /// Learn from an outcome.
    fn observe(&mut self, op: &Invocation, outcome: &Outcome, threads: u64) {
        self.generator.observe(op, outcome);
        if let Outcome::Info(_) = outcome {
            // An indeterminate op stays open forever: this process is
            // done, a new one takes its place (as in Jepsen).
            self.process += threads;
        }
    }

    /// The keys its ops touched.
    pub fn touched(&self) -> BTreeSet<u64> {
        self.generator.touched()
    }
}

/// Collects client events into the history file, numbering them in arrival
/// order, and returns the text it wrote, for the checker and the
/// statistics.
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
) -> std::io::Result<String> {
    let mut text = String::new();
    let mut index = 0u64;
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while events.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        for event in batch.drain(..) {
            let line = event.line(index);
            history.push(&line)?;
            text.push_str(&line);
            text.push('\n');
            index += 1;
        }
        history.flush()?;
    }
    history.sync()?;
    Ok(text)
}

/// The most events the recorder writes in one batch.
pub const RECORD_BATCH: usize = 256;
