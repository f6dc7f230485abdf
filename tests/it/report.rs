//! report.html: the page of the kept real etcd run (tests/data), `chaos
//! report` on run directories (current, version 1, broken), `chaos check
//! --html` on the three history formats, and a 100,000-op run under 5 MB.
//! (What a browser makes of the pages is tests/it/browser.rs.)

use std::path::{Path, PathBuf};

use chaos::checker::{self, CheckOptions};
use chaos::histgen::{self, Corruption, GenConfig, Values};
use chaos::history::{self, Format, History};
use chaos::html::{self, RunInput, anomaly, timeline};
use chaos::results::Results;
use chaos::results::build;
use chaos::runfiles;

use super::chaos;

/// The kept real run: etcd with serializable reads under partitions, 10
/// invalid keys (a copy of results/examples/..., unchanged).
pub fn kept_run() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/runs/etcd-serializable-stale-reads/20261129T211013Z-seed3")
}

/// A copy of a run directory in a temporary directory.
pub fn copy_run(from: &Path) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(from, dir.path());
    dir
}

/// The page, the results and the history of the kept run.
fn kept_page() -> (String, Results, History) {
    let f = runfiles::read(&kept_run()).unwrap();
    let history =
        chaos::history::parse(f.history.as_deref().unwrap(), chaos::history::Format::Chaos)
            .unwrap();
    let page = html::render_run(&RunInput {
        results: &f.results,
        history: Some(html::RunHistory::Register(&history)),
        plan: f.plan.as_ref(),
        notes: &f.notes,
    });
    (page, f.results, history)
}

/// Every `http` in a page is an SVG namespace, never something to fetch.
pub fn fetches_nothing(page: &str) -> Result<(), String> {
    let mut rest = page;
    while let Some(i) = rest.find("http") {
        let before = &rest[..i];
        if !before.ends_with("xmlns=\"") {
            let end = (i + 60).min(rest.len());
            return Err(format!("a link out of the page: {}", &rest[i..end]));
        }
        rest = &rest[i + 4..];
    }
    for bad in [
        "<link",
        "<img",
        "src=",
        "@import",
        "url(",
        "fetch(",
        "XMLHttpRequest",
    ] {
        if page.contains(bad) {
            return Err(format!("the page contains `{bad}`"));
        }
    }
    Ok(())
}

#[test]
fn the_kept_run_draws_every_op_and_every_anomaly() {
    let (page, results, history) = kept_page();
    assert!(page.len() < 5_000_000, "{} bytes", page.len());
    fetches_nothing(&page).unwrap();
    // Every operation is one bar (the history is under the sampling limit).
    assert!(history.operations.len() <= timeline::MAX_OPS);
    assert_eq!(page.matches("data-op=\"").count(), history.operations.len());
    // One view per invalid key, each with the op that cannot be placed
    // found and outlined, and the jump link to the first.
    assert_eq!(results.checker.keys_invalid, 10);
    assert_eq!(page.matches("data-anomaly=\"").count(), 10);
    assert_eq!(
        page.matches(" stuck\" x=").count(),
        10,
        "stuck ops outlined"
    );
    assert!(page.contains(r##"href="#anomaly-1""##) && page.contains(r#"id="anomaly-1""#));
    // Fault windows labelled on the timeline and plots, heals marked.
    assert!(page.matches("#1 partition").count() >= 3);
    assert!(page.contains("class=\"heal\""));
    // The header and the logs.
    for text in [
        "INVALID",
        "chaos run experiments/etcd-serializable-stale-reads.toml --seed 3 --duration 30s",
        "chaos/etcd:3.4-local",
        "chaos 0.1.0",
        r#"href="logs/etcd1.log""#,
        "Recovery after each heal",
    ] {
        assert!(page.contains(text), "missing {text}");
    }
}

#[test]
fn past_twenty_anomalies_the_rest_are_listed_in_words() {
    let f = runfiles::read(&kept_run()).unwrap();
    let mut results = f.results.clone();
    let ten = results.checker.anomalies.clone();
    results.checker.anomalies.extend(ten.iter().cloned());
    results.checker.anomalies.extend(ten);
    let history =
        chaos::history::parse(f.history.as_deref().unwrap(), chaos::history::Format::Chaos)
            .unwrap();
    let page = html::render_run(&RunInput {
        results: &results,
        history: Some(html::RunHistory::Register(&history)),
        plan: f.plan.as_ref(),
        notes: &[],
    });
    assert_eq!(
        page.matches("data-anomaly=\"").count(),
        html::MAX_ANOMALY_VIEWS
    );
    assert!(page.contains("10 more, in words") && page.contains(">and 10 more<"));
}

#[test]
fn the_op_that_cannot_be_placed_comes_right_after_the_prefix() {
    let (_, results, history) = kept_page();
    for a in &results.checker.anomalies {
        let chaos::results::Anomaly::Register(a) = a else {
            panic!("the kept run is a register run")
        };
        let case = anomaly::Case::from_register(1, a);
        let found = anomaly::find(&history, &case);
        let stuck = found
            .stuck
            .unwrap_or_else(|| panic!("key {}: not found", a.key));
        let line = history.invocation(&history.operations[stuck]).line;
        assert!(
            a.explanation.contains(&format!("lines {line}-")),
            "{}",
            a.explanation
        );
        // The prefix ends where the stuck op completes; the checker's count
        // of it is the ok ops completed before, give or take the info ops
        // it found must have happened.
        let until = found.prefix_until.expect("a prefix");
        assert_eq!(Some(until), history.operations[stuck].complete);
        let before = |outcome: history::Outcome| {
            found
                .ops
                .iter()
                .map(|&i| &history.operations[i])
                .filter(|o| o.outcome == outcome && o.complete.is_some_and(|c| c < until))
                .count() as u64
        };
        let (ok, info) = (before(history::Outcome::Ok), before(history::Outcome::Info));
        let n = a.linearizable_prefix.unwrap();
        assert!(
            ok <= n && n <= ok + info,
            "key {}: {ok} ok, {info} info, prefix {n}",
            a.key
        );
        // The writer named in the words is outlined as the witness.
        if a.ops.len() > 2 {
            assert_eq!(found.witness.len(), 1, "key {}", a.key);
        }
    }
}

#[test]
fn chaos_report_writes_the_page_into_the_run_directory() {
    let run = copy_run(&kept_run());
    let dir = run.path().to_str().unwrap().to_string();
    let out = chaos(&["report".into(), dir.clone()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let page = std::fs::read_to_string(run.path().join("report.html")).unwrap();
    assert_eq!(
        page,
        kept_page().0,
        "the CLI writes what the renderer makes"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("report.html"));
    // Again: the same bytes (no clock in the page).
    let again = chaos(&["report".into(), dir]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(run.path().join("report.html")).unwrap(),
        page
    );
}

#[test]
fn chaos_report_open_uses_the_browser_and_says_when_it_cannot() {
    let run = copy_run(&kept_run());
    let open = |browser: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_chaos"))
            .arg("report")
            .arg(run.path())
            .arg("--open")
            .env("BROWSER", browser)
            .output()
            .unwrap()
    };
    let ok = open("true");
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let failed = open("false");
    let err = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(4), "{err}");
    assert!(
        err.contains("report is written") && err.contains("report.html"),
        "{err}"
    );
    assert!(run.path().join("report.html").is_file());
}

#[test]
fn chaos_report_reads_version_1_results_without_a_history() {
    let run = copy_run(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/runs/v1-surrealdb-local-kill"),
    );
    let out_file = run.path().join("elsewhere.html");
    let out = chaos(&[
        "report".into(),
        run.path().to_str().unwrap().into(),
        "--out".into(),
        out_file.to_str().unwrap().into(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let page = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        page.contains("schema version 1"),
        "the page says how it was read"
    );
    assert!(page.contains("history.jsonl is not kept"));
    assert!(page.contains("VALID"));
    assert!(!run.path().join("report.html").exists());
}

#[test]
fn chaos_report_works_on_every_kept_example() {
    // Every run directory under results/examples (read only: the page goes
    // to a temporary file).
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/examples");
    let mut runs = Vec::new();
    let mut stack = vec![examples];
    while let Some(dir) = stack.pop() {
        if dir.join("results.json").is_file() {
            runs.push(dir.clone());
        }
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && p.file_name().is_some_and(|n| n != "logs") {
                stack.push(p);
            }
        }
    }
    assert!(runs.len() >= 2, "{runs:?}");
    let out_dir = tempfile::tempdir().unwrap();
    for (n, run) in runs.iter().enumerate() {
        let out_file = out_dir.path().join(format!("{n}.html"));
        let out = chaos(&[
            "report".into(),
            run.to_str().unwrap().into(),
            "--out".into(),
            out_file.to_str().unwrap().into(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}: {out:?}", run.display());
        let page = std::fs::read_to_string(&out_file).unwrap();
        fetches_nothing(&page).unwrap();
        let results: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap())
                .unwrap();
        // One view per invalid key (registers), or per anomaly the run
        // recorded (list-append: those its model allows are drawn too).
        let views = if results["checker"]["txn"].is_object() {
            results["checker"]["anomalies"].as_array().unwrap().len()
        } else {
            results["checker"]["keys_invalid"].as_u64().unwrap() as usize
        };
        assert_eq!(
            page.matches("data-anomaly=\"").count(),
            views.min(html::MAX_ANOMALY_VIEWS),
            "{}",
            run.display()
        );
    }
}

#[test]
fn chaos_report_names_the_file_that_is_wrong() {
    // Not a run directory: exit 2, naming it.
    let empty = tempfile::tempdir().unwrap();
    let out = chaos(&["report".into(), empty.path().to_str().unwrap().into()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not a run directory") && err.contains("results.json"),
        "{err}"
    );

    // A broken history line: exit 2, naming the file and the line.
    let run = copy_run(&kept_run());
    let path = run.path().join("history.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[6] = "{\"index\": oops}";
    std::fs::write(&path, lines.join("\n")).unwrap();
    let out = chaos(&["report".into(), run.path().to_str().unwrap().into()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("history.jsonl") && err.contains("line 7"),
        "{err}"
    );

    // A results.json of an unknown version: exit 2.
    let run = copy_run(&kept_run());
    let path = run.path().join("results.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"schema_version\": 2", "\"schema_version\": 9"),
    )
    .unwrap();
    let out = chaos(&["report".into(), run.path().to_str().unwrap().into()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("schema version 9"), "{err}");
}

/// `chaos check FILE --format F --html OUT`: (exit code, page).
fn check_html(file: &Path, format: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("page.html");
    let out = chaos(&[
        "check".into(),
        "--format".into(),
        format.into(),
        file.to_str().unwrap().into(),
        "--html".into(),
        out_file.to_str().unwrap().into(),
    ]);
    let page = std::fs::read_to_string(&out_file)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), page)
}

#[test]
fn check_html_draws_the_anomalies_of_each_format() {
    // This tool's history: the same ten anomalies as the run's report.
    let (code, page) = check_html(&kept_run().join("history.jsonl"), "chaos");
    assert_eq!(code, Some(1));
    assert_eq!(page.matches("data-anomaly=\"").count(), 10);
    assert_eq!(page.matches(" stuck\" x=").count(), 10);
    fetches_nothing(&page).unwrap();

    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    // Jepsen's etcd log (no times: positions on the x axis).
    let (code, page) = check_html(&shared.join("jepsen-etcd/etcd_000.log"), "jepsen-etcd");
    assert_eq!(code, Some(1));
    assert_eq!(page.matches("data-anomaly=\"").count(), 1);
    assert_eq!(page.matches(" stuck\" x=").count(), 1);
    assert!(page.contains("The history has no times"));
    // Porcupine's key-value history.
    let (code, page) = check_html(&shared.join("kv/c01-bad.txt"), "porcupine-kv");
    assert_eq!(code, Some(1));
    assert_eq!(page.matches("data-anomaly=\"").count(), 1);
    assert!(page.contains("on key &quot;7&quot;") || page.contains("on key \"7\""));
    // A valid one: no anomaly, exit 0, the page still drawn.
    let (code, page) = check_html(&shared.join("kv/c01-ok.txt"), "porcupine-kv");
    assert_eq!(code, Some(0));
    assert_eq!(page.matches("data-anomaly=\"").count(), 0);
    assert!(page.contains("VALID"));
}

#[test]
fn check_html_takes_one_history() {
    let h = kept_run().join("history.jsonl");
    let h = h.to_str().unwrap().to_string();
    let out = chaos(&[
        "check".into(),
        h.clone(),
        h,
        "--html".into(),
        "/tmp/never-written.html".into(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--html draws one history"));
}

/// A simulated run of `ops` operations: a generated history with one stale
/// read (on 3 nodes, 10 clients, 100 keys), checked, with the faults the
/// etcd experiment's plan gives for its length, as results.json would say.
pub fn simulated_run(ops: usize) -> (Results, History, serde_json::Value) {
    let generated = histgen::generate(&GenConfig {
        seed: 11,
        ops,
        processes: 10,
        keys: 100,
        values: Values::Unique,
        info_fraction: 0.01,
        fail_fraction: 0.02,
        min_duration_ns: 500_000,
        max_duration_ns: 6_000_000,
        corruption: Some(Corruption::StaleRead),
        ..GenConfig::default()
    })
    .unwrap();
    let mut history = generated.history;
    for op in &mut history.ops {
        // A client keeps its node under a new process id (process + 10).
        op.node = Some(format!("n{}", op.process % 10 % 3 + 1));
    }
    let report = checker::check(&history, &CheckOptions::default());
    let file = "experiments/etcd-serializable-stale-reads.toml";
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let experiment = chaos::experiment::parse(&text, file).unwrap().experiment;
    let (results, plan) = build::simulated(
        experiment,
        file,
        11,
        "compose/etcd.yml",
        &["n1", "n2", "n3"],
        &history
            .ops
            .iter()
            .map(|op| chaos::history::to_line(op) + "\n")
            .collect::<String>(),
        build::checker_summary(&report, 0.0),
    );
    let plan = serde_json::to_value(&plan).unwrap();
    (results, history, plan)
}

#[test]
fn a_100k_op_run_is_sampled_and_stays_under_5_mb() {
    let (results, history, plan) = simulated_run(100_000);
    assert_eq!(history.operations.len(), 100_000);
    assert_eq!(results.checker.keys_invalid, 1, "{:?}", results.checker);
    let page = html::render_run(&RunInput {
        results: &results,
        history: Some(html::RunHistory::Register(&history)),
        plan: Some(&plan),
        notes: &[],
    });
    assert!(page.len() < 5_000_000, "{} bytes", page.len());
    fetches_nothing(&page).unwrap();
    assert_eq!(page.matches("data-op=\"").count(), timeline::MAX_OPS);
    assert!(page.contains(&format!(
        "Showing {} of 100000 operations",
        timeline::MAX_OPS
    )));
    // The anomaly's key is drawn in full: every one of its ops.
    let chaos::results::Anomaly::Register(a) = &results.checker.anomalies[0] else {
        panic!("a register anomaly")
    };
    let key_ops = anomaly::key_ops(&history, &a.key).len();
    assert!(key_ops > 500, "{key_ops}");
    assert_eq!(page.matches("data-kop=\"").count(), key_ops);
    assert_eq!(page.matches(" stuck\" x=").count(), 1);
    // The same history in this tool's format, through `chaos check --html`.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.jsonl");
    std::fs::write(&file, histgen::chaos_text(&history)).unwrap();
    let (code, page) = check_html(&file, "chaos");
    assert_eq!(code, Some(1));
    assert!(page.len() < 5_000_000, "{} bytes", page.len());
    assert_eq!(page.matches("data-op=\"").count(), timeline::MAX_OPS);
    let _ = history::parse(&histgen::chaos_text(&history), Format::Chaos).unwrap();
}
