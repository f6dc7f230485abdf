//! The model trait: what a sequential object does, for the search.
//!
//! A model turns each operation of a history into its own compact form
//! ([`Model::Op`], the input and the observed output together), starts from
//! [`Model::init`], and says with [`Model::step`] whether an operation can
//! happen in a state and what state follows. States compare and hash by
//! value; equal states must behave the same for every later operation.
//! [`Model::describe_op`] and [`Model::describe_state`] speak to people.
//!
//! Models with *value semantics* ([`Model::value_facts`] returns `Some` for
//! every op) unlock the register reductions: their state is one value id,
//! and each op either requires the state to equal one value (`observes`),
//! sets it to one value (`writes`), or both, as read, write and cas do.
//!
//! Adding a model means one file under `models/` implementing this trait,
//! and one line where the checker picks a model for a key. Pure: no IO, no
//! clock; a model must not know about the search.

use std::fmt::Debug;
use std::hash::Hash;

use crate::history::{Function, Key, Outcome, Value};

/// One operation of a history, as a model sees it: its function, key,
/// outcome, argument (the invocation's value) and result (the completion's
/// value, for `ok` ops; `Null` otherwise). The checker compiles calls in
/// one pass over the history, in order.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// Index into `History::operations`.
    pub id: usize,
    pub f: Function,
    pub key: &'a Key,
    pub outcome: Outcome,
    /// Indexes into `History::ops` of the invocation and completion.
    pub invoke: usize,
    pub complete: Option<usize>,
    pub input: &'a Value,
    pub output: &'a Value,
    /// Why a `fail` or `info` op ended so, if the history says.
    pub error: Option<&'a str>,
}

/// What an op of a value-semantics model requires and leaves (value ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ValueFacts {
    /// The op is only possible when the state is this value.
    pub observes: Option<u32>,
    /// The op leaves the state at this value (else it leaves it unchanged).
    pub writes: Option<u32>,
    /// The op is only possible when the state is NOT this value (a cas
    /// refused on its compare). A partition with such an op is searched
    /// without the reductions that reason only about what ops observe
    /// (dropping unobserved indeterminate ops, dead states, useless info):
    /// any other value can matter to it.
    pub excludes: Option<u32>,
}

/// A sequential specification.
pub trait Model: Clone + Send {
    /// An operation in the model's compact form.
    type Op: Clone + Eq + Hash + Debug + Send;
    /// A state of the object.
    type State: Clone + Eq + Hash + Debug + Send;

    /// The model's name, for reports.
    fn name(&self) -> &'static str;

    /// Which independent object an operation belongs to: `Some(key)` checks
    /// each key alone (P-compositionality); `None` checks all operations as
    /// one state.
    fn partition<'a>(&self, call: &Call<'a>) -> Option<&'a Key>;

    /// Translate one operation of the history. Called for every operation
    /// of a partition, in history order, before [`Model::init`].
    fn compile(&mut self, call: &Call<'_>) -> Result<Self::Op, String>;

    /// A `fail` op that is still evidence (a compare-and-set refused
    /// because the value differed: at some point in its window the
    /// register did not hold what it expected), as an op that happened and
    /// changed nothing; `None` (the default) for a `fail` op that simply
    /// did not happen.
    fn compile_failed(&mut self, call: &Call<'_>) -> Option<Result<Self::Op, String>> {
        let _ = call;
        None
    }

    /// The initial state.
    fn init(&mut self) -> Self::State;

    /// The state after `op`, or `None` if `op` cannot happen in `state`.
    fn step(&mut self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// Whether `op` can happen in `state` (a cheaper [`Model::step`]).
    fn enabled(&mut self, state: &Self::State, op: &Self::Op) -> bool {
        self.step(state, op).is_some()
    }

    /// True if `op` never changes the state (a read): such ops are placed
    /// as soon as they can be, which is exact.
    fn is_read_only(&self, op: &Self::Op) -> bool;

    /// The op for people: `read 3`, `cas 1 -> 2`.
    fn describe_op(&self, op: &Self::Op) -> String;

    /// The state for people: `3`, `nil`, `{"a": "x"}`.
    fn describe_state(&self, state: &Self::State) -> String;

    /// Bytes a state holds outside itself (boxed data), for the memory
    /// budget.
    fn state_heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }

    /// The name of the object, for explanations: "the register", "the map".
    fn object(&self) -> &'static str;

    /// Value semantics (see the module docs); `None` if the model has none.
    fn value_facts(&self, _op: &Self::Op) -> Option<ValueFacts> {
        None
    }

    /// The value id of a state (value-semantics models only).
    fn state_value(&self, _state: &Self::State) -> u32 {
        0
    }

    /// A state standing for "a value nothing will observe again"
    /// (value-semantics models only): all such states behave alike.
    fn dead_state(&self) -> Self::State {
        unreachable!("only value-semantics models have a dead state")
    }

    /// How many value ids exist (value-semantics models only).
    fn value_count(&self) -> usize {
        0
    }

    /// A value id for people (value-semantics models only).
    fn describe_value(&self, _value: u32) -> String {
        String::new()
    }
}
