//! The runner: `chaos run` from a loaded experiment to a verdict.
//!
//! Shell. It brings the cluster up (or uses the running one), creates the run
//! directory, drives the clients' op streams and the fault timeline at the
//! same time, stops, heals, lets the cluster recover, reads every key one
//! last time, runs the checker and writes `results.json` and the report.
//!
//! Healing is not optional: whatever ends the run (its natural end, an error,
//! a panic in a task, Ctrl-C, SIGTERM), every applied fault is healed before
//! `run` returns. A SIGKILL of chaos cannot be caught; the journal written
//! before each fault lets `chaos heal` undo it afterwards.
//!
//! The runner drives faults through the [`Faults`] trait, so its timeline and
//! healing logic are tested without Docker (see the tests below).

pub mod execute;
pub mod workload;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::plan::{Plan, PlannedFault};
use workload::{Counters, Event};

/// A fault as applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The services it struck (roles resolved).
    pub targets: Vec<String>,
}

/// What the runner needs from a nemesis: apply a planned fault, heal it, and
/// heal everything still applied. Errors are strings for the report; a fault
/// that failed to apply is recorded, not fatal.
#[allow(async_fn_in_trait)]
pub trait Faults {
    async fn apply(&mut self, fault: &PlannedFault) -> Result<Applied, String>;
    async fn heal(&mut self, id: u64) -> Result<(), String>;
    /// Heal every fault still applied; returns the errors.
    async fn heal_all(&mut self) -> Vec<String>;
}

/// The record of one fault for results.json.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultEvent {
    pub fault: PlannedFault,
    pub applied_at: Option<Duration>,
    pub targets: Vec<String>,
    pub healed_at: Option<Duration>,
    pub error: Option<String>,
}

/// Why the timeline stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It ran to the end of the run.
    Completed,
    /// A signal asked it to stop.
    Interrupted,
}

/// Drive the fault timeline from `start` until the end of the plan or until
/// `stop` turns true, then heal whatever is still applied. Healing runs on
/// both paths; the caller heals again on error paths (healing is idempotent).
pub async fn drive_faults<F: Faults>(
    plan: &Plan,
    faults: &mut F,
    start: Instant,
    mut stop: watch::Receiver<bool>,
    now_applied: &watch::Sender<Option<String>>,
) -> (Vec<FaultEvent>, Stopped) {
    // Apply and heal events in time order; at equal times heal first.
    let mut steps: Vec<(u64, bool, usize)> = Vec::new();
    for (i, f) in plan.faults.iter().enumerate() {
        steps.push((f.at_ms, true, i));
        steps.push((f.heal_at_ms, false, i));
    }
    steps.sort_by_key(|&(t, apply, i)| (t, apply, i));
    let mut events: Vec<FaultEvent> = plan
        .faults
        .iter()
        .map(|f| FaultEvent {
            fault: f.clone(),
            applied_at: None,
            targets: Vec::new(),
            healed_at: None,
            error: None,
        })
        .collect();
    let mut stopped = Stopped::Completed;
    let mut active: BTreeSet<usize> = BTreeSet::new();
    for (t, apply, i) in steps {
        let at = start + Duration::from_millis(t);
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = wait_true(&mut stop) => { stopped = Stopped::Interrupted; break; }
        }
        let fault = &plan.faults[i];
        if apply {
            match faults.apply(fault).await {
                Ok(applied) => {
                    events[i].applied_at = Some(start.elapsed());
                    events[i].targets = applied.targets;
                    active.insert(i);
                }
                Err(e) => events[i].error = Some(format!("not applied: {e}")),
            }
        } else if active.remove(&i) {
            match faults.heal(fault.id).await {
                Ok(()) => events[i].healed_at = Some(start.elapsed()),
                Err(e) => events[i].error = Some(format!("heal failed: {e}")),
            }
        }
        let _ = now_applied.send(describe_active(&events, &active));
    }
    // Whatever is still applied (an interrupted run) is healed now.
    if !active.is_empty() {
        let errors = faults.heal_all().await;
        let healed_at = start.elapsed();
        for i in active {
            if errors.is_empty() {
                events[i].healed_at = Some(healed_at);
            } else {
                events[i].error = Some(format!("heal failed: {}", errors.join("; ")));
            }
        }
    }
    let _ = now_applied.send(None);
    (events, stopped)
}

fn describe_active(events: &[FaultEvent], active: &BTreeSet<usize>) -> Option<String> {
    if active.is_empty() {
        return None;
    }
    let parts: Vec<String> = active
        .iter()
        .map(|&i| {
            let e = &events[i];
            format!(
                "#{} {} {}",
                e.fault.id,
                e.fault.fault.name(),
                e.targets.join(",")
            )
        })
        .collect();
    Some(parts.join("; "))
}

/// Resolves when the watched flag is (or becomes) true.
pub async fn wait_true(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            // The sender is gone: nobody can ask us to stop any more.
            std::future::pending::<()>().await;
        }
    }
}

/// Collects client events into the history file, numbering them in arrival
/// order, and keeps them for the checker and the statistics.
pub async fn record(
    mut events: mpsc::UnboundedReceiver<Event>,
    mut history: crate::store::LineWriter,
) -> std::io::Result<Vec<Event>> {
    let mut all = Vec::new();
    while let Some(event) = events.recv().await {
        history.line(&crate::history::to_line(&event.op(all.len() as u64)))?;
        all.push(event);
    }
    history.sync()?;
    Ok(all)
}

/// The progress line: elapsed/total, op counts, the fault now applied.
pub async fn progress(
    start: Instant,
    total: Duration,
    counters: Arc<Counters>,
    now_applied: watch::Receiver<Option<String>>,
    mut stop: watch::Receiver<bool>,
) {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(5)
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = wait_true(&mut stop) => break,
        }
        let fault = now_applied
            .borrow()
            .clone()
            .unwrap_or_else(|| "none".to_string());
        let line = format!(
            "[{:>5.1}s/{}] ok {} fail {} info {} | fault: {}",
            start.elapsed().as_secs_f64(),
            crate::duration::format(total),
            counters.ok.load(Ordering::Relaxed),
            counters.fail.load(Ordering::Relaxed),
            counters.info.load(Ordering::Relaxed),
            fault
        );
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }
    if tty {
        eprintln!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment;
    use crate::seed::Seed;

    /// A nemesis that records what it was asked, and can be told to fail.
    #[derive(Default)]
    struct FakeFaults {
        log: Vec<String>,
        applied: BTreeSet<u64>,
        fail_apply: BTreeSet<u64>,
    }

    impl Faults for FakeFaults {
        async fn apply(&mut self, fault: &PlannedFault) -> Result<Applied, String> {
            if self.fail_apply.contains(&fault.id) {
                return Err("no such container".into());
            }
            self.log.push(format!("apply {}", fault.id));
            self.applied.insert(fault.id);
            Ok(Applied {
                targets: vec!["n1".into()],
            })
        }
        async fn heal(&mut self, id: u64) -> Result<(), String> {
            self.log.push(format!("heal {id}"));
            self.applied.remove(&id);
            Ok(())
        }
        async fn heal_all(&mut self) -> Vec<String> {
            self.log.push("heal all".into());
            self.applied.clear();
            Vec::new()
        }
    }

    fn test_plan() -> Plan {
        let text = r#"
name = "t"
duration = "20s"
[cluster]
compose_file = "c.yml"
project = "p"
components = { db = ["n1", "n2", "n3"] }
[workload]
client = "etcd"
endpoints = ["n1"]
[[nemesis]]
fault = "pause"
targets = { one_of = ["n1", "n2"] }
schedule = { start = "1s", interval = "1s", duration = "2s" }
[[nemesis]]
fault = "kill"
targets = { services = ["n3"] }
schedule = { start = "2s", interval = "10s", duration = "1s", count = 1 }
"#;
        let e = experiment::parse(text, "t.toml").unwrap().experiment;
        crate::plan::plan(&e, Seed(1))
    }

    #[tokio::test(start_paused = true)]
    async fn every_applied_fault_is_healed_in_time_order() {
        let plan = test_plan();
        let mut faults = FakeFaults::default();
        let (_stop_tx, stop_rx) = watch::channel(false);
        let (now_tx, _now_rx) = watch::channel(None);
        let (events, stopped) =
            drive_faults(&plan, &mut faults, Instant::now(), stop_rx, &now_tx).await;
        assert_eq!(stopped, Stopped::Completed);
        assert!(
            faults.applied.is_empty(),
            "left applied: {:?}",
            faults.applied
        );
        assert!(
            events
                .iter()
                .all(|e| e.applied_at.is_some() && e.healed_at.is_some())
        );
        // Overlapping nemeses: pause #1 (1s-3s) and kill #2 (2s-3s).
        assert_eq!(&faults.log[..4], ["apply 1", "apply 2", "heal 1", "heal 2"]);
        // Apply times follow the plan on the paused clock.
        for e in &events {
            assert_eq!(e.applied_at.unwrap(), e.fault.at());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_interrupted_timeline_heals_what_is_applied() {
        let plan = test_plan();
        let mut faults = FakeFaults::default();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (now_tx, _now_rx) = watch::channel(None);
        let start = Instant::now();
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2_500)).await;
            stop_tx.send(true).unwrap();
        });
        let (events, stopped) = drive_faults(&plan, &mut faults, start, stop_rx, &now_tx).await;
        stopper.await.unwrap();
        assert_eq!(stopped, Stopped::Interrupted);
        assert!(faults.applied.is_empty());
        assert_eq!(faults.log.last().unwrap(), "heal all");
        let applied: Vec<_> = events.iter().filter(|e| e.applied_at.is_some()).collect();
        assert_eq!(applied.len(), 2);
        assert!(applied.iter().all(|e| e.healed_at.is_some()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_that_fails_to_apply_is_recorded_and_not_healed() {
        let plan = test_plan();
        let mut faults = FakeFaults {
            fail_apply: BTreeSet::from([1]),
            ..Default::default()
        };
        let (_stop_tx, stop_rx) = watch::channel(false);
        let (now_tx, _now_rx) = watch::channel(None);
        let (events, _) = drive_faults(&plan, &mut faults, Instant::now(), stop_rx, &now_tx).await;
        let first = &events[0];
        assert_eq!(first.applied_at, None);
        assert!(
            first
                .error
                .as_deref()
                .unwrap()
                .contains("no such container")
        );
        assert!(!faults.log.contains(&"heal 1".to_string()));
    }
}
