//! The one integration test binary: a module per area. Docker tests live in
//! `docker`, gated by `CHAOS_DOCKER_TESTS=1` (set by `.ci/run`).

mod checker;
mod docker;
mod experiments;
mod history;
mod purity;
mod results;
mod run;
mod surreal;
mod txn;

use std::process::{Command, Output};

/// Run the `chaos` binary with arguments.
pub fn chaos(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(args)
        .output()
        .expect("the chaos binary runs")
}

/// The Docker group's gate. Without `CHAOS_DOCKER_TESTS=1` a Docker test
/// says it did not run and returns; with it, Docker must answer (a failure,
/// never a skip), and the returned guard keeps Docker tests one at a time
/// (they share the engine and two cores).
pub fn docker_group(test: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    static DOCKER: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if std::env::var("CHAOS_DOCKER_TESTS").as_deref() != Ok("1") {
        eprintln!("{test}: not run (a Docker test; set CHAOS_DOCKER_TESTS=1)");
        return None;
    }
    let guard = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let info = Command::new("docker").arg("info").output();
    assert!(
        info.as_ref().is_ok_and(|o| o.status.success()),
        "{test}: CHAOS_DOCKER_TESTS=1 but the Docker engine does not answer: {info:?}"
    );
    Some(guard)
}
