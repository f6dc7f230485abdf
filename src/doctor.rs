//! `chaos doctor`'s judgement: from what was probed on this machine
//! ([`MachineFacts`]) and what each shipped experiment needs
//! ([`Needs`]), whether the experiment can run here and, if not, why and
//! the mend; and the text the command prints.
//!
//! Pure: no Docker, no sockets, no clock. The probing (the engine, the
//! compose CLI, a registry, netem and FUSE in throwaway helpers, the
//! images, the ports) is `cli::doctor`'s. Depends on [`crate::images`]
//! (which images are built here) and nothing effectful.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "detail", rename_all = "lowercase")]
pub enum Probe {
    /// It works (with what it said: a version, an image ID).
    Yes(String),
    /// It does not (why).
    No(String),
    /// It could not be asked (why: no engine, no helper image).
    Unknown(String),
}

impl Probe {
    pub fn is_yes(&self) -> bool {
        matches!(self, Probe::Yes(_))
    }

    fn line(&self) -> String {
        match self {
            Probe::Yes(d) => format!("yes ({d})"),
            Probe::No(why) => format!("NO: {why}"),
            Probe::Unknown(why) => format!("unknown: {why}"),
        }
    }
}

/// Who holds a host port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "by", rename_all = "lowercase")]
pub enum Port {
    Free,
    /// Published by a container of this compose project.
    Project(String),
    /// Taken by something that is not a compose project's container.
    Taken,
}

/// What was probed on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct MachineFacts {
    /// The engine: its version and API version.
    pub engine: Probe,
    /// The compose CLI: v1 or v2, and its version.
    pub compose: Probe,
    /// A registry (Docker Hub) answered or not.
    pub registry: Probe,
    /// netem in a throwaway helper.
    pub netem: Probe,
    /// /dev/fuse with SYS_ADMIN in a throwaway helper (chaos-fs).
    pub fuse: Probe,
    /// The network helper image's name (`chaos/nethelper:local`).
    pub helper_image: String,
    /// Each image the shipped compose files name, and the helper: present
    /// (its ID) or not.
    pub images: BTreeMap<String, Probe>,
    /// Each host port the shipped experiments publish.
    pub ports: BTreeMap<u16, Port>,
    /// Each program an adapter starts (`python3`): on PATH or not.
    pub programs: BTreeMap<String, Probe>,
}

/// A host port a compose service publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortUse {
    pub service: String,
    pub port: u16,
    /// The variable that moves it (`CHAOS_ETCD1_PORT`), if there is one.
    pub var: Option<String>,
}

/// What one experiment needs of the machine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Needs {
    /// The file, as shown.
    pub file: String,
    /// Its project (a port its own running cluster holds is fine).
    pub project: String,
    /// It could not be read or checked (the error).
    pub error: Option<String>,
    /// A Swarm stack (needs a Swarm; not probed here).
    pub swarm: bool,
    /// The images its compose file names.
    pub images: Vec<String>,
    pub ports: Vec<PortUse>,
    /// It has faults that need the helper (partition, loss, bandwidth,
    /// netem), netem (delay), chaos-fs (power loss, disk faults).
    pub helper: bool,
    pub netem: bool,
    pub fuse: bool,
    /// The program its process client's adapter starts.
    pub programs: Vec<String>,
}

/// One reason an experiment cannot run here, and the mend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub why: String,
    pub mend: String,
}

/// Can an experiment run here?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub file: String,
    pub can_run: bool,
    pub problems: Vec<Problem>,
}

/// The mend for a missing local image.
pub const BUILD_IMAGES: &str = "build the local images: `bash .ci/install.sh --tests` (as root), \
     or `compose/images/build.sh <name>`; `chaos run --build-images` builds them at run time";

/// Whether `needs` can run on a machine with `m`, and if not, why and the
/// mend. Pure.
pub fn judge(m: &MachineFacts, needs: &Needs) -> Verdict {
    let mut problems = Vec::new();
    let mut add = |why: String, mend: &str| {
        problems.push(Problem {
            why,
            mend: mend.to_string(),
        })
    };
    if let Some(e) = &needs.error {
        add(
            format!("the experiment cannot be loaded: {e}"),
            "mend the file (`chaos plan FILE` points at the field)",
        );
    }
    if needs.swarm {
        add(
            "a Swarm stack: it needs a Docker Swarm, which doctor does not probe".into(),
            "run it on a Swarm manager (docs/swarm.md)",
        );
    }
    match &m.engine {
        Probe::Yes(_) => {}
        Probe::No(why) | Probe::Unknown(why) => {
            add(
                format!("the Docker engine is not reachable: {why}"),
                "start Docker (Docker Desktop on macOS) and check that `docker info` works for this user (the docker group, or DOCKER_HOST)",
            );
            return verdict(needs, problems);
        }
    }
    if !needs.swarm && !m.compose.is_yes() {
        add(
            format!("no compose CLI: {}", inner(&m.compose)),
            "install the compose v2 plugin (`docker compose`) or docker-compose 1.29 (v1); CHAOS_COMPOSE=v1|v2 picks one",
        );
    }
    let mut images = needs.images.clone();
    if needs.helper || needs.netem || needs.fuse {
        images.push(m.helper_image.clone());
    }
    for image in &images {
        match m.images.get(image) {
            Some(Probe::Yes(_)) => {}
            found => {
                let why = match found {
                    Some(Probe::No(why) | Probe::Unknown(why)) => why.clone(),
                    _ => "not probed".to_string(),
                };
                if crate::images::is_local_image(image) {
                    add(format!("image {image} is missing ({why})"), BUILD_IMAGES);
                } else if !m.registry.is_yes() {
                    add(
                        format!(
                            "image {image} is missing ({why}), and no registry answers to pull it ({})",
                            inner(&m.registry)
                        ),
                        "pull it where a registry answers and bring it here (`docker save` there, `docker load` here)",
                    );
                }
                // A pulled image with a registry answering: compose pulls it on `up`.
            }
        }
    }
    if needs.netem && !m.netem.is_yes() {
        add(
            format!("its delay faults need netem: {}", inner(&m.netem)),
            "load the kernel's netem scheduler: `sudo modprobe sch_netem` (on Debian and Ubuntu cloud kernels it is in linux-modules-extra-$(uname -r)); Docker Desktop's VM has it",
        );
    }
    if needs.fuse && !m.fuse.is_yes() {
        add(
            format!(
                "its disk faults (chaos-fs) need FUSE in a container: {}",
                inner(&m.fuse)
            ),
            "give the host /dev/fuse (`sudo modprobe fuse`), and use an engine that lets a container have /dev/fuse with SYS_ADMIN (a rootless or locked-down engine refuses)",
        );
    }
    for program in &needs.programs {
        if let Some(Probe::No(why) | Probe::Unknown(why)) = m.programs.get(program) {
            add(
                format!("its adapter's program is missing: {why}"),
                "install it, or name it by its path in [workload.adapter] command",
            );
        }
    }
    for p in &needs.ports {
        let moved = match &p.var {
            Some(v) => format!(
                "or set {v} (in the environment or the experiment's cluster.env) to a free port"
            ),
            None => "or change the port in the compose file".to_string(),
        };
        match m.ports.get(&p.port) {
            Some(Port::Project(project)) if *project == needs.project => {}
            Some(Port::Project(project)) => add(
                format!(
                    "port {} ({}) is published by compose project {project}",
                    p.port, p.service
                ),
                &format!("take that project down (`chaos down` its experiment), {moved}"),
            ),
            Some(Port::Taken) => add(
                format!(
                    "port {} ({}) is taken by a program that is not a compose project",
                    p.port, p.service
                ),
                &format!("stop that program, {moved}"),
            ),
            Some(Port::Free) | None => {}
        }
    }
    verdict(needs, problems)
}

fn verdict(needs: &Needs, problems: Vec<Problem>) -> Verdict {
    Verdict {
        file: needs.file.clone(),
        can_run: problems.is_empty(),
        problems,
    }
}

fn inner(p: &Probe) -> String {
    match p {
        Probe::Yes(d) => d.clone(),
        Probe::No(w) | Probe::Unknown(w) => w.clone(),
    }
}

/// The host ports a compose file publishes, with the variables in them
/// resolved from `env` (the experiment's `cluster.env` over the
/// environment) or their defaults: `"127.0.0.1:${CHAOS_ETCD1_PORT:-23791}:2379"`,
/// `"8000:8000"`, `{published: 8000}`. A port left to Docker (`0`, or
/// only a container port) is not listed. Pure.
pub fn published_ports(
    compose_text: &str,
    env: &BTreeMap<String, String>,
) -> Result<Vec<PortUse>, String> {
    use serde_yaml_ng::Value;
    let mut doc: Value =
        serde_yaml_ng::from_str(compose_text).map_err(|e| format!("invalid YAML: {e}"))?;
    doc.apply_merge()
        .map_err(|e| format!("invalid YAML merge key: {e}"))?;
    let services = doc
        .get("services")
        .and_then(Value::as_mapping)
        .ok_or("no `services:` mapping")?;
    let mut out = Vec::new();
    for (name, service) in services {
        let Some(name) = name.as_str() else { continue };
        let Some(Value::Sequence(ports)) = service.get("ports") else {
            continue;
        };
        for p in ports {
            let published = match p {
                Value::String(s) => short_syntax_host_port(s),
                Value::Mapping(_) => match p.get("published") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                },
                _ => None,
            };
            let Some(published) = published else { continue };
            let (value, var) = substitute(&published, env);
            if let Ok(port) = value.parse::<u16>()
                && port != 0
            {
                out.push(PortUse {
                    service: name.to_string(),
                    port,
                    var,
                });
            }
        }
    }
    Ok(out)
}

/// The host part of `[IP:]HOST:CONTAINER[/proto]` (None: only a container
/// port). Variables may hold colons only in their default, which ports do
/// not use.
fn short_syntax_host_port(s: &str) -> Option<String> {
    let s = s.split('/').next().unwrap_or(s);
    // Split on colons outside `${...}`.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b':' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    match parts.len() {
        2 => Some(parts[0].to_string()),
        3 => Some(parts[1].to_string()),
        _ => None,
    }
}

/// `${VAR:-default}`, `${VAR-default}`, `${VAR}` or a literal, with the
/// variable's name.
fn substitute(text: &str, env: &BTreeMap<String, String>) -> (String, Option<String>) {
    let Some(inner) = text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) else {
        return (text.to_string(), None);
    };
    let (var, default) = match inner.split_once(":-").or_else(|| inner.split_once('-')) {
        Some((v, d)) => (v, d),
        None => (inner, ""),
    };
    let value = env
        .get(var)
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| default.to_string());
    (value, Some(var.to_string()))
}

/// The report `chaos doctor` prints. Pure.
pub fn render(m: &MachineFacts, verdicts: &[Verdict]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "This machine");
    let _ = writeln!(s, "  engine:    {}", m.engine.line());
    let _ = writeln!(s, "  compose:   {}", m.compose.line());
    let _ = writeln!(s, "  registry:  {}", m.registry.line());
    let _ = writeln!(s, "  netem:     {}", m.netem.line());
    let _ = writeln!(s, "  FUSE in a container (chaos-fs): {}", m.fuse.line());
    let _ = writeln!(s, "\nImages");
    for (image, p) in &m.images {
        let state = match p {
            Probe::Yes(id) => format!("present ({id})"),
            Probe::No(why) => format!("MISSING ({why})"),
            Probe::Unknown(why) => format!("unknown ({why})"),
        };
        let _ = writeln!(s, "  {image:<36} {state}");
    }
    let _ = writeln!(s, "\nPorts the shipped experiments publish (127.0.0.1)");
    let free: Vec<String> = m
        .ports
        .iter()
        .filter(|(_, p)| **p == Port::Free)
        .map(|(n, _)| n.to_string())
        .collect();
    if !free.is_empty() {
        let _ = writeln!(s, "  free: {}", free.join(", "));
    }
    for (n, p) in &m.ports {
        match p {
            Port::Free => {}
            Port::Project(project) => {
                let _ = writeln!(s, "  {n}: published by compose project {project}");
            }
            Port::Taken => {
                let _ = writeln!(s, "  {n}: TAKEN by a program that is not a compose project");
            }
        }
    }
    let ok = verdicts.iter().filter(|v| v.can_run).count();
    let _ = writeln!(s, "\nExperiments: {ok} of {} can run here", verdicts.len());
    for v in verdicts {
        if v.can_run {
            let _ = writeln!(s, "  ok      {}", v.file);
            continue;
        }
        let _ = writeln!(s, "  cannot  {}", v.file);
        for p in &v.problems {
            let _ = writeln!(s, "          why:  {}", p.why);
            let _ = writeln!(s, "          mend: {}", p.mend);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> MachineFacts {
        MachineFacts {
            engine: Probe::Yes("Docker 20.10.24, API 1.41".into()),
            compose: Probe::Yes("docker-compose (v1) 1.29.2".into()),
            registry: Probe::No("no answer within 2s".into()),
            netem: Probe::Yes("tc qdisc netem works".into()),
            fuse: Probe::Yes("/dev/fuse opens".into()),
            helper_image: "chaos/nethelper:local".into(),
            images: BTreeMap::from([
                (
                    "chaos/etcd:3.4-local".into(),
                    Probe::Yes("sha256:98".into()),
                ),
                (
                    "chaos/nethelper:local".into(),
                    Probe::Yes("sha256:11".into()),
                ),
                (
                    "chaos/surrealdb:3.3.5-local".into(),
                    Probe::No("not built".into()),
                ),
                ("pingcap/tikv:v8.5.1".into(), Probe::No("not pulled".into())),
            ]),
            ports: BTreeMap::from([
                (23791, Port::Free),
                (23792, Port::Project("chaos-etcd".into())),
                (18101, Port::Taken),
                (25801, Port::Project("other".into())),
            ]),
            programs: BTreeMap::from([
                ("python3".into(), Probe::Yes("/usr/bin/python3".into())),
                ("ruby".into(), Probe::No("`ruby` is not on PATH".into())),
            ]),
        }
    }

    fn etcd(netem: bool, fuse: bool) -> Needs {
        Needs {
            file: "experiments/etcd-x.toml".into(),
            project: "chaos-etcd".into(),
            images: vec!["chaos/etcd:3.4-local".into()],
            ports: vec![
                PortUse {
                    service: "etcd1".into(),
                    port: 23791,
                    var: Some("CHAOS_ETCD1_PORT".into()),
                },
                PortUse {
                    service: "etcd2".into(),
                    port: 23792,
                    var: Some("CHAOS_ETCD2_PORT".into()),
                },
            ],
            helper: netem,
            netem,
            fuse,
            ..Needs::default()
        }
    }

    #[test]
    fn an_experiment_with_all_it_needs_can_run_even_beside_its_own_cluster() {
        let v = judge(&machine(), &etcd(true, true));
        assert!(v.can_run, "{v:?}");
        assert!(v.problems.is_empty());
    }

    #[test]
    fn missing_netem_and_fuse_are_named_with_their_mends() {
        let mut m = machine();
        m.netem = Probe::No("RTNETLINK answers: No such file or directory".into());
        m.fuse = Probe::No("/dev/fuse: no such device".into());
        // A plain kill experiment needs neither.
        assert!(judge(&m, &etcd(false, false)).can_run);
        let v = judge(&m, &etcd(true, true));
        assert!(!v.can_run);
        assert_eq!(v.problems.len(), 2, "{v:?}");
        assert!(v.problems[0].why.contains("netem: RTNETLINK"), "{v:?}");
        assert!(v.problems[0].mend.contains("modprobe sch_netem"), "{v:?}");
        assert!(v.problems[1].why.contains("chaos-fs"), "{v:?}");
        assert!(v.problems[1].mend.contains("/dev/fuse"), "{v:?}");
    }

    #[test]
    fn a_missing_local_image_is_mended_by_the_install_script_and_a_pulled_one_needs_a_registry() {
        let mut needs = etcd(false, false);
        needs.images = vec![
            "chaos/surrealdb:3.3.5-local".into(),
            "pingcap/tikv:v8.5.1".into(),
        ];
        let v = judge(&machine(), &needs);
        assert_eq!(v.problems.len(), 2, "{v:?}");
        assert!(
            v.problems[0]
                .why
                .contains("chaos/surrealdb:3.3.5-local is missing")
        );
        assert!(v.problems[0].mend.contains("bash .ci/install.sh --tests"));
        assert!(v.problems[1].why.contains("no registry answers"), "{v:?}");
        // With a registry, compose pulls it on `up`: no problem.
        let mut m = machine();
        m.registry = Probe::Yes("registry-1.docker.io:443 answered".into());
        let v = judge(&m, &needs);
        assert_eq!(v.problems.len(), 1, "{v:?}");
    }

    #[test]
    fn faults_that_need_the_helper_need_its_image() {
        let mut m = machine();
        m.images.insert(
            "chaos/nethelper:local".into(),
            Probe::No("not built".into()),
        );
        assert!(judge(&m, &etcd(false, false)).can_run);
        let v = judge(&m, &etcd(true, false));
        assert!(v.problems[0].why.contains("chaos/nethelper:local"), "{v:?}");
    }

    #[test]
    fn ports_held_by_another_project_or_program_block_with_the_variable_to_move_them() {
        let mut needs = etcd(false, false);
        needs.project = "chaos-other-etcd".into();
        needs.ports.push(PortUse {
            service: "s".into(),
            port: 18101,
            var: None,
        });
        let v = judge(&machine(), &needs);
        assert_eq!(v.problems.len(), 2, "{v:?}");
        assert!(
            v.problems[0]
                .why
                .contains("port 23792 (etcd2) is published by compose project chaos-etcd")
        );
        assert!(v.problems[0].mend.contains("set CHAOS_ETCD2_PORT"));
        assert!(
            v.problems[1]
                .mend
                .contains("change the port in the compose file")
        );
    }

    #[test]
    fn an_adapter_needs_its_program() {
        let mut needs = etcd(false, false);
        needs.programs = vec!["python3".into()];
        assert!(judge(&machine(), &needs).can_run);
        needs.programs = vec!["ruby".into()];
        let v = judge(&machine(), &needs);
        assert_eq!(v.problems.len(), 1, "{v:?}");
        assert!(v.problems[0].why.contains("`ruby` is not on PATH"), "{v:?}");
    }

    #[test]
    fn no_engine_is_one_problem_not_a_cascade() {
        let mut m = machine();
        m.engine = Probe::No("connection refused".into());
        let v = judge(&m, &etcd(true, true));
        assert_eq!(v.problems.len(), 1, "{v:?}");
        assert!(v.problems[0].mend.contains("docker info"));
        let mut bad = etcd(false, false);
        bad.error = Some("m.toml:3: unknown field".into());
        assert!(!judge(&machine(), &bad).can_run);
    }

    #[test]
    fn published_ports_resolve_variables_from_the_experiment_then_defaults() {
        let compose = "x: &x\n  image: i\nservices:\n  a:\n    <<: *x\n    ports: [\"127.0.0.1:${CHAOS_A_PORT:-23791}:2379\"]\n  b:\n    ports: [\"8000:8000/tcp\", \"9000\", \"127.0.0.1:${B:-0}:1\"]\n  c:\n    ports:\n      - {target: 80, published: 8080}\n";
        let env = BTreeMap::new();
        let ports = published_ports(compose, &env).unwrap();
        let got: Vec<(&str, u16, Option<&str>)> = ports
            .iter()
            .map(|p| (p.service.as_str(), p.port, p.var.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", 23791, Some("CHAOS_A_PORT")),
                ("b", 8000, None),
                ("c", 8080, None),
            ]
        );
        let env = BTreeMap::from([("CHAOS_A_PORT".to_string(), "18101".to_string())]);
        assert_eq!(published_ports(compose, &env).unwrap()[0].port, 18101);
    }

    #[test]
    fn the_report_lists_facts_and_each_verdict() {
        let mut m = machine();
        m.netem = Probe::No("sch_netem missing".into());
        let v = vec![
            judge(&m, &etcd(false, false)),
            judge(&m, &etcd(true, false)),
        ];
        let text = render(&m, &v);
        assert!(
            text.contains("  netem:     NO: sch_netem missing\n"),
            "{text}"
        );
        assert!(text.contains("Experiments: 1 of 2 can run here"), "{text}");
        assert!(
            text.contains("  ok      experiments/etcd-x.toml\n"),
            "{text}"
        );
        assert!(text.contains("  cannot  experiments/etcd-x.toml\n          why:  its delay faults need netem: sch_netem missing\n"), "{text}");
        assert!(
            text.contains("chaos/surrealdb:3.3.5-local          MISSING (not built)"),
            "{text}"
        );
        assert!(text.contains("18101: TAKEN"), "{text}");
    }
}
