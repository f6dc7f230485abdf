//! The register workload's room: read, write and compare-and-set on
//! registers, one key per op, every written value unique; checked for
//! linearizability key by key ([`crate::checker`], Knossos and Porcupine's
//! method), anomalies classed `stale-read`, `never-written`,
//! `impossible-cas`.
//!
//! Owns: the op stream ([`OpStream`]: keys rotate, values unique), the
//! request a client runs ([`Request`], [`Completion`]) and their
//! translation to and from the generic op shape, the client-side learning
//! (a CAS expects the last value this client knew), the final reads (one
//! read per touched key), the history lines (chaos's register format,
//! [`crate::history::chaos`]) and the page (the timeline of
//! [`crate::html`]).
//!
//! Pure.

mod stream;

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value as Json, json};

pub use stream::{OpStream, PlannedF, PlannedOp};

use super::{
    Capabilities, CheckInput, Checked, FieldError, Generator, Invocation, Outcome, PageInput,
    StreamSummary, Workload,
};
use crate::checker::{self, CheckOptions};
use crate::experiment::Workload as WorkloadConfig;
use crate::history::{self, Format, HistoryError};
use crate::seed::Seed;

/// The register workload.
pub struct Register;

static CAPS: Capabilities = Capabilities {
    name: "register",
    summary: "read, write and compare-and-set registers, one key per op, unique values",
    ops: &["read", "write", "cas"],
    mix: &[("read", 50), ("write", 30), ("cas", 20)],
    fields: &[],
    models: &[],
    checks: "linearizability, key by key",
    anomalies: &["stale-read", "never-written", "impossible-cas", "other"],
    unit: "op",
    bench: true,
    keys: true,
};

/// A register operation as sent to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Read { key: u64 },
    Write { key: u64, value: u64 },
    Cas { key: u64, expected: u64, new: u64 },
}

impl Request {
    pub fn key(&self) -> u64 {
        match *self {
            Request::Read { key } | Request::Write { key, .. } | Request::Cas { key, .. } => key,
        }
    }

    /// Reads change nothing: a read that did not answer did not happen, as
    /// far as any observer can tell.
    pub fn is_read(&self) -> bool {
        matches!(self, Request::Read { .. })
    }

    /// The request as the generic op shape: `read` (value `null`), `write`
    /// (the value), `cas` (`[expected, new]`), as the history writes them.
    pub fn invocation(&self) -> Invocation {
        match *self {
            Request::Read { key } => Invocation::new("read", Some(key), Json::Null),
            Request::Write { key, value } => Invocation::new("write", Some(key), json!(value)),
            Request::Cas { key, expected, new } => {
                Invocation::new("cas", Some(key), json!([expected, new]))
            }
        }
    }

    /// The request an op asks for; an error names what is wrong with it.
    pub fn from_invocation(op: &Invocation) -> Result<Request, String> {
        let key = op
            .key
            .ok_or_else(|| format!("a register `{}` needs a key", op.f))?;
        let int = |v: &Json| {
            v.as_u64()
                .ok_or_else(|| format!("a register `{}` carries integers, not {v}", op.f))
        };
        match op.f {
            "read" => Ok(Request::Read { key }),
            "write" => Ok(Request::Write {
                key,
                value: int(&op.value)?,
            }),
            "cas" => match op.value.as_array().map(Vec::as_slice) {
                Some([e, n]) => Ok(Request::Cas {
                    key,
                    expected: int(e)?,
                    new: int(n)?,
                }),
                _ => Err(format!(
                    "a register `cas` carries [expected, new], not {}",
                    op.value
                )),
            },
            other => Err(format!("`{other}` is not a register op")),
        }
    }
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// It happened. A read carries the value it saw (`None`: absent).
    Ok { read: Option<u64> },
    /// It definitely did not happen (a CAS whose comparison failed, a
    /// connection refused before anything was sent).
    Fail { error: String },
    /// It may or may not have happened.
    Info { error: String },
}

impl Completion {
    /// The error of a `fail` or `info` completion.
    pub fn error(&self) -> Option<&str> {
        match self {
            Completion::Ok { .. } => None,
            Completion::Fail { error } | Completion::Info { error } => Some(error),
        }
    }

    /// The outcome of a request that got no answer in time.
    pub fn timed_out(request: &Request, timeout: std::time::Duration) -> Completion {
        let error = format!("timed out after {}", crate::duration::format(timeout));
        if request.is_read() {
            Completion::Fail { error }
        } else {
            Completion::Info { error }
        }
    }

    /// The completion as a generic outcome: an ok read's value is what it
    /// read (`null`: absent).
    pub fn outcome(self) -> Outcome {
        match self {
            Completion::Ok { read: Some(v) } => Outcome::Ok(json!(v)),
            Completion::Ok { read: None } => Outcome::Ok(Json::Null),
            Completion::Fail { error } => Outcome::Fail(error),
            Completion::Info { error } => Outcome::Info(error),
        }
    }
}

/// A client's register stream and what it learned: a planned CAS on a key
/// whose value the client does not know yet is a read instead.
struct RegisterGenerator {
    stream: OpStream,
    known: HashMap<u64, u64>,
    touched: BTreeSet<u64>,
}

impl Generator for RegisterGenerator {
    fn next_op(&mut self) -> Invocation {
        let planned = self.stream.next().expect("op streams are endless");
        let key = planned.key;
        self.touched.insert(key);
        let request = match planned.f {
            PlannedF::Read => Request::Read { key },
            PlannedF::Write(value) => Request::Write { key, value },
            // Nothing to compare with yet: read instead.
            PlannedF::Cas(new) => match self.known.get(&key) {
                Some(&expected) => Request::Cas { key, expected, new },
                None => Request::Read { key },
            },
        };
        request.invocation()
    }

    fn observe(&mut self, op: &Invocation, outcome: &Outcome) {
        let (Ok(request), Outcome::Ok(value)) = (Request::from_invocation(op), outcome) else {
            return;
        };
        let key = request.key();
        match request {
            Request::Read { .. } => {
                if let Some(v) = value.as_u64() {
                    self.known.insert(key, v);
                }
            }
            Request::Write { value, .. } => {
                self.known.insert(key, value);
            }
            Request::Cas { new, .. } => {
                self.known.insert(key, new);
            }
        }
    }

    fn touched(&self) -> BTreeSet<u64> {
        self.touched.clone()
    }
}

impl Workload for Register {
    fn caps(&self) -> &'static Capabilities {
        &CAPS
    }

    fn validate(&self, w: &WorkloadConfig) -> Result<(), FieldError> {
        let _ = w;
        Ok(())
    }

    fn generator(&self, w: &WorkloadConfig, seed: Seed, client: u64) -> Box<dyn Generator> {
        Box::new(RegisterGenerator {
            stream: OpStream::new(w, seed, client),
            known: HashMap::new(),
            touched: BTreeSet::new(),
        })
    }

    fn summarize(&self, w: &WorkloadConfig, seed: Seed, client: u64, ops: u64) -> StreamSummary {
        let mut s = StreamSummary::default();
        for (i, op) in OpStream::new(w, seed, client)
            .take(ops as usize)
            .enumerate()
        {
            let f = match op.f {
                PlannedF::Read => "read",
                PlannedF::Write(_) => "write",
                PlannedF::Cas(_) => "cas",
            };
            *s.ops.entry(f.to_string()).or_default() += 1;
            if i == 0 {
                s.first_key = op.key;
            }
            s.first_key = s.first_key.min(op.key);
            s.last_key = s.last_key.max(op.key);
            if i < crate::plan::SHOWN_OPS {
                s.first.push(op.to_string());
            }
        }
        s
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

    fn final_reads(&self, _w: &WorkloadConfig, touched: &BTreeSet<u64>) -> Vec<Invocation> {
        touched
            .iter()
            .map(|&key| Request::Read { key }.invocation())
            .collect()
    }

    fn check(&self, input: &CheckInput<'_>) -> Result<Checked, HistoryError> {
        let history = history::parse(input.history, Format::Chaos)?;
        let options = CheckOptions {
            budget: input.budget,
            threads: input.threads.max(1),
            clock: input.clock.clone(),
            ..CheckOptions::default()
        };
        let report = checker::check(&history, &options);
        Ok(Checked {
            summary: crate::results::build::checker_summary(&report, 0.0),
            ops: history.operations.len(),
        })
    }

    fn page(&self, input: &PageInput<'_>) -> Result<String, HistoryError> {
        let history = match input.history {
            Some(text) => Some(history::parse(text, Format::Chaos)?),
            None => None,
        };
        Ok(crate::html::render_run(&crate::html::RunInput {
            results: input.results,
            history: history.as_ref().map(crate::html::RunHistory::Register),
            plan: input.plan,
            notes: input.notes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_go_to_the_generic_shape_and_back() {
        for r in [
            Request::Read { key: 3 },
            Request::Write { key: 3, value: 9 },
            Request::Cas {
                key: 4,
                expected: 1,
                new: 2,
            },
        ] {
            assert_eq!(Request::from_invocation(&r.invocation()), Ok(r));
        }
        let bad = Invocation::new("cas", Some(1), json!(5));
        assert!(
            Request::from_invocation(&bad)
                .unwrap_err()
                .contains("[expected, new]")
        );
        let keyless = Invocation::new("read", None, Json::Null);
        assert!(Request::from_invocation(&keyless).is_err());
    }

    #[test]
    fn a_cas_expects_what_the_client_last_knew() {
        let text = "name = \"t\"\nduration = \"10s\"\n[cluster]\ncompose_file = \"c.yml\"\n\
                    project = \"p\"\ncomponents = { etcd = [\"e1\"] }\n[workload]\n\
                    client = \"etcd\"\nendpoints = [\"e1\"]\nkeys = 1\nmix = { cas = 1 }\n";
        let e = crate::experiment::parse(text, "t.toml").unwrap().experiment;
        let mut g = Register.generator(&e.workload, Seed(1), 0);
        // Nothing known: the planned CAS is a read.
        let first = g.next_op();
        assert_eq!(first.f, "read");
        g.observe(&first, &Outcome::Ok(json!(7)));
        let second = g.next_op();
        assert_eq!(second.f, "cas");
        assert_eq!(second.value[0], json!(7));
        // The history line of an ok read is the value read; of a write,
        // the value written.
        assert_eq!(Register.completed(&first, &Outcome::Ok(json!(7))), json!(7));
        let w = Request::Write { key: 0, value: 5 }.invocation();
        assert_eq!(Register.completed(&w, &Outcome::Ok(Json::Null)), json!(5));
    }
}
