//! The `porcupine-kv` format: Porcupine's key-value histories, one flat EDN
//! map per line.
//!
//! ```text
//! {:process 9, :type :invoke, :f :append, :key "0", :value "x 9 0 y"}
//! {:process 9, :type :ok, :f :get, :key "0", :value "x 9 0 y"}
//! ```
//!
//! Keys are strings; values are strings or `nil`. The map is empty at first;
//! a get of a missing key returns `""`. Only the flat maps above are read
//! (commas are whitespace, strings may escape `\"` and `\\`); other keywords
//! in a map are ignored.
//!
//! Owns only this format; pairing rules live in the parent module. Pure.

use super::{Function, HistoryError, Key, Kind, Op, Value};

/// Parse the lines of a Porcupine key-value history into ops (not yet
/// paired).
pub fn parse_ops(text: &str) -> Result<Vec<Op>, HistoryError> {
    let mut ops = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        ops.push(parse_line(line, raw.trim(), ops.len() as u64)?);
    }
    Ok(ops)
}

/// An EDN atom of the flat maps this format uses.
#[derive(Debug, PartialEq)]
enum Atom {
    Keyword(String),
    Str(String),
    Int(u64),
    Nil,
}

fn parse_line(line: usize, raw: &str, index: u64) -> Result<Op, HistoryError> {
    let malformed = |reason: String| HistoryError::Malformed { line, reason };
    let inner = raw
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| malformed(format!("expected one EDN map `{{...}}`, found `{raw}`")))?;
    let atoms = tokenize(inner).map_err(malformed)?;
    if atoms.len() % 2 != 0 {
        return Err(malformed("the map has a key without a value".into()));
    }
    let (mut process, mut kind, mut f, mut key, mut value) = (None, None, None, None, None);
    for pair in atoms.chunks(2) {
        let Atom::Keyword(name) = &pair[0] else {
            return Err(malformed(format!(
                "map keys must be keywords, found {:?}",
                pair[0]
            )));
        };
        let field = |field: &'static str, reason: String| HistoryError::BadField {
            line,
            field,
            reason,
        };
        match name.as_str() {
            "process" => match &pair[1] {
                Atom::Int(n) => process = Some(*n),
                other => return Err(field("process", format!("{other:?} is not an integer"))),
            },
            "type" => {
                kind = Some(match &pair[1] {
                    Atom::Keyword(k) if k == "invoke" => Kind::Invoke,
                    Atom::Keyword(k) if k == "ok" => Kind::Ok,
                    Atom::Keyword(k) if k == "fail" => Kind::Fail,
                    Atom::Keyword(k) if k == "info" => Kind::Info,
                    other => {
                        return Err(field(
                            "type",
                            format!("{other:?} is not :invoke, :ok, :fail or :info"),
                        ));
                    }
                })
            }
            "f" => {
                f = Some(match &pair[1] {
                    Atom::Keyword(k) if k == "get" => Function::Get,
                    Atom::Keyword(k) if k == "put" => Function::Put,
                    Atom::Keyword(k) if k == "append" => Function::Append,
                    other => {
                        return Err(field(
                            "f",
                            format!("{other:?} is not :get, :put or :append"),
                        ));
                    }
                })
            }
            "key" => {
                key = Some(match &pair[1] {
                    Atom::Str(s) => Key::Str(s.clone()),
                    Atom::Int(n) => Key::Int(*n),
                    other => return Err(field("key", format!("{other:?} is not a string"))),
                })
            }
            "value" => {
                value = Some(match &pair[1] {
                    Atom::Str(s) => Value::Str(s.clone()),
                    Atom::Nil => Value::Null,
                    other => {
                        return Err(field("value", format!("{other:?} is not a string or nil")));
                    }
                })
            }
            _ => {}
        }
    }
    let missing = |name: &str| malformed(format!("the map has no :{name}"));
    Ok(Op {
        index,
        time_ns: None,
        process: process.ok_or_else(|| missing("process"))?,
        kind: kind.ok_or_else(|| missing("type"))?,
        f: f.ok_or_else(|| missing("f"))?,
        key: key.ok_or_else(|| missing("key"))?,
        value: value.unwrap_or(Value::Null),
        error: None,
        node: None,
        final_read: false,
        line,
    })
}

fn tokenize(text: &str) -> Result<Vec<Atom>, String> {
    let mut atoms = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() || c == ',' {
            chars.next();
            continue;
        }
        if c == '"' {
            chars.next();
            let mut s = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => s.push('\n'),
                        Some((_, 't')) => s.push('\t'),
                        Some((_, other)) => s.push(other),
                        None => break,
                    },
                    other => s.push(other),
                }
            }
            if !closed {
                return Err(format!(
                    "unterminated string starting at column {}",
                    start + 2
                ));
            }
            atoms.push(Atom::Str(s));
            continue;
        }
        let mut end = text.len();
        while let Some(&(i, c)) = chars.peek() {
            if c.is_whitespace() || c == ',' {
                end = i;
                break;
            }
            chars.next();
        }
        let word = &text[start..end];
        atoms.push(if let Some(k) = word.strip_prefix(':') {
            Atom::Keyword(k.to_string())
        } else if word == "nil" {
            Atom::Nil
        } else if let Ok(n) = word.parse::<u64>() {
            Atom::Int(n)
        } else {
            return Err(format!("`{word}` is not a keyword, string, integer or nil"));
        });
    }
    Ok(atoms)
}

#[cfg(test)]
mod tests {
    use super::super::{Format, parse};
    use super::*;

    #[test]
    fn reads_the_published_lines() {
        let text = r#"{:process 9, :type :invoke, :f :append, :key "0", :value "x 9 0 y"}
{:process 2, :type :invoke, :f :get, :key "1", :value nil}
{:process 9, :type :ok, :f :append, :key "0", :value "x 9 0 y"}
{:process 2, :type :ok, :f :get, :key "1", :value "a \"q\" b"}
"#;
        let h = parse(text, Format::PorcupineKv).unwrap();
        assert_eq!(h.operations.len(), 2);
        assert_eq!(h.operations[1].key, Key::Str("1".into()));
        assert_eq!(h.output(&h.operations[1]), &Value::Str("a \"q\" b".into()));
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse(
            "{:process 9, :type :invoke, :f :get, :key \"0\", :value nil}\n{:process 9 :type :ok",
            Format::PorcupineKv,
        )
        .unwrap_err();
        assert_eq!(err.line(), 2);
        let err = parse(
            "{:process 9, :type :invoke, :f :frob, :key \"0\", :value nil}",
            Format::PorcupineKv,
        )
        .unwrap_err();
        assert!(err.to_string().contains("field `f`"), "{err}");
    }
}
