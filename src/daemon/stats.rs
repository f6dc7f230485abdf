//! The campaign at a glance, computed from the run index's rows: per
//! experiment, runs by outcome (valid, invalid, unknown, error,
//! interrupted), the anomaly kinds seen, the median ok ops/s and the
//! median recovery after a heal; each run as a point in time (for the
//! strip and the plots); and the run table's filters and pages.
//! `GET /api/v1/stats`, the daemon's page and `chaos daemon status` all
//! show these numbers.
//!
//! Pure: rows in, numbers out. It must not depend on the shell (no index
//! file, no clock, no HTTP, no runtime): the caller hands it the rows it
//! folded.

use std::collections::BTreeMap;

use serde::Serialize;

use super::index::{Ended, RunRow, Started};
use crate::results::Results;

/// What a run's results say that the index keeps for the statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFigures {
    /// The classes of the anomalies that count against the verdict, each
    /// once, sorted.
    pub anomaly_kinds: Vec<String>,
    pub ok_per_s: Option<f64>,
    /// The longest recovery after a heal, in seconds.
    pub recovery_s: Option<f64>,
}

impl RunFigures {
    pub fn of(r: &Results) -> RunFigures {
        let mut kinds: Vec<String> = r
            .checker
            .decisive()
            .map(|a| a.class().to_string())
            .collect();
        kinds.sort();
        kinds.dedup();
        let recovery_s = r
            .faults
            .iter()
            .filter_map(|f| f.recovery_ms)
            .max()
            .map(|ms| ms as f64 / 1000.0);
        RunFigures {
            anomaly_kinds: kinds,
            ok_per_s: Some(r.workload.throughput_ok_per_s).filter(|x| x.is_finite()),
            recovery_s,
        }
    }
}

/// The outcomes a run counts as, in the order tables show them.
pub const OUTCOMES: [&str; 7] = [
    "valid",
    "invalid",
    "unknown",
    "error",
    "crashed",
    "interrupted",
    "running",
];

/// One experiment of the campaign, at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExperimentStats {
    pub experiment: String,
    /// Every run, whatever its outcome (those in progress too).
    pub runs: u64,
    pub valid: u64,
    pub invalid: u64,
    pub unknown: u64,
    /// Runs that could not be carried out, or that a crash of chaos cut
    /// short.
    pub error: u64,
    pub interrupted: u64,
    /// Anomaly kind to the number of runs that found it.
    pub anomaly_kinds: BTreeMap<String, u64>,
    /// Median ok ops/s of the completed runs.
    pub median_ok_per_s: Option<f64>,
    /// Median of the runs' longest recovery after a heal, in seconds.
    pub median_recovery_s: Option<f64>,
    /// Each ended run, oldest first (for the plots; not in the API's
    /// answer).
    #[serde(skip)]
    pub points: Vec<Point>,
}

/// One ended run as a point in time: the control room's plot point, one
/// type for the statistics and the page.
pub use crate::html::campaign::PlotPoint as Point;

/// The campaign at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CampaignStats {
    pub runs: u64,
    /// Runs by outcome (see [`OUTCOMES`]).
    pub outcomes: BTreeMap<String, u64>,
    /// Anomaly kind to the number of runs that found it, all experiments.
    pub anomaly_kinds: BTreeMap<String, u64>,
    /// The first run's start (UTC), the origin of every [`Point::at_s`].
    pub since: Option<String>,
    /// Per experiment, by name.
    pub experiments: Vec<ExperimentStats>,
    /// Every run's outcome, oldest first: (run, outcome), for the strip.
    #[serde(skip)]
    pub strip: Vec<(u64, String)>,
}

/// The outcome of a row, as the statistics count it: `crashed` is an
/// error of the campaign's machinery, counted with `error` per experiment
/// but kept apart in [`CampaignStats::outcomes`].
fn outcome(r: &RunRow) -> &str {
    r.outcome()
}

/// The median of some values (the mean of the middle two for an even
/// count); `None` for none.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Seconds since 1970 of a UTC time as the index writes it
/// (`2026-11-29T21:10:13.626Z`, RFC 3339 with `Z`); `None` if it is not one.
pub fn epoch_s(utc: &str) -> Option<f64> {
    let utc = utc.strip_suffix('Z')?;
    let (date, time) = utc.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + (h * 3600 + min * 60) as f64 + sec)
}

/// The statistics of a campaign's runs (in run order).
pub fn compute<'a>(rows: impl IntoIterator<Item = &'a RunRow>) -> CampaignStats {
    let mut s = CampaignStats::default();
    let mut per: BTreeMap<String, ExperimentStats> = BTreeMap::new();
    let mut ok: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut rec: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut t0: Option<f64> = None;
    for r in rows {
        let o = outcome(r);
        s.runs += 1;
        *s.outcomes.entry(o.to_string()).or_default() += 1;
        s.strip.push((r.started.run, o.to_string()));
        if s.since.is_none() {
            s.since = Some(r.started.utc.clone());
        }
        let at = epoch_s(&r.started.utc);
        if t0.is_none() {
            t0 = at;
        }
        let e = per
            .entry(r.started.experiment.clone())
            .or_insert_with(|| ExperimentStats {
                experiment: r.started.experiment.clone(),
                ..Default::default()
            });
        e.runs += 1;
        match o {
            "valid" => e.valid += 1,
            "invalid" => e.invalid += 1,
            "unknown" => e.unknown += 1,
            "error" | "crashed" => e.error += 1,
            "interrupted" => e.interrupted += 1,
            _ => {}
        }
        let Some(end) = &r.ended else {
            continue;
        };
        for k in &end.anomaly_kinds {
            *e.anomaly_kinds.entry(k.clone()).or_default() += 1;
            *s.anomaly_kinds.entry(k.clone()).or_default() += 1;
        }
        if end.status == "completed" {
            if let Some(x) = end.ok_per_s {
                ok.entry(e.experiment.clone()).or_default().push(x);
            }
            if let Some(x) = end.recovery_s {
                rec.entry(e.experiment.clone()).or_default().push(x);
            }
        }
        e.points.push(Point {
            run: r.started.run,
            at_s: match (at, t0) {
                (Some(a), Some(t)) => (a - t).max(0.0),
                _ => 0.0,
            },
            outcome: o.to_string(),
            ok_per_s: end.ok_per_s.filter(|_| end.status == "completed"),
            recovery_s: end.recovery_s.filter(|_| end.status == "completed"),
        });
    }
    for (name, e) in per.iter_mut() {
        e.median_ok_per_s = ok.remove(name).and_then(median);
        e.median_recovery_s = rec.remove(name).and_then(median);
    }
    s.experiments = per.into_values().collect();
    s
}

/// Which runs the table shows: by outcome and experiment, a page of
/// `limit` runs older than `before`, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// An outcome (see [`OUTCOMES`]); `None`: any.
    pub outcome: Option<String>,
    pub experiment: Option<String>,
    /// Only runs numbered below this.
    pub before: Option<u64>,
    pub limit: usize,
}

/// A page of runs, newest first, and the `before` of the next page (older
/// runs) if there is one. Walks the runs from `before` down, so a page
/// deep in a long campaign costs what it shows, plus the runs it skips.
pub fn page<'a>(runs: &'a BTreeMap<u64, RunRow>, f: &RunFilter) -> (Vec<&'a RunRow>, Option<u64>) {
    let limit = f.limit.max(1);
    let upper = f.before.unwrap_or(u64::MAX);
    let mut rows: Vec<&RunRow> = runs
        .range(..upper)
        .rev()
        .map(|(_, r)| r)
        .filter(|r| f.outcome.as_deref().is_none_or(|o| outcome(r) == o))
        .filter(|r| {
            f.experiment
                .as_deref()
                .is_none_or(|e| r.started.experiment == e)
        })
        .take(limit + 1)
        .collect();
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| r.started.run)
    } else {
        None
    };
    (rows, next)
}

/// A synthetic run index of `n` ended runs over four experiments, one run
/// a minute from 2026-12-01, with a fixed mix of outcomes, anomaly kinds,
/// throughputs and recoveries (no randomness: the same `n`, the same
/// rows). For the tests and the page's load benchmark.
pub fn synthetic(n: u64) -> BTreeMap<u64, RunRow> {
    const EXPERIMENTS: [&str; 4] = [
        "etcd-leader-kill",
        "etcd-partition",
        "etcd-pause",
        "etcd-serializable-stale-reads",
    ];
    let mut out = BTreeMap::new();
    for run in 1..=n {
        let i = run - 1;
        let experiment = EXPERIMENTS[(i % 4) as usize];
        let minute = i;
        let utc = format!(
            "2026-12-{:02}T{:02}:{:02}:00.000Z",
            1 + minute / 1440,
            (minute / 60) % 24,
            minute % 60
        );
        // Stale reads: every 7th run of the serializable experiment is
        // invalid; one run in 97 errs, one in 89 is interrupted, one in
        // 211 is unknown.
        let (status, verdict, kinds): (&str, Option<&str>, Vec<String>) = if i % 97 == 3 {
            ("error", None, vec![])
        } else if i % 89 == 5 {
            ("interrupted", Some("valid"), vec![])
        } else if i % 211 == 7 {
            ("completed", Some("unknown"), vec![])
        } else if experiment.ends_with("stale-reads") && (i / 4) % 7 == 0 {
            ("completed", Some("invalid"), vec!["stale-read".to_string()])
        } else {
            ("completed", Some("valid"), vec![])
        };
        let wave = ((i % 50) as f64 - 25.0).abs();
        let ended = Ended {
            run,
            status: status.into(),
            verdict: verdict.map(Into::into),
            anomalies: kinds.len() as u64,
            run_dir: None,
            reason: "synthetic".into(),
            duration_s: 40.0,
            utc: utc.clone(),
            anomaly_kinds: kinds,
            ok_per_s: verdict.map(|_| 100.0 + (i % 4) as f64 * 20.0 + wave),
            recovery_s: verdict.map(|_| 0.5 + (i % 4) as f64 + wave / 10.0),
        };
        out.insert(
            run,
            RunRow {
                started: Started {
                    run,
                    campaign: "synthetic".into(),
                    experiment: experiment.into(),
                    k: Some(i / 4),
                    seed: 1_000 + run,
                    project: "chaos-etcd".into(),
                    trigger: "schedule".into(),
                    utc,
                },
                run_dir: None,
                ended: Some(ended),
                pruned: false,
                shrunk: None,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_parse_to_epoch_seconds() {
        assert_eq!(epoch_s("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(epoch_s("2000-03-01T00:00:00.000Z"), Some(951_868_800.0));
        assert_eq!(epoch_s("2026-11-29T21:10:13.500Z"), Some(1_795_986_613.5));
        for bad in [
            "",
            "2026-11-29",
            "2026-13-01T00:00:00Z",
            "x-y-zT1:2:3Z",
            "2026-11-29T21:10:13",
        ] {
            assert_eq!(epoch_s(bad), None, "{bad}");
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![f64::NAN, 5.0]), Some(5.0));
    }

    #[test]
    fn ten_thousand_runs_at_a_glance() {
        let runs = synthetic(10_000);
        let s = compute(runs.values());
        assert_eq!(s.runs, 10_000);
        // The mix, counted independently of `compute`.
        let count = |o: &str| runs.values().filter(|r| r.outcome() == o).count() as u64;
        for o in OUTCOMES {
            assert_eq!(s.outcomes.get(o).copied().unwrap_or(0), count(o), "{o}");
        }
        assert!(count("invalid") > 300 && count("error") > 100 && count("unknown") > 40);
        assert_eq!(s.experiments.len(), 4);
        let total: u64 = s.experiments.iter().map(|e| e.runs).sum();
        assert_eq!(total, 10_000);
        for e in &s.experiments {
            assert_eq!(e.runs, 2_500, "{}", e.experiment);
            assert_eq!(
                e.valid + e.invalid + e.unknown + e.error + e.interrupted,
                e.runs
            );
            assert_eq!(e.points.len(), 2_500);
            assert!(e.points.windows(2).all(|w| w[0].at_s < w[1].at_s));
        }
        // Only the serializable experiment finds stale reads, in every
        // invalid run.
        let stale = &s.experiments[3];
        assert_eq!(stale.experiment, "etcd-serializable-stale-reads");
        assert_eq!(stale.anomaly_kinds.get("stale-read"), Some(&stale.invalid));
        assert_eq!(s.anomaly_kinds.get("stale-read"), Some(&count("invalid")));
        assert!(
            s.experiments[..3]
                .iter()
                .all(|e| e.anomaly_kinds.is_empty())
        );
        // Medians, against a brute-force sort of the completed runs' values.
        for e in &s.experiments {
            let mut v: Vec<f64> = runs
                .values()
                .filter(|r| r.started.experiment == e.experiment)
                .filter_map(|r| r.ended.as_ref())
                .filter(|x| x.status == "completed")
                .filter_map(|x| x.ok_per_s)
                .collect();
            v.sort_by(f64::total_cmp);
            let want = (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0;
            assert_eq!(e.median_ok_per_s, Some(want), "{}", e.experiment);
            assert!(e.median_recovery_s.is_some());
        }
        // The strip: every run, oldest first.
        assert_eq!(s.strip.len(), 10_000);
        assert_eq!(s.strip[0].0, 1);
        assert_eq!(s.since.as_deref(), Some("2026-12-01T00:00:00.000Z"));
        // One run a minute: the last starts 9,999 minutes after the first.
        assert_eq!(s.experiments[3].points.last().unwrap().at_s, 9_999.0 * 60.0);
    }

    #[test]
    fn pages_filter_by_outcome_and_experiment_and_walk_down() {
        let runs = synthetic(10_000);
        let mut f = RunFilter {
            outcome: Some("invalid".into()),
            experiment: Some("etcd-serializable-stale-reads".into()),
            before: None,
            limit: 100,
        };
        let mut seen = Vec::new();
        loop {
            let (rows, next) = page(&runs, &f);
            assert!(rows.len() <= 100);
            assert!(rows.iter().all(|r| r.outcome() == "invalid"));
            seen.extend(rows.iter().map(|r| r.started.run));
            match next {
                Some(b) => f.before = Some(b),
                None => break,
            }
        }
        let want: Vec<u64> = runs
            .values()
            .rev()
            .filter(|r| r.outcome() == "invalid")
            .map(|r| r.started.run)
            .collect();
        assert_eq!(seen, want);
        // No filter: the newest first, and the next page starts below.
        let (rows, next) = page(
            &runs,
            &RunFilter {
                limit: 50,
                ..Default::default()
            },
        );
        assert_eq!(rows[0].started.run, 10_000);
        assert_eq!(next, Some(9_951));
        let (rows, next) = page(
            &runs,
            &RunFilter {
                limit: 50,
                before: Some(30),
                ..Default::default()
            },
        );
        assert_eq!(rows.len(), 29);
        assert_eq!(next, None);
    }
}
