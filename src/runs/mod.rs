//! Past runs as rows: the one-line summary of a run ([`RunSummary`]: time,
//! experiment, seed, verdict, anomaly kinds, ok ops, faults, duration, run
//! directory), the list `chaos runs` prints (newest first, filtered by
//! experiment, verdict and start time), and a run's expectation met or not
//! ([`judge`]). Beside it: [`sweep`] (seed sweeps: `--seeds`, the summary
//! table, `sweep.json`), [`diff`] (what differs between two runs) and
//! [`junit`] (runs as JUnit test cases).
//!
//! Pure: results and paths come in as values (the shell, `crate::runfiles`
//! and `crate::cli`, reads the directories and the clock); text and values
//! go out. Depends on `results` and `experiment` (for [`Expect`]) only;
//! must not depend on the store, Docker, the engine or the CLI.

pub mod diff;
pub mod junit;
pub mod sweep;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::experiment::Expect;
use crate::results::{Results, Status, Verdict};

/// One run in a line: what `chaos runs` lists and a sweep tabulates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// UTC, RFC 3339.
    pub started_at: String,
    pub experiment: String,
    pub seed: u64,
    pub status: Status,
    pub verdict: Verdict,
    /// The kinds of anomaly that count against the verdict, by name, with
    /// how many of each and the first one's explanation.
    pub anomaly_kinds: Vec<KindCount>,
    /// Kinds listed by the checker but allowed by the model the run is
    /// held to (a write skew under snapshot isolation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_kinds: Vec<String>,
    pub ok_ops: u64,
    /// Faults planned (applied or not).
    pub faults: usize,
    pub duration_s: f64,
    /// The run directory, as the shell found it.
    pub run_dir: String,
    /// The command that reruns it.
    pub rerun: String,
}

/// One kind of anomaly in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCount {
    pub kind: String,
    pub count: u64,
    /// The first one's explanation.
    pub example: String,
}

impl RunSummary {
    /// The summary of a run's results, found in `run_dir`.
    pub fn of(results: &Results, run_dir: &str) -> RunSummary {
        let mut kinds: BTreeMap<String, KindCount> = BTreeMap::new();
        for a in results.checker.decisive() {
            kinds
                .entry(a.class().to_string())
                .and_modify(|k| k.count += 1)
                .or_insert_with(|| KindCount {
                    kind: a.class().to_string(),
                    count: 1,
                    example: a.explanation().to_string(),
                });
        }
        let mut allowed: Vec<String> = results
            .checker
            .anomalies
            .iter()
            .filter(|a| !results.checker.decides(a))
            .map(|a| a.class().to_string())
            .filter(|k| !kinds.contains_key(k))
            .collect();
        allowed.sort();
        allowed.dedup();
        RunSummary {
            started_at: results.started_at.clone(),
            experiment: results.experiment.name.clone(),
            seed: results.seed,
            status: results.status,
            verdict: results.verdict,
            anomaly_kinds: kinds.into_values().collect(),
            allowed_kinds: allowed,
            ok_ops: results.workload.ops.ok,
            faults: results.faults.len(),
            duration_s: results.duration_s,
            run_dir: run_dir.to_string(),
            rerun: results.rerun.clone(),
        }
    }

    /// The anomaly kinds that count, by name: `stale-read, G1c`, or `-`.
    pub fn kinds_text(&self) -> String {
        if self.anomaly_kinds.is_empty() {
            "-".to_string()
        } else {
            self.anomaly_kinds
                .iter()
                .map(|k| k.kind.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// The verdict, and the status when the run did not go to its end:
    /// `invalid`, `valid (interrupted)`.
    pub fn verdict_text(&self) -> String {
        match self.status {
            Status::Completed => self.verdict.as_str().to_string(),
            s => format!("{} ({})", self.verdict.as_str(), s.as_str()),
        }
    }
}

/// Whether a run met what its experiment expects (`expect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// The verdict is the expected one (valid for a correct set-up,
    /// invalid for a known-bad control).
    Met,
    /// It is not: an anomaly where none was expected, or a control that
    /// found none. The reason in words.
    NotMet(String),
    /// The checker could not decide (verdict unknown).
    Undecided(String),
    /// The run did not go to its end (interrupted or crashed).
    Incomplete(String),
}

impl Judgement {
    pub fn passed(&self) -> bool {
        *self == Judgement::Met
    }
}

/// Did `run` meet `expect`?
pub fn judge(expect: Expect, run: &RunSummary) -> Judgement {
    if run.status != Status::Completed {
        return Judgement::Incomplete(format!(
            "the run was {} before its end",
            run.status.as_str()
        ));
    }
    match (expect, run.verdict) {
        (Expect::Valid, Verdict::Valid) | (Expect::Invalid, Verdict::Invalid) => Judgement::Met,
        (Expect::Valid, Verdict::Invalid) => {
            Judgement::NotMet(format!("anomalies found: {}", run.kinds_text()))
        }
        (Expect::Invalid, Verdict::Valid) => Judgement::NotMet(
            "expected invalid (a known-bad control), but the run found no anomaly".to_string(),
        ),
        (_, Verdict::Unknown) => Judgement::Undecided(
            "the checker could not decide within its budget (verdict unknown)".to_string(),
        ),
    }
}

/// When listed runs must have started: `--since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// Within this long before now (`--since 2h`).
    Ago(Duration),
    /// At or after this UTC time, a prefix of RFC 3339 (`2026-12-07`,
    /// `2026-12-07T18:30`).
    At(String),
}

/// A `--since` that is neither a duration nor a UTC date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a time to list runs since; expected a duration before now (`2h`, `30m`, \
     `7d`) or a UTC date and time (`2026-12-07`, `2026-12-07T18:30`)"
)]
pub struct SinceError(pub String);

impl Since {
    pub fn parse(text: &str) -> Result<Since, SinceError> {
        let bad = || SinceError(text.to_string());
        let t = text.trim();
        if let Some(days) = t.strip_suffix('d').and_then(|n| n.parse::<u64>().ok()) {
            return Ok(Since::Ago(Duration::from_secs(days * 86_400)));
        }
        if let Ok(d) = crate::duration::parse(t) {
            return Ok(Since::Ago(d));
        }
        // YYYY-MM-DD, then optionally THH, :MM, :SS: digits where the
        // template has them, its separators elsewhere.
        const TEMPLATE: &str = "0000-00-00T00:00:00";
        let t = t.strip_suffix('Z').unwrap_or(t);
        let shape_ok = t.len() <= TEMPLATE.len()
            && [10, 13, 16, 19].contains(&t.len())
            && t.chars().zip(TEMPLATE.chars()).all(|(c, p)| match p {
                '0' => c.is_ascii_digit(),
                _ => c == p,
            });
        if !shape_ok {
            return Err(bad());
        }
        Ok(Since::At(t.to_string()))
    }

    /// The earliest start time listed, as an RFC 3339 prefix that compares
    /// with `started_at` as text; `now_ms` is the current Unix time.
    pub fn cutoff(&self, now_ms: u64) -> String {
        match self {
            Since::Ago(d) => crate::results::rfc3339(now_ms.saturating_sub(d.as_millis() as u64)),
            Since::At(t) => t.clone(),
        }
    }
}

/// What `chaos runs` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this experiment's runs (by name).
    pub experiment: Option<String>,
    /// Only invalid runs.
    pub invalid: bool,
    /// Only runs that started at or after this RFC 3339 prefix
    /// ([`Since::cutoff`]).
    pub since: Option<String>,
}

impl Filter {
    pub fn keeps(&self, r: &RunSummary) -> bool {
        self.experiment.as_ref().is_none_or(|e| *e == r.experiment)
            && (!self.invalid || r.verdict == Verdict::Invalid)
            && self
                .since
                .as_ref()
                .is_none_or(|s| r.started_at.as_str() >= s.as_str())
    }
}

/// The runs `filter` keeps, newest first (by start time, then run
/// directory).
pub fn list(mut rows: Vec<RunSummary>, filter: &Filter) -> Vec<RunSummary> {
    rows.retain(|r| filter.keeps(r));
    rows.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then_with(|| b.run_dir.cmp(&a.run_dir))
    });
    rows
}

/// `2026-11-29T21:10:13.626Z` as `2026-11-29 21:10:13`.
pub fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).replacen('T', " ", 1)
}

/// A text table: a header and rows, each column as wide as its widest
/// cell, the last one unpadded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        let cells: Vec<&str> = cells.collect();
        let mut text = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(c);
            } else {
                let _ = write!(text, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied(), &mut out);
    for r in rows {
        line(&mut r.iter().map(String::as_str), &mut out);
    }
    out
}

/// The list as `chaos runs` prints it.
pub fn render_list(rows: &[RunSummary]) -> String {
    if rows.is_empty() {
        return "no runs\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                short_time(&r.started_at),
                r.experiment.clone(),
                r.seed.to_string(),
                r.verdict_text(),
                r.kinds_text(),
                format!("{:.1} s", r.duration_s),
                r.run_dir.clone(),
            ]
        })
        .collect();
    table(
        &[
            "started (UTC)",
            "experiment",
            "seed",
            "verdict",
            "anomalies",
            "duration",
            "run directory",
        ],
        &cells,
    )
}

/// `chaos runs show RUN`: one run's summary.
pub fn render_show(results: &Results, run_dir: &str) -> String {
    let s = RunSummary::of(results, run_dir);
    let w = &results.workload;
    let mut out = String::new();
    let _ = writeln!(out, "run:         {run_dir}");
    let _ = writeln!(
        out,
        "experiment:  {} ({})",
        results.experiment.name, results.experiment.file
    );
    let _ = writeln!(out, "seed:        {}", results.seed);
    let _ = writeln!(
        out,
        "started:     {} UTC, {:.1} s",
        short_time(&results.started_at),
        results.duration_s
    );
    let _ = writeln!(out, "verdict:     {}", s.verdict_text().to_uppercase());
    if s.anomaly_kinds.is_empty() {
        let _ = writeln!(out, "anomalies:   none");
    } else {
        let _ = writeln!(out, "anomalies:");
        for k in &s.anomaly_kinds {
            let _ = writeln!(out, "  {} x{}: {}", k.kind, k.count, first_line(&k.example));
        }
    }
    if !s.allowed_kinds.is_empty() {
        let _ = writeln!(
            out,
            "allowed:     {} (listed, allowed by the model)",
            s.allowed_kinds.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "ops:         {} ok, {} fail, {} info; {:.1} ok/s",
        w.ops.ok, w.ops.fail, w.ops.info, w.throughput_ok_per_s
    );
    let _ = writeln!(
        out,
        "latency:     p50 {}, p99 {}, max {} (in faults: p99 {})",
        ms(w.latency.p50_ms),
        ms(w.latency.p99_ms),
        ms(w.latency.max_ms),
        ms(w.latency_in_faults.p99_ms)
    );
    if results.faults.is_empty() {
        let _ = writeln!(out, "faults:      none");
    } else {
        let _ = writeln!(out, "faults:");
        for f in &results.faults {
            let _ = writeln!(out, "  {}", diff::fault_line(f));
        }
    }
    let _ = writeln!(out, "rerun:       {}", results.rerun);
    let _ = writeln!(
        out,
        "report:      {run_dir}/report.txt, {run_dir}/report.html"
    );
    out
}

/// A figure in milliseconds, or `-`.
pub(crate) fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1} ms"))
        .unwrap_or_else(|| "-".to_string())
}

/// The first line of a text, at most 160 characters.
pub(crate) fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > 160 {
        let cut: String = line.chars().take(157).collect();
        format!("{cut}...")
    } else {
        line.to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A kept run's results.json, from `tests/data/runs/`.
    pub(crate) fn fixture(which: &str) -> Results {
        let text = match which {
            "stale" => include_str!(
                "../../tests/data/runs/etcd-serializable-stale-reads/20261129T211013Z-seed3/results.json"
            ),
            "append" => include_str!(
                "../../tests/data/runs/surrealdb-local-append-kill/20261130T020749Z-seed3/results.json"
            ),
            "kill" => include_str!(
                "../../tests/data/runs/surrealdb-local-kill/20261129T212945Z-seed1/results.json"
            ),
            other => panic!("no fixture {other}"),
        };
        serde_json::from_str(text).expect("a kept results.json reads")
    }

    pub(crate) fn summary(which: &str) -> RunSummary {
        RunSummary::of(&fixture(which), &format!("results/{which}"))
    }

    #[test]
    fn a_summary_counts_the_kinds_that_decide() {
        let s = summary("stale");
        assert_eq!(s.verdict, Verdict::Invalid);
        assert_eq!(s.kinds_text(), "stale-read");
        assert!(s.anomaly_kinds[0].count >= 5, "{:?}", s.anomaly_kinds);
        assert!(s.allowed_kinds.is_empty());
        assert_eq!(s.faults, 3);
        // A write skew under snapshot isolation is listed, not counted.
        let a = summary("append");
        assert_eq!(a.verdict, Verdict::Valid);
        assert_eq!(a.kinds_text(), "-");
        assert_eq!(a.allowed_kinds, ["G2-item"]);
    }

    #[test]
    fn judgement_follows_the_expectation() {
        let invalid = summary("stale");
        let valid = summary("kill");
        assert_eq!(judge(Expect::Valid, &valid), Judgement::Met);
        assert_eq!(judge(Expect::Invalid, &invalid), Judgement::Met);
        assert!(
            matches!(judge(Expect::Valid, &invalid), Judgement::NotMet(r) if r.contains("stale-read"))
        );
        assert!(
            matches!(judge(Expect::Invalid, &valid), Judgement::NotMet(r) if r.contains("known-bad"))
        );
        let mut unknown = valid.clone();
        unknown.verdict = Verdict::Unknown;
        assert!(matches!(
            judge(Expect::Valid, &unknown),
            Judgement::Undecided(_)
        ));
        let mut cut = invalid.clone();
        cut.status = Status::Interrupted;
        assert!(matches!(
            judge(Expect::Invalid, &cut),
            Judgement::Incomplete(_)
        ));
        assert!(!judge(Expect::Invalid, &cut).passed());
    }

    #[test]
    fn since_reads_durations_and_dates() {
        assert_eq!(
            Since::parse("2h"),
            Ok(Since::Ago(Duration::from_secs(7200)))
        );
        assert_eq!(
            Since::parse("7d"),
            Ok(Since::Ago(Duration::from_secs(7 * 86_400)))
        );
        assert_eq!(
            Since::parse("2026-12-07"),
            Ok(Since::At("2026-12-07".into()))
        );
        assert_eq!(
            Since::parse("2026-12-07T18:30"),
            Ok(Since::At("2026-12-07T18:30".into()))
        );
        for bad in ["yesterday", "2026-12", "2026-12-07 18:30", "2026-1a-07", ""] {
            let e = Since::parse(bad).unwrap_err().to_string();
            assert!(e.contains("expected a duration before now"), "{bad}: {e}");
        }
        // 2026-11-27T03:04:05.678Z, less two hours.
        assert_eq!(
            Since::parse("2h").unwrap().cutoff(1_795_748_645_678),
            "2026-11-27T01:04:05.678Z"
        );
    }

    #[test]
    fn the_list_is_filtered_and_newest_first() {
        let rows = vec![summary("kill"), summary("stale"), summary("append")];
        let all = list(rows.clone(), &Filter::default());
        let seen: Vec<&str> = all.iter().map(|r| r.started_at.as_str()).collect();
        assert_eq!(
            seen,
            [
                "2026-11-30T02:07:49.267Z",
                "2026-11-29T21:29:45.499Z",
                "2026-11-29T21:10:13.626Z"
            ]
        );
        let invalid = list(
            rows.clone(),
            &Filter {
                invalid: true,
                ..Filter::default()
            },
        );
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].experiment, "etcd-serializable-stale-reads");
        let by_name = list(
            rows.clone(),
            &Filter {
                experiment: Some("surrealdb-local-kill".into()),
                ..Filter::default()
            },
        );
        assert_eq!(by_name.len(), 1);
        let since = list(
            rows,
            &Filter {
                since: Some("2026-11-29T21:20".into()),
                ..Filter::default()
            },
        );
        assert_eq!(since.len(), 2);
        let text = render_list(&all);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("started (UTC)"), "{text}");
        assert!(
            lines[3].starts_with("2026-11-29 21:10:13  etcd-serializable-stale-reads  3"),
            "{text}"
        );
        assert!(lines[3].contains("invalid") && lines[3].contains("stale-read"));
        assert!(lines[3].ends_with("results/stale"), "{text}");
        assert_eq!(render_list(&[]), "no runs\n");
    }

    #[test]
    fn show_summarises_one_run() {
        let text = render_show(&fixture("stale"), "results/stale");
        assert!(text.contains("verdict:     INVALID"), "{text}");
        assert!(text.contains("  stale-read x"), "{text}");
        assert!(text.contains("faults:\n  1 partition"), "{text}");
        assert!(text.contains("rerun:       chaos run"), "{text}");
    }
}
