//! The transaction checker: Elle's list-append analysis, in Rust. Does a
//! history of transactions over append-only lists show an anomaly, and
//! which consistency models does it rule out?
//!
//! Public API:
//! - [`parse`]`(text, TxnFormat) -> Result<TxnHistory, HistoryError>`:
//!   Elle/Jepsen EDN ([`edn`]) or chaos's JSONL ([`jsonl`]); errors name
//!   the line. [`TxnHistory::from_lines`] builds one in memory from
//!   [`TxnLine`]s (the JSONL line's serde type, for writers).
//! - [`check`]`(&TxnHistory, &TxnCheckOptions) -> TxnReport`: the verdict
//!   for the model the history is held to ([`ConsistencyModel`], default
//!   strict-serializable), the verdict for each of the six models, Elle's
//!   `not` / `also-not`, every [`Anomaly`] with its explanation, and what
//!   the budget left undecided. A verdict is data, never an error.
//! - [`render`] (and `Display`): the report for a terminal.
//!
//! Inside, bottom up: [`history`] (the model and pairing), [`edn`] and
//! [`jsonl`] (the formats), `analysis` (version orders, and the anomalies
//! that need no cycle), `graph` (ww/wr/rw plus realtime or process edges;
//! Tarjan), `cycles` (the per-component search, within the budget),
//! [`models`] (Elle's anomaly and model tables), `explain` (anomalies as
//! data and words).
//!
//! Semantics (Elle's): `ok` transactions happened; `fail` ones did not;
//! `info` ones (and invocations that never completed) may have happened,
//! and did if a read saw one of their appends. A history is invalid for a
//! model exactly when it shows an anomaly the model forbids; unknown when
//! nothing it forbids was found but something could not be decided (the
//! cycle search ran out of budget, no dependency could be inferred at all,
//! or an element was appended twice, which the analysis cannot handle).
//!
//! Pure: no IO, no clock (time enters through the caller's
//! [`crate::checker::Clock`]), no async runtime.

pub mod edn;
pub mod history;
pub mod jsonl;
pub mod models;

mod analysis;
mod cycles;
mod explain;
mod graph;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checker::{Clock, Verdict};
use crate::history::{HistoryError, Outcome};

pub use explain::{
    Anomaly, CycleAnomaly, KeyAnomaly, ReadAnomaly, Relation, Step, TxnAnomaly, TxnRef,
};
pub use graph::{EdgeCounts, OrderEdges};
pub use history::{
    Event, KeyId, MicroOp, Mop, Span, Txn, TxnFunction, TxnHistory, TxnLine, key_text, txn_text,
    txn_text_short,
};
pub use models::{ConsistencyModel, UnknownModel};

/// The formats a transaction history comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnFormat {
    /// Elle's and Jepsen's EDN, one op map per line.
    ElleEdn,
    /// chaos's JSONL with `"f":"txn"` lines.
    Chaos,
}

/// Parse a transaction history.
pub fn parse(text: &str, format: TxnFormat) -> Result<TxnHistory, HistoryError> {
    match format {
        TxnFormat::ElleEdn => edn::parse(text),
        TxnFormat::Chaos => jsonl::parse(text),
    }
}

/// How to check.
#[derive(Clone)]
pub struct TxnCheckOptions {
    /// The model the database is held to: the verdict is about it.
    pub model: ConsistencyModel,
    /// The order edges beside the data dependencies (realtime by default,
    /// as Elle uses for strict serializability).
    pub order: OrderEdges,
    /// Give up the cycle search after this long (measured with `clock`).
    pub budget: Duration,
    /// Without one, the search is not limited in time.
    pub clock: Option<Arc<dyn Clock>>,
    /// At most this many anomalies of one name are reported in full; the
    /// rest are counted.
    pub max_cases: usize,
}

impl Default for TxnCheckOptions {
    fn default() -> Self {
        TxnCheckOptions {
            model: ConsistencyModel::StrictSerializable,
            order: OrderEdges::Realtime,
            budget: Duration::from_secs(60),
            clock: None,
            max_cases: 1000,
        }
    }
}

impl fmt::Debug for TxnCheckOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxnCheckOptions")
            .field("model", &self.model)
            .field("order", &self.order)
            .field("budget", &self.budget)
            .field("clock", &self.clock.is_some())
            .field("max_cases", &self.max_cases)
            .finish()
    }
}

/// A model and the history's verdict for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVerdict {
    pub model: ConsistencyModel,
    pub verdict: Verdict,
}

/// Something that leaves a verdict unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Uncertainty {
    /// The budget ran out in a strongly connected component (Elle's
    /// `cycle-search-timeout`).
    CycleSearchTimeout {
        component_size: u64,
        /// The class being searched when it ran out.
        searching: String,
        /// Classes neither found nor ruled out there.
        unresolved: Vec<String>,
    },
    /// No dependency between any two transactions could be inferred
    /// (Elle's `empty-transaction-graph`): nothing was really checked.
    EmptyTransactionGraph,
    /// An element was appended to a key twice; the analysis needs unique
    /// appends (Elle's `duplicate-appends`).
    DuplicateAppends {
        key: crate::history::Key,
        element: u64,
        lines: [u32; 2],
    },
}

/// Counts of what was checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnCounts {
    pub transactions: u64,
    pub ok: u64,
    pub info: u64,
    pub fail: u64,
    pub micro_ops: u64,
    pub keys: u64,
    /// Lines skipped (other processes, other functions).
    pub skipped_lines: u64,
}

/// The dependency graph, in numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphStats {
    /// Transactions in the graph (`ok`, and `info` ones seen to commit).
    pub vertices: u64,
    pub edges: EdgeCounts,
    /// Strongly connected components of two or more transactions.
    pub cyclic_components: u64,
    pub largest_component: u64,
}

/// The verdict on a transaction history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnReport {
    /// For `model`.
    pub verdict: Verdict,
    pub model: ConsistencyModel,
    /// Why the verdict is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub counts: TxnCounts,
    pub order: OrderEdges,
    pub graph: GraphStats,
    /// The verdict for each of the six models, strongest first.
    pub models: Vec<ModelVerdict>,
    /// Elle's boundary: the weakest models ruled out...
    pub not: Vec<ConsistencyModel>,
    /// ...and the stronger ones ruled out with them.
    pub also_not: Vec<ConsistencyModel>,
    /// Names of the anomalies found, sorted.
    pub anomaly_types: Vec<String>,
    /// The anomalies, by name, at most `max_cases` of each.
    pub anomalies: Vec<Anomaly>,
    /// How many more of each name were found than are listed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub anomalies_omitted: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncertainties: Vec<Uncertainty>,
}

impl TxnReport {
    /// The verdict for one model.
    pub fn verdict_for(&self, model: ConsistencyModel) -> Verdict {
        self.models
            .iter()
            .find(|m| m.model == model)
            .map_or(Verdict::Unknown, |m| m.verdict)
    }
}

fn counts(h: &TxnHistory) -> TxnCounts {
    let count = |o: Outcome| h.txns.iter().filter(|t| t.outcome == o).count() as u64;
    TxnCounts {
        transactions: h.txns.len() as u64,
        ok: count(Outcome::Ok),
        info: count(Outcome::Info),
        fail: count(Outcome::Fail),
        micro_ops: h.mop_count() as u64,
        keys: h.keys().len() as u64,
        skipped_lines: h.skipped_lines as u64,
    }
}

/// Check a history (see the module docs).
pub fn check(h: &TxnHistory, options: &TxnCheckOptions) -> TxnReport {
    let counts = counts(h);
    let a = match analysis::analyze(h) {
        Ok(a) => a,
        Err(dup) => {
            let line = |t: u32| h.txns[t as usize].invoke.line;
            let uncertainty = Uncertainty::DuplicateAppends {
                key: h.key(dup.key).clone(),
                element: dup.element,
                lines: [line(dup.first), line(dup.second)],
            };
            let reason = format!(
                "element {} is appended to key {} twice (lines {} and {}); the analysis needs \
                 every append to a key to be unique",
                dup.element,
                key_text(h.key(dup.key)),
                line(dup.first),
                line(dup.second)
            );
            return finish(
                options,
                counts,
                GraphStats::default(),
                Vec::new(),
                BTreeMap::new(),
                BTreeSet::new(),
                vec![uncertainty],
                Some(reason),
            );
        }
    };
    let g = graph::build(h, &a, options.order);
    let (comp, count) = graph::components(&g, 0xff);
    let sccs = graph::cyclic_components(&comp, count);
    let mut stats = GraphStats {
        vertices: a.vertex.iter().filter(|&&v| v).count() as u64,
        edges: EdgeCounts::of(&g),
        cyclic_components: sccs.len() as u64,
        largest_component: sccs.iter().map(|s| s.len() as u64).max().unwrap_or(0),
    };
    if g.edges() == 0 {
        stats.vertices = 0;
    }

    let mut budget = cycles::Budget::new(options.clock.as_deref(), options.budget);
    let mut scratch = Vec::new();
    let mut unresolved: BTreeSet<&'static str> = BTreeSet::new();
    let mut uncertainties = Vec::new();
    let mut found: BTreeMap<String, Vec<Anomaly>> = BTreeMap::new();
    let mut omitted: BTreeMap<String, u64> = BTreeMap::new();
    let explainer = explain::Explainer { h, a: &a };
    let mut add =
        |found: &mut BTreeMap<String, Vec<Anomaly>>, name: &str, make: &dyn Fn() -> Anomaly| {
            let list = found.entry(name.to_string()).or_default();
            if list.len() < options.max_cases {
                list.push(make());
            } else {
                *omitted.entry(name.to_string()).or_default() += 1;
            }
        };
    let search_order = models::cycle_search_order();
    for scc in &sccs {
        let report = cycles::search_component(
            &g,
            scc,
            options.order.rel(),
            &search_order,
            &mut scratch,
            &mut budget,
        );
        for f in &report.found {
            add(&mut found, f.name, &|| {
                Anomaly::Cycle(explainer.cycle(f.name, &f.cycle))
            });
        }
        if let Some(searching) = report.timed_out {
            uncertainties.push(Uncertainty::CycleSearchTimeout {
                component_size: report.size as u64,
                searching: searching.to_string(),
                unresolved: report.unresolved.iter().map(|s| s.to_string()).collect(),
            });
        }
        unresolved.extend(report.unresolved);
    }
    for f in &a.findings {
        add(&mut found, f.name(), &|| explainer.finding(f));
    }
    let mut reason = None;
    if g.edges() == 0 {
        uncertainties.push(Uncertainty::EmptyTransactionGraph);
        reason = Some(
            "no dependency between any two transactions could be inferred (an empty \
             transaction graph): nothing was really checked"
                .to_string(),
        );
    } else if let Some(Uncertainty::CycleSearchTimeout {
        component_size,
        searching,
        ..
    }) = uncertainties.first()
    {
        reason = Some(format!(
            "the cycle search ran out of its budget of {} in a strongly connected component \
             of {component_size} transactions, looking for {searching}; not decided: {}",
            crate::duration::format(options.budget),
            unresolved.iter().copied().collect::<Vec<_>>().join(", ")
        ));
    }
    finish(
        options,
        counts,
        stats,
        found.into_values().flatten().collect(),
        omitted,
        unresolved,
        uncertainties,
        reason,
    )
}

/// Verdicts from what was found and what was left undecided.
#[allow(clippy::too_many_arguments)]
fn finish(
    options: &TxnCheckOptions,
    counts: TxnCounts,
    graph: GraphStats,
    anomalies: Vec<Anomaly>,
    omitted: BTreeMap<String, u64>,
    unresolved: BTreeSet<&'static str>,
    uncertainties: Vec<Uncertainty>,
    reason: Option<String>,
) -> TxnReport {
    let names: BTreeSet<String> = anomalies
        .iter()
        .map(|a| a.name().to_string())
        .chain(omitted.keys().cloned())
        .collect();
    let ruled = models::ruled_out(names.iter().map(String::as_str));
    let blind = uncertainties
        .iter()
        .any(|u| !matches!(u, Uncertainty::CycleSearchTimeout { .. }));
    let models: Vec<ModelVerdict> = ConsistencyModel::ALL
        .into_iter()
        .map(|model| {
            let verdict = if ruled.contains(&model) {
                Verdict::Invalid
            } else if blind
                || models::prohibited(model)
                    .iter()
                    .any(|a| unresolved.contains(a))
            {
                Verdict::Unknown
            } else {
                Verdict::Valid
            };
            ModelVerdict { model, verdict }
        })
        .collect();
    let (not, also_not) = models::boundary(&ruled);
    let verdict = models
        .iter()
        .find(|m| m.model == options.model)
        .map_or(Verdict::Unknown, |m| m.verdict);
    TxnReport {
        verdict,
        model: options.model,
        reason: (verdict == Verdict::Unknown).then_some(reason).flatten(),
        counts,
        order: options.order,
        graph,
        models,
        not,
        also_not,
        anomaly_types: names.into_iter().collect(),
        anomalies,
        anomalies_omitted: omitted,
        uncertainties,
    }
}

/// How many anomalies of one name the text report shows.
const SHOWN_PER_NAME: usize = 3;

/// The report for a terminal: the verdict, the models, then each anomaly
/// in words with its transactions.
pub fn render(report: &TxnReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let c = &report.counts;
    let headline = match report.verdict {
        Verdict::Valid => format!("VALID: {}", report.model),
        Verdict::Invalid => format!("INVALID: not {}", report.model),
        Verdict::Unknown => format!("UNKNOWN: {} not decided", report.model),
    };
    let _ = writeln!(
        out,
        "{headline} ({} transactions: {} ok, {} info, {} fail; {} micro-ops over {} keys)",
        c.transactions, c.ok, c.info, c.fail, c.micro_ops, c.keys
    );
    if let Some(reason) = &report.reason {
        let _ = writeln!(out, "  {reason}");
    }
    let verdicts: Vec<String> = report
        .models
        .iter()
        .map(|m| format!("{} {}", m.model, m.verdict))
        .collect();
    let _ = writeln!(out, "models: {}", verdicts.join(", "));
    if !report.not.is_empty() {
        let list =
            |ms: &[ConsistencyModel]| ms.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
        let also = if report.also_not.is_empty() {
            String::new()
        } else {
            format!("; also not {}", list(&report.also_not))
        };
        let _ = writeln!(out, "not {}{also}", list(&report.not));
    }
    let g = &report.graph;
    let _ = writeln!(
        out,
        "graph: {} transactions, edges ww {} wr {} rw {} {} {}; {} cyclic components (largest {})",
        g.vertices,
        g.edges.ww,
        g.edges.wr,
        g.edges.rw,
        report.order.as_str(),
        g.edges.realtime + g.edges.process,
        g.cyclic_components,
        g.largest_component
    );
    if report.anomaly_types.is_empty() {
        let _ = writeln!(out, "no anomalies");
    }
    for name in &report.anomaly_types {
        let of_name: Vec<&Anomaly> = report
            .anomalies
            .iter()
            .filter(|a| a.name() == name)
            .collect();
        let total = of_name.len() as u64 + report.anomalies_omitted.get(name).copied().unwrap_or(0);
        let _ = writeln!(out, "{name}: {total} found");
        for a in of_name.iter().take(SHOWN_PER_NAME) {
            let _ = writeln!(out, "  {}", a.explanation());
            for t in txns_of(a) {
                let _ = writeln!(
                    out,
                    "    {} = line {}{}, process {}, {}: {}",
                    t.name,
                    t.invoke_line,
                    t.complete_line.map(|l| format!("-{l}")).unwrap_or_default(),
                    t.process,
                    match t.outcome {
                        Outcome::Ok => "ok",
                        Outcome::Fail => "fail",
                        Outcome::Info => "info",
                    },
                    txn_text_short(&t.value)
                );
            }
        }
        if total > SHOWN_PER_NAME as u64 {
            let _ = writeln!(
                out,
                "  ({} more; --json lists them)",
                total - SHOWN_PER_NAME as u64
            );
        }
    }
    out
}

fn txns_of(a: &Anomaly) -> Vec<&TxnRef> {
    match a {
        Anomaly::Cycle(c) => c.txns.iter().collect(),
        Anomaly::Read(r) => std::iter::once(&r.reader)
            .chain(r.writer.as_ref())
            .collect(),
        Anomaly::Txn(t) => vec![&t.txn],
        Anomaly::Key(k) => k.txns.iter().collect(),
    }
}

impl fmt::Display for TxnReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self))
    }
}
