//! `chaos plan`: print what a seed turns an experiment into.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, CliResult};

/// Arguments of `chaos plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The experiment file (TOML).
    #[arg(value_name = "EXPERIMENT")]
    pub experiment: PathBuf,
}

pub fn run(_args: &PlanArgs) -> CliResult {
    Err(CliError::environment(anyhow::anyhow!("not built yet")))
}
