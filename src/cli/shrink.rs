//! `chaos shrink RUN_DIR`: from a run with an anomaly, search for the
//! smallest schedule that still shows an anomaly of the same class, on the
//! real cluster; write it as `shrunk.toml` (runnable with `chaos run`).

use std::path::PathBuf;

use clap::Args;

use super::cluster::{self, ProjectRef};
use super::replay::replay_error;
use super::{CliResult, Outcome};
use crate::shrink::{self, Options, ShrinkEvent, ShrinkOptions};

/// Arguments of `chaos shrink`.
#[derive(Debug, Args)]
pub struct ShrinkArgs {
    /// The run directory of a run with an anomaly.
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,

    /// Runs per candidate schedule.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub tries: u32,

    /// A candidate is kept when at least this many of its tries show an
    /// anomaly of the original's class.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub min_repro: u32,

    /// Stop after this many candidate runs (the best so far is kept).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_runs: u32,

    /// Stop after this long (e.g. `2h`).
    #[arg(long, value_name = "DURATION", value_parser = super::parse_positive_duration)]
    pub max_time: Option<std::time::Duration>,

    /// Fresh runs of the result at the end, for its reproduction rate.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub fresh: u32,

    /// Give up checking a key after this long and call it unknown.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = super::parse_positive_duration)]
    pub budget: std::time::Duration,
}

pub fn run(args: &ShrinkArgs) -> CliResult {
    let recorded = shrink::read_run(&args.run_dir).map_err(replay_error)?;
    for change in recorded.changes() {
        eprintln!("chaos: warning: {change}");
    }
    let classes = recorded.classes();
    if !classes.is_empty() {
        let start = shrink::start_candidate(&recorded);
        eprintln!(
            "chaos: shrinking {} ({}; class {}); at most {} runs, {} tries a candidate",
            args.run_dir.display(),
            start.describe(),
            classes.iter().cloned().collect::<Vec<_>>().join(", "),
            args.max_runs,
            args.tries
        );
    }
    let options = ShrinkOptions {
        tries: args.tries as usize,
        min_repro: args.min_repro as usize,
        max_runs: args.max_runs as usize,
        max_time: args.max_time,
        fresh: args.fresh as usize,
    };
    let sink = |e: ShrinkEvent| match e {
        ShrinkEvent::Candidate { n, phase, describe } => {
            eprintln!("chaos: candidate {n} ({phase}): {describe}");
        }
        ShrinkEvent::Try {
            attempt,
            verdict,
            classes,
            ..
        } => eprintln!(
            "chaos:   try {attempt}: {}{}",
            verdict.map_or("failed to run", |v| v.as_str()),
            if classes.is_empty() {
                String::new()
            } else {
                format!(" ({})", classes.join(", "))
            }
        ),
        ShrinkEvent::Decided {
            reproduced,
            best,
            runs,
            runs_left,
            eta,
            ..
        } => eprintln!(
            "chaos:   {}; best so far: {best}; {runs} runs done, at most {runs_left} left (about {})",
            if reproduced {
                "reproduced: kept"
            } else {
                "not reproduced"
            },
            crate::duration::format(std::time::Duration::from_secs(eta.as_secs()))
        ),
        ShrinkEvent::Fresh {
            attempt,
            reproduced,
        } => eprintln!(
            "chaos: fresh run {attempt} of the result: {}",
            if reproduced {
                "reproduced"
            } else {
                "not reproduced"
            }
        ),
    };
    let outcome = cluster::runtime()?.block_on(async {
        let mut o = Options::new(PathBuf::new());
        o.budget = args.budget;
        o.cancel = super::signals::install(vec![ProjectRef::of(&recorded.loaded)]);
        let result = shrink::shrink(&recorded, &options, &o, &sink).await;
        (result, o.cancel.is_cancelled())
    });
    let (outcome, cancelled) = outcome;
    let outcome = outcome.map_err(replay_error)?;
    let mut out = String::new();
    out.push_str(&format!(
        "shrunk: {} (from {})\n",
        outcome.best.describe(),
        outcome.start.describe()
    ));
    for f in &outcome.best.faults {
        out.push_str(&format!(
            "  {} {} at {} for {}\n",
            f.fault.describe(),
            f.targets.describe(),
            crate::duration::format(f.at),
            crate::duration::format(f.duration)
        ));
    }
    out.push_str(&format!(
        "{} candidates, {} runs, {:.0} s{}\n",
        outcome.candidates,
        outcome.runs,
        outcome.elapsed_s,
        outcome
            .stopped
            .as_ref()
            .map(|s| format!("; stopped early: {s}"))
            .unwrap_or_default()
    ));
    if outcome.fresh_runs > 0 {
        out.push_str(&format!(
            "reproduced in {} of {} fresh runs\n",
            outcome.fresh_reproduced, outcome.fresh_runs
        ));
    }
    out.push_str(&format!(
        "shrunk.toml: {}\nevery candidate: {}\n",
        outcome.shrunk.display(),
        outcome.dir.join("shrink.jsonl").display()
    ));
    super::print_stdout(&out)?;
    Ok(if cancelled {
        Outcome::Interrupted
    } else {
        Outcome::Success
    })
}
