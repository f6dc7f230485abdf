//! The checker against independent judgments: Porcupine's verdicts on the
//! shared Jepsen etcd and kv histories, a brute-force oracle on thousands of
//! random small histories (with every reduction on, off, and mixed), the
//! generator's linearizable-by-construction histories, and the `chaos check`
//! command's output and exit codes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chaos::checker::{self, CheckOptions, Clock, Reductions, Verdict};
use chaos::histgen::{self, Corruption, GenConfig, Values};
use chaos::history::Function;
use chaos::history::{self, Format, History, Key, Kind, Op, Outcome, Value};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::chaos;

/// The shared reference data; its absence is a failure, not a skip.
fn data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(
        dir.join("jepsen-etcd/verdicts.tsv").is_file(),
        "the reference histories are missing: expected {} (the shared data directory next to \
         the repository)",
        dir.display()
    );
    dir
}

fn check(history: &History) -> checker::CheckReport {
    checker::check(history, &CheckOptions::default())
}

#[test]
fn every_jepsen_etcd_history_agrees_with_porcupine() {
    let dir = data().join("jepsen-etcd");
    let verdicts = std::fs::read_to_string(dir.join("verdicts.tsv")).unwrap();
    let mut checked = 0;
    for line in verdicts.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [file, linearizable, ops] = fields[..] else {
            panic!("bad verdicts.tsv line: {line}");
        };
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let h = history::parse(&text, Format::JepsenEtcd).unwrap();
        assert_eq!(h.operations.len().to_string(), ops, "{file}: op count");
        let report = check(&h);
        let expected = if linearizable == "true" {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        assert_eq!(report.verdict, expected, "{file}\n{report}");
        if expected == Verdict::Invalid {
            let w = report.keys[0].witness.as_ref().expect("a witness");
            assert!(!w.ops.is_empty() && w.explanation.contains("cannot be linearized"));
        }
        checked += 1;
    }
    assert_eq!(checked, 60, "verdicts.tsv lists every shared history");
}

#[test]
fn kv_histories_agree_with_their_names_per_key_and_as_one_state() {
    for name in ["c01-ok", "c01-bad", "c10-ok", "c10-bad"] {
        let text = std::fs::read_to_string(data().join("kv").join(format!("{name}.txt"))).unwrap();
        let h = history::parse(&text, Format::PorcupineKv).unwrap();
        let expected = if name.ends_with("ok") {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        assert_eq!(check(&h).verdict, expected, "{name} per key");
        // One state over all keys is slow in debug builds for c10; c01
        // covers the code path, the benchmark covers c10.
        if name.starts_with("c01") {
            let options = CheckOptions {
                split_keys: false,
                ..CheckOptions::default()
            };
            let report = checker::check(&h, &options);
            assert_eq!(report.verdict, expected, "{name} one state");
            assert_eq!(report.keys.len(), 1);
            assert_eq!(report.keys[0].key, None);
        }
    }
}

// ---------------------------------------------------------------------
// The oracle: try every order of every subset of indeterminate ops.

/// One op as the oracle sees it: real-time bounds and a step function.
#[derive(Debug, Clone)]
struct OracleOp {
    inv: usize,
    /// `None`: may take effect any time after `inv`, or never.
    resp: Option<usize>,
    f: Function,
    key: Key,
    input: Value,
    output: Value,
    /// A cas refused on its compare: it happened, and the register did not
    /// hold what it expected.
    refused: bool,
}

/// The sequential specification, written again from the README, not
/// shared with the checker's models.
#[derive(Debug, Clone, PartialEq)]
enum OracleState {
    Register(Value),
    Map(Vec<(Key, String)>),
}

fn oracle_step(state: &OracleState, op: &OracleOp) -> Option<OracleState> {
    match state {
        OracleState::Register(v) => match op.f {
            Function::Read => (op.output == *v).then(|| state.clone()),
            Function::Write => Some(OracleState::Register(op.input.clone())),
            Function::Cas => {
                let Value::List(items) = &op.input else {
                    return None;
                };
                if op.refused {
                    (items[0] != *v).then(|| state.clone())
                } else {
                    (items[0] == *v).then(|| OracleState::Register(items[1].clone()))
                }
            }
            _ => None,
        },
        OracleState::Map(entries) => {
            let current = entries
                .iter()
                .find(|(k, _)| *k == op.key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let text = |v: &Value| match v {
                Value::Str(s) => s.clone(),
                _ => String::new(),
            };
            let set = |new: String| {
                let mut e: Vec<(Key, String)> = entries
                    .iter()
                    .filter(|(k, _)| *k != op.key)
                    .cloned()
                    .collect();
                e.push((op.key.clone(), new));
                e.sort();
                OracleState::Map(e)
            };
            match op.f {
                Function::Get => (text(&op.output) == current).then(|| state.clone()),
                Function::Put => Some(set(text(&op.input))),
                Function::Append => Some(set(current + &text(&op.input))),
                _ => None,
            }
        }
    }
}

fn oracle(history: &History) -> bool {
    let mut ops = Vec::new();
    let mut kv = false;
    for o in &history.operations {
        kv |= o.f.is_kv();
        // A cas that failed on its compare is evidence: the register did
        // not hold its expected value at some point in its window.
        let refused = o.outcome == Outcome::Fail
            && o.f == Function::Cas
            && o.complete.is_some_and(|c| {
                history.ops[c]
                    .error
                    .as_deref()
                    .is_none_or(|e| e.starts_with("compare failed"))
            });
        let (resp, keep) = match (o.outcome, o.complete) {
            (Outcome::Fail, Some(c)) if refused => (Some(c), true),
            (Outcome::Fail, _) => (None, false),
            (Outcome::Ok, Some(c)) => (Some(c), true),
            // A read that did not return constrains nothing.
            _ => (None, !o.f.is_read()),
        };
        if keep {
            ops.push(OracleOp {
                inv: o.invoke,
                resp,
                f: o.f,
                key: o.key.clone(),
                input: history.input(o).clone(),
                output: history.output(o).clone(),
                refused,
            });
        }
    }
    let init = if kv {
        OracleState::Map(Vec::new())
    } else {
        OracleState::Register(Value::Null)
    };
    if kv {
        return search(&ops, &mut vec![false; ops.len()], &init);
    }
    // Registers: keys are independent objects.
    let mut keys: Vec<Key> = ops.iter().map(|o| o.key.clone()).collect();
    keys.sort();
    keys.dedup();
    keys.iter().all(|k| {
        let part: Vec<OracleOp> = ops.iter().filter(|o| o.key == *k).cloned().collect();
        search(&part, &mut vec![false; part.len()], &init)
    })
}

fn search(ops: &[OracleOp], done: &mut Vec<bool>, state: &OracleState) -> bool {
    if ops
        .iter()
        .zip(done.iter())
        .all(|(o, d)| *d || o.resp.is_none())
    {
        return true;
    }
    for i in 0..ops.len() {
        if done[i] {
            continue;
        }
        // Every op that completed before this one was invoked goes first.
        let ready = ops
            .iter()
            .zip(done.iter())
            .all(|(p, d)| *d || p.resp.is_none_or(|r| r > ops[i].inv));
        if !ready {
            continue;
        }
        if let Some(next) = oracle_step(state, &ops[i]) {
            done[i] = true;
            let ok = search(ops, done, &next);
            done[i] = false;
            if ok {
                return true;
            }
        }
    }
    false
}

// ---------------------------------------------------------------------
// Random small histories.

fn op(index: usize, process: u64, kind: Kind, f: Function, key: Key, value: Value) -> Op {
    Op {
        index: index as u64,
        time_ns: None,
        process,
        kind,
        f,
        key,
        value,
        error: None,
        node: None,
        final_read: false,
        line: index + 1,
    }
}

/// Ops with random arguments and results over a small domain, random
/// outcomes, interleaved at random over a few processes.
fn random_history(rng: &mut ChaCha20Rng) -> History {
    let kv = rng.random_bool(0.2);
    let n = rng.random_range(1..=7usize);
    let domain = rng.random_range(1..=4u64);
    let slots = rng.random_range(1..=4usize);
    let keys = if rng.random_bool(0.2) { 2 } else { 1 };
    let value = |rng: &mut ChaCha20Rng, nil: bool| {
        if nil && rng.random_bool(0.25) {
            Value::Null
        } else {
            Value::Int(rng.random_range(1..=domain))
        }
    };
    let text = |rng: &mut ChaCha20Rng| {
        let pieces = ["", "x", "y", "xy", "yx", "xx"];
        Value::Str(pieces[rng.random_range(0..pieces.len())].to_string())
    };
    struct Planned {
        f: Function,
        key: Key,
        input: Value,
        output: Value,
        outcome: Kind,
    }
    let mut plans: Vec<Vec<Planned>> = (0..slots).map(|_| Vec::new()).collect();
    for _ in 0..n {
        let key = Key::Int(rng.random_range(0..keys));
        let (f, input, output) = if kv {
            match rng.random_range(0..3) {
                0 => (Function::Get, Value::Null, text(rng)),
                1 => (Function::Put, text(rng), Value::Null),
                _ => (Function::Append, text(rng), Value::Null),
            }
        } else {
            match rng.random_range(0..3) {
                0 => (Function::Read, Value::Null, value(rng, true)),
                1 => (Function::Write, value(rng, false), Value::Null),
                _ => {
                    let cas = Value::List(vec![value(rng, true), value(rng, false)]);
                    (Function::Cas, cas, Value::Null)
                }
            }
        };
        let outcome = match rng.random_range(0..10) {
            0..=5 => Kind::Ok,
            6 => Kind::Fail,
            _ => Kind::Info,
        };
        plans[rng.random_range(0..slots)].push(Planned {
            f,
            key,
            input,
            output,
            outcome,
        });
    }
    // Interleave: each step, a random slot invokes its next op or completes
    // its open one. Info retires the process id; the last op of a slot may
    // stay open.
    let mut ops = Vec::new();
    let mut next: Vec<usize> = vec![0; slots];
    let mut open: Vec<bool> = vec![false; slots];
    let mut pid: Vec<u64> = (0..slots as u64).collect();
    loop {
        let live: Vec<usize> = (0..slots).filter(|&s| next[s] < plans[s].len()).collect();
        let Some(&s) = live.get(rng.random_range(0..live.len().max(1))) else {
            break;
        };
        let p = &plans[s][next[s]];
        let i = ops.len();
        if !open[s] {
            ops.push(op(
                i,
                pid[s],
                Kind::Invoke,
                p.f,
                p.key.clone(),
                p.input.clone(),
            ));
            open[s] = true;
            continue;
        }
        if next[s] + 1 == plans[s].len() && rng.random_bool(0.1) {
            next[s] += 1; // never completes
            continue;
        }
        let out = if p.outcome == Kind::Ok && p.f.is_read() {
            p.output.clone()
        } else {
            p.input.clone()
        };
        ops.push(op(i, pid[s], p.outcome, p.f, p.key.clone(), out));
        if p.outcome == Kind::Fail {
            // Refused on its compare (evidence), or before anything was
            // compared (nothing), or said by no error (Jepsen's: evidence).
            ops.last_mut().unwrap().error = match rng.random_range(0..3) {
                0 => Some("compare failed: the register did not hold it".into()),
                1 => Some("connection refused".into()),
                _ => None,
            };
        }
        if p.outcome == Kind::Info {
            pid[s] += 100;
        }
        open[s] = false;
        next[s] += 1;
    }
    History::from_ops(ops).expect("random histories pair correctly")
}

/// A simulated history, linearizable unless corrupted.
fn simulated_history(rng: &mut ChaCha20Rng) -> History {
    let corruption = match rng.random_range(0..4) {
        0 => Some(Corruption::StaleRead),
        1 => Some(Corruption::NeverWritten),
        _ => None,
    };
    let config = GenConfig {
        seed: rng.random(),
        ops: rng.random_range(1..=7),
        processes: rng.random_range(1..=4),
        keys: rng.random_range(1..=2),
        values: if rng.random_bool(0.5) {
            Values::Unique
        } else {
            Values::Domain(rng.random_range(1..=4))
        },
        info_fraction: 0.25,
        fail_fraction: 0.1,
        read_fraction: 0.4,
        write_fraction: 0.3,
        min_duration_ns: 2,
        max_duration_ns: 10,
        corruption,
    };
    histgen::generate(&config).expect("generates").history
}

fn random_reductions(rng: &mut ChaCha20Rng) -> Reductions {
    Reductions {
        drop_unobserved_info: rng.random(),
        read_from: rng.random(),
        greedy_reads: rng.random(),
        dead_states: rng.random(),
        prune_lost_values: rng.random(),
        symmetry: rng.random(),
        useless_info: rng.random(),
        info_subsumption: rng.random(),
    }
}

#[test]
fn agrees_with_the_brute_force_oracle_on_random_small_histories() {
    let mut rng = ChaCha20Rng::seed_from_u64(20240603);
    let (mut valid, mut invalid) = (0, 0);
    for case in 0..12_000 {
        let h = if case % 2 == 0 {
            random_history(&mut rng)
        } else {
            simulated_history(&mut rng)
        };
        let expected = if oracle(&h) {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        if expected == Verdict::Valid {
            valid += 1;
        } else {
            invalid += 1;
        }
        let split = rng.random_bool(0.7);
        for reductions in [
            Reductions::ALL,
            Reductions::NONE,
            random_reductions(&mut rng),
        ] {
            let options = CheckOptions {
                reductions,
                split_keys: split,
                ..CheckOptions::default()
            };
            let report = checker::check(&h, &options);
            if report.verdict != expected {
                let lines: String = h.ops.iter().map(|o| history::to_line(o) + "\n").collect();
                panic!(
                    "case {case}: checker says {}, oracle says {expected} with {reductions:?}\n{lines}{report}",
                    report.verdict
                );
            }
        }
    }
    // Both verdicts are well represented.
    assert!(
        valid > 3000 && invalid > 3000,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn each_reduction_alone_agrees_with_the_oracle() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let one = |i: usize| {
        let mut r = Reductions::NONE;
        match i {
            0 => r.drop_unobserved_info = true,
            1 => r.read_from = true,
            2 => r.greedy_reads = true,
            3 => r.dead_states = true,
            4 => r.prune_lost_values = true,
            5 => r.symmetry = true,
            6 => r.useless_info = true,
            _ => r.info_subsumption = true,
        }
        r
    };
    for case in 0..2_000 {
        let h = if case % 2 == 0 {
            random_history(&mut rng)
        } else {
            simulated_history(&mut rng)
        };
        let expected = oracle(&h);
        for i in 0..8 {
            let options = CheckOptions {
                reductions: one(i),
                ..CheckOptions::default()
            };
            let got = checker::check(&h, &options).verdict == Verdict::Valid;
            assert_eq!(got, expected, "case {case}, {:?}", one(i));
        }
    }
}

// ---------------------------------------------------------------------
// Generated histories.

#[test]
fn sequential_and_simulated_histories_are_valid() {
    for seed in 0..40 {
        for processes in [1, 3, 8] {
            let config = GenConfig {
                seed,
                ops: 200,
                processes,
                keys: 1 + seed % 3,
                values: if seed % 2 == 0 {
                    Values::Unique
                } else {
                    Values::Domain(3)
                },
                info_fraction: 0.1,
                fail_fraction: 0.05,
                ..GenConfig::default()
            };
            let g = histgen::generate(&config).unwrap();
            let report = check(&g.history);
            assert_eq!(report.verdict, Verdict::Valid, "{config:?}\n{report}");
        }
    }
}

#[test]
fn wide_histories_use_multiword_sets_and_stay_exact() {
    // More than 64 concurrent ops and more than 64 indeterminate ones: the
    // bit sets of the search span several words.
    for seed in 0..4 {
        for corruption in [
            None,
            Some(Corruption::StaleRead),
            Some(Corruption::NeverWritten),
        ] {
            let config = GenConfig {
                seed,
                ops: 400,
                processes: 90,
                values: if seed < 3 {
                    Values::Unique
                } else {
                    Values::Domain(4)
                },
                info_fraction: 0.3,
                fail_fraction: 0.05,
                corruption,
                ..GenConfig::default()
            };
            let g = histgen::generate(&config).unwrap();
            let options = CheckOptions {
                // Unique values must be decided, also on a loaded CI
                // machine: a generous budget costs nothing when it is met.
                budget: if config.values == Values::Unique {
                    Duration::from_secs(20)
                } else {
                    Duration::from_millis(500)
                },
                clock: Some(Arc::new(Wall(std::time::Instant::now()))),
                ..CheckOptions::default()
            };
            let report = checker::check(&g.history, &options);
            let expected = if g.corrupted.is_some() {
                Verdict::Invalid
            } else {
                Verdict::Valid
            };
            // Unknown is allowed (never wrong): small domains with this many
            // indeterminate ops can be out of reach.
            assert!(
                report.verdict == expected || report.verdict == Verdict::Unknown,
                "{config:?}\n{report}"
            );
            if config.values == Values::Unique {
                assert_eq!(report.verdict, expected, "{config:?}\n{report}");
            }
        }
    }
}

/// The wall clock, for tests that need a real budget.
struct Wall(std::time::Instant);
impl Clock for Wall {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

#[test]
fn reductions_agree_with_the_plain_search_on_medium_histories() {
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let mut compared = 0;
    for _ in 0..400 {
        let config = GenConfig {
            seed: rng.random(),
            ops: rng.random_range(10..=40),
            processes: rng.random_range(2..=8),
            values: if rng.random_bool(0.5) {
                Values::Unique
            } else {
                Values::Domain(rng.random_range(2..=4))
            },
            info_fraction: rng.random_range(0.0..0.4),
            fail_fraction: 0.1,
            min_duration_ns: 2,
            max_duration_ns: 30,
            corruption: match rng.random_range(0..3) {
                0 => Some(Corruption::StaleRead),
                _ => None,
            },
            ..GenConfig::default()
        };
        let g = histgen::generate(&config).unwrap();
        let all = check(&g.history);
        let plain = checker::check(
            &g.history,
            &CheckOptions {
                reductions: Reductions::NONE,
                max_memory_bytes: 64 << 20,
                ..CheckOptions::default()
            },
        );
        if plain.verdict == Verdict::Unknown {
            continue;
        }
        compared += 1;
        assert_eq!(all.verdict, plain.verdict, "{config:?}\n{all}\n{plain}");
        let expected = if g.corrupted.is_some() {
            Verdict::Invalid
        } else {
            Verdict::Valid
        };
        assert_eq!(all.verdict, expected, "{config:?}\n{all}");
    }
    assert!(compared > 300, "only {compared} histories compared");
}

#[test]
fn changing_one_read_of_a_valid_history_is_caught() {
    for seed in 0..30 {
        for corruption in [Corruption::StaleRead, Corruption::NeverWritten] {
            let config = GenConfig {
                seed,
                ops: 300,
                processes: if seed % 3 == 0 { 1 } else { 10 },
                info_fraction: 0.05,
                corruption: Some(corruption),
                ..GenConfig::default()
            };
            let g = histgen::generate(&config).unwrap();
            assert!(g.surely_invalid, "{config:?}: no read to corrupt");
            let report = check(&g.history);
            assert_eq!(report.verdict, Verdict::Invalid, "{config:?}\n{report}");
            let w = report.keys[0].witness.as_ref().unwrap();
            // The changed read is named.
            let corrupted = &g.history.ops[g.corrupted.unwrap()];
            assert!(
                w.ops.iter().any(|o| o.index == corrupted.index),
                "{config:?}: witness misses the changed read at index {}\n{report}",
                corrupted.index
            );
        }
    }
}

#[test]
fn a_stale_read_is_explained_in_words() {
    let g = histgen::generate(&GenConfig {
        seed: 3,
        ops: 400,
        processes: 6,
        info_fraction: 0.0,
        corruption: Some(Corruption::StaleRead),
        ..GenConfig::default()
    })
    .unwrap();
    let report = check(&g.history);
    let text = report.to_string();
    assert!(text.starts_with("INVALID"), "{text}");
    let w = &report.keys[0].witness.as_ref().unwrap().explanation;
    assert!(w.contains("process ") && w.contains(" s"), "{w}");
    assert!(w.contains("read "), "{w}");
}

/// A clock that is always past any budget.
struct Expired;
impl Clock for Expired {
    fn now(&self) -> Duration {
        // Each call is a minute later than the last.
        use std::sync::atomic::{AtomicU64, Ordering};
        static T: AtomicU64 = AtomicU64::new(0);
        Duration::from_secs(60 * T.fetch_add(1, Ordering::Relaxed))
    }
}

#[test]
fn a_search_over_budget_is_unknown_with_a_reason() {
    let g = histgen::generate(&GenConfig {
        seed: 2,
        ops: 400,
        processes: 20,
        values: Values::Domain(3),
        info_fraction: 0.2,
        corruption: Some(Corruption::StaleRead),
        ..GenConfig::default()
    })
    .unwrap();
    let slow = CheckOptions {
        reductions: Reductions::NONE,
        budget: Duration::from_secs(1),
        clock: Some(Arc::new(Expired)),
        ..CheckOptions::default()
    };
    let report = checker::check(&g.history, &slow);
    assert_eq!(report.verdict, Verdict::Unknown, "{report}");
    assert!(report.keys[0].reason.as_ref().unwrap().contains("budget"));
    let tiny = CheckOptions {
        reductions: Reductions::NONE,
        max_memory_bytes: 1 << 10,
        ..CheckOptions::default()
    };
    let report = checker::check(&g.history, &tiny);
    assert_eq!(report.verdict, Verdict::Unknown, "{report}");
    assert!(report.keys[0].reason.as_ref().unwrap().contains("memory"));
}

#[test]
fn keys_are_checked_alone_and_in_parallel_alike() {
    let g = histgen::generate(&GenConfig {
        seed: 11,
        ops: 3000,
        processes: 10,
        keys: 50,
        corruption: Some(Corruption::StaleRead),
        ..GenConfig::default()
    })
    .unwrap();
    let one = check(&g.history);
    let two = checker::check(
        &g.history,
        &CheckOptions {
            threads: 2,
            ..CheckOptions::default()
        },
    );
    assert_eq!(one, two);
    assert_eq!(one.verdict, Verdict::Invalid);
    assert_eq!(one.keys.len(), 50);
    assert_eq!(one.count(Verdict::Invalid), 1);
    // The report survives JSON.
    let json = serde_json::to_string(&one).unwrap();
    let back: checker::CheckReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.verdict, one.verdict);
    assert_eq!(back.keys.len(), one.keys.len());
}

// ---------------------------------------------------------------------
// The command.

fn run(args: &[&str]) -> (i32, String, String) {
    let out = chaos(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn chaos_check_explains_etcd_000_and_exits_1() {
    let file = data().join("jepsen-etcd/etcd_000.log");
    let (code, stdout, stderr) = run(&["check", "--format", "jepsen-etcd", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("INVALID"), "{stdout}");
    assert!(stdout.contains("cannot be linearized"), "{stdout}");
    assert!(stdout.contains("process 11's read 2"), "{stdout}");
    assert!(stdout.contains("the register held"), "{stdout}");
}

#[test]
fn chaos_check_exit_codes_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let valid = histgen::generate(&GenConfig {
        seed: 5,
        ops: 200,
        keys: 3,
        ..GenConfig::default()
    })
    .unwrap();
    let path = dir.path().join("valid.jsonl");
    std::fs::write(&path, histgen::chaos_text(&valid.history)).unwrap();
    let p = path.to_str().unwrap();
    let (code, stdout, _) = run(&["check", p]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("VALID"), "{stdout}");

    let (code, stdout, _) = run(&["check", "--json", p]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["verdict"], "valid");
    assert_eq!(doc["files"][0]["keys"].as_array().unwrap().len(), 3);

    let etcd = data().join("jepsen-etcd/etcd_000.log");
    let (code, stdout, _) = run(&[
        "check",
        "--json",
        "--format",
        "jepsen-etcd",
        etcd.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["files"][0]["keys"][0]["verdict"], "invalid");
    assert!(doc["files"][0]["keys"][0]["witness"]["explanation"].is_string());

    let broken = dir.path().join("broken.jsonl");
    let mut text = histgen::chaos_text(&valid.history);
    text.push_str("{\"process\": 1, \"type\": \"ok\"}\n");
    std::fs::write(&broken, &text).unwrap();
    let (code, _, stderr) = run(&["check", broken.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    let last = text.lines().count();
    assert!(
        stderr.contains("broken.jsonl") && stderr.contains(&format!("line {last}")),
        "{stderr}"
    );

    let (code, _, stderr) = run(&["check", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(&["check", "--format", "edn", p]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown history format"), "{stderr}");
}

#[test]
fn chaos_check_reads_kv_as_one_state_with_no_split() {
    let file = data().join("kv/c01-bad.txt");
    let (code, stdout, _) = run(&[
        "check",
        "--format",
        "porcupine-kv",
        "--no-split",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("key all keys (kv (one state)"), "{stdout}");
}

#[test]
fn a_cas_refused_on_its_compare_is_evidence() {
    // write 1, then cas 1->2 refused on its compare, then read 1, one
    // after another: the register held 1 throughout, so the refusal is
    // impossible. Dropping the refusal as "did not happen" (Knossos and
    // Porcupine's chaos-format reading) passes it; chaos does not.
    let line = |i: u64, kind: &str, f: &str, value: &str, error: &str| {
        format!(
            r#"{{"index":{i},"process":0,"type":"{kind}","f":"{f}","key":1,"value":{value}{error}}}"#
        )
    };
    let refused = ",\"error\":\"compare failed: register did not hold 1\"";
    let text = [
        line(0, "invoke", "write", "1", ""),
        line(1, "ok", "write", "1", ""),
        line(2, "invoke", "cas", "[1,2]", ""),
        line(3, "fail", "cas", "[1,2]", refused),
        line(4, "invoke", "read", "null", ""),
        line(5, "ok", "read", "1", ""),
    ]
    .join("\n");
    let h = history::parse(&text, Format::Chaos).unwrap();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Invalid, "{r}");
    let shown = checker::render(&r);
    assert!(shown.contains("refused"), "{shown}");
    // A cas that failed before anything was compared (a refused
    // connection) is no evidence: the same history is valid.
    let text = text.replace(refused, ",\"error\":\"connection refused\"");
    let h = history::parse(&text, Format::Chaos).unwrap();
    assert_eq!(check(&h).verdict, Verdict::Valid);
    // And a refusal while another value was there is fine.
    let text = [
        line(0, "invoke", "write", "1", ""),
        line(1, "ok", "write", "1", ""),
        line(2, "invoke", "cas", "[3,2]", ""),
        line(3, "fail", "cas", "[3,2]", refused),
        line(4, "invoke", "read", "null", ""),
        line(5, "ok", "read", "1", ""),
    ]
    .join("\n");
    let h = history::parse(&text, Format::Chaos).unwrap();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}
