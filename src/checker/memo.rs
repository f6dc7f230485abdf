//! The search's memory of configurations it has already explored: an
//! open-addressing hash set of (event position, linearized-set bits, model
//! state), stored flat so that millions of entries stay compact.
//!
//! Exact: entries are compared in full, the hash only picks the bucket.
//! Pure; knows nothing of models beyond `Hash + Eq`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A `HashMap` with [`FxHasher`]: for interning ids inside the checker,
/// where keys are not attacker-chosen in any way that matters.
pub(crate) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A fast, non-cryptographic hasher (the Fx multiply-rotate).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for b in chunks.remainder() {
            self.add(u64::from(*b));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// The set of explored configurations.
pub(crate) struct Memo<S> {
    /// Words per entry: the position, then the bit set.
    width: usize,
    keys: Vec<u64>,
    states: Vec<S>,
    hashes: Vec<u64>,
    /// Entry index + 1, or 0 for an empty bucket.
    table: Vec<u32>,
    /// Bytes of state data outside `states` (boxed states), estimated.
    state_heap: usize,
}

impl<S: Hash + Eq + Clone> Memo<S> {
    pub(crate) fn new(words: usize) -> Self {
        Memo {
            width: words + 1,
            keys: Vec::new(),
            states: Vec::new(),
            hashes: Vec::new(),
            table: vec![0; 1024],
            state_heap: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    /// Bytes held, approximately.
    pub(crate) fn bytes(&self) -> usize {
        self.keys.capacity() * 8
            + self.states.capacity() * std::mem::size_of::<S>()
            + self.hashes.capacity() * 8
            + self.table.capacity() * 4
            + self.state_heap
    }

    /// Add a configuration; false if it was already there. `heap` is the
    /// size of the state's own allocations, for the memory budget.
    pub(crate) fn insert(&mut self, pos: u32, mask: &[u64], state: &S, heap: usize) -> bool {
        debug_assert_eq!(mask.len() + 1, self.width);
        let mut h = FxHasher::default();
        h.add(u64::from(pos));
        for w in mask {
            h.add(*w);
        }
        state.hash(&mut h);
        let hash = mix(h.finish());
        if (self.states.len() + 1) * 2 > self.table.len() {
            self.grow();
        }
        let m = self.table.len() - 1;
        let mut i = (hash as usize) & m;
        loop {
            let e = self.table[i];
            if e == 0 {
                self.table[i] = self.states.len() as u32 + 1;
                self.keys.push(u64::from(pos));
                self.keys.extend_from_slice(mask);
                self.states.push(state.clone());
                self.hashes.push(hash);
                self.state_heap += heap;
                return true;
            }
            let e = (e - 1) as usize;
            if self.hashes[e] == hash {
                let k = &self.keys[e * self.width..(e + 1) * self.width];
                if k[0] == u64::from(pos) && &k[1..] == mask && self.states[e] == *state {
                    return false;
                }
            }
            i = (i + 1) & m;
        }
    }

    fn grow(&mut self) {
        let size = self.table.len() * 2;
        let mut table = vec![0u32; size];
        let m = size - 1;
        for (e, hash) in self.hashes.iter().enumerate() {
            let mut i = (*hash as usize) & m;
            while table[i] != 0 {
                i = (i + 1) & m;
            }
            table[i] = e as u32 + 1;
        }
        self.table = table;
    }
}

/// Spread the hash over all bits (the low bits pick the bucket).
#[inline]
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_exactly_what_was_inserted() {
        let mut memo: Memo<u32> = Memo::new(2);
        for pos in 0..5000u32 {
            assert!(memo.insert(pos, &[u64::from(pos), 7], &(pos % 3), 0));
        }
        for pos in 0..5000u32 {
            assert!(!memo.insert(pos, &[u64::from(pos), 7], &(pos % 3), 0));
            assert!(memo.insert(pos, &[u64::from(pos), 8], &(pos % 3), 0));
            assert!(memo.insert(pos, &[u64::from(pos), 7], &(pos % 3 + 1), 0));
        }
        assert_eq!(memo.len(), 15000);
    }
}
