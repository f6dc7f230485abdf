//! `chaos plan`: print what a seed turns an experiment into, touching no
//! cluster. Same file and seed, same bytes.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, CliResult, Outcome};
use crate::loader;
use crate::plan::{self, Plan};
use crate::seed::Seed;

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
}

pub fn run(args: &PlanArgs) -> CliResult {
    let mut loaded = loader::load(&args.experiment).map_err(CliError::input)?;
    if let Some(d) = args.duration {
        loaded.experiment.duration = d;
    }
    let seed = super::choose_seed(args.seed, loaded.experiment.seed);
    let plan = plan::plan(&loaded.experiment, seed);
    let text = if args.json {
        format!("{}\n", plan_json(&plan, &args.experiment, args.duration))
    } else {
        format!(
            "{}\nrerun: {}\n",
            plan::render_text(&plan, &loaded.experiment),
            rerun(&args.experiment, seed, args.duration)
        )
    };
    super::print_stdout(&text)?;
    Ok(Outcome::Success)
}

/// The command that prints this plan again.
fn rerun(
    experiment: &std::path::Path,
    seed: Seed,
    duration: Option<std::time::Duration>,
) -> String {
    let mut cmd = format!("chaos plan {} --seed {seed}", experiment.display());
    if let Some(d) = duration {
        cmd.push_str(&format!(" --duration {}", crate::duration::format(d)));
    }
    cmd
}

/// The plan as JSON, with the command that reproduces it.
pub fn plan_json(
    plan: &Plan,
    experiment: &std::path::Path,
    duration: Option<std::time::Duration>,
) -> String {
    let mut value = serde_json::to_value(plan).expect("a plan always serializes");
    value["rerun"] = serde_json::Value::String(rerun(experiment, Seed(plan.seed), duration));
    serde_json::to_string_pretty(&value).expect("a JSON value always prints")
}
