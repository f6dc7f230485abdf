//! Load benchmarks, the pure part: what `chaos bench` measures and how it
//! judges it. Latencies go into HDR histograms ([`LoadRecorder`]), one per
//! op kind, measured from each op's *intended* start (so an op that waited
//! for a busy client counts its wait: no coordinated omission); a step of
//! load is summarised ([`LoadSummary`]: p50/p90/p99/p99.9/max per kind,
//! errors by class, achieved throughput), judged against a latency
//! objective ([`judge`]), a ramp picks the next rate from the steps so far
//! ([`ramp::Ramp`]), and the cluster's goals are evaluated from the figures
//! ([`goals`]). [`BenchReport`] is the record (`bench.json`), [`render`]
//! its text.
//!
//! Pure: times come in as nanoseconds relative to a start the caller
//! chose; nothing here reads a clock, a file, the network or a runtime
//! (`tests/it/purity.rs`). The effectful driver is `engine::bench`; the
//! command is `cli::bench`. Must not depend on the engine, the clients or
//! the CLI.

pub mod goals;
pub mod ramp;
mod render;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::history::Function;
use crate::results::{Counts, Outcome};

pub use goals::{GoalResult, GoalStatus, Goals, Startup, evaluate};
pub use render::render;

/// The version of `bench.json`'s format.
pub const BENCH_SCHEMA_VERSION: u32 = 1;

/// Latencies are recorded in microseconds, from 1 µs to one hour, with 3
/// significant digits (an error of at most 0.1 % on any figure).
const HIGHEST_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS)
        .expect("static histogram bounds are valid")
}

/// The op kinds a register workload has, in report order.
pub const KINDS: [Function; 3] = [Function::Read, Function::Write, Function::Cas];

/// The op kind of a register op's function name (`read`, `write`, `cas`);
/// any other name counts with the writes.
pub fn function(f: &str) -> Function {
    match f {
        "read" => Function::Read,
        "cas" => Function::Cas,
        _ => Function::Write,
    }
}

fn kind_slot(f: Function) -> usize {
    match f {
        Function::Read | Function::Get => 0,
        Function::Write | Function::Put | Function::Append => 1,
        Function::Cas => 2,
    }
}

/// One completed op, as the recorder needs it. Times are nanoseconds since
/// a common start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample<'a> {
    pub f: Function,
    pub outcome: Outcome,
    /// When the op should have started by the schedule.
    pub intended_ns: u64,
    /// When its request was actually sent (after its invocation was
    /// recorded).
    pub started_ns: u64,
    /// When its answer (or its timeout) came.
    pub completed_ns: u64,
    /// The error of a `fail` or `info` op.
    pub error: Option<&'a str>,
}

/// Errors of one class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// `fail` and `info` ops of this class.
    pub fail: u64,
    pub info: u64,
    /// The first message of the class, as the client reported it.
    pub example: String,
}

/// Collects the ops of one client (or, merged, of all of them) during one
/// step of load. Cheap to record into: one histogram increment and a few
/// counters per op.
#[derive(Debug, Clone)]
pub struct LoadRecorder {
    /// Per kind: latency from the intended start, every outcome.
    latency: [Histogram<u64>; 3],
    /// All kinds: latency from the actual start (the service time), to show
    /// how much of the latency was waiting for a busy client.
    service: Histogram<u64>,
    counts: [Counts; 3],
    errors: BTreeMap<String, ErrorCount>,
    /// Sum of the service times: how busy the client pool was.
    busy_ns: u64,
    /// When the last op completed.
    last_completed_ns: u64,
}

impl Default for LoadRecorder {
    fn default() -> Self {
        LoadRecorder::new()
    }
}

impl LoadRecorder {
    pub fn new() -> LoadRecorder {
        LoadRecorder {
            latency: [histogram(), histogram(), histogram()],
            service: histogram(),
            counts: [Counts::default(); 3],
            errors: BTreeMap::new(),
            busy_ns: 0,
            last_completed_ns: 0,
        }
    }

    /// Record one completed op.
    pub fn record(&mut self, s: Sample<'_>) {
        let slot = kind_slot(s.f);
        let us = |ns: u64| (ns / 1_000).max(1);
        let latency = s.completed_ns.saturating_sub(s.intended_ns);
        let service = s.completed_ns.saturating_sub(s.started_ns);
        self.latency[slot].saturating_record(us(latency));
        self.service.saturating_record(us(service));
        self.busy_ns += service;
        self.last_completed_ns = self.last_completed_ns.max(s.completed_ns);
        let counts = &mut self.counts[slot];
        match s.outcome {
            Outcome::Ok => counts.ok += 1,
            Outcome::Fail => counts.fail += 1,
            Outcome::Info => counts.info += 1,
        }
        if s.outcome != Outcome::Ok {
            let error = s.error.unwrap_or("no message");
            let entry = self
                .errors
                .entry(error_class(error).to_string())
                .or_insert_with(|| ErrorCount {
                    fail: 0,
                    info: 0,
                    example: error.to_string(),
                });
            if s.outcome == Outcome::Fail {
                entry.fail += 1;
            } else {
                entry.info += 1;
            }
        }
    }

    /// Add another recorder's ops (another client's) to this one.
    pub fn merge(&mut self, other: &LoadRecorder) {
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            mine.add(theirs).expect("histograms of one shape merge");
        }
        self.service
            .add(&other.service)
            .expect("histograms of one shape merge");
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            mine.ok += theirs.ok;
            mine.fail += theirs.fail;
            mine.info += theirs.info;
        }
        for (class, e) in &other.errors {
            let entry = self
                .errors
                .entry(class.clone())
                .or_insert_with(|| ErrorCount {
                    fail: 0,
                    info: 0,
                    example: e.example.clone(),
                });
            entry.fail += e.fail;
            entry.info += e.info;
        }
        self.busy_ns += other.busy_ns;
        self.last_completed_ns = self.last_completed_ns.max(other.last_completed_ns);
    }

    /// Ops recorded.
    pub fn ops(&self) -> u64 {
        self.counts.iter().map(Counts::total).sum()
    }

    /// Summarise a step that offered `step.target_rate` ops/s for
    /// `step.duration_ns` from `step.start_ns`.
    pub fn summary(&self, step: &StepFacts) -> LoadSummary {
        let mut all = histogram();
        for h in &self.latency {
            all.add(h).expect("histograms of one shape merge");
        }
        let mut ops = Counts::default();
        let mut by_kind = BTreeMap::new();
        for (f, (h, c)) in KINDS.iter().zip(self.latency.iter().zip(&self.counts)) {
            ops.ok += c.ok;
            ops.fail += c.fail;
            ops.info += c.info;
            if c.total() > 0 {
                by_kind.insert(
                    f.as_str().to_string(),
                    KindSummary {
                        ops: *c,
                        latency: Percentiles::of(h),
                    },
                );
            }
        }
        // The step lasts its planned length, or until its last answer came.
        let elapsed_ns = step
            .duration_ns
            .max(self.last_completed_ns.saturating_sub(step.start_ns))
            .max(1);
        let secs = elapsed_ns as f64 / 1e9;
        let errors: u64 = self
            .errors
            .iter()
            .filter(|(class, _)| class.as_str() != COMPARE_FAILED)
            .map(|(_, e)| e.fail + e.info)
            .sum();
        LoadSummary {
            target_rate: step.target_rate,
            clients: step.clients,
            duration_s: round3(step.duration_ns as f64 / 1e9),
            elapsed_s: round3(secs),
            ops,
            throughput_per_s: round3(ops.total() as f64 / secs),
            throughput_ok_per_s: round3(ops.ok as f64 / secs),
            latency: Percentiles::of(&all),
            service_time: Percentiles::of(&self.service),
            by_kind,
            errors: self.errors.clone(),
            error_ratio: if ops.total() == 0 {
                0.0
            } else {
                round6(errors as f64 / ops.total() as f64)
            },
            not_started: step.not_started,
            pool_busy: round3(
                self.busy_ns as f64 / (step.clients.max(1) as f64 * elapsed_ns as f64),
            ),
        }
    }
}

/// What the driver knows about a step besides its ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepFacts {
    pub target_rate: u64,
    pub clients: u64,
    /// When the step began and how long it offered load (nanoseconds).
    pub start_ns: u64,
    pub duration_ns: u64,
    /// Ops the schedule wanted started before the step's end that no client
    /// got to (every client was still busy): a backlog, not in the
    /// histograms.
    pub not_started: u64,
}

/// The error class of a CAS that lost its compare: a definite answer, not a
/// failure of the cluster. Not counted in [`LoadSummary::error_ratio`].
pub const COMPARE_FAILED: &str = "compare failed";

/// The class of a client's error message: what it says before the detail.
/// Classes are the first words the clients put in their messages (see
/// `client::etcd` and `client::surreal`); anything else is `other`, with
/// its first message kept as the example.
pub fn error_class(error: &str) -> &'static str {
    const CLASSES: &[(&str, &str)] = &[
        ("compare failed", COMPARE_FAILED),
        ("timed out", "timeout"),
        ("connection refused", "connection refused"),
        ("etcd error (HTTP 4", "etcd error (HTTP 4xx)"),
        ("etcd error (HTTP 5", "etcd error (HTTP 5xx)"),
        ("etcd error", "etcd error"),
        ("unexpected response", "unexpected response"),
        ("error sending request", "request lost (sent, no answer)"),
        ("error decoding response", "answer unreadable"),
        ("Connection error", "surrealdb connection"),
        ("Query error", "surrealdb query"),
        ("Serialization error", "surrealdb serialization"),
        ("Internal error", "surrealdb internal"),
        ("Validation error", "surrealdb validation"),
        ("NotAllowed error", "surrealdb not allowed"),
        ("NotFound error", "surrealdb not found"),
    ];
    CLASSES
        .iter()
        .find(|(prefix, _)| error.starts_with(prefix))
        .map_or("other", |(_, class)| class)
}

/// Percentiles of a histogram, in milliseconds (`None`: no ops).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| Some(round3(us as f64 / 1_000.0));
        Percentiles {
            count: h.len(),
            mean_ms: Some(round3(h.mean() / 1_000.0)),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// One op kind in a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindSummary {
    pub ops: Counts,
    /// From the intended start, every outcome.
    pub latency: Percentiles,
}

/// One step of load: offered rate, what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// Offered ops per second over all clients.
    pub target_rate: u64,
    pub clients: u64,
    /// How long load was offered, and until the last answer came.
    pub duration_s: f64,
    pub elapsed_s: f64,
    pub ops: Counts,
    /// Completed ops (any outcome) per second of `elapsed_s`.
    pub throughput_per_s: f64,
    /// Ok ops per second of `elapsed_s`.
    pub throughput_ok_per_s: f64,
    /// All kinds, from the intended start, every outcome (a timed-out op
    /// counts its timeout).
    pub latency: Percentiles,
    /// All kinds, from the actual start: the difference with `latency` is
    /// time spent waiting for a busy client.
    pub service_time: Percentiles,
    /// `read`, `write`, `cas`.
    pub by_kind: BTreeMap<String, KindSummary>,
    /// `fail` and `info` ops by error class ([`error_class`]).
    pub errors: BTreeMap<String, ErrorCount>,
    /// Errors (every class but [`COMPARE_FAILED`]) per op.
    pub error_ratio: f64,
    /// Ops the schedule wanted before the step's end that never started.
    pub not_started: u64,
    /// Fraction of the clients' time spent waiting for answers; near 1, the
    /// pool (`--clients`), not the cluster, bounds the rate.
    pub pool_busy: f64,
}

/// What a step must achieve to meet the objective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// p99 from the intended start, every kind and outcome, below this.
    pub p99_ms: f64,
    /// Completed ops at least this fraction of the offered rate (the
    /// cluster kept up).
    pub min_achieved: f64,
    /// Errors per op at most this.
    pub max_error_ratio: f64,
}

impl Default for Objective {
    fn default() -> Self {
        Objective {
            p99_ms: 100.0,
            min_achieved: 0.95,
            max_error_ratio: 0.01,
        }
    }
}

/// Whether a step met the objective, and if not, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub met: bool,
    /// Each unmet condition, in words.
    pub reasons: Vec<String>,
}

/// Judge a step against an objective.
pub fn judge(s: &LoadSummary, objective: &Objective) -> Judgement {
    let mut reasons = Vec::new();
    match s.latency.p99_ms {
        None => reasons.push("no op completed".to_string()),
        Some(p99) if p99 >= objective.p99_ms => reasons.push(format!(
            "p99 {} ms is not under {} ms",
            fmt_ms(p99),
            fmt_ms(objective.p99_ms)
        )),
        Some(_) => {}
    }
    let wanted = objective.min_achieved * s.target_rate as f64;
    if s.throughput_per_s < wanted {
        reasons.push(format!(
            "{} ops/s completed, below {:.0}% of the {} ops/s offered",
            thousands(s.throughput_per_s.round() as u64),
            objective.min_achieved * 100.0,
            thousands(s.target_rate)
        ));
    }
    if s.error_ratio > objective.max_error_ratio {
        reasons.push(format!(
            "{:.2}% of ops were errors (at most {:.2}%)",
            s.error_ratio * 100.0,
            objective.max_error_ratio * 100.0
        ));
    }
    Judgement {
        met: reasons.is_empty(),
        reasons,
    }
}

/// One step as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    #[serde(flatten)]
    pub load: LoadSummary,
    pub objective: Judgement,
}

/// How the node restart went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartReport {
    pub service: String,
    /// From the restart's start (SIGTERM) until an op through the node
    /// succeeded again.
    pub to_serving_ms: Option<f64>,
    /// From the restart's start until Docker had it running (and healthy,
    /// where it has a health check) again.
    pub to_healthy_ms: Option<f64>,
    /// Probe ops through the node that failed while it was away.
    pub failed_probes: u64,
    /// The node's published port before and after (ports chosen by Docker
    /// change on a restart; chaos looks the port up again).
    pub port_before: Option<u16>,
    pub port_after: Option<u16>,
    pub error: Option<String>,
}

/// The settings a bench ran with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The single step's rate, or the ramp's first.
    pub rate: u64,
    /// Each step's length, in seconds.
    pub step_s: f64,
    pub clients: u64,
    pub ramp: Option<ramp::RampSpec>,
    pub objective: Objective,
    pub keys: u64,
    pub mix: String,
    pub read_mode: String,
    pub timeout_ms: u64,
}

/// Everything a bench leaves (`bench.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub schema_version: u32,
    pub experiment: String,
    pub file: String,
    pub seed: u64,
    /// The command that runs this bench again.
    pub rerun: String,
    pub client: String,
    pub project: String,
    pub images: BTreeMap<String, String>,
    pub started_at: String,
    pub ended_at: String,
    /// Relative to where chaos was run.
    pub run_dir: String,
    pub settings: Settings,
    /// Every step of load, in order.
    pub steps: Vec<StepReport>,
    /// The step the goals are judged on: the single step, or the ramp's
    /// highest rate that met the objective (else the step with the most ok
    /// ops per second).
    pub judged_step: Option<usize>,
    /// The ramp's answer: the highest offered rate that met the objective.
    pub best_rate: Option<u64>,
    pub startup: Startup,
    pub restart: Option<RestartReport>,
    pub goals: Vec<GoalResult>,
    /// Things a reader should know (a step cut short, a pool too small).
    pub notes: Vec<String>,
    /// Whether the run was cut short by a cancellation.
    pub interrupted: bool,
}

impl BenchReport {
    /// Every goal met (none unmet, none unmeasured).
    pub fn all_met(&self) -> bool {
        !self.goals.is_empty() && self.goals.iter().all(|g| g.status == GoalStatus::Met)
    }
}

/// Milliseconds for people: `0.412`, `12.3`, `1,234`.
pub fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        thousands(ms.round() as u64)
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests;
