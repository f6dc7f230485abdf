//! The daemon's page at `/`: a campaign's control room. The run in
//! progress (experiment, seed, phase, elapsed of total, ok/fail/info so
//! far, ok ops/s over the last seconds, each fault in place with its
//! kind, targets and heal time); the controls (pause, resume, stop, a run
//! of a named experiment with a seed), as forms that post to the API; the
//! campaign at a glance (per experiment outcomes, anomaly kinds, median
//! throughput and recovery; a strip of every run coloured by outcome;
//! throughput and recovery over time per experiment); and the table of
//! runs, filtered by outcome and experiment, a page at a time.
//!
//! The page works without script: the server renders every part, the
//! forms post and come back with the result, the filters are a GET form
//! and the pages are links. With script it stays live: it listens to the
//! daemon's event stream (`/api/v1/events`: the status every second, and
//! each run's row when it starts or ends), redraws the live panel, adds
//! and updates rows, and posts the controls in place. The page carries
//! no secret: the browser's session cookie is its only credential.
//!
//! Pure: values in, HTML out. It must not depend on the daemon or any
//! shell module (the daemon fills [`ControlRoom`]).

use std::fmt::Write as _;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::index::IndexRow;
use super::page;
use super::svg::{self, colour, escape, num};

/// A run in progress, as the live panel shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRun {
    pub run: u64,
    pub experiment: String,
    pub seed: u64,
    pub phase: String,
    pub elapsed_s: f64,
    pub total_s: f64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub ok_per_s: f64,
    pub faults: Vec<LiveFault>,
}

/// A fault in place.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFault {
    pub id: u64,
    pub kind: String,
    pub targets: Vec<String>,
    /// When the plan heals it (run seconds).
    pub heals_at_s: Option<f64>,
}

/// One experiment at a glance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExperimentLine {
    pub experiment: String,
    pub runs: u64,
    pub valid: u64,
    pub invalid: u64,
    pub unknown: u64,
    pub error: u64,
    pub interrupted: u64,
    /// (kind, runs that found it).
    pub anomaly_kinds: Vec<(String, u64)>,
    pub median_ok_per_s: Option<f64>,
    pub median_recovery_s: Option<f64>,
    /// Each ended run, oldest first.
    pub points: Vec<PlotPoint>,
}

/// One ended run in the plots (and in `/api/v1/stats`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlotPoint {
    pub run: u64,
    /// Seconds since the campaign's first run started (0 if the time does
    /// not parse).
    pub at_s: f64,
    pub outcome: String,
    pub ok_per_s: Option<f64>,
    pub recovery_s: Option<f64>,
}

/// The table's filters and page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub outcome: Option<String>,
    pub experiment: Option<String>,
    pub before: Option<u64>,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlRoom<'a> {
    pub campaign: &'a str,
    pub seed: u64,
    /// `running`, `paused`, `stopping`.
    pub state: &'a str,
    pub why: Option<&'a str>,
    /// When the daemon started (UTC).
    pub since: &'a str,
    pub runs_total: u64,
    pub live: &'a [LiveRun],
    /// The next run, in words.
    pub next: Option<String>,
    /// The campaign's experiments (the trigger form's choices).
    pub experiments: &'a [String],
    pub lines: &'a [ExperimentLine],
    /// Every run's outcome, oldest first.
    pub strip: &'a [(u64, String)],
    /// The first run's start (UTC): the plots' origin.
    pub first_run_at: Option<&'a str>,
    /// The table's page of runs, newest first.
    pub rows: &'a [IndexRow],
    pub filter: &'a Filter,
    /// The `before` of the next (older) page.
    pub older: Option<u64>,
    /// The result of a control, shown at the top (no script).
    pub notice: Option<&'a str>,
    /// Whether the page listens to `/api/v1/events` (false for a page
    /// opened from a file).
    pub live_stream: bool,
}

/// The outcomes the table filters by.
pub const OUTCOMES: [&str; 7] = [
    "valid",
    "invalid",
    "unknown",
    "error",
    "crashed",
    "interrupted",
    "running",
];

/// The colour of an outcome (valid green, invalid vermilion, unknown
/// orange, the rest grey), said in words wherever it is drawn.
pub fn outcome_colour(outcome: &str) -> &'static str {
    match outcome {
        "valid" => "#009E73",
        "invalid" => colour::FAIL,
        "unknown" => colour::INFO,
        "running" => "#56B4E9",
        "interrupted" => "#bbbbbb",
        "crashed" => "#CC79A7",
        _ => "#555555",
    }
}

const CSS: &str = r#"
.cr h2 .aside{font-size:13px;font-weight:400;color:#555;margin-left:8px}
.live{border:1px solid #ccc;border-radius:4px;padding:6px 12px;margin:6px 0;background:#fafafa}
.live .run{margin:4px 0}
.live .figs{font-variant-numeric:tabular-nums}
.live .figs b{font-weight:600;margin-right:3px}
.bar{display:inline-block;width:220px;height:10px;border:1px solid #999;vertical-align:-1px;margin:0 6px;background:#fff}
.bar i{display:block;height:100%;background:var(--ok)}
.live ul.faults{margin:2px 0 4px 18px;padding:0}
.state.paused,.state.stopping{color:var(--fail);font-weight:700}
.state.running{color:#009E73;font-weight:700}
.controls{display:flex;gap:10px;flex-wrap:wrap;align-items:flex-end;margin:6px 0}
.controls form{border:1px solid #ddd;border-radius:4px;padding:6px 10px;background:#fcfcfc}
.controls button{font:inherit;padding:2px 10px}
.controls label{margin-right:6px}
.notice{border-left:4px solid #009E73;background:#f0faf6;padding:4px 10px;margin:6px 0}
.notice.refused{border-left-color:var(--fail);background:#fdf3ee}
.kinds code{background:#f3f3f3;padding:0 4px;margin-right:4px;white-space:nowrap}
form.filter{margin:6px 0}
form.filter select,form.filter button{font:inherit}
nav.pages a{margin-right:14px}
.plots{display:grid;grid-template-columns:1fr 1fr;gap:4px 16px}
.plots h3{grid-column:1/-1;margin:10px 0 0}
"#;

/// The page's script (see the module's comment). It logs nothing, and
/// sets `data-ready` (and `data-ready-ms`) on the body when it ran to its
/// end.
const SCRIPT: &str = r#"
(function () {
  function E(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text != null) { e.textContent = text; }
    return e;
  }
  function f1(x) { return (Math.round(x * 10) / 10).toFixed(1); }
  function drawLive(s) {
    var box = document.getElementById('live-runs');
    var st = document.getElementById('state');
    st.textContent = s.state + (s.why ? ': ' + s.why : '');
    st.className = 'state ' + s.state;
    document.getElementById('runs-total').textContent = String(s.runs_total);
    box.textContent = '';
    var cur = s.current || [];
    if (cur.length === 0) {
      box.appendChild(E('p', 'idle', 'No run in progress.'));
    }
    cur.forEach(function (c) {
      var d = E('div', 'run');
      d.setAttribute('data-live-run', String(c.run));
      var head = E('div');
      head.appendChild(E('b', null, 'run ' + c.run + ' '));
      head.appendChild(document.createTextNode(c.experiment + ', seed ' + (c.seed_text || c.seed) + ': '));
      head.appendChild(E('span', 'phase', c.phase));
      d.appendChild(head);
      var figs = E('div', 'figs');
      var bar = E('span', 'bar');
      var fill = E('i');
      fill.style.width = (c.total_s > 0 ? Math.min(100, 100 * c.elapsed_s / c.total_s) : 0) + '%';
      bar.appendChild(fill);
      figs.appendChild(E('span', 'elapsed', f1(c.elapsed_s) + ' s of ' + f1(c.total_s) + ' s'));
      figs.appendChild(bar);
      [['ok', c.ok], ['fail', c.fail], ['info', c.info]].forEach(function (p) {
        figs.appendChild(E('b', null, p[0]));
        var n = E('span', 'n-' + p[0], String(p[1]));
        figs.appendChild(n);
        figs.appendChild(document.createTextNode('  '));
      });
      figs.appendChild(E('span', 'rate', f1(c.ok_per_s) + ' ok ops/s'));
      figs.appendChild(document.createTextNode(' over the last seconds'));
      d.appendChild(figs);
      var fs = c.in_effect || [];
      if (fs.length === 0) {
        d.appendChild(E('div', 'nofault', 'No fault in place.'));
      } else {
        var ul = E('ul', 'faults');
        fs.forEach(function (f) {
          var t = '#' + f.id + ' ' + f.kind + ' on ' + (f.targets.length ? f.targets.join(', ') : '-');
          if (f.heals_at_s != null) {
            t += ', heals at ' + f1(f.heals_at_s) + ' s (in ' + f1(Math.max(0, f.heals_at_s - c.elapsed_s)) + ' s)';
          }
          ul.appendChild(E('li', 'fault', t));
        });
        d.appendChild(ul);
      }
      box.appendChild(d);
    });
    var n = document.getElementById('next');
    var x = s.next;
    n.textContent = !x ? 'none while the daemon is not running'
      : x.when === 'now' ? x.experiment + ', seed ' + (x.seed_text || x.seed) + ', as soon as a slot is free'
      : x.when === 'in' ? 'in ' + Math.round(x.in_s) + ' s'
      : 'when the run in progress ends';
    document.body.setAttribute('data-updates', String(1 + parseInt(document.body.getAttribute('data-updates') || '0', 10)));
  }
  function addRow(d) {
    var table = document.getElementById('runs');
    if (!table) { return; }
    var old = table.querySelector('tr[data-run="' + d.run + '"]');
    var tmp = document.createElement('tbody');
    tmp.innerHTML = d.html;
    var row = tmp.firstElementChild;
    if (!row) { return; }
    if (old) { old.replaceWith(row); return; }
    if (table.getAttribute('data-first-page') !== '1') { return; }
    var fo = table.getAttribute('data-outcome'), fe = table.getAttribute('data-experiment');
    if ((fo && fo !== d.outcome) || (fe && fe !== d.experiment)) { return; }
    var body = table.tBodies[0];
    body.insertBefore(row, body.firstElementChild);
  }
  function show(ok, text) {
    var r = document.getElementById('result');
    r.hidden = false;
    r.className = ok ? 'notice' : 'notice refused';
    r.textContent = text;
  }
  var forms = document.querySelectorAll('form[data-control]');
  Array.prototype.forEach.call(forms, function (f) {
    f.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var what = f.getAttribute('data-control');
      var body = null;
      if (what === 'trigger') {
        // Seeds are 64-bit: written into the JSON as typed, never through
        // a JavaScript number.
        var seed = f.elements.seed.value.trim();
        if (!/^[0-9]*$/.test(seed)) { show(false, 'A seed is a number.'); return; }
        body = '{"experiment":' + JSON.stringify(f.elements.experiment.value) + ',"seed":' + (seed === '' ? 'null' : seed) + '}';
      }
      fetch(f.getAttribute('action'), {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Accept': 'application/json', 'Content-Type': 'application/json' },
        body: body
      }).then(function (r) {
        return r.json().then(function (j) {
          if (r.ok) {
            var said = { pause: 'Paused: the runs in flight heal and are recorded interrupted.',
              resume: 'Resumed: the next run starts at once.',
              stop: 'Stopping: the runs in flight heal, then the daemon exits.' }[what] ||
              ('Queued ' + j.experiment + ' with seed ' + (j.seed_text || j.seed) + ' (position ' + j.queued + ').');
            show(true, said);
          } else {
            show(false, 'Refused (' + r.status + '): ' + (j.error || ''));
          }
          if (f.elements.confirm) { f.elements.confirm.checked = false; }
        });
      }, function () { show(false, 'The daemon did not answer.'); });
    });
  });
  if (document.body.getAttribute('data-live') === '1' && window.EventSource) {
    var es = new EventSource('/api/v1/events');
    es.addEventListener('status', function (e) { drawLive(JSON.parse(e.data)); });
    es.addEventListener('run', function (e) { addRow(JSON.parse(e.data)); });
  }
  document.body.setAttribute('data-ready-ms', String(Math.round(performance.now())));
  document.body.setAttribute('data-ready', '1');
})();
"#;

fn secs(x: f64) -> String {
    format!("{x:.1} s")
}

fn live_panel(live: &[LiveRun], next: Option<&str>) -> Markup {
    html! {
        div #live-runs {
            @if live.is_empty() { p.idle { "No run in progress." } }
            @for c in live {
                div.run data-live-run=(c.run) {
                    div { b { "run " (c.run) " " } (c.experiment) ", seed " (c.seed) ": " span.phase { (c.phase) } }
                    div.figs {
                        span.elapsed { (format!("{:.1} s of {:.1} s", c.elapsed_s, c.total_s)) }
                        span.bar { i style=(format!("width:{:.1}%", if c.total_s > 0.0 { (100.0 * c.elapsed_s / c.total_s).min(100.0) } else { 0.0 })) {} }
                        b { "ok" } span.n-ok { (c.ok) } "  "
                        b { "fail" } span.n-fail { (c.fail) } "  "
                        b { "info" } span.n-info { (c.info) } "  "
                        span.rate { (format!("{:.1} ok ops/s", c.ok_per_s)) } " over the last seconds"
                    }
                    @if c.faults.is_empty() { div.nofault { "No fault in place." } } @else {
                        ul.faults {
                            @for f in &c.faults {
                                li.fault {
                                    "#" (f.id) " " (f.kind) " on " (if f.targets.is_empty() { "-".to_string() } else { f.targets.join(", ") })
                                    @if let Some(h) = f.heals_at_s {
                                        ", heals at " (secs(h)) " (in " (secs((h - c.elapsed_s).max(0.0))) ")"
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        p { "Next run: " span #next { (next.unwrap_or("none while the daemon is not running")) } }
    }
}

fn controls(experiments: &[String]) -> Markup {
    html! {
        div.controls {
            form method="post" action="/api/v1/pause" data-control="pause" {
                label { input type="checkbox" name="confirm" value="yes" required; " the runs in flight stop (healed, recorded interrupted)" }
                button type="submit" #pause { "Pause" }
            }
            form method="post" action="/api/v1/resume" data-control="resume" {
                button type="submit" #resume { "Resume" }
            }
            form method="post" action="/api/v1/stop" data-control="stop" {
                label { input type="checkbox" name="confirm" value="yes" required; " the daemon exits" }
                button type="submit" #stop { "Stop the daemon" }
            }
            form method="post" action="/api/v1/runs" data-control="trigger" {
                label { "Experiment " select name="experiment" { @for e in experiments { option value=(e) { (e) } } } }
                label { "Seed " input type="text" name="seed" inputmode="numeric" pattern="[0-9]*" size="12" placeholder="drawn"; }
                button type="submit" #trigger { "Start a run" }
            }
        }
        div #result .notice hidden {}
    }
}

/// One row of the run table (also sent on the event stream when a run
/// starts or ends).
pub fn run_row(r: &IndexRow) -> Markup {
    let outcome = match r.verdict {
        Some(v) if r.status == "completed" => v.as_str().to_string(),
        _ => r.status.clone(),
    };
    html! {
        tr data-run=(r.number) data-outcome=(outcome) {
            td.num { (r.number) }
            td {
                @match r.verdict {
                    Some(v) => span.verdict.small.(v.as_str()) { (v.as_str().to_uppercase()) },
                    None => "-",
                }
            }
            td { (r.status) }
            td { (r.experiment) }
            td.num { (r.seed) }
            td { (r.started_at) }
            td.num { (r.duration_s.map(|d| format!("{d:.1} s")).unwrap_or_else(|| "-".into())) }
            td.kinds { @for k in &r.anomalies { code { (k) } } }
            td {
                @if r.has_report {
                    a href=(format!("/runs/{}/report.html", r.number)) { "report" }
                } @else { "-" }
            }
        }
    }
}

/// [`run_row`] as text.
pub fn run_row_html(r: &IndexRow) -> String {
    run_row(r).into_string()
}

/// The strip: every run, oldest first, left to right and down, a cell per
/// run coloured by outcome; neighbours with one outcome are one element
/// (with its runs in a tooltip), so ten thousand runs stay light.
pub fn strip_svg(strip: &[(u64, String)]) -> String {
    const CELL_W: f64 = 4.0;
    const CELL_H: f64 = 9.0;
    const GAP: f64 = 2.0;
    let per_row = (svg::WIDTH as f64 / CELL_W) as usize;
    let rows = strip.len().div_ceil(per_row).max(1);
    let h = rows as f64 * (CELL_H + GAP);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="strip" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="every run by outcome">"#,
        w = svg::WIDTH,
        h = num(h)
    );
    for (row, chunk) in strip.chunks(per_row).enumerate() {
        let y = row as f64 * (CELL_H + GAP);
        let mut i = 0;
        while i < chunk.len() {
            let mut j = i;
            while j + 1 < chunk.len() && chunk[j + 1].1 == chunk[i].1 {
                j += 1;
            }
            let (first, o) = (chunk[i].0, &chunk[i].1);
            let last = chunk[j].0;
            let what = if first == last {
                format!("run {first}: {o}")
            } else {
                format!("runs {first} to {last}: {o}")
            };
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{CELL_H}" fill="{}" data-outcome="{}"><title>{}</title></rect>"#,
                num(i as f64 * CELL_W),
                num(y),
                num((j - i + 1) as f64 * CELL_W),
                outcome_colour(o),
                escape(o),
                escape(&what)
            );
            i = j + 1;
        }
    }
    out.push_str("</svg>");
    out
}

/// The most points a plot draws (an even sample of the runs beyond it;
/// the medians are computed from every run).
pub const MAX_PLOT_POINTS: usize = 1_500;

/// A plot of one figure of one experiment's runs over the campaign's
/// time: a dot per run coloured by outcome, the median per time bin as a
/// line. `None` values are left out.
pub fn figure_svg(
    points: &[PlotPoint],
    value: impl Fn(&PlotPoint) -> Option<f64>,
    label: &str,
    span_s: f64,
) -> String {
    const W: f64 = 590.0;
    const H: f64 = 150.0;
    const L: f64 = 52.0;
    const R: f64 = 8.0;
    const T: f64 = 8.0;
    const B: f64 = 28.0;
    let vals: Vec<(f64, f64, &str)> = points
        .iter()
        .filter_map(|p| value(p).map(|v| (p.at_s, v, p.outcome.as_str())))
        .filter(|(_, v, _)| v.is_finite())
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="figure" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{}">"#,
        escape(label)
    );
    if vals.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{L}" y="{}">{}: no run with this figure yet</text></svg>"#,
            H / 2.0,
            escape(label)
        );
        return out;
    }
    let hours = span_s > 3.0 * 3600.0;
    let scale = if hours { 3600.0 } else { 60.0 };
    let x_hi = (span_s / scale).max(1e-9);
    let y_hi = vals.iter().map(|v| v.1).fold(0.0f64, f64::max).max(1e-9) * 1.1;
    let pw = W - L - R;
    let ph = H - T - B;
    let x = |t: f64| L + (t / scale) / x_hi * pw;
    let y = |v: f64| T + ph - v / y_hi * ph;
    // The y axis: a few round values.
    out.push_str(r#"<g class="axis">"#);
    for v in svg::ticks(0.0, y_hi, 4) {
        let _ = write!(
            out,
            r##"<line x1="{l}" y1="{y}" x2="{r}" y2="{y}" stroke="#eee"/><text x="{tx}" y="{ty}" text-anchor="end">{v}</text>"##,
            l = num(L),
            r = num(W - R),
            y = num(y(v)),
            tx = num(L - 4.0),
            ty = num(y(v) + 4.0),
            v = escape(&svg::tick_label(v, false))
        );
    }
    out.push_str("</g>");
    svg::x_axis(&mut out, 0.0, x_hi, L, pw, T + ph, false);
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="end" class="sub">{} since the first run</text>"#,
        num(W - R),
        num(H - 1.0),
        if hours { "hours" } else { "minutes" }
    );
    // The dots: an even sample beyond MAX_PLOT_POINTS, but every
    // anomalous run.
    let step = vals.len().div_ceil(MAX_PLOT_POINTS).max(1);
    for (i, (t, v, o)) in vals.iter().enumerate() {
        if i % step != 0 && *o == "valid" {
            continue;
        }
        let _ = write!(
            out,
            r#"<circle cx="{}" cy="{}" r="2" fill="{}"/>"#,
            num(x(*t)),
            num(y(*v)),
            outcome_colour(o)
        );
    }
    // The median per bin, from every value.
    let bins = 40usize;
    let width = (span_s / bins as f64).max(1e-9);
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); bins];
    for (t, v, _) in &vals {
        per[((t / width) as usize).min(bins - 1)].push(*v);
    }
    let mut path = String::new();
    for (b, mut vs) in per.into_iter().enumerate() {
        if vs.is_empty() {
            continue;
        }
        vs.sort_by(f64::total_cmp);
        let m = vs[vs.len() / 2];
        let cx = x((b as f64 + 0.5) * width);
        let _ = write!(
            path,
            "{}{},{} ",
            if path.is_empty() { "M" } else { "L" },
            num(cx),
            num(y(m))
        );
    }
    let _ = write!(
        out,
        r##"<path d="{}" fill="none" stroke="#222" stroke-width="1.5"/>"##,
        path.trim_end()
    );
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" class="group">{}</text></svg>"#,
        num(L + 6.0),
        num(T + 12.0),
        escape(label)
    );
    out
}

fn filter_form(experiments: &[String], f: &Filter) -> Markup {
    html! {
        form.filter method="get" action="/" {
            label { "Outcome " select name="outcome" {
                option value="" { "any" }
                @for o in OUTCOMES { option value=(o) selected[f.outcome.as_deref() == Some(o)] { (o) } }
            } } " "
            label { "Experiment " select name="experiment" {
                option value="" { "any" }
                @for e in experiments { option value=(e) selected[f.experiment.as_deref() == Some(e.as_str())] { (e) } }
            } } " "
            button type="submit" { "Filter" }
        }
    }
}

fn page_link(f: &Filter, before: Option<u64>) -> String {
    let mut q: Vec<String> = Vec::new();
    if let Some(o) = &f.outcome {
        q.push(format!("outcome={}", query_escape(o)));
    }
    if let Some(e) = &f.experiment {
        q.push(format!("experiment={}", query_escape(e)));
    }
    if let Some(b) = before {
        q.push(format!("before={b}"));
    }
    if q.is_empty() {
        "/".into()
    } else {
        format!("/?{}", q.join("&"))
    }
}

/// Percent-encoding for a query value (names are letters, digits, `-`,
/// `_`, but say so safely anyway).
fn query_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn glance(c: &ControlRoom<'_>) -> Markup {
    let span = c
        .lines
        .iter()
        .flat_map(|l| l.points.last())
        .map(|p| p.at_s)
        .fold(0.0f64, f64::max)
        .max(60.0);
    html! {
        table.glance {
            tr { th { "experiment" } th { "runs" } th { "valid" } th { "invalid" } th { "unknown" } th { "error" } th { "interrupted" } th { "anomaly kinds (runs)" } th { "median ok ops/s" } th { "median recovery" } }
            @for l in c.lines {
                tr data-experiment=(l.experiment) {
                    td { (l.experiment) }
                    td.num { (l.runs) }
                    td.num { (l.valid) }
                    td.num { (l.invalid) }
                    td.num { (l.unknown) }
                    td.num { (l.error) }
                    td.num { (l.interrupted) }
                    td.kinds { @for (k, n) in &l.anomaly_kinds { code { (k) " (" (n) ")" } } }
                    td.num { (l.median_ok_per_s.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())) }
                    td.num { (l.median_recovery_s.map(|x| format!("{x:.2} s")).unwrap_or_else(|| "-".into())) }
                }
            }
        }
        h3 { "Every run, oldest first" }
        p.legend {
            @for o in ["valid", "invalid", "unknown", "error", "crashed", "interrupted", "running"] {
                span.sw style=(format!("background:{}", outcome_colour(o))) {} (o) " "
            }
        }
        div.figure { (PreEscaped(strip_svg(c.strip))) }
        div.plots {
            @for l in c.lines {
                h3 { (l.experiment) ": throughput and recovery by run" }
                div { (PreEscaped(figure_svg(&l.points, |p| p.ok_per_s, "ok ops/s", span))) }
                div { (PreEscaped(figure_svg(&l.points, |p| p.recovery_s, "longest recovery after a heal (s)", span))) }
            }
        }
        @if let Some(t) = c.first_run_at { p.note { "Time runs from the first run, " (t) " UTC; a dot per completed run, coloured by verdict; the line is the median." } }
    }
}

/// The page.
pub fn render_control_room(c: &ControlRoom<'_>) -> String {
    let first_page = c.filter.before.is_none();
    let body = html! {
        div.cr {
            header {
                h1 { "chaos daemon: " (c.campaign) }
                dl.meta.state {
                    dt { "state" } dd { span #state .state.(c.state) { (c.state) @if let Some(w) = c.why { ": " (w) } } }
                    dt { "campaign seed" } dd { (c.seed) }
                    dt { "runs" } dd #runs-total { (c.runs_total) }
                    dt { "daemon since" } dd { (c.since) " UTC" }
                }
            }
            @if let Some(n) = c.notice { p.notice #notice { (n) } }
            h2 { "Now" span.aside { "updates every second while the page is open" } }
            div.live #live { (live_panel(c.live, c.next.as_deref())) }
            h2 { "Controls" }
            (controls(c.experiments))
            h2 { "The campaign at a glance" span.aside { "as of this page's load" } }
            (glance(c))
            h2 #table { "Runs" span.aside { "newest first; new runs appear as they start and end" } }
            (filter_form(c.experiments, c.filter))
            @if c.rows.is_empty() { p { "No run yet." } } @else {
                table.runs #runs data-first-page=(if first_page { "1" } else { "0" })
                    data-outcome=(c.filter.outcome.clone().unwrap_or_default())
                    data-experiment=(c.filter.experiment.clone().unwrap_or_default()) {
                    thead { tr { th { "run" } th { "verdict" } th { "status" } th { "experiment" } th { "seed" } th { "started (UTC)" } th { "duration" } th { "anomaly kinds" } th { "report" } } }
                    tbody { @for r in c.rows { (run_row(r)) } }
                }
            }
            nav.pages {
                @if !first_page { a href=(page_link(c.filter, None)) { "newest" } }
                @if let Some(b) = c.older { a href=(page_link(c.filter, Some(b))) #older { "older runs" } }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "chaos daemon: " (c.campaign) }
                link rel="icon" href="data:,";
                style { (PreEscaped(page::css())) (PreEscaped(CSS)) }
            }
            body data-live=(if c.live_stream { "1" } else { "0" }) {
                main { (body) }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Verdict;

    fn row(number: u64, verdict: Option<Verdict>, kinds: &[&str]) -> IndexRow {
        IndexRow {
            number,
            verdict,
            status: if verdict.is_some() {
                "completed"
            } else {
                "running"
            }
            .into(),
            experiment: "etcd-<x>".into(),
            seed: 7,
            started_at: "2026-12-01T00:00:00.000Z".into(),
            duration_s: verdict.map(|_| 30.0),
            has_report: verdict.is_some(),
            anomalies: kinds.iter().map(|k| k.to_string()).collect(),
        }
    }

    fn room<'a>(
        live: &'a [LiveRun],
        rows: &'a [IndexRow],
        lines: &'a [ExperimentLine],
        strip: &'a [(u64, String)],
        filter: &'a Filter,
        experiments: &'a [String],
    ) -> ControlRoom<'a> {
        ControlRoom {
            campaign: "soak",
            seed: 42,
            state: "running",
            why: None,
            since: "2026-12-01T00:00:00.000Z",
            runs_total: rows.len() as u64,
            live,
            next: Some("etcd-pause, seed 3".into()),
            experiments,
            lines,
            strip,
            first_run_at: Some("2026-12-01T00:00:00.000Z"),
            rows,
            filter,
            older: Some(5),
            notice: None,
            live_stream: true,
        }
    }

    #[test]
    fn the_page_shows_the_live_run_the_controls_and_the_table() {
        let live = [LiveRun {
            run: 9,
            experiment: "etcd-pause".into(),
            seed: 3,
            phase: "running".into(),
            elapsed_s: 12.0,
            total_s: 30.0,
            ok: 1234,
            fail: 5,
            info: 2,
            ok_per_s: 98.5,
            faults: vec![LiveFault {
                id: 2,
                kind: "pause".into(),
                targets: vec!["etcd2".into()],
                heals_at_s: Some(15.0),
            }],
        }];
        let rows = [
            row(8, Some(Verdict::Invalid), &["stale-read"]),
            row(9, None, &[]),
        ];
        let filter = Filter::default();
        let experiments = vec!["etcd-pause".to_string(), "etcd-<x>".to_string()];
        let page = render_control_room(&room(&live, &rows, &[], &[], &filter, &experiments));
        for want in [
            "data-live-run=\"9\"",
            "<span class=\"n-ok\">1234</span>",
            "98.5 ok ops/s",
            "#2 pause on etcd2, heals at 15.0 s (in 3.0 s)",
            "12.0 s of 30.0 s",
            "action=\"/api/v1/pause\"",
            "action=\"/api/v1/resume\"",
            "action=\"/api/v1/stop\"",
            "action=\"/api/v1/runs\"",
            "<code>stale-read</code>",
            "href=\"/runs/8/report.html\"",
            "data-first-page=\"1\"",
            "href=\"/?before=5\"",
            "etcd-&lt;x&gt;",
            "data-live=\"1\"",
        ] {
            assert!(page.contains(want), "missing {want}");
        }
        // Pause and stop stop work: each asks for a confirmation.
        let confirms = page
            .matches("name=\"confirm\" value=\"yes\" required")
            .count();
        assert_eq!(confirms, 2);
        assert!(!page.contains("http://") && !page.contains("https://"));
    }

    #[test]
    fn the_strip_merges_neighbours_and_keeps_every_run() {
        let strip: Vec<(u64, String)> = (1..=1000)
            .map(|i| {
                (
                    i,
                    if i % 100 == 0 { "invalid" } else { "valid" }.to_string(),
                )
            })
            .collect();
        let svg = strip_svg(&strip);
        // 300 runs a line: 4 lines; the invalid runs split them.
        assert_eq!(svg.matches("data-outcome=\"invalid\"").count(), 10);
        assert!(svg.contains("<title>run 100: invalid</title>"));
        assert!(svg.contains("<title>runs 1 to 99: valid</title>"));
        let widths: f64 = svg
            .split("width=\"")
            .skip(2)
            .map(|w| w.split('"').next().unwrap().parse::<f64>().unwrap())
            .sum();
        assert_eq!(widths, 4.0 * 1000.0, "every run has its cell");
    }

    #[test]
    fn a_plot_draws_every_anomalous_run_and_a_median_line() {
        let points: Vec<PlotPoint> = (0..5000)
            .map(|i| PlotPoint {
                run: i,
                at_s: i as f64 * 60.0,
                outcome: if i % 50 == 0 { "invalid" } else { "valid" }.into(),
                ok_per_s: Some(100.0 + (i % 7) as f64),
                recovery_s: None,
            })
            .collect();
        let svg = figure_svg(&points, |p| p.ok_per_s, "ok ops/s", 5000.0 * 60.0);
        let dots = svg.matches("<circle").count();
        assert!(dots <= MAX_PLOT_POINTS + 100, "{dots}");
        assert_eq!(
            svg.matches(&format!("fill=\"{}\"", colour::FAIL)).count(),
            100
        );
        assert!(svg.contains("<path d=\"M"));
        assert!(svg.contains("hours since the first run"));
        let none = figure_svg(&points, |p| p.recovery_s, "recovery", 1.0);
        assert!(none.contains("no run with this figure yet"));
    }

    #[test]
    fn filter_links_keep_the_filters() {
        let f = Filter {
            outcome: Some("invalid".into()),
            experiment: Some("a b".into()),
            before: Some(7),
        };
        assert_eq!(
            page_link(&f, Some(3)),
            "/?outcome=invalid&experiment=a%20b&before=3"
        );
        assert_eq!(page_link(&Filter::default(), None), "/");
    }
}
