//! The one shape every workload's ops take between its room, the clients
//! and the history file: an [`Invocation`] (a function `f`, maybe a key, a
//! JSON value), an [`Outcome`] (`ok` with a JSON value, `fail`, `info`),
//! and one history line per invocation and completion ([`Line`]).
//!
//! The envelope is Jepsen's op map, as chaos's JSONL has always written it
//! (`index`, `time_ns`, `process`, `type`, `f`, `key` where the workload has
//! one, `value`, `error`, `node`, `final`): a room's own history format is
//! this envelope with its own `f` names and `value` shapes, so the engine
//! records every workload the same way and a room's checker reads the
//! lines back with its own parser. [`samples`] reads only the envelope:
//! the statistics of a run are the same code for every workload.
//!
//! Pure: no IO, no clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::history::{HistoryError, Kind};
use crate::results::{OpSample, Outcome as SampleOutcome};

/// One op as a client is asked to run it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invocation {
    /// The function, one of the room's [`super::Capabilities::ops`].
    pub f: &'static str,
    /// The key, for workloads whose ops each touch one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<u64>,
    /// What the op carries: the value written, a transaction's micro-ops,
    /// a transfer; `null` for a plain read.
    pub value: serde_json::Value,
}

impl Invocation {
    pub fn new(f: &'static str, key: Option<u64>, value: serde_json::Value) -> Invocation {
        Invocation { f, key, value }
    }
}

/// What became of an invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It happened; the value it returned (what a read saw, what a
    /// transaction's reads saw), `null` when it returns nothing.
    Ok(serde_json::Value),
    /// It definitely did not happen.
    Fail(String),
    /// It may or may not have happened.
    Info(String),
}

impl Outcome {
    pub fn kind(&self) -> Kind {
        match self {
            Outcome::Ok(_) => Kind::Ok,
            Outcome::Fail(_) => Kind::Fail,
            Outcome::Info(_) => Kind::Info,
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Ok(_) => None,
            Outcome::Fail(e) | Outcome::Info(e) => Some(e),
        }
    }

    /// The outcome of an op that got no answer within `timeout`: a
    /// read-only op that did not answer changed nothing an observer can
    /// tell (`fail`); anything that writes may have happened (`info`).
    pub fn timed_out(read_only: bool, timeout: std::time::Duration) -> Outcome {
        let error = format!("timed out after {}", crate::duration::format(timeout));
        if read_only {
            Outcome::Fail(error)
        } else {
            Outcome::Info(error)
        }
    }

    /// The outcome in the statistics' terms.
    pub fn sample_outcome(&self) -> SampleOutcome {
        match self {
            Outcome::Ok(_) => SampleOutcome::Ok,
            Outcome::Fail(_) => SampleOutcome::Fail,
            Outcome::Info(_) => SampleOutcome::Info,
        }
    }
}

/// One line of a history as the engine writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line<'a> {
    pub index: u64,
    pub time_ns: u64,
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub f: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<u64>,
    pub value: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    pub node: &'a str,
    #[serde(rename = "final", skip_serializing_if = "std::ops::Not::not")]
    pub final_read: bool,
}

impl Line<'_> {
    /// The line's JSON text, without the newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a history line always serializes to JSON")
    }
}

/// What [`samples`] reads of a line: the envelope only.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    time_ns: Option<u64>,
    process: u64,
    #[serde(rename = "type")]
    kind: Kind,
    f: String,
    #[serde(default)]
    value: serde_json::Value,
    #[serde(default, rename = "final")]
    final_read: bool,
}

/// Does an op write? Anything but a read does (a write, cas, transfer,
/// add); a transaction (`txn`) does when one of its micro-ops is an
/// append.
pub fn is_write(f: &str, value: &serde_json::Value) -> bool {
    match f {
        "read" | "final-read" => false,
        "txn" => value.as_array().is_some_and(|mops| {
            mops.iter()
                .any(|m| m.get(0).and_then(serde_json::Value::as_str) == Some("append"))
        }),
        _ => true,
    }
}

/// Every completed op of a history (any workload's) as a statistics
/// sample: its function (`final-read` for the final reads), outcome and
/// times, paired by process (a process has at most one op open). Lines
/// without times, and invocations never completed, are left out; a line
/// that is not an op envelope is an error naming it.
pub fn samples(text: &str) -> Result<Vec<OpSample>, HistoryError> {
    let mut open: BTreeMap<u64, (u64, String, bool, bool)> = BTreeMap::new();
    let mut out = Vec::with_capacity(text.len() / 200 + 1);
    for (n, raw) in text.lines().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let e: Envelope = serde_json::from_str(raw).map_err(|e| HistoryError::Malformed {
            line: n + 1,
            reason: e.to_string(),
        })?;
        let Some(t) = e.time_ns else { continue };
        let outcome = match e.kind {
            Kind::Invoke => {
                let write = is_write(&e.f, &e.value);
                open.insert(e.process, (t, e.f, e.final_read, write));
                continue;
            }
            Kind::Ok => SampleOutcome::Ok,
            Kind::Fail => SampleOutcome::Fail,
            Kind::Info => SampleOutcome::Info,
        };
        if let Some((invoked_ns, f, final_read, write)) = open.remove(&e.process) {
            out.push(OpSample {
                write: write && !final_read && !e.final_read,
                f: if final_read || e.final_read {
                    "final-read".to_string()
                } else {
                    f
                },
                outcome,
                invoked_ns,
                completed_ns: t,
            });
        }
    }
    Ok(out)
}

/// The latest time of any line (0 if none has one).
pub fn last_time_ns(text: &str) -> u64 {
    #[derive(Deserialize)]
    struct Time {
        #[serde(default)]
        time_ns: Option<u64>,
    }
    text.lines()
        .filter_map(|l| serde_json::from_str::<Time>(l.trim()).ok())
        .filter_map(|t| t.time_ns)
        .max()
        .unwrap_or(0)
}

/// One history line read back, for a room's checker.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReadLine {
    /// The 1-based line of the file.
    #[serde(skip)]
    pub line: usize,
    #[serde(default)]
    pub time_ns: Option<u64>,
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub f: String,
    #[serde(default)]
    pub key: Option<u64>,
    #[serde(default)]
    pub value: serde_json::Value,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default, rename = "final")]
    pub final_read: bool,
}

/// One op of a history: its invocation and, if it came, its completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    pub invoke: ReadLine,
    pub complete: Option<ReadLine>,
}

impl Paired {
    /// How it ended: `ok`, `fail`, `info`, or `info` when it never
    /// completed (it may have happened).
    pub fn outcome(&self) -> Kind {
        self.complete.as_ref().map_or(Kind::Info, |c| c.kind)
    }

    /// When it was invoked (seconds), if the history has times.
    pub fn start_s(&self) -> Option<f64> {
        self.invoke.time_ns.map(|t| t as f64 / 1e9)
    }

    /// When it completed (seconds); `None` if it never did or has no time.
    pub fn end_s(&self) -> Option<f64> {
        self.complete
            .as_ref()
            .and_then(|c| c.time_ns)
            .map(|t| t as f64 / 1e9)
    }

    /// "line 12" or "lines 12-40": where it is in the file.
    pub fn lines(&self) -> String {
        match &self.complete {
            Some(c) => format!("lines {}-{}", self.invoke.line, c.line),
            None => format!("line {} (never completed)", self.invoke.line),
        }
    }
}

/// Read a history's lines and pair each invocation with its process's next
/// completion (a process has at most one op open), in invocation order.
/// A completion without an open invocation, or an invocation while its
/// process has one open, is an error naming the line.
pub fn paired(text: &str) -> Result<Vec<Paired>, HistoryError> {
    let mut ops: Vec<Paired> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let mut l: ReadLine = serde_json::from_str(raw).map_err(|e| HistoryError::Malformed {
            line: n + 1,
            reason: e.to_string(),
        })?;
        l.line = n + 1;
        match l.kind {
            Kind::Invoke => {
                if let Some(&i) = open.get(&l.process) {
                    return Err(HistoryError::Malformed {
                        line: n + 1,
                        reason: format!(
                            "process {} invokes again while its op of line {} is open",
                            l.process, ops[i].invoke.line
                        ),
                    });
                }
                open.insert(l.process, ops.len());
                ops.push(Paired {
                    invoke: l,
                    complete: None,
                });
            }
            _ => {
                let Some(i) = open.remove(&l.process) else {
                    return Err(HistoryError::Malformed {
                        line: n + 1,
                        reason: format!("process {} completes an op it never invoked", l.process),
                    });
                };
                ops[i].complete = Some(l);
            }
        }
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_the_chaos_envelope() {
        let v = serde_json::json!(4);
        let l = Line {
            index: 3,
            time_ns: 10,
            process: 2,
            kind: Kind::Ok,
            f: "read",
            key: Some(7),
            value: &v,
            error: None,
            node: "n1",
            final_read: false,
        };
        assert_eq!(
            l.to_json(),
            r#"{"index":3,"time_ns":10,"process":2,"type":"ok","f":"read","key":7,"value":4,"node":"n1"}"#
        );
        let n = serde_json::Value::Null;
        let l = Line {
            key: None,
            value: &n,
            error: Some("x"),
            final_read: true,
            kind: Kind::Info,
            ..l
        };
        assert_eq!(
            l.to_json(),
            r#"{"index":3,"time_ns":10,"process":2,"type":"info","f":"read","value":null,"error":"x","node":"n1","final":true}"#
        );
    }

    #[test]
    fn samples_pair_by_process_and_name_final_reads() {
        let text = r#"{"time_ns":1,"process":0,"type":"invoke","f":"write","key":1,"value":1}
{"time_ns":2,"process":1,"type":"invoke","f":"read","key":1,"value":null,"final":true}
{"time_ns":5,"process":0,"type":"ok","f":"write","key":1,"value":1}
{"time_ns":6,"process":1,"type":"ok","f":"read","key":1,"value":1,"final":true}
{"time_ns":7,"process":2,"type":"invoke","f":"txn","value":[]}
"#;
        let s = samples(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].f.as_str(), s[0].invoked_ns, s[0].completed_ns),
            ("write", 1, 5)
        );
        assert_eq!(s[1].f, "final-read");
        assert_eq!(last_time_ns(text), 7);
        let bad = samples("{\"process\":1}\n");
        assert!(matches!(bad, Err(HistoryError::Malformed { line: 1, .. })));
    }

    #[test]
    fn a_timeout_fails_a_read_and_leaves_a_write_open() {
        let t = std::time::Duration::from_secs(1);
        assert!(matches!(Outcome::timed_out(true, t), Outcome::Fail(_)));
        assert!(matches!(Outcome::timed_out(false, t), Outcome::Info(_)));
    }
}
