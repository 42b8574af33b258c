//! # rewind-shallow-water: rotating shallow water on a C-grid
//!
//! ```text
//! ∂h/∂t = −∇·(h u),   ∂u/∂t = q (h v) − ∂B/∂x,   ∂v/∂t = −q (h u) − ∂B/∂y,
//! q = (f + ∂v/∂x − ∂u/∂y) / h,   B = g h + ½ |u|²,
//! ```
//!
//! on the periodic square `[0, 2π)²`, in the vector-invariant form with
//! Sadourny's energy-conserving discretisation (J. Atmos. Sci. 32, 1975) on
//! the Arakawa C-grid: `h` at cell centres `(i, j)`, `u` at `(i + ½, j)`,
//! `v` at `(i, j + ½)`, the potential vorticity `q` at corners
//! `(i + ½, j + ½)`:
//!
//! ```text
//! U = ⟨h⟩ˣ⁺ u,  V = ⟨h⟩ʸ⁺ v,   ∂h/∂t = −(δx⁻U + δy⁻V),
//! q = (f + δx⁺v − δy⁺u) / ⟨⟨h⟩ˣ⁺⟩ʸ⁺,   B = g h + ½ (⟨u²⟩ˣ⁻ + ⟨v²⟩ʸ⁻),
//! ∂u/∂t = ⟨q ⟨V⟩ˣ⁺⟩ʸ⁻ − δx⁺B,   ∂v/∂t = −⟨q ⟨U⟩ʸ⁺⟩ˣ⁻ − δy⁺B,
//! ```
//!
//! with the C-grid stencils of [`rewind_field::stencils`] and classic RK4.
//! Mass `Σ h` is conserved to round-off (the flux form telescopes); the
//! semi-discrete energy `Σ [½ h (⟨u²⟩ˣ⁻ + ⟨v²⟩ʸ⁻) + ½ g h²]` is conserved
//! by the spatial scheme and drifts only by RK4's time error.
//!
//! The whole model is written on the public [`Model`] API — the state is
//! three named fields, `g` and `f` are named parameters — so gradients and
//! HVPs in any direction of (initial state, `g`, `f`) come from the
//! checkpoint driver under every schedule.

#![forbid(unsafe_code)]

pub mod spec;

use rewind_field::{Components, Field, Grid, Scalar};
use rewind_sim::{Integrator, Layout, Model, Number, ParamSet, SimError, State, StepAt};

/// The configuration: grid, time step, gravity, Coriolis parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Points per direction.
    pub n: usize,
    /// Time step.
    pub dt: f64,
    /// Gravity `g` (parameter `g`).
    pub g: f64,
    /// Coriolis parameter `f` (parameter `f`).
    pub f: f64,
    /// Largest allowed gravity-wave CFL number `dt (|u| + √(g h)) / h_grid`.
    pub max_cfl: f64,
}

impl Default for Config {
    /// `N = 32`, `dt = 0.05`, `g = 1`, `f = 1` (deformation radius
    /// `√(gH)/f = 1` for a unit depth, five cells), CFL bound 1.
    fn default() -> Self {
        Config { n: 32, dt: 0.05, g: 1.0, f: 1.0, max_cfl: 1.0 }
    }
}

/// The model: a checked [`Config`] and its grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShallowWater {
    config: Config,
    grid: Grid,
}

impl ShallowWater {
    /// The model of `config` (checked).
    pub fn new(config: Config) -> Result<Self, SimError> {
        let c = config;
        if !(c.dt.is_finite() && c.dt > 0.0) {
            return Err(SimError::Layout("shallow water: dt must be positive and finite".into()));
        }
        if !(c.g.is_finite() && c.g > 0.0 && c.f.is_finite()) {
            return Err(SimError::Layout("shallow water: g must be positive, f finite".into()));
        }
        if c.max_cfl.is_nan() || c.max_cfl <= 0.0 {
            return Err(SimError::Layout("shallow water: max_cfl must be positive".into()));
        }
        let grid = Grid::periodic_square(c.n, 2.0 * std::f64::consts::PI)?;
        Ok(ShallowWater { config, grid })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// A resting layer of unit depth with a Gaussian bump of height `a`
    /// (geostrophic adjustment), flat `[h, u, v]`.
    pub fn bump(&self, a: f64) -> Result<Vec<f64>, SimError> {
        let g = self.grid;
        let pi = std::f64::consts::PI;
        let h = g.sample(|x, y| 1.0 + a * (-((x - pi).powi(2) + (y - 0.8 * pi).powi(2)) / 0.6).exp());
        let zero = vec![0.0; g.len()];
        self.layout().pack(&[("h", &h), ("u", &zero), ("v", &zero)])
    }

    /// Mass `Σ h dx dy` of a flat state.
    pub fn mass(&self, x: &[f64]) -> Result<f64, SimError> {
        let g = self.grid;
        Ok(self.layout().part(x, "h")?.iter().sum::<f64>() * g.dx * g.dy)
    }

    /// Energy `Σ [½ h (⟨u²⟩ˣ⁻ + ⟨v²⟩ʸ⁻) + ½ g h²] dx dy` of a flat state.
    pub fn energy(&self, x: &[f64]) -> Result<f64, SimError> {
        let gr = self.grid;
        let l = self.layout();
        let (h, u, v) = (l.part(x, "h")?, l.part(x, "u")?, l.part(x, "v")?);
        let (nx, ny) = (gr.nx, gr.ny);
        let mut e = 0.0;
        for i in 0..nx {
            for j in 0..ny {
                let k = gr.idx(i, j);
                let ku = 0.5 * (u[k].powi(2) + u[gr.idx((i + nx - 1) % nx, j)].powi(2));
                let kv = 0.5 * (v[k].powi(2) + v[gr.idx(i, (j + ny - 1) % ny)].powi(2));
                e += 0.5 * h[k] * (ku + kv) + 0.5 * self.config.g * h[k] * h[k];
            }
        }
        Ok(e * gr.dx * gr.dy)
    }
}

/// The right-hand side of `(h, u, v)` with gravity `g` and Coriolis `f`.
pub fn rhs<'id, T: Components>(
    [h, u, v]: [Field<'id, T>; 3],
    g: Scalar<'id, T>,
    f: Scalar<'id, T>,
) -> [Field<'id, T>; 3] {
    let (uu, vv) = (h.avg_x_plus() * u, h.avg_y_plus() * v);
    let dh = -(uu.dx_minus() + vv.dy_minus());
    let q = (v.dx_plus() - u.dy_plus() + f) / h.avg_x_plus().avg_y_plus();
    let b = h * g + ((u * u).avg_x_minus() + (v * v).avg_y_minus()) * 0.5;
    let du = (q * vv.avg_x_plus()).avg_y_minus() - b.dx_plus();
    let dv = -(q * uu.avg_y_plus()).avg_x_minus() - b.dy_plus();
    [dh, du, dv]
}

impl Model for ShallowWater {
    fn layout(&self) -> Layout {
        Layout::new(self.grid).field("h").field("u").field("v")
    }

    fn params(&self) -> ParamSet {
        ParamSet::new().scalar("g", self.config.g).scalar("f", self.config.f)
    }

    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let (t, c, p) = (at.t(), at.ctx(), at.params());
        let (g, f) = (p.scalar("g")?, p.scalar("f")?);
        let [h, u, v] = x.split()?;
        // a layer that runs dry, or waves faster than the grid can carry
        let hmin = -h.max_of(|a| -a.value());
        let umax = u.max_of(|a| a.value().abs()).max(v.max_of(|a| a.value().abs()));
        let hmax = h.max_of(|a| a.value());
        let (dt, max_cfl) = (self.config.dt, self.config.max_cfl);
        let cfl = dt * (umax + (g.value().value() * hmax.max(0.0)).sqrt()) / c.grid().dx;
        rewind_sim::check_stability(t, &[("CFL", cfl, max_cfl), ("dry-cell (-min h)", -hmin, 0.0)])?;
        Integrator::Rk4.step(c, x, dt, |s| Ok::<_, SimError>(State::from(rhs(s.split()?, g, f))))
    }
}
