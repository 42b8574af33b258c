//! Online checkpointing: for a step count not known in advance (adaptive
//! time stepping, run-until-converged), within a bound of `s` snapshots.
//!
//! During the first sweep, states at multiples of a spacing `d` are stored
//! in up to `s − f` slots, keeping `f = ⌊√s⌋` in reserve. When those slots
//! are full, `d` doubles and the snapshots no longer at multiples of it are
//! freed ("thinning"), so the stored states cover the run evenly with gaps
//! of at most `d`. When the run stops at step `n`, the gaps are reversed
//! from last to first, each by the binomial schedule with every slot free
//! at that point: the `j`-th stored state's gap gets `s − j` snapshots, so
//! the last gap always gets at least `f + 1`.
//!
//! Why the reserve: without it, a run that stops just as the slots fill up
//! reverses its last gap (up to `2n/s` steps) with a single snapshot, at
//! quadratic cost — 6× the offline optimum at `n = 10⁴`, `s = 10`. With
//! it, the forward-step count over `n ∈ {10², …, 10⁵}`, `s ∈ {4, …, 100}`
//! stays within 1.26× of the offline optimum (which knows `n` in advance),
//! and mostly within 1.1×; the first sweep computes all `n` steps, since
//! the last is not known to be last. `rewind schedule --table` prints the
//! comparison.

use crate::Action;
use crate::action::Level;
use crate::schedule::binomial;

/// The online schedule's state machine.
#[derive(Debug, Clone)]
pub struct Online {
    capacity: usize,
    sweep_slots: usize,
    spacing: usize,
    stored: Vec<usize>,
    step: usize,
}

impl Online {
    /// Starts at `x₀`, with `s ≥ 1` snapshots. The first actions (storing
    /// `x₀`) are returned by [`start`](Self::start).
    pub fn new(s: usize) -> Self {
        let s = s.max(1);
        let reserve = (s as f64).sqrt().floor() as usize;
        let sweep_slots = s.saturating_sub(reserve).max(1);
        Online { capacity: s, sweep_slots, spacing: 1, stored: Vec::with_capacity(s), step: 0 }
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
        if self.stored.len() >= self.sweep_slots {
            if self.sweep_slots == 1 {
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
        let table = binomial::BetaTable::new(n, self.capacity);
        for (j, &p) in self.stored.iter().enumerate().rev() {
            let e = self.stored.get(j + 1).copied().unwrap_or(n);
            out.push(Action::Restore { step: p, level: Level::Ram });
            binomial::reverse_segment(out, &table, p, e, self.capacity - j);
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
