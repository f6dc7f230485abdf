//! A candidate schedule as an experiment file: the original experiment
//! (its compose file already resolved) with its `[[nemesis]]` tables
//! replaced by exact faults (`faults = [...]`), and its duration, clients
//! and keys set; `chaos run` runs it as it is. Pure: text in, text out.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::search::Candidate;
use crate::experiment::{ExperimentError, Fault};
use crate::plan::PlannedTargets;

fn dur(d: std::time::Duration) -> Value {
    Value::String(crate::duration::format(d))
}

/// The fields of a `[[nemesis]]` table that say what fault it is.
fn fault_fields(fault: &Fault) -> Table {
    let mut t = Table::new();
    t.insert("fault".into(), Value::String(fault.name().into()));
    match fault {
        Fault::Kill | Fault::Pause => {}
        Fault::Stop { grace } | Fault::Restart { grace } => {
            t.insert("grace".into(), dur(*grace));
        }
        Fault::Disconnect { network } => {
            if let Some(n) = network {
                t.insert("network".into(), Value::String(n.clone()));
            }
        }
        Fault::Partition { partition } => {
            t.insert("partition".into(), Value::String(partition.name().into()));
        }
        Fault::Netem {
            delay,
            jitter,
            loss,
            duplicate,
            corrupt,
            reorder,
        } => {
            t.insert("delay".into(), dur(*delay));
            t.insert("jitter".into(), dur(*jitter));
            t.insert("loss".into(), Value::Float(*loss));
            t.insert("duplicate".into(), Value::Float(*duplicate));
            t.insert("corrupt".into(), Value::Float(*corrupt));
            t.insert("reorder".into(), Value::Float(*reorder));
        }
        Fault::PowerLoss { torn } => {
            t.insert("torn".into(), Value::Boolean(*torn));
        }
        Fault::DiskFull { after_bytes } => {
            if let Some(n) = after_bytes {
                t.insert("after_bytes".into(), Value::Integer(*n as i64));
            }
        }
        Fault::IoError { share, ops, path } => {
            t.insert("share".into(), Value::Float(*share));
            t.insert("ops".into(), strings(ops));
            if let Some(p) = path {
                t.insert("path".into(), Value::String(p.clone()));
            }
        }
        Fault::IoDelay {
            delay,
            jitter,
            ops,
            path,
        } => {
            t.insert("delay".into(), dur(*delay));
            t.insert("jitter".into(), dur(*jitter));
            t.insert("ops".into(), strings(ops));
            if let Some(p) = path {
                t.insert("path".into(), Value::String(p.clone()));
            }
        }
        Fault::Loss { loss, partition } => {
            t.insert("loss".into(), Value::Float(*loss));
            if let Some(p) = partition {
                t.insert("partition".into(), Value::String(p.name().into()));
            }
        }
        Fault::Bandwidth { rate } => {
            t.insert(
                "rate".into(),
                Value::String(crate::experiment::format_rate(*rate)),
            );
        }
        Fault::Cpu { cpus } => {
            t.insert("cpus".into(), Value::Float(*cpus));
        }
        Fault::Memory { bytes } => {
            t.insert(
                "memory".into(),
                Value::String(crate::experiment::format_bytes(*bytes)),
            );
        }
        Fault::Clock { clock } => {
            use crate::experiment::{ClockShape, format_offset};
            match clock {
                ClockShape::Offset { offset_ms } => {
                    t.insert("clock".into(), Value::String("offset".into()));
                    t.insert("offset".into(), Value::String(format_offset(*offset_ms)));
                }
                ClockShape::Rate { factor } => {
                    t.insert("clock".into(), Value::String("rate".into()));
                    t.insert("factor".into(), Value::Float(*factor));
                }
                ClockShape::Strobe {
                    offset_ms,
                    period_ms,
                } => {
                    t.insert("clock".into(), Value::String("strobe".into()));
                    t.insert("offset".into(), Value::String(format_offset(*offset_ms)));
                    t.insert(
                        "period".into(),
                        dur(std::time::Duration::from_millis(*period_ms)),
                    );
                }
            }
        }
    }
    t
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

fn targets_fields(targets: &PlannedTargets, t: &mut Table) {
    let list = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
    match targets {
        PlannedTargets::Services(s) => {
            t.insert("services".into(), list(s));
        }
        PlannedTargets::Role { role, component } => {
            t.insert("role".into(), Value::String(role.clone()));
            t.insert("component".into(), Value::String(component.clone()));
        }
        PlannedTargets::Partition { drops } => {
            let mut d = Table::new();
            for (to, froms) in drops {
                d.insert(to.clone(), list(froms));
            }
            t.insert("drops".into(), Value::Table(d));
        }
    }
}

/// The experiment file of a candidate, from the run's `experiment.toml`
/// text: explicit faults (one `[[nemesis]]` table per kind of fault), the
/// candidate's duration, clients and keys, the run's seed, and
/// `description` saying where it came from.
pub fn candidate_file(
    original: &str,
    file: &str,
    candidate: &Candidate,
    seed: u64,
    description: &str,
) -> Result<String, ExperimentError> {
    let mut doc: Table = original
        .parse()
        .map_err(|e: toml::de::Error| ExperimentError {
            file: file.to_string(),
            position: None,
            field: None,
            message: format!("invalid TOML: {}", e.message()),
        })?;
    doc.insert("description".into(), Value::String(description.into()));
    doc.insert("duration".into(), dur(candidate.duration));
    doc.insert("seed".into(), Value::Integer(seed as i64));
    if let Some(Value::Table(w)) = doc.get_mut("workload") {
        w.insert("clients".into(), Value::Integer(candidate.clients as i64));
        w.insert("keys".into(), Value::Integer(candidate.keys as i64));
    }
    // One table per distinct fault (kind and parameters), in the order the
    // faults first appear.
    let mut groups: Vec<(Fault, Vec<Value>)> = Vec::new();
    for f in &candidate.faults {
        let mut item = Table::new();
        item.insert("at".into(), dur(f.at));
        item.insert("duration".into(), dur(f.duration));
        targets_fields(&f.targets, &mut item);
        match groups.iter_mut().find(|(g, _)| *g == f.fault) {
            Some((_, items)) => items.push(Value::Table(item)),
            None => groups.push((f.fault.clone(), vec![Value::Table(item)])),
        }
    }
    if groups.is_empty() {
        doc.remove("nemesis");
    } else {
        let tables = groups
            .into_iter()
            .map(|(fault, items)| {
                let mut t = fault_fields(&fault);
                t.insert("faults".into(), Value::Array(items));
                Value::Table(t)
            })
            .collect();
        doc.insert("nemesis".into(), Value::Array(tables));
    }
    Ok(toml::to_string(&doc).expect("a TOML table prints"))
}

/// The faults of a candidate as a map for records (`shrink.jsonl`).
pub fn describe_faults(candidate: &Candidate) -> Vec<BTreeMap<&'static str, String>> {
    candidate
        .faults
        .iter()
        .map(|f| {
            BTreeMap::from([
                ("origin", f.origin.to_string()),
                ("fault", f.fault.describe()),
                ("targets", f.targets.describe()),
                ("at", crate::duration::format(f.at)),
                ("duration", crate::duration::format(f.duration)),
            ])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::shrink::search::CandidateFault;

    const ORIGINAL: &str = r#"
name = "orig"
duration = "60s"
[cluster]
compose_file = "/abs/c.yml"
project = "p"
components = { db = ["a", "b", "c"] }
[workload]
client = "etcd"
endpoints = ["a", "b", "c"]
clients = 6
keys = 4
[[nemesis]]
fault = "partition"
partition = "isolate-one"
targets = { one_of = ["a", "b", "c"] }
schedule = { start = "5s", interval = "2s", duration = "6s" }
[[nemesis]]
fault = "stop"
grace = "2s"
targets = { services = ["c"] }
schedule = { start = "1s", interval = "30s", duration = "2s" }
"#;

    #[test]
    fn a_candidate_file_plans_exactly_the_candidate() {
        let e = crate::experiment::parse(ORIGINAL, "o.toml")
            .unwrap()
            .experiment;
        let plan = crate::plan::plan(&e, crate::seed::Seed(9));
        let keep: Vec<CandidateFault> = plan
            .faults
            .iter()
            .filter(|f| f.id % 2 == 1)
            .map(|f| CandidateFault {
                origin: f.id,
                fault: f.fault.clone(),
                targets: f.targets.clone(),
                at: f.at(),
                duration: f.heal_at() - f.at(),
            })
            .collect();
        assert!(keep.len() >= 2);
        let c = Candidate {
            faults: keep.clone(),
            duration: Duration::from_secs(59),
            clients: 3,
            keys: 2,
        };
        let text = candidate_file(ORIGINAL, "o.toml", &c, 9, "shrunk").unwrap();
        let back = crate::experiment::parse(&text, "shrunk.toml")
            .unwrap()
            .experiment;
        assert_eq!(back.duration, Duration::from_secs(59));
        assert_eq!(back.workload.clients, 3);
        assert_eq!(back.workload.keys, 2);
        assert_eq!(back.seed, Some(9));
        // Planned again with any seed, it is exactly the candidate.
        let again = crate::plan::plan(&back, crate::seed::Seed(1));
        let got: Vec<(u64, u64, &Fault, &PlannedTargets)> = again
            .faults
            .iter()
            .map(|f| (f.at_ms, f.heal_at_ms, &f.fault, &f.targets))
            .collect();
        let want: Vec<(u64, u64, &Fault, &PlannedTargets)> = keep
            .iter()
            .map(|f| {
                (
                    f.at.as_millis() as u64,
                    (f.at + f.duration).as_millis() as u64,
                    &f.fault,
                    &f.targets,
                )
            })
            .collect();
        let mut want = want;
        want.sort_by_key(|w| w.0);
        assert_eq!(got, want);
        assert!(matches!(
            again.faults.iter().find(|f| f.fault.name() == "stop").map(|f| &f.fault),
            Some(Fault::Stop { grace }) if *grace == Duration::from_secs(2)
        ));
        // No fault at all: no nemesis.
        let none = Candidate {
            faults: Vec::new(),
            ..c
        };
        let text = candidate_file(ORIGINAL, "o.toml", &none, 9, "shrunk").unwrap();
        let back = crate::experiment::parse(&text, "n.toml")
            .unwrap()
            .experiment;
        assert!(back.nemeses.is_empty());
    }
}
