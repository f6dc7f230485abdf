//! Build script: turns each test group's switch into a cfg, so that a test
//! of a group that is switched off is compiled as `#[ignore]`d (shown as
//! ignored, with its reason) instead of returning early and passing.
//!
//! | variable | cfg | group |
//! |---|---|---|
//! | `CHAOS_DOCKER_TESTS=1` | `chaos_docker` | tests against the local Docker engine |
//! | `CHAOS_BROWSER_TESTS=1` | `chaos_browser` | the report pages in headless Chromium |
//! | `CHAOS_SWARM_TESTS=1` | `chaos_swarm` | runs on the three-node Docker-in-Docker Swarm test bed |
//! | `CHAOS_NETEM_TESTS=1` | `chaos_netem` | the netem fault applied and healed, on a kernel with `sch_netem` and Docker (not in `.ci/run`: our kernels lack netem) |
//! | `CHAOS_ELLE_HISTORIES=DIR` | `chaos_elle` | Elle's published histories, read from DIR (not in this repository) |
//!
//! Each group has its own switch: asking for one never starts another.

/// (environment variable, cfg name) of every test group switched on by
/// `VAR=1`.
const GROUPS: &[(&str, &str)] = &[
    ("CHAOS_DOCKER_TESTS", "chaos_docker"),
    ("CHAOS_BROWSER_TESTS", "chaos_browser"),
    ("CHAOS_SWARM_TESTS", "chaos_swarm"),
    ("CHAOS_NETEM_TESTS", "chaos_netem"),
];

/// (environment variable, cfg name) of every test group switched on by the
/// variable naming a directory.
const DIR_GROUPS: &[(&str, &str)] = &[("CHAOS_ELLE_HISTORIES", "chaos_elle")];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for (var, cfg) in GROUPS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if std::env::var(var).as_deref() == Ok("1") {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    for (var, cfg) in DIR_GROUPS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
