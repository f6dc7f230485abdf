//! `chaos runs diff A B`: what differs between two runs, so that "did this
//! change make it worse" has an answer: the plan (experiment, seed,
//! duration, each planned fault, the op streams), the fault timeline as it
//! happened, the verdict, the anomaly kinds, and throughput and latency
//! side by side with their change.
//!
//! Pure: two runs' results.json (and plan.json, when kept) come in as
//! values, a [`RunDiff`] and its text go out. Must not depend on the store,
//! the engine or the CLI.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::{RunSummary, table};
use crate::results::{FaultRecord, Results};

/// One side of a diff: a run's files, read by the shell.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub results: &'a Results,
    /// plan.json, if the run kept it.
    pub plan: Option<&'a Value>,
    pub dir: &'a str,
}

/// What differs between run A and run B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDiff {
    pub a: RunSummary,
    pub b: RunSummary,
    /// The plans' differences in words; empty when the plans are the same.
    pub plan: Vec<String>,
    /// Whether both plans were there to compare.
    pub plans_compared: bool,
    /// The faults as they happened, pair by pair (by position).
    pub faults: Vec<FaultPair>,
    /// Anomaly kinds only A has, only B has, and both.
    pub kinds_only_a: Vec<String>,
    pub kinds_only_b: Vec<String>,
    pub kinds_both: Vec<String>,
    /// Throughput, latency and op counts, side by side.
    pub figures: Vec<Figure>,
}

/// The n-th fault of each run, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultPair {
    pub a: Option<String>,
    pub b: Option<String>,
}

/// A figure of both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub name: &'static str,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// B against A in percent, when both are there and A is not zero.
    pub change_pct: Option<f64>,
}

/// A fault as it happened, in one line: `2 kill etcd1: applied 5.0 s,
/// healed 12.3 s, ops ok again 0.4 s after`.
pub fn fault_line(f: &FaultRecord) -> String {
    let secs = |ms: Option<u64>| {
        ms.map(|m| format!("{:.1} s", m as f64 / 1e3))
            .unwrap_or_else(|| "never".to_string())
    };
    let mut line = format!(
        "{} {} [{}]: applied {}, healed {}",
        f.id,
        f.description,
        f.targets.join(", "),
        secs(f.applied_at_ms),
        secs(f.healed_at_ms)
    );
    match f.recovery_ms {
        Some(r) => {
            let _ = write!(line, ", ops ok again {r} ms after");
        }
        None if f.healed_at_ms.is_some() => line.push_str(", no ok op after the heal"),
        None => {}
    }
    if let Some(e) = &f.error {
        let _ = write!(line, " (error: {})", super::first_line(e));
    }
    line
}

/// A planned fault in words, from plan.json: `partition isolate-one
/// {targets} at 5.0 s to 14.4 s`.
fn planned_fault(f: &Value) -> String {
    let kind = f["fault"]["kind"].as_str().unwrap_or("?");
    let at = f["at_ms"].as_u64().unwrap_or(0) as f64 / 1e3;
    let heal = f["heal_at_ms"].as_u64().unwrap_or(0) as f64 / 1e3;
    let mut params = f["fault"].clone();
    if let Some(o) = params.as_object_mut() {
        o.remove("kind");
    }
    let params = match &params {
        Value::Object(o) if o.is_empty() => String::new(),
        p => format!(" {p}"),
    };
    format!(
        "{kind}{params} on {} at {at:.1} s to {heal:.1} s",
        f["targets"]
    )
}

/// The plans' differences in words.
fn plan_differences(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for field in ["experiment", "seed", "duration_ms"] {
        if a[field] != b[field] {
            out.push(format!("{field}: {} vs {}", a[field], b[field]));
        }
    }
    let empty = Vec::new();
    let fa = a["faults"].as_array().unwrap_or(&empty);
    let fb = b["faults"].as_array().unwrap_or(&empty);
    if fa.len() != fb.len() {
        out.push(format!("faults: {} vs {}", fa.len(), fb.len()));
    }
    for i in 0..fa.len().max(fb.len()) {
        let (x, y) = (fa.get(i), fb.get(i));
        let same = match (x, y) {
            (Some(x), Some(y)) => {
                x["fault"] == y["fault"]
                    && x["targets"] == y["targets"]
                    && x["at_ms"] == y["at_ms"]
                    && x["heal_at_ms"] == y["heal_at_ms"]
            }
            _ => false,
        };
        if !same {
            let text = |f: Option<&Value>| f.map(planned_fault).unwrap_or_else(|| "none".into());
            out.push(format!("fault {}: {} vs {}", i + 1, text(x), text(y)));
        }
    }
    let ca = a["clients"].as_array().map_or(0, Vec::len);
    let cb = b["clients"].as_array().map_or(0, Vec::len);
    if ca != cb {
        out.push(format!("clients: {ca} vs {cb}"));
    } else if a["clients"] != b["clients"] {
        out.push("op streams: the clients' ops differ".to_string());
    }
    out
}

fn figure(name: &'static str, a: Option<f64>, b: Option<f64>) -> Figure {
    let change_pct = match (a, b) {
        (Some(a), Some(b)) if a != 0.0 => Some(((b - a) / a * 1000.0).round() / 10.0),
        _ => None,
    };
    Figure {
        name,
        a,
        b,
        change_pct,
    }
}

/// The longest time until ops succeeded again after a heal.
fn worst_recovery(r: &Results) -> Option<f64> {
    r.faults
        .iter()
        .filter_map(|f| f.recovery_ms)
        .max()
        .map(|m| m as f64)
}

/// Compare two runs.
pub fn diff(a: Side<'_>, b: Side<'_>) -> RunDiff {
    let sa = RunSummary::of(a.results, a.dir);
    let sb = RunSummary::of(b.results, b.dir);
    let (plan, plans_compared) = match (a.plan, b.plan) {
        (Some(pa), Some(pb)) => (plan_differences(pa, pb), true),
        _ => (Vec::new(), false),
    };
    let n = a.results.faults.len().max(b.results.faults.len());
    let faults = (0..n)
        .map(|i| FaultPair {
            a: a.results.faults.get(i).map(fault_line),
            b: b.results.faults.get(i).map(fault_line),
        })
        .collect();
    let ka: BTreeSet<String> = sa.anomaly_kinds.iter().map(|k| k.kind.clone()).collect();
    let kb: BTreeSet<String> = sb.anomaly_kinds.iter().map(|k| k.kind.clone()).collect();
    let (wa, wb) = (&a.results.workload, &b.results.workload);
    let count = |c: u64| Some(c as f64);
    let figures = vec![
        figure("ok ops", count(wa.ops.ok), count(wb.ops.ok)),
        figure("fail ops", count(wa.ops.fail), count(wb.ops.fail)),
        figure("info ops", count(wa.ops.info), count(wb.ops.info)),
        figure(
            "throughput (ok/s)",
            Some(wa.throughput_ok_per_s),
            Some(wb.throughput_ok_per_s),
        ),
        figure("latency p50 (ms)", wa.latency.p50_ms, wb.latency.p50_ms),
        figure("latency p90 (ms)", wa.latency.p90_ms, wb.latency.p90_ms),
        figure("latency p99 (ms)", wa.latency.p99_ms, wb.latency.p99_ms),
        figure("latency max (ms)", wa.latency.max_ms, wb.latency.max_ms),
        figure(
            "p99 in faults (ms)",
            wa.latency_in_faults.p99_ms,
            wb.latency_in_faults.p99_ms,
        ),
        figure(
            "p99 outside faults (ms)",
            wa.latency_outside_faults.p99_ms,
            wb.latency_outside_faults.p99_ms,
        ),
        figure(
            "slowest recovery (ms)",
            worst_recovery(a.results),
            worst_recovery(b.results),
        ),
    ];
    RunDiff {
        kinds_only_a: ka.difference(&kb).cloned().collect(),
        kinds_only_b: kb.difference(&ka).cloned().collect(),
        kinds_both: ka.intersection(&kb).cloned().collect(),
        a: sa,
        b: sb,
        plan,
        plans_compared,
        faults,
        figures,
    }
}

fn number(v: Option<f64>) -> String {
    match v {
        None => "-".to_string(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

/// The diff in words.
pub fn render(d: &RunDiff) -> String {
    let mut out = String::new();
    for (label, s) in [("A", &d.a), ("B", &d.b)] {
        let _ = writeln!(
            out,
            "{label}: {} ({}, seed {}, {} UTC)",
            s.run_dir,
            s.experiment,
            s.seed,
            super::short_time(&s.started_at)
        );
    }
    out.push('\n');
    if !d.plans_compared {
        out.push_str("plan: not compared (a run has no plan.json)\n");
    } else if d.plan.is_empty() {
        out.push_str("plan: the same (experiment, seed, duration, faults and op streams)\n");
    } else {
        out.push_str("plan: differs\n");
        for line in &d.plan {
            let _ = writeln!(out, "  {line}");
        }
    }
    out.push_str("fault timeline:\n");
    if d.faults.is_empty() {
        out.push_str("  no fault in either run\n");
    }
    for p in &d.faults {
        match (&p.a, &p.b) {
            (Some(a), Some(b)) if a == b => {
                let _ = writeln!(out, "  = {a}");
            }
            (a, b) => {
                let none = || "(none)".to_string();
                let _ = writeln!(out, "  A {}", a.clone().unwrap_or_else(none));
                let _ = writeln!(out, "  B {}", b.clone().unwrap_or_else(none));
            }
        }
    }
    let (va, vb) = (d.a.verdict_text(), d.b.verdict_text());
    if va == vb {
        let _ = writeln!(out, "verdict: {va} in both");
    } else {
        let _ = writeln!(out, "verdict: {va} -> {vb}");
    }
    let list = |k: &[String]| {
        if k.is_empty() {
            "-".to_string()
        } else {
            k.join(", ")
        }
    };
    if d.kinds_only_a.is_empty() && d.kinds_only_b.is_empty() {
        let _ = writeln!(out, "anomaly kinds: the same ({})", list(&d.kinds_both));
    } else {
        let _ = writeln!(
            out,
            "anomaly kinds: only in A: {}; only in B: {}; in both: {}",
            list(&d.kinds_only_a),
            list(&d.kinds_only_b),
            list(&d.kinds_both)
        );
    }
    out.push_str("figures:\n");
    let rows: Vec<Vec<String>> = d
        .figures
        .iter()
        .map(|f| {
            vec![
                format!("  {}", f.name),
                number(f.a),
                number(f.b),
                f.change_pct
                    .map(|c| format!("{c:+.1} %"))
                    .unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    out.push_str(&table(&["", "A", "B", "change"], &rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::tests::fixture;

    fn plan(which: &str) -> Value {
        let text = match which {
            "stale" => include_str!(
                "../../tests/data/runs/etcd-serializable-stale-reads/20261129T211013Z-seed3/plan.json"
            ),
            "kill" => include_str!(
                "../../tests/data/runs/surrealdb-local-kill/20261129T212945Z-seed1/plan.json"
            ),
            other => panic!("no plan {other}"),
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_run_against_itself_differs_in_nothing() {
        let (r, p) = (fixture("stale"), plan("stale"));
        let side = Side {
            results: &r,
            plan: Some(&p),
            dir: "results/a",
        };
        let d = diff(side, side);
        assert!(d.plans_compared && d.plan.is_empty(), "{:?}", d.plan);
        assert!(d.kinds_only_a.is_empty() && d.kinds_only_b.is_empty());
        assert_eq!(d.kinds_both, ["stale-read"]);
        assert!(
            d.figures
                .iter()
                .all(|f| f.change_pct.is_none_or(|c| c == 0.0))
        );
        let text = render(&d);
        assert!(text.contains("plan: the same"), "{text}");
        assert!(text.contains("verdict: invalid in both"), "{text}");
        assert!(text.contains("  = 1 partition isolate-one"), "{text}");
    }

    #[test]
    fn two_runs_differ_in_plan_verdict_kinds_and_figures() {
        let (ra, pa) = (fixture("stale"), plan("stale"));
        let (rb, pb) = (fixture("kill"), plan("kill"));
        let mut pb2 = pa.clone();
        pb2["seed"] = serde_json::json!(4);
        pb2["faults"][1]["at_ms"] = serde_json::json!(18000);
        let a = Side {
            results: &ra,
            plan: Some(&pa),
            dir: "results/a",
        };
        let d = diff(
            a,
            Side {
                results: &ra,
                plan: Some(&pb2),
                dir: "results/b",
            },
        );
        assert_eq!(d.plan.len(), 2, "{:?}", d.plan);
        assert_eq!(d.plan[0], "seed: 3 vs 4");
        assert!(d.plan[1].starts_with("fault 2: partition"), "{:?}", d.plan);
        assert!(d.plan[1].contains("at 17.5 s") && d.plan[1].contains("at 18.0 s"));

        let d = diff(
            a,
            Side {
                results: &rb,
                plan: Some(&pb),
                dir: "results/b",
            },
        );
        assert!(
            d.plan.iter().any(|l| l.starts_with("experiment:")),
            "{:?}",
            d.plan
        );
        assert_eq!(d.kinds_only_a, ["stale-read"]);
        assert!(d.kinds_only_b.is_empty());
        let ok = &d.figures[0];
        assert_eq!(ok.name, "ok ops");
        assert_eq!(ok.a, Some(ra.workload.ops.ok as f64));
        assert_eq!(ok.b, Some(rb.workload.ops.ok as f64));
        assert!(ok.change_pct.is_some());
        let text = render(&d);
        assert!(text.contains("verdict: invalid -> valid"), "{text}");
        assert!(text.contains("only in A: stale-read"), "{text}");
        assert!(text.contains("throughput (ok/s)"), "{text}");
        // Runs with different fault counts pair what they have.
        assert!(text.contains("  A 1 partition"), "{text}");
        assert!(text.contains("(none)") || ra.faults.len() == rb.faults.len());
        let no_plan = diff(
            Side { plan: None, ..a },
            Side {
                results: &rb,
                plan: Some(&pb),
                dir: "b",
            },
        );
        assert!(render(&no_plan).contains("plan: not compared"));
    }
}
