//! `chaos bundle RUN_DIR [-o FILE]`: one `.tar.gz` with everything needed
//! to rerun and understand a run elsewhere (a bug report's attachment).
//!
//! Shell: lists the run directory, reads its results.json and
//! experiment.toml, finds the compose file and the files it and the
//! adapter name, asks the engine about the images (a short timeout; no
//! Docker is fine: they are then "unknown"), and writes the archive
//! atomically. What goes where, the rewritten experiment and the README
//! are the pure [`crate::bundle`].
//!
//! Exit 0 when the archive is written; 2 when RUN_DIR is not a run
//! directory, has no experiment.toml, or its compose file is not found
//! (the bundle would not rerun); 4 when a file cannot be read or the
//! archive cannot be written.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;

use super::{CliError, CliResult, Outcome};
use crate::bundle::{self, ComposeRef, Facts, Found, ImageFacts, Source};
use crate::store::files;

/// How long the engine may take to say what it knows of the images.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(5);

/// Arguments of `chaos bundle`.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The run directory (`results/<experiment>/<time>-seed<N>`).
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,

    /// Write the archive here (default: `<experiment>-<run>.tar.gz` in
    /// the current directory).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: &BundleArgs) -> CliResult {
    let facts = gather(&args.run_dir)?;
    let manifest = bundle::plan(&facts).map_err(|e| {
        CliError::input(anyhow!(
            "{}: {e}",
            args.run_dir.join(files::EXPERIMENT).display()
        ))
    })?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.tar.gz", manifest.root)));
    let bytes = write_archive(&args.run_dir, &manifest, &out).map_err(CliError::environment)?;
    let mut text = format!(
        "wrote {} ({} entries, {} KiB)\nrerun: tar xzf {} && cd {} && {}\n",
        out.display(),
        manifest.entries.len(),
        bytes.div_ceil(1024),
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        manifest.root,
        manifest.rerun
    );
    for l in &manifest.left_out {
        text.push_str(&format!("left out: {l}\n"));
    }
    if let Some(why) = facts.images.iter().find_map(|i| i.unknown_because.as_ref()) {
        text.push_str(&format!("images: unknown ({why})\n"));
    }
    super::print_stdout(&text)?;
    Ok(Outcome::Success)
}

/// What [`bundle::plan`] needs, read from the run directory and this
/// machine.
pub fn gather(run_dir: &Path) -> Result<Facts, CliError> {
    let results_path = run_dir.join(files::RESULTS);
    if !results_path.is_file() {
        return Err(CliError::input(anyhow!(
            "{}: not a run directory (it has no results.json)",
            run_dir.display()
        )));
    }
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&results_path)
            .with_context(|| format!("cannot read {}", results_path.display()))
            .map_err(CliError::environment)?,
    )
    .map_err(|e| CliError::input(anyhow!("{}: not JSON: {e}", results_path.display())))?;
    let experiment_path = run_dir.join(files::EXPERIMENT);
    let experiment_text = std::fs::read_to_string(&experiment_path).map_err(|e| {
        CliError::input(anyhow!(
            "{}: {e}; a run without its experiment copy cannot be bundled for a rerun",
            experiment_path.display()
        ))
    })?;
    let table: toml::Table = toml::from_str(&experiment_text)
        .map_err(|e| CliError::input(anyhow!("{}: not TOML: {e}", experiment_path.display())))?;
    let str_at = |v: &serde_json::Value, path: &[&str]| -> String {
        path.iter()
            .try_fold(v, |v, k| v.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_string()
    };
    let experiment = str_at(&results, &["experiment", "name"]);
    // The experiment file as the run named it, found again: absolute, or
    // relative to here or to a directory above the run (a checkout that
    // keeps its runs under results/).
    let original_file = results
        .pointer("/experiment/file")
        .and_then(|v| v.as_str())
        .and_then(|f| find_relative(run_dir, f));

    // The compose file: as the copy names it (absolute in a run directory,
    // relative in an unpacked bundle), else replay.json's.
    let named = table
        .get("cluster")
        .and_then(|c| c.get("compose_file"))
        .and_then(|c| c.as_str())
        .ok_or_else(|| {
            CliError::input(anyhow!(
                "{}: no cluster.compose_file",
                experiment_path.display()
            ))
        })?;
    let replay: Option<serde_json::Value> = std::fs::read_to_string(run_dir.join(files::REPLAY))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let mut candidates = vec![run_dir.join(named)];
    if let Some(c) = replay
        .as_ref()
        .and_then(|r| r.get("compose_file"))
        .and_then(|c| c.as_str())
    {
        candidates.push(PathBuf::from(c));
    }
    // An older run kept the file as written: relative to the experiment.
    if let Some(dir) = original_file.as_deref().and_then(Path::parent) {
        candidates.push(dir.join(named));
    }
    let compose_source = candidates
        .iter()
        .find(|p| p.is_file())
        .map(|p| crate::loader::tidy_path(&crate::docker::absolute(p)))
        .ok_or_else(|| {
            CliError::input(anyhow!(
                "{}: its compose file is not found (looked at {}); the bundle would not rerun",
                experiment_path.display(),
                candidates
                    .iter()
                    .map(|p| crate::docker::absolute(p).display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let compose_text = std::fs::read_to_string(&compose_source)
        .with_context(|| format!("cannot read {}", compose_source.display()))
        .map_err(CliError::environment)?;
    let compose_dir = compose_source
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let refs: Vec<ComposeRef> = bundle::compose_references(&compose_text)
        .map_err(|e| CliError::input(anyhow!("{}: {e}", compose_source.display())))?;
    let compose_refs = refs
        .into_iter()
        .map(|r| {
            let p = compose_dir.join(&r.path);
            let found = if Path::new(&r.path).is_absolute() || r.path.starts_with('~') {
                Found::Missing
            } else if p.is_dir() {
                Found::Dir(p)
            } else if p.is_file() {
                Found::File(p)
            } else {
                Found::Missing
            };
            (r, found)
        })
        .collect();
    let dot_env = Some(compose_dir.join(".env")).filter(|p| p.is_file());

    // The adapter's files: relative to the experiment's directory, which
    // for an unpacked bundle is the run directory itself.
    let command: Vec<String> = table
        .get("workload")
        .and_then(|w| w.get("adapter"))
        .and_then(|a| a.get("command"))
        .and_then(|c| c.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut dirs = vec![run_dir.to_path_buf()];
    if let Some(parent) = original_file.as_deref().and_then(Path::parent) {
        dirs.push(parent.to_path_buf());
    }
    let adapter = command
        .iter()
        .enumerate()
        .map(|(i, arg)| {
            // The program itself is a file only when it is named by a path.
            let found = (i > 0 || arg.contains('/'))
                .then(|| dirs.iter().map(|d| d.join(arg)).find(|p| p.is_file()))
                .flatten();
            (arg.clone(), found)
        })
        .collect();

    let mut run_files = Vec::new();
    list_files(run_dir, "", &mut run_files)
        .with_context(|| format!("cannot list {}", run_dir.display()))
        .map_err(CliError::environment)?;
    let seed = results.get("seed").and_then(|s| s.as_u64()).unwrap_or(0);
    let duration = match replay
        .as_ref()
        .and_then(|r| r.get("duration_ms"))
        .and_then(|d| d.as_u64())
    {
        Some(ms) => Some(Duration::from_millis(ms)),
        None => bundle::duration_of_rerun(&str_at(&results, &["rerun"])),
    };
    let mut by_image: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    if let Some(images) = results
        .pointer("/target/images")
        .and_then(|v| v.as_object())
    {
        for (service, image) in images {
            if let Some(image) = image.as_str() {
                by_image
                    .entry(image.to_string())
                    .or_default()
                    .push(service.clone());
            }
        }
    }
    let images = inspect_images(by_image);
    let run_name = run_dir
        .canonicalize()
        .unwrap_or_else(|_| run_dir.to_path_buf())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    Ok(Facts {
        run_name,
        experiment,
        run_files,
        experiment_text,
        compose_source,
        compose_refs,
        dot_env,
        adapter,
        seed,
        duration,
        verdict: str_at(&results, &["verdict"]),
        status: str_at(&results, &["status"]),
        chaos_version: str_at(&results, &["tool", "version"]),
        images,
        made_report: (!run_dir.join(files::REPORT_HTML).is_file())
            .then(|| crate::runfiles::render(run_dir).ok())
            .flatten(),
    })
}

/// A path a run recorded (relative to where chaos ran), found again:
/// as is, or under a directory above the run directory.
fn find_relative(run_dir: &Path, recorded: &str) -> Option<PathBuf> {
    let recorded = Path::new(recorded);
    if recorded.is_file() {
        return Some(recorded.to_path_buf());
    }
    if recorded.is_absolute() {
        return None;
    }
    let dir = run_dir.canonicalize().ok()?;
    dir.ancestors()
        .map(|a| a.join(recorded))
        .find(|p| p.is_file())
}

/// Every regular file under `dir`, relative, `/`-separated.
fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list_files(&entry.path(), &rel, out)?;
        } else if kind.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

/// What the engine knows of each image, or "unknown" and why.
fn inspect_images(by_image: std::collections::BTreeMap<String, Vec<String>>) -> Vec<ImageFacts> {
    let unknown = |image: &str, services: &[String], why: &str| ImageFacts {
        image: image.to_string(),
        services: services.to_vec(),
        id: None,
        digests: Vec::new(),
        version: None,
        created: None,
        labels: Vec::new(),
        unknown_because: Some(why.to_string()),
    };
    let runtime = match super::cluster::runtime() {
        Ok(r) => r,
        Err(e) => {
            return by_image
                .iter()
                .map(|(i, s)| unknown(i, s, &e.to_string()))
                .collect();
        }
    };
    runtime.block_on(async {
        let docker =
            match tokio::time::timeout(DOCKER_TIMEOUT, crate::docker::connect_engine()).await {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => {
                    let why = format!("Docker is not reachable: {e}");
                    return by_image.iter().map(|(i, s)| unknown(i, s, &why)).collect();
                }
                Err(_) => {
                    let why = format!("Docker did not answer within {DOCKER_TIMEOUT:?}");
                    return by_image.iter().map(|(i, s)| unknown(i, s, &why)).collect();
                }
            };
        let mut out = Vec::new();
        for (image, services) in &by_image {
            match tokio::time::timeout(DOCKER_TIMEOUT, docker.inspect_image(image)).await {
                Ok(Ok(i)) => {
                    let labels = i.config.and_then(|c| c.labels).unwrap_or_default();
                    let version = labels
                        .get("org.opencontainers.image.version")
                        .cloned()
                        .or_else(|| image.rsplit_once(':').map(|(_, tag)| tag.to_string()));
                    let mut chaos_labels: Vec<(String, String)> = labels
                        .into_iter()
                        .filter(|(k, _)| {
                            k.starts_with("org.chaos.") || k.starts_with("org.opencontainers.")
                        })
                        .collect();
                    chaos_labels.sort();
                    out.push(ImageFacts {
                        image: image.clone(),
                        services: services.clone(),
                        id: i.id,
                        digests: i.repo_digests.unwrap_or_default(),
                        version,
                        created: i.created,
                        labels: chaos_labels,
                        unknown_because: None,
                    });
                }
                Ok(Err(e)) if crate::docker::status_code(&e) == Some(404) => {
                    out.push(unknown(image, services, "the image is not on this machine"))
                }
                Ok(Err(e)) => out.push(unknown(image, services, &format!("inspect failed: {e}"))),
                Err(_) => out.push(unknown(
                    image,
                    services,
                    &format!("Docker did not answer within {DOCKER_TIMEOUT:?}"),
                )),
            }
        }
        out
    })
}

/// Write the archive (a temporary file beside `out`, then a rename);
/// returns its size in bytes.
fn write_archive(run_dir: &Path, m: &bundle::Manifest, out: &Path) -> anyhow::Result<u64> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle".into()),
        std::process::id()
    ));
    let result = (|| -> anyhow::Result<()> {
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.follow_symlinks(true);
        let mtime = std::fs::metadata(run_dir.join(files::RESULTS))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        for e in &m.entries {
            let name = format!("{}/{}", m.root, e.path);
            match &e.source {
                Source::Run(rel) => {
                    let p = run_dir.join(rel);
                    tar.append_path_with_name(&p, &name)
                        .with_context(|| format!("cannot add {}", p.display()))?;
                }
                Source::File(p) => tar
                    .append_path_with_name(p, &name)
                    .with_context(|| format!("cannot add {}", p.display()))?,
                Source::Dir(p) => tar
                    .append_dir_all(&name, p)
                    .with_context(|| format!("cannot add {}", p.display()))?,
                Source::Text(text) => {
                    let mut header = tar::Header::new_gnu();
                    header.set_size(text.len() as u64);
                    header.set_mode(0o644);
                    header.set_mtime(mtime);
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_cksum();
                    tar.append_data(&mut header, &name, text.as_bytes())
                        .with_context(|| format!("cannot add {name}"))?;
                }
            }
        }
        let gz = tar.into_inner().context("cannot finish the archive")?;
        let mut file = gz.finish().context("cannot finish the compression")?;
        file.flush()?;
        file.sync_all()?;
        std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    Ok(std::fs::metadata(out)?.len())
}
