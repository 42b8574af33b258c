//! The vocabulary of schedules.

use std::fmt;

/// Where a snapshot lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// In memory: cheap to write and read, scarce.
    Ram,
    /// On disk: plentiful, each write and read costs time.
    Disk,
}

impl Level {
    /// Index for per-level arrays (`Ram` = 0, `Disk` = 1).
    pub fn index(self) -> usize {
        match self {
            Level::Ram => 0,
            Level::Disk => 1,
        }
    }
}

/// One instruction of a schedule. States are numbered by the step that
/// starts from them: `x₀` is the initial state, step `t` maps `xₜ` to `xₜ₊₁`,
/// and `n` steps end at `xₙ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Run the primal (without recording) from `x_from` to `x_to`.
    Advance {
        /// The state held before.
        from: usize,
        /// The state held after.
        to: usize,
    },
    /// Keep a copy of the current state `x_step`.
    Store {
        /// Which state.
        step: usize,
        /// Where.
        level: Level,
    },
    /// Make the snapshot of `x_step` the current state.
    Restore {
        /// Which state.
        step: usize,
        /// Where it is kept.
        level: Level,
    },
    /// Drop the snapshot of `x_step`.
    Free {
        /// Which state.
        step: usize,
        /// Where it is kept.
        level: Level,
    },
    /// Re-run step `step` from the current state `x_step` with recording and
    /// propagate the adjoint from `x_{step+1}` to `x_step`. Steps are
    /// reversed from `n − 1` down to 0; the current state is consumed.
    Reverse {
        /// Which step.
        step: usize,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lv = |l: &Level| if *l == Level::Ram { "ram" } else { "disk" };
        match self {
            Action::Advance { from, to } => write!(f, "advance {from} -> {to}"),
            Action::Store { step, level } => write!(f, "store {step} ({})", lv(level)),
            Action::Restore { step, level } => write!(f, "restore {step} ({})", lv(level)),
            Action::Free { step, level } => write!(f, "free {step} ({})", lv(level)),
            Action::Reverse { step } => write!(f, "reverse {step}"),
        }
    }
}
