//! The HTML pages: a run's `report.html`, the anomaly page of a history
//! (`chaos check --html`), and the daemon's index of runs.
//!
//! Public API:
//! - [`render_run`]`(&RunInput) -> String`: the report of a run, from its
//!   results.json, history.jsonl and plan.json as values ([`RunInput`];
//!   the history is register ops or list-append transactions,
//!   [`RunHistory`]).
//!   Header (verdict, status, experiment, seed, duration, rerun command,
//!   chaos version, images), the timeline, latency, throughput and
//!   recovery plots with the fault windows, each anomaly drawn, the node
//!   logs linked.
//! - [`render_history`]`(history, report, source, format) -> String`: the timeline
//!   and the anomaly views of any history and its checker report;
//!   [`render_txn_history`] the same for a transaction history and its
//!   [`crate::checker::txn::TxnReport`].
//! - [`campaign::render_control_room`]`(&ControlRoom) -> String`: the
//!   daemon's page at `/`: the live run, the controls, the campaign at a
//!   glance (strip and plots), the run table filtered and paged.
//! - [`timeline::sample`] (which ops the timeline draws) and the limits
//!   [`timeline::MAX_OPS`], [`MAX_ANOMALY_VIEWS`].
//!
//! One self-contained page each: inline CSS, SVG and script, nothing
//! fetched, opens from disk. Plots are drawn by plotters' SVG backend
//! ([`plots`]); the timeline and the anomaly views are hand-written SVG
//! ([`timeline`], [`anomaly`], and [`txn`] for transactions: their
//! timeline and each cycle drawn); the page is a maud template ([`page`]).
//! A list-append run's anomalies are ordered as they count: those that
//! rule out the run's model first, then those it allows, marked so.
//! A page never fails to render: what it cannot draw, it says in place.
//!
//! Pure: values in, text out. No file, clock or runtime; this module must
//! not depend on the shell (store, engine, CLI). The shell reads the files
//! (`crate::runfiles`) and writes the page.

pub mod anomaly;
pub mod campaign;
pub mod index;
pub mod page;
pub mod plots;
pub mod svg;
pub mod timeline;
pub mod txn;

use std::collections::{BTreeSet, HashMap};

use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use crate::checker::{self, CheckReport};
use crate::history::History;
use crate::results::{Anomaly, FaultRecord, Results, Status, Verdict};
pub use index::IndexRow;
use timeline::{Axis, Band, Mark};

/// The most anomalies drawn in full on one page; the rest are listed in
/// words (each still names its ops and lines).
pub const MAX_ANOMALY_VIEWS: usize = 20;

/// What a run's report is made from.
#[derive(Debug, Clone, Copy)]
pub struct RunInput<'a> {
    pub results: &'a Results,
    /// The run's history (`None`: history.jsonl is not kept with the run;
    /// the page says what it cannot draw without it).
    pub history: Option<RunHistory<'a>>,
    /// plan.json as JSON (`None`: not kept).
    pub plan: Option<&'a serde_json::Value>,
    /// Things the reader of the files noticed (an older results.json read
    /// as the current version), shown at the top.
    pub notes: &'a [String],
}

/// A run's history: register ops, or list-append transactions.
#[derive(Debug, Clone, Copy)]
pub enum RunHistory<'a> {
    Register(&'a History),
    Txn(txn::TxnInput<'a>),
}

impl<'a> RunHistory<'a> {
    /// The register history, if it is one.
    pub fn register(self) -> Option<&'a History> {
        match self {
            RunHistory::Register(h) => Some(h),
            RunHistory::Txn(_) => None,
        }
    }

    /// Operations (register) or transactions (list-append) in it.
    pub fn len(self) -> usize {
        match self {
            RunHistory::Register(h) => h.operations.len(),
            RunHistory::Txn(t) => t.history.txns.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// What the report uses of plan.json (read leniently: an older or newer
/// plan still gives what it has).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
struct PlanInfo {
    #[serde(default)]
    duration_ms: Option<u64>,
    #[serde(default)]
    rerun: Option<String>,
    #[serde(default)]
    clients: Vec<ClientInfo>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ClientInfo {
    client: u64,
    endpoint: String,
    /// Ops (micro-ops) by function (plans since the workload rooms).
    #[serde(default)]
    ops: std::collections::BTreeMap<String, u64>,
    /// Older plans: the counts one field each.
    #[serde(default)]
    reads: u64,
    #[serde(default)]
    writes: u64,
    #[serde(default)]
    cas: u64,
    /// List-append plans: the appends among the micro-ops (reads are
    /// `reads`), and the planned transactions.
    #[serde(default)]
    appends: u64,
    #[serde(default)]
    expected_ops: Option<u64>,
}

/// The fault windows of a run, in seconds since its start (faults never
/// applied have none).
pub fn bands(faults: &[FaultRecord]) -> Vec<Band> {
    faults
        .iter()
        .filter_map(|f| {
            let start = f.applied_at_ms? as f64 / 1000.0;
            let shape = f
                .description
                .split_once(": ")
                .map(|(_, s)| s.to_string())
                .unwrap_or_else(|| f.targets.join(", "));
            let label = if shape.is_empty() {
                format!("#{} {}", f.id, f.kind)
            } else {
                format!("#{} {}: {shape}", f.id, f.kind)
            };
            let healed = match f.healed_at_ms {
                Some(h) => format!("healed at {:.3} s", h as f64 / 1000.0),
                None => "not healed".to_string(),
            };
            Some(Band {
                id: f.id,
                start,
                heal: f.healed_at_ms.map(|h| h as f64 / 1000.0),
                label,
                short: format!("#{} {}", f.id, f.kind),
                detail: format!(
                    "#{} {} on {}: applied at {start:.3} s, {healed}",
                    f.id,
                    f.description,
                    if f.targets.is_empty() {
                        "-".to_string()
                    } else {
                        f.targets.join(", ")
                    }
                ),
            })
        })
        .collect()
}

fn secs(ms: u64) -> String {
    format!("{:.3} s", ms as f64 / 1000.0)
}

fn verdict_class(v: Verdict) -> &'static str {
    v.as_str()
}

fn verdict_words(r: &Results) -> String {
    let c = &r.checker;
    if let Some(t) = &c.txn {
        let decisive = c.decisive().count();
        let allowed = c.anomalies.len() - decisive;
        let also = if allowed > 0 {
            format!(
                "; {allowed} more anomal{} it allows",
                if allowed == 1 { "y" } else { "ies" }
            )
        } else {
            String::new()
        };
        return match r.verdict {
            Verdict::Valid => format!(
                "{} holds: no anomaly it forbids in {} transactions{also}",
                t.model, t.counts.transactions
            ),
            Verdict::Invalid => format!(
                "not {}: {decisive} anomal{} rule{} it out, in {} transactions{also}",
                t.model,
                if decisive == 1 { "y" } else { "ies" },
                if decisive == 1 { "s" } else { "" },
                t.counts.transactions
            ),
            Verdict::Unknown => format!(
                "{} not decided, and no anomaly it forbids was found ({} transactions){also}",
                t.model, t.counts.transactions
            ),
        };
    }
    match r.verdict {
        Verdict::Valid => format!("every key's history is linearizable ({} keys)", c.keys),
        Verdict::Invalid => format!("{} of {} keys are not linearizable", c.keys_invalid, c.keys),
        Verdict::Unknown => format!(
            "the checker could not decide {} of {} keys, and found no anomaly",
            c.keys_unknown, c.keys
        ),
    }
}

/// The anomalies of a run in the order the page draws them: those that
/// count against the verdict first, then those the run's model allows.
fn ordered(r: &Results) -> Vec<&Anomaly> {
    let c = &r.checker;
    c.anomalies
        .iter()
        .filter(|a| c.decides(a))
        .chain(c.anomalies.iter().filter(|a| !c.decides(a)))
        .collect()
}

/// The report of a run.
pub fn render_run(input: &RunInput<'_>) -> String {
    let r = input.results;
    let mut notes: Vec<String> = input.notes.to_vec();
    let plan: PlanInfo = match input.plan {
        Some(v) => match serde_json::from_value(v.clone()) {
            Ok(p) => p,
            Err(e) => {
                notes.push(format!(
                    "plan.json was not understood ({e}); shown without it"
                ));
                PlanInfo::default()
            }
        },
        None => PlanInfo::default(),
    };
    let bands = bands(&r.faults);
    let source = "history.jsonl";
    let anomalies = ordered(r);
    if let Some(RunHistory::Txn(t)) = input.history {
        return render_txn_run(r, &t, &anomalies, &plan, &bands, notes);
    }
    let history = input.history.and_then(RunHistory::register);
    let mut drawn: BTreeSet<usize> = BTreeSet::new();

    // The anomalies first: the timeline keeps their ops when it samples.
    let index = HashMap::new();
    let sections: Vec<Markup> = anomalies
        .iter()
        .take(MAX_ANOMALY_VIEWS)
        .enumerate()
        .map(|(i, a)| match a {
            Anomaly::Register(_) => anomaly::section(history, a, i + 1, &bands, source, &mut drawn),
            a => txn_section(r, None, &index, a, i + 1, &mut drawn),
        })
        .collect();
    let witness_ops: BTreeSet<usize> = match history {
        Some(h) => r
            .checker
            .anomalies
            .iter()
            .flat_map(|a| match a {
                Anomaly::Register(a) => {
                    let case = anomaly::Case::from_register(0, a);
                    let found = anomaly::find(h, &case);
                    found.witness.into_iter().chain(found.stuck).collect()
                }
                _ => Vec::new(),
            })
            .collect(),
        None => BTreeSet::new(),
    };

    let overview = match history {
        Some(h) => {
            let axis = Axis::of(h, r.duration_s);
            let shown = timeline::sample(h, &witness_ops, timeline::MAX_OPS);
            drawn.extend(shown.iter().copied());
            let marks = marks(&plan, &axis);
            let bands_here: &[Band] = if axis.timed { &bands } else { &[] };
            Some(overview(
                Pictures {
                    timeline: timeline::render(h, &axis, &shown, bands_here, &marks),
                    shown: shown.len(),
                    total: h.operations.len(),
                    samples: crate::results::build::samples(h),
                    axis,
                    txn: false,
                },
                &bands,
                &plan,
                r,
            ))
        }
        None => {
            notes.push(
                "history.jsonl is not kept with this run: the timeline, the plots and the \
                 anomaly pictures need it"
                    .into(),
            );
            None
        }
    };
    let body = body(r, &notes, overview, &sections, &anomalies, &plan);
    page::document(&title(r), body, history, &drawn, source)
}

fn title(r: &Results) -> String {
    format!(
        "{} seed {}: {}",
        r.experiment.name,
        r.seed,
        r.verdict.as_str()
    )
}

/// A run's page around its pictures and anomaly sections.
fn body(
    r: &Results,
    notes: &[String],
    overview: Option<Markup>,
    sections: &[Markup],
    anomalies: &[&Anomaly],
    plan: &PlanInfo,
) -> Markup {
    html! {
        (header(r, notes, anomalies))
        @if let Some(o) = overview { (o) }
        (faults_table(r))
        h2 #anomalies { "Anomalies" }
        @if r.checker.anomalies.is_empty() {
            p { "None: " (verdict_words(r)) "." }
        }
        @if let Some(t) = &r.checker.txn {
            @let omitted: u64 = t.anomalies_omitted.values().sum();
            @if omitted > 0 {
                p.note { (omitted) " more anomalies of the same names were found and only counted (results.json lists " (r.checker.anomalies.len()) ")." }
            }
        }
        @for a in sections { (a) }
        @if anomalies.len() > MAX_ANOMALY_VIEWS {
            h3 #more-anomalies { (anomalies.len() - MAX_ANOMALY_VIEWS) " more, in words" }
            p.note { "Only the first " (MAX_ANOMALY_VIEWS) " anomalies are drawn, to keep the page small; results.json has them all." }
            ul { @for a in anomalies.iter().skip(MAX_ANOMALY_VIEWS) {
                li {
                    b { (a.class()) } @if !r.checker.decides(a) { " (allowed)" } " " (a.explanation())
                }
            } }
        }
        @if !r.checker.undecided.is_empty() {
            h2 #undecided { "Undecided keys" }
            ul { @for u in &r.checker.undecided { li { "key " (u.key) ": " (u.reason) } } }
        }
        (details(r, plan))
        (logs(r))
    }
}

/// One transaction anomaly of a run, marked by whether the run's model
/// allows it.
fn txn_section(
    r: &Results,
    input: Option<&txn::TxnInput<'_>>,
    index: &HashMap<u32, usize>,
    a: &Anomaly,
    number: usize,
    drawn: &mut BTreeSet<usize>,
) -> Markup {
    let model = r.checker.txn.as_ref().map_or(
        crate::checker::txn::ConsistencyModel::StrictSerializable,
        |t| t.model,
    );
    let standing = if r.checker.decides(a) {
        txn::Standing::RulesOut(model)
    } else {
        txn::Standing::Allowed(model)
    };
    txn::section(input, index, a, number, standing, drawn)
}

/// The report of a list-append run.
fn render_txn_run(
    r: &Results,
    t: &txn::TxnInput<'_>,
    anomalies: &[&Anomaly],
    plan: &PlanInfo,
    bands: &[Band],
    notes: Vec<String>,
) -> String {
    let index = t.index();
    let mut drawn: BTreeSet<usize> = BTreeSet::new();
    let sections: Vec<Markup> = anomalies
        .iter()
        .take(MAX_ANOMALY_VIEWS)
        .enumerate()
        .map(|(i, a)| txn_section(r, Some(t), &index, a, i + 1, &mut drawn))
        .collect();
    // The timeline keeps every transaction of the anomalies drawn.
    let keep = drawn.clone();
    let (axis, spans) = txn::spans(t.history, r.duration_s);
    let shown = txn::sample(t, &keep, timeline::MAX_OPS);
    drawn.extend(shown.iter().copied());
    let marks = marks(plan, &axis);
    let bands_here: &[Band] = if axis.timed { bands } else { &[] };
    let overview = overview(
        Pictures {
            timeline: txn::timeline(t, &axis, &spans, &shown, bands_here, &marks),
            shown: shown.len(),
            total: t.history.txns.len(),
            samples: txn::samples(t),
            axis,
            txn: true,
        },
        bands,
        plan,
        r,
    );
    let body = body(r, &notes, Some(overview), &sections, anomalies, plan);
    page::document_with(
        &title(r),
        body,
        "{}",
        &txn::hover_data(t, &drawn),
        "history.jsonl",
    )
}

/// The end of the workload, marked on the time pictures.
fn marks(plan: &PlanInfo, axis: &Axis) -> Vec<Mark> {
    plan.duration_ms
        .map(|d| d as f64 / 1000.0)
        .filter(|d| axis.timed && *d < axis.end)
        .map(|d| Mark {
            at: d,
            label: "workload ends".into(),
        })
        .into_iter()
        .collect()
}

/// The top of a run's report.
fn header(r: &Results, notes: &[String], anomalies: &[&Anomaly]) -> Markup {
    let w = &r.workload;
    let status_words = match r.status {
        Status::Completed => "completed",
        Status::Interrupted => {
            "interrupted: stopped before its end; its faults were healed and the shorter history checked"
        }
        Status::Crashed => "crashed: chaos died during the run; its faults were healed afterwards",
    };
    html! {
        header {
            h1 { (r.experiment.name) " · seed " (r.seed) }
            @if !r.experiment.description.is_empty() { p { (r.experiment.description) } }
            div.top {
                span.verdict.(verdict_class(r.verdict)) { (r.verdict.as_str().to_uppercase()) }
                span { (verdict_words(r)) }
            }
            @if !r.checker.anomalies.is_empty() {
                nav.jump {
                    a.first-anomaly href="#anomaly-1" { "▸ Jump to the first anomaly" }
                    a href="#timeline" { "timeline" } a href="#latency" { "latency" } a href="#throughput" { "throughput" } a href="#recovery" { "recovery" } a href="#anomalies" { "anomalies" } a href="#faults" { "faults" } a href="#logs" { "node logs" }
                }
            } @else {
                nav.jump {
                    a href="#timeline" { "timeline" } a href="#latency" { "latency" } a href="#throughput" { "throughput" } a href="#recovery" { "recovery" } a href="#faults" { "faults" } a href="#logs" { "node logs" }
                }
            }
            @if let Some(t) = &r.checker.txn { (models(t)) }
            @if !anomalies.is_empty() {
                p.found {
                    "Anomalies: "
                    @for (i, a) in anomalies.iter().take(MAX_ANOMALY_VIEWS).enumerate() {
                        a href=(format!("#anomaly-{}", i + 1)) { (a.class()) " on " (a.subject()) @if !r.checker.decides(a) { " (allowed)" } }
                    }
                    @if anomalies.len() > MAX_ANOMALY_VIEWS {
                        a href="#more-anomalies" { "and " (anomalies.len() - MAX_ANOMALY_VIEWS) " more" }
                    }
                }
            }
            @for n in notes { p.note { (n) } }
            dl.meta {
                dt { "status" } dd { span.status.(r.status.as_str()) { (status_words) } }
                dt { "duration" } dd { (format!("{:.1} s", r.duration_s)) " (" (r.started_at) " to " (r.ended_at) ")" }
                dt { "experiment" } dd { code { (r.experiment.file) } " seed " (r.seed) }
                dt { "client" } dd { (r.target.client) " (" (r.target.read_mode) " reads)" }
                dt { "cluster" } dd {
                    @for (n, (image, services)) in images_by_service(r).iter().enumerate() {
                        @if n > 0 { "; " }
                        code { (image) } " (" (services.join(", ")) ")"
                    }
                    @if r.target.images.is_empty() { "-" }
                }
                dt { "chaos" } dd { (r.tool.name) " " (r.tool.version) }
                @if let Some(t) = &r.checker.txn {
                    dt { "transactions" } dd {
                        (w.ops.total()) ": " (w.ops.ok) " ok, " (w.ops.fail) " fail, " (w.ops.info) " info; " (format!("{:.1}", w.throughput_ok_per_s)) " ok per second"
                        @let finals = t.counts.transactions.saturating_sub(w.ops.total());
                        @if finals > 0 { "; and " (finals) " final reads (the checker counts " (t.counts.transactions) ")" }
                    }
                } @else {
                    dt { "ops" } dd { (w.ops.total()) ": " (w.ops.ok) " ok, " (w.ops.fail) " fail, " (w.ops.info) " info; " (format!("{:.1}", w.throughput_ok_per_s)) " ok ops/s" }
                }
                dt { "latency (ok)" } dd { (latency_words(&w.latency)) }
            }
            p.rerun { "Rerun: " code { (r.rerun) } }
        }
    }
}

/// The consistency models of a list-append run: the one it is held to,
/// Elle's `not` and `also-not`, and each model's verdict.
fn models(t: &crate::results::TxnSummary) -> Markup {
    let names = |ms: &[crate::checker::txn::ConsistencyModel]| {
        ms.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
    };
    html! {
        p.models {
            "Held to " b.model { (t.model) } ". "
            @if t.not.is_empty() {
                "The history rules out no model."
            } @else {
                "The history rules out: " b.not { "not " (names(&t.not)) }
                @if !t.also_not.is_empty() { "; " span.also-not { "also not " (names(&t.also_not)) } }
                "."
            }
        }
        p.modelrow {
            @for m in &t.models {
                span.model.(m.verdict.as_str()) title=(format!("{}: {}", m.model, m.verdict.as_str())) {
                    @match m.verdict {
                        crate::checker::Verdict::Valid => "✓ ",
                        crate::checker::Verdict::Invalid => "✗ ",
                        crate::checker::Verdict::Unknown => "? ",
                    }
                    (m.model)
                    @if m.model == t.model { " (held to)" }
                }
            }
        }
    }
}

/// What the run was set up as: compose project, the checker's figures,
/// the plan's clients.
fn details(r: &Results, plan: &PlanInfo) -> Markup {
    html! {
        h2 #details { "Run details" }
        dl.meta {
            dt { "compose" } dd { code { (r.target.compose_file) } " (project " (r.target.project) ")" }
            @if let Some(t) = &r.checker.txn {
                dt { "checker" } dd { "list-append (Elle's analysis): " (t.counts.transactions) " transactions, " (t.counts.micro_ops) " micro-ops over " (t.counts.keys) " keys, in " (format!("{:.0}", r.checker.elapsed_ms)) " ms" }
                dt { "graph" } dd { (t.graph.vertices) " transactions; edges ww " (t.graph.edges.ww) ", wr " (t.graph.edges.wr) ", rw " (t.graph.edges.rw) ", realtime " (t.graph.edges.realtime) ", process " (t.graph.edges.process) "; " (t.graph.cyclic_components) " cyclic components (largest " (t.graph.largest_component) ")" }
            } @else if let Some(f) = &r.checker.figures {
                dt { "checker" } dd { (r.workload.kind) @if let Some(m) = &r.checker.model { " held to " (m) } ": " (crate::report::figures_text(f)) ", in " (format!("{:.0}", r.checker.elapsed_ms)) " ms" }
            } @else {
                dt { "checker" } dd { (r.checker.keys) " keys: " (r.checker.keys_valid) " valid, " (r.checker.keys_invalid) " invalid, " (r.checker.keys_unknown) " unknown, in " (format!("{:.0}", r.checker.elapsed_ms)) " ms" }
            }
            dt { "in faults" } dd { (latency_words(&r.workload.latency_in_faults)) }
            dt { "outside" } dd { (latency_words(&r.workload.latency_outside_faults)) }
        }
        @if let Some(p) = &plan.rerun { p { "Print the plan again: " code { (p) } } }
        @if !plan.clients.is_empty() {
            p {
                "Clients as planned: "
                @for (n, c) in plan.clients.iter().enumerate() {
                    @if n > 0 { "; " }
                    (c.client) " → " (c.endpoint) " ("
                    @if !c.ops.is_empty() {
                        @if let Some(t) = c.expected_ops { (t) " ops: " }
                        (c.ops.iter().map(|(f, n)| format!("{n} {f}")).collect::<Vec<_>>().join(", ")) ")"
                    } @else if c.appends > 0 {
                        @if let Some(t) = c.expected_ops { (t) " transactions: " }
                        (c.reads) " reads, " (c.appends) " appends)"
                    } @else {
                        (c.reads) " reads, " (c.writes) " writes, " (c.cas) " cas)"
                    }
                }
            }
        }
    }
}

/// Each image and the services that ran it.
fn images_by_service(r: &Results) -> Vec<(String, Vec<String>)> {
    let mut by: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (service, image) in &r.target.images {
        by.entry(image).or_default().push(service.clone());
    }
    by.into_iter().map(|(i, s)| (i.to_string(), s)).collect()
}

fn latency_words(l: &crate::results::Latency) -> String {
    match (l.p50_ms, l.p99_ms, l.max_ms) {
        (Some(a), Some(b), Some(c)) => format!("p50 {a:.2} ms, p99 {b:.2} ms, max {c:.2} ms"),
        _ => "no ok ops".into(),
    }
}

/// The faults as they happened.
fn faults_table(r: &Results) -> Markup {
    html! {
        h2 #faults { "Faults" }
        @if r.faults.is_empty() { p { "No fault was planned." } } @else {
            table {
                tr { th { "#" } th { "kind" } th { "what" } th { "targets" } th { "applied" } th { "healed" } th { "ops ok again after" } th { "throughput back after" } th { "writes ok again after" } }
                @for f in &r.faults {
                    tr {
                        td.num { (f.id) }
                        td { (f.kind) }
                        td { (f.description) @if let Some(n) = &f.isolated { br; "isolated: " b { (n) } } @if let Some(e) = &f.error { br; b { "error: " } (e) } }
                        td { (if f.targets.is_empty() { "-".to_string() } else { f.targets.join(", ") }) }
                        td.num { (f.applied_at_ms.map(secs).unwrap_or_else(|| format!("not applied (planned {})", secs(f.planned_at_ms)))) }
                        td.num { (f.healed_at_ms.map(secs).unwrap_or_else(|| if f.applied_at_ms.is_some() { "NOT HEALED".into() } else { "-".into() })) }
                        td.num { (match (f.recovery_ms, f.healed_at_ms) { (Some(ms), _) => format!("{ms} ms"), (None, Some(_)) => "no op succeeded after it".into(), _ => "-".into() }) }
                        td.num { (match &f.recovery { Some(r) => match (r.throughput_ms, r.not_recovered) { (Some(ms), _) => format!("{ms} ms"), (None, Some(why)) => why.words().to_string(), (None, None) => "not recovered".into() }, None => "-".into() }) }
                        td.num { (match &f.recovery { Some(r) => r.write_ms.map(|ms| format!("{ms} ms")).unwrap_or_else(|| "no write succeeded after it".into()), None => "-".into() }) }
                    }
                }
            }
        }
    }
}

/// What the pictures over time are made of.
struct Pictures {
    /// The timeline's SVG.
    timeline: String,
    /// Operations or transactions drawn in it, and in the history.
    shown: usize,
    total: usize,
    /// Every completed op (or transaction), for the plots.
    samples: Vec<crate::results::OpSample>,
    axis: Axis,
    /// Transactions (list-append) rather than register ops.
    txn: bool,
}

/// The pictures over time: timeline, latency, throughput, recovery.
fn overview(p: Pictures, bands: &[Band], plan: &PlanInfo, r: &Results) -> Markup {
    let Pictures {
        timeline: timeline_svg,
        shown,
        total,
        samples,
        axis,
        txn,
    } = p;
    let what = if txn { "transactions" } else { "operations" };
    html! {
        h2 #timeline { "Timeline" }
        p.legend { (page::outcome_legend()) (page::fault_legend()) }
        @if shown < total {
            @if txn {
                p.note { "Showing " (shown) " of " (total) " transactions: every transaction of the anomalies drawn below, then info ones (up to a quarter), then ok and fail ones evenly spread over the run, in their proportions. The plots below count every transaction." }
            } @else {
                p.note { "Showing " (shown) " of " (total) " operations: every op of the anomalies' witnesses, then info ops (up to a quarter), then ok and fail ops evenly spread over the run, in their proportions. The plots below count every op; each anomaly below draws every op of its key." }
            }
        } @else if txn {
            p.note { "One bar per transaction, one lane per client process, grouped by the node that served it (a client keeps its lane under a new process id after an info transaction). Hover over a bar for its micro-ops, times and history.jsonl lines." }
        } @else {
            p.note { "One lane per client process, grouped by the node that served it (a client keeps its lane under a new process id after an info op). Hover over a bar for the op and its history.jsonl lines." }
        }
        div.figure #timeline-figure data-shown=(shown) data-what=(what) { (PreEscaped(timeline_svg)) }
        @if !axis.timed {
            p.note { "The history has no times: the x axis is the position in the history, and there are no latency or throughput plots." }
        } @else {
            (time_plots(&samples, axis.end, bands, plan, r, what))
        }
    }
}

/// Latency, throughput and recovery over a run of `end` seconds.
fn time_plots(
    samples: &[crate::results::OpSample],
    end: f64,
    bands: &[Band],
    plan: &PlanInfo,
    r: &Results,
    what: &str,
) -> Markup {
    html! {
        h2 #latency { "Latency" }
        p.legend {
            @for f in plots::FUNCTIONS.iter().filter(|f| samples.iter().any(|s| s.f == **f)) {
                @let (c, m) = plots::style_of(f);
                span.sw.mk style=(format!("color:{c}")) { (marker_glyph(m)) } (plots::function_label(f)) " "
            }
            "· filled: ok, hollow: fail or info · "
            b { "thick line: p50" } ", " "thin line: p99 of ok " (what) " per time bin "
            (page::fault_legend())
        }
        @if samples.len() > plots::MAX_POINTS {
            p.note {
                "Drawn: " (plots::thin(samples, plots::bin_width(end, 600), end, 1e-3).1)
                " of " (samples.len()) " " (what) ": those slower than the p99 of their time bin (up to a tenth of the points), and an even sample of the rest. The lines count every one."
            }
        }
        div.figure { (plot(plots::latency(samples, end, bands))) }
        h2 #throughput { "Throughput" }
        p.legend { (page::outcome_legend()) " · " (what) " completed, stacked, per second, by completion time " (page::fault_legend()) }
        div.figure { (plot(plots::throughput(samples, end, bands))) }
        (recovery(r, samples, plan))
    }
}

/// What a workload room draws of its run (bank, set: workloads without a
/// timeline of their own here), for [`render_room_run`].
pub struct RoomView {
    /// The room's pictures and words, first on the page (e.g. the bank's
    /// total over time).
    pub pictures: Markup,
    /// One section per anomaly, in the order of results.json's.
    pub sections: Vec<Markup>,
    /// Every completed op ([`crate::results::OpSample`]): the latency,
    /// throughput and recovery plots.
    pub samples: Vec<crate::results::OpSample>,
}

/// The report of a run whose workload room draws its own pictures: the
/// common header, the room's pictures, latency, throughput and recovery,
/// the faults, the anomalies (the room's sections), details and logs.
pub fn render_room_run(
    results: &Results,
    plan: Option<&serde_json::Value>,
    notes: &[String],
    view: RoomView,
) -> String {
    let r = results;
    let mut notes = notes.to_vec();
    let plan: PlanInfo = match plan {
        Some(v) => serde_json::from_value(v.clone()).unwrap_or_else(|e| {
            notes.push(format!(
                "plan.json was not understood ({e}); shown without it"
            ));
            PlanInfo::default()
        }),
        None => PlanInfo::default(),
    };
    let bands = bands(&r.faults);
    let anomalies = ordered(r);
    let end = view
        .samples
        .iter()
        .map(|s| s.completed_ns as f64 / 1e9)
        .fold(r.duration_s.min(1e9), f64::max)
        .max(1e-3);
    let overview = html! {
        (view.pictures)
        @if view.samples.is_empty() {
            p.note { "No completed operation: no latency or throughput plots." }
        } @else {
            (time_plots(&view.samples, end, &bands, &plan, r, "operations"))
        }
    };
    let body = body(r, &notes, Some(overview), &view.sections, &anomalies, &plan);
    page::document_with(&title(r), body, "{}", "{}", "history.jsonl")
}

/// The fault windows of a run as the plots shade them.
pub fn fault_bands(r: &Results) -> Vec<Band> {
    bands(&r.faults)
}

/// `plot`'s SVG, or a note saying why it could not be drawn.
pub fn figure(svg: Result<String, plots::PlotError>) -> Markup {
    html! { div.figure { (plot(svg)) } }
}

fn marker_glyph(m: plots::Marker) -> &'static str {
    match m {
        plots::Marker::Circle => "●",
        plots::Marker::Triangle => "▲",
        plots::Marker::Cross => "✕",
    }
}

fn plot(result: Result<String, plots::PlotError>) -> Markup {
    match result {
        Ok(svg) => html! { (PreEscaped(svg)) },
        Err(e) => html! { p.note { (e.to_string()) } },
    }
}

/// Recovery after each heal: the plot and the figures.
fn recovery(r: &Results, samples: &[crate::results::OpSample], plan: &PlanInfo) -> Markup {
    let heals: Vec<plots::Heal> = r
        .faults
        .iter()
        .filter_map(|f| {
            Some(plots::Heal {
                id: f.id,
                at: f.healed_at_ms? as f64 / 1000.0,
                recovery_ms: f.recovery_ms,
                throughput_ms: f.recovery.as_ref().and_then(|r| r.throughput_ms),
                level: f
                    .recovery
                    .as_ref()
                    .and_then(|r| r.level_ok_per_s.map(|l| l * r.share)),
            })
        })
        .collect();
    let workload_end = plan.duration_ms.map(|d| d as f64 / 1000.0);
    html! {
        h2 #recovery { "Recovery after each heal" }
        @if heals.is_empty() { p { "No fault was healed during the run." } } @else {
            p.legend {
                @for (n, h) in heals.iter().enumerate() {
                    span.sw style=(format!("background:{}", plots::CURVES[n % plots::CURVES.len()])) {}
                    "#" (h.id) " healed at " (format!("{:.3} s", h.at)) ": "
                    @match h.recovery_ms {
                        Some(ms) => { "ok again after " b { (ms) " ms" } " (circle)" }
                        None => {
                            "no op invoked after it succeeded"
                            @if workload_end.is_some_and(|e| h.at >= e - 0.5) { " (the workload was ending)" }
                        }
                    }
                    @if let Some(rec) = r.faults.iter().find(|f| f.id == h.id).and_then(|f| f.recovery.as_ref()) {
                        "; " (crate::report::throughput_recovery_text(rec))
                        @if rec.throughput_ms.is_some() { " (square; the dashed line is the share of the level)" }
                        "; " @match rec.write_ms {
                            Some(ms) => { "a write ok again after " b { (ms) " ms" } }
                            None => { "no write succeeded after it" }
                        }
                    }
                    br;
                }
            }
            div.figure { (plot(plots::recovery(samples, &heals))) }
        }
    }
}

/// Links to the node logs kept with the run (relative: they open from
/// disk, and from the daemon's `/runs/{n}/` too).
fn logs(r: &Results) -> Markup {
    html! {
        h2 #logs { "Node logs" }
        @if r.logs.is_empty() { p { "No node log was kept with this run." } } @else {
            ul { @for (service, path) in &r.logs { li { a href=(path) { (service) } " " code { (path) } } } }
        }
        @if !r.notes.is_empty() {
            h2 #notes { "Notes" }
            ul { @for n in &r.notes { li { (n) } } }
        }
    }
}

/// The page of a history checked by `chaos check --html`: the verdict,
/// the timeline, and each invalid key drawn as in a run's report.
/// `source` names the file (shown, and used for line references).
pub fn render_history(
    history: &History,
    report: &CheckReport,
    source: &str,
    format: crate::history::Format,
) -> String {
    let cases: Vec<anomaly::Case> = report
        .keys
        .iter()
        .filter(|k| k.verdict == checker::Verdict::Invalid)
        .enumerate()
        .filter_map(|(i, k)| anomaly::Case::from_key_report(i + 1, k))
        .collect();
    let mut drawn = BTreeSet::new();
    let sections: Vec<Markup> = cases
        .iter()
        .take(MAX_ANOMALY_VIEWS)
        .map(|c| anomaly::register(Some(history), c, &[], source, &mut drawn))
        .collect();
    let keep: BTreeSet<usize> = cases
        .iter()
        .flat_map(|c| {
            let f = anomaly::find(history, c);
            f.witness.into_iter().chain(f.stuck)
        })
        .collect();
    let axis = Axis::of(history, 0.0);
    let shown = timeline::sample(history, &keep, timeline::MAX_OPS);
    drawn.extend(shown.iter().copied());
    let verdict = crate::results::build::verdict(report.verdict);
    let body = html! {
        header {
            h1 { (source) }
            div.top {
                span.verdict.(verdict_class(verdict)) { (verdict.as_str().to_uppercase()) }
                span { (report.ops) " ops, " (report.keys.len()) " keys: " (report.count(checker::Verdict::Valid)) " valid, " (report.count(checker::Verdict::Invalid)) " invalid, " (report.count(checker::Verdict::Unknown)) " unknown" }
            }
            @if !cases.is_empty() { nav.jump { a.first-anomaly href="#anomaly-1" { "▸ Jump to the first anomaly" } } }
        }
        h2 #timeline { "Timeline" }
        p.legend { (page::outcome_legend()) }
        @if shown.len() < history.operations.len() {
            p.note { "Showing " (shown.len()) " of " (history.operations.len()) " operations: every op of the anomalies' witnesses, then info ops (up to a quarter), then ok and fail ops evenly spread, in their proportions. Each anomaly below draws every op of its key." }
        }
        @if !axis.timed { p.note { "The history has no times: the x axis is the position in the history." } }
        div.figure #timeline-figure data-shown=(shown.len()) { (PreEscaped(timeline::render(history, &axis, &shown, &[], &[]))) }
        h2 #anomalies { "Anomalies" }
        @if format != crate::history::Format::Chaos {
            p.note { "Lines of " (source) " (" (format.as_str()) " format) are shown as this tool's JSON, with their line numbers in the file." }
        }
        @if cases.is_empty() { p { "None." } }
        @for s in &sections { (s) }
        @if cases.len() > MAX_ANOMALY_VIEWS {
            p.note { "Only the first " (MAX_ANOMALY_VIEWS) " anomalies are drawn; the rest, in words:" }
            ul { @for c in cases.iter().skip(MAX_ANOMALY_VIEWS) { li { b { (c.class) " on key " (c.key) } " " (c.explanation) } } }
        }
        @let unknown: Vec<_> = report.keys.iter().filter(|k| k.verdict == checker::Verdict::Unknown).collect();
        @if !unknown.is_empty() {
            h2 #undecided { "Undecided keys" }
            ul { @for k in unknown { li { "key " (k.key_label()) ": " (k.reason.as_deref().unwrap_or("not decided")) } } }
        }
    };
    page::document(
        &format!("{source}: {}", verdict.as_str()),
        body,
        Some(history),
        &drawn,
        source,
    )
}

/// The page of a transaction history checked by `chaos check --html`:
/// the verdict for the model it was held to, the models it rules out, the
/// timeline of its transactions and each anomaly drawn as in a run's
/// report. `lines` are its lines' facts (empty for Elle's EDN); `format`
/// names the format (`elle-edn`, `chaos`).
pub fn render_txn_history(
    history: &crate::checker::txn::TxnHistory,
    lines: &[txn::LineFacts],
    report: &crate::checker::txn::TxnReport,
    source: &str,
    format: &str,
) -> String {
    let input = txn::TxnInput { history, lines };
    let index = input.index();
    let model = report.model;
    let all: Vec<Anomaly> = report
        .anomalies
        .iter()
        .cloned()
        .map(Anomaly::from)
        .collect();
    let decides =
        |a: &Anomaly| crate::checker::txn::models::ruled_out([a.class()]).contains(&model);
    let anomalies: Vec<&Anomaly> = all
        .iter()
        .filter(|a| decides(a))
        .chain(all.iter().filter(|a| !decides(a)))
        .collect();
    let mut drawn = BTreeSet::new();
    let sections: Vec<Markup> = anomalies
        .iter()
        .take(MAX_ANOMALY_VIEWS)
        .enumerate()
        .map(|(i, a)| {
            let standing = if decides(a) {
                txn::Standing::RulesOut(model)
            } else {
                txn::Standing::Allowed(model)
            };
            txn::section(Some(&input), &index, a, i + 1, standing, &mut drawn)
        })
        .collect();
    let keep = drawn.clone();
    let (axis, spans) = txn::spans(history, 0.0);
    let shown = txn::sample(&input, &keep, timeline::MAX_OPS);
    drawn.extend(shown.iter().copied());
    let verdict = crate::results::build::verdict(report.verdict);
    let summary = crate::results::TxnSummary {
        model,
        counts: report.counts,
        graph: report.graph,
        models: report.models.clone(),
        not: report.not.clone(),
        also_not: report.also_not.clone(),
        anomaly_types: report.anomaly_types.clone(),
        anomalies_omitted: report.anomalies_omitted.clone(),
        uncertainties: report.uncertainties.clone(),
    };
    let c = &report.counts;
    let decisive = anomalies.iter().filter(|a| decides(a)).count();
    let body = html! {
        header {
            h1 { (source) }
            div.top {
                span.verdict.(verdict_class(verdict)) { (verdict.as_str().to_uppercase()) }
                span { (c.transactions) " transactions (" (c.ok) " ok, " (c.fail) " fail, " (c.info) " info), " (c.micro_ops) " micro-ops over " (c.keys) " keys; " (decisive) " anomalies rule out " (model) ", " (anomalies.len() - decisive) " allowed by it" }
            }
            @if let Some(reason) = &report.reason { p.note { (reason) } }
            @if !anomalies.is_empty() { nav.jump { a.first-anomaly href="#anomaly-1" { "▸ Jump to the first anomaly" } } }
            (models(&summary))
        }
        h2 #timeline { "Timeline" }
        p.legend { (page::outcome_legend()) }
        @if shown.len() < history.txns.len() {
            p.note { "Showing " (shown.len()) " of " (history.txns.len()) " transactions: every transaction of the anomalies drawn below, then info ones (up to a quarter), then ok and fail ones evenly spread, in their proportions." }
        } @else {
            p.note { "One bar per transaction, one lane per process. Hover over a bar for its micro-ops, times and lines of " (source) "." }
        }
        @if !axis.timed { p.note { "The history has no times: the x axis is the position in the history." } }
        div.figure #timeline-figure data-shown=(shown.len()) data-what="transactions" { (PreEscaped(txn::timeline(&input, &axis, &spans, &shown, &[], &[]))) }
        h2 #anomalies { "Anomalies" }
        @if format != "chaos" {
            p.note { "Lines are those of " (source) " (" (format) " format)." }
        }
        @if anomalies.is_empty() { p { "None." } }
        @let omitted: u64 = report.anomalies_omitted.values().sum();
        @if omitted > 0 { p.note { (omitted) " more anomalies of the same names were found and only counted." } }
        @for s in &sections { (s) }
        @if anomalies.len() > MAX_ANOMALY_VIEWS {
            h3 #more-anomalies { (anomalies.len() - MAX_ANOMALY_VIEWS) " more, in words" }
            ul { @for a in anomalies.iter().skip(MAX_ANOMALY_VIEWS) { li { b { (a.class()) } @if !decides(a) { " (allowed)" } " " (a.explanation()) } } }
        }
    };
    page::document_with(
        &format!("{source}: {}", verdict.as_str()),
        body,
        "{}",
        &txn::hover_data(&input, &drawn),
        source,
    )
}
