//! The dependency graph between transactions, and its strongly connected
//! components.
//!
//! Owns [`Graph`] (compact adjacency: per transaction its successors, each
//! edge a set of relations [`Rels`]), its construction from an
//! [`Analysis`], and an iterative Tarjan ([`components`]). The edges, as
//! Elle infers them for list-append (Adya's direct dependencies):
//!
//! - **ww**: `T1 → T2` when T2 appended to a key right after T1 in the
//!   key's version order (an append nobody read came after the last version
//!   anyone read).
//! - **wr**: `T1 → T2` when T2's read of a key ended with T1's append.
//! - **rw**: `T1 → T2` when T1 read the version just before T2's append
//!   (T1 did not see it: the anti-dependency).
//! - **realtime** (default): `T1 → T2` when T1 completed `ok` before T2
//!   was invoked, kept as Elle keeps it: at each invocation, an edge from
//!   every completed transaction not yet followed by a completed successor
//!   (a transitive reduction in spirit; never all pairs).
//! - **process** (instead of realtime, when asked): consecutive `ok`
//!   transactions of one process.
//!
//! Vertices are the transactions that may have committed: `ok` ones, and
//! `info` ones whose appends somebody read (so they did commit). A failed
//! transaction, or an `info` one nobody saw, has no edges.
//!
//! Pure; depends on [`super::analysis`] and [`super::history`] only.

use crate::history::Outcome;

use super::analysis::{Analysis, NONE};
use super::history::{Mop, TxnHistory};

/// A set of relations, as bits.
pub(crate) type Rels = u8;
pub(crate) const WW: Rels = 1;
pub(crate) const WR: Rels = 2;
pub(crate) const RW: Rels = 4;
pub(crate) const PROCESS: Rels = 8;
pub(crate) const REALTIME: Rels = 16;
pub(crate) const DATA: Rels = WW | WR | RW;

/// Which order between transactions, beside the data dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderEdges {
    /// Real time (Elle's choice for strict serializability): names cycles
    /// that need it `-realtime`.
    #[default]
    Realtime,
    /// Each process's order only (Elle's choice for its strong-session
    /// models): names cycles that need it `-process`.
    Process,
    /// Data dependencies only.
    None,
}

impl OrderEdges {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderEdges::Realtime => "realtime",
            OrderEdges::Process => "process",
            OrderEdges::None => "none",
        }
    }

    /// The relation bit it adds (0 for none).
    pub(crate) fn rel(self) -> Rels {
        match self {
            OrderEdges::Realtime => REALTIME,
            OrderEdges::Process => PROCESS,
            OrderEdges::None => 0,
        }
    }
}

/// Adjacency in compressed rows: the successors of `v` are
/// `targets[offsets[v]..offsets[v+1]]`, with `rels` beside them. One entry
/// per (source, target) pair, its relations merged.
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    pub offsets: Vec<u32>,
    pub targets: Vec<u32>,
    pub rels: Vec<Rels>,
}

impl Graph {
    pub fn vertices(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn edges(&self) -> usize {
        self.targets.len()
    }

    /// The out-edges of `v`: (target, relations).
    #[inline]
    pub fn out(&self, v: usize) -> impl Iterator<Item = (u32, Rels)> + '_ {
        let r = self.offsets[v] as usize..self.offsets[v + 1] as usize;
        self.targets[r.clone()]
            .iter()
            .copied()
            .zip(self.rels[r].iter().copied())
    }

    /// The relations from `a` to `b` (0: none).
    #[cfg(test)]
    pub fn rels_between(&self, a: usize, b: u32) -> Rels {
        self.out(a)
            .filter(|&(t, _)| t == b)
            .fold(0, |acc, (_, r)| acc | r)
    }

    /// Build from an edge list (any order, duplicates allowed).
    pub fn from_edges(n: usize, edges: &[(u32, u32, Rels)]) -> Graph {
        let mut offsets = vec![0u32; n + 1];
        for &(a, _, _) in edges {
            offsets[a as usize + 1] += 1;
        }
        for v in 0..n {
            offsets[v + 1] += offsets[v];
        }
        let mut next = offsets.clone();
        let mut targets = vec![0u32; edges.len()];
        let mut rels = vec![0 as Rels; edges.len()];
        for &(a, b, r) in edges {
            let at = &mut next[a as usize];
            targets[*at as usize] = b;
            rels[*at as usize] = r;
            *at += 1;
        }
        // Merge repeated (source, target) pairs, in place.
        let mut write = 0usize;
        let mut pairs: Vec<(u32, Rels)> = Vec::new();
        let mut new_offsets = vec![0u32; n + 1];
        for v in 0..n {
            let (s, e) = (offsets[v] as usize, offsets[v + 1] as usize);
            pairs.clear();
            pairs.extend(
                targets[s..e]
                    .iter()
                    .copied()
                    .zip(rels[s..e].iter().copied()),
            );
            pairs.sort_unstable_by_key(|&(t, _)| t);
            let mut i = 0;
            while i < pairs.len() {
                let (t, mut r) = pairs[i];
                i += 1;
                while i < pairs.len() && pairs[i].0 == t {
                    r |= pairs[i].1;
                    i += 1;
                }
                targets[write] = t;
                rels[write] = r;
                write += 1;
            }
            new_offsets[v + 1] = write as u32;
        }
        targets.truncate(write);
        rels.truncate(write);
        targets.shrink_to_fit();
        rels.shrink_to_fit();
        Graph {
            offsets: new_offsets,
            targets,
            rels,
        }
    }
}

/// Edge counts by relation (an edge with two relations counts in both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EdgeCounts {
    pub ww: u64,
    pub wr: u64,
    pub rw: u64,
    pub process: u64,
    pub realtime: u64,
}

impl EdgeCounts {
    pub(crate) fn of(g: &Graph) -> EdgeCounts {
        let mut c = EdgeCounts::default();
        for &r in &g.rels {
            c.ww += u64::from(r & WW != 0);
            c.wr += u64::from(r & WR != 0);
            c.rw += u64::from(r & RW != 0);
            c.process += u64::from(r & PROCESS != 0);
            c.realtime += u64::from(r & REALTIME != 0);
        }
        c
    }
}

/// The dependency graph of a history (see the module docs).
pub(crate) fn build(h: &TxnHistory, a: &Analysis, order: OrderEdges) -> Graph {
    let n = h.txns.len();
    let mut edges: Vec<(u32, u32, Rels)> = Vec::with_capacity(a.appends.len() * 3 + n * 4);
    for t in 0..n {
        if !a.vertex[t] {
            continue;
        }
        let me = t as u32;
        // ww and rw, from this transaction's appends.
        for x in a.appends_of(t) {
            let order_len = a.order(x.key).len() as u32;
            // The version just before this append (None: the empty list).
            let prev = if x.pos != NONE {
                x.pos.checked_sub(1)
            } else {
                order_len.checked_sub(1)
            };
            if let Some(p) = prev {
                let w = a.writers(x.key)[p as usize];
                if w != NONE && w != me && a.vertex[w as usize] {
                    edges.push((w, me, WW));
                }
            }
            for &r in a.readers_of(x.key, prev) {
                if r != me {
                    edges.push((r, me, RW));
                }
            }
        }
        // wr, from this transaction's reads.
        if h.txns[t].outcome == Outcome::Ok {
            for m in h.mops_of(t) {
                let Mop::Read {
                    key,
                    observed: Some(span),
                } = *m
                else {
                    continue;
                };
                if span.len == 0 {
                    continue;
                }
                let w = if a.irregular[key as usize] {
                    let last = *h.elements(span).last().expect("non-empty");
                    a.appender(key, last).map_or(NONE, |x| x.txn)
                } else {
                    a.writers(key)[span.len as usize - 1]
                };
                if w != NONE && w != me && a.vertex[w as usize] {
                    edges.push((w, me, WR));
                }
            }
        }
    }
    match order {
        OrderEdges::Realtime => realtime_edges(h, a, &mut edges),
        OrderEdges::Process => process_edges(h, a, &mut edges),
        OrderEdges::None => {}
    }
    Graph::from_edges(n, &edges)
}

/// Elle's realtime graph: at each invocation, an edge from every buffered
/// `ok` completion; at each `ok` completion, the completions that precede
/// it leave the buffer and it enters.
fn realtime_edges(h: &TxnHistory, a: &Analysis, edges: &mut Vec<(u32, u32, Rels)>) {
    let n = h.txns.len();
    let mut buffer: Vec<u32> = Vec::new();
    // Per transaction: where its incoming realtime edges start and end.
    let mut linked: Vec<(u32, u32)> = vec![(0, 0); n];
    let mut mark: Vec<u32> = vec![NONE; n];
    let base = edges.len();
    for (t, completion) in h.events() {
        if !a.vertex[t] {
            continue;
        }
        if !completion {
            let start = (edges.len() - base) as u32;
            for &b in &buffer {
                edges.push((b, t as u32, REALTIME));
            }
            linked[t] = (start, (edges.len() - base) as u32);
        } else if h.txns[t].outcome == Outcome::Ok {
            let (s, e) = linked[t];
            for i in s..e {
                mark[edges[base + i as usize].0 as usize] = t as u32;
            }
            buffer.retain(|&b| mark[b as usize] != t as u32);
            buffer.push(t as u32);
        }
    }
}

/// Consecutive `ok` transactions of each process.
fn process_edges(h: &TxnHistory, a: &Analysis, edges: &mut Vec<(u32, u32, Rels)>) {
    let mut last: crate::checker::memo::FxHashMap<u64, u32> = Default::default();
    for (t, completion) in h.events() {
        let txn = &h.txns[t];
        if completion
            && txn.outcome == Outcome::Ok
            && a.vertex[t]
            && let Some(prev) = last.insert(txn.process, t as u32)
        {
            edges.push((prev, t as u32, PROCESS));
        }
    }
}

/// Strongly connected components of the graph restricted to edges with a
/// relation in `mask`: a component id per vertex, numbered in the order
/// Tarjan completes them (a component's successors come first: reverse
/// topological order), and the number of components.
pub(crate) fn components(g: &Graph, mask: Rels) -> (Vec<u32>, u32) {
    let n = g.vertices();
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut comp = vec![NONE; n];
    let mut stack: Vec<u32> = Vec::new();
    // (vertex, next edge position)
    let mut calls: Vec<(u32, u32)> = Vec::new();
    let mut next_index = 0u32;
    let mut count = 0u32;
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        calls.push((root as u32, g.offsets[root]));
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root as u32);
        while let Some(&(v, resume)) = calls.last() {
            let vi = v as usize;
            let end = g.offsets[vi + 1];
            let mut pos = resume;
            let mut child = None;
            while pos < end {
                let e = pos as usize;
                pos += 1;
                if g.rels[e] & mask == 0 {
                    continue;
                }
                let w = g.targets[e] as usize;
                if index[w] == NONE {
                    child = Some(w);
                    break;
                } else if comp[w] == NONE {
                    // On the stack.
                    low[vi] = low[vi].min(index[w]);
                }
            }
            if let Some(top) = calls.last_mut() {
                top.1 = pos;
            }
            if let Some(w) = child {
                index[w] = next_index;
                low[w] = next_index;
                next_index += 1;
                stack.push(w as u32);
                calls.push((w as u32, g.offsets[w]));
                continue;
            }
            calls.pop();
            if low[vi] == index[vi] {
                loop {
                    let w = stack.pop().expect("v is on the stack") as usize;
                    comp[w] = count;
                    if w == vi {
                        break;
                    }
                }
                count += 1;
            }
            if let Some(&(parent, _)) = calls.last() {
                let p = parent as usize;
                low[p] = low[p].min(low[vi]);
            }
        }
    }
    (comp, count)
}

/// The vertices of every component of two or more, each sorted, the
/// components in order of their smallest vertex.
pub(crate) fn cyclic_components(comp: &[u32], count: u32) -> Vec<Vec<u32>> {
    let mut sizes = vec![0u32; count as usize];
    for &c in comp {
        sizes[c as usize] += 1;
    }
    let mut slot: Vec<u32> = vec![NONE; count as usize];
    let mut out: Vec<Vec<u32>> = Vec::new();
    for (v, &c) in comp.iter().enumerate() {
        if sizes[c as usize] < 2 {
            continue;
        }
        if slot[c as usize] == NONE {
            slot[c as usize] = out.len() as u32;
            out.push(Vec::with_capacity(sizes[c as usize] as usize));
        }
        out[slot[c as usize] as usize].push(v as u32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_pairs_and_finds_components() {
        // 0 -> 1 -> 2 -> 0 (a cycle), 2 -> 3, 3 -> 4 -> 3 only by rw.
        let g = Graph::from_edges(
            5,
            &[
                (0, 1, WW),
                (1, 2, WR),
                (2, 0, RW),
                (0, 1, REALTIME),
                (2, 3, WW),
                (3, 4, RW),
                (4, 3, RW),
            ],
        );
        assert_eq!(g.edges(), 6);
        assert_eq!(g.rels_between(0, 1), WW | REALTIME);
        let (comp, count) = components(&g, DATA | REALTIME);
        assert_eq!(count, 2);
        assert_eq!(
            cyclic_components(&comp, count),
            vec![vec![0, 1, 2], vec![3, 4]]
        );
        // Without rw: no cycle at all.
        let (comp, count) = components(&g, WW | WR);
        assert!(cyclic_components(&comp, count).is_empty());
        // Reverse topological numbering: {3,4} completes before {0,1,2}.
        let (comp, _) = components(&g, DATA);
        assert!(comp[3] < comp[0]);
    }

    #[test]
    fn deep_chains_do_not_overflow() {
        let n = 200_000u32;
        let mut edges: Vec<(u32, u32, Rels)> = (0..n - 1).map(|i| (i, i + 1, WW)).collect();
        edges.push((n - 1, 0, RW));
        let g = Graph::from_edges(n as usize, &edges);
        let (comp, count) = components(&g, DATA);
        assert_eq!(count, 1);
        assert_eq!(cyclic_components(&comp, count)[0].len(), n as usize);
    }
}
