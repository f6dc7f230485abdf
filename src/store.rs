//! The results store: one directory per run,
//! `<results>/<experiment>/<UTC time>-seed<N>/`, holding
//!
//! - `experiment.toml`: the experiment file as run, its `compose_file`
//!   rewritten to the resolved path (the copy loads from anywhere);
//! - `replay.json`: what a replay needs beside it (seed, duration, the
//!   compose file and its hash, the chaos version);
//! - `plan.json`: the plan;
//! - `history.jsonl`: the history, one op per line, pushed to the OS as the
//!   recorder receives them (see [`LineWriter`]);
//! - `journal.jsonl`: the fault journal (written by the nemesis);
//! - `results.json`: the verdict and figures (`schemas/results.schema.json`);
//! - `report.txt`: the same for people;
//! - `bench.json`: for `chaos bench`, its figures and goals (a bench has no
//!   `results.json`: it checks nothing, but its history can be checked);
//! - `report.html`: the same with pictures (timeline, plots, anomalies);
//! - `chaos.log`: the run's log;
//! - `logs/<service>.log`: each node's container log since the run began.
//!
//! Shell: this module owns the layout and how files are written (final files
//! atomically: a temporary file, fsync, rename, fsync of the directory). It
//! knows nothing of what the files mean.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// File names inside a run directory.
pub mod files {
    pub const EXPERIMENT: &str = "experiment.toml";
    pub const REPLAY: &str = "replay.json";
    pub const PLAN: &str = "plan.json";
    /// The compose override laid over the project's file for this run
    /// (faults that need chaos-fs or libfaketime in their targets).
    pub const OVERRIDE: &str = "compose.override.yml";
    pub const HISTORY: &str = "history.jsonl";
    pub const JOURNAL: &str = "journal.jsonl";
    pub const RESULTS: &str = "results.json";
    pub const REPORT: &str = "report.txt";
    /// The figures of `chaos bench` (in place of `results.json`).
    pub const BENCH: &str = "bench.json";
    pub const REPORT_HTML: &str = "report.html";
    pub const LOG: &str = "chaos.log";
    /// The directory of the nodes' logs (`logs/<service>.log`).
    pub const LOGS: &str = "logs";
}

/// The directory of one run.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Create `<root>/<experiment>/<stamp>-seed<seed>/`, adding `-2`, `-3`...
    /// if two runs start in the same second.
    pub fn create(root: &Path, experiment: &str, stamp: &str, seed: u64) -> io::Result<RunDir> {
        let parent = root.join(experiment);
        fs::create_dir_all(&parent)?;
        let base = format!("{stamp}-seed{seed}");
        for n in 1..1000 {
            let name = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let path = parent.join(name);
            match fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "{}: too many runs with the same time stamp",
            parent.display()
        )))
    }

    /// An existing run directory.
    pub fn open(path: &Path) -> RunDir {
        RunDir {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Write a final file atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        write_atomic(&self.file(name), bytes)
    }

    /// A line-oriented file that is flushed line by line (the history).
    pub fn lines(&self, name: &str) -> io::Result<LineWriter> {
        LineWriter::create(&self.file(name))
    }
}

/// Write `bytes` to `path` so that a reader sees the old file or the whole new
/// one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{}: not a file path", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    // Make the rename itself durable.
    File::open(dir)?.sync_all()
}

/// Appends lines and hands them to the OS (not to the disk: see
/// [`LineWriter::sync`]) either one by one ([`LineWriter::line`]) or a batch
/// at a time ([`LineWriter::push`] then [`LineWriter::flush`]). What a
/// crash of chaos can lose: the lines pushed since the last flush (the
/// batch being written); a line the OS has is complete, except possibly the
/// last one of a batch cut by the crash. A crash of the machine can lose
/// what the OS had not written yet, up to the last `sync`.
#[derive(Debug)]
pub struct LineWriter {
    out: BufWriter<File>,
}

/// The buffer of a [`LineWriter`]: a batch of history lines (about 150
/// bytes each) in one write.
const LINE_BUFFER: usize = 64 * 1024;

impl LineWriter {
    pub fn create(path: &Path) -> io::Result<LineWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LineWriter {
            out: BufWriter::with_capacity(LINE_BUFFER, file),
        })
    }

    /// Write one line (a newline is added) and flush it.
    pub fn line(&mut self, line: &str) -> io::Result<()> {
        self.push(line)?;
        self.flush()
    }

    /// Add one line (a newline is added) to the batch; it reaches the OS at
    /// the next [`LineWriter::flush`] (or sooner, when the buffer fills).
    pub fn push(&mut self, line: &str) -> io::Result<()> {
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// Hand every line pushed so far to the OS.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flush and fsync.
    pub fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dirs_are_unique_and_named_by_time_and_seed() {
        let root = tempfile::tempdir().unwrap();
        let a = RunDir::create(root.path(), "exp", "20261127T030405Z", 7).unwrap();
        let b = RunDir::create(root.path(), "exp", "20261127T030405Z", 7).unwrap();
        assert!(a.path().ends_with("exp/20261127T030405Z-seed7"));
        assert!(b.path().ends_with("exp/20261127T030405Z-seed7-2"));
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temp() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "exp", "t", 1).unwrap();
        run.write(files::RESULTS, b"{\"a\":1}").unwrap();
        run.write(files::RESULTS, b"{\"a\":2}").unwrap();
        assert_eq!(fs::read(run.file(files::RESULTS)).unwrap(), b"{\"a\":2}");
        let names: Vec<_> = fs::read_dir(run.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(files::RESULTS)]);
    }

    #[test]
    fn lines_are_visible_as_soon_as_written() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "exp", "t", 1).unwrap();
        let mut w = run.lines(files::HISTORY).unwrap();
        w.line("{\"index\":0}").unwrap();
        // Another reader sees the line before the writer is dropped.
        let text = fs::read_to_string(run.file(files::HISTORY)).unwrap();
        assert_eq!(text, "{\"index\":0}\n");
        w.line("{\"index\":1}").unwrap();
        // A batch is with the OS after its flush, not before.
        w.push("{\"index\":2}").unwrap();
        w.push("{\"index\":3}").unwrap();
        assert_eq!(
            fs::read_to_string(run.file(files::HISTORY))
                .unwrap()
                .lines()
                .count(),
            2
        );
        w.flush().unwrap();
        assert_eq!(
            fs::read_to_string(run.file(files::HISTORY))
                .unwrap()
                .lines()
                .count(),
            4
        );
        w.sync().unwrap();
        assert_eq!(
            fs::read_to_string(run.file(files::HISTORY))
                .unwrap()
                .lines()
                .count(),
            4
        );
    }
}
