//! What the driver runs: a [`Stepper`] (one differentiable time step and
//! its VJP), an [`Objective`] (losses at chosen states), the errors they
//! raise, and [`Observed`], a stepper that reports each step evaluation.

use std::error::Error as StdError;

use thiserror::Error;

/// An error raised by a stepper or an objective (a time step beyond its
/// stability bound, an input that does not fit the model, a tape or solver
/// that failed); the driver wraps it in [`DriverError::Step`](crate::DriverError::Step) with the step
/// number. Match on the variants; a model's own error types travel in
/// [`StepError::Model`] and are recovered with [`StepError::model_error`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StepError {
    /// A time step beyond a stability bound (a CFL number, a diffusion
    /// number): reduce the time step.
    #[error("step {step}: {what} number {value:.3} exceeds {max} (reduce dt)")]
    Unstable {
        /// The step.
        step: usize,
        /// Which bound.
        what: &'static str,
        /// Its value.
        value: f64,
        /// The bound.
        max: f64,
    },
    /// A state of the model holds a non-finite value.
    #[error("non-finite value at index {index}")]
    NonFinite {
        /// The first such entry.
        index: usize,
    },
    /// An input that does not fit the model (observations for the wrong
    /// number of points, a point outside the grid, a state of the wrong
    /// length).
    #[error("{0}")]
    BadInput(String),
    /// The driver stopped the sweep from its seed callback; the reason is
    /// the [`DriverError`](crate::DriverError) it returns.
    #[error("stopped by the driver: {0}")]
    Stopped(&'static str),
    /// The scalar tape refused a recording.
    #[error(transparent)]
    Tape(#[from] rewind_tape::TapeError),
    /// An error of the model's own type (a field-tape or linear-solver
    /// error, say).
    #[error(transparent)]
    Model(Box<dyn StdError + Send + Sync>),
}

impl StepError {
    /// Wraps an error of the model's own type.
    pub fn model(e: impl StdError + Send + Sync + 'static) -> Self {
        StepError::Model(Box::new(e))
    }

    /// The model's own error of type `E`, if this is one.
    pub fn model_error<E: StdError + 'static>(&self) -> Option<&E> {
        match self {
            StepError::Model(e) => e.downcast_ref::<E>(),
            _ => None,
        }
    }
}

/// The adjoint seed callback of [`Stepper::step_vjp`]: given `xₜ₊₁`, it
/// writes `x̄ₜ₊₁`.
pub type Seed<'a, T> = dyn FnMut(&[T], &mut [T]) -> Result<(), StepError> + 'a;

/// One differentiable time step, over scalars `T`.
///
/// Implement it once generically (`impl<T: Real> Stepper<T> for MySim`) to
/// get gradients (`T = f64`) and Hessian-vector products
/// (`T = Dual<f64>`) from the same code. For a step written as a generic
/// function, [`TapedStepper`](crate::TapedStepper) supplies the VJP from the scalar tape.
pub trait Stepper<T> {
    /// Length of the state vector.
    fn state_len(&self) -> usize;
    /// Number of parameters whose adjoints are accumulated (0 if none).
    fn param_len(&self) -> usize {
        0
    }
    /// Whether [`step`](Stepper::step) and [`step_vjp`](Stepper::step_vjp)
    /// check `next` themselves, returning [`StepError::NonFinite`] with its
    /// first non-finite entry (a stepper that writes the state tile by tile
    /// checks each tile while it is in cache); the driver then skips its
    /// own pass over the state. `false` by default: the driver checks.
    fn checks_finite(&self) -> bool {
        false
    }
    /// `next = xₜ₊₁ = Φₜ(xₜ)`, without recording.
    fn step(&mut self, t: usize, x: &[T], next: &mut [T]) -> Result<(), StepError>;
    /// One step with its vector-Jacobian product: compute `next = xₜ₊₁`,
    /// then call `seed(next, ybar)` to obtain the adjoint `x̄ₜ₊₁` in `ybar`,
    /// then write `x̄ₜ = (∂Φₜ/∂x)ᵀ x̄ₜ₊₁` into `xbar` and add
    /// `(∂Φₜ/∂p)ᵀ x̄ₜ₊₁` to `pbar`. (The callback lets a tape-based stepper
    /// record and sweep within one recording.)
    fn step_vjp(
        &mut self,
        t: usize,
        x: &[T],
        next: &mut [T],
        seed: &mut Seed<'_, T>,
        xbar: &mut [T],
        pbar: &mut [T],
    ) -> Result<(), StepError>;
}

/// The objective `J = Σₜ ℓₜ(xₜ, p)` over the states `t = 0..=n` of a run.
///
/// The driver calls `loss` exactly once for each state of a run (however
/// often the schedule recomputes it), so an objective may accumulate.
pub trait Objective<T> {
    /// The loss `ℓₜ(xₜ, p)` at state `t` of a run of `n` steps (zero where
    /// there is none), adding `∂ℓₜ/∂xₜ` to `xbar` and `∂ℓₜ/∂p` to `pbar`
    /// (the stepper's parameters, [`Stepper::param_len`] of them; a loss
    /// that does not depend on them leaves `pbar` alone).
    fn loss(&mut self, t: usize, n: usize, x: &[T], xbar: &mut [T], pbar: &mut [T]) -> Result<T, StepError>;
}

/// A [`Stepper`] that calls `tick` before every single-step evaluation,
/// primal or recorded (the counting of `Counters::forward_steps`), and is
/// `inner` otherwise: for progress bars over a schedule whose
/// forward-step count is known in advance
/// ([`check`](crate::check())'s `Counts`).
pub struct Observed<'a, S: ?Sized, F> {
    /// The stepper.
    pub inner: &'a mut S,
    /// Called once per step evaluation.
    pub tick: F,
}

impl<S: ?Sized, F> std::fmt::Debug for Observed<'_, S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed").finish_non_exhaustive()
    }
}

impl<T, S: Stepper<T> + ?Sized, F: FnMut()> Stepper<T> for Observed<'_, S, F> {
    fn state_len(&self) -> usize {
        self.inner.state_len()
    }
    fn param_len(&self) -> usize {
        self.inner.param_len()
    }
    fn checks_finite(&self) -> bool {
        self.inner.checks_finite()
    }
    fn step(&mut self, t: usize, x: &[T], next: &mut [T]) -> Result<(), StepError> {
        (self.tick)();
        self.inner.step(t, x, next)
    }
    fn step_vjp(
        &mut self,
        t: usize,
        x: &[T],
        next: &mut [T],
        seed: &mut Seed<'_, T>,
        xbar: &mut [T],
        pbar: &mut [T],
    ) -> Result<(), StepError> {
        (self.tick)();
        self.inner.step_vjp(t, x, next, seed, xbar, pbar)
    }
}
