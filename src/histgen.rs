//! The seeded history generator: simulated linearizable registers, for the
//! checker's tests and benchmarks.
//!
//! [`generate`] runs `processes` clients against in-memory registers (one
//! per key). Each op is invoked, takes effect at one random instant inside
//! its duration, and completes; reads return the register's value at that
//! instant, so the history is linearizable by construction. An `info` op
//! (a timeout) took effect or not, at random, possibly after its completion
//! was recorded, and retires its process id (the client continues under a
//! new one, as in Jepsen). A `fail` op did not take effect; a cas whose
//! expected value did not match fails. Values are unique per key or drawn
//! from a small domain. A [`Corruption`] then changes one read so that the
//! history is not linearizable.
//!
//! [`chaos_text`] and [`jepsen_etcd_text`] write the result in this tool's
//! format and in Jepsen's etcd log format.
//!
//! Pure and deterministic: the same config gives the same history, byte for
//! byte; randomness comes only from the seed through a named ChaCha20
//! stream, never from the OS.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::Rng;
use rand_chacha::ChaCha20Rng;

use crate::history::{Function, History, HistoryError, Key, Kind, Op, Value, jepsen_etcd, to_line};
use crate::seed::Seed;

/// Where written values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// Every write and cas on a key writes a value never written before
    /// (1, 2, 3, ... per key).
    Unique,
    /// Values drawn from `0..n`.
    Domain(u64),
}

/// How to break a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// One read returns a value that was overwritten, by a write that
    /// completed, before the read began (and not written again since):
    /// not linearizable, with unique values or a small domain.
    StaleRead,
    /// One read returns a value no op wrote.
    NeverWritten,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    pub seed: u64,
    /// Operations (invocations) in all.
    pub ops: usize,
    /// Clients running at the same time.
    pub processes: usize,
    /// Registers; each op picks one uniformly.
    pub keys: u64,
    pub values: Values,
    /// The mix of functions (fractions of ops; the rest are cas).
    pub read_fraction: f64,
    pub write_fraction: f64,
    /// Fraction of ops that end `info` (indeterminate).
    pub info_fraction: f64,
    /// Fraction of writes and cas that end `fail` (did not happen).
    pub fail_fraction: f64,
    /// Op durations, in nanoseconds.
    pub min_duration_ns: u64,
    pub max_duration_ns: u64,
    pub corruption: Option<Corruption>,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 0,
            ops: 1000,
            processes: 5,
            keys: 1,
            values: Values::Unique,
            read_fraction: 0.5,
            write_fraction: 0.3,
            info_fraction: 0.05,
            fail_fraction: 0.02,
            min_duration_ns: 1_000_000,
            max_duration_ns: 20_000_000,
            corruption: None,
        }
    }
}

/// A generated history, and what was done to it.
#[derive(Debug, Clone)]
pub struct Generated {
    pub history: History,
    /// The index (into `history.ops`) of the corrupted read's completion.
    pub corrupted: Option<usize>,
    /// True when a read was corrupted (the history is then certainly not
    /// linearizable).
    pub surely_invalid: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Invoke(usize),
    Effect(usize),
    Complete(usize),
}

/// One op in flight.
struct Sim {
    slot: usize,
    process: u64,
    key: u64,
    f: Function,
    /// Write: the value; cas: (expected, new).
    arg: (Option<u64>, u64),
    outcome: Kind,
    /// Filled at the effect.
    read: Option<u64>,
    cas_applied: bool,
}

/// Generate a history. Returns an error only if the config is inconsistent
/// (no processes) in a way that makes no history.
pub fn generate(config: &GenConfig) -> Result<Generated, HistoryError> {
    let mut rng = Seed(config.seed).stream("histgen");
    let n = config.processes.max(1);
    let keys = config.keys.max(1);
    let mut registers: Vec<Option<u64>> = vec![None; keys as usize];
    let mut next_value: Vec<u64> = vec![1; keys as usize];
    let mut written: Vec<Vec<u64>> = vec![Vec::new(); keys as usize];
    let mut pids: Vec<u64> = (0..n as u64).collect();
    let mut queue: BinaryHeap<Reverse<(u64, u64, Action)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |queue: &mut BinaryHeap<_>, t: u64, a: Action| {
        seq += 1;
        queue.push(Reverse((t, seq, a)));
    };
    for slot in 0..n {
        let t = rng.random_range(0..config.max_duration_ns.max(1));
        push(&mut queue, t, Action::Invoke(slot));
    }
    let mut sims: Vec<Sim> = Vec::with_capacity(config.ops);
    let mut ops: Vec<Op> = Vec::with_capacity(config.ops * 2);
    let min_d = config.min_duration_ns.max(2);
    let max_d = config.max_duration_ns.max(min_d + 1);
    while let Some(Reverse((t, _, action))) = queue.pop() {
        match action {
            Action::Invoke(slot) => {
                if sims.len() >= config.ops {
                    continue;
                }
                let key = rng.random_range(0..keys);
                let k = key as usize;
                let roll: f64 = rng.random();
                let f = if roll < config.read_fraction {
                    Function::Read
                } else if roll < config.read_fraction + config.write_fraction {
                    Function::Write
                } else {
                    Function::Cas
                };
                let mut fresh = |rng: &mut ChaCha20Rng| match config.values {
                    Values::Unique => {
                        let v = next_value[k];
                        next_value[k] += 1;
                        v
                    }
                    Values::Domain(d) => rng.random_range(0..d.max(1)),
                };
                let arg = match f {
                    Function::Read => (None, 0),
                    Function::Write => (None, fresh(&mut rng)),
                    _ => {
                        let expected = match config.values {
                            Values::Unique if rng.random_bool(0.7) || written[k].is_empty() => {
                                registers[k]
                            }
                            Values::Unique => {
                                Some(written[k][rng.random_range(0..written[k].len())])
                            }
                            Values::Domain(d) if rng.random_bool(0.5) => {
                                registers[k].or_else(|| Some(rng.random_range(0..d.max(1))))
                            }
                            Values::Domain(d) => Some(rng.random_range(0..d.max(1))),
                        };
                        (expected, fresh(&mut rng))
                    }
                };
                if f != Function::Read {
                    written[k].push(arg.1);
                }
                let outcome = if rng.random_bool(config.info_fraction.clamp(0.0, 1.0)) {
                    Kind::Info
                } else if f != Function::Read
                    && rng.random_bool(config.fail_fraction.clamp(0.0, 1.0))
                {
                    Kind::Fail
                } else {
                    Kind::Ok
                };
                let d = rng.random_range(min_d..max_d);
                let id = sims.len();
                let value = match f {
                    Function::Read => Value::Null,
                    Function::Write => Value::Int(arg.1),
                    _ => Value::List(vec![
                        arg.0.map_or(Value::Null, Value::Int),
                        Value::Int(arg.1),
                    ]),
                };
                ops.push(Op {
                    index: ops.len() as u64,
                    time_ns: Some(t),
                    process: pids[slot],
                    kind: Kind::Invoke,
                    f,
                    key: Key::Int(key),
                    value,
                    error: None,
                    node: None,
                    final_read: false,
                    line: ops.len() + 1,
                });
                match outcome {
                    Kind::Ok => {
                        push(&mut queue, t + rng.random_range(1..d), Action::Effect(id));
                    }
                    Kind::Info if rng.random_bool(0.5) => {
                        push(
                            &mut queue,
                            t + rng.random_range(1..2 * d),
                            Action::Effect(id),
                        );
                    }
                    _ => {}
                }
                push(&mut queue, t + d, Action::Complete(id));
                sims.push(Sim {
                    slot,
                    process: pids[slot],
                    key,
                    f,
                    arg,
                    outcome,
                    read: None,
                    cas_applied: false,
                });
            }
            Action::Effect(id) => {
                let sim = &mut sims[id];
                let reg = &mut registers[sim.key as usize];
                match sim.f {
                    Function::Read => sim.read = *reg,
                    Function::Write => *reg = Some(sim.arg.1),
                    _ => {
                        if *reg == sim.arg.0 {
                            *reg = Some(sim.arg.1);
                            sim.cas_applied = true;
                        }
                    }
                }
            }
            Action::Complete(id) => {
                let sim = &sims[id];
                let mut kind = sim.outcome;
                if kind == Kind::Ok && sim.f == Function::Cas && !sim.cas_applied {
                    kind = Kind::Fail;
                }
                let value = match (sim.f, kind) {
                    (Function::Read, Kind::Ok) => sim.read.map_or(Value::Null, Value::Int),
                    (Function::Read, _) => Value::Null,
                    (Function::Write, _) => Value::Int(sim.arg.1),
                    _ => Value::List(vec![
                        sim.arg.0.map_or(Value::Null, Value::Int),
                        Value::Int(sim.arg.1),
                    ]),
                };
                let error = match kind {
                    Kind::Info => Some("timeout".to_string()),
                    Kind::Fail if sim.f == Function::Cas && sim.outcome == Kind::Ok => {
                        Some("compare failed".to_string())
                    }
                    Kind::Fail => Some("refused".to_string()),
                    _ => None,
                };
                ops.push(Op {
                    index: ops.len() as u64,
                    time_ns: Some(t),
                    process: sim.process,
                    kind,
                    f: sim.f,
                    key: Key::Int(sim.key),
                    value,
                    error,
                    node: None,
                    final_read: false,
                    line: ops.len() + 1,
                });
                let slot = sim.slot;
                if kind == Kind::Info {
                    pids[slot] += n as u64;
                }
                let gap = rng.random_range(0..min_d);
                push(&mut queue, t + gap, Action::Invoke(slot));
            }
        }
    }
    let mut history = History::from_ops(ops)?;
    let (corrupted, surely_invalid) = match config.corruption {
        None => (None, false),
        Some(c) => corrupt(&mut history, c, config, &mut rng),
    };
    Ok(Generated {
        history,
        corrupted,
        surely_invalid,
    })
}

/// Change one ok read; returns the index of its completion, and whether the
/// history is now certainly not linearizable.
fn corrupt(
    history: &mut History,
    corruption: Corruption,
    config: &GenConfig,
    rng: &mut ChaCha20Rng,
) -> (Option<usize>, bool) {
    let reads: Vec<usize> = history
        .operations
        .iter()
        .enumerate()
        .filter(|(_, o)| o.f == Function::Read && o.outcome == crate::history::Outcome::Ok)
        .map(|(i, _)| i)
        .collect();
    if reads.is_empty() {
        return (None, false);
    }
    // Start in the second half: a late anomaly makes the checker search
    // through more of the history first.
    let start = rng.random_range(reads.len() / 2..reads.len());
    match corruption {
        Corruption::NeverWritten => {
            let r = &history.operations[reads[start]];
            let at = r.complete.expect("an ok read completed");
            let never = match config.values {
                Values::Unique => u64::MAX - 1,
                Values::Domain(d) => d + 1000,
            };
            history.ops[at].value = Value::Int(never);
            (Some(at), true)
        }
        Corruption::StaleRead => {
            for k in 0..reads.len() {
                let r = &history.operations[reads[(start + k) % reads.len()]];
                if let Some((at, v)) = stale_value(history, r) {
                    history.ops[at].value = Value::Int(v);
                    return (Some(at), true);
                }
            }
            (None, false)
        }
    }
}

/// For a read: a value it cannot have read. Take the ok write `later` that
/// completed before the read began and began as late as possible; then a
/// value, other than the one read, all of whose writers that could precede
/// the read are ok and completed before `later` began (the most recent
/// such value). Every write of it is then overwritten by `later` before the
/// read starts, whatever the values.
fn stale_value(history: &History, read: &crate::history::Operation) -> Option<(usize, u64)> {
    use crate::history::Outcome;
    let at = read.complete?;
    let actual = &history.ops[at].value;
    let written = |o: &crate::history::Operation| match history.input(o) {
        Value::Int(v) => Some(*v),
        Value::List(items) => match items.get(1) {
            Some(Value::Int(v)) => Some(*v),
            _ => None,
        },
        _ => None,
    };
    // Writes that may have taken effect before the read completed.
    let writes: Vec<&crate::history::Operation> = history
        .operations
        .iter()
        .filter(|o| {
            o.key == read.key
                && o.outcome != Outcome::Fail
                && matches!(o.f, Function::Write | Function::Cas)
                && o.invoke < at
        })
        .collect();
    let later = writes
        .iter()
        .filter(|o| o.outcome == Outcome::Ok && o.complete.is_some_and(|c| c < read.invoke))
        .max_by_key(|o| o.invoke)?;
    let mut before: Vec<&&crate::history::Operation> = writes
        .iter()
        .filter(|o| o.outcome == Outcome::Ok && o.complete.is_some_and(|c| c < later.invoke))
        .collect();
    before.sort_by_key(|o| std::cmp::Reverse(o.complete));
    before.into_iter().find_map(|w| {
        let v = written(w)?;
        let overwritten = writes
            .iter()
            .filter(|o| written(o) == Some(v))
            .all(|o| o.outcome == Outcome::Ok && o.complete.is_some_and(|c| c < later.invoke));
        (overwritten && Value::Int(v) != *actual).then_some((at, v))
    })
}

/// The history in this tool's JSONL format.
pub fn chaos_text(history: &History) -> String {
    let mut out = String::with_capacity(history.ops.len() * 100);
    for op in &history.ops {
        out.push_str(&to_line(op));
        out.push('\n');
    }
    out
}

/// The history in Jepsen's etcd log format (one key only), or `None` if
/// it has ops the format cannot carry.
pub fn jepsen_etcd_text(history: &History) -> Option<String> {
    let mut out = String::with_capacity(history.ops.len() * 40);
    for op in &history.ops {
        out.push_str(&jepsen_etcd::to_line(op)?);
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Format, parse};

    #[test]
    fn same_seed_same_history() {
        let config = GenConfig {
            seed: 42,
            ops: 200,
            ..GenConfig::default()
        };
        let a = generate(&config).unwrap();
        let b = generate(&config).unwrap();
        assert_eq!(chaos_text(&a.history), chaos_text(&b.history));
        let c = generate(&GenConfig { seed: 43, ..config }).unwrap();
        assert_ne!(chaos_text(&a.history), chaos_text(&c.history));
    }

    #[test]
    fn writes_both_formats_readably() {
        let g = generate(&GenConfig {
            seed: 1,
            ops: 300,
            values: Values::Domain(5),
            info_fraction: 0.1,
            ..GenConfig::default()
        })
        .unwrap();
        assert_eq!(g.history.operations.len(), 300);
        let chaos = parse(&chaos_text(&g.history), Format::Chaos).unwrap();
        assert_eq!(chaos.operations, g.history.operations);
        let etcd = parse(&jepsen_etcd_text(&g.history).unwrap(), Format::JepsenEtcd).unwrap();
        assert_eq!(etcd.operations.len(), 300);
    }

    #[test]
    fn corruption_changes_one_read() {
        let config = GenConfig {
            seed: 7,
            ops: 300,
            corruption: Some(Corruption::StaleRead),
            ..GenConfig::default()
        };
        let bad = generate(&config).unwrap();
        let good = generate(&GenConfig {
            corruption: None,
            ..config
        })
        .unwrap();
        let at = bad.corrupted.unwrap();
        assert!(bad.surely_invalid);
        let differ: Vec<usize> = (0..good.history.ops.len())
            .filter(|&i| good.history.ops[i] != bad.history.ops[i])
            .collect();
        assert_eq!(differ, vec![at]);
    }
}
