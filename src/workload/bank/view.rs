//! The bank's part of report.html: the total each read saw over time (the
//! fault windows shaded, the total it must be as a dashed line, wrong
//! reads in black), and a section per anomaly with the read's balances and
//! the transfers in flight around it. Pure.

use maud::{Markup, html};

use super::Params;
use super::check::reads;
use crate::history::HistoryError;
use crate::html::{self, RoomView, plots};
use crate::results::Anomaly;
use crate::workload::PageInput;
use crate::workload::op::samples;

pub fn page(input: &PageInput<'_>) -> Result<String, HistoryError> {
    let r = input.results;
    let figures = r.checker.figures.clone().unwrap_or_default();
    let p = Params {
        accounts: figures["accounts"].as_u64().unwrap_or(0),
        total: figures["total"].as_u64().unwrap_or(0),
        ..Params::default()
    };
    let bands = html::fault_bands(r);
    let (pictures, samples) = match input.history {
        Some(text) => {
            let points: Vec<plots::Point> = reads(text, &p)?
                .into_iter()
                .map(|f| plots::Point {
                    at: f.at,
                    value: f.total as f64,
                    bad: f.wrong,
                })
                .collect();
            let end = points
                .iter()
                .map(|p| p.at)
                .fold(r.duration_s, f64::max)
                .max(1e-3);
            let wrong = points.iter().filter(|p| p.bad).count();
            let pictures = html! {
                h2 #bank { "The total over time" }
                p.legend {
                    (points.len()) " reads of all " (p.accounts) " accounts, each at its completion; "
                    "the dashed line is the total they must see (" (p.total) "); "
                    @if wrong > 0 { b { (wrong) " saw another total or a forbidden balance" } " (black). " } @else { "every read saw it. " }
                    "Fault windows are shaded."
                }
                (html::figure(plots::values(&points, Some(p.total as f64), end, &bands, "total of all accounts")))
            };
            (pictures, samples(text)?)
        }
        None => (
            html! { p.note { "history.jsonl is not kept with this run: the total over time needs it." } },
            Vec::new(),
        ),
    };
    let sections = r
        .checker
        .anomalies
        .iter()
        .enumerate()
        .map(|(i, a)| section(a, i + 1))
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

fn section(a: &Anomaly, number: usize) -> Markup {
    let details = match a {
        Anomaly::Workload(w) => Some(&w.details),
        _ => None,
    };
    html! {
        section.anomaly id=(format!("anomaly-{number}")) data-anomaly=(a.class()) {
            h3 { (a.class()) " on the " (a.subject()) }
            p.explanation { (a.explanation()) }
            @if let Some(d) = details {
                @if let Some(b) = d.get("read").and_then(|r| r.get("balances")).and_then(|b| b.as_array()) {
                    table {
                        tr { th { "account" } @for i in 0..b.len() { th { "a" (i) } } th { "total" } }
                        tr {
                            td { "balance" }
                            @for v in b { td { (v.as_i64().map_or("missing".to_string(), |v| v.to_string())) } }
                            td { b { (d.get("total").map(|t| t.to_string()).unwrap_or_default()) } " (must be " (d.get("expected").map(|t| t.to_string()).unwrap_or_default()) ")" }
                        }
                    }
                }
            }
        }
    }
}
