//! Errors of the scalar AD crate.

use thiserror::Error;

/// What can go wrong when recording or differentiating.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TapeError {
    /// More operations or operands than a tape can index (2³² − 1) were
    /// recorded in one recording; the gradient would be wrong, so none is
    /// returned.
    #[error("tape overflow: a single recording exceeded {max} operations or operands")]
    Overflow {
        /// The limit.
        max: u64,
    },
    /// Two slices that must have the same length do not.
    #[error("length mismatch for {what}: expected {expected}, got {got}")]
    LengthMismatch {
        /// Which argument.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A function of no inputs cannot be differentiated.
    #[error("{what}: the input is empty")]
    EmptyInput {
        /// Which function was called.
        what: &'static str,
    },
}
