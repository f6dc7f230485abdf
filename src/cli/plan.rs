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

    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &PlanArgs) -> CliResult {
    let loaded = loader::load(&args.experiment).map_err(CliError::input)?;
    let seed = super::choose_seed(args.seed, loaded.experiment.seed);
    let plan = plan::plan(&loaded.experiment, seed);
    if args.json {
        println!("{}", plan_json(&plan, &args.experiment));
    } else {
        print!("{}", plan::render_text(&plan, &loaded.experiment));
        println!();
        println!(
            "rerun: chaos plan {} --seed {}",
            args.experiment.display(),
            seed
        );
    }
    Ok(Outcome::Success)
}

/// The plan as JSON, with the command that reproduces it.
pub fn plan_json(plan: &Plan, experiment: &std::path::Path) -> String {
    let mut value = serde_json::to_value(plan).expect("a plan always serializes");
    value["rerun"] = serde_json::Value::String(format!(
        "chaos plan {} --seed {}",
        experiment.display(),
        Seed(plan.seed)
    ));
    serde_json::to_string_pretty(&value).expect("a JSON value always prints")
}
