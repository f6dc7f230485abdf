//! The human report of a run: what `chaos run` prints at the end and stores
//! as `report.txt`. Rendered from [`crate::results::Results`] alone, so the
//! report and results.json can never disagree.
//!
//! Pure: text in, text out.

use std::fmt::Write as _;

use crate::results::{Anomaly, Latency, Results, Status, Verdict};

/// Render a run's results for a person.
pub fn render(r: &Results, run_dir: &str) -> String {
    let mut out = String::new();
    let verdict = match r.verdict {
        Verdict::Valid => "VALID: every key's history is linearizable",
        Verdict::Invalid => "INVALID: anomalies found",
        Verdict::Unknown => "UNKNOWN: the checker could not decide every key",
    };
    let _ = writeln!(
        out,
        "{}  seed {}  {:.1}s  {}",
        r.experiment.name, r.seed, r.duration_s, r.target.client
    );
    let _ = writeln!(out, "verdict: {verdict}");
    match r.status {
        Status::Completed => {}
        Status::Interrupted => {
            let _ = writeln!(
                out,
                "status: INTERRUPTED: stopped before its end; every applied fault was healed, \
                 and the shorter history was checked"
            );
        }
        Status::Crashed => {
            let _ = writeln!(
                out,
                "status: CRASHED: chaos died during the run; its faults were healed afterwards"
            );
        }
    }
    let _ = writeln!(out);
    let w = &r.workload;
    let _ = writeln!(
        out,
        "workload: {} ops: {} ok, {} fail, {} info (indeterminate); {:.1} ok ops/s",
        w.ops.total(),
        w.ops.ok,
        w.ops.fail,
        w.ops.info,
        w.throughput_ok_per_s
    );
    for (f, c) in &w.by_f {
        let _ = writeln!(
            out,
            "  {f:<11} {:>7} ok {:>6} fail {:>6} info",
            c.ok, c.fail, c.info
        );
    }
    let _ = writeln!(out, "latency of ok ops: {}", latency(&w.latency));
    let _ = writeln!(
        out,
        "  inside fault windows:  {}",
        latency(&w.latency_in_faults)
    );
    let _ = writeln!(
        out,
        "  outside fault windows: {}",
        latency(&w.latency_outside_faults)
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "faults ({}):", r.faults.len());
    for f in &r.faults {
        let targets = if f.targets.is_empty() {
            "-".to_string()
        } else {
            f.targets.join(", ")
        };
        let applied = match (f.applied_at_ms, f.lag_ms) {
            (Some(at), Some(lag)) => format!("at {} (lag {lag:.1}ms)", secs(at)),
            (Some(at), None) => format!("at {}", secs(at)),
            _ => format!("planned at {}, not applied", secs(f.planned_at_ms)),
        };
        let healed = match f.healed_at_ms {
            Some(at) => format!("healed at {}", secs(at)),
            None if f.applied_at_ms.is_some() => "NOT HEALED".to_string(),
            None => String::new(),
        };
        let recovery = match f.recovery_ms {
            Some(ms) => format!(", ops succeeded again {ms}ms later"),
            None if f.healed_at_ms.is_some() => ", no op succeeded after it".to_string(),
            None => String::new(),
        };
        let when = if healed.is_empty() {
            applied
        } else {
            format!("{applied}, {healed}{recovery}")
        };
        let _ = writeln!(
            out,
            "  #{:<3} {:<28} {:<16} {when}",
            f.id, f.description, targets
        );
        if let Some(e) = &f.error {
            let _ = writeln!(out, "        error: {e}");
        }
    }
    let c = &r.checker;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "checker: {} keys: {} valid, {} invalid, {} unknown ({:.1}ms)",
        c.keys, c.keys_valid, c.keys_invalid, c.keys_unknown, c.elapsed_ms
    );
    for a in &c.anomalies {
        match a {
            Anomaly::Register(a) => {
                let _ = writeln!(out, "  {} on key {}:", a.class, a.key);
            }
        }
        for line in a.explanation().lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    for u in &c.undecided {
        let _ = writeln!(out, "  undecided key {}: {}", u.key, u.reason);
    }
    if !r.notes.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "notes:");
        for n in &r.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    if !r.logs.is_empty() {
        let _ = writeln!(out);
        let logs: Vec<&str> = r.logs.values().map(String::as_str).collect();
        let _ = writeln!(out, "node logs: {}", logs.join(", "));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "run directory: {run_dir}");
    let _ = writeln!(out, "rerun: {}", r.rerun);
    out
}

fn secs(ms: u64) -> String {
    format!("{:.3}s", ms as f64 / 1000.0)
}

fn latency(l: &Latency) -> String {
    match (l.p50_ms, l.p99_ms, l.max_ms) {
        (Some(p50), Some(p99), Some(max)) => format!(
            "p50 {p50:.2}ms  p99 {p99:.2}ms  max {max:.2}ms  ({} ops)",
            l.count
        ),
        _ => "no ok ops".to_string(),
    }
}
