//! Local images: the images chaos's compose files run that are built on this
//! machine by `compose/images/build.sh` (no registry needed), not pulled.
//!
//! Shell (files, Docker, a child process). Owns two questions and one
//! action:
//!
//! - Which image is local, and from which recipe? An image `chaos/<name>:...`
//!   comes from the recipe directory `images/<name>/` next to the compose
//!   file that runs it; its `recipe.env` says how long a first build takes
//!   (`FIRST_BUILD`). Other images (`pingcap/tikv:v8.5.1`) are pulled by
//!   compose.
//! - Which of a project's images are missing? [`missing`] asks the engine
//!   for every image a compose file names (and any extra, like the network
//!   helper), before anything starts, so that a first run never waits on
//!   an image it does not need and never starts a long build silently.
//! - [`build`] runs the recipe's build script and hands every line of its
//!   output to a callback: the CLI draws the progress (only the CLI prints).
//!
//! It knows nothing of experiments, faults or runs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::docker::{ComposeCluster, DockerError};

/// A recipe of `compose/images/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// The recipe's name: `surrealdb`, `etcd`, `nethelper`.
    pub name: String,
    /// `.../compose/images/<name>/`.
    pub dir: PathBuf,
    /// `.../compose/images/build.sh`.
    pub build_script: PathBuf,
    /// How long the first build takes, in words (`FIRST_BUILD` in its
    /// recipe.env), if the recipe says.
    pub first_build: Option<String>,
    /// What the image is (`DESCRIPTION` in its recipe.env), if it says.
    pub description: Option<String>,
}

impl Recipe {
    /// The command that builds it, as a person types it.
    pub fn command(&self) -> String {
        format!("{} {}", self.build_script.display(), self.name)
    }
}

/// An image a project needs that the engine does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingImage {
    pub image: String,
    /// The services that run it (empty for chaos's own helper image).
    pub services: Vec<String>,
    /// Its recipe, for a local image; `None` for an image compose pulls.
    pub recipe: Option<Recipe>,
}

impl MissingImage {
    /// Is it built here (as opposed to pulled from a registry)?
    pub fn is_local(&self) -> bool {
        is_local_image(&self.image)
    }
}

impl fmt::Display for MissingImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "image {} is not built yet", self.image)?;
        if self.services.is_empty() {
            write!(f, " (chaos's network helper, for partitions)")?;
        } else {
            write!(f, " (it runs {})", self.services.join(", "))?;
        }
        match &self.recipe {
            Some(r) => {
                if let Some(d) = &r.description {
                    write!(f, ": {d}")?;
                }
                write!(f, ". It is built on this machine")?;
                if let Some(t) = &r.first_build {
                    write!(f, ", {t}")?;
                }
                write!(
                    f,
                    ". Build it with `{}`, or run again with --build-images",
                    r.command()
                )
            }
            None => write!(
                f,
                "; no recipe for it was found next to the compose file (expected images/<name>/recipe.env)"
            ),
        }
    }
}

/// Why images could not be found or built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{}", list_missing(.0))]
    Missing(Vec<MissingImage>),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("{0}")]
    Unfit(String),
    #[error("building {image}: cannot run {script}: {error}")]
    Spawn {
        image: String,
        script: String,
        error: std::io::Error,
    },
    #[error("building {image} failed ({status}); its last lines:\n{tail}")]
    Build {
        image: String,
        status: String,
        tail: String,
    },
}

fn list_missing(missing: &[MissingImage]) -> String {
    let lines: Vec<String> = missing.iter().map(|m| m.to_string()).collect();
    lines.join("\n")
}

/// Is `image` one of chaos's local images (`chaos/<name>:<tag>`)? Pure.
pub fn is_local_image(image: &str) -> bool {
    image.starts_with("chaos/")
}

/// The recipe name of a local image: `chaos/surrealdb:3.3.5-local` ->
/// `surrealdb`. Pure.
pub fn recipe_name(image: &str) -> Option<&str> {
    let rest = image.strip_prefix("chaos/")?;
    let name = rest.split(':').next()?;
    (!name.is_empty()).then_some(name)
}

/// `KEY=value` lines of a recipe.env (last one wins, quotes stripped). Pure.
pub fn parse_recipe_env(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            out.insert(k.trim().to_string(), v.to_string());
        }
    }
    out
}

/// The recipe of a local image, looked for in `images/<name>/` under the
/// directory of the compose file that runs it.
pub fn recipe_for(image: &str, compose_dir: &Path) -> Option<Recipe> {
    let name = recipe_name(image)?;
    let images = compose_dir.join("images");
    let dir = images.join(name);
    let env = std::fs::read_to_string(dir.join("recipe.env")).ok()?;
    let env = parse_recipe_env(&env);
    Some(Recipe {
        name: name.to_string(),
        build_script: crate::loader::tidy_path(&images.join("build.sh")),
        dir,
        first_build: env.get("FIRST_BUILD").cloned(),
        description: env.get("DESCRIPTION").cloned(),
    })
}

/// The images the project's compose file names (with the services that run
/// them), plus `extra` (chaos's helper), that the engine does not have.
pub async fn missing(
    cluster: &ComposeCluster,
    extra: &[String],
) -> Result<Vec<MissingImage>, DockerError> {
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(model) = cluster.model() {
        for (service, image) in &model.images {
            wanted
                .entry(image.clone())
                .or_default()
                .push(service.clone());
        }
    }
    for image in extra {
        wanted.entry(image.clone()).or_default();
    }
    let mut out = Vec::new();
    for (image, services) in wanted {
        if cluster.has_image(&image).await? {
            continue;
        }
        // Without a compose file (`chaos heal --project`), the shipped
        // recipes under ./compose.
        let compose_dir = cluster
            .compose_file()
            .and_then(Path::parent)
            .unwrap_or(Path::new("compose"));
        let recipe = recipe_for(&image, compose_dir);
        out.push(MissingImage {
            image,
            services,
            recipe,
        });
    }
    Ok(out)
}

/// The local images among `missing`, refused as an error (compose would try
/// to pull them, and no registry has them). Images compose can pull pass.
pub fn refuse_local(missing: Vec<MissingImage>) -> Result<(), ImageError> {
    let local: Vec<MissingImage> = missing.into_iter().filter(|m| m.is_local()).collect();
    if local.is_empty() {
        Ok(())
    } else {
        Err(ImageError::Missing(local))
    }
}

/// Build a missing local image with its recipe's build script (`build.sh
/// -v NAME`), giving every line it prints to `on_line`. The build script
/// is idempotent: it builds only what is missing or stale.
pub async fn build(
    missing: &MissingImage,
    mut on_line: impl FnMut(&str),
) -> Result<(), ImageError> {
    let Some(recipe) = &missing.recipe else {
        return Err(ImageError::Missing(vec![missing.clone()]));
    };
    let spawn_error = |error| ImageError::Spawn {
        image: missing.image.clone(),
        script: recipe.build_script.display().to_string(),
        error,
    };
    let mut child = tokio::process::Command::new("bash")
        .arg(&recipe.build_script)
        .arg("-v")
        .arg(&recipe.name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_error)?;
    // Both streams, merged in arrival order.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    forward_lines(child.stdout.take().expect("stdout is piped"), tx.clone());
    forward_lines(child.stderr.take().expect("stderr is piped"), tx);
    let mut tail = std::collections::VecDeque::with_capacity(30);
    while let Some(line) = rx.recv().await {
        on_line(&line);
        if tail.len() == 30 {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = child.wait().await.map_err(spawn_error)?;
    if status.success() {
        Ok(())
    } else {
        Err(ImageError::Build {
            image: missing.image.clone(),
            status: status.to_string(),
            tail: tail.into_iter().collect::<Vec<_>>().join("\n"),
        })
    }
}

/// Send every line of `stream` to `tx` until it ends.
fn forward_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    tx: tokio::sync::mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}

/// Refuse, before the cluster is touched, a service an overlay would put on
/// chaos-fs or libfaketime whose image cannot take it: no image named
/// literally in the compose file, an image without chaos-fs (label
/// `org.chaos.fs`), or one whose clock libfaketime cannot shift (label
/// `org.chaos.clock` other than `libfaketime`: it says why). Images not
/// built yet are left to [`missing`].
pub async fn refuse_unfit(
    cluster: &ComposeCluster,
    needs: &BTreeMap<String, crate::experiment::overlay::Needs>,
) -> Result<(), ImageError> {
    let mut problems = Vec::new();
    for (service, n) in needs {
        let Some(image) = cluster.model().and_then(|m| m.images.get(service)) else {
            problems.push(format!(
                "{service}: its image is not named literally in the compose file, so chaos \
                 cannot tell whether it has chaos-fs and libfaketime; name one of chaos's local \
                 images (compose/images/)"
            ));
            continue;
        };
        let Some(labels) = cluster.image_labels(image).await? else {
            continue;
        };
        if n.chaos_fs.is_some()
            && labels.get("org.chaos.fs").map(String::as_str) != Some("chaos-fs")
        {
            problems.push(format!(
                "{service}: its image {image} has no chaos-fs (label org.chaos.fs), so a disk \
                 fault cannot reach its data; use chaos's local images (compose/images/build.sh: \
                 etcd, surrealdb), not a public one"
            ));
        }
        if n.faketime {
            match labels.get("org.chaos.clock").map(String::as_str) {
                Some("libfaketime") => {}
                Some(why) => problems.push(format!(
                    "{service}: its image {image} cannot take a clock fault: {}",
                    why.strip_prefix("unsupported: ").unwrap_or(why)
                )),
                None => problems.push(format!(
                    "{service}: its image {image} has no libfaketime (label org.chaos.clock), so a \
                     clock fault cannot shift its clock"
                )),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ImageError::Unfit(format!(
            "refused before touching the cluster:\n  {}",
            problems.join("\n  ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_images_and_their_recipes() {
        assert!(is_local_image("chaos/surrealdb:3.3.5-local"));
        assert!(!is_local_image("pingcap/tikv:v8.5.1"));
        assert_eq!(
            recipe_name("chaos/surrealdb:3.3.5-local"),
            Some("surrealdb")
        );
        assert_eq!(recipe_name("chaos/nethelper"), Some("nethelper"));
        assert_eq!(recipe_name("surrealdb/surrealdb:v3.3.5"), None);
        assert_eq!(recipe_name("chaos/:x"), None);
    }

    #[test]
    fn paths_are_shown_tidy() {
        assert_eq!(
            crate::loader::tidy_path(Path::new("/x/experiments/../compose/images/build.sh")),
            Path::new("/x/compose/images/build.sh")
        );
        assert_eq!(
            crate::loader::tidy_path(Path::new("../a/./b")),
            Path::new("../a/b")
        );
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            crate::loader::tidy_path(&here.join("compose/images/build.sh")),
            Path::new("compose/images/build.sh")
        );
    }

    #[test]
    fn recipe_env_lines() {
        let env = parse_recipe_env(
            "# comment\nVERSION=3.3.5\nFIRST_BUILD=\"about 40 min\"\n\nALIAS=a\nALIAS=b\n",
        );
        assert_eq!(env["VERSION"], "3.3.5");
        assert_eq!(env["FIRST_BUILD"], "about 40 min");
        assert_eq!(env["ALIAS"], "b");
    }

    #[test]
    fn the_shipped_recipes_say_what_they_build_and_how_long() {
        let compose = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose");
        for image in [
            "chaos/surrealdb:3.3.5-local",
            "chaos/etcd:3.4-local",
            "chaos/nethelper:local",
        ] {
            let r = recipe_for(image, &compose).unwrap_or_else(|| panic!("{image}: no recipe"));
            assert!(r.first_build.is_some(), "{image}: no FIRST_BUILD");
            assert!(r.description.is_some(), "{image}: no DESCRIPTION");
            assert!(r.build_script.ends_with("compose/images/build.sh"));
        }
    }

    #[test]
    fn a_missing_image_says_which_why_how_long_and_the_command() {
        let compose = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose");
        let m = MissingImage {
            image: "chaos/surrealdb:3.3.5-local".into(),
            services: vec!["surrealdb1".into()],
            recipe: recipe_for("chaos/surrealdb:3.3.5-local", &compose),
        };
        let text = m.to_string();
        for part in [
            "chaos/surrealdb:3.3.5-local",
            "surrealdb1",
            "min",
            "build.sh surrealdb",
            "--build-images",
        ] {
            assert!(text.contains(part), "`{part}` missing from: {text}");
        }
        // Only local images are refused; compose pulls the others.
        let pulled = MissingImage {
            image: "pingcap/pd:v8.5.1".into(),
            services: vec!["pd0".into()],
            recipe: None,
        };
        assert!(refuse_local(vec![pulled.clone()]).is_ok());
        assert!(matches!(
            refuse_local(vec![pulled, m]),
            Err(ImageError::Missing(v)) if v.len() == 1
        ));
    }
}
