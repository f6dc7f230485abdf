//! The run index: the daemon's durable memory, an append-only JSONL file in
//! the campaign's results directory (`<results_dir>/index.jsonl`), each
//! record fsynced before the daemon goes on.
//!
//! Records: `campaign` (at every start: the campaign and its seed, so a
//! drawn seed is kept), `started` (before a run begins: number, experiment,
//! k, seed, project, how it was triggered), `ended` (status, verdict, run
//! directory, why it ended), `pruned` (retention took a run's history),
//! `state` (paused, resumed, stopping, and why). A run with `started` and
//! no `ended` was cut short by a crash of chaos: the next start heals what
//! it left and records it `crashed`. Numbering continues from the highest
//! run number. A torn last line (a crash mid-write) is skipped.
//!
//! Shell (a file). The folding of records into runs ([`fold`]) is pure.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file name of the index in a results directory.
pub const INDEX: &str = "index.jsonl";

/// One line of the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Campaign {
        campaign: String,
        seed: u64,
        /// Was the seed drawn (not given in the file)?
        drawn: bool,
        pid: u32,
        utc: String,
    },
    Started(Started),
    /// The run's directory exists (written as soon as it does, so that a
    /// run cut short by a crash still points at its partial history).
    RunDir {
        run: u64,
        run_dir: String,
    },
    Ended(Ended),
    Pruned {
        run: u64,
        utc: String,
    },
    /// `on_anomaly = "shrink"`: the run's schedule was shrunk.
    Shrunk(Shrunk),
    State {
        /// `paused`, `resumed`, `stopping`.
        state: String,
        why: String,
        utc: String,
    },
}

/// A run began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub run: u64,
    pub campaign: String,
    pub experiment: String,
    /// The k of the experiment's seed sequence (`None`: triggered by hand,
    /// with its own seed).
    pub k: Option<u64>,
    pub seed: u64,
    pub project: String,
    /// `schedule` or `api`.
    pub trigger: String,
    pub utc: String,
}

/// A run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ended {
    pub run: u64,
    /// `completed`, `interrupted`, `crashed` (chaos died during it), or
    /// `error` (the run could not be carried out).
    pub status: String,
    /// `valid`, `invalid`, `unknown`, or none (no verdict: an error, a
    /// crash).
    pub verdict: Option<String>,
    /// Anomalies found that count against the verdict (for list-append,
    /// those that rule out the model; the ones it allows are not counted).
    #[serde(default)]
    pub anomalies: u64,
    /// The run directory (absolute), if the run made one.
    pub run_dir: Option<String>,
    /// Why it ended so, in words.
    pub reason: String,
    pub duration_s: f64,
    pub utc: String,
    /// The classes of the anomalies that count against the verdict
    /// (`stale-read`, `G2-item`, ...), each once, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomaly_kinds: Vec<String>,
    /// Ok ops per second over the whole workload (a completed or
    /// interrupted run with results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_per_s: Option<f64>,
    /// The longest recovery after a heal (s): from the heal until the first
    /// op invoked after it succeeded. None: no heal, or none recovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_s: Option<f64>,
}

impl Ended {
    /// An end without results (an error, a crash, a cancellation before
    /// results existed).
    pub fn bare(run: u64, status: &str, reason: String, duration_s: f64, utc: String) -> Ended {
        Ended {
            run,
            status: status.to_string(),
            verdict: None,
            anomalies: 0,
            run_dir: None,
            reason,
            duration_s,
            utc,
            anomaly_kinds: Vec::new(),
            ok_per_s: None,
            recovery_s: None,
        }
    }
}

/// A shrink of a run's schedule (`on_anomaly = "shrink"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shrunk {
    pub run: u64,
    /// The shrink directory (shrunk.toml, shrink.jsonl), if it got one.
    pub dir: Option<String>,
    /// The schedule it found, in words (`1 fault, 14s, 3 clients, 1 key`).
    pub best: Option<String>,
    /// Fresh runs of the result that reproduced, of how many.
    pub fresh: Option<String>,
    /// Why it stopped early, or failed.
    pub stopped: Option<String>,
    pub utc: String,
}

/// A run as the index knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    #[serde(flatten)]
    pub started: Started,
    /// Its directory, once it existed.
    pub run_dir: Option<String>,
    pub ended: Option<Ended>,
    /// Retention removed its history.
    #[serde(default)]
    pub pruned: bool,
    /// Its schedule was shrunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<Shrunk>,
}

impl RunRow {
    pub fn verdict(&self) -> Option<&str> {
        self.ended.as_ref().and_then(|e| e.verdict.as_deref())
    }

    /// How the run counts: its verdict if it completed, else its status
    /// (`interrupted`, `crashed`, `error`), or `running`.
    pub fn outcome(&self) -> &str {
        match &self.ended {
            None => "running",
            Some(e) if e.status == "completed" => e.verdict.as_deref().unwrap_or("completed"),
            Some(e) => &e.status,
        }
    }
}

/// What the index says of a campaign.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Folded {
    /// The campaign seed last recorded.
    pub seed: Option<u64>,
    pub runs: BTreeMap<u64, RunRow>,
    /// The last `state` record: (state, why, utc).
    pub last_state: Option<(String, String, String)>,
}

impl Folded {
    /// The next run number.
    pub fn next_run(&self) -> u64 {
        self.runs.keys().next_back().map_or(1, |n| n + 1)
    }

    /// Runs started and never ended (a crash of chaos).
    pub fn unfinished(&self) -> Vec<&RunRow> {
        self.runs.values().filter(|r| r.ended.is_none()).collect()
    }

    /// How many runs of each experiment came from the schedule (the next k
    /// of each sequence).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for r in self.runs.values() {
            if let Some(k) = r.started.k {
                let next = out.entry(r.started.experiment.clone()).or_default();
                *next = (*next).max(k + 1);
            }
        }
        out
    }
}

/// Fold records into runs, for one campaign. Pure.
pub fn fold(records: &[Record], campaign: &str) -> Folded {
    let mut f = Folded::default();
    for r in records {
        apply(&mut f, r, campaign);
    }
    f
}

/// Apply one record to what is known of a campaign. Pure.
pub fn apply(f: &mut Folded, record: &Record, campaign: &str) {
    match record {
        Record::Campaign {
            campaign: c, seed, ..
        } if c == campaign => f.seed = Some(*seed),
        Record::Started(s) if s.campaign == campaign => {
            f.runs.insert(
                s.run,
                RunRow {
                    started: s.clone(),
                    run_dir: None,
                    ended: None,
                    pruned: false,
                    shrunk: None,
                },
            );
        }
        Record::RunDir { run, run_dir } => {
            if let Some(row) = f.runs.get_mut(run) {
                row.run_dir = Some(run_dir.clone());
            }
        }
        Record::Ended(e) => {
            if let Some(row) = f.runs.get_mut(&e.run) {
                if let Some(d) = &e.run_dir {
                    row.run_dir = Some(d.clone());
                }
                row.ended = Some(e.clone());
            }
        }
        Record::Pruned { run, .. } => {
            if let Some(row) = f.runs.get_mut(run) {
                row.pruned = true;
            }
        }
        Record::Shrunk(sh) => {
            if let Some(row) = f.runs.get_mut(&sh.run) {
                row.shrunk = Some(sh.clone());
            }
        }
        Record::State { state, why, utc } => {
            f.last_state = Some((state.clone(), why.clone(), utc.clone()));
        }
        _ => {}
    }
}

/// Parse an index's text; a torn last line is skipped, any other bad line
/// is an error with its number. Pure.
pub fn parse(text: &str) -> Result<Vec<Record>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => out.push(r),
            Err(_) if n + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => return Err(format!("line {}: {e}", n + 1)),
        }
    }
    Ok(out)
}

/// Why the index could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("run index {path}: {error}")]
    Io { path: String, error: io::Error },
    #[error("run index {path}: {message}")]
    Corrupt { path: String, message: String },
}

/// The open index of a results directory.
#[derive(Debug)]
pub struct RunIndex {
    path: PathBuf,
    file: File,
}

impl RunIndex {
    /// Open (or create) the index under `results_dir`; returns it with the
    /// records already there.
    pub fn open(results_dir: &Path) -> Result<(RunIndex, Vec<Record>), IndexError> {
        let path = results_dir.join(INDEX);
        let io = |error| IndexError::Io {
            path: path.display().to_string(),
            error,
        };
        std::fs::create_dir_all(results_dir).map_err(io)?;
        let records = read(&path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        Ok((RunIndex { path, file }, records))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append a record and fsync it.
    pub fn append(&mut self, record: &Record) -> Result<(), IndexError> {
        let mut line = serde_json::to_string(record).expect("records serialize");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|error| IndexError::Io {
                path: self.path.display().to_string(),
                error,
            })
    }
}

/// Read an index file (none yet: no records).
pub fn read(path: &Path) -> Result<Vec<Record>, IndexError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(IndexError::Io {
                path: path.display().to_string(),
                error,
            });
        }
    };
    parse(&text).map_err(|message| IndexError::Corrupt {
        path: path.display().to_string(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(run: u64, experiment: &str, k: Option<u64>) -> Record {
        Record::Started(Started {
            run,
            campaign: "c".into(),
            experiment: experiment.into(),
            k,
            seed: 10 + run,
            project: "p".into(),
            trigger: "schedule".into(),
            utc: "2026-11-29T00:00:00.000Z".into(),
        })
    }

    fn ended(run: u64, verdict: &str) -> Record {
        Record::Ended(Ended {
            run,
            status: "completed".into(),
            verdict: Some(verdict.into()),
            anomalies: 0,
            run_dir: None,
            reason: "ran to its end".into(),
            duration_s: 1.0,
            utc: "2026-11-29T00:00:01.000Z".into(),
            anomaly_kinds: Vec::new(),
            ok_per_s: None,
            recovery_s: None,
        })
    }

    #[test]
    fn records_fold_into_runs_and_a_restart_continues() {
        let records = vec![
            Record::Campaign {
                campaign: "c".into(),
                seed: 42,
                drawn: true,
                pid: 1,
                utc: "x".into(),
            },
            started(1, "a", Some(0)),
            ended(1, "valid"),
            started(2, "b", Some(0)),
            ended(2, "invalid"),
            started(3, "a", None),
            ended(3, "valid"),
            started(4, "a", Some(1)),
            Record::Pruned {
                run: 1,
                utc: "x".into(),
            },
        ];
        let f = fold(&records, "c");
        assert_eq!(f.seed, Some(42));
        assert_eq!(f.next_run(), 5);
        assert_eq!(f.unfinished().len(), 1);
        assert_eq!(f.unfinished()[0].started.run, 4);
        // Hand-triggered runs (k none) do not advance a sequence.
        assert_eq!(
            f.counts(),
            BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 1)])
        );
        assert!(f.runs[&1].pruned);
        assert_eq!(f.runs[&2].verdict(), Some("invalid"));
        // Another campaign's records are not this one's.
        assert!(fold(&records, "other").runs.is_empty());
    }

    #[test]
    fn the_index_round_trips_and_skips_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let (mut index, records) = RunIndex::open(dir.path()).unwrap();
        assert!(records.is_empty());
        index.append(&started(1, "a", Some(0))).unwrap();
        index.append(&ended(1, "valid")).unwrap();
        drop(index);
        // A crash mid-write leaves half a line.
        let path = dir.path().join(INDEX);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"record\":\"started\",\"run\":2,");
        std::fs::write(&path, &text).unwrap();
        let (_, records) = RunIndex::open(dir.path()).unwrap();
        assert_eq!(records.len(), 2);
        // A bad line in the middle is an error that names it.
        std::fs::write(
            &path,
            "{}\n{\"record\":\"pruned\",\"run\":1,\"utc\":\"x\"}\n",
        )
        .unwrap();
        let e = RunIndex::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
