//! `chaos check`: read history files, check each, print verdicts.
//!
//! The shell around [`crate::checker`]: reads the files, supplies the wall
//! clock ([`WallClock`]) that the time budget is measured with, picks the
//! number of threads, prints text or JSON, writes the `--html` page
//! ([`crate::html::render_history`]), and maps verdicts to outcomes (exit 0
//! all valid, 1 any invalid, 3 any unknown and none invalid; 2 for an
//! unreadable or malformed file, naming the file and line, or `--html` with
//! more than one history; 4 when the page cannot be written).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use serde::Serialize;

use super::{CheckArgs, CliError, CliResult, Outcome};
use crate::checker::{self, CheckOptions, CheckReport, Clock, Verdict};
use crate::history::{self, Format, History};

/// The wall clock, from when it was made: the checker's time budget.
#[derive(Debug, Clone, Copy)]
pub struct WallClock(Instant);

impl WallClock {
    pub fn start() -> Self {
        WallClock(Instant::now())
    }
}

impl Clock for WallClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Check options for the shell: the budget on the wall clock, every core.
pub fn options(budget: Duration) -> CheckOptions {
    CheckOptions {
        budget,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        clock: Some(Arc::new(WallClock::start())),
        ..CheckOptions::default()
    }
}

/// Read and parse one history file; errors name the file (and the line).
pub fn load(path: &Path, format: Format) -> Result<History, anyhow::Error> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read history {}", path.display()))?;
    history::parse(&text, format).with_context(|| format!("{}", path.display()))
}

#[derive(Serialize)]
struct FileReport<'a> {
    file: String,
    elapsed_ms: f64,
    #[serde(flatten)]
    report: &'a CheckReport,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    verdict: Verdict,
    files: Vec<FileReport<'a>>,
}

pub fn run(args: &CheckArgs) -> CliResult {
    let format: Format = args.format.parse().map_err(CliError::input)?;
    let budget = crate::duration::parse(&args.budget)
        .map_err(|e| CliError::input(anyhow!(e).context("--budget")))?;
    if budget.is_zero() {
        return Err(CliError::input(anyhow!("--budget must be positive")));
    }
    if args.html.is_some() && args.histories.len() != 1 {
        return Err(CliError::input(anyhow!(
            "--html draws one history; {} were given",
            args.histories.len()
        )));
    }
    let mut histories = Vec::with_capacity(args.histories.len());
    for path in &args.histories {
        histories.push(load(path, format).map_err(CliError::input)?);
    }
    let mut options = options(budget);
    options.split_keys = !args.no_split;
    let mut reports = Vec::with_capacity(histories.len());
    for history in &histories {
        let started = Instant::now();
        let report = checker::check(history, &options);
        reports.push((report, started.elapsed()));
    }
    if let (Some(out), [(report, _)], [history], [path]) = (
        &args.html,
        reports.as_slice(),
        histories.as_slice(),
        args.histories.as_slice(),
    ) {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let page = crate::html::render_history(history, report, &name, format);
        crate::store::write_atomic(out, page.as_bytes())
            .with_context(|| format!("cannot write --html page {}", out.display()))
            .map_err(CliError::environment)?;
        eprintln!("wrote {}", out.display());
    }
    let verdict = reports
        .iter()
        .map(|(r, _)| r.verdict)
        .fold(Verdict::Valid, |acc, v| match (acc, v) {
            (Verdict::Invalid, _) | (_, Verdict::Invalid) => Verdict::Invalid,
            (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
            _ => Verdict::Valid,
        });
    if args.json {
        let out = JsonOut {
            verdict,
            files: args
                .histories
                .iter()
                .zip(&reports)
                .map(|(path, (report, elapsed))| FileReport {
                    file: path.display().to_string(),
                    elapsed_ms: elapsed.as_secs_f64() * 1e3,
                    report,
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&out).map_err(CliError::environment)?;
        println!("{text}");
    } else {
        for (path, (report, elapsed)) in args.histories.iter().zip(&reports) {
            print!(
                "{}: {} (checked in {:.1} ms)\n{}",
                path.display(),
                report.verdict.as_str().to_uppercase(),
                elapsed.as_secs_f64() * 1e3,
                checker::render(report)
            );
        }
    }
    Ok(match verdict {
        Verdict::Valid => Outcome::Success,
        Verdict::Invalid => Outcome::Anomalies,
        Verdict::Unknown => Outcome::Unknown,
    })
}
