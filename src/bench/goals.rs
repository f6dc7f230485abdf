//! The cluster's goals (under 100 ms per query, more than 1,000 requests
//! per second, node start-up under 30 s) and their evaluation from a
//! bench's figures: each goal met, not met, or not measured (with why).
//!
//! Readings, fixed here so that every report says the same:
//! - latency: p99 from each op's intended start, every kind and outcome, at
//!   the rate achieved in the judged step, strictly under the bound;
//! - throughput: ok ops per second in the judged step, strictly above the
//!   bound (a CAS that lost its compare is a `fail`, not counted);
//! - start-up: the cluster from `compose up` to every service healthy, and
//!   one node from its restart to an op through it succeeding again, each
//!   strictly under the bound.
//!
//! Pure, like its parent: depends on nothing but it and the pure core.

use serde::{Deserialize, Serialize};

use super::{LoadSummary, RestartReport, fmt_ms, thousands};

/// The bounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Goals {
    pub latency_p99_ms: f64,
    pub throughput_ok_per_s: f64,
    pub startup_s: f64,
}

impl Default for Goals {
    fn default() -> Self {
        Goals {
            latency_p99_ms: 100.0,
            throughput_ok_per_s: 1_000.0,
            startup_s: 30.0,
        }
    }
}

/// The cluster's start-up, as measured (or why not).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Startup {
    /// From `compose up` of a project with no containers until every
    /// service was healthy.
    pub cluster_ms: Option<f64>,
    /// Why `cluster_ms` is missing.
    pub cluster_note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GoalStatus {
    Met,
    NotMet,
    NotMeasured,
}

impl GoalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GoalStatus::Met => "met",
            GoalStatus::NotMet => "NOT MET",
            GoalStatus::NotMeasured => "not measured",
        }
    }
}

/// One goal, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalResult {
    /// `latency`, `throughput`, `cluster-startup`, `node-restart`.
    pub goal: String,
    /// The bound in words: `p99 < 100 ms`.
    pub target: String,
    pub status: GoalStatus,
    /// The figure compared with the bound (ms, ops/s or s), if measured.
    pub value: Option<f64>,
    /// The figure in words, with its context, or why it is missing.
    pub figure: String,
}

fn judged(goal: &str, target: String, value: Option<f64>, met: impl Fn(f64) -> bool) -> GoalResult {
    GoalResult {
        goal: goal.to_string(),
        target,
        status: match value {
            None => GoalStatus::NotMeasured,
            Some(v) if met(v) => GoalStatus::Met,
            Some(_) => GoalStatus::NotMet,
        },
        value,
        figure: String::new(),
    }
}

/// Judge every goal. `load` is the judged step (none when no load ran),
/// `restart` the node restart (none when it was skipped, with `why`).
pub fn evaluate(
    goals: &Goals,
    load: Option<&LoadSummary>,
    startup: &Startup,
    restart: Result<&RestartReport, &str>,
) -> Vec<GoalResult> {
    let mut out = Vec::new();

    let p99 = load.and_then(|l| l.latency.p99_ms);
    let mut g = judged(
        "latency",
        format!("p99 < {} ms", fmt_ms(goals.latency_p99_ms)),
        p99,
        |v| v < goals.latency_p99_ms,
    );
    g.figure = match (load, p99) {
        (Some(l), Some(p99)) => format!(
            "p99 {} ms at {} ops/s achieved ({} offered, {} clients)",
            fmt_ms(p99),
            thousands(l.throughput_per_s.round() as u64),
            thousands(l.target_rate),
            l.clients
        ),
        (Some(_), None) => "no op completed".to_string(),
        (None, _) => "no load was offered".to_string(),
    };
    out.push(g);

    let ok = load.map(|l| l.throughput_ok_per_s);
    let mut g = judged(
        "throughput",
        format!(
            "> {} ok ops/s",
            thousands(goals.throughput_ok_per_s.round() as u64)
        ),
        ok,
        |v| v > goals.throughput_ok_per_s,
    );
    g.figure = match load {
        Some(l) => format!(
            "{} ok ops/s ({} ops/s in all, {} offered)",
            thousands(l.throughput_ok_per_s.round() as u64),
            thousands(l.throughput_per_s.round() as u64),
            thousands(l.target_rate)
        ),
        None => "no load was offered".to_string(),
    };
    out.push(g);

    let bound = format!("< {} s", goals.startup_s);
    let secs = startup.cluster_ms.map(|ms| ms / 1_000.0);
    let mut g = judged("cluster-startup", bound.clone(), secs, |v| {
        v < goals.startup_s
    });
    g.figure = match secs {
        Some(s) => format!(
            "{s:.1} s from starting the cluster (compose up, or stack deploy) to every service healthy"
        ),
        None => startup
            .cluster_note
            .clone()
            .unwrap_or_else(|| "not measured".to_string()),
    };
    out.push(g);

    let (secs, figure) = match restart {
        Ok(r) => match r.to_serving_ms {
            Some(ms) => (
                Some(ms / 1_000.0),
                format!(
                    "{:.1} s from restarting {} to an op through it succeeding{}",
                    ms / 1_000.0,
                    r.service,
                    r.to_healthy_ms
                        .map(|h| format!(" (running and healthy after {:.1} s)", h / 1_000.0))
                        .unwrap_or_default()
                ),
            ),
            None => (
                None,
                format!(
                    "{} did not serve again: {}",
                    r.service,
                    r.error.as_deref().unwrap_or("no op through it succeeded")
                ),
            ),
        },
        Err(why) => (None, why.to_string()),
    };
    let mut g = judged("node-restart", bound, secs, |v| v < goals.startup_s);
    if restart.is_ok_and(|r| r.to_serving_ms.is_none()) {
        // It was measured, and never served again: that is a miss.
        g.status = GoalStatus::NotMet;
    }
    g.figure = figure;
    out.push(g);
    out
}
