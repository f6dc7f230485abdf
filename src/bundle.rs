//! Bug-report bundles (`chaos bundle RUN_DIR`): which files of a run go
//! into its `.tar.gz`, where they go inside it, how the experiment copy is
//! rewritten so that it reruns from wherever the bundle is unpacked, and the
//! README that says how.
//!
//! An unpacked bundle is still a run directory (results.json, report.txt,
//! report.html, plan.json, journal.jsonl, history.jsonl, chaos.log, logs/
//! at its top, as the run left them), plus what a rerun needs:
//!
//! - `experiment.toml`: the experiment as run, its `compose_file` set to
//!   `compose/<name>` and each adapter script it names to `files/<name>`
//!   (relative to the experiment file, as chaos resolves them);
//! - `compose/`: the compose file, and the files it names relative to
//!   itself (env files, bind-mounted files, build contexts, `.env`);
//! - `files/`: the scripts `[workload.adapter] command` names;
//! - `bundle.json`: this manifest as JSON, with the images (name, ID,
//!   digests, version) as `docker image inspect` said, or `unknown`;
//! - `README.md`: the one command that reruns it, and what each file is.
//!
//! Pure: [`plan`] turns what the shell found ([`Facts`]) into a
//! [`Manifest`]; reading files, asking Docker about images and writing the
//! archive are `cli::bundle`'s. Depends on [`crate::experiment`] (the
//! rewrite keeps comments and layout) and [`crate::plan`] (the rerun
//! command), nothing effectful.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::experiment::{self, ExperimentError};
use crate::seed::Seed;

/// The README at the bundle's top.
pub const README: &str = "README.md";
/// The manifest as JSON at the bundle's top.
pub const MANIFEST: &str = "bundle.json";
/// The experiment file at the bundle's top (the run directory's name).
pub const EXPERIMENT: &str = crate::store::files::EXPERIMENT;
/// Where the compose file and the files it names go.
pub const COMPOSE_DIR: &str = "compose";
/// Where the adapter's scripts go.
pub const FILES_DIR: &str = "files";

/// What the shell found about one run, for [`plan`].
#[derive(Debug, Clone)]
pub struct Facts {
    /// The run directory's name (`20261129T211013Z-seed3`).
    pub run_name: String,
    /// The experiment's name (results.json `experiment.name`).
    pub experiment: String,
    /// Every file of the run directory, relative to it, `/`-separated.
    pub run_files: Vec<String>,
    /// The run directory's `experiment.toml`.
    pub experiment_text: String,
    /// The compose file as found on this machine.
    pub compose_source: PathBuf,
    /// What the compose file names relative to itself, each with whether
    /// it was found (a file or a directory) beside it.
    pub compose_refs: Vec<(ComposeRef, Found)>,
    /// `.env` beside the compose file (compose reads it by itself).
    pub dot_env: Option<PathBuf>,
    /// `[workload.adapter] command`, each argument with the file it names
    /// if it names one (resolved as chaos does: relative to the
    /// experiment's directory).
    pub adapter: Vec<(String, Option<PathBuf>)>,
    pub seed: u64,
    /// The run's `--duration`, when it overrode the file's.
    pub duration: Option<Duration>,
    /// Verdict and status (results.json), for the README.
    pub verdict: String,
    pub status: String,
    /// The chaos version that made the run.
    pub chaos_version: String,
    /// The images of the run's services.
    pub images: Vec<ImageFacts>,
    /// report.html made from the run's files (`chaos report`) for a run
    /// that has none; `None` when it has one (or it could not be made).
    pub made_report: Option<String>,
}

/// Where a compose-named path was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    File(PathBuf),
    Dir(PathBuf),
    Missing,
}

/// One image the run's services ran, as far as the engine could say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageFacts {
    pub image: String,
    pub services: Vec<String>,
    /// The image ID (`sha256:...`); `None`: unknown (no Docker, or the
    /// image is not on this machine).
    pub id: Option<String>,
    /// Registry digests (`name@sha256:...`); empty for an image built here.
    pub digests: Vec<String>,
    /// `org.opencontainers.image.version`, else the tag.
    pub version: Option<String>,
    pub created: Option<String>,
    /// chaos's own labels (`org.chaos.recipe-hash`: which recipe built it).
    pub labels: Vec<(String, String)>,
    /// Why the facts are unknown, when they are.
    pub unknown_because: Option<String>,
}

/// A path a compose file names relative to itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComposeRef {
    pub service: String,
    /// `env_file`, `volume` (a bind mount's source) or `build` (a context).
    pub kind: &'static str,
    pub path: String,
}

/// Where one entry of the archive comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file of the run directory (relative to it).
    Run(String),
    /// A file elsewhere on this machine.
    File(PathBuf),
    /// A directory elsewhere on this machine, with everything under it.
    Dir(PathBuf),
    /// Text made here (the rewritten experiment, README, manifest).
    Text(String),
}

/// One entry of the archive: its path under the archive's top directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub source: Source,
}

/// What a bundle holds.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The archive's top directory (`<experiment>-<run>`).
    pub root: String,
    pub entries: Vec<Entry>,
    /// The command that reruns the run, from the unpacked top directory.
    pub rerun: String,
    /// What was not bundled, and why.
    pub left_out: Vec<String>,
}

impl Manifest {
    /// The archive paths, in order.
    pub fn paths(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.path.as_str()).collect()
    }

    /// The text of an entry made here, if it is one.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.entries.iter().find_map(|e| match &e.source {
            Source::Text(t) if e.path == path => Some(t.as_str()),
            _ => None,
        })
    }
}

/// Why a bundle cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("experiment.toml: {0}")]
    Experiment(#[from] ExperimentError),
}

/// Files of the run directory a bundle makes again (an unpacked bundle
/// bundled again: its README, manifest, experiment and copies).
fn regenerated(rel: &str) -> bool {
    rel == README
        || rel == MANIFEST
        || rel == EXPERIMENT
        || rel.starts_with(&format!("{COMPOSE_DIR}/"))
        || rel.starts_with(&format!("{FILES_DIR}/"))
}

/// A relative path that stays where it is put (no `..`, not absolute),
/// normalised (`./a/b` -> `a/b`); `None` otherwise.
pub fn contained(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?.to_string()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The paths a compose file names relative to itself: each service's
/// `env_file` (a string, a list of strings, or of `{path: ...}`), the
/// source of a bind mount (`./x:/y` or `{type: bind, source: ./x}`), and
/// its `build` context. Named volumes and absolute paths are not files
/// beside the compose file; absolute ones are returned too (the caller
/// says they were left out). Pure.
pub fn compose_references(text: &str) -> Result<Vec<ComposeRef>, String> {
    use serde_yaml_ng::Value;
    let mut doc: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    doc.apply_merge()
        .map_err(|e| format!("invalid YAML merge key: {e}"))?;
    let Some(services) = doc.get("services").and_then(Value::as_mapping) else {
        return Err("no `services:` mapping".into());
    };
    let is_path = |s: &str| s.starts_with('.') || s.starts_with('/') || s.starts_with('~');
    let mut out = Vec::new();
    for (name, service) in services {
        let Some(service) = name.as_str().map(|n| (n.to_string(), service)) else {
            continue;
        };
        let (name, service) = service;
        let mut push = |kind: &'static str, path: &str| {
            out.push(ComposeRef {
                service: name.clone(),
                kind,
                path: path.to_string(),
            })
        };
        match service.get("env_file") {
            Some(Value::String(s)) => push("env_file", s),
            Some(Value::Sequence(items)) => {
                for item in items {
                    if let Some(s) = item
                        .as_str()
                        .or_else(|| item.get("path").and_then(Value::as_str))
                    {
                        push("env_file", s);
                    }
                }
            }
            _ => {}
        }
        if let Some(Value::Sequence(volumes)) = service.get("volumes") {
            for v in volumes {
                let source = match v {
                    Value::String(s) => s.split(':').next().filter(|src| is_path(src)),
                    other => other
                        .get("source")
                        .and_then(Value::as_str)
                        .filter(|_| other.get("type").and_then(Value::as_str) == Some("bind")),
                };
                if let Some(src) = source {
                    push("volume", src);
                }
            }
        }
        match service.get("build") {
            Some(Value::String(s)) => push("build", s),
            Some(b) => {
                if let Some(ctx) = b.get("context").and_then(Value::as_str) {
                    push("build", ctx);
                }
            }
            None => {}
        }
    }
    Ok(out)
}

/// The `--duration` of a rerun command (`chaos run X --seed 3 --duration
/// 30s`), for runs that kept no replay.json. Pure.
pub fn duration_of_rerun(rerun: &str) -> Option<Duration> {
    let mut words = rerun.split_whitespace();
    while let Some(w) = words.next() {
        if w == "--duration" {
            return words.next().and_then(|d| crate::duration::parse(d).ok());
        }
        if let Some(d) = w.strip_prefix("--duration=") {
            return crate::duration::parse(d).ok();
        }
    }
    None
}

/// A file name safe as one path component.
fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .unwrap_or("file")
        .to_string()
}

/// What each file of a run directory is, for the README.
fn describe(rel: &str) -> &'static str {
    use crate::store::files;
    match rel {
        files::RESULTS => "the verdict and figures (schemas/results.schema.json)",
        files::REPORT => "the same for people",
        files::REPORT_HTML => "the same with pictures: timeline, plots, each anomaly drawn",
        files::PLAN => "the plan: the fault timeline and each client's op stream",
        files::JOURNAL => "the fault journal: each fault as applied and healed",
        files::HISTORY => "the history, one op per line (`chaos check history.jsonl`)",
        files::LOG => "the run's log",
        files::REPLAY => {
            "what a replay needs: seed, duration, the compose file's original path and hash"
        }
        files::OVERRIDE => "the compose override the run laid over the compose file",
        files::BENCH => "a bench's figures and goals",
        _ if rel.starts_with("logs/") => "a node's container log since the run began",
        _ => "as the run left it",
    }
}

/// The bundle of a run: its entries, the rerun command, the README and the
/// manifest. Pure.
pub fn plan(f: &Facts) -> Result<Manifest, BundleError> {
    let root = format!("{}-{}", f.experiment, f.run_name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>();
    let mut entries = Vec::new();
    let mut left_out = Vec::new();
    let mut listed: Vec<(String, String)> = Vec::new();

    // The compose file and what it names beside itself.
    let compose_rel = format!("{COMPOSE_DIR}/{}", file_name(&f.compose_source));
    entries.push(Entry {
        path: compose_rel.clone(),
        source: Source::File(f.compose_source.clone()),
    });
    listed.push((
        compose_rel.clone(),
        format!(
            "the compose file (was {}); the experiment names it",
            f.compose_source.display()
        ),
    ));
    if let Some(env) = &f.dot_env {
        let path = format!("{COMPOSE_DIR}/.env");
        entries.push(Entry {
            path: path.clone(),
            source: Source::File(env.clone()),
        });
        listed.push((path, "compose reads it beside the compose file".into()));
    }
    let mut seen = BTreeSet::new();
    for (r, found) in &f.compose_refs {
        let what = format!("{} `{}` of service {}", r.kind, r.path, r.service);
        match (contained(&r.path), found) {
            (None, _) => left_out.push(format!(
                "{what}: outside the compose file's directory (an absolute path or `..`); \
                 the rerun needs it at the same place"
            )),
            (Some(_), Found::Missing) => left_out.push(format!(
                "{what}: not found beside the compose file when bundled"
            )),
            (Some(rel), found) => {
                let path = format!("{COMPOSE_DIR}/{rel}");
                if !seen.insert(path.clone()) {
                    continue;
                }
                let source = match found {
                    Found::Dir(d) => Source::Dir(d.clone()),
                    Found::File(p) => Source::File(p.clone()),
                    Found::Missing => unreachable!("matched above"),
                };
                entries.push(Entry {
                    path: path.clone(),
                    source,
                });
                listed.push((path, format!("the compose file names it ({what})")));
            }
        }
    }

    // The adapter's scripts, and the rewrite of the experiment copy.
    let mut rewrites: Vec<(String, String)> =
        vec![("cluster.compose_file".to_string(), compose_rel.clone())];
    let mut names = BTreeSet::new();
    for (i, (arg, found)) in f.adapter.iter().enumerate() {
        let Some(source) = found else { continue };
        let mut name = file_name(source);
        if !names.insert(name.clone()) {
            name = format!("{i}-{name}");
            names.insert(name.clone());
        }
        let path = format!("{FILES_DIR}/{name}");
        entries.push(Entry {
            path: path.clone(),
            source: Source::File(source.clone()),
        });
        listed.push((
            path.clone(),
            format!(
                "`{arg}` of [workload.adapter] command (was {}); a script that loads \
                 files of its own needs them too",
                source.display()
            ),
        ));
        rewrites.push((format!("workload.adapter.command[{i}]"), path));
    }
    let fields: Vec<(&str, &str)> = rewrites
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let experiment_text = experiment::with_strings(&f.experiment_text, EXPERIMENT, &fields)?;
    entries.push(Entry {
        path: EXPERIMENT.to_string(),
        source: Source::Text(experiment_text),
    });
    listed.push((
        EXPERIMENT.to_string(),
        format!(
            "the experiment as run; {} rewritten to the bundled copies",
            if rewrites.len() > 1 {
                "its compose_file and adapter scripts"
            } else {
                "its compose_file"
            }
        ),
    ));

    // The run directory as it was.
    let mut run_files: Vec<&String> = f.run_files.iter().filter(|r| !regenerated(r)).collect();
    run_files.sort();
    for rel in run_files {
        entries.push(Entry {
            path: rel.clone(),
            source: Source::Run(rel.clone()),
        });
        listed.push((rel.clone(), describe(rel).to_string()));
    }

    if let Some(page) = &f.made_report
        && !f
            .run_files
            .iter()
            .any(|r| r == crate::store::files::REPORT_HTML)
    {
        let path = crate::store::files::REPORT_HTML.to_string();
        entries.push(Entry {
            path: path.clone(),
            source: Source::Text(page.clone()),
        });
        listed.push((
            path,
            "the report with pictures, made by `chaos report` from these files when bundled (the run had none)".into(),
        ));
    }

    let rerun = crate::plan::run_command(Path::new(EXPERIMENT), Seed(f.seed), f.duration);
    let manifest_json = manifest_json(f, &root, &rerun, &listed, &left_out);
    entries.push(Entry {
        path: MANIFEST.to_string(),
        source: Source::Text(manifest_json),
    });
    listed.push((
        MANIFEST.to_string(),
        "this list as JSON, with the images".into(),
    ));
    let readme = readme(f, &root, &rerun, &listed, &left_out);
    entries.insert(
        0,
        Entry {
            path: README.to_string(),
            source: Source::Text(readme),
        },
    );
    Ok(Manifest {
        root,
        entries,
        rerun,
        left_out,
    })
}

fn manifest_json(
    f: &Facts,
    root: &str,
    rerun: &str,
    listed: &[(String, String)],
    left_out: &[String],
) -> String {
    let files: Vec<serde_json::Value> = listed
        .iter()
        .map(|(p, what)| serde_json::json!({ "path": p, "what": what }))
        .collect();
    let images: Vec<serde_json::Value> = f
        .images
        .iter()
        .map(|i| {
            serde_json::json!({
                "image": i.image,
                "services": i.services,
                "id": i.id.as_deref().unwrap_or("unknown"),
                "digests": i.digests,
                "version": i.version.as_deref().unwrap_or("unknown"),
                "created": i.created.as_deref().unwrap_or("unknown"),
                "labels": i.labels.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                "unknown_because": i.unknown_because,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "format": 1,
        "root": root,
        "experiment": f.experiment,
        "run": f.run_name,
        "seed": f.seed,
        "verdict": f.verdict,
        "status": f.status,
        "chaos_version": f.chaos_version,
        "rerun": rerun,
        "rerun_from": "the bundle's top directory",
        "files": files,
        "images": images,
        "left_out": left_out,
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("a JSON value serializes");
    text.push('\n');
    text
}

fn readme(
    f: &Facts,
    root: &str,
    rerun: &str,
    listed: &[(String, String)],
    left_out: &[String],
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# {}, seed {}: a chaos run, bundled\n",
        f.experiment, f.seed
    );
    let _ = writeln!(
        s,
        "Run `{}` of experiment `{}`: verdict **{}** (status {}), made by chaos {}. \
         This directory is that run's directory (report.html is the place to start) \
         with everything needed to run it again elsewhere.\n",
        f.run_name, f.experiment, f.verdict, f.status, f.chaos_version
    );
    let _ = writeln!(s, "## Rerun it\n");
    let _ = writeln!(
        s,
        "From this directory (`{root}/`, wherever it was unpacked):\n"
    );
    let _ = writeln!(s, "    {rerun}\n");
    let _ = writeln!(
        s,
        "Same seed, same plan: the same faults at the same times against the same op \
         streams (`{}` prints it; compare with \
         plan.json). It needs chaos (`cargo install --path .` in a checkout of chaos {}), \
         Docker with compose (v1 or v2) and the images below; `chaos doctor` says whether \
         this machine can run it. The new run's directory goes under `results/` here; \
         `chaos runs diff . results/{}/<new run>` says what differs.\n",
        crate::plan::plan_command(Path::new(EXPERIMENT), Seed(f.seed), f.duration),
        f.chaos_version,
        f.experiment
    );
    let _ = writeln!(s, "## Images\n");
    let _ = writeln!(
        s,
        "As `docker image inspect` said when the bundle was made (\"unknown\": Docker \
         could not be asked, or the image was not on the machine). Images built locally \
         (`chaos/...-local`, by `compose/images/build.sh` in a chaos checkout) have no \
         registry digest: their ID and `org.chaos.recipe-hash` say which build it was.\n"
    );
    let _ = writeln!(s, "| image | services | ID | digests | version |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for i in &f.images {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            i.image,
            i.services.join(", "),
            i.id.as_deref().unwrap_or("unknown"),
            if i.digests.is_empty() {
                if i.id.is_some() {
                    "none (built here)".to_string()
                } else {
                    "unknown".to_string()
                }
            } else {
                i.digests.join(", ")
            },
            i.version.as_deref().unwrap_or("unknown"),
        );
    }
    if let Some(why) = f.images.iter().find_map(|i| i.unknown_because.as_deref()) {
        let _ = writeln!(s, "\n(Unknown because: {why}.)");
    }
    let _ = writeln!(s, "\n## What is here\n");
    for (path, what) in listed {
        let _ = writeln!(s, "- `{path}`: {what}");
    }
    if !left_out.is_empty() {
        let _ = writeln!(s, "\n## Left out\n");
        for l in left_out {
            let _ = writeln!(s, "- {l}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPERIMENT_TEXT: &str = "# a comment that stays\nname = \"demo\"\nduration = \"10s\"\n\n[cluster]\ncompose_file = \"/home/u/chaos/compose/etcd.yml\"\nproject = \"p\"\n\n[workload]\nclient = \"process\"\n\n[workload.adapter]\ncommand = [\"python3\", \"../examples/adapters/memory.py\", \"--leader\"]\nport = 7000\n";

    fn facts() -> Facts {
        Facts {
            run_name: "20261129T211013Z-seed3".into(),
            experiment: "demo".into(),
            run_files: vec![
                "results.json".into(),
                "experiment.toml".into(),
                "logs/etcd1.log".into(),
                "history.jsonl".into(),
                "report.html".into(),
                "README.md".into(),
                "compose/old.yml".into(),
            ],
            experiment_text: EXPERIMENT_TEXT.into(),
            compose_source: PathBuf::from("/home/u/chaos/compose/etcd.yml"),
            compose_refs: vec![
                (
                    ComposeRef {
                        service: "a".into(),
                        kind: "env_file",
                        path: "./env/a.env".into(),
                    },
                    Found::File(PathBuf::from("/home/u/chaos/compose/env/a.env")),
                ),
                (
                    ComposeRef {
                        service: "a".into(),
                        kind: "volume",
                        path: "../secrets".into(),
                    },
                    Found::Dir(PathBuf::from("/home/u/chaos/secrets")),
                ),
                (
                    ComposeRef {
                        service: "b".into(),
                        kind: "volume",
                        path: "./gone.conf".into(),
                    },
                    Found::Missing,
                ),
            ],
            dot_env: None,
            adapter: vec![
                ("python3".into(), None),
                (
                    "../examples/adapters/memory.py".into(),
                    Some(PathBuf::from("/home/u/chaos/examples/adapters/memory.py")),
                ),
                ("--leader".into(), None),
            ],
            seed: 3,
            duration: Some(Duration::from_secs(30)),
            verdict: "invalid".into(),
            status: "completed".into(),
            chaos_version: "0.1.0".into(),
            images: vec![ImageFacts {
                image: "chaos/etcd:3.4-local".into(),
                services: vec!["etcd1".into()],
                id: None,
                digests: vec![],
                version: None,
                created: None,
                labels: vec![],
                unknown_because: Some("Docker is not reachable".into()),
            }],
            made_report: None,
        }
    }

    #[test]
    fn the_manifest_places_every_file_relative_to_the_bundle() {
        let m = plan(&facts()).unwrap();
        assert_eq!(m.root, "demo-20261129T211013Z-seed3");
        assert_eq!(
            m.paths(),
            vec![
                "README.md",
                "compose/etcd.yml",
                "compose/env/a.env",
                "files/memory.py",
                "experiment.toml",
                "history.jsonl",
                "logs/etcd1.log",
                "report.html",
                "results.json",
                "bundle.json",
            ]
        );
        // The run's own files come from the run directory; the regenerated
        // ones (README, experiment, an old bundle's compose/) do not.
        assert!(m.entries.contains(&Entry {
            path: "logs/etcd1.log".into(),
            source: Source::Run("logs/etcd1.log".into()),
        }));
        assert!(m.entries.contains(&Entry {
            path: "compose/env/a.env".into(),
            source: Source::File("/home/u/chaos/compose/env/a.env".into()),
        }));
        assert_eq!(m.rerun, "chaos run experiment.toml --seed 3 --duration 30s");
        assert_eq!(m.left_out.len(), 2, "{:?}", m.left_out);
        assert!(m.left_out[0].contains("../secrets"), "{:?}", m.left_out);
        assert!(m.left_out[1].contains("./gone.conf"), "{:?}", m.left_out);
    }

    #[test]
    fn the_experiment_copy_names_the_bundled_files_and_keeps_the_rest() {
        let m = plan(&facts()).unwrap();
        let text = m.text(EXPERIMENT).unwrap();
        assert!(text.starts_with("# a comment that stays\n"), "{text}");
        assert!(
            text.contains("compose_file = \"compose/etcd.yml\""),
            "{text}"
        );
        assert!(
            text.contains("command = [\"python3\", \"files/memory.py\", \"--leader\"]"),
            "{text}"
        );
        assert!(!text.contains("/home/u"), "{text}");
    }

    #[test]
    fn the_readme_gives_the_rerun_command_and_says_unknown_images() {
        let m = plan(&facts()).unwrap();
        let readme = m.text(README).unwrap();
        assert!(
            readme.contains("    chaos run experiment.toml --seed 3 --duration 30s\n"),
            "{readme}"
        );
        assert!(
            readme.contains("| chaos/etcd:3.4-local | etcd1 | unknown | unknown | unknown |"),
            "{readme}"
        );
        assert!(readme.contains("Docker is not reachable"), "{readme}");
        assert!(
            readme.contains("- `logs/etcd1.log`: a node's container log"),
            "{readme}"
        );
        assert!(readme.contains("## Left out"), "{readme}");
        let json: serde_json::Value = serde_json::from_str(m.text(MANIFEST).unwrap()).unwrap();
        assert_eq!(json["images"][0]["id"], "unknown");
        assert_eq!(json["rerun"], m.rerun);
        // Every entry but the README and the manifest itself.
        assert_eq!(json["files"].as_array().unwrap().len(), m.entries.len() - 2);
    }

    #[test]
    fn a_known_image_is_shown_with_its_id_and_no_digest_when_built_here() {
        let mut f = facts();
        f.images[0] = ImageFacts {
            id: Some("sha256:9881".into()),
            version: Some("3.4-local".into()),
            unknown_because: None,
            ..f.images[0].clone()
        };
        let readme = plan(&f).unwrap().text(README).unwrap().to_string();
        assert!(
            readme.contains(
                "| chaos/etcd:3.4-local | etcd1 | sha256:9881 | none (built here) | 3.4-local |"
            ),
            "{readme}"
        );
        assert!(!readme.contains("Unknown because"), "{readme}");
    }

    #[test]
    fn a_run_without_report_html_gets_the_one_made_for_it_and_one_with_keeps_its_own() {
        let mut f = facts();
        f.made_report = Some("<html>made</html>".into());
        // The run has report.html: its own is bundled, the made one is not.
        let m = plan(&f).unwrap();
        assert!(m.entries.contains(&Entry {
            path: "report.html".into(),
            source: Source::Run("report.html".into()),
        }));
        assert_eq!(m.paths().iter().filter(|p| **p == "report.html").count(), 1);
        f.run_files.retain(|r| r != "report.html");
        let m = plan(&f).unwrap();
        assert_eq!(m.text("report.html"), Some("<html>made</html>"));
        assert!(m.text(README).unwrap().contains("made by `chaos report`"));
        assert!(
            m.text(README)
                .unwrap()
                .contains("`chaos plan experiment.toml --seed 3 --duration 30s` prints it")
        );
    }

    #[test]
    fn compose_references_finds_env_files_bind_mounts_and_build_contexts() {
        let text = "x: &x\n  env_file: common.env\nservices:\n  a:\n    <<: *x\n    volumes: [data:/data, ./tikv/tikv.toml:/etc/t.toml:ro, /abs:/y]\n  b:\n    env_file: [one.env, {path: two.env}]\n    build: {context: ./img}\n    volumes:\n      - {type: bind, source: ./conf, target: /c}\n      - {type: volume, source: named, target: /v}\n";
        let refs = compose_references(text).unwrap();
        let got: Vec<(&str, &str, &str)> = refs
            .iter()
            .map(|r| (r.service.as_str(), r.kind, r.path.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", "env_file", "common.env"),
                ("a", "volume", "./tikv/tikv.toml"),
                ("a", "volume", "/abs"),
                ("b", "env_file", "one.env"),
                ("b", "env_file", "two.env"),
                ("b", "volume", "./conf"),
                ("b", "build", "./img"),
            ]
        );
        assert!(compose_references("services: 3\n").is_err());
    }

    #[test]
    fn contained_paths_and_the_rerun_duration() {
        assert_eq!(contained("./a/b.env").as_deref(), Some("a/b.env"));
        assert_eq!(contained("../a"), None);
        assert_eq!(contained("/etc/x"), None);
        assert_eq!(contained("."), None);
        assert_eq!(
            duration_of_rerun("chaos run e.toml --seed 3 --duration 30s"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(duration_of_rerun("chaos run e.toml --seed 3"), None);
    }
}
