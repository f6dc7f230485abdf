//! One user of a compose project at a time: a file lock per project in the
//! state directory (`<state dir>/locks/<project>.lock`, see
//! [`crate::journal::state_dir`]).
//!
//! Shell (files). `chaos run`, `up`, `down`, the demos, and the daemon for
//! each run take it; a second taker is refused with the holder's pid,
//! command and start time ([`LockError::Busy`]), or waits when asked to.
//! The lock is the operating system's (`flock`): it is released when its
//! holder exits, however it exits, so a crashed chaos never leaves a project
//! locked. Two takers in one process exclude each other too (each opens the
//! file anew), which keeps a daemon's parallel runs off one project.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who holds a project's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// What it is doing (`chaos run experiments/etcd-pause.toml`).
    pub command: String,
    /// UTC, RFC 3339.
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} ({}) since {}",
            self.pid, self.command, self.since
        )
    }
}

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "compose project `{project}` is in use by {}; wait until it is done, or pass --wait-lock to wait for it",
        holder.as_ref().map_or_else(|| "another chaos process".to_string(), |h| h.to_string())
    )]
    Busy {
        project: String,
        holder: Option<Holder>,
    },
    #[error("project lock {path}: {error}")]
    Io { path: String, error: io::Error },
}

/// A held project lock; dropping it releases the lock.
#[derive(Debug)]
pub struct ProjectLock {
    file: File,
    path: PathBuf,
}

/// The lock file of a project under a state directory.
pub fn lock_path(state: &Path, project: &str) -> PathBuf {
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
    state.join("locks").join(format!("{safe}.lock"))
}

impl ProjectLock {
    /// Take the lock of `project` for `command`, or say who holds it.
    pub fn try_acquire(project: &str, command: &str) -> Result<ProjectLock, LockError> {
        Self::try_acquire_in(&crate::journal::state_dir(), project, command)
    }

    /// [`ProjectLock::try_acquire`] under another state directory.
    pub fn try_acquire_in(
        state: &Path,
        project: &str,
        command: &str,
    ) -> Result<ProjectLock, LockError> {
        let (mut file, path) = open(state, project)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Busy {
                    project: project.to_string(),
                    holder: read_holder(&mut file),
                });
            }
            Err(TryLockError::Error(error)) => return Err(io_error(&path, error)),
        }
        write_holder(&mut file, &path, command)?;
        Ok(ProjectLock { file, path })
    }

    /// Take the lock, waiting as long as another holds it. Blocking: call
    /// it from a blocking thread (see [`ProjectLock::acquire`]).
    pub fn acquire_blocking_in(
        state: &Path,
        project: &str,
        command: &str,
    ) -> Result<ProjectLock, LockError> {
        let (mut file, path) = open(state, project)?;
        file.lock().map_err(|e| io_error(&path, e))?;
        write_holder(&mut file, &path, command)?;
        Ok(ProjectLock { file, path })
    }

    /// Take the lock: refuse at once if it is held (`wait = false`), or wait
    /// for it on a blocking thread.
    pub async fn acquire(
        project: &str,
        command: &str,
        wait: bool,
    ) -> Result<ProjectLock, LockError> {
        let state = crate::journal::state_dir();
        if !wait {
            return Self::try_acquire_in(&state, project, command);
        }
        let (project, command) = (project.to_string(), command.to_string());
        tokio::task::spawn_blocking(move || Self::acquire_blocking_in(&state, &project, &command))
            .await
            .unwrap_or_else(|e| {
                Err(LockError::Io {
                    path: String::new(),
                    error: io::Error::other(format!("the waiting thread failed: {e}")),
                })
            })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        // Unlocking is also what closing the file does; say it anyway.
        let _ = self.file.unlock();
    }
}

fn io_error(path: &Path, error: io::Error) -> LockError {
    LockError::Io {
        path: path.display().to_string(),
        error,
    }
}

fn open(state: &Path, project: &str) -> Result<(File, PathBuf), LockError> {
    let path = lock_path(state, project);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    Ok((file, path))
}

fn write_holder(file: &mut File, path: &Path, command: &str) -> Result<(), LockError> {
    let holder = Holder {
        pid: std::process::id(),
        command: command.to_string(),
        since: crate::journal::utc_now(),
    };
    let text = serde_json::to_string(&holder).expect("a holder serializes");
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| file.flush())
        .map_err(|e| io_error(path, e))
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_with_the_holder_until_the_first_lets_go() {
        let state = tempfile::tempdir().unwrap();
        let first = ProjectLock::try_acquire_in(state.path(), "p/1", "chaos run a.toml").unwrap();
        assert!(first.path().ends_with("locks/p_1.lock"));
        match ProjectLock::try_acquire_in(state.path(), "p/1", "chaos run b.toml") {
            Err(LockError::Busy { project, holder }) => {
                assert_eq!(project, "p/1");
                let holder = holder.expect("the holder is named");
                assert_eq!(holder.pid, std::process::id());
                assert_eq!(holder.command, "chaos run a.toml");
                let text = LockError::Busy {
                    project,
                    holder: Some(holder),
                }
                .to_string();
                assert!(text.contains("chaos run a.toml") && text.contains("--wait-lock"));
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        // Another project is free.
        let other = ProjectLock::try_acquire_in(state.path(), "q", "chaos up q.toml").unwrap();
        drop(other);
        drop(first);
        let again = ProjectLock::try_acquire_in(state.path(), "p/1", "chaos run b.toml").unwrap();
        drop(again);
    }

    #[test]
    fn a_waiting_taker_gets_the_lock_when_it_is_released() {
        let state = tempfile::tempdir().unwrap();
        let first = ProjectLock::try_acquire_in(state.path(), "p", "first").unwrap();
        let dir = state.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            ProjectLock::acquire_blocking_in(&dir, "p", "second").map(|_| ())
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!waiter.is_finished(), "it waits while the lock is held");
        drop(first);
        waiter.join().unwrap().unwrap();
    }
}
