//! The fault journal: what chaos did to a cluster, written so that it can be
//! undone after chaos itself dies.
//!
//! Shell (files). Owns the journal's format and where journals are found:
//!
//! - **The journal** is a JSONL file, one [`Record`] per line: a run header,
//!   then for each fault its **intent** (written and fsynced *before* the
//!   fault is applied: id, kind, resolved targets with container ids, the
//!   iptables rule tags, the network endpoints to restore), an **applied**
//!   record (planned vs actual time: the lag), and its **heal** record
//!   (written after the heal). A fault with an intent and no successful heal
//!   is *unhealed*. A torn last line (a crash mid-write) is skipped.
//!   A run's journal lives in its run directory (`journal.jsonl`, see
//!   [`crate::store`]).
//! - **The active index** makes journals findable without knowing the run
//!   directory: `<state dir>/active/<project>/<pid>-<nanos>.json`, one small
//!   file per open journal, holding the journal's absolute path. It is
//!   written when a journal is created and removed when it is closed with
//!   every fault healed. `chaos heal` reads the project's entries, heals what
//!   their journals left unhealed, and removes them.
//! - **The state dir** is `$CHAOS_STATE_DIR`, else `$XDG_STATE_HOME/chaos`,
//!   else `~/.local/state/chaos`, else `<temp dir>/chaos-state`.
//!
//! It knows nothing of Docker: records name containers by id and service.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::experiment::Fault;

/// The journal format version, in every run header.
pub const FORMAT_VERSION: u32 = 1;

/// A journal file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {error}")]
    Io { path: String, error: io::Error },
    #[error("journal {path}: line {line}: {message}")]
    Corrupt {
        path: String,
        line: usize,
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |error| JournalError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// The kinds of fault, as journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    Kill,
    Stop,
    Pause,
    Disconnect,
    Partition,
    Netem,
    Restart,
    PowerLoss,
    DiskFull,
    IoError,
    IoDelay,
    Loss,
    Bandwidth,
    Cpu,
    Memory,
    Clock,
}

impl FaultKind {
    pub fn of(fault: &Fault) -> FaultKind {
        match fault {
            Fault::Kill => FaultKind::Kill,
            Fault::Stop { .. } => FaultKind::Stop,
            Fault::Pause => FaultKind::Pause,
            Fault::Disconnect { .. } => FaultKind::Disconnect,
            Fault::Partition { .. } => FaultKind::Partition,
            Fault::Netem { .. } => FaultKind::Netem,
            Fault::Restart { .. } => FaultKind::Restart,
            Fault::PowerLoss { .. } => FaultKind::PowerLoss,
            Fault::DiskFull { .. } => FaultKind::DiskFull,
            Fault::IoError { .. } => FaultKind::IoError,
            Fault::IoDelay { .. } => FaultKind::IoDelay,
            Fault::Loss { .. } => FaultKind::Loss,
            Fault::Bandwidth { .. } => FaultKind::Bandwidth,
            Fault::Cpu { .. } => FaultKind::Cpu,
            Fault::Memory { .. } => FaultKind::Memory,
            Fault::Clock { .. } => FaultKind::Clock,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Stop => "stop",
            FaultKind::Pause => "pause",
            FaultKind::Disconnect => "disconnect",
            FaultKind::Partition => "partition",
            FaultKind::Netem => "netem",
            FaultKind::Restart => "restart",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::DiskFull => "disk-full",
            FaultKind::IoError => "io-error",
            FaultKind::IoDelay => "io-delay",
            FaultKind::Loss => "loss",
            FaultKind::Bandwidth => "bandwidth",
            FaultKind::Cpu => "cpu",
            FaultKind::Memory => "memory",
            FaultKind::Clock => "clock",
        }
    }
}

/// One line of a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Run(RunRecord),
    Intent(Intent),
    Applied(AppliedRecord),
    Healed(HealedRecord),
    Closed { utc: String },
}

/// The first line: who wrote the journal, for which project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub version: u32,
    pub project: String,
    pub compose_file: Option<String>,
    pub pid: u32,
    pub utc: String,
    pub chaos_version: String,
}

/// A container a fault strikes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    pub service: String,
    pub container: String,
    /// The Swarm node whose engine it went through (absent: the local
    /// compose engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// A network endpoint a disconnect removes, to restore at heal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub service: String,
    pub container: String,
    /// The Swarm node whose engine it went through (absent: the local
    /// compose engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    pub network: String,
    pub aliases: Vec<String>,
    pub ip: Option<String>,
}

/// The iptables rules a partition adds in one container's namespace: drop
/// what it receives from these sources, tagged with `tag`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRecord {
    pub service: String,
    pub container: String,
    /// The Swarm node whose engine it went through (absent: the local
    /// compose engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    pub tag: String,
    /// Source service to its addresses (a loss with no cut: empty, every
    /// source but the loopback).
    pub drop_from: BTreeMap<String, Vec<String>>,
    /// A loss: the share of those packets dropped (0 to 1); absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

/// A container's resource limits before a cpu or memory fault changed
/// them (the engine's HostConfig values; 0 is "none"): what the heal
/// restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRecord {
    pub service: String,
    pub container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    pub cpu_quota: i64,
    pub cpu_period: i64,
    pub nano_cpus: i64,
    pub memory: i64,
    pub memory_swap: i64,
}

/// A role target and what it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    pub role: String,
    pub component: String,
    pub service: String,
}

/// What chaos is about to do: written and fsynced before it does it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub fault: u64,
    pub kind: FaultKind,
    pub description: String,
    /// Planned apply time, from the run's start.
    pub planned_ms: u64,
    /// When the intent was written, from the run's start.
    pub at_ms: u64,
    pub utc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleRecord>,
    pub targets: Vec<TargetRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<LimitRecord>,
}

/// The fault took effect (or failed part way: `error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedRecord {
    pub fault: u64,
    pub planned_ms: u64,
    /// When the first Docker request went out (after the intent's fsync).
    #[serde(default)]
    pub issued_ms: u64,
    /// When it took effect (first target struck), from the run's start.
    pub effective_ms: u64,
    /// When applying finished (a stop or a rolling restart takes a while).
    pub done_ms: u64,
    /// `effective_ms - planned_ms`, in microseconds (0 if early).
    pub lag_us: u64,
    pub utc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The fault's heal ran: it worked, or `error` says why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealedRecord {
    pub fault: u64,
    /// From the run's start; `None` when healed by another process
    /// (`chaos heal`), which does not know the run's clock.
    pub at_ms: Option<u64>,
    pub utc: String,
    /// Who healed it: `run` (the process that applied it), `chaos heal`.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The faults of a journal whose heal never succeeded, in id order. Pure.
pub fn unhealed(records: &[Record]) -> Vec<Intent> {
    let mut open: BTreeMap<u64, Intent> = BTreeMap::new();
    for r in records {
        match r {
            Record::Intent(i) => {
                open.insert(i.fault, i.clone());
            }
            Record::Healed(h) if h.error.is_none() => {
                open.remove(&h.fault);
            }
            _ => {}
        }
    }
    open.into_values().collect()
}

/// Parse a journal's text; a torn last line is skipped, any other bad line
/// is an error. Pure.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Record>, JournalError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => out.push(r),
            Err(_) if n + 1 == lines.len() && !text.ends_with('\n') => {
                tracing::warn!(journal = %path.display(), "skipping a torn last line");
            }
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.display().to_string(),
                    line: n + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Read a journal file.
pub fn read(path: &Path) -> Result<Vec<Record>, JournalError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    parse(&text, path)
}

/// An open journal: appends records, each fsynced before `append` returns.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// This journal's entry in the active index, if registered.
    entry: Option<PathBuf>,
}

impl Journal {
    /// Create (or continue) a journal for a run of `project`, write its run
    /// header, and register it in the active index of [`state_dir`].
    pub fn create(
        path: &Path,
        project: &str,
        compose_file: Option<&Path>,
    ) -> Result<Journal, JournalError> {
        Journal::create_in(&state_dir(), path, project, compose_file)
    }

    /// [`Journal::create`] with the active index under another state dir.
    pub fn create_in(
        state: &Path,
        path: &Path,
        project: &str,
        compose_file: Option<&Path>,
    ) -> Result<Journal, JournalError> {
        let path = std::path::absolute(path).map_err(io_err(path))?;
        let mut journal = Journal::open_append(&path)?;
        journal.append(&Record::Run(RunRecord {
            version: FORMAT_VERSION,
            project: project.to_string(),
            compose_file: compose_file.map(|p| {
                std::path::absolute(p)
                    .unwrap_or_else(|_| p.to_path_buf())
                    .display()
                    .to_string()
            }),
            pid: std::process::id(),
            utc: utc_now(),
            chaos_version: env!("CARGO_PKG_VERSION").to_string(),
        }))?;
        journal.entry = Some(register(state, project, &path)?);
        Ok(journal)
    }

    /// Open an existing journal to append (heal records from `chaos heal`),
    /// without registering it.
    pub fn open_append(path: &Path) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            entry: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record and fsync it.
    pub fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(record).expect("journal records serialize");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(io_err(&self.path))
    }

    /// Write the closing record; with every fault healed, leave the active
    /// index (nothing is left for `chaos heal` to do).
    pub fn close(mut self, all_healed: bool) -> Result<(), JournalError> {
        self.append(&Record::Closed { utc: utc_now() })?;
        if all_healed && let Some(entry) = self.entry.take() {
            remove_entry(&entry)?;
        }
        Ok(())
    }
}

/// The directory a clock fault's target reads its libfaketime offset from
/// (`faketime` inside it), under the state dir: the run's compose
/// override mounts it at `/run/chaos` in the container, so chaos moves the
/// clock by writing a file, and `chaos heal` after a crash finds it by the
/// project and service alone.
pub fn clock_dir(state: &Path, project: &str, service: &str) -> PathBuf {
    state.join("clock").join(project).join(service)
}

/// Where chaos keeps state that must outlive a run: the active index.
pub fn state_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = env("CHAOS_STATE_DIR") {
        return d;
    }
    if let Some(d) = env("XDG_STATE_HOME") {
        return d.join("chaos");
    }
    if let Some(h) = env("HOME") {
        return h.join(".local/state/chaos");
    }
    std::env::temp_dir().join("chaos-state")
}

/// A project name made safe as a directory name.
fn project_dir(state: &Path, project: &str) -> PathBuf {
    let safe: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    state.join("active").join(safe)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct EntryFile {
    journal: PathBuf,
    project: String,
    pid: u32,
    utc: String,
}

/// An open (or crashed) run's journal, found through the active index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRun {
    pub journal: PathBuf,
    pub project: String,
    pub pid: u32,
    pub utc: String,
    /// The index file itself.
    pub entry: PathBuf,
}

impl ActiveRun {
    /// Is the process that wrote it still alive (Linux: `/proc/<pid>`)?
    pub fn process_alive(&self) -> bool {
        self.pid != std::process::id() && Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

fn register(state: &Path, project: &str, journal: &Path) -> Result<PathBuf, JournalError> {
    let dir = project_dir(state, project);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let entry = dir.join(format!("{}-{nanos}.json", std::process::id()));
    let body = EntryFile {
        journal: journal.to_path_buf(),
        project: project.to_string(),
        pid: std::process::id(),
        utc: utc_now(),
    };
    let bytes = serde_json::to_vec_pretty(&body).expect("index entries serialize");
    crate::store::write_atomic(&entry, &bytes).map_err(io_err(&entry))?;
    Ok(entry)
}

/// The project's journals that were not closed with every fault healed,
/// oldest first. An unreadable entry is reported and skipped.
pub fn active_runs(project: &str) -> Result<Vec<ActiveRun>, JournalError> {
    active_runs_in(&state_dir(), project)
}

/// [`active_runs`] under another state dir.
pub fn active_runs_in(state: &Path, project: &str) -> Result<Vec<ActiveRun>, JournalError> {
    let dir = project_dir(state, project);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&dir)(e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let path = e.map_err(io_err(&dir))?.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let parsed = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<EntryFile>(&b).ok());
        match parsed {
            Some(f) => out.push(ActiveRun {
                journal: f.journal,
                project: f.project,
                pid: f.pid,
                utc: f.utc,
                entry: path,
            }),
            None => tracing::warn!(entry = %path.display(), "unreadable active-run entry"),
        }
    }
    out.sort_by(|a, b| (&a.utc, &a.entry).cmp(&(&b.utc, &b.entry)));
    Ok(out)
}

/// Take a run out of the active index (its faults are all healed, or its
/// cluster is gone).
pub fn retire(run: &ActiveRun) -> Result<(), JournalError> {
    remove_entry(&run.entry)
}

fn remove_entry(entry: &Path) -> Result<(), JournalError> {
    match fs::remove_file(entry) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(entry)(e)),
    }
}

/// Wall-clock now as RFC 3339 UTC with milliseconds, for humans.
pub fn utc_now() -> String {
    crate::results::rfc3339(unix_ms())
}

/// Wall-clock now in Unix milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(fault: u64) -> Intent {
        Intent {
            fault,
            kind: FaultKind::Pause,
            description: "pause".to_string(),
            planned_ms: 1_000,
            at_ms: 1_001,
            utc: "2026-01-01T00:00:00.000Z".to_string(),
            role: None,
            targets: vec![TargetRecord {
                service: "etcd1".to_string(),
                container: "abc".to_string(),
                engine: None,
            }],
            links: vec![],
            rules: vec![],
            limits: vec![],
        }
    }

    fn healed(fault: u64, error: Option<&str>) -> Record {
        Record::Healed(HealedRecord {
            fault,
            at_ms: Some(2_000),
            utc: utc_now(),
            by: "run".to_string(),
            error: error.map(String::from),
        })
    }

    #[test]
    fn utc_now_is_rfc3339() {
        let now = utc_now();
        assert_eq!(now.len(), "2026-01-01T00:00:00.000Z".len(), "{now}");
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn unhealed_is_intents_without_a_successful_heal() {
        let records = vec![
            Record::Intent(intent(1)),
            Record::Intent(intent(2)),
            healed(1, None),
            Record::Intent(intent(3)),
            healed(3, Some("unpause failed")),
        ];
        let open: Vec<u64> = unhealed(&records).iter().map(|i| i.fault).collect();
        assert_eq!(open, [2, 3]);
    }

    #[test]
    fn a_torn_last_line_is_skipped_but_a_bad_middle_line_is_not() {
        let good = serde_json::to_string(&Record::Intent(intent(1))).unwrap();
        let p = Path::new("j.jsonl");
        let torn = format!("{good}\n{{\"record\":\"inte");
        assert_eq!(parse(&torn, p).unwrap().len(), 1);
        let bad = format!("{{oops\n{good}\n");
        let err = parse(&bad, p).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn records_round_trip_through_json() {
        let mut i = intent(4);
        i.kind = FaultKind::Partition;
        i.rules.push(RuleRecord {
            service: "etcd1".to_string(),
            container: "abc".to_string(),
            engine: Some("chaos-swarm-2".to_string()),
            tag: "chaos:p:f4".to_string(),
            drop_from: BTreeMap::from([("etcd2".to_string(), vec!["172.20.0.3".to_string()])]),
            probability: None,
        });
        let r = Record::Intent(i);
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.starts_with("{\"record\":\"intent\""), "{line}");
        assert!(line.contains("\"kind\":\"partition\""), "{line}");
        // The engine is named where there is one, and absent for compose.
        assert!(line.contains("\"engine\":\"chaos-swarm-2\""), "{line}");
        assert_eq!(line.matches("\"engine\"").count(), 1, "{line}");
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
    }

    #[test]
    fn a_limit_record_round_trips_and_old_intents_have_none() {
        let mut i = intent(5);
        i.kind = FaultKind::Memory;
        i.limits.push(LimitRecord {
            service: "etcd1".to_string(),
            container: "abc".to_string(),
            engine: None,
            cpu_quota: 0,
            cpu_period: 0,
            nano_cpus: 0,
            memory: 0,
            memory_swap: 0,
        });
        let r = Record::Intent(i);
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains("\"kind\":\"memory\""), "{line}");
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
        // A journal written before limits were journaled still reads.
        let old = serde_json::to_string(&Record::Intent(intent(6))).unwrap();
        assert!(!old.contains("limits"), "{old}");
        let Record::Intent(back) = serde_json::from_str::<Record>(&old).unwrap() else {
            panic!()
        };
        assert!(back.limits.is_empty());
    }

    #[test]
    fn journals_register_in_the_active_index_until_closed_healed() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let path = dir.path().join("run/journal.jsonl");
        let mut j = Journal::create_in(&state, &path, "proj", None).unwrap();
        j.append(&Record::Intent(intent(1))).unwrap();
        let active = active_runs_in(&state, "proj").unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].journal, path);
        assert!(active_runs_in(&state, "other").unwrap().is_empty());
        // Closed with a fault unhealed: stays findable.
        j.close(false).unwrap();
        assert_eq!(active_runs_in(&state, "proj").unwrap().len(), 1);
        let records = read(&path).unwrap();
        assert!(matches!(records[0], Record::Run(_)));
        assert_eq!(unhealed(&records).len(), 1);
        retire(&active[0]).unwrap();
        assert!(active_runs_in(&state, "proj").unwrap().is_empty());
        // A journal closed healed leaves the index by itself.
        let j = Journal::create_in(&state, &dir.path().join("run2/journal.jsonl"), "proj", None)
            .unwrap();
        assert_eq!(active_runs_in(&state, "proj").unwrap().len(), 1);
        j.close(true).unwrap();
        assert!(active_runs_in(&state, "proj").unwrap().is_empty());
    }
}
