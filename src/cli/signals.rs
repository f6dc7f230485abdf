//! Ctrl-C and SIGTERM for the commands that apply faults (`chaos run`,
//! `nemesis-apply`, the failover demo): the first signal cancels the work
//! through a [`CancellationToken`] (the engine heals every fault, checks
//! what was recorded and writes the results as interrupted); a second one
//! heals the projects from their journals at once and exits with 130.
//!
//! CLI only: only the command line installs process-wide signal handlers
//! and exits the process.

use tokio_util::sync::CancellationToken;

use super::cluster::ProjectRef;
use crate::nemesis;

/// The exit code of a command stopped by a signal (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;

/// Install the handlers (inside a runtime) for work on `projects`; returns
/// the token the first signal cancels.
pub fn install(projects: Vec<ProjectRef>) -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let which = wait_signal().await;
        eprintln!(
            "\nchaos: {which}: stopping; every fault is healed, then what was recorded is checked \
             and written (again to heal from the journal and exit at once)"
        );
        cancel.cancel();
        let which = wait_signal().await;
        eprintln!("chaos: {which} again: healing from the journal, then exiting");
        for p in &projects {
            match p.connect().await {
                Ok(cluster) => {
                    let report = nemesis::recover(&cluster).await;
                    eprint!("{}", super::heal::render(p, &report));
                }
                Err(e) => eprintln!(
                    "chaos: cannot reach Docker to heal {}: {}; run `chaos heal --project {}`",
                    p.describe(),
                    e,
                    p.project
                ),
            }
        }
        std::process::exit(i32::from(INTERRUPTED));
    });
    token
}

async fn wait_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return "Ctrl-C";
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
