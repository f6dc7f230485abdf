//! `chaos run`: run an experiment end to end through the engine, print the
//! verdict, choose the exit code. Ctrl-C and SIGTERM cancel the run (it
//! heals, checks what it recorded, writes the results as interrupted, and
//! the command exits 130); a second signal heals from the journal and
//! exits at once.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::cluster::{self, ProjectRef};
use super::progress::RunDisplay;
use super::{CliError, CliResult, Outcome};
use crate::engine::{self, EngineError, RunOptions};
use crate::results::{Status, Verdict};

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

    /// Wait while another chaos process uses the experiment's compose
    /// project, instead of stopping (exit 4) with its pid and command.
    #[arg(long)]
    pub wait_lock: bool,

    /// Refuse (exit 2, nothing touched) a plan that draws warnings; they
    /// are printed either way (see `chaos plan --strict`).
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: &RunArgs) -> CliResult {
    // A bad file stops here, before anything is created or started.
    let loaded = super::load_experiment(&args.experiment)?;
    let seed = super::choose_seed(args.seed, loaded.experiment.seed);
    eprintln!("chaos: {} with seed {seed}", loaded.experiment.name);
    {
        let mut planned = loaded.experiment.clone();
        if let Some(d) = args.duration {
            planned.duration = d;
        }
        super::plan_warnings(&planned, &crate::plan::plan(&planned, seed), args.strict)?;
    }
    let runtime = cluster::runtime()?;
    let target = ProjectRef::of(&loaded);
    let display = Arc::new(RunDisplay::new());
    let result = runtime.block_on(async {
        if loaded.experiment.cluster.up {
            let cluster = target.connect().await?;
            let plan = crate::plan::plan(&loaded.experiment, seed);
            let helper = if crate::nemesis::needs_helpers(&plan) {
                vec![crate::nemesis::helper_image()]
            } else {
                Vec::new()
            };
            cluster::ensure_images(&cluster, &helper, args.build_images).await?;
        }
        let mut opts = RunOptions::new(&args.experiment.display().to_string(), seed);
        opts.results_root = args.results_dir.clone();
        opts.duration = args.duration;
        opts.budget = args.budget;
        opts.cancel = super::signals::install(vec![ProjectRef::of(&loaded)]);
        opts.progress = display.clone();
        opts.wait_lock = args.wait_lock;
        let rerun = opts.rerun_command();
        engine::run(&loaded, opts).await.map_err(|e| match e {
            EngineError::Cancelled => CliError::interrupted(anyhow::anyhow!(
                "interrupted before the run started; nothing was applied"
            )),
            // Nothing ran: there is nothing to rerun.
            EngineError::Lock(e) => CliError::environment(e),
            e => CliError::environment(
                anyhow::Error::new(e).context(format!("the run failed; rerun with: {rerun}")),
            ),
        })
    });
    display.finish();
    let outcome = result?;
    super::print_stdout(&outcome.report)?;
    Ok(match (outcome.results.status, outcome.results.verdict) {
        (Status::Interrupted | Status::Crashed, _) => Outcome::Interrupted,
        (_, Verdict::Valid) => Outcome::Success,
        (_, Verdict::Invalid) => Outcome::Anomalies,
        (_, Verdict::Unknown) => Outcome::Unknown,
    })
}
