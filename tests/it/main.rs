//! The one integration test binary: a module per area. Docker tests live in
//! `docker`, gated by `CHAOS_DOCKER_TESTS=1` (set by `.ci/run`).

mod experiments;
mod purity;
mod results;

use std::process::{Command, Output};

/// Run the `chaos` binary with arguments.
pub fn chaos(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(args)
        .output()
        .expect("the chaos binary runs")
}
