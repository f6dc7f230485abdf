//! The search: Wing & Gong's, with Lowe's just-in-time linearization and a
//! memo of explored configurations, plus exact prunings.
//!
//! The events of a partition are walked in real-time order. An invocation
//! opens an op; a response forces its op to be linearized by then, possibly
//! after other open ops. Only there does the search branch: each branch
//! linearizes one open op that the model allows, and a configuration
//! (event, set of linearized open ops, state) met before is not explored
//! again. Optional (indeterminate) ops never respond and may stay out.
//!
//! Exact rules on top of that (each can be switched off, for the oracle
//! tests, through [`Reductions`]):
//! - Greedy reads: an open read-only op that the state allows is linearized
//!   at once. (It changes nothing, and earlier is always possible.)
//! - Dead states (value semantics): a value that no unlinearized op
//!   observes is "dead"; all dead states behave alike and share one memo
//!   key, and while the state is dead, open writes of dead values are
//!   linearized at once (they are overwritten before anyone could see them).
//! - Lost values (value semantics): overwriting a value that some required
//!   op still has to observe ends the branch at once when no unlinearized
//!   op can write it again before the earliest such op completes (none is
//!   open, and the next one to be invoked comes too late, or none is left).
//! - Symmetry: of identical optional ops that are all open, only the first
//!   is tried.
//! - Subsumption: a configuration that differs from one already met only
//!   by having used more optional ops is not explored (it has fewer choices
//!   left, and optional ops never have to happen).
//! - Useless optional ops (value semantics): an optional op is only worth
//!   linearizing when an open op observes the value it writes (otherwise the
//!   next op overwrites it unseen, and leaving it out is the same).
//!
//! The search stops with `unknown` when the caller's `should_stop` says so
//! (checked every few hundred configurations) or when the memo outgrows the
//! memory budget. Pure: no clock here; time comes in through the closure.

use super::Reductions;
use super::memo::Memo;
use super::model::{Model, ValueFacts};
use super::prepare::{Event, NO_CLASS, Prepared, SearchOp};

/// When to give up.
pub(crate) struct Limits<'a> {
    /// Asked every few hundred configurations; true stops the search.
    pub should_stop: &'a (dyn Fn() -> bool + Sync),
    /// The memo may not hold more than this.
    pub max_bytes: usize,
    /// Stop after exploring this many configurations.
    pub max_configurations: u64,
}

/// What the search found.
pub(crate) enum Found<S> {
    Valid,
    Invalid(Stuck<S>),
    /// Stopped early; with the op whose response the search had got
    /// furthest to.
    Unknown(Stop, Option<u32>),
}

/// Why the search stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Time,
    Memory,
    Configurations,
}

/// Where every branch of the search ended furthest along.
pub(crate) struct Stuck<S> {
    /// The event (index into `Prepared::events`): the response of `op`.
    pub pos: usize,
    /// The op that could not be linearized by its response.
    pub op: u32,
    /// States the object could be in there (up to a few).
    pub states: Vec<S>,
    /// Ops that could not be placed there because they would overwrite a
    /// value still needed: (op, value, an op that still needs it).
    pub lost: Vec<(u32, u32, Option<u32>)>,
}

/// How much work the search did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Work {
    pub configurations: u64,
    pub memo_bytes: usize,
}

enum Undo<S> {
    Lin { op: u32, prev: S },
    Invoke { op: u32 },
    Release { op: u32, at: u32 },
}

struct Frame {
    pos: u32,
    trail: u32,
    next: u32,
    end: u32,
}

struct Search<'p, M: Model> {
    model: &'p mut M,
    ops: &'p [SearchOp<M::Op>],
    events: &'p [Event],
    red: Reductions,
    value_sem: bool,
    limits: &'p Limits<'p>,
    state: M::State,
    pos: usize,
    lin: Vec<bool>,
    /// Linearized open ops: `words` words of required ops, then optional.
    mask: Vec<u64>,
    words: usize,
    open: Vec<u32>,
    /// Per value: unlinearized ops observing it (all / required / open).
    obs_all: Vec<u32>,
    obs_required: Vec<u32>,
    obs_open: Vec<u32>,
    /// Per value: unlinearized ops writing it.
    writers: Vec<u32>,
    /// Per value: the required ops observing it, by response.
    required_observers: Vec<Vec<u32>>,
    /// Per value: open unlinearized ops writing it.
    open_writers: Vec<u32>,
    /// Per value: the invocation ranks of the ops writing it, sorted.
    writer_invocations: Vec<Vec<u64>>,
    trail: Vec<Undo<M::State>>,
    frames: Vec<Frame>,
    cands: Vec<u32>,
    scratch: Vec<(u8, u32)>,
    memo: Memo<M::State>,
    class_stamp: Vec<u32>,
    class_best: Vec<u32>,
    stamp: u32,
    nodes: u64,
    best: Option<Stuck<M::State>>,
}

/// Decide one prepared partition.
pub(crate) fn search<M: Model>(
    p: &mut Prepared<M>,
    red: &Reductions,
    limits: &Limits<'_>,
) -> (Found<M::State>, Work) {
    let values = if p.value_semantics {
        p.model.value_count()
    } else {
        0
    };
    let mut obs_all = vec![0u32; values];
    let mut obs_required = vec![0u32; values];
    let mut writers = vec![0u32; values];
    let mut required_observers: Vec<Vec<u32>> = vec![Vec::new(); values];
    let mut writer_invocations: Vec<Vec<u64>> = vec![Vec::new(); values];
    if p.value_semantics {
        for (i, op) in p.ops.iter().enumerate() {
            if let Some(v) = op.facts.observes
                && op.required
            {
                required_observers[v as usize].push(i as u32);
            }
            if let Some(v) = op.facts.writes {
                writer_invocations[v as usize].push(op.inv);
            }
            if let Some(v) = op.facts.observes {
                obs_all[v as usize] += 1;
                if op.required {
                    obs_required[v as usize] += 1;
                }
            }
            if let Some(v) = op.facts.writes {
                writers[v as usize] += 1;
            }
        }
    }
    for list in &mut required_observers {
        list.sort_by_key(|&i| p.ops[i as usize].resp);
    }
    for list in &mut writer_invocations {
        list.sort_unstable();
    }
    let state = p.model.init();
    let mut s = Search {
        state,
        ops: &p.ops,
        events: &p.events,
        red: *red,
        value_sem: p.value_semantics,
        limits,
        pos: 0,
        lin: vec![false; p.ops.len()],
        mask: vec![0; p.words + p.info_words],
        words: p.words,
        open: Vec::new(),
        obs_all,
        obs_required,
        obs_open: vec![0; values],
        writers,
        required_observers,
        open_writers: vec![0; values],
        writer_invocations,
        trail: Vec::new(),
        frames: Vec::new(),
        cands: Vec::new(),
        scratch: Vec::new(),
        memo: Memo::new(p.words, p.info_words, red.info_subsumption),
        class_stamp: vec![0; p.classes],
        class_best: vec![0; p.classes],
        stamp: 0,
        nodes: 0,
        best: None,
        model: &mut p.model,
    };
    let found = s.run();
    let work = Work {
        configurations: s.nodes,
        memo_bytes: s.memo.bytes(),
    };
    (found, work)
}

impl<M: Model> Search<'_, M> {
    fn run(&mut self) -> Found<M::State> {
        self.closure();
        loop {
            // Walk events until a response whose op is not linearized yet.
            let forced = loop {
                let Some(&e) = self.events.get(self.pos) else {
                    return Found::Valid;
                };
                if e.invoke {
                    self.invoke(e.op);
                    self.pos += 1;
                    self.closure();
                } else if self.lin[e.op as usize] {
                    self.release(e.op);
                    self.pos += 1;
                } else {
                    break e.op;
                }
            };
            if let Err(stop) = self.enter(forced) {
                return Found::Unknown(stop, self.best.as_ref().map(|b| b.op));
            }
            if !self.resume() {
                let stuck = self
                    .best
                    .take()
                    .expect("a failed search met a configuration");
                return Found::Invalid(stuck);
            }
        }
    }

    /// Try the next candidate of the innermost node, backtracking through
    /// exhausted nodes. False when every node is exhausted.
    fn resume(&mut self) -> bool {
        while let Some(top) = self.frames.last() {
            let (trail, pos) = (top.trail as usize, top.pos as usize);
            self.undo_to(trail);
            self.pos = pos;
            loop {
                let top = self.frames.last_mut().expect("a frame");
                if top.next >= top.end {
                    break;
                }
                let c = self.cands[top.next as usize];
                top.next += 1;
                if self.linearize(c) {
                    self.closure();
                    return true;
                }
            }
            self.frames.pop();
            self.cands
                .truncate(self.frames.last().map_or(0, |f| f.end as usize));
        }
        false
    }

    /// A branching node: the response of `forced`, not yet linearized. Adds
    /// a frame with the candidates, unless the configuration is known.
    fn enter(&mut self, forced: u32) -> Result<(), Stop> {
        let key = self.canonical_state();
        let heap = self.model.state_heap_bytes(&key);
        let (required, optional) = self.mask.split_at(self.words);
        if !self
            .memo
            .insert(self.pos as u32, required, optional, &key, heap)
        {
            return Ok(());
        }
        self.nodes += 1;
        if self.memo.bytes() > self.limits.max_bytes {
            return Err(Stop::Memory);
        }
        if self.nodes > self.limits.max_configurations {
            return Err(Stop::Configurations);
        }
        if self.nodes.is_multiple_of(256) && (self.limits.should_stop)() {
            return Err(Stop::Time);
        }
        self.note_node(forced);
        self.candidates(forced);
        Ok(())
    }

    fn candidates(&mut self, o: u32) {
        let start = self.cands.len() as u32;
        let o_enabled = self.model.enabled(&self.state, &self.ops[o as usize].op);
        let want = if self.value_sem && !o_enabled {
            self.ops[o as usize].facts.observes
        } else {
            None
        };
        if self.red.symmetry && !self.class_stamp.is_empty() {
            self.stamp = self.stamp.wrapping_add(1);
            if self.stamp == 0 {
                self.class_stamp.fill(0);
                self.stamp = 1;
            }
            for &p in &self.open {
                let op = &self.ops[p as usize];
                if op.class == NO_CLASS || self.lin[p as usize] {
                    continue;
                }
                let c = op.class as usize;
                if self.class_stamp[c] != self.stamp || p < self.class_best[c] {
                    self.class_stamp[c] = self.stamp;
                    self.class_best[c] = p;
                }
            }
        }
        self.scratch.clear();
        for k in 0..self.open.len() {
            let p = self.open[k];
            if p == o || self.lin[p as usize] {
                continue;
            }
            let op = &self.ops[p as usize];
            if op.read_only && self.red.greedy_reads {
                continue;
            }
            if !op.required {
                if self.red.symmetry
                    && op.class != NO_CLASS
                    && self.class_best[op.class as usize] != p
                {
                    continue;
                }
                if self.value_sem && self.red.useless_info && !self.useful(op.facts) {
                    continue;
                }
            }
            if !self.model.enabled(&self.state, &op.op) {
                continue;
            }
            let rank = if want.is_some() && op.facts.writes == want {
                0
            } else if op.required {
                1
            } else {
                2
            };
            self.scratch.push((rank, p));
        }
        self.scratch.sort_by_key(|&(rank, _)| rank);
        if o_enabled {
            self.cands.push(o);
        }
        self.cands.extend(self.scratch.iter().map(|&(_, p)| p));
        let end = self.cands.len() as u32;
        self.frames.push(Frame {
            pos: self.pos as u32,
            trail: self.trail.len() as u32,
            next: start,
            end,
        });
    }

    /// An optional op is worth placing only if an open op observes what it
    /// writes.
    fn useful(&self, facts: ValueFacts) -> bool {
        match facts.writes {
            Some(x) => {
                let own = u32::from(facts.observes == Some(x));
                self.obs_open[x as usize] > own
            }
            None => true,
        }
    }

    fn canonical_state(&self) -> M::State {
        if self.value_sem && self.red.dead_states && self.is_dead() {
            self.model.dead_state()
        } else {
            self.state.clone()
        }
    }

    fn is_dead(&self) -> bool {
        self.obs_all[self.model.state_value(&self.state) as usize] == 0
    }

    /// Place every op that can go now at no cost.
    fn closure(&mut self) {
        loop {
            let mut changed = false;
            let mut k = 0;
            while k < self.open.len() {
                let i = self.open[k];
                k += 1;
                if self.lin[i as usize] {
                    continue;
                }
                let op = &self.ops[i as usize];
                if op.read_only {
                    if self.red.greedy_reads && self.model.enabled(&self.state, &op.op) {
                        let placed = self.linearize(i);
                        debug_assert!(placed);
                        changed = true;
                    }
                } else if self.value_sem
                    && self.red.dead_states
                    && op.facts.observes.is_none()
                    && op
                        .facts
                        .writes
                        .is_some_and(|x| self.obs_all[x as usize] == 0)
                    && self.is_dead()
                    && self.linearize(i)
                {
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn count(&mut self, facts: ValueFacts, required: bool, add: bool) {
        let d = |c: &mut u32| {
            if add {
                *c += 1;
            } else {
                *c -= 1;
            }
        };
        if let Some(a) = facts.observes {
            d(&mut self.obs_all[a as usize]);
            d(&mut self.obs_open[a as usize]);
            if required {
                d(&mut self.obs_required[a as usize]);
            }
        }
        if let Some(b) = facts.writes {
            d(&mut self.writers[b as usize]);
            d(&mut self.open_writers[b as usize]);
        }
    }

    /// Linearize op `i` now; false if the model refuses it or it would
    /// lose a value still needed.
    fn linearize(&mut self, i: u32) -> bool {
        let op = &self.ops[i as usize];
        let Some(next) = self.model.step(&self.state, &op.op) else {
            return false;
        };
        let (facts, required, slot) = (op.facts, op.required, op.slot);
        if self.value_sem {
            self.count(facts, required, false);
            let old = self.model.state_value(&self.state);
            let new = self.model.state_value(&next);
            if self.red.prune_lost_values
                && old != new
                && self.obs_required[old as usize] > 0
                && !self.can_return(old, i)
            {
                self.count(facts, required, true);
                self.note_lost(i, old);
                return false;
            }
        }
        let prev = std::mem::replace(&mut self.state, next);
        self.trail.push(Undo::Lin { op: i, prev });
        self.lin[i as usize] = true;
        self.mask[(slot / 64) as usize] |= 1 << (slot % 64);
        true
    }

    /// Once the state leaves `value` (op `leaving` takes it away), can it
    /// come back in time for every required op that still observes it? It
    /// must come back before the earliest such op completes, through an
    /// unlinearized writer invoked before then.
    fn can_return(&self, value: u32, leaving: u32) -> bool {
        let v = value as usize;
        if self.writers[v] == 0 {
            return false;
        }
        if self.open_writers[v] > 0 {
            return true;
        }
        // Everything invoked so far is open or linearized; every op that
        // completed so far is linearized.
        let now = self.now();
        let observers = &self.required_observers[v];
        let from = observers.partition_point(|&r| self.ops[r as usize].resp <= now);
        let Some(deadline) = observers[from..]
            .iter()
            .find(|&&r| r != leaving && !self.lin[r as usize])
            .map(|&r| self.ops[r as usize].resp)
        else {
            return true;
        };
        let invocations = &self.writer_invocations[v];
        let next = invocations.partition_point(|&inv| inv <= now);
        invocations.get(next).is_some_and(|&inv| inv < deadline)
    }

    /// The rank of the last event walked.
    fn now(&self) -> u64 {
        match self.pos.checked_sub(1).map(|p| self.events[p]) {
            Some(e) if e.invoke => self.ops[e.op as usize].inv,
            Some(e) => self.ops[e.op as usize].resp,
            None => 0,
        }
    }

    fn invoke(&mut self, i: u32) {
        self.open.push(i);
        if self.value_sem {
            let facts = self.ops[i as usize].facts;
            if let Some(a) = facts.observes {
                self.obs_open[a as usize] += 1;
            }
            if let Some(b) = facts.writes {
                self.open_writers[b as usize] += 1;
            }
        }
        self.trail.push(Undo::Invoke { op: i });
    }

    fn release(&mut self, i: u32) {
        let at = self
            .open
            .iter()
            .position(|&p| p == i)
            .expect("a responding op is open");
        self.open.swap_remove(at);
        let slot = self.ops[i as usize].slot;
        self.mask[(slot / 64) as usize] &= !(1 << (slot % 64));
        self.trail.push(Undo::Release {
            op: i,
            at: at as u32,
        });
    }

    fn undo_to(&mut self, len: usize) {
        while self.trail.len() > len {
            match self.trail.pop().expect("trail entry") {
                Undo::Lin { op, prev } => {
                    self.state = prev;
                    self.lin[op as usize] = false;
                    let o = &self.ops[op as usize];
                    let (facts, required, slot) = (o.facts, o.required, o.slot);
                    self.mask[(slot / 64) as usize] &= !(1 << (slot % 64));
                    if self.value_sem {
                        self.count(facts, required, true);
                    }
                }
                Undo::Invoke { op } => {
                    self.open.pop();
                    if self.value_sem {
                        let facts = self.ops[op as usize].facts;
                        if let Some(a) = facts.observes {
                            self.obs_open[a as usize] -= 1;
                        }
                        if let Some(b) = facts.writes {
                            self.open_writers[b as usize] -= 1;
                        }
                    }
                }
                Undo::Release { op, at } => {
                    let at = at as usize;
                    if at == self.open.len() {
                        self.open.push(op);
                    } else {
                        let moved = self.open[at];
                        self.open[at] = op;
                        self.open.push(moved);
                    }
                    let slot = self.ops[op as usize].slot;
                    self.mask[(slot / 64) as usize] |= 1 << (slot % 64);
                }
            }
        }
    }

    fn note_node(&mut self, forced: u32) {
        match &mut self.best {
            Some(b) if b.pos > self.pos => {}
            Some(b) if b.pos == self.pos => {
                if b.op == forced && b.states.len() < 8 && !b.states.contains(&self.state) {
                    b.states.push(self.state.clone());
                }
            }
            _ => {
                self.best = Some(Stuck {
                    pos: self.pos,
                    op: forced,
                    states: vec![self.state.clone()],
                    lost: Vec::new(),
                });
            }
        }
    }

    fn note_lost(&mut self, op: u32, value: u32) {
        if let Some(b) = &mut self.best
            && b.pos == self.pos
            && b.lost.len() < 8
            && !b.lost.iter().any(|l| l.0 == op && l.1 == value)
        {
            // The last op that still needs the value: with a stale read,
            // the read itself.
            let reader = self.required_observers[value as usize]
                .iter()
                .copied()
                .filter(|&r| r != op && !self.lin[r as usize])
                .max_by_key(|&r| self.ops[r as usize].resp);
            b.lost.push((op, value, reader));
        }
    }
}
