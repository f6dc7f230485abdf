//! The command line and the serving process: `chaos-fs serve` checks what
//! a FUSE mount needs (and names what is missing in one line), makes the
//! data directory its own backing directory by a bind mount, mounts the
//! file system over the data directory, serves the control socket, and
//! runs the database as its child (PID 1's duties included: signals are
//! forwarded, orphans reaped). When the database exits, every pending
//! byte is written through (a clean shutdown, as an OS flushes its page
//! cache) unless the file system is frozen, and chaos-fs exits with the
//! database's status. `chaos-fs ctl` sends one control command.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::control::{self, DEFAULT_SOCKET};
use crate::ctl;
use crate::fs::{ChaosFs, Shared};
use crate::model::Mode;
use crate::store::Store;

/// Where the data directory is bind-mounted to serve as the backing
/// directory when `--backing` is not given.
pub const DEFAULT_BACKING: &str = "/run/chaos/backing";

const USAGE: &str = "\
usage:
  chaos-fs serve --mount DIR [--backing DIR] [--mode lazy|strict] [--socket PATH] [--threads N] [-- COMMAND ARGS...]
      Serve DIR through chaos-fs. Without --backing, DIR's current contents are the
      backing directory (bind-mounted at /run/chaos/backing first). With a COMMAND,
      run it as a child once the mount answers, and exit with its status.
  chaos-fs ctl [--socket PATH] COMMAND ...     (chaos-fs ctl help: the commands)
  chaos-fs version";

/// Runs the command line; the process exit status.
pub fn main(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("serve") => match serve(&args[1..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("chaos-fs: {e}");
                2
            }
        },
        Some("ctl") => ctl_main(&args[1..]),
        Some("version") | Some("--version") => {
            println!("chaos-fs {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("help") | Some("--help") | Some("-h") => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    }
}

fn socket_from(args: &mut Vec<String>) -> PathBuf {
    if let Some(i) = args.iter().position(|a| a == "--socket")
        && i + 1 < args.len()
    {
        let p = args.remove(i + 1);
        args.remove(i);
        return PathBuf::from(p);
    }
    std::env::var_os("CHAOS_FS_SOCKET").map_or_else(|| PathBuf::from(DEFAULT_SOCKET), PathBuf::from)
}

fn ctl_main(args: &[String]) -> i32 {
    let mut words = args.to_vec();
    // Only before the command: `--socket PATH`.
    let socket = if words.first().map(String::as_str) == Some("--socket") {
        socket_from(&mut words)
    } else {
        socket_from(&mut Vec::new())
    };
    if matches!(
        words.first().map(String::as_str),
        None | Some("help") | Some("--help")
    ) {
        println!("{}", ctl::USAGE);
        return if words.is_empty() { 2 } else { 0 };
    }
    if let Err(e) = ctl::parse(&words) {
        println!("{}", serde_json::json!({"ok": false, "error": e}));
        return 2;
    }
    match control::request(&socket, &words) {
        Ok(line) => {
            println!("{line}");
            let ok = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v.get("ok").and_then(|o| o.as_bool()))
                .unwrap_or(false);
            if ok { 0 } else { 1 }
        }
        Err(e) => {
            println!(
                "{}",
                serde_json::json!({"ok": false, "error": format!("cannot reach chaos-fs at {}: {e}", socket.display())})
            );
            3
        }
    }
}

#[derive(Debug)]
struct Opts {
    mount: PathBuf,
    backing: Option<PathBuf>,
    mode: Mode,
    socket: PathBuf,
    threads: usize,
    command: Vec<String>,
}

fn parse_serve(args: &[String]) -> Result<Opts, String> {
    let (flags, command) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], args[i + 1..].to_vec()),
        None => (args, Vec::new()),
    };
    let mut o = Opts {
        mount: PathBuf::new(),
        backing: None,
        mode: Mode::Lazy,
        socket: PathBuf::from(DEFAULT_SOCKET),
        threads: 4,
        command,
    };
    let mut it = flags.iter();
    while let Some(f) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or(format!("{f} needs a value\n{USAGE}"))
        };
        match f.as_str() {
            "--mount" => o.mount = PathBuf::from(val()?),
            "--backing" => o.backing = Some(PathBuf::from(val()?)),
            "--mode" => {
                let v = val()?;
                o.mode = Mode::parse(&v).ok_or(format!("--mode is lazy or strict, not '{v}'"))?
            }
            "--socket" => o.socket = PathBuf::from(val()?),
            "--threads" => {
                let v = val()?;
                o.threads = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or(format!("--threads is 1..64, not '{v}'"))?
            }
            other => return Err(format!("serve: unknown option {other}\n{USAGE}")),
        }
    }
    if o.mount.as_os_str().is_empty() {
        return Err(format!("serve needs --mount DIR\n{USAGE}"));
    }
    Ok(o)
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("a path without NUL")
}

/// Whether this process has CAP_SYS_ADMIN (bit 21 of CapEff).
fn has_cap_sys_admin() -> Option<bool> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let caps = u64::from_str_radix(hex, 16).ok()?;
    Some(caps & (1 << 21) != 0)
}

/// What a FUSE mount needs here, checked before anything is touched: one
/// line naming what is missing.
fn preflight(mount: &Path) -> Result<(), String> {
    if !mount.is_dir() {
        return Err(format!(
            "the mount point {} is not a directory",
            mount.display()
        ));
    }
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("cannot mount: /dev/fuse is missing (give the container the device: devices: [/dev/fuse])".into());
        }
        Err(e) => {
            return Err(format!(
                "cannot mount: /dev/fuse cannot be opened ({e}; give the container the device: devices: [/dev/fuse])"
            ));
        }
    }
    if has_cap_sys_admin() == Some(false) {
        return Err(
            "cannot mount: no CAP_SYS_ADMIN (give the container cap_add: [SYS_ADMIN])".into(),
        );
    }
    Ok(())
}

fn mount_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            " (an AppArmor profile refuses mounts: security_opt: [apparmor:unconfined]; and cap_add: [SYS_ADMIN])"
        }
        _ => "",
    }
}

fn bind(src: &Path, dst: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dst).map_err(|e| format!("cannot create {}: {e}", dst.display()))?;
    // SAFETY: valid C strings; a bind mount with no data.
    let rc = unsafe {
        libc::mount(
            cstr(src).as_ptr(),
            cstr(dst).as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!(
            "cannot bind-mount {} at {} as the backing directory: {e}{}",
            src.display(),
            dst.display(),
            mount_hint(&e)
        ));
    }
    Ok(())
}

fn unmount(p: &Path) {
    // SAFETY: a valid C string.
    unsafe { libc::umount2(cstr(p).as_ptr(), libc::MNT_DETACH) };
}

const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;

/// Waits until `mount` is a FUSE mount that answers statfs.
fn wait_mounted(mount: &Path, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C string and out-parameter.
        if unsafe { libc::statfs(cstr(mount).as_ptr(), &mut st) } == 0
            && st.f_type as i64 == FUSE_SUPER_MAGIC
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: plain sigset manipulation.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGCHLD,
        ] {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn serve(args: &[String]) -> Result<i32, String> {
    let o = parse_serve(args)?;
    // Before any thread starts, so that every thread inherits the mask and
    // the signals wait for sigwait below.
    let set = signal_set();
    // SAFETY: a valid set.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };

    preflight(&o.mount)?;
    let backing = match &o.backing {
        Some(b) => b.clone(),
        None => {
            let b = PathBuf::from(DEFAULT_BACKING);
            bind(&o.mount, &b)?;
            b
        }
    };
    let store = Store::open(&backing, o.mode).map_err(|e| {
        format!(
            "cannot read the backing directory {}: {e}",
            backing.display()
        )
    })?;
    let shared = Shared::new(store);
    control::spawn_server(&o.socket, Arc::clone(&shared)).map_err(|e| {
        format!(
            "cannot serve the control socket {}: {e}",
            o.socket.display()
        )
    })?;

    let mut config = fuser::Config::default();
    config.mount_options = vec![
        fuser::MountOption::FSName("chaos-fs".into()),
        fuser::MountOption::Subtype("chaos-fs".into()),
        fuser::MountOption::DefaultPermissions,
    ];
    config.acl = fuser::SessionACL::All;
    config.n_threads = Some(o.threads);
    let session = fuser::Session::new(ChaosFs::new(Arc::clone(&shared)), &o.mount, &config)
        .map_err(|e| {
            format!(
                "cannot mount FUSE at {}: {e}{}",
                o.mount.display(),
                mount_hint(&e)
            )
        })?;
    let background = session
        .spawn()
        .map_err(|e| format!("cannot start serving: {e}"))?;
    if !wait_mounted(&o.mount, Duration::from_secs(10)) {
        return Err(format!(
            "the FUSE mount at {} did not answer within 10 s",
            o.mount.display()
        ));
    }
    eprintln!(
        "chaos-fs: serving {} at {} (mode {}, control {})",
        backing.display(),
        o.mount.display(),
        o.mode.name(),
        o.socket.display()
    );

    let mut child = None;
    if !o.command.is_empty() {
        let mut p = Process::new(&o.command[0]);
        p.args(&o.command[1..]);
        // SAFETY: only async-signal-safe calls between fork and exec: the
        // child starts with no signal blocked (ours are, for sigwait).
        unsafe {
            p.pre_exec(|| {
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                Ok(())
            });
        }
        let c = p
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", o.command[0]))?;
        child = Some(c.id() as libc::pid_t);
    }
    let code = supervise(&set, child);

    if shared.is_frozen() {
        eprintln!("chaos-fs: frozen at exit: pending data is dropped");
    } else {
        let mut s = shared.store();
        let p = s.pending();
        match s.flush_all() {
            Ok(()) => eprintln!(
                "chaos-fs: clean shutdown: wrote {} pending byte(s) of {} file(s) and {} entr(ies) through",
                p.bytes, p.files, p.entries
            ),
            Err(e) => eprintln!("chaos-fs: clean shutdown: writing pending data failed: {e}"),
        }
    }
    drop(background); // unmounts
    if o.backing.is_none() {
        unmount(&backing);
    }
    let _ = std::fs::remove_file(&o.socket);
    Ok(code)
}

/// Waits for signals: forwards each to the child, reaps every child (PID
/// 1's duty), and returns the child's exit status once it exits (128 +
/// signal if killed); without a child, returns 0 on SIGTERM or SIGINT.
fn supervise(set: &libc::sigset_t, child: Option<libc::pid_t>) -> i32 {
    loop {
        let mut sig = 0;
        // SAFETY: a valid set and out-parameter.
        if unsafe { libc::sigwait(set, &mut sig) } != 0 {
            continue;
        }
        if sig == libc::SIGCHLD {
            loop {
                let mut status = 0;
                // SAFETY: waitpid with an out-parameter.
                let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                if pid <= 0 {
                    break;
                }
                if Some(pid) == child {
                    return if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        128 + libc::WTERMSIG(status)
                    };
                }
            }
            continue;
        }
        match child {
            // SAFETY: signalling our own child.
            Some(pid) => unsafe {
                libc::kill(pid, sig);
            },
            None if sig == libc::SIGTERM || sig == libc::SIGINT => return 0,
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn serve_options() {
        let o = parse_serve(&words("--mount /data --mode strict -- etcd --name x")).unwrap();
        assert_eq!(o.mount, PathBuf::from("/data"));
        assert_eq!(o.mode, Mode::Strict);
        assert_eq!(o.backing, None);
        assert_eq!(o.command, words("etcd --name x"));
        assert!(
            parse_serve(&words("--mode fast --mount /d"))
                .unwrap_err()
                .contains("lazy or strict")
        );
        assert!(
            parse_serve(&words("--backing /b"))
                .unwrap_err()
                .contains("needs --mount")
        );
        assert!(parse_serve(&words("--mount /d --threads 0")).is_err());
    }
}
