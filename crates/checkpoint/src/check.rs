//! The symbolic checker: executes a schedule on state *labels* instead of
//! states and proves that it reverses every step exactly once, in order,
//! from the right state, within its snapshot budget — and counts what it
//! costs.

use std::collections::BTreeSet;

use crate::{Action, CheckError, Schedule};

/// What a schedule costs, counted like Griewank & Walther's revolve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Steps reversed (`n`).
    pub steps: usize,
    /// Single-step primal evaluations: first sweep, recomputation, and the
    /// recorded re-run of each step before it is reversed.
    pub forward_steps: u64,
    /// Forward steps beyond store-all's `2n − 1`.
    pub recomputed_steps: u64,
    /// Snapshot writes per level (RAM, disk).
    pub writes: [u64; 2],
    /// Snapshot reads (restores) per level (RAM, disk).
    pub reads: [u64; 2],
    /// Most snapshots held at once per level (RAM, disk).
    pub peak_snapshots: [usize; 2],
    /// Number of actions.
    pub actions: usize,
}

impl Counts {
    /// Forward steps per step reversed (store-all: `2 − 1/n`).
    pub fn recomputation_factor(&self) -> f64 {
        self.forward_steps as f64 / self.steps as f64
    }
    /// Modelled total cost in units of one step: forward steps plus disk
    /// writes and reads at the given costs (RAM traffic is free).
    pub fn cost(&self, write_cost: f64, read_cost: f64) -> f64 {
        self.forward_steps as f64 + self.writes[1] as f64 * write_cost + self.reads[1] as f64 * read_cost
    }
}

/// Executes `schedule` symbolically for `n = schedule.steps()` steps with at
/// most `budget[level]` snapshots per level, and counts its cost.
///
/// Errors name the first offending action. A schedule passes when every
/// `Advance` starts from the state held, every `Store`/`Restore`/`Free`
/// names a state that is held or stored, no level exceeds its budget, steps
/// are reversed `n − 1, n − 2, …, 0` each from its own state, and nothing is
/// left stored at the end.
pub fn check(schedule: &Schedule, budget: [usize; 2]) -> Result<Counts, CheckError> {
    check_actions(schedule.steps(), schedule.iter().copied(), budget)
}

/// [`check`] on any sequence of actions for `n` steps.
pub fn check_actions(
    n: usize,
    actions: impl IntoIterator<Item = Action>,
    budget: [usize; 2],
) -> Result<Counts, CheckError> {
    let mut c = Counts { steps: n, ..Counts::default() };
    let mut current: Option<usize> = Some(0);
    let mut stored: [BTreeSet<usize>; 2] = [BTreeSet::new(), BTreeSet::new()];
    let mut next = n.checked_sub(1);
    for (i, a) in actions.into_iter().enumerate() {
        c.actions += 1;
        let fail = |why: String| CheckError { index: i, action: a, why };
        match a {
            Action::Advance { from, to } => {
                if current != Some(from) {
                    return Err(fail(format!("holds {current:?}, not x{from}")));
                }
                if to <= from || to > n {
                    return Err(fail(format!("cannot advance to x{to}")));
                }
                c.forward_steps += (to - from) as u64;
                current = Some(to);
            }
            Action::Store { step, level } => {
                if current != Some(step) {
                    return Err(fail(format!("holds {current:?}, not x{step}")));
                }
                let l = level.index();
                if !stored[l].insert(step) {
                    return Err(fail("already stored".into()));
                }
                if stored[l].len() > budget[l] {
                    return Err(fail(format!("{} snapshots exceed the budget of {}", stored[l].len(), budget[l])));
                }
                c.writes[l] += 1;
                c.peak_snapshots[l] = c.peak_snapshots[l].max(stored[l].len());
            }
            Action::Restore { step, level } => {
                if !stored[level.index()].contains(&step) {
                    return Err(fail("not stored".into()));
                }
                c.reads[level.index()] += 1;
                current = Some(step);
            }
            Action::Free { step, level } => {
                if !stored[level.index()].remove(&step) {
                    return Err(fail("not stored".into()));
                }
            }
            Action::Reverse { step } => {
                if next != Some(step) {
                    return Err(fail(format!("expected to reverse step {next:?}")));
                }
                if current != Some(step) {
                    return Err(fail(format!("holds {current:?}, not x{step}")));
                }
                c.forward_steps += 1;
                next = step.checked_sub(1);
                current = None;
            }
        }
    }
    if let Some(s) = next {
        return Err(CheckError {
            index: c.actions,
            action: Action::Reverse { step: s },
            why: format!("schedule ended before step {s} was reversed"),
        });
    }
    for (l, set) in stored.iter().enumerate() {
        if let Some(&s) = set.iter().next() {
            return Err(CheckError {
                index: c.actions,
                action: Action::Free { step: s, level: if l == 0 { crate::Level::Ram } else { crate::Level::Disk } },
                why: "snapshot still stored at the end".into(),
            });
        }
    }
    c.recomputed_steps = c.forward_steps.saturating_sub(2 * n as u64 - 1);
    Ok(c)
}
