//! The set's checker (Jepsen's set-full): every element attempted gets a
//! fate by [`crate::workload::lost`]; reads of elements never attempted,
//! or whose add failed, are unexpected. Lost and unexpected elements are
//! anomalies under every model; stale ones when `realtime` (strict
//! serializability) is asked for, else listed as allowed. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::history::{HistoryError, Kind};
use crate::results::{Anomaly, CheckerSummary, Verdict, WorkloadAnomaly};
use crate::workload::Checked;
use crate::workload::lost::{Fate, Seen, fate};
use crate::workload::op::{Paired, paired};

/// One ok read: when it began and ended (ns, or its line when the history
/// has no times), what it saw.
#[derive(Debug, Clone)]
pub struct SetRead {
    pub start: u64,
    pub end: u64,
    pub line: usize,
    pub final_read: bool,
    pub elements: BTreeSet<u64>,
}

/// One element attempted: its add, and what became of it.
#[derive(Debug, Clone)]
pub struct Element {
    pub value: u64,
    pub add_line: usize,
    pub outcome: Kind,
    /// When it became known (ack, or the end of the first read that saw it).
    pub known: Option<u64>,
    pub ack: Option<u64>,
    pub fate: Option<Fate>,
    /// The first read (line) that began after it was known and missed it.
    pub first_miss: Option<usize>,
    /// The last read (line) that saw it.
    pub last_seen: Option<usize>,
    /// From the ack to the start of the read from which it is always seen.
    pub latency_ns: Option<u64>,
}

fn time_or_line(t: Option<u64>, line: usize) -> u64 {
    t.unwrap_or(line as u64)
}

/// The reads and the elements of a set history.
pub fn analyse(history: &str) -> Result<(Vec<SetRead>, BTreeMap<u64, Element>), HistoryError> {
    let ops = paired(history)?;
    let mut reads = Vec::new();
    let mut elements: BTreeMap<u64, Element> = BTreeMap::new();
    for op in &ops {
        match op.invoke.f.as_str() {
            "add" => {
                let value = op
                    .invoke
                    .value
                    .as_u64()
                    .ok_or_else(|| HistoryError::Malformed {
                        line: op.invoke.line,
                        reason: format!("a set add's value is an element, not {}", op.invoke.value),
                    })?;
                let ack = match (&op.complete, op.outcome()) {
                    (Some(c), Kind::Ok) => Some(time_or_line(c.time_ns, c.line)),
                    _ => None,
                };
                elements.insert(
                    value,
                    Element {
                        value,
                        add_line: op.invoke.line,
                        outcome: op.outcome(),
                        known: ack,
                        ack,
                        fate: None,
                        first_miss: None,
                        last_seen: None,
                        latency_ns: None,
                    },
                );
            }
            "read" if op.outcome() == Kind::Ok => reads.push(set_read(op)?),
            _ => {}
        }
    }
    reads.sort_by_key(|r| (r.final_read, r.start, r.line));
    // Known: the ack, or the end of the first read that saw it.
    for r in &reads {
        for e in &r.elements {
            if let Some(el) = elements.get_mut(e) {
                el.known = Some(el.known.map_or(r.end, |k| k.min(r.end)));
            }
        }
    }
    for el in elements.values_mut() {
        // A failed add that a read saw is unexpected, not a fate.
        let Some(known) = el.known.filter(|_| el.outcome != Kind::Fail) else {
            continue;
        };
        let after: Vec<&SetRead> = reads.iter().filter(|r| r.start > known).collect();
        let seen: Vec<Seen> = after
            .iter()
            .map(|r| Seen {
                present: r.elements.contains(&el.value),
                final_read: r.final_read,
            })
            .collect();
        el.fate = Some(fate(&seen));
        el.first_miss = after
            .iter()
            .find(|r| !r.elements.contains(&el.value))
            .map(|r| r.line);
        el.last_seen = reads
            .iter()
            .rev()
            .find(|r| r.elements.contains(&el.value))
            .map(|r| r.line);
        // Always seen from the read after its last miss (or its first).
        let from = match after.iter().rposition(|r| !r.elements.contains(&el.value)) {
            Some(i) => after.get(i + 1),
            None => after.first(),
        };
        if let (Some(ack), Some(r), Some(Fate::Ok | Fate::Stale)) = (el.ack, from, el.fate) {
            el.latency_ns = Some(r.start.saturating_sub(ack));
        }
    }
    Ok((reads, elements))
}

fn set_read(op: &Paired) -> Result<SetRead, HistoryError> {
    let c = op.complete.as_ref().expect("an ok read completed");
    let elements: Vec<u64> =
        serde_json::from_value(c.value.clone()).map_err(|_| HistoryError::Malformed {
            line: c.line,
            reason: format!("a set read's value is a list of elements, not {}", c.value),
        })?;
    Ok(SetRead {
        start: time_or_line(op.invoke.time_ns, op.invoke.line),
        end: time_or_line(c.time_ns, c.line),
        line: op.invoke.line,
        final_read: op.invoke.final_read,
        elements: elements.into_iter().collect(),
    })
}

fn percentile(sorted: &[u64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[i] as f64 / 1e6)
}

/// Check a set history; `realtime`: stale elements count against it.
pub fn check(history: &str, realtime: bool, max_cases: usize) -> Result<Checked, HistoryError> {
    let (reads, elements) = analyse(history)?;
    let mut anomalies = Vec::new();
    let mut omitted: BTreeMap<&str, u64> = BTreeMap::new();
    let mut push = |class: &'static str, allowed: bool, subject: String, why: String, details| {
        let listed = anomalies
            .iter()
            .filter(|a: &&Anomaly| a.class() == class)
            .count();
        if listed >= max_cases.max(1) {
            *omitted.entry(class).or_default() += 1;
            return;
        }
        anomalies.push(Anomaly::Workload(WorkloadAnomaly {
            kind: "set".into(),
            anomaly: class.into(),
            subject,
            explanation: why,
            allowed,
            details,
        }));
    };
    // Unexpected: read, never attempted, or attempted and failed.
    let mut unexpected: BTreeMap<u64, usize> = BTreeMap::new();
    for r in &reads {
        for e in &r.elements {
            let bad = match elements.get(e) {
                None => true,
                Some(el) => el.outcome == Kind::Fail,
            };
            if bad {
                unexpected.entry(*e).or_insert(r.line);
            }
        }
    }
    for (e, line) in &unexpected {
        let why = match elements.get(e) {
            None => format!("the read at line {line} saw element {e}, which no add ever attempted"),
            Some(el) => format!(
                "the read at line {line} saw element {e}, whose add (line {}) failed: it definitely did not happen",
                el.add_line
            ),
        };
        push(
            "unexpected",
            false,
            format!("element {e}"),
            why,
            json!({"element": e, "read_line": line})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
    }
    let mut by_fate: BTreeMap<&str, u64> = BTreeMap::new();
    let mut latencies: Vec<u64> = Vec::new();
    for el in elements.values() {
        let Some(f) = el.fate else { continue };
        *by_fate.entry(f.as_str()).or_default() += 1;
        if let Some(l) = el.latency_ns {
            latencies.push(l);
        }
        let how = match el.ack {
            Some(_) => format!("its add (line {}) was acknowledged", el.add_line),
            None => format!(
                "its add (line {}) ended {}, and a read saw it",
                el.add_line,
                el.outcome.as_str()
            ),
        };
        let details = json!({
            "element": el.value,
            "add_line": el.add_line,
            "add_outcome": el.outcome.as_str(),
            "known_at_ns": el.known,
            "first_read_missing_it": el.first_miss,
            "last_read_seeing_it": el.last_seen,
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        match f {
            Fate::Lost => push(
                "lost",
                false,
                format!("element {}", el.value),
                format!(
                    "{how}, and the final read (after the recovery) missed it{}: a lost write \
                     (an anomaly under every model)",
                    match (el.first_miss, el.last_seen) {
                        (Some(m), Some(s)) => format!(
                            " (missing from line {m} on; last seen by the read at line {s})"
                        ),
                        (Some(m), None) => format!(" (missing from line {m} on; never seen)"),
                        _ => String::new(),
                    }
                ),
                details,
            ),
            Fate::Stale => push(
                "stale",
                !realtime,
                format!("element {}", el.value),
                format!(
                    "{how}, then the read at line {} began after that and missed it, and a later \
                     read saw it (or no final read came to tell): a stale read{}",
                    el.first_miss.unwrap_or(0),
                    if realtime {
                        " (real-time order rules it out)"
                    } else {
                        " (allowed without real-time order)"
                    }
                ),
                details,
            ),
            Fate::Ok | Fate::NeverRead => {}
        }
    }
    latencies.sort_unstable();
    let decisive = anomalies.iter().any(|a| match a {
        Anomaly::Workload(w) => !w.allowed,
        _ => true,
    }) || omitted.keys().any(|c| *c != "stale" || realtime);
    let attempted = elements.len() as u64;
    let acked = elements.values().filter(|e| e.ack.is_some()).count() as u64;
    let bad_elements = by_fate.get("lost").copied().unwrap_or(0)
        + unexpected.len() as u64
        + if realtime {
            by_fate.get("stale").copied().unwrap_or(0)
        } else {
            0
        };
    let summary = CheckerSummary {
        verdict: if decisive {
            Verdict::Invalid
        } else {
            Verdict::Valid
        },
        keys: attempted,
        keys_valid: attempted.saturating_sub(bad_elements),
        keys_invalid: bad_elements,
        keys_unknown: by_fate.get("never-read").copied().unwrap_or(0),
        elapsed_ms: 0.0,
        anomalies,
        undecided: Vec::new(),
        model: None,
        txn: None,
        figures: Some(json!({
            "attempted": attempted,
            "acknowledged": acked,
            "reads": reads.len(),
            "final_read": reads.last().is_some_and(|r| r.final_read),
            "ok": by_fate.get("ok").copied().unwrap_or(0),
            "lost": by_fate.get("lost").copied().unwrap_or(0),
            "stale": by_fate.get("stale").copied().unwrap_or(0),
            "never_read": by_fate.get("never-read").copied().unwrap_or(0),
            "unexpected": unexpected.len(),
            "visibility_latency_ms": {
                "p50": percentile(&latencies, 0.5),
                "p95": percentile(&latencies, 0.95),
                "max": percentile(&latencies, 1.0),
            },
            "anomalies_omitted": omitted,
        })),
    };
    Ok(Checked {
        summary,
        ops: reads.len() + elements.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    /// (process, f, invoke value, outcome, completion value, t0 ms, t1 ms, final)
    type Op<'a> = (u64, &'a str, Json, &'a str, Json, u64, u64, bool);

    pub(crate) fn history(ops: &[Op]) -> String {
        let mut lines: Vec<(u64, String)> = Vec::new();
        for (p, f, v, o, cv, t0, t1, fin) in ops {
            lines.push((
                *t0,
                json!({"time_ns": t0 * 1_000_000, "process": p, "type": "invoke", "f": f, "value": v, "final": fin}).to_string(),
            ));
            lines.push((
                *t1,
                json!({"time_ns": t1 * 1_000_000, "process": p, "type": o, "f": f, "value": cv, "final": fin}).to_string(),
            ));
        }
        lines.sort_by_key(|(t, _)| *t);
        lines.into_iter().map(|(_, l)| l + "\n").collect()
    }

    fn classes(c: &Checked) -> Vec<&str> {
        c.summary.anomalies.iter().map(Anomaly::class).collect()
    }

    #[test]
    fn every_acknowledged_element_seen_from_then_on_is_ok() {
        let h = history(&[
            (0, "add", json!(1), "ok", json!(1), 0, 5, false),
            (1, "read", Json::Null, "ok", json!([1]), 10, 12, false),
            (2, "read", Json::Null, "ok", json!([1]), 20, 22, true),
        ]);
        let c = check(&h, true, 20).unwrap();
        assert_eq!(
            c.summary.verdict,
            Verdict::Valid,
            "{:?}",
            c.summary.anomalies
        );
        let f = c.summary.figures.unwrap();
        assert_eq!(f["ok"], 1);
        assert_eq!(f["visibility_latency_ms"]["p50"], 5.0);
    }

    #[test]
    fn lost_stale_and_unexpected() {
        let h = history(&[
            (0, "add", json!(1), "ok", json!(1), 0, 5, false),
            (0, "add", json!(2), "ok", json!(2), 6, 7, false),
            (3, "add", json!(4), "fail", json!(4), 6, 7, false),
            (1, "read", Json::Null, "ok", json!([1, 4, 9]), 10, 12, false),
            (1, "read", Json::Null, "ok", json!([1, 2]), 13, 14, false),
            (2, "read", Json::Null, "ok", json!([2]), 20, 22, true),
        ]);
        let c = check(&h, true, 20).unwrap();
        assert_eq!(c.summary.verdict, Verdict::Invalid);
        // 1 lost (acked, missing from the final read); 2 stale (acked,
        // missed by the read at 10 ms, seen later); 4 (its add failed) and
        // 9 (never attempted) unexpected.
        assert_eq!(classes(&c), ["unexpected", "unexpected", "lost", "stale"]);
        assert!(c.summary.anomalies[2].explanation().contains("final read"));
        // Without real-time order the stale element is allowed, the rest not.
        let c = check(&h, false, 20).unwrap();
        assert_eq!(c.summary.verdict, Verdict::Invalid);
        assert!(!c.summary.decides(&c.summary.anomalies[3]));
        let stale_only = history(&[
            (0, "add", json!(2), "ok", json!(2), 6, 7, false),
            (1, "read", Json::Null, "ok", json!([]), 10, 12, false),
            (2, "read", Json::Null, "ok", json!([2]), 20, 22, true),
        ]);
        assert_eq!(
            check(&stale_only, false, 20).unwrap().summary.verdict,
            Verdict::Valid
        );
        assert_eq!(
            check(&stale_only, true, 20).unwrap().summary.verdict,
            Verdict::Invalid
        );
    }

    #[test]
    fn an_info_add_seen_once_then_gone_is_lost_and_unseen_is_nothing() {
        let h = history(&[
            (0, "add", json!(1), "info", Json::Null, 0, 50, false),
            (4, "add", json!(3), "info", Json::Null, 0, 50, false),
            (1, "read", Json::Null, "ok", json!([1]), 10, 12, false),
            (2, "read", Json::Null, "ok", json!([]), 60, 62, true),
        ]);
        let c = check(&h, true, 20).unwrap();
        assert_eq!(classes(&c), ["lost"]);
        assert!(
            c.summary.anomalies[0]
                .explanation()
                .contains("ended info, and a read saw it")
        );
    }

    #[test]
    fn an_element_known_only_after_the_last_read_is_never_read() {
        let h = history(&[
            (1, "read", Json::Null, "ok", json!([]), 0, 1, false),
            (0, "add", json!(1), "ok", json!(1), 2, 3, false),
        ]);
        let c = check(&h, true, 20).unwrap();
        assert_eq!(c.summary.verdict, Verdict::Valid);
        assert_eq!(c.summary.figures.unwrap()["never_read"], 1);
    }
}
