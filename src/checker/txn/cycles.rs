//! The cycle search: in each strongly connected component of the
//! dependency graph, a shortest cycle of each anomaly class, under Elle's
//! names, within a time budget.
//!
//! Owns the per-component search ([`search_component`]), the classification
//! of a cycle by its edges ([`classify`], Elle's cycle explainer), and the
//! [`Budget`]. It knows the graph ([`super::graph`]) and the anomaly tables
//! ([`super::models`]); nothing about histories or words.
//!
//! How, per component (a local copy of its vertices and internal edges):
//! types are tried in Elle's order (most severe and most specific first),
//! skipping any implied by one already found there. Each search returns a
//! simple cycle, and the cycle is named by what its edges are, never by
//! which search found it, so a name is always true:
//!
//! - G0, G1c and the -process/-realtime variants of G0 and G1c: an edge of
//!   the required relation (ww; wr; the order relation for variants) whose
//!   ends lie in one strongly connected component of the allowed relations,
//!   closed by a breadth-first shortest path. Linear time per candidate.
//! - G-single-item (and variants): an rw edge `u → v` with a path `v ⇝ u`
//!   over the other allowed relations: per rw edge, a breadth-first search
//!   pruned to the components between them in topological order. Exhaustive.
//! - G-nonadjacent-item (and variants): no two rw edges adjacent. Closed
//!   walks with that property are found in linear time in a two-state
//!   product graph (after an rw edge, the next must not be one); the
//!   shortest such walk is split into simple cycles and each is checked. If
//!   none fits, a depth-first search over simple paths decides (exponential
//!   in the worst case, as the problem is; bounded by the budget).
//! - G2-item (and variants): searched only once the classes it is implied
//!   by are absent, when any simple cycle through an rw edge is one: an rw
//!   edge closed by a shortest path, as for G0.
//!
//! Among candidates, the shortest cycle wins, as long as trying more stays
//! within a fixed amount of work.
//!
//! Pure: time enters only through the [`Clock`] in the [`Budget`].

use std::collections::BTreeSet;
use std::time::Duration;

use crate::checker::Clock;

use super::analysis::NONE;
use super::graph::{self, DATA, Graph, PROCESS, REALTIME, RW, Rels, WR, WW};
use super::models;

/// The search's time budget, measured with the caller's clock.
pub(crate) struct Budget<'a> {
    clock: Option<&'a dyn Clock>,
    deadline: Duration,
    ticks: u32,
    expired: bool,
}

impl<'a> Budget<'a> {
    pub fn new(clock: Option<&'a dyn Clock>, budget: Duration) -> Self {
        let deadline = clock.map_or(Duration::MAX, |c| c.now().saturating_add(budget));
        Budget {
            clock,
            deadline,
            ticks: 0,
            expired: false,
        }
    }

    /// Has the budget run out? Reads the clock every 1024 calls.
    #[inline]
    pub fn tick(&mut self) -> bool {
        self.ticks += 1;
        if self.ticks & 1023 == 0 {
            self.check_now()
        } else {
            self.expired
        }
    }

    /// Read the clock now.
    pub fn check_now(&mut self) -> bool {
        if !self.expired
            && let Some(c) = self.clock
        {
            self.expired = c.now() >= self.deadline;
        }
        self.expired
    }

    pub fn expired(&self) -> bool {
        self.expired
    }
}

/// A cycle: `(vertex, relation to the next vertex)`, the last step back to
/// the first vertex. Vertices are transaction indexes.
pub(crate) type Cycle = Vec<(u32, Rels)>;

/// One cycle anomaly found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CycleFound {
    pub name: &'static str,
    pub cycle: Cycle,
}

/// What the search of one component found and could not decide.
#[derive(Debug, Clone, Default)]
pub(crate) struct ComponentReport {
    pub size: usize,
    pub found: Vec<CycleFound>,
    /// Anomaly classes neither found nor ruled out (the budget ran out).
    pub unresolved: Vec<&'static str>,
    /// The class being searched when the budget ran out.
    pub timed_out: Option<&'static str>,
}

/// Elle's name for a cycle, from its relations: the data part by its rw
/// edges (one: G-single-item; several, two of them adjacent: G2-item;
/// several, none adjacent: G-nonadjacent-item; none: G1c with a wr edge,
/// else G0), then `-realtime` with a realtime edge, else `-process` with a
/// process edge.
pub(crate) fn classify(cycle: &Cycle) -> &'static str {
    let count = |rel: Rels| cycle.iter().filter(|s| s.1 == rel).count();
    let rw = count(RW);
    let n = cycle.len();
    let adjacent = (0..n).any(|i| cycle[i].1 == RW && cycle[(i + 1) % n].1 == RW);
    let data = if rw == 1 {
        0
    } else if rw > 1 {
        if adjacent { 1 } else { 2 }
    } else if count(WR) > 0 {
        3
    } else {
        4
    };
    let variant = if count(REALTIME) > 0 {
        2
    } else if count(PROCESS) > 0 {
        1
    } else {
        0
    };
    const NAMES: [[&str; 3]; 5] = [
        [
            "G-single-item",
            "G-single-item-process",
            "G-single-item-realtime",
        ],
        ["G2-item", "G2-item-process", "G2-item-realtime"],
        [
            "G-nonadjacent-item",
            "G-nonadjacent-item-process",
            "G-nonadjacent-item-realtime",
        ],
        ["G1c", "G1c-process", "G1c-realtime"],
        ["G0", "G0-process", "G0-realtime"],
    ];
    NAMES[data][variant]
}

/// The relation a step is explained by, among those it may use: data
/// before order (Elle explains ww, then wr, then rw, then the rest).
fn pick(rels: Rels) -> Rels {
    for r in [WW, WR, RW, PROCESS, REALTIME] {
        if rels & r != 0 {
            return r;
        }
    }
    0
}

/// How a class is searched.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// A cycle over `allowed` closed by an edge of `closing`.
    Closing { allowed: Rels, closing: Rels },
    /// Exactly one rw edge; the rest over `others`.
    SingleRw { others: Rels },
    /// Two or more rw edges, none adjacent; the rest over `others`.
    Nonadjacent { others: Rels },
}

fn plan(name: &str, order: Rels) -> Option<Plan> {
    let (base, variant) = match name.strip_suffix("-realtime") {
        Some(b) => (b, REALTIME),
        None => match name.strip_suffix("-process") {
            Some(b) => (b, PROCESS),
            None => (name, 0),
        },
    };
    if variant != 0 && variant != order {
        return None;
    }
    let closing_or = |data: Rels| if variant != 0 { variant } else { data };
    Some(match base {
        "G0" => Plan::Closing {
            allowed: WW | variant,
            closing: closing_or(WW),
        },
        "G1c" => Plan::Closing {
            allowed: WW | WR | variant,
            closing: closing_or(WR),
        },
        "G-single-item" => Plan::SingleRw {
            others: WW | WR | variant,
        },
        "G-nonadjacent-item" => Plan::Nonadjacent {
            others: WW | WR | variant,
        },
        "G2-item" => Plan::Closing {
            allowed: DATA | variant,
            closing: RW,
        },
        _ => return None,
    })
}

/// How much breadth-first work may go into finding a shorter cycle once
/// one is found (edge visits).
const REFINE_WORK: u64 = 2_000_000;

/// Reusable buffers for breadth-first searches over a local graph.
struct PathSearch {
    stamp: Vec<u32>,
    parent: Vec<u32>,
    parent_rel: Vec<Rels>,
    queue: Vec<u32>,
    round: u32,
    /// Edge visits so far.
    work: u64,
}

impl PathSearch {
    fn new(n: usize) -> Self {
        PathSearch {
            stamp: vec![0; n],
            parent: vec![NONE; n],
            parent_rel: vec![0; n],
            queue: Vec::with_capacity(n),
            round: 0,
            work: 0,
        }
    }

    /// A shortest path `from ⇝ to` over edges in `allowed`, visiting only
    /// vertices `keep` accepts: the steps `(vertex, relation)` from `from`
    /// up to (not including) `to`. `Err(())` when the budget ran out.
    fn path(
        &mut self,
        g: &Graph,
        from: u32,
        to: u32,
        allowed: Rels,
        keep: &dyn Fn(u32) -> bool,
        budget: &mut Budget,
    ) -> Result<Option<Vec<(u32, Rels)>>, ()> {
        self.round += 1;
        let round = self.round;
        self.queue.clear();
        self.queue.push(from);
        self.stamp[from as usize] = round;
        self.parent[from as usize] = NONE;
        let mut head = 0;
        while head < self.queue.len() {
            let x = self.queue[head];
            head += 1;
            if budget.tick() {
                return Err(());
            }
            for (y, r) in g.out(x as usize) {
                self.work += 1;
                let r = r & allowed;
                if r == 0 || self.stamp[y as usize] == round || !keep(y) {
                    continue;
                }
                self.stamp[y as usize] = round;
                self.parent[y as usize] = x;
                self.parent_rel[y as usize] = pick(r);
                if y == to {
                    let mut steps = Vec::new();
                    let mut at = to;
                    while at != from {
                        let p = self.parent[at as usize];
                        steps.push((p, self.parent_rel[at as usize]));
                        at = p;
                    }
                    steps.reverse();
                    return Ok(Some(steps));
                }
                self.queue.push(y);
            }
        }
        Ok(None)
    }
}

/// The outcome of one class's search.
enum Outcome {
    Found(Cycle),
    Absent,
    OutOfTime,
}

/// Search one strongly connected component (its vertices, sorted) of the
/// whole graph, with order edges of kind `order` (`REALTIME`, `PROCESS` or
/// 0).
pub(crate) fn search_component(
    whole: &Graph,
    vertices: &[u32],
    order: Rels,
    search_order: &[&'static str],
    scratch: &mut Vec<u32>,
    budget: &mut Budget,
) -> ComponentReport {
    let g = local_graph(whole, vertices, scratch);
    let mut report = ComponentReport {
        size: vertices.len(),
        ..ComponentReport::default()
    };
    let mut bfs = PathSearch::new(vertices.len());
    let mut redundant: BTreeSet<&'static str> = BTreeSet::new();
    let mut found_names: BTreeSet<&'static str> = BTreeSet::new();
    for &name in search_order {
        if redundant.contains(name) {
            continue;
        }
        let Some(plan) = plan(name, order) else {
            continue;
        };
        if budget.expired() || budget.check_now() {
            report.timed_out.get_or_insert(name);
            report.unresolved.push(name);
            continue;
        }
        bfs.work = 0;
        let outcome = match plan {
            Plan::Closing { allowed, closing } => {
                closing_search(&g, allowed, closing, &mut bfs, budget)
            }
            Plan::SingleRw { others } => single_rw_search(&g, others, &mut bfs, budget),
            Plan::Nonadjacent { others } => nonadjacent_search(&g, others, budget),
        };
        match outcome {
            Outcome::Found(cycle) => {
                let actual = classify(&cycle);
                if actual != name {
                    // Only when an earlier search was cut short: the class
                    // looked for is then not decided.
                    report.unresolved.push(name);
                }
                if found_names.insert(actual) && !redundant.contains(actual) {
                    report.found.push(CycleFound {
                        name: actual,
                        cycle: cycle
                            .iter()
                            .map(|&(v, r)| (vertices[v as usize], r))
                            .collect(),
                    });
                }
                redundant.extend(models::implied(actual));
            }
            Outcome::Absent => {
                // No cycle through an rw edge at all: none of the rw
                // classes of this variant exist either.
                if let Some(suffix) = name.strip_prefix("G2-item") {
                    let single = format!("G-single-item{suffix}");
                    let nonadjacent = format!("G-nonadjacent-item{suffix}");
                    report
                        .unresolved
                        .retain(|u| **u != single && **u != nonadjacent);
                }
            }
            Outcome::OutOfTime => {
                report.timed_out.get_or_insert(name);
                report.unresolved.push(name);
            }
        }
    }
    // Something, at least, from a component the budget cut short: any
    // cycle, named by its edges.
    if report.found.is_empty() && !report.unresolved.is_empty() {
        let mut unlimited = Budget::new(None, Duration::ZERO);
        // The first cycle will do: no refining.
        bfs.work = REFINE_WORK + 1;
        if let Outcome::Found(cycle) =
            closing_search(&g, DATA | order, DATA | order, &mut bfs, &mut unlimited)
        {
            let name = classify(&cycle);
            redundant.extend(models::implied(name));
            report.found.push(CycleFound {
                name,
                cycle: cycle
                    .iter()
                    .map(|&(v, r)| (vertices[v as usize], r))
                    .collect(),
            });
        }
    }
    report.unresolved.retain(|u| !redundant.contains(u));
    for f in &mut report.found {
        rotate_to_smallest(&mut f.cycle);
    }
    report
}

/// Start a cycle at its smallest vertex.
fn rotate_to_smallest(cycle: &mut Cycle) {
    if let Some(i) = (0..cycle.len()).min_by_key(|&i| cycle[i].0) {
        cycle.rotate_left(i);
    }
}

/// The component's vertices `0..n` and the edges among them.
fn local_graph(whole: &Graph, vertices: &[u32], scratch: &mut Vec<u32>) -> Graph {
    if scratch.len() < whole.vertices() {
        scratch.resize(whole.vertices(), NONE);
    }
    for (i, &v) in vertices.iter().enumerate() {
        scratch[v as usize] = i as u32;
    }
    let mut offsets = Vec::with_capacity(vertices.len() + 1);
    let mut targets = Vec::new();
    let mut rels = Vec::new();
    offsets.push(0);
    for &v in vertices {
        for (t, r) in whole.out(v as usize) {
            let local = scratch[t as usize];
            if local != NONE {
                targets.push(local);
                rels.push(r);
            }
        }
        offsets.push(targets.len() as u32);
    }
    for &v in vertices {
        scratch[v as usize] = NONE;
    }
    Graph {
        offsets,
        targets,
        rels,
    }
}

/// A cycle over `allowed` through an edge of `closing`: the shortest found
/// among candidate closing edges within [`REFINE_WORK`].
fn closing_search(
    g: &Graph,
    allowed: Rels,
    closing: Rels,
    bfs: &mut PathSearch,
    budget: &mut Budget,
) -> Outcome {
    let (comp, _) = graph::components(g, allowed);
    let mut best: Option<Cycle> = None;
    for u in 0..g.vertices() {
        for (v, r) in g.out(u) {
            if r & closing == 0 || comp[u] != comp[v as usize] {
                continue;
            }
            if best.as_ref().is_some_and(|b| b.len() <= 2)
                || (best.is_some() && bfs.work > REFINE_WORK)
            {
                return Outcome::Found(best.expect("some cycle"));
            }
            let c = comp[u];
            let keep = |x: u32| comp[x as usize] == c;
            match bfs.path(g, v, u as u32, allowed, &keep, budget) {
                Err(()) => return best.map_or(Outcome::OutOfTime, Outcome::Found),
                Ok(None) => {}
                Ok(Some(path)) => {
                    let mut cycle = vec![(u as u32, pick(r & closing))];
                    cycle.extend(path);
                    if best.as_ref().is_none_or(|b| cycle.len() < b.len()) {
                        best = Some(cycle);
                    }
                }
            }
        }
    }
    best.map_or(Outcome::Absent, Outcome::Found)
}

/// Exactly one rw edge `u → v`, closed by a path `v ⇝ u` over `others`.
fn single_rw_search(
    g: &Graph,
    others: Rels,
    search: &mut PathSearch,
    budget: &mut Budget,
) -> Outcome {
    // A cycle with one rw edge lies in one component of others + rw...
    let (outer, _) = graph::components(g, others | RW);
    // ...and its path in a chain of components of `others`, whose Tarjan
    // numbers never increase along a path.
    let (inner, _) = graph::components(g, others);
    let mut best: Option<Cycle> = None;
    for u in 0..g.vertices() {
        for (v, r) in g.out(u) {
            let vi = v as usize;
            if r & RW == 0 || outer[u] != outer[vi] || inner[vi] < inner[u] {
                continue;
            }
            if best.as_ref().is_some_and(|b| b.len() <= 2)
                || (best.is_some() && search.work > REFINE_WORK)
            {
                return Outcome::Found(best.expect("some cycle"));
            }
            let (lo, hi) = (inner[u], inner[vi]);
            let keep = |x: u32| {
                let c = inner[x as usize];
                c >= lo && c <= hi
            };
            match search.path(g, v, u as u32, others, &keep, budget) {
                Err(()) => return best.map_or(Outcome::OutOfTime, Outcome::Found),
                Ok(None) => {}
                Ok(Some(path)) => {
                    let mut cycle = vec![(u as u32, RW)];
                    cycle.extend(path);
                    if best.as_ref().is_none_or(|b| cycle.len() < b.len()) {
                        best = Some(cycle);
                    }
                }
            }
        }
    }
    best.map_or(Outcome::Absent, Outcome::Found)
}

/// Is this a G-nonadjacent cycle: two or more rw edges, no two adjacent
/// (cyclically), every vertex once?
fn is_nonadjacent(cycle: &Cycle) -> bool {
    let n = cycle.len();
    let rw = cycle.iter().filter(|s| s.1 == RW).count();
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    rw >= 2
        && (0..n).all(|i| !(cycle[i].1 == RW && cycle[(i + 1) % n].1 == RW))
        && cycle.iter().all(|s| seen.insert(s.0))
}

/// Split a closed walk into simple cycles (each vertex once per cycle).
fn simple_cycles(walk: &Cycle) -> Vec<Cycle> {
    let mut out = Vec::new();
    let mut stack: Vec<(u32, Rels)> = Vec::new();
    let mut on: std::collections::BTreeMap<u32, usize> = Default::default();
    // Walk the steps; vertex `walk[i].0` is entered before step i.
    for &(v, r) in walk.iter().chain(std::iter::once(&(walk[0].0, 0))) {
        if let Some(&at) = on.get(&v) {
            let cycle: Cycle = stack.drain(at..).collect();
            for s in &cycle {
                on.remove(&s.0);
            }
            out.push(cycle);
        }
        if r == 0 {
            break;
        }
        on.insert(v, stack.len());
        stack.push((v, r));
    }
    out
}

/// Two or more rw edges, none adjacent, the rest over `others`.
fn nonadjacent_search(g: &Graph, others: Rels, budget: &mut Budget) -> Outcome {
    let n = g.vertices();
    // The product graph: node 2v is v after a non-rw step (free), 2v+1
    // is v right after an rw step. Its edges are labelled with the
    // relation used.
    let mut edges: Vec<(u32, u32, Rels)> = Vec::new();
    for x in 0..n {
        for (y, r) in g.out(x) {
            let (x2, y2) = (2 * x as u32, 2 * y);
            if r & others != 0 {
                let l = pick(r & others);
                edges.push((x2, y2, l));
                edges.push((x2 + 1, y2, l));
            }
            if r & RW != 0 {
                edges.push((x2, y2 + 1, RW));
            }
        }
    }
    let p = Graph::from_edges(2 * n, &edges);
    let (comp, _) = graph::components(&p, 0xff);
    let mut pbfs = PathSearch::new(2 * n);
    let mut candidates: Vec<(u32, u32)> = Vec::new();
    let mut best: Option<Cycle> = None;
    for x in 0..n {
        let xf = 2 * x;
        for (y2, r) in p.out(xf) {
            if r != RW || comp[xf] != comp[y2 as usize] {
                continue;
            }
            candidates.push((x as u32, y2 / 2));
            if best.as_ref().is_some_and(|b| b.len() <= 4)
                || (best.is_some() && pbfs.work > REFINE_WORK)
            {
                continue;
            }
            // The shortest closed walk through this rw edge.
            let c = comp[xf];
            let keep = |z: u32| comp[z as usize] == c;
            let walk = match pbfs.path(&p, y2, xf as u32, 0xff, &keep, budget) {
                Err(()) => return best.map_or(Outcome::OutOfTime, Outcome::Found),
                Ok(None) => continue,
                Ok(Some(path)) => {
                    let mut w: Cycle = vec![(x as u32, RW)];
                    w.extend(path.into_iter().map(|(node, rel)| (node / 2, rel)));
                    w
                }
            };
            for cycle in simple_cycles(&walk) {
                if is_nonadjacent(&cycle) && best.as_ref().is_none_or(|b| cycle.len() < b.len()) {
                    best = Some(cycle);
                }
            }
        }
    }
    if let Some(best) = best {
        return Outcome::Found(best);
    }
    if candidates.is_empty() {
        return Outcome::Absent;
    }
    // No shortest walk was a simple cycle: search simple paths.
    for (x, y) in candidates {
        match simple_nonadjacent(g, others, x, y, budget) {
            Err(()) => return Outcome::OutOfTime,
            Ok(Some(cycle)) => return Outcome::Found(cycle),
            Ok(None) => {}
        }
    }
    Outcome::Absent
}

/// Depth-first over simple paths `y ⇝ x` after the rw edge `x → y`: the
/// first step not rw, no two rw steps in a row, the last step not rw, and
/// at least one more rw step on the way.
fn simple_nonadjacent(
    g: &Graph,
    others: Rels,
    x: u32,
    y: u32,
    budget: &mut Budget,
) -> Result<Option<Cycle>, ()> {
    let n = g.vertices();
    let mut on_path = vec![false; n];
    // Frames: (vertex, arrived by rw, cursor, rw steps so far). The cursor
    // runs over (edge, way) pairs: way 0 steps by a non-rw relation, way 1
    // by rw.
    let mut frames: Vec<(u32, bool, u32, u32)> = vec![(y, true, 2 * g.offsets[y as usize], 1)];
    // The relation each frame was entered by.
    let mut entered_by: Vec<Rels> = vec![RW];
    on_path[x as usize] = true;
    on_path[y as usize] = true;
    while let Some(&(v, after_rw, cursor, rws)) = frames.last() {
        if budget.tick() {
            return Err(());
        }
        if cursor >= 2 * g.offsets[v as usize + 1] {
            frames.pop();
            entered_by.pop();
            on_path[v as usize] = false;
            continue;
        }
        if let Some(top) = frames.last_mut() {
            top.2 = cursor + 1;
        }
        let e = (cursor / 2) as usize;
        let is_rw = cursor % 2 == 1;
        let (w, r) = (g.targets[e], g.rels[e]);
        let rel = if is_rw {
            if after_rw { 0 } else { r & RW }
        } else {
            pick(r & others)
        };
        if rel == 0 {
            continue;
        }
        if w == x {
            if !is_rw && rws >= 2 {
                let mut cycle: Cycle = Vec::with_capacity(frames.len() + 1);
                cycle.push((x, RW));
                for (i, f) in frames.iter().enumerate() {
                    let leaving = if i + 1 < frames.len() {
                        entered_by[i + 1]
                    } else {
                        rel
                    };
                    cycle.push((f.0, leaving));
                }
                return Ok(Some(cycle));
            }
            continue;
        }
        if on_path[w as usize] {
            continue;
        }
        on_path[w as usize] = true;
        frames.push((w, is_rw, 2 * g.offsets[w as usize], rws + u32::from(is_rw)));
        entered_by.push(rel);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(n: usize, edges: &[(u32, u32, Rels)], order: Rels) -> Vec<(&'static str, Cycle)> {
        let g = Graph::from_edges(n, edges);
        let vertices: Vec<u32> = (0..n as u32).collect();
        let mut scratch = Vec::new();
        let mut budget = Budget::new(None, Duration::ZERO);
        let search_order = models::cycle_search_order();
        let r = search_component(
            &g,
            &vertices,
            order,
            &search_order,
            &mut scratch,
            &mut budget,
        );
        assert!(r.unresolved.is_empty(), "{:?}", r.unresolved);
        r.found.into_iter().map(|f| (f.name, f.cycle)).collect()
    }

    #[test]
    fn names_cycles_by_their_edges() {
        assert_eq!(classify(&vec![(0, WW), (1, WW)]), "G0");
        assert_eq!(classify(&vec![(0, WW), (1, WR)]), "G1c");
        assert_eq!(classify(&vec![(0, RW), (1, WR)]), "G-single-item");
        assert_eq!(classify(&vec![(0, RW), (1, RW)]), "G2-item");
        assert_eq!(
            classify(&vec![(0, RW), (1, WW), (2, RW), (3, WR)]),
            "G-nonadjacent-item"
        );
        assert_eq!(
            classify(&vec![(0, RW), (1, REALTIME)]),
            "G-single-item-realtime"
        );
        assert_eq!(classify(&vec![(0, WW), (1, PROCESS)]), "G0-process");
        // Adjacent across the end of the list.
        assert_eq!(classify(&vec![(0, RW), (1, WW), (2, RW)]), "G2-item");
    }

    #[test]
    fn finds_each_data_class() {
        assert_eq!(
            search(2, &[(0, 1, WW), (1, 0, WW)], 0),
            vec![("G0", vec![(0, WW), (1, WW)])]
        );
        assert_eq!(search(2, &[(0, 1, WW), (1, 0, WR)], 0)[0].0, "G1c");
        assert_eq!(
            search(2, &[(0, 1, RW), (1, 0, WR)], 0)[0].0,
            "G-single-item"
        );
        assert_eq!(search(2, &[(0, 1, RW), (1, 0, RW)], 0)[0].0, "G2-item");
        let found = search(4, &[(0, 1, RW), (1, 2, WW), (2, 3, RW), (3, 0, WR)], 0);
        assert_eq!(found[0].0, "G-nonadjacent-item");
    }

    #[test]
    fn variants_need_their_order_edges() {
        let edges = [(0, 1, RW), (1, 0, REALTIME)];
        assert_eq!(search(2, &edges, REALTIME)[0].0, "G-single-item-realtime");
        let edges = [(0, 1, WW), (1, 0, PROCESS)];
        assert_eq!(search(2, &edges, PROCESS)[0].0, "G0-process");
    }

    #[test]
    fn a_data_cycle_makes_its_variants_redundant() {
        // A G-single-item, and a realtime edge that makes another cycle:
        // only the data one is reported (it implies the realtime one).
        let found = search(
            3,
            &[(0, 1, RW), (1, 0, WR), (1, 2, WW), (2, 0, REALTIME)],
            REALTIME,
        );
        let names: Vec<&str> = found.iter().map(|f| f.0).collect();
        assert_eq!(names, vec!["G-single-item"]);
    }

    #[test]
    fn nonadjacent_needs_a_simple_cycle() {
        // x -rw-> m, m -ww-> z -ww-> m (a G0 loop at m), m -rw-> y, y -ww-> x:
        // the only closed walk with separated rw edges repeats m; the only
        // simple cycle through both rw edges has them adjacent: G2-item.
        let (x, m, z, y) = (0, 1, 2, 3);
        let edges = [(x, m, RW), (m, z, WW), (z, m, WW), (m, y, RW), (y, x, WW)];
        let names: Vec<&str> = search(4, &edges, 0).iter().map(|f| f.0).collect();
        assert_eq!(names, vec!["G0", "G2-item"]);
        assert_eq!(
            simple_cycles(&vec![(x, RW), (m, WW), (z, WW), (m, RW), (y, WW)]).len(),
            2
        );
    }

    #[test]
    fn depth_first_finds_what_walks_miss() {
        // A figure-eight of short walks beside a longer true G-nonadjacent.
        // 0 -rw-> 1 -ww-> 2 -ww-> 1 -rw-> 3 -ww-> 0 (the misleading walk),
        // and 0 -rw-> 4 -wr-> 5 -rw-> 6 -ww-> 0 (the real one).
        let edges = [
            (0, 1, RW),
            (1, 2, WW),
            (2, 1, WW),
            (1, 3, RW),
            (3, 0, WW),
            (0, 4, RW),
            (4, 5, WR),
            (5, 6, RW),
            (6, 0, WW),
        ];
        let found = search(7, &edges, 0);
        let nonadjacent = found
            .iter()
            .find(|f| f.0 == "G-nonadjacent-item")
            .expect("found");
        assert_eq!(nonadjacent.1, vec![(0, RW), (4, WR), (5, RW), (6, WW)]);
    }

    #[test]
    fn an_expired_budget_leaves_classes_unresolved_but_finds_a_cycle() {
        struct Late;
        impl Clock for Late {
            fn now(&self) -> Duration {
                Duration::from_secs(1)
            }
        }
        let g = Graph::from_edges(2, &[(0, 1, RW), (1, 0, REALTIME)]);
        let clock = Late;
        let mut budget = Budget::new(Some(&clock), Duration::ZERO);
        let mut scratch = Vec::new();
        let search_order = models::cycle_search_order();
        let r = search_component(
            &g,
            &[0, 1],
            REALTIME,
            &search_order,
            &mut scratch,
            &mut budget,
        );
        assert!(!r.unresolved.is_empty());
        assert_eq!(r.found[0].name, "G-single-item-realtime");
    }
}
