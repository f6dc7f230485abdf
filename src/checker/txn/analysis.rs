//! Version orders, and every anomaly that needs no cycle, as Elle's
//! list-append checker defines them.
//!
//! Owns the indexes the dependency graph is built from ([`Analysis`]: every
//! append with its position in its key's version order, every `ok` read
//! grouped by key, the readers of each version) and the findings
//! ([`Finding`]) for: `incompatible-order`, `G1a` (aborted read), `G1b`
//! (intermediate read), `internal`, `future-read`, `duplicate-elements`,
//! `lost-update`, `dirty-update`, and `garbage-read` (ours: a read of an
//! element no transaction appended, which Elle does not name).
//!
//! Definitions (Elle's `elle.list-append`):
//! - The version order of a key is its longest `ok` read, repeated elements
//!   dropped; every other read must be a prefix of it, else the key has an
//!   incompatible order (reported once per key: the first two distinct
//!   reads, by length, that are not prefixes of one another).
//! - Appended elements are unique per key (Elle's precondition); a history
//!   that appends one twice cannot be analyzed ([`Unanalyzable`]).
//! - Only `ok` reads are evidence; an `ok` read of `nil` read `[]`.
//!
//! Pure, and must not depend on the graph or the search.

use std::collections::BTreeMap;

use crate::checker::memo::FxHashMap;
use crate::history::Outcome;

use super::history::{KeyId, Mop, Span, TxnHistory};

/// No version: the position of an element not in its key's version order,
/// or of a read that ends nowhere in it.
pub(crate) const NONE: u32 = u32::MAX;

/// One append, anywhere in the history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendInfo {
    pub txn: u32,
    pub key: KeyId,
    pub element: u64,
    /// Position in the key's version order, or [`NONE`].
    pub pos: u32,
    /// Not the transaction's last append to this key.
    pub intermediate: bool,
    /// Seen by some `ok` read.
    pub observed: bool,
}

/// One `ok` read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadInfo {
    pub txn: u32,
    pub mop: u32,
    pub key: KeyId,
    pub span: Span,
}

/// What the module finds without a graph. Transactions are indexes into
/// [`TxnHistory::txns`], micro-ops positions within them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// An `ok` read saw an element a failed transaction appended.
    AbortedRead {
        reader: u32,
        mop: u32,
        key: KeyId,
        element: u64,
        writer: u32,
    },
    /// An `ok` read ended with an element that was not its writer's last
    /// append to that key.
    IntermediateRead {
        reader: u32,
        mop: u32,
        key: KeyId,
        element: u64,
        writer: u32,
    },
    /// A read disagreed with the transaction's own earlier reads and
    /// appends: `expected` is the whole list (`prefix_known`) or what must
    /// end it.
    Internal {
        txn: u32,
        mop: u32,
        key: KeyId,
        prefix_known: bool,
        expected: Vec<u64>,
    },
    /// A read saw an element its own transaction appends later.
    FutureRead {
        txn: u32,
        read_mop: u32,
        append_mop: u32,
        key: KeyId,
        element: u64,
    },
    /// A read returned an element more than once.
    DuplicateElements {
        txn: u32,
        mop: u32,
        key: KeyId,
        duplicates: BTreeMap<u64, u32>,
    },
    /// Two reads of a key that no single order of appends explains.
    IncompatibleOrder {
        key: KeyId,
        /// (reader, micro-op) of each.
        a: (u32, u32),
        b: (u32, u32),
    },
    /// Committed transactions that read the same version of a key and
    /// each appended to it.
    LostUpdate {
        key: KeyId,
        read: Vec<u64>,
        txns: Vec<u32>,
    },
    /// In the version order, a failed transaction's append and then a
    /// committed one's.
    DirtyUpdate {
        key: KeyId,
        elements: Vec<u64>,
        failed: u32,
        committed: u32,
    },
    /// A read saw two elements one transaction appended to one key in the
    /// opposite order from the one it appended them in (chaos's own: a
    /// reorder makes no dependency cycle, so Elle's method passes it).
    OwnAppendOrder {
        writer: u32,
        reader: u32,
        mop: u32,
        key: KeyId,
        /// The writer's elements of this key, in the order it appended them.
        appended: Vec<u64>,
    },
    /// An `ok` read saw an element that no transaction appended.
    GarbageRead {
        reader: u32,
        mop: u32,
        key: KeyId,
        element: u64,
    },
}

impl Finding {
    /// Elle's name for it (ours for `garbage-read`).
    pub fn name(&self) -> &'static str {
        match self {
            Finding::AbortedRead { .. } => "G1a",
            Finding::IntermediateRead { .. } => "G1b",
            Finding::Internal { .. } => "internal",
            Finding::FutureRead { .. } => "future-read",
            Finding::DuplicateElements { .. } => "duplicate-elements",
            Finding::IncompatibleOrder { .. } => "incompatible-order",
            Finding::LostUpdate { .. } => "lost-update",
            Finding::DirtyUpdate { .. } => "dirty-update",
            Finding::OwnAppendOrder { .. } => "own-append-order",
            Finding::GarbageRead { .. } => "garbage-read",
        }
    }
}

/// Why a history cannot be analyzed at all (Elle answers `unknown`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unanalyzable {
    pub key: KeyId,
    pub element: u64,
    pub first: u32,
    pub second: u32,
}

/// The indexes and findings.
pub(crate) struct Analysis {
    /// Every append, in transaction order, then micro-op order.
    pub appends: Vec<AppendInfo>,
    /// Per transaction, its first append in `appends` (and one past the
    /// end at `txns.len()`).
    pub txn_appends: Vec<u32>,
    /// Every `ok` read, grouped by key (then in transaction order).
    pub reads: Vec<ReadInfo>,
    /// Per key, its first read in `reads` (and one past the end).
    pub key_reads: Vec<u32>,
    /// Version orders, flat: key `k` is `orders[order_start[k]..order_start[k+1]]`.
    pub orders: Vec<u64>,
    pub order_start: Vec<u32>,
    /// Per version position, the transaction that appended it ([`NONE`]:
    /// nobody did).
    pub order_writers: Vec<u32>,
    /// Readers of each version: for key `k`, slot `order_start[k] + k + 1 + pos`
    /// (slot `order_start[k] + k` is the empty list) lists, in
    /// `readers[reader_start[slot]..reader_start[slot+1]]`, the `ok`
    /// transactions whose read of `k` ended there.
    pub readers: Vec<u32>,
    pub reader_start: Vec<u32>,
    /// Keys whose reads are not all prefixes of the version order (they
    /// disagree, or the longest repeats an element): a read's length then
    /// says nothing about where it ends, and elements are looked up.
    pub irregular: Vec<bool>,
    /// (key, element) to its append in `appends`.
    pub append_ids: FxHashMap<(KeyId, u64), u32>,
    /// Whether each transaction is in the graph: `ok`, or `info` with an
    /// append some read saw (it committed).
    pub vertex: Vec<bool>,
    pub findings: Vec<Finding>,
}

impl Analysis {
    /// The version order of a key.
    pub fn order(&self, key: KeyId) -> &[u64] {
        let k = key as usize;
        &self.orders[self.order_start[k] as usize..self.order_start[k + 1] as usize]
    }

    /// The writers of a key's versions.
    pub fn writers(&self, key: KeyId) -> &[u32] {
        let k = key as usize;
        &self.order_writers[self.order_start[k] as usize..self.order_start[k + 1] as usize]
    }

    /// The transactions whose read of `key` ended at version `pos` (`None`:
    /// read the empty list).
    pub fn readers_of(&self, key: KeyId, pos: Option<u32>) -> &[u32] {
        let slot = self.slot(key, pos);
        &self.readers[self.reader_start[slot] as usize..self.reader_start[slot + 1] as usize]
    }

    fn slot(&self, key: KeyId, pos: Option<u32>) -> usize {
        self.order_start[key as usize] as usize + key as usize + pos.map_or(0, |p| p as usize + 1)
    }

    /// The `ok` reads of a key.
    pub fn reads_of(&self, key: KeyId) -> &[ReadInfo] {
        let k = key as usize;
        &self.reads[self.key_reads[k] as usize..self.key_reads[k + 1] as usize]
    }

    /// The append of an element, if any transaction appended it.
    pub fn appender(&self, key: KeyId, element: u64) -> Option<&AppendInfo> {
        self.append_ids
            .get(&(key, element))
            .map(|&id| &self.appends[id as usize])
    }

    /// The appends of transaction `t`.
    pub fn appends_of(&self, t: usize) -> &[AppendInfo] {
        &self.appends[self.txn_appends[t] as usize..self.txn_appends[t + 1] as usize]
    }
}

/// Index the history and find every anomaly that needs no cycle.
pub(crate) fn analyze(h: &TxnHistory) -> Result<Analysis, Unanalyzable> {
    let n = h.txns.len();
    let nkeys = h.keys().len();

    // Appends, and which are intermediate.
    let mut appends: Vec<AppendInfo> = Vec::new();
    let mut txn_appends: Vec<u32> = Vec::with_capacity(n + 1);
    let mut append_ids: FxHashMap<(KeyId, u64), u32> = FxHashMap::default();
    let mut reads: Vec<ReadInfo> = Vec::new();
    for (t, txn) in h.txns.iter().enumerate() {
        txn_appends.push(appends.len() as u32);
        let first = appends.len();
        let mops = h.mops(txn);
        for (i, m) in mops.iter().enumerate() {
            match *m {
                Mop::Append { key, element } => {
                    let id = appends.len() as u32;
                    if let Some(&other) = append_ids.get(&(key, element)) {
                        return Err(Unanalyzable {
                            key,
                            element,
                            first: appends[other as usize].txn,
                            second: t as u32,
                        });
                    }
                    append_ids.insert((key, element), id);
                    appends.push(AppendInfo {
                        txn: t as u32,
                        key,
                        element,
                        pos: NONE,
                        intermediate: false,
                        observed: false,
                    });
                }
                Mop::Read {
                    key,
                    observed: Some(span),
                } if txn.outcome == Outcome::Ok => reads.push(ReadInfo {
                    txn: t as u32,
                    mop: i as u32,
                    key,
                    span,
                }),
                Mop::Read { .. } => {}
            }
        }
        // All but the last append of each key are intermediate.
        let mine = &mut appends[first..];
        for i in 0..mine.len() {
            let later = mine[i + 1..].iter().any(|a| a.key == mine[i].key);
            mine[i].intermediate = later;
        }
    }
    txn_appends.push(appends.len() as u32);

    // Reads grouped by key (stable: transaction order within a key).
    let mut key_reads = vec![0u32; nkeys + 1];
    for r in &reads {
        key_reads[r.key as usize + 1] += 1;
    }
    for k in 0..nkeys {
        key_reads[k + 1] += key_reads[k];
    }
    let reads = {
        let mut next = key_reads.clone();
        let mut sorted = vec![
            ReadInfo {
                txn: 0,
                mop: 0,
                key: 0,
                span: Span::default()
            };
            reads.len()
        ];
        for r in reads {
            let at = &mut next[r.key as usize];
            sorted[*at as usize] = r;
            *at += 1;
        }
        sorted
    };

    let mut findings = Vec::new();
    let mut orders: Vec<u64> = Vec::with_capacity(appends.len());
    let mut order_start: Vec<u32> = Vec::with_capacity(nkeys + 1);
    let mut order_writers: Vec<u32> = Vec::with_capacity(appends.len());
    let mut irregular = vec![false; nkeys];

    for k in 0..nkeys {
        order_start.push(orders.len() as u32);
        let key_reads_k = &reads[key_reads[k] as usize..key_reads[k + 1] as usize];
        // The longest read (the first of the longest, for determinism).
        let mut longest: Option<Span> = None;
        for r in key_reads_k {
            if longest.is_none_or(|l| r.span.len > l.len) {
                longest = Some(r.span);
            }
        }
        let Some(longest) = longest else { continue };
        let longest_elems = h.elements(longest);
        // Compatible: every read a prefix of the longest.
        let compatible = key_reads_k.iter().all(|r| {
            let e = h.elements(r.span);
            e == &longest_elems[..e.len()]
        });
        if !compatible {
            findings.push(incompatible_order(h, k as KeyId, key_reads_k));
        }
        // Version order: the longest read, repeats dropped.
        let start = orders.len();
        let mut seen: FxHashMap<u64, ()> = FxHashMap::default();
        let mut has_repeat = false;
        for &e in longest_elems {
            if seen.insert(e, ()).is_none() {
                orders.push(e);
            } else {
                has_repeat = true;
            }
        }
        irregular[k] = !compatible || has_repeat;
        for (p, &e) in orders[start..].iter().enumerate() {
            match append_ids.get(&(k as KeyId, e)) {
                Some(&id) => {
                    let a = &mut appends[id as usize];
                    a.pos = p as u32;
                    a.observed = true;
                    order_writers.push(a.txn);
                }
                None => order_writers.push(NONE),
            }
        }
        // Duplicates: in reads that are prefixes of a longest read with a
        // repeat (past its first repeat), and in incompatible reads.
        if has_repeat || !compatible {
            let first_repeat = first_repeat(longest_elems);
            for r in key_reads_k {
                let e = h.elements(r.span);
                let prefix = e == &longest_elems[..e.len()];
                let may = if prefix {
                    first_repeat.is_some_and(|d| e.len() > d)
                } else {
                    true
                };
                if may && let Some(duplicates) = duplicates(e) {
                    findings.push(Finding::DuplicateElements {
                        txn: r.txn,
                        mop: r.mop,
                        key: k as KeyId,
                        duplicates,
                    });
                }
            }
        }
        // Elements of irregular reads outside the version order.
        if irregular[k] {
            for r in key_reads_k {
                for &e in h.elements(r.span) {
                    if let Some(&id) = append_ids.get(&(k as KeyId, e)) {
                        appends[id as usize].observed = true;
                    }
                }
            }
        }
    }
    order_start.push(orders.len() as u32);

    let mut a = Analysis {
        appends,
        txn_appends,
        reads,
        key_reads,
        orders,
        order_start,
        order_writers,
        readers: Vec::new(),
        reader_start: Vec::new(),
        irregular,
        append_ids,
        vertex: Vec::new(),
        findings,
    };
    a.vertex = h
        .txns
        .iter()
        .enumerate()
        .map(|(t, txn)| match txn.outcome {
            Outcome::Ok => true,
            Outcome::Fail => false,
            Outcome::Info => a.appends_of(t).iter().any(|x| x.observed),
        })
        .collect();
    index_readers(h, &mut a);
    aborted_and_garbage_reads(h, &mut a);
    intermediate_reads(h, &mut a);
    internal_and_future_reads(h, &mut a);
    own_append_order(h, &mut a);
    lost_updates(h, &mut a);
    dirty_updates(h, &mut a);
    Ok(a)
}

/// The index of the first element that repeats an earlier one.
fn first_repeat(elements: &[u64]) -> Option<usize> {
    let mut seen: FxHashMap<u64, ()> = FxHashMap::default();
    elements.iter().position(|&e| seen.insert(e, ()).is_some())
}

fn duplicates(elements: &[u64]) -> Option<BTreeMap<u64, u32>> {
    let mut counts: FxHashMap<u64, u32> = FxHashMap::default();
    for &e in elements {
        *counts.entry(e).or_default() += 1;
    }
    let dups: BTreeMap<u64, u32> = counts.into_iter().filter(|&(_, c)| c > 1).collect();
    (!dups.is_empty()).then_some(dups)
}

/// Elle's report for a key whose reads are not prefixes of one order: the
/// distinct reads sorted by length (then by elements, for determinism),
/// and the first neighbouring pair that is not a prefix pair.
fn incompatible_order(h: &TxnHistory, key: KeyId, reads: &[ReadInfo]) -> Finding {
    let mut distinct: Vec<&ReadInfo> = Vec::new();
    let mut seen: FxHashMap<&[u64], ()> = FxHashMap::default();
    for r in reads {
        if seen.insert(h.elements(r.span), ()).is_none() {
            distinct.push(r);
        }
    }
    distinct.sort_by(|a, b| {
        let (x, y) = (h.elements(a.span), h.elements(b.span));
        x.len().cmp(&y.len()).then_with(|| x.cmp(y))
    });
    let pair = distinct
        .windows(2)
        .find(|w| {
            let (x, y) = (h.elements(w[0].span), h.elements(w[1].span));
            x != &y[..x.len()]
        })
        .expect("some pair of reads is not a prefix pair");
    Finding::IncompatibleOrder {
        key,
        a: (pair[0].txn, pair[0].mop),
        b: (pair[1].txn, pair[1].mop),
    }
}

/// The position of a read's last element in its key's version order.
fn read_end(h: &TxnHistory, a: &Analysis, r: &ReadInfo) -> Option<Option<u32>> {
    if r.span.len == 0 {
        return Some(None);
    }
    if !a.irregular[r.key as usize] {
        return Some(Some(r.span.len - 1));
    }
    let last = *h.elements(r.span).last().expect("a non-empty read");
    match a.appender(r.key, last) {
        Some(x) if x.pos != NONE => Some(Some(x.pos)),
        _ => a
            .order(r.key)
            .iter()
            .position(|&e| e == last)
            .map(|p| Some(p as u32)),
    }
}

/// Readers of each version (Elle's read index, by position).
fn index_readers(h: &TxnHistory, a: &mut Analysis) {
    let nkeys = a.order_start.len() - 1;
    let slots = a.orders.len() + nkeys;
    let mut start = vec![0u32; slots + 1];
    let mut slot_of: Vec<u32> = Vec::with_capacity(a.reads.len());
    for r in &a.reads {
        let slot = match read_end(h, a, r) {
            Some(pos) => a.slot(r.key, pos) as u32,
            None => NONE,
        };
        slot_of.push(slot);
        if slot != NONE {
            start[slot as usize + 1] += 1;
        }
    }
    for s in 0..slots {
        start[s + 1] += start[s];
    }
    let mut readers = vec![0u32; start[slots] as usize];
    let mut next = start.clone();
    for (r, &slot) in a.reads.iter().zip(&slot_of) {
        if slot != NONE {
            readers[next[slot as usize] as usize] = r.txn;
            next[slot as usize] += 1;
        }
    }
    a.readers = readers;
    a.reader_start = start;
}

/// G1a and garbage: elements of `ok` reads appended by failed transactions,
/// or by nobody.
fn aborted_and_garbage_reads(h: &TxnHistory, a: &mut Analysis) {
    let nkeys = a.order_start.len() - 1;
    let mut found = Vec::new();
    for k in 0..nkeys {
        let key = k as KeyId;
        let reads = a.reads_of(key);
        if a.irregular[k] {
            for r in reads {
                for &e in h.elements(r.span) {
                    match a.appender(key, e) {
                        None => found.push(Finding::GarbageRead {
                            reader: r.txn,
                            mop: r.mop,
                            key,
                            element: e,
                        }),
                        Some(x) => {
                            let w = x.txn;
                            if h.txns[w as usize].outcome == Outcome::Fail {
                                found.push(Finding::AbortedRead {
                                    reader: r.txn,
                                    mop: r.mop,
                                    key,
                                    element: e,
                                    writer: w,
                                });
                            }
                        }
                    }
                }
            }
            continue;
        }
        // Compatible: a read contains version `p` iff it is longer than p.
        let order = a.order(key);
        let writers = a.writers(key);
        for (p, (&e, &w)) in order.iter().zip(writers).enumerate() {
            let bad_writer = w != NONE && h.txns[w as usize].outcome == Outcome::Fail;
            if w != NONE && !bad_writer {
                continue;
            }
            for r in reads.iter().filter(|r| r.span.len as usize > p) {
                found.push(if w == NONE {
                    Finding::GarbageRead {
                        reader: r.txn,
                        mop: r.mop,
                        key,
                        element: e,
                    }
                } else {
                    Finding::AbortedRead {
                        reader: r.txn,
                        mop: r.mop,
                        key,
                        element: e,
                        writer: w,
                    }
                });
            }
        }
    }
    a.findings.extend(found);
}

/// G1b: a read whose last element is another transaction's intermediate
/// append to that key.
fn intermediate_reads(h: &TxnHistory, a: &mut Analysis) {
    let mut found = Vec::new();
    for r in &a.reads {
        let Some(&last) = h.elements(r.span).last() else {
            continue;
        };
        let Some(&w) = a.appender(r.key, last) else {
            continue;
        };
        if w.intermediate && w.txn != r.txn {
            found.push(Finding::IntermediateRead {
                reader: r.txn,
                mop: r.mop,
                key: r.key,
                element: last,
                writer: w.txn,
            });
        }
    }
    a.findings.extend(found);
}

/// Own append order: a transaction's appends to one key must appear, in
/// every read that holds two or more of them, in the order it made them.
/// One finding per (writer, key): the first read that shows them reordered.
fn own_append_order(h: &TxnHistory, a: &mut Analysis) {
    let mut found = Vec::new();
    for t in 0..h.txns.len() {
        let appends = a.appends_of(t);
        if appends.len() < 2 {
            continue;
        }
        // The writer's elements per key, in its order.
        let mut by_key: Vec<(KeyId, Vec<u64>)> = Vec::new();
        for x in appends {
            match by_key.iter_mut().find(|(k, _)| *k == x.key) {
                Some((_, v)) => v.push(x.element),
                None => by_key.push((x.key, vec![x.element])),
            }
        }
        for (key, mine) in by_key.into_iter().filter(|(_, v)| v.len() >= 2) {
            for r in a.reads_of(key) {
                let seen: Vec<u64> = h
                    .elements(r.span)
                    .iter()
                    .copied()
                    .filter(|e| mine.contains(e))
                    .collect();
                let rank = |e: &u64| mine.iter().position(|m| m == e);
                if seen.windows(2).any(|w| rank(&w[0]) > rank(&w[1])) {
                    found.push(Finding::OwnAppendOrder {
                        writer: t as u32,
                        reader: r.txn,
                        mop: r.mop,
                        key,
                        appended: mine.clone(),
                    });
                    break;
                }
            }
        }
    }
    a.findings.extend(found);
}

/// What a transaction expects a key to hold, from its own earlier micro-ops.
enum Expect {
    /// Exactly this list.
    Known(Vec<u64>),
    /// A list ending with these (appended since an unknown start).
    EndsWith(Vec<u64>),
}

/// Internal consistency and future reads, per `ok` transaction.
fn internal_and_future_reads(h: &TxnHistory, a: &mut Analysis) {
    let mut found = Vec::new();
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let mops = h.mops(txn);
        // Only a key touched twice can disagree with itself.
        let repeated = mops
            .iter()
            .enumerate()
            .any(|(i, m)| mops[i + 1..].iter().any(|x| x.key() == m.key()));
        if !repeated {
            continue;
        }
        // Internal (Elle's op-int-case): the first disagreement.
        let mut state: Vec<(KeyId, Expect)> = Vec::new();
        for (i, m) in mops.iter().enumerate() {
            let key = m.key();
            let at = state.iter().position(|(k, _)| *k == key);
            match *m {
                Mop::Append { element, .. } => match at {
                    Some(j) => match &mut state[j].1 {
                        Expect::Known(l) | Expect::EndsWith(l) => l.push(element),
                    },
                    None => state.push((key, Expect::EndsWith(vec![element]))),
                },
                Mop::Read { observed, .. } => {
                    let read = h.elements(observed.unwrap_or_default());
                    if let Some(j) = at {
                        let bad = match &state[j].1 {
                            Expect::Known(l) => l.as_slice() != read,
                            Expect::EndsWith(s) => {
                                read.len() < s.len() || &read[read.len() - s.len()..] != s
                            }
                        };
                        if bad {
                            let (prefix_known, expected) = match &state[j].1 {
                                Expect::Known(l) => (true, l.clone()),
                                Expect::EndsWith(s) => (false, s.clone()),
                            };
                            found.push(Finding::Internal {
                                txn: t as u32,
                                mop: i as u32,
                                key,
                                prefix_known,
                                expected,
                            });
                            break;
                        }
                        state[j].1 = Expect::Known(read.to_vec());
                    } else {
                        state.push((key, Expect::Known(read.to_vec())));
                    }
                }
            }
        }
        // Future read (Elle's op-future-read-case): the first append of an
        // element an earlier read of the same transaction saw.
        'future: for (i, m) in mops.iter().enumerate() {
            if let Mop::Append { key, element } = *m {
                for (j, earlier) in mops[..i].iter().enumerate() {
                    if let Mop::Read {
                        key: rk,
                        observed: Some(span),
                    } = *earlier
                        && rk == key
                        && h.elements(span).contains(&element)
                    {
                        found.push(Finding::FutureRead {
                            txn: t as u32,
                            read_mop: j as u32,
                            append_mop: i as u32,
                            key,
                            element,
                        });
                        break 'future;
                    }
                }
            }
        }
    }
    a.findings.extend(found);
}

/// Lost update (Elle's lost-update-cases): `ok` transactions that read a
/// key (before appending to it) and then appended to it, grouped by what
/// they read; two or more in a group lost one another's update.
fn lost_updates(h: &TxnHistory, a: &mut Analysis) {
    // Reads are identified by (key, elements).
    let mut groups: BTreeMap<(KeyId, Vec<u64>), Vec<u32>> = BTreeMap::new();
    let mut compact: FxHashMap<(KeyId, u32), Vec<u32>> = FxHashMap::default();
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let mops = h.mops(txn);
        // Per key: the first read, and whether the key was counted.
        let mut first_read: Vec<(KeyId, Span)> = Vec::new();
        let mut counted: Vec<KeyId> = Vec::new();
        for m in mops {
            match *m {
                Mop::Append { key, .. } => {
                    if counted.contains(&key) {
                        continue;
                    }
                    if let Some(&(_, span)) = first_read.iter().find(|(k, _)| *k == key) {
                        counted.push(key);
                        if a.irregular[key as usize] {
                            groups
                                .entry((key, h.elements(span).to_vec()))
                                .or_default()
                                .push(t as u32);
                        } else {
                            compact.entry((key, span.len)).or_default().push(t as u32);
                        }
                    }
                }
                Mop::Read { key, observed } => {
                    if !first_read.iter().any(|(k, _)| *k == key) {
                        first_read.push((key, observed.unwrap_or_default()));
                    }
                }
            }
        }
    }
    // Compatible keys: a read of length `len` is the order's prefix.
    for ((key, len), txns) in compact {
        if txns.len() >= 2 {
            let read = a.order(key)[..len as usize].to_vec();
            groups.entry((key, read)).or_default().extend(txns);
        }
    }
    for ((key, read), mut txns) in groups {
        if txns.len() >= 2 {
            txns.sort_unstable();
            a.findings.push(Finding::LostUpdate { key, read, txns });
        }
    }
}

/// Dirty update (Elle's dirty-update-cases): walking each version order, a
/// failed transaction's append followed by a committed one's.
fn dirty_updates(h: &TxnHistory, a: &mut Analysis) {
    let nkeys = a.order_start.len() - 1;
    let mut found = Vec::new();
    for k in 0..nkeys {
        let key = k as KeyId;
        // (the last transaction that decided, its outcome, elements since)
        let mut t1: Option<u32> = None;
        let mut t1_outcome = Outcome::Ok;
        let mut elements: Vec<u64> = Vec::new();
        for (&e, &w) in a.order(key).iter().zip(a.writers(key)) {
            if w == NONE {
                continue;
            }
            let t2 = h.txns[w as usize].outcome;
            match (t1_outcome, t2) {
                (Outcome::Fail, Outcome::Ok) => {
                    elements.push(e);
                    found.push(Finding::DirtyUpdate {
                        key,
                        elements: std::mem::take(&mut elements),
                        failed: t1.expect("a failed writer came first"),
                        committed: w,
                    });
                    (t1, t1_outcome) = (Some(w), t2);
                    elements = vec![e];
                }
                (_, Outcome::Ok) | (Outcome::Ok | Outcome::Info, Outcome::Fail) => {
                    (t1, t1_outcome) = (Some(w), t2);
                    elements = vec![e];
                }
                (_, Outcome::Info) | (Outcome::Fail, Outcome::Fail) => elements.push(e),
            }
        }
    }
    a.findings.extend(found);
}
