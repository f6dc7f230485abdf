//! `chaos nemesis-apply EXPERIMENT --fault N` (hidden, for tests and
//! debugging): apply one fault of the plan through the same path as
//! `chaos run` (preflight, a [`FaultSession`], `Nemesis::apply`), hold it,
//! then heal. With `--hold` it holds until Ctrl-C or SIGTERM; the crash
//! tests SIGKILL it while it holds and check that `chaos heal` undoes the
//! fault.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::time::Instant;

use super::cluster::{self, ProjectRef};
use super::{CliError, CliResult, Outcome};
use crate::engine::session::FaultSession;
use crate::journal;
use crate::nemesis;
use crate::plan;
use crate::roles::FixedRoles;
use crate::store::RunDir;

/// Arguments of `chaos nemesis-apply`.
#[derive(Debug, Args)]
pub struct NemesisApplyArgs {
    /// The experiment file (TOML).
    #[arg(value_name = "EXPERIMENT")]
    pub experiment: PathBuf,

    /// The id of the planned fault to apply (`chaos plan` lists them).
    #[arg(long = "fault", value_name = "N")]
    pub fault: u64,

    /// The seed of the plan.
    #[arg(long, value_name = "N", value_parser = super::parse_seed)]
    pub seed: Option<u64>,

    /// Hold the fault until Ctrl-C or SIGTERM (default: for its planned
    /// duration).
    #[arg(long)]
    pub hold: bool,

    /// The service every role (`leader`) resolves to; without it, a fault on
    /// a role fails to resolve.
    #[arg(long, value_name = "SERVICE")]
    pub role_service: Option<String>,

    /// Where run directories go (the journal is written in one).
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,
}

pub fn run(args: &NemesisApplyArgs) -> CliResult {
    let loaded = cluster::load(&args.experiment)?;
    let e = &loaded.experiment;
    let seed = super::choose_seed(args.seed, e.seed);
    let mut plan = plan::plan(e, seed);
    let Some(fault) = plan.faults.iter().find(|f| f.id == args.fault).cloned() else {
        return Err(CliError::input(anyhow::anyhow!(
            "the plan of {} with seed {seed} has {} fault(s); there is no fault {}",
            args.experiment.display(),
            plan.faults.len(),
            args.fault
        )));
    };
    plan.faults = vec![fault.clone()];
    let target = ProjectRef::of(&loaded);
    cluster::runtime()?.block_on(async {
        let _lock = cluster::lock(
            &target,
            &format!(
                "chaos nemesis-apply {} --fault {}",
                args.experiment.display(),
                args.fault
            ),
            false,
        )
        .await?;
        let c = target.connect().await?;
        nemesis::preflight(&c, &plan)
            .await
            .map_err(CliError::environment)?;
        let run_dir = RunDir::create(
            &args.results_dir,
            &e.name,
            &crate::results::compact_utc(journal::unix_ms()),
            seed.0,
        )
        .map_err(CliError::environment)?;
        let roles = FixedRoles::new();
        if let Some(s) = &args.role_service {
            for component in e.cluster.components.keys() {
                roles.set("leader", component, s);
            }
        }
        let cancel = super::signals::install(vec![ProjectRef::of(&loaded)]);
        let start = Instant::now();
        let mut session = FaultSession::open(
            c,
            &run_dir,
            &plan,
            Arc::new(roles),
            e.cluster.components.clone(),
            start,
        )
        .await
        .map_err(CliError::environment)?;
        let applied = session.nemesis().apply(&fault, start.elapsed()).await;
        let outcome = match &applied {
            Ok(a) => {
                let targets: Vec<&str> = a.targets.iter().map(|t| t.service.as_str()).collect();
                println!(
                    "applied fault {} ({}) to {} in {:?}; journal {}",
                    a.id,
                    a.description,
                    targets.join(", "),
                    a.effective - a.started,
                    session.journal_path().display()
                );
                for n in &a.notes {
                    println!("  note: {n}");
                }
                let hold = if args.hold {
                    Duration::MAX
                } else {
                    fault.heal_at() - fault.at()
                };
                let interrupted = tokio::select! {
                    _ = cancel.cancelled() => true,
                    _ = tokio::time::sleep(hold.min(Duration::from_secs(86_400 * 365))) => false,
                };
                Ok(if interrupted {
                    Outcome::Interrupted
                } else {
                    Outcome::Success
                })
            }
            Err(e) => Err(CliError::environment(anyhow::anyhow!("{e}"))),
        };
        let report = session.finish().await;
        for h in report.healed.iter().flatten() {
            println!("healed fault {}: {}", h.id, h.actions.join(", "));
        }
        if !report.errors.is_empty() {
            return Err(CliError::environment(anyhow::anyhow!(
                "healing failed: {}; run `chaos heal {}`",
                report.errors.join("; "),
                args.experiment.display()
            )));
        }
        outcome
    })
}
