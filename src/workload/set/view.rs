//! The set's part of report.html: the set's size as each read saw it over
//! time (the fault windows shaded; reads that missed a known element in
//! black), the elements by fate, and a section per anomaly. Pure.

use maud::{Markup, html};

use super::check::analyse;
use crate::history::HistoryError;
use crate::html::{self, RoomView, plots};
use crate::results::Anomaly;
use crate::workload::PageInput;
use crate::workload::lost::Fate;
use crate::workload::op::samples;

pub fn page(input: &PageInput<'_>) -> Result<String, HistoryError> {
    let r = input.results;
    let bands = html::fault_bands(r);
    let figures = r.checker.figures.clone().unwrap_or_default();
    let (pictures, samples) = match input.history {
        Some(text) => {
            let (reads, elements) = analyse(text)?;
            // A read is drawn black when it missed an element that was
            // known before it began (a stale or lost element).
            let points: Vec<plots::Point> = reads
                .iter()
                .map(|read| {
                    let missed = elements.values().any(|e| {
                        matches!(e.fate, Some(Fate::Lost | Fate::Stale))
                            && e.known.is_some_and(|k| k < read.start)
                            && !read.elements.contains(&e.value)
                    });
                    plots::Point {
                        at: read.end as f64 / 1e9,
                        value: read.elements.len() as f64,
                        bad: missed,
                    }
                })
                .collect();
            let end = points
                .iter()
                .map(|p| p.at)
                .fold(r.duration_s, f64::max)
                .max(1e-3);
            let pictures = html! {
                h2 #set { "The set over time" }
                p.legend {
                    (reads.len()) " reads of the whole set, each at its completion, by how many elements it saw; "
                    "black: a read that missed an element known before it began. Fault windows are shaded."
                }
                (html::figure(plots::values(&points, None, end, &bands, "elements read")))
                (fates(&figures))
            };
            (pictures, samples(text)?)
        }
        None => (
            html! { p.note { "history.jsonl is not kept with this run: the set over time needs it." } (fates(&figures)) },
            Vec::new(),
        ),
    };
    let sections = r
        .checker
        .anomalies
        .iter()
        .enumerate()
        .map(|(i, a)| section(a, i + 1, r.checker.decides(a)))
        .collect();
    Ok(html::render_room_run(
        r,
        input.plan,
        input.notes,
        RoomView {
            pictures,
            sections,
            samples,
        },
    ))
}

fn fates(f: &serde_json::Value) -> Markup {
    let n = |k: &str| f.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let ms = |k: &str| {
        f["visibility_latency_ms"][k]
            .as_f64()
            .map_or("-".to_string(), |v| format!("{v:.1} ms"))
    };
    html! {
        table.fates {
            tr { th { "attempted" } th { "acknowledged" } th { "ok" } th { "lost" } th { "stale" } th { "never read" } th { "unexpected" } }
            tr { td { (n("attempted")) } td { (n("acknowledged")) } td { (n("ok")) } td { b { (n("lost")) } } td { (n("stale")) } td { (n("never_read")) } td { b { (n("unexpected")) } } }
        }
        p { "From an add's acknowledgement to the read from which it is always seen: p50 " (ms("p50")) ", p95 " (ms("p95")) ", max " (ms("max")) "." }
    }
}

fn section(a: &Anomaly, number: usize, decisive: bool) -> Markup {
    html! {
        section.anomaly id=(format!("anomaly-{number}")) data-anomaly=(a.class()) data-decisive=(decisive) {
            h3 { (a.class()) ": " (a.subject()) @if !decisive { " (allowed by the model)" } }
            p.explanation { (a.explanation()) }
        }
    }
}
