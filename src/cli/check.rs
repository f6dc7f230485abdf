//! `chaos check`: read history files (or run directories), check each,
//! print verdicts. A run directory is checked by its workload's room
//! ([`crate::workload`]) against the model its run recorded.
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

/// One run directory checked again: its workload's checker, the model the
/// run was held to (or `--model`), what it said.
#[derive(Serialize)]
struct RunDirReport {
    run_dir: String,
    workload: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    /// What results.json recorded, to compare.
    recorded_verdict: crate::results::Verdict,
    elapsed_ms: f64,
    checker: crate::results::CheckerSummary,
}

/// Check a run directory's history with its workload's checker.
fn check_run_dir(
    dir: &Path,
    model: Option<&str>,
    budget: Duration,
) -> Result<RunDirReport, CliError> {
    let files = crate::runfiles::read(dir).map_err(|e| {
        if e.is_bad_input() {
            CliError::input(anyhow!(e))
        } else {
            CliError::environment(anyhow!(e))
        }
    })?;
    let room = files.room().expect("read() refuses unknown workloads");
    let history = files.history.as_deref().ok_or_else(|| {
        CliError::input(anyhow!(
            "{}: the run kept no {}",
            dir.display(),
            crate::store::files::HISTORY
        ))
    })?;
    // The workload as the run's experiment gave it (its room's parameters).
    let kept = dir.join(crate::store::files::EXPERIMENT);
    let text = std::fs::read_to_string(&kept)
        .with_context(|| format!("cannot read {}", kept.display()))
        .map_err(CliError::input)?;
    let experiment = crate::experiment::parse(&text, &kept.display().to_string())
        .map_err(|e| CliError::input(anyhow!(e)))?
        .experiment;
    let recorded = files.results.checker.model.clone().or_else(|| {
        files
            .results
            .checker
            .txn
            .as_ref()
            .map(|t| t.model.as_str().to_string())
    });
    let model = model.map(str::to_string).or(recorded);
    if let Some(m) = &model
        && !room.caps().models.contains(&m.as_str())
    {
        return Err(CliError::input(anyhow!(
            "--model {m}: a {} history is checked for {}{}",
            room.caps().name,
            room.caps().checks,
            if room.caps().models.is_empty() {
                String::new()
            } else {
                format!("; its models: {}", room.caps().models.join(", "))
            }
        )));
    }
    let started = Instant::now();
    let checked = room
        .check(&crate::workload::CheckInput {
            history,
            workload: &experiment.workload,
            model: model.as_deref(),
            budget,
            clock: Some(Arc::new(WallClock::start())),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_cases: 20,
        })
        .map_err(|e| {
            CliError::input(anyhow!(
                "{}: {e}",
                dir.join(crate::store::files::HISTORY).display()
            ))
        })?;
    let elapsed = started.elapsed();
    let mut summary = checked.summary;
    summary.elapsed_ms = ms(elapsed);
    // What the run saw of its nodes is not in the history: carried over.
    crate::results::build::add_node_anomalies(
        &mut summary,
        crate::results::build::node_anomalies(&files.results.checker),
    );
    Ok(RunDirReport {
        run_dir: dir.display().to_string(),
        workload: room.caps().name.to_string(),
        model,
        recorded_verdict: files.results.verdict,
        elapsed_ms: ms(elapsed),
        checker: summary,
    })
}

/// A checked run directory in words.
fn render_run_dir(r: &RunDirReport) -> String {
    let mut out = format!(
        "{}: {} ({} workload{}; checked in {:.1} ms; the run recorded {})\n",
        r.run_dir,
        r.checker.verdict.as_str().to_uppercase(),
        r.workload,
        r.model
            .as_deref()
            .map(|m| format!(" held to {m}"))
            .unwrap_or_default(),
        r.elapsed_ms,
        r.recorded_verdict.as_str()
    );
    for a in &r.checker.anomalies {
        let how = if r.checker.decides(a) {
            ""
        } else {
            " (allowed)"
        };
        out.push_str(&format!(
            "  {} {}{how}: {}\n",
            a.class(),
            a.subject(),
            a.explanation()
        ));
    }
    for u in &r.checker.undecided {
        out.push_str(&format!("  undecided: key {}: {}\n", u.key, u.reason));
    }
    out
}

fn to_checker_verdict(v: crate::results::Verdict) -> Verdict {
    match v {
        crate::results::Verdict::Valid => Verdict::Valid,
        crate::results::Verdict::Invalid => Verdict::Invalid,
        crate::results::Verdict::Unknown => Verdict::Unknown,
    }
}

pub fn run(args: &CheckArgs) -> CliResult {
    let budget = crate::duration::parse(&args.budget)
        .map_err(|e| CliError::input(anyhow!(e).context("--budget")))?;
    if budget.is_zero() {
        return Err(CliError::input(anyhow!("--budget must be positive")));
    }
    let (dirs, _): (Vec<&std::path::PathBuf>, Vec<_>) =
        args.histories.iter().partition(|p| p.is_dir());
    if !dirs.is_empty() {
        if dirs.len() != args.histories.len() {
            return Err(CliError::input(anyhow!(
                "give run directories or history files, not both in one call"
            )));
        }
        if args.html.is_some() {
            return Err(CliError::input(anyhow!(
                "--html draws a history file; a run directory's page is `chaos report RUN_DIR`"
            )));
        }
        let mut reports = Vec::new();
        for dir in dirs {
            reports.push(check_run_dir(dir, args.model.as_deref(), budget)?);
        }
        let verdict = reports
            .iter()
            .map(|r| to_checker_verdict(r.checker.verdict))
            .fold(Verdict::Valid, worst);
        if args.json {
            let text = serde_json::to_string_pretty(&serde_json::json!({
                "verdict": verdict,
                "runs": reports,
            }))
            .map_err(CliError::environment)?;
            println!("{text}");
        } else {
            for r in &reports {
                print!("{}", render_run_dir(r));
            }
        }
        return Ok(outcome(verdict));
    }
    let format = check_format(&args.format).map_err(CliError::input)?;
    let model: ConsistencyModel = args
        .model
        .as_deref()
        .unwrap_or("strict-serializable")
        .parse()
        .map_err(CliError::input)?;
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
    let verdict = reports
        .iter()
        .map(|(r, _, _)| r.verdict())
        .fold(Verdict::Valid, worst);
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
    Ok(outcome(verdict))
}

/// The worse of two verdicts: invalid, then unknown, then valid.
fn worst(acc: Verdict, v: Verdict) -> Verdict {
    match (acc, v) {
        (Verdict::Invalid, _) | (_, Verdict::Invalid) => Verdict::Invalid,
        (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
        _ => Verdict::Valid,
    }
}

fn outcome(verdict: Verdict) -> Outcome {
    match verdict {
        Verdict::Valid => Outcome::Success,
        Verdict::Invalid => Outcome::Anomalies,
        Verdict::Unknown => Outcome::Unknown,
    }
}
