//! `chaos demo crud|failover EXPERIMENT`: the SurrealDB demonstrations of
//! [`crate::demo`] against the experiment's cluster (its `workload.endpoints`
//! are the SurrealDB nodes).
//!
//! `crud` needs one node and says what one node cannot show; `failover`
//! needs two nodes on shared storage (compose/surrealdb-tikv.yml) and
//! refuses with a clear message otherwise. The failover's kill goes through
//! the nemesis: journaled, and healed on every exit path (`chaos heal` after
//! a crash).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use tokio::sync::watch;
use tokio::time::Instant;

use super::cluster::{self, ProjectRef};
use super::{CliError, CliResult, Outcome};
use crate::demo::{self, Node, Report};
use crate::docker::ComposeCluster;
use crate::engine::connect::endpoint_addresses;
use crate::engine::session::FaultSession;
use crate::experiment::{ClientKind, Fault};
use crate::journal;
use crate::loader::Loaded;
use crate::lock::ProjectLock;
use crate::plan::{Plan, PlannedFault, PlannedTargets};
use crate::roles::FixedRoles;
use crate::store::RunDir;

/// The blog schema, built in; `--schema` reads another file.
pub const BLOG_SCHEMA: &str = include_str!("../../schemas/blog.surql");

/// Arguments of `chaos demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(subcommand)]
    pub which: Which,
}

#[derive(Debug, Subcommand)]
pub enum Which {
    /// Apply schemas/blog.surql, then create users and posts through the
    /// first SurrealDB node, read, update and delete them through the other,
    /// verifying each step. Exit 0 if every step verified, 1 if one did not.
    Crud(CrudArgs),
    /// Kill one SurrealDB node while clients write through every node; the
    /// others must go on serving, and every acknowledged write must be
    /// readable through every node afterwards. Needs two SurrealDB nodes on
    /// shared storage (compose/surrealdb-tikv.yml).
    Failover(FailoverArgs),
}

/// What both demonstrations share.
#[derive(Debug, Args)]
pub struct Common {
    /// An experiment file whose `workload.client` is `surrealdb`; its
    /// cluster and endpoints are used.
    #[arg(value_name = "EXPERIMENT")]
    pub experiment: PathBuf,

    /// Bring the cluster up first (`compose up -d` and wait for health);
    /// without it, the running cluster must be healthy.
    #[arg(long)]
    pub up: bool,

    /// Timeout of each SurrealDB call.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::parse_positive_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct CrudArgs {
    #[command(flatten)]
    pub common: Common,

    /// A schema file to apply instead of the built-in schemas/blog.surql.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FailoverArgs {
    #[command(flatten)]
    pub common: Common,

    /// The node to kill (a service in `workload.endpoints`; default: the
    /// first).
    #[arg(long, value_name = "SERVICE")]
    pub kill: Option<String>,

    /// How long the writers run; the node is down for the middle half.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = super::parse_positive_duration)]
    pub duration: Duration,

    /// Where the run directory (with the fault journal) goes.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,
}

pub fn run(args: &DemoArgs) -> CliResult {
    match &args.which {
        Which::Crud(a) => crud(a),
        Which::Failover(a) => failover(a),
    }
}

/// Load the experiment and check it names SurrealDB nodes.
fn load(common: &Common) -> Result<Loaded, CliError> {
    let loaded = cluster::load(&common.experiment)?;
    if loaded.experiment.workload.client != ClientKind::Surrealdb {
        return Err(CliError::input(anyhow!(
            "{}: workload.client is `{}`; the demonstrations need a `surrealdb` experiment \
             (e.g. experiments/surrealdb-local-kill.toml or experiments/tikv-leader-kill.toml)",
            common.experiment.display(),
            loaded.experiment.workload.client.name()
        )));
    }
    Ok(loaded)
}

/// Bring up or wait for the cluster, then find each endpoint's address.
async fn nodes(loaded: &Loaded, common: &Common) -> Result<(ComposeCluster, Vec<Node>), CliError> {
    let target = ProjectRef::of(loaded);
    let c = target.connect().await?;
    let ready = loaded.experiment.cluster.ready_timeout;
    if common.up {
        eprintln!("demo: bringing up {}", target.describe());
        c.up(ready).await.map_err(CliError::environment)?;
    } else {
        c.wait_healthy(ready).await.map_err(|e| {
            CliError::environment(anyhow!(e).context(format!(
                "{} is not healthy; start it with `chaos up {}` (or pass --up)",
                target.describe(),
                common.experiment.display()
            )))
        })?;
    }
    let nodes = endpoint_addresses(&loaded.experiment, &c)
        .await
        .map_err(CliError::environment)?
        .into_iter()
        .map(|(service, address)| Node { service, address })
        .collect();
    Ok((c, nodes))
}

/// Take the project's lock for a demonstration.
async fn lock(loaded: &Loaded, what: &str) -> Result<ProjectLock, CliError> {
    cluster::lock(&ProjectRef::of(loaded), what, false).await
}

fn tag() -> String {
    format!("demo{}", journal::unix_ms())
}

fn finish(report: &Report) -> CliResult {
    for n in &report.notes {
        println!("note: {n}");
    }
    let failed = report.steps.iter().filter(|s| !s.ok).count();
    if report.ok() {
        println!("demo: every step verified ({} steps)", report.steps.len());
        Ok(Outcome::Success)
    } else {
        println!(
            "demo: {failed} of {} steps did not verify",
            report.steps.len()
        );
        Ok(Outcome::Anomalies)
    }
}

fn crud(args: &CrudArgs) -> CliResult {
    let loaded = load(&args.common)?;
    let schema = match &args.schema {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| CliError::input(anyhow!("cannot read the schema {}: {e}", p.display())))?,
        None => BLOG_SCHEMA.to_string(),
    };
    cluster::runtime()?.block_on(async {
        let _lock = lock(&loaded, "chaos demo crud").await?;
        let (_, nodes) = nodes(&loaded, &args.common).await?;
        let names: Vec<&str> = nodes.iter().map(|n| n.service.as_str()).collect();
        println!(
            "demo crud: project {}, SurrealDB nodes {} (namespace chaos, database blog)",
            loaded.experiment.cluster.project,
            names.join(", ")
        );
        let report = demo::crud(&nodes, &schema, &tag(), args.common.timeout, &mut |step| {
            println!("{step}")
        })
        .await;
        finish(&report)
    })
}

fn failover(args: &FailoverArgs) -> CliResult {
    let loaded = load(&args.common)?;
    let e = &loaded.experiment;
    if e.workload.endpoints.len() < 2 {
        return Err(CliError::input(anyhow!(
            "{}: the failover demonstration needs two SurrealDB nodes on shared storage, and this \
             experiment has {} ({}). compose/surrealdb-local.yml runs one node on local SurrealKV \
             storage, which two nodes cannot share; use an experiment on compose/surrealdb-tikv.yml \
             (e.g. experiments/surrealdb-node-kill.toml) on a machine that can pull its images",
            args.common.experiment.display(),
            e.workload.endpoints.len(),
            e.workload.endpoints.join(", ")
        )));
    }
    let victim = args
        .kill
        .clone()
        .unwrap_or_else(|| e.workload.endpoints[0].clone());
    if !e.workload.endpoints.contains(&victim) {
        return Err(CliError::input(anyhow!(
            "--kill {victim}: not one of workload.endpoints ({})",
            e.workload.endpoints.join(", ")
        )));
    }
    let d = args.duration;
    let fault = PlannedFault {
        id: 1,
        nemesis: 0,
        at_ms: (d / 4).as_millis() as u64,
        heal_at_ms: (d * 3 / 4).as_millis() as u64,
        fault: Fault::Kill,
        targets: PlannedTargets::Services(vec![victim.clone()]),
    };
    cluster::runtime()?.block_on(async {
        let _lock = lock(&loaded, "chaos demo failover").await?;
        // A kill needs no helper image and no netem: nothing to preflight.
        let (c, nodes) = nodes(&loaded, &args.common).await?;
        let run_dir = RunDir::create(
            &args.results_dir,
            "demo-failover",
            &crate::results::compact_utc(journal::unix_ms()),
            0,
        )
        .map_err(CliError::environment)?;
        let cancel = super::signals::install(vec![ProjectRef::of(&loaded)]);
        let start = Instant::now();
        let plan = Plan {
            faults: vec![fault.clone()],
            ..Plan::default()
        };
        let mut session = FaultSession::open(
            c.clone(),
            &run_dir,
            &plan,
            Arc::new(FixedRoles::new()),
            e.cluster.components.clone(),
            start,
        )
        .await
        .map_err(CliError::environment)?;
        println!(
            "demo failover: writers through {} for {}; {victim} killed at {} and started at {}",
            e.workload.endpoints.join(", "),
            crate::duration::format(d),
            crate::duration::format(fault.at()),
            crate::duration::format(fault.heal_at())
        );
        let tag = tag();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (down_tx, down_rx) = watch::channel(false);
        let writers: Vec<_> = nodes
            .iter()
            .map(|n| {
                tokio::spawn(demo::write_loop(
                    n.clone(),
                    tag.clone(),
                    args.common.timeout,
                    Duration::from_millis(50),
                    stop_rx.clone(),
                    down_rx.clone(),
                ))
            })
            .collect();
        let mut report = Report::default();
        let mut steps_ok = true;
        let interrupted = tokio::select! {
            _ = tokio::time::sleep_until(start + fault.at()) => false,
            _ = cancel.cancelled() => true,
        };
        if !interrupted {
            match session.nemesis().apply(&fault, start.elapsed()).await {
                Ok(a) => {
                    let _ = down_tx.send(true);
                    println!("killed {victim} ({})", a.description);
                }
                Err(err) => {
                    println!("could not kill {victim}: {err}");
                    steps_ok = false;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(start + fault.heal_at()) => {}
                _ = cancel.cancelled() => {}
            }
        }
        let healed = session.finish().await;
        let _ = down_tx.send(false);
        if !healed.errors.is_empty() {
            let _ = stop_tx.send(true);
            return Err(CliError::environment(anyhow!(
                "healing failed: {}; run `chaos heal {}`",
                healed.errors.join("; "),
                args.common.experiment.display()
            )));
        }
        println!("started {victim} again");
        if !cancel.is_cancelled() {
            tokio::select! {
                _ = tokio::time::sleep_until(start + d) => {}
                _ = cancel.cancelled() => {}
            }
        }
        let _ = stop_tx.send(true);
        let mut tallies = Vec::new();
        for w in writers {
            tallies.push(w.await.map_err(|e| CliError::environment(anyhow!("a writer panicked: {e}")))?);
        }
        for t in &tallies {
            println!(
                "  {:<12} {} writes acknowledged ({} while {victim} was down), {} errors or timeouts",
                t.service,
                t.acked.len(),
                t.acked_during_fault,
                t.errors
            );
        }
        let survivors_served = tallies
            .iter()
            .filter(|t| t.service != victim)
            .all(|t| t.acked_during_fault > 0);
        report.steps.push(demo::Step {
            name: "survivors",
            via: tallies
                .iter()
                .filter(|t| t.service != victim)
                .map(|t| t.service.clone())
                .collect::<Vec<_>>()
                .join(", "),
            ok: survivors_served && steps_ok && !interrupted && !cancel.is_cancelled(),
            detail: if survivors_served {
                format!("kept acknowledging writes while {victim} was down")
            } else {
                format!("a surviving node acknowledged no write while {victim} was down")
            },
            elapsed: fault.heal_at() - fault.at(),
        });
        println!("{}", report.steps[0]);
        c.wait_healthy(e.cluster.ready_timeout)
            .await
            .map_err(CliError::environment)?;
        report
            .steps
            .extend(
                demo::verify_acked(&nodes, &tag, &tallies, args.common.timeout, &mut |step| {
                    println!("{step}")
                })
                .await,
            );
        println!("run directory: {}", run_dir.path().display());
        finish(&report)
    })
}
