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

/// The set of explored configurations. A configuration is (event position,
/// linearized open required ops, state) and the set of optional ops used;
/// configurations are grouped by the first three, and each group keeps the
/// minimal used sets met so far (an antichain). With subsumption, a
/// configuration whose used set contains one already met is known: it has
/// the same required progress and state, and fewer optional ops left.
pub(crate) struct Memo<S> {
    /// Words per group key: the position, then the required bit set.
    width: usize,
    keys: Vec<u64>,
    states: Vec<S>,
    hashes: Vec<u64>,
    /// Group index + 1, or 0 for an empty bucket.
    table: Vec<u32>,
    /// Words of an optional-op set (0: no optional ops).
    info_words: usize,
    /// Per group, its used sets, flattened.
    sets: Vec<Vec<u64>>,
    subsume: bool,
    /// Configurations recorded.
    entries: usize,
    /// Bytes outside the vectors above (boxed states, set vectors).
    heap: usize,
}

impl<S: Hash + Eq + Clone> Memo<S> {
    pub(crate) fn new(words: usize, info_words: usize, subsume: bool) -> Self {
        Memo {
            width: words + 1,
            keys: Vec::new(),
            states: Vec::new(),
            hashes: Vec::new(),
            table: vec![0; 1024],
            info_words,
            sets: Vec::new(),
            subsume,
            entries: 0,
            heap: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    /// Bytes held, approximately.
    pub(crate) fn bytes(&self) -> usize {
        self.keys.capacity() * 8
            + self.states.capacity() * std::mem::size_of::<S>()
            + self.hashes.capacity() * 8
            + self.table.capacity() * 4
            + self.sets.capacity() * std::mem::size_of::<Vec<u64>>()
            + self.heap
    }

    /// Record a configuration; false if it (or, with subsumption, one that
    /// used fewer optional ops) was already there. `heap` is the size of
    /// the state's own allocations, for the memory budget.
    pub(crate) fn insert(
        &mut self,
        pos: u32,
        required: &[u64],
        optional: &[u64],
        state: &S,
        heap: usize,
    ) -> bool {
        debug_assert_eq!(required.len() + 1, self.width);
        debug_assert_eq!(optional.len(), self.info_words);
        let g = self.group(pos, required, state, heap);
        let Some(g) = g else {
            // A new group: this configuration is new.
            self.entries += 1;
            if self.info_words > 0 {
                let set = optional.to_vec();
                self.heap += set.capacity() * 8;
                self.sets.push(set);
            }
            return true;
        };
        if self.info_words == 0 {
            return false;
        }
        let w = self.info_words;
        let sets = &mut self.sets[g];
        let known = sets.chunks_exact(w).any(|s| {
            if self.subsume {
                s.iter().zip(optional).all(|(a, b)| a & !b == 0)
            } else {
                s == optional
            }
        });
        if known {
            return false;
        }
        let before = sets.capacity();
        if self.subsume {
            // Keep the antichain: drop the sets this one is below.
            let mut i = 0;
            while i < sets.len() {
                let s = &sets[i..i + w];
                if optional.iter().zip(s).all(|(a, b)| a & !b == 0) {
                    let end = sets.len();
                    sets.copy_within(end - w..end, i);
                    sets.truncate(end - w);
                } else {
                    i += w;
                }
            }
        }
        sets.extend_from_slice(optional);
        self.heap += (sets.capacity() - before) * 8;
        self.entries += 1;
        true
    }

    /// The group of (pos, required, state): its index, or `None` if it was
    /// just created.
    fn group(&mut self, pos: u32, required: &[u64], state: &S, heap: usize) -> Option<usize> {
        let mut h = FxHasher::default();
        h.add(u64::from(pos));
        for w in required {
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
                self.keys.extend_from_slice(required);
                self.states.push(state.clone());
                self.hashes.push(hash);
                self.heap += heap;
                return None;
            }
            let e = (e - 1) as usize;
            if self.hashes[e] == hash {
                let k = &self.keys[e * self.width..(e + 1) * self.width];
                if k[0] == u64::from(pos) && &k[1..] == required && self.states[e] == *state {
                    return Some(e);
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
        let mut memo: Memo<u32> = Memo::new(2, 0, true);
        for pos in 0..5000u32 {
            assert!(memo.insert(pos, &[u64::from(pos), 7], &[], &(pos % 3), 0));
        }
        for pos in 0..5000u32 {
            assert!(!memo.insert(pos, &[u64::from(pos), 7], &[], &(pos % 3), 0));
            assert!(memo.insert(pos, &[u64::from(pos), 8], &[], &(pos % 3), 0));
            assert!(memo.insert(pos, &[u64::from(pos), 7], &[], &(pos % 3 + 1), 0));
        }
        assert_eq!(memo.len(), 15000);
    }

    #[test]
    fn a_used_set_above_a_known_one_is_known() {
        let mut memo: Memo<u32> = Memo::new(1, 1, true);
        assert!(memo.insert(0, &[1], &[0b0110], &0, 0));
        assert!(!memo.insert(0, &[1], &[0b0110], &0, 0));
        assert!(!memo.insert(0, &[1], &[0b1110], &0, 0));
        assert!(memo.insert(0, &[1], &[0b0011], &0, 0));
        // A smaller set replaces the ones above it.
        assert!(memo.insert(0, &[1], &[0b0010], &0, 0));
        assert!(!memo.insert(0, &[1], &[0b0011], &0, 0));
        assert!(memo.insert(0, &[1], &[0b0001], &0, 0));
        assert!(memo.insert(1, &[1], &[0b0110], &0, 0));
        let mut exact: Memo<u32> = Memo::new(1, 1, false);
        assert!(exact.insert(0, &[1], &[0b0110], &0, 0));
        assert!(exact.insert(0, &[1], &[0b1110], &0, 0));
        assert!(!exact.insert(0, &[1], &[0b1110], &0, 0));
    }
}
