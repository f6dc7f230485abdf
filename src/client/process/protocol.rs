//! The process client's protocol, as values: the lines chaos writes to an
//! adapter's stdin ([`ToAdapter`]), the lines it reads from its stdout
//! ([`FromAdapter`]: the hello, then replies), and what a reply means as an
//! op's [`Outcome`] ([`outcome`]). `docs/clients.md` is the protocol's
//! document; the tests below are its examples.
//!
//! Pure: text in, values out. No process, pipe, runtime or clock (the
//! shell, [`super`], owns the adapter's process and its timeouts). Must not
//! depend on the engine, the nemesis or any other client.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::workload::{Invocation, Outcome};

/// The protocol's version: the hello's `protocol`.
pub const VERSION: u64 = 1;

/// How much of an offending line an error quotes.
const QUOTE: usize = 200;

/// One node the adapter may talk to: the compose service, and where its
/// port is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub node: String,
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// `node` at `HOST:PORT` (an IPv6 host in brackets, as published
    /// addresses are written); `None` if `address` has no port.
    pub fn parse(node: &str, address: &str) -> Option<Endpoint> {
        let (host, port) = address.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some(Endpoint {
            node: node.to_string(),
            host: host.to_string(),
            port: port.parse().ok()?,
        })
    }
}

/// What chaos tells the adapter at start (`init`): the run's facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Init {
    /// How many clients will send ops (`client` is `0..clients`).
    pub clients: u64,
    pub endpoints: Vec<Endpoint>,
    /// The workload (`register`, `list-append`, `bank`, `set`).
    pub workload: String,
    /// `workload.read_mode`.
    pub read_mode: String,
    /// A prefix fresh for every run: names made from it (keys, tables)
    /// start empty.
    pub prefix: String,
    /// `[workload.adapter] options`, verbatim (`{}` when none).
    pub options: Json,
}

/// A line chaos writes to the adapter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ToAdapter<'a> {
    /// The run's facts; answered by a reply (`ok`, or `fail` with why it
    /// cannot start).
    Init {
        id: u64,
        #[serde(flatten)]
        init: &'a Init,
    },
    /// The endpoints changed (chaos resolved them again); not answered.
    Endpoints { endpoints: &'a [Endpoint] },
    /// One op of client `client`, to be sent through `node`.
    Invoke {
        id: u64,
        client: u64,
        node: &'a str,
        workload: &'a str,
        op: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<u64>,
        value: &'a Json,
    },
    /// Which of `nodes` holds `component`'s leadership now; answered by
    /// `ok` with the node's name.
    Leader {
        id: u64,
        component: &'a str,
        nodes: &'a [String],
    },
}

impl ToAdapter<'_> {
    /// The line, without its newline.
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("a request always serializes")
    }
}

/// The adapter's first line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Hello {
    pub protocol: u64,
    /// The adapter's name, for people.
    #[serde(default)]
    pub name: Option<String>,
    /// The workloads whose ops it serves.
    pub serves: Vec<String>,
    /// It answers `leader` requests.
    #[serde(default)]
    pub leader: bool,
}

impl Hello {
    /// What validation needs of it.
    pub fn facts(&self) -> crate::experiment::AdapterFacts {
        crate::experiment::AdapterFacts {
            serves: self.serves.clone(),
            leader: self.leader,
        }
    }
}

/// How an adapter says a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyType {
    Ok,
    Fail,
    Info,
}

/// One reply.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: ReplyType,
    #[serde(default)]
    pub value: Json,
    #[serde(default)]
    pub error: Option<String>,
}

/// A line the adapter wrote, read.
#[derive(Debug, Clone, PartialEq)]
pub enum FromAdapter {
    Hello(Hello),
    Reply(Reply),
}

/// A line of the adapter's stdout that breaks the protocol: which line
/// (1-based, counted from the adapter's start), what it said, and why it
/// is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LineError {
    pub line: u64,
    pub text: String,
    pub reason: String,
}

impl LineError {
    pub fn new(line: u64, text: &str, reason: impl Into<String>) -> LineError {
        let mut quoted: String = text.chars().take(QUOTE).collect();
        if quoted.len() < text.len() {
            quoted.push('…');
        }
        LineError {
            line,
            text: quoted,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "adapter stdout line {}: {}: `{}`",
            self.line, self.reason, self.text
        )
    }
}

/// Read one line of the adapter's stdout (`line` is its number). A blank
/// line is `None`; anything that is not a hello or a reply is an error
/// naming the line.
pub fn parse_line(line: u64, text: &str) -> Result<Option<FromAdapter>, LineError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let value: Json = serde_json::from_str(t).map_err(|e| {
        LineError::new(
            line,
            t,
            format!("not JSON ({e}); an adapter's stdout carries protocol lines only, its logs go to stderr"),
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err(LineError::new(line, t, "not a JSON object"));
    };
    match object.get("type").and_then(Json::as_str) {
        Some("hello") => {
            let mut rest = object.clone();
            rest.remove("type");
            let hello: Hello = serde_json::from_value(Json::Object(rest))
                .map_err(|e| LineError::new(line, t, format!("not a hello: {e}")))?;
            Ok(Some(FromAdapter::Hello(hello)))
        }
        Some("ok" | "fail" | "info") => {
            if !object.contains_key("id") {
                return Err(LineError::new(line, t, "a reply without `id`"));
            }
            let reply: Reply = serde_json::from_value(value.clone())
                .map_err(|e| LineError::new(line, t, format!("not a reply: {e}")))?;
            Ok(Some(FromAdapter::Reply(reply)))
        }
        Some(other) => Err(LineError::new(
            line,
            t,
            format!(
                "unknown `type` `{other}`; expected `hello`, or a reply's `ok`, `fail` or `info`"
            ),
        )),
        None => Err(LineError::new(
            line,
            t,
            "no `type`; expected `hello`, or a reply's `ok`, `fail` or `info`",
        )),
    }
}

/// Check a hello against what chaos speaks.
pub fn check_hello(hello: &Hello) -> Result<(), String> {
    if hello.protocol != VERSION {
        return Err(format!(
            "the adapter speaks protocol {}; this chaos speaks {VERSION}",
            hello.protocol
        ));
    }
    let known = crate::workload::names();
    if let Some(w) = hello.serves.iter().find(|w| !known.contains(&w.as_str())) {
        return Err(format!(
            "the adapter says it serves `{w}`, which is no workload; expected some of: {}",
            known.join(", ")
        ));
    }
    if hello.serves.is_empty() {
        return Err("the adapter's hello serves no workload".into());
    }
    Ok(())
}

/// The op's outcome from the adapter's reply. `fail` and `info` are taken
/// as the adapter says them (the adapter knows its database's errors); an
/// `ok` must carry what the op returns, in the room's shape (a read's
/// value, a transaction's micro-ops with their reads), else the reply is
/// refused with the reason: a malformed answer never reaches the history.
/// `workload` is the room's name.
pub fn outcome(workload: &str, op: &Invocation, reply: &Reply) -> Result<Outcome, String> {
    let error = || reply.error.clone().unwrap_or_default();
    match reply.kind {
        ReplyType::Fail => Ok(Outcome::Fail(with_default(
            error(),
            "the adapter said fail",
        ))),
        ReplyType::Info => Ok(Outcome::Info(with_default(
            error(),
            "the adapter said info",
        ))),
        ReplyType::Ok => ok_value(workload, op, &reply.value).map(Outcome::Ok),
    }
}

fn with_default(error: String, default: &str) -> String {
    if error.is_empty() {
        default.to_string()
    } else {
        error
    }
}

/// An `ok` reply's value, checked against the op and put in the room's
/// shape.
fn ok_value(workload: &str, op: &Invocation, value: &Json) -> Result<Json, String> {
    let ints = |v: &Json, what: &str| -> Result<Vec<u64>, String> {
        v.as_array()
            .and_then(|a| a.iter().map(Json::as_u64).collect::<Option<Vec<u64>>>())
            .ok_or_else(|| format!("{what} must be a list of whole numbers, not {v}"))
    };
    match (workload, op.f) {
        ("register", "read") => match value {
            Json::Null => Ok(Json::Null),
            v if v.as_u64().is_some() => Ok(v.clone()),
            v => Err(format!(
                "a register read's value must be a whole number, or null when the key was never written, not {v}"
            )),
        },
        ("list-append", "txn") => {
            let asked = crate::workload::list_append::mops_of(op)?;
            let got = value.as_array().ok_or_else(|| {
                format!(
                    "a txn's value must be its micro-ops with their reads filled in, not {value}"
                )
            })?;
            if got.len() != asked.len() {
                return Err(format!(
                    "a txn of {} micro-ops answered with {}",
                    asked.len(),
                    got.len()
                ));
            }
            let mut reads = Vec::with_capacity(asked.len());
            for (i, (mop, g)) in asked.iter().zip(got).enumerate() {
                let parts = g.as_array().map(Vec::as_slice).unwrap_or_default();
                let (f, key, v) = match parts {
                    [f, k, v] => (f.as_str(), k.as_u64(), v),
                    _ => return Err(format!("micro-op {i} must be [f, key, value], not {g}")),
                };
                match *mop {
                    crate::workload::list_append::TxnMop::Append { key: k, value: a } => {
                        if f != Some("append") || key != Some(k) || v.as_u64() != Some(a) {
                            return Err(format!(
                                "micro-op {i} was [\"append\", {k}, {a}], answered as {g}"
                            ));
                        }
                        reads.push(None);
                    }
                    crate::workload::list_append::TxnMop::Read { key: k } => {
                        if f != Some("r") || key != Some(k) {
                            return Err(format!(
                                "micro-op {i} was [\"r\", {k}, null], answered as {g}"
                            ));
                        }
                        let list = if v.is_null() {
                            Vec::new()
                        } else {
                            ints(v, &format!("micro-op {i}'s read"))?
                        };
                        reads.push(Some(list));
                    }
                }
            }
            let mops = crate::workload::list_append::micro_ops(&asked, Some(&reads));
            Ok(serde_json::to_value(mops).expect("micro-ops serialize"))
        }
        ("bank", "read") => {
            let accounts = op
                .value
                .get("accounts")
                .and_then(Json::as_u64)
                .unwrap_or_default();
            let balances = value
                .as_array()
                .filter(|a| a.len() as u64 == accounts)
                .filter(|a| a.iter().all(|b| b.is_null() || b.as_i64().is_some()))
                .ok_or_else(|| {
                    format!(
                        "a bank read's value must be the {accounts} balances (whole numbers, null for an absent account), not {value}"
                    )
                })?;
            Ok(Json::Array(balances.clone()))
        }
        ("set", "read") => {
            let mut elements = if value.is_null() {
                Vec::new()
            } else {
                ints(value, "a set read's value")?
            };
            elements.sort_unstable();
            elements.dedup();
            Ok(serde_json::json!(elements))
        }
        // What a write returns is nothing the history keeps.
        _ => Ok(Json::Null),
    }
}

/// The outcome of an op whose adapter died (or was stopped) before it
/// answered: a read-only op changed nothing (`fail`); anything else may
/// have happened (`info`). The rule of a timeout.
pub fn lost(read_only: bool, why: &str) -> Outcome {
    if read_only {
        Outcome::Fail(why.to_string())
    } else {
        Outcome::Info(why.to_string())
    }
}

/// A `leader` reply's node: `ok` with one of `nodes`.
pub fn leader(reply: &Reply, nodes: &[String]) -> Result<String, String> {
    match reply.kind {
        ReplyType::Ok => match reply.value.as_str() {
            Some(n) if nodes.iter().any(|x| x == n) => Ok(n.to_string()),
            _ => Err(format!(
                "the adapter named {} as leader; expected one of: {}",
                reply.value,
                nodes.join(", ")
            )),
        },
        _ => Err(format!(
            "the adapter knows no leader: {}",
            reply.error.as_deref().unwrap_or("no reason given")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(text: &str) -> Reply {
        match parse_line(1, text) {
            Ok(Some(FromAdapter::Reply(r))) => r,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn requests_are_one_json_object_a_line() {
        let v = json!(7);
        let op = ToAdapter::Invoke {
            id: 3,
            client: 1,
            node: "n1",
            workload: "register",
            op: "write",
            key: Some(2),
            value: &v,
        };
        assert_eq!(
            op.line(),
            r#"{"type":"invoke","id":3,"client":1,"node":"n1","workload":"register","op":"write","key":2,"value":7}"#
        );
        let txn = json!([["append", 1, 5], ["r", 2, null]]);
        let op = ToAdapter::Invoke {
            id: 4,
            client: 0,
            node: "n1",
            workload: "list-append",
            op: "txn",
            key: None,
            value: &txn,
        };
        assert_eq!(
            op.line(),
            r#"{"type":"invoke","id":4,"client":0,"node":"n1","workload":"list-append","op":"txn","value":[["append",1,5],["r",2,null]]}"#
        );
        let endpoints = vec![Endpoint::parse("n1", "127.0.0.1:23791").unwrap()];
        let init = Init {
            clients: 2,
            endpoints: endpoints.clone(),
            workload: "register".into(),
            read_mode: "linearizable".into(),
            prefix: "chaos/x/".into(),
            options: json!({"isolation": "serializable"}),
        };
        assert_eq!(
            ToAdapter::Init { id: 0, init: &init }.line(),
            r#"{"type":"init","id":0,"clients":2,"endpoints":[{"node":"n1","host":"127.0.0.1","port":23791}],"workload":"register","read_mode":"linearizable","prefix":"chaos/x/","options":{"isolation":"serializable"}}"#
        );
        assert_eq!(
            ToAdapter::Endpoints {
                endpoints: &endpoints
            }
            .line(),
            r#"{"type":"endpoints","endpoints":[{"node":"n1","host":"127.0.0.1","port":23791}]}"#
        );
        let nodes = vec!["n1".to_string(), "n2".to_string()];
        assert_eq!(
            ToAdapter::Leader {
                id: 9,
                component: "db",
                nodes: &nodes
            }
            .line(),
            r#"{"type":"leader","id":9,"component":"db","nodes":["n1","n2"]}"#
        );
        assert_eq!(
            Endpoint::parse("n", "[::1]:80"),
            Some(Endpoint {
                node: "n".into(),
                host: "::1".into(),
                port: 80
            })
        );
        assert_eq!(Endpoint::parse("n", "nohost"), None);
    }

    #[test]
    fn a_hello_declares_the_workloads_and_the_leader() {
        let Ok(Some(FromAdapter::Hello(h))) = parse_line(
            1,
            r#"{"type":"hello","protocol":1,"name":"mem","serves":["register","set"],"leader":true}"#,
        ) else {
            panic!()
        };
        assert_eq!(h.serves, ["register", "set"]);
        assert!(h.leader);
        assert!(check_hello(&h).is_ok());
        let Ok(Some(FromAdapter::Hello(h))) =
            parse_line(1, r#"{"type":"hello","protocol":1,"serves":["register"]}"#)
        else {
            panic!()
        };
        assert!(!h.leader, "no `leader`: not declared");
        let e = check_hello(&Hello {
            protocol: 2,
            ..h.clone()
        })
        .unwrap_err();
        assert!(e.contains("protocol 2"), "{e}");
        let e = check_hello(&Hello {
            serves: vec!["queue".into()],
            ..h.clone()
        })
        .unwrap_err();
        assert!(e.contains("`queue`"), "{e}");
        assert!(
            check_hello(&Hello {
                serves: vec![],
                ..h
            })
            .is_err()
        );
    }

    #[test]
    fn garbage_is_an_error_naming_the_line() {
        for (text, reason) in [
            ("hello world", "not JSON"),
            ("[1,2]", "not a JSON object"),
            (r#"{"id":1}"#, "no `type`"),
            (r#"{"id":1,"type":"done"}"#, "unknown `type` `done`"),
            (r#"{"type":"ok","value":1}"#, "without `id`"),
            (r#"{"id":-1,"type":"ok"}"#, "not a reply"),
            (r#"{"id":1,"type":"ok","extra":2}"#, "unknown field `extra`"),
            (r#"{"type":"hello","serves":[]}"#, "not a hello"),
        ] {
            let e = parse_line(17, text).unwrap_err();
            assert_eq!(e.line, 17);
            assert!(e.reason.contains(reason), "{text}: {e}");
            assert!(e.to_string().starts_with("adapter stdout line 17: "), "{e}");
            assert!(e.to_string().contains(text), "{e}");
        }
        assert_eq!(parse_line(3, "   ").unwrap(), None);
        let long = "x".repeat(1000);
        let e = parse_line(1, &long).unwrap_err();
        assert!(e.text.chars().count() <= QUOTE + 1, "quoted in part");
    }

    fn register(f: &'static str, value: Json) -> Invocation {
        Invocation::new(f, Some(1), value)
    }

    #[test]
    fn replies_become_outcomes_in_the_rooms_shape() {
        let read = register("read", Json::Null);
        assert_eq!(
            outcome(
                "register",
                &read,
                &reply(r#"{"id":1,"type":"ok","value":4}"#)
            ),
            Ok(Outcome::Ok(json!(4)))
        );
        assert_eq!(
            outcome(
                "register",
                &read,
                &reply(r#"{"id":1,"type":"ok","value":null}"#)
            ),
            Ok(Outcome::Ok(Json::Null))
        );
        assert!(
            outcome(
                "register",
                &read,
                &reply(r#"{"id":1,"type":"ok","value":"4"}"#)
            )
            .unwrap_err()
            .contains("whole number")
        );
        let write = register("write", json!(5));
        assert_eq!(
            outcome(
                "register",
                &write,
                &reply(r#"{"id":1,"type":"ok","value":"ignored"}"#)
            ),
            Ok(Outcome::Ok(Json::Null))
        );
        assert_eq!(
            outcome(
                "register",
                &write,
                &reply(r#"{"id":1,"type":"info","error":"connection reset"}"#)
            ),
            Ok(Outcome::Info("connection reset".into()))
        );
        let cas = register("cas", json!([1, 2]));
        assert_eq!(
            outcome("register", &cas, &reply(r#"{"id":1,"type":"fail"}"#)),
            Ok(Outcome::Fail("the adapter said fail".into()))
        );

        let txn = Invocation::new("txn", None, json!([["append", 1, 5], ["r", 2, null]]));
        assert_eq!(
            outcome(
                "list-append",
                &txn,
                &reply(r#"{"id":1,"type":"ok","value":[["append",1,5],["r",2,[3,4]]]}"#)
            ),
            Ok(Outcome::Ok(json!([["append", 1, 5], ["r", 2, [3, 4]]])))
        );
        // A read of a key never written may say null: the empty list.
        assert_eq!(
            outcome(
                "list-append",
                &txn,
                &reply(r#"{"id":1,"type":"ok","value":[["append",1,5],["r",2,null]]}"#)
            ),
            Ok(Outcome::Ok(json!([["append", 1, 5], ["r", 2, []]])))
        );
        for bad in [
            r#"{"id":1,"type":"ok","value":[["append",1,5]]}"#,
            r#"{"id":1,"type":"ok","value":[["append",1,6],["r",2,[]]]}"#,
            r#"{"id":1,"type":"ok","value":[["append",1,5],["r",3,[]]]}"#,
            r#"{"id":1,"type":"ok","value":[["append",1,5],["r",2,["a"]]]}"#,
            r#"{"id":1,"type":"ok","value":null}"#,
        ] {
            assert!(outcome("list-append", &txn, &reply(bad)).is_err(), "{bad}");
        }

        let bank = Invocation::new("read", None, json!({"accounts": 2}));
        assert_eq!(
            outcome(
                "bank",
                &bank,
                &reply(r#"{"id":1,"type":"ok","value":[3,null]}"#)
            ),
            Ok(Outcome::Ok(json!([3, null])))
        );
        assert!(outcome("bank", &bank, &reply(r#"{"id":1,"type":"ok","value":[3]}"#)).is_err());

        let set = Invocation::new("read", None, Json::Null);
        assert_eq!(
            outcome(
                "set",
                &set,
                &reply(r#"{"id":1,"type":"ok","value":[3,1,3]}"#)
            ),
            Ok(Outcome::Ok(json!([1, 3])))
        );
        assert!(outcome("set", &set, &reply(r#"{"id":1,"type":"ok","value":{}}"#)).is_err());
    }

    #[test]
    fn a_lost_answer_follows_the_timeout_rule() {
        assert!(matches!(lost(true, "died"), Outcome::Fail(_)));
        assert!(matches!(lost(false, "died"), Outcome::Info(_)));
    }

    #[test]
    fn a_leader_is_one_of_the_nodes() {
        let nodes = vec!["n1".to_string(), "n2".to_string()];
        assert_eq!(
            leader(&reply(r#"{"id":1,"type":"ok","value":"n2"}"#), &nodes),
            Ok("n2".into())
        );
        assert!(leader(&reply(r#"{"id":1,"type":"ok","value":"n9"}"#), &nodes).is_err());
        assert!(
            leader(
                &reply(r#"{"id":1,"type":"fail","error":"no quorum"}"#),
                &nodes
            )
            .unwrap_err()
            .contains("no quorum")
        );
    }
}
