//! `chaos replay RUN_DIR [--times N]`: run a recorded run's plan again, N
//! times, and say how many replays showed an anomaly of the same class (or,
//! for a valid run, how many stayed valid).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::cluster::{self, ProjectRef};
use super::progress::RunDisplay;
use super::{CliError, CliResult, Outcome};
use crate::results::{Status, Verdict};
use crate::shrink::{self, Options, ReplayError};

/// Arguments of `chaos replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The run directory (results/<experiment>/<time>-seed<N>/).
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,

    /// How many times to run it again.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub times: u32,

    /// Where the replays' run directories go (default: beside the run, in
    /// its experiment's directory).
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,

    /// Give up checking a key after this long and call it unknown.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = super::parse_positive_duration)]
    pub budget: std::time::Duration,
}

/// A run directory error: bad input (exit 2), unless the engine failed.
pub fn replay_error(e: ReplayError) -> CliError {
    match e {
        ReplayError::Engine(_) | ReplayError::Io { .. } => CliError::environment(e),
        _ => CliError::input(e),
    }
}

pub fn run(args: &ReplayArgs) -> CliResult {
    let recorded = shrink::read_run(&args.run_dir).map_err(replay_error)?;
    for change in recorded.changes() {
        eprintln!("chaos: warning: {change}");
    }
    let classes = recorded.classes();
    let root = args.results_dir.clone().unwrap_or_else(|| {
        args.run_dir
            .parent()
            .and_then(|p| p.parent())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("results"))
    });
    eprintln!(
        "chaos: replaying {} ({} seed {}) {} time(s); original: {}",
        args.run_dir.display(),
        recorded.loaded.experiment.name,
        recorded.replay.seed,
        args.times,
        match &recorded.results {
            Some(r) if classes.is_empty() => r.verdict.as_str().to_string(),
            Some(_) => format!(
                "anomalies of class {}",
                classes.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            None => "no results".to_string(),
        }
    );
    let display = Arc::new(RunDisplay::new());
    let outcomes = cluster::runtime()?.block_on(async {
        let mut o = Options::new(root);
        o.budget = args.budget;
        o.cancel = super::signals::install(vec![ProjectRef::of(&recorded.loaded)]);
        o.progress = display.clone();
        shrink::replay(&recorded, args.times as usize, &o)
            .await
            .map_err(replay_error)
    });
    display.finish();
    let outcomes = outcomes?;
    let mut out = String::new();
    let mut same = 0;
    let mut invalid = 0;
    let mut unknown = 0;
    for (i, o) in outcomes.iter().enumerate() {
        let shows = shrink::shows(&o.results, &classes);
        same += usize::from(shows);
        invalid += usize::from(o.results.verdict == Verdict::Invalid);
        unknown += usize::from(o.results.verdict == Verdict::Unknown);
        let found: Vec<String> = o
            .results
            .checker
            .anomalies
            .iter()
            .map(|a| a.class().to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        out.push_str(&format!(
            "replay {}: {} {}{} -> {}\n",
            i + 1,
            o.results.verdict.as_str(),
            o.results.status.as_str(),
            if found.is_empty() {
                String::new()
            } else {
                format!(" ({})", found.join(", "))
            },
            o.run_dir.display()
        ));
    }
    if classes.is_empty() {
        out.push_str(&format!(
            "{} of {} replays valid (the original was valid)\n",
            outcomes.len() - invalid - unknown,
            outcomes.len()
        ));
    } else {
        out.push_str(&format!(
            "{same} of {} replays reproduced an anomaly of the same class ({})\n",
            outcomes.len(),
            classes.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    super::print_stdout(&out)?;
    if outcomes.len() < args.times as usize
        || outcomes
            .iter()
            .any(|o| o.results.status != Status::Completed)
    {
        return Ok(Outcome::Interrupted);
    }
    Ok(if invalid > 0 {
        Outcome::Anomalies
    } else if unknown > 0 {
        Outcome::Unknown
    } else {
        Outcome::Success
    })
}
