//! The anomaly views: each anomaly drawn so that a person can see it.
//!
//! A register anomaly (one key's history is not linearizable) is drawn as
//! Porcupine draws it: every op of the key on its process's lane (lanes
//! grouped by node), on an axis of event order (each invocation and
//! completion of the key one step; real-time order is exact, gaps are
//! squeezed out), with the longest linearizable prefix shaded, the op that
//! cannot be placed outlined and labelled, the other ops of the witness
//! outlined, fault windows shaded where they fall, and the witness in
//! words with its history lines. Each kind of anomaly is one arm of the
//! `match` in [`section`]; transaction anomalies are drawn by
//! [`super::txn::section`] (this module's arm for them only says them in
//! words).
//!
//! Pure: values in, HTML text out.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use maud::{Markup, PreEscaped, html};

use super::svg::{escape, num};
use super::timeline::{Band, Lanes};
use crate::checker::KeyReport;
use crate::history::{Function, History, Op, Operation, Outcome, Value};
use crate::results::Anomaly;

/// Width of the column of lane labels, left of the scrolling lanes.
const LABEL_W: f64 = 90.0;
/// Left margin inside the lanes.
const X0: f64 = 6.0;
/// The width the lanes are shown in (they scroll beyond it).
const VIEW_W: f64 = 1090.0;
/// Lane height and pitch.
const LANE_H: f64 = 16.0;
const PITCH: f64 = 20.0;
/// Space above the lanes: rows for the fault labels, the prefix's label,
/// the witness's callouts.
const TOP: f64 = 64.0;
/// The widest an anomaly view gets, in pixels (it scrolls sideways).
const MAX_W: f64 = 40_000.0;

/// One anomaly to draw, whatever produced it (results.json, or the
/// checker's report for `chaos check --html`).
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// 1-based; the section's anchor is `anomaly-{number}`.
    pub number: usize,
    /// The key as the checker names it (`4`, `"k"`, `all keys`).
    pub key: String,
    pub class: String,
    pub explanation: String,
    /// How many ops of the key, by completion, can be linearized.
    pub prefix: Option<u64>,
    /// The `index` of every history line of the witness.
    pub witness: Vec<u64>,
}

impl Case {
    /// A register anomaly from results.json.
    pub fn from_register(number: usize, a: &crate::results::RegisterAnomaly) -> Case {
        Case {
            number,
            key: a.key.clone(),
            class: a.class.as_str().to_string(),
            explanation: a.explanation.clone(),
            prefix: a.linearizable_prefix,
            witness: a
                .ops
                .iter()
                .filter_map(|v| v.get("index").and_then(serde_json::Value::as_u64))
                .collect(),
        }
    }

    /// An invalid key of a checker report.
    pub fn from_key_report(number: usize, k: &KeyReport) -> Option<Case> {
        let w = k.witness.as_ref()?;
        Some(Case {
            number,
            key: k.key_label(),
            class: w.class.as_str().to_string(),
            explanation: w.explanation.clone(),
            prefix: Some(w.linearizable_prefix),
            witness: w.ops.iter().map(|o| o.index).collect(),
        })
    }

    /// The section's anchor.
    pub fn anchor(&self) -> String {
        format!("anomaly-{}", self.number)
    }
}

/// The operations (indexes into [`History::operations`]) on the key a
/// case names, in order of invocation.
pub fn key_ops(history: &History, key: &str) -> Vec<usize> {
    history
        .operations
        .iter()
        .enumerate()
        .filter(|(_, o)| key == "all keys" || o.key.to_string() == key)
        .map(|(i, _)| i)
        .collect()
}

/// The history line an explanation names first: the op that cannot be
/// placed (`process 15's read 396 (lines 2456-2459, ...)`, or `(line 12,
/// indeterminate on line 40, ...)`).
pub fn cited_line(explanation: &str) -> Option<usize> {
    let start = explanation.find(" (line")?;
    let rest = &explanation[start + " (line".len()..];
    let rest = rest.strip_prefix('s').unwrap_or(rest).trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// What the view found in the history for a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The key's operations.
    pub ops: Vec<usize>,
    /// The operation that cannot be placed, if the explanation names it.
    pub stuck: Option<usize>,
    /// The other operations of the witness.
    pub witness: BTreeSet<usize>,
    /// Where the linearizable prefix ends: the history line (an index into
    /// [`History::ops`]) before which the prefix's ops completed. The
    /// search gets stuck at the completion of the op that cannot be
    /// placed, so that is where it ends; without that op, after the
    /// prefix's count of ok ops by completion.
    pub prefix_until: Option<usize>,
}

/// Find a case's operations in the history.
pub fn find(history: &History, case: &Case) -> Found {
    let ops = key_ops(history, &case.key);
    let cited: BTreeSet<u64> = case.witness.iter().copied().collect();
    let mut witness = BTreeSet::new();
    for &i in &ops {
        let op = &history.operations[i];
        let inv = history.invocation(op).index;
        let comp = history.completion(op).map(|c| c.index);
        if cited.contains(&inv) || comp.is_some_and(|c| cited.contains(&c)) {
            witness.insert(i);
        }
    }
    let stuck = cited_line(&case.explanation).and_then(|line| {
        ops.iter()
            .copied()
            .find(|&i| history.invocation(&history.operations[i]).line == line)
    });
    if let Some(s) = stuck {
        witness.remove(&s);
    }
    let prefix_until = match (
        case.prefix,
        stuck.and_then(|s| history.operations[s].complete),
    ) {
        (None, _) => None,
        (Some(_), Some(end)) => Some(end),
        (Some(0), None) => None,
        (Some(p), None) => {
            // The ok ops by completion; the prefix ends after the p-th.
            let mut done: Vec<usize> = ops
                .iter()
                .filter(|&&i| history.operations[i].outcome == Outcome::Ok)
                .filter_map(|&i| history.operations[i].complete)
                .collect();
            done.sort_unstable();
            done.get(p as usize - 1).map(|c| c + 1)
        }
    };
    Found {
        ops,
        stuck,
        witness,
        prefix_until,
    }
}

/// A short label for an op: `r 396`, `w 5`, `cas 3→5`, `get "x"`.
pub fn label(history: &History, op: &Operation) -> String {
    let f = history.invocation(op).f;
    let input = history.input(op);
    let short = match f {
        Function::Read => "r",
        Function::Write => "w",
        Function::Cas => "cas",
        Function::Get => "get",
        Function::Put => "put",
        Function::Append => "app",
    };
    let value = match (f, input) {
        _ if f.is_read() => match op.outcome {
            Outcome::Ok => history.output(op).to_string(),
            _ => "?".to_string(),
        },
        (Function::Cas, Value::List(v)) if v.len() == 2 => format!("{}→{}", v[0], v[1]),
        _ => input.to_string(),
    };
    format!("{short} {value}")
}

/// The section of one anomaly: title, the witness in words, the picture,
/// the witness's lines. `drawn` lists the ops it drew (for the page's
/// hover data).
pub fn section(
    history: Option<&History>,
    anomaly: &Anomaly,
    number: usize,
    bands: &[Band],
    source: &str,
    drawn: &mut BTreeSet<usize>,
) -> Markup {
    match anomaly {
        Anomaly::Register(a) => register(
            history,
            &Case::from_register(number, a),
            bands,
            source,
            drawn,
        ),
        other => html! {
            section.anomaly id=(format!("anomaly-{number}")) data-anomaly=(other.subject()) {
                h3 { (other.class()) " on " (other.subject()) }
                p.explanation { (other.explanation()) }
            }
        },
    }
}

/// The section of a register (or map) anomaly.
pub fn register(
    history: Option<&History>,
    case: &Case,
    bands: &[Band],
    source: &str,
    drawn: &mut BTreeSet<usize>,
) -> Markup {
    let found = history.map(|h| (h, find(h, case)));
    if let Some((_, f)) = &found {
        drawn.extend(f.ops.iter().copied());
    }
    html! {
        section.anomaly id=(case.anchor()) data-anomaly=(case.key) {
            h3 { (case.class) " on key " (case.key) }
            p.explanation { (case.explanation) }
            @match &found {
                None => p.note { "The history is not kept with this run: the picture needs it." },
                Some((_, f)) if f.ops.is_empty() => p.note { "The history has no op on this key." },
                Some((h, f)) => {
                    @let pic = register_svg(h, case, f, bands);
                    p.legend {
                        span.sw.prefix {} "linearizable prefix "
                        span.sw.stuck {} "cannot be placed "
                        span.sw.wit {} "other ops of the witness "
                        span.sw.k {} "ok " span.sw.f {} "fail " span.sw.i {} "info "
                        "· x: order of the key's events (not to scale), times on hover"
                    }
                    @if f.stuck.is_none() {
                        p.note { "The op that cannot be placed is named in the words above; it was not found in the history." }
                    }
                    div.keyview-wrap {
                        (PreEscaped(pic.labels))
                        div.scroller data-focus=(num(pic.focus)) { (PreEscaped(pic.lanes)) }
                    }
                    (witness_table(h, f, source))
                }
            }
        }
    }
}

/// The witness's ops as a table of their history lines.
fn witness_table(history: &History, found: &Found, source: &str) -> Markup {
    let mut rows: Vec<(usize, &'static str)> = Vec::new();
    if let Some(s) = found.stuck {
        rows.push((s, "cannot be placed"));
    }
    rows.extend(found.witness.iter().map(|&i| (i, "witness")));
    rows.sort_by_key(|(i, _)| history.operations[*i].invoke);
    html! {
        table.witness {
            thead { tr { th { "role" } th { "process" } th { "op" } th { "outcome" } th { "invoked" } th { "completed" } th { "node" } th { (source) " lines" } } }
            tbody {
                @for (i, role) in &rows {
                    @let op = &history.operations[*i];
                    @let inv = history.invocation(op);
                    @let comp = history.completion(op);
                    tr.(if *role == "witness" { "wit" } else { "stuck" }) {
                        td { (role) }
                        td { (op.process) }
                        td { code { (label(history, op)) } }
                        td { (outcome_word(op)) (comp.and_then(|c| c.error.as_deref()).map(|e| format!(" ({e})")).unwrap_or_default()) }
                        td { (when(inv)) }
                        td { (comp.map(when).unwrap_or_else(|| "never".into())) }
                        td { (inv.node.as_deref().unwrap_or("-")) }
                        td.lines {
                            code { (inv.line) ": " (crate::history::to_line(inv)) }
                            @if let Some(c) = comp { br; code { (c.line) ": " (crate::history::to_line(c)) } }
                        }
                    }
                }
            }
        }
    }
}

fn outcome_word(op: &Operation) -> &'static str {
    match (op.outcome, op.complete) {
        (Outcome::Ok, _) => "ok",
        (Outcome::Fail, _) => "fail",
        (Outcome::Info, Some(_)) => "info",
        (Outcome::Info, None) => "never completed",
    }
}

fn when(op: &Op) -> String {
    match op.time_ns {
        Some(t) => format!("{:.3} s", t as f64 / 1e9),
        None => format!("line {}", op.line),
    }
}

/// The picture of a register anomaly: the lane labels (a column that does
/// not scroll), the lanes (which do), and the x to centre in view.
struct Picture {
    labels: String,
    lanes: String,
    focus: f64,
}

fn register_svg(history: &History, case: &Case, found: &Found, bands: &[Band]) -> Picture {
    // Event order: each line of the key's ops, in history order.
    let mut events: Vec<usize> = Vec::with_capacity(found.ops.len() * 2);
    for &i in &found.ops {
        let op = &history.operations[i];
        events.push(op.invoke);
        if let Some(c) = op.complete {
            events.push(c);
        }
    }
    events.sort_unstable();
    let rank: HashMap<usize, usize> = events.iter().enumerate().map(|(r, p)| (*p, r)).collect();
    let n = events.len().max(1);
    let ppe = (VIEW_W / n as f64)
        .clamp(8.0, 40.0)
        .min(MAX_W / n as f64)
        .max(2.0);
    let slot = |r: usize| X0 + r as f64 * ppe;
    let end_x = slot(n);
    // Spans in slots: from the invocation's slot to the completion's.
    let span = |op: &Operation| -> (f64, f64, bool) {
        let a = slot(rank[&op.invoke]) + 1.0;
        match op.complete {
            Some(c) => (a, slot(rank[&c] + 1) - 1.0, op.outcome == Outcome::Info),
            None => (a, end_x, false),
        }
    };
    let lanes = Lanes::layout(found.ops.iter().map(|&i| {
        let op = &history.operations[i];
        let (a, b, _) = span(op);
        let node = history.invocation(op).node.as_deref().unwrap_or("");
        (op.process, node, a, b)
    }));
    let group_of = |lane: usize| {
        lanes
            .groups
            .iter()
            .position(|(_, f, c)| lane >= *f && lane < f + c)
            .unwrap_or(0)
    };
    let y = |lane: usize| TOP + lane as f64 * PITCH + group_of(lane) as f64 * 8.0;
    let bottom = y(lanes.count().saturating_sub(1)) + PITCH;
    // Wide enough for the callouts too.
    let callout_end = found
        .ops
        .iter()
        .filter(|i| Some(**i) == found.stuck || found.witness.contains(i))
        .map(|&i| {
            let op = &history.operations[i];
            span(op).0 + (label(history, op).chars().count() + 18) as f64 * 6.6
        })
        .fold(0.0, f64::max);
    let width = (end_x + 16.0).max(callout_end);
    let height = bottom + 34.0;

    // The label column.
    let mut labels = String::new();
    let _ = write!(
        labels,
        r#"<svg class="keylabels" width="{LABEL_W}" height="{h}" viewBox="0 0 {LABEL_W} {h}" xmlns="http://www.w3.org/2000/svg">"#,
        h = num(height)
    );
    for (name, first, count) in &lanes.groups {
        let y0 = y(*first);
        let y1 = y(first + count - 1) + LANE_H;
        let _ = write!(
            labels,
            r#"<text class="group" x="{x}" y="{y}" text-anchor="end">{name}</text><line class="sep" x1="{x1}" y1="{y0}" x2="{x1}" y2="{y1}"/>"#,
            x = num(LABEL_W - 10.0),
            y = num((y0 + y1) / 2.0 + 4.0),
            name = escape(name),
            x1 = num(LABEL_W - 3.0),
            y0 = num(y0),
            y1 = num(y1),
        );
    }
    labels.push_str("</svg>");

    let mut out = String::with_capacity(found.ops.len() * 200 + 2048);
    let _ = write!(
        out,
        r#"<svg class="keyview" width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{class} on key {key}">"#,
        w = num(width),
        h = num(height),
        class = escape(&case.class),
        key = escape(&case.key),
    );
    // Fault windows, mapped onto event order by time.
    let times: Vec<Option<f64>> = events
        .iter()
        .map(|&p| history.ops[p].time_ns.map(|t| t as f64 / 1e9))
        .collect();
    if times.iter().all(Option::is_some) && !times.is_empty() {
        let times: Vec<f64> = times.into_iter().flatten().collect();
        let at = |t: f64| slot(times.partition_point(|x| *x < t));
        let (first, last) = (times[0], times[times.len() - 1]);
        let visible: Vec<Band> = bands
            .iter()
            .filter(|b| b.start <= last && b.heal.is_none_or(|h| h >= first))
            .cloned()
            .collect();
        super::timeline::bands_svg(&mut out, &visible, at, 4.0, bottom, last + 1.0);
        // A few times along the bottom.
        let every = (140.0 / ppe).ceil().max(1.0) as usize;
        out.push_str(r#"<g class="axis">"#);
        let from = (30.0 / ppe).ceil() as usize;
        for r in (from..times.len()).step_by(every) {
            let _ = write!(
                out,
                r#"<line x1="{x}" y1="{y0}" x2="{x}" y2="{y1}"/><text x="{x}" y="{ty}" text-anchor="middle">{t:.3} s</text>"#,
                x = num(slot(r) + ppe / 2.0),
                y0 = num(bottom),
                y1 = num(bottom + 4.0),
                ty = num(bottom + 16.0),
                t = times[r]
            );
        }
        out.push_str("</g>");
    }
    // The linearizable prefix: up to the slot of its end.
    if let Some(until) = found.prefix_until {
        let b = slot(events.partition_point(|&p| p < until)) - 1.0;
        let _ = write!(
            out,
            r#"<g class="prefix"><rect x="{X0}" y="{y0}" width="{w}" height="{h}"/><line x1="{x}" y1="{y0}" x2="{x}" y2="{y1}"/><text x="{tx}" y="{ty}" text-anchor="end">linearizable prefix: {n} ops ▸</text></g>"#,
            y0 = num(TOP - 30.0),
            w = num((b - X0).max(0.0)),
            h = num(bottom - TOP + 30.0),
            x = num(b),
            y1 = num(bottom),
            tx = num(b - 4.0),
            ty = num(TOP - 20.0),
            n = case.prefix.unwrap_or(0),
        );
    }
    // The ops; callouts for the witness last, on top, in their own row.
    let mut tails: std::collections::BTreeMap<usize, (f64, f64)> = Default::default();
    let mut callouts = String::new();
    let (mut stuck_x, mut witness_x) = (None, Vec::new());
    for &i in &found.ops {
        let op = &history.operations[i];
        let (a, b, tail) = span(op);
        let ly = y(lanes.lane[&op.process]);
        let role = if Some(i) == found.stuck {
            " stuck"
        } else if found.witness.contains(&i) {
            " wit"
        } else {
            ""
        };
        let class = super::timeline::outcome_class(op);
        let _ = write!(
            out,
            r#"<rect class="{class}{role}" x="{x}" y="{y}" width="{w}" height="{h}" data-kop="{i}"/>"#,
            x = num(a),
            y = num(ly),
            w = num((b - a).max(2.0)),
            h = LANE_H,
        );
        let text = label(history, op);
        if (b - a) >= text.chars().count() as f64 * 6.2 + 4.0 {
            let _ = write!(
                out,
                r#"<text class="oplabel {class}" x="{x}" y="{y}">{t}</text>"#,
                x = num(a + 3.0),
                y = num(ly + 12.0),
                t = escape(&text)
            );
        }
        if tail && b < end_x {
            let t = tails
                .entry(lanes.lane[&op.process])
                .or_insert((f64::INFINITY, ly + LANE_H / 2.0));
            t.0 = t.0.min(b);
        }
        if !role.is_empty() {
            let what = if role == " stuck" {
                stuck_x = Some(a);
                format!("cannot be placed: {text}")
            } else {
                witness_x.push(a);
                text
            };
            let _ = write!(
                callouts,
                r#"<g class="callout{role}"><line x1="{lx}" y1="{ly0}" x2="{lx}" y2="{ly1}"/><text x="{x}" y="{ty}">{t}</text></g>"#,
                lx = num(a + 2.0),
                ly0 = num(TOP - 5.0),
                ly1 = num(ly),
                x = num(a),
                ty = num(TOP - 8.0),
                t = escape(&what)
            );
        }
    }
    super::timeline::tails_svg(&mut out, &tails, end_x);
    out.push_str(&callouts);
    out.push_str("</svg>");
    // In view: the op that cannot be placed with the rest of the witness
    // if they fit, else that op with room before it.
    let focus = match stuck_x {
        Some(s) => {
            let lo = witness_x.iter().copied().fold(s, f64::min);
            let hi = witness_x.iter().copied().fold(s, f64::max) + 60.0;
            if hi - lo < VIEW_W - 80.0 {
                (lo + hi) / 2.0
            } else {
                s + VIEW_W / 2.0 - 260.0
            }
        }
        None => X0,
    };
    Picture {
        labels,
        lanes: out,
        focus,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_cited_is_the_op_that_cannot_be_placed() {
        let e = "process 15's read 396 (lines 2456-2459, 7.093-7.095 s) cannot be linearized: \
                 ... (396 was written only by process 5's write 396 (lines 1853-1854, ...)).";
        assert_eq!(cited_line(e), Some(2456));
        let e = "process 3's cas [1 2] (line 12, indeterminate on line 40, invoked at 1.0 s) ...";
        assert_eq!(cited_line(e), Some(12));
        let e = "process 3's write 5 (line 7, never completed) cannot be linearized";
        assert_eq!(cited_line(e), Some(7));
        assert_eq!(cited_line("not linearizable (no witness recorded)"), None);
    }
}
