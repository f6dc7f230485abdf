//! Registers: one value, initially absent (`nil`). The plain register has
//! `read` and `write`; the CAS register adds `cas [expected new]`, which
//! happens only when the register holds `expected`.
//!
//! Values are interned into dense ids (`0` is `nil`), so a state is a `u32`
//! and the checker's value-semantics reductions apply. Pure.

use crate::history::{Function, Key, Value};

use super::super::memo::FxHashMap;
use super::super::model::{Call, Model, ValueFacts};

/// A register operation over value ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// Returned this value.
    Read(u32),
    /// Wrote this value.
    Write(u32),
    /// Set `.1` if the register held `.0`.
    Cas(u32, u32),
    /// A compare-and-set of `.0` to `.1` refused because the register did
    /// not hold `.0`: possible only when it held something else; changes
    /// nothing.
    CasFailed(u32, u32),
}

/// Is a `fail` cas with this error a refusal on the compare (evidence), or
/// a failure before anything was compared? No error (Jepsen's histories
/// give none: their clients answer `:fail` exactly when the compare fails)
/// or chaos's clients' "compare failed" is a refusal; any other error (a
/// refused connection) is not.
pub fn refused_on_compare(error: Option<&str>) -> bool {
    error.is_none_or(|e| e.starts_with("compare failed"))
}

/// The register and CAS register models: one type, which names itself
/// `cas-register` once it has compiled a cas, `register` otherwise.
#[derive(Debug, Clone)]
pub struct Register {
    cas: bool,
    /// Value id to value; id 0 is `nil`.
    values: Vec<Option<u64>>,
    ids: FxHashMap<Option<u64>, u32>,
}

/// The id of a value nothing will observe again.
pub const DEAD: u32 = u32::MAX;

impl Default for Register {
    fn default() -> Self {
        Self::new()
    }
}

impl Register {
    /// A register, initially `nil`.
    pub fn new() -> Self {
        let mut ids = FxHashMap::default();
        ids.insert(None, 0);
        Register {
            cas: false,
            values: vec![None],
            ids,
        }
    }

    fn intern(&mut self, value: Option<u64>) -> u32 {
        if let Some(id) = self.ids.get(&value) {
            return *id;
        }
        let id = self.values.len() as u32;
        self.values.push(value);
        self.ids.insert(value, id);
        id
    }

    fn value_of(v: &Value) -> Result<Option<u64>, String> {
        match v {
            Value::Null => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            other => Err(format!("a register holds integers, not {other}")),
        }
    }

    fn show(&self, id: u32) -> String {
        match self.values.get(id as usize) {
            Some(Some(n)) => n.to_string(),
            Some(None) => "nil".to_string(),
            None => "a value no later op reads".to_string(),
        }
    }
}

impl Model for Register {
    type Op = RegisterOp;
    type State = u32;

    fn name(&self) -> &'static str {
        if self.cas { "cas-register" } else { "register" }
    }

    fn partition<'a>(&self, call: &Call<'a>) -> Option<&'a Key> {
        Some(call.key)
    }

    fn compile(&mut self, call: &Call<'_>) -> Result<RegisterOp, String> {
        match call.f {
            Function::Read => {
                let v = Self::value_of(call.output)?;
                Ok(RegisterOp::Read(self.intern(v)))
            }
            Function::Write => {
                let v = Self::value_of(call.input)?;
                Ok(RegisterOp::Write(self.intern(v)))
            }
            Function::Cas => match call.input {
                Value::List(items) if items.len() == 2 => {
                    let from = Self::value_of(&items[0])?;
                    let to = Self::value_of(&items[1])?;
                    self.cas = true;
                    Ok(RegisterOp::Cas(self.intern(from), self.intern(to)))
                }
                other => Err(format!("cas takes [expected new], not {other}")),
            },
            f => Err(format!("the {} model has no `{f}`", self.name())),
        }
    }

    fn compile_failed(&mut self, call: &Call<'_>) -> Option<Result<RegisterOp, String>> {
        if call.f != Function::Cas || !refused_on_compare(call.error) {
            return None;
        }
        Some(self.compile(call).map(|op| match op {
            RegisterOp::Cas(from, to) => RegisterOp::CasFailed(from, to),
            other => other,
        }))
    }

    fn init(&mut self) -> u32 {
        0
    }

    #[inline]
    fn step(&mut self, state: &u32, op: &RegisterOp) -> Option<u32> {
        match *op {
            RegisterOp::Read(v) => (*state == v).then_some(v),
            RegisterOp::Write(v) => Some(v),
            RegisterOp::Cas(from, to) => (*state == from).then_some(to),
            RegisterOp::CasFailed(from, _) => (*state != from).then_some(*state),
        }
    }

    #[inline]
    fn enabled(&mut self, state: &u32, op: &RegisterOp) -> bool {
        match *op {
            RegisterOp::Read(v) | RegisterOp::Cas(v, _) => *state == v,
            RegisterOp::CasFailed(v, _) => *state != v,
            RegisterOp::Write(_) => true,
        }
    }

    fn is_read_only(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_) | RegisterOp::CasFailed(..))
    }

    fn describe_op(&self, op: &RegisterOp) -> String {
        match *op {
            RegisterOp::Read(v) => format!("read {}", self.show(v)),
            RegisterOp::Write(v) => format!("write {}", self.show(v)),
            RegisterOp::Cas(a, b) => format!("cas {} -> {}", self.show(a), self.show(b)),
            RegisterOp::CasFailed(a, b) => format!(
                "cas {} -> {} refused (the register did not hold {})",
                self.show(a),
                self.show(b),
                self.show(a)
            ),
        }
    }

    fn describe_state(&self, state: &u32) -> String {
        self.show(*state)
    }

    fn object(&self) -> &'static str {
        "the register"
    }

    /// A refused cas observes "not this value" (`excludes`): a key with one
    /// is searched without the reductions that reason only about what ops
    /// observe (see [`ValueFacts::excludes`]).
    #[inline]
    fn value_facts(&self, op: &RegisterOp) -> Option<ValueFacts> {
        Some(match *op {
            RegisterOp::CasFailed(a, _) => ValueFacts {
                observes: None,
                writes: None,
                excludes: Some(a),
            },
            RegisterOp::Read(v) => ValueFacts {
                observes: Some(v),
                writes: None,
                excludes: None,
            },
            RegisterOp::Write(v) => ValueFacts {
                observes: None,
                writes: Some(v),
                excludes: None,
            },
            RegisterOp::Cas(a, b) => ValueFacts {
                observes: Some(a),
                writes: Some(b),
                excludes: None,
            },
        })
    }

    #[inline]
    fn state_value(&self, state: &u32) -> u32 {
        *state
    }

    fn dead_state(&self) -> u32 {
        DEAD
    }

    fn value_count(&self) -> usize {
        self.values.len()
    }

    fn describe_value(&self, value: u32) -> String {
        self.show(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_like_a_register() {
        let mut m = Register::new();
        let three = m.intern(Some(3));
        let four = m.intern(Some(4));
        let s = m.init();
        assert_eq!(m.step(&s, &RegisterOp::Read(0)), Some(0));
        assert_eq!(m.step(&s, &RegisterOp::Read(three)), None);
        let s = m.step(&s, &RegisterOp::Write(three)).unwrap();
        assert_eq!(m.step(&s, &RegisterOp::Cas(three, four)), Some(four));
        assert_eq!(m.step(&s, &RegisterOp::Cas(four, three)), None);
        assert_eq!(m.describe_op(&RegisterOp::Cas(0, four)), "cas nil -> 4");
    }
}
