//! Objectives recorded on the field tape. A [`Loss`] is a sum of terms
//! `ℓₜ(xₜ, p)` of the state at chosen steps and of the parameters; it is
//! written with field operations and differentiated by the same sweep as
//! the step ([`LossObjective`]), so no loss keeps a hand-written gradient.
//!
//! Most objectives are made of three ready terms that compose with `+`:
//! [`Terminal`] (a misfit of the final state or of one of its parts),
//! [`Observations`] (of one part, at chosen steps and points, with a noise
//! level) and [`Background`] (of a part of `x₀` or of a parameter, with a
//! covariance) — for instance
//! `Observations::of("h").points(idx).at(10, y10).sigma(0.1) + Background::param("g", vec![1.1])`.
//! Anything else is a type implementing [`Loss`]: which steps it reads
//! ([`Loss::at`]) and its value there, from a [`LossAt`] that gives the
//! state's parts and the parameters by name. (A closure cannot be the
//! loss: it would have to be generic over the scalar type, `f64` for
//! gradients and dual numbers for Hessian products, and Rust closures are
//! not.) Each term checks its names, lengths and steps against the model
//! before any run ([`Loss::check`]).

mod terms;

use std::ops::Add;

use rewind_checkpoint::{Objective, StepError};
use rewind_field::{Components, Ctx, Field, FieldTape, Par, Scalar};

use crate::sim::{add_param_adjoints, inputs, write_state_adjoints};
use crate::{Layout, Number, ParamSet, Params, SimError, State};

pub use terms::{Background, Covariance, Observations, Terminal};

/// An objective `J = Σₜ ℓₜ(xₜ, p)` over a run of `n` steps.
pub trait Loss {
    /// Whether there is a term at state `t` of a run of `n` steps (the
    /// state is put on the tape only there).
    fn at(&self, t: usize, n: usize) -> bool;
    /// `ℓₜ(xₜ, p)` on the tape, for a `t` at which [`Loss::at`] holds.
    fn loss<'id, T: Number>(&self, at: &LossAt<'_, 'id, T>) -> Result<Scalar<'id, T>, SimError>;
    /// Checks the loss against a model's state layout and parameters for a
    /// run of `steps` steps (names, lengths, the steps it observes), before
    /// anything runs; nothing to check by default.
    fn check(&self, layout: &Layout, params: &ParamSet, steps: usize) -> Result<(), SimError> {
        let _ = (layout, params, steps);
        Ok(())
    }
}

/// What a loss term sees: the step `t` of a run of `n` steps, the tape,
/// the state `xₜ` (its parts by name) and the parameters.
#[derive(Debug)]
pub struct LossAt<'a, 'id, T> {
    t: usize,
    n: usize,
    c: &'id Ctx<'id, T>,
    layout: &'a Layout,
    x: State<'id, T>,
    p: Params<'a, 'id, T>,
}

impl<'a, 'id, T: Components> LossAt<'a, 'id, T> {
    /// The step whose state this is (`0` is the initial state).
    pub fn t(&self) -> usize {
        self.t
    }
    /// The number of steps of the run (`t == steps()` is the final state).
    pub fn steps(&self) -> usize {
        self.n
    }
    /// The tape (for constants: `ctx().scalar(…)`, `ctx().grid()`).
    pub fn ctx(&self) -> &'id Ctx<'id, T> {
        self.c
    }
    /// The whole state, in the layout's order.
    pub fn state(&self) -> &State<'id, T> {
        &self.x
    }
    /// The state's field `name`.
    pub fn field(&self, name: &str) -> Result<Field<'id, T>, SimError> {
        match self.layout.fields().iter().position(|f| f == name) {
            Some(k) => Ok(self.x.fields()[k]),
            None => Err(self.unknown(name, "a field")),
        }
    }
    /// The state's scalar `name`.
    pub fn scalar(&self, name: &str) -> Result<Scalar<'id, T>, SimError> {
        match self.layout.scalars().iter().position(|f| f == name) {
            Some(k) => Ok(self.x.scalars()[k]),
            None => Err(self.unknown(name, "a scalar")),
        }
    }
    /// The parameters, by name.
    pub fn params(&self) -> &Params<'a, 'id, T> {
        &self.p
    }
    /// `0` on the tape (the start of a sum).
    pub fn zero(&self) -> Scalar<'id, T> {
        self.c.scalar(T::zero())
    }
    fn unknown(&self, name: &str, wanted: &'static str) -> SimError {
        match self.layout.range(name) {
            Ok(_) => SimError::Shape(format!("state part `{name}` is not {wanted}")),
            Err(e) => e,
        }
    }
}

/// `A + B`: both terms, each at its own steps.
#[derive(Debug, Clone)]
pub struct Sum<A, B>(pub A, pub B);

impl<A: Loss, B: Loss> Loss for Sum<A, B> {
    fn at(&self, t: usize, n: usize) -> bool {
        self.0.at(t, n) || self.1.at(t, n)
    }
    fn loss<'id, T: Number>(&self, at: &LossAt<'_, 'id, T>) -> Result<Scalar<'id, T>, SimError> {
        let (t, n) = (at.t, at.n);
        match (self.0.at(t, n), self.1.at(t, n)) {
            (true, true) => Ok(self.0.loss(at)? + self.1.loss(at)?),
            (true, false) => self.0.loss(at),
            (false, true) => self.1.loss(at),
            (false, false) => Ok(at.zero()),
        }
    }
    fn check(&self, layout: &Layout, params: &ParamSet, steps: usize) -> Result<(), SimError> {
        self.0.check(layout, params, steps)?;
        self.1.check(layout, params, steps)
    }
}

/// `Σₖ Lₖ`: terms of one type, as many as a model has parts (a background
/// for each field, say), each at its own steps.
impl<L: Loss> Loss for Vec<L> {
    fn at(&self, t: usize, n: usize) -> bool {
        self.iter().any(|l| l.at(t, n))
    }
    fn loss<'id, T: Number>(&self, at: &LossAt<'_, 'id, T>) -> Result<Scalar<'id, T>, SimError> {
        let mut j = at.zero();
        for l in self.iter().filter(|l| l.at(at.t, at.n)) {
            j = j + l.loss(at)?;
        }
        Ok(j)
    }
    fn check(&self, layout: &Layout, params: &ParamSet, steps: usize) -> Result<(), SimError> {
        self.iter().try_for_each(|l| l.check(layout, params, steps))
    }
}

/// `+` between the ready terms and sums of them; a loss of one's own
/// joins with [`Sum`]`(mine, other)`.
macro_rules! add_terms {
    ($($ty:ty $(, $g:ident)*);*) => {$(
        impl<$($g,)* R: Loss> Add<R> for $ty {
            type Output = Sum<Self, R>;
            fn add(self, r: R) -> Sum<Self, R> {
                Sum(self, r)
            }
        }
    )*};
}
add_terms!(Terminal; Observations; Background; Sum<A, B>, A, B);

/// A [`Loss`] as the checkpoint driver's [`Objective`] over scalars `T`:
/// each term recorded on its own tape and swept back, adding to the state
/// adjoint and to the parameters' (which the driver adds to the step's).
#[derive(Debug)]
pub struct LossObjective<L, T> {
    loss: L,
    layout: Layout,
    params: ParamSet,
    values: Vec<T>,
    tape: FieldTape<T>,
    par: Par,
}

impl<L: Loss, T: Components> LossObjective<L, T> {
    /// The objective of `loss` over runs of `steps` steps for a simulation
    /// of `layout` whose parameters are `params` with flat values
    /// `values`; the loss is checked against them first ([`Loss::check`]).
    pub fn new(
        loss: L,
        layout: Layout,
        params: ParamSet,
        values: Vec<T>,
        steps: usize,
        par: Par,
    ) -> Result<Self, SimError> {
        loss.check(&layout, &params, steps)?;
        let tape = FieldTape::new(*layout.grid());
        Ok(LossObjective { loss, layout, params, values, tape, par })
    }
    /// The loss.
    pub fn loss(&self) -> &L {
        &self.loss
    }
    /// Sets the flat parameter values (kept equal to the stepper's).
    pub fn set_param_values(&mut self, values: &[T]) {
        self.values.copy_from_slice(values);
    }
}

impl<L: Loss, T: Components> Objective<T> for LossObjective<L, T> {
    fn loss(&mut self, t: usize, n: usize, x: &[T], xbar: &mut [T], pbar: &mut [T]) -> Result<T, StepError> {
        let LossObjective { loss, layout, params, values, tape, par } = self;
        if !loss.at(t, n) {
            return Ok(T::zero());
        }
        tape.record_on(*par, &[values, x], &[], |c, lent| {
            let (xs, p) = inputs(c, layout, params, lent[0], lent[1])?;
            let at = LossAt { t, n, c, layout, x: xs, p };
            let l = loss.loss(&at).map_err(SimError::into_step)?;
            let adj = c.gradient(l).map_err(StepError::model)?;
            write_state_adjoints(&at.x, &adj, xbar, true);
            add_param_adjoints(&at.p, &adj, pbar);
            Ok(l.value())
        })
    }
}

#[cfg(test)]
mod tests;
