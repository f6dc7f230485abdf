//! The SurrealDB adapter, with the `surrealdb` crate over WebSocket (no
//! database core compiled in).
//!
//! Registers are records of one table (`register` by default) in namespace
//! and database `main` (SurrealDB's defaults: on a fresh store they get the
//! ids 0 and 0, which is how the PD resolver finds the table's region).
//! Register `k` of a run is `register:⟨<prefix>k<k>⟩`, and the prefix is
//! unique per run, so every run starts from absent registers. Read: `SELECT VALUE v FROM <id>`. Write: `UPSERT <id> SET v =
//! $v`. Compare-and-set: `UPDATE <id> SET v = $new WHERE v = $old RETURN
//! VALUE v`, whose empty answer means the comparison failed (`UPDATE` never
//! creates a record).
//!
//! Every call runs under the client's timeout: the WebSocket engine has no
//! per-request timeout and keeps reconnecting while its node is down. It
//! replays sign-in and `USE` on reconnect, so a client outlives a kill of its
//! node.
//!
//! Classification ([`classify`], the rule in docs/checker.md): a read that
//! did not answer is `fail` (a read changes nothing); a write or CAS is
//! `fail` only when the error proves nothing was applied (a transaction
//! conflict, or a refusal answered before anything was written:
//! [`proves_not_applied`]) and `info` otherwise: a timeout, a connection
//! error, `NotExecuted`, `Internal`, an answer the SDK could not decode
//! (with TiKV's async commit a commit can report failure and still be
//! applied).
//!
//! Shell: network IO only; nothing here knows plans, faults or the checker.

use std::time::Duration;

use surrealdb::Surreal;
use surrealdb::engine::remote::ws::{Client, Ws};
use surrealdb::opt::auth::Root;
use surrealdb::types::{ErrorDetails, QueryError};

use super::{Completion, Request, TxnCompletion, TxnMop};

mod bank;
mod set;

/// Where registers live and how to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurrealConfig {
    pub namespace: String,
    pub database: String,
    pub table: String,
    pub username: String,
    pub password: String,
    /// Every call (connect, sign-in, query) runs under this.
    pub timeout: Duration,
}

impl SurrealConfig {
    /// The defaults: namespace and database `main`, table `register`, the
    /// compose files' root user.
    pub fn new(timeout: Duration) -> SurrealConfig {
        SurrealConfig {
            namespace: "main".into(),
            database: "main".into(),
            table: "register".into(),
            username: "root".into(),
            password: "root".into(),
            timeout,
        }
    }
}

/// Why setting up a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum SurrealSetupError {
    #[error("no answer from SurrealDB at {address} within {timeout}")]
    Timeout { address: String, timeout: String },
    #[error("SurrealDB at {address}: {step}: {message}")]
    Failed {
        address: String,
        step: &'static str,
        message: String,
    },
}

/// A signed-in connection to one SurrealDB node, using the namespace and
/// database of its config.
#[derive(Debug, Clone)]
pub struct SurrealClient {
    db: Surreal<Client>,
    table: String,
    prefix: String,
    timeout: Duration,
}

impl SurrealClient {
    /// Connect to `address` (`127.0.0.1:PORT`, the node's published port)
    /// and sign in as root. Run [`SurrealClient::define`] once first so the
    /// namespace, database and table exist. `prefix` names this run's
    /// registers; only `[A-Za-z0-9_-]` are kept from it.
    pub async fn connect(
        address: &str,
        prefix: &str,
        config: &SurrealConfig,
    ) -> Result<SurrealClient, SurrealSetupError> {
        let db = open(address, config).await?;
        use_db(address, config, &db).await?;
        Ok(SurrealClient {
            db,
            table: config.table.clone(),
            prefix: sanitize(prefix),
            timeout: config.timeout,
        })
    }

    /// Define the namespace, database, register table and list table if
    /// they do not exist (SurrealDB 3 refuses to use undefined ones).
    /// Idempotent.
    pub async fn define(address: &str, config: &SurrealConfig) -> Result<(), SurrealSetupError> {
        let db = session(address, config).await?;
        let text = format!(
            "DEFINE TABLE IF NOT EXISTS {} SCHEMALESS; DEFINE TABLE IF NOT EXISTS {LIST_TABLE} SCHEMALESS; \
             DEFINE TABLE IF NOT EXISTS {} SCHEMALESS; DEFINE TABLE IF NOT EXISTS {} SCHEMALESS; \
             DEFINE INDEX IF NOT EXISTS element_r ON {} FIELDS r;",
            ident(&config.table),
            bank::BANK_TABLE,
            set::SET_TABLE,
            set::SET_TABLE
        );
        run_setup(address, config, &db, "DEFINE TABLE", text).await
    }

    /// The same connection with another per-call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> SurrealClient {
        self.timeout = timeout;
        self
    }

    fn record(&self, key: u64) -> String {
        format!("{}:⟨{}k{key}⟩", ident(&self.table), self.prefix)
    }

    /// List `key` of a list-append run: `list:⟨<prefix>k<key>⟩`, its list
    /// in field `v`.
    fn list_record(&self, key: u64) -> String {
        format!("{LIST_TABLE}:⟨{}k{key}⟩", self.prefix)
    }

    /// Run one list-append transaction as one SurrealQL transaction:
    ///
    /// ```text
    /// BEGIN TRANSACTION;
    /// SELECT VALUE v FROM list:⟨...k3⟩;                                  -- read
    /// UPSERT list:⟨...k4⟩ SET v = array::append(v ?? [], $a1) RETURN NONE; -- append
    /// COMMIT TRANSACTION;
    /// ```
    ///
    /// The answer has a result per statement, and every one is checked,
    /// not only the call: a call can succeed while a statement, or the
    /// commit, failed. An error that proves nothing was applied (a
    /// conflict, a refusal: [`proves_not_applied`]) makes it `fail`, as
    /// does any error of a read-only transaction; any other error `info`.
    pub async fn txn(&self, mops: &[TxnMop]) -> TxnCompletion {
        match tokio::time::timeout(self.timeout, self.txn_call(mops)).await {
            Err(_) => TxnCompletion::timed_out(mops, self.timeout),
            Ok(Ok(c)) => c,
            Ok(Err(e)) => classify_txn(mops, &[e]),
        }
    }

    async fn txn_call(&self, mops: &[TxnMop]) -> Result<TxnCompletion, surrealdb::Error> {
        let mut text = String::from("BEGIN TRANSACTION;\n");
        for (i, m) in mops.iter().enumerate() {
            match *m {
                TxnMop::Read { key } => {
                    text.push_str(&format!("SELECT VALUE v FROM {};\n", self.list_record(key)));
                }
                TxnMop::Append { key, .. } => text.push_str(&format!(
                    "UPSERT {} SET v = array::append(v ?? [], $a{i}) RETURN NONE;\n",
                    self.list_record(key)
                )),
            }
        }
        text.push_str("COMMIT TRANSACTION;");
        let mut query = self.db.query(text);
        for (i, m) in mops.iter().enumerate() {
            if let TxnMop::Append { value, .. } = *m {
                query = query.bind((format!("a{i}"), value as i64));
            }
        }
        let mut response = query.await?;
        let errors = response.take_errors();
        if !errors.is_empty() {
            let mut errors: Vec<(usize, surrealdb::Error)> = errors.into_iter().collect();
            errors.sort_by_key(|(i, _)| *i);
            let errors: Vec<surrealdb::Error> = errors.into_iter().map(|(_, e)| e).collect();
            return Ok(classify_txn(mops, &errors));
        }
        // Statement 0 is BEGIN; micro-op i is statement i + 1.
        let mut reads = Vec::with_capacity(mops.len());
        for (i, m) in mops.iter().enumerate() {
            reads.push(match m {
                TxnMop::Read { .. } => {
                    let lists: Vec<Option<Vec<i64>>> = response.take(i + 1)?;
                    Some(list_value(&lists)?)
                }
                TxnMop::Append { .. } => None,
            });
        }
        Ok(TxnCompletion::Ok { reads })
    }

    /// Send one request and classify the answer; never takes much longer
    /// than the timeout.
    pub async fn invoke(&self, request: &Request) -> Completion {
        match tokio::time::timeout(self.timeout, self.call(request)).await {
            Err(_) => Completion::timed_out(request, self.timeout),
            Ok(Ok(completion)) => completion,
            Ok(Err(e)) => classify(request, &e),
        }
    }

    async fn call(&self, request: &Request) -> Result<Completion, surrealdb::Error> {
        match *request {
            Request::Read { key } => {
                let mut r = self
                    .db
                    .query(format!("SELECT VALUE v FROM {}", self.record(key)))
                    .await?;
                let values: Vec<i64> = r.take(0)?;
                Ok(Completion::Ok {
                    read: register_value(&values)?,
                })
            }
            Request::Write { key, value } => {
                let mut r = self
                    .db
                    .query(format!(
                        "UPSERT {} SET v = $v RETURN NONE",
                        self.record(key)
                    ))
                    .bind(("v", value as i64))
                    .await?;
                let _: Vec<surrealdb::types::Value> = r.take(0)?;
                Ok(Completion::Ok { read: None })
            }
            Request::Cas { key, expected, new } => {
                let mut r = self
                    .db
                    .query(format!(
                        "UPDATE {} SET v = $new WHERE v = $old RETURN VALUE v",
                        self.record(key)
                    ))
                    .bind(("new", new as i64))
                    .bind(("old", expected as i64))
                    .await?;
                let after: Vec<i64> = r.take(0)?;
                Ok(if after.is_empty() {
                    Completion::Fail {
                        error: format!("compare failed: the register did not hold {expected}"),
                    }
                } else {
                    Completion::Ok { read: None }
                })
            }
        }
    }
}

/// A signed-in connection to `address` using the config's namespace and
/// database, both defined first if they do not exist.
pub async fn session(
    address: &str,
    config: &SurrealConfig,
) -> Result<Surreal<Client>, SurrealSetupError> {
    let db = open(address, config).await?;
    let text = format!(
        "DEFINE NAMESPACE IF NOT EXISTS {ns}; USE NS {ns}; DEFINE DATABASE IF NOT EXISTS {db};",
        ns = ident(&config.namespace),
        db = ident(&config.database),
    );
    run_setup(address, config, &db, "DEFINE NAMESPACE/DATABASE", text).await?;
    use_db(address, config, &db).await?;
    Ok(db)
}

/// `USE` the config's namespace and database (replayed on reconnects).
async fn use_db(
    address: &str,
    config: &SurrealConfig,
    db: &Surreal<Client>,
) -> Result<(), SurrealSetupError> {
    within(address, config.timeout, async {
        db.use_ns(config.namespace.clone())
            .use_db(config.database.clone())
            .await
    })
    .await?
    .map(|_| ())
    .map_err(failed(address, "USE"))
}

/// A set-up error of `step` at `address`.
fn failed(address: &str, step: &'static str) -> impl Fn(surrealdb::Error) -> SurrealSetupError {
    let address = address.to_string();
    move |e| SurrealSetupError::Failed {
        address: address.clone(),
        step,
        message: e.to_string(),
    }
}

/// Run set-up statements; every statement must succeed.
async fn run_setup(
    address: &str,
    config: &SurrealConfig,
    db: &Surreal<Client>,
    step: &'static str,
    text: String,
) -> Result<(), SurrealSetupError> {
    within(address, config.timeout, async {
        db.query(text).await.and_then(|r| r.check()).map(|_| ())
    })
    .await?
    .map_err(failed(address, step))
}

/// Connect and sign in, under the timeout.
async fn open(address: &str, config: &SurrealConfig) -> Result<Surreal<Client>, SurrealSetupError> {
    within(address, config.timeout, async {
        let db = Surreal::new::<Ws>(address)
            .await
            .map_err(failed(address, "connect"))?;
        db.signin(Root {
            username: config.username.clone(),
            password: config.password.clone(),
        })
        .await
        .map_err(failed(address, "sign in"))?;
        Ok(db)
    })
    .await?
}

async fn within<T>(
    address: &str,
    timeout: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, SurrealSetupError> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| SurrealSetupError::Timeout {
            address: address.to_string(),
            timeout: crate::duration::format(timeout),
        })
}

/// The table of list-append runs' lists.
pub const LIST_TABLE: &str = "list";

/// The table a workload's ops use (the TiKV region whose leader is that
/// workload's `leader` role).
pub fn table_of<'a>(workload: &str, config: &'a SurrealConfig) -> &'a str {
    match workload {
        "list-append" => LIST_TABLE,
        "bank" => bank::BANK_TABLE,
        "set" => set::SET_TABLE,
        _ => config.table.as_str(),
    }
}

/// The list a read saw: the empty list for an absent record (or one with
/// no `v`), else exactly one list of non-negative integers.
fn list_value(lists: &[Option<Vec<i64>>]) -> Result<Vec<u64>, surrealdb::Error> {
    match lists {
        [] | [None] => Ok(Vec::new()),
        [Some(items)] if items.iter().all(|&e| e >= 0) => {
            Ok(items.iter().map(|&e| e as u64).collect())
        }
        other => Err(surrealdb::Error::internal(format!(
            "a list read returned {other:?}, expected at most one list of non-negative integers"
        ))),
    }
}

/// The outcome of a transaction whose statements answered with `errors`
/// (in statement order): `fail` if it only reads or if one error proves
/// nothing was applied, else `info`.
pub fn classify_txn(mops: &[TxnMop], errors: &[surrealdb::Error]) -> TxnCompletion {
    let text = errors
        .iter()
        .map(|e| format!("{} error: {}", e.kind_str(), e.message()))
        .collect::<Vec<_>>()
        .join("; ");
    if super::read_only(mops) || errors.iter().any(proves_not_applied) {
        TxnCompletion::Fail { error: text }
    } else {
        TxnCompletion::Info { error: text }
    }
}

/// The value a read saw: none (absent register) or exactly one.
fn register_value(values: &[i64]) -> Result<Option<u64>, surrealdb::Error> {
    match values {
        [] => Ok(None),
        [v] if *v >= 0 => Ok(Some(*v as u64)),
        other => Err(surrealdb::Error::internal(format!(
            "a register read returned {other:?}, expected at most one non-negative integer"
        ))),
    }
}

/// An identifier as SurrealQL reads it: escaped with backticks unless it is
/// plain.
fn ident(name: &str) -> String {
    if !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
    {
        name.to_string()
    } else {
        format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
    }
}

/// Only characters that need no escaping inside `⟨...⟩`.
fn sanitize(prefix: &str) -> String {
    prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The outcome of a request that got an error back (see the module docs).
///
/// One rule: a read that did not answer is `fail` (a read changes nothing);
/// a write or CAS is `fail` only when the error proves nothing was applied
/// ([`proves_not_applied`]), and `info` otherwise.
pub fn classify(request: &Request, error: &surrealdb::Error) -> Completion {
    let text = format!("{} error: {}", error.kind_str(), error.message());
    if request.is_read() || proves_not_applied(error) {
        Completion::Fail { error: text }
    } else {
        Completion::Info { error: text }
    }
}

/// Does this error prove that the statement changed nothing?
///
/// Yes for a definite abort (a transaction conflict: rolled back, "can be
/// retried") and for a refusal the server or the SDK answered before
/// anything was written (parse or parameter validation, configuration,
/// permissions, a missing or duplicate resource, `THROW`): a statement that
/// fails rolls its transaction back. No for everything else, because the
/// statement may have run: a lost or failed connection, a query timeout,
/// cancellation or `NotExecuted` (with TiKV's async commit a commit can
/// report failure and still be applied), an internal error, an answer the
/// SDK could not decode (`Serialization`: the server ran the statement and
/// only the reply was unreadable), and kinds this SDK version does not know.
/// A context wrapper is judged by the error it wraps.
pub fn proves_not_applied(error: &surrealdb::Error) -> bool {
    match error.details() {
        ErrorDetails::Query(Some(QueryError::TransactionConflict)) => true,
        ErrorDetails::Validation(_)
        | ErrorDetails::Configuration(_)
        | ErrorDetails::NotAllowed(_)
        | ErrorDetails::NotFound(_)
        | ErrorDetails::AlreadyExists(_)
        | ErrorDetails::Thrown => true,
        ErrorDetails::Context => error.cause().is_some_and(proves_not_applied),
        ErrorDetails::Query(_)
        | ErrorDetails::Serialization(_)
        | ErrorDetails::Connection(_)
        | ErrorDetails::Internal => false,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use surrealdb::Error;
    use surrealdb::types::ConnectionError;

    const W: Request = Request::Write { key: 1, value: 7 };
    const C: Request = Request::Cas {
        key: 1,
        expected: 7,
        new: 9,
    };
    const R: Request = Request::Read { key: 1 };

    fn is_info(c: &Completion) -> bool {
        matches!(c, Completion::Info { .. })
    }
    fn is_fail(c: &Completion) -> bool {
        matches!(c, Completion::Fail { .. })
    }

    #[test]
    fn reads_that_fail_are_fail_whatever_the_error() {
        for e in [
            Error::internal("boom".into()),
            Error::connection("gone".into(), ConnectionError::ConnectionFailed),
            Error::query("nope".into(), QueryError::NotExecuted),
        ] {
            assert!(is_fail(&classify(&R, &e)), "{e:?}");
        }
    }

    #[test]
    fn a_transaction_conflict_did_not_happen() {
        let e = Error::query("conflict".into(), QueryError::TransactionConflict);
        assert!(is_fail(&classify(&W, &e)));
        assert!(is_fail(&classify(&C, &e)));
    }

    #[test]
    fn writes_with_unknown_fate_are_info() {
        use surrealdb::types::SerializationError;
        for e in [
            Error::internal("commit failed".into()),
            Error::connection("gone".into(), ConnectionError::ConnectionFailed),
            Error::connection("not connected".into(), ConnectionError::Uninitialised),
            Error::query("not executed".into(), QueryError::NotExecuted),
            Error::query("cancelled".into(), QueryError::Cancelled),
            Error::query(
                "timed out".into(),
                QueryError::TimedOut {
                    duration: std::time::Duration::from_secs(1),
                },
            ),
            Error::from_details("query failed".into(), ErrorDetails::Query(None)),
            // The SDK could not decode the answer: the server ran the
            // statement, only the reply was unreadable.
            Error::from_details(
                "cannot decode".into(),
                ErrorDetails::Serialization(Some(SerializationError::Deserialization)),
            ),
            Error::from_details("cannot decode".into(), ErrorDetails::Serialization(None)),
            // A wrapper with nothing inside proves nothing.
            Error::from_details("while updating".into(), ErrorDetails::Context),
        ] {
            assert!(!proves_not_applied(&e), "{e:?}");
            assert!(is_info(&classify(&W, &e)), "{e:?}");
            assert!(is_info(&classify(&C, &e)), "{e:?}");
        }
    }

    #[test]
    fn refused_writes_are_fail() {
        for e in [
            Error::validation("parse error".into(), None),
            Error::configuration("not supported".into(), None),
            Error::not_allowed("not signed in".into(), None),
            Error::not_found("no such table".into(), None),
            Error::already_exists("record exists".into(), None),
            Error::thrown("thrown".into()),
        ] {
            assert!(proves_not_applied(&e), "{e:?}");
            assert!(is_fail(&classify(&W, &e)), "{e:?}");
            assert!(is_fail(&classify(&C, &e)), "{e:?}");
        }
    }

    #[test]
    fn a_wrapped_error_is_classified_by_its_cause() {
        let conflict = Error::query("conflict".into(), QueryError::TransactionConflict);
        let wrapped = Error::from_details("while updating".into(), ErrorDetails::Context)
            .with_cause(conflict);
        assert!(is_fail(&classify(&W, &wrapped)));
        let internal = Error::from_details("while updating".into(), ErrorDetails::Context)
            .with_cause(Error::internal("x".into()));
        assert!(is_info(&classify(&W, &internal)));
    }

    #[test]
    fn transactions_are_fail_only_when_nothing_was_applied() {
        let rw = [TxnMop::Read { key: 1 }, TxnMop::Append { key: 2, value: 5 }];
        let ro = [TxnMop::Read { key: 1 }];
        let conflict = || Error::query("conflict".into(), QueryError::TransactionConflict);
        let not_run = || Error::query("not executed".into(), QueryError::NotExecuted);
        let lost = || Error::connection("gone".into(), ConnectionError::ConnectionFailed);
        // A conflict among statements that were not run: rolled back.
        assert!(matches!(
            classify_txn(&rw, &[not_run(), conflict(), not_run()]),
            TxnCompletion::Fail { .. }
        ));
        assert!(matches!(
            classify_txn(&rw, &[not_run(), not_run()]),
            TxnCompletion::Info { .. }
        ));
        assert!(matches!(
            classify_txn(&rw, &[lost()]),
            TxnCompletion::Info { .. }
        ));
        assert!(matches!(
            classify_txn(&ro, &[lost()]),
            TxnCompletion::Fail { .. }
        ));
        let TxnCompletion::Fail { error } = classify_txn(&rw, &[not_run(), conflict()]) else {
            unreachable!()
        };
        assert!(
            error.contains("not executed") && error.contains("conflict"),
            "{error}"
        );
    }

    #[test]
    fn list_values() {
        assert_eq!(list_value(&[]).unwrap(), Vec::<u64>::new());
        assert_eq!(list_value(&[None]).unwrap(), Vec::<u64>::new());
        assert_eq!(list_value(&[Some(vec![3, 1])]).unwrap(), vec![3, 1]);
        assert!(list_value(&[Some(vec![1]), Some(vec![2])]).is_err());
        assert!(list_value(&[Some(vec![-1])]).is_err());
    }

    #[test]
    fn register_values() {
        assert_eq!(register_value(&[]).unwrap(), None);
        assert_eq!(register_value(&[5]).unwrap(), Some(5));
        assert!(register_value(&[1, 2]).is_err());
        assert!(register_value(&[-1]).is_err());
    }

    #[test]
    fn identifiers_and_prefixes_need_no_escaping() {
        assert_eq!(ident("register"), "register");
        assert_eq!(ident("my table"), "`my table`");
        assert_eq!(ident("1abc"), "`1abc`");
        assert_eq!(
            sanitize("chaos/x/20261127T070000Z-42/"),
            "chaos-x-20261127T070000Z-42-"
        );
    }
}
