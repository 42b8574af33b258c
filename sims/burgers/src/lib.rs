//! # rewind-burgers: viscous Burgers on a periodic line
//!
//! `∂u/∂t + ∂(u²/2)/∂x = ν ∂²u/∂x²` on `[0, 2π)`, in conservative form
//! with central differences and classic RK4. From `u₀ = sin x + ½` a shock
//! steepens until viscosity balances it (around `t ≈ 1`), which makes the
//! adjoint stiff: a good test of the reverse sweep. The step is written on
//! the field tape (a 1D grid) as a [`Model`], so gradients and HVPs come
//! from the checkpoint driver under any schedule; `ν` (parameter `nu`) is
//! differentiable.

#![forbid(unsafe_code)]

use rewind_field::{Components, Field, FieldError, Grid, Par, Scalar};
use rewind_sim::{Integrator, Layout, Model, Number, ParamSet, Sim, SimError, State, StepAt};
use thiserror::Error;

/// Parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Grid points.
    pub n: usize,
    /// Viscosity.
    pub nu: f64,
    /// Time step.
    pub dt: f64,
}

impl Default for Params {
    /// `n = 128`, `ν = 0.05`, `dt = 0.01`: the shock is resolved (its width
    /// `~ν` spans two cells) and both stability bounds hold with margin.
    fn default() -> Self {
        Params { n: 128, nu: 0.05, dt: 0.01 }
    }
}

/// Errors.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BurgersError {
    /// Bad parameters.
    #[error("invalid parameter {0}")]
    Param(&'static str),
    /// A field error.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// A simulation error.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// The Burgers flow as a [`Model`]: state `u`, parameter `nu`.
#[derive(Debug, Clone)]
pub struct Burgers {
    params: Params,
    grid: Grid,
}

impl Burgers {
    /// The model for `params` (checked).
    pub fn new(params: Params) -> Result<Self, BurgersError> {
        if params.n < 4 {
            return Err(BurgersError::Param("n: need at least 4 points"));
        }
        if !(params.dt.is_finite() && params.dt > 0.0) {
            return Err(BurgersError::Param("dt: must be positive and finite"));
        }
        if !(params.nu.is_finite() && params.nu >= 0.0) {
            return Err(BurgersError::Param("nu: must be finite and >= 0"));
        }
        let grid = Grid::line(params.n, 2.0 * std::f64::consts::PI)?;
        Ok(Burgers { params, grid })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The initial condition `sin x + ½`.
    pub fn initial(&self) -> Vec<f64> {
        self.grid.sample(|x, _| x.sin() + 0.5)
    }
}

/// `R(u) = −∂ₓ(u²/2) + ν ∂ₓₓu`.
fn rhs<'id, T: Components>(u: Field<'id, T>, nu: Scalar<'id, T>) -> Field<'id, T> {
    (u * u).ddx() * -0.5 + u.laplacian() * nu
}

impl Model for Burgers {
    fn layout(&self) -> Layout {
        Layout::new(self.grid).field("u")
    }

    fn params(&self) -> ParamSet {
        ParamSet::new().scalar("nu", self.params.nu)
    }

    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let (t, c, p) = (at.t(), at.ctx(), at.params());
        let ([u], nu) = (x.split()?, p.scalar("nu")?);
        let (dt, h) = (self.params.dt, self.grid.dx);
        let umax = u.value().iter().fold(0.0f64, |m, v| m.max(v.value().abs()));
        let cfl = dt * umax / h;
        let diffusive = dt * nu.value().value() / (h * h);
        // RK4 with central differences: stable up to |λ dt| ≈ 2.8 on the
        // imaginary axis and 2.78 on the negative real axis (4ν dt/h² there)
        rewind_sim::check_stability(t, &[("advective CFL", cfl, 2.0), ("diffusion", diffusive, 0.6)])?;
        Integrator::Rk4.step(c, x, dt, |s| Ok::<_, SimError>(State::from([rhs(s.split::<1>()?[0], nu)])))
    }
}

/// A stepper for `params` over scalars `T`, its kernels run with `par`.
pub fn stepper<T: Components>(params: Params, par: Par) -> Result<Sim<Burgers, T>, BurgersError> {
    Ok(Sim::new(Burgers::new(params)?, par)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_default_is_stable() {
        let s = Burgers::new(Params::default()).unwrap();
        let h = s.grid().dx;
        assert!(0.01 * 1.5 / h < 2.0 && 0.01 * 0.05 / (h * h) < 0.6);
    }
}
