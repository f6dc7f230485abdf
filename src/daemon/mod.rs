//! `chaos daemon`: seeded chaos campaigns as a long-running service. It
//! keeps running experiments of a campaign through the run engine, one
//! after another (or several on different compose projects), checks every
//! history, records every run in a durable index, and serves an HTTP API
//! and pages. `docs/daemon.md` is the user's guide.
//!
//! - [`campaign`] (pure): the campaign file, checked; the seeds of its runs.
//! - [`schedule`] (pure): which run starts next; `chaos daemon plan`.
//! - [`metrics`] (pure): the Prometheus text.
//! - [`stats`] (pure): the campaign at a glance (per experiment outcomes,
//!   anomaly kinds, median throughput and recovery; the run table's pages).
//! - [`index`]: the run index (append-only, fsynced JSONL).
//! - [`service`]: the loop: runs, reactions, pause/resume/stop, retention,
//!   start-up healing after a crash.
//! - [`api`]: the HTTP API and pages (axum), with the token.
//! - this module: loading a campaign (every experiment checked before
//!   anything starts), its seed and its token file.
//!
//! Layer: above the engine; below the CLI. It never prints and never exits
//! (it logs through `tracing`); the CLI installs the signal handlers and
//! hands a cancellation token in.

pub mod api;
pub mod campaign;
pub mod index;
pub mod metrics;
pub mod schedule;
pub mod service;
pub mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use campaign::{Campaign, ParsedCampaign};
use service::Member;

use crate::experiment::ExperimentError;
use crate::loader::{self, LoadError};

/// Why a campaign could not be loaded (a user's input: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Campaign(#[from] ExperimentError),
    #[error("{at}: {error}")]
    Experiment {
        at: Box<ExperimentError>,
        error: Box<LoadError>,
    },
}

/// A campaign read from disk, every experiment it names loaded and checked.
#[derive(Debug)]
pub struct LoadedCampaign {
    pub path: PathBuf,
    pub campaign: Campaign,
    pub members: Vec<Member>,
    /// The results directory, resolved against the campaign file.
    pub results_dir: PathBuf,
    /// The token file, resolved.
    pub token_file: PathBuf,
}

impl LoadedCampaign {
    /// The nominal length of each experiment's runs (for `chaos daemon
    /// plan`).
    pub fn nominal(&self) -> BTreeMap<String, Duration> {
        self.members
            .iter()
            .map(|m| (m.name.clone(), m.nominal()))
            .collect()
    }

    /// The schedule's slots.
    pub fn slots(&self) -> Vec<schedule::Slot> {
        self.members
            .iter()
            .map(|m| schedule::Slot {
                experiment: m.name.clone(),
                project: m.project().to_string(),
                cadence: m.cadence,
            })
            .collect()
    }
}

/// Read a campaign file and load every experiment it names: a bad
/// campaign, or a bad experiment in it, is an error that names the file,
/// line and field, before anything starts.
pub fn load(path: &Path) -> Result<LoadedCampaign, CampaignError> {
    let text = loader::read_text(path)?;
    let parsed: ParsedCampaign = campaign::parse(&text, &path.display().to_string())?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut members: Vec<Member> = Vec::new();
    for (i, entry) in parsed.campaign.experiments.iter().enumerate() {
        let file = loader::tidy_path(&dir.join(&entry.file));
        let loaded = loader::load(&file).map_err(|error| CampaignError::Experiment {
            at: Box::new(parsed.error_at(
                &format!("experiments[{i}].file"),
                format!("`{}` does not load", entry.file),
            )),
            error: Box::new(error),
        })?;
        let name = loaded.experiment.name.clone();
        if let Some(other) = members.iter().find(|m| m.name == name) {
            return Err(parsed
                .error_at(
                    &format!("experiments[{i}].file"),
                    format!(
                        "experiment `{name}` is already in the campaign (from {}); names must \
                         be unique (runs are queued by name)",
                        other.file
                    ),
                )
                .into());
        }
        members.push(Member {
            name,
            file: file.display().to_string(),
            loaded,
            duration: entry.duration,
            cadence: entry.cadence,
        });
    }
    let campaign = parsed.campaign;
    let results_dir = loader::tidy_path(&dir.join(&campaign.results_dir));
    let token_file = match &campaign.api.token_file {
        Some(f) => loader::tidy_path(&dir.join(f)),
        None => crate::journal::state_dir()
            .join("daemon")
            .join(format!("{}.token", campaign.name)),
    };
    Ok(LoadedCampaign {
        path: path.to_path_buf(),
        campaign,
        members,
        results_dir,
        token_file,
    })
}

/// The campaign seed: the file's, else the one a previous start stored in
/// the run index. `None`: the campaign never ran and gives none (the
/// daemon draws one at its first start).
pub fn stored_seed(c: &LoadedCampaign) -> Result<Option<u64>, index::IndexError> {
    if let Some(s) = c.campaign.seed {
        return Ok(Some(s));
    }
    let records = index::read(&c.results_dir.join(index::INDEX))?;
    Ok(index::fold(&records, &c.campaign.name).seed)
}

/// Why the token file could not be read or made.
#[derive(Debug, thiserror::Error)]
#[error("token file {path}: {error}")]
pub struct TokenError {
    pub path: String,
    pub error: std::io::Error,
}

/// Read the API token, or make the file (mode 0600, a random token) if it
/// does not exist. Returns the token and whether it was made now.
pub fn token(path: &Path) -> Result<(String, bool), TokenError> {
    let err = |error| TokenError {
        path: path.display().to_string(),
        error,
    };
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => return Ok((t.trim().to_string(), false)),
        Ok(_) => {
            return Err(err(std::io::Error::other(
                "the file is empty; delete it and a new token is made at the next start",
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let token = api::random_secret();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(path).map_err(err)?;
    file.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(err)?;
    Ok((token, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_is_made_once_private_and_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d/t.token");
        let (made, new) = token(&path).unwrap();
        assert!(new);
        let (read, new) = token(&path).unwrap();
        assert!(!new);
        assert_eq!(made, read);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "\n").unwrap();
        assert!(token(&path).unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn the_shipped_campaigns_load_with_every_experiment() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/campaigns");
        let mut n = 0;
        for e in std::fs::read_dir(&root).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                let c = load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!c.members.is_empty());
                n += 1;
            }
        }
        assert!(n >= 3, "campaigns: {n}");
    }
}
