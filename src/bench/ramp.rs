//! The ramp: which rate to offer next, from the steps so far, to find the
//! highest rate that meets the objective. Doubling (by `factor`) from the
//! first rate until a step misses or the maximum is reached, then a
//! geometric bisection between the best rate that met the objective and
//! the lowest that missed, until the two are within `precision` of each
//! other. A first step that misses halves the rate instead, down to a
//! sixteenth of the first. At most `max_steps` steps.
//!
//! Pure, and depends on nothing: the driver (`engine::bench`) runs each
//! step and tells the ramp whether it met the objective; the decisions are
//! tested on synthetic answers.

use serde::{Deserialize, Serialize};

/// How to ramp: `--ramp FROM:MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RampSpec {
    pub from: u64,
    pub max: u64,
    /// Growth per step until the first miss.
    pub factor: f64,
    /// Stop when the lowest missing rate is within this fraction above the
    /// highest meeting one.
    pub precision: f64,
    pub max_steps: u32,
}

impl RampSpec {
    /// `FROM:MAX` (ops per second), with the default factor 2, precision
    /// 10 % and at most 16 steps.
    pub fn parse(text: &str) -> Result<RampSpec, String> {
        let bad = || format!("`{text}` is not a ramp; expected FROM:MAX in ops/s, e.g. 250:16000");
        let (from, max) = text.split_once(':').ok_or_else(bad)?;
        let from: u64 = from.trim().parse().map_err(|_| bad())?;
        let max: u64 = max.trim().parse().map_err(|_| bad())?;
        if from == 0 || max < from {
            return Err(format!(
                "`{text}`: the ramp must start above 0 and end at or above its start"
            ));
        }
        Ok(RampSpec {
            from,
            max,
            factor: 2.0,
            precision: 0.1,
            max_steps: 16,
        })
    }
}

/// What to do after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Offer this rate next.
    Try(u64),
    /// Stop: the highest rate that met the objective (none did: `None`).
    Done { best: Option<u64> },
}

/// The ramp's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Ramp {
    spec: RampSpec,
    /// The highest rate that met the objective.
    met: Option<u64>,
    /// The lowest rate above `met` that missed it.
    missed: Option<u64>,
    steps: u32,
}

impl Ramp {
    /// A ramp and the first rate to offer.
    pub fn new(spec: RampSpec) -> (Ramp, u64) {
        let ramp = Ramp {
            spec,
            met: None,
            missed: None,
            steps: 0,
        };
        (ramp, spec.from.min(spec.max).max(1))
    }

    /// The lowest rate a ramp goes down to: a sixteenth of its first (at
    /// least 1). Below it a step has too few ops for its p99 to mean much,
    /// and the answer (nothing met) is already clear.
    fn floor(&self) -> u64 {
        (self.spec.from / 16).max(1)
    }

    /// The highest rate that met the objective so far.
    pub fn best(&self) -> Option<u64> {
        self.met
    }

    /// Tell the ramp how the step at `rate` went; get what to do next.
    pub fn observe(&mut self, rate: u64, met: bool) -> Next {
        self.steps += 1;
        if met {
            self.met = Some(self.met.map_or(rate, |m| m.max(rate)));
            // A miss below a meeting rate was noise: look above again.
            if self.missed.is_some_and(|m| m <= rate) {
                self.missed = None;
            }
        } else if self.met.is_none_or(|m| rate > m) {
            self.missed = Some(self.missed.map_or(rate, |m| m.min(rate)));
        }
        let done = Next::Done { best: self.met };
        if self.steps >= self.spec.max_steps {
            return done;
        }
        let next = match (self.met, self.missed) {
            (Some(m), None) => {
                if m >= self.spec.max {
                    return done;
                }
                ((m as f64 * self.spec.factor).ceil() as u64).min(self.spec.max)
            }
            (None, Some(x)) => {
                let lower = (x as f64 / self.spec.factor).floor() as u64;
                if lower == 0 || lower >= x || lower < self.floor() {
                    return done;
                }
                lower
            }
            (Some(m), Some(x)) => {
                if x as f64 <= m as f64 * (1.0 + self.spec.precision) || x <= m + 1 {
                    return done;
                }
                let mid = ((m as f64) * (x as f64)).sqrt().round() as u64;
                mid.clamp(m + 1, x - 1)
            }
            // Not reached: a step either met the objective or missed it.
            (None, None) => return done,
        };
        Next::Try(next)
    }
}
