//! The bank's checker: every ok read of all accounts must sum to the
//! total, and when transfers refuse to go negative, show no negative
//! balance. A wrong read is explained with its balances, the total it
//! saw, and the transfers in flight around it (those whose window overlaps
//! the read's, and those that never completed before it ended). Pure.

use serde_json::{Value as Json, json};

use super::Params;
use crate::history::{HistoryError, Kind};
use crate::results::{Anomaly, CheckerSummary, Verdict, WorkloadAnomaly};
use crate::workload::Checked;
use crate::workload::op::{Paired, paired};

/// At most this many transfers in flight are named in an anomaly.
const MAX_IN_FLIGHT: usize = 8;

/// One ok read, as the checker sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadFacts {
    /// Completion time, seconds (0 without times).
    pub at: f64,
    pub total: i64,
    pub wrong: bool,
    pub final_read: bool,
}

/// The balances an ok read saw (`None`: the account was missing), or why
/// its value is not a read.
fn balances(op: &Paired) -> Result<Vec<Option<i64>>, HistoryError> {
    let c = op.complete.as_ref().expect("only completed reads are read");
    serde_json::from_value(c.value.clone()).map_err(|_| HistoryError::Malformed {
        line: c.line,
        reason: format!(
            "a bank read's value is a list of balances (numbers or null), not {}",
            c.value
        ),
    })
}

/// Every ok read's total, in history order (for the page).
pub fn reads(history: &str, p: &Params) -> Result<Vec<ReadFacts>, HistoryError> {
    let mut out = Vec::new();
    for op in paired(history)? {
        if op.invoke.f != "read" || op.outcome() != Kind::Ok {
            continue;
        }
        let b = balances(&op)?;
        let total: i64 = b.iter().flatten().sum();
        let wrong = total != p.total as i64
            || b.len() as u64 != p.accounts
            || b.iter().any(Option::is_none)
            || (p.refuse_negative && b.iter().flatten().any(|v| *v < 0));
        out.push(ReadFacts {
            at: op.end_s().unwrap_or(0.0),
            total,
            wrong,
            final_read: op.invoke.final_read,
        });
    }
    Ok(out)
}

/// A transfer in words: `transfer 3 a1->a4 (ok, lines 12-15, 1.204-1.210 s)`.
fn describe_transfer(t: &Paired) -> String {
    let v = &t.invoke.value;
    let times = match (t.start_s(), t.end_s()) {
        (Some(a), Some(b)) => format!(", {a:.3}-{b:.3} s"),
        (Some(a), None) => format!(", from {a:.3} s"),
        _ => String::new(),
    };
    format!(
        "transfer {} a{}->a{} ({}, {}{times})",
        v["amount"],
        v["from"],
        v["to"],
        t.outcome().as_str(),
        t.lines()
    )
}

/// Is transfer `t` in flight during read `r`: invoked before the read
/// ended, and not completed before the read began (an `info` or unfinished
/// transfer stays in flight to the end)?
fn in_flight(t: &Paired, r: &Paired) -> bool {
    let (Some(r0), Some(r1)) = (
        r.invoke.time_ns,
        r.complete.as_ref().and_then(|c| c.time_ns),
    ) else {
        return false;
    };
    let Some(t0) = t.invoke.time_ns else {
        return false;
    };
    let t1 = match (&t.complete, t.outcome()) {
        (Some(c), Kind::Ok | Kind::Fail) => c.time_ns.unwrap_or(u64::MAX),
        _ => u64::MAX,
    };
    t0 < r1 && t1 > r0 && t.outcome() != Kind::Fail
}

/// Check a bank history.
pub fn check(history: &str, p: &Params, max_cases: usize) -> Result<Checked, HistoryError> {
    let ops = paired(history)?;
    let transfers: Vec<&Paired> = ops.iter().filter(|o| o.invoke.f == "transfer").collect();
    let mut anomalies = Vec::new();
    let mut omitted: std::collections::BTreeMap<&str, u64> = Default::default();
    let (mut reads, mut bad_reads) = (0u64, 0u64);
    let (mut min_total, mut max_total) = (i64::MAX, i64::MIN);
    for op in ops
        .iter()
        .filter(|o| o.invoke.f == "read" && o.outcome() == Kind::Ok)
    {
        reads += 1;
        let b = balances(op)?;
        let total: i64 = b.iter().flatten().sum();
        min_total = min_total.min(total);
        max_total = max_total.max(total);
        let missing: Vec<usize> = (0..p.accounts as usize)
            .filter(|i| b.get(*i).is_none_or(Option::is_none))
            .collect();
        let negative: Vec<usize> = b
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_some_and(|v| v < 0))
            .map(|(i, _)| i)
            .collect();
        let mut found: Vec<(&str, String)> = Vec::new();
        if total != p.total as i64 || !missing.is_empty() {
            let mut why = format!(
                "it saw balances {} summing to {total}, not {}",
                json!(b),
                p.total
            );
            if !missing.is_empty() {
                let names: Vec<String> = missing.iter().map(|i| format!("a{i}")).collect();
                why.push_str(&format!(" (missing: {})", names.join(", ")));
            }
            found.push(("wrong-total", why));
        }
        if p.refuse_negative && !negative.is_empty() {
            let names: Vec<String> = negative
                .iter()
                .map(|i| format!("a{i} = {}", b[*i].unwrap_or(0)))
                .collect();
            found.push((
                "negative-balance",
                format!(
                    "it saw {} although transfers refuse to make a balance negative",
                    names.join(", ")
                ),
            ));
        }
        if found.is_empty() {
            continue;
        }
        bad_reads += 1;
        let around: Vec<&&Paired> = transfers.iter().filter(|t| in_flight(t, op)).collect();
        let mut words: Vec<String> = around
            .iter()
            .take(MAX_IN_FLIGHT)
            .map(|t| describe_transfer(t))
            .collect();
        if around.len() > MAX_IN_FLIGHT {
            words.push(format!("{} more", around.len() - MAX_IN_FLIGHT));
        }
        let when = match (op.start_s(), op.end_s()) {
            (Some(a), Some(b)) => format!(", {a:.3}-{b:.3} s"),
            _ => String::new(),
        };
        let which = if op.invoke.final_read {
            "the final read"
        } else {
            "the read"
        };
        for (class, why) in found {
            let listed = anomalies
                .iter()
                .filter(|a: &&Anomaly| a.class() == class)
                .count();
            if listed >= max_cases.max(1) {
                *omitted.entry(class).or_default() += 1;
                continue;
            }
            let flight = if words.is_empty() {
                "No transfer was in flight around it.".to_string()
            } else {
                format!("Transfers in flight around it: {}.", words.join("; "))
            };
            anomalies.push(Anomaly::Workload(WorkloadAnomaly {
                kind: "bank".into(),
                anomaly: class.into(),
                subject: format!("read at line {}", op.invoke.line),
                explanation: format!(
                    "{which} of process {} ({}{when}): {why}. {flight}",
                    op.invoke.process,
                    op.lines()
                ),
                allowed: false,
                details: json!({
                    "read": {
                        "process": op.invoke.process,
                        "invoke_line": op.invoke.line,
                        "complete_line": op.complete.as_ref().map(|c| c.line),
                        "final": op.invoke.final_read,
                        "balances": b,
                    },
                    "total": total,
                    "expected": p.total,
                    "in_flight": around.iter().map(|t| json!({
                        "value": t.invoke.value,
                        "outcome": t.outcome().as_str(),
                        "invoke_line": t.invoke.line,
                        "complete_line": t.complete.as_ref().map(|c| c.line),
                    })).collect::<Vec<Json>>(),
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            }));
        }
    }
    let count = |k: Kind| transfers.iter().filter(|t| t.outcome() == k).count();
    let summary = CheckerSummary {
        verdict: if bad_reads > 0 {
            Verdict::Invalid
        } else {
            Verdict::Valid
        },
        keys: p.accounts,
        keys_valid: if bad_reads > 0 { 0 } else { p.accounts },
        keys_invalid: if bad_reads > 0 { p.accounts } else { 0 },
        keys_unknown: 0,
        elapsed_ms: 0.0,
        anomalies,
        undecided: Vec::new(),
        model: None,
        txn: None,
        figures: Some(json!({
            "accounts": p.accounts,
            "total": p.total,
            "reads_checked": reads,
            "bad_reads": bad_reads,
            "min_total_seen": (reads > 0).then_some(min_total),
            "max_total_seen": (reads > 0).then_some(max_total),
            "transfers": {"ok": count(Kind::Ok), "fail": count(Kind::Fail), "info": count(Kind::Info)},
            "anomalies_omitted": omitted,
        })),
    };
    Ok(Checked {
        summary,
        ops: ops.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Params {
        Params {
            accounts: 3,
            total: 30,
            ..Params::default()
        }
    }

    /// A history from (process, f, value at invoke, outcome, value at
    /// completion, invoke ms, complete ms).
    fn history(ops: &[(u64, &str, Json, &str, Json, u64, u64)]) -> String {
        let mut lines: Vec<(u64, String)> = Vec::new();
        for (p, f, v, o, cv, t0, t1) in ops {
            lines.push((
                *t0,
                json!({"time_ns": t0 * 1_000_000, "process": p, "type": "invoke", "f": f, "value": v})
                    .to_string(),
            ));
            lines.push((
                *t1,
                json!({"time_ns": t1 * 1_000_000, "process": p, "type": o, "f": f, "value": cv})
                    .to_string(),
            ));
        }
        lines.sort_by_key(|(t, _)| *t);
        lines.into_iter().map(|(_, l)| l + "\n").collect()
    }

    #[test]
    fn reads_that_keep_the_total_are_valid() {
        let t = json!({"from": 0, "to": 1, "amount": 5});
        let h = history(&[
            (0, "transfer", t.clone(), "ok", t, 0, 10),
            (
                1,
                "read",
                json!({"accounts": 3}),
                "ok",
                json!([5, 15, 10]),
                20,
                30,
            ),
        ]);
        let c = check(&h, &p(), 20).unwrap();
        assert_eq!(c.summary.verdict, Verdict::Valid);
        assert_eq!(c.summary.figures.as_ref().unwrap()["reads_checked"], 1);
    }

    #[test]
    fn a_wrong_total_names_the_read_and_the_transfers_in_flight() {
        let t = json!({"from": 0, "to": 1, "amount": 5});
        let h = history(&[
            (0, "transfer", t.clone(), "info", t.clone(), 0, 50),
            (2, "transfer", t.clone(), "ok", t, 0, 5),
            (
                1,
                "read",
                json!({"accounts": 3}),
                "ok",
                json!([5, 10, 10]),
                20,
                30,
            ),
        ]);
        let c = check(&h, &p(), 20).unwrap();
        assert_eq!(c.summary.verdict, Verdict::Invalid);
        let a = &c.summary.anomalies[0];
        assert_eq!(a.class(), "wrong-total");
        let e = a.explanation();
        assert!(e.contains("summing to 25, not 30"), "{e}");
        // The info transfer overlaps the read; the ok one ended before it.
        assert!(e.contains("(info, lines 1-6"), "{e}");
        assert!(!e.contains("(ok,"), "{e}");
    }

    #[test]
    fn negative_balances_and_missing_accounts_are_flagged() {
        let h = history(&[(
            1,
            "read",
            json!({"accounts": 3}),
            "ok",
            json!([-5, 35, null]),
            0,
            1,
        )]);
        let c = check(&h, &p(), 20).unwrap();
        let classes: Vec<&str> = c.summary.anomalies.iter().map(Anomaly::class).collect();
        assert_eq!(classes, ["wrong-total", "negative-balance"]);
        assert!(c.summary.anomalies[0].explanation().contains("missing: a2"));
        // Allowed negative balances are not flagged.
        let allow = Params {
            refuse_negative: false,
            ..p()
        };
        let h = history(&[(1, "read", json!({}), "ok", json!([-5, 35, 0]), 0, 1)]);
        assert_eq!(
            check(&h, &allow, 20).unwrap().summary.verdict,
            Verdict::Valid
        );
    }

    #[test]
    fn failed_reads_and_a_malformed_read_value() {
        let h = history(&[(1, "read", json!({}), "fail", Json::Null, 0, 1)]);
        assert_eq!(check(&h, &p(), 20).unwrap().summary.verdict, Verdict::Valid);
        let h = history(&[(1, "read", json!({}), "ok", json!("x"), 0, 1)]);
        assert!(matches!(
            check(&h, &p(), 20),
            Err(HistoryError::Malformed { line: 2, .. })
        ));
    }
}
