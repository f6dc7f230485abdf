//! What every page shares: the document around the content (inline CSS and
//! script, no fetch of anything), the hover card's data, legends. Pure.

use std::collections::BTreeSet;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::svg::colour;
use crate::history::History;

/// The page's style: one column, readable at 1280 px, colours only from
/// [`colour`], and every colour also said in words or by shape.
pub(crate) fn css() -> String {
    format!(
        r#"
:root{{--ok:{ok};--fail:{fail};--info:{info};--heal:{heal};--prefix:{prefix}}}
*{{box-sizing:border-box}}
body{{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;background:#fff}}
main{{max-width:1240px;margin:0 auto;padding:16px 20px 60px}}
h1{{font-size:24px;margin:4px 0}} h2{{font-size:19px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}} h3{{font-size:16px;margin:18px 0 4px}}
a{{color:#0060a0}} code,pre{{font:12.5px/1.4 "DejaVu Sans Mono",ui-monospace,monospace}}
pre{{background:#f5f5f5;padding:6px 8px;overflow-x:auto;margin:4px 0}}
.top{{display:flex;gap:16px;align-items:center;flex-wrap:wrap;margin:6px 0}}
.verdict{{display:inline-block;font-weight:700;font-size:18px;padding:4px 12px;border-radius:4px;color:#fff}}
.verdict.small{{font-size:12px;padding:1px 6px}}
.verdict.valid{{background:#009E73}} .verdict.invalid{{background:var(--fail)}} .verdict.unknown{{background:var(--info);color:#000}}
.status{{font-weight:600}} .status.interrupted,.status.crashed{{color:var(--fail)}}
dl.meta{{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:1px 14px;margin:8px 0}}
p.rerun code{{background:#f3f3f3;padding:2px 6px}}
dl.meta dt{{color:#555}} dl.meta dd{{margin:0}}
nav.jump{{margin:8px 0;font-size:15px}} nav.jump a{{margin-right:14px}} p.found a{{margin-right:8px}}
.first-anomaly{{font-weight:700}}
table{{border-collapse:collapse;margin:6px 0}} th,td{{border-bottom:1px solid #e3e3e3;padding:3px 8px;text-align:left;vertical-align:top}}
th{{background:#f7f7f7;font-weight:600}} td.num{{text-align:right;font-variant-numeric:tabular-nums}}
.note{{color:#555;font-style:italic;margin:4px 0}}
.legend{{margin:4px 0 2px;font-size:13px;color:#333}}
.sw{{display:inline-block;width:12px;height:12px;vertical-align:-1px;margin:0 4px 0 10px;border:1px solid #0003}}
.sw.k{{background:var(--ok)}} .sw.f{{background:var(--fail)}} .sw.i{{background:var(--info)}}
.sw.fault{{background:#0000001a}} .sw.heal{{background:none;border:none;border-left:3px dashed var(--heal);width:6px}}
.sw.prefix{{background:#009E7333}} .sw.stuck{{background:#fff;border:3px solid #000}} .sw.wit{{background:#fff;border:2px dashed #000}}
.sw.mk{{border:none;background:none;width:auto;height:auto;margin-left:10px;font-weight:700}}
svg{{display:block;max-width:100%;height:auto}} .scroller svg{{max-width:none}}
svg text{{font-family:system-ui,"DejaVu Sans",sans-serif;font-size:11px;fill:#333}}
rect.k{{fill:var(--ok)}} rect.f{{fill:var(--fail)}} rect.i{{fill:var(--info)}}
rect[data-op]:hover,rect[data-kop]:hover,rect[data-txn]:hover{{stroke:#000;stroke-width:1.5}}
.tail{{fill:none;stroke:var(--info);stroke-width:1.5;stroke-dasharray:2 3;opacity:.7}}
.band rect{{fill:#0000001a}} .band text{{font-size:11px;fill:#222}}
.heal{{stroke:var(--heal);stroke-width:2;stroke-dasharray:6 4}}
.mark line{{stroke:#555;stroke-dasharray:2 2}} .mark text{{font-size:11px;fill:#555}}
.group{{font-weight:700;font-size:12px}} .sub{{font-size:10px;fill:#777}} .sep{{stroke:#ccc}}
.axis line{{stroke:#999}} .axis text{{font-size:11px;fill:#444}}
.keyview-wrap{{display:flex;align-items:flex-start;margin:4px 0}} .keylabels{{flex:none}}
.scroller{{flex:1;min-width:0;overflow-x:auto;border:1px solid #e3e3e3}}
.keyview rect.stuck{{stroke:#000;stroke-width:3}} .keyview rect.wit{{stroke:#000;stroke-width:1.5;stroke-dasharray:3 2}}
.callout text{{font-size:11px;font-weight:700;fill:#000}} .callout line{{stroke:#000;stroke-width:1}} .callout.wit line{{stroke-dasharray:2 2}}
.prefix rect{{fill:#009E731f}} .prefix line{{stroke:var(--prefix);stroke-width:2}} .prefix text{{font-size:11px;fill:#00664a;font-weight:700}}
.oplabel{{font-size:10px;fill:#fff;pointer-events:none}} .oplabel.i{{fill:#000}}
.anomaly{{border-left:4px solid var(--fail);padding:2px 0 8px 12px;margin:18px 0}}
.explanation{{margin:4px 0 8px;max-width:1100px}}
table.witness{{width:100%}} table.witness td:first-child,table.witness td:not(.lines) code{{white-space:nowrap}} table.witness tr.stuck td:first-child{{font-weight:700}}
td.lines{{width:60%}} td.lines code{{font-size:11.5px;white-space:pre-wrap;word-break:break-all}}
#tip{{position:fixed;z-index:10;max-width:640px;background:#fff;border:1px solid #333;box-shadow:0 2px 8px #0004;padding:6px 8px;font-size:12.5px;pointer-events:none}}
#tip b{{font-weight:700}} #tip code{{display:block;white-space:pre-wrap;word-break:break-all;color:#333;font-size:11.5px}}
.figure{{margin:4px 0 10px}}
.anomaly.allowed{{border-left-color:#999}}
.badge{{display:inline-block;font-size:12px;font-weight:700;padding:1px 7px;border-radius:3px;margin-left:6px;vertical-align:2px}}
.badge.out{{background:var(--fail);color:#fff}} .badge.ok{{background:#e8e8e8;color:#333;border:1px solid #999}}
p.what{{margin:2px 0 6px;color:#333}}
p.models{{margin:6px 0 2px;font-size:15px}} b.not{{color:var(--fail)}} .also-not{{color:#8a3a00}}
p.modelrow{{margin:2px 0 6px}} span.model{{display:inline-block;margin:2px 6px 2px 0;padding:1px 7px;border-radius:3px;font-size:12.5px;border:1px solid #bbb}}
span.model.invalid{{background:#D55E0022;border-color:var(--fail)}} span.model.valid{{background:#009E7318;border-color:#009E73}} span.model.unknown{{background:#E69F0022}}
svg.cycle rect.box{{fill:#fff;stroke:#333;stroke-width:1.5}} svg.cycle rect.box.i{{stroke:var(--info);stroke-dasharray:5 3}} svg.cycle rect.box.f{{stroke:var(--fail)}}
svg.cycle rect.box:hover{{stroke-width:3}} svg.cycle .txn text{{pointer-events:none}}
svg.cycle text.name{{font-weight:700;font-size:12px}} svg.cycle text.mop{{font:11.5px "DejaVu Sans Mono",ui-monospace,monospace;fill:#111}}
svg.cycle text.rel{{font-weight:700;font-size:12px}} svg.cycle .edge:hover path{{stroke-width:3.5}}
table.steps td:first-child{{white-space:nowrap}} span.rel{{white-space:nowrap}}
dl.facts{{display:grid;grid-template-columns:max-content 1fr;gap:1px 12px;margin:4px 0 8px}} dl.facts dt{{color:#555}} dl.facts dd{{margin:0}}
tr[data-txn]:hover{{background:#f0f6fb}}
"#,
        ok = colour::OK,
        fail = colour::FAIL,
        info = colour::INFO,
        heal = colour::HEAL,
        prefix = colour::PREFIX,
    )
}

/// The page's script: the hover card of every op bar, each anomaly view
/// scrolled to its op that cannot be placed, and `data-ready` on the body
/// when it ran to its end (what the browser test waits for), with
/// `data-ready-ms`, the milliseconds from navigation until then (what the
/// load benchmark reads). It logs nothing to the console.
const SCRIPT: &str = r#"
(function () {
  var el = document.getElementById('ops');
  var D = el ? JSON.parse(el.textContent) : {};
  var tel = document.getElementById('txns');
  var T = tel ? JSON.parse(tel.textContent) : {};
  var SRC = document.body.getAttribute('data-source') || 'history';
  var tip = document.getElementById('tip');
  function secs(ns) { return ns == null ? '?' : (ns / 1e9).toFixed(3) + ' s'; }
  function show(id, x, y) {
    var o = D[id];
    if (!o) { return; }
    var inv = JSON.parse(o[1]);
    var end = o[3] ? JSON.parse(o[3]) : null;
    var v = inv.f === 'read' || inv.f === 'get' ? (end && end.type === 'ok' ? JSON.stringify(end.value) : '?') : JSON.stringify(inv.value);
    tip.textContent = '';
    var head = document.createElement('b');
    head.textContent = 'process ' + inv.process + ': ' + (inv.final ? 'final ' : '') + inv.f + ' key ' + JSON.stringify(inv.key) + ' ' + v;
    tip.appendChild(head);
    var rows = [
      (end ? end.type : 'never completed') + (end && end.error ? ' (' + end.error + ')' : '') + (inv.node ? ' · node ' + inv.node : ''),
      'invoked ' + secs(inv.time_ns) + (end ? ' · completed ' + secs(end.time_ns) : '') +
        (end && inv.time_ns != null && end.time_ns != null ? ' · ' + ((end.time_ns - inv.time_ns) / 1e6).toFixed(2) + ' ms' : '')
    ];
    rows.forEach(function (t) { var d = document.createElement('div'); d.textContent = t; tip.appendChild(d); });
    [[o[0], o[1]], [o[2], o[3]]].forEach(function (l) {
      if (l[1]) { var c = document.createElement('code'); c.textContent = SRC + ' line ' + l[0] + ': ' + l[1]; tip.appendChild(c); }
    });
    tip.hidden = false;
    move(x, y);
  }
  function showTxn(id, x, y) {
    var o = T[id];
    if (!o) { return; }
    tip.textContent = '';
    var head = document.createElement('b');
    head.textContent = 'process ' + o[2] + ': ' + (o[7] ? 'final read ' : '') + 'transaction ' + o[8];
    tip.appendChild(head);
    var rows = [
      o[3] + (o[9] ? ' (' + o[9] + ')' : '') + (o[6] ? ' · node ' + o[6] : ''),
      'invoked ' + secs(o[4]) + (o[5] != null ? ' · completed ' + secs(o[5]) : '') +
        (o[4] != null && o[5] != null ? ' · ' + ((o[5] - o[4]) / 1e6).toFixed(2) + ' ms' : ''),
      SRC + ' line ' + o[0] + (o[1] != null ? ' (invocation), line ' + o[1] + ' (completion)' : ' (invocation; never completed)')
    ];
    rows.forEach(function (t) { var d = document.createElement('div'); d.textContent = t; tip.appendChild(d); });
    tip.hidden = false;
    move(x, y);
  }
  function move(x, y) {
    var w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = Math.max(4, Math.min(x + 14, window.innerWidth - w - 8)) + 'px';
    tip.style.top = (y + 16 + h > window.innerHeight ? Math.max(4, y - h - 10) : y + 16) + 'px';
  }
  document.addEventListener('mouseover', function (e) {
    var t = e.target;
    var id = t && t.getAttribute ? (t.getAttribute('data-op') || t.getAttribute('data-kop')) : null;
    var row = t && t.closest ? t.closest('[data-txn]') : null;
    var tid = row ? row.getAttribute('data-txn') : null;
    if (id) { show(id, e.clientX, e.clientY); } else if (tid) { showTxn(tid, e.clientX, e.clientY); } else { tip.hidden = true; }
  });
  document.addEventListener('mousemove', function (e) { if (!tip.hidden) { move(e.clientX, e.clientY); } });
  var views = document.querySelectorAll('.scroller[data-focus]');
  for (var i = 0; i < views.length; i++) {
    var s = views[i];
    s.scrollLeft = Math.max(0, parseFloat(s.getAttribute('data-focus')) - s.clientWidth / 2);
  }
  document.body.setAttribute('data-ready-ms', String(Math.round(performance.now())));
  document.body.setAttribute('data-ready', '1');
})();
"#;

/// A whole page: `title`, the body, the hover data of `ops` (indexes into
/// the history's operations, with their lines of `source`).
pub fn document(
    title: &str,
    body: Markup,
    history: Option<&History>,
    ops: &BTreeSet<usize>,
    source: &str,
) -> String {
    let data = history
        .map(|h| op_data(h, ops))
        .unwrap_or_else(|| "{}".into());
    document_with(title, body, &data, "{}", source)
}

/// A whole page with its hover data made: `ops` for `data-op` and
/// `data-kop` (register ops), `txns` for `data-txn` (transactions), each
/// JSON safe inside a `<script>` element.
pub fn document_with(title: &str, body: Markup, ops: &str, txns: &str, source: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(css())) }
            }
            body data-source=(source) {
                main { (body) }
                div #tip hidden {}
                script #ops type="application/json" { (PreEscaped(ops)) }
                script #txns type="application/json" { (PreEscaped(txns)) }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
    .into_string()
}

/// `{"17": [invocation line number, invocation line, completion line
/// number, completion line], ...}` for the hover card, safe inside a
/// `<script>` element.
fn op_data(history: &History, ops: &BTreeSet<usize>) -> String {
    let mut map = serde_json::Map::with_capacity(ops.len());
    for &i in ops {
        let Some(op) = history.operations.get(i) else {
            continue;
        };
        let inv = history.invocation(op);
        let comp = history.completion(op);
        map.insert(
            i.to_string(),
            serde_json::json!([
                inv.line,
                crate::history::to_line(inv),
                comp.map(|c| c.line),
                comp.map(crate::history::to_line),
            ]),
        );
    }
    // `<` only occurs inside JSON strings, where `\u003c` means the same:
    // nothing in the data can close the script element.
    serde_json::Value::Object(map)
        .to_string()
        .replace('<', "\\u003c")
}

/// The legend of op outcomes.
pub fn outcome_legend() -> Markup {
    html! {
        span.sw.k {} "ok (happened) "
        span.sw.f {} "fail (did not happen) "
        span.sw.i {} "info (may have happened; dotted to the end) "
    }
}

/// The legend of fault windows and heals.
pub fn fault_legend() -> Markup {
    html! {
        span.sw.fault {} "fault window (label: number, kind, targets; hover in the timeline for all) "
        span.sw.heal {} "heal"
    }
}
