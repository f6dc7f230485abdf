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
    let verdict = match (&r.checker.txn, r.verdict) {
        (None, Verdict::Valid) => "VALID: every key's history is linearizable".to_string(),
        (None, Verdict::Invalid) => "INVALID: anomalies found".to_string(),
        (None, Verdict::Unknown) => "UNKNOWN: the checker could not decide every key".to_string(),
        (Some(t), Verdict::Valid) => format!("VALID: the history is consistent with {}", t.model),
        (Some(t), Verdict::Invalid) => format!("INVALID: the history rules out {}", t.model),
        (Some(t), Verdict::Unknown) => {
            format!("UNKNOWN: the checker could not decide {}", t.model)
        }
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
        let when = if healed.is_empty() {
            applied
        } else {
            format!("{applied}, {healed}")
        };
        // A partition's cut on a line of its own, then its targets.
        match f
            .description
            .split_once(": ")
            .filter(|_| f.kind == "partition")
        {
            Some((head, cut)) => {
                let _ = writeln!(out, "  #{:<3} {head:<28} {when}", f.id);
                let _ = writeln!(out, "        cut: {cut}");
                if let Some(node) = &f.isolated {
                    let _ = writeln!(out, "        isolated: {node}");
                }
                let _ = writeln!(out, "        targets: {targets}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "  #{:<3} {:<28} {:<16} {when}",
                    f.id, f.description, targets
                );
                if let Some(node) = &f.isolated {
                    let _ = writeln!(out, "        isolated: {node}");
                }
            }
        }
        if f.healed_at_ms.is_some() {
            let _ = writeln!(out, "        recovery: {}", recovery_text(f));
        }
        if let Some(e) = &f.error {
            let _ = writeln!(out, "        error: {e}");
        }
        for o in &f.observed {
            let _ = writeln!(out, "        seen: {o}");
        }
    }
    let c = &r.checker;
    let _ = writeln!(out);
    match (&c.txn, &c.figures) {
        (None, Some(figures)) => {
            let _ = writeln!(
                out,
                "checker: {}{} ({:.1}ms): {}",
                w.kind,
                c.model
                    .as_deref()
                    .map(|m| format!(" held to {m}"))
                    .unwrap_or_default(),
                c.elapsed_ms,
                figures_text(figures)
            );
        }
        (None, None) => {
            let _ = writeln!(
                out,
                "checker: {} keys: {} valid, {} invalid, {} unknown ({:.1}ms)",
                c.keys, c.keys_valid, c.keys_invalid, c.keys_unknown, c.elapsed_ms
            );
        }
        (Some(t), _) => {
            let _ = writeln!(
                out,
                "checker: list-append held to {}: {} transactions ({} ok, {} fail, {} info) on {} keys ({:.1}ms)",
                t.model,
                t.counts.transactions,
                t.counts.ok,
                t.counts.fail,
                t.counts.info,
                t.counts.keys,
                c.elapsed_ms
            );
            let _ = writeln!(out, "  {}", txn_models(t));
        }
    }
    // A list-append anomaly the model allows (write skew under snapshot
    // isolation) is listed after those that rule the model out.
    let allowed = |a: &Anomaly| !c.decides(a);
    let mut heading_allowed = false;
    for a in c
        .anomalies
        .iter()
        .filter(|a| !allowed(a))
        .chain(c.anomalies.iter().filter(|a| allowed(a)))
    {
        let model = c
            .txn
            .as_ref()
            .map(|t| t.model.to_string())
            .or_else(|| c.model.clone());
        if let (true, false, Some(model)) = (allowed(a), heading_allowed, model) {
            heading_allowed = true;
            let _ = writeln!(
                out,
                "  found, and allowed by {model} (they rule out stronger models only):"
            );
        }
        match a {
            Anomaly::Register(a) => {
                let _ = writeln!(out, "  {} on key {}:", a.class, a.key);
            }
            other => {
                let _ = writeln!(out, "  {} on {}:", other.class(), other.subject());
            }
        }
        for line in a.explanation().lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    if let Some(t) = &c.txn {
        for (name, n) in &t.anomalies_omitted {
            let _ = writeln!(
                out,
                "  ... and {n} more {name} (listed in full: the first of each name)"
            );
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

/// A workload room's figures in one line: `reads_checked 812, bad_reads 0,
/// transfers {ok 402, fail 88, info 3}` (empty values left out).
pub fn figures_text(figures: &serde_json::Value) -> String {
    fn one(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::Object(m) => {
                let inner: Vec<String> = m
                    .iter()
                    .filter(|(_, v)| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
                    .map(|(k, v)| format!("{k} {}", one(v)))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(f) if n.as_u64().is_none() && n.as_i64().is_none() => format!("{f:.1}"),
                _ => n.to_string(),
            },
            other => other.to_string(),
        }
    }
    match figures {
        serde_json::Value::Object(m) => m
            .iter()
            .filter(|(_, v)| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
            .map(|(k, v)| format!("{k} {}", one(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => one(other),
    }
}

/// The models a list-append history rules out, in Elle's terms.
pub fn txn_models(t: &crate::results::TxnSummary) -> String {
    let names = |m: &[crate::checker::txn::ConsistencyModel]| {
        m.iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if t.not.is_empty() {
        let undecided: Vec<String> = t
            .models
            .iter()
            .filter(|m| m.verdict == crate::checker::Verdict::Unknown)
            .map(|m| m.model.to_string())
            .collect();
        if undecided.is_empty() {
            "rules out no model".to_string()
        } else {
            format!("rules out no model; undecided: {}", undecided.join(", "))
        }
    } else if t.also_not.is_empty() {
        format!("rules out {}", names(&t.not))
    } else {
        format!(
            "rules out {} (and so {})",
            names(&t.not),
            names(&t.also_not)
        )
    }
}

/// After a heal, in words: the first ok op, throughput back near its level
/// before the fault, the first ok write.
pub fn recovery_text(f: &crate::results::FaultRecord) -> String {
    let mut parts = vec![match f.recovery_ms {
        Some(ms) => format!("ops succeeded again {ms}ms later"),
        None => "no op succeeded after it".to_string(),
    }];
    if let Some(r) = &f.recovery {
        parts.push(throughput_recovery_text(r));
        parts.push(match r.write_ms {
            Some(ms) => format!("a write succeeded again {ms}ms later"),
            None => "no write succeeded after it".to_string(),
        });
    }
    parts.join("; ")
}

/// Throughput's recovery after a heal, in words.
pub fn throughput_recovery_text(r: &crate::results::Recovery) -> String {
    let rule = match r.level_ok_per_s {
        Some(level) => format!(
            "throughput back to {:.0}% of {level:.1} ok ops/s (its level before) for {}s",
            r.share * 100.0,
            r.sustain_s
        ),
        None => "throughput back".to_string(),
    };
    match (r.throughput_ms, r.not_recovered) {
        (Some(ms), _) => format!("{rule} {ms}ms later"),
        (None, Some(why)) => format!("{rule}: {}", why.words()),
        (None, None) => format!("{rule}: not recovered"),
    }
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
