//! `chaos doctor`: what this machine can run, before a failed run says so.
//!
//! Shell: probes the engine (version, API version), the compose CLI (v2 or
//! v1, as [`crate::docker::ComposeCli::detect`] finds it), a registry (one
//! TCP connection to Docker Hub, 2 s at most), netem (the run's own probe,
//! [`crate::nemesis::netns::probe_netem`], in a throwaway helper), FUSE in
//! a container (a throwaway helper given /dev/fuse and SYS_ADMIN, as
//! chaos-fs's nodes are, opens /dev/fuse), the images the shipped compose
//! files name, the host ports the shipped experiments publish, and the
//! programs their adapters start. The verdict per experiment and the text
//! are the pure [`crate::doctor`].
//!
//! Exit 0 when every experiment judged can run here; 1 when one cannot
//! (each with why and the mend); 2 when the experiments directory is not
//! there; 4 when standard output cannot be written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;

use super::{CliError, CliResult, Outcome};
use crate::docker::{ComposeCli, ComposeCluster, ComposeModel};
use crate::doctor::{self, MachineFacts, Needs, Port, Probe};
use crate::experiment::Fault;

/// The registry asked whether it answers.
const REGISTRY: (&str, u16) = ("registry-1.docker.io", 443);
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(2);
/// Each Docker question's time limit (a helper's start included).
const DOCKER_TIMEOUT: Duration = Duration::from_secs(20);
/// The project name the probes' helper containers are labelled with.
const PROJECT: &str = "chaos-doctor";

/// Arguments of `chaos doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Where the shipped experiments are: each `*.toml` directly in it is
    /// judged (not those in its subdirectories: Swarm stacks, benches and
    /// campaigns).
    #[arg(long, value_name = "DIR", default_value = "experiments")]
    pub experiments: PathBuf,

    /// Print the facts and verdicts as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &DoctorArgs) -> CliResult {
    if !args.experiments.is_dir() {
        return Err(CliError::input(anyhow!(
            "{}: no such directory; run chaos doctor from a chaos checkout, or give --experiments DIR",
            args.experiments.display()
        )));
    }
    let needs = experiment_needs(&args.experiments)?;
    let runtime = super::cluster::runtime()?;
    let machine = runtime.block_on(probe(&needs));
    let verdicts: Vec<doctor::Verdict> = needs.iter().map(|n| doctor::judge(&machine, n)).collect();
    let text = if args.json {
        let mut t = serde_json::to_string_pretty(&serde_json::json!({
            "machine": machine,
            "experiments": verdicts,
        }))
        .expect("the facts serialize");
        t.push('\n');
        t
    } else {
        doctor::render(&machine, &verdicts)
    };
    super::print_stdout(&text)?;
    Ok(if verdicts.iter().all(|v| v.can_run) {
        Outcome::Success
    } else {
        Outcome::Anomalies
    })
}

/// What each experiment directly in `dir` needs.
fn experiment_needs(dir: &Path) -> Result<Vec<Needs>, CliError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CliError::input(anyhow!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    let process_env: BTreeMap<String, String> = std::env::vars().collect();
    Ok(files
        .iter()
        .map(|file| {
            let shown = file.display().to_string();
            let loaded = match crate::loader::load(file) {
                Ok(l) => l,
                Err(e) => {
                    return Needs {
                        file: shown,
                        error: Some(e.to_string()),
                        ..Needs::default()
                    };
                }
            };
            let e = &loaded.experiment;
            let mut needs = Needs {
                file: shown,
                project: e.cluster.project.clone(),
                swarm: e.cluster.orchestrator != crate::experiment::Orchestrator::Compose,
                ..Needs::default()
            };
            for n in &e.nemeses {
                match n.fault {
                    Fault::Netem { .. } => {
                        needs.netem = true;
                        needs.helper = true;
                    }
                    Fault::Partition { .. } | Fault::Loss { .. } | Fault::Bandwidth { .. } => {
                        needs.helper = true
                    }
                    _ => {}
                }
                needs.fuse |= n.fault.needs_chaos_fs();
            }
            let compose_text = std::fs::read_to_string(&loaded.compose_file).unwrap_or_default();
            match ComposeModel::parse(&loaded.compose_file, &compose_text, &needs.project) {
                Ok(model) => {
                    let images: BTreeSet<String> = model.images.values().cloned().collect();
                    needs.images = images.into_iter().collect();
                }
                Err(err) => needs.error = Some(format!("{}: {err}", loaded.compose_file.display())),
            }
            let mut env = process_env.clone();
            env.extend(e.cluster.env.clone());
            match doctor::published_ports(&compose_text, &env) {
                Ok(ports) => needs.ports = ports,
                Err(err) => needs.error = Some(format!("{}: {err}", loaded.compose_file.display())),
            }
            if let Some(adapter) = &e.workload.adapter
                && let Some(program) = adapter.command.first()
            {
                needs.programs.push(program.clone());
            }
            needs
        })
        .collect())
}

/// Probe this machine for what `needs` asks.
async fn probe(needs: &[Needs]) -> MachineFacts {
    let helper_image = crate::nemesis::netns::helper_image();
    let mut images: BTreeSet<String> = needs.iter().flat_map(|n| n.images.clone()).collect();
    images.insert(helper_image.clone());
    let ports: BTreeSet<u16> = needs
        .iter()
        .flat_map(|n| n.ports.iter().map(|p| p.port))
        .collect();
    let programs: BTreeSet<String> = needs.iter().flat_map(|n| n.programs.clone()).collect();
    let registry = probe_registry();
    let compose = probe_compose();
    let mut m = MachineFacts {
        engine: Probe::Unknown("not probed".into()),
        compose: Probe::Unknown("not probed".into()),
        registry: Probe::Unknown("not probed".into()),
        netem: Probe::Unknown("not probed".into()),
        fuse: Probe::Unknown("not probed".into()),
        helper_image: helper_image.clone(),
        images: BTreeMap::new(),
        ports: BTreeMap::new(),
        programs: programs
            .iter()
            .map(|p| (p.clone(), probe_program(p)))
            .collect(),
    };
    let (registry, compose) = tokio::join!(registry, compose);
    m.registry = registry;
    m.compose = compose;
    let cluster = match tokio::time::timeout(
        DOCKER_TIMEOUT,
        ComposeCluster::connect_project(PROJECT),
    )
    .await
    {
        Ok(Ok(c)) => Some(c),
        Ok(Err(e)) => {
            m.engine = Probe::No(e.to_string());
            None
        }
        Err(_) => {
            m.engine = Probe::No(format!("no answer within {DOCKER_TIMEOUT:?}"));
            None
        }
    };
    let Some(cluster) = cluster else {
        let why = "the engine is not reachable".to_string();
        m.netem = Probe::Unknown(why.clone());
        m.fuse = Probe::Unknown(why.clone());
        m.images = images
            .into_iter()
            .map(|i| (i, Probe::Unknown(why.clone())))
            .collect();
        m.ports = ports.into_iter().map(|p| (p, port_state(p, &[]))).collect();
        return m;
    };
    let docker = cluster.docker().clone();
    m.engine = match tokio::time::timeout(DOCKER_TIMEOUT, docker.version()).await {
        Ok(Ok(v)) => Probe::Yes(format!(
            "Docker {}, API {} (this chaos speaks {}), {}/{}",
            v.version.as_deref().unwrap_or("?"),
            v.api_version.as_deref().unwrap_or("?"),
            docker.client_version(),
            v.os.as_deref().unwrap_or("?"),
            v.arch.as_deref().unwrap_or("?"),
        )),
        Ok(Err(e)) => Probe::No(e.to_string()),
        Err(_) => Probe::No(format!("no answer within {DOCKER_TIMEOUT:?}")),
    };
    for image in images {
        let p = match tokio::time::timeout(DOCKER_TIMEOUT, docker.inspect_image(&image)).await {
            Ok(Ok(i)) => Probe::Yes(short_id(i.id.as_deref().unwrap_or("?"))),
            Ok(Err(e)) if crate::docker::status_code(&e) == Some(404) => {
                Probe::No(if crate::images::is_local_image(&image) {
                    "not built on this machine".into()
                } else {
                    "not pulled".into()
                })
            }
            Ok(Err(e)) => Probe::Unknown(e.to_string()),
            Err(_) => Probe::Unknown(format!("no answer within {DOCKER_TIMEOUT:?}")),
        };
        m.images.insert(image, p);
    }
    if m.images.get(&helper_image).is_some_and(Probe::is_yes) {
        m.netem = match tokio::time::timeout(
            DOCKER_TIMEOUT,
            crate::nemesis::netns::probe_netem(&cluster),
        )
        .await
        {
            Ok(Ok(None)) => Probe::Yes("`tc qdisc add dev lo root netem` works in a helper".into()),
            Ok(Ok(Some(why))) => Probe::No(why),
            Ok(Err(e)) => Probe::Unknown(e.to_string()),
            Err(_) => Probe::Unknown(format!("the probe took over {DOCKER_TIMEOUT:?}")),
        };
        m.fuse =
            match tokio::time::timeout(DOCKER_TIMEOUT, probe_fuse(&cluster, &helper_image)).await {
                Ok(p) => p,
                Err(_) => Probe::Unknown(format!("the probe took over {DOCKER_TIMEOUT:?}")),
            };
    } else {
        let why = format!("the probe runs in the helper image {helper_image}, which is missing");
        m.netem = Probe::Unknown(why.clone());
        m.fuse = Probe::Unknown(why);
    }
    // Who publishes each port: the compose project of a container that
    // does, else a bind on 127.0.0.1 says whether anything holds it.
    let published = match docker
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: false,
            ..Default::default()
        }))
        .await
    {
        Ok(list) => list
            .into_iter()
            .flat_map(|c| {
                let project = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(crate::docker::labels::PROJECT).cloned());
                c.ports
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(move |p| p.public_port.map(|n| (n, project.clone())))
            })
            .collect::<Vec<_>>(),
        Err(_) => Vec::new(),
    };
    m.ports = ports
        .into_iter()
        .map(|p| (p, port_state(p, &published)))
        .collect();
    m
}

/// A port's holder: a compose project's container, else whatever a bind
/// on 127.0.0.1 runs into.
fn port_state(port: u16, published: &[(u16, Option<String>)]) -> Port {
    if let Some((_, project)) = published.iter().find(|(p, _)| *p == port) {
        return match project {
            Some(project) => Port::Project(project.clone()),
            None => Port::Taken,
        };
    }
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Port::Free,
        Err(_) => Port::Taken,
    }
}

fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

/// One TCP connection to Docker Hub's registry, resolution included,
/// within [`REGISTRY_TIMEOUT`].
async fn probe_registry() -> Probe {
    let (host, port) = REGISTRY;
    match tokio::time::timeout(
        REGISTRY_TIMEOUT,
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    {
        Ok(Ok(_)) => Probe::Yes(format!("{host}:{port} (Docker Hub) accepts a connection")),
        Ok(Err(e)) => Probe::No(format!("{host}:{port}: {e}")),
        Err(_) => Probe::No(format!(
            "{host}:{port}: no answer within {REGISTRY_TIMEOUT:?}"
        )),
    }
}

/// The compose CLI chaos would use, and its version.
async fn probe_compose() -> Probe {
    let cli = match ComposeCli::detect().await {
        Ok(c) => c,
        Err(e) => return Probe::No(e.to_string()),
    };
    let (program, prefix) = cli.program();
    let version = tokio::process::Command::new(program)
        .args(prefix)
        .args(["version", "--short"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "version unknown".into());
    let v = match cli {
        ComposeCli::V2 => "v2",
        ComposeCli::V1 => "v1",
    };
    Probe::Yes(format!("{} ({v}) {version}", cli.name()))
}

/// Is a program on PATH (or, named by a path, there)?
fn probe_program(program: &str) -> Probe {
    let found = if program.contains('/') {
        Path::new(program).is_file().then(|| PathBuf::from(program))
    } else {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
    };
    match found {
        Some(p) => Probe::Yes(p.display().to_string()),
        None => Probe::No(format!("`{program}` is not on PATH")),
    }
}

/// FUSE inside a container, as a chaos-fs node gets it (/dev/fuse,
/// SYS_ADMIN, AppArmor unconfined: `crate::experiment::overlay`): a
/// throwaway helper with no network opens /dev/fuse for reading and
/// writing, which needs the host's device and the engine's leave.
async fn probe_fuse(cluster: &ComposeCluster, image: &str) -> Probe {
    use bollard::models::{ContainerCreateBody, DeviceMapping, HostConfig};
    let docker = cluster.docker();
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["sleep".into(), "60".into()]),
        labels: Some(std::collections::HashMap::from([(
            crate::docker::labels::HELPER_PROJECT.to_string(),
            PROJECT.to_string(),
        )])),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            cap_add: Some(vec!["SYS_ADMIN".into()]),
            security_opt: Some(vec!["apparmor:unconfined".into()]),
            devices: Some(vec![DeviceMapping {
                path_on_host: Some("/dev/fuse".into()),
                path_in_container: Some("/dev/fuse".into()),
                cgroup_permissions: Some("rwm".into()),
            }]),
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = match docker
        .create_container(
            None::<bollard::query_parameters::CreateContainerOptions>,
            body,
        )
        .await
    {
        Ok(c) => c,
        Err(e) => return Probe::No(format!("a container with /dev/fuse cannot be created: {e}")),
    };
    let started = docker
        .start_container(
            &created.id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await;
    let result = match started {
        Err(e) => Probe::No(format!(
            "a container with /dev/fuse and SYS_ADMIN does not start: {e}"
        )),
        Ok(()) => match cluster
            .exec(
                &created.id,
                &[
                    "sh",
                    "-c",
                    "test -c /dev/fuse && exec 3<>/dev/fuse && echo opened",
                ],
            )
            .await
        {
            Ok(out) if out.ok() => {
                Probe::Yes("a helper given /dev/fuse and SYS_ADMIN opens it".into())
            }
            Ok(out) => Probe::No(format!(
                "a helper given /dev/fuse and SYS_ADMIN cannot open it: {}",
                out.stderr.trim()
            )),
            Err(e) => Probe::Unknown(e.to_string()),
        },
    };
    let _ = cluster.remove(&created.id).await;
    result
}
