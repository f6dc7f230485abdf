//! The list-append workload: one task per client process, each running its
//! planned transaction stream ([`crate::plan::TxnStream`]) at its share of
//! the target rate, recording every invocation before the transaction is
//! sent and every completion after its answer arrives (the same
//! conservative order as the register workload, [`super::workload`]).
//!
//! A transaction's invocation carries its micro-ops with reads unknown
//! (`["r", k, null]`); an `ok` completion carries what each read saw; a
//! `fail` or `info` completion repeats the invocation's micro-ops. After an
//! `info` the process is done and a new one takes its place, as in
//! Jepsen. The history is chaos's JSONL for transactions
//! ([`crate::checker::txn::jsonl`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::workload::Counters;
use crate::checker::txn::{MicroOp, TxnFunction, TxnLine};
use crate::client::{AnyClient, TxnCompletion, TxnMop};
use crate::experiment::Workload;
use crate::history::{Key, Kind};
use crate::plan::{PlannedMop, TxnStream};
use crate::seed::Seed;

/// One end of a transaction, as a client task reports it; the recorder
/// numbers them in arrival order.
#[derive(Debug, Clone)]
pub struct TxnEvent {
    pub time_ns: u64,
    pub process: u64,
    pub kind: Kind,
    pub value: Vec<MicroOp>,
    pub error: Option<String>,
    pub node: String,
    pub final_read: bool,
}

impl TxnEvent {
    /// The history line of this event, numbered `index` (on line
    /// `index + 1` of history.jsonl).
    pub fn line(&self, index: u64) -> TxnLine {
        TxnLine {
            index,
            time_ns: Some(self.time_ns),
            process: self.process,
            kind: self.kind,
            f: TxnFunction::Txn,
            value: self.value.clone(),
            node: Some(self.node.clone()),
            error: self.error.clone(),
            final_read: self.final_read,
            line: index as usize + 1,
        }
    }
}

/// A planned micro-op as sent to the database.
pub fn to_mop(m: &PlannedMop) -> TxnMop {
    match *m {
        PlannedMop::Read { key } => TxnMop::Read { key },
        PlannedMop::Append { key, value } => TxnMop::Append { key, value },
    }
}

/// The micro-ops of a transaction as the history shows them: reads with
/// what they read (`None`: not known).
fn micro_ops(mops: &[TxnMop], reads: Option<&[Option<Vec<u64>>]>) -> Vec<MicroOp> {
    mops.iter()
        .enumerate()
        .map(|(i, m)| match *m {
            TxnMop::Append { key, value } => MicroOp::Append(Key::Int(key), value),
            TxnMop::Read { key } => MicroOp::Read(
                Key::Int(key),
                reads.and_then(|r| r.get(i).cloned().flatten()),
            ),
        })
        .collect()
}

/// Everything a transaction client task needs.
pub struct TxnTask {
    pub thread: u64,
    pub threads: u64,
    pub client: AnyClient,
    pub node: String,
    pub workload: Workload,
    pub seed: Seed,
    pub start: Instant,
    pub events: mpsc::UnboundedSender<TxnEvent>,
    pub counters: Arc<Counters>,
    /// Cancelled when the workload must stop.
    pub stop: CancellationToken,
}

impl TxnTask {
    /// Run until `stop` at this client's share of the rate; returns the
    /// keys this client touched. After a slow transaction the schedule
    /// goes on from now: no burst to catch up.
    pub async fn run(self) -> BTreeSet<u64> {
        let interval = Duration::from_secs_f64(self.threads as f64 / self.workload.rate as f64);
        let mut stream = TxnStream::new(&self.workload, self.seed, self.thread);
        let mut process = self.thread;
        let mut touched = BTreeSet::new();
        let mut next = Instant::now() + interval.mul_f64(self.thread as f64 / self.threads as f64);
        loop {
            if next > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = self.stop.cancelled() => break,
                }
            } else if self.stop.is_cancelled() {
                break;
            }
            let planned = stream.next().expect("transaction streams are endless");
            let mops: Vec<TxnMop> = planned.mops.iter().map(to_mop).collect();
            touched.extend(mops.iter().map(TxnMop::key));
            if let TxnCompletion::Info { .. } = self.invoke(process, &mops, false).await {
                // An indeterminate transaction stays open forever: this
                // process is done, a new one takes its place.
                process += self.threads;
            }
            next += interval;
            let now = Instant::now();
            if next < now {
                next = now;
            }
        }
        touched
    }

    /// Run one transaction under the timeout and record both ends.
    pub async fn invoke(&self, process: u64, mops: &[TxnMop], final_read: bool) -> TxnCompletion {
        let timeout = self.workload.timeout;
        self.record(
            process,
            Kind::Invoke,
            micro_ops(mops, None),
            None,
            final_read,
        );
        let completion = match tokio::time::timeout(timeout, self.client.txn(mops)).await {
            Ok(c) => c,
            Err(_) => TxnCompletion::timed_out(mops, timeout),
        };
        let (kind, value, error, counter) = match &completion {
            TxnCompletion::Ok { reads } => (
                Kind::Ok,
                micro_ops(mops, Some(reads)),
                None,
                &self.counters.ok,
            ),
            TxnCompletion::Fail { error } => (
                Kind::Fail,
                micro_ops(mops, None),
                Some(error.clone()),
                &self.counters.fail,
            ),
            TxnCompletion::Info { error } => (
                Kind::Info,
                micro_ops(mops, None),
                Some(error.clone()),
                &self.counters.info,
            ),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.record(process, kind, value, error, final_read);
        completion
    }

    fn record(
        &self,
        process: u64,
        kind: Kind,
        value: Vec<MicroOp>,
        error: Option<String>,
        final_read: bool,
    ) {
        let time_ns = self.start.elapsed().as_nanos() as u64;
        // A closed channel means the run is being torn down.
        let _ = self.events.send(TxnEvent {
            time_ns,
            process,
            kind,
            value,
            error,
            node: self.node.clone(),
            final_read,
        });
    }
}

/// Collects transaction events into the history file, numbering them in
/// arrival order, in batches as [`super::workload::record`] does; returns
/// the lines for the checker and the statistics.
pub async fn record(
    mut events: mpsc::UnboundedReceiver<TxnEvent>,
    mut history: crate::store::LineWriter,
) -> std::io::Result<Vec<TxnLine>> {
    let mut all: Vec<TxnLine> = Vec::new();
    let mut batch = Vec::with_capacity(super::workload::RECORD_BATCH);
    while events
        .recv_many(&mut batch, super::workload::RECORD_BATCH)
        .await
        > 0
    {
        for event in batch.drain(..) {
            let line = event.line(all.len() as u64);
            history.push(&crate::checker::txn::jsonl::to_line(&line))?;
            all.push(line);
        }
        history.flush()?;
    }
    history.sync()?;
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_ops_carry_reads_only_when_known() {
        let mops = [TxnMop::Append { key: 3, value: 7 }, TxnMop::Read { key: 3 }];
        assert_eq!(
            micro_ops(&mops, None),
            vec![
                MicroOp::Append(Key::Int(3), 7),
                MicroOp::Read(Key::Int(3), None)
            ]
        );
        let reads = [None, Some(vec![1, 7])];
        assert_eq!(
            micro_ops(&mops, Some(&reads)),
            vec![
                MicroOp::Append(Key::Int(3), 7),
                MicroOp::Read(Key::Int(3), Some(vec![1, 7]))
            ]
        );
    }

    #[test]
    fn an_event_is_a_line_of_the_txn_format() {
        let e = TxnEvent {
            time_ns: 5,
            process: 2,
            kind: Kind::Ok,
            value: vec![MicroOp::Read(Key::Int(1), Some(vec![4]))],
            error: None,
            node: "n1".into(),
            final_read: true,
        };
        let text = crate::checker::txn::jsonl::to_line(&e.line(9));
        assert!(crate::checker::txn::jsonl::is_txn_line(&text), "{text}");
        assert!(text.contains(r#""final":true"#), "{text}");
        let h = crate::checker::txn::jsonl::parse(&format!(
            "{}\n{text}\n",
            crate::checker::txn::jsonl::to_line(
                &TxnEvent {
                    kind: Kind::Invoke,
                    value: vec![MicroOp::Read(Key::Int(1), None)],
                    ..e.clone()
                }
                .line(8)
            )
        ))
        .unwrap();
        assert_eq!(h.txns.len(), 1);
    }
}
