//! Online checkpointing: for a step count not known in advance (adaptive
//! time stepping, run-until-converged), within a bound of `s` snapshots.
//!
//! During the first sweep, states at multiples of a spacing `d` are stored.
//! When all `s` slots are full, `d` doubles and the snapshots that are no
//! longer at multiples of it are freed ("thinning"), so the stored states
//! always cover the run evenly with gaps of at most `d ≤ 2n/s`. When the
//! run stops at step `n`, the gaps are reversed from last to first, each by
//! the binomial schedule with every slot freed so far: the `j`-th stored
//! state's gap gets `s − j` snapshots.
//!
//! Cost: the first sweep computes all `n` steps (the last one before it is
//! known to be last), then each gap costs what the binomial schedule costs
//! on it. Compared with the offline optimum for the same `n` and `s` (which
//! knows `n` in advance), the `rewind schedule` table reports the ratio;
//! for s ≥ 10 it stays within a few per cent up to `n = β(s, 2)` and within
//! roughly 10–30 % beyond (see README).

use crate::Action;
use crate::action::Level;
use crate::schedule::binomial;

/// The online schedule's state machine.
#[derive(Debug, Clone)]
pub struct Online {
    capacity: usize,
    spacing: usize,
    stored: Vec<usize>,
    step: usize,
}

impl Online {
    /// Starts at `x₀`, with `s ≥ 1` snapshots. The first actions (storing
    /// `x₀`) are returned by [`start`](Self::start).
    pub fn new(s: usize) -> Self {
        Online { capacity: s.max(1), spacing: 1, stored: Vec::with_capacity(s), step: 0 }
    }

    /// The actions before the first step: store `x₀`.
    pub fn start(&mut self, out: &mut Vec<Action>) {
        self.stored.push(0);
        out.push(Action::Store { step: 0, level: Level::Ram });
    }

    /// The actions after the primal has advanced from `xₜ₋₁` to `xₜ` (the
    /// advance itself is included) and the run goes on.
    pub fn advanced(&mut self, out: &mut Vec<Action>) {
        let t = self.step + 1;
        out.push(Action::Advance { from: self.step, to: t });
        self.step = t;
    }

    /// Whether to keep the current state `xₜ` (called after
    /// [`advanced`](Self::advanced) once it is known that the run goes on);
    /// appends the frees and the store.
    pub fn keep(&mut self, out: &mut Vec<Action>) {
        let t = self.step;
        if t % self.spacing != 0 {
            return;
        }
        if self.stored.len() == self.capacity {
            if self.capacity == 1 {
                return;
            }
            self.spacing *= 2;
            let d = self.spacing;
            self.stored.retain(|&p| {
                let keep = p % d == 0;
                if !keep {
                    out.push(Action::Free { step: p, level: Level::Ram });
                }
                keep
            });
            if t % d != 0 {
                return;
            }
        }
        self.stored.push(t);
        out.push(Action::Store { step: t, level: Level::Ram });
    }

    /// The run stopped at `x_n` (the current state, `n ≥ 1`): the reversal.
    pub fn finish(&self, out: &mut Vec<Action>) {
        let n = self.step;
        for (j, &p) in self.stored.iter().enumerate().rev() {
            let e = self.stored.get(j + 1).copied().unwrap_or(n);
            out.push(Action::Restore { step: p, level: Level::Ram });
            binomial::reverse_segment(out, p, e, self.capacity - j);
            out.push(Action::Free { step: p, level: Level::Ram });
        }
    }

    /// The state the primal holds now.
    pub fn step(&self) -> usize {
        self.step
    }
}

/// The whole online schedule for a run that turns out to have `n ≥ 1` steps
/// (for checking and counting; the driver uses [`Online`] step by step).
pub(crate) fn actions(n: usize, s: usize) -> Vec<Action> {
    let mut out = Vec::with_capacity(4 * n);
    let mut o = Online::new(s);
    o.start(&mut out);
    for t in 1..=n {
        o.advanced(&mut out);
        if t < n {
            o.keep(&mut out);
        }
    }
    o.finish(&mut out);
    out
}
