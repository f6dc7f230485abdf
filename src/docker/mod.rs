//! Cluster control: one compose project on the Docker engine.
//!
//! Shell. Owns the bollard client (local socket or `DOCKER_HOST`, version
//! negotiated with the engine), the compose CLI ([`compose`]: `docker compose`
//! v2 where it works, else `docker-compose` v1), and the **scope guard**:
//! containers are found by their compose labels
//! (`com.docker.compose.project`, `com.docker.compose.service`), never by
//! guessed names, and an operation on a container that does not carry the
//! project's label is refused ([`ComposeCluster::scoped`]). It knows nothing
//! of faults, plans or journals; [`crate::nemesis`] builds on it.
//!
//! A cluster has one of two back ends ([`Backend`]): a compose project on
//! one engine, or a stack on a Docker Swarm ([`swarm`]), where containers are
//! found through the manager's tasks and every primitive on a container goes
//! through the engine of the node that runs it ([`Scoped::node`]). The
//! nemesis calls the same methods for both.

pub mod compose;
pub mod ssh;
pub mod swarm;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
pub use bollard::container::AttachContainerResults;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, ContainerSummaryStateEnum, EndpointSettings, ExecConfig,
    HostConfig, NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, KillContainerOptions, ListContainersOptions,
    RemoveContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use tokio::sync::OnceCell;

pub use compose::{ComposeCli, ComposeModel};

/// The compose labels chaos finds containers by.
pub mod labels {
    pub const PROJECT: &str = "com.docker.compose.project";
    pub const SERVICE: &str = "com.docker.compose.service";
    /// On chaos's own helper containers: the project they work for.
    pub const HELPER_PROJECT: &str = "io.chaos.helper.project";
    /// On helper containers: the container whose network namespace they share.
    pub const HELPER_TARGET: &str = "io.chaos.helper.target";
    /// On helper containers: the target's start time when the helper joined it.
    pub const HELPER_TARGET_STARTED: &str = "io.chaos.helper.target-started";
}

/// What went wrong talking to Docker or compose.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach the Docker engine (unix socket or DOCKER_HOST); is it running and may this user use it? {0}"
    )]
    Connect(bollard::errors::Error),
    #[error("{action}: {error}")]
    Api {
        action: String,
        error: bollard::errors::Error,
    },
    #[error("no compose command line works (need `docker compose` or `docker-compose`): {0}")]
    NoComposeCli(String),
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Compose {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{path}: compose file: {message}")]
    ComposeFile { path: String, message: String },
    #[error("project `{project}` is not ready after {waited:?}: {pending}")]
    NotReady {
        project: String,
        waited: Duration,
        pending: String,
    },
    #[error(
        "service `{service}` has no container in compose project `{project}` (is the cluster up? try `chaos up EXPERIMENT`)"
    )]
    NoContainer { service: String, project: String },
    #[error(
        "refused: container `{container}` is not part of compose project `{project}` (it belongs to {found}); chaos touches only the experiment's project"
    )]
    OutOfScope {
        container: String,
        project: String,
        found: String,
    },
    #[error("service `{service}` publishes no host port for container port {port}/tcp")]
    NoPort { service: String, port: u16 },
    #[error("this command needs the compose file of project `{0}`")]
    NoComposeFile(String),
    #[error("image `{0}` is missing; build the local images with `bash compose/images/build.sh`")]
    MissingImage(String),
    #[error("Swarm node `{node}` ({url}): {message}")]
    Engine {
        node: String,
        url: String,
        message: String,
    },
    #[error(
        "no engine in [cluster.nodes] is a Swarm manager ({nodes}); discovery needs a manager's API"
    )]
    NoManager { nodes: String },
    #[error("node `{node}` is not in [cluster.nodes] (known: {known})")]
    UnknownNode { node: String, known: String },
    #[error(
        "service `{service}` runs a task on node `{node}`, which is not in [cluster.nodes]: chaos acts on a task only through its own node's engine (a manager's API cannot act on containers of other nodes); add the node"
    )]
    NodeNotListed { node: String, service: String },
    #[error("{path}: this stack file is not fit for chaos on a Swarm:\n  {problems}")]
    StackFile { path: String, problems: String },
    #[error(
        "stack `{stack}`: {problems}; Swarm would replace a task during a fault (chaos runs it again when it heals): set `deploy.restart_policy: {{ condition: none }}` and deploy again (`chaos down`, `chaos up`)"
    )]
    RestartPolicy { stack: String, problems: String },
    #[error("`{0}` needs the experiment's file for a Swarm stack (its nodes' engines)")]
    SwarmNeedsExperiment(String),
}

impl DockerError {
    fn api(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DockerError {
        let action = action.into();
        move |error| DockerError::Api { action, error }
    }
}

/// The HTTP status of a failed engine call, if the engine answered.
pub fn status_code(err: &bollard::errors::Error) -> Option<u16> {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// A container's state, as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Unknown,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Removing => "removing",
            State::Exited => "exited",
            State::Dead => "dead",
            State::Unknown => "unknown",
        }
    }

    fn from_summary(s: Option<ContainerSummaryStateEnum>) -> State {
        match s {
            Some(ContainerSummaryStateEnum::CREATED) => State::Created,
            Some(ContainerSummaryStateEnum::RUNNING) => State::Running,
            Some(ContainerSummaryStateEnum::PAUSED) => State::Paused,
            Some(ContainerSummaryStateEnum::RESTARTING) => State::Restarting,
            Some(ContainerSummaryStateEnum::REMOVING) => State::Removing,
            Some(ContainerSummaryStateEnum::EXITED) => State::Exited,
            Some(ContainerSummaryStateEnum::DEAD) => State::Dead,
            _ => State::Unknown,
        }
    }
}

/// A container's health check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No health check.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn name(self) -> &'static str {
        match self {
            Health::None => "-",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }

    /// From the engine's status text (`Up 3 minutes (healthy)`): API 1.41's
    /// container list carries health only there.
    pub fn from_status(status: &str) -> Health {
        if status.contains("(healthy)") {
            Health::Healthy
        } else if status.contains("(unhealthy)") {
            Health::Unhealthy
        } else if status.contains("(health: starting)") {
            Health::Starting
        } else {
            Health::None
        }
    }
}

/// A container's endpoint on one network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// IPv4 address, if it has one.
    pub ip: Option<String>,
    pub aliases: Vec<String>,
}

/// A host port published by a container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    pub container_port: u16,
    pub host_ip: String,
    pub host_port: u16,
}

/// One container of the project, as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerInfo {
    pub id: String,
    /// The container name, without the leading `/`.
    pub name: String,
    pub service: String,
    /// The image it runs, as the engine names it.
    pub image: String,
    pub state: State,
    pub health: Health,
    /// The engine's status text (`Up 2 minutes (healthy)`).
    pub status: String,
    /// Network name to the container's endpoint on it.
    pub networks: BTreeMap<String, Endpoint>,
    pub ports: Vec<Published>,
    /// The Swarm node that runs it (None: the compose engine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl ContainerInfo {
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// Every IPv4 address the container has.
    pub fn ips(&self) -> Vec<String> {
        let mut ips: Vec<String> = self
            .networks
            .values()
            .filter_map(|e| e.ip.clone())
            .collect();
        ips.sort();
        ips.dedup();
        ips
    }

    /// Running (or paused: its network namespace is alive).
    pub fn has_namespace(&self) -> bool {
        matches!(self.state, State::Running | State::Paused)
    }

    fn from_summary(s: ContainerSummary, project: &str) -> Option<ContainerInfo> {
        let labels = s.labels.clone().unwrap_or_default();
        if labels.get(labels::PROJECT).map(String::as_str) != Some(project) {
            return None;
        }
        let service = labels.get(labels::SERVICE)?.clone();
        Some(ContainerInfo::from_summary_of(s, service, None))
    }

    /// A listed container of a known service (and, on a Swarm, node).
    fn from_summary_of(
        s: ContainerSummary,
        service: String,
        node: Option<String>,
    ) -> ContainerInfo {
        let status = s.status.unwrap_or_default();
        let networks = s
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, e)| (name, endpoint(&e)))
            .collect();
        let mut ports: Vec<Published> = s
            .ports
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| {
                Some(Published {
                    container_port: p.private_port,
                    host_ip: p.ip.unwrap_or_default(),
                    host_port: p.public_port?,
                })
            })
            .collect();
        ports.sort_by(|a, b| (a.container_port, &a.host_ip).cmp(&(b.container_port, &b.host_ip)));
        ports.dedup();
        ContainerInfo {
            id: s.id.unwrap_or_default(),
            name: s
                .names
                .and_then(|n| n.into_iter().next())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            service,
            image: s.image.unwrap_or_default(),
            state: State::from_summary(s.state),
            health: Health::from_status(&status),
            status,
            networks,
            ports,
            node,
        }
    }
}

fn endpoint(e: &EndpointSettings) -> Endpoint {
    Endpoint {
        ip: e.ip_address.clone().filter(|ip| !ip.is_empty()),
        aliases: e.aliases.clone().unwrap_or_default(),
    }
}

/// A container that has passed the scope guard: it carries the project's
/// label. Every fault primitive takes one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scoped {
    pub id: String,
    pub service: String,
    /// The Swarm node whose engine runs it (None: the compose engine).
    pub node: Option<String>,
}

/// A container's CPU and memory limits, as the engine's HostConfig holds
/// them (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub cpu_quota: i64,
    pub cpu_period: i64,
    pub nano_cpus: i64,
    pub memory: i64,
    pub memory_swap: i64,
}

/// The limits to change (`None`: leave as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitUpdate {
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
}

/// What a command run inside a container printed, and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// One compose project: the Docker client, the project name, the compose
/// file (when known) and its CLI.
#[derive(Debug, Clone)]
pub struct ComposeCluster {
    /// The compose engine; on a Swarm, the manager's.
    docker: Docker,
    project: String,
    model: Option<ComposeModel>,
    cli: std::sync::Arc<OnceCell<ComposeCli>>,
    compose_env: Vec<(String, String)>,
    /// Compose files laid over the project's (`-f` after it): the run's
    /// override that puts services on chaos-fs or libfaketime.
    overrides: Vec<std::path::PathBuf>,
    backend: Backend,
}

/// Who runs the cluster's containers.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A compose project on one engine.
    Compose,
    /// A stack on a Swarm: one engine per node.
    Swarm(std::sync::Arc<swarm::SwarmEngines>),
}

/// Add `extra` to an environment list; a name already present takes the new
/// value in place. Pure.
fn merge_env<K: Into<String>, V: Into<String>>(
    env: &mut Vec<(String, String)>,
    extra: impl IntoIterator<Item = (K, V)>,
) {
    for (k, v) in extra {
        let (k, v) = (k.into(), v.into());
        match env.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => env.push((k, v)),
        }
    }
}

/// Connect to the engine and agree on an API version.
pub async fn connect_engine() -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_local_defaults().map_err(DockerError::Connect)?;
    docker
        .negotiate_version()
        .await
        .map_err(DockerError::Connect)
}

impl ComposeCluster {
    /// The project of a compose file; the file is read now (its services and
    /// networks), the compose CLI is found on first use.
    pub async fn connect(project: &str, compose_file: &Path) -> Result<Self, DockerError> {
        let model = ComposeModel::load(compose_file, project)?;
        Ok(ComposeCluster {
            docker: connect_engine().await?,
            project: project.to_string(),
            model: Some(model),
            cli: Default::default(),
            compose_env: Vec::new(),
            overrides: Vec::new(),
            backend: Backend::Compose,
        })
    }

    /// The cluster an experiment names: its compose project, or its stack
    /// on a Swarm (every node's engine connected, a manager found).
    pub async fn connect_to(
        cluster: &crate::experiment::Cluster,
        compose_file: &Path,
    ) -> Result<Self, DockerError> {
        match cluster.orchestrator.swarm_nodes() {
            None => ComposeCluster::connect(&cluster.project, compose_file).await,
            Some(nodes) => {
                ComposeCluster::connect_swarm(&cluster.project, compose_file, nodes).await
            }
        }
    }

    /// A stack on a Swarm, from its stack file (compose format 3.x) and its
    /// nodes' engines.
    pub async fn connect_swarm(
        stack: &str,
        stack_file: &Path,
        nodes: &BTreeMap<String, crate::experiment::SwarmNode>,
    ) -> Result<Self, DockerError> {
        let model = ComposeModel::load(stack_file, stack)?;
        let engines = swarm::SwarmEngines::connect(stack, nodes).await?;
        Ok(ComposeCluster {
            docker: engines.manager().docker.clone(),
            project: stack.to_string(),
            model: Some(model),
            cli: Default::default(),
            compose_env: Vec::new(),
            overrides: Vec::new(),
            backend: Backend::Swarm(std::sync::Arc::new(engines)),
        })
    }

    /// The back end.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The Swarm's engines, if this is a stack.
    pub fn swarm(&self) -> Option<&swarm::SwarmEngines> {
        match &self.backend {
            Backend::Compose => None,
            Backend::Swarm(s) => Some(s),
        }
    }

    /// The engine that runs a container: the compose engine, or its node's.
    pub fn engine(&self, c: &Scoped) -> Result<&Docker, DockerError> {
        match (&self.backend, &c.node) {
            (Backend::Compose, _) => Ok(&self.docker),
            (Backend::Swarm(s), Some(node)) => Ok(&s.node(node)?.docker),
            (Backend::Swarm(_), None) => Err(DockerError::UnknownNode {
                node: format!("(none recorded for {})", c.service),
                known: self.engine_names().join(", "),
            }),
        }
    }

    /// Every engine: (node, client); one unnamed engine for compose.
    fn engines(&self) -> Vec<(Option<&str>, &Docker)> {
        match &self.backend {
            Backend::Compose => vec![(None, &self.docker)],
            Backend::Swarm(s) => s
                .nodes
                .iter()
                .map(|(n, e)| (Some(n.as_str()), &e.docker))
                .collect(),
        }
    }

    /// The engines' names, for people: `local` or each node's.
    pub fn engine_names(&self) -> Vec<String> {
        match &self.backend {
            Backend::Compose => vec!["local".to_string()],
            Backend::Swarm(s) => s.nodes.keys().cloned().collect(),
        }
    }

    /// The host where a container's published ports are reached:
    /// 127.0.0.1, or on a Swarm its node's address.
    pub fn host_of(&self, c: &ContainerInfo) -> String {
        match (&self.backend, &c.node) {
            (Backend::Swarm(s), Some(node)) => s
                .nodes
                .get(node)
                .map(|e| e.address.clone())
                .unwrap_or_else(|| "127.0.0.1".to_string()),
            _ => "127.0.0.1".to_string(),
        }
    }

    /// `host:port` where a service publishes a container port.
    pub async fn published_address(
        &self,
        service: &str,
        container_port: u16,
    ) -> Result<String, DockerError> {
        let c = self.container(service).await?;
        let port = published_of(&c, container_port).ok_or(DockerError::NoPort {
            service: service.to_string(),
            port: container_port,
        })?;
        Ok(format!("{}:{port}", self.host_of(&c)))
    }

    /// A project known only by name (`chaos heal --project`): everything but
    /// `up`/`down` works; networks to reconnect come from the containers.
    pub async fn connect_project(project: &str) -> Result<Self, DockerError> {
        Ok(ComposeCluster {
            docker: connect_engine().await?,
            project: project.to_string(),
            model: None,
            cli: Default::default(),
            compose_env: Vec::new(),
            overrides: Vec::new(),
            backend: Backend::Compose,
        })
    }

    /// Add environment variables for the compose CLI (the compose file's
    /// `${VARIABLES}`: an experiment's `cluster.env`, port overrides), on top
    /// of those already set; a name given again takes the new value. Compose
    /// recreates the containers whose environment changed on the next `up`.
    pub fn with_env<K, V>(mut self, env: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        merge_env(&mut self.compose_env, env);
        self
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub fn compose_file(&self) -> Option<&Path> {
        self.model.as_ref().map(|m| m.path.as_path())
    }

    /// What the compose file says (None for a project known only by name).
    pub fn model(&self) -> Option<&ComposeModel> {
        self.model.as_ref()
    }

    /// The services the compose file defines (empty without one).
    pub fn services(&self) -> BTreeSet<String> {
        self.model
            .as_ref()
            .map(|m| m.services.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The networks the compose file puts a service on (None: no compose
    /// file, or the service is not in it).
    pub fn compose_networks(&self, service: &str) -> Option<&BTreeSet<String>> {
        self.model.as_ref().and_then(|m| m.services.get(service))
    }

    async fn compose(&self, args: &[&str]) -> Result<(), DockerError> {
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| DockerError::NoComposeFile(self.project.clone()))?;
        let cli = self.cli.get_or_try_init(ComposeCli::detect).await?;
        cli.run(
            &self.project,
            &model.path,
            &self.overrides,
            args,
            &self.compose_env,
        )
        .await
    }

    /// Lay a compose file over the project's for `up` (the run's override).
    pub fn with_override(mut self, file: std::path::PathBuf) -> Self {
        self.overrides.push(file);
        self
    }

    /// The compose CLI in use.
    pub async fn compose_cli(&self) -> Result<ComposeCli, DockerError> {
        self.cli.get_or_try_init(ComposeCli::detect).await.copied()
    }

    /// `compose up -d`, then wait until every service is running and healthy.
    pub async fn up(&self, ready_timeout: Duration) -> Result<(), DockerError> {
        self.up_reporting(ready_timeout, &mut |_| {}).await
    }

    /// [`ComposeCluster::up`], telling `pending` which services are not ready
    /// yet each time it looks (for a progress display).
    pub async fn up_reporting(
        &self,
        ready_timeout: Duration,
        pending: &mut (dyn FnMut(&[String]) + Send),
    ) -> Result<(), DockerError> {
        match &self.backend {
            Backend::Compose => self.compose(&["up", "-d"]).await?,
            Backend::Swarm(s) => {
                let model = self
                    .model
                    .as_ref()
                    .ok_or_else(|| DockerError::NoComposeFile(self.project.clone()))?;
                self.check_stack_file()?;
                s.deploy(&model.path, &self.compose_env).await?;
                let rerun = s.rerun_ended().await?;
                if !rerun.is_empty() {
                    tracing::info!(?rerun, "ran again the services whose task had ended");
                }
            }
        }
        self.wait_healthy_reporting(ready_timeout, pending).await
    }

    /// On a Swarm: refuse a stack file with what Swarm ignores or refuses,
    /// or a restart policy that would undo a fault (see
    /// [`swarm::stack_file_problems`]). Compose: nothing to check.
    pub fn check_stack_file(&self) -> Result<(), DockerError> {
        let (Backend::Swarm(_), Some(model)) = (&self.backend, &self.model) else {
            return Ok(());
        };
        let path = model.path.display().to_string();
        let text = std::fs::read_to_string(&model.path).map_err(|e| DockerError::ComposeFile {
            path: path.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let problems =
            swarm::stack_file_problems(&text).map_err(|message| DockerError::ComposeFile {
                path: path.clone(),
                message,
            })?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(DockerError::StackFile {
                path,
                problems: problems.join("\n  "),
            })
        }
    }

    /// On a Swarm: every deployed service of the stack has restart
    /// condition `none` (what the stack file says may not be what runs).
    pub async fn check_restart_policy(&self) -> Result<(), DockerError> {
        let Backend::Swarm(s) = &self.backend else {
            return Ok(());
        };
        let problems = s.restart_policy_problems().await?;
        if problems.is_empty() {
            return Ok(());
        }
        Err(DockerError::RestartPolicy {
            stack: self.project.clone(),
            problems: problems
                .iter()
                .map(|(svc, c)| format!("service {svc} has restart condition `{c}`"))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Remove chaos's helper containers, then `compose down -v` (containers,
    /// networks and volumes).
    pub async fn down(&self) -> Result<(), DockerError> {
        self.remove_helpers().await?;
        match &self.backend {
            Backend::Compose => self.compose(&["down", "-v"]).await,
            Backend::Swarm(s) => s.remove(Duration::from_secs(90)).await,
        }
    }

    /// Every container of the project (running or not), by service. With
    /// several containers for a service (scaled), the first by name wins.
    pub async fn containers(&self) -> Result<BTreeMap<String, ContainerInfo>, DockerError> {
        if let Backend::Swarm(s) = &self.backend {
            return Ok(s
                .current()
                .await?
                .into_iter()
                .map(|(task, summary)| {
                    let info =
                        ContainerInfo::from_summary_of(summary, task.service.clone(), task.node);
                    (task.service, info)
                })
                .collect());
        }
        let mut out = BTreeMap::new();
        let mut all = self.list(labels::PROJECT, &self.project).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        for c in all {
            out.entry(c.service.clone()).or_insert(c);
        }
        Ok(out)
    }

    async fn list(&self, label: &str, value: &str) -> Result<Vec<ContainerInfo>, DockerError> {
        let list = self.list_labelled(label, value, "list containers").await?;
        Ok(list
            .into_iter()
            .filter_map(|s| ContainerInfo::from_summary(s, &self.project))
            .collect())
    }

    /// Every container (any state) whose `label` is `value`.
    async fn list_labelled(
        &self,
        label: &str,
        value: &str,
        what: &'static str,
    ) -> Result<Vec<ContainerSummary>, DockerError> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{label}={value}")])]);
        self.docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(DockerError::api(what))
    }

    /// The container of a service.
    pub async fn container(&self, service: &str) -> Result<ContainerInfo, DockerError> {
        self.containers()
            .await?
            .remove(service)
            .ok_or_else(|| self.no_container(service))
    }

    pub fn no_container(&self, service: &str) -> DockerError {
        DockerError::NoContainer {
            service: service.to_string(),
            project: self.project.clone(),
        }
    }

    /// The scope guard: inspect a container by id or name and accept it only
    /// if it carries this project's label.
    pub async fn scoped(&self, container: &str) -> Result<Scoped, DockerError> {
        self.scoped_on(container, None).await
    }

    /// [`ComposeCluster::scoped`], asking the node `engine` first (the one
    /// a journal recorded) on a Swarm.
    pub async fn scoped_on(
        &self,
        container: &str,
        engine: Option<&str>,
    ) -> Result<Scoped, DockerError> {
        if let Backend::Swarm(s) = &self.backend {
            let Some((node, c)) = s.locate(container, engine).await? else {
                return Err(DockerError::Api {
                    action: format!("find container {container} on any node"),
                    error: bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        message: format!("no such container on any node: {container}"),
                    },
                });
            };
            let labels = c.config.and_then(|c| c.labels).unwrap_or_default();
            let found = labels.get(swarm::STACK_LABEL);
            if found.map(String::as_str) != Some(self.project.as_str()) {
                return Err(DockerError::OutOfScope {
                    container: container.to_string(),
                    project: self.project.clone(),
                    found: found
                        .map(|p| format!("stack `{p}`"))
                        .unwrap_or_else(|| "no stack".to_string()),
                });
            }
            let full = labels
                .get(swarm::SERVICE_LABEL)
                .cloned()
                .unwrap_or_default();
            let prefix = format!("{}_", self.project);
            return Ok(Scoped {
                id: c.id.unwrap_or_else(|| container.to_string()),
                service: full.strip_prefix(&prefix).unwrap_or(&full).to_string(),
                node: Some(node),
            });
        }
        let c = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(DockerError::api(format!("inspect container {container}")))?;
        let labels = c.config.and_then(|c| c.labels).unwrap_or_default();
        let found = labels.get(labels::PROJECT);
        if found.map(String::as_str) != Some(self.project.as_str()) {
            return Err(DockerError::OutOfScope {
                container: container.to_string(),
                project: self.project.clone(),
                found: found
                    .map(|p| format!("project `{p}`"))
                    .unwrap_or_else(|| "no compose project".to_string()),
            });
        }
        Ok(Scoped {
            id: c.id.unwrap_or_else(|| container.to_string()),
            service: labels.get(labels::SERVICE).cloned().unwrap_or_default(),
            node: None,
        })
    }

    /// The same guard for a container already listed by project label.
    pub fn scoped_info(&self, c: &ContainerInfo) -> Scoped {
        Scoped {
            id: c.id.clone(),
            service: c.service.clone(),
            node: c.node.clone(),
        }
    }

    /// Wait until every service of the compose file (or, without one, every
    /// container of the project) is running and, where it has a health
    /// check, healthy.
    pub async fn wait_healthy(&self, timeout: Duration) -> Result<(), DockerError> {
        self.wait_healthy_reporting(timeout, &mut |_| {}).await
    }

    /// [`ComposeCluster::wait_healthy`], telling `report` which services
    /// are not ready yet each time it looks.
    pub async fn wait_healthy_reporting(
        &self,
        timeout: Duration,
        report: &mut (dyn FnMut(&[String]) + Send),
    ) -> Result<(), DockerError> {
        let start = tokio::time::Instant::now();
        loop {
            let containers = self.containers().await?;
            let mut expected = self.services();
            if expected.is_empty() {
                expected = containers.keys().cloned().collect();
            }
            let pending = readiness(&expected, &containers);
            if pending.is_empty() && !expected.is_empty() {
                return Ok(());
            }
            report(&pending);
            if start.elapsed() >= timeout {
                return Err(DockerError::NotReady {
                    project: self.project.clone(),
                    waited: timeout,
                    pending: if pending.is_empty() {
                        "no containers".to_string()
                    } else {
                        pending.join("; ")
                    },
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The host port (on 127.0.0.1) where a service publishes a container
    /// port.
    pub async fn published_port(
        &self,
        service: &str,
        container_port: u16,
    ) -> Result<u16, DockerError> {
        let c = self.container(service).await?;
        published_of(&c, container_port).ok_or(DockerError::NoPort {
            service: service.to_string(),
            port: container_port,
        })
    }

    /// A container's log (standard output and error, each line with its
    /// time stamp) since `since_unix_s`, across its restarts.
    pub async fn logs_since(&self, c: &Scoped, since_unix_s: i64) -> Result<Vec<u8>, DockerError> {
        use bollard::query_parameters::LogsOptions;
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            timestamps: true,
            since: i32::try_from(since_unix_s).unwrap_or(0),
            ..Default::default()
        };
        let mut stream = self.engine(c)?.logs(&c.id, Some(options));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(DockerError::api(format!("logs of {}", c.service)))?;
            out.extend_from_slice(&chunk.into_bytes());
        }
        Ok(out)
    }

    // --- primitives on scoped containers -----------------------------------

    /// Send a signal (`SIGKILL`, `SIGTERM`).
    pub async fn signal(&self, c: &Scoped, signal: &str) -> Result<(), DockerError> {
        self.engine(c)?
            .kill_container(
                &c.id,
                Some(KillContainerOptions {
                    signal: signal.to_string(),
                }),
            )
            .await
            .map_err(DockerError::api(format!("{signal} {}", c.service)))
    }

    /// Start; a container already running is fine. On a Swarm, the task of
    /// a killed or stopped container cannot be started again (its node let
    /// go of the overlay network): its service runs a new task instead
    /// ([`swarm::SwarmEngines::rerun_service`]), on the same node by
    /// placement, with the same volume; nothing is done if the service's
    /// current task already runs.
    pub async fn start(&self, c: &Scoped) -> Result<(), DockerError> {
        if let Backend::Swarm(s) = &self.backend {
            return s
                .rerun_service(&c.service, &c.id, c.node.as_deref())
                .await
                .map(|_| ());
        }
        match self.docker.start_container(&c.id, None).await {
            Ok(()) => Ok(()),
            Err(e) if status_code(&e) == Some(304) => Ok(()),
            Err(e) => Err(DockerError::Api {
                action: format!("start {}", c.service),
                error: e,
            }),
        }
    }

    pub async fn pause(&self, c: &Scoped) -> Result<(), DockerError> {
        self.engine(c)?
            .pause_container(&c.id)
            .await
            .map_err(DockerError::api(format!("pause {}", c.service)))
    }

    pub async fn unpause(&self, c: &Scoped) -> Result<(), DockerError> {
        self.engine(c)?
            .unpause_container(&c.id)
            .await
            .map_err(DockerError::api(format!("unpause {}", c.service)))
    }

    /// One container, inspected through the engine that runs it.
    async fn inspect(
        &self,
        c: &Scoped,
    ) -> Result<bollard::models::ContainerInspectResponse, DockerError> {
        self.engine(c)?
            .inspect_container(&c.id, None)
            .await
            .map_err(DockerError::api(format!("inspect {}", c.service)))
    }

    /// A container's CPU and memory limits as the engine holds them (0:
    /// none), and whether the kernel's OOM killer ended its last run.
    pub async fn limits(&self, c: &Scoped) -> Result<(Limits, bool), DockerError> {
        let i = self.inspect(c).await?;
        let h = i.host_config.unwrap_or_default();
        let oom = i.state.and_then(|s| s.oom_killed).unwrap_or(false);
        Ok((
            Limits {
                cpu_quota: h.cpu_quota.unwrap_or(0),
                cpu_period: h.cpu_period.unwrap_or(0),
                nano_cpus: h.nano_cpus.unwrap_or(0),
                memory: h.memory.unwrap_or(0),
                memory_swap: h.memory_swap.unwrap_or(0),
            },
            oom,
        ))
    }

    /// Change a running container's limits (the engine's update API);
    /// `None` leaves a value as it is.
    pub async fn update_limits(&self, c: &Scoped, u: LimitUpdate) -> Result<(), DockerError> {
        let body = bollard::models::ContainerUpdateBody {
            cpu_quota: u.cpu_quota,
            cpu_period: u.cpu_period,
            nano_cpus: u.nano_cpus,
            memory: u.memory,
            memory_swap: u.memory_swap,
            ..Default::default()
        };
        self.engine(c)?
            .update_container(&c.id, body)
            .await
            .map_err(DockerError::api(format!(
                "update the limits of {}",
                c.service
            )))
    }

    /// The memory of the engine's host, in bytes.
    pub async fn host_memory(&self, c: &Scoped) -> Result<i64, DockerError> {
        let info = self
            .engine(c)?
            .info()
            .await
            .map_err(DockerError::api("docker info".to_string()))?;
        Ok(info.mem_total.unwrap_or(0))
    }

    /// Wait until a container is no longer running, at most `timeout`;
    /// true if it stopped.
    pub async fn wait_stopped(&self, c: &Scoped, timeout: Duration) -> Result<bool, DockerError> {
        let wait = async {
            let mut s = self.engine(c)?.wait_container(
                &c.id,
                Some(WaitContainerOptions {
                    condition: "not-running".to_string(),
                }),
            );
            // A non-zero exit code arrives as an error item: it still means
            // the container stopped.
            match s.next().await {
                None | Some(Ok(_)) => Ok(()),
                Some(Err(bollard::errors::Error::DockerContainerWaitError { .. })) => Ok(()),
                Some(Err(e)) => Err(DockerError::Api {
                    action: format!("wait for {} to stop", c.service),
                    error: e,
                }),
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r.map(|()| true),
            Err(_) => Ok(false),
        }
    }

    /// The state and start time of one container (fresh, not listed).
    pub async fn inspect_state(&self, c: &Scoped) -> Result<(State, String), DockerError> {
        let i = self.inspect(c).await?;
        let st = i.state.unwrap_or_default();
        use bollard::models::ContainerStateStatusEnum as S;
        let state = match st.status {
            Some(S::CREATED) => State::Created,
            Some(S::RUNNING) => State::Running,
            Some(S::PAUSED) => State::Paused,
            Some(S::RESTARTING) => State::Restarting,
            Some(S::REMOVING) => State::Removing,
            Some(S::EXITED) => State::Exited,
            Some(S::DEAD) => State::Dead,
            _ => State::Unknown,
        };
        Ok((state, st.started_at.unwrap_or_default()))
    }

    /// The container's endpoints, with their aliases (inspect gives the
    /// aliases; the list does not always).
    pub async fn endpoints(&self, c: &Scoped) -> Result<BTreeMap<String, Endpoint>, DockerError> {
        let i = self.inspect(c).await?;
        Ok(i.network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, e)| (name, endpoint(&e)))
            .collect())
    }

    pub async fn disconnect_network(&self, c: &Scoped, network: &str) -> Result<(), DockerError> {
        self.engine(c)?
            .disconnect_network(
                network,
                NetworkDisconnectRequest {
                    container: c.id.clone(),
                    force: Some(true),
                },
            )
            .await
            .map_err(DockerError::api(format!(
                "disconnect {} from {network}",
                c.service
            )))
    }

    /// Connect with the aliases given (the service name keeps resolving).
    /// A container already on the network is fine.
    pub async fn connect_network(
        &self,
        c: &Scoped,
        network: &str,
        aliases: &[String],
    ) -> Result<(), DockerError> {
        let r = self
            .engine(c)?
            .connect_network(
                network,
                NetworkConnectRequest {
                    container: c.id.clone(),
                    endpoint_config: Some(EndpointSettings {
                        aliases: Some(aliases.to_vec()),
                        ..Default::default()
                    }),
                },
            )
            .await;
        match r {
            Ok(()) => Ok(()),
            Err(e) if is_already_connected(&e) => Ok(()),
            Err(e) => Err(DockerError::Api {
                action: format!("connect {} to {network}", c.service),
                error: e,
            }),
        }
    }

    /// Run a command inside a container and collect its output.
    pub async fn exec(&self, container: &str, cmd: &[&str]) -> Result<ExecOutput, DockerError> {
        match &self.backend {
            Backend::Compose => exec(&self.docker, container, cmd).await,
            Backend::Swarm(_) => {
                let c = self.scoped_any(container).await?;
                exec(self.engine(&c)?, container, cmd).await
            }
        }
    }

    /// On a Swarm, the node of any container (a helper too), without the
    /// stack's scope guard.
    async fn scoped_any(&self, container: &str) -> Result<Scoped, DockerError> {
        let node = match &self.backend {
            Backend::Compose => None,
            Backend::Swarm(s) => s.locate(container, None).await?.map(|(n, _)| n),
        };
        Ok(Scoped {
            id: container.to_string(),
            service: String::new(),
            node,
        })
    }

    /// Run a command in a service's container.
    pub async fn exec_service(
        &self,
        service: &str,
        cmd: &[&str],
    ) -> Result<ExecOutput, DockerError> {
        let c = self.container(service).await?;
        exec(self.engine(&self.scoped_info(&c))?, &c.id, cmd).await
    }

    // --- helper containers ------------------------------------------------

    /// chaos's helper containers for this project (any state).
    pub async fn helpers(&self) -> Result<Vec<String>, DockerError> {
        Ok(self
            .helpers_by_engine()
            .await?
            .into_iter()
            .map(|(_, id)| id)
            .collect())
    }

    /// (engine, helper id) of every helper, on every engine.
    async fn helpers_by_engine(&self) -> Result<Vec<(&Docker, String)>, DockerError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{}={}", labels::HELPER_PROJECT, self.project)],
        )]);
        let mut out = Vec::new();
        for (node, docker) in self.engines() {
            let list = docker
                .list_containers(Some(ListContainersOptions {
                    all: true,
                    filters: Some(filters.clone()),
                    ..Default::default()
                }))
                .await
                .map_err(DockerError::api(match node {
                    Some(n) => format!("list helper containers on {n}"),
                    None => "list helper containers".to_string(),
                }))?;
            out.extend(list.into_iter().filter_map(|c| c.id).map(|id| (docker, id)));
        }
        Ok(out)
    }

    /// Remove every helper container of the project; returns how many.
    pub async fn remove_helpers(&self) -> Result<usize, DockerError> {
        let helpers = self.helpers_by_engine().await?;
        for (docker, id) in &helpers {
            remove_container(docker, id).await?;
        }
        Ok(helpers.len())
    }

    /// Create and start a helper container for this project: `image`, with
    /// NET_ADMIN, in `network_mode`, running `cmd`. Labelled so that sweeps
    /// find it. With `stdin`, the helper reads commands from its standard
    /// input: it is attached before it starts and the attachment is
    /// returned; its stdin closes when that attachment does (chaos exits or
    /// dies), which ends the helper, and the engine then removes it.
    ///
    /// `on`: the container whose node runs the helper (on a Swarm, the
    /// helper must be on the target's node to share its namespace); None:
    /// the compose engine, or the Swarm's manager.
    pub async fn create_helper(
        &self,
        on: Option<&Scoped>,
        image: &str,
        network_mode: &str,
        cmd: &[&str],
        extra_labels: &[(&str, &str)],
        stdin: bool,
    ) -> Result<(String, Option<AttachContainerResults>), DockerError> {
        let docker = match on {
            Some(c) => self.engine(c)?,
            None => &self.docker,
        };
        let mut labels =
            HashMap::from([(labels::HELPER_PROJECT.to_string(), self.project.clone())]);
        for (k, v) in extra_labels {
            labels.insert(k.to_string(), v.to_string());
        }
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            labels: Some(labels),
            open_stdin: Some(stdin),
            stdin_once: Some(stdin),
            attach_stdin: Some(stdin),
            attach_stdout: Some(stdin),
            attach_stderr: Some(stdin),
            host_config: Some(HostConfig {
                network_mode: Some(network_mode.to_string()),
                cap_add: Some(vec!["NET_ADMIN".to_string()]),
                init: Some(true),
                auto_remove: Some(stdin),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map_err(|e| match status_code(&e) {
                Some(404) => DockerError::MissingImage(image.to_string()),
                _ => DockerError::Api {
                    action: format!("create helper container ({network_mode})"),
                    error: e,
                },
            })?;
        let io = if stdin {
            let attached = docker
                .attach_container(
                    &created.id,
                    Some(AttachContainerOptions {
                        stdin: true,
                        stdout: true,
                        stderr: true,
                        stream: true,
                        ..Default::default()
                    }),
                )
                .await;
            match attached {
                Ok(io) => Some(io),
                Err(e) => {
                    let _ = remove_container(docker, &created.id).await;
                    return Err(DockerError::Api {
                        action: format!("attach to helper container ({network_mode})"),
                        error: e,
                    });
                }
            }
        } else {
            None
        };
        if let Err(e) = docker.start_container(&created.id, None).await {
            let _ = remove_container(docker, &created.id).await;
            return Err(DockerError::Api {
                action: format!("start helper container ({network_mode})"),
                error: e,
            });
        }
        Ok((created.id, io))
    }

    /// Is an image present locally?
    /// On a Swarm: present on every node.
    /// The labels of a local image (`None` when the engine lacks it).
    pub async fn image_labels(
        &self,
        image: &str,
    ) -> Result<Option<BTreeMap<String, String>>, DockerError> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(Some(
                i.config
                    .and_then(|c| c.labels)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            )),
            Err(e) if status_code(&e) == Some(404) => Ok(None),
            Err(e) => Err(DockerError::api(format!("inspecting image {image}"))(e)),
        }
    }

    pub async fn has_image(&self, image: &str) -> Result<bool, DockerError> {
        Ok(self.nodes_without_image(image).await?.is_empty())
    }

    /// The engines (`local`, or node names) that lack an image.
    pub async fn nodes_without_image(&self, image: &str) -> Result<Vec<String>, DockerError> {
        let mut missing = Vec::new();
        for (node, docker) in self.engines() {
            match docker.inspect_image(image).await {
                Ok(_) => {}
                Err(e) if status_code(&e) == Some(404) => {
                    missing.push(node.unwrap_or("local").to_string())
                }
                Err(e) => {
                    return Err(DockerError::Api {
                        action: format!("inspect image {image} on {}", node.unwrap_or("local")),
                        error: e,
                    });
                }
            }
        }
        Ok(missing)
    }

    /// Remove a container by id (helpers): gone already is fine.
    /// On a Swarm, on whichever node has it.
    pub async fn remove(&self, id: &str) -> Result<(), DockerError> {
        for (_, docker) in self.engines() {
            remove_container(docker, id).await?;
        }
        Ok(())
    }
}

fn is_already_connected(e: &bollard::errors::Error) -> bool {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => {
            (*status_code == 403 || *status_code == 409)
                && (message.contains("already exists") || message.contains("already attached"))
        }
        _ => false,
    }
}

async fn remove_container(docker: &Docker, id: &str) -> Result<(), DockerError> {
    match docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Ok(()),
        // Removal already in progress (an auto-removed helper whose shell
        // just ended): wait until it is really gone, so that whoever lists
        // containers next does not see it.
        Err(e) if status_code(&e) == Some(409) => {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                match docker.inspect_container(id, None).await {
                    Err(e) if status_code(&e) == Some(404) => return Ok(()),
                    _ if tokio::time::Instant::now() >= deadline => {
                        return Err(DockerError::Api {
                            action: format!("remove container {}", &id[..id.len().min(12)]),
                            error: e,
                        });
                    }
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
        Err(e) => Err(DockerError::Api {
            action: format!("remove container {}", &id[..id.len().min(12)]),
            error: e,
        }),
    }
}

/// The host port where a listed container publishes a container port.
fn published_of(c: &ContainerInfo, container_port: u16) -> Option<u16> {
    c.ports
        .iter()
        .filter(|p| p.container_port == container_port)
        .find(|p| matches!(p.host_ip.as_str(), "127.0.0.1" | "0.0.0.0" | "" | "::"))
        .map(|p| p.host_port)
}

/// Run a command in a container through the exec API.
pub async fn exec(
    docker: &Docker,
    container: &str,
    cmd: &[&str],
) -> Result<ExecOutput, DockerError> {
    let short = &container[..container.len().min(12)];
    let created = docker
        .create_exec(
            container,
            ExecConfig {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(DockerError::api(format!("exec in {short}")))?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    match docker
        .start_exec(&created.id, None)
        .await
        .map_err(DockerError::api(format!("start exec in {short}")))?
    {
        bollard::exec::StartExecResults::Attached { mut output, .. } => {
            while let Some(item) = output.next().await {
                match item.map_err(DockerError::api(format!("exec output in {short}")))? {
                    bollard::container::LogOutput::StdErr { message } => {
                        stderr.extend_from_slice(&message)
                    }
                    other => stdout.extend_from_slice(&other.into_bytes()),
                }
            }
        }
        bollard::exec::StartExecResults::Detached => {}
    }
    let inspect = docker
        .inspect_exec(&created.id)
        .await
        .map_err(DockerError::api(format!("inspect exec in {short}")))?;
    Ok(ExecOutput {
        code: inspect.exit_code.unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Which expected services are not ready, and why. Pure.
pub fn readiness(
    expected: &BTreeSet<String>,
    containers: &BTreeMap<String, ContainerInfo>,
) -> Vec<String> {
    let mut pending = Vec::new();
    for service in expected {
        match containers.get(service) {
            None => pending.push(format!("{service}: no container")),
            Some(c) if c.state != State::Running => {
                pending.push(format!("{service}: {} ({})", c.state.name(), c.status))
            }
            Some(c) if matches!(c.health, Health::Starting | Health::Unhealthy) => {
                pending.push(format!("{service}: health {}", c.health.name()))
            }
            Some(_) => {}
        }
    }
    pending
}

/// The path of a compose file as compose should see it: absolute, so that
/// the CLI's working directory does not matter.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerSummaryNetworkSettings, PortSummary};

    fn summary(
        project: &str,
        service: &str,
        state: ContainerSummaryStateEnum,
        status: &str,
    ) -> ContainerSummary {
        ContainerSummary {
            id: Some(format!("{service}0123456789abcdef")),
            names: Some(vec![format!("/{project}_{service}_1")]),
            labels: Some(HashMap::from([
                (labels::PROJECT.to_string(), project.to_string()),
                (labels::SERVICE.to_string(), service.to_string()),
            ])),
            state: Some(state),
            status: Some(status.to_string()),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: Some(HashMap::from([(
                    format!("{project}_cluster"),
                    EndpointSettings {
                        ip_address: Some("172.20.0.2".to_string()),
                        ..Default::default()
                    },
                )])),
            }),
            ports: Some(vec![
                PortSummary {
                    ip: Some("127.0.0.1".to_string()),
                    private_port: 2379,
                    public_port: Some(23791),
                    typ: None,
                },
                PortSummary {
                    ip: None,
                    private_port: 2380,
                    public_port: None,
                    typ: None,
                },
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn summaries_outside_the_project_are_dropped() {
        let s = summary("other", "etcd1", ContainerSummaryStateEnum::RUNNING, "Up");
        assert!(ContainerInfo::from_summary(s, "mine").is_none());
        let s = summary(
            "mine",
            "etcd1",
            ContainerSummaryStateEnum::RUNNING,
            "Up 2 seconds (healthy)",
        );
        let c = ContainerInfo::from_summary(s, "mine").unwrap();
        assert_eq!(c.service, "etcd1");
        assert_eq!(c.name, "mine_etcd1_1");
        assert_eq!(c.health, Health::Healthy);
        assert_eq!(c.ips(), ["172.20.0.2"]);
        assert_eq!(c.ports.len(), 1);
        assert_eq!(c.ports[0].host_port, 23791);
        assert_eq!(c.short_id().len(), 12);
    }

    #[test]
    fn health_from_status_text() {
        assert_eq!(
            Health::from_status("Up 1 second (health: starting)"),
            Health::Starting
        );
        assert_eq!(
            Health::from_status("Up 1 second (unhealthy)"),
            Health::Unhealthy
        );
        assert_eq!(
            Health::from_status("Up 1 second (healthy)"),
            Health::Healthy
        );
        assert_eq!(Health::from_status("Up 1 second"), Health::None);
    }

    #[test]
    fn readiness_names_what_is_missing() {
        let expected: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
        let mut cs = BTreeMap::new();
        let mk = |svc: &str, st, status: &str| {
            ContainerInfo::from_summary(summary("p", svc, st, status), "p").unwrap()
        };
        cs.insert(
            "a".to_string(),
            mk("a", ContainerSummaryStateEnum::RUNNING, "Up (healthy)"),
        );
        cs.insert(
            "b".to_string(),
            mk("b", ContainerSummaryStateEnum::EXITED, "Exited (1)"),
        );
        cs.insert(
            "c".to_string(),
            mk(
                "c",
                ContainerSummaryStateEnum::RUNNING,
                "Up (health: starting)",
            ),
        );
        let pending = readiness(&expected, &cs);
        assert_eq!(
            pending,
            [
                "b: exited (Exited (1))",
                "c: health starting",
                "d: no container"
            ]
        );
    }

    #[test]
    fn experiment_env_adds_to_and_overrides_the_compose_env() {
        let mut env = vec![("PORT".to_string(), "1".to_string())];
        let experiment: std::collections::BTreeMap<String, String> = [
            ("PORT".to_string(), "2".to_string()),
            ("SURREAL_TIKV_ASYNC_COMMIT".to_string(), "false".to_string()),
        ]
        .into();
        merge_env(&mut env, &experiment);
        assert_eq!(
            env,
            [
                ("PORT".to_string(), "2".to_string()),
                ("SURREAL_TIKV_ASYNC_COMMIT".to_string(), "false".to_string()),
            ]
        );
        merge_env(&mut env, [("A", "b")]);
        assert_eq!(env.last().unwrap(), &("A".to_string(), "b".to_string()));
    }
}
