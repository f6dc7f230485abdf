//! What the cluster commands (`up`, `down`, `status`, `heal`,
//! `nemesis-apply`) share: the compose project an experiment names, the
//! runtime they run on, the Docker connection, and the container table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::CliError;
use crate::docker::{self, ComposeCluster, ContainerInfo};
use crate::images::{self, ImageError};
use crate::loader::{self, Loaded};

/// The compose project a command acts on.
#[derive(Debug)]
pub struct ProjectRef {
    pub project: String,
    /// Absolute, when known.
    pub compose_file: Option<PathBuf>,
    /// The experiment's `cluster.env`, given to every compose command.
    pub env: BTreeMap<String, String>,
    /// The Swarm's nodes, for a stack (None: a compose project).
    pub swarm: Option<BTreeMap<String, crate::experiment::SwarmNode>>,
}

/// Load an experiment (exit 2 if it is not valid).
pub fn load(path: &Path) -> Result<Loaded, CliError> {
    loader::load(path).map_err(CliError::input)
}

impl ProjectRef {
    pub fn of(loaded: &Loaded) -> ProjectRef {
        ProjectRef {
            project: loaded.experiment.cluster.project.clone(),
            compose_file: Some(docker::absolute(&loaded.compose_file)),
            env: loaded.experiment.cluster.env.clone(),
            swarm: loaded
                .experiment
                .cluster
                .orchestrator
                .swarm_nodes()
                .cloned(),
        }
    }

    /// Connect to Docker for this project (exit 4 if Docker is unreachable).
    pub async fn connect(&self) -> Result<ComposeCluster, CliError> {
        let r = match (&self.compose_file, &self.swarm) {
            (Some(f), Some(nodes)) => ComposeCluster::connect_swarm(&self.project, f, nodes).await,
            (Some(f), None) => ComposeCluster::connect(&self.project, f).await,
            (None, _) => ComposeCluster::connect_project(&self.project).await,
        };
        r.map(|c| c.with_env(&self.env))
            .map_err(CliError::environment)
    }

    pub fn describe(&self) -> String {
        match &self.compose_file {
            Some(f) => format!("project {} ({})", self.project, f.display()),
            None => format!("project {}", self.project),
        }
    }
}

/// Make sure the local images the project runs (and `extra`, such as the
/// network helper) exist before anything starts. A missing one is an
/// environment failure (exit 4) that says which image, why, how long its
/// build takes and the command; with `build` (`--build-images`) it is built
/// now, with a progress display. Images compose pulls are left to compose.
pub async fn ensure_images(
    cluster: &ComposeCluster,
    extra: &[String],
    build: bool,
) -> Result<(), CliError> {
    let missing = images::missing(cluster, extra)
        .await
        .map_err(CliError::environment)?;
    let local: Vec<_> = missing.into_iter().filter(|m| m.is_local()).collect();
    if local.is_empty() {
        return Ok(());
    }
    if !build {
        return Err(CliError::environment(ImageError::Missing(local)));
    }
    for m in &local {
        let mut display = super::progress::ImageBuild::start(m);
        let built = images::build(m, |line| display.line(line)).await;
        display.finish(built.is_ok());
        built.map_err(CliError::environment)?;
    }
    Ok(())
}

/// Take the project's lock for `command` (exit 4 naming the holder when it
/// is held, unless `wait`).
pub async fn lock(
    target: &ProjectRef,
    command: &str,
    wait: bool,
) -> Result<crate::lock::ProjectLock, CliError> {
    crate::lock::ProjectLock::acquire(&target.project, command, wait)
        .await
        .map_err(CliError::environment)
}

/// A multi-threaded runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::environment(anyhow::anyhow!("cannot start the async runtime: {e}")))
}

/// The containers of a project as a table; a stack's also say the Swarm
/// node that runs each one.
pub fn render_containers<'a>(containers: impl IntoIterator<Item = &'a ContainerInfo>) -> String {
    let containers: Vec<&ContainerInfo> = containers.into_iter().collect();
    let nodes = containers.iter().any(|c| c.node.is_some());
    let node_col = |n: &str| {
        if nodes {
            format!("{n:<14} ")
        } else {
            String::new()
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<12} {:<12} {}{:<10} {:<9} {:<34} ports",
        "service",
        "container",
        node_col("node"),
        "state",
        "health",
        "networks"
    );
    for c in containers {
        let nets: Vec<String> = c
            .networks
            .iter()
            .map(|(n, e)| format!("{n} {}", e.ip.as_deref().unwrap_or("-")))
            .collect();
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|p| format!("{}:{}->{}", p.host_ip, p.host_port, p.container_port))
            .collect();
        let _ = writeln!(
            out,
            "  {:<12} {:<12} {}{:<10} {:<9} {:<34} {}",
            c.service,
            c.short_id(),
            node_col(c.node.as_deref().unwrap_or("-")),
            c.state.name(),
            c.health.name(),
            if nets.is_empty() {
                "(none)".to_string()
            } else {
                nets.join(", ")
            },
            ports.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::{Health, State};

    fn info(service: &str, node: Option<&str>) -> ContainerInfo {
        ContainerInfo {
            id: format!("{service}0123456789abcdef"),
            name: service.to_string(),
            service: service.to_string(),
            image: "chaos/etcd:3.4-local".to_string(),
            state: State::Running,
            health: Health::None,
            status: "Up".to_string(),
            networks: Default::default(),
            ports: Vec::new(),
            node: node.map(str::to_string),
        }
    }

    #[test]
    fn a_stack_table_names_each_containers_node_and_a_compose_one_does_not() {
        let stack = render_containers(&[
            info("etcd1", Some("chaos-swarm-1")),
            info("etcd2", Some("chaos-swarm-2")),
        ]);
        let lines: Vec<&str> = stack.lines().collect();
        assert!(lines[0].contains(" node "), "{stack}");
        assert!(
            lines[1].contains("etcd1") && lines[1].contains("chaos-swarm-1"),
            "{stack}"
        );
        assert!(lines[2].contains("chaos-swarm-2"), "{stack}");
        let compose = render_containers(&[info("etcd1", None)]);
        assert!(!compose.contains(" node "), "{compose}");
    }
}
