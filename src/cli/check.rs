//! `chaos check`: read history files, check each, print verdicts.
//!
//! The shell around [`crate::checker`] (register and key-value histories,
//! for linearizability) and [`crate::checker::txn`] (list-append
//! transaction histories, for a consistency model): reads the files, picks
//! the checker by format (`elle-edn`, or `chaos` files whose lines are
//! `"f":"txn"`), supplies the wall clock ([`WallClock`]) that the time
//! budget is measured with, picks the number of threads, prints text or
//! JSON, writes the `--html` page of a history
//! ([`crate::html::render_history`] for registers,
//! [`crate::html::render_txn_history`] for transactions), and maps
//! verdicts to outcomes (exit 0 all valid, 1 any invalid, 3 any unknown
//! and none invalid; 2 for an unreadable or malformed file, naming the
//! file and line, or `--html` with more than one history; 4 when the page
//! cannot be written).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use serde::Serialize;

use super::{CheckArgs, CliError, CliResult, Outcome};
use crate::checker::txn::{self, ConsistencyModel, TxnCheckOptions, TxnFormat, TxnReport};
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

/// Transaction check options for the shell: the model, and the budget on
/// the wall clock.
pub fn txn_options(model: ConsistencyModel, budget: Duration) -> TxnCheckOptions {
    TxnCheckOptions {
        model,
        budget,
        clock: Some(Arc::new(WallClock::start())),
        ..TxnCheckOptions::default()
    }
}

/// What `--format` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CheckFormat {
    /// A register or key-value format; `chaos` files may turn out to hold
    /// transactions.
    Register(Format),
    /// Elle's list-append EDN.
    ElleEdn,
}

fn check_format(name: &str) -> Result<CheckFormat, anyhow::Error> {
    if name == "elle-edn" {
        return Ok(CheckFormat::ElleEdn);
    }
    name.parse::<Format>()
        .map(CheckFormat::Register)
        .map_err(|_| {
            anyhow!(
                "unknown history format `{name}`; expected chaos, jepsen-etcd, porcupine-kv or \
             elle-edn"
            )
        })
}

/// A parsed history, of either kind.
enum Loaded {
    Register(History),
    /// Transactions, and their lines' facts (node, final, error) for the
    /// `--html` page.
    Txn(txn::TxnHistory, Vec<crate::html::txn::LineFacts>),
}

/// Read and parse one file, choosing the checker by format (and, for
/// `chaos`, by its first line).
fn load_any(path: &Path, format: CheckFormat) -> Result<(Loaded, Duration), anyhow::Error> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read history {}", path.display()))?;
    let started = Instant::now();
    let loaded = match format {
        CheckFormat::ElleEdn => Loaded::Txn(
            txn::parse(&text, TxnFormat::ElleEdn).with_context(|| format!("{}", path.display()))?,
            Vec::new(),
        ),
        CheckFormat::Register(Format::Chaos) if txn::jsonl::is_txn_history(&text) => Loaded::Txn(
            txn::parse(&text, TxnFormat::Chaos).with_context(|| format!("{}", path.display()))?,
            crate::html::txn::LineFacts::from_jsonl(&text),
        ),
        CheckFormat::Register(f) => Loaded::Register(
            history::parse(&text, f).with_context(|| format!("{}", path.display()))?,
        ),
    };
    Ok((loaded, started.elapsed()))
}

/// Read and parse one history file; errors name the file (and the line).
pub fn load(path: &Path, format: Format) -> Result<History, anyhow::Error> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read history {}", path.display()))?;
    history::parse(&text, format).with_context(|| format!("{}", path.display()))
}

/// A verdict for one file, of either checker.
#[derive(Serialize)]
#[serde(untagged)]
enum FileVerdict {
    Register(CheckReport),
    Txn(Box<TxnReport>),
}

impl FileVerdict {
    fn verdict(&self) -> Verdict {
        match self {
            FileVerdict::Register(r) => r.verdict,
            FileVerdict::Txn(r) => r.verdict,
        }
    }
}

#[derive(Serialize)]
struct FileReport<'a> {
    file: String,
    /// `linearizability` or `transactions`.
    checker: &'static str,
    parse_ms: f64,
    elapsed_ms: f64,
    #[serde(flatten)]
    report: &'a FileVerdict,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    verdict: Verdict,
    files: Vec<FileReport<'a>>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn run(args: &CheckArgs) -> CliResult {
    let format = check_format(&args.format).map_err(CliError::input)?;
    let model: ConsistencyModel = args.model.parse().map_err(CliError::input)?;
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
        histories.push(load_any(path, format).map_err(CliError::input)?);
    }
    let mut options = options(budget);
    options.split_keys = !args.no_split;
    let mut reports = Vec::with_capacity(histories.len());
    for (history, parse) in &histories {
        let started = Instant::now();
        let report = match history {
            Loaded::Register(h) => FileVerdict::Register(checker::check(h, &options)),
            Loaded::Txn(h, _) => {
                FileVerdict::Txn(Box::new(txn::check(h, &txn_options(model, budget))))
            }
        };
        reports.push((report, *parse, started.elapsed()));
    }
    if let (Some(out), [(report, _, _)], [path]) =
        (&args.html, reports.as_slice(), args.histories.as_slice())
    {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let page = match (report, &histories[0].0, format) {
            (
                FileVerdict::Register(report),
                Loaded::Register(history),
                CheckFormat::Register(f),
            ) => crate::html::render_history(history, report, &name, f),
            (FileVerdict::Txn(report), Loaded::Txn(history, lines), format) => {
                let format = match format {
                    CheckFormat::ElleEdn => "elle-edn",
                    CheckFormat::Register(f) => f.as_str(),
                };
                crate::html::render_txn_history(history, lines, report, &name, format)
            }
            _ => unreachable!("a verdict comes from its own kind of history"),
        };
        crate::store::write_atomic(out, page.as_bytes())
            .with_context(|| format!("cannot write --html page {}", out.display()))
            .map_err(CliError::environment)?;
        eprintln!("wrote {}", out.display());
    }
    let verdict =
        reports
            .iter()
            .map(|(r, _, _)| r.verdict())
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
                .map(|(path, (report, parse, elapsed))| FileReport {
                    file: path.display().to_string(),
                    checker: match report {
                        FileVerdict::Register(_) => "linearizability",
                        FileVerdict::Txn(_) => "transactions",
                    },
                    parse_ms: ms(*parse),
                    elapsed_ms: ms(*elapsed),
                    report,
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&out).map_err(CliError::environment)?;
        println!("{text}");
    } else {
        for (path, (report, parse, elapsed)) in args.histories.iter().zip(&reports) {
            let body = match report {
                FileVerdict::Register(r) => checker::render(r),
                FileVerdict::Txn(r) => txn::render(r),
            };
            let timing = match report {
                FileVerdict::Register(_) => format!("checked in {:.1} ms", ms(*elapsed)),
                FileVerdict::Txn(_) => format!(
                    "parsed in {:.1} ms, checked in {:.1} ms",
                    ms(*parse),
                    ms(*elapsed)
                ),
            };
            print!(
                "{}: {} ({timing})\n{body}",
                path.display(),
                report.verdict().as_str().to_uppercase(),
            );
        }
    }
    Ok(match verdict {
        Verdict::Valid => Outcome::Success,
        Verdict::Invalid => Outcome::Anomalies,
        Verdict::Unknown => Outcome::Unknown,
    })
}
