//! Reading an experiment from disk: the experiment file, then the compose
//! file it names, whose services the experiment is checked against.
//!
//! Shell: this is where [`crate::experiment`]'s pure parser meets the file
//! system. Every failure here is the user's input (exit 2) and names the file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::experiment::{self, Experiment, ExperimentError};

/// An experiment read from disk and checked against its compose file.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The experiment file as the user named it.
    pub path: PathBuf,
    /// Its text, kept to store with the run exactly as it was.
    pub text: String,
    pub experiment: Experiment,
    /// The compose file, resolved relative to the experiment file.
    pub compose_file: PathBuf,
    pub compose_services: BTreeSet<String>,
}

/// Why an experiment could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}: no such file")]
    Missing(String),
    #[error("{0}: is a directory; expected an experiment file (TOML)")]
    Directory(String),
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    #[error("{path}: compose file: {message}")]
    Compose { path: String, message: String },
}

/// Read a text file, with errors that say which file and why.
pub fn read_text(path: &Path) -> Result<String, LoadError> {
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(LoadError::Directory(shown));
    }
    std::fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => LoadError::Missing(shown),
        _ => LoadError::Unreadable {
            path: shown,
            source,
        },
    })
}

/// Load and check an experiment file and its compose file.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let text = read_text(path)?;
    let parsed = experiment::parse(&text, &path.display().to_string())?;
    let base = path.parent().unwrap_or(Path::new("."));
    let compose_file = base.join(&parsed.experiment.cluster.compose_file);
    let compose_text = read_text(&compose_file).map_err(|e| {
        match e {
        LoadError::Missing(_) | LoadError::Directory(_) => parsed.error_at(
            "cluster.compose_file",
            format!(
                "`{}` (resolved to {}) is not a file; the path is relative to the experiment file",
                parsed.experiment.cluster.compose_file,
                absolute(&compose_file).display()
            ),
        ).into(),
        other => other,
    }
    })?;
    let compose_services =
        compose_services(&compose_text).map_err(|message| LoadError::Compose {
            path: compose_file.display().to_string(),
            message,
        })?;
    parsed.check_services(&compose_services)?;
    parsed.check_networks(&compose_networks(&compose_text))?;
    Ok(Loaded {
        path: path.to_path_buf(),
        text,
        experiment: parsed.experiment,
        compose_file,
        compose_services,
    })
}

/// The service names a compose file defines.
pub fn compose_services(text: &str) -> Result<BTreeSet<String>, String> {
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
            Some(l) => format!("line {} column {}: invalid YAML: {e}", l.line(), l.column()),
            None => format!("invalid YAML: {e}"),
        })?;
    let services = doc
        .get("services")
        .and_then(|s| s.as_mapping())
        .ok_or("no `services:` mapping")?;
    let names: BTreeSet<String> = services
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    if names.is_empty() {
        return Err("`services:` is empty".to_string());
    }
    Ok(names)
}

/// The networks each service of a compose file joins, as the file names
/// them (`networks:` as a list or a mapping; none: `default`). A file that
/// does not parse gives nothing ([`compose_services`] has said why).
pub fn compose_networks(text: &str) -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) else {
        return out;
    };
    let Some(services) = doc.get("services").and_then(|s| s.as_mapping()) else {
        return out;
    };
    for (name, service) in services {
        let Some(name) = name.as_str() else { continue };
        let nets: BTreeSet<String> = match service.get("networks") {
            Some(serde_yaml_ng::Value::Sequence(v)) => v
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect(),
            Some(serde_yaml_ng::Value::Mapping(m)) => m
                .keys()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect(),
            _ => BTreeSet::from(["default".to_string()]),
        };
        // `network_mode: host` or `container:...`: on no compose network.
        if service.get("network_mode").is_some() {
            out.insert(name.to_string(), BTreeSet::new());
        } else {
            out.insert(name.to_string(), nets);
        }
    }
    out
}

/// A path as a person wants to read it: `a/b/../c` as `a/c`, and relative
/// to the working directory when it is below it.
/// `path` made absolute against the working directory, `.` and `..`
/// taken out (as written: links are not followed), for messages that must
/// say exactly where a file was looked for.
pub fn absolute(path: &Path) -> PathBuf {
    use std::path::Component;
    let full = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in full.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

pub fn tidy_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    std::env::current_dir()
        .ok()
        .and_then(|cwd| out.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_networks_of_each_service() {
        let text = "services:\n  a:\n    image: x\n  b:\n    networks: [front, back]\n  c:\n    networks:\n      back:\n        aliases: [cc]\n";
        let n = compose_networks(text);
        assert_eq!(n["a"], BTreeSet::from(["default".to_string()]));
        assert_eq!(
            n["b"],
            BTreeSet::from(["back".to_string(), "front".to_string()])
        );
        assert_eq!(n["c"], BTreeSet::from(["back".to_string()]));
    }

    #[test]
    fn a_missing_compose_file_is_named_by_its_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("e.toml"),
            "name = \"e\"\nduration = \"10s\"\n[cluster]\ncompose_file = \"../nowhere/c.yml\"\nproject = \"p\"\n\
             components = { db = [\"n1\"] }\n[workload]\nclient = \"etcd\"\nendpoints = [\"n1\"]\n",
        )
        .unwrap();
        // The experiment named by a path relative to the working directory.
        let cwd = std::env::current_dir().unwrap();
        let up: PathBuf = cwd.components().skip(1).map(|_| "..").collect();
        let relative = up
            .join(dir.path().strip_prefix("/").unwrap())
            .join("e.toml");
        assert!(relative.is_relative());
        let err = load(&relative).unwrap_err().to_string();
        let want = dir.path().parent().unwrap().join("nowhere/c.yml");
        assert!(
            err.contains(&format!("(resolved to {})", want.display())),
            "{err}"
        );
    }

    #[test]
    fn yaml_is_read_by_a_maintained_crate() {
        // serde_yaml 0.9 is archived upstream; serde_yml has an unsoundness
        // advisory. The lock file holds neither, and the fork we use.
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
        assert!(!lock.contains("name = \"serde_yaml\"\n"));
        assert!(!lock.contains("name = \"serde_yml\"\n"));
        assert!(lock.contains("name = \"serde_yaml_ng\"\n"));
        // And it reads what compose files hold: anchors, merges, flow maps.
        let text = "x-base: &base\n  image: i\nservices:\n  a:\n    <<: *base\n  b: {image: j}\n";
        let names = compose_services(text).unwrap();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn reads_service_names() {
        let text = "version: '2.4'\nservices:\n  a:\n    image: x\n  b:\n    image: y\n";
        let names = compose_services(text).unwrap();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["a", "b"]);
        assert!(compose_services("services: {}\n").is_err());
        assert!(compose_services("x: [\n").unwrap_err().contains("line"));
    }
}
