//! Errors of the checkpoint crate.

use thiserror::Error;

use crate::Action;

/// A plan that cannot be turned into a schedule.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// `n = 0`: there is nothing to reverse.
    #[error("the number of steps must be at least 1")]
    NoSteps,
    /// A budget or period of zero.
    #[error("{what} must be at least 1")]
    ZeroBudget {
        /// Which one.
        what: &'static str,
    },
    /// A disk cost that is negative or not finite.
    #[error("{what} must be a finite number >= 0, got {value}")]
    BadCost {
        /// Which one.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// A schedule description that does not parse.
    #[error("cannot read schedule {text:?}: {why}")]
    Parse {
        /// The text given.
        text: String,
        /// What is wrong with it.
        why: String,
    },
}

/// A schedule that the symbolic checker rejects.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("action {index} ({action}): {why}")]
pub struct CheckError {
    /// Position of the offending action.
    pub index: usize,
    /// The action.
    pub action: Action,
    /// What is wrong.
    pub why: String,
}
