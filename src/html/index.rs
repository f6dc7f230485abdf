//! The daemon's index page: its runs, newest first, each linked to its
//! report at `/runs/{n}/report.html`, under a small header with the
//! daemon's state. The daemon fills [`IndexRow`]s and serves the text.
//!
//! Pure: rows in, HTML out.

use maud::html;

use super::page;
use crate::results::Verdict;

/// One run in the index, as the daemon knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRow {
    /// The run's number: its report is at `/runs/{number}/report.html`.
    pub number: u64,
    /// `None` while the run is going on (or if it ended without results).
    pub verdict: Option<Verdict>,
    /// `running`, `completed`, `interrupted`, `crashed`, ... as the daemon
    /// says it.
    pub status: String,
    pub experiment: String,
    pub seed: u64,
    /// UTC, RFC 3339.
    pub started_at: String,
    /// `None` while it runs.
    pub duration_s: Option<f64>,
    /// Whether the run has a report.html to link to yet.
    pub has_report: bool,
    /// The classes of the anomalies it found (`stale-read`, `G2-item`).
    pub anomalies: Vec<String>,
}

/// The index page: `state` is shown as a small table above the runs
/// (`("state", "running")`, `("campaign", "nightly")`, ...); rows are
/// listed newest (highest number) first whatever their order here.
pub fn render_index(rows: &[IndexRow], state: &[(String, String)]) -> String {
    let mut rows: Vec<&IndexRow> = rows.iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.number));
    let body = html! {
        header {
            h1 { "chaos: runs" }
            @if !state.is_empty() {
                dl.meta.state {
                    @for (k, v) in state { dt { (k) } dd { (v) } }
                }
            }
        }
        @if rows.is_empty() { p { "No run yet." } } @else {
            table.runs {
                tr { th { "run" } th { "verdict" } th { "status" } th { "experiment" } th { "seed" } th { "started (UTC)" } th { "duration" } th { "report" } }
                @for r in &rows {
                    tr data-run=(r.number) {
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
                        td {
                            @if r.has_report {
                                a href=(format!("/runs/{}/report.html", r.number)) { "report" }
                            } @else { "-" }
                        }
                    }
                }
            }
        }
    };
    page::document("chaos: runs", body, None, &Default::default(), "history")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(number: u64, verdict: Option<Verdict>) -> IndexRow {
        IndexRow {
            number,
            verdict,
            status: if verdict.is_some() {
                "completed"
            } else {
                "running"
            }
            .into(),
            experiment: "etcd-<pause>".into(),
            seed: 7,
            started_at: "2026-11-29T21:10:13.626Z".into(),
            duration_s: verdict.map(|_| 41.0),
            has_report: verdict.is_some(),
            anomalies: Vec::new(),
        }
    }

    #[test]
    fn newest_first_linked_and_escaped() {
        let page = render_index(
            &[
                row(1, Some(Verdict::Valid)),
                row(3, None),
                row(2, Some(Verdict::Invalid)),
            ],
            &[("state".into(), "running campaign <nightly>".into())],
        );
        let at = |n: u64| page.find(&format!("data-run=\"{n}\"")).unwrap();
        assert!(at(3) < at(2) && at(2) < at(1));
        assert!(page.contains(r#"href="/runs/2/report.html""#));
        assert!(
            !page.contains(r#"href="/runs/3/report.html""#),
            "no report yet"
        );
        assert!(page.contains("etcd-&lt;pause&gt;") && page.contains("campaign &lt;nightly&gt;"));
        assert!(page.contains("INVALID"));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
