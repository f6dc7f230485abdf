//! `chaos adapter-check`'s conformance suite, as data: for each workload an
//! adapter serves, the ops to send one after another (one client, on a
//! healthy node, under a fresh prefix) and what each must answer
//! ([`Check`], [`Step`], [`Expect`]), and the judge of an answer
//! ([`judge`]). The shell (`cli::adapter_check`) starts the adapter, sends
//! the steps, and adds the checks only a process can make (the hello,
//! concurrent requests answered by id, `leader`).
//!
//! What it proves is narrow and stated: the protocol is spoken, a write is
//! read back on a healthy node, a compare-and-set fails when the value
//! differs, a transaction's appends are seen all together, a bank's
//! transfer keeps the total, a set keeps what was added. It cannot prove
//! an adapter honest under faults (that `info` is said whenever the outcome
//! is unknown): `docs/clients.md` says what to look for.
//!
//! Pure: values in, values out. No process, runtime or clock.

use serde_json::{Value as Json, json};

use crate::workload::{Invocation, Outcome};

/// What an answer must be.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// `ok`, whatever it returns.
    Ok,
    /// `ok`, returning exactly this (in the room's shape, after the
    /// protocol's normalisation: a set read sorted, a txn's null read `[]`).
    Value(Json),
    /// `fail`: it definitely did not happen.
    Fail,
}

/// One op and what it must answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub op: Invocation,
    pub expect: Expect,
}

/// One check: steps run in order on one client.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Short, stable name (`register/read-your-write`).
    pub name: &'static str,
    /// What it shows, for people.
    pub what: &'static str,
    /// The room whose ops it sends.
    pub workload: &'static str,
    pub steps: Vec<Step>,
}

fn step(f: &'static str, key: Option<u64>, value: Json, expect: Expect) -> Step {
    Step {
        op: Invocation::new(f, key, value),
        expect,
    }
}

/// The checks of one workload (none for a workload the suite does not
/// know). Keys and values are fixed: the prefix chaos gives the adapter in
/// `init` is fresh, so every key starts absent.
pub fn checks(workload: &str) -> Vec<Check> {
    match workload {
        "register" => vec![
            Check {
                name: "register/read-your-write",
                what: "a key never written reads null; a write is read back",
                workload: "register",
                steps: vec![
                    step("read", Some(1), Json::Null, Expect::Value(Json::Null)),
                    step("write", Some(1), json!(11), Expect::Ok),
                    step("read", Some(1), Json::Null, Expect::Value(json!(11))),
                    step("write", Some(1), json!(12), Expect::Ok),
                    step("read", Some(1), Json::Null, Expect::Value(json!(12))),
                ],
            },
            Check {
                name: "register/cas",
                what: "a cas fails when the value differs (and changes nothing), succeeds when it matches",
                workload: "register",
                steps: vec![
                    step("write", Some(2), json!(21), Expect::Ok),
                    step("cas", Some(2), json!([20, 22]), Expect::Fail),
                    step("read", Some(2), Json::Null, Expect::Value(json!(21))),
                    step("cas", Some(2), json!([21, 23]), Expect::Ok),
                    step("read", Some(2), Json::Null, Expect::Value(json!(23))),
                    step("cas", Some(3), json!([1, 2]), Expect::Fail),
                ],
            },
        ],
        "list-append" => vec![
            Check {
                name: "list-append/own-writes",
                what: "a txn reads its own appends, in order",
                workload: "list-append",
                steps: vec![step(
                    "txn",
                    None,
                    json!([
                        ["r", 1, null],
                        ["append", 1, 1],
                        ["append", 1, 2],
                        ["r", 1, null]
                    ]),
                    Expect::Value(json!([
                        ["r", 1, []],
                        ["append", 1, 1],
                        ["append", 1, 2],
                        ["r", 1, [1, 2]]
                    ])),
                )],
            },
            Check {
                name: "list-append/atomic",
                what: "a txn's appends to two keys are seen together by the next txn; a read-only txn changes nothing",
                workload: "list-append",
                steps: vec![
                    step(
                        "txn",
                        None,
                        json!([["append", 2, 1], ["append", 3, 1]]),
                        Expect::Ok,
                    ),
                    step(
                        "txn",
                        None,
                        json!([["r", 2, null], ["r", 3, null]]),
                        Expect::Value(json!([["r", 2, [1]], ["r", 3, [1]]])),
                    ),
                    step(
                        "txn",
                        None,
                        json!([["append", 3, 2], ["r", 2, null], ["append", 2, 2]]),
                        Expect::Value(json!([["append", 3, 2], ["r", 2, [1]], ["append", 2, 2]])),
                    ),
                    step(
                        "txn",
                        None,
                        json!([["r", 3, null], ["r", 2, null]]),
                        Expect::Value(json!([["r", 3, [1, 2]], ["r", 2, [1, 2]]])),
                    ),
                ],
            },
        ],
        "bank" => vec![Check {
            name: "bank/transfer",
            what: "accounts set up are read back; a transfer moves money and keeps the total; an overdraft fails",
            workload: "bank",
            steps: vec![
                step("setup", None, json!({"balances": [10, 10, 0]}), Expect::Ok),
                step(
                    "read",
                    None,
                    json!({"accounts": 3}),
                    Expect::Value(json!([10, 10, 0])),
                ),
                step(
                    "transfer",
                    None,
                    json!({"from": 0, "to": 2, "amount": 4}),
                    Expect::Ok,
                ),
                step(
                    "read",
                    None,
                    json!({"accounts": 3}),
                    Expect::Value(json!([6, 10, 4])),
                ),
                step(
                    "transfer",
                    None,
                    json!({"from": 2, "to": 1, "amount": 5}),
                    Expect::Fail,
                ),
                step(
                    "read",
                    None,
                    json!({"accounts": 3}),
                    Expect::Value(json!([6, 10, 4])),
                ),
            ],
        }],
        "set" => vec![Check {
            name: "set/add-read",
            what: "an empty set reads empty; added elements are read back",
            workload: "set",
            steps: vec![
                step("read", None, Json::Null, Expect::Value(json!([]))),
                step("add", None, json!(5), Expect::Ok),
                step("add", None, json!(3), Expect::Ok),
                step("read", None, Json::Null, Expect::Value(json!([3, 5]))),
            ],
        }],
        _ => Vec::new(),
    }
}

/// Ops sent at once by `n` clients (client `i` sends step `i` of a wave),
/// wave after wave, after [`checks`] ran: every request answered, each
/// by its own id. Keys from 100 on, apart from the checks' keys.
pub fn concurrent(workload: &str, n: u64) -> Vec<Vec<Step>> {
    let keys = 100..100 + n;
    match workload {
        "register" => vec![
            keys.clone()
                .map(|k| step("write", Some(k), json!(k * 10), Expect::Ok))
                .collect(),
            keys.map(|k| step("read", Some(k), Json::Null, Expect::Value(json!(k * 10))))
                .collect(),
        ],
        "list-append" => vec![
            keys.clone()
                .map(|k| step("txn", None, json!([["append", k, k]]), Expect::Ok))
                .collect(),
            keys.map(|k| {
                step(
                    "txn",
                    None,
                    json!([["r", k, null]]),
                    Expect::Value(json!([["r", k, [k]]])),
                )
            })
            .collect(),
        ],
        "bank" => vec![
            (0..n)
                .map(|_| step("read", None, json!({"accounts": 3}), Expect::Ok))
                .collect(),
        ],
        "set" => {
            let mut all: Vec<u64> = vec![3, 5];
            all.extend(keys.clone());
            vec![
                keys.map(|k| step("add", None, json!(k), Expect::Ok))
                    .collect(),
                (0..n)
                    .map(|_| step("read", None, Json::Null, Expect::Value(json!(all))))
                    .collect(),
            ]
        }
        _ => Vec::new(),
    }
}

/// Does `outcome` meet `expect`? `Err` says what was wrong.
pub fn judge(expect: &Expect, outcome: &Outcome) -> Result<(), String> {
    let said = |o: &Outcome| match o {
        Outcome::Ok(v) => format!("ok {v}"),
        Outcome::Fail(e) => format!("fail ({e})"),
        Outcome::Info(e) => format!("info ({e})"),
    };
    match (expect, outcome) {
        (Expect::Ok, Outcome::Ok(_)) => Ok(()),
        (Expect::Value(want), Outcome::Ok(got)) if want == got => Ok(()),
        (Expect::Fail, Outcome::Fail(_)) => Ok(()),
        (Expect::Ok, o) => Err(format!("expected ok, got {}", said(o))),
        (Expect::Value(want), o) => Err(format!("expected ok {want}, got {}", said(o))),
        (Expect::Fail, o) => Err(format!("expected fail, got {}", said(o))),
    }
}

/// Judge a check's answers, in order; the first wrong one is the error
/// (`step N (op): what was wrong`). Fewer answers than steps: the rest
/// were not answered.
pub fn judge_check(check: &Check, outcomes: &[Outcome]) -> Result<(), String> {
    for (i, s) in check.steps.iter().enumerate() {
        let Some(o) = outcomes.get(i) else {
            return Err(format!("step {} ({}): no answer", i + 1, describe(&s.op)));
        };
        judge(&s.expect, o).map_err(|e| format!("step {} ({}): {e}", i + 1, describe(&s.op)))?;
    }
    Ok(())
}

/// `write 1 11`, `txn [...]`: an op as people read it.
pub fn describe(op: &Invocation) -> String {
    match (op.key, &op.value) {
        (Some(k), Json::Null) => format!("{} {k}", op.f),
        (Some(k), v) => format!("{} {k} {v}", op.f),
        (None, Json::Null) => op.f.to_string(),
        (None, v) => format!("{} {v}", op.f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_has_checks_whose_ops_its_room_decodes() {
        for name in crate::workload::names() {
            let checks = checks(name);
            assert!(!checks.is_empty(), "{name}: no checks");
            for c in &checks {
                assert_eq!(c.workload, name);
                assert!(c.name.starts_with(name), "{}", c.name);
                for s in &c.steps {
                    assert!(
                        crate::workload::by_name(name)
                            .unwrap()
                            .caps()
                            .ops
                            .contains(&s.op.f)
                            || s.op.f == "setup",
                        "{}: {}",
                        c.name,
                        s.op.f
                    );
                }
            }
        }
        assert!(checks("queue").is_empty());
    }

    #[test]
    fn the_judge_wants_the_exact_answer() {
        assert!(judge(&Expect::Ok, &Outcome::Ok(Json::Null)).is_ok());
        assert!(judge(&Expect::Value(json!(1)), &Outcome::Ok(json!(1))).is_ok());
        let e = judge(&Expect::Value(json!(1)), &Outcome::Ok(json!(2))).unwrap_err();
        assert_eq!(e, "expected ok 1, got ok 2");
        // An info is honest, but a cas that differs definitely failed.
        let e = judge(&Expect::Fail, &Outcome::Info("timeout".into())).unwrap_err();
        assert_eq!(e, "expected fail, got info (timeout)");
        assert!(judge(&Expect::Ok, &Outcome::Fail("x".into())).is_err());
        let c = &checks("register")[1];
        let mut outcomes = vec![
            Outcome::Ok(Json::Null),
            Outcome::Ok(Json::Null), // the cas that must fail
        ];
        let e = judge_check(c, &outcomes).unwrap_err();
        assert!(
            e.starts_with("step 2 (cas 2 [20,22]): expected fail"),
            "{e}"
        );
        outcomes[1] = Outcome::Fail("differs".into());
        let e = judge_check(c, &outcomes).unwrap_err();
        assert_eq!(e, "step 3 (read 2): no answer");
    }

    #[test]
    fn a_correct_register_passes_and_a_lost_write_does_not() {
        // A model register answering the register checks as a correct
        // database would, or one that loses its writes.
        fn answer(
            value: &mut std::collections::BTreeMap<u64, u64>,
            op: &Invocation,
            lose_writes: bool,
        ) -> Outcome {
            let k = op.key.unwrap();
            match op.f {
                "read" => Outcome::Ok(value.get(&k).map_or(Json::Null, |v| json!(v))),
                "write" => {
                    if !lose_writes {
                        value.insert(k, op.value.as_u64().unwrap());
                    }
                    Outcome::Ok(Json::Null)
                }
                _ => {
                    let (e, n) = (op.value[0].as_u64(), op.value[1].as_u64().unwrap());
                    if value.get(&k).copied() == e {
                        value.insert(k, n);
                        Outcome::Ok(Json::Null)
                    } else {
                        Outcome::Fail("differs".into())
                    }
                }
            }
        }
        for c in checks("register") {
            let mut value = Default::default();
            let outcomes: Vec<Outcome> = c
                .steps
                .iter()
                .map(|s| answer(&mut value, &s.op, false))
                .collect();
            assert_eq!(judge_check(&c, &outcomes), Ok(()), "{}", c.name);
        }
        let c = &checks("register")[0];
        let mut value = Default::default();
        let outcomes: Vec<Outcome> = c
            .steps
            .iter()
            .map(|s| answer(&mut value, &s.op, true))
            .collect();
        let e = judge_check(c, &outcomes).unwrap_err();
        assert_eq!(e, "step 3 (read 1): expected ok 11, got ok null");
    }
}
