//! `chaos down EXPERIMENT`: remove chaos's helper containers, then the
//! compose project with its volumes (`down -v`). The project's open
//! journals leave the active index: with the cluster gone, nothing they
//! list can be undone, or needs to be.

use std::path::PathBuf;

use clap::Args;

use super::cluster::{self, ProjectRef};
use super::{CliError, CliResult, Outcome};
use crate::journal;

/// Arguments of `chaos down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// The experiment file (TOML).
    #[arg(value_name = "EXPERIMENT")]
    pub experiment: PathBuf,

    /// Wait while another chaos process uses the project, instead of
    /// stopping (exit 4) with its pid and command.
    #[arg(long)]
    pub wait_lock: bool,
}

pub fn run(args: &DownArgs) -> CliResult {
    let loaded = cluster::load(&args.experiment)?;
    let target = ProjectRef::of(&loaded);
    cluster::runtime()?.block_on(async {
        let _lock = cluster::lock(
            &target,
            &format!("chaos down {}", args.experiment.display()),
            args.wait_lock,
        )
        .await?;
        let c = target.connect().await?;
        c.down().await.map_err(CliError::environment)?;
        println!(
            "{} is down (containers, networks and volumes removed)",
            target.describe()
        );
        let runs = journal::active_runs(&target.project).map_err(CliError::environment)?;
        for run in &runs {
            journal::retire(run).map_err(CliError::environment)?;
            println!(
                "  journal {} left the active index (its cluster is gone)",
                run.journal.display()
            );
        }
        Ok(Outcome::Success)
    })
}
