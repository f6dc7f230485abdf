//! From a history partition to the search's input: compile each operation
//! into the model's form, drop what cannot matter, tighten what must hold,
//! and lay out the events in real-time order.
//!
//! Every reduction here keeps the verdict exact (the oracle property test
//! checks each one, alone and together):
//!
//! - A `fail` op never happened: dropped. A read that did not return (`fail`
//!   or `info`) constrains nothing: dropped.
//! - Value-semantics models (registers): an indeterminate op whose written
//!   value no other op observes is dropped, and so is one that observes a
//!   value nothing writes; repeated to a fixpoint, since dropping a cas
//!   removes an observer. (If such an op took effect, the next op to touch
//!   the state is a write, which does not care.)
//! - Read-from: when exactly one op writes a value (not the initial one),
//!   every op that returned or expected that value read it from that op.
//!   So the writer took effect before the earliest of those ops completed:
//!   its response moves there, and an indeterminate writer becomes certain.
//!   Repeated to a fixpoint along cas chains.
//!
//! Pure; knows the model only through its trait.

use crate::history::Outcome;

use super::Reductions;
use super::memo::FxHashMap;
use super::model::{Model, ValueFacts};

/// No response: an op that may take effect any time after its invocation.
pub(crate) const NEVER: u64 = u64::MAX;
/// No symmetry class.
pub(crate) const NO_CLASS: u32 = u32::MAX;

/// An operation compiled into a model's form, with where it sits in the
/// history.
#[derive(Debug, Clone)]
pub(crate) struct Compiled<O> {
    pub op: O,
    /// Index into `History::operations`.
    pub id: usize,
    pub outcome: Outcome,
    /// Indexes into `History::ops`.
    pub invoke: usize,
    pub complete: Option<usize>,
}

/// An operation as the search sees it.
#[derive(Debug, Clone)]
pub(crate) struct SearchOp<O> {
    pub op: O,
    /// Index into [`History::operations`].
    pub source: usize,
    /// Rank of the invocation and of the response (`NEVER` for none).
    /// Real events have odd ranks `2e + 1`; a response moved just before
    /// event `e` has rank `2e`.
    pub inv: u64,
    pub resp: u64,
    /// Must be linearized (it happened); otherwise it may be left out.
    pub required: bool,
    pub read_only: bool,
    pub facts: ValueFacts,
    /// Slot in the bit set of open operations.
    pub slot: u32,
    /// Interchangeable optional ops share a class.
    pub class: u32,
}

/// One event of the search: an op's invocation or its response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub op: u32,
    pub invoke: bool,
}

/// The search's input for one partition.
pub(crate) struct Prepared<M: Model> {
    pub model: M,
    pub ops: Vec<SearchOp<M::Op>>,
    pub events: Vec<Event>,
    /// 64-bit words in the bit set of open required operations, then of
    /// optional (indeterminate) operations.
    pub words: usize,
    pub info_words: usize,
    pub value_semantics: bool,
    pub classes: usize,
    /// Ops dropped by reductions (beyond fail ops and unfinished reads).
    pub dropped_info: usize,
    /// Indeterminate ops the read-from rule proved happened.
    pub confirmed_info: usize,
}

/// Reduce one compiled partition and lay out its events.
pub(crate) fn prepare<M: Model>(
    members: Vec<Compiled<M::Op>>,
    mut model: M,
    reductions: &Reductions,
) -> Prepared<M> {
    let rank = |event: usize| 2 * event as u64 + 1;
    let mut ops: Vec<SearchOp<M::Op>> = Vec::with_capacity(members.len());
    for operation in members {
        if operation.outcome == Outcome::Fail {
            continue;
        }
        let op = operation.op;
        let read_only = model.is_read_only(&op);
        let required = operation.outcome == Outcome::Ok;
        if read_only && !required {
            continue;
        }
        let resp = match (required, operation.complete) {
            (true, Some(c)) => rank(c),
            _ => NEVER,
        };
        ops.push(SearchOp {
            facts: model.value_facts(&op).unwrap_or_default(),
            op,
            source: operation.id,
            inv: rank(operation.invoke),
            resp,
            required,
            read_only,
            slot: 0,
            class: NO_CLASS,
        });
    }
    let value_semantics = !ops.is_empty() && ops.iter().all(|o| model.value_facts(&o.op).is_some());
    let mut dropped_info = 0;
    let mut confirmed_info = 0;
    if value_semantics {
        let init = model.init();
        let initial = model.state_value(&init);
        let values = model.value_count();
        if reductions.drop_unobserved_info {
            dropped_info = drop_unobserved(&mut ops, values, initial);
        }
        if reductions.read_from {
            confirmed_info = read_from(&mut ops, values, initial);
        }
    }
    // Events in real-time order.
    let mut order: Vec<(u64, u32, bool)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.inv, i as u32, true));
        if op.resp != NEVER {
            order.push((op.resp, i as u32, false));
        }
    }
    order.sort_unstable();
    let events: Vec<Event> = order
        .iter()
        .map(|&(_, op, invoke)| Event { op, invoke })
        .collect();
    // Slots of required ops: a free one at invocation, freed at response.
    // Optional ops never respond: each has its own slot, after those, so
    // that the memo can compare sets of used optional ops on their own.
    let mut free: Vec<u32> = Vec::new();
    let mut slots = 0u32;
    for e in &events {
        let op = &mut ops[e.op as usize];
        if op.resp == NEVER {
            continue;
        }
        if e.invoke {
            op.slot = match free.pop() {
                Some(s) => s,
                None => {
                    slots += 1;
                    slots - 1
                }
            };
        } else {
            free.push(op.slot);
        }
    }
    let words = (slots as usize).div_ceil(64).max(1);
    let mut optional = 0u32;
    for op in ops.iter_mut().filter(|o| o.resp == NEVER) {
        op.slot = (words * 64) as u32 + optional;
        optional += 1;
    }
    let info_words = (optional as usize).div_ceil(64);
    let mut classes = 0;
    if reductions.symmetry {
        let mut ids: FxHashMap<M::Op, u32> = FxHashMap::default();
        for op in ops.iter_mut().filter(|o| !o.required) {
            let next = ids.len() as u32;
            op.class = *ids.entry(op.op.clone()).or_insert(next);
        }
        classes = ids.len();
    }
    Prepared {
        model,
        ops,
        events,
        words,
        info_words,
        value_semantics,
        classes,
        dropped_info,
        confirmed_info,
    }
}

/// Drop indeterminate ops whose written value nobody else observes, or
/// whose expected value nobody writes; to a fixpoint. Returns how many.
fn drop_unobserved<O>(ops: &mut Vec<SearchOp<O>>, values: usize, initial: u32) -> usize {
    let mut observers = vec![0u32; values];
    let mut writers = vec![0u32; values];
    for op in ops.iter() {
        if let Some(v) = op.facts.observes {
            observers[v as usize] += 1;
        }
        if let Some(v) = op.facts.writes {
            writers[v as usize] += 1;
        }
    }
    let mut keep = vec![true; ops.len()];
    let mut dropped = 0;
    loop {
        let mut changed = false;
        for (i, op) in ops.iter().enumerate() {
            if op.required || !keep[i] {
                continue;
            }
            let unobserved = op.facts.writes.is_some_and(|w| {
                let own = u32::from(op.facts.observes == Some(w));
                observers[w as usize] <= own
            });
            let impossible = op.facts.observes.is_some_and(|o| {
                let own = u32::from(op.facts.writes == Some(o));
                o != initial && writers[o as usize] <= own
            });
            if unobserved || impossible {
                keep[i] = false;
                dropped += 1;
                changed = true;
                if let Some(v) = op.facts.observes {
                    observers[v as usize] -= 1;
                }
                if let Some(v) = op.facts.writes {
                    writers[v as usize] -= 1;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut i = 0;
    ops.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    dropped
}

/// The read-from rule; returns how many indeterminate ops became certain.
fn read_from<O>(ops: &mut [SearchOp<O>], values: usize, initial: u32) -> usize {
    let mut writer_count = vec![0u32; values];
    let mut writer = vec![u32::MAX; values];
    for (i, op) in ops.iter().enumerate() {
        if let Some(v) = op.facts.writes {
            writer_count[v as usize] += 1;
            writer[v as usize] = i as u32;
        }
    }
    let mut confirmed = 0;
    loop {
        // The earliest response among required observers of each value.
        let mut earliest = vec![NEVER; values];
        for (i, op) in ops.iter().enumerate() {
            if let Some(v) = op.facts.observes
                && op.required
                && writer[v as usize] != i as u32
            {
                let e = &mut earliest[v as usize];
                *e = (*e).min(op.resp);
            }
        }
        let mut changed = false;
        for v in 0..values {
            if v as u32 == initial || writer_count[v] != 1 || earliest[v] == NEVER {
                continue;
            }
            let w = &mut ops[writer[v] as usize];
            // Just before the observer's response (odd ranks are real
            // events; an even rank already sits just before one).
            let by = earliest[v] - (earliest[v] & 1);
            if by <= w.inv || by >= w.resp {
                continue;
            }
            if !w.required {
                confirmed += 1;
            }
            w.resp = by;
            w.required = true;
            changed = true;
        }
        if !changed {
            break;
        }
    }
    confirmed
}
