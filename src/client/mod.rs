//! Clients: one per process. A client turns a register op, or a list-append
//! transaction, into requests to the database and the response into `ok`
//! (it happened), `fail` (it definitely did not happen) or `info` (it may
//! have happened: a timeout, a connection lost after the request was sent).
//!
//! Shell: clients do network IO. They know their target's protocol and how
//! its errors map to outcomes; they know nothing of plans, faults or the
//! checker. Adapters: [`etcd`], [`surreal`], [`postgres`], and [`process`]
//! (a program of the user's that speaks chaos's JSON-lines protocol).
//! Dispatch is an enum, not a trait object, so
//! that async calls need no boxing. Each client declares the workloads
//! whose ops it serves ([`crate::experiment::ClientKind::serves`]); [`AnyClient::call`] takes an op in the
//! generic shape of [`crate::workload::op`] and hands it, decoded into the
//! room's own types, to the client's code for that workload.

pub mod etcd;
pub mod pd;
pub mod postgres;
pub mod process;
pub mod surreal;

pub use crate::workload::list_append::{TxnCompletion, TxnMop, read_only};
pub use crate::workload::register::{Completion, Request};
use crate::workload::{Invocation, Outcome, list_append};

/// A connected client of one of the supported targets.
#[derive(Debug, Clone)]
pub enum AnyClient {
    Etcd(etcd::EtcdClient),
    Surreal(surreal::SurrealClient),
    /// One client on a run's shared adapter process.
    Process(process::ProcessClient),
    Postgres(std::sync::Arc<postgres::PgClient>),
}

impl AnyClient {
    /// Send one request and classify the answer. Never takes longer than the
    /// client's timeout (plus scheduling noise).
    pub async fn invoke(&self, request: &Request) -> Completion {
        match self {
            AnyClient::Etcd(c) => c.invoke(request).await,
            AnyClient::Surreal(c) => c.invoke(request).await,
            AnyClient::Process(c) => {
                let outcome = c.call("register", &request.invocation()).await;
                completion_of(outcome)
            }
            AnyClient::Postgres(c) => c.invoke(request).await,
        }
    }

    /// Run one list-append transaction and classify the answer; never
    /// takes much longer than the client's timeout.
    pub async fn txn(&self, mops: &[TxnMop]) -> TxnCompletion {
        match self {
            AnyClient::Etcd(c) => c.txn(mops).await,
            AnyClient::Surreal(c) => c.txn(mops).await,
            AnyClient::Process(c) => {
                let op = list_append::invocation(mops);
                match c.call("list-append", &op).await {
                    Outcome::Ok(v) => TxnCompletion::Ok {
                        reads: txn_reads(&v),
                    },
                    Outcome::Fail(error) => TxnCompletion::Fail { error },
                    Outcome::Info(error) => TxnCompletion::Info { error },
                }
            }
            AnyClient::Postgres(c) => c.txn(mops).await,
        }
    }

    /// Run one op of the workload `workload` (a room's name) and classify
    /// the answer. An op the client cannot decode, or a workload it does
    /// not serve, is a `fail` that says why (the validator refuses such
    /// pairs before a run, [`crate::experiment::ClientKind::serves`]).
    pub async fn call(&self, workload: &str, op: &Invocation) -> Outcome {
        if let AnyClient::Process(c) = self {
            // The adapter takes ops in the generic shape, as they are.
            return c.call(workload, op).await;
        }
        match workload {
            "register" => match Request::from_invocation(op) {
                Ok(request) => self.invoke(&request).await.outcome(),
                Err(e) => Outcome::Fail(format!("not run: {e}")),
            },
            "list-append" => match list_append::mops_of(op) {
                Ok(mops) => self.txn(&mops).await.outcome(&mops),
                Err(e) => Outcome::Fail(format!("not run: {e}")),
            },
            "bank" => match crate::workload::bank::BankOp::of(op) {
                Ok(bank_op) => match self {
                    AnyClient::Etcd(c) => c.bank(&bank_op).await,
                    AnyClient::Surreal(c) => c.bank(&bank_op).await,
                    AnyClient::Process(c) => c.call("bank", op).await,
                    AnyClient::Postgres(c) => c.bank(&bank_op).await,
                },
                Err(e) => Outcome::Fail(format!("not run: {e}")),
            },
            "set" => match crate::workload::set::SetOp::of(op) {
                Ok(set_op) => match self {
                    AnyClient::Etcd(c) => c.set(&set_op).await,
                    AnyClient::Surreal(c) => c.set(&set_op).await,
                    AnyClient::Process(c) => c.call("set", op).await,
                    AnyClient::Postgres(c) => c.set(&set_op).await,
                },
                Err(e) => Outcome::Fail(format!("not run: {e}")),
            },
            other => not_served(other),
        }
    }

    /// The service that serves `op` of `workload` when it is not the
    /// client's own endpoint: a PostgreSQL register read sent to its read
    /// endpoint (a replica). The history labels the op with it.
    pub fn node_of(&self, workload: &str, op: &Invocation) -> Option<&str> {
        match self {
            AnyClient::Postgres(c) if workload == "register" && op.f == "read" => c.read_node(),
            _ => None,
        }
    }

    /// Why chaos stopped trusting this client's adapter (a process client
    /// whose adapter broke the protocol), if it did: the run then ends in
    /// an error, never a verdict.
    pub fn fatal(&self) -> Option<String> {
        match self {
            AnyClient::Process(c) => c.adapter.fatal(),
            _ => None,
        }
    }
}

/// A register op's outcome as a [`Completion`].
fn completion_of(outcome: Outcome) -> Completion {
    match outcome {
        Outcome::Ok(v) => Completion::Ok { read: v.as_u64() },
        Outcome::Fail(error) => Completion::Fail { error },
        Outcome::Info(error) => Completion::Info { error },
    }
}

/// What each micro-op of an ok transaction read (`None` for an append),
/// from its value in the history's shape.
fn txn_reads(value: &serde_json::Value) -> Vec<Option<Vec<u64>>> {
    value
        .as_array()
        .map(|mops| {
            mops.iter()
                .map(|m| match (m[0].as_str(), m[2].as_array()) {
                    (Some("r"), Some(l)) => Some(l.iter().filter_map(|x| x.as_u64()).collect()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The outcome of an op of a workload the client does not serve.
fn not_served(workload: &str) -> Outcome {
    Outcome::Fail(format!("not run: this client does not serve `{workload}`"))
}
