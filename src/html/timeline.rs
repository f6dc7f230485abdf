//! The timeline: every operation of a history as a bar on its process's
//! lane, from invocation to completion, coloured by outcome (an `info` op
//! runs on as a dotted tail to the end of the history: it may take effect
//! at any time), lanes grouped by the node that served them, fault windows
//! shaded behind. Also what the other pictures share with it: the x axis,
//! the lane layout, and the sample of a big history.
//!
//! Pure: a history in, SVG text out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use super::svg::{self, LEFT, PLOT_W, WIDTH, escape, num};
use crate::history::{History, Op, Operation, Outcome};

/// The most operations the timeline draws; a bigger history is sampled
/// (see [`sample`]).
pub const MAX_OPS: usize = 5_000;

/// The x axis of the overview: seconds since the run's start when every op
/// carries a time, else positions in the history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    pub timed: bool,
    /// The end of the history (and of every info op's tail).
    pub end: f64,
}

impl Axis {
    /// The axis of a history, reaching at least `at_least`.
    pub fn of(history: &History, at_least: f64) -> Axis {
        let timed = !history.ops.is_empty() && history.ops.iter().all(|o| o.time_ns.is_some());
        let last = history
            .ops
            .iter()
            .enumerate()
            .map(|(i, o)| position(o, i, timed))
            .fold(0.0, f64::max);
        Axis {
            timed,
            end: last.max(at_least),
        }
    }

    /// The x value of the line at `pos` in the history.
    pub fn at(&self, history: &History, pos: usize) -> f64 {
        position(&history.ops[pos], pos, self.timed)
    }

    /// Where an operation starts and ends on this axis, and whether it runs
    /// on (an info op's tail, or an invocation that never completed).
    pub fn span(&self, history: &History, op: &Operation) -> Span {
        let start = self.at(history, op.invoke);
        match op.complete {
            Some(c) => Span {
                start,
                end: self.at(history, c).max(start),
                tail: op.outcome == Outcome::Info,
            },
            None => Span {
                start,
                end: self.end.max(start),
                tail: false,
            },
        }
    }
}

fn position(op: &Op, pos: usize, timed: bool) -> f64 {
    match (timed, op.time_ns) {
        (true, Some(t)) => t as f64 / 1e9,
        _ => pos as f64,
    }
}

/// An operation's extent on an axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: f64,
    pub end: f64,
    /// It may take effect at any time later: drawn on to the end.
    pub tail: bool,
}

/// A fault window on an axis, for shading.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub id: u64,
    pub start: f64,
    /// When it was healed (`None`: not healed, shaded to the end).
    pub heal: Option<f64>,
    /// The label where it fits: `#1 partition: n1 x n2, n1 x n3`.
    pub label: String,
    /// The label where that does not fit: `#1 partition`.
    pub short: String,
    /// Kind and targets, in full.
    pub detail: String,
}

impl Band {
    /// The longest of its labels that fits `width` pixels.
    pub fn fitting(&self, width: f64) -> String {
        let fits = |s: &str| (s.chars().count() as f64 + 1.0) * 6.4 <= width;
        if fits(&self.label) {
            self.label.clone()
        } else if fits(&self.short) {
            self.short.clone()
        } else {
            format!("#{}", self.id)
        }
    }
}

/// Lanes: each process on one lane, grouped by node; a lane is reused by a
/// process that starts after the lane's last process finished (a client
/// that goes on under a new process id after an `info` keeps its lane).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lanes {
    /// (group name, first lane, number of lanes), in order.
    pub groups: Vec<(String, usize, usize)>,
    /// The lane of each process.
    pub lane: HashMap<u64, usize>,
    /// The processes on each lane.
    pub processes: Vec<Vec<u64>>,
}

impl Lanes {
    pub fn count(&self) -> usize {
        self.processes.len()
    }

    /// Lay out processes from `(process, group, start, busy until)` of each
    /// of their operations.
    pub fn layout<'a>(items: impl IntoIterator<Item = (u64, &'a str, f64, f64)>) -> Lanes {
        // Per process: its group (that of its first op), first start, last end.
        let mut procs: HashMap<u64, (&'a str, f64, f64)> = HashMap::new();
        for (process, group, start, end) in items {
            let e = procs.entry(process).or_insert((group, start, end));
            e.1 = e.1.min(start);
            e.2 = e.2.max(end);
        }
        // (unnamed last, name) -> (start, process, end) of its processes.
        type Group<'g> = (bool, &'g str);
        let mut by_group: BTreeMap<Group<'a>, Vec<(f64, u64, f64)>> = BTreeMap::new();
        for (p, (g, s, e)) in procs {
            by_group
                .entry((g.is_empty(), g))
                .or_default()
                .push((s, p, e));
        }
        let mut lanes = Lanes::default();
        for ((_, group), mut ps) in by_group {
            ps.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let first = lanes.processes.len();
            let mut free_at: Vec<f64> = Vec::new();
            for (start, p, end) in ps {
                let slot = match free_at.iter().position(|f| *f <= start) {
                    Some(i) => i,
                    None => {
                        free_at.push(f64::NEG_INFINITY);
                        lanes.processes.push(Vec::new());
                        free_at.len() - 1
                    }
                };
                free_at[slot] = end;
                lanes.processes[first + slot].push(p);
                lanes.lane.insert(p, first + slot);
            }
            let name = if group.is_empty() {
                "no node".to_string()
            } else {
                group.to_string()
            };
            lanes.groups.push((name, first, free_at.len()));
        }
        lanes
    }

    /// The lanes of a history's operations on an axis, grouped by the node
    /// of each process's first invocation.
    pub fn of(history: &History, axis: &Axis, ops: impl IntoIterator<Item = usize>) -> Lanes {
        Lanes::layout(ops.into_iter().map(|i| {
            let op = &history.operations[i];
            let span = axis.span(history, op);
            let node = history.invocation(op).node.as_deref().unwrap_or("");
            (op.process, node, span.start, span.end)
        }))
    }
}

/// Which operations (indexes into [`History::operations`]) the timeline
/// draws: all of them up to `max`; beyond, every one in `keep` (the
/// anomalies' ops), then the info ops (the uncertain ones, up to a quarter
/// of what is left), then the rest evenly spread over the history, so that
/// ok and fail keep their proportions. In order.
pub fn sample(history: &History, keep: &BTreeSet<usize>, max: usize) -> Vec<usize> {
    sample_by(
        history.operations.len(),
        keep,
        |i| history.operations[i].outcome == Outcome::Info,
        max,
    )
}

/// [`sample`] over `n` items of any kind (operations, transactions):
/// `is_info` tells the uncertain ones.
pub fn sample_by(
    n: usize,
    keep: &BTreeSet<usize>,
    is_info: impl Fn(usize) -> bool,
    max: usize,
) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut chosen: BTreeSet<usize> = keep.iter().copied().filter(|&i| i < n).take(max).collect();
    let (mut info, mut rest) = (Vec::new(), Vec::new());
    for i in 0..n {
        if chosen.contains(&i) {
            continue;
        }
        if is_info(i) {
            info.push(i);
        } else {
            rest.push(i);
        }
    }
    let room = max - chosen.len();
    chosen.extend(spread(&info, (room / 4).min(info.len())));
    let room = max - chosen.len();
    chosen.extend(spread(&rest, room.min(rest.len())));
    chosen.into_iter().collect()
}

/// `count` items of `items`, evenly spread, first one included.
fn spread(items: &[usize], count: usize) -> impl Iterator<Item = usize> + '_ {
    let m = items.len();
    (0..count).map(move |i| items[i * m / count.max(1)])
}

/// The vertical layout of a lane picture.
struct Rows {
    top: f64,
    lane_h: f64,
    pitch: f64,
    group_gap: f64,
}

impl Rows {
    fn for_lanes(count: usize) -> Rows {
        // Small histories get readable bars; many lanes get thinner ones.
        let lane_h = (640.0 / count.max(1) as f64).clamp(3.0, 10.0).floor();
        let pitch = lane_h + if lane_h >= 6.0 { 3.0 } else { 1.0 };
        Rows {
            top: 34.0,
            lane_h,
            pitch,
            group_gap: 8.0,
        }
    }

    fn y(&self, lanes: &Lanes, lane: usize) -> f64 {
        let group = lanes
            .groups
            .iter()
            .position(|(_, first, count)| lane >= *first && lane < first + count)
            .unwrap_or(0);
        self.top + lane as f64 * self.pitch + group as f64 * self.group_gap
    }

    fn bottom(&self, lanes: &Lanes) -> f64 {
        self.top
            + lanes.count() as f64 * self.pitch
            + lanes.groups.len().saturating_sub(1) as f64 * self.group_gap
    }
}

/// A marked instant on a time picture (the end of the workload).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub at: f64,
    pub label: String,
}

/// One bar of a lane picture: an operation or a transaction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// What the bar's hover attribute carries (its index).
    pub id: usize,
    pub lane: usize,
    pub span: Span,
    /// `k`, `f` or `i` ([`outcome_class`]).
    pub class: &'static str,
}

/// The timeline of `shown` operations (from [`sample`]) as SVG. Each bar
/// carries `data-op` (the operation's index), which the page's script
/// looks up for the hover card.
pub fn render(
    history: &History,
    axis: &Axis,
    shown: &[usize],
    bands: &[Band],
    marks: &[Mark],
) -> String {
    let lanes = Lanes::of(history, axis, 0..history.operations.len());
    let bars: Vec<Bar> = shown
        .iter()
        .map(|&i| {
            let op = &history.operations[i];
            Bar {
                id: i,
                lane: lanes.lane[&op.process],
                span: axis.span(history, op),
                class: outcome_class(op),
            }
        })
        .collect();
    draw(&lanes, &bars, axis, bands, marks, "data-op", "operations")
}

/// A lane picture: `bars` on `lanes`, fault windows and `marks` behind,
/// the x axis below. Each bar carries `attr="{id}"` for the hover card;
/// `what` names the bars (`operations`, `transactions`) for the label.
pub fn draw(
    lanes: &Lanes,
    bars: &[Bar],
    axis: &Axis,
    bands: &[Band],
    marks: &[Mark],
    attr: &str,
    what: &str,
) -> String {
    let rows = Rows::for_lanes(lanes.count());
    let bottom = rows.bottom(lanes);
    let height = bottom + 28.0;
    let scale = PLOT_W / axis.end.max(1e-9);
    let x = |t: f64| LEFT as f64 + t * scale;
    let mut out = String::with_capacity(bars.len() * 80 + 4096);
    let _ = write!(
        out,
        r#"<svg class="timeline" width="{WIDTH}" height="{h}" viewBox="0 0 {WIDTH} {h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="timeline of {n} {what}">"#,
        h = num(height),
        n = bars.len()
    );
    bands_svg(&mut out, bands, x, rows.top - 22.0, bottom, axis.end);
    for m in marks {
        // A label near the right edge goes left of its line.
        let right = x(m.at) + m.label.len() as f64 * 6.5 > f64::from(WIDTH);
        let _ = write!(
            out,
            r#"<g class="mark"><line x1="{x}" y1="{y0}" x2="{x}" y2="{y1}"/><text x="{tx}" y="{ty}" text-anchor="{anchor}">{label}</text></g>"#,
            x = num(x(m.at)),
            y0 = num(rows.top - 6.0),
            y1 = num(bottom),
            tx = num(x(m.at) + if right { -3.0 } else { 3.0 }),
            anchor = if right { "end" } else { "start" },
            ty = num(rows.top - 1.0),
            label = escape(&m.label)
        );
    }
    // Group labels and separators.
    for (i, (name, first, count)) in lanes.groups.iter().enumerate() {
        let y0 = rows.y(lanes, *first);
        let y1 = y0 + *count as f64 * rows.pitch - (rows.pitch - rows.lane_h);
        let _ = write!(
            out,
            r#"<text class="group" x="{}" y="{}" text-anchor="end">{}</text><text class="sub" x="{}" y="{}" text-anchor="end">{} lane{}</text>"#,
            LEFT - 8,
            num((y0 + y1) / 2.0),
            escape(name),
            LEFT - 8,
            num((y0 + y1) / 2.0 + 12.0),
            count,
            if *count == 1 { "" } else { "s" }
        );
        if i > 0 {
            let _ = write!(
                out,
                r#"<line class="sep" x1="8" y1="{y}" x2="{x2}" y2="{y}"/>"#,
                y = num(y0 - rows.group_gap / 2.0),
                x2 = WIDTH - svg::RIGHT
            );
        }
    }
    // The bars, then the info tails: on a lane they all run to the end, so
    // one from the earliest is drawn (thousands of overlapping dotted lines
    // cost a browser seconds to paint and show nothing more).
    let mut tails: BTreeMap<usize, (f64, f64)> = BTreeMap::new();
    for b in bars {
        let y = rows.y(lanes, b.lane);
        let x0 = x(b.span.start);
        let w = (x(b.span.end) - x0).max(1.0);
        let _ = write!(
            out,
            r#"<rect class="{}" x="{}" y="{}" width="{}" height="{}" {attr}="{}"/>"#,
            b.class,
            num(x0),
            num(y),
            num(w),
            num(rows.lane_h),
            b.id
        );
        if b.span.tail && b.span.end < axis.end {
            let t = tails
                .entry(b.lane)
                .or_insert((f64::INFINITY, y + rows.lane_h / 2.0));
            t.0 = t.0.min(x0 + w);
        }
    }
    tails_svg(&mut out, &tails, x(axis.end));
    svg::x_axis(
        &mut out,
        0.0,
        axis.end,
        LEFT as f64,
        PLOT_W,
        bottom + 4.0,
        axis.timed,
    );
    out.push_str("</svg>");
    out
}

/// The info tails, one per lane: `lane -> (from x, y)`, each to `end`.
pub fn tails_svg(out: &mut String, tails: &BTreeMap<usize, (f64, f64)>, end: f64) {
    if tails.is_empty() {
        return;
    }
    out.push_str(r#"<path class="tail" d=""#);
    for (x0, y) in tails.values() {
        let _ = write!(out, "M{} {}H{}", num(*x0), num(*y), num(end));
    }
    out.push_str(r#""/>"#);
}

/// The CSS class of an op's bar: `k` ok, `f` fail, `i` info (or never
/// completed).
pub fn outcome_class(op: &Operation) -> &'static str {
    match op.outcome {
        Outcome::Ok => "k",
        Outcome::Fail => "f",
        Outcome::Info => "i",
    }
}

/// Shade fault windows from `top` to `bottom`, label them above the
/// pictures' lanes and mark their heals. `x` maps axis values to pixels.
pub fn bands_svg(
    out: &mut String,
    bands: &[Band],
    x: impl Fn(f64) -> f64,
    top: f64,
    bottom: f64,
    end: f64,
) {
    for b in bands {
        let x0 = x(b.start);
        let x1 = x(b.heal.unwrap_or(end)).max(x0 + 1.0);
        let label = b.fitting(x1 - x0);
        let _ = write!(
            out,
            r#"<g class="band"><title>{detail}</title><rect x="{x0}" y="{top}" width="{w}" height="{h}"/><text x="{tx}" y="{ty}">{label}</text>"#,
            detail = escape(&b.detail),
            x0 = num(x0),
            top = num(top),
            w = num(x1 - x0),
            h = num(bottom - top),
            tx = num(x0 + 3.0),
            ty = num(top + 11.0),
            label = escape(&label),
        );
        if let Some(h) = b.heal {
            let _ = write!(
                out,
                r#"<line class="heal" x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"/>"#,
                x = num(x(h)),
                top = num(top),
                bottom = num(bottom)
            );
        }
        out.push_str("</g>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Function, Key, Kind, Value};

    fn op(index: u64, process: u64, kind: Kind, t_ms: u64, node: &str) -> Op {
        Op {
            index,
            time_ns: Some(t_ms * 1_000_000),
            process,
            kind,
            f: Function::Read,
            key: Key::Int(0),
            value: Value::Null,
            error: None,
            node: Some(node.into()),
            final_read: false,
            line: index as usize + 1,
        }
    }

    fn history() -> History {
        History::from_ops(vec![
            op(0, 0, Kind::Invoke, 0, "n1"),
            op(1, 1, Kind::Invoke, 1, "n2"),
            op(2, 0, Kind::Info, 10, "n1"),
            op(3, 1, Kind::Ok, 12, "n2"),
            // Process 2 follows process 0 (retired by its info) on n1.
            op(4, 2, Kind::Invoke, 15, "n1"),
            op(5, 3, Kind::Invoke, 16, "n1"),
            op(6, 2, Kind::Ok, 20, "n1"),
        ])
        .unwrap()
    }

    #[test]
    fn a_client_keeps_its_lane_under_a_new_process() {
        let h = history();
        let axis = Axis::of(&h, 0.0);
        assert!(axis.timed);
        assert_eq!(axis.end, 0.020);
        let lanes = Lanes::of(&h, &axis, 0..h.operations.len());
        assert_eq!(
            lanes.groups,
            vec![("n1".to_string(), 0, 2), ("n2".to_string(), 2, 1)]
        );
        assert_eq!(lanes.lane[&0], lanes.lane[&2]);
        assert_ne!(lanes.lane[&3], lanes.lane[&2]);
        // The open invocation of process 3 runs to the end; the info op has
        // a tail.
        let open = axis.span(&h, &h.operations[3]);
        assert_eq!((open.end, open.tail), (0.020, false));
        assert!(axis.span(&h, &h.operations[0]).tail);
    }

    #[test]
    fn one_bar_per_shown_op() {
        let h = history();
        let axis = Axis::of(&h, 0.0);
        let shown = sample(&h, &BTreeSet::new(), MAX_OPS);
        assert_eq!(shown, vec![0, 1, 2, 3]);
        let svg = render(&h, &axis, &shown, &[], &[]);
        assert_eq!(svg.matches("data-op=").count(), 4);
        assert_eq!(svg.matches(r#"class="i""#).count(), 2, "{svg}");
        assert!(svg.contains(r#"class="tail""#));
    }

    #[test]
    fn big_histories_are_sampled_keeping_what_matters() {
        let mut ops = Vec::new();
        for i in 0..1000u64 {
            // Process i: one op each (an info op retires its process).
            let kind = if i % 100 == 7 { Kind::Info } else { Kind::Ok };
            ops.push(op(2 * i, i, Kind::Invoke, 2 * i, "n"));
            ops.push(op(2 * i + 1, i, kind, 2 * i + 1, "n"));
        }
        let h = History::from_ops(ops).unwrap();
        let keep = BTreeSet::from([500, 999]);
        let shown = sample(&h, &keep, 100);
        assert_eq!(shown.len(), 100);
        assert!(shown.windows(2).all(|w| w[0] < w[1]));
        assert!(shown.contains(&500) && shown.contains(&999));
        // Every info op (10 of them) is shown; the ok ops are spread.
        assert!(
            (0..1000)
                .filter(|i| i % 100 == 7)
                .all(|i| shown.contains(&i))
        );
        assert!(shown.first() == Some(&0) && shown.iter().any(|&i| i > 950));
    }
}
