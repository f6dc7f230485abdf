//! The list-append history model: transactions of micro-ops, as Jepsen's
//! list-append workload records them, paired and validated.
//!
//! Owns [`TxnHistory`] (the validated whole: its transactions in order of
//! invocation, their micro-ops stored flat, interned keys, and the order of
//! events), [`Txn`], [`Mop`], the owned, serde form of one history line
//! ([`TxnLine`], [`MicroOp`]) that the chaos JSONL format and a future
//! runner use, and the pairing rules. The line formats live in [`super::edn`]
//! and [`super::jsonl`]; both feed the crate-private [`Builder`].
//!
//! Pairing rules (the same as the register histories in
//! [`crate::history`]): a process has at most one open invocation; a
//! completion (`ok`, `fail`, `info`) closes the open invocation of its
//! process and carries the same micro-ops (the same functions, keys and
//! appended elements; reads may now carry what they read); after an `info`
//! the process is retired and never appears again. An invocation still open
//! at the end of the history is indeterminate, like `info`. Every error
//! names its line, as a [`HistoryError`].
//!
//! Semantics kept here: reads carry a value only in `ok` completions (an
//! `ok` read of `nil` read the empty list); what an `info` or `fail`
//! completion says it read is ignored, since it may never have happened.
//!
//! Pure: depends on [`crate::history`] for keys, kinds, outcomes and the
//! error type, on nothing above the checker, and on no IO or clock.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::checker::memo::FxHashMap;
use crate::history::{HistoryError, Key, Kind, Outcome};

/// A key, interned: an index into [`TxnHistory::keys`].
pub type KeyId = u32;

/// A run of elements in [`TxnHistory`]'s flat element store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
}

/// One micro-op of a transaction, stored compactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mop {
    /// `[:append key element]`.
    Append { key: KeyId, element: u64 },
    /// `[:r key list]`: `observed` is what an `ok` transaction read
    /// (the empty list for `nil`); `None` when not known (the transaction
    /// did not complete `ok`).
    Read { key: KeyId, observed: Option<Span> },
}

impl Mop {
    pub fn key(self) -> KeyId {
        match self {
            Mop::Append { key, .. } | Mop::Read { key, .. } => key,
        }
    }
}

/// Where and when one line of a transaction was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The 1-based line of the file (0: built in memory).
    pub line: u32,
    /// The history index of the line.
    pub index: u64,
    /// Nanoseconds (Jepsen's `:time`, chaos's `time_ns`), if recorded.
    pub time_ns: Option<u64>,
}

/// A transaction: an invocation and, if it completed, its completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub process: u64,
    /// `Info` also for an invocation that never completed.
    pub outcome: Outcome,
    pub invoke: Event,
    pub complete: Option<Event>,
    /// Its micro-ops: a range of [`TxnHistory::mops_of`].
    mops: Span,
}

impl Txn {
    /// The line people should look at: the completion, else the invocation.
    pub fn line(&self) -> u32 {
        self.complete.map_or(self.invoke.line, |c| c.line)
    }
}

/// A validated list-append history.
#[derive(Debug, Clone, Default)]
pub struct TxnHistory {
    /// Transactions in order of invocation.
    pub txns: Vec<Txn>,
    mops: Vec<Mop>,
    elements: Vec<u64>,
    keys: Vec<Key>,
    /// Every invocation and completion in history order:
    /// `txn << 1 | completion`.
    events: Vec<u32>,
    /// Lines that were not client transactions (nemesis ops, other
    /// functions) and were skipped.
    pub skipped_lines: usize,
}

impl TxnHistory {
    /// The micro-ops of a transaction.
    pub fn mops(&self, txn: &Txn) -> &[Mop] {
        &self.mops[txn.mops.range()]
    }

    /// The micro-ops of transaction `t`.
    pub fn mops_of(&self, t: usize) -> &[Mop] {
        self.mops(&self.txns[t])
    }

    /// The elements of a read.
    pub fn elements(&self, span: Span) -> &[u64] {
        &self.elements[span.range()]
    }

    /// The key an id stands for.
    pub fn key(&self, id: KeyId) -> &Key {
        &self.keys[id as usize]
    }

    /// Distinct keys, by id.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Invocations and completions in history order, as
    /// `(transaction, is_completion)`.
    pub fn events(&self) -> impl Iterator<Item = (usize, bool)> + '_ {
        self.events.iter().map(|&e| ((e >> 1) as usize, e & 1 == 1))
    }

    /// Micro-ops in all (for statistics).
    pub fn mop_count(&self) -> usize {
        self.txns.iter().map(|t| t.mops.len as usize).sum()
    }

    /// A transaction as owned micro-ops (for explanations and JSON): reads
    /// carry what they read, if known.
    pub fn micro_ops(&self, t: usize) -> Vec<MicroOp> {
        self.mops_of(t)
            .iter()
            .map(|m| match *m {
                Mop::Append { key, element } => MicroOp::Append(self.key(key).clone(), element),
                Mop::Read { key, observed } => MicroOp::Read(
                    self.key(key).clone(),
                    observed.map(|s| self.elements(s).to_vec()),
                ),
            })
            .collect()
    }

    /// Build and validate a history from owned lines (tests, generators).
    /// `line` fields of 0 are numbered by position.
    pub fn from_lines(lines: &[TxnLine]) -> Result<TxnHistory, HistoryError> {
        let mut b = Builder::new();
        for (n, l) in lines.iter().enumerate() {
            let line = if l.line > 0 { l.line } else { n + 1 };
            b.begin_line(line, Some(l.index), l.time_ns, l.process, l.kind);
            for m in &l.value {
                match m {
                    MicroOp::Append(k, v) => {
                        let k = b.intern(k);
                        b.append(k, *v);
                    }
                    MicroOp::Read(k, v) => {
                        let k = b.intern(k);
                        match v {
                            None => b.read_unknown(k),
                            Some(items) => {
                                b.read_start();
                                for &e in items {
                                    b.read_element(e);
                                }
                                b.read_end(k);
                            }
                        }
                    }
                }
            }
            b.end_line(true);
        }
        b.finish()
    }
}

/// One micro-op, owned: `["append", key, element]` or `["r", key, list]`
/// (`null` for a list not known) in JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicroOp {
    Append(Key, u64),
    Read(Key, Option<Vec<u64>>),
}

impl fmt::Display for MicroOp {
    /// Elle's notation: `[:append 9 2]`, `[:r 8 [1 3]]`, `[:r 8 nil]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MicroOp::Append(k, v) => write!(f, "[:append {} {v}]", key_text(k)),
            MicroOp::Read(k, None) => write!(f, "[:r {} nil]", key_text(k)),
            MicroOp::Read(k, Some(items)) => {
                write!(f, "[:r {} {}]", key_text(k), list_text(items))
            }
        }
    }
}

/// A key for people: `9`, `:x` (EDN keywords keep their colon), `"k"`.
pub fn key_text(key: &Key) -> String {
    match key {
        Key::Int(n) => n.to_string(),
        Key::Str(s) if s.starts_with(':') => s.clone(),
        Key::Str(s) => format!("{s:?}"),
    }
}

/// A list for people: `[1 3]`.
pub fn list_text(items: &[u64]) -> String {
    let mut out = String::from("[");
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&e.to_string());
    }
    out.push(']');
    out
}

/// A transaction's micro-ops for people: `[[:append 9 2] [:r 8 [1 3]]]`.
pub fn txn_text(mops: &[MicroOp]) -> String {
    let parts: Vec<String> = mops.iter().map(|m| m.to_string()).collect();
    format!("[{}]", parts.join(" "))
}

/// Like [`txn_text`], long reads shortened: `[:r 8 [1 2 3 ... 39 40] (40 elements)]`.
pub fn txn_text_short(mops: &[MicroOp]) -> String {
    let parts: Vec<String> = mops
        .iter()
        .map(|m| match m {
            MicroOp::Read(k, Some(items)) if items.len() > 8 => format!(
                "[:r {} [{} {} {} ... {} {}] ({} elements)]",
                key_text(k),
                items[0],
                items[1],
                items[2],
                items[items.len() - 2],
                items[items.len() - 1],
                items.len()
            ),
            m => m.to_string(),
        })
        .collect();
    format!("[{}]", parts.join(" "))
}

impl Serialize for MicroOp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(3))?;
        match self {
            MicroOp::Append(k, v) => {
                seq.serialize_element("append")?;
                seq.serialize_element(k)?;
                seq.serialize_element(v)?;
            }
            MicroOp::Read(k, v) => {
                seq.serialize_element("r")?;
                seq.serialize_element(k)?;
                seq.serialize_element(v)?;
            }
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for MicroOp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MopVisitor;
        impl<'de> Visitor<'de> for MopVisitor {
            type Value = MicroOp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    r#"a micro-op ["append", key, element] or ["r", key, null or [elements]]"#,
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MicroOp, A::Error> {
                let f: String = seq.next_element()?.ok_or_else(|| {
                    de::Error::custom("an empty micro-op; expected [f, key, value]")
                })?;
                let key: Key = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("a micro-op without a key"))?;
                let op = match f.as_str() {
                    "append" => {
                        let v: u64 = seq.next_element()?.ok_or_else(|| {
                            de::Error::custom("an append without the element it appends")
                        })?;
                        MicroOp::Append(key, v)
                    }
                    "r" => {
                        let v: Option<Vec<u64>> = seq.next_element()?.unwrap_or(None);
                        MicroOp::Read(key, v)
                    }
                    other => {
                        return Err(de::Error::custom(format!(
                            "unknown micro-op `{other}`; expected \"append\" or \"r\""
                        )));
                    }
                };
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(
                        "a micro-op has three items: [f, key, value]",
                    ));
                }
                Ok(op)
            }
        }
        d.deserialize_seq(MopVisitor)
    }
}

/// `"txn"`: the only function of a list-append history line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TxnFunction {
    #[default]
    #[serde(rename = "txn")]
    Txn,
}

/// One line of a list-append history in chaos's JSONL format (see
/// [`super::jsonl`]): an invocation or a completion of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnLine {
    pub index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ns: Option<u64>,
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: Kind,
    #[serde(default)]
    pub f: TxnFunction,
    /// The micro-ops; reads are `null` in invocations.
    pub value: Vec<MicroOp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A final read, made after the faults were healed (counted apart in
    /// the statistics; checked like any other transaction).
    #[serde(default, rename = "final", skip_serializing_if = "std::ops::Not::not")]
    pub final_read: bool,
    /// Where it was read from (not part of the format; 0 = in memory).
    #[serde(skip)]
    pub line: usize,
}

/// One line as parsed, before pairing.
#[derive(Debug, Clone, Copy)]
struct RawLine {
    line: u32,
    index: Option<u64>,
    time_ns: Option<u64>,
    process: u64,
    kind: Kind,
    /// A range of `Builder::mops`; `None` when the line carried no value
    /// (`nil`), which only completions other than `ok` may do.
    mops: Option<Span>,
}

/// Collects lines from a parser, then orders and pairs them. Crate-private:
/// the formats feed it, [`Builder::finish`] validates.
pub(crate) struct Builder {
    lines: Vec<RawLine>,
    mops: Vec<Mop>,
    elements: Vec<u64>,
    keys: Vec<Key>,
    int_keys: FxHashMap<u64, KeyId>,
    str_keys: FxHashMap<String, KeyId>,
    /// The line being built: its first micro-op, and the first element of
    /// the read being built.
    line_mops: u32,
    read_start: u32,
    skipped: usize,
}

impl Builder {
    pub(crate) fn new() -> Self {
        Builder {
            lines: Vec::new(),
            mops: Vec::new(),
            elements: Vec::new(),
            keys: Vec::new(),
            int_keys: FxHashMap::default(),
            str_keys: FxHashMap::default(),
            line_mops: 0,
            read_start: 0,
            skipped: 0,
        }
    }

    /// Room for about `bytes` of text.
    pub(crate) fn reserve_for(&mut self, bytes: usize) {
        self.lines.reserve(bytes / 160);
        self.mops.reserve(bytes / 60);
    }

    pub(crate) fn intern(&mut self, key: &Key) -> KeyId {
        match key {
            Key::Int(n) => self.intern_int(*n),
            Key::Str(s) => self.intern_str(s),
        }
    }

    pub(crate) fn intern_int(&mut self, n: u64) -> KeyId {
        if let Some(&id) = self.int_keys.get(&n) {
            return id;
        }
        let id = self.keys.len() as KeyId;
        self.keys.push(Key::Int(n));
        self.int_keys.insert(n, id);
        id
    }

    pub(crate) fn intern_str(&mut self, s: &str) -> KeyId {
        if let Some(&id) = self.str_keys.get(s) {
            return id;
        }
        let id = self.keys.len() as KeyId;
        self.keys.push(Key::Str(s.to_string()));
        self.str_keys.insert(s.to_string(), id);
        id
    }

    /// Start a line; micro-ops follow, then [`Builder::end_line`].
    pub(crate) fn begin_line(
        &mut self,
        line: usize,
        index: Option<u64>,
        time_ns: Option<u64>,
        process: u64,
        kind: Kind,
    ) {
        self.line_mops = self.mops.len() as u32;
        self.lines.push(RawLine {
            line: line as u32,
            index,
            time_ns,
            process,
            kind,
            mops: None,
        });
    }

    pub(crate) fn append(&mut self, key: KeyId, element: u64) {
        self.mops.push(Mop::Append { key, element });
    }

    pub(crate) fn read_unknown(&mut self, key: KeyId) {
        self.mops.push(Mop::Read {
            key,
            observed: None,
        });
    }

    pub(crate) fn read_start(&mut self) {
        self.read_start = self.elements.len() as u32;
    }

    pub(crate) fn read_element(&mut self, e: u64) {
        self.elements.push(e);
    }

    pub(crate) fn read_end(&mut self, key: KeyId) {
        let len = self.elements.len() as u32 - self.read_start;
        self.mops.push(Mop::Read {
            key,
            observed: Some(Span {
                start: self.read_start,
                len,
            }),
        });
    }

    /// Drop the micro-ops of the current line (its value turned out not to
    /// be a transaction, and the line is skipped or refused).
    pub(crate) fn discard_mops(&mut self) {
        self.mops.truncate(self.line_mops as usize);
    }

    /// End the line: `has_value` false when its value was `nil`.
    pub(crate) fn end_line(&mut self, has_value: bool) {
        let start = self.line_mops;
        let len = self.mops.len() as u32 - start;
        let last = self.lines.last_mut().expect("begin_line came first");
        last.mops = has_value.then_some(Span { start, len });
    }

    /// Set the fields of the line being built, once known (a parser that
    /// meets them after the micro-ops).
    pub(crate) fn set_current(
        &mut self,
        index: Option<u64>,
        time_ns: Option<u64>,
        process: u64,
        kind: Kind,
    ) {
        let last = self.lines.last_mut().expect("begin_line came first");
        last.index = index;
        last.time_ns = time_ns;
        last.process = process;
        last.kind = kind;
    }

    /// Drop the line just begun (skipped after all).
    pub(crate) fn abandon_line(&mut self) {
        self.discard_mops();
        self.lines.pop();
        self.skipped += 1;
    }

    /// Order the lines (by index, when every line has one), pair them, and
    /// validate.
    pub(crate) fn finish(mut self) -> Result<TxnHistory, HistoryError> {
        // Index: on every line or none, as in the chaos register format.
        let indexed = self.lines.first().is_some_and(|l| l.index.is_some());
        if let Some(l) = self.lines.iter().find(|l| l.index.is_some() != indexed) {
            return Err(HistoryError::BadField {
                line: l.line as usize,
                field: "index",
                reason: if indexed {
                    "missing here but present on earlier lines; give it on every line or none"
                        .into()
                } else {
                    "present here but absent on earlier lines; give it on every line or none".into()
                },
            });
        }
        if indexed {
            if self.lines.windows(2).any(|w| w[0].index >= w[1].index) {
                self.lines.sort_by_key(|l| l.index);
            }
            if let Some(w) = self.lines.windows(2).find(|w| w[0].index == w[1].index) {
                let (first, second) = if w[0].line < w[1].line {
                    (w[0], w[1])
                } else {
                    (w[1], w[0])
                };
                return Err(HistoryError::DuplicateIndex {
                    line: second.line as usize,
                    index: second.index.unwrap_or_default(),
                    other_line: first.line as usize,
                });
            }
        }
        let lines = std::mem::take(&mut self.lines);
        pair(self, &lines)
    }

    fn describe(&self, span: Option<Span>) -> String {
        let Some(span) = span else {
            return "nil".to_string();
        };
        let mops = &self.mops[span.range()];
        let parts: Vec<String> = mops
            .iter()
            .map(|m| match *m {
                Mop::Append { key, element } => {
                    format!("[:append {} {element}]", key_text(&self.keys[key as usize]))
                }
                Mop::Read { key, .. } => format!("[:r {} _]", key_text(&self.keys[key as usize])),
            })
            .collect();
        format!("a txn [{}]", parts.join(" "))
    }
}

/// Do two lines carry the same transaction (functions, keys, appended
/// elements)? Reads may differ in what they carry.
fn same_shape(mops: &[Mop], a: Span, b: Span) -> bool {
    a.len == b.len
        && mops[a.range()]
            .iter()
            .zip(&mops[b.range()])
            .all(|(x, y)| match (*x, *y) {
                (
                    Mop::Append {
                        key: k1,
                        element: e1,
                    },
                    Mop::Append {
                        key: k2,
                        element: e2,
                    },
                ) => k1 == k2 && e1 == e2,
                (Mop::Read { key: k1, .. }, Mop::Read { key: k2, .. }) => k1 == k2,
                _ => false,
            })
}

/// Pair invocations with completions (the module docs' rules).
fn pair(mut b: Builder, lines: &[RawLine]) -> Result<TxnHistory, HistoryError> {
    enum Slot {
        Open(usize),
        Retired(u32),
    }
    let mut slots: FxHashMap<u64, Slot> = FxHashMap::default();
    let mut txns: Vec<Txn> = Vec::with_capacity(lines.len() / 2 + 1);
    let mut events: Vec<u32> = Vec::with_capacity(lines.len());
    for l in lines {
        let event = Event {
            line: l.line,
            index: l.index.unwrap_or(events.len() as u64),
            time_ns: l.time_ns,
        };
        let slot = slots.get(&l.process);
        if let Some(Slot::Retired(info_line)) = slot {
            return Err(HistoryError::AfterInfo {
                line: l.line as usize,
                process: l.process,
                info_line: *info_line as usize,
            });
        }
        match l.kind {
            Kind::Invoke => {
                if let Some(Slot::Open(open)) = slot {
                    return Err(HistoryError::DoubleInvoke {
                        line: l.line as usize,
                        process: l.process,
                        open_line: txns[*open].invoke.line as usize,
                    });
                }
                let Some(mops) = l.mops else {
                    return Err(HistoryError::BadField {
                        line: l.line as usize,
                        field: "value",
                        reason: "an invocation carries nil; expected the transaction's micro-ops"
                            .into(),
                    });
                };
                // An invocation's reads carry nothing yet, whatever it says.
                for m in &mut b.mops[mops.range()] {
                    if let Mop::Read { observed, .. } = m {
                        *observed = None;
                    }
                }
                slots.insert(l.process, Slot::Open(txns.len()));
                events.push((txns.len() as u32) << 1);
                txns.push(Txn {
                    process: l.process,
                    outcome: Outcome::Info,
                    invoke: event,
                    complete: None,
                    mops,
                });
            }
            Kind::Ok | Kind::Fail | Kind::Info => {
                let Some(Slot::Open(open)) = slot else {
                    return Err(HistoryError::CompletionWithoutInvoke {
                        line: l.line as usize,
                        process: l.process,
                    });
                };
                let open = *open;
                let invoked = txns[open].mops;
                match l.mops {
                    Some(done) if !same_shape(&b.mops, invoked, done) => {
                        return Err(HistoryError::Mismatch {
                            line: l.line as usize,
                            process: l.process,
                            open_line: txns[open].invoke.line as usize,
                            expected: b.describe(Some(invoked)),
                            found: b.describe(Some(done)),
                        });
                    }
                    Some(done) if l.kind == Kind::Ok => {
                        // What an ok transaction read.
                        for i in 0..done.len as usize {
                            let read = b.mops[done.start as usize + i];
                            if let Mop::Read { observed, .. } = read {
                                let observed = observed.unwrap_or_default();
                                if let Mop::Read { observed: slot, .. } =
                                    &mut b.mops[invoked.start as usize + i]
                                {
                                    *slot = Some(observed);
                                }
                            }
                        }
                    }
                    None if l.kind == Kind::Ok => {
                        return Err(HistoryError::BadField {
                            line: l.line as usize,
                            field: "value",
                            reason: "an ok completion carries nil; expected the transaction's \
                                     micro-ops with what its reads returned"
                                .into(),
                        });
                    }
                    _ => {}
                }
                let txn = &mut txns[open];
                txn.complete = Some(event);
                txn.outcome = match l.kind {
                    Kind::Ok => Outcome::Ok,
                    Kind::Fail => Outcome::Fail,
                    _ => Outcome::Info,
                };
                events.push(((open as u32) << 1) | 1);
                if l.kind == Kind::Info {
                    slots.insert(l.process, Slot::Retired(l.line));
                } else {
                    slots.remove(&l.process);
                }
            }
        }
    }
    // Completions' micro-ops were only compared; keep the invocations'.
    let mut mops = Vec::with_capacity(txns.iter().map(|t| t.mops.len as usize).sum());
    for t in &mut txns {
        let start = mops.len() as u32;
        mops.extend_from_slice(&b.mops[t.mops.range()]);
        t.mops.start = start;
    }
    Ok(TxnHistory {
        txns,
        mops,
        elements: b.elements,
        keys: b.keys,
        events,
        skipped_lines: b.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(index: u64, process: u64, kind: Kind, value: Vec<MicroOp>) -> TxnLine {
        TxnLine {
            index,
            time_ns: None,
            process,
            kind,
            f: TxnFunction::Txn,
            value,
            node: None,
            error: None,
            final_read: false,
            line: 0,
        }
    }

    #[test]
    fn pairs_and_keeps_what_ok_reads_read() {
        let k = Key::Int(8);
        let h = TxnHistory::from_lines(&[
            line(
                0,
                1,
                Kind::Invoke,
                vec![
                    MicroOp::Append(k.clone(), 3),
                    MicroOp::Read(k.clone(), None),
                ],
            ),
            line(
                1,
                1,
                Kind::Ok,
                vec![
                    MicroOp::Append(k.clone(), 3),
                    MicroOp::Read(k.clone(), Some(vec![1, 3])),
                ],
            ),
        ])
        .unwrap();
        assert_eq!(h.txns.len(), 1);
        assert_eq!(h.txns[0].outcome, Outcome::Ok);
        assert_eq!(
            h.micro_ops(0),
            vec![
                MicroOp::Append(k.clone(), 3),
                MicroOp::Read(k, Some(vec![1, 3]))
            ]
        );
        assert_eq!(h.events().collect::<Vec<_>>(), vec![(0, false), (0, true)]);
    }

    #[test]
    fn info_reads_are_not_trusted_and_shapes_must_match() {
        let k = Key::Int(1);
        let h = TxnHistory::from_lines(&[
            line(0, 1, Kind::Invoke, vec![MicroOp::Read(k.clone(), None)]),
            line(
                1,
                1,
                Kind::Info,
                vec![MicroOp::Read(k.clone(), Some(vec![4]))],
            ),
        ])
        .unwrap();
        assert_eq!(h.micro_ops(0), vec![MicroOp::Read(k.clone(), None)]);
        let err = TxnHistory::from_lines(&[
            line(0, 1, Kind::Invoke, vec![MicroOp::Append(k.clone(), 1)]),
            line(1, 1, Kind::Ok, vec![MicroOp::Append(k, 2)]),
        ])
        .unwrap_err();
        assert!(
            matches!(err, HistoryError::Mismatch { line: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("[:append 1 1]"), "{err}");
    }

    #[test]
    fn micro_ops_round_trip_as_json_arrays() {
        let ops = vec![
            MicroOp::Append(Key::Int(9), 2),
            MicroOp::Read(Key::Str("x".into()), Some(vec![1, 3])),
            MicroOp::Read(Key::Int(8), None),
        ];
        let text = serde_json::to_string(&ops).unwrap();
        assert_eq!(text, r#"[["append",9,2],["r","x",[1,3]],["r",8,null]]"#);
        let back: Vec<MicroOp> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ops);
        let err = serde_json::from_str::<MicroOp>(r#"["w",1,2]"#).unwrap_err();
        assert!(err.to_string().contains("unknown micro-op `w`"), "{err}");
    }
}
