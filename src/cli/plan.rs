//! `chaos plan`: print what a seed turns an experiment into, touching no
//! cluster. Same file and seed, same bytes.

use std::path::PathBuf;

use clap::Args;

use super::{CliResult, Outcome};
use crate::plan;

/// Arguments of `chaos plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The experiment file (TOML).
    #[arg(value_name = "EXPERIMENT")]
    pub experiment: PathBuf,

    /// The seed. Overrides the file's `seed`; without either, one is drawn at
    /// random and printed, so the plan can be had again.
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = super::parse_seed)]
    pub seed: Option<u64>,

    /// Plan for this long instead of the file's `duration` (as `chaos run
    /// --duration` does).
    #[arg(long, value_name = "DURATION", value_parser = super::parse_positive_duration)]
    pub duration: Option<std::time::Duration>,

    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,

    /// Refuse (exit 2) a plan that draws warnings (two faults undoing each
    /// other on one target, a majority of a component down at once, an op
    /// timeout longer than the run, no fault at all); they are printed to
    /// stderr either way.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: &PlanArgs) -> CliResult {
    let mut loaded = super::load_experiment(&args.experiment)?;
    if let Some(d) = args.duration {
        loaded.experiment.duration = d;
    }
    let seed = super::choose_seed(args.seed, loaded.experiment.seed);
    let plan = plan::plan(&loaded.experiment, seed);
    super::plan_warnings(&loaded.experiment, &plan, args.strict)?;
    let text = if args.json {
        format!(
            "{}\n",
            plan::plan_json(&plan, &args.experiment, args.duration)
        )
    } else {
        format!(
            "{}\nrerun: {}\n",
            plan::render_text(&plan, &loaded.experiment),
            plan::plan_command(&args.experiment, seed, args.duration)
        )
    };
    super::print_stdout(&text)?;
    Ok(Outcome::Success)
}
