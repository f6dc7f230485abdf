//! One run as the daemon's run index knows it ([`IndexRow`]): what the
//! control room's run table (`html::campaign`) draws a row from. The
//! daemon fills the rows.
//!
//! Pure: data only.

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
