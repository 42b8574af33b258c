//! # rewind-gray-scott: two-species reaction–diffusion
//!
//! ```text
//! ∂u/∂t = D_u ∇²u − u v² + F(x) (1 − u),
//! ∂v/∂t = D_v ∇²v + u v² − (F(x) + k) v,
//! ```
//!
//! on a periodic square of unit cells, with the 5-point Laplacian and the
//! three-stage SSP Runge–Kutta method. The feed rate `F` is a *field*
//! parameter (`feed`, one value per point) and the kill rate `k` a scalar
//! (`kill`): an inverse problem "which feed pattern produced these spots"
//! has one unknown per grid point. Written on the public [`Model`] API.

#![forbid(unsafe_code)]

use rewind_field::{Components, Field, Grid, Scalar};
use rewind_sim::{Integrator, Layout, Model, Number, ParamSet, SimError, State, StepAt};

/// The configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Points per direction (cell size 1).
    pub n: usize,
    /// Time step.
    pub dt: f64,
    /// Diffusivity of `u`.
    pub du: f64,
    /// Diffusivity of `v`.
    pub dv: f64,
    /// Kill rate `k` (parameter `kill`).
    pub kill: f64,
    /// Feed rate `F`, one per point (parameter `feed`); empty for the
    /// default pattern.
    pub feed: Vec<f64>,
}

impl Default for Config {
    /// `N = 32`, `dt = 1`, `D_u = 0.16`, `D_v = 0.08`, `k = 0.062` and a
    /// feed rate varying from 0.03 to 0.05 across the domain (spots to
    /// stripes); `D_u dt/h² = 0.16`, well inside SSP-RK3's stability.
    fn default() -> Self {
        Config { n: 32, dt: 1.0, du: 0.16, dv: 0.08, kill: 0.062, feed: Vec::new() }
    }
}

/// The model.
#[derive(Debug, Clone, PartialEq)]
pub struct GrayScott {
    config: Config,
    grid: Grid,
}

impl GrayScott {
    /// The model of `config` (checked; an empty feed becomes the default
    /// pattern `F = 0.04 + 0.01 sin(2π x / L)`).
    pub fn new(mut config: Config) -> Result<Self, SimError> {
        let grid = Grid::periodic_square(config.n, config.n as f64)?;
        let c = &config;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(positive(c.dt) && positive(c.du) && positive(c.dv) && c.kill.is_finite()) {
            return Err(SimError::Layout("Gray-Scott: dt, du, dv must be positive, kill finite".into()));
        }
        // the explicit diffusion limit of SSP-RK3 on the 5-point Laplacian:
        // |λ dt| = 8 D dt / h² within the real-axis interval of 2.51
        if 8.0 * c.du.max(c.dv) * c.dt > 2.5 {
            return Err(SimError::Layout(format!(
                "Gray-Scott: dt = {} is beyond the diffusion limit {:.3}",
                c.dt,
                2.5 / (8.0 * c.du.max(c.dv))
            )));
        }
        if config.feed.is_empty() {
            let l = grid.nx as f64;
            config.feed = grid.sample(|x, _| 0.04 + 0.01 * (2.0 * std::f64::consts::PI * x / l).sin());
        }
        Ok(GrayScott { config, grid })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// `u = 1, v = 0` with a perturbed square patch `u = ½, v = ¼` in the
    /// middle, flat `[u, v]`.
    pub fn initial(&self) -> Result<Vec<f64>, SimError> {
        let g = self.grid;
        let (c, r) = (g.nx as f64 / 2.0, g.nx as f64 / 8.0);
        let inside = |x: f64, y: f64| (x - c).abs() < r && (y - c).abs() < r;
        let wobble = |x: f64, y: f64| 0.02 * (0.7 * x + 1.3 * y).sin();
        let u = g.sample(|x, y| if inside(x, y) { 0.5 + wobble(x, y) } else { 1.0 });
        let v = g.sample(|x, y| if inside(x, y) { 0.25 - wobble(y, x) } else { 0.0 });
        self.layout().pack(&[("u", &u), ("v", &v)])
    }
}

/// The right-hand side of `(u, v)`.
pub fn rhs<'id, T: Components>(
    [u, v]: [Field<'id, T>; 2],
    feed: Field<'id, T>,
    kill: Scalar<'id, T>,
    du: f64,
    dv: f64,
) -> [Field<'id, T>; 2] {
    let uvv = u * v * v;
    let fu = u.laplacian() * du - uvv + feed * (1.0 - u);
    let fv = v.laplacian() * dv + uvv - (feed + kill) * v;
    [fu, fv]
}

impl Model for GrayScott {
    fn layout(&self) -> Layout {
        Layout::new(self.grid).field("u").field("v")
    }

    fn params(&self) -> ParamSet {
        ParamSet::new().field("feed", self.config.feed.clone()).scalar("kill", self.config.kill)
    }

    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let (c, p) = (at.ctx(), at.params());
        let (feed, kill) = (p.field("feed")?, p.scalar("kill")?);
        let (du, dv) = (self.config.du, self.config.dv);
        Integrator::SspRk3
            .step(c, x, self.config.dt, |s| Ok::<_, SimError>(State::from(rhs(s.split()?, feed, kill, du, dv))))
    }
}
