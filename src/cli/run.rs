//! `chaos run`: run an experiment end to end through the engine, print the
//! verdict, choose the exit code. Ctrl-C and SIGTERM cancel the run (it
//! heals, checks what it recorded, writes the results as interrupted, and
//! the command exits 130); a second signal heals from the journal and
//! exits at once. With `--seeds` it is a seed sweep ([`super::sweep`]);
//! with `--junit FILE` it also writes the run as JUnit XML.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use tokio_util::sync::CancellationToken;

use super::cluster::{self, ProjectRef};
use super::progress::RunDisplay;
use super::{CliError, CliResult, Outcome};
use crate::engine::{self, EngineError, RunOptions};
use crate::loader::Loaded;
use crate::results::{Status, Verdict};
use crate::runs::{RunSummary, junit, sweep::SweepRun};
use crate::seed::Seed;

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

    /// A seed sweep: run these seeds one after another, `FIRST..LAST`
    /// (both included: `1..20` is twenty runs) or a count `N` (N seeds from
    /// the file's `seed`, else from 1). Prints a line per run as it ends and
    /// a summary table, writes `<time>-sweep.json` beside the runs, and
    /// exits 1 if a run did not meet the experiment's `expect` (an anomaly
    /// where none was expected; for a known-bad control, a run without).
    #[arg(
        long,
        value_name = "SEEDS",
        conflicts_with = "seed",
        allow_hyphen_values = true
    )]
    pub seeds: Option<String>,

    /// Give each seed of a sweep fresh volumes: the project is taken down
    /// with its volumes before each run. The default for experiments whose
    /// faults can leave a store damaged (power loss, a full disk, I/O
    /// errors).
    #[arg(long, requires = "seeds", conflicts_with = "no_fresh")]
    pub fresh: bool,

    /// Run every seed of a sweep on the same cluster and volumes, even for
    /// an experiment whose faults can leave a store damaged.
    #[arg(long, requires = "seeds")]
    pub no_fresh: bool,

    /// Stop a sweep after the first run that finds an anomaly (verdict
    /// invalid), whatever the experiment expects.
    #[arg(long, requires = "seeds")]
    pub stop_on_anomaly: bool,

    /// Also write the run (a sweep: its runs) as JUnit XML to FILE: one
    /// test case per run and one per anomaly kind it found; a run that
    /// meets the experiment's `expect` passes.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

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
    if let Some(spec) = &args.seeds {
        return super::sweep::run(args, spec);
    }
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
    let display = Arc::new(RunDisplay::new());
    let started = unix_ms();
    let result = runtime.block_on(async {
        ensure_images(&loaded, &[seed], args.build_images).await?;
        let cancel = super::signals::install(vec![ProjectRef::of(&loaded)]);
        let opts = options(args, seed, cancel, display.clone());
        let rerun = opts.rerun_command();
        engine::run(&loaded, opts)
            .await
            .map_err(|e| engine_error(e, &rerun))
    });
    display.finish();
    if let Some(path) = &args.junit {
        let run = match &result {
            Ok(outcome) => SweepRun::ran(
                loaded.experiment.expect,
                RunSummary::of(&outcome.results, &outcome.run_dir.display().to_string()),
            ),
            Err(e) => SweepRun::Failed {
                seed: seed.0,
                error: e.to_string(),
            },
        };
        write_junit(path, &loaded, &[run], started)?;
    }
    let outcome = result?;
    super::print_stdout(&outcome.report)?;
    Ok(match (outcome.results.status, outcome.results.verdict) {
        (Status::Interrupted | Status::Crashed, _) => Outcome::Interrupted,
        (_, Verdict::Valid) => Outcome::Success,
        (_, Verdict::Invalid) => Outcome::Anomalies,
        (_, Verdict::Unknown) => Outcome::Unknown,
    })
}

/// The engine's options for one run of the command's flags.
pub(super) fn options(
    args: &RunArgs,
    seed: Seed,
    cancel: CancellationToken,
    display: Arc<RunDisplay>,
) -> RunOptions {
    let mut opts = RunOptions::new(&args.experiment.display().to_string(), seed);
    opts.results_root = args.results_dir.clone();
    opts.duration = args.duration;
    opts.budget = args.budget;
    opts.cancel = cancel;
    opts.progress = display;
    opts.wait_lock = args.wait_lock;
    opts
}

/// An engine error as the command line reports it (exit 130 or 4).
pub(super) fn engine_error(e: EngineError, rerun: &str) -> CliError {
    match e {
        EngineError::Cancelled => CliError::interrupted(anyhow::anyhow!(
            "interrupted before the run started; nothing was applied"
        )),
        // Nothing ran: there is nothing to rerun.
        EngineError::Lock(e) => CliError::environment(e),
        e => CliError::environment(
            anyhow::Error::new(e).context(format!("the run failed; rerun with: {rerun}")),
        ),
    }
}

/// The local images the experiment's cluster and the seeds' faults need
/// (the network helper), before anything starts (see
/// [`cluster::ensure_images`]); nothing when chaos does not bring the
/// cluster up.
pub(super) async fn ensure_images(
    loaded: &Loaded,
    seeds: &[Seed],
    build: bool,
) -> Result<(), CliError> {
    if !loaded.experiment.cluster.up {
        return Ok(());
    }
    let cluster = ProjectRef::of(loaded).connect().await?;
    let helper = seeds
        .iter()
        .any(|s| crate::nemesis::needs_helpers(&crate::plan::plan(&loaded.experiment, *s)));
    let helper = if helper {
        vec![crate::nemesis::helper_image()]
    } else {
        Vec::new()
    };
    cluster::ensure_images(&cluster, &helper, build).await
}

/// Write runs of the experiment as JUnit XML to `path` (its directory made
/// if missing); `started_ms` is the first run's start.
pub(super) fn write_junit(
    path: &std::path::Path,
    loaded: &Loaded,
    runs: &[SweepRun],
    started_ms: u64,
) -> Result<(), CliError> {
    let xml = junit::render(
        &loaded.experiment.name,
        &loaded.path.display().to_string(),
        loaded.experiment.expect,
        runs,
        &crate::results::rfc3339(started_ms),
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::environment(anyhow::anyhow!("cannot create {}: {e}", dir.display()))
        })?;
    }
    crate::store::write_atomic(path, xml.as_bytes())
        .map_err(|e| CliError::environment(anyhow::anyhow!("cannot write {}: {e}", path.display())))
}

/// The time now, in Unix milliseconds.
pub(super) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
