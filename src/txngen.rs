//! The seeded list-append history generator: a simulated transactional
//! database of append-only lists, for the transaction checker's tests and
//! benchmarks.
//!
//! [`generate`] (or [`generate_with`], which streams lines instead of
//! keeping them) runs `processes` clients against the simulated database.
//! Each client invokes a transaction of 1 to 4 micro-ops (appends of unique
//! elements and reads, over `active_keys` keys chosen uniformly; a key is
//! retired after `appends_per_key` appends and a fresh one takes its
//! place, as Elle's generator does). The database applies the transaction
//! at one instant inside its invocation and completion (strict
//! serializability), or, with [`Isolation::Serializable`], lets read-only
//! transactions read an older snapshot (serializable, not strict). An
//! `info` transaction took effect or not, at random, possibly after its
//! `info` line, and retires its process; a `fail` one did not take effect.
//!
//! [`Faults`] make the database misbehave at random (stale reads, lost or
//! torn appends, aborted appends made visible): for comparing the checker
//! with a brute-force oracle. [`Gadget`]s inject one specific anomaly (G0,
//! G1a, G1b, G1c, G-single, G-nonadjacent, G2-item, lost update, ...) as a
//! handful of transactions on fresh keys and fresh processes, at a random
//! point of the history.
//!
//! [`edn_line`] and [`jsonl_line`] write a line in Elle's EDN and in chaos's
//! JSONL.
//!
//! Pure and deterministic: the same config gives the same history, byte for
//! byte; randomness comes only from the seed through named ChaCha20
//! streams.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;

use rand::Rng;

use crate::checker::txn::{MicroOp, TxnFunction, TxnLine, key_text};
use crate::history::{Key, Kind};
use crate::seed::Seed;

/// What the simulated database guarantees (without faults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Each transaction takes effect at one instant between its invocation
    /// and its completion.
    #[default]
    StrictSerializable,
    /// As strict, except that read-only transactions may read a snapshot
    /// from before they were invoked.
    Serializable,
}

/// Ways for the database to misbehave, each a probability per transaction.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// The transaction's reads see an older snapshot (its own appends
    /// still visible to it); its appends apply to the current state.
    pub stale_read: f64,
    /// One append of an `ok` transaction is lost by the database (the
    /// transaction itself still sees it).
    pub lost_append: f64,
    /// The transaction's micro-ops take effect at separate instants.
    pub torn: f64,
    /// A failed transaction's appends become visible anyway.
    pub aborted_visible: f64,
}

impl Faults {
    pub fn any(&self) -> bool {
        self.stale_read > 0.0
            || self.lost_append > 0.0
            || self.torn > 0.0
            || self.aborted_visible > 0.0
    }
}

/// One injected anomaly: a few transactions on fresh keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gadget {
    /// Write cycle: two transactions append to two keys in opposite orders.
    G0,
    /// Aborted read: a read sees a failed transaction's append.
    G1a,
    /// Intermediate read: a read ends with a transaction's non-final append.
    G1b,
    /// Circular information flow: each reads the other's append.
    G1c,
    /// Read skew: a read sees one of a transaction's appends and misses the
    /// other.
    GSingle,
    /// A stale read after a completed append (G-single-item-realtime).
    GSingleRealtime,
    /// Two rw edges, not adjacent (Elle's G-nonadjacent example).
    GNonadjacent,
    /// Write skew: each reads what the other appends to, before it.
    G2Item,
    /// Two transactions read the same version, both append to it.
    LostUpdate,
    /// A transaction's read disagrees with its own append.
    Internal,
    /// A read returns an element twice.
    DuplicateElements,
    /// Two reads disagree on the order of appends.
    IncompatibleOrder,
    /// A committed append after a failed one, in the version order.
    DirtyUpdate,
    /// A read sees an element its own transaction appends later.
    FutureRead,
}

impl Gadget {
    pub const ALL: [Gadget; 14] = [
        Gadget::G0,
        Gadget::G1a,
        Gadget::G1b,
        Gadget::G1c,
        Gadget::GSingle,
        Gadget::GSingleRealtime,
        Gadget::GNonadjacent,
        Gadget::G2Item,
        Gadget::LostUpdate,
        Gadget::Internal,
        Gadget::DuplicateElements,
        Gadget::IncompatibleOrder,
        Gadget::DirtyUpdate,
        Gadget::FutureRead,
    ];

    /// The anomaly the checker must report for it (Elle's name).
    pub fn anomaly(self) -> &'static str {
        match self {
            Gadget::G0 => "G0",
            Gadget::G1a => "G1a",
            Gadget::G1b => "G1b",
            Gadget::G1c => "G1c",
            Gadget::GSingle => "G-single-item",
            Gadget::GSingleRealtime => "G-single-item-realtime",
            Gadget::GNonadjacent => "G-nonadjacent-item",
            Gadget::G2Item => "G2-item",
            Gadget::LostUpdate => "lost-update",
            Gadget::Internal => "internal",
            Gadget::DuplicateElements => "duplicate-elements",
            Gadget::IncompatibleOrder => "incompatible-order",
            Gadget::DirtyUpdate => "dirty-update",
            Gadget::FutureRead => "future-read",
        }
    }

    /// Phases of transactions: the transactions of a phase run
    /// concurrently, each phase after the previous one completed. A
    /// transaction is (outcome, micro-ops over gadget keys 0, 1, 2, 3).
    fn phases(self) -> Vec<Vec<(Kind, Vec<GadgetOp>)>> {
        use GadgetOp::{A, R};
        let ok = Kind::Ok;
        match self {
            Gadget::G0 => vec![
                vec![(ok, vec![A(0, 1), A(1, 2)]), (ok, vec![A(0, 2), A(1, 1)])],
                vec![(ok, vec![R(0, &[1, 2]), R(1, &[1, 2])])],
            ],
            Gadget::G1a => vec![
                vec![(Kind::Fail, vec![A(0, 1)])],
                vec![(ok, vec![R(0, &[1])])],
            ],
            Gadget::G1b => vec![
                vec![(ok, vec![A(0, 1), A(0, 2)])],
                vec![(ok, vec![R(0, &[1])])],
            ],
            Gadget::G1c => vec![vec![
                (ok, vec![A(0, 1), R(1, &[1])]),
                (ok, vec![A(1, 1), R(0, &[1])]),
            ]],
            Gadget::GSingle => vec![vec![
                (ok, vec![A(0, 1), A(1, 1)]),
                (ok, vec![R(0, &[]), R(1, &[1])]),
            ]],
            Gadget::GSingleRealtime => vec![vec![(ok, vec![A(0, 1)])], vec![(ok, vec![R(0, &[])])]],
            Gadget::GNonadjacent => vec![vec![
                (ok, vec![A(0, 1)]),
                (ok, vec![R(0, &[1]), R(1, &[])]),
                (ok, vec![A(1, 1)]),
                (ok, vec![R(1, &[1]), R(0, &[])]),
            ]],
            Gadget::G2Item => vec![
                vec![
                    (ok, vec![R(0, &[]), A(1, 1)]),
                    (ok, vec![R(1, &[]), A(0, 1)]),
                ],
                vec![(ok, vec![R(0, &[1]), R(1, &[1])])],
            ],
            Gadget::LostUpdate => vec![
                vec![
                    (ok, vec![R(0, &[]), A(0, 1)]),
                    (ok, vec![R(0, &[]), A(0, 2)]),
                ],
                vec![(ok, vec![R(0, &[1, 2])])],
            ],
            Gadget::Internal => vec![vec![(ok, vec![A(0, 1), R(0, &[])])]],
            Gadget::DuplicateElements => {
                vec![vec![(ok, vec![A(0, 1)])], vec![(ok, vec![R(0, &[1, 1])])]]
            }
            Gadget::IncompatibleOrder => vec![
                vec![(ok, vec![A(0, 1)]), (ok, vec![A(0, 2)])],
                vec![(ok, vec![R(0, &[1, 2])]), (ok, vec![R(0, &[2, 1])])],
            ],
            Gadget::DirtyUpdate => vec![
                vec![(Kind::Fail, vec![A(0, 1)])],
                vec![(ok, vec![A(0, 2)])],
                vec![(ok, vec![R(0, &[1, 2])])],
            ],
            Gadget::FutureRead => vec![vec![(ok, vec![R(0, &[1]), A(0, 1)])]],
        }
    }
}

/// A micro-op of a gadget: append (key, element), read (key, result).
#[derive(Debug, Clone, Copy)]
enum GadgetOp {
    A(u64, u64),
    R(u64, &'static [u64]),
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnGenConfig {
    pub seed: u64,
    /// Transactions (invocations) in all, gadgets not counted.
    pub txns: usize,
    /// Clients running at the same time.
    pub processes: usize,
    /// Keys in use at any time.
    pub active_keys: u64,
    /// Retire a key after this many appends (None: never).
    pub appends_per_key: Option<u64>,
    /// Micro-ops per transaction, uniformly in this range.
    pub min_mops: usize,
    pub max_mops: usize,
    /// The chance that a micro-op is a read.
    pub read_fraction: f64,
    /// Fractions of transactions that end `info` and `fail`.
    pub info_fraction: f64,
    pub fail_fraction: f64,
    /// Transaction durations, in nanoseconds.
    pub min_duration_ns: u64,
    pub max_duration_ns: u64,
    pub isolation: Isolation,
    pub faults: Faults,
    pub gadgets: Vec<Gadget>,
}

impl Default for TxnGenConfig {
    fn default() -> Self {
        TxnGenConfig {
            seed: 0,
            txns: 1000,
            processes: 5,
            active_keys: 10,
            appends_per_key: None,
            min_mops: 1,
            max_mops: 4,
            read_fraction: 0.5,
            info_fraction: 0.02,
            fail_fraction: 0.02,
            min_duration_ns: 1_000_000,
            max_duration_ns: 10_000_000,
            isolation: Isolation::StrictSerializable,
            faults: Faults::default(),
            gadgets: Vec::new(),
        }
    }
}

/// A transaction in flight.
struct Sim {
    slot: usize,
    process: u64,
    mops: Vec<(bool, u64, u64)>,
    outcome: Kind,
    /// Each micro-op's read result (filled at its effect).
    reads: Vec<Option<Vec<u64>>>,
    /// The read snapshot (commit count) for stale or serializable reads.
    snapshot: Option<u64>,
    /// Appends the database drops (by micro-op position).
    lost: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Invoke(usize),
    /// (transaction, first micro-op, end micro-op)
    Effect(usize, usize, usize),
    Complete(usize),
}

/// The simulated database: per key, its elements with the commit that
/// appended each.
#[derive(Default)]
struct Db {
    lists: HashMap<u64, Vec<(u64, u64)>>,
    commits: u64,
}

impl Db {
    fn read(&self, key: u64, snapshot: Option<u64>) -> Vec<u64> {
        let list = self.lists.get(&key).map_or(&[][..], Vec::as_slice);
        match snapshot {
            None => list.iter().map(|&(_, e)| e).collect(),
            Some(c) => list
                .iter()
                .take_while(|&&(at, _)| at < c)
                .map(|&(_, e)| e)
                .collect(),
        }
    }
}

/// Generate a whole history.
pub fn generate(config: &TxnGenConfig) -> Vec<TxnLine> {
    let mut lines = Vec::with_capacity(config.txns * 2 + 16);
    generate_with(config, |l| lines.push(l.clone()));
    lines
}

/// Generate a history, handing each line to `emit` in history order.
pub fn generate_with(config: &TxnGenConfig, mut emit: impl FnMut(&TxnLine)) {
    let mut rng = Seed(config.seed).stream("txngen");
    let mut fault_rng = Seed(config.seed).stream("txngen/faults");
    let n = config.processes.max(1);
    let min_d = config.min_duration_ns.max(2);
    let max_d = config.max_duration_ns.max(min_d + 1);
    let (min_m, max_m) = (
        config.min_mops.max(1),
        config.max_mops.max(config.min_mops.max(1)),
    );
    // Keys: the active ones, and how many appends each has had.
    let mut active: Vec<u64> = (0..config.active_keys.max(1)).collect();
    let mut next_key = active.len() as u64;
    let mut appended: HashMap<u64, u64> = HashMap::default();
    let mut db = Db::default();
    let mut pids: Vec<u64> = (0..n as u64).collect();
    let mut next_pid = n as u64;
    let mut queue: BinaryHeap<Reverse<(u64, u64, Action)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |queue: &mut BinaryHeap<_>, t: u64, a: Action| {
        seq += 1;
        queue.push(Reverse((t, seq, a)));
    };
    for slot in 0..n {
        let t = rng.random_range(0..max_d);
        push(&mut queue, t, Action::Invoke(slot));
    }
    let mut sims: Vec<Option<Sim>> = Vec::new();
    let mut index = 0u64;
    let mut invoked = 0usize;
    // Gadgets go at random points, by count of invocations.
    let mut gadget_at: Vec<(usize, Gadget)> = config
        .gadgets
        .iter()
        .map(|&g| (rng.random_range(0..=config.txns), g))
        .collect();
    gadget_at.sort_by_key(|&(at, _)| at);
    let mut gadget_next = 0usize;
    let mut gadget_pid = 1_000_000_000u64;
    let mut gadget_key = 1_000_000_000u64;
    let mut now = 0u64;
    let mut line = TxnLine {
        index: 0,
        time_ns: None,
        process: 0,
        kind: Kind::Invoke,
        f: TxnFunction::Txn,
        value: Vec::new(),
        node: None,
        error: None,
        final_read: false,
        line: 0,
    };
    let mut emit_gadgets = |invoked: usize,
                            now: u64,
                            index: &mut u64,
                            emit: &mut dyn FnMut(&TxnLine)| {
        while gadget_next < gadget_at.len() && gadget_at[gadget_next].0 <= invoked {
            let g = gadget_at[gadget_next].1;
            gadget_next += 1;
            for phase in g.phases() {
                let pids: Vec<u64> = (0..phase.len() as u64).map(|i| gadget_pid + i).collect();
                gadget_pid += phase.len() as u64;
                for kinds in [false, true] {
                    for ((outcome, ops), &pid) in phase.iter().zip(&pids) {
                        let value = ops
                            .iter()
                            .map(|op| match *op {
                                GadgetOp::A(k, e) => MicroOp::Append(Key::Int(gadget_key + k), e),
                                GadgetOp::R(k, r) => MicroOp::Read(
                                    Key::Int(gadget_key + k),
                                    (kinds && *outcome == Kind::Ok).then(|| r.to_vec()),
                                ),
                            })
                            .collect();
                        let l = TxnLine {
                            index: *index,
                            time_ns: Some(now),
                            process: pid,
                            kind: if kinds { *outcome } else { Kind::Invoke },
                            f: TxnFunction::Txn,
                            value,
                            node: None,
                            error: None,
                            final_read: false,
                            line: 0,
                        };
                        *index += 1;
                        emit(&l);
                    }
                }
            }
            gadget_key += 4;
        }
    };
    while let Some(Reverse((t, _, action))) = queue.pop() {
        now = t;
        match action {
            Action::Invoke(slot) => {
                if invoked >= config.txns {
                    continue;
                }
                emit_gadgets(invoked, now, &mut index, &mut emit);
                invoked += 1;
                let len = rng.random_range(min_m..=max_m);
                let mut mops = Vec::with_capacity(len);
                while mops.len() < len {
                    let read = rng.random_bool(config.read_fraction.clamp(0.0, 1.0));
                    let i = rng.random_range(0..active.len());
                    let key = active[i];
                    if read {
                        mops.push((false, key, 0));
                        continue;
                    }
                    let count = appended.entry(key).or_default();
                    if config.appends_per_key.is_some_and(|max| *count >= max) {
                        appended.remove(&key);
                        active[i] = next_key;
                        next_key += 1;
                        continue;
                    }
                    *count += 1;
                    mops.push((true, key, *count));
                }
                let r: f64 = rng.random();
                let outcome = if r < config.info_fraction {
                    Kind::Info
                } else if r < config.info_fraction + config.fail_fraction {
                    Kind::Fail
                } else {
                    Kind::Ok
                };
                let duration = rng.random_range(min_d..max_d);
                let read_only = mops.iter().all(|m| !m.0);
                let snapshot = if fault_rng.random_bool(config.faults.stale_read.clamp(0.0, 1.0))
                    || (config.isolation == Isolation::Serializable
                        && read_only
                        && rng.random_bool(0.5))
                {
                    Some(fault_rng.random_range(0..=db.commits))
                } else {
                    None
                };
                let appends: Vec<usize> = (0..mops.len()).filter(|&i| mops[i].0).collect();
                let lost = (!appends.is_empty()
                    && fault_rng.random_bool(config.faults.lost_append.clamp(0.0, 1.0)))
                .then(|| appends[fault_rng.random_range(0..appends.len())]);
                let id = sims.len();
                line.index = index;
                index += 1;
                line.time_ns = Some(now);
                line.process = pids[slot];
                line.kind = Kind::Invoke;
                line.value = mops
                    .iter()
                    .map(|&(a, k, e)| {
                        if a {
                            MicroOp::Append(Key::Int(k), e)
                        } else {
                            MicroOp::Read(Key::Int(k), None)
                        }
                    })
                    .collect();
                emit(&line);
                let nm = mops.len();
                sims.push(Some(Sim {
                    slot,
                    process: pids[slot],
                    mops,
                    outcome,
                    reads: vec![None; nm],
                    snapshot,
                    lost,
                }));
                // When it takes effect: one instant, or one per micro-op.
                let takes_effect = match outcome {
                    Kind::Ok => true,
                    Kind::Fail => {
                        fault_rng.random_bool(config.faults.aborted_visible.clamp(0.0, 1.0))
                    }
                    _ => rng.random_bool(0.5),
                };
                let end = now + duration;
                if takes_effect {
                    let late = if outcome == Kind::Info {
                        3 * duration
                    } else {
                        duration
                    };
                    if fault_rng.random_bool(config.faults.torn.clamp(0.0, 1.0)) && nm > 1 {
                        let mut at: Vec<u64> =
                            (0..nm).map(|_| now + rng.random_range(1..late)).collect();
                        at.sort_unstable();
                        for (i, &t) in at.iter().enumerate() {
                            push(&mut queue, t, Action::Effect(id, i, i + 1));
                        }
                    } else {
                        push(
                            &mut queue,
                            now + rng.random_range(1..late),
                            Action::Effect(id, 0, nm),
                        );
                    }
                }
                push(&mut queue, end, Action::Complete(id));
            }
            Action::Effect(id, from, to) => {
                let sim = sims[id].as_mut().expect("in flight until effects are done");
                db.commits += 1;
                let commit = db.commits;
                for i in from..to {
                    let (append, key, e) = sim.mops[i];
                    if append {
                        if sim.lost != Some(i) {
                            db.lists.entry(key).or_default().push((commit, e));
                        }
                    } else {
                        let mut seen = db.read(key, sim.snapshot);
                        if sim.snapshot.is_some() || sim.lost.is_some() {
                            // Its own earlier appends, which it always sees.
                            for j in 0..i {
                                let (a, k, x) = sim.mops[j];
                                if a && k == key && !seen.contains(&x) {
                                    seen.push(x);
                                }
                            }
                        }
                        sim.reads[i] = Some(seen);
                    }
                }
            }
            Action::Complete(id) => {
                let sim = sims[id].take().expect("completes once");
                line.index = index;
                index += 1;
                line.time_ns = Some(now);
                line.process = sim.process;
                line.kind = sim.outcome;
                line.value = sim
                    .mops
                    .iter()
                    .zip(sim.reads)
                    .map(|(&(a, k, e), read)| {
                        if a {
                            MicroOp::Append(Key::Int(k), e)
                        } else if sim.outcome == Kind::Ok {
                            // An ok transaction always took effect: every
                            // read has its result.
                            MicroOp::Read(Key::Int(k), Some(read.unwrap_or_default()))
                        } else {
                            MicroOp::Read(Key::Int(k), None)
                        }
                    })
                    .collect();
                emit(&line);
                let slot = sim.slot;
                if sim.outcome == Kind::Info {
                    pids[slot] = next_pid;
                    next_pid += 1;
                    // Its effect may still be pending: keep it in flight.
                    sims[id] = Some(Sim {
                        reads: vec![None; sim.mops.len()],
                        ..sim
                    });
                }
                let gap = rng.random_range(0..min_d);
                push(&mut queue, now + gap, Action::Invoke(slot));
            }
        }
    }
    emit_gadgets(usize::MAX, now, &mut index, &mut emit);
}

/// One line in Elle's EDN: `{:index 3, :time 120, :type :ok, :process 2,
/// :f :txn, :value [[:append 9 2] [:r 8 [1 3]]]}`.
pub fn edn_line(l: &TxnLine, out: &mut String) {
    let kind = match l.kind {
        Kind::Invoke => "invoke",
        Kind::Ok => "ok",
        Kind::Fail => "fail",
        Kind::Info => "info",
    };
    let _ = write!(out, "{{:index {}", l.index);
    if let Some(t) = l.time_ns {
        let _ = write!(out, ", :time {t}");
    }
    let _ = write!(
        out,
        ", :type :{kind}, :process {}, :f :txn, :value [",
        l.process
    );
    for (i, m) in l.value.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match m {
            MicroOp::Append(k, e) => {
                let _ = write!(out, "[:append {} {e}]", key_text(k));
            }
            MicroOp::Read(k, None) => {
                let _ = write!(out, "[:r {} nil]", key_text(k));
            }
            MicroOp::Read(k, Some(items)) => {
                let _ = write!(out, "[:r {} [", key_text(k));
                for (j, e) in items.iter().enumerate() {
                    if j > 0 {
                        out.push(' ');
                    }
                    let _ = write!(out, "{e}");
                }
                out.push_str("]]");
            }
        }
    }
    out.push_str("]}\n");
}

/// A whole history in Elle's EDN.
pub fn edn_text(lines: &[TxnLine]) -> String {
    let mut out = String::with_capacity(lines.len() * 96);
    for l in lines {
        edn_line(l, &mut out);
    }
    out
}

/// One line in chaos's JSONL.
pub fn jsonl_line(l: &TxnLine, out: &mut String) {
    out.push_str(&crate::checker::txn::jsonl::to_line(l));
    out.push('\n');
}

/// A whole history in chaos's JSONL.
pub fn jsonl_text(lines: &[TxnLine]) -> String {
    let mut out = String::with_capacity(lines.len() * 110);
    for l in lines {
        jsonl_line(l, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::txn::{self, TxnFormat};

    #[test]
    fn same_seed_same_history() {
        let config = TxnGenConfig {
            seed: 3,
            txns: 300,
            ..TxnGenConfig::default()
        };
        assert_eq!(generate(&config), generate(&config));
        let other = TxnGenConfig {
            seed: 4,
            ..config.clone()
        };
        assert_ne!(generate(&config), generate(&other));
    }

    #[test]
    fn both_formats_parse_to_the_same_history() {
        let lines = generate(&TxnGenConfig {
            seed: 1,
            txns: 200,
            gadgets: vec![Gadget::G2Item],
            ..TxnGenConfig::default()
        });
        let a = txn::parse(&edn_text(&lines), TxnFormat::ElleEdn).unwrap();
        let b = txn::parse(&jsonl_text(&lines), TxnFormat::Chaos).unwrap();
        assert_eq!(a.txns.len(), 200 + 3);
        assert_eq!(a.txns, b.txns);
        for t in 0..a.txns.len() {
            assert_eq!(a.micro_ops(t), b.micro_ops(t));
        }
    }

    #[test]
    fn keys_rotate() {
        let lines = generate(&TxnGenConfig {
            seed: 2,
            txns: 2000,
            active_keys: 5,
            appends_per_key: Some(10),
            read_fraction: 0.2,
            ..TxnGenConfig::default()
        });
        let mut per_key: HashMap<u64, u64> = HashMap::default();
        for l in lines.iter().filter(|l| l.kind == Kind::Invoke) {
            for m in &l.value {
                if let MicroOp::Append(Key::Int(k), _) = m {
                    *per_key.entry(*k).or_default() += 1;
                }
            }
        }
        assert!(per_key.len() > 100, "{}", per_key.len());
        assert!(per_key.values().all(|&c| c <= 10));
    }
}
