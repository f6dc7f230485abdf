//! Reading a run directory back for its report: results.json (version 2,
//! or version 1 read as version 2), history.jsonl (as text: the run's
//! workload room reads it) and plan.json (each optional: older runs may
//! not have kept them), and writing report.html beside them. Every error
//! names the file (and the line, for a history).
//!
//! Shell: reads and writes files through [`crate::store`]; the page itself
//! is made by the workload's room ([`crate::workload`], pure). It knows
//! nothing of the CLI.

use std::io;
use std::path::{Path, PathBuf};

use crate::history::HistoryError;
use crate::results::{Results, SCHEMA_VERSION};
use crate::store::{files, write_atomic};
use crate::workload::{self, PageInput, Workload};

/// What a run directory holds that its report is made from.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub results: Results,
    /// history.jsonl's text; `None` if it is not there.
    pub history: Option<String>,
    /// `None` if plan.json is not there.
    pub plan: Option<serde_json::Value>,
    /// What the reader noticed, for the page (an older results.json).
    pub notes: Vec<String>,
}

impl RunFiles {
    /// The room of the run's workload (results.json's `workload.kind`).
    pub fn room(&self) -> Option<&'static dyn Workload> {
        workload::by_name(&self.results.workload.kind)
    }

    /// The page's input.
    pub fn input(&self) -> PageInput<'_> {
        PageInput {
            results: &self.results,
            history: self.history.as_deref(),
            plan: self.plan.as_ref(),
            notes: &self.notes,
        }
    }
}

/// Why a run directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RunFilesError {
    #[error("{}: not a run directory (it has no results.json)", .dir.display())]
    NotARun { dir: PathBuf },
    #[error("cannot read {}: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: not valid JSON for its format: {reason}", .path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "{}: results.json schema version {found}; this chaos reads versions 1 and {SCHEMA_VERSION}",
        .path.display()
    )]
    Version { path: PathBuf, found: u64 },
    #[error("{}: {source}", .path.display())]
    History { path: PathBuf, source: HistoryError },
    #[error(
        "{}: workload `{kind}` is not one this chaos knows (it knows: {})",
        .path.display(),
        workload::names().join(", ")
    )]
    UnknownWorkload { path: PathBuf, kind: String },
}

impl RunFilesError {
    /// Is it the input's fault (a missing or malformed file: exit 2), or
    /// the environment's (an unreadable one: exit 4)?
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, RunFilesError::Read { .. })
    }
}

fn read_text(path: &Path) -> Result<Option<String>, RunFilesError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RunFilesError::Read {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Read a run directory's results.json (version 1 read as version 2),
/// with what the reader noticed.
pub fn read_results(dir: &Path) -> Result<(Results, Vec<String>), RunFilesError> {
    let results_path = dir.join(files::RESULTS);
    let text = read_text(&results_path)?.ok_or_else(|| RunFilesError::NotARun {
        dir: dir.to_path_buf(),
    })?;
    let malformed = |path: &Path, e: serde_json::Error| RunFilesError::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| malformed(&results_path, e))?;
    let mut notes = Vec::new();
    let version = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    match version {
        v if v == u64::from(SCHEMA_VERSION) => {}
        1 => {
            upgrade_v1(&mut value);
            notes.push(format!(
                "results.json is schema version 1 (an older chaos); read as version {SCHEMA_VERSION}: \
                 status taken as completed, anomaly classes as other"
            ));
        }
        found => {
            return Err(RunFilesError::Version {
                path: results_path,
                found,
            });
        }
    }
    let results: Results =
        serde_json::from_value(value).map_err(|e| malformed(&results_path, e))?;
    if workload::by_name(&results.workload.kind).is_none() {
        return Err(RunFilesError::UnknownWorkload {
            path: results_path,
            kind: results.workload.kind.clone(),
        });
    }
    Ok((results, notes))
}

/// Read a run directory.
pub fn read(dir: &Path) -> Result<RunFiles, RunFilesError> {
    let (results, notes) = read_results(dir)?;
    let malformed = |path: &Path, e: serde_json::Error| RunFilesError::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let history = read_text(&dir.join(files::HISTORY))?;
    let plan_path = dir.join(files::PLAN);
    let plan = match read_text(&plan_path)? {
        Some(t) => Some(serde_json::from_str(&t).map_err(|e| malformed(&plan_path, e))?),
        None => None,
    };
    let (mut results, mut notes) = (results, notes);
    // Results written before `recovery` existed: computed from the
    // history, with the default rule.
    let end_ns = plan
        .as_ref()
        .and_then(|p: &serde_json::Value| p["duration_ms"].as_u64())
        .map(|ms| ms * 1_000_000);
    if let (Some(text), Some(end_ns)) = (&history, end_ns)
        && let Ok(samples) = crate::workload::op::samples(text)
        && crate::results::fill_recovery(
            &mut results,
            &samples,
            end_ns,
            crate::results::RecoveryRule::default(),
        )
    {
        notes.push(
            "recovery after each heal (throughput back, writes back) was computed from the \
             history with the default rule: this results.json predates it"
                .to_string(),
        );
    }
    Ok(RunFiles {
        results,
        history,
        plan,
        notes,
    })
}

/// The run directories under `root` (those with a results.json), at most
/// four levels down (`<root>/<experiment>/<run>/` is two), without
/// descending into a run directory or a hidden one. Unordered.
pub fn find(root: &Path) -> Result<Vec<PathBuf>, RunFilesError> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), RunFilesError> {
        if dir.join(files::RESULTS).is_file() {
            out.push(dir.to_path_buf());
            return Ok(());
        }
        if depth == 0 {
            return Ok(());
        }
        let read = |e| RunFilesError::Read {
            path: dir.to_path_buf(),
            source: e,
        };
        for entry in std::fs::read_dir(dir).map_err(read)? {
            let path = entry.map_err(read)?.path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if path.is_dir() && !hidden {
                walk(&path, depth - 1, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, 4, &mut out)?;
    Ok(out)
}

/// Make a version 1 results.json a version 2 one (`results/README.md`
/// says how): status `completed`, workload kind `register`, no logs, each
/// anomaly a register anomaly of class `other`, no `exit_code`.
pub fn upgrade_v1(value: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let Some(obj) = value.as_object_mut() else {
        return;
    };
    obj.insert("schema_version".into(), json!(SCHEMA_VERSION));
    obj.remove("exit_code");
    obj.entry("status").or_insert(json!("completed"));
    obj.entry("logs").or_insert(json!({}));
    if let Some(w) = obj.get_mut("workload").and_then(Value::as_object_mut) {
        w.entry("kind").or_insert(json!("register"));
    }
    if let Some(list) = obj
        .get_mut("checker")
        .and_then(|c| c.get_mut("anomalies"))
        .and_then(Value::as_array_mut)
    {
        for a in list.iter_mut().filter_map(Value::as_object_mut) {
            a.entry("type").or_insert(json!("register"));
            a.entry("class").or_insert(json!("other"));
            a.entry("linearizable_prefix").or_insert(Value::Null);
            a.entry("ops").or_insert(json!([]));
        }
    }
}

/// Write a run's report.html to `out` (atomically).
pub fn write_page(out: &Path, page: &str) -> io::Result<()> {
    write_atomic(out, page.as_bytes())
}

/// Read a run directory and make its report page (its workload's room
/// draws it).
pub fn render(dir: &Path) -> Result<String, RunFilesError> {
    let f = read(dir)?;
    let room = f.room().expect("read() refuses unknown workloads");
    room.page(&f.input()).map_err(|e| RunFilesError::History {
        path: dir.join(files::HISTORY),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_results_get_their_recovery_from_the_history() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("results/examples/etcd-serializable-stale-reads");
        let dir = std::fs::read_dir(example)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.join(files::RESULTS).is_file())
            .unwrap();
        let (stored, _) = read_results(&dir).unwrap();
        assert!(
            stored.faults.iter().all(|f| f.recovery.is_none()),
            "written before"
        );
        let f = read(&dir).unwrap();
        for (fault, was) in f.results.faults.iter().zip(&stored.faults) {
            assert_eq!(
                fault.recovery.is_some(),
                was.healed_at_ms.is_some(),
                "#{}",
                fault.id
            );
        }
        let first = f.results.faults[0].recovery.as_ref().unwrap();
        assert!(
            first.throughput_ms.is_none_or(|ms| ms >= 2_000),
            "{first:?}"
        );
        assert!(
            f.notes.iter().any(|n| n.contains("predates it")),
            "{:?}",
            f.notes
        );
    }

    #[test]
    fn version_1_reads_as_version_2() {
        let mut v = serde_json::json!({
            "schema_version": 1,
            "exit_code": 1,
            "workload": {"ops": {}},
            "checker": {"anomalies": [{"key": "3", "explanation": "x", "linearizable_prefix": 4, "ops": []}]}
        });
        upgrade_v1(&mut v);
        assert_eq!(v["schema_version"], 2);
        assert!(v.get("exit_code").is_none());
        assert_eq!(v["status"], "completed");
        assert_eq!(v["workload"]["kind"], "register");
        assert_eq!(v["checker"]["anomalies"][0]["type"], "register");
        assert_eq!(v["checker"]["anomalies"][0]["class"], "other");
        assert_eq!(v["checker"]["anomalies"][0]["linearizable_prefix"], 4);
    }
}
