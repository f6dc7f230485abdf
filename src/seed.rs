//! One seed, named streams: every random choice of a run comes from the run's
//! seed through a ChaCha20 stream named for what it decides (`schedule/0`,
//! `targets/0`, `client/3`).
//!
//! Pure. The stream number is a stable hash (FNV-1a) of the name, so adding a
//! stream never shifts another, and the same seed gives the same choices on
//! every machine and Rust version. Never `thread_rng`: the only entropy that
//! enters chaos is the seed, drawn by the shell when the user gives none.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The seed of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seed(pub u64);

impl Seed {
    /// The random stream for one named purpose.
    pub fn stream(self, name: &str) -> ChaCha20Rng {
        let mut rng = ChaCha20Rng::seed_from_u64(self.0);
        rng.set_stream(fnv1a(name.as_bytes()));
        rng
    }
}

impl std::fmt::Display for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// FNV-1a, 64 bits: small, stable, good enough to name streams.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn draw(seed: u64, name: &str) -> Vec<u64> {
        let mut rng = Seed(seed).stream(name);
        (0..8).map(|_| rng.random()).collect()
    }

    #[test]
    fn same_seed_and_name_same_stream() {
        assert_eq!(draw(7, "schedule/0"), draw(7, "schedule/0"));
    }

    #[test]
    fn names_and_seeds_separate_streams() {
        assert_ne!(draw(7, "schedule/0"), draw(7, "schedule/1"));
        assert_ne!(draw(7, "schedule/0"), draw(8, "schedule/0"));
    }

    #[test]
    fn streams_are_stable_across_builds() {
        // Pinned: if these change, every published seed reruns differently.
        assert_eq!(fnv1a(b"client/0"), 13_121_052_598_969_701_929);
        assert_eq!(
            Seed(42).stream("client/0").random::<u64>(),
            5_910_052_894_900_425_411
        );
    }
}
