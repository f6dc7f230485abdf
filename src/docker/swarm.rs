//! The Swarm back end's engines and discovery: a stack on a Docker Swarm,
//! every fault carried out through the engine of the node that runs its
//! target.
//!
//! Shell. Owns one bollard client per node (`[cluster.nodes]`: `unix://`,
//! `tcp://` plain or with TLS from the node's `tls_dir`, `ssh://` through
//! an [`SshTunnel`] forwarding the remote engine's socket), which node is a
//! manager,
//! and discovery through the manager: the stack's services (label
//! `com.docker.stack.namespace`), their tasks, the node of each task and its
//! container, then the container itself from that node's engine. The scope
//! guard is the stack label: a container without it is never touched.
//! `docker stack deploy` and `docker stack rm` are features of the docker
//! CLI, not of the Engine API, so `up`/`down` shell out to
//! `docker stack ...` pointed at the manager; everything else is the API.
//!
//! The pure parts (the stack file's problems, which task is a service's
//! current one, engine URLs) are unit-tested below. [`super::ComposeCluster`]
//! routes to this module when its back end is a Swarm; the nemesis, the
//! journal and the engine do not know which back end they drive, except
//! that each journaled target names the node whose engine it went through.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerSummary, TaskSpecRestartPolicyConditionEnum};
use bollard::query_parameters::{
    InspectServiceOptions, ListContainersOptions, ListServicesOptions, ListTasksOptions,
    UpdateServiceOptions,
};

use super::DockerError;
use super::ssh::SshTunnel;
use crate::error_text::with_causes;
use crate::experiment::SwarmNode;
use crate::experiment::endpoint::{self, Endpoint};

/// The label Swarm puts on a stack's services, containers, networks and
/// volumes.
pub const STACK_LABEL: &str = "com.docker.stack.namespace";
/// The label on a task's container naming its service (`<stack>_<name>`).
pub const SERVICE_LABEL: &str = "com.docker.swarm.service.name";

/// One node's engine.
#[derive(Debug, Clone)]
pub struct NodeEngine {
    pub docker: Docker,
    /// The endpoint as configured (`tcp://127.0.0.1:23871`).
    pub url: String,
    /// Where its host-mode published ports are reached.
    pub address: String,
    /// What points the docker CLI at this engine (`DOCKER_HOST`, and for
    /// TLS `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`).
    pub cli_env: Vec<(String, String)>,
    /// For `ssh://`: the forward, open while any clone of this is held.
    _tunnel: Option<std::sync::Arc<SshTunnel>>,
}

/// The engines of a Swarm and the stack chaos works on.
#[derive(Debug, Clone)]
pub struct SwarmEngines {
    pub stack: String,
    /// The node (hostname) whose engine is a manager: discovery and
    /// service updates go through it.
    pub manager: String,
    pub nodes: BTreeMap<String, NodeEngine>,
}

/// A task of the stack, as the manager reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    /// The service's short name (without `<stack>_`).
    pub service: String,
    /// The node's hostname.
    pub node: Option<String>,
    pub container: Option<String>,
    pub state: String,
    pub desired: String,
    /// Creation time as the engine wrote it (RFC 3339, nanoseconds).
    pub created: String,
}

/// Connect to one node's engine as `[cluster.nodes]` gives it: a Unix
/// socket, plain TCP, TCP with TLS (`tls_dir`), or `ssh://` through a
/// forwarded socket ([`SshTunnel`]). Returns the client, the environment
/// that points the docker CLI at the same engine, and the tunnel to hold.
pub async fn connect_node(host: &str, node: &SwarmNode) -> Result<NodeEngine, DockerError> {
    let url = node.docker.as_str();
    let fail = |message: String| DockerError::Engine {
        node: host.to_string(),
        url: url.to_string(),
        message,
    };
    let endpoint = Endpoint::parse(url).map_err(&fail)?;
    let home = std::env::var("HOME").ok();
    let expand = |p: &str| PathBuf::from(endpoint::expand_home(p, home.as_deref()));
    let version = bollard::API_DEFAULT_VERSION;
    let (docker, cli_env, tunnel) = match (&endpoint, &node.tls_dir) {
        (Endpoint::Unix { path }, _) => (
            Docker::connect_with_unix(path, 120, version).map_err(|e| fail(e.to_string()))?,
            vec![("DOCKER_HOST".to_string(), url.to_string())],
            None,
        ),
        (Endpoint::Tcp { .. }, None) => (
            Docker::connect_with_http(url, 120, version).map_err(|e| fail(e.to_string()))?,
            vec![("DOCKER_HOST".to_string(), url.to_string())],
            None,
        ),
        (Endpoint::Tcp { .. }, Some(dir)) => {
            let dir = expand(dir);
            let file = |name: &str| {
                let path = dir.join(name);
                if path.is_file() {
                    Ok(path)
                } else {
                    Err(fail(format!(
                        "tls_dir {}: no {name}; expected ca.pem (the CA that signed the engine's certificate), cert.pem and key.pem (this client's), as for DOCKER_CERT_PATH",
                        dir.display()
                    )))
                }
            };
            let (ca, cert, key) = (file("ca.pem")?, file("cert.pem")?, file("key.pem")?);
            let docker = Docker::connect_with_ssl(url, &key, &cert, &ca, 120, version)
                .map_err(|e| fail(format!("TLS set-up from {}: {e}", dir.display())))?;
            let env = vec![
                ("DOCKER_HOST".to_string(), url.to_string()),
                ("DOCKER_TLS_VERIFY".to_string(), "1".to_string()),
                ("DOCKER_CERT_PATH".to_string(), dir.display().to_string()),
            ];
            (docker, env, None)
        }
        (Endpoint::Ssh { .. }, _) => {
            let config = node.ssh_config.as_deref().map(expand);
            let tunnel = SshTunnel::open(&endpoint, config.as_deref())
                .await
                .map_err(fail)?;
            let socket = tunnel.socket().display().to_string();
            let docker = Docker::connect_with_unix(&socket, 120, version)
                .map_err(|e| fail(e.to_string()))?;
            let env = vec![("DOCKER_HOST".to_string(), format!("unix://{socket}"))];
            (docker, env, Some(std::sync::Arc::new(tunnel)))
        }
    };
    Ok(NodeEngine {
        docker,
        url: url.to_string(),
        address: node.address.clone(),
        cli_env,
        _tunnel: tunnel,
    })
}

impl SwarmEngines {
    /// Connect to every node, agree on an API version with each, and find a
    /// manager. Each engine must be the node it is listed as (its hostname).
    pub async fn connect(
        stack: &str,
        nodes: &BTreeMap<String, SwarmNode>,
    ) -> Result<SwarmEngines, DockerError> {
        let mut engines = BTreeMap::new();
        let mut manager = None;
        for (host, node) in nodes {
            let engine_err = |message: String| DockerError::Engine {
                node: host.clone(),
                url: node.docker.clone(),
                message,
            };
            let mut engine = connect_node(host, node).await?;
            engine.docker = engine
                .docker
                .negotiate_version()
                .await
                .map_err(|e| engine_err(format!("cannot reach it: {}", with_causes(&e))))?;
            let info = engine
                .docker
                .info()
                .await
                .map_err(|e| engine_err(format!("docker info: {}", with_causes(&e))))?;
            let name = info.name.clone().unwrap_or_default();
            if name != *host {
                return Err(engine_err(format!(
                    "this engine is node `{name}`, not `{host}`: [cluster.nodes] maps each node's hostname (`docker node ls`) to its own engine"
                )));
            }
            let swarm = info.swarm.unwrap_or_default();
            let state = swarm
                .local_node_state
                .map(|s| s.to_string())
                .unwrap_or_default();
            if state != "active" {
                return Err(engine_err(format!(
                    "this engine is not part of an active Swarm (state `{state}`)"
                )));
            }
            if manager.is_none() && swarm.control_available == Some(true) {
                manager = Some(host.clone());
            }
            engines.insert(host.clone(), engine);
        }
        let manager = manager.ok_or_else(|| DockerError::NoManager {
            nodes: nodes.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        Ok(SwarmEngines {
            stack: stack.to_string(),
            manager,
            nodes: engines,
        })
    }

    pub fn manager(&self) -> &NodeEngine {
        &self.nodes[&self.manager]
    }

    /// The engine of a node, or why there is none.
    pub fn node(&self, node: &str) -> Result<&NodeEngine, DockerError> {
        self.nodes
            .get(node)
            .ok_or_else(|| DockerError::UnknownNode {
                node: node.to_string(),
                known: self.nodes.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    fn stack_filter(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "label".to_string(),
            vec![format!("{STACK_LABEL}={}", self.stack)],
        )])
    }

    /// The stack's services: full name (`<stack>_<name>`) to id, from the
    /// manager.
    pub async fn services(&self) -> Result<BTreeMap<String, String>, DockerError> {
        let list = self
            .manager()
            .docker
            .list_services(Some(ListServicesOptions {
                filters: Some(self.stack_filter()),
                ..Default::default()
            }))
            .await
            .map_err(DockerError::api("list the stack's services"))?;
        Ok(list
            .into_iter()
            .filter_map(|s| Some((s.spec?.name?, s.id?)))
            .collect())
    }

    /// Every task of the stack's services, with its node's hostname.
    pub async fn tasks(&self) -> Result<Vec<TaskView>, DockerError> {
        let manager = &self.manager().docker;
        let services = self.services().await?;
        let by_id: HashMap<&String, &String> = services.iter().map(|(n, i)| (i, n)).collect();
        let nodes = manager
            .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
            .await
            .map_err(DockerError::api("list the Swarm's nodes"))?;
        let hostnames: HashMap<String, String> = nodes
            .into_iter()
            .filter_map(|n| Some((n.id?, n.description?.hostname?)))
            .collect();
        let tasks = manager
            .list_tasks(None::<ListTasksOptions>)
            .await
            .map_err(DockerError::api("list the Swarm's tasks"))?;
        let prefix = format!("{}_", self.stack);
        Ok(tasks
            .into_iter()
            .filter_map(|t| {
                let full = by_id.get(t.service_id.as_ref()?)?;
                let status = t.status.clone().unwrap_or_default();
                Some(TaskView {
                    service: full.strip_prefix(&prefix).unwrap_or(full).to_string(),
                    node: t.node_id.as_ref().and_then(|n| hostnames.get(n).cloned()),
                    container: status.container_status.and_then(|c| c.container_id),
                    state: status.state.map(|s| s.to_string()).unwrap_or_default(),
                    desired: t.desired_state.map(|s| s.to_string()).unwrap_or_default(),
                    created: t.created_at.map(|c| c.to_string()).unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Each service's current task (see [`current_tasks`]), with the
    /// summary of its container from the node that runs it. A service
    /// whose task has no container yet is left out.
    pub async fn current(&self) -> Result<Vec<(TaskView, ContainerSummary)>, DockerError> {
        let tasks = self.tasks().await?;
        let mut out = Vec::new();
        for task in current_tasks(tasks).into_values() {
            let (Some(node), Some(container)) = (&task.node, &task.container) else {
                continue;
            };
            let engine = self
                .nodes
                .get(node)
                .ok_or_else(|| DockerError::NodeNotListed {
                    node: node.clone(),
                    service: task.service.clone(),
                })?;
            let filters = HashMap::from([("id".to_string(), vec![container.clone()])]);
            let list = engine
                .docker
                .list_containers(Some(ListContainersOptions {
                    all: true,
                    filters: Some(filters),
                    ..Default::default()
                }))
                .await
                .map_err(DockerError::api(format!("list containers on {node}")))?;
            if let Some(s) = list.into_iter().next() {
                out.push((task, s));
            }
        }
        Ok(out)
    }

    /// Which node runs a container, by asking each engine (ids are unique
    /// across engines). `hint` is asked first.
    pub async fn locate(
        &self,
        container: &str,
        hint: Option<&str>,
    ) -> Result<Option<(String, bollard::models::ContainerInspectResponse)>, DockerError> {
        let mut order: Vec<&String> = Vec::new();
        if let Some(h) = hint
            .and_then(|h| self.nodes.get_key_value(h))
            .map(|(k, _)| k)
        {
            order.push(h);
        }
        order.extend(self.nodes.keys().filter(|k| Some(k.as_str()) != hint));
        for node in order {
            match self.nodes[node]
                .docker
                .inspect_container(container, None)
                .await
            {
                Ok(i) => return Ok(Some((node.clone(), i))),
                Err(e) if super::status_code(&e) == Some(404) => {}
                Err(e) => {
                    return Err(DockerError::Api {
                        action: format!("inspect container {container} on {node}"),
                        error: e,
                    });
                }
            }
        }
        Ok(None)
    }

    /// Run a service again after its task's container `killed` (on `node`)
    /// was killed or stopped: with restart condition `none` the task stays
    /// down, and its container cannot be started again by hand (its node
    /// released the overlay network's attachment), so the service is
    /// force-updated: Swarm starts a new task, on the same node by
    /// placement, with the same volume. Idempotent: a service whose current
    /// task is a newer one, running or on its way, is left alone, and so is
    /// one whose killed container runs. Whether the killed container runs
    /// is asked of its node's engine, not read from the manager's task
    /// state: the manager learns of the exit when the node reports it, and
    /// until then still says `running` (a heal a second after the kill saw
    /// that, left the service alone, and the member stayed down).
    /// Returns whether it was updated.
    pub async fn rerun_service(
        &self,
        service: &str,
        killed: &str,
        node: Option<&str>,
    ) -> Result<bool, DockerError> {
        let tasks = self.tasks().await?;
        match rerun_decision(current_tasks(tasks).get(service), killed) {
            Rerun::LeaveAlone => return Ok(false),
            Rerun::ForceUpdate => {}
            Rerun::AskTheNode => {
                let running = match self.locate(killed, node).await? {
                    Some((_, c)) => c.state.and_then(|s| s.running).unwrap_or(false),
                    None => false,
                };
                if running {
                    return Ok(false);
                }
            }
        }
        let full = format!("{}_{service}", self.stack);
        let docker = &self.manager().docker;
        let s = docker
            .inspect_service(&full, None::<InspectServiceOptions>)
            .await
            .map_err(DockerError::api(format!("inspect service {full}")))?;
        let version = s.version.and_then(|v| v.index).unwrap_or_default();
        let mut spec = s.spec.unwrap_or_default();
        let template = spec.task_template.get_or_insert_with(Default::default);
        template.force_update = Some(template.force_update.unwrap_or(0) + 1);
        docker
            .update_service(
                &full,
                spec,
                UpdateServiceOptions {
                    version: i32::try_from(version).unwrap_or(i32::MAX),
                    ..Default::default()
                },
                None,
            )
            .await
            .map_err(DockerError::api(format!("force-update service {full}")))?;
        Ok(true)
    }

    /// What `compose up -d` does for a stopped container: run again each
    /// service whose current task ended (killed or stopped while no chaos
    /// process was left to heal it, and no journal says so); Swarm would
    /// not, with restart condition `none`. Returns the services rerun.
    pub async fn rerun_ended(&self) -> Result<Vec<String>, DockerError> {
        let mut rerun = Vec::new();
        for (service, t) in current_tasks(self.tasks().await?) {
            let ended = matches!(
                t.state.as_str(),
                "complete" | "shutdown" | "failed" | "rejected" | "orphaned" | "remove"
            );
            if ended
                && let Some(c) = &t.container
                && self.rerun_service(&service, c, t.node.as_deref()).await?
            {
                rerun.push(service);
            }
        }
        Ok(rerun)
    }

    /// The stack's services whose restart policy would let Swarm replace a
    /// task during a fault: (service, condition). Empty: every service has
    /// condition `none`.
    pub async fn restart_policy_problems(&self) -> Result<Vec<(String, String)>, DockerError> {
        let docker = &self.manager().docker;
        let list = docker
            .list_services(Some(ListServicesOptions {
                filters: Some(self.stack_filter()),
                ..Default::default()
            }))
            .await
            .map_err(DockerError::api("list the stack's services"))?;
        let prefix = format!("{}_", self.stack);
        let mut problems = Vec::new();
        for s in list {
            let spec = s.spec.unwrap_or_default();
            let name = spec.name.clone().unwrap_or_default();
            let condition = spec
                .task_template
                .and_then(|t| t.restart_policy)
                .and_then(|r| r.condition);
            if condition != Some(TaskSpecRestartPolicyConditionEnum::NONE) {
                problems.push((
                    name.strip_prefix(&prefix).unwrap_or(&name).to_string(),
                    condition
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "any (the default)".to_string()),
                ));
            }
        }
        Ok(problems)
    }

    /// `docker stack <args>` on the manager's engine (the CLI pointed at it
    /// by [`NodeEngine::cli_env`]), with `env` for the file's variables.
    pub async fn stack_cli(
        &self,
        args: &[&str],
        env: &[(String, String)],
    ) -> Result<(), DockerError> {
        let manager = self.manager();
        let mut cmd = tokio::process::Command::new("docker");
        cmd.arg("stack").args(args);
        for var in [
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.envs(
            manager
                .cli_env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        cmd.stdin(Stdio::null());
        let command = format!("docker stack {} (on {})", args.join(" "), manager.url);
        let out = cmd.output().await.map_err(|e| DockerError::Compose {
            command: command.clone(),
            status: "could not start".to_string(),
            stderr: e.to_string(),
        })?;
        if !out.status.success() {
            return Err(DockerError::Compose {
                command,
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(())
    }

    /// `docker stack deploy` of the stack file (images are local: never
    /// resolved on a registry).
    pub async fn deploy(&self, file: &Path, env: &[(String, String)]) -> Result<(), DockerError> {
        let file = file.display().to_string();
        self.stack_cli(
            &[
                "deploy",
                "--resolve-image",
                "never",
                "--compose-file",
                &file,
                &self.stack,
            ],
            env,
        )
        .await
    }

    /// `docker stack rm`, then wait until the stack's containers are gone
    /// from every node and remove its volumes there (like `compose down
    /// -v`).
    pub async fn remove(&self, timeout: Duration) -> Result<(), DockerError> {
        if !self.services().await?.is_empty() {
            self.stack_cli(&["rm", &self.stack], &[]).await?;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        for (node, engine) in &self.nodes {
            loop {
                let left = engine
                    .docker
                    .list_containers(Some(ListContainersOptions {
                        all: true,
                        filters: Some(self.stack_filter()),
                        ..Default::default()
                    }))
                    .await
                    .map_err(DockerError::api(format!("list containers on {node}")))?;
                if left.is_empty() {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(DockerError::NotReady {
                        project: self.stack.clone(),
                        waited: timeout,
                        pending: format!(
                            "{} container(s) of the stack still on {node}",
                            left.len()
                        ),
                    });
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let volumes = engine
                .docker
                .list_volumes(Some(bollard::query_parameters::ListVolumesOptions {
                    filters: Some(self.stack_filter()),
                }))
                .await
                .map_err(DockerError::api(format!("list volumes on {node}")))?;
            for v in volumes.volumes.unwrap_or_default() {
                match engine
                    .docker
                    .remove_volume(
                        &v.name,
                        None::<bollard::query_parameters::RemoveVolumeOptions>,
                    )
                    .await
                {
                    Ok(()) => {}
                    Err(e) if super::status_code(&e) == Some(404) => {}
                    Err(e) => {
                        return Err(DockerError::Api {
                            action: format!("remove volume {} on {node}", v.name),
                            error: e,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// What a heal of a killed or stopped task does ([`SwarmEngines::rerun_service`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rerun {
    /// A newer task runs or is on its way: nothing to do.
    LeaveAlone,
    /// The killed container's task is still the current one and the
    /// manager may not know yet that it exited: ask its node's engine.
    AskTheNode,
    /// No task runs or is on its way: force-update the service.
    ForceUpdate,
}

/// The decision of [`Rerun`] from the service's current task (see
/// [`current_tasks`]) and the id of the container that was killed. Pure.
pub fn rerun_decision(current: Option<&TaskView>, killed: &str) -> Rerun {
    let Some(t) = current else {
        return Rerun::ForceUpdate;
    };
    if t.container.as_deref() == Some(killed) {
        return Rerun::AskTheNode;
    }
    // Swarm's task states on the way to running, and running.
    let on_its_way = matches!(
        t.state.as_str(),
        "new"
            | "allocated"
            | "pending"
            | "assigned"
            | "accepted"
            | "preparing"
            | "ready"
            | "starting"
            | "running"
    );
    if t.desired == "running" && on_its_way {
        Rerun::LeaveAlone
    } else {
        Rerun::ForceUpdate
    }
}

/// Each service's current task: among its tasks, the newest whose desired
/// state is `running`, else (a task chaos killed: Swarm set it to
/// `shutdown` and, with condition `none`, made no other) the newest. Pure.
pub fn current_tasks(tasks: Vec<TaskView>) -> BTreeMap<String, TaskView> {
    let mut out: BTreeMap<String, TaskView> = BTreeMap::new();
    for t in tasks {
        let better = match out.get(&t.service) {
            None => true,
            Some(old) => {
                let rank = |x: &TaskView| (x.desired == "running", time_key(&x.created));
                rank(&t) > rank(old)
            }
        };
        if better {
            out.insert(t.service.clone(), t);
        }
    }
    out
}

/// An RFC 3339 time with up to nine fraction digits, as a key that sorts
/// in time order (the engine drops trailing zeros of the fraction). Pure.
fn time_key(t: &str) -> (String, String) {
    let t = t.trim_end_matches('Z');
    match t.split_once('.') {
        Some((secs, frac)) => (secs.to_string(), format!("{frac:0<9}")),
        None => (t.to_string(), "0".repeat(9)),
    }
}

/// What in a stack file Swarm would ignore or refuse, or what would let a
/// fault be undone behind chaos's back: each problem as `service: what`.
/// Pure. Checked before `up` and before every run.
pub fn stack_file_problems(text: &str) -> Result<Vec<String>, String> {
    use serde_yaml_ng::Value;
    let mut doc: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    doc.apply_merge()
        .map_err(|e| format!("invalid YAML merge key: {e}"))?;
    let mut problems = Vec::new();
    let version = match doc.get("version") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if !version.starts_with('3') {
        problems.push(format!(
            "version `{version}`: a stack file is compose format 3.x (`docker stack deploy` refuses 2.x)"
        ));
    }
    let services = doc
        .get("services")
        .and_then(Value::as_mapping)
        .ok_or("no `services:` mapping")?;
    for (name, svc) in services {
        let name = name.as_str().unwrap_or("?");
        for (key, why) in [
            (
                "build",
                "Swarm does not build images; build them and load them into every node",
            ),
            (
                "container_name",
                "Swarm ignores it (tasks are named <stack>_<service>.<slot>)",
            ),
            ("restart", "Swarm ignores it; use deploy.restart_policy"),
            ("depends_on", "Swarm ignores it"),
            ("network_mode", "Swarm refuses it"),
        ] {
            if svc.get(key).is_some() {
                problems.push(format!("{name}: `{key}`: {why}"));
            }
        }
        let deploy = svc.get("deploy");
        let condition = deploy
            .and_then(|d| d.get("restart_policy"))
            .and_then(|r| r.get("condition"))
            .and_then(Value::as_str);
        if condition != Some("none") {
            problems.push(format!(
                "{name}: deploy.restart_policy.condition is `{}`: Swarm would replace a task chaos killed, stopped or (with a health check) paused in the middle of the fault; set `restart_policy: {{ condition: none }}` (chaos runs the task again when it heals)",
                condition.unwrap_or("any, the default")
            ));
        }
        let endpoint_mode = deploy
            .and_then(|d| d.get("endpoint_mode"))
            .and_then(Value::as_str);
        if endpoint_mode != Some("dnsrr") {
            problems.push(format!(
                "{name}: deploy.endpoint_mode is `{}`: use `dnsrr` (virtual IPs need IPVS, and chaos partitions by task address, not by a virtual IP)",
                endpoint_mode.unwrap_or("vip, the default")
            ));
        }
        if let Some(hc) = svc.get("healthcheck")
            && hc.get("disable") != Some(&Value::Bool(true))
        {
            problems.push(format!(
                "{name}: `healthcheck`: Swarm shuts an unhealthy task down, so a paused or partitioned member would be removed during the fault; remove it or set `disable: true`"
            ));
        }
        for port in svc
            .get("ports")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if port.get("mode").and_then(Value::as_str) != Some("host") {
                problems.push(format!(
                    "{name}: port {}: publish in host mode (long syntax with `mode: host`): the ingress mesh needs virtual IPs, and chaos reaches each task on its own node",
                    serde_yaml_ng::to_string(port).unwrap_or_default().trim()
                ));
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(service: &str, desired: &str, created: &str, c: &str) -> TaskView {
        TaskView {
            service: service.to_string(),
            node: Some("n1".to_string()),
            container: Some(c.to_string()),
            state: if desired == "running" {
                "running"
            } else {
                "failed"
            }
            .to_string(),
            desired: desired.to_string(),
            created: created.to_string(),
        }
    }

    #[test]
    fn a_heal_asks_the_node_while_the_killed_task_is_current_and_leaves_a_newer_one_alone() {
        // A second after the kill the manager may still say `running`: the
        // node's engine decides.
        let stale = task("etcd2", "running", "2026-11-30T01:50:00Z", "c1");
        assert_eq!(rerun_decision(Some(&stale), "c1"), Rerun::AskTheNode);
        let mut shut = stale.clone();
        shut.desired = "shutdown".into();
        shut.state = "failed".into();
        assert_eq!(rerun_decision(Some(&shut), "c1"), Rerun::AskTheNode);
        // Already rerun: a newer task, starting or running.
        for state in ["pending", "starting", "running"] {
            let mut newer = task("etcd2", "running", "2026-11-30T01:51:00Z", "c2");
            newer.state = state.into();
            assert_eq!(
                rerun_decision(Some(&newer), "c1"),
                Rerun::LeaveAlone,
                "{state}"
            );
        }
        // A newer task that ended, or none: run it again.
        let mut ended = task("etcd2", "running", "2026-11-30T01:51:00Z", "c2");
        ended.state = "failed".into();
        assert_eq!(rerun_decision(Some(&ended), "c1"), Rerun::ForceUpdate);
        assert_eq!(rerun_decision(None, "c1"), Rerun::ForceUpdate);
    }

    #[test]
    fn the_current_task_is_the_newest_meant_to_run() {
        let tasks = vec![
            task("etcd1", "shutdown", "2026-11-30T00:07:16.49100808Z", "old"),
            task("etcd1", "running", "2026-11-30T00:07:16.491008086Z", "new"),
            task("etcd2", "shutdown", "2026-11-30T00:07:10Z", "a"),
            task("etcd2", "shutdown", "2026-11-30T00:07:10.5Z", "b"),
        ];
        let cur = current_tasks(tasks);
        assert_eq!(cur["etcd1"].container.as_deref(), Some("new"));
        // Killed with condition none: no task is meant to run; the newest.
        assert_eq!(cur["etcd2"].container.as_deref(), Some("b"));
    }

    #[test]
    fn a_running_task_wins_over_a_newer_one_shut_down() {
        let tasks = vec![
            task("etcd1", "running", "2026-11-30T00:07:10Z", "run"),
            task("etcd1", "shutdown", "2026-11-30T00:08:10Z", "gone"),
        ];
        assert_eq!(
            current_tasks(tasks)["etcd1"].container.as_deref(),
            Some("run")
        );
    }

    #[test]
    fn the_shipped_stack_file_has_no_problem() {
        let text = include_str!("../../compose/swarm/etcd-stack.yml");
        assert_eq!(stack_file_problems(text).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn stack_file_problems_are_named() {
        let text = r#"
version: "2.4"
services:
  a:
    image: x
    container_name: a
    healthcheck: { test: ["CMD", "true"] }
    ports: ["23891:2379"]
  b:
    image: x
    deploy:
      endpoint_mode: dnsrr
      restart_policy: { condition: on-failure }
"#;
        let p = stack_file_problems(text).unwrap();
        let has = |s: &str| p.iter().any(|x| x.contains(s));
        assert!(has("version `2.4`"), "{p:?}");
        assert!(has("a: `container_name`"), "{p:?}");
        assert!(has("a: `healthcheck`"), "{p:?}");
        assert!(has("a: port"), "{p:?}");
        assert!(
            has("a: deploy.endpoint_mode is `vip, the default`"),
            "{p:?}"
        );
        assert!(
            has("b: deploy.restart_policy.condition is `on-failure`"),
            "{p:?}"
        );
        assert!(!has("b: deploy.endpoint_mode"), "{p:?}");
        assert!(
            has("a: deploy.restart_policy.condition is `any, the default`"),
            "{p:?}"
        );
        assert_eq!(p.len(), 7, "{p:?}");
    }

    fn node(docker: &str, tls_dir: Option<&str>) -> SwarmNode {
        SwarmNode {
            docker: docker.to_string(),
            address: "127.0.0.1".to_string(),
            tls_dir: tls_dir.map(str::to_string),
            ssh_config: None,
        }
    }

    #[tokio::test]
    async fn a_tls_dir_without_its_files_names_the_missing_one() {
        let dir = std::env::temp_dir().join(format!("chaos-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), "").unwrap();
        let e = connect_node("n1", &node("tcp://127.0.0.1:1", dir.to_str()))
            .await
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(e.contains("n1") && e.contains("no cert.pem"), "{e}");
        // Plain TCP needs no files and connects lazily.
        let plain = connect_node("n1", &node("tcp://127.0.0.1:1", None))
            .await
            .unwrap();
        assert_eq!(
            plain.cli_env,
            vec![("DOCKER_HOST".into(), "tcp://127.0.0.1:1".into())]
        );
    }

    #[tokio::test]
    async fn an_ssh_engine_that_does_not_answer_says_what_ssh_said() {
        // Port 1 on loopback refuses at once: ssh ends before any forward.
        let e = connect_node("n2", &node("ssh://nobody@127.0.0.1:1", None))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("n2") && e.contains("ssh"), "{e}");
        assert!(e.contains("refused") || e.contains("cannot run ssh"), "{e}");
    }

    #[test]
    fn time_keys_sort_trimmed_fractions() {
        assert!(time_key("2026-11-30T00:07:16.5Z") > time_key("2026-11-30T00:07:16.49Z"));
        assert!(time_key("2026-11-30T00:07:17Z") > time_key("2026-11-30T00:07:16.9Z"));
    }
}
