//! # rewind-sim: your own model on the field tape
//!
//! A simulation is a [`Model`]: a state [`Layout`] (named fields on one
//! grid, then named scalars), named parameters with defaults
//! ([`ParamSet`]: scalars and fields), and one time step written once on
//! the field tape, generic over the scalar type. The integrators
//! ([`Integrator`]: forward Euler, SSP-RK3, RK4) work on whole states.
//!
//! [`Sim`] turns a model into a checkpoint [`Stepper`](rewind_checkpoint::Stepper)
//! — the step evaluated without recording on forward sweeps, recorded and
//! swept back on reverse ones — so every model gets gradients (`T = f64`)
//! and Hessian-vector products (`T = Dual<f64>`) under every checkpoint
//! schedule, with the adjoints of its parameters. A [`Loss`] is recorded
//! on the same tape ([`LossObjective`]), so objectives need no
//! hand-written gradient; the usual ones are ready and add up
//! ([`Terminal`], [`Observations`], [`Background`]). [`Problem`] ties a model, a loss and a schedule
//! together: the gradient by name, HVPs in any direction of the initial
//! state and the parameters jointly, and the optimizers' interface.

#![forbid(unsafe_code)]

pub mod check;
mod error;
mod integrator;
mod loss;
mod model;
mod noise;
pub mod posterior;
mod problem;
mod sim;
mod state;
pub mod var;

/// What a model author imports: `use rewind_sim::prelude::*;` brings the
/// model and loss traits, the state and parameter types, the field types a
/// step is written with, the integrators, the problem and its check, and
/// the checkpoint strategies — from one place instead of three crates.
pub mod prelude {
    pub use crate::{
        Background, Covariance, DerivativeCheck, Gradient, Integrator, Layout, Loss, LossAt, Model, Number,
        Observations, ParamSet, Params, Problem, SecondOrder, SimError, State, StepAt, Terminal, check,
    };
    pub use rewind_checkpoint::Strategy;
    pub use rewind_field::{Ctx, Field, Grid, Par, Scalar, Stencil};
}

pub use check::{DerivativeCheck, PartCheck, Step, check, steps_along};
pub use error::SimError;
pub use integrator::Integrator;
pub use loss::{Background, Covariance, Loss, LossAt, LossObjective, Observations, Sum, Terminal};
pub use model::{Model, Number, ParamSet, ParamValue, Params, StepAt};
pub use noise::Noise;
pub use posterior::{Posterior, Spectrum, posterior};
pub use problem::{GaussNewton, GaussNewtonProblem, Gradient, Problem, SecondOrder};
/// The ensemble of [`posterior`] (and of anything spread over MPI ranks):
/// `rewind_ensemble`'s, re-exported so a model crate needs no other import.
pub use rewind_ensemble::Ensemble;
pub use sim::Sim;
pub use state::{Layout, State};
pub use var::{Analysis, Coarse, ControlProblem, Incremental, incremental};

use rewind_checkpoint::{DriverError, StepError, Stepper};

/// The phases of a benchmark run (`rewind spec`), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The run that makes the target (not timed).
    Target,
    /// The primal run from the point, timed.
    Primal,
    /// The gradient under the schedule.
    Gradient,
    /// The gradient and HVP by forward-over-reverse under the schedule.
    Hvp,
}

impl Phase {
    /// A short label (for progress bars).
    pub fn label(self) -> &'static str {
        match self {
            Phase::Target => "target",
            Phase::Primal => "primal",
            Phase::Gradient => "gradient",
            Phase::Hvp => "HVP",
        }
    }
}

/// `xₙ` after `steps` steps of `stepper` from `x0`, without recording; a
/// failed step or a non-finite state is an error naming the step.
pub fn advance<S: Stepper<f64> + ?Sized>(stepper: &mut S, x0: &[f64], steps: usize) -> Result<Vec<f64>, DriverError> {
    let mut last = Vec::new();
    run_from(stepper, x0, steps, |t, x| {
        if t == steps {
            last = x.to_vec();
        }
        Ok::<_, DriverError>(())
    })?;
    Ok(last)
}

/// The states after the steps `at` (increasing; 0 is `x₀` itself) of a
/// run of `stepper` from `x0`, without recording: what the observations of
/// a twin experiment are made from. A failed step or a non-finite state is
/// the error [`run_from`] gives.
pub fn states_at<S: Stepper<f64> + ?Sized>(
    stepper: &mut S,
    x0: &[f64],
    at: &[usize],
) -> Result<Vec<Vec<f64>>, SimError> {
    if at.windows(2).any(|w| w[0] >= w[1]) {
        return Err(SimError::Settings(format!("states at steps {at:?}: the steps must be increasing")));
    }
    let mut out = Vec::with_capacity(at.len());
    run_from(stepper, x0, at.last().copied().unwrap_or(0), |t, x| {
        if at.contains(&t) {
            out.push(x.to_vec());
        }
        Ok::<_, SimError>(())
    })?;
    Ok(out)
}

/// The one forward loop without recording: `steps` steps of `stepper`
/// from `x0`, `each(t, xₜ)` called on every state from `x₀` on; a failed
/// step or a non-finite state is the error the checkpointed runs give
/// ([`DriverError::Step`], [`DriverError::NonFiniteState`]).
pub fn run_from<S: Stepper<f64> + ?Sized, E: From<DriverError>>(
    stepper: &mut S,
    x0: &[f64],
    steps: usize,
    mut each: impl FnMut(usize, &[f64]) -> Result<(), E>,
) -> Result<(), E> {
    let (mut x, mut next) = (x0.to_vec(), vec![0.0; x0.len()]);
    each(0, &x)?;
    for t in 0..steps {
        if let Err(e) = stepper.step(t, &x, &mut next) {
            return Err(rewind_checkpoint::step_error(stepper, t, &next, e).into());
        }
        if !stepper.checks_finite() {
            rewind_checkpoint::check_state(t, &next)?;
        }
        std::mem::swap(&mut x, &mut next);
        each(t + 1, &x)?;
    }
    Ok(())
}

/// Checks `(name, value, bound)` triples for step `step`; the first one
/// exceeded is a [`StepError::Unstable`] error.
pub fn check_stability(step: usize, bounds: &[(&'static str, f64, f64)]) -> Result<(), StepError> {
    match bounds.iter().find(|(_, v, max)| v > max) {
        Some(&(what, value, max)) => Err(StepError::Unstable { step, what, value, max }),
        None => Ok(()),
    }
}
