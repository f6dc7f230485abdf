//! Histories: what clients invoked and what came back, as Jepsen records it.
//!
//! Owns the history model ([`Op`]: one line, an invocation or a completion;
//! [`Operation`]: an invocation paired with its completion; [`History`]: the
//! validated whole), the line formats that carry it, and the writer the
//! runner uses for `history.jsonl`:
//!
//! - [`chaos`]: this tool's own JSONL, one [`Op`] per line. [`to_line`]
//!   writes one line of it; [`parse`] with [`Format::Chaos`] reads it back.
//! - [`jepsen_etcd`]: Jepsen's etcd logs (`INFO  jepsen.util - 3 :ok :read 4`).
//! - [`porcupine_kv`]: Porcupine's key-value EDN maps.
//!
//! Public API: [`parse`]`(text, format) -> Result<History, HistoryError>`,
//! [`History::from_ops`] for histories built in memory, [`to_line`], and the
//! types [`Op`], [`Kind`], [`Function`], [`Key`], [`Value`], [`Operation`],
//! [`Outcome`], [`Format`].
//!
//! Pairing rules, checked here so that the checker never sees a malformed
//! history: a process has at most one open invocation; a completion (`ok`,
//! `fail`, `info`) closes the open invocation of its process and names the
//! same function and key; after an `info` a process is retired and never
//! appears again (Jepsen gives the client a new process id). An invocation
//! still open at the end of the history is indeterminate, like `info`.
//! Every error names the line it was found on.
//!
//! Pure: text in, values out. This module must not depend on the checker,
//! the runner, an async runtime, the file system or a clock.

pub mod chaos;
pub mod jepsen_etcd;
pub mod porcupine_kv;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

pub use chaos::to_line;

/// What a line records: the start of an operation or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The client sent the request.
    Invoke,
    /// It happened, and this is what it returned.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// It may or may not have happened (a timeout, a lost connection). It
    /// may take effect at any time after its invocation, or never.
    Info,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invoke => "invoke",
            Kind::Ok => "ok",
            Kind::Fail => "fail",
            Kind::Info => "info",
        }
    }
}

/// The function an operation calls: register functions (`read`, `write`,
/// `cas`) or key-value map functions (`get`, `put`, `append`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    Read,
    Write,
    Cas,
    Get,
    Put,
    Append,
}

impl Function {
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Read => "read",
            Function::Write => "write",
            Function::Cas => "cas",
            Function::Get => "get",
            Function::Put => "put",
            Function::Append => "append",
        }
    }

    /// Does this function only observe, never change, the state?
    pub fn is_read(self) -> bool {
        matches!(self, Function::Read | Function::Get)
    }

    /// Is this a key-value map function (as opposed to a register one)?
    pub fn is_kv(self) -> bool {
        matches!(self, Function::Get | Function::Put | Function::Append)
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which object an operation works on. Keys are opaque and independent:
/// the checker checks each key on its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Int(u64),
    Str(String),
}

impl Default for Key {
    fn default() -> Self {
        Key::Int(0)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(n) => write!(f, "{n}"),
            Key::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Key::Int(n) => s.serialize_u64(*n),
            Key::Str(t) => s.serialize_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative integer or a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key::Int(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                u64::try_from(v)
                    .map(Key::Int)
                    .map_err(|_| E::custom(format!("key {v} is negative")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
                Ok(Key::Str(v))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

/// A value: what a write writes, a read returns, a cas expects and sets.
/// Registers hold `u64` integers and start absent ([`Value::Null`]); a cas
/// carries `[expected, new]` as a [`Value::List`]; key-value maps hold
/// strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Value {
    /// Absent, or not known (a read's invocation).
    #[default]
    Null,
    Int(u64),
    Str(String),
    List(Vec<Value>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("nil"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Int(n) => s.serialize_u64(*n),
            Value::Str(t) => s.serialize_str(t),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("null, a non-negative integer, a string or a list of values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                u64::try_from(v)
                    .map(Value::Int)
                    .map_err(|_| E::custom(format!("value {v} is negative")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Value::List(items))
            }
        }
        d.deserialize_any(ValueVisitor)
    }
}

/// One line of a history: an invocation, or the completion of one.
///
/// Serialized, it is exactly one line of the `chaos` format (see [`chaos`]);
/// `line` is where it was read from and is not part of the format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history.
    pub index: u64,
    /// Monotonic nanoseconds since the run's start, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ns: Option<u64>,
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub f: Function,
    pub key: Key,
    pub value: Value,
    /// Why a `fail` or `info` ended so, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Which node served the request, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// A final read: after the workload and the heals, every key read once
    /// more. Checked like any op, counted apart in the statistics.
    #[serde(default, rename = "final", skip_serializing_if = "std::ops::Not::not")]
    pub final_read: bool,
    /// The 1-based line of the file this op was read from (0: built in
    /// memory).
    #[serde(skip)]
    pub line: usize,
}

impl Op {
    /// "process 3 read 4 at 1.204 s": for explanations.
    pub fn at(&self) -> String {
        match self.time_ns {
            Some(t) => format!("at {:.3} s", t as f64 / 1e9),
            None if self.line > 0 => format!("on line {}", self.line),
            None => format!("at index {}", self.index),
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Ok,
    /// It did not happen.
    Fail,
    /// It may have happened, at any time after its invocation. Also the
    /// outcome of an invocation that never completed.
    Info,
}

/// An invocation paired with its completion. `invoke` and `complete` index
/// [`History::ops`]; their order there is the real-time order of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub process: u64,
    pub f: Function,
    pub key: Key,
    pub outcome: Outcome,
    /// The invocation line, as an index into [`History::ops`].
    pub invoke: usize,
    /// The completion line, if any (an open invocation has none).
    pub complete: Option<usize>,
}

/// A validated history: its lines in order, and its operations (in order of
/// invocation).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct History {
    pub ops: Vec<Op>,
    pub operations: Vec<Operation>,
}

impl History {
    /// Validate and pair ops built in memory (or parsed). The ops must be in
    /// history order; their `index` fields are not required to be dense.
    pub fn from_ops(ops: Vec<Op>) -> Result<History, HistoryError> {
        let operations = pair(&ops)?;
        Ok(History { ops, operations })
    }

    /// The invocation of an operation.
    pub fn invocation(&self, op: &Operation) -> &Op {
        &self.ops[op.invoke]
    }

    /// The completion of an operation, if it has one.
    pub fn completion(&self, op: &Operation) -> Option<&Op> {
        op.complete.map(|i| &self.ops[i])
    }

    /// The argument of an operation: the value its invocation carries.
    pub fn input<'a>(&'a self, op: &Operation) -> &'a Value {
        &self.ops[op.invoke].value
    }

    /// What an `ok` operation returned (`Null` otherwise).
    pub fn output<'a>(&'a self, op: &Operation) -> &'a Value {
        static NULL: Value = Value::Null;
        match (op.outcome, op.complete) {
            (Outcome::Ok, Some(i)) => &self.ops[i].value,
            _ => &NULL,
        }
    }

    /// Distinct keys, in order.
    pub fn keys(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = self.operations.iter().map(|o| o.key.clone()).collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// The line formats `chaos check` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// This tool's `history.jsonl`.
    Chaos,
    /// Jepsen's etcd logs, as published with Porcupine.
    JepsenEtcd,
    /// Porcupine's key-value EDN lines.
    PorcupineKv,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Chaos => "chaos",
            Format::JepsenEtcd => "jepsen-etcd",
            Format::PorcupineKv => "porcupine-kv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown `--format`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown history format `{0}`; expected chaos, jepsen-etcd or porcupine-kv")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "chaos" => Ok(Format::Chaos),
            "jepsen-etcd" => Ok(Format::JepsenEtcd),
            "porcupine-kv" => Ok(Format::PorcupineKv),
            other => Err(UnknownFormat(other.to_string())),
        }
    }
}

/// Why a history was refused. Every variant names the line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("line {line}: field `{field}`: {reason}")]
    BadField {
        line: usize,
        field: &'static str,
        reason: String,
    },
    #[error(
        "line {line}: process {process} invokes again, but its invocation on line {open_line} \
         has not completed (a process runs one op at a time)"
    )]
    DoubleInvoke {
        line: usize,
        process: u64,
        open_line: usize,
    },
    #[error("line {line}: process {process} completes an op it never invoked")]
    CompletionWithoutInvoke { line: usize, process: u64 },
    #[error(
        "line {line}: process {process} appears after its `info` on line {info_line}; a process \
         whose op ended in info is retired and must not be used again (use a new process id)"
    )]
    AfterInfo {
        line: usize,
        process: u64,
        info_line: usize,
    },
    #[error(
        "line {line}: process {process} completes {found}, but its invocation on line \
         {open_line} was {expected}"
    )]
    Mismatch {
        line: usize,
        process: u64,
        open_line: usize,
        expected: String,
        found: String,
    },
    #[error("line {line}: index {index} repeats the index of line {other_line}")]
    DuplicateIndex {
        line: usize,
        index: u64,
        other_line: usize,
    },
}

impl HistoryError {
    /// The line the error was found on.
    pub fn line(&self) -> usize {
        match self {
            HistoryError::Malformed { line, .. }
            | HistoryError::BadField { line, .. }
            | HistoryError::DoubleInvoke { line, .. }
            | HistoryError::CompletionWithoutInvoke { line, .. }
            | HistoryError::AfterInfo { line, .. }
            | HistoryError::Mismatch { line, .. }
            | HistoryError::DuplicateIndex { line, .. } => *line,
        }
    }
}

/// Parse a whole history in one of the line formats. Blank lines are
/// skipped; line numbers in errors count them.
pub fn parse(text: &str, format: Format) -> Result<History, HistoryError> {
    let ops = match format {
        Format::Chaos => chaos::parse_ops(text)?,
        Format::JepsenEtcd => jepsen_etcd::parse_ops(text)?,
        Format::PorcupineKv => porcupine_kv::parse_ops(text)?,
    };
    History::from_ops(ops)
}

/// Check that a value has the shape its function and kind call for; `line`
/// and the field name go into the error.
pub(crate) fn check_value(
    line: usize,
    kind: Kind,
    f: Function,
    value: &Value,
) -> Result<(), HistoryError> {
    let bad = |reason: String| HistoryError::BadField {
        line,
        field: "value",
        reason,
    };
    // Completions of writes and failed/indeterminate completions carry
    // whatever the client recorded; only what the checker uses is checked.
    let used = match (f, kind) {
        (Function::Read | Function::Get, Kind::Ok) => true,
        (Function::Read | Function::Get, _) => false,
        (_, Kind::Invoke) => true,
        _ => false,
    };
    if !used {
        return Ok(());
    }
    let ok = match (f, value) {
        (Function::Read, Value::Null | Value::Int(_)) => true,
        (Function::Write, Value::Int(_)) => true,
        (Function::Cas, Value::List(items)) => {
            items.len() == 2
                && matches!(items[0], Value::Null | Value::Int(_))
                && matches!(items[1], Value::Int(_))
        }
        (Function::Get, Value::Null | Value::Str(_)) => true,
        (Function::Put | Function::Append, Value::Str(_)) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        let expected = match f {
            Function::Read => "null or a non-negative integer (the value read)",
            Function::Write => "a non-negative integer (the value written)",
            Function::Cas => "[expected, new] with integers (expected may be null)",
            Function::Get => "null or a string (the value read)",
            Function::Put | Function::Append => "a string",
        };
        Err(bad(format!(
            "{} {} carries {value}; expected {expected}",
            kind.as_str(),
            f.as_str()
        )))
    }
}

/// Pair invocations with completions, enforcing the rules in the module
/// docs.
fn pair(ops: &[Op]) -> Result<Vec<Operation>, HistoryError> {
    // Per process: the open operation (index into `operations`), or the line
    // of the `info` that retired it.
    enum Slot {
        Open(usize),
        Retired(usize),
    }
    let mut slots: HashMap<u64, Slot> = HashMap::new();
    let mut operations: Vec<Operation> = Vec::with_capacity(ops.len() / 2 + 1);
    for (i, op) in ops.iter().enumerate() {
        let slot = slots.get(&op.process);
        if let Some(Slot::Retired(info_line)) = slot {
            return Err(HistoryError::AfterInfo {
                line: op.line,
                process: op.process,
                info_line: *info_line,
            });
        }
        check_value(op.line, op.kind, op.f, &op.value)?;
        match op.kind {
            Kind::Invoke => {
                if let Some(Slot::Open(open)) = slot {
                    return Err(HistoryError::DoubleInvoke {
                        line: op.line,
                        process: op.process,
                        open_line: ops[operations[*open].invoke].line,
                    });
                }
                slots.insert(op.process, Slot::Open(operations.len()));
                operations.push(Operation {
                    process: op.process,
                    f: op.f,
                    key: op.key.clone(),
                    outcome: Outcome::Info,
                    invoke: i,
                    complete: None,
                });
            }
            Kind::Ok | Kind::Fail | Kind::Info => {
                let Some(Slot::Open(open)) = slot else {
                    return Err(HistoryError::CompletionWithoutInvoke {
                        line: op.line,
                        process: op.process,
                    });
                };
                let open = *open;
                let operation = &mut operations[open];
                let invocation = &ops[operation.invoke];
                if invocation.f != op.f || invocation.key != op.key {
                    return Err(HistoryError::Mismatch {
                        line: op.line,
                        process: op.process,
                        open_line: invocation.line,
                        expected: format!("{} on key {}", invocation.f, invocation.key),
                        found: format!("{} on key {}", op.f, op.key),
                    });
                }
                operation.complete = Some(i);
                operation.outcome = match op.kind {
                    Kind::Ok => Outcome::Ok,
                    Kind::Fail => Outcome::Fail,
                    _ => Outcome::Info,
                };
                if op.kind == Kind::Info {
                    slots.insert(op.process, Slot::Retired(op.line));
                } else {
                    slots.remove(&op.process);
                }
            }
        }
    }
    Ok(operations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(index: u64, process: u64, kind: Kind, f: Function, value: Value) -> Op {
        Op {
            index,
            time_ns: None,
            process,
            kind,
            f,
            key: Key::Int(0),
            value,
            error: None,
            node: None,
            final_read: false,
            line: index as usize + 1,
        }
    }

    #[test]
    fn pairs_invocations_with_completions() {
        let h = History::from_ops(vec![
            op(0, 1, Kind::Invoke, Function::Write, Value::Int(3)),
            op(1, 2, Kind::Invoke, Function::Read, Value::Null),
            op(2, 2, Kind::Ok, Function::Read, Value::Int(3)),
            op(3, 1, Kind::Info, Function::Write, Value::Null),
        ])
        .unwrap();
        assert_eq!(h.operations.len(), 2);
        assert_eq!(h.operations[0].outcome, Outcome::Info);
        assert_eq!(h.operations[0].complete, Some(3));
        assert_eq!(h.output(&h.operations[1]), &Value::Int(3));
        assert_eq!(h.input(&h.operations[0]), &Value::Int(3));
    }

    #[test]
    fn pairing_errors_name_the_line() {
        let double = History::from_ops(vec![
            op(0, 1, Kind::Invoke, Function::Read, Value::Null),
            op(1, 1, Kind::Invoke, Function::Read, Value::Null),
        ])
        .unwrap_err();
        assert_eq!(double.line(), 2);
        assert!(double.to_string().contains("line 1"), "{double}");

        let orphan =
            History::from_ops(vec![op(0, 1, Kind::Ok, Function::Read, Value::Null)]).unwrap_err();
        assert!(matches!(
            orphan,
            HistoryError::CompletionWithoutInvoke { line: 1, .. }
        ));

        let after_info = History::from_ops(vec![
            op(0, 1, Kind::Invoke, Function::Write, Value::Int(1)),
            op(1, 1, Kind::Info, Function::Write, Value::Int(1)),
            op(2, 1, Kind::Invoke, Function::Read, Value::Null),
        ])
        .unwrap_err();
        assert!(
            matches!(
                after_info,
                HistoryError::AfterInfo {
                    line: 3,
                    info_line: 2,
                    ..
                }
            ),
            "{after_info}"
        );

        let mismatch = History::from_ops(vec![
            op(0, 1, Kind::Invoke, Function::Write, Value::Int(1)),
            op(1, 1, Kind::Ok, Function::Read, Value::Int(1)),
        ])
        .unwrap_err();
        assert!(matches!(mismatch, HistoryError::Mismatch { line: 2, .. }));
    }

    #[test]
    fn values_must_fit_their_function() {
        let err = History::from_ops(vec![op(0, 1, Kind::Invoke, Function::Write, Value::Null)])
            .unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let cas = Value::List(vec![Value::Null, Value::Int(2)]);
        History::from_ops(vec![op(0, 1, Kind::Invoke, Function::Cas, cas)]).unwrap();
    }

    #[test]
    fn formats_parse_from_their_names() {
        for f in [Format::Chaos, Format::JepsenEtcd, Format::PorcupineKv] {
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
        }
        assert!("edn".parse::<Format>().is_err());
    }
}
