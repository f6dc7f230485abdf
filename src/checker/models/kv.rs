//! The key-value map: keys to strings, every key `""` at first. `put k v`
//! sets, `append k v` concatenates, `get k` returns the whole string.
//!
//! Checked per key by default (P-compositionality); [`KvMap::whole`] keeps
//! every key in one state, as a stress test of the search. Strings are
//! interned into ids, and appends are memoized, so a state is a small array
//! of ids. Pure.

use crate::history::{Function, Key, Value};

use super::super::memo::FxHashMap;
use super::super::model::{Call, Model};

/// A map operation over key and string ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvOp {
    Get { key: u32, value: u32 },
    Put { key: u32, value: u32 },
    Append { key: u32, value: u32 },
}

/// The key-value map model.
#[derive(Debug, Clone)]
pub struct KvMap {
    split: bool,
    keys: Vec<Key>,
    key_ids: FxHashMap<Key, u32>,
    strings: Vec<String>,
    string_ids: FxHashMap<String, u32>,
    appended: FxHashMap<(u32, u32), u32>,
}

impl KvMap {
    /// One key per partition.
    pub fn per_key() -> Self {
        Self::new(true)
    }

    /// All keys in one state.
    pub fn whole() -> Self {
        Self::new(false)
    }

    fn new(split: bool) -> Self {
        let mut string_ids = FxHashMap::default();
        string_ids.insert(String::new(), 0);
        KvMap {
            split,
            keys: Vec::new(),
            key_ids: FxHashMap::default(),
            strings: vec![String::new()],
            string_ids,
            appended: FxHashMap::default(),
        }
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.string_ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.string_ids.insert(s.to_string(), id);
        id
    }

    fn key_id(&mut self, key: &Key) -> u32 {
        if let Some(id) = self.key_ids.get(key) {
            return *id;
        }
        let id = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.key_ids.insert(key.clone(), id);
        id
    }

    fn string(v: &Value) -> Result<&str, String> {
        match v {
            Value::Null => Ok(""),
            Value::Str(s) => Ok(s),
            other => Err(format!("a map holds strings, not {other}")),
        }
    }
}

impl Model for KvMap {
    type Op = KvOp;
    type State = Box<[u32]>;

    fn name(&self) -> &'static str {
        if self.split { "kv" } else { "kv (one state)" }
    }

    fn partition<'a>(&self, call: &Call<'a>) -> Option<&'a Key> {
        self.split.then_some(call.key)
    }

    fn compile(&mut self, call: &Call<'_>) -> Result<KvOp, String> {
        let key = self.key_id(call.key);
        match call.f {
            Function::Get => {
                let value = self.intern(Self::string(call.output)?);
                Ok(KvOp::Get { key, value })
            }
            Function::Put => {
                let value = self.intern(Self::string(call.input)?);
                Ok(KvOp::Put { key, value })
            }
            Function::Append => {
                let value = self.intern(Self::string(call.input)?);
                Ok(KvOp::Append { key, value })
            }
            f => Err(format!("the key-value model has no `{f}`")),
        }
    }

    fn init(&mut self) -> Box<[u32]> {
        vec![0; self.keys.len()].into_boxed_slice()
    }

    fn step(&mut self, state: &Box<[u32]>, op: &KvOp) -> Option<Box<[u32]>> {
        match *op {
            KvOp::Get { key, value } => (state[key as usize] == value).then(|| state.clone()),
            KvOp::Put { key, value } => {
                let mut next = state.clone();
                next[key as usize] = value;
                Some(next)
            }
            KvOp::Append { key, value } => {
                let current = state[key as usize];
                let joined = match self.appended.get(&(current, value)) {
                    Some(id) => *id,
                    None => {
                        let text = format!(
                            "{}{}",
                            self.strings[current as usize], self.strings[value as usize]
                        );
                        let id = self.intern(&text);
                        self.appended.insert((current, value), id);
                        id
                    }
                };
                let mut next = state.clone();
                next[key as usize] = joined;
                Some(next)
            }
        }
    }

    fn enabled(&mut self, state: &Box<[u32]>, op: &KvOp) -> bool {
        match *op {
            KvOp::Get { key, value } => state[key as usize] == value,
            _ => true,
        }
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get { .. })
    }

    fn describe_op(&self, op: &KvOp) -> String {
        let (f, key, value) = match *op {
            KvOp::Get { key, value } => ("get", key, value),
            KvOp::Put { key, value } => ("put", key, value),
            KvOp::Append { key, value } => ("append", key, value),
        };
        format!(
            "{f} {} {:?}",
            self.keys[key as usize], self.strings[value as usize]
        )
    }

    fn describe_state(&self, state: &Box<[u32]>) -> String {
        let parts: Vec<String> = state
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .map(|(k, v)| format!("{}: {:?}", self.keys[k], self.strings[*v as usize]))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    fn state_heap_bytes(&self, state: &Box<[u32]>) -> usize {
        state.len() * 4
    }

    fn object(&self) -> &'static str {
        "the map"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_concatenate_and_gets_compare_whole_strings() {
        let mut m = KvMap::whole();
        let k = m.key_id(&Key::Str("a".into()));
        let x = m.intern("x");
        let xx = m.intern("xx");
        let s = m.init();
        let s = m.step(&s, &KvOp::Append { key: k, value: x }).unwrap();
        let s = m.step(&s, &KvOp::Append { key: k, value: x }).unwrap();
        assert!(m.enabled(&s, &KvOp::Get { key: k, value: xx }));
        assert!(!m.enabled(&s, &KvOp::Get { key: k, value: x }));
        assert_eq!(m.describe_state(&s), "{\"a\": \"xx\"}");
    }
}
