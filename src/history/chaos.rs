//! The `chaos` history format: JSON lines, one [`Op`] per line, as the runner
//! writes `history.jsonl`.
//!
//! ```text
//! {"index":0,"time_ns":1234,"process":3,"type":"invoke","f":"read","key":17,"value":null}
//! {"index":1,"time_ns":2345,"process":3,"type":"ok","f":"read","key":17,"value":4}
//! ```
//!
//! - `index` (u64): position in the history; optional on input, where it is
//!   either on every line or on none (then the line order is the order).
//!   Lines are ordered by it; a repeated index is an error.
//! - `time_ns` (u64, optional): monotonic nanoseconds since the run's start.
//! - `process` (u64), `type` (`invoke` | `ok` | `fail` | `info`),
//!   `f` (`read` | `write` | `cas` | `get` | `put` | `append`).
//! - `key`: a non-negative integer or a string.
//! - `value`: read invoke `null`; read ok the value read or `null` (absent);
//!   write the integer written; cas `[expected, new]`; kv functions strings.
//! - `error` (string, optional): why a `fail` or `info` ended so.
//!   `node` (string, optional): which node served the request.
//!   `final` (bool, optional, default false): a final read, made after the
//!   workload and the heals (checked like any op, counted apart).
//! - Unknown fields are ignored, so newer writers stay readable.
//! - A line with `"f":"txn"` is a list-append transaction, which belongs
//!   in a transaction history (`crate::checker::txn::jsonl`); here it is
//!   refused with a message that says so.
//!
//! Owns only this format; pairing rules live in the parent module. Pure.

use serde::Deserialize;

use super::{Function, HistoryError, Key, Kind, Op, Value};

/// One line as it may appear on input: like [`Op`], with `index` optional.
#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    time_ns: Option<u64>,
    process: u64,
    #[serde(rename = "type")]
    kind: Kind,
    f: Function,
    key: Key,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default, rename = "final")]
    final_read: bool,
}

/// One op as one line of the `chaos` format, without the newline.
pub fn to_line(op: &Op) -> String {
    serde_json::to_string(op).expect("an op always serializes to JSON")
}

/// Parse the lines of a `chaos` history into ops in history order (not yet
/// paired).
pub fn parse_ops(text: &str) -> Result<Vec<Op>, HistoryError> {
    let mut ops = Vec::with_capacity(text.len() / 96 + 1);
    let mut indexed: Option<bool> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(raw).map_err(|e| {
            if is_txn(raw) {
                HistoryError::BadField {
                    line,
                    field: "f",
                    reason: "a list-append transaction (\"f\":\"txn\") in a history of \
                             register ops; a transaction history holds only transactions, and \
                             `chaos check` gives it to the transaction checker when its first \
                             line is one"
                        .into(),
                }
            } else {
                HistoryError::Malformed {
                    line,
                    reason: json_reason(&e),
                }
            }
        })?;
        let has_index = parsed.index.is_some();
        match indexed {
            None => indexed = Some(has_index),
            Some(expected) if expected != has_index => {
                return Err(HistoryError::BadField {
                    line,
                    field: "index",
                    reason: if has_index {
                        "present here but absent on earlier lines; give it on every line or none"
                            .into()
                    } else {
                        "missing here but present on earlier lines; give it on every line or none"
                            .into()
                    },
                });
            }
            Some(_) => {}
        }
        ops.push(Op {
            index: parsed.index.unwrap_or(ops.len() as u64),
            time_ns: parsed.time_ns,
            process: parsed.process,
            kind: parsed.kind,
            f: parsed.f,
            key: parsed.key,
            value: parsed.value,
            error: parsed.error,
            node: parsed.node,
            final_read: parsed.final_read,
            line,
        });
    }
    if indexed == Some(true) {
        if ops.windows(2).any(|w| w[0].index >= w[1].index) {
            ops.sort_by_key(|op| op.index);
        }
        if let Some(w) = ops.windows(2).find(|w| w[0].index == w[1].index) {
            let (first, second) = if w[0].line < w[1].line {
                (&w[0], &w[1])
            } else {
                (&w[1], &w[0])
            };
            return Err(HistoryError::DuplicateIndex {
                line: second.line,
                index: second.index,
                other_line: first.line,
            });
        }
    }
    Ok(ops)
}

/// Is this line a list-append transaction (`"f":"txn"`)? Asked only of a
/// line that is not a register op, to say so instead of a serde error.
fn is_txn(raw: &str) -> bool {
    #[derive(Deserialize)]
    struct FunctionOnly {
        #[serde(default)]
        f: Option<String>,
    }
    serde_json::from_str::<FunctionOnly>(raw).is_ok_and(|l| l.f.as_deref() == Some("txn"))
}

/// serde_json's message without its own "at line 1 column N" (every line is
/// parsed alone), with the column kept.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    format!("not a history line: {message} (column {})", e.column())
}

#[cfg(test)]
mod tests {
    use super::super::{Format, History, Outcome, parse};
    use super::*;

    #[test]
    fn reads_the_documented_line() {
        let text = r#"{"index":0,"time_ns":1234,"process":3,"type":"invoke","f":"read","key":17,"value":null}
{"index":1,"time_ns":2000,"process":3,"type":"ok","f":"read","key":17,"value":4,"node":"n1","extra":[1,2]}
"#;
        let h = parse(text, Format::Chaos).unwrap();
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[1].node.as_deref(), Some("n1"));
        assert_eq!(h.operations[0].outcome, Outcome::Ok);
        assert_eq!(h.output(&h.operations[0]), &Value::Int(4));
        assert_eq!(h.ops[0].key, Key::Int(17));
    }

    #[test]
    fn writes_what_it_reads() {
        let text = r#"{"index":0,"time_ns":5,"process":1,"type":"invoke","f":"cas","key":"k","value":[null,3]}
{"index":1,"time_ns":9,"process":1,"type":"info","f":"cas","key":"k","value":[null,3],"error":"timeout"}
"#;
        let h = parse(text, Format::Chaos).unwrap();
        let written: String = h.ops.iter().map(|op| to_line(op) + "\n").collect();
        assert_eq!(written, text);
        let again = parse(&written, Format::Chaos).unwrap();
        assert_eq!(again, h);
    }

    #[test]
    fn orders_by_index_and_refuses_repeats() {
        let text = r#"{"index":1,"process":1,"type":"ok","f":"write","key":1,"value":2}
{"index":0,"process":1,"type":"invoke","f":"write","key":1,"value":2}
"#;
        let h = parse(text, Format::Chaos).unwrap();
        assert_eq!(h.ops[0].kind, Kind::Invoke);
        assert_eq!(h.ops[0].line, 2);
        let repeated = text.replace("\"index\":1", "\"index\":0");
        let err = parse(&repeated, Format::Chaos).unwrap_err();
        assert!(matches!(err, HistoryError::DuplicateIndex { .. }), "{err}");
    }

    #[test]
    fn errors_name_the_line_and_what_is_wrong() {
        let text = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null}\n\n\
                    {\"process\":1,\"type\":\"okay\",\"f\":\"read\",\"key\":1,\"value\":null}\n";
        let err = parse(text, Format::Chaos).unwrap_err();
        assert_eq!(err.line(), 3);
        assert!(err.to_string().contains("okay"), "{err}");
        let err = History::from_ops(parse_ops("{\"process\":1}").unwrap_or_default());
        assert!(err.is_ok());
        let err = parse("{\"process\":1}", Format::Chaos).unwrap_err();
        assert!(err.to_string().starts_with("line 1: "), "{err}");
        let err = parse(
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"key\":1,\"value\":\"x\"}",
            Format::Chaos,
        )
        .unwrap_err();
        assert!(err.to_string().contains("value"), "{err}");
    }

    #[test]
    fn a_transaction_line_is_refused_for_what_it_is() {
        let text = r#"{"process":1,"type":"invoke","f":"read","key":1,"value":null}
{"process":2,"type":"invoke","f":"txn","value":[["append",1,2]]}
"#;
        let err = parse(text, Format::Chaos).unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(err.to_string().contains("list-append transaction"), "{err}");
        // A register line that is merely broken is still a serde error.
        let err = parse("{\"process\":1,\"f\":\"read\"}", Format::Chaos).unwrap_err();
        assert!(err.to_string().contains("not a history line"), "{err}");
    }
}
