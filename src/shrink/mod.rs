//! Replay and shrink: from a run with an anomaly to the smallest schedule
//! that still shows it, on a real cluster.
//!
//! - [`search`] (pure): the order of candidates (ddmin over faults, then
//!   shorter faults, a shorter run, fewer clients and keys).
//! - [`file`] (pure): a candidate as a runnable experiment file (exact
//!   faults).
//! - this module (shell): reading a run directory back ([`read_run`]),
//!   [`replay`] (the same plan again, N times), and [`shrink`] (the search
//!   driven through the run engine: each candidate run `tries` times, kept
//!   when at least `min_repro` of them show an anomaly of the original's
//!   class; a budget of runs and time; cancellation stops with the best
//!   found so far). Every candidate run is an ordinary engine run: journaled
//!   and healed on every path, so `chaos heal` covers a SIGKILL.
//!
//! Layer: above the engine, beside the daemon; it never prints (events go
//! to a [`ShrinkSink`]) and never exits.

pub mod file;
pub mod search;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::engine::progress::{NoProgress, ProgressSink};
use crate::engine::{self, EngineError, RunOptions, RunOutcome};
use crate::loader::{self, LoadError, Loaded};
use crate::plan::{self, ReplayInfo};
use crate::results::{Results, Verdict};
use crate::seed::Seed;
use crate::store::files;
use search::{Candidate, CandidateFault, Search};

/// Why a run directory cannot be replayed or shrunk.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(
        "{dir}: not a run directory ({what} is missing); expected the directory `chaos run` wrote"
    )]
    NotARun { dir: String, what: &'static str },
    #[error(
        "{dir}: this run was written by an older chaos (no replay.json); rerun it with its `rerun` command instead"
    )]
    TooOld { dir: String },
    #[error("{path}: {message}")]
    Unreadable { path: String, message: String },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(
        "{dir}: the run found no anomaly (verdict {verdict}); there is nothing to shrink. `chaos replay` reruns it"
    )]
    NoAnomaly { dir: String, verdict: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ReplayError {
    let context = context.into();
    move |error| ReplayError::Io { context, error }
}

/// A run directory read back.
#[derive(Debug)]
pub struct RecordedRun {
    pub dir: PathBuf,
    /// Its `experiment.toml` (the compose file resolved), loaded.
    pub loaded: Loaded,
    pub replay: ReplayInfo,
    /// Its results, if it got that far.
    pub results: Option<Results>,
}

impl RecordedRun {
    /// The classes of its anomalies that count against its verdict
    /// (`stale-read`, ...; for list-append, Elle's names of those that rule
    /// out the run's model).
    pub fn classes(&self) -> BTreeSet<String> {
        self.results
            .iter()
            .flat_map(|r| r.checker.decisive())
            .map(|a| a.class().to_string())
            .collect()
    }

    /// What changed since the run: its compose file, chaos itself.
    pub fn changes(&self) -> Vec<String> {
        let mut out = Vec::new();
        match std::fs::read(&self.replay.compose_file) {
            Ok(bytes) => {
                if engine::sha256_hex(&bytes) != self.replay.compose_sha256 {
                    out.push(format!(
                        "the compose file {} changed since the run: the replay runs another cluster",
                        self.replay.compose_file
                    ));
                }
            }
            Err(e) => out.push(format!(
                "the compose file {} cannot be read: {e}",
                self.replay.compose_file
            )),
        }
        let now = env!("CARGO_PKG_VERSION");
        if self.replay.chaos_version != now {
            out.push(format!(
                "the run was made by chaos {}, this is chaos {now}: plans and clients may differ",
                self.replay.chaos_version
            ));
        }
        out
    }

    /// The duration the run used when it was overridden.
    pub fn duration(&self) -> Option<Duration> {
        self.replay.duration_ms.map(Duration::from_millis)
    }
}

/// Read a run directory back: `experiment.toml`, `replay.json` and (if
/// present) `results.json`.
pub fn read_run(dir: &Path) -> Result<RecordedRun, ReplayError> {
    let shown = dir.display().to_string();
    let experiment = dir.join(files::EXPERIMENT);
    if !experiment.is_file() {
        return Err(ReplayError::NotARun {
            dir: shown,
            what: files::EXPERIMENT,
        });
    }
    let replay_path = dir.join(files::REPLAY);
    let text = match std::fs::read_to_string(&replay_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReplayError::TooOld { dir: shown });
        }
        Err(e) => return Err(io(format!("reading {}", replay_path.display()))(e)),
    };
    let replay: ReplayInfo = serde_json::from_str(&text).map_err(|e| ReplayError::Unreadable {
        path: replay_path.display().to_string(),
        message: e.to_string(),
    })?;
    let loaded = loader::load(&experiment)?;
    let results_path = dir.join(files::RESULTS);
    let results = match std::fs::read_to_string(&results_path) {
        Ok(t) => Some(
            serde_json::from_str(&t).map_err(|e| ReplayError::Unreadable {
                path: results_path.display().to_string(),
                message: e.to_string(),
            })?,
        ),
        Err(_) => None,
    };
    Ok(RecordedRun {
        dir: dir.to_path_buf(),
        loaded,
        replay,
        results,
    })
}

/// Options shared by replay and shrink.
#[derive(Clone)]
pub struct Options {
    /// Where the runs go.
    pub results_root: PathBuf,
    /// The checker's budget per key.
    pub budget: Duration,
    pub cancel: CancellationToken,
    /// Each run's events.
    pub progress: Arc<dyn ProgressSink>,
}

impl Options {
    pub fn new(results_root: PathBuf) -> Options {
        Options {
            results_root,
            budget: Duration::from_secs(60),
            cancel: CancellationToken::new(),
            progress: Arc::new(NoProgress),
        }
    }
}

fn run_options(file: &str, seed: u64, duration: Option<Duration>, o: &Options) -> RunOptions {
    let mut r = RunOptions::new(file, Seed(seed));
    r.results_root = o.results_root.clone();
    r.duration = duration;
    r.budget = o.budget;
    r.cancel = o.cancel.clone();
    r.progress = o.progress.clone();
    r
}

/// Run a recorded run's plan again, `times` times (fewer if cancelled).
pub async fn replay(
    run: &RecordedRun,
    times: usize,
    o: &Options,
) -> Result<Vec<RunOutcome>, ReplayError> {
    let mut out = Vec::new();
    let file = run.dir.join(files::EXPERIMENT).display().to_string();
    for _ in 0..times {
        if o.cancel.is_cancelled() {
            break;
        }
        let opts = run_options(&file, run.replay.seed, run.duration(), o);
        match engine::run(&run.loaded, opts).await {
            Ok(outcome) => out.push(outcome),
            Err(EngineError::Cancelled) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// Does a run show an anomaly of one of `classes` (one that counts
/// against its verdict)?
pub fn shows(results: &Results, classes: &BTreeSet<String>) -> bool {
    results
        .checker
        .decisive()
        .any(|a| classes.contains(a.class()))
}

/// How a shrink searches.
#[derive(Debug, Clone)]
pub struct ShrinkOptions {
    /// Runs per candidate.
    pub tries: usize,
    /// A candidate is kept when at least this many of its tries show the
    /// anomaly class.
    pub min_repro: usize,
    /// Stop after this many candidate runs (the fresh tries at the end
    /// come on top).
    pub max_runs: usize,
    /// Stop after this long.
    pub max_time: Option<Duration>,
    /// Fresh runs of the result at the end, for its reproduction rate.
    pub fresh: usize,
}

impl Default for ShrinkOptions {
    fn default() -> Self {
        ShrinkOptions {
            tries: 3,
            min_repro: 1,
            max_runs: 40,
            max_time: None,
            fresh: 3,
        }
    }
}

/// What a shrink tells whoever watches it.
#[derive(Debug, Clone)]
pub enum ShrinkEvent {
    /// A candidate is about to be tried.
    Candidate {
        n: usize,
        phase: &'static str,
        describe: String,
    },
    /// One run of it ended.
    Try {
        n: usize,
        attempt: usize,
        verdict: Option<Verdict>,
        classes: Vec<String>,
        run_dir: Option<PathBuf>,
    },
    /// Its verdict: kept or not, and the best so far.
    Decided {
        n: usize,
        reproduced: bool,
        best: String,
        runs: usize,
        /// Runs left in the budget, and an estimate of the time they take.
        runs_left: usize,
        eta: Duration,
    },
    /// The fresh tries of the result.
    Fresh { attempt: usize, reproduced: bool },
}

/// Receives a shrink's events.
pub trait ShrinkSink: Send + Sync {
    fn event(&self, e: ShrinkEvent);
}

impl<F: Fn(ShrinkEvent) + Send + Sync> ShrinkSink for F {
    fn event(&self, e: ShrinkEvent) {
        self(e)
    }
}

/// A finished (or stopped) shrink.
#[derive(Debug, Clone, Serialize)]
pub struct ShrinkOutcome {
    pub dir: PathBuf,
    pub original: PathBuf,
    pub classes: BTreeSet<String>,
    pub start: Candidate,
    pub best: Candidate,
    pub shrunk: PathBuf,
    pub candidates: usize,
    pub runs: usize,
    /// Fresh runs of the result that showed the class, of how many.
    pub fresh_reproduced: usize,
    pub fresh_runs: usize,
    /// Why the search stopped before it was done (budget, cancelled).
    pub stopped: Option<String>,
    pub elapsed_s: f64,
}

#[derive(Serialize)]
struct CandidateRecord<'a> {
    n: usize,
    phase: &'a str,
    faults: Vec<std::collections::BTreeMap<&'static str, String>>,
    duration: String,
    clients: u64,
    keys: u64,
    runs: Vec<TryRecord>,
    reproduced: bool,
}

#[derive(Serialize)]
struct TryRecord {
    run_dir: Option<String>,
    verdict: Option<String>,
    classes: Vec<String>,
    error: Option<String>,
}

/// The starting candidate of a run: its planned faults, duration, clients
/// and keys.
pub fn start_candidate(run: &RecordedRun) -> Candidate {
    let mut e = run.loaded.experiment.clone();
    if let Some(d) = run.duration() {
        e.duration = d;
    }
    let p = plan::plan(&e, Seed(run.replay.seed));
    Candidate {
        faults: p
            .faults
            .iter()
            .map(|f| CandidateFault {
                origin: f.id,
                fault: f.fault.clone(),
                targets: f.targets.clone(),
                at: f.at(),
                duration: f.heal_at() - f.at(),
            })
            .collect(),
        duration: e.duration,
        clients: e.workload.clients,
        keys: e.workload.keys,
    }
}

/// Search for the smallest schedule that still shows an anomaly of the
/// run's class. Writes `<run's parent>/shrink-<time>/`: `candidates/`
/// (each candidate's experiment file), `runs/` (their run directories),
/// `shrink.jsonl` (every candidate tried), `shrunk.toml` (the result,
/// runnable with `chaos run`) and `summary.json`.
pub async fn shrink(
    run: &RecordedRun,
    s: &ShrinkOptions,
    o: &Options,
    sink: &dyn ShrinkSink,
) -> Result<ShrinkOutcome, ReplayError> {
    let classes = run.classes();
    if classes.is_empty() {
        return Err(ReplayError::NoAnomaly {
            dir: run.dir.display().to_string(),
            verdict: run
                .results
                .as_ref()
                .map_or("none: no results.json", |r| r.verdict.as_str())
                .to_string(),
        });
    }
    let started = Instant::now();
    let parent = run.dir.parent().unwrap_or(Path::new("."));
    let stamp = crate::results::compact_utc(crate::journal::unix_ms());
    let dir = parent.join(format!("shrink-{stamp}"));
    let candidates_dir = dir.join("candidates");
    std::fs::create_dir_all(&candidates_dir).map_err(io(format!("creating {}", dir.display())))?;
    let mut log = crate::store::LineWriter::create(&dir.join("shrink.jsonl"))
        .map_err(io("creating shrink.jsonl"))?;
    let original_text = std::fs::read_to_string(run.dir.join(files::EXPERIMENT))
        .map_err(io("reading experiment.toml"))?;
    let mut opts = o.clone();
    opts.results_root = dir.join("runs");
    let description = |what: &str| {
        format!(
            "{what} of {} (seed {}, classes {}) by chaos shrink",
            run.dir.display(),
            run.replay.seed,
            classes.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    };

    let start = start_candidate(run);
    let mut search = Search::new(start.clone());
    let mut runs = 0usize;
    let mut n = 0usize;
    let mut stopped = None;
    let mut run_time = Duration::ZERO;
    // Write a candidate's file and run it once; (outcome or error).
    async fn try_once(
        path: &Path,
        seed: u64,
        opts: &Options,
    ) -> Result<Option<RunOutcome>, ReplayError> {
        let loaded = loader::load(path)?;
        let ro = run_options(&path.display().to_string(), seed, None, opts);
        match engine::run(&loaded, ro).await {
            Ok(out) => Ok(Some(out)),
            Err(EngineError::Cancelled) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
    while let Some(candidate) = search.next_candidate() {
        if o.cancel.is_cancelled() {
            stopped = Some("cancelled".to_string());
            break;
        }
        if runs >= s.max_runs {
            stopped = Some(format!("the budget of {} runs is spent", s.max_runs));
            break;
        }
        if s.max_time.is_some_and(|t| started.elapsed() >= t) {
            stopped = Some("the time budget is spent".to_string());
            break;
        }
        n += 1;
        sink.event(ShrinkEvent::Candidate {
            n,
            phase: search.phase(),
            describe: candidate.describe(),
        });
        let path = candidates_dir.join(format!("{n:03}.toml"));
        let text = file::candidate_file(
            &original_text,
            &run.dir.join(files::EXPERIMENT).display().to_string(),
            &candidate,
            run.replay.seed,
            &description(&format!("candidate {n}")),
        )
        .map_err(|e| ReplayError::Unreadable {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))?;
        let mut tries = Vec::new();
        let mut shown = 0;
        for attempt in 1..=s.tries {
            // Stop early: enough shown, or too few tries left to get there.
            if shown >= s.min_repro || shown + (s.tries - attempt + 1) < s.min_repro {
                break;
            }
            if runs >= s.max_runs || o.cancel.is_cancelled() {
                break;
            }
            let t0 = Instant::now();
            let result = try_once(&path, run.replay.seed, &opts).await;
            runs += 1;
            run_time += t0.elapsed();
            let record = match result {
                Ok(Some(out)) => {
                    let c: Vec<String> = out
                        .results
                        .checker
                        .decisive()
                        .map(|a| a.class().to_string())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    if shows(&out.results, &classes) {
                        shown += 1;
                    }
                    sink.event(ShrinkEvent::Try {
                        n,
                        attempt,
                        verdict: Some(out.results.verdict),
                        classes: c.clone(),
                        run_dir: Some(out.run_dir.clone()),
                    });
                    TryRecord {
                        run_dir: Some(out.run_dir.display().to_string()),
                        verdict: Some(out.results.verdict.as_str().into()),
                        classes: c,
                        error: None,
                    }
                }
                Ok(None) => break,
                // A run that could not be carried out does not reproduce;
                // the search goes on (the cluster may recover).
                Err(e) => {
                    sink.event(ShrinkEvent::Try {
                        n,
                        attempt,
                        verdict: None,
                        classes: Vec::new(),
                        run_dir: None,
                    });
                    TryRecord {
                        run_dir: None,
                        verdict: None,
                        classes: Vec::new(),
                        error: Some(e.to_string()),
                    }
                }
            };
            tries.push(record);
        }
        if o.cancel.is_cancelled() {
            stopped = Some("cancelled".to_string());
            break;
        }
        let reproduced = shown >= s.min_repro;
        let line = CandidateRecord {
            n,
            phase: search.phase(),
            faults: file::describe_faults(&candidate),
            duration: crate::duration::format(candidate.duration),
            clients: candidate.clients,
            keys: candidate.keys,
            runs: tries,
            reproduced,
        };
        let _ = log.line(&serde_json::to_string(&line).expect("records serialize"));
        search.result(reproduced);
        let runs_left = s.max_runs.saturating_sub(runs);
        let per_run = run_time / (runs.max(1) as u32);
        sink.event(ShrinkEvent::Decided {
            n,
            reproduced,
            best: search.best().describe(),
            runs,
            runs_left,
            eta: per_run * runs_left as u32,
        });
    }
    let _ = log.sync();
    let best = search.best().clone();
    let shrunk = dir.join("shrunk.toml");
    let text = file::candidate_file(
        &original_text,
        &run.dir.join(files::EXPERIMENT).display().to_string(),
        &best,
        run.replay.seed,
        &description("shrunk schedule"),
    )
    .map_err(|e| ReplayError::Unreadable {
        path: shrunk.display().to_string(),
        message: e.to_string(),
    })?;
    std::fs::write(&shrunk, text).map_err(io(format!("writing {}", shrunk.display())))?;

    // The reproduction rate of the result, over fresh runs.
    let mut fresh_reproduced = 0;
    let mut fresh_runs = 0;
    if stopped.as_deref() != Some("cancelled") {
        for attempt in 1..=s.fresh {
            if o.cancel.is_cancelled() {
                break;
            }
            match try_once(&shrunk, run.replay.seed, &opts).await {
                Ok(Some(out)) => {
                    fresh_runs += 1;
                    let r = shows(&out.results, &classes);
                    fresh_reproduced += usize::from(r);
                    sink.event(ShrinkEvent::Fresh {
                        attempt,
                        reproduced: r,
                    });
                }
                Ok(None) => break,
                Err(_) => {
                    fresh_runs += 1;
                    sink.event(ShrinkEvent::Fresh {
                        attempt,
                        reproduced: false,
                    });
                }
            }
        }
    }
    let outcome = ShrinkOutcome {
        dir: dir.clone(),
        original: run.dir.clone(),
        classes,
        start,
        best,
        shrunk,
        candidates: n,
        runs,
        fresh_reproduced,
        fresh_runs,
        stopped,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    crate::store::write_atomic(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(&outcome)
            .expect("the outcome serializes")
            .as_bytes(),
    )
    .map_err(io("writing summary.json"))?;
    Ok(outcome)
}
