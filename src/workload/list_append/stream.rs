//! A list-append client's transaction stream: endless, deterministic,
//! drawn from the seed's stream `client/C`. Pure.

use rand::Rng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::experiment::Workload;
use crate::seed::Seed;

/// One transaction of a list-append client's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedTxn {
    /// Position in this client's stream.
    pub index: u64,
    pub mops: Vec<PlannedMop>,
}

/// One micro-op of a planned transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "f")]
pub enum PlannedMop {
    Read { key: u64 },
    Append { key: u64, value: u64 },
}

impl std::fmt::Display for PlannedTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .mops
            .iter()
            .map(|m| match m {
                PlannedMop::Read { key } => format!("r k{key}"),
                PlannedMop::Append { key, value } => format!("append k{key} {value}"),
            })
            .collect();
        write!(f, "[{}]", parts.join(", "))
    }
}

/// A list-append client's stream of transactions: endless, deterministic,
/// drawn from the stream `client/C` (as register streams are).
///
/// Each transaction has `min..=max` micro-ops; each micro-op reads a list
/// or appends to one, by the mix's `read`/`append` weights. Appended values
/// are unique across the run (client `c` of `n` appends `c + 1`,
/// `c + 1 + n`, ...). Keys rotate as in [`OpStream`]: transaction `i`
/// works on keys of generation `i / gen_len`, chosen so that each key sees
/// about `key_ops` micro-ops over all clients before it retires.
#[derive(Debug, Clone)]
pub struct TxnStream {
    rng: ChaCha20Rng,
    client: u64,
    clients: u64,
    keys: u64,
    gen_len: u64,
    /// The weights of read and append.
    mix: (u64, u64),
    ops: (u64, u64),
    index: u64,
    appends: u64,
}

impl TxnStream {
    pub fn new(workload: &Workload, seed: Seed, client: u64) -> Self {
        let ops = workload.params::<super::Params>().ops_per_txn;
        let mean_ops = (ops.0 + ops.1).div_ceil(2).max(1);
        let gen_len =
            (workload.keys.saturating_mul(workload.key_ops) / (workload.clients * mean_ops)).max(1);
        TxnStream {
            rng: seed.stream(&format!("client/{client}")),
            client,
            clients: workload.clients,
            keys: workload.keys,
            gen_len,
            mix: (workload.weight("read"), workload.weight("append")),
            ops,
            index: 0,
            appends: 0,
        }
    }
}

impl Iterator for TxnStream {
    type Item = PlannedTxn;

    fn next(&mut self) -> Option<PlannedTxn> {
        let generation = self.index / self.gen_len;
        let n = self.rng.random_range(self.ops.0..=self.ops.1);
        let mut mops = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let key = generation * self.keys + self.rng.random_range(0..self.keys);
            let (read, append) = self.mix;
            let pick = self.rng.random_range(0..read + append);
            mops.push(if pick < read {
                PlannedMop::Read { key }
            } else {
                let value = self.client + 1 + self.appends * self.clients;
                self.appends += 1;
                PlannedMop::Append { key, value }
            });
        }
        let txn = PlannedTxn {
            index: self.index,
            mops,
        };
        self.index += 1;
        Some(txn)
    }
}
