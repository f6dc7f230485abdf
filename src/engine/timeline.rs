//! The fault timeline: apply and heal a plan's faults at their planned
//! times, through the [`Faults`] trait (the nemesis in a run, a fake in the
//! tests below), until the plan ends or the run is cancelled; then heal
//! whatever is still applied. Healing is not optional on any path.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::progress::{ProgressSink, RunEvent};
use crate::plan::{Plan, PlannedFault};
use crate::results::build::FaultOutcome;

/// A fault as applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The services it struck (roles resolved).
    pub targets: Vec<String>,
    /// The service a role it named resolved to, if it named one.
    pub role: Option<String>,
    /// What was seen of it as it was applied (chaos-fs's answer: the bytes
    /// still unsynced at a power loss), for the results.
    pub observed: Vec<String>,
}

/// What the runner needs from a nemesis: apply a planned fault, heal it, and
/// heal everything still applied. Errors are strings for the report; a fault
/// that failed to apply is recorded, not fatal.
#[allow(async_fn_in_trait)]
pub trait Faults {
    async fn apply(&mut self, fault: &PlannedFault) -> Result<Applied, String>;
    /// Heal one fault; what was seen of it as it was healed (chaos-fs's
    /// count of the errors it injected), for the results.
    async fn heal(&mut self, id: u64) -> Result<Vec<String>, String>;
    /// Heal every fault still applied; returns the errors.
    async fn heal_all(&mut self) -> Vec<String>;
}

/// Why the timeline stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It ran to the end of the run.
    Completed,
    /// The run was cancelled.
    Interrupted,
}

/// Drive the fault timeline from `start` until the end of the plan or until
/// `cancel`, then heal whatever is still applied. Healing runs on both
/// paths; the caller heals again on error paths (healing is idempotent).
/// `now_applied` always holds the faults in place, described.
pub async fn drive_faults<F: Faults>(
    plan: &Plan,
    faults: &mut F,
    start: Instant,
    cancel: &CancellationToken,
    now_applied: &watch::Sender<Vec<String>>,
    progress: &dyn ProgressSink,
) -> (Vec<FaultOutcome>, Stopped) {
    // Apply and heal events in time order; at equal times heal first.
    let mut steps: Vec<(u64, bool, usize)> = Vec::new();
    for (i, f) in plan.faults.iter().enumerate() {
        steps.push((f.at_ms, true, i));
        steps.push((f.heal_at_ms, false, i));
    }
    steps.sort_by_key(|&(t, apply, i)| (t, apply, i));
    let mut events: Vec<FaultOutcome> = plan.faults.iter().map(FaultOutcome::planned).collect();
    let mut stopped = Stopped::Completed;
    let mut active: BTreeSet<usize> = BTreeSet::new();
    for (t, apply, i) in steps {
        let at = start + Duration::from_millis(t);
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = cancel.cancelled() => { stopped = Stopped::Interrupted; break; }
        }
        let fault = &plan.faults[i];
        if apply {
            match faults.apply(fault).await {
                Ok(applied) => {
                    events[i].applied_at = Some(start.elapsed());
                    progress.event(RunEvent::FaultApplied {
                        id: fault.id,
                        kind: fault.fault.name().to_string(),
                        targets: applied.targets.clone(),
                    });
                    events[i].targets = applied.targets;
                    events[i].role = applied.role;
                    events[i].observed.extend(applied.observed);
                    active.insert(i);
                }
                Err(e) => {
                    progress.event(RunEvent::FaultError {
                        id: fault.id,
                        error: format!("not applied: {e}"),
                    });
                    events[i].error = Some(format!("not applied: {e}"));
                }
            }
        } else if active.remove(&i) {
            match faults.heal(fault.id).await {
                Ok(observed) => {
                    events[i].healed_at = Some(start.elapsed());
                    events[i].observed.extend(observed);
                    progress.event(RunEvent::FaultHealed { id: fault.id });
                }
                Err(e) => {
                    progress.event(RunEvent::FaultError {
                        id: fault.id,
                        error: format!("heal failed: {e}"),
                    });
                    events[i].error = Some(format!("heal failed: {e}"));
                }
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
                progress.event(RunEvent::FaultHealed {
                    id: events[i].fault.id,
                });
            } else {
                events[i].error = Some(format!("heal failed: {}", errors.join("; ")));
            }
        }
    }
    let _ = now_applied.send(Vec::new());
    (events, stopped)
}

fn describe_active(events: &[FaultOutcome], active: &BTreeSet<usize>) -> Vec<String> {
    active
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
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::progress::NoProgress;
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
                role: None,
                targets: vec!["n1".into()],
                observed: Vec::new(),
            })
        }
        async fn heal(&mut self, id: u64) -> Result<Vec<String>, String> {
            self.log.push(format!("heal {id}"));
            self.applied.remove(&id);
            Ok(Vec::new())
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
        let cancel = CancellationToken::new();
        let (now_tx, _now_rx) = watch::channel(Vec::new());
        let (events, stopped) = drive_faults(
            &plan,
            &mut faults,
            Instant::now(),
            &cancel,
            &now_tx,
            &NoProgress,
        )
        .await;
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
        let cancel = CancellationToken::new();
        let (now_tx, _now_rx) = watch::channel(Vec::new());
        let start = Instant::now();
        let stopper = tokio::spawn({
            let cancel = cancel.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(2_500)).await;
                cancel.cancel();
            }
        });
        let (events, stopped) =
            drive_faults(&plan, &mut faults, start, &cancel, &now_tx, &NoProgress).await;
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
        let cancel = CancellationToken::new();
        let (now_tx, _now_rx) = watch::channel(Vec::new());
        let (events, _) = drive_faults(
            &plan,
            &mut faults,
            Instant::now(),
            &cancel,
            &now_tx,
            &NoProgress,
        )
        .await;
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
