//! The PostgreSQL adapter, with `tokio-postgres` over plain TCP (no TLS:
//! the server is reached through a port published on 127.0.0.1).
//!
//! Owns: the tables of a run's keys, the SQL of each op, the isolation
//! level it runs at (`workload.isolation`), which node a read goes to
//! (`workload.read_endpoints`: a streaming replica), its connections and
//! how a PostgreSQL error maps to `ok` / `fail` / `info`. It must not
//! depend on plans, faults, the engine or the checker.
//!
//! Registers are rows of `chaos_register (k text primary key, v bigint)`,
//! lists rows of `chaos_list (k text primary key, v bigint[])`, set
//! elements rows of `chaos_set` (below), the bank's accounts rows of
//! `chaos_bank` ([`bank`]), all created on the primary if they do not exist
//! ([`PgClient::define`]).
//! Key `k` of a run is the text `<prefix>k<k>`, and the prefix is unique per
//! run, so every run starts from absent keys.
//!
//! - register read: `SELECT v FROM chaos_register WHERE k = $1`, on the
//!   read endpoint when there is one (a replica), else on the primary;
//! - write: `INSERT ... ON CONFLICT (k) DO UPDATE SET v = excluded.v`;
//! - compare-and-set: `UPDATE chaos_register SET v = $new WHERE k = $1 AND
//!   v = $old`, whose zero rows mean the comparison failed;
//! - set: an add is `INSERT INTO chaos_set (r, e) VALUES ($prefix, $e)`
//!   (`chaos_set (r text, e bigint, primary key (r, e))`), a read
//!   `SELECT e FROM chaos_set WHERE r = $prefix`, both on the primary;
//! - list-append transaction: `BEGIN ISOLATION LEVEL <level>`, then per
//!   micro-op `SELECT v FROM chaos_list WHERE k = $1` or `INSERT INTO
//!   chaos_list ... ON CONFLICT (k) DO UPDATE SET v = chaos_list.v ||
//!   excluded.v`, then `COMMIT`.
//!
//! Register ops are single statements in their own transaction, at the
//! session's `default_transaction_isolation` (the experiment's level).
//!
//! Classification ([`classify`]; the rule of docs/checker.md): a read, or
//! a transaction that only reads, is `fail` on any error (it changed
//! nothing). A transaction whose `COMMIT` was never sent is `fail` (the
//! server cannot commit it: it rolls back when the statement fails or the
//! connection goes). Once a write statement or the `COMMIT` is sent, it is
//! `fail` only on an error that proves a rollback ([`Failure::rolled_back`]:
//! severity `ERROR` with a serialization failure or deadlock, SQLSTATE
//! 40001 / 40P01, or another refusal: integrity, syntax, data, read-only
//! transaction, unsupported feature), and `info` otherwise: a timeout, a
//! connection lost, a `FATAL` (the server shutting down while it commits).
//!
//! Connections: one per node per client, opened at set-up and again at the
//! first op after one was lost. A connection whose op timed out or lost its
//! connection is closed (its task aborted), never reused: its transaction
//! state is unknown. After an error inside a transaction, `ROLLBACK` makes
//! it reusable. A node's address can change during a run
//! ([`PgClient::moved`]: the engine found a restarted node on a new
//! published port): its connection to the old address is dropped and the
//! next op connects to the new one.
//!
//! Shell: network IO only.

mod bank;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::{Completion, Request, TxnCompletion, TxnMop};
use crate::experiment::Isolation;
use crate::workload::Outcome;
use crate::workload::set::{SetOp, read_outcome};

/// The table of a register workload.
pub const REGISTER_TABLE: &str = "chaos_register";
/// The table of a list-append workload.
pub const LIST_TABLE: &str = "chaos_list";
/// The table of a set workload: one row per element, the run's prefix in
/// `r`.
pub const SET_TABLE: &str = "chaos_set";
/// The table of the bank's accounts: one row per account, its balance in
/// `b` ([`bank`]).
pub const BANK_TABLE: &str = "chaos_bank";

/// How to reach and use the servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgConfig {
    pub user: String,
    pub password: String,
    pub database: String,
    /// The level of every transaction (`workload.isolation`).
    pub isolation: Isolation,
    /// Every call (connect, op) runs under this.
    pub timeout: Duration,
}

impl PgConfig {
    /// The compose file's role, password and database (`chaos`).
    pub fn new(isolation: Isolation, timeout: Duration) -> PgConfig {
        PgConfig {
            user: "chaos".into(),
            password: "chaos".into(),
            database: "chaos".into(),
            isolation,
            timeout,
        }
    }

    fn at(&self, address: &str) -> Result<tokio_postgres::Config, PgSetupError> {
        let (host, port) = address
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| PgSetupError::Failed {
                address: address.to_string(),
                step: "address",
                message: "expected HOST:PORT".into(),
            })?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(host)
            .port(port)
            .user(&self.user)
            .password(&self.password)
            .dbname(&self.database)
            .application_name("chaos")
            .connect_timeout(self.timeout);
        Ok(config)
    }
}

/// The SQL name of a level.
pub fn sql_level(level: Isolation) -> &'static str {
    match level {
        Isolation::Serializable => "SERIALIZABLE",
        Isolation::RepeatableRead => "REPEATABLE READ",
        Isolation::ReadCommitted => "READ COMMITTED",
    }
}

/// Why setting up failed.
#[derive(Debug, thiserror::Error)]
pub enum PgSetupError {
    #[error("no answer from PostgreSQL at {address} within {timeout}")]
    Timeout { address: String, timeout: String },
    #[error("PostgreSQL at {address}: {step}: {message}")]
    Failed {
        address: String,
        step: &'static str,
        message: String,
    },
}

/// An error as the classification needs it: what the server said (its
/// SQLSTATE and severity), if it said anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub sqlstate: Option<String>,
    pub severity: Option<String>,
    pub message: String,
}

impl Failure {
    fn of(e: &tokio_postgres::Error) -> Failure {
        match e.as_db_error() {
            Some(db) => Failure {
                sqlstate: Some(db.code().code().to_string()),
                severity: Some(db.severity().to_string()),
                message: format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
            },
            None => {
                let mut message = e.to_string();
                let mut source = std::error::Error::source(e);
                while let Some(cause) = source {
                    let text = cause.to_string();
                    if !message.contains(&text) {
                        message.push_str(": ");
                        message.push_str(&text);
                    }
                    source = cause.source();
                }
                Failure {
                    sqlstate: None,
                    severity: None,
                    message,
                }
            }
        }
    }

    fn timed_out(timeout: Duration) -> Failure {
        Failure {
            sqlstate: None,
            severity: None,
            message: format!("timed out after {}", crate::duration::format(timeout)),
        }
    }

    /// Was this the server's answer (the connection still in step)?
    fn answered(&self) -> bool {
        self.severity.as_deref() == Some("ERROR")
    }

    /// Does this error prove the statement's transaction rolled back? An
    /// `ERROR` (not `FATAL` or `PANIC`, which end the session, maybe
    /// after the commit) of a class that refuses before anything is
    /// committed: transaction rollback (40: serialization failure 40001,
    /// deadlock 40P01), integrity (23), data (22), syntax or access (42),
    /// invalid transaction state (25: e.g. a write on a read-only
    /// standby), feature not supported (0A: e.g. serializable on a
    /// standby), and a lock wait past `lock_timeout` (55P03). Not a
    /// statement cancelled by `statement_timeout` (57014): that may strike
    /// while a statement that commits by itself commits.
    pub fn rolled_back(&self) -> bool {
        const CLASSES: &[&str] = &["40", "23", "22", "42", "25", "0A"];
        self.answered()
            && self.sqlstate.as_deref().is_some_and(|s| {
                CLASSES.iter().any(|c| s.starts_with(c)) || s == SqlState::LOCK_NOT_AVAILABLE.code()
            })
    }

    /// A serialization failure or a deadlock (40001, 40P01).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self.sqlstate.as_deref(),
            Some(c) if c == SqlState::T_R_SERIALIZATION_FAILURE.code()
                || c == SqlState::T_R_DEADLOCK_DETECTED.code()
        )
    }
}

/// How far an op got when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    /// Connecting: nothing was sent.
    Connect = 0,
    /// Inside `BEGIN ... ` before `COMMIT` was sent: nothing can commit.
    Body = 1,
    /// A statement that commits by itself, or the `COMMIT`, was sent.
    Commit = 2,
}

impl Stage {
    fn from_u8(v: u8) -> Stage {
        match v {
            0 => Stage::Connect,
            1 => Stage::Body,
            _ => Stage::Commit,
        }
    }
}

/// What an error makes of an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It definitely did not happen.
    Fail,
    /// It may have happened.
    Info,
}

/// The outcome of an op that failed at `stage` (see the module docs): a
/// read-only op, or one whose commit was never sent, is `fail`; after
/// that, `fail` only when the error proves a rollback.
pub fn classify(read_only: bool, stage: Stage, failure: &Failure) -> Verdict {
    if read_only || stage != Stage::Commit || failure.rolled_back() {
        Verdict::Fail
    } else {
        Verdict::Info
    }
}

/// The statements of the ops, prepared once per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sql {
    Read = 0,
    Write = 1,
    Cas = 2,
    ListRead = 3,
    ListAppend = 4,
    SetAdd = 5,
    SetRead = 6,
    BankCreate = 7,
    BankRead = 8,
    BankReadOne = 9,
    BankDebit = 10,
    BankDebitAny = 11,
    BankCredit = 12,
    BankSet = 13,
}

/// How many statements there are to prepare.
const STATEMENTS: usize = 14;

impl Sql {
    fn text(self) -> String {
        match self {
            Sql::Read => format!("SELECT v FROM {REGISTER_TABLE} WHERE k = $1"),
            Sql::Write => format!(
                "INSERT INTO {REGISTER_TABLE} (k, v) VALUES ($1, $2) \
                 ON CONFLICT (k) DO UPDATE SET v = excluded.v"
            ),
            Sql::Cas => format!("UPDATE {REGISTER_TABLE} SET v = $3 WHERE k = $1 AND v = $2"),
            Sql::ListRead => format!("SELECT v FROM {LIST_TABLE} WHERE k = $1"),
            Sql::ListAppend => format!(
                "INSERT INTO {LIST_TABLE} AS l (k, v) VALUES ($1, ARRAY[$2::bigint]) \
                 ON CONFLICT (k) DO UPDATE SET v = l.v || excluded.v"
            ),
            Sql::SetAdd => format!("INSERT INTO {SET_TABLE} (r, e) VALUES ($1, $2)"),
            Sql::SetRead => format!("SELECT e FROM {SET_TABLE} WHERE r = $1"),
            Sql::BankCreate => format!(
                "INSERT INTO {BANK_TABLE} (k, b) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING"
            ),
            Sql::BankRead => format!("SELECT k, b FROM {BANK_TABLE} WHERE k = ANY($1)"),
            Sql::BankReadOne => format!("SELECT b FROM {BANK_TABLE} WHERE k = $1"),
            Sql::BankDebit => {
                format!("UPDATE {BANK_TABLE} SET b = b - $2 WHERE k = $1 AND b >= $2")
            }
            Sql::BankDebitAny => format!("UPDATE {BANK_TABLE} SET b = b - $2 WHERE k = $1"),
            Sql::BankCredit => format!("UPDATE {BANK_TABLE} SET b = b + $2 WHERE k = $1"),
            Sql::BankSet => format!("UPDATE {BANK_TABLE} SET b = $2 WHERE k = $1"),
        }
    }
}

/// One open connection and what it prepared; its task is aborted when it
/// is dropped.
struct Live {
    client: tokio_postgres::Client,
    task: tokio::task::AbortHandle,
    prepared: [Option<tokio_postgres::Statement>; STATEMENTS],
    /// The address it was opened to.
    address: String,
}

impl Live {
    /// The statement of `sql`, prepared on this connection at its first
    /// use.
    async fn statement(
        &mut self,
        sql: Sql,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        if let Some(s) = &self.prepared[sql as usize] {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&sql.text()).await?;
        self.prepared[sql as usize] = Some(s.clone());
        Ok(s)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where a node is: its `HOST:PORT` and the connection settings for it.
#[derive(Clone)]
struct Target {
    address: String,
    config: tokio_postgres::Config,
}

/// One node a client talks to, and its connection when it has one. Its
/// address can change while the client runs ([`PgClient::moved`]: a
/// restart gave the node a new published port).
struct Node {
    target: Mutex<Target>,
    pg: PgConfig,
    /// The level a session on it runs at by default.
    isolation: Isolation,
    timeout: Duration,
    live: Mutex<Option<Live>>,
}

impl Node {
    fn new(address: &str, config: &PgConfig, isolation: Isolation) -> Result<Node, PgSetupError> {
        Ok(Node {
            target: Mutex::new(Target {
                address: address.to_string(),
                config: config.at(address)?,
            }),
            pg: config.clone(),
            isolation,
            timeout: config.timeout,
            live: Mutex::new(None),
        })
    }

    fn target(&self) -> Target {
        self.target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn address(&self) -> String {
        self.target().address
    }

    /// Point the node at `to` if it is at `from`; a connection to the old
    /// address is closed. Whether it moved.
    fn moved(&self, from: &str, to: &str) -> bool {
        let Ok(config) = self.pg.at(to) else {
            return false;
        };
        {
            let mut target = self.target.lock().unwrap_or_else(|e| e.into_inner());
            if target.address != from {
                return false;
            }
            *target = Target {
                address: to.to_string(),
                config,
            };
        }
        let old = self.live.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(old);
        true
    }

    /// The open connection (taken out: the caller gives it back with
    /// [`Node::put`] when it may be reused), or a new one to where the
    /// node is now.
    async fn take(&self) -> Result<Live, tokio_postgres::Error> {
        let target = self.target();
        let held = self.live.lock().unwrap_or_else(|e| e.into_inner()).take();
        match held {
            Some(live) if !live.client.is_closed() && live.address == target.address => Ok(live),
            _ => open(&target, self.isolation, self.timeout).await,
        }
    }

    fn put(&self, live: Live) {
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(live);
    }
}

/// Connect, and set up the session ([`session_sql`]).
async fn open(
    target: &Target,
    isolation: Isolation,
    timeout: Duration,
) -> Result<Live, tokio_postgres::Error> {
    let (client, connection) = target.config.connect(NoTls).await?;
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "a PostgreSQL connection ended");
        }
    })
    .abort_handle();
    let live = Live {
        client,
        task,
        prepared: Default::default(),
        address: target.address.clone(),
    };
    live.client
        .batch_execute(&session_sql(isolation, timeout))
        .await?;
    Ok(live)
}

/// A session's settings: its default isolation level (the register ops'
/// level); `statement_timeout` at the op timeout, so that the server stops
/// what the client stopped waiting for; `lock_timeout` at a tenth of it
/// (50 ms to 1 s), so that a deadlock costs that, not `deadlock_timeout`
/// (1 s, a superuser's setting) with every other client queued behind it;
/// `client_connection_check_interval`, so that a backend whose client
/// left notices it in a long wait and lets its locks go.
pub fn session_sql(isolation: Isolation, timeout: Duration) -> String {
    let ms = |d: Duration| d.as_millis().max(1);
    let lock = (timeout / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
    format!(
        "SET default_transaction_isolation = '{}'; SET statement_timeout = {}; \
         SET lock_timeout = {}; SET client_connection_check_interval = 1000",
        sql_level(isolation).to_ascii_lowercase(),
        ms(timeout),
        ms(lock)
    )
}

/// A client process's connections: the primary (writes, transactions and,
/// without a read endpoint, reads) and the node its register reads go to.
pub struct PgClient {
    primary: Node,
    reads: Option<Node>,
    /// The service its register reads go to, when not the primary (the
    /// history labels those reads with it).
    read_node: Option<String>,
    prefix: String,
    isolation: Isolation,
    timeout: Duration,
}

impl std::fmt::Debug for PgClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgClient")
            .field("primary", &self.primary.address())
            .field("reads", &self.reads.as_ref().map(|n| n.address()))
            .field("prefix", &self.prefix)
            .field("isolation", &self.isolation)
            .finish()
    }
}

impl PgClient {
    /// A client of the primary at `primary` (`127.0.0.1:PORT`) whose
    /// register reads go to `reads` when given; both connections are
    /// opened now (set-up errors are errors, not ops). `prefix` names this
    /// run's keys.
    pub async fn connect(
        primary: &str,
        reads: Option<&str>,
        prefix: &str,
        config: &PgConfig,
    ) -> Result<PgClient, PgSetupError> {
        let client = PgClient {
            primary: Node::new(primary, config, config.isolation)?,
            reads: reads
                .map(|a| Node::new(a, config, config.isolation))
                .transpose()?,
            read_node: None,
            prefix: prefix.to_string(),
            isolation: config.isolation,
            timeout: config.timeout,
        };
        for node in std::iter::once(&client.primary).chain(client.reads.as_ref()) {
            let address = node.address();
            let live = within(&address, config.timeout, node.take())
                .await?
                .map_err(failed(&address, "connect"))?;
            node.put(live);
        }
        Ok(client)
    }

    /// Create the tables on the primary at `address` if they do not exist.
    /// Idempotent.
    pub async fn define(address: &str, config: &PgConfig) -> Result<(), PgSetupError> {
        let target = Target {
            address: address.to_string(),
            config: config.at(address)?,
        };
        within(address, config.timeout, async {
            let live = open(&target, config.isolation, config.timeout).await?;
            live.client
                .batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {REGISTER_TABLE} (k text PRIMARY KEY, v bigint NOT NULL);\n\
                     CREATE TABLE IF NOT EXISTS {LIST_TABLE} (k text PRIMARY KEY, v bigint[] NOT NULL);\n\
                     CREATE TABLE IF NOT EXISTS {SET_TABLE} (r text, e bigint, PRIMARY KEY (r, e));\n\
                     CREATE TABLE IF NOT EXISTS {BANK_TABLE} (k text PRIMARY KEY, b bigint NOT NULL);"
                ))
                .await
        })
        .await?
        .map_err(failed(address, "CREATE TABLE"))
    }

    /// Succeed once the node at `address` (a replica) has the tables: they
    /// reach it by replication, a moment after [`PgClient::define`].
    pub async fn visible(address: &str, config: &PgConfig) -> Result<(), PgSetupError> {
        let target = Target {
            address: address.to_string(),
            config: config.at(address)?,
        };
        within(address, config.timeout, async {
            let live = open(&target, Isolation::ReadCommitted, config.timeout).await?;
            live.client
                .batch_execute(&format!(
                    "SELECT 1 FROM {REGISTER_TABLE} LIMIT 0; SELECT 1 FROM {LIST_TABLE} LIMIT 0; \
                     SELECT 1 FROM {SET_TABLE} LIMIT 0; SELECT 1 FROM {BANK_TABLE} LIMIT 0;"
                ))
                .await
        })
        .await?
        .map_err(failed(address, "reading the tables"))
    }

    fn key(&self, key: u64) -> String {
        format!("{}k{key}", self.prefix)
    }

    /// Name the service its register reads go to (the read endpoint's),
    /// for the history.
    pub fn reading_on(mut self, service: &str) -> PgClient {
        if self.reads.is_some() {
            self.read_node = Some(service.to_string());
        }
        self
    }

    /// The service that serves `request` when it is not the primary: a
    /// register read with a read endpoint.
    pub fn read_node(&self) -> Option<&str> {
        self.read_node.as_deref()
    }

    /// A node of this client moved from `from` to `to` (`HOST:PORT`: a
    /// restart gave it a new published port): its next op connects there.
    /// Whether one of its nodes was at `from`.
    pub fn moved(&self, from: &str, to: &str) -> bool {
        let primary = self.primary.moved(from, to);
        let reads = self.reads.as_ref().is_some_and(|n| n.moved(from, to));
        primary || reads
    }

    /// Where its writes (the primary) and its register reads go now.
    pub fn addresses(&self) -> (String, Option<String>) {
        (
            self.primary.address(),
            self.reads.as_ref().map(Node::address),
        )
    }

    /// Send one register request and classify the answer; never takes
    /// much longer than the timeout.
    pub async fn invoke(&self, request: &Request) -> Completion {
        let node = match (request, &self.reads) {
            (Request::Read { .. }, Some(replica)) => replica,
            _ => &self.primary,
        };
        let stage = AtomicU8::new(Stage::Connect as u8);
        let failure =
            match tokio::time::timeout(self.timeout, self.call(node, request, &stage)).await {
                Ok(Ok(completion)) => return completion,
                Ok(Err(failure)) => failure,
                Err(_) => Failure::timed_out(self.timeout),
            };
        let stage = Stage::from_u8(stage.load(Ordering::SeqCst));
        match classify(request.is_read(), stage, &failure) {
            Verdict::Fail => Completion::Fail {
                error: failure.message,
            },
            Verdict::Info => Completion::Info {
                error: failure.message,
            },
        }
    }

    async fn call(
        &self,
        node: &Node,
        request: &Request,
        stage: &AtomicU8,
    ) -> Result<Completion, Failure> {
        let mut live = node.take().await.map_err(|e| Failure::of(&e))?;
        let key = self.key(request.key());
        let result = async {
            let sql = match request {
                Request::Read { .. } => Sql::Read,
                Request::Write { .. } => Sql::Write,
                Request::Cas { .. } => Sql::Cas,
            };
            let statement = live.statement(sql).await?;
            // From here on the statement may reach the server, and it
            // commits by itself.
            stage.store(Stage::Commit as u8, Ordering::SeqCst);
            let client = &live.client;
            match *request {
                Request::Read { .. } => {
                    let row = client.query_opt(&statement, &[&key]).await?;
                    let v = row.map(|r| r.try_get::<_, i64>(0)).transpose()?;
                    Ok(Completion::Ok {
                        read: v.map(|v| v as u64),
                    })
                }
                Request::Write { value, .. } => {
                    client.execute(&statement, &[&key, &(value as i64)]).await?;
                    Ok(Completion::Ok { read: None })
                }
                Request::Cas { expected, new, .. } => {
                    let rows = client
                        .execute(&statement, &[&key, &(expected as i64), &(new as i64)])
                        .await?;
                    Ok(if rows == 0 {
                        Completion::Fail {
                            error: format!("compare failed: the register did not hold {expected}"),
                        }
                    } else {
                        Completion::Ok { read: None }
                    })
                }
            }
        }
        .await;
        match result {
            Ok(completion) => {
                node.put(live);
                Ok(completion)
            }
            Err(e) => {
                let failure = Failure::of(&e);
                // The server answered: the session is in step and, the
                // statement being its own transaction, outside any.
                if failure.answered() {
                    node.put(live);
                }
                Err(failure)
            }
        }
    }

    /// Run one set op on the primary (an add is one `INSERT`, a read one
    /// `SELECT` of the run's elements) and classify the answer as for
    /// registers; never takes much longer than the timeout.
    pub async fn set(&self, op: &SetOp) -> Outcome {
        let read = matches!(op, SetOp::Read);
        let stage = AtomicU8::new(Stage::Connect as u8);
        let failure = match tokio::time::timeout(self.timeout, self.set_call(op, &stage)).await {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(failure)) => failure,
            Err(_) => Failure::timed_out(self.timeout),
        };
        let stage = Stage::from_u8(stage.load(Ordering::SeqCst));
        match classify(read, stage, &failure) {
            Verdict::Fail => Outcome::Fail(failure.message),
            Verdict::Info => Outcome::Info(failure.message),
        }
    }

    async fn set_call(&self, op: &SetOp, stage: &AtomicU8) -> Result<Outcome, Failure> {
        let node = &self.primary;
        let mut live = node.take().await.map_err(|e| Failure::of(&e))?;
        let result = async {
            match *op {
                SetOp::Add(e) => {
                    let statement = live.statement(Sql::SetAdd).await?;
                    stage.store(Stage::Commit as u8, Ordering::SeqCst);
                    live.client
                        .execute(&statement, &[&self.prefix, &(e as i64)])
                        .await?;
                    Ok(Outcome::Ok(serde_json::Value::Null))
                }
                SetOp::Read => {
                    let statement = live.statement(Sql::SetRead).await?;
                    stage.store(Stage::Commit as u8, Ordering::SeqCst);
                    let rows = live.client.query(&statement, &[&self.prefix]).await?;
                    let elements = rows
                        .iter()
                        .map(|r| r.try_get::<_, i64>(0).map(|e| e as u64))
                        .collect::<Result<Vec<u64>, _>>()?;
                    Ok(read_outcome(elements))
                }
            }
        }
        .await;
        match result {
            Ok(outcome) => {
                node.put(live);
                Ok(outcome)
            }
            Err(e) => {
                let failure = Failure::of(&e);
                if failure.answered() {
                    node.put(live);
                }
                Err(failure)
            }
        }
    }

    /// Run one list-append transaction on the primary and classify the
    /// answer; never takes much longer than the timeout.
    pub async fn txn(&self, mops: &[TxnMop]) -> TxnCompletion {
        let stage = AtomicU8::new(Stage::Connect as u8);
        let failure = match tokio::time::timeout(self.timeout, self.txn_call(mops, &stage)).await {
            Ok(Ok(completion)) => return completion,
            Ok(Err(failure)) => failure,
            Err(_) => Failure::timed_out(self.timeout),
        };
        let stage = Stage::from_u8(stage.load(Ordering::SeqCst));
        match classify(super::read_only(mops), stage, &failure) {
            Verdict::Fail => TxnCompletion::Fail {
                error: failure.message,
            },
            Verdict::Info => TxnCompletion::Info {
                error: failure.message,
            },
        }
    }

    async fn txn_call(&self, mops: &[TxnMop], stage: &AtomicU8) -> Result<TxnCompletion, Failure> {
        let node = &self.primary;
        let mut live = node.take().await.map_err(|e| Failure::of(&e))?;
        stage.store(Stage::Body as u8, Ordering::SeqCst);
        let body = async {
            let read = live.statement(Sql::ListRead).await?;
            let append = live.statement(Sql::ListAppend).await?;
            let client = &live.client;
            client
                .batch_execute(&format!(
                    "BEGIN ISOLATION LEVEL {}",
                    sql_level(self.isolation)
                ))
                .await?;
            let mut reads = Vec::with_capacity(mops.len());
            for m in mops {
                match *m {
                    TxnMop::Read { key } => {
                        let row = client.query_opt(&read, &[&self.key(key)]).await?;
                        let list: Vec<i64> = match row {
                            Some(r) => r.try_get(0)?,
                            None => Vec::new(),
                        };
                        reads.push(Some(list.into_iter().map(|e| e as u64).collect()));
                    }
                    TxnMop::Append { key, value } => {
                        client
                            .execute(&append, &[&self.key(key), &(value as i64)])
                            .await?;
                        reads.push(None);
                    }
                }
            }
            stage.store(Stage::Commit as u8, Ordering::SeqCst);
            client.batch_execute("COMMIT").await?;
            Ok::<_, tokio_postgres::Error>(reads)
        };
        match body.await {
            Ok(reads) => {
                node.put(live);
                Ok(TxnCompletion::Ok { reads })
            }
            Err(e) => {
                let failure = Failure::of(&e);
                // The server answered: end the (failed) transaction and
                // keep the connection.
                if failure.answered() && live.client.batch_execute("ROLLBACK").await.is_ok() {
                    node.put(live);
                }
                Err(failure)
            }
        }
    }
}

/// A set-up error of `step` at `address`.
fn failed(address: &str, step: &'static str) -> impl Fn(tokio_postgres::Error) -> PgSetupError {
    let address = address.to_string();
    move |e| PgSetupError::Failed {
        address: address.clone(),
        step,
        message: Failure::of(&e).message,
    }
}

async fn within<T>(
    address: &str,
    timeout: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, PgSetupError> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| PgSetupError::Timeout {
            address: address.to_string(),
            timeout: crate::duration::format(timeout),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(severity: &str, code: &str) -> Failure {
        Failure {
            sqlstate: Some(code.into()),
            severity: Some(severity.into()),
            message: format!("{severity} {code}"),
        }
    }

    fn lost() -> Failure {
        Failure {
            sqlstate: None,
            severity: None,
            message: "connection closed".into(),
        }
    }

    #[test]
    fn reads_and_uncommitted_transactions_are_fail_whatever_the_error() {
        for f in [
            lost(),
            Failure::timed_out(Duration::from_secs(1)),
            db("FATAL", "57P01"),
            db("ERROR", "XX000"),
        ] {
            for stage in [Stage::Connect, Stage::Body, Stage::Commit] {
                assert_eq!(classify(true, stage, &f), Verdict::Fail, "{f:?} {stage:?}");
            }
            assert_eq!(classify(false, Stage::Connect, &f), Verdict::Fail, "{f:?}");
            assert_eq!(classify(false, Stage::Body, &f), Verdict::Fail, "{f:?}");
        }
    }

    #[test]
    fn serialization_failures_and_refusals_at_commit_are_fail() {
        for code in [
            "40001", "40P01", "23505", "25006", "0A000", "42P01", "22003", "55P03",
        ] {
            let f = db("ERROR", code);
            assert!(f.rolled_back(), "{code}");
            assert_eq!(classify(false, Stage::Commit, &f), Verdict::Fail, "{code}");
        }
        assert!(db("ERROR", "40001").is_conflict());
        assert!(db("ERROR", "40P01").is_conflict());
        assert!(!db("ERROR", "23505").is_conflict());
    }

    #[test]
    fn a_commit_with_unknown_fate_is_info() {
        for f in [
            lost(),
            Failure::timed_out(Duration::from_secs(2)),
            // The session ends, maybe after the commit record was written.
            db("FATAL", "57P01"),
            db("FATAL", "40001"),
            db("PANIC", "XX000"),
            // statement_timeout can strike while a statement commits.
            db("ERROR", "57014"),
            db("ERROR", "XX000"),
            db("ERROR", "53100"),
        ] {
            assert!(!f.rolled_back(), "{f:?}");
            assert_eq!(classify(false, Stage::Commit, &f), Verdict::Info, "{f:?}");
        }
    }

    #[test]
    fn the_session_runs_at_the_level_with_timeouts_derived_from_the_op_timeout() {
        assert_eq!(
            session_sql(Isolation::RepeatableRead, Duration::from_secs(2)),
            "SET default_transaction_isolation = 'repeatable read'; SET statement_timeout = 2000; \
             SET lock_timeout = 200; SET client_connection_check_interval = 1000"
        );
        let short = session_sql(Isolation::Serializable, Duration::from_millis(100));
        assert!(
            short.contains("'serializable'") && short.contains("lock_timeout = 50;"),
            "{short}"
        );
        let long = session_sql(Isolation::ReadCommitted, Duration::from_secs(60));
        assert!(
            long.contains("'read committed'") && long.contains("lock_timeout = 1000;"),
            "{long}"
        );
        assert_eq!(sql_level(Isolation::ReadCommitted), "READ COMMITTED");
    }

    #[test]
    fn addresses_are_host_and_port() {
        let c = PgConfig::new(Isolation::Serializable, Duration::from_secs(1));
        let at = c.at("127.0.0.1:25432").unwrap();
        assert_eq!(at.get_ports(), [25432]);
        assert!(c.at("127.0.0.1").is_err());
        assert!(c.at("127.0.0.1:x").is_err());
    }

    #[test]
    fn statements_name_the_tables() {
        assert!(
            Sql::ListAppend
                .text()
                .contains("ON CONFLICT (k) DO UPDATE SET v = l.v || excluded.v")
        );
        assert!(
            Sql::Cas
                .text()
                .starts_with("UPDATE chaos_register SET v = $3 WHERE k = $1 AND v = $2")
        );
        assert!(Sql::Read.text().contains("FROM chaos_register"));
        assert!(Sql::ListRead.text().contains("FROM chaos_list"));
    }
}
