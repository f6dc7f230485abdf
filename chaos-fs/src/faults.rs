//! The faults chaos-fs injects and the arithmetic that decides each one:
//! which operations a fault applies to, the path glob, the EIO draw and
//! the delay draw from a ChaCha stream of the fault's seed (never OS
//! randomness), the disk-full byte budget, and the counters `status`
//! shows. Pure: no IO, no clock; the FUSE layer (`fs`) asks and acts
//! (sleeps, answers with the errno).

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// A kind of file system operation a fault can select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// read(2) of a file.
    Read,
    /// write(2) of a file.
    Write,
    /// fsync/fdatasync of a file or a directory.
    Fsync,
    /// open(2) of an existing file.
    Open,
    /// Creating a file or a directory.
    Create,
    /// Removing a file or a directory.
    Unlink,
    /// rename(2).
    Rename,
    /// Changing a file's length (truncate, ftruncate).
    Truncate,
    /// Listing a directory.
    Readdir,
}

impl Op {
    /// Every operation, in name order of the docs.
    pub const ALL: [Op; 9] = [
        Op::Read,
        Op::Write,
        Op::Fsync,
        Op::Open,
        Op::Create,
        Op::Unlink,
        Op::Rename,
        Op::Truncate,
        Op::Readdir,
    ];

    /// The name in `--ops` lists and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Fsync => "fsync",
            Op::Open => "open",
            Op::Create => "create",
            Op::Unlink => "unlink",
            Op::Rename => "rename",
            Op::Truncate => "truncate",
            Op::Readdir => "readdir",
        }
    }

    /// Parses one name.
    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == s)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpSet(u16);

impl OpSet {
    /// Parses `read,write,fsync`: no empty list, no unknown name.
    pub fn parse(s: &str) -> Result<OpSet, String> {
        let mut set = OpSet(0);
        for part in s.split(',') {
            let op = Op::parse(part.trim()).ok_or_else(|| {
                format!(
                    "unknown operation '{}' (one of {})",
                    part.trim(),
                    Op::ALL.map(Op::name).join(", ")
                )
            })?;
            set.0 |= op.bit();
        }
        Ok(set)
    }

    /// Whether `op` is in the set.
    pub fn contains(self, op: Op) -> bool {
        self.0 & op.bit() != 0
    }

    /// The names, in the order of `Op::ALL`.
    pub fn names(self) -> Vec<&'static str> {
        Op::ALL
            .into_iter()
            .filter(|o| self.contains(*o))
            .map(Op::name)
            .collect()
    }
}

/// Whether `path` (relative to the mount point, '/'-separated) matches
/// `glob`: `*` is any run of characters but '/', `**` any run including
/// '/', `?` one character but '/'. The whole path must match.
pub fn glob_match(glob: &str, path: &str) -> bool {
    fn go(g: &[u8], p: &[u8]) -> bool {
        match g.first() {
            None => p.is_empty(),
            Some(b'*') if g.get(1) == Some(&b'*') => {
                let rest = &g[2..];
                // `**/` also matches no directory at all.
                if rest.first() == Some(&b'/') && go(&rest[1..], p) {
                    return true;
                }
                (0..=p.len()).any(|i| go(rest, &p[i..]))
            }
            Some(b'*') => {
                let rest = &g[1..];
                for i in 0..=p.len() {
                    if go(rest, &p[i..]) {
                        return true;
                    }
                    if p.get(i) == Some(&b'/') {
                        break;
                    }
                }
                false
            }
            Some(b'?') => !p.is_empty() && p[0] != b'/' && go(&g[1..], &p[1..]),
            Some(c) => p.first() == Some(c) && go(&g[1..], &p[1..]),
        }
    }
    go(glob.as_bytes(), path.as_bytes())
}

/// Whether a draw `x` (uniform over u64) falls in a share `share` of 0..=1:
/// exactly never for 0, always for 1.
pub fn draw_hits(x: u64, share: f64) -> bool {
    if share >= 1.0 {
        return true;
    }
    if share <= 0.0 {
        return false;
    }
    let threshold = (share * 18_446_744_073_709_551_616.0) as u128; // share * 2^64
    u128::from(x) < threshold
}

/// A delay `base + jitter * u`, `u` uniform in [0, 1] from the draw `x`,
/// in whole nanoseconds.
pub fn draw_delay(x: u64, base: Duration, jitter: Duration) -> Duration {
    let j = jitter.as_nanos().min(u128::from(u64::MAX)) as u64;
    let extra = ((u128::from(x) * (u128::from(j) + 1)) >> 64) as u64;
    base + Duration::from_nanos(extra)
}

/// Which operations and paths a fault selects.
#[derive(Clone, Debug, PartialEq)]
pub struct Scope {
    /// The operations.
    pub ops: OpSet,
    /// A path glob, relative to the mount point; None for every path.
    pub path: Option<String>,
}

impl Scope {
    /// Whether the scope selects `op` on `path` (None: a file with no name
    /// any more, which only a scope without a glob selects).
    pub fn selects(&self, op: Op, path: Option<&str>) -> bool {
        self.ops.contains(op)
            && match (&self.path, path) {
                (None, _) => true,
                (Some(g), Some(p)) => glob_match(g, p),
                (Some(_), None) => false,
            }
    }
}

/// EIO on a share of the selected operations.
#[derive(Clone, Debug)]
pub struct IoError {
    /// The share of selected operations that fail, 0..=1.
    pub share: f64,
    /// What it selects.
    pub scope: Scope,
    /// The seed of its ChaCha stream.
    pub seed: u64,
    rng: ChaCha8Rng,
    /// Operations it failed so far.
    pub injected: u64,
}

/// A delay of the selected operations.
#[derive(Clone, Debug)]
pub struct IoDelay {
    /// The fixed part.
    pub delay: Duration,
    /// The random part's maximum.
    pub jitter: Duration,
    /// What it selects.
    pub scope: Scope,
    /// The seed of its ChaCha stream.
    pub seed: u64,
    rng: ChaCha8Rng,
    /// Operations it delayed so far.
    pub delayed: u64,
    /// Their total delay.
    pub total: Duration,
}

/// Writes and creates fail with ENOSPC once the budget is spent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskFull {
    /// The budget it was set with (bytes of writes still accepted).
    pub after_bytes: u64,
    /// What is left of it.
    pub remaining: u64,
    /// Operations it failed so far.
    pub injected: u64,
}

/// What an operation should do, as the faults decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Sleep this long first.
    pub delay: Option<Duration>,
    /// Then fail with this errno instead of running.
    pub errno: Option<i32>,
    /// For a write: how many of its bytes to accept (a short write when
    /// the disk fills up part way).
    pub accept: Option<u64>,
}

/// Every fault currently set (the freeze lives in `fs`, with the lock it
/// needs).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// ENOSPC.
    pub disk_full: Option<DiskFull>,
    /// EIO.
    pub io_error: Option<IoError>,
    /// Delays.
    pub io_delay: Option<IoDelay>,
}

impl Faults {
    /// Sets (or replaces) the EIO fault.
    pub fn set_io_error(&mut self, share: f64, scope: Scope, seed: u64) {
        self.io_error = Some(IoError {
            share,
            scope,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            injected: 0,
        });
    }

    /// Sets (or replaces) the delay fault.
    pub fn set_io_delay(&mut self, delay: Duration, jitter: Duration, scope: Scope, seed: u64) {
        self.io_delay = Some(IoDelay {
            delay,
            jitter,
            scope,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            delayed: 0,
            total: Duration::ZERO,
        });
    }

    /// Sets (or replaces) the disk-full fault.
    pub fn set_disk_full(&mut self, after_bytes: u64) {
        self.disk_full = Some(DiskFull {
            after_bytes,
            remaining: after_bytes,
            injected: 0,
        });
    }

    /// Every fault off.
    pub fn clear(&mut self) {
        *self = Faults::default();
    }

    /// Whether any fault needs the operation's path.
    pub fn wants_path(&self) -> bool {
        self.io_error
            .as_ref()
            .is_some_and(|f| f.scope.path.is_some())
            || self
                .io_delay
                .as_ref()
                .is_some_and(|f| f.scope.path.is_some())
    }

    /// Whether the disk is full now (for statfs).
    pub fn disk_is_full(&self) -> bool {
        self.disk_full.as_ref().is_some_and(|d| d.remaining == 0)
    }

    /// Decides an operation on `path`; `len` is a write's length. Draws
    /// from a fault's stream only for operations it selects, so the
    /// sequence of decisions depends only on the seed and the sequence of
    /// selected operations.
    pub fn decide(&mut self, op: Op, path: Option<&str>, len: u64) -> Verdict {
        let mut v = Verdict {
            delay: None,
            errno: None,
            accept: None,
        };
        if let Some(d) = &mut self.io_delay
            && d.scope.selects(op, path)
        {
            let t = draw_delay(d.rng.next_u64(), d.delay, d.jitter);
            d.delayed += 1;
            d.total += t;
            v.delay = Some(t);
        }
        if let Some(e) = &mut self.io_error
            && e.scope.selects(op, path)
            && draw_hits(e.rng.next_u64(), e.share)
        {
            e.injected += 1;
            v.errno = Some(libc::EIO);
            return v;
        }
        if let Some(full) = &mut self.disk_full {
            match op {
                Op::Write => {
                    let take = len.min(full.remaining);
                    if take == 0 && len > 0 {
                        full.injected += 1;
                        v.errno = Some(libc::ENOSPC);
                    } else {
                        full.remaining -= take;
                        v.accept = Some(take);
                    }
                }
                Op::Create if full.remaining == 0 => {
                    full.injected += 1;
                    v.errno = Some(libc::ENOSPC);
                }
                _ => {}
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(ops: &str, path: Option<&str>) -> Scope {
        Scope {
            ops: OpSet::parse(ops).unwrap(),
            path: path.map(str::to_string),
        }
    }

    #[test]
    fn draws_hit_exactly_never_at_zero_and_always_at_one() {
        for x in [0, 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
            assert!(!draw_hits(x, 0.0));
            assert!(draw_hits(x, 1.0));
        }
        // A quarter: the first quarter of the range.
        assert!(draw_hits(u64::MAX / 4 - 1, 0.25));
        assert!(!draw_hits(u64::MAX / 4 + 1, 0.25));
    }

    #[test]
    fn a_share_hits_about_that_share_and_the_same_seed_the_same_ops() {
        let mut a = Faults::default();
        a.set_io_error(0.2, scope("read,write", None), 7);
        let mut b = a.clone();
        let hits: Vec<bool> = (0..10_000)
            .map(|_| a.decide(Op::Read, None, 0).errno.is_some())
            .collect();
        let again: Vec<bool> = (0..10_000)
            .map(|_| b.decide(Op::Read, None, 0).errno.is_some())
            .collect();
        assert_eq!(hits, again);
        let n = hits.iter().filter(|h| **h).count();
        assert!((1_800..2_200).contains(&n), "{n} of 10000 at 0.2");
        assert_eq!(a.io_error.as_ref().unwrap().injected, n as u64);
        // Another seed, another sequence.
        let mut c = Faults::default();
        c.set_io_error(0.2, scope("read", None), 8);
        let other: Vec<bool> = (0..10_000)
            .map(|_| c.decide(Op::Read, None, 0).errno.is_some())
            .collect();
        assert_ne!(hits, other);
    }

    #[test]
    fn unselected_operations_neither_fail_nor_draw() {
        let mut a = Faults::default();
        a.set_io_error(1.0, scope("fsync", Some("member/wal/*")), 1);
        assert_eq!(a.decide(Op::Read, Some("member/wal/0.wal"), 0).errno, None);
        assert_eq!(a.decide(Op::Fsync, Some("member/snap/db"), 0).errno, None);
        assert_eq!(a.decide(Op::Fsync, None, 0).errno, None);
        assert_eq!(
            a.decide(Op::Fsync, Some("member/wal/0.wal"), 0).errno,
            Some(libc::EIO)
        );
        assert_eq!(a.io_error.as_ref().unwrap().injected, 1);
    }

    #[test]
    fn delays_stay_within_base_and_jitter_and_follow_the_seed() {
        let base = Duration::from_millis(100);
        let jitter = Duration::from_millis(50);
        assert_eq!(draw_delay(0, base, jitter), base);
        assert_eq!(draw_delay(u64::MAX, base, jitter), base + jitter);
        assert_eq!(draw_delay(u64::MAX, base, Duration::ZERO), base);
        let mut a = Faults::default();
        a.set_io_delay(base, jitter, scope("fsync", None), 3);
        let mut b = a.clone();
        for _ in 0..100 {
            let d = a.decide(Op::Fsync, None, 0).delay.unwrap();
            assert!(d >= base && d <= base + jitter);
            assert_eq!(Some(d), b.decide(Op::Fsync, None, 0).delay);
        }
        assert_eq!(a.decide(Op::Read, None, 0).delay, None);
        assert_eq!(a.io_delay.as_ref().unwrap().delayed, 100);
    }

    #[test]
    fn disk_full_spends_its_budget_then_fails_writes_and_creates() {
        let mut f = Faults::default();
        f.set_disk_full(10);
        assert_eq!(f.decide(Op::Create, None, 0).errno, None);
        assert_eq!(f.decide(Op::Write, None, 6).accept, Some(6));
        // A short write, then ENOSPC.
        assert_eq!(f.decide(Op::Write, None, 6).accept, Some(4));
        assert!(f.disk_is_full());
        assert_eq!(f.decide(Op::Write, None, 1).errno, Some(libc::ENOSPC));
        assert_eq!(f.decide(Op::Create, None, 0).errno, Some(libc::ENOSPC));
        assert_eq!(f.decide(Op::Read, None, 0).errno, None);
        assert_eq!(f.disk_full.as_ref().unwrap().injected, 2);
        f.clear();
        assert_eq!(f.decide(Op::Write, None, 1).errno, None);
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.wal", "0.wal"));
        assert!(!glob_match("*.wal", "wal/0.wal"));
        assert!(glob_match("**/*.wal", "member/wal/0.wal"));
        assert!(glob_match("**/*.wal", "0.wal"));
        assert!(glob_match("member/**", "member/snap/db"));
        assert!(glob_match("member/?nap/db", "member/snap/db"));
        assert!(!glob_match("member/*", "member/snap/db"));
        assert!(glob_match("db/**", "db/sstables/000001.sst"));
        assert!(!glob_match("db", "db2"));
    }

    #[test]
    fn op_sets() {
        let s = OpSet::parse("fsync,read").unwrap();
        assert_eq!(s.names(), vec!["read", "fsync"]);
        assert!(
            OpSet::parse("read,bogus")
                .unwrap_err()
                .contains("unknown operation 'bogus'")
        );
        assert!(OpSet::parse("").is_err());
    }
}
