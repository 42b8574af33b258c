//! # rewind-burgers: viscous Burgers on a periodic line
//!
//! `∂u/∂t + ∂(u²/2)/∂x = ν ∂²u/∂x²` on `[0, 2π)`, in conservative form
//! with central differences and classic RK4. From `u₀ = sin x + ½` a shock
//! steepens until viscosity balances it (around `t ≈ 1`), which makes the
//! adjoint stiff: a good test of the reverse sweep. The step is written on
//! the field tape (a 1D grid), so gradients and HVPs come from the
//! checkpoint driver under any schedule; `ν` is a differentiable parameter.

#![forbid(unsafe_code)]

use rewind_checkpoint::StepError;
use rewind_field::{Components, Ctx, Field, FieldError, Grid, Par, Scalar};
use rewind_sim::{FieldStep, FieldStepper};
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
}

/// The time step.
#[derive(Debug, Clone)]
pub struct BurgersStep {
    params: Params,
    grid: Grid,
}

impl BurgersStep {
    /// The step for `params`.
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
        Ok(BurgersStep { params, grid })
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

impl FieldStep for BurgersStep {
    fn grid(&self) -> Grid {
        self.grid
    }

    /// `ν`.
    fn scalar_params(&self) -> Vec<f64> {
        vec![self.params.nu]
    }

    fn step<'id, T: Components>(
        &self,
        t: usize,
        c: &'id Ctx<'id, T>,
        u: Field<'id, T>,
        scalars: &[Scalar<'id, T>],
        _fields: &[Field<'id, T>],
    ) -> Result<Field<'id, T>, StepError> {
        let (dt, h, nu) = (self.params.dt, self.grid.dx, scalars[0]);
        let umax = u.value().iter().fold(0.0f64, |m, v| m.max(v.value().abs()));
        let cfl = dt * umax / h;
        let diffusive = dt * nu.value().value() / (h * h);
        // RK4 with central differences: stable up to |λ dt| ≈ 2.8 on the
        // imaginary axis and 2.78 on the negative real axis (4ν dt/h² there)
        rewind_sim::check_stability(t, &[("advective CFL", cfl, 2.0), ("diffusion", diffusive, 0.6)])?;
        rewind_sim::rk4(c, u, dt, |v| Ok(rhs(v, nu)))
    }
}

/// The Burgers flow as a checkpointable stepper (parameter: `ν`).
pub type Burgers<T> = FieldStepper<BurgersStep, T>;

/// A stepper for `params` running its kernels with `par`.
pub fn stepper<T: Components>(params: Params, par: Par) -> Result<Burgers<T>, BurgersError> {
    Ok(FieldStepper::new(BurgersStep::new(params)?, par)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_default_is_stable() {
        let s = BurgersStep::new(Params::default()).unwrap();
        let h = s.grid().dx;
        assert!(0.01 * 1.5 / h < 2.0 && 0.01 * 0.05 / (h * h) < 0.6);
    }
}
