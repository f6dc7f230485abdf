//! Clients: one per process. A client turns a register op, or a list-append
//! transaction, into requests to the database and the response into `ok`
//! (it happened), `fail` (it definitely did not happen) or `info` (it may
//! have happened: a timeout, a connection lost after the request was sent).
//!
//! Shell: clients do network IO. They know their target's protocol and how
//! its errors map to outcomes; they know nothing of plans, faults or the
//! checker. Adapters: [`etcd`], [`surreal`]. Dispatch is an enum, not a trait object, so
//! that async calls need no boxing.

pub mod etcd;
pub mod pd;
pub mod surreal;

use std::time::Duration;

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
    pub fn timed_out(request: &Request, timeout: Duration) -> Completion {
        let error = format!("timed out after {}", crate::duration::format(timeout));
        if request.is_read() {
            Completion::Fail { error }
        } else {
            Completion::Info { error }
        }
    }
}

/// One micro-op of a list-append transaction as sent to the database:
/// read a list, or append a value to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnMop {
    Read { key: u64 },
    Append { key: u64, value: u64 },
}

impl TxnMop {
    pub fn key(&self) -> u64 {
        match *self {
            TxnMop::Read { key } | TxnMop::Append { key, .. } => key,
        }
    }
}

/// Is a transaction read-only (so that one that did not answer did not
/// happen)?
pub fn read_only(mops: &[TxnMop]) -> bool {
    mops.iter().all(|m| matches!(m, TxnMop::Read { .. }))
}

/// What became of a list-append transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnCompletion {
    /// It committed: `reads[i]` is the list the i-th micro-op read (`None`
    /// for an append).
    Ok { reads: Vec<Option<Vec<u64>>> },
    /// It definitely did not commit (a conflict, a failed guard, a
    /// read-only transaction that got no answer).
    Fail { error: String },
    /// It may or may not have committed.
    Info { error: String },
}

impl TxnCompletion {
    /// The outcome of a transaction that got no answer in time.
    pub fn timed_out(mops: &[TxnMop], timeout: Duration) -> TxnCompletion {
        let error = format!("timed out after {}", crate::duration::format(timeout));
        if read_only(mops) {
            TxnCompletion::Fail { error }
        } else {
            TxnCompletion::Info { error }
        }
    }
}

/// A connected client of one of the supported targets.
#[derive(Debug, Clone)]
pub enum AnyClient {
    Etcd(etcd::EtcdClient),
    Surreal(surreal::SurrealClient),
}

impl AnyClient {
    /// Send one request and classify the answer. Never takes longer than the
    /// client's timeout (plus scheduling noise).
    pub async fn invoke(&self, request: &Request) -> Completion {
        match self {
            AnyClient::Etcd(c) => c.invoke(request).await,
            AnyClient::Surreal(c) => c.invoke(request).await,
        }
    }

    /// Run one list-append transaction and classify the answer; never
    /// takes much longer than the client's timeout.
    pub async fn txn(&self, mops: &[TxnMop]) -> TxnCompletion {
        match self {
            AnyClient::Etcd(c) => c.txn(mops).await,
            AnyClient::Surreal(c) => c.txn(mops).await,
        }
    }
}
