//! `chaos heal EXPERIMENT` or `chaos heal --project NAME [--compose FILE]`:
//! undo every unhealed fault in the project's journals, then sweep the
//! project (unpause, start, reconnect compose networks, delete chaos's
//! iptables rules and netem qdiscs, remove helper containers). Safe to run
//! any number of times; prints what it did. Exit 0 when everything is
//! healed, 4 when something could not be. `--project` of a Swarm stack
//! takes the nodes from the experiment kept beside an open journal (the
//! run directory's `experiment.toml`).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::cluster::{self, ProjectRef};
use super::{CliError, CliResult, Outcome};
use crate::nemesis::{self, RecoveryReport};

/// Arguments of `chaos heal`.
#[derive(Debug, Args)]
pub struct HealArgs {
    /// The experiment file (TOML) whose compose project to heal.
    #[arg(value_name = "EXPERIMENT", required_unless_present = "project")]
    pub experiment: Option<PathBuf>,

    /// Heal a project by name instead of an experiment's. A Swarm stack is
    /// reached through the nodes of the experiment kept with its open
    /// journal (name the experiment when no journal is open).
    #[arg(long, value_name = "NAME", conflicts_with = "experiment")]
    pub project: Option<String>,

    /// With `--project`: its compose file, so that networks the file gives a
    /// service are reconnected even if no journal names them.
    #[arg(long, value_name = "FILE", requires = "project")]
    pub compose: Option<PathBuf>,
}

pub fn run(args: &HealArgs) -> CliResult {
    let target = match (&args.experiment, &args.project) {
        (Some(path), _) => ProjectRef::of(&cluster::load(path)?),
        (None, Some(project)) => match kept_swarm_experiment(project)? {
            Some(loaded) => ProjectRef::of(&loaded),
            None => ProjectRef {
                swarm: None,
                project: project.clone(),
                compose_file: args.compose.as_deref().map(crate::docker::absolute),
                env: Default::default(),
            },
        },
        (None, None) => unreachable!("clap requires EXPERIMENT or --project"),
    };
    cluster::runtime()?.block_on(async {
        let c = target.connect().await?;
        let report = nemesis::recover(&c).await;
        print!("{}", render(&target, &report));
        if report.clean() {
            Ok(Outcome::Success)
        } else {
            Err(CliError::environment(anyhow::anyhow!(
                "some faults of {} could not be healed (see above); fix the cause and run `chaos heal` again",
                target.describe()
            )))
        }
    })
}

/// The newest open journal of `project` whose run kept a Swarm experiment
/// (`experiment.toml` beside the journal, its compose file absolute): how
/// `--project` reaches a stack's nodes. `None` for a compose project or
/// when no journal is open.
fn kept_swarm_experiment(project: &str) -> Result<Option<crate::loader::Loaded>, CliError> {
    let runs = crate::journal::active_runs(project).map_err(CliError::environment)?;
    for run in runs.iter().rev() {
        let Some(dir) = run.journal.parent() else {
            continue;
        };
        let kept = dir.join(crate::store::files::EXPERIMENT);
        if !kept.is_file() {
            continue;
        }
        let loaded = cluster::load(&kept)?;
        if loaded
            .experiment
            .cluster
            .orchestrator
            .swarm_nodes()
            .is_some()
        {
            return Ok(Some(loaded));
        }
    }
    Ok(None)
}

/// What `chaos heal` did, for people.
pub fn render(target: &ProjectRef, r: &RecoveryReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "heal: {}", target.describe());
    for j in &r.journals {
        let _ = writeln!(
            out,
            "journal {}{}",
            j.journal.display(),
            if j.writer_alive {
                " (its run is still going; healed anyway)"
            } else {
                ""
            }
        );
        if let Some(e) = &j.unreadable {
            let _ = writeln!(out, "  unreadable ({e}); the sweep below still runs");
        }
        if j.healed.is_empty() && j.failed.is_empty() && j.unreadable.is_none() {
            let _ = writeln!(out, "  nothing unhealed");
        }
        for (id, what, actions) in &j.healed {
            let did = if actions.is_empty() {
                "already healed".to_string()
            } else {
                actions.join(", ")
            };
            let _ = writeln!(out, "  fault {id} {what}: {did}");
        }
        for (id, e) in &j.failed {
            let _ = writeln!(out, "  fault {id}: NOT healed: {e}");
        }
    }
    if r.journals.is_empty() {
        let _ = writeln!(out, "no open journal for this project");
    }
    let s = &r.sweep;
    let mut did = Vec::new();
    if !s.reconnected.is_empty() {
        did.push(format!("reconnected {}", s.reconnected.join(", ")));
    }
    if !s.unpaused.is_empty() {
        did.push(format!("unpaused {}", s.unpaused.join(", ")));
    }
    if !s.started.is_empty() {
        did.push(format!("started {}", s.started.join(", ")));
    }
    for (service, n) in &s.rules_deleted {
        did.push(format!("deleted {n} chaos iptables rule(s) in {service}"));
    }
    if !s.chaos_fs_cleared.is_empty() {
        did.push(format!(
            "cleared chaos-fs faults in {}",
            s.chaos_fs_cleared.join(", ")
        ));
    }
    if !s.tbf_removed.is_empty() {
        did.push(format!(
            "removed a bandwidth limit (tbf) from {}",
            s.tbf_removed.join(", ")
        ));
    }
    if !s.clocks_reset.is_empty() {
        did.push(format!(
            "set the clock back to the real one in {}",
            s.clocks_reset.join(", ")
        ));
    }
    if !s.netem_removed.is_empty() {
        did.push(format!("removed netem from {}", s.netem_removed.join(", ")));
    }
    if s.helpers_removed > 0 {
        did.push(format!("removed {} helper container(s)", s.helpers_removed));
    }
    if did.is_empty() {
        let _ = writeln!(out, "sweep: nothing left to undo");
    } else {
        let _ = writeln!(out, "sweep: {}", did.join("; "));
    }
    if s.skipped_rules {
        let _ = writeln!(
            out,
            "sweep: no helper image, so no rule check (chaos cannot have added rules without it)"
        );
    }
    for e in &s.errors {
        let _ = writeln!(out, "sweep error: {e}");
    }
    out
}
