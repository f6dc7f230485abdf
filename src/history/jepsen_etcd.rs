//! The `jepsen-etcd` format: Jepsen's etcd logs as published with Porcupine.
//!
//! ```text
//! INFO  jepsen.util - 3 :invoke :cas [3 0]
//! INFO  jepsen.util - 3 :info :cas :timed-out
//! ```
//!
//! One register per file (key `0`), starting absent. Fields are separated by
//! any whitespace. Values: `nil`, an integer, `[a b]` for a cas, or a keyword
//! such as `:timed-out` on a completion (which then carries no value).
//!
//! Owns only this format; pairing rules live in the parent module. Pure.

use super::{Function, HistoryError, Key, Kind, Op, Value};

/// Parse the lines of a Jepsen etcd log into ops (not yet paired).
pub fn parse_ops(text: &str) -> Result<Vec<Op>, HistoryError> {
    let mut ops = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        ops.push(parse_line(line, raw, ops.len() as u64)?);
    }
    Ok(ops)
}

fn parse_line(line: usize, raw: &str, index: u64) -> Result<Op, HistoryError> {
    let malformed = |reason: String| HistoryError::Malformed { line, reason };
    let mut words = raw.split_whitespace();
    let prefix: Vec<&str> = words.by_ref().take(3).collect();
    if prefix != ["INFO", "jepsen.util", "-"] {
        return Err(malformed(format!(
            "expected `INFO jepsen.util - <process> :<type> :<f> <value>`, found `{}`",
            raw.trim()
        )));
    }
    let process_text = words
        .next()
        .ok_or_else(|| malformed("missing the process".into()))?;
    let process = process_text
        .parse::<u64>()
        .map_err(|_| malformed(format!("process `{process_text}` is not an integer")))?;
    let kind = match words.next() {
        Some(":invoke") => Kind::Invoke,
        Some(":ok") => Kind::Ok,
        Some(":fail") => Kind::Fail,
        Some(":info") => Kind::Info,
        other => {
            return Err(malformed(format!(
                "type `{}` is not :invoke, :ok, :fail or :info",
                other.unwrap_or("")
            )));
        }
    };
    let f = match words.next() {
        Some(":read") => Function::Read,
        Some(":write") => Function::Write,
        Some(":cas") => Function::Cas,
        other => {
            return Err(malformed(format!(
                "function `{}` is not :read, :write or :cas",
                other.unwrap_or("")
            )));
        }
    };
    let rest: Vec<&str> = words.collect();
    let value = parse_value(&rest.join(" ")).ok_or_else(|| HistoryError::BadField {
        line,
        field: "value",
        reason: format!(
            "`{}` is not nil, an integer, [a b] or a keyword",
            rest.join(" ")
        ),
    })?;
    Ok(Op {
        index,
        time_ns: None,
        process,
        kind,
        f,
        key: Key::Int(0),
        value,
        error: None,
        node: None,
        final_read: false,
        line,
    })
}

fn parse_value(text: &str) -> Option<Value> {
    let scalar = |t: &str| -> Option<Value> {
        if t == "nil" {
            Some(Value::Null)
        } else {
            t.parse::<u64>().ok().map(Value::Int)
        }
    };
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let items: Vec<&str> = inner.split_whitespace().collect();
        if items.len() != 2 {
            return None;
        }
        return Some(Value::List(vec![scalar(items[0])?, scalar(items[1])?]));
    }
    if text.starts_with(':') && text.len() > 1 && !text.contains(char::is_whitespace) {
        // A keyword such as :timed-out: the completion carries no value.
        return Some(Value::Null);
    }
    scalar(text)
}

/// One op as one line of a Jepsen etcd log, or `None` if the format cannot
/// carry it (a key-value function, a string value).
pub fn to_line(op: &Op) -> Option<String> {
    let f = match op.f {
        Function::Read => ":read",
        Function::Write => ":write",
        Function::Cas => ":cas",
        _ => return None,
    };
    let scalar = |v: &Value| -> Option<String> {
        match v {
            Value::Null => Some("nil".into()),
            Value::Int(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let value = match (&op.kind, &op.value) {
        (Kind::Info | Kind::Fail, _) if op.f == Function::Read => ":timed-out".to_string(),
        (Kind::Info, _) => ":timed-out".to_string(),
        (_, Value::List(items)) if items.len() == 2 => {
            format!("[{} {}]", scalar(&items[0])?, scalar(&items[1])?)
        }
        (_, v) => scalar(v)?,
    };
    Some(format!(
        "INFO  jepsen.util - {}\t:{}\t{f}\t{value}",
        op.process,
        op.kind.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{Format, Outcome, parse};
    use super::*;

    #[test]
    fn reads_tabs_and_spaces_and_every_value_form() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 1   :invoke   :cas   [3 0]\n\
                    INFO  jepsen.util - 0\t:ok\t:read\t3\n\
                    INFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n";
        let h = parse(text, Format::JepsenEtcd).unwrap();
        assert_eq!(h.operations.len(), 2);
        assert_eq!(h.output(&h.operations[0]), &Value::Int(3));
        assert_eq!(
            h.input(&h.operations[1]),
            &Value::List(vec![Value::Int(3), Value::Int(0)])
        );
        assert_eq!(h.operations[1].outcome, Outcome::Info);
    }

    #[test]
    fn round_trips_through_the_writer() {
        let text = "INFO  jepsen.util - 4\t:invoke\t:cas\t[1 2]\n\
                    INFO  jepsen.util - 4\t:info\t:cas\t:timed-out\n";
        let h = parse(text, Format::JepsenEtcd).unwrap();
        let out: String = h.ops.iter().map(|op| to_line(op).unwrap() + "\n").collect();
        assert_eq!(out, text);
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse(
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO jepsen.util - 0 :ok :frob 3\n",
            Format::JepsenEtcd,
        )
        .unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(err.to_string().contains(":frob"), "{err}");
        let err = parse(
            "INFO  jepsen.util - 0 :invoke :write [1",
            Format::JepsenEtcd,
        )
        .unwrap_err();
        assert_eq!(err.line(), 1);
    }
}
