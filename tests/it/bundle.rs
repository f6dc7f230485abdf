//! `chaos bundle`: a kept example bundled, unpacked elsewhere, and its
//! rerun command's experiment planned from there (it parses, its compose
//! file is the bundled one); the kept examples are such bundles unpacked;
//! `chaos completions` and `chaos man` from the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::chaos;

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/examples");
    let mut runs = Vec::new();
    for experiment in std::fs::read_dir(&root).unwrap() {
        let experiment = experiment.unwrap().path();
        if !experiment.is_dir() {
            continue;
        }
        for run in std::fs::read_dir(&experiment).unwrap() {
            let run = run.unwrap().path();
            if run.join("results.json").is_file() {
                runs.push(run);
            }
        }
    }
    runs.sort();
    assert!(runs.len() >= 2, "kept examples: {runs:?}");
    runs
}

/// The rerun line of a bundle's README (the indented `chaos run ...`).
fn rerun_line(dir: &Path) -> Vec<String> {
    let readme = std::fs::read_to_string(dir.join("README.md"))
        .unwrap_or_else(|e| panic!("{}: README.md: {e}", dir.display()));
    let line = readme
        .lines()
        .find(|l| l.starts_with("    chaos run "))
        .unwrap_or_else(|| panic!("{}: no rerun line in README.md", dir.display()));
    line.split_whitespace().map(str::to_string).collect()
}

/// `chaos plan` of the rerun line's experiment, seed and duration, from
/// `dir`: the experiment parses, its compose file is found.
fn plan_from(dir: &Path, rerun: &[String]) {
    assert_eq!(
        &rerun[..3],
        ["chaos", "run", "experiment.toml"],
        "{rerun:?}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("plan")
        .args(&rerun[2..])
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: chaos plan {:?}: {}",
        dir.display(),
        &rerun[2..],
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.join("experiment.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let compose = table["cluster"]["compose_file"].as_str().unwrap();
    assert!(
        !Path::new(compose).is_absolute() && dir.join(compose).is_file(),
        "{}: compose_file {compose}",
        dir.display()
    );
}

#[test]
fn a_kept_example_bundled_and_unpacked_elsewhere_plans_from_its_rerun_line() {
    let run = examples()
        .into_iter()
        .find(|r| {
            r.to_string_lossy()
                .contains("etcd-serializable-stale-reads")
        })
        .expect("the etcd kept example");
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("b.tar.gz");
    let out = chaos(&[
        "bundle".into(),
        run.to_str().unwrap().into(),
        "-o".into(),
        archive.to_str().unwrap().into(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("rerun: tar xzf b.tar.gz && cd "),
        "{stdout}"
    );
    let unpack = tmp.path().join("elsewhere");
    std::fs::create_dir(&unpack).unwrap();
    let tar = Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .current_dir(&unpack)
        .status()
        .unwrap();
    assert!(tar.success());
    let tops: Vec<PathBuf> = std::fs::read_dir(&unpack)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(tops.len(), 1, "one top directory: {tops:?}");
    let dir = &tops[0];
    for f in [
        "README.md",
        "bundle.json",
        "experiment.toml",
        "compose/etcd.yml",
        "results.json",
        "report.txt",
        "report.html",
        "plan.json",
        "journal.jsonl",
        "history.jsonl",
        "logs/etcd1.log",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing from the bundle");
    }
    // The run's own files are byte for byte the run's.
    for f in ["results.json", "history.jsonl", "logs/etcd2.log"] {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(run.join(f)).unwrap(),
            "{f}"
        );
    }
    let rerun = rerun_line(dir);
    assert_eq!(
        rerun,
        [
            "chaos",
            "run",
            "experiment.toml",
            "--seed",
            "3",
            "--duration",
            "30s"
        ]
    );
    plan_from(dir, &rerun);
    // The unpacked bundle is a run directory: chaos check agrees with it.
    let check = chaos(&["check".into(), dir.to_str().unwrap().into()]);
    assert_eq!(check.status.code(), Some(1), "{check:?}");
}

#[test]
fn every_kept_example_is_an_unpacked_bundle_whose_rerun_line_plans_from_a_checkout() {
    for run in examples() {
        assert!(
            run.join("report.html").is_file(),
            "{}: no report.html",
            run.display()
        );
        assert!(
            run.join("bundle.json").is_file(),
            "{}: no bundle.json",
            run.display()
        );
        plan_from(&run, &rerun_line(&run));
    }
}

#[test]
fn bundle_refuses_a_directory_that_is_not_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = chaos(&["bundle".into(), tmp.path().to_str().unwrap().into()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a run directory"));
}

#[test]
fn completions_and_man_page_from_the_binary() {
    for shell in ["bash", "zsh", "fish"] {
        let out = chaos(&["completions".into(), shell.into()]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("doctor") && script.contains("bundle"),
            "{shell}"
        );
    }
    let out = chaos(&["completions".into(), "powershell".into()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = chaos(&["man".into()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains(".TH chaos 1"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains(".SH \"CHAOS DOCTOR\""));
}
