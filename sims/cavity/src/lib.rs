//! # rewind-cavity: the lid-driven cavity
//!
//! The unit square with no-slip walls; the top wall (the lid) moves to the
//! right with speed `U`. Vorticity–streamfunction form on an `N × N` grid
//! including the walls (`h = 1/(N − 1)`); the unknowns live at the
//! `(N − 2)²` interior points:
//!
//! ```text
//! ∂ω/∂t = −(u ∂ω/∂x + v ∂ω/∂y) + ν ∇²ω,   −∇²ψ = ω (ψ = 0 on the walls),
//! u = ∂ψ/∂y,  v = −∂ψ/∂x,
//! ```
//!
//! with central differences, the streamfunction from faer's sparse Cholesky
//! (factorised once), classic RK4, and the wall vorticity of Thom's formula
//! `ω_wall = −2ψ₁/h²` (lid: `−2ψ₁/h² − 2U/h`), where `ψ₁` is the
//! streamfunction one cell inside. Because the wall value next to an
//! interior point depends only on `ψ` at that point, the boundary terms are
//! masks times `ψ` (and times `U` at the lid) — ordinary tape operations,
//! so the whole step is differentiable in the initial vorticity, the
//! viscosity and the lid speed.
//!
//! [`run_to_steady`] advances until `max|∂ω/∂t| < tol`;
//! [`centreline_u`] and [`ghia`] compare the steady `u(0.5, y)` with the
//! published data of Ghia, Ghia & Shin (J. Comput. Phys. 48, 1982, Table I).

#![forbid(unsafe_code)]

use rewind_checkpoint::{StepError, Stepper};
use rewind_field::{Components, Ctx, Field, FieldError, Grid, Par, Scalar, SparseSpd};
use rewind_sim::{Integrator, Layout, Model, Number, ParamSet, Sim, SimError, State, StepAt};
use thiserror::Error;

/// Parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Grid points per direction, walls included (129 for the benchmark).
    pub n: usize,
    /// Reynolds number `U·1/ν` (with `U = lid`).
    pub reynolds: f64,
    /// Lid speed `U`.
    pub lid: f64,
    /// Time step.
    pub dt: f64,
}

impl Params {
    /// A stable time step for RK4 with these central differences: the
    /// smaller of the diffusive bound `0.3 h²/ν` and the advective bound
    /// `0.5 h/U`.
    pub fn stable_dt(n: usize, reynolds: f64, lid: f64) -> f64 {
        let h = 1.0 / (n as f64 - 1.0);
        let nu = lid / reynolds;
        (0.3 * h * h / nu).min(0.5 * h / lid.abs().max(1e-12))
    }
}

/// Errors.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CavityError {
    /// Bad parameters.
    #[error("invalid parameter {0}")]
    Param(&'static str),
    /// The run did not reach a steady state.
    #[error("no steady state after {steps} steps (max |dω/dt| = {rate:.3e})")]
    NotSteady {
        /// Steps taken.
        steps: usize,
        /// The last rate of change.
        rate: f64,
    },
    /// A step failed.
    #[error("step {step}: {source}")]
    Step {
        /// The step.
        step: usize,
        /// Why.
        source: StepError,
    },
    /// A field error.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// A simulation error.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// The cavity's time step on the interior grid.
#[derive(Debug, Clone)]
pub struct CavityStep {
    params: Params,
    grid: Grid,
    /// Number of walls next to each interior point (0–2).
    walls: Vec<f64>,
    /// `+1` next to the right wall, `−1` next to the left one.
    x_side: Vec<f64>,
    /// `+1` next to the lid, `−1` next to the bottom.
    y_side: Vec<f64>,
}

impl CavityStep {
    /// The step for `params`.
    pub fn new(params: Params) -> Result<Self, CavityError> {
        if params.n < 5 {
            return Err(CavityError::Param("n: need at least 5 points per direction"));
        }
        if !(params.reynolds.is_finite() && params.reynolds > 0.0) {
            return Err(CavityError::Param("reynolds: must be positive"));
        }
        if !(params.dt.is_finite() && params.dt > 0.0) {
            return Err(CavityError::Param("dt: must be positive"));
        }
        if !params.lid.is_finite() {
            return Err(CavityError::Param("lid: must be finite"));
        }
        let m = params.n - 2;
        let h = 1.0 / (params.n as f64 - 1.0);
        // interior grid: i along x (rows), j along y; point (i, j) is at
        // ((i + 1) h, (j + 1) h)
        let grid = Grid::new(m, m, h, h)?;
        let len = grid.len();
        let (mut walls, mut x_side, mut y_side) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
        for i in 0..m {
            for j in 0..m {
                let k = grid.idx(i, j);
                let (l, r, b, t) = (i == 0, i == m - 1, j == 0, j == m - 1);
                walls[k] = [l, r, b, t].iter().filter(|&&w| w).count() as f64;
                x_side[k] = if r { 1.0 } else { 0.0 } - if l { 1.0 } else { 0.0 };
                y_side[k] = if t { 1.0 } else { 0.0 } - if b { 1.0 } else { 0.0 };
            }
        }
        Ok(CavityStep { params, grid, walls, x_side, y_side })
    }

    /// The interior grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// `R(ω) = −(u ω_x + v ω_y) + ν ∇²ω` with Thom's wall vorticity; also
    /// returns `ψ`.
    pub fn rhs<'id, T: Components>(
        &self,
        c: &'id Ctx<'id, T>,
        w: Field<'id, T>,
        nu: Scalar<'id, T>,
        lid: Scalar<'id, T>,
    ) -> Result<(Field<'id, T>, Field<'id, T>), FieldError> {
        let h = self.grid.dx;
        let psi = w.solve_sparse()?;
        // wall vorticity terms: ω_wall = −2ψ/h² (− 2U/h at the lid)
        let wall_psi = psi * (-2.0 / (h * h));
        // −2U/h on the row next to the lid (j = m − 1, i.e. y = (m − 1) h on
        // the interior grid's own coordinates); sampled into the arena
        let top_row = (self.grid.ny as f64 - 1.5) * h;
        let lid_term = c.sampled(|_, y| if y > top_row { -2.0 / h } else { 0.0 }) * lid;
        let lap = w.laplacian0() + wall_psi.mask(&self.walls)? * (1.0 / (h * h)) + lid_term * (1.0 / (h * h));
        let wx = w.ddx0() + wall_psi.mask(&self.x_side)? * (0.5 / h);
        let wy = w.ddy0() + wall_psi.mask(&self.y_side)? * (0.5 / h) + lid_term * (0.5 / h);
        let (u, v) = (psi.ddy0(), psi.ddx0());
        // −(u ω_x + v ω_y) with v = −ψ_x
        let adv = v * wy - u * wx;
        Ok((adv + lap * nu, psi))
    }
}

impl Model for CavityStep {
    fn layout(&self) -> Layout {
        Layout::new(self.grid).field("vorticity")
    }

    /// `nu = U/Re`, then the lid speed `lid = U`.
    fn params(&self) -> ParamSet {
        ParamSet::new().scalar("nu", self.params.lid / self.params.reynolds).scalar("lid", self.params.lid)
    }

    /// The Dirichlet Laplacian of the streamfunction solve (constant).
    fn sparse(&self) -> Result<Option<SparseSpd>, SimError> {
        Ok(Some(SparseSpd::dirichlet_laplacian(&self.grid)?))
    }

    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let (t, c, p) = (at.t(), at.ctx(), at.params());
        let (nu, lid) = (p.scalar("nu")?, p.scalar("lid")?);
        let (dt, h) = (self.params.dt, self.grid.dx);
        // stability of the state the step starts from (first stage's ψ):
        // RK4 with central differences is stable up to |λ dt| ≈ 2.8
        let mut speed = None;
        let next = Integrator::Rk4.step(c, x, dt, |s| {
            let [w] = s.split()?;
            let (r, psi) = self.rhs(c, w, nu, lid)?;
            speed.get_or_insert_with(|| {
                let (u, v) = (psi.ddy0().value(), psi.ddx0().value());
                u.iter().chain(v).fold(lid.value().value().abs(), |m, a| m.max(a.value().abs()))
            });
            Ok::<_, SimError>(State::from([r]))
        })?;
        let cfl = dt * speed.unwrap_or(0.0) / h;
        let diffusion = dt * nu.value().value() * 8.0 / (h * h);
        rewind_sim::check_stability(t, &[("advective CFL", cfl, 1.4), ("diffusion", diffusion, 2.7)])?;
        Ok(next)
    }
}

/// The cavity as a checkpointable stepper; parameters `nu`, then `lid`.
pub type Cavity<T> = Sim<CavityStep, T>;

/// A stepper for `params` (the sparse Laplacian is factorised here, once).
pub fn stepper<T: Components>(params: Params, par: Par) -> Result<Cavity<T>, CavityError> {
    Ok(Sim::new(CavityStep::new(params)?, par)?)
}

/// Advances from rest (`ω = 0`) until `max|ω⁺ − ω| / dt < tol`, at most
/// `max_steps` steps; returns the steady vorticity and the steps taken.
pub fn run_to_steady(stepper: &mut Cavity<f64>, tol: f64, max_steps: usize) -> Result<(Vec<f64>, usize), CavityError> {
    let n = stepper.model().grid.len();
    let dt = stepper.model().params.dt;
    let (mut w, mut next) = (vec![0.0; n], vec![0.0; n]);
    let mut rate = f64::INFINITY;
    for t in 0..max_steps {
        stepper.step(t, &w, &mut next).map_err(|source| CavityError::Step { step: t, source })?;
        if let Some(k) = next.iter().position(|v| !v.is_finite()) {
            return Err(CavityError::Step { step: t, source: StepError::NonFinite { index: k } });
        }
        rate = w.iter().zip(&next).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / dt;
        std::mem::swap(&mut w, &mut next);
        if rate < tol {
            return Ok((w, t + 1));
        }
    }
    Err(CavityError::NotSteady { steps: max_steps, rate })
}

/// `u(0.5, y)` on the vertical centre line, at the grid rows `y = j h`,
/// `j = 0..N` (walls included: 0 at the bottom, `U` at the lid). `N` must
/// be odd so that `x = 0.5` is a grid line.
pub fn centreline_u(step: &CavityStep, w: &[f64]) -> Result<Vec<(f64, f64)>, CavityError> {
    let n = step.params.n;
    if n % 2 == 0 {
        return Err(CavityError::Param("n: must be odd for a centre line"));
    }
    let g = step.grid;
    g.check("vorticity", w.len())?;
    let s = SparseSpd::dirichlet_laplacian(&g)?;
    let mut psi = vec![0.0; g.len()];
    s.solve(w, &mut psi)?;
    let i = (n - 1) / 2 - 1; // x = 0.5 in interior indices
    let h = g.dx;
    let at = |j: isize| if j < 0 || j as usize >= g.ny { 0.0 } else { psi[g.idx(i, j as usize)] };
    let mut out = vec![(0.0, 0.0)];
    for j in 0..g.ny as isize {
        out.push(((j + 1) as f64 * h, (at(j + 1) - at(j - 1)) / (2.0 * h)));
    }
    out.push((1.0, step.params.lid));
    Ok(out)
}

/// Ghia, Ghia & Shin (1982), Table I: `(y, u)` on the vertical centre line
/// for `Re = 100` and `Re = 1000` (points of their 129 × 129 grid).
pub fn ghia(reynolds: u32) -> Option<&'static [(f64, f64)]> {
    const RE100: [(f64, f64); 17] = [
        (1.0000, 1.00000),
        (0.9766, 0.84123),
        (0.9688, 0.78871),
        (0.9609, 0.73722),
        (0.9531, 0.68717),
        (0.8516, 0.23151),
        (0.7344, 0.00332),
        (0.6172, -0.13641),
        (0.5000, -0.20581),
        (0.4531, -0.21090),
        (0.2813, -0.15662),
        (0.1719, -0.10150),
        (0.1016, -0.06434),
        (0.0703, -0.04775),
        (0.0625, -0.04192),
        (0.0547, -0.03717),
        (0.0000, 0.00000),
    ];
    const RE1000: [(f64, f64); 17] = [
        (1.0000, 1.00000),
        (0.9766, 0.65928),
        (0.9688, 0.57492),
        (0.9609, 0.51117),
        (0.9531, 0.46604),
        (0.8516, 0.33304),
        (0.7344, 0.18719),
        (0.6172, 0.05702),
        (0.5000, -0.06080),
        (0.4531, -0.10648),
        (0.2813, -0.27805),
        (0.1719, -0.38289),
        (0.1016, -0.29730),
        (0.0703, -0.22220),
        (0.0625, -0.20196),
        (0.0547, -0.18109),
        (0.0000, 0.00000),
    ];
    match reynolds {
        100 => Some(&RE100),
        1000 => Some(&RE1000),
        _ => None,
    }
}

/// The largest deviation `|u − u_Ghia|` over the published points, with
/// `u` interpolated linearly along the computed centre line.
pub fn max_deviation(profile: &[(f64, f64)], reference: &[(f64, f64)]) -> f64 {
    reference
        .iter()
        .map(|&(y, u_ref)| {
            let k = profile.windows(2).position(|w| w[0].0 <= y && y <= w[1].0).unwrap_or(0);
            let (a, b) = (profile[k], profile[(k + 1).min(profile.len() - 1)]);
            let u = if b.0 > a.0 { a.1 + (b.1 - a.1) * (y - a.0) / (b.0 - a.0) } else { a.1 };
            (u - u_ref).abs()
        })
        .fold(0.0, f64::max)
}
