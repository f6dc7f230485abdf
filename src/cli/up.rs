//! `chaos up EXPERIMENT`: bring the experiment's compose project up and wait
//! until every service is healthy, with the compose override its faults
//! need (chaos-fs, libfaketime), as `chaos run` lays it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::cluster::{self, ProjectRef};
use super::{CliError, CliResult, Outcome};

/// Arguments of `chaos up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The experiment file (TOML); its `[cluster]` names the compose file
    /// and project.
    #[arg(value_name = "EXPERIMENT")]
    pub experiment: PathBuf,

    /// How long to wait for every service to be healthy (default: the
    /// experiment's `cluster.ready_timeout`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Build the local images the cluster needs if they are missing (with a
    /// progress display), instead of stopping to say which and how long.
    #[arg(long)]
    pub build_images: bool,

    /// Wait while another chaos process uses the project, instead of
    /// stopping (exit 4) with its pid and command.
    #[arg(long)]
    pub wait_lock: bool,
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::duration::parse(text).map_err(|e| e.to_string())
}

pub fn run(args: &UpArgs) -> CliResult {
    let loaded = cluster::load(&args.experiment)?;
    let target = ProjectRef::of(&loaded);
    let timeout = args
        .timeout
        .unwrap_or(loaded.experiment.cluster.ready_timeout);
    cluster::runtime()?.block_on(async {
        let _lock = cluster::lock(
            &target,
            &format!("chaos up {}", args.experiment.display()),
            args.wait_lock,
        )
        .await?;
        let mut c = target.connect().await?;
        cluster::ensure_images(&c, &[], args.build_images).await?;
        // The layers the experiment's faults need (chaos-fs, libfaketime),
        // as a run would lay them.
        if let Some((path, _)) =
            crate::engine::connect::overlay(&loaded.experiment, &c, &loaded.compose_file)
                .await
                .map_err(|e| CliError::environment(anyhow::anyhow!(e)))?
        {
            eprintln!("up: with the compose override {}", path.display());
            c = c.with_override(path);
        }
        eprintln!(
            "up: {} (waiting up to {timeout:?} for health)",
            target.describe()
        );
        c.up(timeout).await.map_err(CliError::environment)?;
        let containers = c.containers().await.map_err(CliError::environment)?;
        println!("{} is up", target.describe());
        print!("{}", cluster::render_containers(containers.values()));
        Ok(Outcome::Success)
    })
}
