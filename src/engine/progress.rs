//! What a run tells whoever watches it: phases, a tick every half second
//! while the workload runs, faults applied and healed, notes. The engine
//! never prints; it hands [`RunEvent`]s to a [`ProgressSink`]. The command
//! line draws them (indicatif), the daemon keeps the latest for its status
//! page, tests record them.

use std::path::PathBuf;
use std::time::Duration;

/// A step of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Checking what the run needs (images, the helper, netem).
    Preflight,
    /// `compose up`, then waiting until every service is healthy.
    StartingCluster,
    /// The cluster is expected to run already: waiting until it is healthy.
    WaitingHealthy,
    /// Connecting the clients and the role resolvers.
    Connecting,
    /// Clients and faults together, for `total`.
    Running { total: Duration },
    /// Healing every fault still applied.
    Healing,
    /// Letting the cluster recover before the final reads.
    Recovering { wait: Duration },
    /// Reading every touched key once more.
    FinalReads { keys: usize },
    /// Checking the history.
    Checking { ops: usize },
    /// Keeping each node's log with the run.
    SavingLogs,
    /// Writing results.json and the report.
    Writing,
    /// `compose down` (the experiment says `down = true`).
    TearingDown,
}

/// One thing that happened during a run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    Phase(Phase),
    /// Services not ready yet, while the cluster starts.
    Pending(Vec<String>),
    /// The run directory exists.
    RunDir(PathBuf),
    /// Every half second while the workload runs.
    Tick {
        elapsed: Duration,
        total: Duration,
        ok: u64,
        fail: u64,
        info: u64,
        /// The faults in place now, described (`#3 pause etcd2`).
        faults: Vec<String>,
    },
    FaultApplied {
        id: u64,
        kind: String,
        targets: Vec<String>,
    },
    FaultHealed {
        id: u64,
    },
    /// A fault that could not be applied or healed.
    FaultError {
        id: u64,
        error: String,
    },
    /// Something a person should know (a heal error, an interruption).
    Note(String),
}

/// Receives a run's events. Called from the run's tasks: keep it quick.
pub trait ProgressSink: Send + Sync {
    fn event(&self, event: RunEvent);
}

/// A sink that drops everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn event(&self, _: RunEvent) {}
}

/// A sink that keeps every event (tests).
#[derive(Debug, Default)]
pub struct Recorded(pub std::sync::Mutex<Vec<RunEvent>>);

impl ProgressSink for Recorded {
    fn event(&self, event: RunEvent) {
        self.0.lock().expect("events lock").push(event);
    }
}

impl Recorded {
    pub fn events(&self) -> Vec<RunEvent> {
        self.0.lock().expect("events lock").clone()
    }
}
