//! `chaos runs`: the runs under a results directory, newest first (time,
//! experiment, seed, verdict, anomaly kinds, duration, run directory),
//! filtered by `--experiment`, `--invalid` and `--since`, as text or
//! `--json`; `chaos runs show RUN` (one run's summary) and `chaos runs diff
//! A B` (what differs between two runs).
//!
//! Shell: finds and reads run directories ([`crate::runfiles`]) and reads
//! the clock for `--since 2h`; the rows, filters, summary and difference
//! are the pure [`crate::runs`].

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{CliError, CliResult, Outcome};
use crate::runfiles::{self, RunFilesError};
use crate::runs::{self, Filter, RunSummary, Since, diff};

/// Arguments of `chaos runs`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub which: Option<RunsCommand>,

    #[command(flatten)]
    pub list: ListArgs,
}

/// `chaos runs` (the list) and its filters.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Where the run directories are (`<DIR>/<experiment>/<time>-seed<N>/`).
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,

    /// Only this experiment's runs (its `name`).
    #[arg(long, value_name = "NAME")]
    pub experiment: Option<String>,

    /// Only runs whose verdict is invalid.
    #[arg(long)]
    pub invalid: bool,

    /// Only runs that started within this long before now (`2h`, `30m`,
    /// `7d`) or at or after this UTC date and time (`2026-12-07`,
    /// `2026-12-07T18:30`).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<Since>,

    /// Print the rows as a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One run's summary: verdict, anomaly kinds with counts and the first
    /// explanation, ops, throughput, latency, each fault as it happened,
    /// the rerun command.
    Show {
        /// The run directory.
        #[arg(value_name = "RUN")]
        run: PathBuf,
        /// Print the run's row as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// What differs between two runs: the plan (seed, duration, each
    /// planned fault, the op streams), the fault timeline as it happened,
    /// the verdict, the anomaly kinds, and throughput and latency side by
    /// side with B's change against A.
    Diff {
        /// The first run directory (the baseline).
        #[arg(value_name = "A")]
        a: PathBuf,
        /// The second run directory.
        #[arg(value_name = "B")]
        b: PathBuf,
        /// Print the difference as JSON instead.
        #[arg(long)]
        json: bool,
    },
}

fn parse_since(text: &str) -> Result<Since, String> {
    Since::parse(text).map_err(|e| e.to_string())
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn read_error(e: RunFilesError) -> CliError {
    if e.is_bad_input() {
        CliError::input(e)
    } else {
        CliError::environment(e)
    }
}

fn json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(CliError::environment)?;
    super::print_stdout(&format!("{text}\n"))
}

pub fn run(args: &RunsArgs) -> CliResult {
    match &args.which {
        None => list(&args.list),
        Some(RunsCommand::Show { run, json: as_json }) => {
            let files = runfiles::read(run).map_err(read_error)?;
            let dir = run.display().to_string();
            if *as_json {
                json(&RunSummary::of(&files.results, &dir))?;
            } else {
                super::print_stdout(&runs::render_show(&files.results, &dir))?;
            }
            Ok(Outcome::Success)
        }
        Some(RunsCommand::Diff {
            a,
            b,
            json: as_json,
        }) => {
            let (fa, fb) = (
                runfiles::read(a).map_err(read_error)?,
                runfiles::read(b).map_err(read_error)?,
            );
            let (da, db) = (a.display().to_string(), b.display().to_string());
            let d = diff::diff(
                diff::Side {
                    results: &fa.results,
                    plan: fa.plan.as_ref(),
                    dir: &da,
                },
                diff::Side {
                    results: &fb.results,
                    plan: fb.plan.as_ref(),
                    dir: &db,
                },
            );
            if *as_json {
                json(&d)?;
            } else {
                super::print_stdout(&diff::render(&d))?;
            }
            Ok(Outcome::Success)
        }
    }
}

/// The rows of every run under `root`; a run directory that cannot be
/// read is skipped with a warning on standard error.
pub fn rows(root: &Path) -> Result<Vec<RunSummary>, CliError> {
    if !root.is_dir() {
        return Err(CliError::input(anyhow::anyhow!(
            "{}: no such results directory (runs go under `results/` unless --results-dir says \
             otherwise)",
            root.display()
        )));
    }
    let dirs = runfiles::find(root).map_err(read_error)?;
    let mut rows = Vec::new();
    for dir in dirs {
        match runfiles::read_results(&dir) {
            Ok((results, _)) => rows.push(RunSummary::of(&results, &dir.display().to_string())),
            Err(e) => eprintln!("chaos: skipped: {e}"),
        }
    }
    Ok(rows)
}

fn list(args: &ListArgs) -> CliResult {
    let filter = Filter {
        experiment: args.experiment.clone(),
        invalid: args.invalid,
        since: args.since.as_ref().map(|s| s.cutoff(unix_ms())),
    };
    let rows = runs::list(rows(&args.results_dir)?, &filter);
    if args.json {
        json(&rows)?;
    } else {
        super::print_stdout(&runs::render_list(&rows))?;
    }
    Ok(Outcome::Success)
}
