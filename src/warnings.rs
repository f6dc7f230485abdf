//! Plan warnings: what `chaos plan` (and `chaos run`, before it starts)
//! says about a plan that cannot work as its author meant: two faults on
//! one target at once that undo each other, a majority of a component down
//! at once, an op timeout longer than the run, a plan with no fault in it.
//! `--strict` makes warnings errors; notes (a fault whose kernel feature is
//! probed when the run starts) never are.
//!
//! Pure: a function of the experiment and its plan. Knows nothing of
//! Docker, clients or the engine. Faults aimed at a role are resolved only
//! when they strike, so they are left out of the target checks (and said
//! to be, in a note).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::experiment::{Experiment, Fault};
use crate::plan::{Plan, PlannedFault, PlannedTargets};

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Worth knowing; never an error.
    Note,
    /// The plan may not do what was meant; `--strict` refuses it.
    Warning,
}

/// One finding about a plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Warning {
    pub level: Level,
    /// A short kebab-case name (`conflicting-faults`, `quorum-lost`,
    /// `timeout-longer-than-run`, `no-faults`, `probed-at-run`).
    pub kind: &'static str,
    pub message: String,
}

impl Warning {
    fn warn(kind: &'static str, message: String) -> Warning {
        Warning {
            level: Level::Warning,
            kind,
            message,
        }
    }

    fn note(kind: &'static str, message: String) -> Warning {
        Warning {
            level: Level::Note,
            kind,
            message,
        }
    }

    /// `warning: ...` or `note: ...`, for the terminal.
    pub fn line(&self) -> String {
        let level = match self.level {
            Level::Note => "note",
            Level::Warning => "warning",
        };
        format!("{level}: {}", self.message)
    }
}

/// What a fault does to a target's process or its plumbing: two faults of
/// one class on one target at once undo or bury each other.
fn class(fault: &Fault) -> Option<&'static str> {
    Some(match fault {
        Fault::Kill
        | Fault::Stop { .. }
        | Fault::Pause
        | Fault::Restart { .. }
        | Fault::PowerLoss { .. } => "process",
        Fault::Netem { .. } | Fault::Bandwidth { .. } => "root qdisc",
        Fault::Cpu { .. } => "CPU limit",
        Fault::Memory { .. } => "memory limit",
        Fault::Clock { .. } => "clock",
        Fault::DiskFull { .. } | Fault::IoError { .. } | Fault::IoDelay { .. } => "chaos-fs fault",
        Fault::Disconnect { .. } | Fault::Partition { .. } | Fault::Loss { .. } => return None,
    })
}

/// Does the fault take its targets out of the cluster for its window (the
/// process stopped, frozen or dead)?
fn takes_down(fault: &Fault) -> bool {
    matches!(
        fault,
        Fault::Kill | Fault::Stop { .. } | Fault::Pause | Fault::PowerLoss { .. }
    )
}

/// The services a planned fault strikes, when the plan knows them.
fn struck(f: &PlannedFault) -> Option<Vec<String>> {
    match &f.targets {
        PlannedTargets::Services(s) => Some(s.clone()),
        PlannedTargets::Partition { .. } | PlannedTargets::Role { .. } => None,
    }
}

fn overlap(a: &PlannedFault, b: &PlannedFault) -> bool {
    a.at_ms < b.heal_at_ms && b.at_ms < a.heal_at_ms
}

fn secs(ms: u64) -> String {
    crate::duration::format(std::time::Duration::from_millis(ms))
}

/// Everything worth saying about a plan before it runs, warnings first.
pub fn check(experiment: &Experiment, plan: &Plan) -> Vec<Warning> {
    let mut out = Vec::new();
    // A plan with no fault: the nemeses all start after the run ends (an
    // exact fault is kept in the plan as written, so count those within).
    let late: Vec<&PlannedFault> = plan
        .faults
        .iter()
        .filter(|f| f.at_ms >= plan.duration_ms)
        .collect();
    if !late.is_empty() && late.len() < plan.faults.len() {
        out.push(Warning::warn(
            "faults-after-the-run",
            format!(
                "{} fault(s) start after the run ends ({}): #{} never strike{}",
                late.len(),
                secs(plan.duration_ms),
                late.iter()
                    .map(|f| f.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", #"),
                if late.len() == 1 { "s" } else { "" }
            ),
        ));
    }
    if late.len() == plan.faults.len() && !experiment.nemeses.is_empty() {
        out.push(Warning::warn(
            "no-faults",
            format!(
                "the plan has no fault: the run lasts {} and no nemesis strikes within it \
                 (is `--duration` shorter than the first fault's start?)",
                secs(plan.duration_ms)
            ),
        ));
    }
    // An op that may wait longer than the whole run.
    let timeout = experiment.workload.timeout.as_millis() as u64;
    if timeout > plan.duration_ms {
        out.push(Warning::warn(
            "timeout-longer-than-run",
            format!(
                "the op timeout ({}) is longer than the run ({}): an op that hangs is never \
                 timed out, and the run waits for it",
                secs(timeout),
                secs(plan.duration_ms)
            ),
        ));
    }
    // Two faults of one class on one target at once.
    let mut said = BTreeSet::new();
    for (i, a) in plan.faults.iter().enumerate() {
        for b in &plan.faults[i + 1..] {
            let (Some(ca), Some(cb)) = (class(&a.fault), class(&b.fault)) else {
                continue;
            };
            if ca != cb || !overlap(a, b) {
                continue;
            }
            let (Some(ta), Some(tb)) = (struck(a), struck(b)) else {
                continue;
            };
            let both: Vec<&String> = ta.iter().filter(|s| tb.contains(s)).collect();
            if both.is_empty() || !said.insert((a.id, b.id)) {
                continue;
            }
            out.push(Warning::warn(
                "conflicting-faults",
                format!(
                    "faults #{} ({}) and #{} ({}) both strike {} at {}: two {ca} faults on one \
                     target at once undo or hide each other (the first heal ends both)",
                    a.id,
                    a.fault.describe(),
                    b.id,
                    b.fault.describe(),
                    both.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    secs(a.at_ms.max(b.at_ms)),
                ),
            ));
        }
    }
    // A majority of a component down at once: quorum is lost for that
    // window. A one-node component is exempt (any fault on it is total).
    for (component, nodes) in &experiment.cluster.components {
        if nodes.len() < 2 {
            continue;
        }
        let members: BTreeSet<&String> = nodes.iter().collect();
        // Sweep the fault starts: who is down just after each one.
        let mut reported_until = 0;
        for start in plan.faults.iter().filter(|f| takes_down(&f.fault)) {
            if start.at_ms < reported_until {
                continue;
            }
            let mut down: BTreeMap<&String, u64> = BTreeMap::new();
            let mut until = u64::MAX;
            for f in plan.faults.iter().filter(|f| {
                takes_down(&f.fault) && f.at_ms <= start.at_ms && start.at_ms < f.heal_at_ms
            }) {
                for s in struck(f).unwrap_or_default() {
                    if let Some(m) = members.get(&s) {
                        down.insert(*m, f.id);
                        until = until.min(f.heal_at_ms);
                    }
                }
            }
            if down.len() * 2 > nodes.len() {
                reported_until = until;
                out.push(Warning::warn(
                    "quorum-lost",
                    format!(
                        "from {} to {}, {} of the {} members of `{component}` are down at once \
                         ({}): a majority, so it has no quorum for that window",
                        secs(start.at_ms),
                        secs(until),
                        down.len(),
                        nodes.len(),
                        down.keys()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    // What only the run can find out.
    if plan
        .faults
        .iter()
        .any(|f| matches!(f.fault, Fault::Netem { .. }))
    {
        out.push(Warning::note(
            "probed-at-run",
            "netem needs the kernel's sch_netem, probed when the run starts (before the cluster \
             is touched); `plan` stays offline"
                .to_string(),
        ));
    }
    if plan
        .faults
        .iter()
        .any(|f| matches!(f.targets, PlannedTargets::Role { .. }) && class(&f.fault).is_some())
    {
        out.push(Warning::note(
            "roles-unchecked",
            "faults aimed at a role are resolved when they strike, so they are not checked \
             for conflicts or quorum here"
                .to_string(),
        ));
    }
    // Warnings before notes; otherwise in the order found (by kind, then
    // in time).
    out.sort_by_key(|w| std::cmp::Reverse(w.level));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;

    fn experiment(nemeses: &str, duration: &str, timeout: &str) -> Experiment {
        let text = format!(
            r#"name = "t"
duration = "{duration}"
[cluster]
compose_file = "c.yml"
project = "p"
components = {{ db = ["a", "b", "c"], solo = ["s"] }}
[workload]
client = "etcd"
endpoints = ["a"]
timeout = "{timeout}"
{nemeses}
"#
        );
        crate::experiment::parse(&text, "t.toml")
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
            .experiment
    }

    fn kinds(e: &Experiment) -> Vec<&'static str> {
        let plan = crate::plan::plan(e, Seed(1));
        check(e, &plan).iter().map(|w| w.kind).collect()
    }

    const KILL_A: &str = r#"[[nemesis]]
fault = "kill"
faults = [{ at = "2s", duration = "4s", services = ["a"] }]
"#;

    #[test]
    fn a_pause_of_a_killed_container_conflicts() {
        let pause = "[[nemesis]]\nfault = \"pause\"\nfaults = [{ at = \"3s\", duration = \"4s\", services = [\"a\"] }]\n";
        let e = experiment(&format!("{KILL_A}{pause}"), "20s", "1s");
        assert_eq!(kinds(&e), vec!["conflicting-faults"]);
        // Apart in time, or on different nodes: no conflict.
        let later = pause.replace("3s", "7s");
        assert!(kinds(&experiment(&format!("{KILL_A}{later}"), "20s", "1s")).is_empty());
        let other = pause.replace("[\"a\"]", "[\"s\"]");
        assert!(kinds(&experiment(&format!("{KILL_A}{other}"), "20s", "1s")).is_empty());
        // A partition and a kill on one node are fine together.
        let cut = "[[nemesis]]\nfault = \"partition\"\npartition = \"isolate-one\"\nfaults = [{ at = \"3s\", duration = \"4s\", services = [\"a\"] }]\n";
        assert!(kinds(&experiment(&format!("{KILL_A}{cut}"), "20s", "1s")).is_empty());
    }

    #[test]
    fn a_majority_down_at_once_loses_quorum_but_a_one_node_component_is_exempt() {
        let two = "[[nemesis]]\nfault = \"stop\"\nfaults = [{ at = \"3s\", duration = \"4s\", services = [\"b\", \"c\"] }]\n";
        let e = experiment(&format!("{KILL_A}{two}"), "20s", "1s");
        let plan = crate::plan::plan(&e, Seed(1));
        let w = check(&e, &plan);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].kind, "quorum-lost");
        assert!(
            w[0].message.contains("3 of the 3 members of `db`"),
            "{}",
            w[0].message
        );
        assert!(w[0].message.contains("from 3s to 6s"), "{}", w[0].message);
        // One of three down: quorum kept.
        let one = two.replace("[\"b\", \"c\"]", "[\"b\"]").replace("3s", "7s");
        assert!(kinds(&experiment(&format!("{KILL_A}{one}"), "20s", "1s")).is_empty());
        let solo = "[[nemesis]]\nfault = \"kill\"\nfaults = [{ at = \"3s\", duration = \"4s\", services = [\"s\"] }]\n";
        assert!(kinds(&experiment(solo, "20s", "1s")).is_empty());
    }

    #[test]
    fn a_timeout_longer_than_the_run_and_a_plan_without_faults() {
        let e = experiment(KILL_A, "20s", "30s");
        assert_eq!(kinds(&e), vec!["timeout-longer-than-run"]);
        let mut e = experiment(KILL_A, "20s", "1s");
        e.duration = std::time::Duration::from_secs(1);
        assert_eq!(kinds(&e), vec!["no-faults"]);
    }

    #[test]
    fn netem_is_a_note_probed_at_the_run() {
        let netem = "[[nemesis]]\nfault = \"netem\"\ndelay = \"50ms\"\nfaults = [{ at = \"3s\", duration = \"4s\", services = [\"a\"] }]\n";
        let e = experiment(netem, "20s", "1s");
        let plan = crate::plan::plan(&e, Seed(1));
        let w = check(&e, &plan);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].level, w[0].kind), (Level::Note, "probed-at-run"));
    }
}
