//! # rewind-ns2d: 2D Navier–Stokes with exact gradients through time
//!
//! Vorticity–streamfunction form on the periodic square `[0, 2π)²`,
//!
//! ```text
//! ∂ω/∂t = J(ψ, ω) + ν ∇²ω − α ω + f,      ∇²ψ = −ω,
//! ```
//!
//! discretised exactly as `docs/specs/ns2d-periodic.md` prescribes:
//! the Arakawa Jacobian, the 5-point Laplacian, the zero-mean FFT Poisson
//! solve, classic RK4 with a fixed step. The step is written once over the
//! field tape ([`rewind_field`]), so the same code advances the flow
//! (`f64`), its tangents (`Dual<f64>`), its adjoint (the tape's sweep) and
//! Hessian-vector products (the sweep over duals). [`Ns2d`] is a
//! [`Model`]: as a [`Sim`] it is a checkpoint
//! [`Stepper`](rewind_checkpoint::Stepper), so gradients and HVPs run
//! under any checkpoint schedule.
//!
//! The initial vorticity (the state field `vorticity`), the viscosity
//! (parameter `nu`) and the forcing field (parameter `forcing`) are
//! differentiable inputs. A
//! step that produces a non-finite state, or violates the CFL bound, is a
//! typed error naming the step.

#![forbid(unsafe_code)]

pub mod spec;
pub mod twin;

use rewind_field::par::weight;
use rewind_field::{Components, Ctx, Field, FieldError, Grid, Par, Scalar};
use rewind_sim::{Integrator, Layout, Model, Number, ParamSet, Sim, SimError, State, StepAt};
use thiserror::Error;

/// Physical and numerical parameters of the periodic problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Grid points per direction.
    pub n: usize,
    /// Time step.
    pub dt: f64,
    /// Viscosity `ν`.
    pub nu: f64,
    /// Linear drag `α`.
    pub alpha: f64,
    /// Forcing field `f` (one value per grid point).
    pub forcing: Vec<f64>,
    /// Largest allowed CFL number `dt · max(|u|, |v|) / h`; RK4 with these
    /// centred operators is stable up to about `2√2/π ≈ 0.9`.
    /// `f64::INFINITY` disables the check.
    pub max_cfl: f64,
}

/// Errors of the simulation.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Ns2dError {
    /// Bad parameters.
    #[error("invalid parameter {what}: {why}")]
    Param {
        /// Which parameter.
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A field error.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// A simulation error.
    #[error(transparent)]
    Sim(#[from] SimError),
}

impl Params {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<Grid, Ns2dError> {
        let bad = |what, why: &str| Err(Ns2dError::Param { what, why: why.to_string() });
        if self.n < 4 {
            return bad("n", "need at least 4 points per direction");
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return bad("dt", "must be positive and finite");
        }
        if !(self.nu.is_finite() && self.nu >= 0.0) {
            return bad("nu", "must be finite and >= 0");
        }
        if !self.alpha.is_finite() {
            return bad("alpha", "must be finite");
        }
        if self.max_cfl.is_nan() || self.max_cfl <= 0.0 {
            return bad("max_cfl", "must be positive (infinity disables the check)");
        }
        let grid = Grid::periodic_square(self.n, 2.0 * std::f64::consts::PI)?;
        grid.check("forcing", self.forcing.len())?;
        if self.forcing.iter().any(|v| !v.is_finite()) {
            return bad("forcing", "contains a non-finite value");
        }
        Ok(grid)
    }
}

/// The right-hand side `R(ω) = J(ψ(ω), ω) + ν Δω − α ω + f` and the
/// streamfunction `ψ`.
pub fn rhs<'id, T: Components>(
    w: Field<'id, T>,
    nu: Scalar<'id, T>,
    alpha: f64,
    f: Field<'id, T>,
) -> Result<(Field<'id, T>, Field<'id, T>), FieldError> {
    let psi = w.poisson();
    // one fused expression: computed with the stage's state it feeds
    Ok((psi.arakawa(w)? + w.laplacian() * nu + w * (-alpha) + f, psi))
}

/// `max(|∂ψ/∂y|, |∂ψ/∂x|)` by central differences, on values only (not
/// recorded): the largest velocity component, over the planes this
/// process computes for the grid ([`Ctx::own_planes`]: all of them but in
/// a domain-decomposed run, whose ghost planes wrap around their box).
pub fn max_speed<T: Components>(psi: Field<'_, T>) -> f64 {
    let g = *psi.grid();
    let own = psi.ctx().own_planes();
    let p = psi.value();
    let (nx, ny) = (g.nx, g.ny);
    let (cx, cy) = (0.5 / g.dx, 0.5 / g.dy);
    let row = |i: usize| &p[i * ny..(i + 1) * ny];
    // by rows, with no index arithmetic in the inner loops (a modulo per
    // point cost more than the rest of the step's elementwise work)
    let row_max = |i: usize| {
        let (im, ip) = (if i == 0 { nx - 1 } else { i - 1 }, if i + 1 == nx { 0 } else { i + 1 });
        let (pm, p0, pp) = (row(im), row(i), row(ip));
        let mut m: f64 = 0.0;
        for (a, b) in pm.iter().zip(pp) {
            m = m.max(((b.value() - a.value()) * cx).abs());
        }
        for j in 0..ny {
            let (jm, jp) = (if j == 0 { ny - 1 } else { j - 1 }, if j + 1 == ny { 0 } else { j + 1 });
            m = m.max(((p0[jp].value() - p0[jm].value()) * cy).abs());
        }
        m
    };
    let len = own.len() * ny;
    rewind_field::par::max_rows(psi.ctx().par(), own.len(), len, weight::STENCIL, |i| row_max(own.start + i)).max(0.0)
}

/// One classic RK4 step `ω ↦ ω⁺` on the tape; returns `ω⁺` and the CFL
/// number `dt · max|u| / h` of the state it starts from.
pub fn rk4<'id, T: Components>(
    c: &'id Ctx<'id, T>,
    w: Field<'id, T>,
    nu: Scalar<'id, T>,
    alpha: f64,
    f: Field<'id, T>,
    dt: f64,
) -> Result<(Field<'id, T>, f64), SimError> {
    // the CFL number of the state the step starts from (first stage's ψ)
    let mut umax = None;
    let next = Integrator::Rk4.step(c, &State::from([w]), dt, |s| {
        let [v] = s.split()?;
        let (k, psi) = rhs(v, nu, alpha, f)?;
        umax.get_or_insert_with(|| max_speed(psi));
        Ok::<_, SimError>(State::from([k]))
    })?;
    let [next] = next.split()?;
    Ok((next, dt * umax.unwrap_or(0.0) / c.grid().dx))
}

/// The periodic flow as a [`Model`]: state `vorticity`; parameters `nu`
/// (the viscosity) and `forcing` (a field).
#[derive(Debug, Clone)]
pub struct Ns2d {
    params: Params,
    grid: Grid,
}

impl Ns2d {
    /// The model for `params` (checked).
    pub fn new(params: Params) -> Result<Self, Ns2dError> {
        let grid = params.validate()?;
        Ok(Ns2d { params, grid })
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }
}

impl Model for Ns2d {
    fn layout(&self) -> Layout {
        Layout::new(self.grid).field("vorticity")
    }

    fn params(&self) -> ParamSet {
        ParamSet::new().scalar("nu", self.params.nu).field("forcing", self.params.forcing.clone())
    }

    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let (t, c, p) = (at.t(), at.ctx(), at.params());
        let [w] = x.split()?;
        let (next, cfl) = rk4(c, w, p.scalar("nu")?, self.params.alpha, p.field("forcing")?, self.params.dt)?;
        rewind_sim::check_stability(t, &[("CFL", cfl, self.params.max_cfl)])?;
        Ok(State::from([next]))
    }
}

/// A stepper for `params` over scalars `T` (`f64` for gradients,
/// `Dual<f64>` for Hessian-vector products), its kernels run with `par`.
pub fn stepper<T: Components>(params: Params, par: Par) -> Result<Sim<Ns2d, T>, Ns2dError> {
    Ok(Sim::new(Ns2d::new(params)?, par)?)
}
