//! `chaos status EXPERIMENT`: the project's nodes (state, health, networks,
//! ports), chaos's helper containers, and the faults that the project's
//! open journals say are applied.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::cluster::{self, ProjectRef};
use super::{CliError, CliResult, Outcome};
use crate::journal::{self, ActiveRun, Intent};

/// Arguments of `chaos status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The experiment file (TOML).
    #[arg(value_name = "EXPERIMENT")]
    pub experiment: PathBuf,
}

pub fn run(args: &StatusArgs) -> CliResult {
    let loaded = cluster::load(&args.experiment)?;
    let target = ProjectRef::of(&loaded);
    cluster::runtime()?.block_on(async {
        let c = target.connect().await?;
        let containers = c.containers().await.map_err(CliError::environment)?;
        let helpers = c.helpers().await.map_err(CliError::environment)?;
        println!("{}", target.describe());
        if containers.is_empty() {
            println!("  no containers (the cluster is down; `chaos up EXPERIMENT`)");
        } else {
            print!("{}", cluster::render_containers(containers.values()));
        }
        for service in c.services() {
            if !containers.contains_key(&service) {
                println!("  {service:<12} (no container)");
            }
        }
        if !helpers.is_empty() {
            println!(
                "helper containers: {} (chaos's; `chaos heal` removes them)",
                helpers.len()
            );
        }
        let runs = journal::active_runs(&target.project).map_err(CliError::environment)?;
        print!("{}", render_faults(&runs));
        Ok(Outcome::Success)
    })
}

/// The unhealed faults of the open journals.
fn render_faults(runs: &[ActiveRun]) -> String {
    let mut out = String::new();
    let mut any = false;
    for run in runs {
        let state = if run.process_alive() {
            "running"
        } else {
            "no longer running"
        };
        let _ = writeln!(
            out,
            "journal {} (pid {}, {state}, since {})",
            run.journal.display(),
            run.pid,
            run.utc
        );
        match journal::read(&run.journal) {
            Ok(records) => {
                let open = journal::unhealed(&records);
                if open.is_empty() {
                    let _ = writeln!(out, "  no fault applied");
                }
                for i in &open {
                    any = true;
                    let _ = writeln!(out, "  {}", describe(i));
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  unreadable: {e}");
            }
        }
    }
    if !any {
        let _ = writeln!(out, "faults applied: none");
    } else {
        let _ = writeln!(out, "undo them with `chaos heal EXPERIMENT`");
    }
    out
}

fn describe(i: &Intent) -> String {
    let targets: Vec<&str> = i.targets.iter().map(|t| t.service.as_str()).collect();
    let role = i
        .role
        .as_ref()
        .map(|r| format!(" ({} of {})", r.role, r.component))
        .unwrap_or_default();
    format!(
        "fault {} {}: {}{role}, applied {}",
        i.fault,
        i.description,
        targets.join(", "),
        i.utc
    )
}
