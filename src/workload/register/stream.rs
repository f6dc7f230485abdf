//! A register client's op stream: endless, deterministic, drawn from the
//! seed's stream `client/C`. Pure.

use rand::Rng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::experiment::Workload;
use crate::seed::Seed;

/// One op of a client's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlannedOp {
    /// Position in this client's stream.
    pub index: u64,
    pub key: u64,
    pub f: PlannedF,
}

/// What an op does. A CAS's expected value is the last value this client
/// saw on the key, known only at run time; its new value is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "f", content = "value")]
pub enum PlannedF {
    Read,
    Write(u64),
    Cas(u64),
}

impl std::fmt::Display for PlannedOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.f {
            PlannedF::Read => write!(f, "read k{}", self.key),
            PlannedF::Write(v) => write!(f, "write k{}={v}", self.key),
            PlannedF::Cas(v) => write!(f, "cas k{}->{v}", self.key),
        }
    }
}

/// A client's op stream: an endless, deterministic sequence drawn from the
/// stream `client/C`.
///
/// Values written (by write or CAS) are unique across the whole run:
/// client `c` of `n` writes `c + 1`, `c + 1 + n`, `c + 1 + 2n`, ... so a read
/// names the one write it saw. Keys rotate: client `c`'s op `i` works on a
/// key of generation `i / gen_len`, where `gen_len` is chosen so that each
/// key sees about `key_ops` ops over all clients before it retires.
#[derive(Debug, Clone)]
pub struct OpStream {
    rng: ChaCha20Rng,
    client: u64,
    clients: u64,
    keys: u64,
    gen_len: u64,
    /// The weights of read, write and cas.
    mix: (u64, u64, u64),
    index: u64,
    writes: u64,
}

impl OpStream {
    pub fn new(workload: &Workload, seed: Seed, client: u64) -> Self {
        let gen_len = (workload.keys.saturating_mul(workload.key_ops) / workload.clients).max(1);
        OpStream {
            rng: seed.stream(&format!("client/{client}")),
            client,
            clients: workload.clients,
            keys: workload.keys,
            gen_len,
            mix: (
                workload.weight("read"),
                workload.weight("write"),
                workload.weight("cas"),
            ),
            index: 0,
            writes: 0,
        }
    }

    fn next_value(&mut self) -> u64 {
        let v = self.client + 1 + self.writes * self.clients;
        self.writes += 1;
        v
    }
}

impl Iterator for OpStream {
    type Item = PlannedOp;

    fn next(&mut self) -> Option<PlannedOp> {
        let generation = self.index / self.gen_len;
        let slot = self.rng.random_range(0..self.keys);
        let key = generation * self.keys + slot;
        let (read, write, cas) = self.mix;
        let pick = self.rng.random_range(0..read + write + cas);
        let f = if pick < read {
            PlannedF::Read
        } else if pick < read + write {
            PlannedF::Write(self.next_value())
        } else {
            PlannedF::Cas(self.next_value())
        };
        let op = PlannedOp {
            index: self.index,
            key,
            f,
        };
        self.index += 1;
        Some(op)
    }
}
