//! Anomalies as data and in words.
//!
//! Owns the public, serde form of an anomaly ([`Anomaly`], tagged by
//! `"type"`: `txn-cycle`, `txn-read`, `txn-single`, `txn-key`; each names
//! the anomaly as Elle does in `"anomaly"` and carries its
//! `"explanation"`), the
//! transactions it shows ([`TxnRef`]: history lines, process, micro-ops),
//! and the translation of findings and cycles into both, including why each
//! edge of a cycle holds (as Elle's pair explainers do: the key and the
//! elements behind a ww, wr or rw edge, the lines and times behind a
//! realtime edge).
//!
//! Pure; reads the history, the analysis and the graph, decides nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::history::{Key, Outcome};

use super::analysis::{Analysis, Finding, NONE};
use super::cycles::Cycle;
use super::graph::{PROCESS, RW, Rels, WR, WW};
use super::history::{KeyId, MicroOp, Mop, TxnHistory, key_text, list_text};

/// A transaction as an anomaly shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRef {
    /// `T1`, `T2`, ... within the anomaly.
    pub name: String,
    pub process: u64,
    /// `ok`, `fail` or `info` (`info` also for one that never completed).
    pub outcome: Outcome,
    pub invoke_line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_line: Option<u32>,
    /// The history index of its completion (else of its invocation).
    pub index: u64,
    /// Its invocation's and completion's times (nanoseconds), if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_time_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_time_ns: Option<u64>,
    /// What it did: its micro-ops, reads with what they read (if `ok`).
    pub value: Vec<MicroOp>,
}

impl TxnRef {
    /// `T1 (line 14)`: the name and the completion line (the invocation
    /// line if it never completed).
    fn label(&self) -> String {
        format!("{} (line {})", self.name, self.line())
    }

    /// `T1's (line 14)`.
    fn poss(&self) -> String {
        format!("{}'s (line {})", self.name, self.line())
    }

    fn line(&self) -> u32 {
        self.complete_line.unwrap_or(self.invoke_line)
    }
}

/// A dependency between two transactions of a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    Ww,
    Wr,
    Rw,
    Process,
    Realtime,
}

impl Relation {
    fn of(rel: Rels) -> Relation {
        match rel {
            WW => Relation::Ww,
            WR => Relation::Wr,
            RW => Relation::Rw,
            PROCESS => Relation::Process,
            _ => Relation::Realtime,
        }
    }
}

/// One edge of a cycle, and why it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The names of the transactions (`T1`).
    pub from: String,
    pub to: String,
    pub relation: Relation,
    /// ww, wr, rw: the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Key>,
    /// ww: what `from` appended; wr: what `to` read last (`from`'s
    /// append); rw: the last element `from` read (absent: it read the
    /// empty list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<u64>,
    /// ww, rw: what `to` appended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_element: Option<u64>,
    /// In words.
    pub explanation: String,
}

/// A cycle in the dependency graph (G0, G1c, G-single-item, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleAnomaly {
    pub anomaly: String,
    pub txns: Vec<TxnRef>,
    /// `steps[i]` goes from `txns[i]` to the next (the last back to the
    /// first).
    pub steps: Vec<Step>,
    pub explanation: String,
}

/// A read that saw what it should not have: an element of a failed
/// transaction (G1a), an intermediate state (G1b), or an element nobody
/// appended (garbage-read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadAnomaly {
    pub anomaly: String,
    pub reader: TxnRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<TxnRef>,
    pub key: Key,
    pub element: u64,
    pub read: Vec<u64>,
    pub explanation: String,
}

/// A transaction that disagrees with itself (internal, future-read,
/// duplicate-elements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnAnomaly {
    pub anomaly: String,
    pub txn: TxnRef,
    pub key: Key,
    /// The position of the offending read among the micro-ops.
    pub mop: usize,
    pub read: Vec<u64>,
    /// internal: what the read should have been (`prefix_known`) or how
    /// it should have ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_known: Option<bool>,
    /// future-read: the element, appended later by the same transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<u64>,
    /// duplicate-elements: element to count (a JSON object, so its keys
    /// are the elements as strings).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "element_counts"
    )]
    pub duplicates: BTreeMap<u64, u32>,
    pub explanation: String,
}

/// Read `duplicates` through string keys: inside a tagged enum (a results
/// file's anomaly) serde buffers the object, and a buffered key is read
/// back only as a string.
fn element_counts<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<u64, u32>, D::Error> {
    let raw: BTreeMap<String, u32> = Deserialize::deserialize(d)?;
    raw.into_iter()
        .map(|(k, n)| {
            k.parse()
                .map(|k| (k, n))
                .map_err(|_| serde::de::Error::custom(format!("`{k}` is not an element")))
        })
        .collect()
}

/// Transactions that disagree about one key's versions (incompatible-order,
/// lost-update, dirty-update).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAnomaly {
    pub anomaly: String,
    pub key: Key,
    pub txns: Vec<TxnRef>,
    /// incompatible-order: the two reads; lost-update: the one read;
    /// dirty-update: the elements from the failed append to the committed
    /// one.
    pub values: Vec<Vec<u64>>,
    pub explanation: String,
}

/// An anomaly, as data. Serialized with a `"type"` tag, so that the
/// results file can carry it beside the register checker's witnesses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Anomaly {
    #[serde(rename = "txn-cycle")]
    Cycle(CycleAnomaly),
    /// G1a, G1b, garbage-read.
    #[serde(rename = "txn-read")]
    Read(ReadAnomaly),
    /// internal, future-read, duplicate-elements: seen in a single
    /// transaction.
    #[serde(rename = "txn-single")]
    Txn(TxnAnomaly),
    /// incompatible-order, lost-update, dirty-update: transactions that
    /// disagree about one key's versions.
    #[serde(rename = "txn-key")]
    Key(KeyAnomaly),
}

impl Anomaly {
    /// Elle's name (`G2-item`, `G1a`, `lost-update`...).
    pub fn name(&self) -> &str {
        match self {
            Anomaly::Cycle(a) => &a.anomaly,
            Anomaly::Read(a) => &a.anomaly,
            Anomaly::Txn(a) => &a.anomaly,
            Anomaly::Key(a) => &a.anomaly,
        }
    }

    pub fn explanation(&self) -> &str {
        match self {
            Anomaly::Cycle(a) => &a.explanation,
            Anomaly::Read(a) => &a.explanation,
            Anomaly::Txn(a) => &a.explanation,
            Anomaly::Key(a) => &a.explanation,
        }
    }
}

/// What the translation reads.
pub(crate) struct Explainer<'a> {
    pub h: &'a TxnHistory,
    pub a: &'a Analysis,
}

/// A list for people, shortened when long: `[1 2 3 ... 98 99] (99 elements)`.
fn short_list(items: &[u64]) -> String {
    if items.len() <= 10 {
        return list_text(items);
    }
    let head = list_text(&items[..4]);
    let tail = list_text(&items[items.len() - 3..]);
    format!(
        "{} ... {} ({} elements)",
        &head[..head.len() - 1],
        &tail[1..],
        items.len()
    )
}

fn seconds(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

impl Explainer<'_> {
    fn txn_ref(&self, t: u32, name: String) -> TxnRef {
        let txn = &self.h.txns[t as usize];
        TxnRef {
            name,
            process: txn.process,
            outcome: txn.outcome,
            invoke_line: txn.invoke.line,
            complete_line: txn.complete.map(|c| c.line),
            index: txn.complete.map_or(txn.invoke.index, |c| c.index),
            invoke_time_ns: txn.invoke.time_ns,
            complete_time_ns: txn.complete.and_then(|c| c.time_ns),
            value: self.h.micro_ops(t as usize),
        }
    }

    fn key(&self, k: KeyId) -> Key {
        self.h.key(k).clone()
    }

    fn key_text(&self, k: KeyId) -> String {
        key_text(self.h.key(k))
    }

    /// The elements of transaction `t`'s micro-op `mop` (a read).
    fn read_of(&self, t: u32, mop: u32) -> Vec<u64> {
        match self.h.mops_of(t as usize)[mop as usize] {
            Mop::Read {
                observed: Some(s), ..
            } => self.h.elements(s).to_vec(),
            _ => Vec::new(),
        }
    }

    /// A cycle as data and words.
    pub fn cycle(&self, name: &str, cycle: &Cycle) -> CycleAnomaly {
        let txns: Vec<TxnRef> = cycle
            .iter()
            .enumerate()
            .map(|(i, &(t, _))| self.txn_ref(t, format!("T{}", i + 1)))
            .collect();
        let n = cycle.len();
        let steps: Vec<Step> = (0..n)
            .map(|i| {
                let (a, rel) = cycle[i];
                let b = cycle[(i + 1) % n].0;
                self.step(&txns[i], a, &txns[(i + 1) % n], b, rel)
            })
            .collect();
        let mut explanation = format!(
            "{name}: a cycle of {n} transactions ({}), so no order of them explains what they \
             observed: ",
            describe_kind(name)
        );
        for (i, s) in steps.iter().enumerate() {
            if i > 0 {
                explanation.push_str("; ");
            }
            explanation.push_str(&s.explanation);
        }
        explanation.push('.');
        CycleAnomaly {
            anomaly: name.to_string(),
            txns,
            steps,
            explanation,
        }
    }

    fn step(&self, ta: &TxnRef, a: u32, tb: &TxnRef, b: u32, rel: Rels) -> Step {
        let relation = Relation::of(rel);
        let mut step = Step {
            from: ta.name.clone(),
            to: tb.name.clone(),
            relation,
            key: None,
            element: None,
            next_element: None,
            explanation: String::new(),
        };
        let (la, lb) = (ta.label(), tb.label());
        let (pa, pb) = (ta.poss(), tb.poss());
        let (na, nb) = (&ta.name, &tb.name);
        step.explanation = match rel {
            WW => match self.ww_witness(a, b) {
                Some((k, prev, x)) => {
                    step.key = Some(self.key(k));
                    step.element = Some(prev);
                    step.next_element = Some(x);
                    let seen = self.a.appender(k, x).is_some_and(|x| x.pos != NONE);
                    if seen {
                        format!(
                            "{lb} appended {x} to key {} after {pa} append of {prev}, so {na} \
                             precedes {nb} (ww)",
                            self.key_text(k)
                        )
                    } else {
                        format!(
                            "{lb} appended {x} to key {}, which no read saw, so after every \
                             version read, the last of them {pa} append of {prev}; so {na} \
                             precedes {nb} (ww)",
                            self.key_text(k)
                        )
                    }
                }
                None => format!("{na} precedes {nb} (ww)"),
            },
            WR => match self.wr_witness(a, b) {
                Some((k, read)) => {
                    let last = *read.last().expect("a wr read is not empty");
                    step.key = Some(self.key(k));
                    step.element = Some(last);
                    format!(
                        "{lb} read {} of key {}, which ends with {pa} append of {last}, so {na} \
                         precedes {nb} (wr)",
                        short_list(&read),
                        self.key_text(k)
                    )
                }
                None => format!("{na} precedes {nb} (wr)"),
            },
            RW => match self.rw_witness(a, b) {
                Some((k, read, x)) => {
                    step.key = Some(self.key(k));
                    step.element = read.last().copied();
                    step.next_element = Some(x);
                    if read.is_empty() {
                        format!(
                            "{la} read key {} as empty, which did not include {pb} append of {x}, \
                             so {na} precedes {nb} (rw)",
                            self.key_text(k)
                        )
                    } else {
                        format!(
                            "{la} read {} of key {}, which did not include {pb} append of {x}, \
                             so {na} precedes {nb} (rw)",
                            short_list(&read),
                            self.key_text(k)
                        )
                    }
                }
                None => format!("{na} precedes {nb} (rw)"),
            },
            PROCESS => format!(
                "process {} ran {la} before {lb}, so {na} precedes {nb} (process)",
                ta.process
            ),
            _ => {
                let ca = &self.h.txns[a as usize];
                let cb = &self.h.txns[b as usize];
                let done = ca.complete.map_or(ca.invoke, |c| c);
                let when =
                    |t: Option<u64>| t.map(|t| format!(", {}", seconds(t))).unwrap_or_default();
                format!(
                    "{la} completed (index {}{}) before {nb} was invoked on line {} (index {}{}), \
                     so {na} precedes {nb} (realtime)",
                    done.index,
                    when(done.time_ns),
                    cb.invoke.line,
                    cb.invoke.index,
                    when(cb.invoke.time_ns)
                )
            }
        };
        step
    }

    /// The version just before an append, as the graph saw it: `Some(pos)`
    /// or `None` for the empty list.
    fn prev_pos(&self, k: KeyId, pos: u32) -> Option<u32> {
        if pos != NONE {
            pos.checked_sub(1)
        } else {
            (self.a.order(k).len() as u32).checked_sub(1)
        }
    }

    /// Why `a -ww-> b`: (key, a's element, b's element).
    fn ww_witness(&self, a: u32, b: u32) -> Option<(KeyId, u64, u64)> {
        self.a.appends_of(b as usize).iter().find_map(|x| {
            let p = self.prev_pos(x.key, x.pos)?;
            (self.a.writers(x.key)[p as usize] == a)
                .then(|| (x.key, self.a.order(x.key)[p as usize], x.element))
        })
    }

    /// Why `a -wr-> b`: (key, b's read).
    fn wr_witness(&self, a: u32, b: u32) -> Option<(KeyId, Vec<u64>)> {
        self.h.mops_of(b as usize).iter().find_map(|m| match *m {
            Mop::Read {
                key,
                observed: Some(s),
            } if s.len > 0 => {
                let read = self.h.elements(s);
                let last = *read.last()?;
                (self.a.appender(key, last)?.txn == a).then(|| (key, read.to_vec()))
            }
            _ => None,
        })
    }

    /// Why `a -rw-> b`: (key, a's read, b's element).
    fn rw_witness(&self, a: u32, b: u32) -> Option<(KeyId, Vec<u64>, u64)> {
        self.a.appends_of(b as usize).iter().find_map(|x| {
            let p = self.prev_pos(x.key, x.pos);
            if !self.a.readers_of(x.key, p).contains(&a) {
                return None;
            }
            let want = p.map(|p| self.a.order(x.key)[p as usize]);
            // a's read of the key that ended there.
            self.h.mops_of(a as usize).iter().find_map(|m| match *m {
                Mop::Read {
                    key,
                    observed: Some(s),
                } if key == x.key && self.h.elements(s).last().copied() == want => {
                    Some((key, self.h.elements(s).to_vec(), x.element))
                }
                _ => None,
            })
        })
    }

    /// A finding as data and words.
    pub fn finding(&self, f: &Finding) -> Anomaly {
        let name = f.name().to_string();
        match f {
            Finding::AbortedRead {
                reader,
                mop,
                key,
                element,
                writer,
            }
            | Finding::IntermediateRead {
                reader,
                mop,
                key,
                element,
                writer,
            } => {
                let r = self.txn_ref(*reader, "T1".into());
                let w = self.txn_ref(*writer, "T2".into());
                let read = self.read_of(*reader, *mop);
                let explanation = if matches!(f, Finding::AbortedRead { .. }) {
                    format!(
                        "G1a (aborted read): {} read {} of key {}, which includes {element}, \
                         appended by {}, which failed",
                        r.label(),
                        short_list(&read),
                        self.key_text(*key),
                        w.label()
                    )
                } else {
                    let last_append = self
                        .a
                        .appends_of(*writer as usize)
                        .iter()
                        .rev()
                        .find(|x| x.key == *key)
                        .map_or(*element, |x| x.element);
                    format!(
                        "G1b (intermediate read): {} read {} of key {}, which ends with \
                         {element}, but {} appended {last_append} to that key after {element}: \
                         {} saw a state {} never committed",
                        r.label(),
                        short_list(&read),
                        self.key_text(*key),
                        w.label(),
                        r.name,
                        w.name
                    )
                };
                Anomaly::Read(ReadAnomaly {
                    anomaly: name,
                    reader: r,
                    writer: Some(w),
                    key: self.key(*key),
                    element: *element,
                    read,
                    explanation,
                })
            }
            Finding::GarbageRead {
                reader,
                mop,
                key,
                element,
            } => {
                let r = self.txn_ref(*reader, "T1".into());
                let read = self.read_of(*reader, *mop);
                let explanation = format!(
                    "garbage-read: {} read {} of key {}, which includes {element}, an element \
                     no transaction appended",
                    r.label(),
                    short_list(&read),
                    self.key_text(*key)
                );
                Anomaly::Read(ReadAnomaly {
                    anomaly: name,
                    reader: r,
                    writer: None,
                    key: self.key(*key),
                    element: *element,
                    read,
                    explanation,
                })
            }
            Finding::Internal {
                txn,
                mop,
                key,
                prefix_known,
                expected,
            } => {
                let t = self.txn_ref(*txn, "T1".into());
                let read = self.read_of(*txn, *mop);
                let should = if *prefix_known {
                    format!("be {}", short_list(expected))
                } else {
                    format!("end with {}", short_list(expected))
                };
                let explanation = format!(
                    "internal: {} {} (micro-op {}), but its own earlier micro-ops say the list \
                     should {should}",
                    t.label(),
                    read_phrase(&read, &self.key_text(*key)),
                    mop + 1
                );
                Anomaly::Txn(TxnAnomaly {
                    anomaly: name,
                    txn: t,
                    key: self.key(*key),
                    mop: *mop as usize,
                    read,
                    expected: Some(expected.clone()),
                    prefix_known: Some(*prefix_known),
                    element: None,
                    duplicates: BTreeMap::new(),
                    explanation,
                })
            }
            Finding::FutureRead {
                txn,
                read_mop,
                append_mop,
                key,
                element,
            } => {
                let t = self.txn_ref(*txn, "T1".into());
                let read = self.read_of(*txn, *read_mop);
                let explanation = format!(
                    "future-read: {} read {} of key {} (micro-op {}), which includes {element}, \
                     which {} itself appends later (micro-op {})",
                    t.label(),
                    short_list(&read),
                    self.key_text(*key),
                    read_mop + 1,
                    t.name,
                    append_mop + 1
                );
                Anomaly::Txn(TxnAnomaly {
                    anomaly: name,
                    txn: t,
                    key: self.key(*key),
                    mop: *read_mop as usize,
                    read,
                    expected: None,
                    prefix_known: None,
                    element: Some(*element),
                    duplicates: BTreeMap::new(),
                    explanation,
                })
            }
            Finding::DuplicateElements {
                txn,
                mop,
                key,
                duplicates,
            } => {
                let t = self.txn_ref(*txn, "T1".into());
                let read = self.read_of(*txn, *mop);
                let which: Vec<String> = duplicates
                    .iter()
                    .map(|(e, c)| format!("{e} appears {c} times"))
                    .collect();
                let explanation = format!(
                    "duplicate-elements: {} read {} of key {}, in which {}; every element is \
                     appended once",
                    t.label(),
                    short_list(&read),
                    self.key_text(*key),
                    which.join(", ")
                );
                Anomaly::Txn(TxnAnomaly {
                    anomaly: name,
                    txn: t,
                    key: self.key(*key),
                    mop: *mop as usize,
                    read,
                    expected: None,
                    prefix_known: None,
                    element: None,
                    duplicates: duplicates.clone(),
                    explanation,
                })
            }
            Finding::IncompatibleOrder { key, a, b } => {
                let ta = self.txn_ref(a.0, "T1".into());
                let tb = self.txn_ref(b.0, "T2".into());
                let (ra, rb) = (self.read_of(a.0, a.1), self.read_of(b.0, b.1));
                let explanation = format!(
                    "incompatible-order: {} read {} of key {} and {} read {}: neither is a \
                     prefix of the other, so no one order of appends explains both",
                    ta.label(),
                    short_list(&ra),
                    self.key_text(*key),
                    tb.label(),
                    short_list(&rb)
                );
                Anomaly::Key(KeyAnomaly {
                    anomaly: name,
                    key: self.key(*key),
                    txns: vec![ta, tb],
                    values: vec![ra, rb],
                    explanation,
                })
            }
            Finding::OwnAppendOrder {
                writer,
                reader,
                mop,
                key,
                appended,
            } => {
                let tw = self.txn_ref(*writer, "T1".into());
                let tr = self.txn_ref(*reader, "T2".into());
                let read = self.read_of(*reader, *mop);
                let explanation = format!(
                    "own-append-order: {} appended {} to key {} in that order, but {} read {} \
                     (micro-op {}), which holds them in another order; a transaction's own \
                     appends to one key take effect in the order it made them, in any \
                     execution",
                    tw.label(),
                    short_list(appended),
                    self.key_text(*key),
                    tr.label(),
                    short_list(&read),
                    mop + 1
                );
                Anomaly::Key(KeyAnomaly {
                    anomaly: name,
                    key: self.key(*key),
                    txns: vec![tw, tr],
                    values: vec![appended.clone(), read],
                    explanation,
                })
            }
            Finding::LostUpdate { key, read, txns } => {
                let refs: Vec<TxnRef> = txns
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| self.txn_ref(t, format!("T{}", i + 1)))
                    .collect();
                let labels: Vec<String> = refs.iter().map(TxnRef::label).collect();
                let (who, all) = match labels.len() {
                    2 => (format!("{} and {}", labels[0], labels[1]), "both"),
                    n => (
                        format!("{} and {}", labels[..n - 1].join(", "), labels[n - 1]),
                        "all",
                    ),
                };
                let explanation = format!(
                    "lost-update: {who} {all} {} and then appended to it, and {all} committed: \
                     each update was made without the other's",
                    read_phrase(read, &self.key_text(*key))
                );
                Anomaly::Key(KeyAnomaly {
                    anomaly: name,
                    key: self.key(*key),
                    txns: refs,
                    values: vec![read.clone()],
                    explanation,
                })
            }
            Finding::DirtyUpdate {
                key,
                elements,
                failed,
                committed,
            } => {
                let tf = self.txn_ref(*failed, "T1".into());
                let tc = self.txn_ref(*committed, "T2".into());
                let explanation = format!(
                    "dirty-update: in key {}'s version order {}, {} appended {} and failed, yet \
                     {} appended {} after it and committed",
                    self.key_text(*key),
                    short_list(elements),
                    tf.label(),
                    elements.first().copied().unwrap_or_default(),
                    tc.label(),
                    elements.last().copied().unwrap_or_default()
                );
                Anomaly::Key(KeyAnomaly {
                    anomaly: name,
                    key: self.key(*key),
                    txns: vec![tf, tc],
                    values: vec![elements.clone()],
                    explanation,
                })
            }
        }
    }
}

/// `read [1 3] of key 8`, or `read key 8 as empty`.
fn read_phrase(read: &[u64], key: &str) -> String {
    if read.is_empty() {
        format!("read key {key} as empty")
    } else {
        format!("read {} of key {key}", short_list(read))
    }
}

/// What a cycle class means, in a few words.
fn describe_kind(name: &str) -> &'static str {
    let base = name
        .strip_suffix("-realtime")
        .or_else(|| name.strip_suffix("-process"))
        .unwrap_or(name);
    let data = match base {
        "G0" => "write cycle: ww edges only",
        "G1c" => "circular information flow: ww and wr edges",
        "G-single-item" => "read skew: exactly one rw edge",
        "G-nonadjacent-item" => "rw edges, no two adjacent",
        _ => "write skew: two or more rw edges, two of them adjacent",
    };
    if name.ends_with("-realtime") {
        match base {
            "G0" => "write cycle, with real-time order",
            "G1c" => "circular information flow, with real-time order",
            "G-single-item" => "one rw edge, with real-time order",
            "G-nonadjacent-item" => "nonadjacent rw edges, with real-time order",
            _ => "two or more rw edges, with real-time order",
        }
    } else if name.ends_with("-process") {
        match base {
            "G0" => "write cycle, with process order",
            "G1c" => "circular information flow, with process order",
            "G-single-item" => "one rw edge, with process order",
            "G-nonadjacent-item" => "nonadjacent rw edges, with process order",
            _ => "two or more rw edges, with process order",
        }
    } else {
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_shortened() {
        assert_eq!(short_list(&[1, 3]), "[1 3]");
        let long: Vec<u64> = (1..=20).collect();
        assert_eq!(short_list(&long), "[1 2 3 4 ... 18 19 20] (20 elements)");
    }

    #[test]
    fn anomalies_serialize_with_their_type() {
        let a = Anomaly::Key(KeyAnomaly {
            anomaly: "lost-update".into(),
            key: Key::Int(3),
            txns: vec![],
            values: vec![vec![1]],
            explanation: "x".into(),
        });
        let text = serde_json::to_string(&a).unwrap();
        assert!(
            text.starts_with(r#"{"type":"txn-key","anomaly":"lost-update""#),
            "{text}"
        );
        let back: Anomaly = serde_json::from_str(&text).unwrap();
        assert_eq!(back, a);
    }
}
