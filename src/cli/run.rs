//! `chaos run`: run an experiment end to end and print the verdict.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, CliResult, Outcome};
use crate::loader;
use crate::results::Verdict;
use crate::runner::execute::{self, RunOptions};

/// Arguments of `chaos run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The experiment file (TOML).
    #[arg(value_name = "EXPERIMENT")]
    pub experiment: PathBuf,

    /// The seed. Overrides the file's `seed`; without either, one is drawn at
    /// random, printed, and stored with the results.
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = super::parse_seed)]
    pub seed: Option<u64>,

    /// Where run directories go.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,

    /// Run for this long instead of the file's `duration` (e.g. `20s`); the
    /// plan is made for the shorter run, and the rerun command says so.
    #[arg(long, value_name = "DURATION", value_parser = super::parse_positive_duration)]
    pub duration: Option<std::time::Duration>,

    /// Give up checking a key after this long and call it unknown.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = super::parse_positive_duration)]
    pub budget: std::time::Duration,

    /// Build the local images the experiment needs if they are missing
    /// (with a progress display), instead of stopping to say which and how
    /// long.
    #[arg(long)]
    pub build_images: bool,
}

pub fn run(args: &RunArgs) -> CliResult {
    // A bad file stops here, before anything is created or started.
    let loaded = loader::load(&args.experiment).map_err(CliError::input)?;
    let seed = super::choose_seed(args.seed, loaded.experiment.seed);
    let opts = RunOptions {
        file_arg: args.experiment.display().to_string(),
        seed,
        results_root: args.results_dir.clone(),
        duration: args.duration,
        budget: args.budget,
    };
    eprintln!("chaos: {} with seed {seed}", loaded.experiment.name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::environment)?;
    if loaded.experiment.cluster.up {
        runtime.block_on(async {
            let target = super::cluster::ProjectRef::of(&loaded);
            let cluster = target.connect().await?;
            let plan = crate::plan::plan(&loaded.experiment, seed);
            let helper = if crate::nemesis::needs_helpers(&plan) {
                vec![crate::nemesis::helper_image()]
            } else {
                Vec::new()
            };
            super::cluster::ensure_images(&cluster, &helper, args.build_images).await
        })?;
    }
    let outcome = runtime
        .block_on(execute::run(&loaded, &opts))
        .map_err(|e| {
            CliError::environment(e.context(format!(
                "the run failed; rerun with: {}",
                execute::rerun_command(&opts)
            )))
        })?;
    print!("{}", outcome.report);
    Ok(match outcome.results.verdict {
        Verdict::Valid => Outcome::Success,
        Verdict::Invalid => Outcome::Anomalies,
        Verdict::Unknown => Outcome::Unknown,
    })
}
