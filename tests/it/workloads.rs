//! The workload rooms' registry and checkers, without Docker:
//!
//! - the registry lists each workload once, with its capabilities, and every
//!   client serves exactly the workloads it declares;
//! - property tests against references: histories generated from a correct
//!   (linearizable) bank or set, with concurrency, `info` and `fail` ops,
//!   are valid (no false alarm); a wrong total planted in a bank read, an
//!   acknowledged element removed from the final read (lost) or from a read
//!   that began after its acknowledgement (stale) is found, named.

use std::collections::BTreeSet;

use chaos::results::{Anomaly, Verdict};
use chaos::workload::{self, CheckInput};
use proptest::prelude::*;
use serde_json::{Value, json};

#[test]
fn the_registry_lists_each_workload_with_its_capabilities() {
    let names = workload::names();
    assert_eq!(names, ["register", "list-append", "bank", "set"]);
    for w in workload::REGISTRY {
        let c = w.caps();
        println!(
            "{:<12} ops {:?}, mix {:?}, fields {:?}, models {:?}, anomalies {:?}, bench {}",
            c.name, c.ops, c.mix, c.fields, c.models, c.anomalies, c.bench
        );
    }
    for client in [
        chaos::experiment::ClientKind::Etcd,
        chaos::experiment::ClientKind::Surrealdb,
    ] {
        for served in client.serves() {
            assert!(workload::by_name(served).is_some(), "{served}");
        }
    }
}

/// One op of a generated history: its process, interval (ms), function,
/// invocation value, outcome and completion value, and final flag.
#[derive(Debug, Clone)]
struct Op {
    process: u64,
    start: u64,
    end: u64,
    f: &'static str,
    value: Value,
    outcome: &'static str,
    result: Value,
    final_read: bool,
}

fn text(ops: &[Op]) -> String {
    let mut lines: Vec<(u64, u8, String)> = Vec::new();
    for o in ops {
        lines.push((
            o.start,
            0,
            json!({"time_ns": o.start * 1_000_000, "process": o.process, "type": "invoke", "f": o.f, "value": o.value, "final": o.final_read}).to_string(),
        ));
        if o.outcome != "none" {
            lines.push((
                o.end,
                1,
                json!({"time_ns": o.end * 1_000_000, "process": o.process, "type": o.outcome, "f": o.f, "value": o.result, "final": o.final_read}).to_string(),
            ));
        }
    }
    lines.sort_by_key(|(t, k, _)| (*t, *k));
    lines.into_iter().map(|(_, _, l)| l + "\n").collect()
}

/// The shape of a generated op: its process, gap before it, duration,
/// where in its interval it takes effect (0..=100), what it is, and how it
/// ends (0 ok, 1 fail, 2 info, 3 never completes).
type Shape = (u64, u64, u64, u64, u8, u8);

fn shapes() -> impl Strategy<Value = Vec<Shape>> {
    prop::collection::vec(
        (
            0u64..4,
            0u64..5,
            1u64..8,
            0u64..=100,
            0u8..10,
            prop_oneof![8 => Just(0u8), 1 => Just(1), 1 => Just(2)],
        ),
        1..40,
    )
}

/// A set history from a correct set: each op takes effect at one instant
/// in its interval; a read sees every add that took effect before it; a
/// failed add never takes effect, an info one may; then a final read.
fn set_history(shapes: &[Shape]) -> Vec<Op> {
    let mut clock = [0u64; 4];
    let mut next = 1u64;
    let mut ops: Vec<(u64, Op)> = Vec::new();
    for &(p, gap, d, at, what, end) in shapes {
        let start = clock[p as usize] + gap + 1;
        let finish = start + d;
        clock[p as usize] = finish;
        let point = start * 100 + (d * at);
        let (f, value) = if what < 7 {
            next += 1;
            ("add", json!(next))
        } else {
            ("read", Value::Null)
        };
        let outcome = match end {
            1 if f == "add" => "fail",
            2 => "info",
            _ => "ok",
        };
        ops.push((
            point,
            Op {
                process: p,
                start,
                end: finish,
                f,
                value,
                outcome,
                result: Value::Null,
                final_read: false,
            },
        ));
    }
    // Apply in effect order.
    ops.sort_by_key(|(point, _)| *point);
    let mut set = BTreeSet::new();
    for (i, (_, op)) in ops.iter_mut().enumerate() {
        match op.f {
            "add" => {
                let applies = op.outcome == "ok" || (op.outcome == "info" && i % 2 == 0);
                if applies {
                    set.insert(op.value.as_u64().unwrap());
                }
                op.result = op.value.clone();
            }
            _ => {
                if op.outcome == "info" {
                    op.outcome = "fail";
                }
                op.result = json!(set.iter().collect::<Vec<_>>());
            }
        }
    }
    let last = clock.iter().max().unwrap() + 10;
    let mut out: Vec<Op> = ops.into_iter().map(|(_, o)| o).collect();
    out.push(Op {
        process: 9,
        start: last,
        end: last + 1,
        f: "read",
        value: Value::Null,
        outcome: "ok",
        result: json!(set.iter().collect::<Vec<_>>()),
        final_read: true,
    });
    out
}

fn set_check(history: &str, model: &str) -> chaos::workload::Checked {
    let text = "name = \"t\"\nduration = \"10s\"\n[cluster]\ncompose_file = \"c.yml\"\nproject = \"p\"\n\
                components = { etcd = [\"e1\"] }\n[workload]\nkind = \"set\"\nclient = \"etcd\"\n\
                endpoints = [\"e1\"]\n";
    let e = chaos::experiment::parse(text, "t.toml").unwrap().experiment;
    workload::by_name("set")
        .unwrap()
        .check(&CheckInput {
            history,
            workload: &e.workload,
            model: Some(model),
            budget: std::time::Duration::from_secs(10),
            clock: None,
            threads: 1,
            max_cases: 1_000,
        })
        .unwrap()
}

fn set_anomalies(c: &chaos::workload::Checked) -> Vec<(String, String)> {
    c.summary
        .anomalies
        .iter()
        .map(|a| (a.class().to_string(), a.subject()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn a_correct_set_is_valid_under_strict_serializability(shapes in shapes()) {
        let ops = set_history(&shapes);
        let c = set_check(&text(&ops), "strict-serializable");
        prop_assert_eq!(c.summary.verdict, Verdict::Valid, "{:?}\n{}", set_anomalies(&c), text(&ops));
    }

    #[test]
    fn an_acknowledged_element_dropped_from_the_final_read_is_lost(shapes in shapes(), pick in 0usize..1000) {
        let mut ops = set_history(&shapes);
        let acked: Vec<u64> = ops.iter().filter(|o| o.f == "add" && o.outcome == "ok").map(|o| o.value.as_u64().unwrap()).collect();
        prop_assume!(!acked.is_empty());
        let e = acked[pick % acked.len()];
        let last = ops.last_mut().unwrap();
        let kept: Vec<u64> = last.result.as_array().unwrap().iter().filter_map(Value::as_u64).filter(|x| *x != e).collect();
        last.result = json!(kept);
        let c = set_check(&text(&ops), "serializable");
        prop_assert_eq!(c.summary.verdict, Verdict::Invalid);
        prop_assert!(set_anomalies(&c).contains(&("lost".into(), format!("element {e}"))), "{:?}", set_anomalies(&c));
    }

    #[test]
    fn an_element_missed_by_a_read_after_its_ack_is_stale(shapes in shapes(), pick in 0usize..1000) {
        let mut ops = set_history(&shapes);
        // (read index, element) pairs: the element's add was acknowledged
        // before the read began, and the read saw it.
        let mut pairs = Vec::new();
        for (i, r) in ops.iter().enumerate().filter(|(_, o)| o.f == "read" && o.outcome == "ok" && !o.final_read) {
            for a in ops.iter().filter(|o| o.f == "add" && o.outcome == "ok" && o.end < r.start) {
                pairs.push((i, a.value.as_u64().unwrap()));
            }
        }
        prop_assume!(!pairs.is_empty());
        let (i, e) = pairs[pick % pairs.len()];
        let kept: Vec<u64> = ops[i].result.as_array().unwrap().iter().filter_map(Value::as_u64).filter(|x| *x != e).collect();
        ops[i].result = json!(kept);
        let strict = set_check(&text(&ops), "strict-serializable");
        prop_assert_eq!(strict.summary.verdict, Verdict::Invalid);
        prop_assert!(set_anomalies(&strict).contains(&("stale".into(), format!("element {e}"))), "{:?}", set_anomalies(&strict));
        // Allowed without real-time order: listed, not decisive.
        let weak = set_check(&text(&ops), "serializable");
        prop_assert_eq!(weak.summary.verdict, Verdict::Valid);
    }
}

/// A bank history from a correct bank: transfers and reads take effect at
/// one instant in their interval; a transfer that would go negative is
/// refused (`fail`); an info transfer may or may not apply.
fn bank_history(shapes: &[Shape], accounts: u64) -> Vec<Op> {
    let mut balances: Vec<i64> = vec![0; accounts as usize];
    balances[0] = 20;
    let mut clock = [0u64; 4];
    let mut ops: Vec<(u64, Op)> = Vec::new();
    for (n, &(p, gap, d, at, what, end)) in shapes.iter().enumerate() {
        let start = clock[p as usize] + gap + 1;
        let finish = start + d;
        clock[p as usize] = finish;
        let point = start * 100 + d * at;
        let (f, value) = if what < 6 {
            let from = (n as u64 * 7 + what as u64) % accounts;
            let to = (from + 1 + what as u64 % (accounts - 1)) % accounts;
            (
                "transfer",
                json!({"from": from, "to": to, "amount": 1 + (what as u64 % 5)}),
            )
        } else {
            ("read", json!({"accounts": accounts}))
        };
        ops.push((
            point,
            Op {
                process: p,
                start,
                end: finish,
                f,
                value,
                outcome: if end == 2 { "info" } else { "ok" },
                result: Value::Null,
                final_read: false,
            },
        ));
    }
    ops.sort_by_key(|(point, _)| *point);
    for (i, (_, op)) in ops.iter_mut().enumerate() {
        if op.f == "transfer" {
            let (from, to, amount) = (
                op.value["from"].as_u64().unwrap() as usize,
                op.value["to"].as_u64().unwrap() as usize,
                op.value["amount"].as_i64().unwrap(),
            );
            let applies = op.outcome == "ok" || i % 2 == 0;
            if balances[from] < amount {
                if op.outcome == "ok" {
                    op.outcome = "fail";
                }
            } else if applies {
                balances[from] -= amount;
                balances[to] += amount;
            }
            op.result = op.value.clone();
        } else {
            if op.outcome == "info" {
                op.outcome = "fail";
            }
            op.result = json!(balances);
        }
    }
    ops.into_iter().map(|(_, o)| o).collect()
}

fn bank_check(history: &str, accounts: u64) -> chaos::workload::Checked {
    let text = format!(
        "name = \"t\"\nduration = \"10s\"\n[cluster]\ncompose_file = \"c.yml\"\nproject = \"p\"\n\
         components = {{ etcd = [\"e1\"] }}\n[workload]\nkind = \"bank\"\nclient = \"etcd\"\n\
         endpoints = [\"e1\"]\naccounts = {accounts}\ntotal = 20\n"
    );
    let e = chaos::experiment::parse(&text, "t.toml")
        .unwrap()
        .experiment;
    workload::by_name("bank")
        .unwrap()
        .check(&CheckInput {
            history,
            workload: &e.workload,
            model: None,
            budget: std::time::Duration::from_secs(10),
            clock: None,
            threads: 1,
            max_cases: 1_000,
        })
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn a_correct_bank_is_valid(shapes in shapes(), accounts in 2u64..5) {
        let ops = bank_history(&shapes, accounts);
        let c = bank_check(&text(&ops), accounts);
        prop_assert_eq!(c.summary.verdict, Verdict::Valid, "{:?}", c.summary.anomalies);
    }

    #[test]
    fn a_planted_wrong_total_is_found(shapes in shapes(), accounts in 2u64..5, pick in 0usize..1000, by in prop_oneof![Just(-1i64), Just(1i64), Just(3)]) {
        let mut ops = bank_history(&shapes, accounts);
        let reads: Vec<usize> = ops.iter().enumerate().filter(|(_, o)| o.f == "read" && o.outcome == "ok").map(|(i, _)| i).collect();
        prop_assume!(!reads.is_empty());
        let i = reads[pick % reads.len()];
        let mut b: Vec<i64> = serde_json::from_value(ops[i].result.clone()).unwrap();
        let n = b.len();
        b[pick % n] += by;
        ops[i].result = json!(b);
        let c = bank_check(&text(&ops), accounts);
        prop_assert_eq!(c.summary.verdict, Verdict::Invalid);
        let found = c.summary.anomalies.iter().any(|a| matches!(a, Anomaly::Workload(w) if w.anomaly == "wrong-total"));
        prop_assert!(found, "{:?}", c.summary.anomalies);
    }
}
