//! The `chaos-fs` binary: `serve` (mount and serve, optionally running the
//! database as its child) and `ctl` (one control command, one JSON line).
//! On hosts other than Linux it only says that it needs Linux.

#[cfg(target_os = "linux")]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(chaos_fs::serve::main(&args));
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!(
        "chaos-fs: Linux only (it is a FUSE file system that runs inside the database's container); this is {}",
        std::env::consts::OS
    );
    std::process::exit(2);
}
