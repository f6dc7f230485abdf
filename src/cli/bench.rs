//! `chaos bench EXPERIMENT`: measure the experiment's cluster against its
//! goals (p99 under 100 ms, more than 1,000 ok requests per second, start-up
//! and a node restart under 30 s) through the engine's bench driver; print
//! each goal met or not with its figure (or the whole report as JSON), and
//! choose the exit code: 0 when no goal is missed, 1 when one is.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::cluster::{self, ProjectRef};
use super::progress::RunDisplay;
use super::{CliError, CliResult, Outcome};
use crate::bench::ramp::RampSpec;
use crate::bench::{GoalStatus, Objective};
use crate::engine::EngineError;
use crate::engine::bench::{self, BenchOptions, RestartChoice};
use crate::loader;

/// Arguments of `chaos bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The experiment file (TOML): its cluster and workload are benched; its
    /// nemeses are not applied.
    #[arg(value_name = "EXPERIMENT")]
    pub experiment: PathBuf,

    /// Offered load in ops per second over all clients (default: the
    /// file's `workload.rate`). Open loop: ops are due on a fixed schedule,
    /// and an op that starts late counts its wait in its latency.
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<u64>,

    /// How long to offer the load (each step's length with --ramp).
    /// Default: 30s, or 10s per ramp step.
    #[arg(long, value_name = "DURATION", value_parser = super::parse_positive_duration)]
    pub duration: Option<Duration>,

    /// Client processes (default: the file's `workload.clients`). A client
    /// has one op in flight, so the pool needs about rate x latency clients.
    #[arg(long, value_name = "N", value_parser = parse_clients)]
    pub clients: Option<u64>,

    /// Find the highest rate that meets the latency objective: double from
    /// FROM until a step misses or MAX is reached, then bisect to within
    /// 10 % (at most 16 steps; a first miss halves the rate, down to
    /// FROM/16). E.g. `--ramp 250:16000`.
    #[arg(long, value_name = "FROM:MAX", value_parser = RampSpec::parse)]
    pub ramp: Option<RampSpec>,

    /// The latency objective: p99 from each op's intended start under this
    /// (steps must also complete 95 % of the offered ops with at most 1 %
    /// errors). Also the latency goal's bound.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = super::parse_positive_duration)]
    pub p99: Duration,

    /// The node to restart for the start-up goal (default: the workload's
    /// first endpoint).
    #[arg(long, value_name = "SERVICE", conflicts_with = "no_restart")]
    pub restart: Option<String>,

    /// Skip the node restart (its goal is then not measured).
    #[arg(long)]
    pub no_restart: bool,

    /// Tear the project down (volumes included) before starting it, so that
    /// the cluster's start-up is timed from nothing. Without it, start-up is
    /// timed only when the project has no containers.
    #[arg(long)]
    pub cold: bool,

    /// Print the report as JSON (what `bench.json` in the run directory
    /// holds) instead of text.
    #[arg(long)]
    pub json: bool,

    /// The seed of the op streams (default: the file's, else drawn and
    /// printed).
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = super::parse_seed)]
    pub seed: Option<u64>,

    /// Where run directories go.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,

    /// Build the local images the experiment needs if they are missing.
    #[arg(long)]
    pub build_images: bool,

    /// Wait while another chaos process uses the project, instead of
    /// stopping (exit 4) with its pid and command.
    #[arg(long)]
    pub wait_lock: bool,
}

fn parse_rate(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "`{text}` is not a rate; expected ops per second above 0"
        )),
    }
}

fn parse_clients(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "`{text}` is not a client count; expected 1 or more"
        )),
    }
}

/// The step length: the flag, else 30 s for one step and 10 s per ramp
/// step.
pub fn step_length(args: &BenchArgs) -> Duration {
    args.duration.unwrap_or(if args.ramp.is_some() {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(30)
    })
}

/// The command that runs this bench again, with the seed.
pub fn rerun_command(args: &BenchArgs, seed: u64) -> String {
    let mut cmd = format!("chaos bench {} --seed {seed}", args.experiment.display());
    if let Some(r) = args.rate {
        cmd += &format!(" --rate {r}");
    }
    if let Some(d) = args.duration {
        cmd += &format!(" --duration {}", crate::duration::format(d));
    }
    if let Some(c) = args.clients {
        cmd += &format!(" --clients {c}");
    }
    if let Some(r) = args.ramp {
        cmd += &format!(" --ramp {}:{}", r.from, r.max);
    }
    if args.p99 != Duration::from_millis(100) {
        cmd += &format!(" --p99 {}", crate::duration::format(args.p99));
    }
    if let Some(s) = &args.restart {
        cmd += &format!(" --restart {s}");
    }
    if args.no_restart {
        cmd += " --no-restart";
    }
    if args.cold {
        cmd += " --cold";
    }
    cmd
}

pub fn run(args: &BenchArgs) -> CliResult {
    let loaded = loader::load(&args.experiment).map_err(CliError::input)?;
    if !loaded.experiment.workload.kind.room().caps().bench {
        return Err(CliError::input(anyhow::anyhow!(
            "{}: chaos bench measures with register ops; this experiment's workload is {} \
             (bench a register experiment of the same cluster, e.g. under experiments/bench/)",
            args.experiment.display(),
            loaded.experiment.workload.kind.name()
        )));
    }
    if let Some(s) = &args.restart
        && !loaded.compose_services.contains(s)
    {
        return Err(CliError::input(anyhow::anyhow!(
            "--restart {s}: the compose file has no service `{s}` (it has {})",
            loaded
                .compose_services
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let seed = super::choose_seed(args.seed, loaded.experiment.seed);
    eprintln!(
        "chaos: bench of {} with seed {seed}",
        loaded.experiment.name
    );
    let runtime = cluster::runtime()?;
    let display = Arc::new(RunDisplay::new());
    let result = runtime.block_on(async {
        if loaded.experiment.cluster.up {
            let cluster = ProjectRef::of(&loaded).connect().await?;
            cluster::ensure_images(&cluster, &[], args.build_images).await?;
        }
        let mut opts = BenchOptions::new(&args.experiment.display().to_string(), seed);
        opts.results_root = args.results_dir.clone();
        opts.rate = args.rate;
        opts.step = step_length(args);
        opts.clients = args.clients;
        opts.ramp = args.ramp;
        let p99_ms = args.p99.as_secs_f64() * 1e3;
        opts.objective = Objective {
            p99_ms,
            ..Objective::default()
        };
        opts.goals.latency_p99_ms = p99_ms;
        opts.restart = match (&args.restart, args.no_restart) {
            (_, true) => RestartChoice::Skip,
            (Some(s), false) => RestartChoice::Service(s.clone()),
            (None, false) => RestartChoice::FirstEndpoint,
        };
        opts.cold = args.cold;
        opts.rerun = rerun_command(args, seed.0);
        opts.cancel = super::signals::install(vec![ProjectRef::of(&loaded)]);
        opts.progress = display.clone();
        opts.wait_lock = args.wait_lock;
        let rerun = opts.rerun.clone();
        bench::bench(&loaded, opts).await.map_err(|e| match e {
            EngineError::Cancelled => CliError::interrupted(anyhow::anyhow!(
                "interrupted before the bench started; nothing was applied"
            )),
            EngineError::Lock(e) => CliError::environment(e),
            e => CliError::environment(
                anyhow::Error::new(e).context(format!("the bench failed; rerun with: {rerun}")),
            ),
        })
    });
    display.finish();
    let outcome = result?;
    if args.json {
        let json = serde_json::to_string_pretty(&outcome.report).expect("a report serializes");
        super::print_stdout(&(json + "\n"))?;
    } else {
        super::print_stdout(&outcome.text)?;
    }
    Ok(if outcome.report.interrupted {
        Outcome::Interrupted
    } else if outcome
        .report
        .goals
        .iter()
        .any(|g| g.status == GoalStatus::NotMet)
    {
        Outcome::Anomalies
    } else {
        Outcome::Success
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        let cli = super::super::Cli::try_parse_from(
            std::iter::once("chaos")
                .chain(std::iter::once("bench"))
                .chain(args.iter().copied()),
        )?;
        match cli.command {
            super::super::Command::Bench(b) => Ok(b),
            other => panic!("not bench: {other:?}"),
        }
    }

    #[test]
    fn flags_parse_and_make_the_rerun_command() {
        let a = parse(&[
            "e.toml",
            "--rate",
            "2000",
            "--clients",
            "32",
            "--duration",
            "20s",
            "--no-restart",
        ])
        .unwrap();
        assert_eq!(a.rate, Some(2_000));
        assert_eq!(step_length(&a), Duration::from_secs(20));
        assert_eq!(
            rerun_command(&a, 7),
            "chaos bench e.toml --seed 7 --rate 2000 --duration 20s --clients 32 --no-restart"
        );
        let a = parse(&["e.toml", "--ramp", "250:16000", "--p99", "50ms"]).unwrap();
        assert_eq!(step_length(&a), Duration::from_secs(10));
        assert_eq!(a.ramp.map(|r| (r.from, r.max)), Some((250, 16_000)));
        assert_eq!(
            rerun_command(&a, 1),
            "chaos bench e.toml --seed 1 --ramp 250:16000 --p99 50ms"
        );
        for bad in [
            &["e.toml", "--rate", "0"][..],
            &["e.toml", "--clients", "0"],
            &["e.toml", "--ramp", "9:3"],
            &["e.toml", "--restart", "etcd1", "--no-restart"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
