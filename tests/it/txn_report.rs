//! report.html for list-append runs, and `chaos check --html` on
//! transaction histories: one timeline bar per sampled transaction, one
//! view per anomaly (those the model allows marked so), one labelled SVG
//! arrow per cycle step, keys escaped, and a 100,000-transaction run under
//! 5 MB.

use std::path::Path;

use chaos::checker::txn::{self, ConsistencyModel, TxnCheckOptions, TxnHistory, TxnLine};
use chaos::history::Kind;
use chaos::html::txn::{LineFacts, TxnInput};
use chaos::html::{self, RunHistory, RunInput, timeline};
use chaos::results::build;
use chaos::results::{Anomaly, Results};
use chaos::txngen::{self, Gadget, Isolation, TxnGenConfig};

use super::chaos;
use super::report::fetches_nothing;

/// A simulated list-append run: `txns` transactions on 3 nodes from a
/// database that lets read-only transactions read stale snapshots
/// (serializable, not strict), with a G2-item, a G1a and a G0 planted,
/// checked against `model`, with the faults the etcd list-append
/// experiment's plan gives for its length.
pub fn simulated_txn_run(
    txns: usize,
    model: ConsistencyModel,
) -> (Results, TxnHistory, Vec<LineFacts>, serde_json::Value) {
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
    let history = TxnHistory::from_lines(&lines).unwrap();
    let report = txn::check(
        &history,
        &TxnCheckOptions {
            model,
            ..TxnCheckOptions::default()
        },
    );
    let file = "experiments/etcd-append-serializable.toml";
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let experiment = chaos::experiment::parse(&text, file).unwrap().experiment;
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
    let plan = serde_json::to_value(&plan).unwrap();
    (results, history, facts, plan)
}

fn page_of(
    results: &Results,
    history: &TxnHistory,
    facts: &[LineFacts],
    plan: &serde_json::Value,
) -> String {
    html::render_run(&RunInput {
        results,
        history: Some(RunHistory::Txn(TxnInput {
            history,
            lines: facts,
        })),
        plan: Some(plan),
        notes: &[],
    })
}

/// The part of a page from `from` to the next `until`.
fn part<'a>(page: &'a str, from: &str, until: &str) -> &'a str {
    let start = page.find(from).unwrap_or_else(|| panic!("no {from}"));
    let rest = &page[start..];
    &rest[..rest[from.len()..]
        .find(until)
        .map_or(rest.len(), |e| e + from.len())]
}

#[test]
fn a_txn_run_draws_each_transaction_and_each_anomaly() {
    let (results, history, facts, plan) =
        simulated_txn_run(2_000, ConsistencyModel::StrictSerializable);
    let c = &results.checker;
    let decisive = c.decisive().count();
    assert!(decisive >= 3, "{:?}", results.checker.txn);
    let page = page_of(&results, &history, &facts, &plan);
    fetches_nothing(&page).unwrap();
    // Under the sampling limit: one bar per transaction in the timeline.
    let figure = part(&page, r#"id="timeline-figure""#, "</svg>");
    assert_eq!(figure.matches("data-txn=\"").count(), history.txns.len());
    // Its lanes are grouped by node.
    for n in ["n1", "n2", "n3"] {
        assert!(figure.contains(&format!(">{n}</text>")), "lane group {n}");
    }
    // One view per anomaly drawn; the decisive ones first, then those the
    // model allows.
    let drawn = c.anomalies.len().min(html::MAX_ANOMALY_VIEWS);
    assert_eq!(page.matches("data-anomaly=\"").count(), drawn);
    assert_eq!(
        page.matches(r#"data-decisive="true""#).count(),
        decisive.min(drawn)
    );
    assert!(page.contains(r##"href="#anomaly-1""##));
    assert!(part(&page, r#"id="anomaly-1""#, "</h3>").contains("rules out strict-serializable"));
    // The header says which model, and which models the history rules out.
    let t = c.txn.as_ref().unwrap();
    assert!(page.contains("Held to <b class=\"model\">strict-serializable</b>"));
    for m in &t.not {
        assert!(part(&page, "<b class=\"not\">", "</b>").contains(m.as_str()));
    }
    assert!(page.contains(r#"id="latency""#) && page.contains(r#"id="throughput""#));
    if !results.faults.is_empty() {
        assert!(page.contains("#1 partition"));
    }
    // Every anomaly's transactions can be hovered.
    let data = part(&page, r#"<script id="txns""#, "</script>");
    for a in c.anomalies.iter().take(drawn) {
        for r in html::txn::refs(a) {
            let i = history
                .txns
                .iter()
                .position(|x| x.invoke.line == r.invoke_line)
                .unwrap();
            assert!(
                data.contains(&format!("\"{i}\":[{},", r.invoke_line)),
                "{i}"
            );
        }
    }
}

#[test]
fn each_cycle_step_is_an_arrow_with_its_relation() {
    let (results, history, facts, plan) =
        simulated_txn_run(2_000, ConsistencyModel::StrictSerializable);
    let page = page_of(&results, &history, &facts, &plan);
    let mut cycles = 0;
    for (n, a) in results
        .checker
        .anomalies
        .iter()
        .take(html::MAX_ANOMALY_VIEWS)
        .enumerate()
    {
        let _ = n;
        let Anomaly::TxnCycle(c) = a else { continue };
        cycles += 1;
        // Find this cycle's section by its first transaction's lines.
        let marker = format!(
            "aria-label=\"{}: a cycle of {} transactions\" data-steps=\"{}\"",
            c.anomaly,
            c.txns.len(),
            c.steps.len()
        );
        assert!(page.contains(&marker), "{marker}");
    }
    assert!(cycles > 0);
    // Section by section: as many edges as steps, each labelled with its
    // relation (and key, for ww, wr, rw).
    for section in page.split("<section").skip(1) {
        let Some(svg) = section.split("<svg class=\"cycle\"").nth(1) else {
            continue;
        };
        let svg = svg.split("</svg>").next().unwrap();
        let steps: usize = svg
            .split("data-steps=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let edges: Vec<&str> = svg.split("<g class=\"edge\" data-rel=\"").skip(1).collect();
        assert_eq!(edges.len(), steps);
        let rows: Vec<&str> = section.split("<tr data-rel=\"").skip(1).collect();
        assert_eq!(rows.len(), steps);
        for (e, row) in edges.iter().zip(&rows) {
            let rel = e.split('"').next().unwrap();
            assert_eq!(row.split('"').next().unwrap(), rel);
            let label = e.split("class=\"rel\"").nth(1).unwrap();
            let label = label.split('>').nth(1).unwrap().split('<').next().unwrap();
            assert!(label.starts_with(rel), "{label} is not {rel}");
            if ["ww", "wr", "rw"].contains(&rel) {
                assert!(label.contains(" · key "), "{label}");
            }
        }
    }
}

#[test]
fn anomalies_the_model_allows_are_marked_allowed() {
    // Serializable: the stale read-only transactions (realtime cycles) are
    // allowed; the planted G2-item, G1a and G0 are not.
    let (results, history, facts, plan) = simulated_txn_run(2_000, ConsistencyModel::Serializable);
    let c = &results.checker;
    let allowed: Vec<&Anomaly> = c.anomalies.iter().filter(|a| !c.decides(a)).collect();
    assert!(!allowed.is_empty());
    assert!(allowed.iter().all(|a| a.class().ends_with("-realtime")));
    let page = page_of(&results, &history, &facts, &plan);
    let decisive = c.decisive().count();
    assert_eq!(page.matches(r#"data-decisive="true""#).count(), decisive);
    let first_allowed = format!("id=\"anomaly-{}\"", decisive + 1);
    assert!(page.contains(&format!(
        "<section class=\"anomaly allowed\" {first_allowed}"
    )));
    assert!(part(&page, &first_allowed, "</h3>").contains("allowed by serializable"));
    assert!(page.contains("Held to <b class=\"model\">serializable</b>"));
}

#[test]
fn a_big_txn_run_is_sampled_keeping_the_anomalies() {
    let (results, history, facts, plan) =
        simulated_txn_run(20_000, ConsistencyModel::StrictSerializable);
    let page = page_of(&results, &history, &facts, &plan);
    let figure = part(&page, r#"id="timeline-figure""#, "</svg>");
    assert_eq!(figure.matches("data-txn=\"").count(), timeline::MAX_OPS);
    assert!(page.contains(&format!(
        "Showing {} of {} transactions",
        timeline::MAX_OPS,
        history.txns.len()
    )));
    // The anomalies' transactions are among the bars.
    for a in results
        .checker
        .anomalies
        .iter()
        .take(html::MAX_ANOMALY_VIEWS)
    {
        for r in html::txn::refs(a) {
            let i = history
                .txns
                .iter()
                .position(|x| x.invoke.line == r.invoke_line)
                .unwrap();
            assert!(figure.contains(&format!("data-txn=\"{i}\"")), "{i}");
        }
    }
}

#[test]
fn check_html_draws_a_txn_history_in_each_format() {
    let dir = tempfile::tempdir().unwrap();
    // A write skew (G2-item) over a key that needs escaping.
    let edn = r#"{:index 0, :type :invoke, :process 0, :f :txn, :value [[:r "<k>" nil] [:append 2 1]]}
{:index 1, :type :invoke, :process 1, :f :txn, :value [[:r 2 nil] [:append "<k>" 1]]}
{:index 2, :type :ok, :process 0, :f :txn, :value [[:r "<k>" []] [:append 2 1]]}
{:index 3, :type :ok, :process 1, :f :txn, :value [[:r 2 []] [:append "<k>" 1]]}
{:index 4, :type :invoke, :process 2, :f :txn, :value [[:r "<k>" nil] [:r 2 nil]]}
{:index 5, :type :ok, :process 2, :f :txn, :value [[:r "<k>" [1]] [:r 2 [1]]]}
"#;
    let file = dir.path().join("skew.edn");
    std::fs::write(&file, edn).unwrap();
    let out = dir.path().join("skew.html");
    let run = chaos(&[
        "check".into(),
        file.to_str().unwrap().into(),
        "--format".into(),
        "elle-edn".into(),
        "--html".into(),
        out.to_str().unwrap().into(),
    ]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let page = std::fs::read_to_string(&out).unwrap();
    fetches_nothing(&page).unwrap();
    assert!(page.contains("G2-item"));
    assert!(page.contains(r#"<svg class="cycle""#));
    assert!(
        page.contains("rw · key &quot;&lt;k&gt;&quot;"),
        "the key escaped"
    );
    assert!(!page.contains("<k>"));
    assert_eq!(
        part(&page, r#"id="timeline-figure""#, "</svg>")
            .matches("data-txn=\"")
            .count(),
        3
    );
    assert!(page.contains("elle-edn format"));

    // The same in chaos's JSONL, through its first line.
    let lines: Vec<TxnLine> = txngen::generate(&TxnGenConfig {
        seed: 3,
        txns: 200,
        gadgets: vec![Gadget::G1c],
        ..TxnGenConfig::default()
    });
    let jsonl = dir.path().join("history.jsonl");
    std::fs::write(&jsonl, txngen::jsonl_text(&lines)).unwrap();
    let out = dir.path().join("g1c.html");
    let run = chaos(&[
        "check".into(),
        jsonl.to_str().unwrap().into(),
        "--html".into(),
        out.to_str().unwrap().into(),
    ]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.contains("G1c on transactions at lines"));
    let invocations = lines.iter().filter(|l| l.kind == Kind::Invoke).count();
    assert_eq!(
        part(&page, r#"id="timeline-figure""#, "</svg>")
            .matches("data-txn=\"")
            .count(),
        invocations
    );
}
