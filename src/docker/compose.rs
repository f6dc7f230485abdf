//! The compose CLI and the compose file: which CLI to call (`docker compose`
//! v2 where it works, else `docker-compose` v1), how to call it, and what a
//! compose file says about services and their networks.
//!
//! The file parsing and argument building are pure and unit-tested; running
//! the CLI is the one effect here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::DockerError;

/// Which compose command line is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComposeCli {
    /// `docker compose` (the v2 plugin).
    V2,
    /// `docker-compose` (the v1 Python tool).
    V1,
}

impl ComposeCli {
    /// The program and the arguments that come before compose's own.
    pub fn program(self) -> (&'static str, &'static [&'static str]) {
        match self {
            ComposeCli::V2 => ("docker", &["compose"]),
            ComposeCli::V1 => ("docker-compose", &[]),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ComposeCli::V2 => "docker compose",
            ComposeCli::V1 => "docker-compose",
        }
    }

    /// The full argument list for `compose -p PROJECT -f FILE [-f OVERRIDE...]
    /// <args>`.
    pub fn args(
        self,
        project: &str,
        file: &Path,
        overrides: &[PathBuf],
        rest: &[&str],
    ) -> Vec<String> {
        let (_, prefix) = self.program();
        let mut args: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        args.extend([
            "-p".to_string(),
            project.to_string(),
            "-f".to_string(),
            file.display().to_string(),
        ]);
        for o in overrides {
            args.push("-f".to_string());
            args.push(o.display().to_string());
        }
        args.extend(rest.iter().map(|s| s.to_string()));
        args
    }

    /// Find the compose CLI: `CHAOS_COMPOSE=v1|v2` forces one; otherwise
    /// `docker compose version` decides for v2, then `docker-compose version`
    /// for v1.
    pub async fn detect() -> Result<ComposeCli, DockerError> {
        match std::env::var("CHAOS_COMPOSE").as_deref() {
            Ok("v1") => return Ok(ComposeCli::V1),
            Ok("v2") => return Ok(ComposeCli::V2),
            _ => {}
        }
        let mut tried = Vec::new();
        for cli in [ComposeCli::V2, ComposeCli::V1] {
            let (program, prefix) = cli.program();
            let out = tokio::process::Command::new(program)
                .args(prefix)
                .arg("version")
                .stdin(Stdio::null())
                .output()
                .await;
            match out {
                Ok(o) if o.status.success() => return Ok(cli),
                Ok(o) => tried.push(format!("`{} version` exited with {}", cli.name(), o.status)),
                Err(e) => tried.push(format!("`{} version`: {e}", cli.name())),
            }
        }
        Err(DockerError::NoComposeCli(tried.join("; ")))
    }

    /// Run `compose -p PROJECT -f FILE <rest>` with extra environment
    /// variables (compose files read them, e.g. port overrides); on failure the error carries
    /// the end of its stderr.
    pub async fn run(
        self,
        project: &str,
        file: &Path,
        overrides: &[PathBuf],
        rest: &[&str],
        env: &[(String, String)],
    ) -> Result<(), DockerError> {
        let (program, _) = self.program();
        let args = self.args(project, file, overrides, rest);
        let shown = format!("{program} {}", args.join(" "));
        tracing::debug!(command = %shown, "compose");
        let out = tokio::process::Command::new(program)
            .args(&args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| DockerError::Compose {
                command: shown.clone(),
                status: "did not start".to_string(),
                stderr: e.to_string(),
            })?;
        if out.status.success() {
            return Ok(());
        }
        Err(DockerError::Compose {
            command: shown,
            status: out.status.to_string(),
            stderr: tail(&String::from_utf8_lossy(&out.stderr), 20),
        })
    }
}

/// The last `n` lines of a text.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What chaos needs to know from a compose file: its services, the Docker
/// networks each one joins, and the image each one runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeModel {
    pub path: PathBuf,
    /// Service name to the full names of the Docker networks it joins
    /// (`<project>_<network>`, or the network's `name:`/external name).
    pub services: BTreeMap<String, BTreeSet<String>>,
    /// Service name to its `image:`, for the services that name one
    /// literally (none for a `build:`-only service or an image with
    /// `${VARIABLES}`).
    pub images: BTreeMap<String, String>,
}

impl ComposeModel {
    /// Read a compose file for a project.
    pub fn load(path: &Path, project: &str) -> Result<ComposeModel, DockerError> {
        let text = std::fs::read_to_string(path).map_err(|e| DockerError::ComposeFile {
            path: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        ComposeModel::parse(path, &text, project).map_err(|message| DockerError::ComposeFile {
            path: path.display().to_string(),
            message,
        })
    }

    /// The model of a compose file's text. Pure.
    ///
    /// A service without `networks:` joins `default`; one with a
    /// `network_mode` joins none that chaos manages. A network's full name
    /// is `<project>_<key>`, unless the top-level entry gives a `name:` or
    /// is `external` (then its name, or its key).
    pub fn parse(path: &Path, text: &str, project: &str) -> Result<ComposeModel, String> {
        use serde_yaml_ng::Value;
        let mut doc: Value =
            serde_yaml_ng::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
        // `<<: *anchor` merge keys (compose files use them for shared settings).
        doc.apply_merge()
            .map_err(|e| format!("invalid YAML merge key: {e}"))?;
        let services = doc
            .get("services")
            .and_then(Value::as_mapping)
            .ok_or("no `services:` mapping")?;
        let top = doc.get("networks").and_then(Value::as_mapping);
        let full_name = |key: &str| -> String {
            let entry = top.and_then(|t| t.get(key));
            if let Some(name) = entry.and_then(|e| e.get("name")).and_then(Value::as_str) {
                return name.to_string();
            }
            match entry.and_then(|e| e.get("external")) {
                Some(Value::Bool(true)) => key.to_string(),
                Some(ext) if ext.get("name").is_some() => ext
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or(key)
                    .to_string(),
                _ => format!("{project}_{key}"),
            }
        };
        let mut model = ComposeModel {
            path: path.to_path_buf(),
            ..ComposeModel::default()
        };
        for (name, service) in services {
            let Some(name) = name.as_str() else { continue };
            let mut nets = BTreeSet::new();
            if service.get("network_mode").is_none() {
                match service.get("networks") {
                    Some(Value::Sequence(list)) => {
                        for n in list.iter().filter_map(Value::as_str) {
                            nets.insert(full_name(n));
                        }
                    }
                    Some(Value::Mapping(map)) => {
                        for n in map.keys().filter_map(Value::as_str) {
                            nets.insert(full_name(n));
                        }
                    }
                    _ => {
                        nets.insert(full_name("default"));
                    }
                }
            }
            model.services.insert(name.to_string(), nets);
            if let Some(image) = service.get("image").and_then(Value::as_str)
                && !image.contains('$')
            {
                model.images.insert(name.to_string(), image.to_string());
            }
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_args_for_both_clis() {
        let f = Path::new("/x/etcd.yml");
        assert_eq!(
            ComposeCli::V1.args("p", f, &[], &["up", "-d"]),
            ["-p", "p", "-f", "/x/etcd.yml", "up", "-d"]
        );
        assert_eq!(
            ComposeCli::V1.args("p", f, &[PathBuf::from("/r/o.yml")], &["up", "-d"]),
            ["-p", "p", "-f", "/x/etcd.yml", "-f", "/r/o.yml", "up", "-d"]
        );
        assert_eq!(
            ComposeCli::V2.args("p", f, &[], &["down", "-v"]),
            ["compose", "-p", "p", "-f", "/x/etcd.yml", "down", "-v"]
        );
    }

    #[test]
    fn networks_and_images_of_services() {
        let text = r#"
x-shared: &shared
  networks: [cluster]
services:
  a: { image: x }
  b: { image: x, networks: [cluster, ext] }
  c: { image: x, networks: { cluster: { aliases: [cc] }, named: {} } }
  d: { image: x, network_mode: host }
  e:
    <<: *shared
    image: y
networks:
  cluster: {}
  ext: { external: true }
  named: { name: fixed-name }
"#;
        let model = ComposeModel::parse(Path::new("c.yml"), text, "proj").unwrap();
        let nets = &model.services;
        let get = |s: &str| nets[s].iter().cloned().collect::<Vec<_>>();
        assert_eq!(get("a"), ["proj_default"]);
        assert_eq!(get("b"), ["ext", "proj_cluster"]);
        assert_eq!(get("c"), ["fixed-name", "proj_cluster"]);
        assert!(get("d").is_empty());
        assert_eq!(get("e"), ["proj_cluster"]);
        assert_eq!(model.images["e"], "y");
        assert_eq!(model.images.len(), 5);
        assert!(ComposeModel::parse(Path::new("c.yml"), "x: 1", "p").is_err());
        let interpolated = "services:\n  a: { image: \"x:${TAG}\" }\n";
        let model = ComposeModel::parse(Path::new("c.yml"), interpolated, "p").unwrap();
        assert!(model.images.is_empty());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
