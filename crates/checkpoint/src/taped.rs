//! A model written as a plain generic function over scalars, made a
//! [`Stepper`] and an [`Objective`] by the scalar tape: [`StepFn`] and
//! [`LossFn`] are written once over [`Real`]; [`TapedStepper`] records a
//! step on the tape for its VJP, [`TapedObjective`] a loss. Suits small
//! states (Lorenz-96's 40 numbers); field models use the field tape.

use rewind_tape::{Real, Tape, Var};

use crate::{Objective, Seed, StepError, Stepper};

/// A time step written once as a generic function, for [`TapedStepper`].
pub trait StepFn {
    /// Length of the state.
    fn state_len(&self) -> usize;
    /// `out = Φₜ(x; p)`.
    fn step<T: Real>(&self, t: usize, x: &[T], p: &[T], out: &mut [T]);
}

/// A loss written once as a generic function, for [`TapedObjective`].
pub trait LossFn {
    /// `ℓₜ(x)` at state `t` of `n`, or `None` where there is no loss.
    fn loss<T: Real>(&self, t: usize, n: usize, x: &[T]) -> Option<T>;
}

/// A [`Stepper`] over any scalar `T` whose VJP comes from recording the
/// generic step on a reused scalar tape — for small states (ODEs, test
/// problems); field-sized states use the array-level tape instead.
#[derive(Debug)]
pub struct TapedStepper<F, T> {
    /// The step function.
    pub f: F,
    /// Parameters `p` (their adjoints are returned).
    params: Vec<f64>,
    /// The parameters as constants of type `T`, made once.
    params_t: Vec<T>,
    tape: Tape<T>,
    scratch: Vec<T>,
}

impl<F: StepFn, T: Real> TapedStepper<F, T> {
    /// A stepper for `f` with parameters `params`.
    pub fn new(f: F, params: Vec<f64>) -> Self {
        let params_t = params.iter().map(|&v| T::from_f64(v)).collect();
        TapedStepper { f, params, params_t, tape: Tape::new(), scratch: Vec::new() }
    }

    /// The parameters.
    pub fn params(&self) -> &[f64] {
        &self.params
    }
}

impl<F: StepFn, T: Real> Stepper<T> for TapedStepper<F, T> {
    fn state_len(&self) -> usize {
        self.f.state_len()
    }
    fn param_len(&self) -> usize {
        self.params.len()
    }
    fn step(&mut self, t: usize, x: &[T], next: &mut [T]) -> Result<(), StepError> {
        self.f.step(t, x, &self.params_t, next);
        Ok(())
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
        let TapedStepper { f, params_t, tape, scratch, .. } = self;
        scratch.clear();
        scratch.resize(next.len(), T::zero());
        tape.record(|r| {
            let xs = r.vars(x);
            let ps = r.vars(params_t);
            let mut out = vec![Var::constant(T::zero()); next.len()];
            f.step(t, xs, ps, &mut out);
            for (o, v) in next.iter_mut().zip(&out) {
                *o = v.value_inner();
            }
            seed(next, scratch)?;
            let seeds: Vec<(Var<'_, T>, T)> = out.iter().copied().zip(scratch.iter().copied()).collect();
            let g = r.backward(&seeds)?;
            for (b, &xi) in xbar.iter_mut().zip(xs) {
                *b = g.wrt(xi);
            }
            for (b, &pi) in pbar.iter_mut().zip(ps) {
                *b += g.wrt(pi);
            }
            Ok(())
        })
    }
}

/// An [`Objective`] from a generic [`LossFn`], differentiated on a scalar tape.
#[derive(Debug)]
pub struct TapedObjective<L, T> {
    /// The loss function.
    pub l: L,
    tape: Tape<T>,
}

impl<L: LossFn, T: Real> TapedObjective<L, T> {
    /// An objective for `l`.
    pub fn new(l: L) -> Self {
        TapedObjective { l, tape: Tape::new() }
    }
}

impl<L: LossFn, T: Real> Objective<T> for TapedObjective<L, T> {
    fn loss(&mut self, t: usize, n: usize, x: &[T], xbar: &mut [T], _pbar: &mut [T]) -> Result<T, StepError> {
        let TapedObjective { l, tape } = self;
        tape.record(|r| {
            let xs = r.vars(x);
            let Some(y) = l.loss(t, n, xs) else { return Ok(T::zero()) };
            let g = r.gradient(y)?;
            for (b, &xi) in xbar.iter_mut().zip(xs) {
                *b += g.wrt(xi);
            }
            Ok(y.value_inner())
        })
    }
}
