//! Seed sweeps (`chaos run FILE --seeds 1..20`): which seeds `--seeds`
//! names, each run's line as it ends, the summary table (verdict, anomaly
//! kinds, ok ops, faults), `sweep.json`, and what the sweep as a whole
//! comes to ([`Sweep::outcome`]: every run met its expectation, or not).
//!
//! Pure: the CLI runs the seeds one after another through the engine and
//! hands each result here; nothing here runs, reads or writes anything.
//! Must not depend on the engine, the store or the CLI.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{Judgement, RunSummary, judge, table};
use crate::experiment::Expect;

/// The most seeds one sweep runs.
pub const MAX_SEEDS: u64 = 10_000;

/// A `--seeds` that names no seeds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` {why}; expected FIRST..LAST (both included, FIRST <= LAST, e.g. `1..20`) or a \
     count of seeds from the file's seed (e.g. `5`)"
)]
pub struct SeedsError {
    pub text: String,
    pub why: String,
}

/// The seeds `--seeds` names: `FIRST..LAST` (both included; `..=` is read
/// the same), or `N`: N seeds from `start` (the file's seed, else 1).
pub fn parse_seeds(text: &str, start: Option<u64>) -> Result<Vec<u64>, SeedsError> {
    let err = |why: &str| SeedsError {
        text: text.to_string(),
        why: why.to_string(),
    };
    let number = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| err(&format!("has `{}`, which is not a seed", t.trim())))
    };
    let (first, last) = match text.split_once("..") {
        Some((a, b)) => {
            let b = b.strip_prefix('=').unwrap_or(b);
            let (first, last) = (number(a)?, number(b)?);
            if first > last {
                return Err(err(&format!("runs backwards ({first} > {last})")));
            }
            (first, last)
        }
        None => {
            let n = number(text)?;
            if n == 0 {
                return Err(err("is zero seeds"));
            }
            let first = start.unwrap_or(1);
            let last = first
                .checked_add(n - 1)
                .ok_or_else(|| err("goes past the largest seed"))?;
            (first, last)
        }
    };
    if last - first >= MAX_SEEDS {
        return Err(err(&format!("is more than {MAX_SEEDS} seeds")));
    }
    Ok((first..=last).collect())
}

/// Whether each seed of a sweep gets fresh volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fresh {
    /// Take the project down, volumes included, before each seed.
    Yes,
    /// Run every seed on the same cluster and volumes.
    No,
    /// The experiment's faults can damage a store, but chaos does not
    /// bring its cluster up (`up = false`): the seeds share its volumes.
    /// The warning in words.
    NotPossible(String),
}

/// `--fresh` asks for fresh volumes, `--no-fresh` refuses them; without
/// either, an experiment whose faults can leave a store damaged
/// (`damaging`) gets them. Only a cluster chaos brings up (`up`) can be
/// made fresh: `--fresh` without it is an error (the message).
pub fn fresh_volumes(
    fresh: bool,
    no_fresh: bool,
    damaging: bool,
    up: bool,
) -> Result<Fresh, String> {
    let wanted = fresh || (!no_fresh && damaging);
    match (wanted, up, fresh) {
        (false, _, _) => Ok(Fresh::No),
        (true, true, _) => Ok(Fresh::Yes),
        (true, false, true) => Err(
            "--fresh takes the project down before each seed, but the experiment says \
             `up = false` (chaos does not bring its cluster up); remove `up = false` or drop \
             --fresh"
                .to_string(),
        ),
        (true, false, false) => Ok(Fresh::NotPossible(
            "its faults can leave a store damaged, but with `up = false` the seeds share its \
             volumes"
                .to_string(),
        )),
    }
}

/// One seed of a sweep: the run's summary, or why it could not run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum SweepRun {
    /// It ran (to its end or not): its summary, and whether it met the
    /// expectation.
    Ran {
        #[serde(flatten)]
        summary: RunSummary,
        /// The run met the experiment's expectation.
        met: bool,
    },
    /// chaos could not carry it out (an environment failure): the error.
    Failed { seed: u64, error: String },
}

impl SweepRun {
    pub fn ran(expect: Expect, summary: RunSummary) -> SweepRun {
        let met = judge(expect, &summary).passed();
        SweepRun::Ran { summary, met }
    }

    pub fn seed(&self) -> u64 {
        match self {
            SweepRun::Ran { summary, .. } => summary.seed,
            SweepRun::Failed { seed, .. } => *seed,
        }
    }
}

/// What a sweep comes to, worst first (the order compares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SweepOutcome {
    /// A run was interrupted: the sweep stopped there.
    Interrupted,
    /// A run did not meet its expectation (an anomaly where none was
    /// expected, or a known-bad control that found none).
    NotMet,
    /// A run could not be carried out.
    Failed,
    /// The checker could not decide a run, and nothing worse happened.
    Undecided,
    /// Every run met the expectation.
    AllMet,
}

/// A sweep: `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// The format's version.
    pub sweep_version: u32,
    pub experiment: String,
    /// The experiment file as given.
    pub file: String,
    /// What each run should find (`expect` in the file).
    pub expect: String,
    /// Every seed asked for, in order (runs may stop short of the last).
    pub seeds: Vec<u64>,
    /// Fresh volumes for each seed.
    pub fresh: bool,
    pub stop_on_anomaly: bool,
    /// UTC, RFC 3339.
    pub started_at: String,
    /// Why the sweep stopped before its last seed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub runs: Vec<SweepRun>,
}

impl Sweep {
    pub fn expectation(&self) -> Expect {
        Expect::parse(&self.expect).unwrap_or_default()
    }

    /// What the sweep comes to so far.
    pub fn outcome(&self) -> SweepOutcome {
        let expect = self.expectation();
        let mut worst = SweepOutcome::AllMet;
        for r in &self.runs {
            let o = match r {
                SweepRun::Failed { .. } => SweepOutcome::Failed,
                SweepRun::Ran { summary, .. } => match judge(expect, summary) {
                    Judgement::Met => SweepOutcome::AllMet,
                    Judgement::NotMet(_) => SweepOutcome::NotMet,
                    Judgement::Undecided(_) => SweepOutcome::Undecided,
                    Judgement::Incomplete(_) => SweepOutcome::Interrupted,
                },
            };
            worst = worst.min(o);
        }
        worst
    }
}

/// A run's line, printed as it ends: `seed 3: INVALID (stale-read x12),
/// 2345 ok ops, 3 faults, 41.0 s: results/...`.
pub fn run_line(expect: Expect, run: &SweepRun) -> String {
    match run {
        SweepRun::Failed { seed, error } => {
            format!("seed {seed}: ERROR: {}", super::first_line(error))
        }
        SweepRun::Ran { summary: s, .. } => {
            let kinds = if s.anomaly_kinds.is_empty() {
                String::new()
            } else {
                let k: Vec<String> = s
                    .anomaly_kinds
                    .iter()
                    .map(|k| format!("{} x{}", k.kind, k.count))
                    .collect();
                format!(" ({})", k.join(", "))
            };
            let judged = match judge(expect, s) {
                Judgement::Met if expect == Expect::Invalid => ", as expected".to_string(),
                Judgement::Met => String::new(),
                Judgement::NotMet(_) if expect == Expect::Invalid => {
                    ", NOT as expected (a known-bad control)".to_string()
                }
                _ => String::new(),
            };
            format!(
                "seed {}: {}{kinds}{judged}, {} ok ops, {} faults, {:.1} s: {}",
                s.seed,
                s.verdict_text().to_uppercase(),
                s.ok_ops,
                s.faults,
                s.duration_s,
                s.run_dir
            )
        }
    }
}

/// The summary table and the totals under it.
pub fn render_summary(sweep: &Sweep) -> String {
    let expect = sweep.expectation();
    let rows: Vec<Vec<String>> = sweep
        .runs
        .iter()
        .map(|r| match r {
            SweepRun::Failed { seed, error } => vec![
                seed.to_string(),
                "error".to_string(),
                "no".to_string(),
                super::first_line(error),
                "-".to_string(),
                "-".to_string(),
                "-".to_string(),
            ],
            SweepRun::Ran { summary: s, met } => vec![
                s.seed.to_string(),
                s.verdict_text(),
                if *met { "yes" } else { "no" }.to_string(),
                s.kinds_text(),
                s.ok_ops.to_string(),
                s.faults.to_string(),
                s.run_dir.clone(),
            ],
        })
        .collect();
    let mut out = table(
        &[
            "seed",
            "verdict",
            "met",
            "anomaly kinds",
            "ok ops",
            "faults",
            "run directory",
        ],
        &rows,
    );
    let mut by_verdict: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut met = 0;
    for r in &sweep.runs {
        match r {
            SweepRun::Failed { .. } => *by_verdict.entry("error".into()).or_default() += 1,
            SweepRun::Ran { summary, met: m } => {
                *by_verdict.entry(summary.verdict_text()).or_default() += 1;
                met += u64::from(*m);
                for k in &summary.anomaly_kinds {
                    by_kind
                        .entry(k.kind.clone())
                        .or_default()
                        .push(summary.seed);
                }
            }
        }
    }
    let counts: Vec<String> = by_verdict.iter().map(|(v, n)| format!("{n} {v}")).collect();
    let _ = writeln!(
        out,
        "\n{} of {} seeds run: {}; {met} met the expectation ({})",
        sweep.runs.len(),
        sweep.seeds.len(),
        if counts.is_empty() {
            "none".to_string()
        } else {
            counts.join(", ")
        },
        expect.as_str()
    );
    for (kind, seeds) in &by_kind {
        let s: Vec<String> = seeds.iter().map(u64::to_string).collect();
        let _ = writeln!(
            out,
            "  {kind}: {} run(s) (seeds {})",
            seeds.len(),
            s.join(", ")
        );
    }
    if let Some(why) = &sweep.stopped {
        let _ = writeln!(out, "stopped early: {why}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::tests::summary;

    #[test]
    fn damaging_faults_get_fresh_volumes_unless_refused() {
        assert_eq!(fresh_volumes(false, false, true, true), Ok(Fresh::Yes));
        assert_eq!(fresh_volumes(false, false, false, true), Ok(Fresh::No));
        assert_eq!(fresh_volumes(true, false, false, true), Ok(Fresh::Yes));
        assert_eq!(fresh_volumes(false, true, true, true), Ok(Fresh::No));
        assert!(
            fresh_volumes(true, false, false, false)
                .unwrap_err()
                .contains("up = false")
        );
        assert!(matches!(
            fresh_volumes(false, false, true, false),
            Ok(Fresh::NotPossible(w)) if w.contains("share its volumes")
        ));
    }

    #[test]
    fn seeds_are_a_range_or_a_count() {
        assert_eq!(parse_seeds("1..5", None).unwrap(), [1, 2, 3, 4, 5]);
        assert_eq!(parse_seeds("1..=3", Some(9)).unwrap(), [1, 2, 3]);
        assert_eq!(parse_seeds("7..7", None).unwrap(), [7]);
        assert_eq!(parse_seeds("3", None).unwrap(), [1, 2, 3]);
        assert_eq!(parse_seeds("3", Some(40)).unwrap(), [40, 41, 42]);
        let cases = [
            ("5..2", "runs backwards (5 > 2)"),
            ("0", "is zero seeds"),
            ("a..3", "has `a`, which is not a seed"),
            ("-3", "has `-3`, which is not a seed"),
            ("1..", "has ``, which is not a seed"),
            ("1..20000", "is more than 10000 seeds"),
        ];
        for (text, why) in cases {
            let e = parse_seeds(text, None).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
            assert!(e.contains("expected FIRST..LAST"), "{text}: {e}");
        }
        let e = parse_seeds("2", Some(u64::MAX)).unwrap_err().to_string();
        assert!(e.contains("past the largest seed"), "{e}");
    }

    fn sweep(expect: Expect, runs: Vec<SweepRun>) -> Sweep {
        Sweep {
            sweep_version: 1,
            experiment: "x".into(),
            file: "experiments/x.toml".into(),
            expect: expect.as_str().into(),
            seeds: vec![1, 2, 3],
            fresh: false,
            stop_on_anomaly: false,
            started_at: "2026-12-07T18:00:00.000Z".into(),
            stopped: None,
            runs,
        }
    }

    #[test]
    fn the_outcome_is_the_worst_judgement() {
        let valid = summary("kill");
        let invalid = summary("stale");
        let v = Expect::Valid;
        let ok = sweep(v, vec![SweepRun::ran(v, valid.clone())]);
        assert_eq!(ok.outcome(), SweepOutcome::AllMet);
        let bad = sweep(
            v,
            vec![
                SweepRun::ran(v, valid.clone()),
                SweepRun::Failed {
                    seed: 2,
                    error: "docker".into(),
                },
                SweepRun::ran(v, invalid.clone()),
            ],
        );
        assert_eq!(bad.outcome(), SweepOutcome::NotMet);
        let failed = sweep(
            v,
            vec![SweepRun::Failed {
                seed: 2,
                error: "docker".into(),
            }],
        );
        assert_eq!(failed.outcome(), SweepOutcome::Failed);
        // A known-bad control: invalid runs pass, a valid one does not.
        let c = Expect::Invalid;
        let control = sweep(c, vec![SweepRun::ran(c, invalid.clone())]);
        assert_eq!(control.outcome(), SweepOutcome::AllMet);
        let missed = sweep(
            c,
            vec![
                SweepRun::ran(c, invalid.clone()),
                SweepRun::ran(c, valid.clone()),
            ],
        );
        assert_eq!(missed.outcome(), SweepOutcome::NotMet);
        assert!(run_line(c, &missed.runs[0]).contains("INVALID (stale-read x"));
        assert!(run_line(c, &missed.runs[0]).contains(", as expected"));
        assert!(run_line(c, &missed.runs[1]).contains("NOT as expected"));
    }

    #[test]
    fn the_summary_tabulates_and_counts() {
        let v = Expect::Valid;
        let s = sweep(
            v,
            vec![
                SweepRun::ran(v, summary("kill")),
                SweepRun::ran(v, summary("stale")),
                SweepRun::Failed {
                    seed: 3,
                    error: "the cluster did not come up\nmore".into(),
                },
            ],
        );
        let text = render_summary(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("seed  verdict  met  anomaly kinds"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("3     invalid  no   stale-read"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("3     error    no   the cluster did not come up"),
            "{text}"
        );
        assert!(
            text.contains(
                "3 of 3 seeds run: 1 error, 1 invalid, 1 valid; 1 met the expectation (valid)"
            ),
            "{text}"
        );
        assert!(text.contains("  stale-read: 1 run(s) (seeds 3)"), "{text}");
        // sweep.json reads back as written.
        let json = serde_json::to_string(&s).unwrap();
        let back: Sweep = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["runs"][1]["outcome"], "ran");
        assert_eq!(v["runs"][1]["verdict"], "invalid");
        assert_eq!(v["runs"][1]["met"], false);
        assert_eq!(v["runs"][2]["outcome"], "failed");
    }
}
