//! The daemon's figures in the Prometheus text format (`GET /metrics`):
//! runs by status and verdict, anomalies, faults applied and healed, heal
//! failures, run duration. Pure: counts in, text out.
//!
//! Run counts are rebuilt from the run index at start (they cover the whole
//! campaign); fault counts are this process's, from the runs' events (a
//! counter that restarts with the process, as Prometheus expects).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::index::RunRow;

/// Upper bounds (seconds) of the run-duration histogram's buckets.
const BUCKETS: [f64; 7] = [10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

/// What `/metrics` reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Ended runs by status (`completed`, `interrupted`, `crashed`, `error`).
    pub runs_by_status: BTreeMap<String, u64>,
    /// Completed runs by verdict (`valid`, `invalid`, `unknown`).
    pub runs_by_verdict: BTreeMap<String, u64>,
    pub anomalies: u64,
    pub faults_applied: u64,
    pub faults_healed: u64,
    pub heal_failures: u64,
    /// Cumulative counts per bucket of [`BUCKETS`], then +Inf.
    pub duration_buckets: [u64; BUCKETS.len() + 1],
    pub duration_sum_s: f64,
}

impl Metrics {
    /// Count an ended run (a row without an end is ignored).
    pub fn count_run(&mut self, row: &RunRow) {
        let Some(e) = &row.ended else {
            return;
        };
        *self.runs_by_status.entry(e.status.clone()).or_default() += 1;
        if e.status == "completed"
            && let Some(v) = &e.verdict
        {
            *self.runs_by_verdict.entry(v.clone()).or_default() += 1;
        }
        self.anomalies += e.anomalies;
        for (i, le) in BUCKETS.iter().enumerate() {
            if e.duration_s <= *le {
                self.duration_buckets[i] += 1;
            }
        }
        self.duration_buckets[BUCKETS.len()] += 1;
        self.duration_sum_s += e.duration_s;
    }
}

/// The Prometheus text of a campaign's figures; `paused` and `in_progress`
/// are gauges of the moment.
pub fn render(m: &Metrics, campaign: &str, paused: bool, in_progress: usize) -> String {
    let mut out = String::new();
    let c = format!("campaign=\"{}\"", escape(campaign));
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    family(
        &mut out,
        "chaos_runs_total",
        "counter",
        "Runs that ended, by status.",
    );
    for (status, n) in &m.runs_by_status {
        let _ = writeln!(
            out,
            "chaos_runs_total{{{c},status=\"{}\"}} {n}",
            escape(status)
        );
    }
    family(
        &mut out,
        "chaos_run_verdicts_total",
        "counter",
        "Completed runs by the checker's verdict.",
    );
    for (verdict, n) in &m.runs_by_verdict {
        let _ = writeln!(
            out,
            "chaos_run_verdicts_total{{{c},verdict=\"{}\"}} {n}",
            escape(verdict)
        );
    }
    for (name, help, value) in [
        (
            "chaos_anomalies_total",
            "Anomalies found by the checker.",
            m.anomalies,
        ),
        (
            "chaos_faults_applied_total",
            "Faults applied by this process.",
            m.faults_applied,
        ),
        (
            "chaos_faults_healed_total",
            "Faults healed by this process.",
            m.faults_healed,
        ),
        (
            "chaos_heal_failures_total",
            "Heals that failed (the fault stayed applied until a later heal).",
            m.heal_failures,
        ),
    ] {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name}{{{c}}} {value}");
    }
    family(
        &mut out,
        "chaos_run_duration_seconds",
        "histogram",
        "How long runs took, from start to results written.",
    );
    for (i, le) in BUCKETS.iter().enumerate() {
        let _ = writeln!(
            out,
            "chaos_run_duration_seconds_bucket{{{c},le=\"{le}\"}} {}",
            m.duration_buckets[i]
        );
    }
    let total = m.duration_buckets[BUCKETS.len()];
    let _ = writeln!(
        out,
        "chaos_run_duration_seconds_bucket{{{c},le=\"+Inf\"}} {total}"
    );
    let _ = writeln!(
        out,
        "chaos_run_duration_seconds_sum{{{c}}} {}",
        m.duration_sum_s
    );
    let _ = writeln!(out, "chaos_run_duration_seconds_count{{{c}}} {total}");
    family(
        &mut out,
        "chaos_daemon_paused",
        "gauge",
        "1 while the daemon is paused.",
    );
    let _ = writeln!(out, "chaos_daemon_paused{{{c}}} {}", u8::from(paused));
    family(
        &mut out,
        "chaos_runs_in_progress",
        "gauge",
        "Runs in progress now.",
    );
    let _ = writeln!(out, "chaos_runs_in_progress{{{c}}} {in_progress}");
    out
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::index::{Ended, Started};

    fn row(run: u64, status: &str, verdict: Option<&str>, anomalies: u64, s: f64) -> RunRow {
        RunRow {
            started: Started {
                run,
                campaign: "c".into(),
                experiment: "e".into(),
                k: Some(run),
                seed: run,
                project: "p".into(),
                trigger: "schedule".into(),
                utc: "x".into(),
            },
            run_dir: None,
            shrunk: None,
            ended: Some(Ended {
                run,
                status: status.into(),
                verdict: verdict.map(Into::into),
                anomalies,
                run_dir: None,
                reason: "r".into(),
                duration_s: s,
                utc: "x".into(),
                anomaly_kinds: Vec::new(),
                ok_per_s: None,
                recovery_s: None,
            }),
            pruned: false,
        }
    }

    #[test]
    fn the_text_format_counts_runs_faults_and_durations() {
        let mut m = Metrics::default();
        m.count_run(&row(1, "completed", Some("valid"), 0, 25.0));
        m.count_run(&row(2, "completed", Some("invalid"), 3, 45.0));
        m.count_run(&row(3, "error", None, 0, 2.0));
        m.faults_applied = 5;
        m.faults_healed = 5;
        let text = render(&m, "soak\"1", true, 1);
        for line in [
            "# TYPE chaos_runs_total counter",
            "chaos_runs_total{campaign=\"soak\\\"1\",status=\"completed\"} 2",
            "chaos_runs_total{campaign=\"soak\\\"1\",status=\"error\"} 1",
            "chaos_run_verdicts_total{campaign=\"soak\\\"1\",verdict=\"invalid\"} 1",
            "chaos_anomalies_total{campaign=\"soak\\\"1\"} 3",
            "chaos_faults_applied_total{campaign=\"soak\\\"1\"} 5",
            "chaos_heal_failures_total{campaign=\"soak\\\"1\"} 0",
            "chaos_run_duration_seconds_bucket{campaign=\"soak\\\"1\",le=\"10\"} 1",
            "chaos_run_duration_seconds_bucket{campaign=\"soak\\\"1\",le=\"30\"} 2",
            "chaos_run_duration_seconds_bucket{campaign=\"soak\\\"1\",le=\"+Inf\"} 3",
            "chaos_run_duration_seconds_sum{campaign=\"soak\\\"1\"} 72",
            "chaos_daemon_paused{campaign=\"soak\\\"1\"} 1",
            "chaos_runs_in_progress{campaign=\"soak\\\"1\"} 1",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
        // A row still running counts nothing.
        let mut open = row(4, "completed", Some("valid"), 0, 1.0);
        open.ended = None;
        let before = m.clone();
        m.count_run(&open);
        assert_eq!(m, before);
    }
}
