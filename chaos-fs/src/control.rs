//! The control socket: the server thread that applies `ctl` commands to
//! the running file system (`fs::Shared`) and answers each with one JSON
//! line, and the client that `chaos-fs ctl` runs (typically through
//! `docker exec`). It owns the JSON shape of a reply, which docs/nemesis.md
//! documents.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::ctl::{self, Command};
use crate::fs::Shared;

/// The default control socket, inside the container.
pub const DEFAULT_SOCKET: &str = "/run/chaos/chaos-fs.sock";

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// What is set and what is pending, as JSON.
pub fn status(shared: &Shared) -> Value {
    let faults = {
        let f = shared.faults();
        json!({
            "disk_full": f.disk_full.as_ref().map(|d| json!({
                "after_bytes": d.after_bytes, "remaining": d.remaining, "injected": d.injected,
            })),
            "io_error": f.io_error.as_ref().map(|e| json!({
                "share": e.share, "ops": e.scope.ops.names(), "path": e.scope.path,
                "seed": e.seed, "injected": e.injected,
            })),
            "io_delay": f.io_delay.as_ref().map(|d| json!({
                "delay_ms": ms(d.delay), "jitter_ms": ms(d.jitter), "ops": d.scope.ops.names(),
                "path": d.scope.path, "seed": d.seed, "delayed": d.delayed, "total_ms": ms(d.total),
            })),
        })
    };
    let (mode, pending) = {
        let s = shared.store();
        (s.mode(), s.pending())
    };
    json!({
        "mode": mode.name(),
        "frozen": shared.is_frozen(),
        "mmap_allowed": shared.mmap_allowed.load(std::sync::atomic::Ordering::SeqCst),
        "faults": faults,
        "pending": { "bytes": pending.bytes, "files": pending.files, "entries": pending.entries },
    })
}

/// Applies one command; the reply's JSON.
pub fn apply(shared: &Shared, cmd: &Command) -> Value {
    let mut extra = serde_json::Map::new();
    match cmd {
        Command::Freeze { torn, seed } => {
            let seed = *seed;
            let keep = move |range: u64| ctl::torn_prefix(seed, range);
            match shared.freeze(if *torn { Some(&keep) } else { None }) {
                Ok(t) => {
                    extra.insert(
                        "torn".into(),
                        t.map_or(Value::Null, |t| {
                            json!({"path": t.path.to_string_lossy(), "offset": t.offset,
                                   "written": t.written, "range": t.range})
                        }),
                    );
                }
                Err(e) => {
                    return json!({"ok": false, "command": cmd.name(),
                                  "error": format!("frozen, but the torn write failed: {e}")});
                }
            }
        }
        Command::DiskFull { after_bytes } => shared.faults().set_disk_full(*after_bytes),
        Command::IoError { share, scope, seed } => {
            shared.faults().set_io_error(*share, scope.clone(), *seed)
        }
        Command::IoDelay {
            delay,
            jitter,
            scope,
            seed,
        } => shared
            .faults()
            .set_io_delay(*delay, *jitter, scope.clone(), *seed),
        Command::Clear => {
            shared.faults().clear();
            shared.thaw();
        }
        Command::Status => {}
    }
    let mut v = status(shared);
    let o = v.as_object_mut().expect("status is an object");
    o.insert("ok".into(), true.into());
    o.insert("command".into(), cmd.name().into());
    o.extend(extra);
    v
}

fn answer(shared: &Shared, line: &str) -> Value {
    let words = match ctl::parse_request_line(line) {
        Ok(w) => w,
        Err(e) => return json!({"ok": false, "error": e}),
    };
    match ctl::parse(&words) {
        Ok(cmd) => {
            let v = apply(shared, &cmd);
            if cmd != Command::Status {
                eprintln!("chaos-fs: ctl {} -> {}", words.join(" "), v);
            }
            v
        }
        Err(e) => json!({"ok": false, "error": e}),
    }
}

/// Binds the control socket (replacing a stale one) and serves it on a
/// thread of its own, one connection at a time.
pub fn spawn_server(path: &Path, shared: Arc<Shared>) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::thread::Builder::new()
        .name("chaos-fs-control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let mut reader = BufReader::new(&conn);
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                let reply = answer(&shared, &line);
                let _ = writeln!(&conn, "{reply}");
            }
        })?;
    Ok(())
}

/// Sends one command and returns the reply line.
pub fn request(path: &Path, words: &[String]) -> io::Result<String> {
    let conn = UnixStream::connect(path)?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    writeln!(&conn, "{}", ctl::request_line(words))?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "chaos-fs closed the connection without an answer",
        ));
    }
    Ok(line.trim_end().to_string())
}
