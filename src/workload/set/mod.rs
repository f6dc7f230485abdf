//! The set workload's room (Jepsen's set-full): each client adds unique
//! elements to one set; reads read the whole set during the run, and a
//! final read reads it once more after the recovery. Each element gets a
//! fate by the one definition of [`crate::workload::lost`]: ok, lost
//! (acknowledged, then missing for good: an anomaly under every model),
//! stale (missing from a read that began after it was known, present
//! later: an anomaly where real-time order is promised), never read; and
//! an element no add ever attempted, or whose add failed, read anyway, is
//! unexpected. The latency from an add's acknowledgement to the read from
//! which it is always seen is measured.
//!
//! Owns: the op stream (`add`, `read`), the ops' values, the final read,
//! the checker ([`check`]) and the page ([`view`]). Models:
//! `strict-serializable` (the default: stale elements are anomalies) and
//! `serializable` (stale elements are listed, allowed).
//!
//! Pure.

mod check;
mod view;

use std::collections::BTreeSet;

use rand::Rng;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value as Json, json};

use super::{
    Capabilities, CheckInput, Checked, Generator, Invocation, Outcome, PageInput, StreamSummary,
    Workload,
};
use crate::experiment::Workload as WorkloadConfig;
use crate::history::HistoryError;
use crate::seed::Seed;

/// The set workload.
pub struct Set;

static CAPS: Capabilities = Capabilities {
    name: "set",
    summary: "unique adds to one set, reads of the whole set, a final read: lost, stale and unexpected elements",
    ops: &["add", "read"],
    mix: &[("add", 80), ("read", 20)],
    fields: &[],
    models: &["strict-serializable", "serializable"],
    checks: "every acknowledged element in every later read (set-full)",
    anomalies: &["lost", "stale", "unexpected"],
    unit: "op",
    bench: false,
    keys: false,
};

/// What a set op asks a client to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// Add this element (unique over the run).
    Add(u64),
    /// Read every element.
    Read,
}

impl SetOp {
    /// The op an invocation asks for; an error says what is wrong with it.
    pub fn of(op: &Invocation) -> Result<SetOp, String> {
        match op.f {
            "add" => op.value.as_u64().map(SetOp::Add).ok_or_else(|| {
                format!(
                    "a set `add` carries an element (a whole number), not {}",
                    op.value
                )
            }),
            "read" => Ok(SetOp::Read),
            other => Err(format!("`{other}` is not a set op")),
        }
    }
}

/// The outcome of an ok read: the elements it saw, in increasing order.
pub fn read_outcome(mut elements: Vec<u64>) -> Outcome {
    elements.sort_unstable();
    elements.dedup();
    Outcome::Ok(json!(elements))
}

struct SetGenerator {
    rng: ChaCha20Rng,
    client: u64,
    clients: u64,
    adds: u64,
    add: u64,
    read: u64,
}

impl Generator for SetGenerator {
    fn next_op(&mut self) -> Invocation {
        let pick = self.rng.random_range(0..self.add + self.read);
        if pick < self.add {
            // Unique over the run: client c of n adds c + 1, c + 1 + n, ...
            let e = self.client + 1 + self.adds * self.clients;
            self.adds += 1;
            Invocation::new("add", None, json!(e))
        } else {
            Invocation::new("read", None, Json::Null)
        }
    }

    fn touched(&self) -> BTreeSet<u64> {
        BTreeSet::new()
    }
}

impl Workload for Set {
    fn caps(&self) -> &'static Capabilities {
        &CAPS
    }

    fn generator(&self, w: &WorkloadConfig, seed: Seed, client: u64) -> Box<dyn Generator> {
        Box::new(SetGenerator {
            rng: seed.stream(&format!("client/{client}")),
            client,
            clients: w.clients,
            adds: 0,
            add: w.weight("add"),
            read: w.weight("read"),
        })
    }

    fn summarize(&self, w: &WorkloadConfig, seed: Seed, client: u64, ops: u64) -> StreamSummary {
        let mut s = StreamSummary::default();
        let mut g = self.generator(w, seed, client);
        for i in 0..ops {
            let op = g.next_op();
            *s.ops.entry(op.f.to_string()).or_default() += 1;
            if (i as usize) < crate::plan::SHOWN_OPS {
                s.first.push(match op.f {
                    "add" => format!("add {}", op.value),
                    _ => "read".into(),
                });
            }
        }
        s
    }

    fn describe(&self, w: &WorkloadConfig, model: Option<&str>) -> Option<String> {
        Some(format!(
            "set: unique adds (add {}, read {}) and a final read after the recovery; held to {} \
             (lost and unexpected elements are anomalies under every model{})",
            w.weight("add"),
            w.weight("read"),
            model.unwrap_or("strict-serializable"),
            if model == Some("serializable") {
                "; stale ones are listed, allowed"
            } else {
                ", stale ones too"
            }
        ))
    }

    fn read_only(&self, op: &Invocation) -> bool {
        op.f == "read"
    }

    fn completed(&self, op: &Invocation, outcome: &Outcome) -> Json {
        match (op.f, outcome) {
            ("read", Outcome::Ok(v)) => v.clone(),
            _ => op.value.clone(),
        }
    }

    fn final_reads(&self, _w: &WorkloadConfig, _touched: &BTreeSet<u64>) -> Vec<Invocation> {
        vec![Invocation::new("read", None, Json::Null)]
    }

    fn check(&self, input: &CheckInput<'_>) -> Result<Checked, HistoryError> {
        check::check(
            input.history,
            input.model != Some("serializable"),
            input.max_cases,
        )
        .map(|mut c| {
            c.summary.model = Some(input.model.unwrap_or("strict-serializable").to_string());
            c
        })
    }

    fn page(&self, input: &PageInput<'_>) -> Result<String, HistoryError> {
        view::page(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_unique_over_the_clients() {
        let text = "name = \"t\"\nduration = \"10s\"\n[cluster]\ncompose_file = \"c.yml\"\n\
                    project = \"p\"\ncomponents = { etcd = [\"e1\"] }\n[workload]\nkind = \"set\"\n\
                    client = \"etcd\"\nendpoints = [\"e1\"]\nclients = 3\n";
        let e = crate::experiment::parse(text, "t.toml").unwrap().experiment;
        let mut seen = BTreeSet::new();
        for c in 0..3 {
            let mut g = Set.generator(&e.workload, Seed(4), c);
            for _ in 0..200 {
                let op = g.next_op();
                match SetOp::of(&op).unwrap() {
                    SetOp::Add(v) => assert!(seen.insert(v), "{v} twice"),
                    SetOp::Read => assert!(Set.read_only(&op)),
                }
            }
        }
        assert!(seen.len() > 300);
        assert!(SetOp::of(&Invocation::new("add", None, json!("x"))).is_err());
        assert_eq!(read_outcome(vec![3, 1, 3]), Outcome::Ok(json!([1, 3])));
    }
}
