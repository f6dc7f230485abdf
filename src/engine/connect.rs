//! Connecting a run (or a bench) to its cluster: the Docker engine and the
//! local images checked ([`cluster`]), the cluster brought up or found
//! healthy ([`ready`]) and the images its containers run ([`images`]); then
//! each endpoint's published port, one client per process, and the role
//! resolvers the nemesis needs (the etcd leader through the members'
//! status, PD and TiKV leaders through PD). Everything is reached through
//! ports published on 127.0.0.1, never through container addresses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::EngineError;
use super::progress::{Phase, ProgressSink, RunEvent};
use crate::client::AnyClient;
use crate::client::etcd::{EtcdClient, EtcdLeader};
use crate::client::pd::{self, PdRoles};
use crate::client::postgres::{PgClient, PgConfig, PgSetupError};
use crate::client::process::{self, Adapter, AdapterConfig, AdapterLeader, ProcessClient};
use crate::client::surreal::{SurrealClient, SurrealConfig, SurrealSetupError};
use crate::docker::{ComposeCluster, DockerError};
use crate::experiment::{ClientKind, Experiment, ReadMode, Workload};
use crate::images;
use crate::roles::{FixedRoles, RoleResolver};

/// The experiment's cluster (`compose_file`, the experiment's environment
/// set) through the Docker engine, after the preflight phase is reported.
/// When chaos brings the cluster up, every local image it needs must be
/// there first: its services' and `extra` (the fault helper's).
pub async fn cluster(
    experiment: &Experiment,
    compose_file: &Path,
    extra: &[String],
    progress: &dyn ProgressSink,
) -> Result<Connected, EngineError> {
    progress.event(RunEvent::Phase(Phase::Preflight));
    let mut cluster = ComposeCluster::connect_to(&experiment.cluster, compose_file)
        .await
        .map_err(EngineError::docker("connecting to the Docker engine"))?
        .with_env(&experiment.cluster.env);
    if experiment.cluster.up {
        let missing = images::missing(&cluster, extra)
            .await
            .map_err(EngineError::docker("looking for the images"))?;
        images::refuse_local(missing)?;
    }
    let overlay = match overlay(experiment, &cluster, compose_file).await? {
        Some((path, text)) => {
            cluster = cluster.with_override(path);
            Some(text)
        }
        None => None,
    };
    Ok(Connected { cluster, overlay })
}

/// The compose override the experiment's faults need (chaos-fs,
/// libfaketime in their targets), checked against the images and written
/// under the state directory (`overrides/<project>.override.yml`): its path
/// and text, or `None` when the faults need nothing. `chaos run` and
/// `chaos up` lay it over the project's compose file.
pub async fn overlay(
    experiment: &Experiment,
    cluster: &ComposeCluster,
    compose_file: &Path,
) -> Result<Option<(std::path::PathBuf, String)>, EngineError> {
    let needs = crate::experiment::overlay::needs(experiment);
    if needs.is_empty() {
        return Ok(None);
    }
    images::refuse_unfit(cluster, &needs).await?;
    let version = compose_version(compose_file);
    let state = crate::journal::state_dir();
    let project = &experiment.cluster.project;
    let clock_dir = |service: &str| crate::journal::clock_dir(&state, project, service);
    // A clock fault's targets start on the real clock: offset 0 in the
    // file their libfaketime reads (a crash of chaos mid-fault is healed by
    // `chaos heal`, which writes it again).
    for (service, _) in needs.iter().filter(|(_, n)| n.faketime) {
        let file = clock_dir(service).join("faketime");
        crate::nemesis::write_clock_file(&file, 0.0)
            .map_err(EngineError::store(format!("writing {}", file.display())))?;
    }
    let text = crate::experiment::overlay::override_yaml(&needs, version.as_deref(), &clock_dir)
        .expect("needs are not empty");
    let dir = state.join("overrides");
    let path = dir.join(format!("{}.override.yml", experiment.cluster.project));
    std::fs::create_dir_all(&dir)
        .and_then(|()| crate::store::write_atomic(&path, text.as_bytes()))
        .map_err(EngineError::store(format!("writing {}", path.display())))?;
    Ok(Some((path, text)))
}

/// The cluster, and the compose override laid over it for this run, if
/// any (kept in the run directory as `compose.override.yml`).
pub struct Connected {
    pub cluster: ComposeCluster,
    pub overlay: Option<String>,
}

/// The `version:` of a compose file, if it has one (read leniently: a file
/// compose cannot read fails later, with compose's own words).
fn compose_version(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).ok()?;
    match &doc["version"] {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Bring the cluster up, or, when the experiment says `up = false`, wait
/// until the running one is healthy (within `cluster.ready_timeout`),
/// reporting the phase and the services still pending. A cancellation ends
/// the wait: [`EngineError::Cancelled`].
pub async fn ready(
    experiment: &Experiment,
    cluster: &ComposeCluster,
    progress: &dyn ProgressSink,
    cancel: &CancellationToken,
) -> Result<(), EngineError> {
    let mut pending = |p: &[String]| progress.event(RunEvent::Pending(p.to_vec()));
    let timeout = experiment.cluster.ready_timeout;
    let healthy = async {
        if experiment.cluster.up {
            progress.event(RunEvent::Phase(Phase::StartingCluster));
            cluster
                .up_reporting(timeout, &mut pending)
                .await
                .map_err(EngineError::docker("bringing the cluster up"))
        } else {
            progress.event(RunEvent::Phase(Phase::WaitingHealthy));
            cluster
                .wait_healthy_reporting(timeout, &mut pending)
                .await
                .map_err(EngineError::docker(
                    "waiting for the running cluster to be healthy",
                ))
        }
    };
    tokio::select! {
        r = healthy => r,
        _ = cancel.cancelled() => Err(EngineError::Cancelled),
    }
}

/// Compose service to the image its container runs.
pub async fn images(cluster: &ComposeCluster) -> Result<BTreeMap<String, String>, EngineError> {
    Ok(cluster
        .containers()
        .await
        .map_err(EngineError::docker("listing the containers"))?
        .into_iter()
        .map(|(service, c)| (service, c.image))
        .collect())
}

/// The port the workload's clients talk to inside each endpoint's
/// container (a process client's: `[workload.adapter] port`).
pub fn client_port(w: &Workload) -> u16 {
    match w.client {
        ClientKind::Etcd => 2379,
        ClientKind::Surrealdb => 8000,
        ClientKind::Process => w.adapter.as_ref().map_or(0, |a| a.port),
        ClientKind::Postgres => 5432,
    }
}

/// Why the clients could not be connected.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("finding the published port of `{service}`: {source}")]
    Port {
        service: String,
        #[source]
        source: DockerError,
    },
    #[error("{0}")]
    Surreal(#[from] SurrealSetupError),
    #[error("{0}")]
    Postgres(#[from] PgSetupError),
    #[error("setting up the {workload} workload: {error}")]
    Setup { workload: String, error: String },
    #[error("{0}")]
    Adapter(#[from] process::AdapterError),
    #[error("the adapter's hello: {0}")]
    Refused(String),
    #[error("cancelled while connecting")]
    Cancelled,
}

/// Run the workload's set-up ops (the bank's accounts) through the first
/// client, each retried every half second until it is `ok` or
/// `cluster.ready_timeout` has passed (then its last error).
pub async fn setup(
    experiment: &Experiment,
    clients: &[(String, AnyClient)],
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(), ConnectError> {
    let w = &experiment.workload;
    let room = w.kind.room();
    let Some((_, client)) = clients.first() else {
        return Ok(());
    };
    let deadline = Instant::now() + experiment.cluster.ready_timeout;
    for op in room.setup(w) {
        loop {
            let outcome = match tokio::time::timeout(
                w.timeout.max(Duration::from_secs(5)),
                client.call(room.caps().name, &op),
            )
            .await
            {
                Ok(o) => o,
                Err(_) => crate::workload::Outcome::Info("timed out".into()),
            };
            match outcome {
                crate::workload::Outcome::Ok(_) => break,
                other if Instant::now() >= deadline => {
                    return Err(ConnectError::Setup {
                        workload: room.caps().name.into(),
                        error: other.error().unwrap_or("").to_string(),
                    });
                }
                other => {
                    tracing::debug!(error = ?other.error(), "set-up not done yet; trying again")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = cancel.cancelled() => return Err(ConnectError::Cancelled),
            }
        }
    }
    Ok(())
}

/// (service, `HOST:PORT`) of each of the workload's endpoints: the host
/// port its client port is published on, on 127.0.0.1 (compose) or on the
/// address of the Swarm node that runs it.
pub async fn endpoint_addresses(
    experiment: &Experiment,
    cluster: &ComposeCluster,
) -> Result<Vec<(String, String)>, ConnectError> {
    addresses_of(experiment, cluster, &experiment.workload.endpoints).await
}

/// (service, `HOST:PORT`) of each of `services`, as
/// [`endpoint_addresses`] finds them.
async fn addresses_of(
    experiment: &Experiment,
    cluster: &ComposeCluster,
    services: &[String],
) -> Result<Vec<(String, String)>, ConnectError> {
    let w = &experiment.workload;
    let mut addresses = Vec::new();
    for service in services {
        let address = cluster
            .published_address(service, client_port(w))
            .await
            .map_err(|source| ConnectError::Port {
                service: service.clone(),
                source,
            })?;
        addresses.push((service.clone(), address));
    }
    Ok(addresses)
}

/// Retry `attempt` until it succeeds or `deadline` passes (then its last
/// error), every half second, unless cancelled.
async fn retry_until<T, E, F, Fut>(
    deadline: Instant,
    cancel: &tokio_util::sync::CancellationToken,
    mut attempt: F,
) -> Result<T, ConnectError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    ConnectError: From<E>,
{
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(e.into()),
            Err(e) => {
                let e = ConnectError::from(e);
                tracing::debug!(error = %e, "not ready yet; trying again");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = cancel.cancelled() => return Err(ConnectError::Cancelled),
        }
    }
}

/// One client per process, spread over the endpoint services round-robin
/// (process `t` talks to endpoint `t % endpoints`), each through its node's
/// published port. A SurrealDB node that answers its health check may
/// still refuse connections for a moment: set-up is retried until
/// `cluster.ready_timeout` has passed.
///
/// A process client starts its adapter once for all clients, from `base`
/// (the experiment file's directory), and gives it the endpoints; it is
/// tried again until `cluster.ready_timeout` has passed (its `init` may
/// fail while the database is still opening).
pub async fn clients(
    experiment: &Experiment,
    cluster: &ComposeCluster,
    prefix: &str,
    base: &Path,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Vec<(String, AnyClient)>, ConnectError> {
    let w = &experiment.workload;
    let addresses = endpoint_addresses(experiment, cluster).await?;
    let mut clients = Vec::new();
    match w.client {
        ClientKind::Etcd => {
            // One client (one HTTP connection pool) per process, as each
            // process is its own client of the database: processes sharing
            // a pool would contend for its idle connections and open new
            // ones under load.
            let serializable = w.read_mode == ReadMode::Serializable;
            for t in 0..w.clients as usize {
                let (service, address) = &addresses[t % addresses.len()];
                let client = EtcdClient::new(
                    format!("http://{address}"),
                    prefix.to_string(),
                    serializable,
                    w.timeout,
                );
                clients.push((service.clone(), AnyClient::Etcd(client)));
            }
        }
        ClientKind::Surrealdb => {
            // Set-up calls get more time than ops: a node just started may
            // still be opening its storage.
            let setup = SurrealConfig::new(w.timeout.max(Duration::from_secs(10)));
            let deadline = Instant::now() + experiment.cluster.ready_timeout;
            let first = &addresses[0].1;
            retry_until(deadline, cancel, || SurrealClient::define(first, &setup)).await?;
            for t in 0..w.clients as usize {
                let (service, address) = &addresses[t % addresses.len()];
                let client = retry_until(deadline, cancel, || {
                    SurrealClient::connect(address, prefix, &setup)
                })
                .await?
                .with_timeout(w.timeout);
                clients.push((service.clone(), AnyClient::Surreal(client)));
            }
        }
        ClientKind::Process => {
            let adapter = start_adapter(experiment, &addresses, prefix, base, cancel).await?;
            for t in 0..w.clients as usize {
                let (service, _) = &addresses[t % addresses.len()];
                clients.push((
                    service.clone(),
                    AnyClient::Process(ProcessClient {
                        adapter: adapter.clone(),
                        client: t as u64,
                        node: service.clone(),
                    }),
                ));
            }
        }
        ClientKind::Postgres => {
            // The tables are created on the first endpoint (the primary);
            // a read endpoint (a replica) has them once it has replayed
            // that far. Set-up calls get more time than ops.
            let isolation = w
                .isolation
                .unwrap_or(crate::experiment::Isolation::Serializable);
            let setup = PgConfig::new(isolation, w.timeout.max(Duration::from_secs(5)));
            let deadline = Instant::now() + experiment.cluster.ready_timeout;
            let first = &addresses[0].1;
            retry_until(deadline, cancel, || PgClient::define(first, &setup)).await?;
            let reads = addresses_of(experiment, cluster, &w.read_endpoints).await?;
            for (_, address) in &reads {
                retry_until(deadline, cancel, || PgClient::visible(address, &setup)).await?;
            }
            let config = PgConfig::new(isolation, w.timeout);
            for t in 0..w.clients as usize {
                let (service, address) = &addresses[t % addresses.len()];
                let read = (!reads.is_empty()).then(|| &reads[t % reads.len()]);
                let mut client = retry_until(deadline, cancel, || {
                    PgClient::connect(address, read.map(|r| r.1.as_str()), prefix, &config)
                })
                .await?;
                if let Some((read_service, _)) = read {
                    client = client.reading_on(read_service);
                }
                clients.push((service.clone(), AnyClient::Postgres(Arc::new(client))));
            }
        }
    }
    Ok(clients)
}

/// Start a process client's adapter, retried until `cluster.ready_timeout`,
/// and hold its hello to the experiment (the workload it serves, `leader`
/// for faults on a role).
async fn start_adapter(
    experiment: &Experiment,
    addresses: &[(String, String)],
    prefix: &str,
    base: &Path,
    cancel: &CancellationToken,
) -> Result<Adapter, ConnectError> {
    let w = &experiment.workload;
    let spec = w
        .adapter
        .as_ref()
        .expect("the validator gives a process client its adapter");
    let endpoints = addresses
        .iter()
        .filter_map(|(service, address)| process::protocol::Endpoint::parse(service, address))
        .collect();
    let config = AdapterConfig {
        command: spec.command.clone(),
        // `exp.toml`'s directory is `` (the current one).
        dir: if base.as_os_str().is_empty() {
            Path::new(".").to_path_buf()
        } else {
            base.to_path_buf()
        },
        init: process::protocol::Init {
            clients: w.clients,
            endpoints,
            workload: w.kind.name().to_string(),
            read_mode: w.read_mode.name().to_string(),
            prefix: prefix.to_string(),
            options: if spec.options.is_null() {
                serde_json::json!({})
            } else {
                spec.options.clone()
            },
        },
    };
    let deadline = Instant::now() + experiment.cluster.ready_timeout;
    let adapter = retry_until(deadline, cancel, || Adapter::start(config.clone())).await?;
    crate::experiment::check_adapter(experiment, &adapter.hello().facts(), |field, message| {
        ConnectError::Refused(format!("{field}: {message}"))
    })?;
    Ok(adapter)
}

/// One client of the node at `address` (`127.0.0.1:PORT`), tried once:
/// the restart probe of `chaos bench` makes a new one when a node's port
/// moves.
pub async fn client_at(
    experiment: &Experiment,
    address: &str,
    prefix: &str,
) -> Result<AnyClient, ConnectError> {
    let w = &experiment.workload;
    Ok(match w.client {
        ClientKind::Etcd => AnyClient::Etcd(EtcdClient::new(
            format!("http://{address}"),
            prefix.to_string(),
            w.read_mode == ReadMode::Serializable,
            w.timeout,
        )),
        ClientKind::Surrealdb => AnyClient::Surreal(
            SurrealClient::connect(address, prefix, &SurrealConfig::new(w.timeout)).await?,
        ),
        ClientKind::Process => {
            return Err(ConnectError::Refused(
                "a process client is not made alone: see `client_again`".into(),
            ));
        }
        ClientKind::Postgres => AnyClient::Postgres(Arc::new(
            PgClient::connect(
                address,
                None,
                prefix,
                &PgConfig::new(
                    w.isolation
                        .unwrap_or(crate::experiment::Isolation::Serializable),
                    w.timeout,
                ),
            )
            .await?,
        )),
    })
}

/// A client of `service`, now at `address` (a restart moved its port):
/// for a process client, the run's adapter told the endpoints anew (an
/// `endpoints` message) and a client on it through `service`; for the
/// others, a new client ([`client_at`]).
pub async fn client_again(
    experiment: &Experiment,
    existing: &AnyClient,
    service: &str,
    address: &str,
    prefix: &str,
) -> Result<AnyClient, ConnectError> {
    let AnyClient::Process(c) = existing else {
        return client_at(experiment, address, prefix).await;
    };
    if let Some(now) = process::protocol::Endpoint::parse(service, address) {
        let mut endpoints = c.adapter.endpoints();
        match endpoints.iter_mut().find(|e| e.node == service) {
            Some(e) => *e = now,
            None => endpoints.push(now),
        }
        c.adapter.update_endpoints(endpoints).await;
    }
    Ok(AnyClient::Process(ProcessClient {
        adapter: c.adapter.clone(),
        client: c.client,
        node: service.to_string(),
    }))
}

/// A workload node found at a new address: a restart (a kill's heal, a
/// stop's start, a power loss) can give a container a new published port
/// when the compose file lets Docker choose it (`"127.0.0.1:0:5432"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub service: String,
    pub from: String,
    pub to: String,
}

/// The nodes of `now` ((service, `HOST:PORT`)) whose address is not the
/// one `known` holds; a service `known` does not have is no move. Pure.
pub fn moved(known: &BTreeMap<String, String>, now: &[(String, String)]) -> Vec<Moved> {
    now.iter()
        .filter_map(|(service, to)| {
            let from = known.get(service)?;
            (from != to).then(|| Moved {
                service: service.clone(),
                from: from.clone(),
                to: to.clone(),
            })
        })
        .collect()
}

/// The services a run's clients talk to: its endpoints, then its read
/// endpoints, each once.
fn workload_services(experiment: &Experiment) -> Vec<String> {
    let w = &experiment.workload;
    let mut services: Vec<String> = Vec::new();
    for s in w.endpoints.iter().chain(&w.read_endpoints) {
        if !services.contains(s) {
            services.push(s.clone());
        }
    }
    services
}

/// Where the workload's nodes were last found, so that a run can follow a
/// node a restart moved to a new published port: [`Addresses::refresh`]
/// resolves them again and tells the clients (the PostgreSQL client
/// reconnects there; a process client's adapter gets an `endpoints`
/// message). The etcd and SurrealDB clients keep the address they were
/// made with (their compose files publish fixed ports).
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    known: BTreeMap<String, String>,
}

impl Addresses {
    /// Resolve the workload's nodes now (a node not found is left out).
    pub async fn resolve(experiment: &Experiment, cluster: &ComposeCluster) -> Addresses {
        let mut known = BTreeMap::new();
        for service in workload_services(experiment) {
            if let Ok(a) = cluster
                .published_address(&service, client_port(&experiment.workload))
                .await
            {
                known.insert(service, a);
            }
        }
        Addresses { known }
    }

    /// Resolve the nodes again and move the clients to any new address;
    /// one line per move, for the fault's record. A node that cannot be
    /// resolved (not running) keeps its last address.
    pub async fn refresh(
        &mut self,
        experiment: &Experiment,
        cluster: &ComposeCluster,
        clients: &[(String, AnyClient)],
    ) -> Vec<String> {
        let mut now = Vec::new();
        for service in self.known.keys() {
            if let Ok(a) = cluster
                .published_address(service, client_port(&experiment.workload))
                .await
            {
                now.push((service.clone(), a));
            }
        }
        let moves = moved(&self.known, &now);
        if moves.is_empty() {
            return Vec::new();
        }
        for m in &moves {
            self.known.insert(m.service.clone(), m.to.clone());
        }
        let mut notes = Vec::new();
        let mut told_adapter = false;
        for m in &moves {
            let mut followed = false;
            for (_, client) in clients {
                match client {
                    AnyClient::Postgres(c) => followed |= c.moved(&m.from, &m.to),
                    AnyClient::Process(c) if !told_adapter => {
                        c.adapter.update_endpoints(self.endpoints(experiment)).await;
                        told_adapter = true;
                        followed = true;
                    }
                    AnyClient::Process(_) => followed = true,
                    AnyClient::Etcd(_) | AnyClient::Surreal(_) => {}
                }
            }
            notes.push(format!(
                "{} moved from {} to {}{}",
                m.service,
                m.from,
                m.to,
                if followed {
                    "; the clients follow it"
                } else {
                    "; this client cannot follow it (it keeps the old address)"
                }
            ));
            tracing::info!("{}", notes.last().expect("pushed"));
        }
        notes
    }

    /// The endpoints a process client's adapter is given: each of the
    /// workload's endpoints where it was last found.
    fn endpoints(&self, experiment: &Experiment) -> Vec<process::protocol::Endpoint> {
        experiment
            .workload
            .endpoints
            .iter()
            .filter_map(|s| process::protocol::Endpoint::parse(s, self.known.get(s)?))
            .collect()
    }
}

/// The role resolver the nemesis gets for this experiment: the etcd leader
/// for etcd; for SurrealDB, PD's answers where there is a `pd` component
/// (the TiKV cluster), else none (the local image has no roles).
///
/// A process client's roles are its adapter's answers to `leader`
/// requests (the adapter of `clients`).
pub async fn resolver(
    experiment: &Experiment,
    cluster: &ComposeCluster,
    prefix: &str,
    clients: &[(String, AnyClient)],
) -> Arc<dyn RoleResolver> {
    match experiment.workload.client {
        ClientKind::Process => match clients.first() {
            Some((_, AnyClient::Process(c))) => Arc::new(AdapterLeader {
                adapter: c.adapter.clone(),
                components: experiment.cluster.components.clone(),
            }),
            _ => Arc::new(FixedRoles::new()),
        },
        ClientKind::Etcd => Arc::new(EtcdLeader::new(
            etcd_members(experiment, cluster, prefix).await,
        )),
        ClientKind::Surrealdb => pd_roles(experiment, cluster).await,
        // The primary and the replica are fixed by the compose file: no
        // role to resolve (no failover).
        ClientKind::Postgres => Arc::new(FixedRoles::new()),
    }
}

/// Roles of a SurrealDB-on-TiKV cluster (the `leader` of `tikv`: the store
/// leading the region of the workload's table, `register` or, for
/// list-append, `list`; of `pd`: the PD leader), asked of PD through the
/// published ports of the `pd` component.
async fn pd_roles(experiment: &Experiment, cluster: &ComposeCluster) -> Arc<dyn RoleResolver> {
    let Some(pd) = experiment.cluster.components.get("pd") else {
        return Arc::new(FixedRoles::new());
    };
    let mut members = Vec::new();
    for service in pd {
        if let Ok(address) = cluster.published_address(service, 2379).await {
            members.push((service.clone(), format!("http://{address}")));
        }
    }
    let config = SurrealConfig::new(experiment.workload.timeout);
    let table = crate::client::surreal::table_of(experiment.workload.kind.name(), &config);
    let key = pd::surreal_table_key(&config.namespace, &config.database, table);
    Arc::new(
        PdRoles::new(members, key, Duration::from_secs(2))
            .with_components(experiment.cluster.components.clone()),
    )
}

/// Clients of every node of the components whose leader a role may name.
async fn etcd_members(
    experiment: &Experiment,
    cluster: &ComposeCluster,
    prefix: &str,
) -> Vec<(String, EtcdClient)> {
    let mut members = Vec::new();
    let services: BTreeSet<&String> = experiment.cluster.components.values().flatten().collect();
    for service in services {
        let Ok(address) = cluster.published_address(service, 2379).await else {
            continue;
        };
        members.push((
            service.clone(),
            EtcdClient::new(
                format!("http://{address}"),
                prefix.to_string(),
                false,
                Duration::from_millis(500),
            ),
        ));
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(s, a)| (s.to_string(), a.to_string()))
            .collect()
    }

    fn now(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(s, a)| (s.to_string(), a.to_string()))
            .collect()
    }

    #[test]
    fn only_a_node_on_another_port_has_moved() {
        let k = known(&[
            ("pg-primary", "127.0.0.1:32768"),
            ("pg-replica", "127.0.0.1:32769"),
        ]);
        assert_eq!(
            moved(
                &k,
                &now(&[
                    ("pg-primary", "127.0.0.1:32768"),
                    ("pg-replica", "127.0.0.1:32769")
                ])
            ),
            []
        );
        assert_eq!(
            moved(
                &k,
                &now(&[
                    ("pg-primary", "127.0.0.1:32771"),
                    ("pg-replica", "127.0.0.1:32769")
                ])
            ),
            [Moved {
                service: "pg-primary".into(),
                from: "127.0.0.1:32768".into(),
                to: "127.0.0.1:32771".into(),
            }]
        );
        // Ports swapped between two restarted nodes: both moved.
        let both = moved(
            &k,
            &now(&[
                ("pg-primary", "127.0.0.1:32769"),
                ("pg-replica", "127.0.0.1:32768"),
            ]),
        );
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].to, "127.0.0.1:32768");
        // A node not resolved now (not running) or never known: no move.
        assert_eq!(moved(&k, &now(&[("pg-other", "127.0.0.1:1")])), []);
        assert_eq!(moved(&k, &[]), []);
    }

    #[test]
    fn the_adapter_is_given_every_endpoint_where_it_was_last_found() {
        let e = crate::experiment::parse(
            r#"name = "t"
duration = "10s"
[cluster]
compose_file = "c.yml"
project = "p"
components = { db = ["n1", "n2"] }
[workload]
client = "postgres"
endpoints = ["n1"]
read_endpoints = ["n2"]
isolation = "read-committed"
"#,
            "t.toml",
        )
        .unwrap()
        .experiment;
        assert_eq!(workload_services(&e), ["n1", "n2"]);
        let a = Addresses {
            known: known(&[("n1", "127.0.0.1:40001"), ("n2", "127.0.0.1:40002")]),
        };
        let endpoints = a.endpoints(&e);
        assert_eq!(endpoints.len(), 1);
        assert_eq!(
            (endpoints[0].node.as_str(), endpoints[0].port),
            ("n1", 40001)
        );
    }
}
