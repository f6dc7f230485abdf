//! Report benchmark: `cargo bench --bench report`.
//!
//! Renders report.html for the kept real etcd run (tests/data, 3,573 ops),
//! for a simulated 100,000-op run (a generated history with one stale
//! read, checked, with the etcd experiment's faults), for the kept real
//! list-append run (tests/data, etcd, serializable reads), and for a
//! simulated 100,000-transaction list-append run (`chaos::txngen`, 6
//! clients on 3 nodes, stale read-only transactions and a planted G2-item,
//! G1a and G0, checked for strict serializability, with the etcd
//! list-append experiment's faults), and prints for each:
//! the page's size, the render time (min and median of a few), and, when
//! Chromium is there (`chromium`, or `$CHAOS_CHROMIUM`), how long a
//! headless Chromium takes to open it:
//!
//! - `ready`: milliseconds from navigation until the page's script ran at
//!   the end of the parsed document (`data-ready-ms`, read from the DOM
//!   Chromium dumps after load);
//! - `screenshot`: wall time of a 1280 x 1000 screenshot (start, load,
//!   layout, paint, encode) minus that of an empty page, median of five.
//!
//! The pages are left in `$CHAOS_BENCH_OUT` (default /tmp) as
//! `chaos-report-kept.html`, `chaos-report-100k.html`,
//! `chaos-report-txn-kept.html` and `chaos-report-txn-100k.html`. Figures are kept
//! in docs/performance.md. A bench, not a test: it asserts only what the
//! pages must hold (size under 5 MB, the anomalies drawn), never a time.

use std::path::PathBuf;
use std::time::Instant;

use chaos::checker::txn::{self, ConsistencyModel, TxnCheckOptions, TxnHistory, TxnLine};
use chaos::checker::{self, CheckOptions};
use chaos::histgen::{self, Corruption, GenConfig, Values};
use chaos::html::txn::{LineFacts, TxnInput};
use chaos::html::{self, RunHistory, RunInput};
use chaos::results::build;
use chaos::txngen::{self, Gadget, Isolation, TxnGenConfig};

#[path = "common/browser.rs"]
mod browser;
use browser::{chromium_bin, median, ms, open_times};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A simulated run of `ops` operations (as tests/it/report.rs makes it).
fn simulated(
    ops: usize,
) -> (
    chaos::results::Results,
    chaos::history::History,
    serde_json::Value,
) {
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
    .expect("a history");
    let mut history = generated.history;
    for op in &mut history.ops {
        op.node = Some(format!("n{}", op.process % 10 % 3 + 1));
    }
    let report = checker::check(&history, &CheckOptions::default());
    let file = "experiments/etcd-serializable-stale-reads.toml";
    let text = std::fs::read_to_string(root().join(file)).expect("the experiment");
    let experiment = chaos::experiment::parse(&text, file)
        .expect("it parses")
        .experiment;
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
    let plan = serde_json::to_value(&plan).expect("a plan serializes");
    (results, history, plan)
}

/// A simulated list-append run of `txns` transactions (as
/// tests/it/txn_report.rs makes it).
fn simulated_txn(
    txns: usize,
) -> (
    chaos::results::Results,
    TxnHistory,
    Vec<LineFacts>,
    serde_json::Value,
) {
    let mut lines: Vec<TxnLine> = txngen::generate(&TxnGenConfig {
        seed: 5,
        txns,
        processes: 6,
        active_keys: 8,
        appends_per_key: Some(60),
        isolation: Isolation::Serializable,
        gadgets: vec![Gadget::G2Item, Gadget::G1a, Gadget::G0],
        ..TxnGenConfig::default()
    });
    for l in &mut lines {
        l.node = Some(format!("n{}", l.process % 3 + 1));
    }
    let history = TxnHistory::from_lines(&lines).expect("a history");
    let report = txn::check(
        &history,
        &TxnCheckOptions {
            model: ConsistencyModel::StrictSerializable,
            ..TxnCheckOptions::default()
        },
    );
    let file = "experiments/etcd-append-serializable.toml";
    let text = std::fs::read_to_string(root().join(file)).expect("the experiment");
    let experiment = chaos::experiment::parse(&text, file)
        .expect("it parses")
        .experiment;
    let (results, plan) = build::simulated(
        experiment,
        file,
        5,
        "compose/etcd.yml",
        &["n1"],
        &lines
            .iter()
            .map(|l| chaos::checker::txn::jsonl::to_line(l) + "\n")
            .collect::<String>(),
        build::txn_checker_summary(&report, 0.0),
    );
    let facts = LineFacts::from_lines(&lines);
    let plan = serde_json::to_value(&plan).expect("a plan serializes");
    (results, history, facts, plan)
}

/// Render `runs` times: (page, min ms, median ms).
fn render(input: &RunInput<'_>, runs: usize) -> (String, f64, f64) {
    let mut times = Vec::new();
    let mut page = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        page = html::render_run(input);
        times.push(ms(t.elapsed()));
    }
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    (page, min, median(times))
}

fn main() {
    let out_dir = PathBuf::from(std::env::var("CHAOS_BENCH_OUT").unwrap_or_else(|_| "/tmp".into()));
    let kept = root().join("tests/data/runs/etcd-serializable-stale-reads/20261129T211013Z-seed3");
    let files = chaos::runfiles::read(&kept).expect("the kept run reads");
    let kept_history = chaos::history::parse(
        files
            .history
            .as_deref()
            .expect("the kept run has its history"),
        chaos::history::Format::Chaos,
    )
    .expect("the kept history parses");
    let kept_input = RunInput {
        results: &files.results,
        history: Some(chaos::html::RunHistory::Register(&kept_history)),
        plan: files.plan.as_ref(),
        notes: &files.notes,
    };
    let t = Instant::now();
    let (results, history, plan) = simulated(100_000);
    println!(
        "simulated 100,000-op run generated and checked in {:.0} ms ({} anomalies)",
        ms(t.elapsed()),
        results.checker.anomalies.len()
    );
    assert_eq!(
        results.checker.keys_invalid, 1,
        "the simulated run has its anomaly"
    );
    let big_input = RunInput {
        results: &results,
        history: Some(html::RunHistory::Register(&history)),
        plan: Some(&plan),
        notes: &[],
    };
    let t = Instant::now();
    let (txn_results, txn_history, txn_facts, txn_plan) = simulated_txn(100_000);
    println!(
        "simulated 100,000-transaction run generated and checked in {:.0} ms ({} anomalies, {} ruling out {})",
        ms(t.elapsed()),
        txn_results.checker.anomalies.len(),
        txn_results.checker.decisive().count(),
        ConsistencyModel::StrictSerializable
    );
    assert!(
        txn_results.checker.decisive().count() >= 3,
        "the simulated list-append run has its anomalies"
    );
    let txn_big = RunInput {
        results: &txn_results,
        history: Some(RunHistory::Txn(TxnInput {
            history: &txn_history,
            lines: &txn_facts,
        })),
        plan: Some(&txn_plan),
        notes: &[],
    };
    let txn_kept_dir = root().join("tests/data/runs/etcd-append-serializable");
    let txn_kept_files = std::fs::read_dir(&txn_kept_dir)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| chaos::runfiles::read(&e.path()).expect("the kept list-append run reads"));
    let txn_kept_parsed = txn_kept_files.as_ref().map(|f| {
        let text = f.history.as_deref().expect("the kept run has its history");
        (
            txn::parse(text, chaos::checker::txn::TxnFormat::Chaos).expect("it parses"),
            LineFacts::from_jsonl(text),
        )
    });
    let txn_kept =
        txn_kept_files
            .as_ref()
            .zip(txn_kept_parsed.as_ref())
            .map(|(f, (history, lines))| RunInput {
                results: &f.results,
                history: Some(chaos::html::RunHistory::Txn(chaos::html::txn::TxnInput {
                    history,
                    lines,
                })),
                plan: f.plan.as_ref(),
                notes: &f.notes,
            });
    let blank = out_dir.join("chaos-report-blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").expect("write");
    let browser = chromium_bin();
    if browser.is_none() {
        println!(
            "(no chromium: load times not measured; `bash .ci/install.sh --tests` installs it)"
        );
    }
    println!(
        "{:<12} {:>9} {:>10} {:>12} {:>15} {:>11} {:>14}",
        "page", "ops/txns", "size KiB", "render min", "render median", "ready ms", "screenshot ms"
    );
    let mut pages = vec![("kept", &kept_input, 10), ("100k", &big_input, 5)];
    if let Some(k) = &txn_kept {
        pages.push(("txn-kept", k, 10));
    }
    pages.push(("txn-100k", &txn_big, 5));
    for (name, input, runs) in pages {
        let (page, min, med) = render(input, runs);
        assert!(page.len() < 5_000_000, "{name}: {} bytes", page.len());
        assert!(
            page.contains("data-anomaly="),
            "{name}: its anomalies are drawn"
        );
        let path = out_dir.join(format!("chaos-report-{name}.html"));
        std::fs::write(&path, &page).expect("write the page");
        let (ready, shot) = match &browser {
            Some(b) => {
                let (r, s) = open_times(b, &path, &blank);
                (format!("{r:.0}"), format!("{s:.0}"))
            }
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<12} {:>9} {:>10} {:>12.1} {:>15.1} {:>11} {:>14}",
            name,
            input.history.map_or(0, |h| h.len()),
            page.len() / 1024,
            min,
            med,
            ready,
            shot
        );
    }
    let _ = std::fs::remove_file(&blank);
}
