//! An engine reached over `ssh://`: the remote engine's Unix socket
//! forwarded to a private local socket by the system's `ssh` for as long as
//! chaos holds the tunnel, so bollard and the docker CLI speak to it like a
//! local engine.
//!
//! Shell. Owns the `ssh` child process and its socket directory. Uses the
//! user's ssh set-up (agent, `~/.ssh/config`, known hosts) or the node's
//! `ssh_config` (`ssh -F`), never asks for a password (`BatchMode`). The
//! remote side runs `cat`, reading a pipe only this process holds: when
//! chaos ends in any way, even SIGKILL, the pipe closes, the remote `cat`
//! ends and so does `ssh`, leaving only its socket directory, which the
//! next tunnel's sweep removes.
//! Knows nothing of Swarm; [`super::swarm`] decides when to open one.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::experiment::endpoint::Endpoint;

/// How long `ssh` gets to authenticate and open the forward.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// A live forward of a remote engine's socket.
#[derive(Debug)]
pub struct SshTunnel {
    /// Held, never used: dropping it kills `ssh` (and closes the pipe the
    /// remote `cat` reads, which ends the session on the far side too).
    _child: tokio::process::Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl SshTunnel {
    /// Start `ssh` and wait until the local socket answers. The error says
    /// what ssh said.
    pub async fn open(endpoint: &Endpoint, ssh_config: Option<&Path>) -> Result<SshTunnel, String> {
        let Endpoint::Ssh {
            user,
            host,
            port,
            socket: remote,
        } = endpoint
        else {
            return Err("not an ssh:// endpoint".to_string());
        };
        sweep_stale(&std::env::temp_dir());
        static N: AtomicU64 = AtomicU64::new(0);
        // Short: a Unix socket path has at most 107 bytes.
        let dir = std::env::temp_dir().join(format!(
            "chaos-ssh-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        {
            use std::os::unix::fs::DirBuilderExt;
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let socket = dir.join("engine.sock");
        let log = dir.join("ssh.log");
        let stderr = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut cmd = tokio::process::Command::new("ssh");
        if let Some(config) = ssh_config {
            cmd.arg("-F").arg(config);
        }
        cmd.args([
            "-T",
            "-o",
            "BatchMode=yes",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "ConnectTimeout=15",
            "-o",
            "ServerAliveInterval=10",
            "-o",
            "ServerAliveCountMax=3",
            "-o",
            "StreamLocalBindUnlink=yes",
            "-L",
        ]);
        cmd.arg(format!("{}:{remote}", socket.display()));
        if let Some(port) = port {
            cmd.arg("-p").arg(port.to_string());
        }
        if let Some(user) = user {
            cmd.arg("-l").arg(user);
        }
        cmd.arg("--").arg(host).arg("cat");
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            format!("cannot run ssh: {e} (the ssh client must be installed)")
        })?;
        let said = |dir: &Path| {
            let text = std::fs::read_to_string(dir.join("ssh.log")).unwrap_or_default();
            let text = text.trim();
            if text.is_empty() {
                String::new()
            } else {
                format!(": ssh said: {}", text.replace('\n', " / "))
            }
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let why = said(&dir);
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!(
                    "ssh ended ({status}) before the forward was up{why}"
                ));
            }
            if tokio::net::UnixStream::connect(&socket).await.is_ok() {
                return Ok(SshTunnel {
                    _child: child,
                    dir,
                    socket,
                });
            }
            if started.elapsed() > OPEN_TIMEOUT {
                let why = said(&dir);
                drop(child);
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!(
                    "the forward of {remote} was not up after {} s{why}",
                    OPEN_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The local socket to connect to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

/// Remove the socket directories of chaos processes that are gone (one
/// killed with SIGKILL leaves its empty directory behind).
fn sweep_stale(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("chaos-ssh-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Drop for SshTunnel {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_removes_directories_of_gone_processes_only() {
        let tmp = std::env::temp_dir().join(format!("chaos-ssh-sweep-test-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        // A pid above the kernel's maximum (4194304) is never alive.
        let gone = tmp.join("chaos-ssh-4194999-0");
        let mine = tmp.join(format!("chaos-ssh-{}-7", std::process::id()));
        let other = tmp.join("not-chaos-1");
        for d in [&gone, &mine, &other] {
            std::fs::create_dir_all(d).unwrap();
        }
        sweep_stale(&tmp);
        let left = (gone.exists(), mine.exists(), other.exists());
        let _ = std::fs::remove_dir_all(&tmp);
        assert_eq!(left, (false, true, true));
    }
}
