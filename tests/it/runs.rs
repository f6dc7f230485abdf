//! Everyday commands around runs: `chaos runs` (list, show, diff) over the
//! kept runs in `tests/data/runs/`, the shipped known-bad controls saying
//! `expect = "invalid"`, `--seeds` refusing what names no seeds, and (Docker
//! group: `CHAOS_DOCKER_TESTS=1`) a sweep of two short etcd runs with fresh
//! volumes, its table, sweep.json and JUnit, then `chaos runs` and `chaos
//! runs diff` over them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::docker_group;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chaos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaos"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("chaos runs")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

const KEPT: &str = "tests/data/runs";

#[test]
fn runs_lists_the_kept_runs_newest_first_and_filters_them() {
    let out = chaos(&["runs", "--results-dir", KEPT, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rows.len() >= 4, "{rows:#?}");
    let times: Vec<&str> = rows
        .iter()
        .map(|r| r["started_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    let stale = rows
        .iter()
        .find(|r| r["experiment"] == "etcd-serializable-stale-reads")
        .expect("the kept stale-read run is listed");
    assert_eq!(stale["verdict"], "invalid");
    assert_eq!(stale["anomaly_kinds"][0]["kind"], "stale-read");
    assert!(
        stale["run_dir"]
            .as_str()
            .unwrap()
            .ends_with("20261129T211013Z-seed3")
    );

    let out = chaos(&[
        "runs",
        "--results-dir",
        KEPT,
        "--invalid",
        "--since",
        "2026-11-29T21:20",
    ]);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(table.starts_with("started (UTC)"), "{table}");
    assert_eq!(
        table.lines().count(),
        2,
        "one invalid run after 21:20:\n{table}"
    );
    assert!(table.contains("etcd-append-serializable"), "{table}");

    let out = chaos(&[
        "runs",
        "--results-dir",
        KEPT,
        "--experiment",
        "no-such-experiment",
    ]);
    assert_eq!(text(&out.stdout), "no runs\n");

    let out = chaos(&["runs", "--results-dir", KEPT, "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected a duration before now"));
    let out = chaos(&["runs", "--results-dir", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no such results directory"));
}

#[test]
fn runs_show_and_diff_a_kept_run() {
    let a = format!("{KEPT}/etcd-serializable-stale-reads/20261129T211013Z-seed3");
    let b = format!("{KEPT}/surrealdb-local-kill/20261129T212945Z-seed1");
    let out = chaos(&["runs", "show", &a]);
    let show = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(show.contains("verdict:     INVALID"), "{show}");
    assert!(show.contains(
        "rerun:       chaos run experiments/etcd-serializable-stale-reads.toml --seed 3"
    ));

    let out = chaos(&["runs", "diff", &a, &b]);
    let diff = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(diff.contains("plan: differs"), "{diff}");
    assert!(diff.contains("verdict: invalid -> valid"), "{diff}");
    assert!(diff.contains("only in A: stale-read"), "{diff}");
    assert!(diff.contains("latency p99 (ms)"), "{diff}");
    let out = chaos(&["runs", "diff", &a, &a, "--json"]);
    let same: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(same["plan"], serde_json::json!([]));
    assert_eq!(same["kinds_both"], serde_json::json!(["stale-read"]));

    let out = chaos(&["runs", "show", "tests/data"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not a run directory"));
}

/// The shipped known-bad controls say so; the experiments they control do
/// not.
#[test]
fn the_shipped_controls_expect_invalid() {
    use chaos::experiment::Expect;
    let expect = |name: &str| {
        chaos::loader::load(&repo().join("experiments").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .experiment
            .expect
    };
    for control in [
        "etcd-bank-unguarded.toml",
        "etcd-bank-read-skew.toml",
        "etcd-set-serializable.toml",
        "etcd-serializable-stale-reads.toml",
        "etcd-append-serializable.toml",
        "etcd-power-loss-nofsync.toml",
        "surrealdb-local-power-loss-nosync.toml",
        "swarm/etcd-serializable-stale-reads.toml",
    ] {
        assert_eq!(expect(control), Expect::Invalid, "{control}");
    }
    for correct in [
        "etcd-bank-partition.toml",
        "etcd-set-partition.toml",
        "etcd-append-partition.toml",
        "etcd-power-loss.toml",
        "surrealdb-local-power-loss.toml",
        "etcd-leader-kill.toml",
    ] {
        assert_eq!(expect(correct), Expect::Valid, "{correct}");
    }
}

#[test]
fn seeds_that_name_no_seeds_are_refused() {
    for (seeds, why) in [
        ("5..2", "runs backwards (5 > 2)"),
        ("0", "is zero seeds"),
        ("x", "not a seed"),
    ] {
        let out = chaos(&["run", "experiments/etcd-leader-kill.toml", "--seeds", seeds]);
        assert_eq!(out.status.code(), Some(2), "{seeds}");
        let err = text(&out.stderr);
        assert!(
            err.contains(why) && err.contains("expected FIRST..LAST"),
            "{seeds}: {err}"
        );
    }
    let out = chaos(&[
        "run",
        "experiments/etcd-leader-kill.toml",
        "--seeds",
        "1..2",
        "--seed",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = chaos(&[
        "run",
        "experiments/etcd-leader-kill.toml",
        "--stop-on-anomaly",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--stop-on-anomaly needs --seeds"
    );
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Two short etcd runs as a sweep with fresh volumes, then `chaos runs`
/// and `chaos runs diff` over them.
#[test]
#[cfg_attr(not(chaos_docker), ignore = "needs Docker: CHAOS_DOCKER_TESTS=1")]
fn a_sweep_of_two_seeds_then_runs_and_diff() {
    let _guard = docker_group("a_sweep_of_two_seeds_then_runs_and_diff");
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let junit = tmp.path().join("ci/junit.xml");
    let (results_s, junit_s) = (results.display().to_string(), junit.display().to_string());
    let out = chaos(&[
        "run",
        "experiments/etcd-leader-kill.toml",
        "--seeds",
        "1..2",
        "--duration",
        "8s",
        "--fresh",
        "--results-dir",
        &results_s,
        "--junit",
        &junit_s,
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("sweep of etcd-leader-kill with 2 seed(s), 1 to 2, fresh volumes for each"),
        "{stderr}"
    );
    // A line per run as it ends, then the table.
    let line1 = stdout.find("seed 1: VALID").expect("seed 1's line");
    let line2 = stdout.find("seed 2: VALID").expect("seed 2's line");
    let table = stdout
        .find("seed  verdict  met")
        .expect("the summary table");
    assert!(line1 < line2 && line2 < table, "{stdout}");
    assert!(
        stdout.contains("2 of 2 seeds run: 2 valid; 2 met the expectation (valid)"),
        "{stdout}"
    );

    // sweep.json beside the runs.
    let dir = results.join("etcd-leader-kill");
    let sweep_file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-sweep.json"))
        .expect("a sweep.json beside the runs");
    assert!(
        stdout.contains(&format!("sweep: {}", sweep_file.display())),
        "{stdout}"
    );
    let sweep = read_json(&sweep_file);
    assert_eq!(sweep["seeds"], serde_json::json!([1, 2]));
    assert_eq!(sweep["fresh"], true);
    let runs = sweep["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (r, seed) in runs.iter().zip([1, 2]) {
        assert_eq!(r["outcome"], "ran");
        assert_eq!(r["seed"], seed);
        assert_eq!(r["verdict"], "valid");
        assert_eq!(r["met"], true);
        assert!(
            Path::new(r["run_dir"].as_str().unwrap())
                .join("results.json")
                .is_file()
        );
    }

    // JUnit: a case per run, none failed.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(
            "<testsuite name=\"etcd-leader-kill\" tests=\"2\" failures=\"0\" errors=\"0\""
        ),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"seed 1\"") && xml.contains("<testcase name=\"seed 2\""));

    // chaos runs: both, newest first.
    let out = chaos(&["runs", "--results-dir", &results_s, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let seeds: Vec<u64> = rows.iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, [2, 1]);
    let out = chaos(&[
        "runs",
        "--results-dir",
        &results_s,
        "--experiment",
        "etcd-leader-kill",
    ]);
    let listed = text(&out.stdout);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(
        listed
            .lines()
            .nth(1)
            .unwrap()
            .contains("etcd-leader-kill  2"),
        "{listed}"
    );

    // chaos runs diff: the plans differ in their seed.
    let (a, b) = (
        runs[0]["run_dir"].as_str().unwrap(),
        runs[1]["run_dir"].as_str().unwrap(),
    );
    let out = chaos(&["runs", "diff", a, b]);
    let diff = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(diff.contains("plan: differs\n  seed: 1 vs 2"), "{diff}");
    assert!(diff.contains("verdict: valid in both"), "{diff}");
    assert!(diff.contains("throughput (ok/s)"), "{diff}");
}
