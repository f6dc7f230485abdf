//! The list-append workload's room: transactions of a few micro-ops, each
//! appending a unique element to a list or reading a list; checked with
//! Elle's list-append analysis ([`crate::checker::txn`]) against the
//! consistency model of `checker.model`.
//!
//! Owns: its field `ops_per_txn`, the transaction stream ([`TxnStream`]:
//! keys rotate, elements unique per key), the micro-ops a client runs
//! ([`TxnMop`], [`TxnCompletion`]) and their translation to and from the
//! generic op shape (`f = "txn"`, the micro-ops as chaos's JSONL writes
//! them: `["append", k, v]`, `["r", k, list]`), the final reads (one
//! read-only transaction per touched key), and the page (the transaction
//! views of [`crate::html::txn`]).
//!
//! Pure.

mod stream;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub use stream::{PlannedMop, PlannedTxn, TxnStream};

use super::{
    Capabilities, CheckInput, Checked, FieldError, Generator, Invocation, Outcome, PageInput,
    StreamSummary, Workload,
};
use crate::checker::txn::{self, ConsistencyModel, MicroOp, TxnCheckOptions, TxnFormat};
use crate::experiment::Workload as WorkloadConfig;
use crate::experiment::limits;
use crate::history::{HistoryError, Key};
use crate::seed::Seed;

/// The list-append workload.
pub struct ListAppend;

static CAPS: Capabilities = Capabilities {
    name: "list-append",
    summary: "transactions of appends to and reads of lists, unique elements (Elle's list-append)",
    ops: &["txn"],
    mix: &[("read", 50), ("append", 50)],
    fields: &["ops_per_txn"],
    models: &[
        "strict-serializable",
        "serializable",
        "strong-snapshot-isolation",
        "snapshot-isolation",
        "repeatable-read",
        "read-committed",
        "read-uncommitted",
    ],
    checks: "a consistency model (Elle's list-append analysis)",
    anomalies: &[
        "G0",
        "G1a",
        "G1b",
        "G1c",
        "G-single-item",
        "G-nonadjacent-item",
        "G2-item",
        "internal",
        "duplicate-elements",
        "incompatible-order",
        "lost-update",
        "dirty-update",
        "own-append-order",
        "lost-write",
    ],
    unit: "transaction",
    bench: false,
    keys: true,
};

/// The room's fields of `[workload]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Micro-ops per transaction, drawn in `min..=max` (`ops_per_txn`,
    /// `4` or `[1, 4]`; default `[1, 4]`).
    pub ops_per_txn: (u64, u64),
}

impl Default for Params {
    fn default() -> Self {
        Params {
            ops_per_txn: (1, 4),
        }
    }
}

/// One micro-op of a list-append transaction as sent to the database:
/// read a list, or append a value to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnMop {
    Read { key: u64 },
    Append { key: u64, value: u64 },
}

impl TxnMop {
    pub fn key(&self) -> u64 {
        match *self {
            TxnMop::Read { key } | TxnMop::Append { key, .. } => key,
        }
    }
}

/// Is a transaction read-only (so that one that did not answer did not
/// happen)?
pub fn read_only(mops: &[TxnMop]) -> bool {
    mops.iter().all(|m| matches!(m, TxnMop::Read { .. }))
}

/// What became of a list-append transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnCompletion {
    /// It committed: `reads[i]` is the list the i-th micro-op read (`None`
    /// for an append).
    Ok { reads: Vec<Option<Vec<u64>>> },
    /// It definitely did not commit (a conflict, a failed guard, a
    /// read-only transaction that got no answer).
    Fail { error: String },
    /// It may or may not have committed.
    Info { error: String },
}

impl TxnCompletion {
    /// The outcome of a transaction that got no answer in time.
    pub fn timed_out(mops: &[TxnMop], timeout: std::time::Duration) -> TxnCompletion {
        let error = format!("timed out after {}", crate::duration::format(timeout));
        if read_only(mops) {
            TxnCompletion::Fail { error }
        } else {
            TxnCompletion::Info { error }
        }
    }

    /// The completion of `mops` as a generic outcome: an ok one's value is
    /// the micro-ops with what each read saw.
    pub fn outcome(self, mops: &[TxnMop]) -> Outcome {
        match self {
            TxnCompletion::Ok { reads } => Outcome::Ok(micro_ops_json(mops, Some(&reads))),
            TxnCompletion::Fail { error } => Outcome::Fail(error),
            TxnCompletion::Info { error } => Outcome::Info(error),
        }
    }
}

/// The micro-ops of a transaction as the history shows them: reads with
/// what they read (`None`: not known).
pub fn micro_ops(mops: &[TxnMop], reads: Option<&[Option<Vec<u64>>]>) -> Vec<MicroOp> {
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

fn micro_ops_json(mops: &[TxnMop], reads: Option<&[Option<Vec<u64>>]>) -> Json {
    serde_json::to_value(micro_ops(mops, reads)).expect("micro-ops serialize")
}

/// The transaction a list-append op asks for.
pub fn mops_of(op: &Invocation) -> Result<Vec<TxnMop>, String> {
    if op.f != "txn" {
        return Err(format!("`{}` is not a list-append op", op.f));
    }
    let parsed: Vec<MicroOp> = serde_json::from_value(op.value.clone())
        .map_err(|e| format!("a transaction's micro-ops: {e}"))?;
    parsed
        .into_iter()
        .map(|m| match m {
            MicroOp::Append(Key::Int(key), value) => Ok(TxnMop::Append { key, value }),
            MicroOp::Read(Key::Int(key), _) => Ok(TxnMop::Read { key }),
            other => Err(format!("micro-op {other}: keys are integers here")),
        })
        .collect()
}

/// The op of a transaction.
pub fn invocation(mops: &[TxnMop]) -> Invocation {
    Invocation::new("txn", None, micro_ops_json(mops, None))
}

/// A planned micro-op as sent to the database.
pub fn to_mop(m: &PlannedMop) -> TxnMop {
    match *m {
        PlannedMop::Read { key } => TxnMop::Read { key },
        PlannedMop::Append { key, value } => TxnMop::Append { key, value },
    }
}

struct TxnGenerator {
    stream: TxnStream,
    touched: BTreeSet<u64>,
}

impl Generator for TxnGenerator {
    fn next_op(&mut self) -> Invocation {
        let planned = self.stream.next().expect("transaction streams are endless");
        let mops: Vec<TxnMop> = planned.mops.iter().map(to_mop).collect();
        self.touched.extend(mops.iter().map(TxnMop::key));
        invocation(&mops)
    }

    fn touched(&self) -> BTreeSet<u64> {
        self.touched.clone()
    }
}

/// The appends the final reads lost ([`crate::workload::lost`]): an
/// append known (acknowledged, or seen by a read) that the final read of
/// its key, after the recovery, does not hold. An anomaly under every
/// model: without real-time order an append missing from a read is
/// allowed, one missing for good is not.
pub fn lost_writes(text: &str) -> Result<Vec<crate::results::Anomaly>, HistoryError> {
    use std::collections::BTreeMap;

    use crate::history::Kind;
    use crate::workload::lost::{Fate, Seen, fate};

    struct Read {
        start: u64,
        line: usize,
        final_read: bool,
        list: Vec<u64>,
    }
    let at = |t: Option<u64>, line: usize| t.unwrap_or(line as u64);
    let mut appends: BTreeMap<(u64, u64), (u64, usize, Option<u64>)> = BTreeMap::new();
    let mut reads: BTreeMap<u64, Vec<Read>> = BTreeMap::new();
    for op in crate::workload::op::paired(text)? {
        if op.invoke.f != "txn" {
            continue;
        }
        let Some(c) = op.complete.as_ref().filter(|c| c.kind == Kind::Ok) else {
            continue;
        };
        let mops: Vec<MicroOp> =
            serde_json::from_value(c.value.clone()).map_err(|e| HistoryError::Malformed {
                line: c.line,
                reason: format!("a transaction's micro-ops: {e}"),
            })?;
        let end = at(c.time_ns, c.line);
        for m in mops {
            match m {
                MicroOp::Append(Key::Int(k), e) => {
                    appends.insert((k, e), (end, op.invoke.line, Some(end)));
                }
                MicroOp::Read(Key::Int(k), Some(list)) => {
                    reads.entry(k).or_default().push(Read {
                        start: at(op.invoke.time_ns, op.invoke.line),
                        line: op.invoke.line,
                        final_read: op.invoke.final_read,
                        list,
                    });
                }
                _ => {}
            }
        }
    }
    let mut lost = Vec::new();
    for ((k, e), (known, line, ack)) in &appends {
        let Some(rs) = reads.get(k) else { continue };
        let mut after: Vec<&Read> = rs.iter().filter(|r| r.start > *known).collect();
        after.sort_by_key(|r| (r.final_read, r.start, r.line));
        let seen: Vec<Seen> = after
            .iter()
            .map(|r| Seen {
                present: r.list.contains(e),
                final_read: r.final_read,
            })
            .collect();
        if fate(&seen) != Fate::Lost {
            continue;
        }
        let last = after.last().expect("a lost write has a final read");
        lost.push(crate::results::Anomaly::Workload(crate::results::WorkloadAnomaly {
            kind: "lost-write".into(),
            anomaly: "lost-write".into(),
            subject: format!("key {k}, element {e}"),
            explanation: format!(
                "the append of {e} to key {k} (the transaction of line {line}) was acknowledged{}, \
                 and the final read of key {k} (line {}, after the recovery) read {} without it: \
                 a lost write, an anomaly under every model",
                ack.map(|t| format!(" at {:.3} s", t as f64 / 1e9)).unwrap_or_default(),
                last.line,
                crate::checker::txn::history::list_text(&last.list),
            ),
            allowed: false,
            details: serde_json::json!({
                "key": k,
                "element": e,
                "append_line": line,
                "final_read_line": last.line,
                "final_read": last.list,
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        }));
    }
    Ok(lost)
}

/// `checker.model` (or the default) as the checker's type.
fn model_of(name: Option<&str>) -> ConsistencyModel {
    name.and_then(|m| m.parse().ok()).unwrap_or_default()
}

impl Workload for ListAppend {
    fn caps(&self) -> &'static Capabilities {
        &CAPS
    }

    fn params(&self, fields: &toml::Table) -> Result<Json, FieldError> {
        let mut p = Params::default();
        if let Some(v) = fields.get("ops_per_txn") {
            let bounded = |field: &str, n: i64| {
                if n < 1 || n as u64 > limits::MAX_TXN_OPS {
                    Err(FieldError::new(
                        field,
                        format!("{n} is out of range; expected 1 to {}", limits::MAX_TXN_OPS),
                    ))
                } else {
                    Ok(n as u64)
                }
            };
            p.ops_per_txn = match v {
                toml::Value::Integer(n) => {
                    let n = bounded("ops_per_txn", *n)?;
                    (n, n)
                }
                toml::Value::Array(a) => match a.as_slice() {
                    [toml::Value::Integer(x), toml::Value::Integer(y)] if x <= y => (
                        bounded("ops_per_txn[0]", *x)?,
                        bounded("ops_per_txn[1]", *y)?,
                    ),
                    _ => {
                        return Err(FieldError::new(
                            "ops_per_txn",
                            "expected a count, or [min, max] with min <= max",
                        ));
                    }
                },
                _ => {
                    return Err(FieldError::new(
                        "ops_per_txn",
                        "expected a count such as 4, or a range such as [1, 4]",
                    ));
                }
            };
        }
        Ok(serde_json::to_value(p).expect("params serialize"))
    }

    fn generator(&self, w: &WorkloadConfig, seed: Seed, client: u64) -> Box<dyn Generator> {
        Box::new(TxnGenerator {
            stream: TxnStream::new(w, seed, client),
            touched: BTreeSet::new(),
        })
    }

    fn summarize(&self, w: &WorkloadConfig, seed: Seed, client: u64, ops: u64) -> StreamSummary {
        let mut s = StreamSummary::default();
        let mut seen = 0;
        for (i, txn) in TxnStream::new(w, seed, client)
            .take(ops as usize)
            .enumerate()
        {
            for m in &txn.mops {
                let (f, key) = match m {
                    PlannedMop::Read { key } => ("read", *key),
                    PlannedMop::Append { key, .. } => ("append", *key),
                };
                *s.ops.entry(f.to_string()).or_default() += 1;
                if seen == 0 {
                    s.first_key = key;
                }
                s.first_key = s.first_key.min(key);
                s.last_key = s.last_key.max(key);
                seen += 1;
            }
            if i < crate::plan::SHOWN_OPS {
                s.first.push(txn.to_string());
            }
        }
        s
    }

    fn describe(&self, w: &WorkloadConfig, model: Option<&str>) -> Option<String> {
        let p: Params = w.params();
        Some(format!(
            "list-append: {}..{} micro-ops per transaction (read {}, append {}); ops are \
             transactions; checked for {}",
            p.ops_per_txn.0,
            p.ops_per_txn.1,
            w.weight("read"),
            w.weight("append"),
            model_of(model).as_str()
        ))
    }

    fn read_only(&self, op: &Invocation) -> bool {
        mops_of(op).is_ok_and(|m| read_only(&m))
    }

    fn completed(&self, op: &Invocation, outcome: &Outcome) -> Json {
        match outcome {
            Outcome::Ok(v) if !v.is_null() => v.clone(),
            _ => op.value.clone(),
        }
    }

    fn final_reads(&self, _w: &WorkloadConfig, touched: &BTreeSet<u64>) -> Vec<Invocation> {
        touched
            .iter()
            .map(|&key| invocation(&[TxnMop::Read { key }]))
            .collect()
    }

    fn check(&self, input: &CheckInput<'_>) -> Result<Checked, HistoryError> {
        let history = txn::parse(input.history, TxnFormat::Chaos)?;
        let options = TxnCheckOptions {
            model: model_of(input.model),
            budget: input.budget,
            clock: input.clock.clone(),
            max_cases: input.max_cases,
            ..Default::default()
        };
        let report = txn::check(&history, &options);
        let mut summary = crate::results::build::txn_checker_summary(&report, 0.0);
        let lost = lost_writes(input.history)?;
        if !lost.is_empty() {
            summary.verdict = crate::results::Verdict::Invalid;
            if let Some(t) = summary.txn.as_mut()
                && !t.anomaly_types.iter().any(|a| a == "lost-write")
            {
                t.anomaly_types.push("lost-write".into());
            }
            summary
                .anomalies
                .extend(lost.into_iter().take(input.max_cases.max(1)));
        }
        Ok(Checked {
            summary,
            ops: history.txns.len(),
        })
    }

    fn page(&self, input: &PageInput<'_>) -> Result<String, HistoryError> {
        let parsed = match input.history {
            Some(text) => Some((
                txn::parse(text, TxnFormat::Chaos)?,
                crate::html::txn::LineFacts::from_jsonl(text),
            )),
            None => None,
        };
        Ok(crate::html::render_run(&crate::html::RunInput {
            results: input.results,
            history: parsed.as_ref().map(|(history, lines)| {
                crate::html::RunHistory::Txn(crate::html::txn::TxnInput { history, lines })
            }),
            plan: input.plan,
            notes: input.notes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_transaction_goes_to_the_generic_shape_and_back() {
        let mops = [TxnMop::Append { key: 9, value: 2 }, TxnMop::Read { key: 8 }];
        let op = invocation(&mops);
        assert_eq!(op.value, json!([["append", 9, 2], ["r", 8, null]]));
        assert_eq!(mops_of(&op).unwrap(), mops.to_vec());
        let done = TxnCompletion::Ok {
            reads: vec![None, Some(vec![1, 3])],
        }
        .outcome(&mops);
        assert_eq!(
            ListAppend.completed(&op, &done),
            json!([["append", 9, 2], ["r", 8, [1, 3]]])
        );
        assert!(!ListAppend.read_only(&op));
        assert!(ListAppend.read_only(&invocation(&[TxnMop::Read { key: 1 }])));
        let failed = Outcome::Info("x".into());
        assert_eq!(ListAppend.completed(&op, &failed), op.value);
    }

    #[test]
    fn an_acknowledged_append_missing_from_the_final_read_is_a_lost_write() {
        let line = |t: u64, p: u64, kind: &str, v: Json, fin: bool| {
            json!({"time_ns": t, "process": p, "type": kind, "f": "txn", "value": v, "final": fin})
                .to_string()
                + "\n"
        };
        let append = json!([["append", 1, 7]]);
        let read = |l: Json| json!([["r", 1, l]]);
        let history = |last: Json, fin: bool| {
            [
                line(0, 0, "invoke", append.clone(), false),
                line(10, 0, "ok", append.clone(), false),
                line(20, 1, "invoke", read(Json::Null), false),
                line(30, 1, "ok", read(json!([7])), false),
                line(40, 2, "invoke", read(Json::Null), fin),
                line(50, 2, "ok", read(last), fin),
            ]
            .concat()
        };
        let lost = lost_writes(&history(json!([]), true)).unwrap();
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].class(), "lost-write");
        assert!(
            lost[0]
                .explanation()
                .contains("final read of key 1 (line 5"),
            "{}",
            lost[0].explanation()
        );
        // Seen by the final read: nothing lost; missed only by a read that
        // is not final: not lost either.
        assert!(lost_writes(&history(json!([7]), true)).unwrap().is_empty());
        assert!(lost_writes(&history(json!([]), false)).unwrap().is_empty());
    }

    #[test]
    fn ops_per_txn_is_a_count_or_a_range() {
        let t: toml::Table = toml::from_str("ops_per_txn = [2, 3]").unwrap();
        assert_eq!(
            ListAppend.params(&t).unwrap(),
            json!({"ops_per_txn": [2, 3]})
        );
        let t: toml::Table = toml::from_str("ops_per_txn = 4").unwrap();
        assert_eq!(
            ListAppend.params(&t).unwrap(),
            json!({"ops_per_txn": [4, 4]})
        );
        for bad in [
            "ops_per_txn = [3, 2]",
            "ops_per_txn = 0",
            "ops_per_txn = \"x\"",
        ] {
            let t: toml::Table = toml::from_str(bad).unwrap();
            assert_eq!(
                ListAppend.params(&t).unwrap_err().field.split('[').next(),
                Some("ops_per_txn"),
                "{bad}"
            );
        }
    }
}
