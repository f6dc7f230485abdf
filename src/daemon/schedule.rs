//! The campaign's schedule: which run starts next, and when. Pure: time is
//! a `Duration` since the daemon started, passed in; every random choice
//! (which weighted experiment, how much jitter) comes from the campaign
//! seed through named streams, so `chaos daemon plan` shows the runs a
//! daemon will start (for the nominal run times it assumes).
//!
//! Rules, in order, whenever a run slot is free (fewer than `max_parallel`
//! runs, the daemon not paused):
//! 1. A run queued by hand (`chaos daemon trigger`) whose project is free.
//! 2. An `every` experiment that is due (its due time has come) and whose
//!    project is free and past its `gap`; the most overdue first. After it
//!    starts, its next due time is its due time plus `every`, plus a jitter
//!    drawn in `[0, jitter]`; an experiment that fell more than one period
//!    behind (a pause) runs once, at once, and is next due `every` later.
//! 3. A weighted experiment, drawn in proportion to its weight among the
//!    weighted experiments whose project is free and past its gap.
//!
//! Two runs on one compose project never overlap: a project with a run in
//! progress is busy, and is free again `gap` after that run ends.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rand::{Rng, RngCore};

use super::campaign::{Cadence, run_seed};
use crate::seed::Seed;

/// What the schedule knows of one experiment of the campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The experiment's name (unique in the campaign).
    pub experiment: String,
    /// Its compose project.
    pub project: String,
    pub cadence: Cadence,
}

/// A run the schedule decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextRun {
    pub experiment: String,
    pub project: String,
    pub seed: u64,
    /// The k of the experiment's seed sequence; `None` for a run queued by
    /// hand (its seed is its own, outside the sequences).
    pub k: Option<u64>,
}

/// The answer to "what now?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Start(NextRun),
    /// Nothing can start before this time (an `every` due, a gap ending).
    WaitUntil(Duration),
    /// Nothing can start until a run ends (or something is queued).
    Idle,
}

/// The schedule's state. Built from the campaign and what the run index
/// says has already run (so a restarted daemon continues every sequence).
#[derive(Debug, Clone)]
pub struct Schedule {
    seed: u64,
    slots: Vec<Slot>,
    gap: Duration,
    /// Runs started so far, per experiment (the next k).
    counts: BTreeMap<String, u64>,
    /// Weighted picks drawn so far (position in the pick stream).
    picks: u64,
    /// Next due time of each `every` experiment.
    due: BTreeMap<String, Duration>,
    /// When each project is free again (last end + gap).
    free_at: BTreeMap<String, Duration>,
    queued: VecDeque<NextRun>,
}

impl Schedule {
    /// A schedule at time zero. `counts` and `picks` come from the run
    /// index (zero for a new campaign). An `every` experiment is first due
    /// at once.
    pub fn new(
        seed: u64,
        slots: Vec<Slot>,
        gap: Duration,
        counts: BTreeMap<String, u64>,
        picks: u64,
    ) -> Schedule {
        let due = slots
            .iter()
            .filter(|s| matches!(s.cadence, Cadence::Every { .. }))
            .map(|s| (s.experiment.clone(), Duration::ZERO))
            .collect();
        Schedule {
            seed,
            slots,
            gap,
            counts,
            picks,
            due,
            free_at: BTreeMap::new(),
            queued: VecDeque::new(),
        }
    }

    /// How many runs of `experiment` the schedule has started (its next k).
    pub fn count(&self, experiment: &str) -> u64 {
        self.counts.get(experiment).copied().unwrap_or(0)
    }

    /// Weighted picks drawn so far.
    pub fn picks(&self) -> u64 {
        self.picks
    }

    /// Queue a run by hand (it runs before scheduled ones).
    pub fn queue(&mut self, run: NextRun) {
        self.queued.push_back(run);
    }

    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// A run on `project` ended at `now`: the project is free after the gap.
    pub fn ended(&mut self, project: &str, now: Duration) {
        self.free_at.insert(project.to_string(), now + self.gap);
    }

    /// Every `every` experiment that fell behind (a pause) is due now.
    pub fn resume(&mut self, now: Duration) {
        for due in self.due.values_mut() {
            if *due > now {
                continue;
            }
            *due = now;
        }
    }

    fn project_free(&self, project: &str, busy: &BTreeSet<String>, now: Duration) -> bool {
        !busy.contains(project) && self.free_at.get(project).is_none_or(|t| *t <= now)
    }

    fn next_seed(&mut self, experiment: &str) -> (u64, u64) {
        let k = self.count(experiment);
        self.counts.insert(experiment.to_string(), k + 1);
        (run_seed(self.seed, experiment, k), k)
    }

    /// The first run queued by hand whose project is free (a paused daemon
    /// starts only these).
    pub fn next_queued(&mut self, now: Duration, busy: &BTreeSet<String>) -> Option<NextRun> {
        let i = self
            .queued
            .iter()
            .position(|q| self.project_free(&q.project, busy, now))?;
        self.queued.remove(i)
    }

    /// The next run to start at `now`, with `busy` the projects that have a
    /// run in progress (the caller checks the parallelism limit).
    pub fn next(&mut self, now: Duration, busy: &BTreeSet<String>) -> Decision {
        // 1. Queued by hand.
        if let Some(r) = self.next_queued(now, busy) {
            return Decision::Start(r);
        }
        let mut wake: Option<Duration> = None;
        let mut note_wake = |t: Duration| wake = Some(wake.map_or(t, |w: Duration| w.min(t)));
        // 2. Every-experiments that are due, most overdue first.
        let mut due: Vec<(Duration, usize)> = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            if let Cadence::Every { .. } = s.cadence {
                let at = self.due[&s.experiment];
                let free = self.free_at.get(&s.project).copied().unwrap_or_default();
                if at <= now && self.project_free(&s.project, busy, now) {
                    due.push((at, i));
                } else if !busy.contains(&s.project) {
                    note_wake(at.max(free));
                }
            }
        }
        if let Some(&(at, i)) = due.iter().min() {
            let s = self.slots[i].clone();
            let Cadence::Every { every, jitter } = s.cadence else {
                unreachable!("only every-experiments are due")
            };
            let (seed, k) = self.next_seed(&s.experiment);
            let extra = if jitter.is_zero() {
                Duration::ZERO
            } else {
                let mut rng = Seed(self.seed).stream(&format!("campaign/jitter/{}", s.experiment));
                rng.set_word_pos(u128::from(k) * 2);
                Duration::from_nanos(rng.random_range(0..=jitter.as_nanos() as u64))
            };
            // More than a period behind: once now, then a period from now.
            let base = if at + every <= now { now } else { at };
            self.due.insert(s.experiment.clone(), base + every + extra);
            return Decision::Start(NextRun {
                experiment: s.experiment,
                project: s.project,
                seed,
                k: Some(k),
            });
        }
        // 3. Weighted, among the free projects.
        let candidates: Vec<(usize, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.cadence {
                Cadence::Weight(w) if self.project_free(&s.project, busy, now) => Some((i, w)),
                Cadence::Weight(_) => {
                    if !busy.contains(&s.project) {
                        note_wake(self.free_at[&s.project]);
                    }
                    None
                }
                Cadence::Every { .. } => None,
            })
            .collect();
        if !candidates.is_empty() {
            let total: u64 = candidates.iter().map(|(_, w)| u64::from(*w)).sum();
            let mut rng = Seed(self.seed).stream("campaign/picks");
            rng.set_word_pos(u128::from(self.picks) * 2);
            self.picks += 1;
            let mut ticket = rng.next_u64() % total;
            let mut chosen = candidates[0].0;
            for (i, w) in &candidates {
                if ticket < u64::from(*w) {
                    chosen = *i;
                    break;
                }
                ticket -= u64::from(*w);
            }
            let s = self.slots[chosen].clone();
            let (seed, k) = self.next_seed(&s.experiment);
            return Decision::Start(NextRun {
                experiment: s.experiment,
                project: s.project,
                seed,
                k: Some(k),
            });
        }
        match wake {
            Some(t) => Decision::WaitUntil(t.max(now)),
            None => Decision::Idle,
        }
    }
}

/// One line of `chaos daemon plan`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlannedRun {
    /// The run number (from 1).
    pub run: u64,
    /// Assumed start, from the daemon's start.
    pub at_s: f64,
    pub experiment: String,
    pub k: u64,
    pub seed: u64,
    pub project: String,
}

/// The first `n` runs a daemon would start, assuming each run of an
/// experiment takes `nominal[experiment]` and every slot is used. Pure.
pub fn plan(
    mut schedule: Schedule,
    nominal: &BTreeMap<String, Duration>,
    max_parallel: usize,
    n: usize,
) -> Vec<PlannedRun> {
    let mut out = Vec::new();
    let mut now = Duration::ZERO;
    // (end time, project) of the runs in progress.
    let mut running: Vec<(Duration, String)> = Vec::new();
    while out.len() < n {
        let busy: BTreeSet<String> = running.iter().map(|(_, p)| p.clone()).collect();
        let decision = if running.len() < max_parallel {
            schedule.next(now, &busy)
        } else {
            Decision::Idle
        };
        match decision {
            Decision::Start(r) => {
                let took = nominal.get(&r.experiment).copied().unwrap_or_default();
                running.push((now + took, r.project.clone()));
                out.push(PlannedRun {
                    run: out.len() as u64 + 1,
                    at_s: now.as_secs_f64(),
                    experiment: r.experiment,
                    k: r.k.unwrap_or(0),
                    seed: r.seed,
                    project: r.project,
                });
            }
            other => {
                // Advance to the next event: a run ending, or a wake time.
                running.sort();
                let end = running.first().map(|(t, _)| *t);
                let wake = match other {
                    Decision::WaitUntil(t) => Some(t),
                    _ => None,
                };
                let next = match (end, wake) {
                    (Some(e), Some(w)) => e.min(w),
                    (Some(e), None) => e,
                    (None, Some(w)) => w,
                    (None, None) => break,
                };
                now = next.max(now);
                while let Some(i) = running.iter().position(|(t, _)| *t <= now) {
                    let (_, project) = running.remove(i);
                    schedule.ended(&project, now);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(experiment: &str, project: &str, cadence: Cadence) -> Slot {
        Slot {
            experiment: experiment.into(),
            project: project.into(),
            cadence,
        }
    }

    fn weighted() -> Schedule {
        Schedule::new(
            7,
            vec![
                slot("a", "p", Cadence::Weight(3)),
                slot("b", "p", Cadence::Weight(1)),
            ],
            Duration::from_secs(2),
            BTreeMap::new(),
            0,
        )
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn weights_pick_in_proportion_and_seeds_follow_each_sequence() {
        let nominal = BTreeMap::from([("a".to_string(), s(10)), ("b".to_string(), s(10))]);
        let runs = plan(weighted(), &nominal, 1, 400);
        let a = runs.iter().filter(|r| r.experiment == "a").count();
        assert!(
            (260..=340).contains(&a),
            "{a} of 400 runs are `a` (weight 3 of 4)"
        );
        // The k-th run of each experiment has the k-th seed of its sequence.
        for (i, r) in runs.iter().enumerate() {
            let k = runs[..i]
                .iter()
                .filter(|x| x.experiment == r.experiment)
                .count() as u64;
            assert_eq!(r.k, k);
            assert_eq!(r.seed, run_seed(7, &r.experiment, k));
        }
        // One project: runs never overlap, and keep the gap.
        for w in runs.windows(2) {
            assert!(w[1].at_s >= w[0].at_s + 12.0, "{w:?}");
        }
        // The same campaign plans the same runs.
        assert_eq!(plan(weighted(), &nominal, 1, 400), runs);
    }

    #[test]
    fn a_restarted_schedule_continues_every_sequence() {
        let nominal = BTreeMap::from([("a".to_string(), s(10)), ("b".to_string(), s(10))]);
        let first = plan(weighted(), &nominal, 1, 10);
        let counts = BTreeMap::from([
            (
                "a".to_string(),
                first.iter().filter(|r| r.experiment == "a").count() as u64,
            ),
            (
                "b".to_string(),
                first.iter().filter(|r| r.experiment == "b").count() as u64,
            ),
        ]);
        let restarted = Schedule::new(7, weighted().slots, s(2), counts, 10);
        let after = plan(restarted, &nominal, 1, 10);
        let all = plan(weighted(), &nominal, 1, 20);
        let strip = |r: &PlannedRun| (r.experiment.clone(), r.k, r.seed);
        assert_eq!(
            after.iter().map(strip).collect::<Vec<_>>(),
            all[10..].iter().map(strip).collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_experiments_run_on_time_with_jitter_and_runs_on_one_project_never_overlap() {
        let mut sch = Schedule::new(
            3,
            vec![
                slot(
                    "tick",
                    "p",
                    Cadence::Every {
                        every: s(60),
                        jitter: s(10),
                    },
                ),
                slot("w", "p", Cadence::Weight(1)),
            ],
            Duration::ZERO,
            BTreeMap::new(),
            0,
        );
        let busy = BTreeSet::new();
        // Due at once, before the weighted one.
        let first = sch.next(s(0), &busy);
        assert!(matches!(&first, Decision::Start(r) if r.experiment == "tick"));
        // While it runs, its project is busy: nothing else starts.
        let running = BTreeSet::from(["p".to_string()]);
        assert_eq!(sch.next(s(1), &running), Decision::Idle);
        sch.ended("p", s(20));
        // Free again: the weighted one fills the time until the next tick.
        assert!(matches!(sch.next(s(20), &busy), Decision::Start(r) if r.experiment == "w"));
        sch.ended("p", s(61));
        let next = sch.next(s(61), &busy);
        // The second tick was due in [60, 70]; at 61 it is due or nearly.
        match next {
            Decision::Start(r) => assert!(r.experiment == "tick" || r.experiment == "w"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn queued_runs_go_first_and_a_paused_every_runs_once_at_resume() {
        let mut sch = Schedule::new(
            1,
            vec![slot(
                "tick",
                "p",
                Cadence::Every {
                    every: s(60),
                    jitter: Duration::ZERO,
                },
            )],
            Duration::ZERO,
            BTreeMap::new(),
            0,
        );
        let busy = BTreeSet::new();
        sch.queue(NextRun {
            experiment: "tick".into(),
            project: "p".into(),
            seed: 99,
            k: None,
        });
        assert_eq!(
            sch.next(s(0), &busy),
            Decision::Start(NextRun {
                experiment: "tick".into(),
                project: "p".into(),
                seed: 99,
                k: None
            })
        );
        // The hand-queued run took no k.
        assert!(matches!(sch.next(s(0), &busy), Decision::Start(r) if r.k == Some(0)));
        assert_eq!(sch.next(s(1), &busy), Decision::WaitUntil(s(60)));
        // Paused for ten minutes: at resume it is due at once, once.
        sch.resume(s(600));
        assert!(matches!(sch.next(s(600), &busy), Decision::Start(r) if r.k == Some(1)));
        assert_eq!(sch.next(s(600), &busy), Decision::WaitUntil(s(660)));
    }

    #[test]
    fn projects_in_parallel_up_to_the_limit() {
        let sch = Schedule::new(
            5,
            vec![
                slot("a", "pa", Cadence::Weight(1)),
                slot("b", "pb", Cadence::Weight(1)),
            ],
            Duration::ZERO,
            BTreeMap::new(),
            0,
        );
        let nominal = BTreeMap::from([("a".to_string(), s(10)), ("b".to_string(), s(10))]);
        let runs = plan(sch, &nominal, 2, 20);
        // Two at a time, never two on one project at once.
        for r in &runs {
            let overlapping: Vec<&PlannedRun> = runs
                .iter()
                .filter(|x| x.at_s <= r.at_s && r.at_s < x.at_s + 10.0)
                .collect();
            assert!(overlapping.len() <= 2, "{overlapping:?}");
            let same: Vec<_> = overlapping
                .iter()
                .filter(|x| x.project == r.project)
                .collect();
            assert_eq!(same.len(), 1, "{overlapping:?}");
        }
    }
}
