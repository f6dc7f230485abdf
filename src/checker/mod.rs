//! The linearizability checker: is there a sequential order of a history's
//! operations, consistent with real time, that the object's model allows?
//!
//! Public API:
//! - [`check`]`(history, options) -> CheckReport`: per-key verdicts
//!   (P-compositionality: keys are independent objects, checked alone and,
//!   with several threads, in parallel), and the overall one.
//! - [`CheckOptions`]: the per-key budget (time through an injected
//!   [`Clock`], and memory), threads, whether key-value maps are split by
//!   key, and the [`Reductions`] in force.
//! - [`CheckReport`], [`KeyReport`], [`Witness`], [`Verdict`]: serde types;
//!   a verdict is data, never an error. [`render`] (and `Display`) writes
//!   them for a terminal.
//!
//! Inside: [`model`] (the trait) and [`models`] (register, CAS register,
//! key-value map); `prepare` compiles and reduces a partition; `search` is
//! the Wing-Gong-Lowe search with a memo and exact prunings; `memo` its
//! hash set; `explain` turns a failed search into words.
//!
//! Beside it, [`txn`]: the transaction checker (Elle's list-append
//! analysis: anomalies and consistency models instead of linearizability),
//! with its own history model and API; it shares only [`Clock`] and
//! [`Verdict`] with the rest.
//!
//! Semantics: `ok` ops happened between invocation and completion; `fail`
//! ops never happened; `info` ops (and invocations that never completed)
//! may take effect at any time after invocation, or never; reads that did
//! not return are dropped.
//!
//! Pure: no IO, no clock, no async runtime. Time enters only through the
//! [`Clock`] the caller passes (the shell implements it); threads come
//! from `std::thread::scope`.

pub mod model;
pub mod models;
pub mod txn;

mod explain;
mod memo;
mod prepare;
mod search;

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::history::{History, Key, Kind, Op};

use memo::FxHashMap;
use model::{Call, Model};
use models::kv::KvMap;
use models::kv::KvOp;
use models::register::Register;
use models::register::RegisterOp;
use prepare::Compiled;
use search::{Found, Limits, Stop};

/// A source of time, supplied by the caller (the core reads no clock).
pub trait Clock: Send + Sync {
    /// Time since any fixed origin.
    fn now(&self) -> Duration;
}

/// The exact reductions and prunings the search may use. All on by
/// default; switching one off never changes a verdict, only the time it
/// takes (the oracle property tests check exactly that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reductions {
    /// Drop indeterminate writes and cas whose value no op observes.
    pub drop_unobserved_info: bool,
    /// With a value written by one op only, its readers read from it.
    pub read_from: bool,
    /// Linearize reads as soon as the state allows them.
    pub greedy_reads: bool,
    /// Treat values nothing observes any more as one state.
    pub dead_states: bool,
    /// Stop a branch that overwrites a value still needed.
    pub prune_lost_values: bool,
    /// Try one of identical pending indeterminate ops.
    pub symmetry: bool,
    /// Skip indeterminate ops whose value no open op would see.
    pub useless_info: bool,
    /// Skip a configuration that only differs from one already explored by
    /// having used more indeterminate ops.
    pub info_subsumption: bool,
}

impl Reductions {
    /// Everything on.
    pub const ALL: Reductions = Reductions {
        drop_unobserved_info: true,
        read_from: true,
        greedy_reads: true,
        dead_states: true,
        prune_lost_values: true,
        symmetry: true,
        useless_info: true,
        info_subsumption: true,
    };

    /// Everything off: the plain just-in-time search with its memo.
    pub const NONE: Reductions = Reductions {
        drop_unobserved_info: false,
        read_from: false,
        greedy_reads: false,
        dead_states: false,
        prune_lost_values: false,
        symmetry: false,
        useless_info: false,
        info_subsumption: false,
    };
}

impl Default for Reductions {
    fn default() -> Self {
        Reductions::ALL
    }
}

/// How to check.
#[derive(Clone)]
pub struct CheckOptions {
    /// Give up on a key after this long (measured with `clock`) and answer
    /// `unknown` for it.
    pub budget: Duration,
    /// Give up on a key when its search's memory passes this many bytes.
    pub max_memory_bytes: u64,
    /// Keys checked in parallel.
    pub threads: usize,
    /// Check a key-value map key by key (true, the default), or as one
    /// state over all keys (a stress test of the search).
    pub split_keys: bool,
    /// The clock the time budget is measured with. Without one, only the
    /// memory budget applies.
    pub clock: Option<Arc<dyn Clock>>,
    pub reductions: Reductions,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            budget: Duration::from_secs(60),
            max_memory_bytes: 1 << 30,
            threads: 1,
            split_keys: true,
            clock: None,
            reductions: Reductions::ALL,
        }
    }
}

impl fmt::Debug for CheckOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckOptions")
            .field("budget", &self.budget)
            .field("max_memory_bytes", &self.max_memory_bytes)
            .field("threads", &self.threads)
            .field("split_keys", &self.split_keys)
            .field("clock", &self.clock.is_some())
            .field("reductions", &self.reductions)
            .finish()
    }
}

/// Valid, invalid or unknown: for a key, and for a whole history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Linearizable.
    Valid,
    /// Not linearizable; a witness says why.
    Invalid,
    /// Not decided within the budget; a reason says why.
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        }
    }

    /// Invalid beats unknown beats valid.
    fn combine(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Invalid, _) | (_, Verdict::Invalid) => Verdict::Invalid,
            (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
            _ => Verdict::Valid,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key is not linearizable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witness {
    /// What kind of anomaly it is.
    pub class: AnomalyClass,
    /// How many operations of the key, in order of completion, can be
    /// linearized before the search gets stuck.
    pub linearizable_prefix: u64,
    /// In words: which op cannot be placed, and why.
    pub explanation: String,
    /// The history lines of the ops involved (invocation and completion).
    pub ops: Vec<Op>,
}

/// The class of a register (or map) anomaly, named after the op that cannot
/// be placed: what a person (and `chaos shrink`, which keeps a schedule only
/// while it shows the same class) calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyClass {
    /// A read returned a value that was no longer (or not yet) the
    /// register's: it missed a completed write, or saw an overwritten one.
    StaleRead,
    /// A read returned a value no operation ever wrote.
    NeverWritten,
    /// A compare-and-set succeeded although the register could not hold the
    /// value it expected.
    ImpossibleCas,
    /// Anything else no order explains.
    Other,
}

impl AnomalyClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyClass::StaleRead => "stale-read",
            AnomalyClass::NeverWritten => "never-written",
            AnomalyClass::ImpossibleCas => "impossible-cas",
            AnomalyClass::Other => "other",
        }
    }
}

impl fmt::Display for AnomalyClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict for one key (or, for a map checked as one state, for all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyReport {
    /// The key; `None` when all keys were checked as one state.
    pub key: Option<Key>,
    /// The model used: `register`, `cas-register`, `kv`, `kv (one state)`.
    pub model: String,
    pub verdict: Verdict,
    /// Operations of the key (invocations).
    pub ops: u64,
    /// Configurations the search explored.
    pub configurations: u64,
    /// Indeterminate ops dropped before the search because no op could
    /// observe their effect.
    #[serde(default)]
    pub info_dropped: u64,
    /// Indeterminate ops proven to have happened (some op read their
    /// unique value).
    #[serde(default)]
    pub info_confirmed: u64,
    /// For an invalid key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witness>,
    /// For an unknown key: why it was not decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl KeyReport {
    /// The key for people: `17`, `"k"`, or `all keys`.
    pub fn key_label(&self) -> String {
        match &self.key {
            Some(k) => k.to_string(),
            None => "all keys".to_string(),
        }
    }
}

/// The verdict for a history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub verdict: Verdict,
    /// Operations in the history.
    pub ops: u64,
    /// One report per key, in key order.
    pub keys: Vec<KeyReport>,
}

impl CheckReport {
    /// Keys with the given verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.keys.iter().filter(|k| k.verdict == verdict).count()
    }
}

/// One independent part of the history, compiled for its model.
struct Job {
    key: Option<Key>,
    ops: usize,
    part: Result<Part, (String, String)>,
}

/// A partition's model and its compiled operations.
enum Part {
    Register(Register, Vec<Compiled<RegisterOp>>),
    Kv(KvMap, Vec<Compiled<KvOp>>),
}

/// Check a history: every key on its own, and the overall verdict.
pub fn check(history: &History, options: &CheckOptions) -> CheckReport {
    let mut jobs = partition(history, options);
    let threads = options.threads.max(1).min(jobs.len().max(1));
    let mut reports: Vec<Option<KeyReport>> = vec![None; jobs.len()];
    if threads <= 1 {
        for (job, slot) in jobs.iter_mut().zip(reports.iter_mut()) {
            *slot = Some(check_job(history, job, options));
        }
    } else {
        // Biggest first, for balance; results go back to key order.
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].ops));
        // Each job is taken by exactly one worker; the mutexes are never
        // contended.
        let jobs: Vec<Mutex<Job>> = jobs.into_iter().map(Mutex::new).collect();
        let next = AtomicUsize::new(0);
        let done = Mutex::new(&mut reports);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut local = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = order.get(n) else { break };
                        let mut job = jobs[i].lock().unwrap_or_else(|e| e.into_inner());
                        local.push((i, check_job(history, &mut job, options)));
                    }
                    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
                    for (i, r) in local {
                        done[i] = Some(r);
                    }
                });
            }
        });
    }
    let keys: Vec<KeyReport> = reports.into_iter().flatten().collect();
    let verdict = keys
        .iter()
        .fold(Verdict::Valid, |v, k| v.combine(k.verdict));
    CheckReport {
        verdict,
        ops: history.operations.len() as u64,
        keys,
    }
}

/// Split the history into independent parts and compile each, in one pass
/// over the history in order (so that it is read sequentially, and each
/// part's operations end up compact).
fn partition(history: &History, options: &CheckOptions) -> Vec<Job> {
    let register = Register::new();
    let kv = if options.split_keys {
        KvMap::per_key()
    } else {
        KvMap::whole()
    };
    let mut index: FxHashMap<Option<&Key>, usize> = FxHashMap::default();
    let mut jobs: Vec<Job> = Vec::new();
    for (i, op) in history.operations.iter().enumerate() {
        let call = Call {
            id: i,
            f: op.f,
            key: &op.key,
            outcome: op.outcome,
            invoke: op.invoke,
            complete: op.complete,
            input: history.input(op),
            output: history.output(op),
            error: op.complete.and_then(|c| history.ops[c].error.as_deref()),
        };
        let is_kv = op.f.is_kv();
        let key = if is_kv {
            kv.partition(&call)
        } else {
            register.partition(&call)
        };
        let j = *index.entry(key).or_insert_with(|| {
            jobs.push(Job {
                key: key.cloned(),
                ops: 0,
                part: Ok(if is_kv {
                    Part::Kv(kv.clone(), Vec::new())
                } else {
                    Part::Register(register.clone(), Vec::new())
                }),
            });
            jobs.len() - 1
        });
        let job = &mut jobs[j];
        job.ops += 1;
        let failed = match &mut job.part {
            Err(_) => None,
            Ok(Part::Register(model, ops)) if !is_kv => compile(model, ops, &call).err(),
            Ok(Part::Kv(model, ops)) if is_kv => compile(model, ops, &call).err(),
            Ok(Part::Register(model, _)) => Some((
                model.name().to_string(),
                "the key mixes register functions (read/write/cas) with map functions \
                 (get/put/append); no model has both"
                    .to_string(),
            )),
            Ok(Part::Kv(model, _)) => Some((
                model.name().to_string(),
                "the key mixes map functions (get/put/append) with register functions \
                 (read/write/cas); no model has both"
                    .to_string(),
            )),
        };
        if let Some(failure) = failed {
            job.part = Err(failure);
        }
    }
    jobs.sort_by(|a, b| a.key.cmp(&b.key));
    jobs
}

/// Compile one call into a part (a fail op needs no model, unless the
/// model keeps it as evidence: [`Model::compile_failed`]; it then counts as
/// an op that happened).
fn compile<M: Model>(
    model: &mut M,
    ops: &mut Vec<Compiled<M::Op>>,
    call: &Call<'_>,
) -> Result<(), (String, String)> {
    let (op, outcome) = if call.outcome == crate::history::Outcome::Fail {
        match model.compile_failed(call) {
            None => return Ok(()),
            Some(op) => (op, crate::history::Outcome::Ok),
        }
    } else {
        (model.compile(call), call.outcome)
    };
    let op = op.map_err(|reason| (model.name().to_string(), reason))?;
    ops.push(Compiled {
        op,
        id: call.id,
        outcome,
        invoke: call.invoke,
        complete: call.complete,
    });
    Ok(())
}

/// The reason given when the checker's two exact searches disagree.
fn self_check_failure(report: &KeyReport) -> String {
    format!(
        "checker self-check failed on key {}: the search with lost-value pruning found it \
         not linearizable, the plain search found it linearizable; one of them has a bug, \
         so no verdict is given (please report it to chaos with this history)",
        report.key_label()
    )
}

fn check_job(history: &History, job: &mut Job, options: &CheckOptions) -> KeyReport {
    let report = KeyReport {
        key: job.key.clone(),
        model: String::new(),
        verdict: Verdict::Unknown,
        ops: job.ops as u64,
        configurations: 0,
        info_dropped: 0,
        info_confirmed: 0,
        witness: None,
        reason: None,
    };
    let part = std::mem::replace(&mut job.part, Err((String::new(), String::new())));
    match part {
        Err((model, reason)) => KeyReport {
            model,
            reason: Some(reason),
            ..report
        },
        Ok(Part::Register(model, ops)) => with_evidence(history, ops, options, model, report),
        Ok(Part::Kv(model, ops)) => with_evidence(history, ops, options, model, report),
    }
}

/// Check a key in two steps when it has ops that are evidence only
/// ([`ValueFacts::excludes`]: a cas refused on its compare): first without
/// them, with every reduction (more constraints can only make a history
/// invalid, so an invalid or undecided answer there stands), then, if that
/// is valid, with them, the reductions they defeat switched off.
fn with_evidence<M: Model>(
    history: &History,
    ops: Vec<Compiled<M::Op>>,
    options: &CheckOptions,
    model: M,
    report: KeyReport,
) -> KeyReport {
    let is_evidence = |c: &Compiled<M::Op>| {
        model
            .value_facts(&c.op)
            .is_some_and(|f| f.excludes.is_some())
    };
    if !ops.iter().any(is_evidence) {
        return run_model(history, ops, options, model.clone(), report);
    }
    let without: Vec<Compiled<M::Op>> = ops.iter().filter(|c| !is_evidence(c)).cloned().collect();
    let first = run_model(history, without, options, model.clone(), report.clone());
    if first.verdict != Verdict::Valid {
        return first;
    }
    let mut second = run_model(history, ops, options, model, report);
    second.configurations += first.configurations;
    if second.verdict == Verdict::Unknown {
        second.reason = Some(format!(
            "linearizable without the compare-and-sets refused on their compare; with them, \
             {}",
            second.reason.as_deref().unwrap_or("not decided")
        ));
    }
    second
}

fn run_model<M: Model>(
    history: &History,
    ops: Vec<Compiled<M::Op>>,
    options: &CheckOptions,
    model: M,
    mut report: KeyReport,
) -> KeyReport {
    report.model = model.name().to_string();
    // A refused cas ("not this value") makes any value matter: the
    // reductions that reason only about what ops observe are off here.
    let negative = ops.iter().any(|c| {
        model
            .value_facts(&c.op)
            .is_some_and(|f| f.excludes.is_some())
    });
    let reductions = if negative {
        Reductions {
            drop_unobserved_info: false,
            dead_states: false,
            useless_info: false,
            ..options.reductions
        }
    } else {
        options.reductions
    };
    let options = &CheckOptions {
        reductions,
        clock: options.clock.clone(),
        ..*options
    };
    let mut prepared = prepare::prepare(ops, model, &options.reductions);
    report.info_dropped = prepared.dropped_info as u64;
    report.info_confirmed = prepared.confirmed_info as u64;
    let start = options.clock.as_ref().map(|c| c.now());
    let budget = options.budget;
    let clock = options.clock.clone();
    let should_stop = move || match (&clock, start) {
        (Some(c), Some(s)) => c.now().saturating_sub(s) >= budget,
        _ => false,
    };
    let limits = Limits {
        should_stop: &should_stop,
        max_bytes: usize::try_from(options.max_memory_bytes).unwrap_or(usize::MAX),
        max_configurations: u64::MAX,
    };
    let (found, work) = search::search(&mut prepared, &options.reductions, &limits);
    report.configurations = work.configurations;
    match found {
        Found::Valid => report.verdict = Verdict::Valid,
        Found::Invalid(stuck) => {
            report.verdict = Verdict::Invalid;
            // Pruning lost values finds the anomaly early, where a value is
            // overwritten, but the op that still needed it may be far
            // away. Without that pruning the search gets stuck at that op
            // itself, which makes a plainer witness: try it, with a bound.
            let mut stuck = stuck;
            if options.reductions.prune_lost_values && stuck.lost.iter().any(|l| l.0 == stuck.op) {
                let plain = Reductions {
                    prune_lost_values: false,
                    ..options.reductions
                };
                let bounded = Limits {
                    max_configurations: work.configurations.saturating_mul(4).max(100_000),
                    ..limits
                };
                match search::search(&mut prepared, &plain, &bounded) {
                    (Found::Invalid(other), _) => stuck = other,
                    // Bounded: running out says nothing.
                    (Found::Unknown(..), _) => {}
                    // Both searches are exact, so they must agree: one of
                    // them has a bug. Never report a verdict the checker
                    // contradicts itself on.
                    (Found::Valid, _) => {
                        let why = self_check_failure(&report);
                        if cfg!(debug_assertions) {
                            panic!("{why}");
                        }
                        report.verdict = Verdict::Unknown;
                        report.reason = Some(why);
                        return report;
                    }
                }
            }
            report.witness = Some(explain::witness(history, &mut prepared, &stuck));
        }
        Found::Unknown(stop, furthest) => {
            report.verdict = Verdict::Unknown;
            let furthest = furthest
                .map(|op| {
                    let operation = &history.operations[prepared.ops[op as usize].source];
                    let line = history
                        .completion(operation)
                        .map_or(history.invocation(operation).line, |c| c.line);
                    format!("; every order tried so far got stuck by line {line}")
                })
                .unwrap_or_default();
            let why = match stop {
                Stop::Time => format!(
                    "gave up after the budget of {} ({} configurations explored, {} MiB of memo)",
                    crate::duration::format(budget),
                    work.configurations,
                    work.memo_bytes >> 20
                ),
                Stop::Configurations => {
                    format!("gave up after {} configurations", work.configurations)
                }
                Stop::Memory => format!(
                    "gave up at the memory budget of {} MiB ({} configurations explored)",
                    options.max_memory_bytes >> 20,
                    work.configurations
                ),
            };
            report.reason = Some(why + &furthest);
        }
    }
    report
}

/// The report for a terminal: the verdict, then every invalid and unknown
/// key with its explanation, and a count of the valid ones.
pub fn render(report: &CheckReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let headline = match report.verdict {
        Verdict::Valid => "VALID: linearizable",
        Verdict::Invalid => "INVALID: not linearizable",
        Verdict::Unknown => "UNKNOWN: not decided within the budget",
    };
    let _ = writeln!(
        out,
        "{headline} ({} ops, {} keys: {} valid, {} invalid, {} unknown)",
        report.ops,
        report.keys.len(),
        report.count(Verdict::Valid),
        report.count(Verdict::Invalid),
        report.count(Verdict::Unknown)
    );
    for k in &report.keys {
        match k.verdict {
            Verdict::Valid => {}
            Verdict::Invalid => {
                let _ = writeln!(
                    out,
                    "key {} ({}, {} ops): INVALID",
                    k.key_label(),
                    k.model,
                    k.ops
                );
                if let Some(w) = &k.witness {
                    let _ = writeln!(out, "  {}", w.explanation);
                    for op in &w.ops {
                        let _ = writeln!(out, "    {}", render_op(op));
                    }
                }
            }
            Verdict::Unknown => {
                let _ = writeln!(
                    out,
                    "key {} ({}, {} ops): UNKNOWN: {}",
                    k.key_label(),
                    k.model,
                    k.ops,
                    k.reason.as_deref().unwrap_or("not decided")
                );
            }
        }
    }
    out
}

/// `line 57: process 7 ok read 3 (1.204 s)`.
fn render_op(op: &Op) -> String {
    let time = op
        .time_ns
        .map(|t| format!(" ({:.3} s)", t as f64 / 1e9))
        .unwrap_or_default();
    let value = match (op.kind, op.f.is_read()) {
        (Kind::Invoke, true) => String::new(),
        _ => format!(" {}", op.value),
    };
    format!(
        "line {}: process {} {} {}{value}{time}",
        op.line,
        op.process,
        op.kind.as_str(),
        op.f
    )
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self))
    }
}
