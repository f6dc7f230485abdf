//! The etcd adapter, over etcd's v3 JSON gateway (`POST /v3/kv/range`,
//! `/v3/kv/put`, `/v3/kv/txn`, `/v3/maintenance/status`): keys and values are
//! base64, no gRPC code needed.
//!
//! Registers are etcd keys `<prefix><key>` holding the decimal value; the
//! prefix is unique per run, so every run starts from absent registers.
//! Reads are linearizable (through the Raft quorum) or serializable (served
//! by the local member, possibly stale), as the experiment says. A CAS is a
//! transaction comparing the value. Classification: a connection refused is
//! `fail` (nothing was sent); any other transport error, a timeout or a server
//! error after sending is `info` for writes and CAS, and `fail` for reads
//! (a read changes nothing). The bank workload's accounts: [`bank`]; the set's elements: [`set`].

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Completion, Request, TxnCompletion, TxnMop};

mod bank;
mod set;

/// A client of one etcd member, reached through its published port.
#[derive(Debug, Clone)]
pub struct EtcdClient {
    http: reqwest::Client,
    endpoints: std::sync::Arc<Endpoints>,
    prefix: String,
    serializable: bool,
    timeout: Duration,
}

/// Why a gateway call failed, before classification.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// Nothing reached the server.
    #[error("connection refused: {0}")]
    Connect(String),
    /// No answer in time; the request may have reached the server.
    #[error("timed out")]
    Timeout,
    /// The request may have reached the server.
    #[error("{0}")]
    Indeterminate(String),
    /// The server answered with an error.
    #[error("etcd error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    #[error("unexpected response: {0}")]
    Protocol(String),
}

impl EtcdClient {
    /// `base` is `http://127.0.0.1:PORT`.
    pub fn new(base: String, prefix: String, serializable: bool, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // The member is on 127.0.0.1: never through a proxy from the
            // environment, and the gateway never redirects.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(4)
            .build()
            .expect("an HTTP client with timeouts builds");
        EtcdClient {
            http,
            endpoints: std::sync::Arc::new(Endpoints::new(base)),
            prefix,
            serializable,
            timeout,
        }
    }

    fn key(&self, key: u64) -> String {
        B64.encode(format!("{}{key}", self.prefix))
    }

    /// POST `body` as JSON to `path` and decode the answer as `R`. Bodies
    /// and answers are typed (no `serde_json::Value` in between): they are
    /// the workload's hot path.
    async fn call<R: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<R, EtcdError> {
        let response = self
            .http
            .post(self.endpoints.url(path)?)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    EtcdError::Connect(e.to_string())
                } else if e.is_timeout() {
                    EtcdError::Timeout
                } else {
                    EtcdError::Indeterminate(crate::error_text::with_causes(&e))
                }
            })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                EtcdError::Timeout
            } else {
                EtcdError::Indeterminate(crate::error_text::with_causes(&e))
            }
        })?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").or(v.get("error")).cloned())
                .and_then(|m| m.as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(EtcdError::Server {
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| EtcdError::Protocol(format!("{e}: {}", String::from_utf8_lossy(&bytes))))
    }

    /// The value of a register, `None` if absent.
    pub async fn read(&self, key: u64) -> Result<Option<u64>, EtcdError> {
        let key = self.key(key);
        let body = RangeRequest {
            key: &key,
            serializable: self.serializable,
        };
        let answer: RangeAnswer = self.call("/v3/kv/range", &body).await?;
        match answer.kvs.first() {
            None => Ok(None),
            Some(kv) => decode_value(kv.value.as_deref()).map(Some),
        }
    }

    pub async fn write(&self, key: u64, value: u64) -> Result<(), EtcdError> {
        let key = self.key(key);
        let value = B64.encode(value.to_string());
        let _: serde::de::IgnoredAny = self
            .call(
                "/v3/kv/put",
                &PutRequest {
                    key: &key,
                    value: &value,
                },
            )
            .await?;
        Ok(())
    }

    /// Compare-and-set; `Ok(false)` if the register did not hold `expected`.
    pub async fn cas(&self, key: u64, expected: u64, new: u64) -> Result<bool, EtcdError> {
        let key = self.key(key);
        let (expected, new) = (
            B64.encode(expected.to_string()),
            B64.encode(new.to_string()),
        );
        let body = TxnRequest {
            compare: [Compare {
                key: &key,
                result: "EQUAL",
                target: "VALUE",
                value: &expected,
            }],
            success: [TxnOp {
                request_put: PutRequest {
                    key: &key,
                    value: &new,
                },
            }],
        };
        let answer: TxnAnswer = self.call("/v3/kv/txn", &body).await?;
        Ok(answer.succeeded)
    }

    /// The etcd key of list `key` (list-append): `<prefix>l<key>`, holding
    /// the list as JSON (`[1,5,9]`).
    fn list_key(&self, key: u64) -> String {
        B64.encode(format!("{}l{key}", self.prefix))
    }

    /// Run one list-append transaction in two etcd transactions:
    ///
    /// 1. one `Txn` of ranges reads every list the transaction touches at
    ///    one revision (serializable ranges when the experiment reads
    ///    serializably: all-serializable ranges are served by the member
    ///    alone). Separate range calls would read different revisions and
    ///    show read skew that is not there.
    /// 2. unless it only reads, one `Txn` puts the lists it appended to,
    ///    guarded by the mod revision each key had in step 1 (0 for an
    ///    absent key), for every key read or written: if any changed in
    ///    between, nothing is written and the transaction is `fail`.
    ///
    /// The micro-ops run on the snapshot of step 1 in order, so a read
    /// after an append of the same key sees it. Step 1 writes nothing, so
    /// any error there is `fail`; in step 2 only a refused connection is
    /// `fail`, any other error `info`.
    pub async fn txn(&self, mops: &[TxnMop]) -> TxnCompletion {
        match tokio::time::timeout(self.timeout, self.txn_steps(mops)).await {
            Ok(c) => c,
            Err(_) => TxnCompletion::timed_out(mops, self.timeout),
        }
    }

    async fn txn_steps(&self, mops: &[TxnMop]) -> TxnCompletion {
        let mut keys: Vec<u64> = Vec::with_capacity(mops.len());
        for m in mops {
            if !keys.contains(&m.key()) {
                keys.push(m.key());
            }
        }
        let names: Vec<String> = keys.iter().map(|&k| self.list_key(k)).collect();
        let read = ReadTxn {
            success: names
                .iter()
                .map(|key| RangeOp {
                    request_range: RangeRequest {
                        key,
                        serializable: self.serializable,
                    },
                })
                .collect(),
        };
        let answer: ReadTxnAnswer = match self.call("/v3/kv/txn", &read).await {
            Ok(a) => a,
            Err(e) => {
                return TxnCompletion::Fail {
                    error: format!("reading: {e}"),
                };
            }
        };
        let snapshot = match snapshot_of(&answer, keys.len()) {
            Ok(s) => s,
            Err(e) => {
                return TxnCompletion::Fail {
                    error: format!("reading: {e}"),
                };
            }
        };
        let (reads, lists) = apply_mops(
            mops,
            &keys,
            snapshot.iter().map(|(l, _)| l.clone()).collect(),
        );
        if super::read_only(mops) {
            return TxnCompletion::Ok { reads };
        }
        let revisions: Vec<String> = snapshot.iter().map(|(_, r)| r.to_string()).collect();
        let values: Vec<(usize, String)> = lists
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                mops.iter()
                    .any(|m| matches!(m, TxnMop::Append { key, .. } if *key == keys[*i]))
            })
            .map(|(i, list)| (i, B64.encode(list_json(list))))
            .collect();
        let write = WriteTxn {
            compare: names
                .iter()
                .zip(&revisions)
                .map(|(key, rev)| ModCompare {
                    key,
                    result: "EQUAL",
                    target: "MOD",
                    mod_revision: rev,
                })
                .collect(),
            success: values
                .iter()
                .map(|(i, value)| TxnOp {
                    request_put: PutRequest {
                        key: &names[*i],
                        value,
                    },
                })
                .collect(),
        };
        match self.call::<TxnAnswer>("/v3/kv/txn", &write).await {
            Ok(a) if a.succeeded => TxnCompletion::Ok { reads },
            Ok(_) => TxnCompletion::Fail {
                error: "conflict: a key it read or wrote changed since it was read".into(),
            },
            Err(e @ EtcdError::Connect(_)) => TxnCompletion::Fail {
                error: format!("committing: {e}"),
            },
            Err(e) => TxnCompletion::Info {
                error: format!("committing: {e}"),
            },
        }
    }

    /// This member's id and the id of the leader it knows.
    pub async fn status(&self) -> Result<(String, String), EtcdError> {
        let v: Value = self.call("/v3/maintenance/status", &json!({})).await?;
        let member = member_id(&v["header"]["member_id"])
            .ok_or_else(|| EtcdError::Protocol(format!("no member_id in {v}")))?;
        // The gateway omits a zero leader: a member without a leader.
        let leader = member_id(&v["leader"]).unwrap_or_else(|| "0".to_string());
        Ok((member, leader))
    }

    /// Send a request and classify the answer.
    pub async fn invoke(&self, request: &Request) -> Completion {
        let result = match *request {
            Request::Read { key } => self.read(key).await.map(Some),
            Request::Write { key, value } => self.write(key, value).await.map(|()| None),
            Request::Cas { key, expected, new } => match self.cas(key, expected, new).await {
                Ok(true) => Ok(None),
                Ok(false) => {
                    return Completion::Fail {
                        error: format!("compare failed: register did not hold {expected}"),
                    };
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(read) => Completion::Ok {
                read: read.flatten(),
            },
            Err(e) => classify(request, e, self.timeout),
        }
    }
}

/// The gateway paths chaos calls.
const PATHS: [&str; 4] = [
    "/v3/kv/range",
    "/v3/kv/put",
    "/v3/kv/txn",
    "/v3/maintenance/status",
];

/// The member's URLs, parsed once: parsing a URL per request (the host
/// goes through IDNA processing) was a visible part of the workload
/// driver's profile.
#[derive(Debug)]
struct Endpoints {
    base: String,
    parsed: Vec<(&'static str, reqwest::Url)>,
}

impl Endpoints {
    fn new(base: String) -> Endpoints {
        let parsed = PATHS
            .iter()
            .filter_map(|path| {
                reqwest::Url::parse(&format!("{base}{path}"))
                    .ok()
                    .map(|u| (*path, u))
            })
            .collect();
        Endpoints { base, parsed }
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, EtcdError> {
        if let Some((_, url)) = self.parsed.iter().find(|(p, _)| *p == path) {
            return Ok(url.clone());
        }
        let text = format!("{}{path}", self.base);
        reqwest::Url::parse(&text).map_err(|e| EtcdError::Connect(format!("{text}: {e}")))
    }
}

/// Resolves the `leader` role of an etcd component: asks every member it
/// can reach which member it believes leads, takes the answer most members
/// give, and maps that member id to its compose service. Member ids are
/// remembered, so a leader that stopped answering (paused, killed) can still
/// be named from what its peers say.
#[derive(Debug)]
pub struct EtcdLeader {
    members: Vec<(String, EtcdClient)>,
    ids: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

impl EtcdLeader {
    /// `members`: each service with a client of its published port.
    pub fn new(members: Vec<(String, EtcdClient)>) -> Self {
        EtcdLeader {
            members,
            ids: Default::default(),
        }
    }

    /// The service of the current leader.
    pub async fn leader(&self) -> Result<String, String> {
        let answers = futures_util::future::join_all(
            self.members
                .iter()
                .map(|(service, client)| async move { (service, client.status().await) }),
        )
        .await;
        let mut votes: std::collections::BTreeMap<String, usize> = Default::default();
        let mut errors = Vec::new();
        for (service, answer) in answers {
            match answer {
                Ok((member, leader)) => {
                    self.ids
                        .lock()
                        .expect("ids lock")
                        .insert(member, service.clone());
                    if leader != "0" {
                        *votes.entry(leader).or_default() += 1;
                    }
                }
                Err(e) => errors.push(format!("{service}: {e}")),
            }
        }
        let Some((leader, _)) = votes.into_iter().max_by_key(|(id, n)| (*n, id.clone())) else {
            return Err(format!(
                "no member knows a leader ({})",
                if errors.is_empty() {
                    "an election is under way".to_string()
                } else {
                    errors.join("; ")
                }
            ));
        };
        self.ids
            .lock()
            .expect("ids lock")
            .get(&leader)
            .cloned()
            .ok_or_else(|| format!("leader {leader} is not a member chaos has reached"))
    }
}

impl crate::roles::RoleResolver for EtcdLeader {
    fn resolve<'a>(
        &'a self,
        role: &'a str,
        _component: &'a str,
    ) -> crate::roles::ResolveFuture<'a> {
        Box::pin(async move {
            if role != "leader" {
                return Err(format!("etcd has no role `{role}`").into());
            }
            self.leader().await.map_err(Into::into)
        })
    }
}

fn classify(request: &Request, error: EtcdError, timeout: Duration) -> Completion {
    let text = error.to_string();
    match error {
        EtcdError::Connect(_) => Completion::Fail { error: text },
        EtcdError::Timeout => Completion::timed_out(request, timeout),
        _ if request.is_read() => Completion::Fail { error: text },
        _ => Completion::Info { error: text },
    }
}

/// A member id as the gateway spells it: a string (64-bit numbers are JSON
/// strings there), or a number.
fn member_id(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::to_string)
        .or_else(|| v.as_u64().map(|n| n.to_string()))
}

/// The gateway's requests and answers, as far as chaos uses them.
#[derive(Serialize)]
struct RangeRequest<'a> {
    key: &'a str,
    serializable: bool,
}

#[derive(Serialize)]
struct PutRequest<'a> {
    key: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct Compare<'a> {
    key: &'a str,
    result: &'static str,
    target: &'static str,
    value: &'a str,
}

#[derive(Serialize)]
struct TxnOp<'a> {
    request_put: PutRequest<'a>,
}

#[derive(Serialize)]
struct TxnRequest<'a> {
    compare: [Compare<'a>; 1],
    success: [TxnOp<'a>; 1],
}

/// The gateway omits empty lists and false booleans.
#[derive(Deserialize)]
struct RangeAnswer {
    #[serde(default)]
    kvs: Vec<RangeKv>,
}

#[derive(Deserialize)]
struct RangeKv {
    value: Option<String>,
}

#[derive(Deserialize)]
struct TxnAnswer {
    #[serde(default)]
    succeeded: bool,
}

/// A read-only etcd transaction: ranges, no comparison.
#[derive(Serialize)]
struct ReadTxn<'a> {
    success: Vec<RangeOp<'a>>,
}

#[derive(Serialize)]
struct RangeOp<'a> {
    request_range: RangeRequest<'a>,
}

/// A comparison of a key's mod revision (0: the key is absent).
#[derive(Serialize)]
struct ModCompare<'a> {
    key: &'a str,
    result: &'static str,
    target: &'static str,
    mod_revision: &'a str,
}

#[derive(Serialize)]
struct WriteTxn<'a> {
    compare: Vec<ModCompare<'a>>,
    success: Vec<TxnOp<'a>>,
}

#[derive(Deserialize)]
struct ReadTxnAnswer {
    #[serde(default)]
    responses: Vec<ReadTxnResponse>,
}

#[derive(Deserialize)]
struct ReadTxnResponse {
    #[serde(default)]
    response_range: Option<RangeWithRevisions>,
}

#[derive(Deserialize)]
struct RangeWithRevisions {
    #[serde(default)]
    kvs: Vec<ListKv>,
}

#[derive(Deserialize)]
struct ListKv {
    value: Option<String>,
    /// A 64-bit number: a JSON string on the gateway.
    #[serde(default)]
    mod_revision: Option<String>,
}

/// Each key's list and mod revision (0 and the empty list when absent),
/// in the order the ranges were sent.
fn snapshot_of(answer: &ReadTxnAnswer, keys: usize) -> Result<Vec<(Vec<u64>, u64)>, EtcdError> {
    if answer.responses.len() != keys {
        return Err(EtcdError::Protocol(format!(
            "{} range answers for {keys} keys",
            answer.responses.len()
        )));
    }
    answer
        .responses
        .iter()
        .map(|r| {
            let range = r
                .response_range
                .as_ref()
                .ok_or_else(|| EtcdError::Protocol("an answer that is not a range".into()))?;
            match range.kvs.first() {
                None => Ok((Vec::new(), 0)),
                Some(kv) => {
                    let rev = kv
                        .mod_revision
                        .as_deref()
                        .unwrap_or("0")
                        .parse()
                        .map_err(|_| {
                            EtcdError::Protocol(format!("mod_revision {:?}", kv.mod_revision))
                        })?;
                    Ok((decode_list(kv.value.as_deref())?, rev))
                }
            }
        })
        .collect()
}

/// Run the micro-ops on `lists` (one per key of `keys`): what each read
/// saw, and the lists afterwards.
fn apply_mops(
    mops: &[TxnMop],
    keys: &[u64],
    mut lists: Vec<Vec<u64>>,
) -> (Vec<Option<Vec<u64>>>, Vec<Vec<u64>>) {
    let at = |k: u64| {
        keys.iter()
            .position(|&x| x == k)
            .expect("every key was read")
    };
    let reads = mops
        .iter()
        .map(|m| match *m {
            TxnMop::Read { key } => Some(lists[at(key)].clone()),
            TxnMop::Append { key, value } => {
                lists[at(key)].push(value);
                None
            }
        })
        .collect();
    (reads, lists)
}

fn list_json(list: &[u64]) -> String {
    serde_json::to_string(list).expect("a list of numbers serializes")
}

/// A list as stored: base64 of a JSON array of non-negative integers.
fn decode_list(v: Option<&str>) -> Result<Vec<u64>, EtcdError> {
    let bytes = B64
        .decode(v.unwrap_or(""))
        .map_err(|e| EtcdError::Protocol(format!("value is not base64: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        EtcdError::Protocol(format!(
            "value is not a list: {e}: {}",
            String::from_utf8_lossy(&bytes)
        ))
    })
}

fn decode_value(v: Option<&str>) -> Result<u64, EtcdError> {
    let text = v.ok_or_else(|| EtcdError::Protocol("a key without a value".into()))?;
    let bytes = B64
        .decode(text)
        .map_err(|e| EtcdError::Protocol(format!("value is not base64: {e}")))?;
    String::from_utf8_lossy(&bytes)
        .parse()
        .map_err(|_| EtcdError::Protocol(format!("value is not a register value: {bytes:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_decode_from_base64_decimal() {
        assert_eq!(decode_value(Some(&B64.encode("42"))).unwrap(), 42);
        assert!(decode_value(Some("!!")).is_err());
        assert!(decode_value(None).is_err());
    }

    #[test]
    fn the_wire_format_is_the_gateways() {
        let txn = TxnRequest {
            compare: [Compare {
                key: "a2V5",
                result: "EQUAL",
                target: "VALUE",
                value: "MQ==",
            }],
            success: [TxnOp {
                request_put: PutRequest {
                    key: "a2V5",
                    value: "Mg==",
                },
            }],
        };
        assert_eq!(
            serde_json::to_value(&txn).unwrap(),
            json!({
                "compare": [{ "key": "a2V5", "result": "EQUAL", "target": "VALUE", "value": "MQ==" }],
                "success": [{ "request_put": { "key": "a2V5", "value": "Mg==" } }],
            })
        );
        let range = RangeRequest {
            key: "a2V5",
            serializable: true,
        };
        assert_eq!(
            serde_json::to_value(&range).unwrap(),
            json!({ "key": "a2V5", "serializable": true })
        );
        // Answers as the gateway gives them: empty lists and false
        // booleans omitted, other fields ignored.
        let a: RangeAnswer = serde_json::from_str(r#"{"header":{"revision":"7"}}"#).unwrap();
        assert!(a.kvs.is_empty());
        let a: RangeAnswer = serde_json::from_str(
            r#"{"header":{},"kvs":[{"key":"a2V5","mod_revision":"7","value":"NDI="}],"count":"1"}"#,
        )
        .unwrap();
        assert_eq!(decode_value(a.kvs[0].value.as_deref()).unwrap(), 42);
        let t: TxnAnswer = serde_json::from_str(r#"{"header":{}}"#).unwrap();
        assert!(!t.succeeded);
        let t: TxnAnswer = serde_json::from_str(r#"{"header":{},"succeeded":true}"#).unwrap();
        assert!(t.succeeded);
    }

    #[test]
    fn list_append_wire_format_and_snapshot() {
        let read = ReadTxn {
            success: vec![RangeOp {
                request_range: RangeRequest {
                    key: "bA==",
                    serializable: false,
                },
            }],
        };
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            json!({ "success": [{ "request_range": { "key": "bA==", "serializable": false } }] })
        );
        let write = WriteTxn {
            compare: vec![ModCompare {
                key: "bA==",
                result: "EQUAL",
                target: "MOD",
                mod_revision: "0",
            }],
            success: vec![TxnOp {
                request_put: PutRequest {
                    key: "bA==",
                    value: "WzFd",
                },
            }],
        };
        assert_eq!(
            serde_json::to_value(&write).unwrap(),
            json!({
                "compare": [{ "key": "bA==", "result": "EQUAL", "target": "MOD", "mod_revision": "0" }],
                "success": [{ "request_put": { "key": "bA==", "value": "WzFd" } }],
            })
        );
        // As the gateway answers: an absent key's range has no kvs.
        let answer: ReadTxnAnswer = serde_json::from_str(&format!(
            r#"{{"header":{{}},"succeeded":true,"responses":[
                {{"response_range":{{"header":{{}}}}}},
                {{"response_range":{{"header":{{}},"kvs":[{{"key":"x","mod_revision":"12","value":"{}"}}],"count":"1"}}}}]}}"#,
            B64.encode("[3,1]")
        ))
        .unwrap();
        let snap = snapshot_of(&answer, 2).unwrap();
        assert_eq!(snap, vec![(vec![], 0), (vec![3, 1], 12)]);
        assert!(snapshot_of(&answer, 3).is_err());
        let mops = [
            TxnMop::Read { key: 5 },
            TxnMop::Append { key: 5, value: 9 },
            TxnMop::Read { key: 5 },
            TxnMop::Append { key: 6, value: 2 },
        ];
        let (reads, lists) = apply_mops(&mops, &[5, 6], vec![vec![3, 1], vec![]]);
        assert_eq!(
            reads,
            vec![Some(vec![3, 1]), None, Some(vec![3, 1, 9]), None]
        );
        assert_eq!(lists, vec![vec![3, 1, 9], vec![2]]);
        assert_eq!(
            decode_list(Some(&B64.encode("[]"))).unwrap(),
            Vec::<u64>::new()
        );
        assert!(decode_list(Some(&B64.encode("7"))).is_err());
    }

    #[test]
    fn classification_keeps_uncertainty() {
        let t = Duration::from_secs(1);
        let read = Request::Read { key: 1 };
        let write = Request::Write { key: 1, value: 2 };
        let refused = || EtcdError::Connect("refused".into());
        let lost = || EtcdError::Indeterminate("connection reset".into());
        let server = || EtcdError::Server {
            status: 503,
            message: "etcdserver: request timed out".into(),
        };
        assert!(matches!(
            classify(&write, refused(), t),
            Completion::Fail { .. }
        ));
        assert!(matches!(
            classify(&write, lost(), t),
            Completion::Info { .. }
        ));
        assert!(matches!(
            classify(&write, server(), t),
            Completion::Info { .. }
        ));
        assert!(matches!(
            classify(&read, lost(), t),
            Completion::Fail { .. }
        ));
        assert!(matches!(
            classify(&read, server(), t),
            Completion::Fail { .. }
        ));
        assert!(matches!(
            classify(&write, EtcdError::Timeout, t),
            Completion::Info { .. }
        ));
        assert!(matches!(
            classify(&read, EtcdError::Timeout, t),
            Completion::Fail { .. }
        ));
    }
}
