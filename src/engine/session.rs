//! One fault session: a nemesis with its journal in a run directory, and
//! the promise that whatever it applies is healed on every path. The one
//! way to get a nemesis for a run: `chaos run` (through [`super::run`]),
//! the failover demonstration and `chaos nemesis-apply` all open one.
//!
//! - [`FaultSession::open`] creates the journal (fsynced, registered in the
//!   active index so that `chaos heal` finds it after a crash), the nemesis,
//!   and checks that every service the plan names has a container (helpers
//!   made ahead where the plan partitions).
//! - [`FaultSession::finish`] heals everything, removes the helpers and
//!   closes the journal. A session dropped without `finish` (an error path,
//!   a panic) heals from its journal as it goes (the nemesis's `Drop`).
//! - A SIGKILL cannot be caught: the journal's intents, fsynced before each
//!   fault, let `chaos heal` (or the daemon's next start) undo them.
//!
//! Run [`crate::nemesis::preflight`] before anything is touched (before the
//! cluster starts): a refusal there leaves nothing to undo.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::time::Instant;

use crate::docker::ComposeCluster;
use crate::journal::{Journal, JournalError};
use crate::nemesis::{FinishReport, Nemesis, NemesisError};
use crate::plan::Plan;
use crate::roles::RoleResolver;
use crate::store::{RunDir, files};

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("creating the fault journal: {0}")]
    Journal(#[from] JournalError),
    #[error("resolving the fault targets: {0}")]
    Targets(#[source] NemesisError),
}

/// A nemesis and its journal, for one run.
#[derive(Debug)]
pub struct FaultSession {
    nemesis: Nemesis,
    journal: PathBuf,
}

impl FaultSession {
    /// Open a session in `run_dir` for `plan` on `cluster`. `start` is the
    /// run's clock origin (fault times are relative to it).
    pub async fn open(
        cluster: ComposeCluster,
        run_dir: &RunDir,
        plan: &Plan,
        resolver: Arc<dyn RoleResolver>,
        components: BTreeMap<String, Vec<String>>,
        start: Instant,
    ) -> Result<FaultSession, SessionError> {
        let journal_path = run_dir.file(files::JOURNAL);
        let journal = Journal::create(&journal_path, cluster.project(), cluster.compose_file())?;
        let mut nemesis = Nemesis::new(cluster, journal, resolver, components, start);
        // On failure the nemesis is dropped with nothing applied: its
        // journal closes and leaves the active index.
        nemesis
            .check_targets(plan)
            .await
            .map_err(SessionError::Targets)?;
        Ok(FaultSession {
            nemesis,
            journal: journal_path,
        })
    }

    /// The nemesis, to apply and heal faults.
    pub fn nemesis(&mut self) -> &mut Nemesis {
        &mut self.nemesis
    }

    pub fn journal_path(&self) -> &Path {
        &self.journal
    }

    /// Heal everything, remove the helpers, close the journal.
    pub async fn finish(self) -> FinishReport {
        self.nemesis.finish().await
    }
}
