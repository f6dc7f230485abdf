//! Witnesses: why a partition is not linearizable, in words a person can
//! follow, with the history lines involved.
//!
//! Built from where the search got furthest: the op that cannot be placed by
//! its response, the states the object could be in there, and any value
//! that placing it would lose. Pure.

use crate::history::{Function, History, Kind, Op, Operation};

use super::model::Model;
use super::prepare::{NEVER, Prepared};
use super::search::Stuck;
use super::{AnomalyClass, Witness};

/// Explain a failed search.
pub(crate) fn witness<M: Model>(
    history: &History,
    p: &mut Prepared<M>,
    stuck: &Stuck<M::State>,
) -> Witness {
    let rank = |pos: usize| {
        let e = p.events[pos];
        let op = &p.ops[e.op as usize];
        if e.invoke { op.inv } else { op.resp }
    };
    let at = rank(stuck.pos);
    let prefix = p.ops.iter().filter(|o| o.required && o.resp < at).count() as u64;
    let o = &p.ops[stuck.op as usize];
    let operation = &history.operations[o.source];
    let who = describe(history, operation, &p.model.describe_op(&o.op));
    let mut involved = vec![o.source];
    let mut reasons: Vec<String> = Vec::new();
    let f = history.invocation(operation).f;
    // What the stuck op is, for its class: a read that cannot see what it
    // saw, or a CAS that cannot have found what it expected.
    let refused_class = match f {
        _ if f.is_read() => AnomalyClass::StaleRead,
        Function::Cas => AnomalyClass::ImpossibleCas,
        _ => AnomalyClass::Other,
    };
    let mut class = AnomalyClass::Other;

    // The op needs a value nothing writes.
    let facts = p.model.value_facts(&o.op);
    let initial = {
        let init = p.model.init();
        p.value_semantics.then(|| p.model.state_value(&init))
    };
    if let (Some(facts), Some(initial)) = (facts, initial)
        && let Some(v) = facts.observes
        && v != initial
        && !p.ops.iter().any(|w| w.facts.writes == Some(v))
    {
        reasons.push(format!(
            "no operation ever wrote {}",
            p.model.describe_value(v)
        ));
        class = match f {
            Function::Cas => AnomalyClass::ImpossibleCas,
            _ => AnomalyClass::NeverWritten,
        };
    }

    // The states it met, where the model refused it.
    if reasons.is_empty() {
        let mut refused: Vec<String> = Vec::new();
        for s in &stuck.states {
            if !p.model.enabled(s, &o.op) {
                let d = p.model.describe_state(s);
                if !refused.contains(&d) {
                    refused.push(d);
                }
            }
        }
        if !refused.is_empty() {
            // Who wrote what it needed, when only a few did.
            let needed = facts.and_then(|f| f.observes);
            let writers: Vec<&super::prepare::SearchOp<M::Op>> = match needed {
                Some(v) => p.ops.iter().filter(|w| w.facts.writes == Some(v)).collect(),
                None => Vec::new(),
            };
            let by = if (1..=3).contains(&writers.len()) {
                let names: Vec<String> = writers
                    .iter()
                    .map(|w| {
                        involved.push(w.source);
                        describe(
                            history,
                            &history.operations[w.source],
                            &p.model.describe_op(&w.op),
                        )
                    })
                    .collect();
                let v = p.model.describe_value(needed.unwrap_or_default());
                format!(" ({v} was written only by {})", names.join(" and "))
            } else {
                String::new()
            };
            let moved = o.resp != NEVER && o.resp.is_multiple_of(2);
            let when = if moved {
                "by the time it must have taken effect"
            } else {
                "when it completed"
            };
            class = refused_class;
            reasons.push(format!(
                "in every order of the operations before it that the history allows, {} held {} {when}{by}",
                p.model.object(),
                or_list(&refused),
            ));
        }
    }

    // Placing it would lose a value someone still has to read.
    if reasons.is_empty() {
        let mut lost: Vec<String> = Vec::new();
        let mut seen: Vec<u32> = Vec::new();
        for &(_, value, reader) in stuck.lost.iter().filter(|l| l.0 == stuck.op) {
            if seen.contains(&value) {
                continue;
            }
            seen.push(value);
            let v = p.model.describe_value(value);
            lost.push(match reader {
                Some(r) => {
                    let r = &p.ops[r as usize];
                    involved.push(r.source);
                    let rdesc = describe(
                        history,
                        &history.operations[r.source],
                        &p.model.describe_op(&r.op),
                    );
                    format!("{v}, which {rdesc} still has to see")
                }
                None => format!("{v}, which a later operation still has to see"),
            });
        }
        if !lost.is_empty() {
            // A value overwritten before its reader could see it: that
            // reader's read is stale.
            class = AnomalyClass::StaleRead;
            reasons.push(format!(
                "in every order the history allows, it would overwrite a value that nothing \
                 writes again: {}",
                lost.join("; or ")
            ));
        }
    }
    if reasons.is_empty() {
        reasons.push(format!(
            "no order of the operations before it lets {} do it",
            p.model.object()
        ));
    }
    let explanation = format!(
        "{who} cannot be linearized: {}. (The first {prefix} operations of this key, by completion, \
         can be linearized.)",
        reasons.join("; and ")
    );
    involved.sort_unstable();
    involved.dedup();
    let mut ops: Vec<Op> = Vec::new();
    for id in involved {
        let operation = &history.operations[id];
        ops.push(history.invocation(operation).clone());
        if let Some(c) = history.completion(operation) {
            ops.push(c.clone());
        }
    }
    Witness {
        class,
        linearizable_prefix: prefix,
        explanation,
        ops,
    }
}

/// "process 7's read 3 (line 57, at 1.204 s)".
fn describe(history: &History, operation: &Operation, what: &str) -> String {
    let inv = history.invocation(operation);
    let end = history.completion(operation);
    let mut place = Vec::new();
    match end {
        Some(c) if c.kind != Kind::Info => {
            place.push(format!("lines {}-{}", inv.line, c.line));
            if let (Some(a), Some(b)) = (inv.time_ns, c.time_ns) {
                place.push(format!("{:.3}-{:.3} s", a as f64 / 1e9, b as f64 / 1e9));
            }
        }
        Some(c) => {
            place.push(format!(
                "line {}, indeterminate on line {}",
                inv.line, c.line
            ));
            if let Some(a) = inv.time_ns {
                place.push(format!("invoked at {:.3} s", a as f64 / 1e9));
            }
        }
        None => {
            place.push(format!("line {}, never completed", inv.line));
        }
    }
    format!(
        "process {}'s {what} ({})",
        operation.process,
        place.join(", ")
    )
}

fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
