//! Objectives recorded on the field tape: a [`Loss`] is any function of
//! the state at chosen steps and of the parameters (observations at
//! several times, a background term, a regulariser), written once with
//! field operations; [`LossObjective`] records it and differentiates it
//! with the same sweep as the step, so no loss keeps a hand-written
//! gradient.

use rewind_checkpoint::{Objective, StepError};
use rewind_field::{Components, Ctx, FieldTape, Par, Scalar};

use crate::sim::{add_param_adjoints, inputs, write_state_adjoints};
use crate::{Layout, ParamSet, Params, SimError, State};

/// One term `ℓₜ(xₜ, p)` of the objective `J = Σₜ ℓₜ`.
pub trait Loss {
    /// Whether there is a term at state `t` of a run of `n` steps (the
    /// state is put on the tape only there).
    fn at(&self, t: usize, n: usize) -> bool;
    /// `ℓₜ(xₜ, p)` on the tape `c`.
    fn loss<'id, T: Components>(
        &self,
        t: usize,
        n: usize,
        c: &'id Ctx<'id, T>,
        x: &State<'id, T>,
        p: &Params<'_, 'id, T>,
    ) -> Result<Scalar<'id, T>, SimError>;
}

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
    /// The objective of `loss` for a simulation of `layout` whose
    /// parameters are `params` with flat values `values`.
    pub fn new(loss: L, layout: Layout, params: ParamSet, values: Vec<T>, par: Par) -> Self {
        let tape = FieldTape::new(*layout.grid());
        LossObjective { loss, layout, params, values, tape, par }
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
        tape.record_on(*par, &[values, x], |c, lent| {
            let (xs, p) = inputs(c, layout, params, lent[0], lent[1])?;
            let l = loss.loss(t, n, c, &xs, &p).map_err(SimError::into_step)?;
            let adj = c.gradient(l).map_err(StepError::model)?;
            write_state_adjoints(&xs, &adj, xbar, true);
            add_param_adjoints(&p, &adj, pbar);
            Ok(l.value())
        })
    }
}

/// `J = ½ w Σ (xₙ − target)²` over the whole final state: a terminal
/// misfit with weight `w` (a cell area, for instance).
#[derive(Debug, Clone)]
pub struct TerminalMisfit {
    /// The target state (flat, in the layout's order).
    pub target: Vec<f64>,
    /// The weight (`h²` for the 2D benchmark).
    pub area: f64,
}

impl Loss for TerminalMisfit {
    fn at(&self, t: usize, n: usize) -> bool {
        t == n
    }
    fn loss<'id, T: Components>(
        &self,
        _t: usize,
        _n: usize,
        c: &'id Ctx<'id, T>,
        x: &State<'id, T>,
        _p: &Params<'_, 'id, T>,
    ) -> Result<Scalar<'id, T>, SimError> {
        let n = c.grid().len();
        let want = x.fields().len() * n + x.scalars().len();
        if self.target.len() != want {
            return Err(SimError::Length { what: "target".into(), expected: want, got: self.target.len() });
        }
        let mut j = c.scalar(T::zero());
        for (k, f) in x.fields().iter().enumerate() {
            j = j + f.misfit(&self.target[k * n..(k + 1) * n])?;
        }
        for (k, &s) in x.scalars().iter().enumerate() {
            let d = s - self.target[x.fields().len() * n + k];
            j = j + d * d;
        }
        Ok(j * (0.5 * self.area))
    }
}
