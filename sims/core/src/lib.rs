//! # rewind-sim: time steps on the field tape as checkpointable steppers
//!
//! A simulation implements [`FieldStep`]: one time step written once on
//! the field tape, generic over the scalar type. [`FieldStepper`] turns it
//! into a [`Stepper`] of the checkpoint driver — evaluating the step
//! without recording for the forward sweeps, recording it and sweeping
//! back for the reverse ones — so every simulation gets gradients
//! (`T = f64`) and Hessian-vector products (`T = Dual<f64>`) under every
//! checkpoint schedule, with the adjoints of its parameters.

#![forbid(unsafe_code)]

use rewind_checkpoint::{Objective, Seed, StepError, Stepper};
use rewind_field::{Components, Ctx, Field, FieldError, FieldTape, Grid, Par, Scalar, SparseSpd};

/// One time step of a simulation on the field tape.
pub trait FieldStep {
    /// The grid of the state.
    fn grid(&self) -> Grid;
    /// Scalar parameters (a viscosity, a lid speed): their adjoints come
    /// first in the parameter gradient.
    fn scalar_params(&self) -> Vec<f64> {
        Vec::new()
    }
    /// Field parameters (a forcing), each one value per grid point: their
    /// adjoints follow, concatenated.
    fn field_params(&self) -> Vec<&[f64]> {
        Vec::new()
    }
    /// `xₜ₊₁` from `xₜ` (step `t`), with the parameters as tape inputs.
    fn step<'id, T: Components>(
        &self,
        t: usize,
        c: &'id Ctx<'id, T>,
        x: Field<'id, T>,
        scalars: &[Scalar<'id, T>],
        fields: &[Field<'id, T>],
    ) -> Result<Field<'id, T>, StepError>;
}

/// One classic RK4 step on the tape, `x⁺ = x + dt/6 (k₁ + 2k₂ + 2k₃ + k₄)`
/// with `kᵢ = rhs(stage state)`; `rhs` is called in stage order. The
/// final combination is one fused pass ([`Ctx::combine`]).
pub fn rk4<'id, T: Components, E>(
    c: &'id Ctx<'id, T>,
    x: Field<'id, T>,
    dt: f64,
    mut rhs: impl FnMut(Field<'id, T>) -> Result<Field<'id, T>, E>,
) -> Result<Field<'id, T>, E> {
    let k1 = rhs(x)?;
    let k2 = rhs(c.axpy(dt / 2.0, k1, x))?;
    let k3 = rhs(c.axpy(dt / 2.0, k2, x))?;
    let k4 = rhs(c.axpy(dt, k3, x))?;
    // one fused pass: the increments first, then the state
    let (d6, d3) = ((dt / 6.0).into(), (dt / 3.0).into());
    Ok(c.combine(&[(d6, k1), (d3, k2), (d3, k3), (d6, k4), (1.0.into(), x)]))
}

/// Checks `(name, value, bound)` triples for step `step`; the first one
/// exceeded is a [`StepError::Unstable`] error.
pub fn check_stability(step: usize, bounds: &[(&'static str, f64, f64)]) -> Result<(), StepError> {
    match bounds.iter().find(|(_, v, max)| v > max) {
        Some(&(what, value, max)) => Err(StepError::Unstable { step, what, value, max }),
        None => Ok(()),
    }
}

/// Wraps a field-tape error for the driver.
pub fn field_err(e: FieldError) -> StepError {
    StepError::model(e)
}

/// A [`FieldStep`] as a checkpoint [`Stepper`] over scalars `T`.
#[derive(Debug)]
pub struct FieldStepper<S, T> {
    sim: S,
    scalars: Vec<T>,
    fields: Vec<Vec<T>>,
    tape: FieldTape<T>,
    par: Par,
}

impl<S: FieldStep, T: Components> FieldStepper<S, T> {
    /// A stepper for `sim`, its kernels run with `par`.
    pub fn new(sim: S, par: Par) -> Result<Self, FieldError> {
        let grid = sim.grid();
        let scalars = sim.scalar_params().into_iter().map(T::from_f64).collect();
        let mut fields = Vec::new();
        for f in sim.field_params() {
            grid.check("field parameter", f.len())?;
            fields.push(f.iter().map(|&v| T::from_f64(v)).collect());
        }
        Ok(FieldStepper { tape: FieldTape::new(grid), sim, scalars, fields, par })
    }

    /// Attaches a factorised sparse SPD operator to the step's tape (for
    /// [`Field::solve_sparse`]).
    pub fn with_sparse(self, solver: SparseSpd) -> Result<Self, FieldError> {
        let FieldStepper { sim, scalars, fields, tape, par } = self;
        Ok(FieldStepper { tape: tape.with_sparse(solver)?, sim, scalars, fields, par })
    }

    /// The simulation.
    pub fn sim(&self) -> &S {
        &self.sim
    }

    /// Bytes held by the step's arena.
    pub fn arena_bytes(&self) -> usize {
        self.tape.arena_bytes()
    }

    /// Records step `t` from `x` on the tape, as [`Stepper::step_vjp`]
    /// does, and stops there: no reverse sweep. What recording costs on
    /// its own (for benchmarks; the driver never needs it).
    pub fn step_recorded(&mut self, t: usize, x: &[T], next: &mut [T]) -> Result<(), StepError> {
        let FieldStepper { sim, scalars, fields, tape, par } = self;
        tape.record(*par, |c| {
            let w = c.input(x).map_err(field_err)?;
            let (s, f) = inputs(c, scalars, fields)?;
            let w1 = sim.step(t, c, w, &s, &f)?;
            next.copy_from_slice(w1.value());
            Ok(())
        })
    }
}

/// The parameters of one recording, as tape inputs.
type ParamInputs<'id, T> = (Vec<Scalar<'id, T>>, Vec<Field<'id, T>>);

/// The parameters as tape inputs.
fn inputs<'id, T: Components>(
    c: &'id Ctx<'id, T>,
    scalars: &[T],
    fields: &[Vec<T>],
) -> Result<ParamInputs<'id, T>, StepError> {
    let s = scalars.iter().map(|&v| c.scalar(v)).collect();
    let f = fields.iter().map(|f| c.input(f)).collect::<Result<_, _>>().map_err(field_err)?;
    Ok((s, f))
}

impl<S: FieldStep, T: Components> Stepper<T> for FieldStepper<S, T> {
    fn state_len(&self) -> usize {
        self.sim.grid().len()
    }

    fn param_len(&self) -> usize {
        self.scalars.len() + self.fields.len() * self.sim.grid().len()
    }

    fn step(&mut self, t: usize, x: &[T], next: &mut [T]) -> Result<(), StepError> {
        let FieldStepper { sim, scalars, fields, tape, par } = self;
        tape.eval(*par, |c| {
            let w = c.input(x).map_err(field_err)?;
            let (s, f) = inputs(c, scalars, fields)?;
            let w1 = sim.step(t, c, w, &s, &f)?;
            next.copy_from_slice(w1.value());
            Ok(())
        })
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
        let FieldStepper { sim, scalars, fields, tape, par } = self;
        let n = x.len();
        tape.record(*par, |c| {
            let w = c.input(x).map_err(field_err)?;
            let (s, f) = inputs(c, scalars, fields)?;
            let w1 = sim.step(t, c, w, &s, &f)?;
            next.copy_from_slice(w1.value());
            // x̄ₜ₊₁ goes into xbar (free until the sweep), then x̄ₜ overwrites it
            seed(next, xbar)?;
            let adj = c.backward(&[(w1, &*xbar)], &[]).map_err(field_err)?;
            xbar.copy_from_slice(adj.field(w));
            for (p, &si) in pbar.iter_mut().zip(&s) {
                *p += adj.scalar(si);
            }
            let rest = &mut pbar[s.len()..];
            for (k, &fi) in f.iter().enumerate() {
                for (p, &a) in rest[k * n..(k + 1) * n].iter_mut().zip(adj.field(fi)) {
                    *p += a;
                }
            }
            Ok(())
        })
    }
}

/// `J = ½ w Σ (xₙ − target)²`: a terminal misfit with weight `w` (a cell
/// area, for instance).
#[derive(Debug, Clone)]
pub struct TerminalMisfit {
    /// The target state.
    pub target: Vec<f64>,
    /// The weight (`h²` for the 2D benchmark).
    pub area: f64,
}

impl<T: Components> Objective<T> for TerminalMisfit {
    fn loss(&mut self, t: usize, n: usize, x: &[T], xbar: &mut [T]) -> Result<T, StepError> {
        if t != n {
            return Ok(T::zero());
        }
        if x.len() != self.target.len() {
            return Err(StepError::BadInput(format!("state has {} values, the target {}", x.len(), self.target.len())));
        }
        let mut j = T::zero();
        for ((xb, &xi), &ti) in xbar.iter_mut().zip(x).zip(&self.target) {
            let d = xi - ti;
            j += d * d;
            *xb += d * self.area;
        }
        Ok(j * (0.5 * self.area))
    }
}
