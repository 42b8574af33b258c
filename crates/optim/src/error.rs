//! Errors of the optimizers.

use thiserror::Error;

/// Why a run stopped with an error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OptimError {
    /// The objective failed (a simulation that blew up, …).
    #[error("the objective failed: {0}")]
    Objective(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The objective returned a non-finite value or derivative.
    #[error("the objective returned a non-finite {what}")]
    NonFinite {
        /// Which quantity.
        what: &'static str,
    },
    /// The line search found no acceptable step.
    #[error("the line search failed after {evaluations} evaluations (is the gradient correct?)")]
    LineSearch {
        /// Evaluations made.
        evaluations: usize,
    },
    /// A bad option or input.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// Which option.
        what: &'static str,
        /// What is wrong.
        why: String,
    },
}

impl OptimError {
    /// Wraps any error of the objective.
    pub fn objective(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        OptimError::Objective(Box::new(e))
    }
}
