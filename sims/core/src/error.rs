//! The errors of models, losses and problems.

use rewind_checkpoint::{DriverError, ScheduleError, StepError};
use rewind_field::FieldError;
use thiserror::Error;

/// What can go wrong defining or running a simulation.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SimError {
    /// A bad state layout or parameter set.
    #[error("invalid model: {0}")]
    Layout(String),
    /// Solver settings that cannot work.
    #[error("invalid settings: {0}")]
    Settings(String),
    /// A name that is not there.
    #[error("no {what} named `{name}` (known: {})", known.join(", "))]
    Unknown {
        /// What kind of name.
        what: &'static str,
        /// The name asked for.
        name: String,
        /// The names there are.
        known: Vec<String>,
    },
    /// A part left out.
    #[error("{what} `{name}` is missing")]
    Missing {
        /// What kind of part.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A parameter of the other kind.
    #[error("parameter `{name}` is {is}, not {wanted}")]
    Kind {
        /// The parameter.
        name: String,
        /// What it is.
        is: &'static str,
        /// What was asked for.
        wanted: &'static str,
    },
    /// A wrong length.
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        /// What has the wrong length.
        what: String,
        /// The length expected.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A value that is not finite.
    #[error("{what} has a non-finite value")]
    NonFinite {
        /// What.
        what: String,
    },
    /// A step or right-hand side whose parts do not match the layout.
    #[error("state shape: {0}")]
    Shape(String),
    /// A field-tape error.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// A step error (a stability bound exceeded, a bad input).
    #[error(transparent)]
    Step(#[from] StepError),
    /// A step error at a known step of a run.
    #[error("step {step}: {source}")]
    At {
        /// The step.
        step: usize,
        /// What went wrong.
        source: StepError,
    },
    /// The checkpointed run failed.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// A schedule that cannot be made.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// A solver of `rewind-optim` failed (the eigensolver, say).
    #[error(transparent)]
    Optim(#[from] rewind_optim::OptimError),
    /// A member of an ensemble (on this rank or another) failed.
    #[error(transparent)]
    Ensemble(#[from] rewind_ensemble::EnsembleError),
}

impl SimError {
    /// As the driver's step error: a step error stays itself (a stability
    /// bound is still [`StepError::Unstable`]); anything else is a model
    /// error carrying this one.
    pub fn into_step(self) -> StepError {
        match self {
            SimError::Step(e) => e,
            e => StepError::model(e),
        }
    }
}
