//! Validation: turns the raw experiment (typed as written, `raw`) into the
//! checked [`Experiment`], one field at a time, with errors that name the
//! file, line, column and field and say what was expected.
//!
//! Pure, like the rest of [`crate::experiment`]: no file system, no clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::endpoint::Endpoint;
use super::raw::{self, RawDurationRange, RawExperiment, RawExplicitFault, RawNemesis, RawTargets};
use super::spans::SpanIndex;
use super::*;
use crate::duration;

/// Turns raw (typed-as-written) values into checked ones, with errors that
/// point into the file.
pub(super) struct Validator<'a> {
    file: &'a str,
    spans: &'a SpanIndex,
}

/// What a check gives: the checked value, or an error at a field.
type Checked<T> = Result<T, ExperimentError>;

impl<'a> Validator<'a> {
    pub(super) fn new(file: &'a str, spans: &'a SpanIndex) -> Validator<'a> {
        Validator { file, spans }
    }

    fn err(&self, field: &str, message: impl Into<String>) -> ExperimentError {
        error_at(self.file, self.spans, field, message)
    }

    fn duration(&self, field: &str, text: &str) -> Checked<Duration> {
        duration::parse(text).map_err(|e| self.err(field, e.to_string()))
    }

    fn positive_duration(&self, field: &str, text: &str) -> Checked<Duration> {
        let d = self.duration(field, text)?;
        if d.is_zero() {
            return Err(self.err(
                field,
                format!("`{text}` is zero; expected a positive duration"),
            ));
        }
        Ok(d)
    }

    fn bounded(&self, field: &str, value: u64, min: u64, max: u64) -> Checked<u64> {
        if value < min {
            let what = if min == 1 { "at least 1" } else { "larger" };
            return Err(self.err(field, format!("{value} is too small; expected {what}")));
        }
        if value > max {
            return Err(self.err(
                field,
                format!("{value} is too large; expected at most {max}"),
            ));
        }
        Ok(value)
    }

    fn name(&self, field: &str, text: &str) -> Checked<String> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !ok {
            return Err(self.err(
                field,
                format!(
                    "`{text}` is not a usable name; expected 1 to 64 letters, digits, `-`, `_` or `.`"
                ),
            ));
        }
        Ok(text.to_string())
    }

    pub(super) fn experiment(
        &self,
        raw: RawExperiment,
        workload_table: &toml::Table,
    ) -> Checked<Experiment> {
        let name = self.name("name", &raw.name)?;
        let duration = self.positive_duration("duration", &raw.duration)?;
        if duration > limits::MAX_RUN {
            return Err(self.err(
                "duration",
                format!("`{}` is longer than the maximum of 24h", raw.duration),
            ));
        }
        let seed = match raw.seed {
            None => None,
            Some(s) if s < 0 => {
                return Err(self.err(
                    "seed",
                    format!("{s} is negative; expected a non-negative integer"),
                ));
            }
            Some(s) => Some(s as u64),
        };
        let expect = match raw.expect.as_deref() {
            None => Expect::Valid,
            Some(text) => Expect::parse(text).ok_or_else(|| {
                self.err(
                    "expect",
                    format!(
                        "`{text}` is not an expectation; expected `valid` (the default) or \
                         `invalid` (a known-bad control whose runs should find anomalies)"
                    ),
                )
            })?,
        };
        let cluster = self.cluster(raw.cluster)?;
        let workload = self.workload(raw.workload, workload_table, &cluster)?;
        let raw_checker = raw.checker;
        let (recovery_share, recovery_sustain) = raw_checker
            .as_ref()
            .map(|c| (c.recovery_share, c.recovery_sustain.clone()))
            .unwrap_or_default();
        let mut checker = match raw_checker.and_then(|c| c.model) {
            None => CheckerConfig::default(),
            Some(m) => {
                let caps = workload.kind.room().caps();
                if caps.models.is_empty() {
                    return Err(self.err(
                        "checker.model",
                        format!(
                            "a {} workload is checked for {}; it takes no `model`",
                            caps.name, caps.checks
                        ),
                    ));
                }
                if !caps.models.contains(&m.as_str()) {
                    return Err(self.err(
                        "checker.model",
                        format!(
                            "unknown model `{m}` for a {} workload; expected one of: {}{}",
                            caps.name,
                            caps.models.join(", "),
                            did_you_mean(&m, caps.models)
                        ),
                    ));
                }
                CheckerConfig {
                    model: Some(m),
                    ..CheckerConfig::default()
                }
            }
        };
        if let Some(share) = recovery_share {
            if !(share > 0.0 && share <= 1.0) {
                return Err(self.err(
                    "checker.recovery_share",
                    format!(
                        "{share} is not a share; expected a number above 0 and at most 1 (0.8: \
                         throughput back to 80 % of its level before the fault)"
                    ),
                ));
            }
            checker.recovery_share = Some(share);
        }
        if let Some(text) = recovery_sustain {
            let d = self.duration("checker.recovery_sustain", &text)?;
            if d.subsec_nanos() != 0 || d.as_secs() == 0 || d.as_secs() > 600 {
                return Err(self.err(
                    "checker.recovery_sustain",
                    format!(
                        "`{text}`: expected whole seconds from 1s to 600s (throughput is counted \
                         in 1 s buckets)"
                    ),
                ));
            }
            checker.recovery_sustain_s = Some(d.as_secs() as u32);
        }
        if raw.nemesis.len() > limits::MAX_NEMESES {
            return Err(self.err(
                "nemesis",
                format!(
                    "{} nemeses; expected at most {}",
                    raw.nemesis.len(),
                    limits::MAX_NEMESES
                ),
            ));
        }
        let nemeses = raw
            .nemesis
            .into_iter()
            .enumerate()
            .map(|(i, n)| self.nemesis(i, n, &cluster, duration))
            .collect::<Checked<Vec<_>>>()?;
        Ok(Experiment {
            name,
            description: raw.description.unwrap_or_default(),
            checker,
            duration,
            seed,
            expect,
            cluster,
            workload,
            nemeses,
        })
    }

    fn cluster(&self, raw: raw::RawCluster) -> Checked<Cluster> {
        if raw.compose_file.trim().is_empty() {
            return Err(self.err("cluster.compose_file", "empty; expected a path"));
        }
        let swarm = match raw.orchestrator.as_deref() {
            None | Some("compose") => false,
            Some("swarm") => true,
            Some(other) => {
                return Err(self.err(
                    "cluster.orchestrator",
                    format!("`{other}` is not an orchestrator; expected `compose` or `swarm`"),
                ));
            }
        };
        let (field, name) = match (swarm, raw.project, raw.stack) {
            (false, Some(p), None) => ("cluster.project", p),
            (false, None, None) => {
                return Err(self.err(
                    "cluster",
                    "missing field `project`; expected the compose project's name",
                ));
            }
            (false, _, Some(_)) => {
                return Err(self.err(
                    "cluster.stack",
                    "a stack belongs to a Swarm; set `orchestrator = \"swarm\"`, or name the compose project with `project`",
                ));
            }
            (true, None, Some(s)) => ("cluster.stack", s),
            (true, Some(_), _) => {
                return Err(self.err(
                    "cluster.project",
                    "a Swarm runs a stack, not a compose project: name it with `stack`",
                ));
            }
            (true, None, None) => {
                return Err(self.err(
                    "cluster",
                    "missing field `stack`; expected the Swarm stack's name (orchestrator = \"swarm\")",
                ));
            }
        };
        let orchestrator = if swarm {
            Orchestrator::Swarm {
                nodes: self.swarm_nodes(raw.nodes)?,
            }
        } else {
            if !raw.nodes.is_empty() {
                return Err(self.err(
                    "cluster.nodes",
                    "nodes belong to a Swarm; set `orchestrator = \"swarm\"` or remove `[cluster.nodes]`",
                ));
            }
            Orchestrator::Compose
        };
        let raw_project = name;
        let project = raw_project.to_ascii_lowercase();
        let valid_project = !project.is_empty()
            && project.len() <= 63
            && project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && project.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !valid_project || project != raw_project {
            return Err(self.err(
                field,
                format!(
                    "`{raw_project}` is not a valid {} name; expected lowercase letters, digits, `-` and `_`, starting with a letter or digit",
                    if swarm { "stack" } else { "compose project" }
                ),
            ));
        }
        if raw.components.is_empty() {
            return Err(self.err(
                "cluster.components",
                "no components; expected at least one, e.g. `etcd = [\"etcd1\", \"etcd2\", \"etcd3\"]`",
            ));
        }
        let mut seen = BTreeSet::new();
        for (component, services) in &raw.components {
            let field = format!("cluster.components.{component}");
            self.name(&field, component)?;
            if services.is_empty() {
                return Err(self.err(
                    &field,
                    "empty; expected the compose services of this component",
                ));
            }
            for (i, s) in services.iter().enumerate() {
                if !seen.insert(s.clone()) {
                    return Err(self.err(
                        &format!("{field}[{i}]"),
                        format!("service `{s}` is listed twice; a node belongs to one component"),
                    ));
                }
            }
        }
        Ok(Cluster {
            compose_file: raw.compose_file,
            project,
            components: raw.components,
            up: raw.up.unwrap_or(true),
            down: raw.down.unwrap_or(false),
            ready_timeout: match raw.ready_timeout {
                Some(t) => self.positive_duration("cluster.ready_timeout", &t)?,
                None => Duration::from_secs(120),
            },
            recovery: match raw.recovery {
                Some(t) => self.duration("cluster.recovery", &t)?,
                None => Duration::from_secs(10),
            },
            env: self.env(raw.env)?,
            orchestrator,
            chaos_fs: match raw.chaos_fs.as_deref() {
                None | Some("lazy") => ChaosFsMode::Lazy,
                Some("strict") => ChaosFsMode::Strict,
                Some(other) => {
                    return Err(self.err(
                        "cluster.chaos_fs",
                        format!(
                            "unknown mode `{other}`; expected `lazy` or `strict`{}",
                            did_you_mean(other, &["lazy", "strict"])
                        ),
                    ));
                }
            },
        })
    }

    /// `[cluster.nodes]`: every node has an engine URL chaos can use and an
    /// address; at least one node.
    fn swarm_nodes(
        &self,
        raw: BTreeMap<String, raw::RawNode>,
    ) -> Checked<BTreeMap<String, SwarmNode>> {
        if raw.is_empty() {
            return Err(self.err(
                "cluster.nodes",
                "no nodes; a Swarm needs every node's engine and address, e.g. `node1 = { docker = \"tcp://127.0.0.1:23871\", address = \"127.0.0.1\" }` (a manager's API cannot act on containers of other nodes)",
            ));
        }
        let mut nodes = BTreeMap::new();
        for (host, node) in raw {
            let field = format!("cluster.nodes.{host}");
            let valid_host = !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
            if !valid_host {
                return Err(self.err(
                    &field,
                    format!("`{host}` is not a hostname; expected the node's hostname as the Swarm names it (`docker node ls`)"),
                ));
            }
            let Some(docker) = node.docker else {
                return Err(self.err(
                    &field,
                    "no `docker`; expected the node's engine, e.g. `docker = \"tcp://127.0.0.1:23871\"` (unix://, tcp:// with `tls_dir` for TLS, ssh://)",
                ));
            };
            let Some(address) = node.address else {
                return Err(self.err(
                    &field,
                    "no `address`; expected where this node's host-mode published ports are reached, e.g. `address = \"127.0.0.1\"`",
                ));
            };
            let dfield = format!("{field}.docker");
            let endpoint = Endpoint::parse(&docker).map_err(|m| self.err(&dfield, m))?;
            for (name, value, scheme) in [
                ("tls_dir", &node.tls_dir, "tcp"),
                ("ssh_config", &node.ssh_config, "ssh"),
            ] {
                let Some(value) = value else { continue };
                let ofield = format!("{field}.{name}");
                if endpoint.scheme() != scheme {
                    return Err(self.err(
                        &ofield,
                        format!(
                            "`{name}` goes with a `{scheme}://` engine; this node's is `{docker}`"
                        ),
                    ));
                }
                if let Some(problem) = endpoint::path_problem(value) {
                    return Err(self.err(&ofield, problem));
                }
            }
            let afield = format!("{field}.address");
            let address_ok = !address.is_empty()
                && address.len() <= 253
                && address
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '_'));
            if !address_ok {
                return Err(self.err(
                    &afield,
                    format!("`{address}` is not a host name or IP address"),
                ));
            }
            nodes.insert(
                host,
                SwarmNode {
                    docker,
                    address,
                    tls_dir: node.tls_dir,
                    ssh_config: node.ssh_config,
                },
            );
        }
        Ok(nodes)
    }

    /// `cluster.env`: names a shell and compose accept, values without NUL.
    fn env(&self, raw: BTreeMap<String, raw::RawEnvValue>) -> Checked<BTreeMap<String, String>> {
        let mut env = BTreeMap::new();
        for (name, raw::RawEnvValue::Text(value)) in raw {
            let field = format!("cluster.env.{name}");
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(self.err(
                    &field,
                    format!(
                        "`{name}` is not a usable variable name; expected letters, digits and `_`, not starting with a digit (e.g. `SURREAL_TIKV_ASYNC_COMMIT`)"
                    ),
                ));
            }
            if let Some(prefix) = RESERVED_ENV_PREFIXES
                .iter()
                .find(|p| name.to_ascii_uppercase().starts_with(*p))
            {
                return Err(self.err(
                    &field,
                    format!(
                        "`{name}` is refused: `{prefix}*` variables change what the compose command itself does (project, files, engine); set the compose file's own variables only"
                    ),
                ));
            }
            if value.contains('\0') {
                return Err(self.err(&field, "the value contains a NUL character"));
            }
            env.insert(name, value);
        }
        Ok(env)
    }

    fn workload(
        &self,
        raw: raw::RawWorkload,
        table: &toml::Table,
        cluster: &Cluster,
    ) -> Checked<Workload> {
        let Some(client) = ClientKind::ALL.into_iter().find(|c| c.name() == raw.client) else {
            let names: Vec<&str> = ClientKind::ALL.iter().map(|c| c.name()).collect();
            return Err(self.err(
                "workload.client",
                format!(
                    "unknown client `{}`; expected one of: {}{}",
                    raw.client,
                    names.join(", "),
                    did_you_mean(&raw.client, &names)
                ),
            ));
        };
        let adapter = self.adapter(client, raw.adapter)?;
        if raw.endpoints.is_empty() {
            return Err(self.err(
                "workload.endpoints",
                "empty; expected the compose services clients connect to",
            ));
        }
        let nodes: BTreeSet<&String> = cluster.components.values().flatten().collect();
        for (i, e) in raw.endpoints.iter().enumerate() {
            if !nodes.contains(e) {
                return Err(self.err(
                    &format!("workload.endpoints[{i}]"),
                    format!("`{e}` is not a node of any component in cluster.components"),
                ));
            }
        }
        let read_mode = match raw.read_mode.as_deref() {
            None => client.read_modes()[0],
            Some(text) => {
                let modes = client.read_modes();
                *modes.iter().find(|m| m.name() == text).ok_or_else(|| {
                    let names: Vec<_> = modes.iter().map(|m| m.name()).collect();
                    self.err(
                        "workload.read_mode",
                        format!(
                            "`{text}` is not a read mode of {}; expected one of: {}",
                            client.name(),
                            names.join(", ")
                        ),
                    )
                })?
            }
        };
        let names = crate::workload::names();
        let kind = match raw.kind.as_deref() {
            None => WorkloadKind::register(),
            Some(name) => WorkloadKind::named(name).ok_or_else(|| {
                self.err(
                    "workload.kind",
                    format!(
                        "unknown workload `{name}`; expected one of: {}{}",
                        names.join(", "),
                        did_you_mean(name, &names)
                    ),
                )
            })?,
        };
        let room = kind.room();
        let caps = room.caps();
        // The room's own fields, and nothing else beside the common ones.
        let mut own = toml::Table::new();
        for (field, value) in table {
            if raw::COMMON_WORKLOAD_FIELDS.contains(&field.as_str()) {
                continue;
            }
            if caps.fields.contains(&field.as_str()) {
                own.insert(field.clone(), value.clone());
                continue;
            }
            let mut known: Vec<&str> = raw::COMMON_WORKLOAD_FIELDS.to_vec();
            known.extend(caps.fields);
            let elsewhere: Vec<&str> = crate::workload::REGISTRY
                .iter()
                .filter(|w| w.caps().fields.contains(&field.as_str()))
                .map(|w| w.caps().name)
                .collect();
            let message = if elsewhere.is_empty() {
                format!(
                    "unknown field `{field}` of a {} workload; expected one of: {}{}",
                    caps.name,
                    known.join(", "),
                    did_you_mean(field, &known)
                )
            } else {
                format!(
                    "`{field}` goes with `kind = \"{}\"`, not with a {} workload",
                    elsewhere.join("\" or \""),
                    caps.name
                )
            };
            return Err(self.err(&format!("workload.{field}"), message));
        }
        let params = room
            .params(&own)
            .map_err(|e| self.err(&format!("workload.{}", e.field), e.message))?;
        let allowed: Vec<&str> = caps.mix.iter().map(|(f, _)| *f).collect();
        let mix: BTreeMap<String, u64> = match raw.mix {
            None => caps
                .mix
                .iter()
                .filter(|(_, w)| *w > 0)
                .map(|(f, w)| (f.to_string(), *w))
                .collect(),
            Some(m) => {
                let mut mix = BTreeMap::new();
                for (f, w) in m {
                    let field = format!("workload.mix.{f}");
                    if !allowed.contains(&f.as_str()) {
                        return Err(self.err(
                            &field,
                            format!(
                                "`{f}` is not an op of a {} workload; its mix takes: {}{}",
                                caps.name,
                                allowed.join(", "),
                                did_you_mean(&f, &allowed)
                            ),
                        ));
                    }
                    let w = self.bounded(&field, w, 0, limits::MAX_MIX_WEIGHT)?;
                    if w > 0 {
                        mix.insert(f, w);
                    }
                }
                mix
            }
        };
        if mix.values().sum::<u64>() == 0 {
            let example: Vec<String> = caps.mix.iter().map(|(f, w)| format!("{f} = {w}")).collect();
            return Err(self.err(
                "workload.mix",
                format!(
                    "no op has a positive weight; expected e.g. `{{ {} }}`",
                    example.join(", ")
                ),
            ));
        }
        let isolation = self.isolation(client, raw.isolation.as_deref())?;
        let read_endpoints = self.read_endpoints(
            client,
            caps.name,
            isolation,
            raw.read_endpoints,
            &nodes,
            raw.isolation.is_some(),
        )?;
        let mut workload = Workload {
            kind,
            client,
            endpoints: raw.endpoints,
            keys: self.bounded("workload.keys", raw.keys.unwrap_or(8), 1, limits::MAX_KEYS)?,
            key_ops: self.bounded(
                "workload.key_ops",
                raw.key_ops.unwrap_or(200),
                1,
                limits::MAX_KEY_OPS,
            )?,
            clients: self.bounded(
                "workload.clients",
                raw.clients.unwrap_or(5),
                1,
                limits::MAX_CLIENTS,
            )?,
            rate: self.bounded(
                "workload.rate",
                raw.rate.unwrap_or(100),
                1,
                limits::MAX_RATE,
            )?,
            timeout: match raw.timeout {
                Some(t) => self.positive_duration("workload.timeout", &t)?,
                None => Duration::from_secs(1),
            },
            read_mode,
            isolation,
            read_endpoints: Vec::new(),
            mix,
            params,
            adapter,
        };
        room.validate(&workload)
            .map_err(|e| self.err(&format!("workload.{}", e.field), e.message))?;
        let served = client.serves();
        if !served.contains(&caps.name) {
            return Err(self.err(
                "workload.kind",
                format!(
                    "the {} client does not serve a {} workload; it serves: {}",
                    client.name(),
                    caps.name,
                    served.join(", ")
                ),
            ));
        }
        workload.read_endpoints = read_endpoints;
        Ok(workload)
    }

    /// `[workload.adapter]`: required with `client = "process"`, refused
    /// with any other client.
    fn adapter(
        &self,
        client: ClientKind,
        raw: Option<raw::RawAdapter>,
    ) -> Checked<Option<AdapterSpec>> {
        let Some(raw) = raw else {
            if client == ClientKind::Process {
                return Err(self.err(
                    "workload.client",
                    "a process client needs `[workload.adapter]` with `command = [\"program\", \
                     \"arg\", ...]` and `port` (docs/clients.md)",
                ));
            }
            return Ok(None);
        };
        if client != ClientKind::Process {
            return Err(self.err(
                "workload.adapter",
                format!(
                    "`[workload.adapter]` goes with `client = \"process\"`, not with the {} client",
                    client.name()
                ),
            ));
        }
        match raw.command.first() {
            None => {
                return Err(self.err(
                    "workload.adapter.command",
                    "empty; expected the program and its arguments, e.g. \
                     `[\"python3\", \"adapter.py\"]`",
                ));
            }
            Some(program) if program.trim().is_empty() => {
                return Err(self.err(
                    "workload.adapter.command[0]",
                    "empty; expected the program to run",
                ));
            }
            Some(_) => {}
        }
        if let Some(i) = raw.command.iter().position(|a| a.contains('\0')) {
            return Err(self.err(
                &format!("workload.adapter.command[{i}]"),
                "contains a NUL character",
            ));
        }
        if raw.port == 0 {
            return Err(self.err(
                "workload.adapter.port",
                "0 is no port; expected the port inside each endpoint's container that the \
                 adapter talks to (1 to 65535)",
            ));
        }
        let options = match raw.options {
            None => serde_json::Value::Null,
            Some(t) => serde_json::to_value(&t).map_err(|e| {
                self.err(
                    "workload.adapter.options",
                    format!("cannot be given to the adapter as JSON: {e}"),
                )
            })?,
        };
        Ok(Some(AdapterSpec {
            command: raw.command,
            port: raw.port,
            options,
        }))
    }

    /// `workload.isolation`: one of the client's levels (its first when
    /// absent), refused for a client that offers none.
    fn isolation(&self, client: ClientKind, raw: Option<&str>) -> Checked<Option<Isolation>> {
        let levels = client.isolations();
        let Some(text) = raw else {
            return Ok(levels.first().copied());
        };
        if levels.is_empty() {
            return Err(self.err(
                "workload.isolation",
                format!(
                    "the {} client has no isolation level to choose; remove `isolation`",
                    client.name()
                ),
            ));
        }
        let names: Vec<&str> = levels.iter().map(|l| l.name()).collect();
        levels
            .iter()
            .copied()
            .find(|l| l.name() == text)
            .map(Some)
            .ok_or_else(|| {
                self.err(
                    "workload.isolation",
                    format!(
                        "`{text}` is not an isolation level of {}; expected one of: {}{}",
                        client.name(),
                        names.join(", "),
                        did_you_mean(text, &names)
                    ),
                )
            })
    }

    /// `workload.read_endpoints`: nodes of a component, for a client and
    /// workload that can read elsewhere than they write, at an isolation
    /// level those nodes run.
    fn read_endpoints(
        &self,
        client: ClientKind,
        workload: &str,
        isolation: Option<Isolation>,
        raw: Vec<String>,
        nodes: &BTreeSet<&String>,
        isolation_given: bool,
    ) -> Checked<Vec<String>> {
        if raw.is_empty() {
            return Ok(raw);
        }
        let serve = client.read_endpoints_serve();
        if !serve.contains(&workload) {
            let why = if serve.is_empty() {
                format!("the {} client reads where it writes", client.name())
            } else {
                format!(
                    "the {} client sends reads to other nodes only in a {} workload",
                    client.name(),
                    serve.join(" or ")
                )
            };
            return Err(self.err(
                "workload.read_endpoints",
                format!("{why}; remove `read_endpoints`"),
            ));
        }
        for (i, e) in raw.iter().enumerate() {
            if !nodes.contains(e) {
                return Err(self.err(
                    &format!("workload.read_endpoints[{i}]"),
                    format!("`{e}` is not a node of any component in cluster.components"),
                ));
            }
        }
        if let Some(level) = isolation
            && client.refused_on_read_endpoints().contains(&level)
        {
            let field = if isolation_given {
                "workload.isolation"
            } else {
                "workload.read_endpoints"
            };
            let others: Vec<&str> = client
                .isolations()
                .iter()
                .filter(|l| !client.refused_on_read_endpoints().contains(l))
                .map(|l| l.name())
                .collect();
            return Err(self.err(
                field,
                format!(
                    "the {} client cannot run `{}` on the nodes it reads from{}; set `isolation` to one of: {}",
                    client.name(),
                    level.name(),
                    if isolation_given { "" } else { " (the default level)" },
                    others.join(", ")
                ),
            ));
        }
        Ok(raw)
    }

    fn range(&self, field: &str, raw: &RawDurationRange) -> Checked<DurationRange> {
        let (min, max) = match raw {
            RawDurationRange::Fixed(d) => {
                let d = self.positive_duration(field, d)?;
                (d, d)
            }
            RawDurationRange::Range(v) => {
                if v.len() != 2 {
                    return Err(self.err(
                        field,
                        format!(
                            "{} values; expected one duration or two, `[min, max]`",
                            v.len()
                        ),
                    ));
                }
                (
                    self.positive_duration(&format!("{field}[0]"), &v[0])?,
                    self.positive_duration(&format!("{field}[1]"), &v[1])?,
                )
            }
        };
        if min > max {
            return Err(self.err(
                field,
                format!(
                    "min {} is greater than max {}; expected `[min, max]` with min <= max",
                    duration::format(min),
                    duration::format(max)
                ),
            ));
        }
        Ok(DurationRange { min, max })
    }

    /// `ops = [...]` of an io fault: names chaos-fs knows, or the default.
    fn io_ops(
        &self,
        field: &str,
        ops: Option<&[String]>,
        default: &[&str],
    ) -> Checked<Vec<String>> {
        let Some(ops) = ops else {
            return Ok(default.iter().map(|s| s.to_string()).collect());
        };
        if ops.is_empty() {
            return Err(self.err(
                field,
                format!("empty; expected some of: {}", IO_OPS.join(", ")),
            ));
        }
        for (i, op) in ops.iter().enumerate() {
            if !IO_OPS.contains(&op.as_str()) {
                return Err(self.err(
                    &format!("{field}[{i}]"),
                    format!(
                        "unknown operation `{op}`; expected some of: {}{}",
                        IO_OPS.join(", "),
                        did_you_mean(op, IO_OPS)
                    ),
                ));
            }
        }
        Ok(ops.to_vec())
    }

    /// `path = "..."` of an io fault: a glob relative to the data
    /// directory, no `..`.
    fn io_path(&self, field: &str, path: Option<&str>) -> Checked<Option<String>> {
        match path {
            None => Ok(None),
            Some(p) if p.is_empty() || p.split('/').any(|c| c == "..") => Err(self.err(
                field,
                format!("`{p}` is not a glob under the data directory; expected e.g. `wal/*`"),
            )),
            Some(p) => Ok(Some(p.to_string())),
        }
    }

    /// The shape of a clock fault: `clock = "offset"` (the default) with
    /// `offset`, `"rate"` with `factor`, `"strobe"` with `offset` and
    /// `period`; a field of another shape is refused.
    fn clock_shape(&self, i: usize, raw: &RawNemesis) -> Checked<super::ClockShape> {
        use super::ClockShape;
        let at = |f: &str| format!("nemesis[{i}].{f}");
        let shape = raw.clock.as_deref().unwrap_or("offset");
        if !ClockShape::NAMES.contains(&shape) {
            return Err(self.err(
                &at("clock"),
                format!(
                    "unknown clock shape `{shape}`; expected one of: {}{}",
                    ClockShape::NAMES.join(", "),
                    did_you_mean(shape, &ClockShape::NAMES)
                ),
            ));
        }
        let refuse = |field: &str, present: bool, shapes: &str| -> Checked<()> {
            if present {
                return Err(self.err(
                    &at(field),
                    format!("`{field}` applies to `clock = {shapes}` only, not `\"{shape}\"`"),
                ));
            }
            Ok(())
        };
        let offset = |required: bool| -> Checked<i64> {
            match raw.offset.as_deref() {
                Some(t) => super::parse_offset(t).map_err(|m| self.err(&at("offset"), m)),
                None if required => Err(self.err(
                    &at("fault"),
                    format!(
                        "a `{shape}` clock fault needs `offset`, a signed duration such as \
                         `offset = \"+30s\"` or `\"-5m\"`"
                    ),
                )),
                None => Ok(0),
            }
        };
        Ok(match shape {
            "offset" => {
                refuse("factor", raw.factor.is_some(), "\"rate\"")?;
                refuse("period", raw.period.is_some(), "\"strobe\"")?;
                ClockShape::Offset {
                    offset_ms: offset(true)?,
                }
            }
            "rate" => {
                refuse("offset", raw.offset.is_some(), "\"offset\" or \"strobe\"")?;
                refuse("period", raw.period.is_some(), "\"strobe\"")?;
                let Some(factor) = raw.factor else {
                    return Err(self.err(
                        &at("fault"),
                        "a `rate` clock fault needs `factor`: how many times as fast as the real \
                         clock, e.g. `factor = 2.0` (or `0.5`, half as fast)",
                    ));
                };
                if !(factor > 0.0 && factor <= 100.0 && factor != 1.0) {
                    return Err(self.err(
                        &at("factor"),
                        format!("{factor} is out of range; expected above 0, at most 100, not 1"),
                    ));
                }
                ClockShape::Rate { factor }
            }
            _ => {
                refuse("factor", raw.factor.is_some(), "\"rate\"")?;
                let period = match raw.period.as_deref() {
                    Some(p) => self.positive_duration(&at("period"), p)?,
                    None => {
                        return Err(self.err(
                            &at("fault"),
                            "a `strobe` clock fault needs `period`, how long each half lasts, \
                             e.g. `period = \"1s\"`",
                        ));
                    }
                };
                if period < Duration::from_millis(100) {
                    return Err(self.err(
                        &at("period"),
                        "shorter than 100ms; chaos moves the clock every 50ms",
                    ));
                }
                ClockShape::Strobe {
                    offset_ms: offset(true)?,
                    period_ms: period.as_millis() as u64,
                }
            }
        })
    }

    /// A partition kind by name, with a "did you mean".
    fn partition_kind(&self, field: &str, text: &str) -> Checked<PartitionKind> {
        let names: Vec<_> = PartitionKind::ALL.iter().map(|k| k.name()).collect();
        PartitionKind::ALL
            .into_iter()
            .find(|k| k.name() == text)
            .ok_or_else(|| {
                self.err(
                    field,
                    format!(
                        "unknown partition `{text}`; expected one of: {}{}",
                        names.join(", "),
                        did_you_mean(text, &names)
                    ),
                )
            })
    }

    fn nemesis(
        &self,
        i: usize,
        raw: RawNemesis,
        cluster: &Cluster,
        run: Duration,
    ) -> Checked<Nemesis> {
        let at = |f: &str| format!("nemesis[{i}].{f}");
        let kinds = "kill, stop, pause, disconnect, partition, netem, restart, power-loss, \
                     disk-full, io-error, io-delay, loss, bandwidth, cpu, memory, clock";
        // Parameters that belong to other kinds are refused, not ignored.
        let only_for = |field: &str, present: bool, kind: &str| -> Checked<()> {
            if present && raw.fault != kind {
                return Err(self.err(
                    &at(field),
                    format!(
                        "`{field}` applies to `fault = \"{kind}\"` only, not `{}`",
                        raw.fault
                    ),
                ));
            }
            Ok(())
        };

        only_for("network", raw.network.is_some(), "disconnect")?;
        let io = |field: &str, present: bool, kinds: &[&str]| -> Checked<()> {
            if present && !kinds.contains(&raw.fault.as_str()) {
                return Err(self.err(
                    &at(field),
                    format!(
                        "`{field}` applies to `fault = \"{}\"` only, not `{}`",
                        kinds.join("\" or \""),
                        raw.fault
                    ),
                ));
            }
            Ok(())
        };
        io("delay", raw.delay.is_some(), &["netem", "io-delay"])?;
        io("jitter", raw.jitter.is_some(), &["netem", "io-delay"])?;
        io("torn", raw.torn.is_some(), &["power-loss"])?;
        io("after_bytes", raw.after_bytes.is_some(), &["disk-full"])?;
        io("share", raw.share.is_some(), &["io-error"])?;
        io("ops", raw.ops.is_some(), &["io-error", "io-delay"])?;
        io("path", raw.path.is_some(), &["io-error", "io-delay"])?;
        io("partition", raw.partition.is_some(), &["partition", "loss"])?;
        io("loss", raw.loss.is_some(), &["netem", "loss"])?;
        only_for("duplicate", raw.duplicate.is_some(), "netem")?;
        only_for("corrupt", raw.corrupt.is_some(), "netem")?;
        only_for("reorder", raw.reorder.is_some(), "netem")?;
        only_for("rate", raw.rate.is_some(), "bandwidth")?;
        only_for("cpus", raw.cpus.is_some(), "cpu")?;
        only_for("memory", raw.memory.is_some(), "memory")?;
        only_for("clock", raw.clock.is_some(), "clock")?;
        only_for("offset", raw.offset.is_some(), "clock")?;
        only_for("factor", raw.factor.is_some(), "clock")?;
        only_for("period", raw.period.is_some(), "clock")?;
        if raw.grace.is_some() && raw.fault != "stop" && raw.fault != "restart" {
            return Err(self.err(
                &at("grace"),
                format!(
                    "`grace` applies to `stop` and `restart` only, not `{}`",
                    raw.fault
                ),
            ));
        }
        let grace = match &raw.grace {
            Some(g) => self.duration(&at("grace"), g)?,
            None => Duration::from_secs(10),
        };
        let fault = match raw.fault.as_str() {
            "kill" => Fault::Kill,
            "stop" => Fault::Stop { grace },
            "pause" => Fault::Pause,
            "restart" => Fault::Restart { grace },
            "disconnect" => Fault::Disconnect {
                network: raw.network.clone(),
            },
            "partition" => {
                let names: Vec<_> = PartitionKind::ALL.iter().map(|k| k.name()).collect();
                let Some(text) = raw.partition.as_deref() else {
                    return Err(self.err(
                        &at("fault"),
                        format!(
                            "a partition needs `partition = ...`, one of: {}",
                            names.join(", ")
                        ),
                    ));
                };
                Fault::Partition {
                    partition: self.partition_kind(&at("partition"), text)?,
                }
            }
            "loss" => {
                let Some(loss) = raw.loss else {
                    return Err(self.err(
                        &at("fault"),
                        "loss needs `loss`: the percent of packets dropped, e.g. `loss = 20`",
                    ));
                };
                if !(loss > 0.0 && loss <= 100.0) {
                    return Err(self.err(
                        &at("loss"),
                        format!(
                            "{loss} is out of range; expected a percentage above 0, at most 100"
                        ),
                    ));
                }
                let partition = match raw.partition.as_deref() {
                    Some(text) => Some(self.partition_kind(&at("partition"), text)?),
                    None => None,
                };
                Fault::Loss { loss, partition }
            }
            "bandwidth" => {
                let Some(text) = raw.rate.as_deref() else {
                    return Err(self.err(
                        &at("fault"),
                        "bandwidth needs `rate`: what a target may send, e.g. `rate = \"1mbit\"`",
                    ));
                };
                let rate = super::parse_rate(text).map_err(|m| self.err(&at("rate"), m))?;
                Fault::Bandwidth { rate }
            }
            "cpu" => {
                let Some(cpus) = raw.cpus else {
                    return Err(self.err(
                        &at("fault"),
                        "cpu needs `cpus`: the fraction of a core left to the target, e.g. `cpus = 0.2`",
                    ));
                };
                // The engine's CPU quota is at least 1 ms per 100 ms period.
                if !(0.01..=64.0).contains(&cpus) {
                    return Err(self.err(
                        &at("cpus"),
                        format!("{cpus} is out of range; expected from 0.01 to 64 (cores)"),
                    ));
                }
                Fault::Cpu { cpus }
            }
            "memory" => {
                let Some(text) = raw.memory.as_deref() else {
                    return Err(self.err(
                        &at("fault"),
                        "memory needs `memory`: the limit, e.g. `memory = \"128MiB\"`",
                    ));
                };
                let bytes = super::parse_bytes(text).map_err(|m| self.err(&at("memory"), m))?;
                // The engine refuses limits under 6 MiB.
                if bytes < 6 << 20 {
                    return Err(self.err(
                        &at("memory"),
                        format!("`{text}` is below the engine's minimum; expected at least 6MiB"),
                    ));
                }
                Fault::Memory { bytes }
            }
            "clock" => Fault::Clock {
                clock: self.clock_shape(i, &raw)?,
            },
            "netem" => {
                let delay = match &raw.delay {
                    Some(d) => self.duration(&at("delay"), d)?,
                    None => Duration::ZERO,
                };
                let jitter = match &raw.jitter {
                    Some(d) => self.duration(&at("jitter"), d)?,
                    None => Duration::ZERO,
                };
                // netem's shares: percentages, 0 (the default) to 100.
                let share = |field: &str, value: Option<f64>| -> Checked<f64> {
                    let v = value.unwrap_or(0.0);
                    if !(0.0..=100.0).contains(&v) {
                        return Err(self.err(
                            &at(field),
                            format!("{v} is out of range; expected a percentage from 0 to 100"),
                        ));
                    }
                    Ok(v)
                };
                let loss = share("loss", raw.loss)?;
                let duplicate = share("duplicate", raw.duplicate)?;
                let corrupt = share("corrupt", raw.corrupt)?;
                let reorder = share("reorder", raw.reorder)?;
                if reorder > 0.0 && delay.is_zero() {
                    return Err(self.err(
                        &at("reorder"),
                        "`reorder` needs a `delay` above 0s: netem reorders by sending \
                         that share of packets at once while the rest wait for the delay",
                    ));
                }
                if delay.is_zero() && loss == 0.0 && duplicate == 0.0 && corrupt == 0.0 {
                    return Err(self.err(
                        &at("fault"),
                        "netem with none of `delay`, `loss`, `duplicate`, `corrupt` would do nothing",
                    ));
                }
                Fault::Netem {
                    delay,
                    jitter,
                    loss,
                    duplicate,
                    corrupt,
                    reorder,
                }
            }
            "power-loss" => Fault::PowerLoss {
                torn: raw.torn.unwrap_or(false),
            },
            "disk-full" => Fault::DiskFull {
                after_bytes: raw.after_bytes,
            },
            "io-error" => {
                let share = raw.share.ok_or_else(|| {
                    self.err(
                        &at("fault"),
                        "io-error needs `share`: the percent of the chosen operations that fail, e.g. `share = 20`",
                    )
                })?;
                if !(share > 0.0 && share <= 100.0) {
                    return Err(self.err(
                        &at("share"),
                        format!(
                            "{share} is out of range; expected a percentage above 0, at most 100"
                        ),
                    ));
                }
                Fault::IoError {
                    share,
                    ops: self.io_ops(&at("ops"), raw.ops.as_deref(), &["write", "fsync"])?,
                    path: self.io_path(&at("path"), raw.path.as_deref())?,
                }
            }
            "io-delay" => {
                let delay = match &raw.delay {
                    Some(d) => self.positive_duration(&at("delay"), d)?,
                    None => {
                        return Err(self.err(
                            &at("fault"),
                            "io-delay needs `delay`, e.g. `delay = \"200ms\"`",
                        ));
                    }
                };
                let jitter = match &raw.jitter {
                    Some(d) => self.duration(&at("jitter"), d)?,
                    None => Duration::ZERO,
                };
                Fault::IoDelay {
                    delay,
                    jitter,
                    ops: self.io_ops(&at("ops"), raw.ops.as_deref(), &["fsync"])?,
                    path: self.io_path(&at("path"), raw.path.as_deref())?,
                }
            }
            other => {
                let names: Vec<&str> = kinds.split(", ").map(str::trim).collect();
                return Err(self.err(
                    &at("fault"),
                    format!(
                        "unknown fault `{other}`; expected one of: {kinds}{}",
                        did_you_mean(other, &names)
                    ),
                ));
            }
        };
        if (fault.needs_chaos_fs() || fault.needs_faketime()) && !cluster.up {
            return Err(self.err(
                &at("fault"),
                format!(
                    "`{}` needs its targets started with chaos's compose override (chaos-fs or \
                     libfaketime in the container), so chaos must bring the cluster up: \
                     set `cluster.up = true`",
                    fault.name()
                ),
            ));
        }
        if fault.needs_faketime() && !cluster.orchestrator.is_compose() {
            return Err(self.err(
                &at("fault"),
                "`clock` preloads libfaketime through chaos's compose override, which a Swarm \
                 stack does not take; run it on a compose cluster",
            ));
        }
        if fault.needs_chaos_fs() && !cluster.orchestrator.is_compose() {
            return Err(self.err(
                &at("fault"),
                format!(
                    "`{}` runs the target's data through chaos-fs, which needs the FUSE device, \
                     and a Swarm service cannot take a device; run it on a compose cluster",
                    fault.name()
                ),
            ));
        }
        let timing = match (&raw.faults, &raw.targets, &raw.schedule) {
            (Some(faults), None, None) => {
                Timing::Explicit(self.explicit(i, &fault, faults, cluster, run)?)
            }
            (Some(_), _, _) => {
                return Err(self.err(
                    &at("faults"),
                    "give either `faults = [...]` (exact faults) or `targets` and `schedule` \
                     (faults drawn by the seed), not both",
                ));
            }
            (None, Some(targets), Some(schedule)) => {
                let targets = self.targets(i, targets, cluster)?;
                self.check_fault_targets(i, &fault, &targets, cluster)?;
                let schedule = self.schedule(i, schedule, run)?;
                Timing::Scheduled { targets, schedule }
            }
            (None, None, _) => {
                return Err(self.err(
                    &format!("nemesis[{i}]"),
                    "no `targets`; expected `targets` and `schedule`, or `faults = [...]`",
                ));
            }
            (None, Some(_), None) => {
                return Err(self.err(
                    &format!("nemesis[{i}]"),
                    "no `schedule`; expected `schedule = { start, interval, duration }`, or \
                     `faults = [...]` instead of `targets`",
                ));
            }
        };
        Ok(Nemesis { fault, timing })
    }

    /// `faults = [{ at, duration, services | role + component | drops }]`.
    fn explicit(
        &self,
        i: usize,
        fault: &Fault,
        raw: &[RawExplicitFault],
        cluster: &Cluster,
        run: Duration,
    ) -> Checked<Vec<ExplicitFault>> {
        if raw.is_empty() {
            return Err(self.err(
                &format!("nemesis[{i}].faults"),
                "empty; expected at least one `{ at, duration, services }`",
            ));
        }
        let mut out = Vec::new();
        for (j, f) in raw.iter().enumerate() {
            let at = |x: &str| format!("nemesis[{i}].faults[{j}].{x}");
            let start = self.duration(&at("at"), &f.at)?;
            let length = self.positive_duration(&at("duration"), &f.duration)?;
            if start + length > run {
                return Err(self.err(
                    &at("duration"),
                    format!(
                        "the fault ends at {}, after the run's end at {}; expected it to end inside the run",
                        duration::format(start + length),
                        duration::format(run)
                    ),
                ));
            }
            let forms = [f.services.is_some(), f.role.is_some(), f.drops.is_some()];
            if forms.iter().filter(|x| **x).count() != 1 {
                return Err(self.err(
                    &format!("nemesis[{i}].faults[{j}]"),
                    "expected exactly one of `services = [...]`, `role = \"leader\"` with \
                     `component`, or `drops = { NODE = [FROM, ...] }` (a partition's cut)",
                ));
            }
            if f.component.is_some() && f.role.is_none() {
                return Err(self.err(&at("component"), "`component` goes with `role`"));
            }
            let partition = fault.cut();
            let targets = if let Some(set) = &f.services {
                if set.is_empty() {
                    return Err(self.err(&at("services"), "empty; expected at least one service"));
                }
                if let Some(p) = partition {
                    if p.splits_a_set() {
                        return Err(self.err(
                            &at("services"),
                            format!(
                                "an exact {} partition is written as its cut: `drops = {{ NODE = [FROM, ...] }}`",
                                p.name()
                            ),
                        ));
                    }
                    if set.len() != 1 {
                        return Err(self.err(
                            &at("services"),
                            format!(
                                "a {} partition acts on one node; expected `services = [one]`",
                                p.name()
                            ),
                        ));
                    }
                    let peers = cluster
                        .components
                        .values()
                        .find(|nodes| nodes.contains(&set[0]));
                    if peers.is_none_or(|p| p.len() < 2) {
                        return Err(self.err(
                            &at("services"),
                            format!("`{}` has no peers in a component to be cut from", set[0]),
                        ));
                    }
                }
                ExplicitTargets::Services(set.clone())
            } else if let Some(role) = &f.role {
                if !ROLES.contains(&role.as_str()) {
                    return Err(self.err(
                        &at("role"),
                        format!(
                            "unknown role `{role}`; expected one of: {}",
                            ROLES.join(", ")
                        ),
                    ));
                }
                let Some(component) = &f.component else {
                    return Err(self.err(
                        &format!("nemesis[{i}].faults[{j}]"),
                        "a role needs `component`, whose role it is",
                    ));
                };
                if !cluster.components.contains_key(component) {
                    return Err(
                        self.err(&at("component"), format!("unknown component `{component}`"))
                    );
                }
                ExplicitTargets::Role {
                    role: role.clone(),
                    component: component.clone(),
                }
            } else {
                let drops = f.drops.clone().unwrap_or_default();
                if partition.is_none() {
                    return Err(self.err(
                        &at("drops"),
                        format!(
                            "`drops` is a partition's cut; a {} fault takes `services` or a role",
                            fault.name()
                        ),
                    ));
                }
                if drops.values().all(Vec::is_empty) {
                    return Err(self.err(&at("drops"), "an empty cut drops nothing"));
                }
                ExplicitTargets::Drops(drops)
            };
            out.push(ExplicitFault {
                at: start,
                duration: length,
                targets,
            });
        }
        Ok(out)
    }

    fn targets(&self, i: usize, raw: &RawTargets, cluster: &Cluster) -> Checked<TargetSelector> {
        let field = format!("nemesis[{i}].targets");
        let forms = [
            raw.services.is_some(),
            raw.one_of.is_some(),
            raw.some_of.is_some(),
            raw.role.is_some(),
        ];
        let n = forms.iter().filter(|x| **x).count();
        let expected = "expected exactly one of `services = [...]`, `one_of = [...]`, \
                        `some_of = [...]` with `count`, `role = \"leader\"` with `component`, \
                        or `component` alone";
        if n > 1 {
            return Err(self.err(&field, format!("several selectors given; {expected}")));
        }
        if raw.count.is_some() && raw.some_of.is_none() {
            return Err(self.err(
                &format!("{field}.count"),
                "`count` goes with `some_of` only",
            ));
        }
        let component = |c: &str| -> Checked<String> {
            if cluster.components.contains_key(c) {
                Ok(c.to_string())
            } else {
                let known: Vec<_> = cluster.components.keys().cloned().collect();
                Err(self.err(
                    &format!("{field}.component"),
                    format!(
                        "unknown component `{c}`; cluster.components defines: {}",
                        known.join(", ")
                    ),
                ))
            }
        };
        let non_empty = |name: &str, set: &Vec<String>| -> Checked<()> {
            if set.is_empty() {
                return Err(self.err(
                    &format!("{field}.{name}"),
                    "empty target set; expected at least one service",
                ));
            }
            let mut seen = BTreeSet::new();
            for (j, s) in set.iter().enumerate() {
                if !seen.insert(s) {
                    return Err(self.err(
                        &format!("{field}.{name}[{j}]"),
                        format!("`{s}` is listed twice"),
                    ));
                }
            }
            Ok(())
        };
        if raw.component.is_some() && raw.role.is_none() && n > 0 {
            return Err(self.err(
                &format!("{field}.component"),
                "`component` goes with `role`, or stands alone",
            ));
        }
        if let Some(set) = &raw.services {
            non_empty("services", set)?;
            return Ok(TargetSelector::Services(set.clone()));
        }
        if let Some(set) = &raw.one_of {
            non_empty("one_of", set)?;
            return Ok(TargetSelector::OneOf(set.clone()));
        }
        if let Some(set) = &raw.some_of {
            non_empty("some_of", set)?;
            let Some(count) = raw.count else {
                return Err(self.err(&field, "`some_of` needs `count`, how many to choose"));
            };
            if count == 0 || count > set.len() as u64 {
                return Err(self.err(
                    &format!("{field}.count"),
                    format!(
                        "{count} is out of range; expected 1 to {} (the size of the set)",
                        set.len()
                    ),
                ));
            }
            return Ok(TargetSelector::SomeOf {
                set: set.clone(),
                count,
            });
        }
        if let Some(role) = &raw.role {
            if !ROLES.contains(&role.as_str()) {
                return Err(self.err(
                    &format!("{field}.role"),
                    format!(
                        "unknown role `{role}`; expected one of: {}",
                        ROLES.join(", ")
                    ),
                ));
            }
            let Some(c) = &raw.component else {
                return Err(self.err(&field, "a role needs `component`, whose role it is"));
            };
            return Ok(TargetSelector::Role {
                role: role.clone(),
                component: component(c)?,
            });
        }
        if let Some(c) = &raw.component {
            return Ok(TargetSelector::Component(component(c)?));
        }
        Err(self.err(&field, format!("no target; {expected}")))
    }

    /// Faults whose shape constrains their targets.
    fn check_fault_targets(
        &self,
        i: usize,
        fault: &Fault,
        targets: &TargetSelector,
        cluster: &Cluster,
    ) -> Checked<()> {
        let field = format!("nemesis[{i}].targets");
        let Some(partition) = fault.cut() else {
            return Ok(());
        };
        let component_of = |s: &str| {
            cluster
                .components
                .iter()
                .find(|(_, nodes)| nodes.iter().any(|n| n == s))
                .map(|(c, nodes)| (c.clone(), nodes.len()))
        };
        if partition.splits_a_set() {
            let set_len = match targets {
                TargetSelector::Component(c) => cluster.components[c].len(),
                TargetSelector::Services(s) => s.len(),
                _ => {
                    return Err(self.err(
                        &field,
                        format!(
                            "a {} partition splits a set of nodes; expected `component = ...` or `services = [...]`",
                            partition.name()
                        ),
                    ));
                }
            };
            if set_len < 3 {
                return Err(self.err(
                    &field,
                    format!(
                        "a {} partition needs at least 3 nodes, got {set_len}",
                        partition.name()
                    ),
                ));
            }
            return Ok(());
        }
        // isolate-one and one-way act on one node, cut from the rest of its
        // component.
        let one = match targets {
            TargetSelector::Services(s) if s.len() == 1 => Some(s.clone()),
            TargetSelector::OneOf(s) => Some(s.clone()),
            TargetSelector::Role { .. } => None,
            _ => {
                return Err(self.err(
                    &field,
                    format!(
                        "a {} partition acts on one node; expected `services = [one]`, `one_of = [...]` or a role",
                        partition.name()
                    ),
                ));
            }
        };
        for s in one.iter().flatten() {
            match component_of(s) {
                None => {
                    return Err(self.err(
                        &field,
                        format!("`{s}` is not a node of any component, so it has no peers to be cut from"),
                    ));
                }
                Some((c, n)) if n < 2 => {
                    return Err(self.err(
                        &field,
                        format!("`{s}` is the only node of component `{c}`; there is nothing to cut it from"),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn schedule(&self, i: usize, raw: &raw::RawSchedule, run: Duration) -> Checked<Schedule> {
        let at = |f: &str| format!("nemesis[{i}].schedule.{f}");
        let start = match &raw.start {
            Some(s) => self.duration(&at("start"), s)?,
            None => Duration::ZERO,
        };
        if start >= run {
            return Err(self.err(
                &at("start"),
                format!(
                    "starts at {}, but the run lasts {}; expected a start inside the run",
                    duration::format(start),
                    duration::format(run)
                ),
            ));
        }
        let count = match raw.count {
            Some(c) => Some(self.bounded(&at("count"), c, 1, limits::MAX_FAULT_COUNT)?),
            None => None,
        };
        Ok(Schedule {
            start,
            interval: self.range(&at("interval"), &raw.interval)?,
            duration: self.range(&at("duration"), &raw.duration)?,
            count,
        })
    }
}
