//! The pictures of a list-append (transaction) history: the timeline of
//! transactions, their latency samples, and each transaction anomaly
//! drawn.
//!
//! - [`TxnInput`]: a [`TxnHistory`] with what its lines say beside the
//!   micro-ops ([`LineFacts`]: node, final read, error), read from
//!   history.jsonl (or made from the recorded lines).
//! - The timeline ([`timeline`]): one bar per transaction on its
//!   process's lane (lanes grouped by node), coloured by outcome; hover
//!   shows its micro-ops, times and lines (`data-txn`, looked up in the
//!   page's `#txns` data, [`hover_data`]). Big histories are sampled as
//!   the register timeline is ([`super::timeline::sample_by`]), keeping
//!   every transaction of the anomalies drawn.
//! - [`samples`]: every completed transaction as a latency sample
//!   (`txn-read` for read-only ones, `txn-append` for those that append,
//!   `final-read`), for [`super::plots`].
//! - [`section`]: one anomaly. A cycle (G0, G1c, G-single-item, G2-item,
//!   their `-process` and `-realtime` variants) is drawn as its
//!   transactions in boxes (their micro-ops inside) on an ellipse, joined
//!   by arrows labelled with the relation (ww, wr, rw, realtime, process)
//!   and key, with every edge's reason in words in a table below. Other
//!   anomalies (G1a, G1b, internal, incompatible-order, lost-update, ...)
//!   name their transactions, keys and values in words and a table. An
//!   anomaly that the model the history is held to allows is drawn the
//!   same, marked as allowed.
//!
//! Pure: values in, HTML and SVG text out.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::svg::{escape, num};
use super::timeline::{self, Axis, Band, Bar, Lanes, Mark, Span};
use crate::checker::txn::{
    ConsistencyModel, CycleAnomaly, MicroOp, Relation, TxnHistory, TxnLine, TxnRef, key_text,
    txn_text_short,
};
use crate::history::Outcome;
use crate::results::{Anomaly, OpSample};

/// What one line of a transaction history says beside its micro-ops.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LineFacts {
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default, rename = "final")]
    pub final_read: bool,
    #[serde(default)]
    pub error: Option<String>,
}

impl LineFacts {
    /// From recorded lines: entry `n - 1` is line `n` (a line's own
    /// number, else its position).
    pub fn from_lines(lines: &[TxnLine]) -> Vec<LineFacts> {
        let n = lines
            .iter()
            .enumerate()
            .map(|(i, l)| if l.line > 0 { l.line } else { i + 1 })
            .max()
            .unwrap_or(0);
        let mut out = vec![LineFacts::default(); n];
        for (i, l) in lines.iter().enumerate() {
            let at = if l.line > 0 { l.line } else { i + 1 };
            out[at - 1] = LineFacts {
                node: l.node.clone(),
                final_read: l.final_read,
                error: l.error.clone(),
            };
        }
        out
    }

    /// From a JSONL history's text, line by line; a line that does not
    /// say (or does not parse: the checker's parser reports those) has
    /// none.
    pub fn from_jsonl(text: &str) -> Vec<LineFacts> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_default())
            .collect()
    }
}

/// A transaction history and the facts of its lines (empty when its
/// format has none: Elle's EDN).
#[derive(Debug, Clone, Copy)]
pub struct TxnInput<'a> {
    pub history: &'a TxnHistory,
    pub lines: &'a [LineFacts],
}

impl<'a> TxnInput<'a> {
    fn facts(&self, line: u32) -> Option<&'a LineFacts> {
        (line as usize)
            .checked_sub(1)
            .and_then(|i| self.lines.get(i))
    }

    /// The node that served transaction `t` (its completion's, else its
    /// invocation's).
    pub fn node(&self, t: usize) -> Option<&'a str> {
        let txn = &self.history.txns[t];
        txn.complete
            .and_then(|c| self.facts(c.line))
            .and_then(|f| f.node.as_deref())
            .or_else(|| self.facts(txn.invoke.line).and_then(|f| f.node.as_deref()))
    }

    /// Is transaction `t` a final read (after the heals)?
    pub fn is_final(&self, t: usize) -> bool {
        self.facts(self.history.txns[t].invoke.line)
            .is_some_and(|f| f.final_read)
    }

    fn error(&self, t: usize) -> Option<&'a str> {
        self.history.txns[t]
            .complete
            .and_then(|c| self.facts(c.line))
            .and_then(|f| f.error.as_deref())
    }

    /// The transaction a reference names (by its invocation line).
    pub fn index(&self) -> HashMap<u32, usize> {
        self.history
            .txns
            .iter()
            .enumerate()
            .map(|(i, t)| (t.invoke.line, i))
            .collect()
    }
}

/// Where each transaction starts and ends on the x axis (seconds, or
/// positions in the history when a line has no time), and the axis.
pub fn spans(h: &TxnHistory, at_least: f64) -> (Axis, Vec<Span>) {
    let timed = !h.txns.is_empty()
        && h.txns
            .iter()
            .all(|t| t.invoke.time_ns.is_some() && t.complete.is_none_or(|c| c.time_ns.is_some()));
    let mut pos = vec![(0.0f64, None::<f64>); h.txns.len()];
    if timed {
        for (p, t) in pos.iter_mut().zip(&h.txns) {
            let s = |ns: Option<u64>| ns.unwrap_or(0) as f64 / 1e9;
            *p = (s(t.invoke.time_ns), t.complete.map(|c| s(c.time_ns)));
        }
    } else {
        for (n, (t, done)) in h.events().enumerate() {
            if done {
                pos[t].1 = Some(n as f64);
            } else {
                pos[t].0 = n as f64;
            }
        }
    }
    let last = pos.iter().map(|(s, e)| e.unwrap_or(*s)).fold(0.0, f64::max);
    let axis = Axis {
        timed,
        end: last.max(at_least),
    };
    let out = pos
        .iter()
        .zip(&h.txns)
        .map(|(&(start, end), t)| match end {
            Some(end) => Span {
                start,
                end: end.max(start),
                tail: t.outcome == Outcome::Info,
            },
            None => Span {
                start,
                end: axis.end.max(start),
                tail: false,
            },
        })
        .collect();
    (axis, out)
}

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "k",
        Outcome::Fail => "f",
        Outcome::Info => "i",
    }
}

fn outcome_word(o: Outcome, completed: bool) -> &'static str {
    match (o, completed) {
        (Outcome::Ok, _) => "ok",
        (Outcome::Fail, _) => "fail",
        (Outcome::Info, true) => "info",
        (Outcome::Info, false) => "never completed",
    }
}

/// Which transactions the timeline draws (see [`timeline::sample`]).
pub fn sample(input: &TxnInput<'_>, keep: &BTreeSet<usize>, max: usize) -> Vec<usize> {
    let h = input.history;
    timeline::sample_by(
        h.txns.len(),
        keep,
        |i| h.txns[i].outcome == Outcome::Info,
        max,
    )
}

/// The timeline of the `shown` transactions, as SVG: each bar carries
/// `data-txn` (the transaction's index).
pub fn timeline(
    input: &TxnInput<'_>,
    axis: &Axis,
    spans: &[Span],
    shown: &[usize],
    bands: &[Band],
    marks: &[Mark],
) -> String {
    let h = input.history;
    let lanes = Lanes::layout(h.txns.iter().enumerate().map(|(i, t)| {
        (
            t.process,
            input.node(i).unwrap_or(""),
            spans[i].start,
            spans[i].end,
        )
    }));
    let bars: Vec<Bar> = shown
        .iter()
        .map(|&i| Bar {
            id: i,
            lane: lanes.lane[&h.txns[i].process],
            span: spans[i],
            class: outcome_class(h.txns[i].outcome),
        })
        .collect();
    timeline::draw(
        &lanes,
        &bars,
        axis,
        bands,
        marks,
        "data-txn",
        "transactions",
    )
}

/// Every completed, timed transaction as a latency sample.
pub fn samples(input: &TxnInput<'_>) -> Vec<OpSample> {
    let h = input.history;
    h.txns
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let invoked_ns = t.invoke.time_ns?;
            let completed_ns = t.complete?.time_ns?;
            let f = if input.is_final(i) {
                "final-read"
            } else if h
                .mops(t)
                .iter()
                .any(|m| matches!(m, crate::checker::txn::Mop::Append { .. }))
            {
                "txn-append"
            } else {
                "txn-read"
            };
            Some(OpSample {
                write: f == "txn-append",
                f: f.to_string(),
                outcome: match t.outcome {
                    Outcome::Ok => crate::results::Outcome::Ok,
                    Outcome::Fail => crate::results::Outcome::Fail,
                    Outcome::Info => crate::results::Outcome::Info,
                },
                invoked_ns,
                completed_ns,
            })
        })
        .collect()
}

/// `{"17": [invocation line, completion line or null, process, outcome,
/// invoked ns, completed ns, node, final, micro-ops, error], ...}` for the
/// hover card, safe inside a `<script>` element.
pub fn hover_data(input: &TxnInput<'_>, txns: &BTreeSet<usize>) -> String {
    let h = input.history;
    let mut map = serde_json::Map::with_capacity(txns.len());
    for &i in txns {
        let Some(t) = h.txns.get(i) else { continue };
        map.insert(
            i.to_string(),
            serde_json::json!([
                t.invoke.line,
                t.complete.map(|c| c.line),
                t.process,
                outcome_word(t.outcome, t.complete.is_some()),
                t.invoke.time_ns,
                t.complete.and_then(|c| c.time_ns),
                input.node(i),
                input.is_final(i),
                txn_text_short(&h.micro_ops(i)),
                input.error(i),
            ]),
        );
    }
    serde_json::Value::Object(map)
        .to_string()
        .replace('<', "\\u003c")
}

/// The transactions an anomaly names.
pub fn refs(a: &Anomaly) -> Vec<&TxnRef> {
    match a {
        Anomaly::Register(_) | Anomaly::Workload(_) => Vec::new(),
        Anomaly::TxnCycle(c) => c.txns.iter().collect(),
        Anomaly::TxnRead(r) => std::iter::once(&r.reader)
            .chain(r.writer.as_ref())
            .collect(),
        Anomaly::TxnSingle(t) => vec![&t.txn],
        Anomaly::TxnKey(k) => k.txns.iter().collect(),
    }
}

/// Whether an anomaly counts against the model the history is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It rules the model out.
    RulesOut(ConsistencyModel),
    /// The model allows it (it rules out stronger ones only).
    Allowed(ConsistencyModel),
}

/// The section of one transaction anomaly; `drawn` collects the
/// transactions it can hover.
pub fn section(
    input: Option<&TxnInput<'_>>,
    index: &HashMap<u32, usize>,
    anomaly: &Anomaly,
    number: usize,
    standing: Standing,
    drawn: &mut BTreeSet<usize>,
) -> Markup {
    let txns = refs(anomaly);
    for t in &txns {
        if let Some(&i) = index.get(&t.invoke_line) {
            drawn.insert(i);
        }
    }
    let (class, badge) = match standing {
        Standing::RulesOut(m) => ("anomaly", format!("rules out {m}")),
        Standing::Allowed(m) => ("anomaly allowed", format!("allowed by {m}")),
    };
    let ruled = crate::checker::txn::models::ruled_out([anomaly.class()]);
    let ruled: Vec<&str> = ruled.iter().map(|m| m.as_str()).collect();
    html! {
        section class=(class) id=(format!("anomaly-{number}")) data-anomaly=(anomaly.class()) data-decisive=(matches!(standing, Standing::RulesOut(_))) {
            h3 {
                (anomaly.class()) " on " (anomaly.subject()) " "
                span.badge.(if matches!(standing, Standing::RulesOut(_)) { "out" } else { "ok" }) { (badge) }
            }
            p.what { (describe(anomaly.class())) " Rules out: " (if ruled.is_empty() { "none of the seven models".to_string() } else { ruled.join(", ") }) "." }
            @match anomaly {
                Anomaly::TxnCycle(c) => {
                    p.legend {
                        @for rel in [Relation::Ww, Relation::Wr, Relation::Rw, Relation::Realtime, Relation::Process] {
                            @if c.steps.iter().any(|s| s.relation == rel) {
                                span.rel style=(format!("color:{}", rel_colour(rel))) { (rel_arrow(rel)) " " b { (rel_name(rel)) } } " " (rel_words(rel)) " "
                            }
                        }
                        " · hover a transaction for its lines and times"
                    }
                    div.figure { (PreEscaped(cycle_svg(c, index))) }
                    table.steps {
                        thead { tr { th { "edge" } th { "relation" } th { "key" } th { "why it holds" } } }
                        tbody {
                            @for s in &c.steps {
                                tr data-rel=(rel_name(s.relation)) {
                                    td { b { (s.from) " → " (s.to) } }
                                    td { span.rel style=(format!("color:{}", rel_colour(s.relation))) { b { (rel_name(s.relation)) } } }
                                    td { (s.key.as_ref().map(key_text).unwrap_or_else(|| "-".into())) }
                                    td { (s.explanation) }
                                }
                            }
                        }
                    }
                    p.explanation { (c.explanation) }
                }
                Anomaly::TxnRead(r) => {
                    p.explanation { (r.explanation) }
                    dl.facts {
                        dt { "key" } dd { code { (key_text(&r.key)) } }
                        dt { "element" } dd { code { (r.element) } }
                        dt { "read" } dd { code { (list(&r.read)) } }
                    }
                }
                Anomaly::TxnSingle(t) => {
                    p.explanation { (t.explanation) }
                    dl.facts {
                        dt { "key" } dd { code { (key_text(&t.key)) } }
                        dt { "read" } dd { code { (list(&t.read)) } " (micro-op " (t.mop + 1) ")" }
                        @if let Some(e) = &t.expected { dt { "expected" } dd { code { (list(e)) } } }
                        @if let Some(e) = t.element { dt { "element" } dd { code { (e) } } }
                        @if !t.duplicates.is_empty() {
                            dt { "duplicates" } dd { @for (e, n) in &t.duplicates { code { (e) " ×" (n) } " " } }
                        }
                    }
                }
                Anomaly::TxnKey(k) => {
                    p.explanation { (k.explanation) }
                    dl.facts {
                        dt { "key" } dd { code { (key_text(&k.key)) } }
                        @for v in &k.values { dt { "values" } dd { code { (list(v)) } } }
                    }
                }
                Anomaly::Register(r) => { p.explanation { (r.explanation) } }
                Anomaly::Workload(w) => { p.explanation { (w.explanation) } }
            }
            (txn_table(input, index, &txns))
        }
    }
}

fn list(items: &[u64]) -> String {
    crate::checker::txn::history::list_text(items)
}

/// The transactions of an anomaly, with their lines.
fn txn_table(
    input: Option<&TxnInput<'_>>,
    index: &HashMap<u32, usize>,
    txns: &[&TxnRef],
) -> Markup {
    html! {
        table.witness.txns {
            thead { tr { th { "" } th { "process" } th { "outcome" } th { "invoked" } th { "completed" } th { "node" } th { "lines" } th { "micro-ops" } } }
            tbody {
                @for t in txns {
                    @let i = index.get(&t.invoke_line).copied();
                    tr data-txn=[i] {
                        td { b { (t.name) } }
                        td { (t.process) }
                        td { (outcome_word(t.outcome, t.complete_line.is_some())) }
                        td { (t.invoke_time_ns.map(secs).unwrap_or_else(|| "-".into())) }
                        td { (t.complete_time_ns.map(secs).unwrap_or_else(|| "-".into())) }
                        td { (i.and_then(|i| input.and_then(|x| x.node(i))).unwrap_or("-")) }
                        td { (t.invoke_line) @if let Some(c) = t.complete_line { "–" (c) } }
                        td.lines { code { (txn_text_short(&t.value)) } }
                    }
                }
            }
        }
    }
}

fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// What an anomaly class means, in a sentence (Adya's and Elle's).
pub fn describe(class: &str) -> &'static str {
    let base = class
        .strip_suffix("-realtime")
        .or_else(|| class.strip_suffix("-process"))
        .unwrap_or(class);
    let order = if class.ends_with("-realtime") {
        " Real-time order (one transaction completed before another began) is part of the cycle: only strict serializability forbids it."
    } else if class.ends_with("-process") {
        " A process's own order is part of the cycle."
    } else {
        ""
    };
    let what = match base {
        "G0" => {
            "Write cycle: transactions whose appends are ordered each before the other (ww edges only)."
        }
        "G1c" => {
            "Circular information flow: a cycle of writes and reads (ww and wr edges), each transaction seeing the other's effects."
        }
        "G-single-item" => {
            "Read skew on one anti-dependency: a cycle with exactly one rw edge, a read that missed a write its own past depends on."
        }
        "G-nonadjacent-item" => {
            "A cycle with rw edges, none two in a row: forbidden by snapshot isolation and stronger."
        }
        "G2-item" => {
            "Anti-dependency cycle (write skew and kin): a cycle with two or more rw edges."
        }
        "G1a" => "Aborted read: a read saw an append of a transaction that failed.",
        "G1b" => {
            "Intermediate read: a read saw a state a transaction passed through but did not commit."
        }
        "internal" => {
            "Internal inconsistency: a transaction's read disagrees with its own earlier reads and appends."
        }
        "incompatible-order" => {
            "Two reads of one key that are not prefixes one of the other: no single version order of the key explains both."
        }
        "duplicate-elements" => "A read saw the same element twice.",
        "lost-update" => {
            "Lost update: transactions read the same version of a key and each appended to it."
        }
        "dirty-update" => "Dirty update: a committed append was made over an aborted one.",
        "own-append-order" => {
            "Own append order: a read holds a transaction's appends to one key out of the order it made them (chaos's check; a reorder makes no dependency cycle)."
        }
        "future-read" => "A transaction read its own append before making it.",
        "garbage-read" => "A read saw an element nobody appended.",
        _ => "An anomaly of the list-append checker.",
    };
    match order {
        "" => what,
        _ => match (base, class.ends_with("-realtime")) {
            ("G0", true) => {
                "Write cycle including real-time order: only strict serializability forbids it."
            }
            ("G1c", true) => {
                "Circular information flow including real-time order: only strict serializability forbids it."
            }
            ("G-single-item", true) => {
                "Read skew including real-time order: a read missed a write that completed before the read began (a stale read). Only strict serializability forbids it."
            }
            ("G-nonadjacent-item", true) => {
                "A cycle with non-adjacent rw edges including real-time order."
            }
            ("G2-item", true) => "Anti-dependency cycle including real-time order.",
            (_, true) => "A cycle including real-time order.",
            _ => "A cycle including a process's own order.",
        },
    }
}

/// A relation's colour in the cycle view (Okabe and Ito; each also has its
/// name on the arrow and a dash pattern for the order edges).
pub fn rel_colour(rel: Relation) -> &'static str {
    match rel {
        Relation::Ww => "#0072B2",
        Relation::Wr => "#009E73",
        Relation::Rw => "#D55E00",
        Relation::Realtime => "#CC79A7",
        Relation::Process => "#555555",
    }
}

pub fn rel_name(rel: Relation) -> &'static str {
    match rel {
        Relation::Ww => "ww",
        Relation::Wr => "wr",
        Relation::Rw => "rw",
        Relation::Realtime => "realtime",
        Relation::Process => "process",
    }
}

fn rel_arrow(rel: Relation) -> &'static str {
    match rel {
        Relation::Realtime | Relation::Process => "⇢",
        _ => "→",
    }
}

fn rel_words(rel: Relation) -> &'static str {
    match rel {
        Relation::Ww => "(a later append on the same key)",
        Relation::Wr => "(read what the other appended)",
        Relation::Rw => "(read a version the other's append came after)",
        Relation::Realtime => "(completed before the other began)",
        Relation::Process => "(the same process, earlier)",
    }
}

/// Box size in the cycle view.
const BOX_W: f64 = 250.0;
const LINE_H: f64 = 14.0;
/// Micro-ops shown in a box (the hover and the table have all).
const BOX_MOPS: usize = 6;
/// Characters of a micro-op that fit a box.
const BOX_CHARS: usize = 33;

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// A micro-op for a box: `[:r 3 [1 2 ... 9]]` shortened to fit.
fn mop_text(m: &MicroOp) -> String {
    let full = txn_text_short(std::slice::from_ref(m));
    let inner = &full[1..full.len() - 1];
    clip(inner, BOX_CHARS)
}

/// The cycle as SVG: its transactions in boxes on an ellipse (the first at
/// the top, or on the left for two), each step an arrow from one box to
/// the next labelled with its relation and key. Boxes carry `data-txn`
/// when the transaction is in the history; each arrow is a
/// `<g class="edge" data-rel=...>`.
pub fn cycle_svg(c: &CycleAnomaly, index: &HashMap<u32, usize>) -> String {
    let n = c.txns.len().max(1);
    let mops = c
        .txns
        .iter()
        .map(|t| t.value.len().min(BOX_MOPS + 1))
        .max()
        .unwrap_or(1);
    let box_h = 40.0 + mops as f64 * LINE_H;
    let width = f64::from(super::svg::WIDTH);
    let (rx, ry) = if n == 2 {
        (300.0, 0.0)
    } else {
        (
            420.0,
            (box_h * 0.9 + 40.0).max(n as f64 * (box_h + 30.0) / std::f64::consts::PI / 1.4),
        )
    };
    let cx = width / 2.0;
    let cy = 30.0 + ry + box_h / 2.0;
    let height = cy + ry + box_h / 2.0 + 30.0;
    let centre = |i: usize| -> (f64, f64) {
        let a = if n == 2 {
            std::f64::consts::PI * (1.0 - i as f64)
        } else {
            -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * i as f64 / n as f64
        };
        (cx + rx * a.cos(), cy + ry * a.sin())
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="cycle" width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{name}: a cycle of {n} transactions" data-steps="{steps}">"#,
        w = num(width),
        h = num(height),
        name = escape(&c.anomaly),
        steps = c.steps.len(),
    );
    // The edges first, under the boxes.
    for (i, s) in c.steps.iter().enumerate() {
        let (ax, ay) = centre(i);
        let (bx, by) = centre((i + 1) % n);
        let (dx, dy) = (bx - ax, by - ay);
        let len = (dx * dx + dy * dy).sqrt().max(1e-9);
        let (ux, uy) = (dx / len, dy / len);
        // Left of travel: two edges between the same boxes part.
        let (nx, ny) = (uy, -ux);
        let part = if n == 2 { 26.0 } else { 0.0 };
        let exit = |x: f64, y: f64, ux: f64, uy: f64| {
            // Where a ray from a box's centre leaves the box.
            let tx = if ux.abs() > 1e-9 {
                (BOX_W / 2.0 + 4.0) / ux.abs()
            } else {
                f64::INFINITY
            };
            let ty = if uy.abs() > 1e-9 {
                (box_h / 2.0 + 4.0) / uy.abs()
            } else {
                f64::INFINITY
            };
            let t = tx.min(ty);
            (x + ux * t, y + uy * t)
        };
        let (sx, sy) = exit(ax + nx * part, ay + ny * part, ux, uy);
        let (ex, ey) = exit(bx + nx * part, by + ny * part, -ux, -uy);
        let bend = if n == 2 { 18.0 } else { 22.0 };
        let (mx, my) = ((sx + ex) / 2.0 + nx * bend, (sy + ey) / 2.0 + ny * bend);
        // The curve's middle, where the label goes.
        let (lx, ly) = (
            0.25 * sx + 0.5 * mx + 0.25 * ex,
            0.25 * sy + 0.5 * my + 0.25 * ey,
        );
        let label = match &s.key {
            Some(k) => format!("{} · key {}", rel_name(s.relation), key_text(k)),
            None => rel_name(s.relation).to_string(),
        };
        let lw = label.chars().count() as f64 * 7.2 + 10.0;
        // The arrowhead, along the curve's last direction (no SVG marker:
        // a page refers to nothing by `url()`).
        let (hx, hy) = (ex - mx, ey - my);
        let hl = (hx * hx + hy * hy).sqrt().max(1e-9);
        let (hx, hy) = (hx / hl, hy / hl);
        let head = format!(
            "M{} {}L{} {}L{} {}Z",
            num(ex),
            num(ey),
            num(ex - hx * 11.0 + hy * 5.0),
            num(ey - hy * 11.0 - hx * 5.0),
            num(ex - hx * 11.0 - hy * 5.0),
            num(ey - hy * 11.0 + hx * 5.0)
        );
        let dash = match s.relation {
            Relation::Realtime | Relation::Process => r#" stroke-dasharray="7 4""#,
            _ => "",
        };
        let _ = write!(
            out,
            r##"<g class="edge" data-rel="{r}"><title>{why}</title><path d="M{sx} {sy}Q{mx} {my} {ex} {ey}" fill="none" stroke="{c}" stroke-width="2.2"{dash}/><path d="{head}" fill="{c}"/><rect x="{rx}" y="{ry}" width="{lw}" height="18" rx="3" fill="#fff" stroke="{c}"/><text x="{lx}" y="{ty}" text-anchor="middle" class="rel" style="fill:{c}">{label}</text></g>"##,
            r = rel_name(s.relation),
            why = escape(&s.explanation),
            sx = num(sx),
            sy = num(sy),
            mx = num(mx),
            my = num(my),
            ex = num(ex),
            ey = num(ey),
            c = rel_colour(s.relation),
            rx = num(lx - lw / 2.0),
            ry = num(ly - 9.0),
            lw = num(lw),
            lx = num(lx),
            ty = num(ly + 4.5),
            label = escape(&label),
        );
    }
    for (i, t) in c.txns.iter().enumerate() {
        let (x, y) = centre(i);
        let (x0, y0) = (x - BOX_W / 2.0, y - box_h / 2.0);
        let data = index
            .get(&t.invoke_line)
            .map(|i| format!(r#" data-txn="{i}""#))
            .unwrap_or_default();
        let lines = match t.complete_line {
            Some(c) => format!("lines {}–{c}", t.invoke_line),
            None => format!("line {}", t.invoke_line),
        };
        let when = match (t.invoke_time_ns, t.complete_time_ns) {
            (Some(a), Some(b)) => format!(" · {:.3}–{:.3} s", a as f64 / 1e9, b as f64 / 1e9),
            (Some(a), None) => format!(" · from {:.3} s", a as f64 / 1e9),
            _ => String::new(),
        };
        let _ = write!(
            out,
            r#"<g class="txn"><rect class="box {oc}" x="{x0}" y="{y0}" width="{w}" height="{h}" rx="5"{data}/><text class="name" x="{tx}" y="{t1}">{name} · process {p} · {outcome}</text><text class="sub" x="{tx}" y="{t2}">{lines}{when}</text>"#,
            oc = outcome_class(t.outcome),
            x0 = num(x0),
            y0 = num(y0),
            w = num(BOX_W),
            h = num(box_h),
            tx = num(x0 + 8.0),
            t1 = num(y0 + 16.0),
            t2 = num(y0 + 30.0),
            name = escape(&t.name),
            p = t.process,
            outcome = outcome_word(t.outcome, t.complete_line.is_some()),
            lines = escape(&lines),
            when = escape(&when),
        );
        for (k, m) in t.value.iter().take(BOX_MOPS).enumerate() {
            let _ = write!(
                out,
                r#"<text class="mop" x="{}" y="{}">{}</text>"#,
                num(x0 + 8.0),
                num(y0 + 46.0 + k as f64 * LINE_H),
                escape(&mop_text(m))
            );
        }
        if t.value.len() > BOX_MOPS {
            let _ = write!(
                out,
                r#"<text class="sub" x="{}" y="{}">and {} more (hover)</text>"#,
                num(x0 + 8.0),
                num(y0 + 46.0 + BOX_MOPS as f64 * LINE_H),
                t.value.len() - BOX_MOPS
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::txn::Step;
    use crate::history::Key;

    fn txn_ref(name: &str, line: u32, value: Vec<MicroOp>) -> TxnRef {
        TxnRef {
            name: name.into(),
            process: 1,
            outcome: Outcome::Ok,
            invoke_line: line,
            complete_line: Some(line + 1),
            index: u64::from(line),
            invoke_time_ns: Some(1_000_000),
            complete_time_ns: Some(2_000_000),
            value,
        }
    }

    fn step(from: &str, to: &str, relation: Relation, key: Option<Key>) -> Step {
        Step {
            from: from.into(),
            to: to.into(),
            relation,
            key,
            element: None,
            next_element: None,
            explanation: format!("{from} precedes {to}"),
        }
    }

    #[test]
    fn a_cycle_has_a_labelled_arrow_per_step_and_escapes_its_keys() {
        let k = Key::Str("<b>&".into());
        let c = CycleAnomaly {
            anomaly: "G-single-item".into(),
            txns: vec![
                txn_ref("T1", 3, vec![MicroOp::Append(k.clone(), 1)]),
                txn_ref("T2", 7, vec![MicroOp::Read(k.clone(), Some(vec![]))]),
                txn_ref("T3", 9, vec![MicroOp::Read(Key::Int(2), Some(vec![4]))]),
            ],
            steps: vec![
                step("T1", "T2", Relation::Wr, Some(Key::Int(2))),
                step("T2", "T3", Relation::Rw, Some(k.clone())),
                step("T3", "T1", Relation::Realtime, None),
            ],
            explanation: "x".into(),
        };
        let index = HashMap::from([(3, 0), (7, 1)]);
        let svg = cycle_svg(&c, &index);
        assert_eq!(svg.matches(r#"<g class="edge""#).count(), 3);
        assert!(svg.contains(r#"data-rel="wr""#) && svg.contains(">wr · key 2<"));
        assert!(
            svg.contains(">rw · key &quot;&lt;b&gt;&amp;&quot;<"),
            "{svg}"
        );
        assert!(svg.contains(r#"data-rel="realtime""#) && svg.contains(">realtime<"));
        assert!(!svg.contains("<b>"));
        // Transactions found in the history hover; the third is not there.
        assert_eq!(svg.matches("data-txn=").count(), 2);
        assert_eq!(svg.matches(r#"<g class="txn">"#).count(), 3);
        assert!(
            svg.contains("[:append &quot;&lt;b&gt;&amp;&quot; 1]"),
            "{svg}"
        );
    }

    #[test]
    fn two_transactions_sit_side_by_side_with_parted_arrows() {
        let c = CycleAnomaly {
            anomaly: "G0".into(),
            txns: vec![
                txn_ref("T1", 1, vec![MicroOp::Append(Key::Int(0), 1)]),
                txn_ref("T2", 2, vec![MicroOp::Append(Key::Int(0), 2)]),
            ],
            steps: vec![
                step("T1", "T2", Relation::Ww, Some(Key::Int(0))),
                step("T2", "T1", Relation::Ww, Some(Key::Int(1))),
            ],
            explanation: "x".into(),
        };
        let svg = cycle_svg(&c, &HashMap::new());
        let paths: Vec<&str> = svg
            .split(r#"<path d="M"#)
            .skip(1)
            .filter(|p| {
                p.contains(r#"fill="none""#.trim_end_matches('"'))
                    && p.split("/>").next().unwrap().contains("fill=\"none\"")
            })
            .map(|p| p.split('"').next().unwrap())
            .collect();
        assert_eq!(paths.len(), 2);
        assert_ne!(paths[0], paths[1]);
        assert!(!svg.contains("url("));
    }

    #[test]
    fn describes_the_realtime_variants() {
        assert!(describe("G-single-item-realtime").contains("stale read"));
        assert!(describe("G2-item").contains("rw"));
        assert!(describe("G1a").contains("failed"));
    }
}
