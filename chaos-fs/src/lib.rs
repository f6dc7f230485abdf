//! chaos-fs: a FUSE file system that serves a backing directory, keeps
//! written data in its own memory until the file is fsynced, loses what
//! was not written through when it dies with the database (a power loss),
//! and injects disk faults (ENOSPC, EIO, delays) set at run time through a
//! control socket. The rules are in docs/nemesis.md ("Disk faults:
//! chaos-fs").
//!
//! Layout, from the bottom:
//! - `model`: the pure model of what is kept and lost (no IO).
//! - `faults`: which operations a fault selects and the seeded draws (pure).
//! - `ctl`: the control commands' grammar and wire form (pure).
//! - `store`: the page cache and directory journal over a real backing
//!   directory, without FUSE (tested against `model` by properties).
//! - `fs` (Linux): the `fuser::Filesystem` over the store and the faults,
//!   with the freeze.
//! - `control` (Linux): the control socket's server and client.
//! - `serve` (Linux): mounting (the bind of the data directory, the FUSE
//!   mount), the control thread, and supervising the database as a child.
//!
//! No tokio, no Docker, no OS randomness: every draw comes from a ChaCha
//! stream of a seed given with the fault.

pub mod ctl;
pub mod faults;
pub mod model;
#[cfg(unix)]
pub mod store;

#[cfg(target_os = "linux")]
pub mod control;
#[cfg(target_os = "linux")]
pub mod fs;
#[cfg(target_os = "linux")]
pub mod serve;
