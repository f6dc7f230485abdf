//! Elle's and Jepsen's EDN histories: one op map per line, as in Elle's
//! `histories/*.edn`.
//!
//! ```text
//! ; comments and blank lines are allowed
//! {:index 2, :time 120, :type :invoke, :process 2, :f :txn, :value [[:append 9 2] [:r 8 nil]]}
//! {:index 3, :time 180, :type :ok, :process 2, :f :txn, :value [[:append 9 2] [:r 8 [1 3]]]}
//! ```
//!
//! - `:type` `:invoke` | `:ok` | `:fail` | `:info`; `:process` a
//!   non-negative integer; `:f :txn` (or no `:f`, which Elle allows);
//!   `:value` a vector of micro-ops
//!   `[:append k v]` and `[:r k [v ...]]` (`[:r k nil]` before the read
//!   returns); `:index` (on every line or none) and `:time` (nanoseconds)
//!   optional. Keys (`k`) are integers, keywords (`:x`) or strings; appended
//!   elements are integers.
//! - Lines of other processes (`:process :nemesis`) and other functions
//!   than `:txn` are skipped; so are `;` comments (also after a map), and
//!   commas (whitespace in EDN). A tagged map (`#jepsen.history.Op{...}`) is
//!   read as a map. Other keys (`:error`, `:node`, ...) may hold any EDN.
//!
//! Owns only this format: a hand-written reader over bytes for the subset
//! above (the bulk of a history is `:value`, which it reads straight into
//! the [`Builder`]). Pairing lives in [`super::history`]. Pure.

use crate::history::{HistoryError, Kind};

use super::history::{Builder, TxnHistory};

/// Parse a whole EDN history.
pub fn parse(text: &str) -> Result<TxnHistory, HistoryError> {
    let mut b = Builder::new();
    b.reserve_for(text.len());
    for (n, raw) in text.lines().enumerate() {
        parse_line(&mut b, raw.as_bytes(), n + 1)?;
    }
    b.finish()
}

/// What the keys of one op map said.
#[derive(Default)]
struct Fields {
    index: Option<u64>,
    time: Option<u64>,
    kind: Option<Kind>,
    /// `Some(Ok(p))` for a client, `Some(Err(()))` for another process.
    process: Option<Result<u64, ()>>,
    /// Whether `:f` is `:txn`.
    txn: Option<bool>,
    /// `:value`: read as a transaction (true), as `nil` (false), or not a
    /// transaction (the reason).
    value: Option<Result<bool, String>>,
}

fn parse_line(b: &mut Builder, s: &[u8], line: usize) -> Result<(), HistoryError> {
    let mut r = Reader { s, pos: 0, line };
    r.skip_ws();
    if r.at_end() {
        return Ok(());
    }
    // An optional tag (`#jepsen.history.Op`) before the map.
    if r.peek() == Some(b'#') && r.s.get(r.pos + 1) != Some(&b'{') {
        r.pos += 1;
        r.symbol();
        r.skip_ws();
    }
    if r.peek() != Some(b'{') {
        return Err(
            r.error("expected an op map `{:type ..., :process ..., :f :txn, :value [...]}`")
        );
    }
    r.pos += 1;
    // The micro-ops are read into the builder as they come; the line is
    // begun first and finished (or abandoned) when the map is complete.
    b.begin_line(line, None, None, 0, Kind::Invoke);
    let mut fields = Fields::default();
    loop {
        r.skip_ws();
        match r.peek() {
            None => {
                b.abandon_line();
                return Err(r.error("the op map is not closed on its line (expected `}`)"));
            }
            Some(b'}') => {
                r.pos += 1;
                break;
            }
            _ => {}
        }
        let key = r.map_key().inspect_err(|_| b.abandon_line())?;
        r.skip_ws();
        let result = match key {
            MapKey::Index => r.integer().map(|n| fields.index = Some(n)),
            MapKey::Time => r.integer().map(|n| fields.time = Some(n)),
            MapKey::Type => r.kind().map(|k| fields.kind = Some(k)),
            MapKey::Process => r.process().map(|p| fields.process = Some(p)),
            MapKey::F => r.f_is_txn().map(|t| fields.txn = Some(t)),
            MapKey::Value => {
                b.discard_mops();
                let start = r.pos;
                match r.txn(b) {
                    Ok(has) => fields.value = Some(Ok(has)),
                    Err(e) => {
                        b.discard_mops();
                        r.pos = start;
                        fields.value = Some(Err(e.to_string()));
                        r.skip_form().inspect_err(|_| b.abandon_line())?;
                    }
                }
                Ok(())
            }
            MapKey::Other => r.skip_form(),
        };
        if let Err(e) = result {
            b.abandon_line();
            return Err(e);
        }
    }
    r.skip_ws();
    if !r.at_end() {
        b.abandon_line();
        return Err(r.error("unexpected text after the op map (one op per line)"));
    }
    // Nemesis and other non-client processes, and other functions: skipped.
    let client = match fields.process {
        Some(Ok(p)) => p,
        Some(Err(())) => {
            b.abandon_line();
            return Ok(());
        }
        None => {
            b.abandon_line();
            return Err(missing(
                line,
                "process",
                "a non-negative integer (or :nemesis)",
            ));
        }
    };
    // Elle reads every client op as a transaction; a line that names
    // another function is skipped.
    if fields.txn == Some(false) {
        b.abandon_line();
        return Ok(());
    }
    let Some(kind) = fields.kind else {
        b.abandon_line();
        return Err(missing(line, "type", ":invoke, :ok, :fail or :info"));
    };
    let has_value = match fields.value {
        Some(Ok(has)) => has,
        Some(Err(reason)) => {
            b.abandon_line();
            return Err(HistoryError::BadField {
                line,
                field: "value",
                reason,
            });
        }
        None => false,
    };
    b.end_line(has_value);
    b.set_current(fields.index, fields.time, client, kind);
    Ok(())
}

fn missing(line: usize, field: &'static str, expected: &str) -> HistoryError {
    HistoryError::BadField {
        line,
        field,
        reason: format!("missing; expected {expected}"),
    }
}

enum MapKey {
    Index,
    Time,
    Type,
    Process,
    F,
    Value,
    Other,
}

struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
}

#[derive(Debug)]
struct Expected(String);

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> Reader<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn error(&self, what: &str) -> HistoryError {
        HistoryError::Malformed {
            line: self.line,
            reason: format!("{what} (column {})", self.pos + 1),
        }
    }

    fn field_error(&self, field: &'static str, what: &str) -> HistoryError {
        HistoryError::BadField {
            line: self.line,
            field,
            reason: format!("{what} (column {})", self.pos + 1),
        }
    }

    /// Whitespace, commas and `;` comments.
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b',' => self.pos += 1,
                b';' => self.pos = self.s.len(),
                _ => break,
            }
        }
    }

    /// A symbol or keyword body: up to a delimiter.
    fn symbol(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if matches!(
                c,
                b' ' | b'\t'
                    | b'\r'
                    | b'\n'
                    | b','
                    | b'{'
                    | b'}'
                    | b'['
                    | b']'
                    | b'('
                    | b')'
                    | b'"'
                    | b';'
            ) {
                break;
            }
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn map_key(&mut self) -> Result<MapKey, HistoryError> {
        let name: &[u8] = match self.peek() {
            Some(b':') => {
                self.pos += 1;
                self.symbol()
            }
            Some(b'"') => {
                let start = self.pos + 1;
                self.skip_string()?;
                &self.s[start..self.pos - 1]
            }
            _ => {
                // Any other key (an integer, a vector...): its value is
                // skipped with it.
                self.skip_form()?;
                return Ok(MapKey::Other);
            }
        };
        Ok(match name {
            b"index" => MapKey::Index,
            b"time" => MapKey::Time,
            b"type" => MapKey::Type,
            b"process" => MapKey::Process,
            b"f" => MapKey::F,
            b"value" => MapKey::Value,
            _ => MapKey::Other,
        })
    }

    /// A non-negative integer (a trailing `N` is allowed).
    fn integer(&mut self) -> Result<u64, HistoryError> {
        self.unsigned()
            .map_err(|e| self.error(&format!("expected a non-negative integer: {e}")))
    }

    fn unsigned(&mut self) -> Result<u64, Expected> {
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        if self.peek() == Some(b'-') {
            return Err(Expected("a negative number".into()));
        }
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
                .ok_or_else(|| Expected("a number too large for 64 bits".into()))?;
            self.pos += 1;
        }
        if self.pos == start {
            let found = String::from_utf8_lossy(self.symbol_peek()).into_owned();
            return Err(Expected(format!("found `{found}`")));
        }
        if self.peek() == Some(b'N') {
            self.pos += 1;
        }
        match self.peek() {
            None
            | Some(b' ' | b'\t' | b'\r' | b'\n' | b',' | b'}' | b']' | b')' | b'{' | b'[' | b';') => {
                Ok(n)
            }
            Some(c) => Err(Expected(format!(
                "`{}` inside a number",
                char::from(c).escape_default()
            ))),
        }
    }

    /// The text of the next token, for messages.
    fn symbol_peek(&self) -> &'a [u8] {
        let mut end = self.pos;
        while end < self.s.len()
            && !matches!(self.s[end], b' ' | b',' | b'}' | b']' | b')')
            && end - self.pos < 40
        {
            end += 1;
        }
        &self.s[self.pos..end]
    }

    fn kind(&mut self) -> Result<Kind, HistoryError> {
        let start = self.pos;
        if self.peek() == Some(b':') {
            self.pos += 1;
        }
        let kind = match self.symbol() {
            b"invoke" => Kind::Invoke,
            b"ok" => Kind::Ok,
            b"fail" => Kind::Fail,
            b"info" => Kind::Info,
            other => {
                let other = String::from_utf8_lossy(other).into_owned();
                self.pos = start;
                return Err(self.field_error(
                    "type",
                    &format!("`{other}`; expected :invoke, :ok, :fail or :info"),
                ));
            }
        };
        Ok(kind)
    }

    /// `Ok(p)` for a client process, `Err(())` for any other (`:nemesis`).
    fn process(&mut self) -> Result<Result<u64, ()>, HistoryError> {
        match self.peek() {
            Some(b'0'..=b'9' | b'+') => self
                .unsigned()
                .map(Ok)
                .map_err(|e| self.field_error("process", &format!("{e}"))),
            Some(b'-') => Err(self.field_error("process", "negative; expected a client number")),
            _ => {
                self.skip_form()?;
                Ok(Err(()))
            }
        }
    }

    fn f_is_txn(&mut self) -> Result<bool, HistoryError> {
        match self.peek() {
            Some(b':') => {
                self.pos += 1;
                Ok(self.symbol() == b"txn")
            }
            Some(b'"') => {
                let start = self.pos + 1;
                self.skip_string()?;
                Ok(&self.s[start..self.pos - 1] == b"txn")
            }
            _ => {
                self.skip_form()?;
                Ok(false)
            }
        }
    }

    /// A transaction: `nil` (false) or a vector of micro-ops, read into
    /// the builder (true).
    fn txn(&mut self, b: &mut Builder) -> Result<bool, Expected> {
        if self.s[self.pos..].starts_with(b"nil") {
            self.pos += 3;
            return Ok(false);
        }
        if self.peek() != Some(b'[') {
            return Err(Expected(
                "expected a vector of micro-ops [[:append k v] [:r k [v ...]] ...] or nil".into(),
            ));
        }
        self.pos += 1;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(true);
                }
                Some(b'[') => {
                    self.pos += 1;
                    self.micro_op(b)?;
                }
                _ => {
                    return Err(Expected(format!(
                        "expected a micro-op [:append k v] or [:r k list] at column {}",
                        self.pos + 1
                    )));
                }
            }
        }
    }

    /// After the `[` of a micro-op.
    fn micro_op(&mut self, b: &mut Builder) -> Result<(), Expected> {
        self.skip_ws();
        let column = self.pos + 1;
        let f: &[u8] = match self.peek() {
            Some(b':') => {
                self.pos += 1;
                self.symbol()
            }
            Some(b'"') => {
                let start = self.pos + 1;
                self.skip_string().map_err(|e| Expected(e.to_string()))?;
                &self.s[start..self.pos - 1]
            }
            _ => b"",
        };
        let append = match f {
            b"append" => true,
            b"r" => false,
            other => {
                return Err(Expected(format!(
                    "micro-op `{}` at column {column}: list-append transactions have only \
                     :append and :r",
                    String::from_utf8_lossy(other)
                )));
            }
        };
        self.skip_ws();
        let key = self.mop_key(b)?;
        self.skip_ws();
        if append {
            let v = self
                .unsigned()
                .map_err(|e| Expected(format!("an appended element at column {column}: {e}")))?;
            b.append(key, v);
        } else if self.s[self.pos..].starts_with(b"nil") {
            self.pos += 3;
            b.read_unknown(key);
        } else if self.peek() == Some(b'[') {
            self.pos += 1;
            b.read_start();
            loop {
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    break;
                }
                let e = self.unsigned().map_err(|e| {
                    Expected(format!(
                        "a read element in the micro-op at column {column}: {e}"
                    ))
                })?;
                b.read_element(e);
            }
            b.read_end(key);
        } else {
            return Err(Expected(format!(
                "the read at column {column} returns neither nil nor a vector"
            )));
        }
        self.skip_ws();
        if self.peek() != Some(b']') {
            return Err(Expected(format!(
                "the micro-op at column {column} has more than [f key value]"
            )));
        }
        self.pos += 1;
        Ok(())
    }

    fn mop_key(&mut self, b: &mut Builder) -> Result<u32, Expected> {
        match self.peek() {
            Some(b'0'..=b'9' | b'+' | b'-') => {
                let n = self
                    .unsigned()
                    .map_err(|e| Expected(format!("a micro-op key: {e}")))?;
                Ok(b.intern_int(n))
            }
            Some(b':') => {
                let start = self.pos;
                self.pos += 1;
                self.symbol();
                let text = std::str::from_utf8(&self.s[start..self.pos])
                    .map_err(|_| Expected("a key that is not UTF-8".into()))?;
                Ok(b.intern_str(text))
            }
            Some(b'"') => {
                let start = self.pos + 1;
                self.skip_string().map_err(|e| Expected(e.to_string()))?;
                let raw = &self.s[start..self.pos - 1];
                if raw.contains(&b'\\') {
                    return Err(Expected("a string key with escapes".into()));
                }
                let text = std::str::from_utf8(raw)
                    .map_err(|_| Expected("a key that is not UTF-8".into()))?;
                Ok(b.intern_str(text))
            }
            _ => Err(Expected(format!(
                "a micro-op key at column {}: expected an integer, a keyword or a string",
                self.pos + 1
            ))),
        }
    }

    /// After a `"`... up to and past the closing `"`.
    fn skip_string(&mut self) -> Result<(), HistoryError> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.pos += 1;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                b'\\' => self.pos += 1,
                b'"' => return Ok(()),
                _ => {}
            }
        }
        Err(self.error("a string is not closed on its line"))
    }

    /// Any EDN form: scalars, strings, characters, collections, tagged
    /// forms, `#_` discards.
    fn skip_form(&mut self) -> Result<(), HistoryError> {
        let mut depth: usize = 0;
        loop {
            self.skip_ws();
            let Some(c) = self.peek() else {
                return Err(self.error("a value is not complete on its line"));
            };
            match c {
                b'{' | b'[' | b'(' => {
                    self.pos += 1;
                    depth += 1;
                    continue;
                }
                b'}' | b']' | b')' => {
                    if depth == 0 {
                        return Err(self.error(&format!(
                            "unexpected `{}` where a value was expected",
                            char::from(c)
                        )));
                    }
                    self.pos += 1;
                    depth -= 1;
                }
                b'"' => self.skip_string()?,
                b'\\' => {
                    // A character literal: `\a`, `\newline`.
                    self.pos += 2;
                    self.symbol();
                }
                b'#' => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'{') => {
                            self.pos += 1;
                            depth += 1;
                        }
                        Some(b'_') => {
                            // Discard the next form, then read one more.
                            self.pos += 1;
                            self.skip_form()?;
                        }
                        _ => {
                            self.symbol();
                        }
                    }
                    // A tag or discard is followed by the form it applies to.
                    continue;
                }
                _ => {
                    if self.symbol().is_empty() {
                        return Err(
                            self.error(&format!("unexpected `{}`", char::from(c).escape_default()))
                        );
                    }
                }
            }
            if depth == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::txn::history::MicroOp;
    use crate::history::{Key, Outcome};

    #[test]
    fn reads_elle_lines_with_comments_commas_and_other_keys() {
        let text = "; a comment\n\n\
            {:index 10, :time 0, :type :invoke, :process 2, :f :txn, :value [[:append 9 2] [:r 8 nil]]}\n\
            {:type :info, :f :start, :process :nemesis, :value [:isolated {\"n1\" #{\"n2\"}}]}\n\
            {:index 11, :time 5, :type :ok, :process 2, :f :txn, :value [[:append 9 2] [:r 8 [1 3]]], :error nil} ; done\n\
            {:index 12 :type :invoke :process 3 :f :read :value nil}\n";
        let h = parse(text).unwrap();
        assert_eq!(h.txns.len(), 1);
        assert_eq!(h.skipped_lines, 2);
        let t = &h.txns[0];
        assert_eq!(t.outcome, Outcome::Ok);
        assert_eq!((t.invoke.line, t.complete.unwrap().line), (3, 5));
        assert_eq!(t.complete.unwrap().time_ns, Some(5));
        assert_eq!(
            h.micro_ops(0),
            vec![
                MicroOp::Append(Key::Int(9), 2),
                MicroOp::Read(Key::Int(8), Some(vec![1, 3]))
            ]
        );
    }

    #[test]
    fn keyword_and_string_keys_and_tagged_maps() {
        let text = "#jepsen.history.Op{:index 0, :type :invoke, :process 0, :f :txn, :value [[:append :x 1] [:r \"y\" nil]]}\n\
                    #jepsen.history.Op{:index 1, :type :ok, :process 0, :f :txn, :value [[:append :x 1] [:r \"y\" nil]]}\n";
        let h = parse(text).unwrap();
        assert_eq!(
            h.micro_ops(0),
            vec![
                MicroOp::Append(Key::Str(":x".into()), 1),
                MicroOp::Read(Key::Str("y".into()), Some(vec![]))
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let cases = [
            (
                "{:type :invoke, :process 1, :f :txn, :value [[:w 1 2]]}",
                "micro-op `w`",
            ),
            (
                "{:type :invoke, :process 1, :f :txn, :value [[:append 1 -2]]}",
                "negative",
            ),
            (
                "{:type :invoke, :process 1, :f :txn, :value [[:append 1 2]]",
                "not closed",
            ),
            ("{:type :okay, :process 1, :f :txn, :value []}", "okay"),
            ("{:type :ok, :f :txn, :value []}", "process"),
            ("[:not :a :map]", "expected an op map"),
            (
                "{:type :invoke, :process 1, :f :txn, :value [[:r 1 {:a 1}]]}",
                "neither nil",
            ),
        ];
        for (line, expected) in cases {
            let text = format!("; header\n{line}\n");
            let err = parse(&text).unwrap_err();
            assert_eq!(err.line(), 2, "{line}: {err}");
            assert!(err.to_string().contains(expected), "{line}: {err}");
        }
    }
}
