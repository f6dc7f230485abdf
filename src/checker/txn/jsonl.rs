//! chaos's own JSONL for list-append transactions: one [`TxnLine`] per
//! line, in the same file format family as the register `history.jsonl`
//! ([`crate::history::chaos`]), told apart by `"f":"txn"`.
//!
//! ```text
//! {"index":0,"time_ns":1200,"process":2,"type":"invoke","f":"txn","value":[["append",9,2],["r",8,null]]}
//! {"index":1,"time_ns":1800,"process":2,"type":"ok","f":"txn","value":[["append",9,2],["r",8,[1,3]]],"node":"n1"}
//! ```
//!
//! - `index` (u64): on every line or none (then the line order is the
//!   order); lines are ordered by it, a repeated index is an error.
//! - `time_ns` (u64, optional): monotonic nanoseconds since the run began.
//! - `process` (u64), `type` (`invoke` | `ok` | `fail` | `info`), `f`
//!   (`"txn"`, always).
//! - `value`: the micro-ops, `["append", key, element]` and
//!   `["r", key, list]`; a read's list is `null` until it returns (in the
//!   invocation, and in `fail`/`info` completions). Keys are non-negative
//!   integers or strings, elements non-negative integers, unique per key.
//!   An `ok` read of `null` read the empty list. A `fail` or `info`
//!   completion may carry `null` instead of the micro-ops.
//! - `node`, `error` (strings, optional): which node served it, why it
//!   failed. Unknown fields are ignored.
//!
//! Owns only this format. Pure.

use serde::Deserialize;

use crate::history::{HistoryError, Kind};

use super::history::{Builder, MicroOp, TxnHistory, TxnLine};

/// One line as it may appear on input: like [`TxnLine`], with `index`
/// optional and `value` possibly `null`.
#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    time_ns: Option<u64>,
    process: u64,
    #[serde(rename = "type")]
    kind: Kind,
    f: String,
    #[serde(default)]
    value: Option<Vec<MicroOp>>,
}

/// Only the function of a line: to tell transaction lines from register
/// ones without parsing the rest.
#[derive(Deserialize)]
struct FunctionOnly {
    #[serde(default)]
    f: Option<String>,
}

/// One transaction line as a line of the format, without the newline.
pub fn to_line(line: &TxnLine) -> String {
    serde_json::to_string(line).expect("a transaction line always serializes to JSON")
}

/// Is this JSON line a transaction (`"f":"txn"`)? False for anything that
/// does not parse as a JSON object.
pub fn is_txn_line(raw: &str) -> bool {
    serde_json::from_str::<FunctionOnly>(raw.trim()).is_ok_and(|l| l.f.as_deref() == Some("txn"))
}

/// Is this chaos history one of transactions? Decided by its first
/// non-blank line.
pub fn is_txn_history(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(is_txn_line)
}

/// Parse a whole chaos JSONL transaction history.
pub fn parse(text: &str) -> Result<TxnHistory, HistoryError> {
    let mut b = Builder::new();
    b.reserve_for(text.len());
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(raw).map_err(|e| HistoryError::Malformed {
            line,
            reason: json_reason(&e),
        })?;
        if parsed.f != "txn" {
            return Err(HistoryError::BadField {
                line,
                field: "f",
                reason: format!(
                    "`{}` in a transaction history; every line is \"f\":\"txn\" (register ops \
                     belong in their own history)",
                    parsed.f
                ),
            });
        }
        b.begin_line(
            line,
            parsed.index,
            parsed.time_ns,
            parsed.process,
            parsed.kind,
        );
        let has_value = parsed.value.is_some();
        for m in parsed.value.iter().flatten() {
            match m {
                MicroOp::Append(k, v) => {
                    let k = b.intern(k);
                    b.append(k, *v);
                }
                MicroOp::Read(k, None) => {
                    let k = b.intern(k);
                    b.read_unknown(k);
                }
                MicroOp::Read(k, Some(items)) => {
                    let k = b.intern(k);
                    b.read_start();
                    for &e in items {
                        b.read_element(e);
                    }
                    b.read_end(k);
                }
            }
        }
        b.end_line(has_value);
    }
    b.finish()
}

/// serde_json's message without its own "at line 1 column N", the column
/// kept.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    format!("not a transaction line: {message} (column {})", e.column())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::txn::history::TxnFunction;
    use crate::history::{Key, Outcome};

    const TEXT: &str = r#"{"index":0,"time_ns":1200,"process":2,"type":"invoke","f":"txn","value":[["append",9,2],["r",8,null]]}
{"index":1,"time_ns":1800,"process":2,"type":"ok","f":"txn","value":[["append",9,2],["r",8,[1,3]]],"node":"n1"}
"#;

    #[test]
    fn reads_the_documented_lines() {
        assert!(is_txn_history(TEXT));
        let h = parse(TEXT).unwrap();
        assert_eq!(h.txns.len(), 1);
        assert_eq!(h.txns[0].outcome, Outcome::Ok);
        assert_eq!(
            h.micro_ops(0),
            vec![
                MicroOp::Append(Key::Int(9), 2),
                MicroOp::Read(Key::Int(8), Some(vec![1, 3]))
            ]
        );
    }

    #[test]
    fn writes_what_it_reads() {
        let line = TxnLine {
            index: 0,
            time_ns: Some(1200),
            process: 2,
            kind: Kind::Invoke,
            f: TxnFunction::Txn,
            value: vec![
                MicroOp::Append(Key::Int(9), 2),
                MicroOp::Read(Key::Int(8), None),
            ],
            node: None,
            error: None,
            final_read: false,
            line: 0,
        };
        assert_eq!(to_line(&line), TEXT.lines().next().unwrap());
    }

    #[test]
    fn errors_name_the_line() {
        let bad = TEXT.replace(r#"["r",8,[1,3]]"#, r#"["r",8,[1,-3]]"#);
        let err = parse(&bad).unwrap_err();
        assert_eq!(err.line(), 2, "{err}");
        let register =
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null}";
        let err = parse(&format!("{}\n{register}\n", TEXT.lines().next().unwrap())).unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(err.to_string().contains("`read`"), "{err}");
        assert!(!is_txn_history(register));
    }
}
