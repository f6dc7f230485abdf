//! SurrealDB without its image: the failover demonstration's refusal of a
//! one-node cluster (no Docker needed) and the TiKV cluster's compose file
//! (Docker group). The tests that run the real SurrealDB server are in
//! `surrealdb_image`.

use std::process::Command;

use crate::docker_group;
use crate::run::repo;

pub(crate) fn chaos(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chaos"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("chaos runs")
}

pub(crate) fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn failover_demo_needs_two_nodes() {
    let out = chaos(&["demo", "failover", "experiments/surrealdb-local-kill.toml"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("two SurrealDB nodes"), "{shown}");
    // And an etcd experiment is not a SurrealDB one.
    let out = chaos(&["demo", "crud", "experiments/etcd-leader-kill.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// The compose CLI as the machine has it: `docker compose` (v2) or
/// `docker-compose` (v1).
fn compose_cli() -> Vec<&'static str> {
    let v2 = Command::new("docker").args(["compose", "version"]).output();
    if v2.is_ok_and(|o| o.status.success()) {
        vec!["docker", "compose"]
    } else {
        vec!["docker-compose"]
    }
}

#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn the_tikv_compose_file_is_valid_pinned_and_local_only() {
    let _guard = docker_group("the_tikv_compose_file_is_valid_pinned_and_local_only");
    let cli = compose_cli();
    let config = |env: &[(&str, &str)]| {
        let out = Command::new(cli[0])
            .args(&cli[1..])
            .current_dir(repo())
            .args(["-f", "compose/surrealdb-tikv.yml", "config"])
            .envs(env.iter().copied())
            .output()
            .expect("the compose CLI runs");
        assert!(out.status.success(), "compose config: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let doc = config(&[]);
    let images: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .collect();
    assert_eq!(images.len(), 6, "pd0, tikv0-2, surrealdb1-2: {images:?}");
    for image in &images {
        let (_, tag) = image.rsplit_once(':').expect("a tag");
        assert!(
            tag != "latest" && tag.starts_with('v'),
            "{image}: not pinned"
        );
    }
    // Every published port is on 127.0.0.1 (v1 prints the short form
    // `127.0.0.1:2379:2379/tcp`, v2 the long form with `host_ip`).
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&doc).expect("compose config is YAML");
    let mut ports = 0;
    for (name, service) in yaml["services"].as_mapping().expect("services") {
        for port in service["ports"].as_sequence().into_iter().flatten() {
            ports += 1;
            let host_ip = match port {
                serde_yaml_ng::Value::String(short) => short.split(':').next().unwrap().to_string(),
                long => long["host_ip"].as_str().unwrap_or("").to_string(),
            };
            assert_eq!(host_ip, "127.0.0.1", "{name:?}: port {port:?}");
        }
    }
    assert_eq!(
        ports, 3,
        "pd0, surrealdb1, surrealdb2 publish one port each"
    );
    let services = yaml["services"].as_mapping().expect("services");
    for (name, service) in services {
        let name = name.as_str().expect("a service name");
        if name.starts_with("tikv") {
            // TiKV exits at start below 82,920 open files.
            for limit in ["soft", "hard"] {
                assert_eq!(
                    service["ulimits"]["nofile"][limit].as_u64(),
                    Some(1_000_000),
                    "{name}: ulimits.nofile.{limit}"
                );
            }
            let command: Vec<&str> = service["command"]
                .as_sequence()
                .expect("a command list")
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            assert!(
                command.contains(&"--config=/etc/tikv/tikv.toml"),
                "{name}: {command:?}"
            );
        }
        if name.starts_with("surrealdb") {
            // Ready means the WebSocket endpoint the clients use answers.
            let test: Vec<&str> = service["healthcheck"]["test"]
                .as_sequence()
                .expect("a health check")
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            assert!(
                test.contains(&"is-ready") && test.contains(&"ws://localhost:8000"),
                "{name}: {test:?}"
            );
        }
    }
    // The test cluster's TiKV configuration reserves no disk space.
    let tikv_toml: toml::Table = std::fs::read_to_string(repo().join("compose/tikv/tikv.toml"))
        .expect("compose/tikv/tikv.toml")
        .parse()
        .expect("tikv.toml is TOML");
    assert_eq!(tikv_toml["storage"]["reserve-space"].as_integer(), Some(0));
    assert_eq!(
        tikv_toml["storage"]["reserve-raft-space"].as_integer(),
        Some(0)
    );
    // The async-commit switches default to SurrealDB's defaults and follow
    // the environment (cluster.env in tikv-async-commit.toml).
    assert!(
        doc.contains("SURREAL_TIKV_ASYNC_COMMIT: 'true'")
            || doc.contains("SURREAL_TIKV_ASYNC_COMMIT: \"true\""),
        "{doc}"
    );
    let off = config(&[("SURREAL_TIKV_ASYNC_COMMIT", "false")]);
    assert!(
        off.contains("SURREAL_TIKV_ASYNC_COMMIT: 'false'")
            || off.contains("SURREAL_TIKV_ASYNC_COMMIT: \"false\""),
        "{off}"
    );
}
