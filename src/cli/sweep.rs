//! `chaos run FILE --seeds 1..20`: a seed sweep. The seeds run one after
//! another through the engine, on one cluster or with fresh volumes for
//! each (`--fresh`, the default when the experiment's faults can leave a
//! store damaged); a line per run as it ends, then the summary table;
//! `<results>/<experiment>/<time>-sweep.json` beside the runs, rewritten
//! after each run; `--junit FILE`; `--stop-on-anomaly`. Exit 0 when every
//! run met the experiment's `expect`, 1 when one did not, 3 when one was
//! undecided, 4 when one could not be carried out, 130 when interrupted.
//!
//! Shell: runs the engine, takes the project down for fresh volumes,
//! writes files and prints; the seeds, the table, `sweep.json`'s shape and
//! the outcome are the pure [`crate::runs::sweep`].

use std::path::Path;
use std::sync::Arc;

use super::cluster::{self, ProjectRef};
use super::progress::RunDisplay;
use super::run::{RunArgs, engine_error, ensure_images, options, unix_ms, write_junit};
use super::{CliError, CliResult, Outcome};
use crate::engine::{self, EngineError};
use crate::journal;
use crate::loader::Loaded;
use crate::results::{Status, Verdict};
use crate::runs::RunSummary;
use crate::runs::sweep::{self, Sweep, SweepOutcome, SweepRun};
use crate::seed::Seed;
use crate::warnings::{self, Level};

/// The version of `sweep.json`'s format.
pub const SWEEP_VERSION: u32 = 1;

pub fn run(args: &RunArgs, spec: &str) -> CliResult {
    let loaded = super::load_experiment(&args.experiment)?;
    let experiment = &loaded.experiment;
    let seeds = sweep::parse_seeds(spec, experiment.seed).map_err(CliError::input)?;
    let fresh = fresh(args, &loaded)?;
    plan_warnings(args, &loaded, &seeds)?;
    let (first, last) = (seeds[0], seeds[seeds.len() - 1]);
    eprintln!(
        "chaos: sweep of {} with {} seed(s), {first} to {last}{}{}",
        experiment.name,
        seeds.len(),
        if fresh {
            ", fresh volumes for each"
        } else {
            ", on one cluster"
        },
        if experiment.expect.is_valid() {
            String::new()
        } else {
            format!("; expected: {}", experiment.expect.as_str())
        }
    );
    let started_ms = unix_ms();
    let path = args.results_dir.join(&experiment.name).join(format!(
        "{}-sweep.json",
        crate::results::compact_utc(started_ms)
    ));
    let mut record = Sweep {
        sweep_version: SWEEP_VERSION,
        experiment: experiment.name.clone(),
        file: args.experiment.display().to_string(),
        expect: experiment.expect.as_str().to_string(),
        seeds: seeds.clone(),
        fresh,
        stop_on_anomaly: args.stop_on_anomaly,
        started_at: crate::results::rfc3339(started_ms),
        stopped: None,
        runs: Vec::new(),
    };
    let runtime = cluster::runtime()?;
    let aborted = runtime.block_on(drive(args, &loaded, fresh, &path, &mut record));
    if !record.runs.is_empty() {
        super::print_stdout(&format!(
            "\n{}sweep: {}\n",
            sweep::render_summary(&record),
            path.display()
        ))?;
    }
    if let Some(junit) = &args.junit {
        write_junit(junit, &loaded, &record.runs, started_ms)?;
    }
    if let Some(e) = aborted {
        return Err(e);
    }
    match record.outcome() {
        SweepOutcome::AllMet if record.runs.is_empty() => Ok(Outcome::Interrupted),
        SweepOutcome::AllMet => Ok(Outcome::Success),
        SweepOutcome::Undecided => Ok(Outcome::Unknown),
        SweepOutcome::NotMet => Ok(Outcome::Anomalies),
        SweepOutcome::Interrupted => Ok(Outcome::Interrupted),
        SweepOutcome::Failed => Err(CliError::environment(anyhow::anyhow!(
            "{} run(s) of the sweep could not be carried out (see the table above)",
            record
                .runs
                .iter()
                .filter(|r| matches!(r, SweepRun::Failed { .. }))
                .count()
        ))),
    }
}

/// Fresh volumes for each seed? ([`sweep::fresh_volumes`]).
fn fresh(args: &RunArgs, loaded: &Loaded) -> Result<bool, CliError> {
    let e = &loaded.experiment;
    match sweep::fresh_volumes(
        args.fresh,
        args.no_fresh,
        e.can_damage_store(),
        e.cluster.up,
    ) {
        Ok(sweep::Fresh::Yes) => Ok(true),
        Ok(sweep::Fresh::No) => Ok(false),
        Ok(sweep::Fresh::NotPossible(warning)) => {
            eprintln!("chaos: {}: {warning}", e.name);
            Ok(false)
        }
        Err(e) => Err(CliError::input(anyhow::anyhow!(
            "{}: {e}",
            loaded.path.display()
        ))),
    }
}

/// Print each distinct plan warning once, with the seeds it is about; with
/// `--strict`, a warning for any seed refuses the sweep (exit 2).
fn plan_warnings(args: &RunArgs, loaded: &Loaded, seeds: &[u64]) -> Result<(), CliError> {
    let mut planned = loaded.experiment.clone();
    if let Some(d) = args.duration {
        planned.duration = d;
    }
    let mut found: Vec<(String, Level, Vec<u64>)> = Vec::new();
    for &seed in seeds {
        for w in warnings::check(&planned, &crate::plan::plan(&planned, Seed(seed))) {
            let line = w.line();
            match found.iter_mut().find(|(l, ..)| *l == line) {
                Some((_, _, s)) => s.push(seed),
                None => found.push((line, w.level, vec![seed])),
            }
        }
    }
    for (line, _, s) in &found {
        if s.len() == seeds.len() {
            eprintln!("chaos: {line}");
        } else {
            let s: Vec<String> = s.iter().map(u64::to_string).collect();
            eprintln!("chaos: {line} (seeds {})", s.join(", "));
        }
    }
    let warned = found.iter().any(|(_, l, _)| *l == Level::Warning);
    if args.strict && warned {
        return Err(CliError::input(anyhow::anyhow!(
            "{}: a seed's plan draws warnings, refused with --strict",
            planned.name
        )));
    }
    Ok(())
}

/// Take the project down with its volumes (and retire its journals, as
/// `chaos down` does), so that the next run starts on fresh ones.
async fn fresh_volumes(target: &ProjectRef, file: &Path, wait: bool) -> Result<(), CliError> {
    let _lock = cluster::lock(
        target,
        &format!("chaos run {} --seeds (fresh volumes)", file.display()),
        wait,
    )
    .await?;
    let c = target.connect().await?;
    c.down().await.map_err(CliError::environment)?;
    for run in journal::active_runs(&target.project).map_err(CliError::environment)? {
        journal::retire(&run).map_err(CliError::environment)?;
    }
    Ok(())
}

fn save(path: &Path, record: &Sweep) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(record).map_err(CliError::environment)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::environment(anyhow::anyhow!("cannot create {}: {e}", dir.display()))
        })?;
    }
    crate::store::write_atomic(path, format!("{text}\n").as_bytes())
        .map_err(|e| CliError::environment(anyhow::anyhow!("cannot write {}: {e}", path.display())))
}

/// Run the seeds; returns the error that stopped the sweep, if one did
/// (what ran is in `record` either way).
async fn drive(
    args: &RunArgs,
    loaded: &Loaded,
    fresh: bool,
    path: &Path,
    record: &mut Sweep,
) -> Option<CliError> {
    let expect = loaded.experiment.expect;
    let seeds: Vec<Seed> = record.seeds.iter().map(|s| Seed(*s)).collect();
    if let Err(e) = ensure_images(loaded, &seeds, args.build_images).await {
        return Some(e);
    }
    let target = ProjectRef::of(loaded);
    let cancel = super::signals::install(vec![ProjectRef::of(loaded)]);
    for seed in seeds {
        if cancel.is_cancelled() {
            record.stopped = Some(format!("interrupted before seed {seed}"));
            break;
        }
        if fresh && let Err(e) = fresh_volumes(&target, &args.experiment, args.wait_lock).await {
            return Some(e);
        }
        let display = Arc::new(RunDisplay::new());
        let opts = options(args, seed, cancel.clone(), display.clone());
        let rerun = opts.rerun_command();
        let result = engine::run(loaded, opts).await;
        display.finish();
        let run = match result {
            Ok(outcome) => SweepRun::ran(
                expect,
                RunSummary::of(&outcome.results, &outcome.run_dir.display().to_string()),
            ),
            Err(EngineError::Cancelled) => {
                record.stopped = Some(format!("interrupted before seed {seed}"));
                break;
            }
            // What stops one seed stops them all: the project in use, an
            // image missing.
            Err(e @ (EngineError::Lock(_) | EngineError::Images(_))) => {
                return Some(engine_error(e, &rerun));
            }
            Err(e) => SweepRun::Failed {
                seed: seed.0,
                error: engine_error(e, &rerun).to_string(),
            },
        };
        if let Err(e) = super::print_stdout(&format!("{}\n", sweep::run_line(expect, &run))) {
            return Some(e);
        }
        let (stop, interrupted) = match &run {
            SweepRun::Ran { summary, .. } => (
                args.stop_on_anomaly && summary.verdict == Verdict::Invalid,
                summary.status != Status::Completed,
            ),
            SweepRun::Failed { .. } => (false, false),
        };
        let kinds = match &run {
            SweepRun::Ran { summary, .. } => summary.kinds_text(),
            SweepRun::Failed { .. } => String::new(),
        };
        record.runs.push(run);
        if interrupted {
            record.stopped = Some(format!("seed {seed} was interrupted"));
        } else if stop {
            record.stopped = Some(format!(
                "--stop-on-anomaly: seed {seed} found anomalies ({kinds})"
            ));
        }
        if let Err(e) = save(path, record) {
            return Some(e);
        }
        if record.stopped.is_some() {
            break;
        }
    }
    if record.stopped.is_some()
        && let Err(e) = save(path, record)
    {
        return Some(e);
    }
    None
}
