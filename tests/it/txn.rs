//! The transaction checker against independent judgments: each anomaly
//! class on a minimal hand-made history (with its name, the models it rules
//! out, and its explanation), a brute-force oracle (every serial order of
//! the committed transactions, with and without real time) on thousands of
//! random small histories from a misbehaving simulated database, property
//! tests that serial executions are never flagged, the generator's
//! injected anomalies, budgets, malformed input, and `chaos check` on
//! transaction histories.
//!
//! Elle's own published histories are checked by
//! `elle_published_histories`, which needs them on disk (they are not part
//! of this repository): `CHAOS_ELLE_HISTORIES=DIR cargo test --test it txn`
//! (build.rs turns the variable into the `chaos_elle` cfg; without it the
//! test is listed as ignored, with its reason).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chaos::checker::txn::{
    self, Anomaly, ConsistencyModel, MicroOp, OrderEdges, TxnCheckOptions, TxnFormat, TxnHistory,
    TxnReport, Uncertainty,
};
use chaos::checker::{Clock, Verdict};
use chaos::history::{Key, Outcome};
use chaos::txngen::{self, Faults, Gadget, Isolation, TxnGenConfig};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::chaos;

use ConsistencyModel::{
    ReadCommitted as RC, ReadUncommitted as RU, RepeatableRead as RR, Serializable as SER,
    SnapshotIsolation as SI, StrictSerializable as SS, StrongSnapshotIsolation as SSI,
};

/// (process, type, value) of one EDN line.
type Event = (u64, &'static str, &'static str);

/// An EDN history from (process, type, value) events, indexed in order.
fn edn(events: &[(u64, &str, &str)]) -> String {
    events
        .iter()
        .enumerate()
        .map(|(i, (p, kind, value))| {
            format!("{{:index {i}, :type :{kind}, :process {p}, :f :txn, :value {value}}}\n")
        })
        .collect()
}

fn check_with(text: &str, order: OrderEdges) -> TxnReport {
    let h = txn::parse(text, TxnFormat::ElleEdn).unwrap_or_else(|e| panic!("{e}\n{text}"));
    txn::check(
        &h,
        &TxnCheckOptions {
            order,
            ..TxnCheckOptions::default()
        },
    )
}

/// One hand-made history: the anomalies it must show (exactly), and
/// Elle's `not` for them.
struct Case {
    name: &'static str,
    events: Vec<Event>,
    order: OrderEdges,
    anomalies: &'static [&'static str],
    not: &'static [ConsistencyModel],
    /// Words the explanation must contain.
    says: &'static [&'static str],
}

fn case(
    name: &'static str,
    events: Vec<Event>,
    anomalies: &'static [&'static str],
    not: &'static [ConsistencyModel],
    says: &'static [&'static str],
) -> Case {
    Case {
        name,
        events,
        order: OrderEdges::Realtime,
        anomalies,
        not,
        says,
    }
}

fn run_case(c: &Case) {
    let text = edn(&c.events);
    let r = check_with(&text, c.order);
    assert_eq!(r.anomaly_types, c.anomalies, "{}:\n{text}\n{r}", c.name);
    assert_eq!(r.not, c.not, "{}:\n{r}", c.name);
    let expected = if c.not.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    assert_eq!(r.verdict_for(SS), expected, "{}:\n{r}", c.name);
    let words: String = r
        .anomalies
        .iter()
        .map(|a| a.explanation().to_string())
        .collect();
    for s in c.says {
        assert!(words.contains(s), "{}: `{s}` not in:\n{words}", c.name);
    }
    // Every cycle's steps explain themselves and close the loop.
    for a in &r.anomalies {
        if let Anomaly::Cycle(cy) = a {
            assert_eq!(cy.steps.len(), cy.txns.len());
            for (i, s) in cy.steps.iter().enumerate() {
                assert_eq!(s.from, cy.txns[i].name);
                assert_eq!(s.to, cy.txns[(i + 1) % cy.txns.len()].name);
                assert!(s.explanation.contains("precedes"), "{}", s.explanation);
            }
        }
    }
}

const W_X1_Y2: &str = "[[:append :x 1] [:append :y 2]]";
const W_X2_Y1: &str = "[[:append :x 2] [:append :y 1]]";

#[test]
fn each_data_anomaly_on_a_minimal_history() {
    let cases = vec![
        case(
            "G0: two writers append to two keys in opposite orders",
            vec![
                (1, "invoke", W_X1_Y2),
                (2, "invoke", W_X2_Y1),
                (1, "ok", W_X1_Y2),
                (2, "ok", W_X2_Y1),
                (3, "invoke", "[[:r :x nil] [:r :y nil]]"),
                (3, "ok", "[[:r :x [1 2]] [:r :y [1 2]]]"),
            ],
            &["G0"],
            &[RU],
            &[
                "T2 (line 4) appended 2 to key :x after T1's (line 3) append of 1",
                "(ww)",
            ],
        ),
        case(
            "G1c: each reads the other's append",
            vec![
                (1, "invoke", "[[:append :x 1] [:r :y nil]]"),
                (2, "invoke", "[[:append :y 1] [:r :x nil]]"),
                (1, "ok", "[[:append :x 1] [:r :y [1]]]"),
                (2, "ok", "[[:append :y 1] [:r :x [1]]]"),
            ],
            &["G1c"],
            &[RC],
            &["read [1] of key :y, which ends with", "(wr)"],
        ),
        case(
            "G-single-item: a read sees one append of a transaction, not the other",
            vec![
                (1, "invoke", "[[:append :x 1] [:append :y 1]]"),
                (2, "invoke", "[[:r :x nil] [:r :y nil]]"),
                (1, "ok", "[[:append :x 1] [:append :y 1]]"),
                (2, "ok", "[[:r :x []] [:r :y [1]]]"),
            ],
            &["G-single-item"],
            &[SI, RR],
            &["read key :x as empty, which did not include", "(rw)"],
        ),
        case(
            "G-nonadjacent-item: Elle's example, all concurrent",
            vec![
                (1, "invoke", "[[:append :x 1]]"),
                (2, "invoke", "[[:r :x nil] [:r :y nil]]"),
                (3, "invoke", "[[:append :y 1]]"),
                (4, "invoke", "[[:r :y nil] [:r :x nil]]"),
                (1, "ok", "[[:append :x 1]]"),
                (2, "ok", "[[:r :x [1]] [:r :y []]]"),
                (3, "ok", "[[:append :y 1]]"),
                (4, "ok", "[[:r :y [1]] [:r :x []]]"),
            ],
            &["G-nonadjacent-item"],
            &[SI, RR],
            &["a cycle of 4 transactions"],
        ),
        case(
            "G2-item: write skew",
            vec![
                (1, "invoke", "[[:r :x nil] [:append :y 1]]"),
                (2, "invoke", "[[:r :y nil] [:append :x 1]]"),
                (1, "ok", "[[:r :x []] [:append :y 1]]"),
                (2, "ok", "[[:r :y []] [:append :x 1]]"),
            ],
            &["G2-item"],
            &[RR],
            &["write skew"],
        ),
    ];
    for c in &cases {
        run_case(c);
    }
}

/// Histories whose cycles need an order edge; the order edge is always
/// between two transactions of one process, so that process order makes
/// the same cycle.
fn order_cases() -> Vec<(&'static str, Vec<Event>)> {
    vec![
        (
            "G0",
            vec![
                (1, "invoke", "[[:append :x 2]]"),
                (1, "ok", "[[:append :x 2]]"),
                (1, "invoke", "[[:append :x 1]]"),
                (1, "ok", "[[:append :x 1]]"),
                (3, "invoke", "[[:r :x nil]]"),
                (3, "ok", "[[:r :x [1 2]]]"),
            ],
        ),
        (
            "G1c",
            vec![
                (1, "invoke", "[[:r :y nil]]"),
                (1, "ok", "[[:r :y [1]]]"),
                (1, "invoke", "[[:append :y 1]]"),
                (1, "ok", "[[:append :y 1]]"),
            ],
        ),
        (
            "G-single-item",
            vec![
                (1, "invoke", "[[:append :x 1]]"),
                (1, "ok", "[[:append :x 1]]"),
                (1, "invoke", "[[:r :x nil]]"),
                (1, "ok", "[[:r :x []]]"),
            ],
        ),
        (
            "G-nonadjacent-item",
            vec![
                (2, "invoke", "[[:append :a 1]]"),
                (4, "invoke", "[[:append :b 1] [:append :c 1]]"),
                (1, "invoke", "[[:r :a nil] [:r :c nil]]"),
                (2, "ok", "[[:append :a 1]]"),
                (2, "invoke", "[[:r :b nil]]"),
                (1, "ok", "[[:r :a []] [:r :c [1]]]"),
                (4, "ok", "[[:append :b 1] [:append :c 1]]"),
                (2, "ok", "[[:r :b []]]"),
            ],
        ),
        (
            "G2-item",
            vec![
                (2, "invoke", "[[:append :a 1] [:r :b nil]]"),
                (3, "invoke", "[[:append :b 1]]"),
                (3, "ok", "[[:append :b 1]]"),
                (3, "invoke", "[[:r :a nil]]"),
                (3, "ok", "[[:r :a []]]"),
                (2, "ok", "[[:append :a 1] [:r :b []]]"),
            ],
        ),
    ]
}

#[test]
fn each_realtime_and_process_variant_on_a_minimal_history() {
    for (base, events) in order_cases() {
        for (order, suffix, says) in [
            (OrderEdges::Realtime, "-realtime", "(realtime)"),
            (OrderEdges::Process, "-process", "(process)"),
        ] {
            let name: &'static str = Box::leak(format!("{base}{suffix}").into_boxed_str());
            let anomalies: &'static [&'static str] = Box::leak(vec![name].into_boxed_slice());
            run_case(&Case {
                name,
                events: events.clone(),
                order,
                anomalies,
                // Strong snapshot isolation forbids every real-time (and
                // process) G0, G1 and G-nonadjacent cycle, so it is the
                // weakest ruled out; a real-time write skew (G2-item) only
                // rules out strict serializability.
                not: if base == "G2-item" { &[SS] } else { &[SSI] },
                says: Box::leak(vec![says].into_boxed_slice()),
            });
        }
        // Without order edges there is no cycle at all (an empty graph
        // leaves the verdict unknown, never invalid).
        let r = check_with(&edn(&events), OrderEdges::None);
        assert!(r.anomaly_types.is_empty(), "{base}: {r}");
        assert_ne!(r.verdict, Verdict::Invalid);
    }
}

#[test]
fn each_anomaly_without_a_cycle_on_a_minimal_history() {
    let cases = vec![
        case(
            "G1a: a read sees a failed append",
            vec![
                (1, "invoke", "[[:append :x 1]]"),
                (1, "fail", "[[:append :x 1]]"),
                (2, "invoke", "[[:r :x nil]]"),
                (2, "ok", "[[:r :x [1]]]"),
            ],
            &["G1a"],
            &[RC],
            &[
                "G1a (aborted read): T1 (line 4) read [1] of key :x, which includes 1, appended by T2 (line 2), which failed",
            ],
        ),
        case(
            "G1b: a read ends with an intermediate append (and so a G-single-item)",
            vec![
                (1, "invoke", "[[:append :x 1] [:append :x 2]]"),
                (2, "invoke", "[[:r :x nil]]"),
                (1, "ok", "[[:append :x 1] [:append :x 2]]"),
                (2, "ok", "[[:r :x [1]]]"),
            ],
            &["G-single-item", "G1b"],
            &[RC],
            &["appended 2 to that key after 1"],
        ),
        case(
            "internal: a read disagrees with the transaction's own append",
            vec![
                (1, "invoke", "[[:append :x 1] [:r :x nil]]"),
                (1, "ok", "[[:append :x 1] [:r :x []]]"),
            ],
            &["internal"],
            &[SI],
            &["should end with [1]"],
        ),
        case(
            "internal: two reads of one key disagree",
            vec![
                (1, "invoke", "[[:r :x nil] [:r :x nil]]"),
                (1, "ok", "[[:r :x [1]] [:r :x [1 2]]]"),
                (2, "invoke", "[[:append :x 1] [:append :x 2]]"),
                (2, "ok", "[[:append :x 1] [:append :x 2]]"),
            ],
            &["G-single-item", "G1b", "G1c-realtime", "internal"],
            &[RC],
            &["should be [1]"],
        ),
        case(
            "future-read: a read sees the transaction's own later append",
            vec![
                (1, "invoke", "[[:r :x nil] [:append :x 1]]"),
                (1, "ok", "[[:r :x [1]] [:append :x 1]]"),
            ],
            &["future-read"],
            &[RC],
            &["itself appends later"],
        ),
        case(
            "duplicate-elements",
            vec![
                (1, "invoke", "[[:append :x 1]]"),
                (1, "ok", "[[:append :x 1]]"),
                (2, "invoke", "[[:r :x nil]]"),
                (2, "ok", "[[:r :x [1 1]]]"),
            ],
            &["duplicate-elements"],
            &[RU],
            &["1 appears 2 times"],
        ),
        case(
            "incompatible-order",
            vec![
                (1, "invoke", "[[:append :x 1]]"),
                (2, "invoke", "[[:append :x 2]]"),
                (3, "invoke", "[[:r :x nil]]"),
                (4, "invoke", "[[:r :x nil]]"),
                (1, "ok", "[[:append :x 1]]"),
                (2, "ok", "[[:append :x 2]]"),
                (3, "ok", "[[:r :x [1 2]]]"),
                (4, "ok", "[[:r :x [2 1]]]"),
            ],
            &["incompatible-order"],
            &[RC],
            &["neither is a prefix of the other"],
        ),
        case(
            "lost-update: both read the empty list and append (a G-single-item too)",
            vec![
                (1, "invoke", "[[:r :x nil] [:append :x 1]]"),
                (2, "invoke", "[[:r :x nil] [:append :x 2]]"),
                (1, "ok", "[[:r :x []] [:append :x 1]]"),
                (2, "ok", "[[:r :x []] [:append :x 2]]"),
                (3, "invoke", "[[:r :x nil]]"),
                (3, "ok", "[[:r :x [1 2]]]"),
            ],
            &["G-single-item", "lost-update"],
            &[SI, RR],
            &["T1 (line 3) and T2 (line 4) both read key :x as empty and then appended to it"],
        ),
        case(
            "dirty-update: a committed append after a failed one",
            vec![
                (1, "invoke", "[[:append :x 1]]"),
                (1, "fail", "[[:append :x 1]]"),
                (2, "invoke", "[[:append :x 2]]"),
                (2, "ok", "[[:append :x 2]]"),
                (3, "invoke", "[[:r :x nil]]"),
                (3, "ok", "[[:r :x [1 2]]]"),
            ],
            &["G1a", "dirty-update"],
            &[RC],
            &["appended 1 and failed, yet"],
        ),
        case(
            "garbage-read: an element nobody appended",
            vec![(1, "invoke", "[[:r :x nil]]"), (1, "ok", "[[:r :x [7]]]")],
            &["garbage-read"],
            &[RC],
            &["no transaction appended"],
        ),
    ];
    for c in &cases {
        run_case(c);
    }
}

#[test]
fn info_transactions_count_only_when_seen() {
    // Seen: its appends are all committed, so a read that saw one and
    // missed the other is a G-single-item.
    let seen = edn(&[
        (1, "invoke", "[[:append :x 1] [:append :y 1]]"),
        (2, "invoke", "[[:r :x nil] [:r :y nil]]"),
        (2, "ok", "[[:r :x [1]] [:r :y []]]"),
        (1, "info", "[[:append :x 1] [:append :y 1]]"),
    ]);
    assert_eq!(
        check_with(&seen, OrderEdges::Realtime).anomaly_types,
        ["G-single-item"]
    );
    // Never seen: it may never have happened; a later read that misses it
    // is fine (with an ok append instead, it is a stale read).
    for (kind, expected) in [("info", Verdict::Valid), ("ok", Verdict::Invalid)] {
        let text = edn(&[
            (0, "invoke", "[[:r :z nil]]"),
            (0, "ok", "[[:r :z []]]"),
            (1, "invoke", "[[:append :x 1]]"),
            (1, kind, "[[:append :x 1]]"),
            (2, "invoke", "[[:r :x nil]]"),
            (2, "ok", "[[:r :x []]]"),
        ]);
        let r = check_with(&text, OrderEdges::Realtime);
        assert_eq!(r.verdict, expected, "{kind}: {r}");
    }
    // An invocation that never completes is indeterminate too.
    let open = edn(&[
        (1, "invoke", "[[:append :x 1]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x [1]]]"),
    ]);
    let h = txn::parse(&open, TxnFormat::ElleEdn).unwrap();
    assert_eq!(h.txns[0].outcome, Outcome::Info);
    assert!(
        check_with(&open, OrderEdges::Realtime)
            .anomaly_types
            .is_empty()
    );
}

#[test]
fn the_model_decides_the_verdict() {
    // Write skew: invalid for repeatable read and above, valid for
    // snapshot isolation and below.
    let text = edn(&[
        (1, "invoke", "[[:r :x nil] [:append :y 1]]"),
        (2, "invoke", "[[:r :y nil] [:append :x 1]]"),
        (1, "ok", "[[:r :x []] [:append :y 1]]"),
        (2, "ok", "[[:r :y []] [:append :x 1]]"),
    ]);
    let h = txn::parse(&text, TxnFormat::ElleEdn).unwrap();
    for (model, verdict) in [
        (SS, Verdict::Invalid),
        (SER, Verdict::Invalid),
        (SI, Verdict::Valid),
        (RR, Verdict::Invalid),
        (RC, Verdict::Valid),
        (RU, Verdict::Valid),
    ] {
        let r = txn::check(
            &h,
            &TxnCheckOptions {
                model,
                ..TxnCheckOptions::default()
            },
        );
        assert_eq!(r.verdict, verdict, "{model}");
        assert_eq!(r.verdict_for(model), verdict);
        assert_eq!(r.model, model);
    }
}

/// A clock that moves an hour on every reading: any budget runs out at
/// once.
#[derive(Default)]
struct Racing(std::sync::atomic::AtomicU64);
impl Clock for Racing {
    fn now(&self) -> Duration {
        let hours = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Duration::from_secs(3600 * hours)
    }
}

#[test]
fn an_exhausted_budget_is_unknown_with_a_reason_never_invalid_by_guess() {
    // Only realtime cycles: a stale read. With no time to search, the
    // fallback still finds and names one (ruling out strict
    // serializability), but serializability is left undecided.
    let text = edn(&[
        (1, "invoke", "[[:append :x 1]]"),
        (1, "ok", "[[:append :x 1]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x []]]"),
    ]);
    let h = txn::parse(&text, TxnFormat::ElleEdn).unwrap();
    let late = |model| TxnCheckOptions {
        model,
        clock: Some(Arc::new(Racing::default())),
        budget: Duration::from_millis(1),
        ..TxnCheckOptions::default()
    };
    let r = txn::check(&h, &late(SER));
    assert_eq!(r.verdict, Verdict::Unknown, "{r}");
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("ran out of its budget"),
        "{r}"
    );
    assert!(matches!(
        r.uncertainties[0],
        Uncertainty::CycleSearchTimeout { .. }
    ));
    assert_eq!(r.verdict_for(SS), Verdict::Invalid, "{r}");
    // With time, serializability is decided: valid.
    let r = txn::check(
        &h,
        &TxnCheckOptions {
            model: SER,
            ..TxnCheckOptions::default()
        },
    );
    assert_eq!(r.verdict, Verdict::Valid, "{r}");
}

#[test]
fn what_cannot_be_analyzed_is_unknown() {
    // Nothing to relate: an empty transaction graph.
    let r = check_with(
        &edn(&[(1, "invoke", "[[:r :x nil]]"), (1, "ok", "[[:r :x []]]")]),
        OrderEdges::Realtime,
    );
    assert_eq!(r.verdict, Verdict::Unknown);
    assert_eq!(r.uncertainties, vec![Uncertainty::EmptyTransactionGraph]);
    // An element appended twice.
    let r = check_with(
        &edn(&[
            (1, "invoke", "[[:append :x 1]]"),
            (1, "ok", "[[:append :x 1]]"),
            (2, "invoke", "[[:append :x 1]]"),
            (2, "ok", "[[:append :x 1]]"),
        ]),
        OrderEdges::Realtime,
    );
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.reason.unwrap().contains("lines 1 and 3"));
}

/// The brute-force oracle: is there an order of the committed
/// transactions (every `ok` one, any subset of the `info` ones), each
/// applied atomically, in which every `ok` read returns exactly the list it
/// returned, and (with `realtime`) every transaction comes after those that
/// completed `ok` before it was invoked?
fn oracle(h: &TxnHistory, realtime: bool) -> bool {
    let n = h.txns.len();
    let mut position_of_completion = vec![usize::MAX; n];
    let mut position_of_invoke = vec![usize::MAX; n];
    for (i, (t, done)) in h.events().enumerate() {
        if done {
            position_of_completion[t] = i;
        } else {
            position_of_invoke[t] = i;
        }
    }
    let mut preds = vec![0u64; n];
    for (a, txn) in h.txns.iter().enumerate() {
        for (b, pred) in preds.iter_mut().enumerate() {
            if realtime
                && txn.outcome == Outcome::Ok
                && position_of_completion[a] < position_of_invoke[b]
            {
                *pred |= 1 << a;
            }
        }
    }
    let required: u64 = (0..n)
        .filter(|&t| h.txns[t].outcome == Outcome::Ok)
        .fold(0, |m, t| m | 1 << t);
    let candidates: Vec<usize> = (0..n)
        .filter(|&t| h.txns[t].outcome != Outcome::Fail)
        .collect();
    let mut lists: std::collections::HashMap<Key, Vec<u64>> = Default::default();
    fn go(
        h: &TxnHistory,
        placed: u64,
        required: u64,
        preds: &[u64],
        candidates: &[usize],
        lists: &mut std::collections::HashMap<Key, Vec<u64>>,
    ) -> bool {
        if placed & required == required {
            return true;
        }
        for &t in candidates {
            if placed & (1 << t) != 0 || preds[t] & !placed != 0 {
                continue;
            }
            let saved = lists.clone();
            let mut fine = true;
            for m in h.micro_ops(t) {
                match m {
                    MicroOp::Append(k, e) => lists.entry(k).or_default().push(e),
                    MicroOp::Read(k, Some(read)) => {
                        if lists.get(&k).map_or(&[][..], Vec::as_slice) != read.as_slice() {
                            fine = false;
                            break;
                        }
                    }
                    MicroOp::Read(_, None) => {}
                }
            }
            if fine && go(h, placed | 1 << t, required, preds, candidates, lists) {
                return true;
            }
            *lists = saved;
        }
        false
    }
    go(h, 0, required, &preds, &candidates, &mut lists)
}

fn random_config(rng: &mut ChaCha20Rng, seed: u64) -> TxnGenConfig {
    let p = |rng: &mut ChaCha20Rng| {
        if rng.random_bool(0.5) {
            rng.random_range(0.0..0.4)
        } else {
            0.0
        }
    };
    TxnGenConfig {
        seed,
        txns: rng.random_range(2..=7),
        processes: rng.random_range(1..=4),
        active_keys: rng.random_range(1..=3),
        appends_per_key: None,
        min_mops: 1,
        max_mops: rng.random_range(1..=4),
        read_fraction: rng.random_range(0.2..0.8),
        info_fraction: rng.random_range(0.0..0.3),
        fail_fraction: rng.random_range(0.0..0.2),
        min_duration_ns: 10,
        max_duration_ns: rng.random_range(11..60),
        isolation: if rng.random_bool(0.3) {
            Isolation::Serializable
        } else {
            Isolation::StrictSerializable
        },
        faults: Faults {
            stale_read: p(rng),
            lost_append: p(rng),
            torn: p(rng),
            aborted_visible: p(rng),
        },
        gadgets: Vec::new(),
    }
}

#[test]
fn agrees_with_the_brute_force_oracle_on_random_small_histories() {
    let mut rng = ChaCha20Rng::seed_from_u64(15);
    let mut checked = 0;
    let (mut invalid_ss, mut invalid_ser) = (0, 0);
    let mut disagreements = Vec::new();
    for seed in 0..4000u64 {
        let config = random_config(&mut rng, seed);
        let lines = txngen::generate(&config);
        let h = TxnHistory::from_lines(&lines).unwrap();
        let report = txn::check(&h, &TxnCheckOptions::default());
        for (model, realtime) in [(SS, true), (SER, false)] {
            let valid = oracle(&h, realtime);
            let flagged = report.verdict_for(model) == Verdict::Invalid;
            if valid == flagged {
                disagreements.push(format!(
                    "seed {seed}, {model}: oracle says {}, checker says {}\n{config:?}\n{}{report}",
                    if valid { "valid" } else { "invalid" },
                    report.verdict_for(model),
                    txngen::edn_text(&lines)
                ));
            }
            if !valid {
                if model == SS {
                    invalid_ss += 1;
                } else {
                    invalid_ser += 1;
                }
            }
        }
        assert!(
            !report
                .uncertainties
                .iter()
                .any(|u| matches!(u, Uncertainty::CycleSearchTimeout { .. })),
            "no budget, no timeout"
        );
        checked += 1;
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements; the first:\n{}",
        disagreements.len(),
        disagreements[0]
    );
    eprintln!(
        "oracle: {checked} histories; not strict-serializable: {invalid_ss}, not serializable: \
         {invalid_ser}"
    );
    // The faults must make the comparison meaningful both ways.
    assert!(
        invalid_ss > 400 && invalid_ser > 200,
        "{invalid_ss} {invalid_ser}"
    );
    assert!(checked - invalid_ss > 400, "{checked} {invalid_ss}");
}

#[test]
fn simulated_databases_without_faults_are_never_flagged() {
    for seed in 0..40u64 {
        for isolation in [Isolation::StrictSerializable, Isolation::Serializable] {
            let config = TxnGenConfig {
                seed,
                txns: 400,
                processes: 6,
                active_keys: 4,
                appends_per_key: Some(20),
                info_fraction: 0.1,
                fail_fraction: 0.05,
                isolation,
                ..TxnGenConfig::default()
            };
            let lines = txngen::generate(&config);
            let h = TxnHistory::from_lines(&lines).unwrap();
            let r = txn::check(&h, &TxnCheckOptions::default());
            let model = match isolation {
                Isolation::StrictSerializable => SS,
                Isolation::Serializable => SER,
            };
            assert_eq!(
                r.verdict_for(model),
                Verdict::Valid,
                "seed {seed} {isolation:?}\n{r}"
            );
            if isolation == Isolation::StrictSerializable {
                assert!(r.anomalies.is_empty(), "{r}");
            }
        }
    }
}

#[test]
fn serializable_but_stale_is_caught_only_for_strict_serializability() {
    // Read-only transactions reading old snapshots: fine for
    // serializability, not for strict serializability.
    let mut caught = 0;
    for seed in 0..20u64 {
        let lines = txngen::generate(&TxnGenConfig {
            seed,
            txns: 300,
            active_keys: 3,
            isolation: Isolation::Serializable,
            ..TxnGenConfig::default()
        });
        let r = txn::check(
            &TxnHistory::from_lines(&lines).unwrap(),
            &TxnCheckOptions::default(),
        );
        assert_eq!(r.verdict_for(SER), Verdict::Valid, "{r}");
        if r.verdict_for(SS) == Verdict::Invalid {
            caught += 1;
            assert!(
                r.anomaly_types.iter().all(|a| a.ends_with("-realtime")),
                "{r}"
            );
        }
    }
    assert!(caught >= 15, "{caught} of 20");
}

#[test]
fn injected_anomalies_are_found_and_explained() {
    for gadget in Gadget::ALL {
        for seed in 0..3 {
            let lines = txngen::generate(&TxnGenConfig {
                seed,
                txns: 500,
                processes: 5,
                active_keys: 8,
                appends_per_key: Some(30),
                gadgets: vec![gadget],
                ..TxnGenConfig::default()
            });
            let r = txn::check(
                &TxnHistory::from_lines(&lines).unwrap(),
                &TxnCheckOptions::default(),
            );
            assert!(
                r.anomaly_types.iter().any(|a| a == gadget.anomaly()),
                "{gadget:?} seed {seed}: {:?}\n{r}",
                r.anomaly_types
            );
            assert_eq!(r.verdict, Verdict::Invalid);
            // Only the gadget's transactions (processes from 10^9) are in
            // the anomalies.
            for a in &r.anomalies {
                let text = serde_json::to_string(a).unwrap();
                assert!(text.contains("\"process\":100000000"), "{gadget:?}: {text}");
            }
        }
    }
}

/// A transaction of a serial execution: process, micro-ops (append?, key),
/// and a byte that picks its outcome.
type SerialTxn = (u64, Vec<(bool, u64)>, u8);

/// A serial execution: one transaction at a time, in the order given.
fn serial(txns: &[SerialTxn]) -> Vec<chaos::checker::txn::TxnLine> {
    use chaos::checker::txn::{TxnFunction, TxnLine};
    use chaos::history::Kind;
    let mut lists: std::collections::HashMap<u64, Vec<u64>> = Default::default();
    let mut next: std::collections::HashMap<u64, u64> = Default::default();
    let mut lines = Vec::new();
    let mut retired: BTreeSet<u64> = BTreeSet::new();
    for (p, mops, outcome) in txns {
        // A process retired by an info never comes back.
        let mut p = *p;
        while retired.contains(&p) {
            p += 100;
        }
        let kind = match outcome % 5 {
            0 => Kind::Fail,
            1 => Kind::Info,
            _ => Kind::Ok,
        };
        let commits = kind == Kind::Ok || (kind == Kind::Info && outcome % 2 == 0);
        let mut invoked = Vec::new();
        let mut done = Vec::new();
        for &(append, k) in mops {
            let key = Key::Int(k);
            if append {
                let e = next.entry(k).or_default();
                *e += 1;
                invoked.push(MicroOp::Append(key.clone(), *e));
                done.push(MicroOp::Append(key, *e));
                if commits {
                    lists.entry(k).or_default().push(*e);
                }
            } else {
                invoked.push(MicroOp::Read(key.clone(), None));
                let seen = lists.get(&k).cloned().unwrap_or_default();
                done.push(MicroOp::Read(key, (kind == Kind::Ok).then_some(seen)));
            }
        }
        for (kind, value) in [(Kind::Invoke, invoked), (kind, done)] {
            lines.push(TxnLine {
                index: lines.len() as u64,
                time_ns: None,
                process: p,
                kind,
                f: TxnFunction::Txn,
                value,
                node: None,
                error: None,
                final_read: false,
                line: 0,
            });
        }
        if kind == Kind::Info {
            retired.insert(p);
        }
    }
    lines
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn a_serial_execution_is_never_flagged(
        txns in prop::collection::vec(
            (0u64..3, prop::collection::vec((any::<bool>(), 0u64..3), 1..5), any::<u8>()),
            1..25,
        )
    ) {
        let lines = serial(&txns);
        let h = TxnHistory::from_lines(&lines).unwrap();
        for order in [OrderEdges::Realtime, OrderEdges::Process] {
            let r = txn::check(&h, &TxnCheckOptions { order, ..TxnCheckOptions::default() });
            prop_assert!(r.anomalies.is_empty(), "{}", r);
            prop_assert_ne!(r.verdict, Verdict::Invalid);
        }
    }

    #[test]
    fn parsing_round_trips_through_both_formats(seed in 0u64..1000) {
        let lines = txngen::generate(&TxnGenConfig { seed, txns: 30, ..TxnGenConfig::default() });
        let a = txn::parse(&txngen::edn_text(&lines), TxnFormat::ElleEdn).unwrap();
        let b = txn::parse(&txngen::jsonl_text(&lines), TxnFormat::Chaos).unwrap();
        let c = TxnHistory::from_lines(&lines).unwrap();
        prop_assert_eq!(&a.txns, &b.txns);
        for t in 0..a.txns.len() {
            prop_assert_eq!(a.micro_ops(t), c.micro_ops(t));
        }
    }
}

#[test]
fn reports_are_deterministic_and_serialize() {
    let lines = txngen::generate(&TxnGenConfig {
        seed: 9,
        txns: 2000,
        faults: Faults {
            stale_read: 0.05,
            ..Faults::default()
        },
        ..TxnGenConfig::default()
    });
    let h = TxnHistory::from_lines(&lines).unwrap();
    let a = txn::check(&h, &TxnCheckOptions::default());
    let b = txn::check(&h, &TxnCheckOptions::default());
    assert_eq!(a, b);
    assert_eq!(a.verdict, Verdict::Invalid);
    let json = serde_json::to_string(&a).unwrap();
    let back: TxnReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["anomalies"][0]["type"], "txn-cycle");
    assert!(doc["anomalies"][0]["steps"][0]["explanation"].is_string());
}

#[test]
fn malformed_lines_name_the_line() {
    let good = "{:index 0, :type :invoke, :process 1, :f :txn, :value [[:append 1 2]]}\n";
    for (line, expected) in [
        (
            "{:index 1, :type :ok, :process 1, :f :txn, :value [[:append 1 3]]}",
            "was a txn [[:append 1 2]]",
        ),
        (
            "{:index 1, :type :ok, :process 2, :f :txn, :value [[:append 1 2]]}",
            "never invoked",
        ),
        (
            "{:index 1, :type :invoke, :process 1, :f :txn, :value [[:append 1 3]]}",
            "invokes again",
        ),
        (
            "{:index 0, :type :ok, :process 1, :f :txn, :value [[:append 1 2]]}",
            "repeats the index",
        ),
        (
            "{:type :ok, :process 1, :f :txn, :value [[:append 1 2]]}",
            "give it on every line",
        ),
        (
            "{:index 1, :type :ok, :process 1, :f :txn, :value nil}",
            "carries nil",
        ),
    ] {
        let text = format!("; a comment\n{good}{line}\n");
        let err = txn::parse(&text, TxnFormat::ElleEdn).unwrap_err();
        assert_eq!(err.line(), 3, "{line}: {err}");
        assert!(err.to_string().contains(expected), "{line}: {err}");
    }
    let err = txn::parse(
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"w\",1,2]]}\n",
        TxnFormat::Chaos,
    )
    .unwrap_err();
    assert_eq!(err.line(), 1);
    assert!(err.to_string().contains("unknown micro-op `w`"), "{err}");
}

fn run(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = chaos(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn chaos_check_reads_transaction_histories() {
    let dir = tempfile::tempdir().unwrap();
    let valid = txngen::generate(&TxnGenConfig {
        seed: 1,
        txns: 300,
        ..TxnGenConfig::default()
    });
    let skew = txngen::generate(&TxnGenConfig {
        seed: 1,
        txns: 300,
        gadgets: vec![Gadget::G2Item],
        ..TxnGenConfig::default()
    });
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let valid_edn = write("valid.edn", txngen::edn_text(&valid));
    let skew_edn = write("skew.edn", txngen::edn_text(&skew));
    let skew_jsonl = write("skew.jsonl", txngen::jsonl_text(&skew));

    let (code, out, err) = run(&["check", "--format", "elle-edn", &valid_edn]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("VALID: strict-serializable"), "{out}");

    let (code, out, _) = run(&["check", "--format", "elle-edn", &skew_edn]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("G2-item: 1 found") && out.contains("not repeatable-read"),
        "{out}"
    );

    // chaos's JSONL: told apart by "f":"txn".
    let (code, out, _) = run(&["check", "--json", &skew_jsonl]);
    assert_eq!(code, 1, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["verdict"], "invalid");
    let file = &doc["files"][0];
    assert_eq!(file["checker"], "transactions");
    assert_eq!(file["model"], "strict-serializable");
    assert_eq!(file["anomaly_types"][0], "G2-item");
    assert_eq!(file["anomalies"][0]["type"], "txn-cycle");
    assert!(file["parse_ms"].is_number() && file["elapsed_ms"].is_number());

    // Snapshot isolation allows write skew.
    let (code, out, _) = run(&[
        "check",
        "--format",
        "elle-edn",
        "--model",
        "snapshot-isolation",
        &skew_edn,
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = run(&[
        "check",
        "--format",
        "elle-edn",
        "--model",
        "linearizable",
        &skew_edn,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown consistency model"), "{err}");

    // Nothing to check: unknown, exit 3.
    let empty = write("empty.edn", "; nothing\n".to_string());
    let (code, out, _) = run(&["check", "--format", "elle-edn", &empty]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("empty transaction graph"), "{out}");

    // Malformed: exit 2, the file and the line.
    let mut text = txngen::edn_text(&valid);
    text.push_str("{:type :ok, :process 1, :f :txn, :value [[:append 1]]}\n");
    let last = text.lines().count();
    let broken = write("broken.edn", text);
    let (code, _, err) = run(&["check", "--format", "elle-edn", &broken]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("broken.edn") && err.contains(&format!("line {last}")),
        "{err}"
    );
}

/// Elle's published list-append histories, as its own tests read them:
/// `si-without-g-single.edn` (Elle, held to snapshot isolation and
/// repeatable read: `G2-item`, not repeatable-read) and `huge-scc.edn`
/// (Elle, held to strict serializability: invalid, with only realtime
/// cycles: it rules out strict serializability and nothing weaker).
#[test]
#[cfg_attr(
    not(chaos_elle),
    ignore = "needs Elle's histories: CHAOS_ELLE_HISTORIES=DIR (jepsen-io/elle's histories/)"
)]
fn elle_published_histories() {
    let dir = std::env::var("CHAOS_ELLE_HISTORIES")
        .expect("CHAOS_ELLE_HISTORIES=DIR, the histories/ folder of jepsen-io/elle");
    let read = |name: &str| {
        let path = std::path::Path::new(&dir).join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        txn::parse(&text, TxnFormat::ElleEdn).unwrap()
    };
    let h = read("si-without-g-single.edn");
    for model in [SI, RR] {
        let r = txn::check(
            &h,
            &TxnCheckOptions {
                model,
                order: OrderEdges::None,
                ..TxnCheckOptions::default()
            },
        );
        assert_eq!(r.anomaly_types, ["G2-item"], "{r}");
        assert_eq!(r.not, [RR]);
    }
    let h = read("huge-scc.edn");
    let r = txn::check(&h, &TxnCheckOptions::default());
    assert_eq!(r.verdict, Verdict::Invalid, "{r}");
    // Real-time cycles: strong snapshot isolation is the weakest model
    // they rule out, unless all are write skews (G2-item-realtime).
    let weakest = if r.anomaly_types.iter().all(|a| a == "G2-item-realtime") {
        SS
    } else {
        SSI
    };
    assert_eq!(r.not, [weakest], "{r}");
    assert!(
        r.anomaly_types.iter().all(|a| a.ends_with("-realtime")),
        "{r}"
    );
    for model in [SER, SI, RR, RC, RU] {
        assert_eq!(r.verdict_for(model), Verdict::Valid, "{model}");
    }
}

#[test]
fn a_transaction_s_own_appends_seen_out_of_order_are_caught() {
    // T1 appends 1, 2, 3 to :x; a later read sees [2 1 3]: no dependency
    // cycle (every edge agrees: T1 wrote all three), so Elle's method
    // passes it; the own-append-order check does not, under every model.
    let events = vec![
        (
            1,
            "invoke",
            "[[:append :x 1] [:append :x 2] [:append :x 3]]",
        ),
        (1, "ok", "[[:append :x 1] [:append :x 2] [:append :x 3]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x [2 1 3]]]"),
    ];
    let r = check_with(&edn(&events), OrderEdges::Realtime);
    assert_eq!(r.anomaly_types, ["own-append-order"], "{r}");
    assert_eq!(r.not, [RU], "{r}");
    assert_eq!(r.verdict, Verdict::Invalid);
    let text = r.to_string();
    assert!(
        text.contains("appended [1 2 3] to key :x in that order"),
        "{text}"
    );
    // In order, with another transaction's element between them, or only
    // some of them seen: no own-append-order.
    for read in ["[1 2 3]", "[1 2]", "[1 3]", "[2 3]"] {
        let value: &'static str = Box::leak(format!("[[:r :x {read}]]").into_boxed_str());
        let ok = vec![events[0], events[1], events[2], (2, "ok", value)];
        let r = check_with(&edn(&ok), OrderEdges::Realtime);
        assert!(
            !r.anomaly_types.iter().any(|a| a == "own-append-order"),
            "{read}: {r}"
        );
    }
}
