//! # rewind-acoustic: the acoustic wave equation in 3D
//!
//! ```text
//! m ∂²u/∂t² + η ∂u/∂t = ∇²u + q,
//! ```
//!
//! `u` the pressure, `m = 1/c²` the slowness squared — a *field*
//! parameter (`m`), the unknown of full-waveform inversion — `η = γ/c₀² ≥
//! 0` a damping sponge along the faces (fixed data: `γ` a rate in 1/s, `c₀`
//! the background velocity), `q` a Ricker point source
//! spread to the grid by trilinear weights ([`rewind_field::Points`]).
//! Space: the 4th- or 8th-order Laplacian with zero values beyond every
//! face ([`Faces::ZERO`]: `u = 0` one spacing outside the grid — the
//! boundary Devito's zero halo gives); the sponge absorbs what reaches the
//! faces, or, with [`Config::free_surface`], all but the top `z = 0`,
//! which then reflects as a pressure-release surface (`R = −1`) at `z =
//! −h`. Time: the second-order leapfrog
//!
//! ```text
//! (m + E) u⁺ = dt² (∇²u + q) + 2 m u − (m − E) u⁻,   E = η dt / 2,
//! ```
//!
//! computed as `u⁺ = (dt² (∇²u + q) + m (2u − u⁻) + E u⁻) / (m + E)` by
//! one pointwise kernel ([`Leapfrog`], a [`Stencil`] with the one offset
//! 0 and closed-form partials) fed by the lazy Laplacian and source: one
//! fused loop, one division per point. `E` is fixed data
//! ([`Ctx::data`](rewind_field::Ctx::data)), lent to every step
//! ([`Model::fixed`]) and read in place (converted once a step on the
//! dual-number tapes of Hessian and Gauss–Newton products).
//!
//! with the state `[u, u_prev]` (the pressure now and one step before).
//! Written on the public [`Model`] API: a user's model, run under every
//! checkpoint schedule with gradients and Hessian products in `m` and the
//! initial state.

#![forbid(unsafe_code)]

pub mod fwi;
pub mod spec;

use rewind_field::stencils::{Laplacian3D4, Laplacian3D8};
use rewind_field::{Faces, Grid, Points, Real, Stencil, WithFaces};
use rewind_sim::{Layout, Model, Number, ParamSet, SimError, State, StepAt};

/// The configuration (plain data).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Points along x, y, z.
    pub n: [usize; 3],
    /// Grid spacing (m), the same along every axis.
    pub h: f64,
    /// Time step (s); 0 for 80 % of the stability limit of the fastest
    /// velocity.
    pub dt: f64,
    /// The background velocity (m/s): the default `m = 1/c²`.
    pub velocity: f64,
    /// Order of the Laplacian: 4 or 8.
    pub order: usize,
    /// Width of the damping sponge along every face, in points (0: none).
    pub sponge: usize,
    /// The source position (m).
    pub source: [f64; 3],
    /// The Ricker wavelet's peak frequency (Hz); it peaks at `t = 1/f0`.
    pub f0: f64,
    /// No sponge along the top face `z = 0`: a free (pressure-release)
    /// surface there instead of an absorbing one.
    pub free_surface: bool,
}

impl Default for Config {
    /// 32³ points 10 m apart, c = 1500 m/s, 8th order, a 6-point sponge on
    /// every face, a 15 Hz Ricker source at the centre (a wavelength of 10
    /// points).
    fn default() -> Self {
        Config {
            n: [32; 3],
            h: 10.0,
            dt: 0.0,
            velocity: 1500.0,
            order: 8,
            sponge: 6,
            source: [160.0; 3],
            f0: 15.0,
            free_surface: false,
        }
    }
}

/// The model.
#[derive(Debug, Clone, PartialEq)]
pub struct Acoustic {
    config: Config,
    grid: Grid,
    /// `E = η dt / 2` per point.
    damping: Vec<f64>,
    source: Points,
}

/// The leapfrog update at one point from its local inputs `[∇²u + q, u,
/// u⁻, m, E]`: `u⁺ = (dt² (∇²u + q) + m (2u − u⁻) + E u⁻) / (m + E)`.
///
/// Written as a kernel rather than as field arithmetic, the update is one
/// pass over a tile with one division per point; the same formula as
/// field operations takes a pass per operation (measured at 128³: the
/// elementwise passes were 38 % of a step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leapfrog {
    /// `dt²`.
    pub dt2: f64,
}

impl Stencil for Leapfrog {
    const INPUTS: usize = 5;
    const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0]];

    #[inline(always)]
    fn eval<R: Real>(&self, _: &Grid, x: &[R]) -> R {
        let [f, u, up, m, e] = [x[0], x[1], x[2], x[3], x[4]];
        (f * R::from_f64(self.dt2) + m * (u + u - up) + e * up) / (m + e)
    }

    #[inline(always)]
    fn partial<R: Real>(&self, g: &Grid, x: &[R], i: usize) -> R {
        let [u, up, m, e] = [x[1], x[2], x[3], x[4]];
        let d = m + e;
        match i {
            0 => R::from_f64(self.dt2) / d,
            1 => (m + m) / d,
            2 => (e - m) / d,
            3 => (u + u - up - self.eval(g, x)) / d,
            _ => (up - self.eval(g, x)) / d,
        }
    }
}

/// The Ricker wavelet of peak frequency `f0`, peaking at `t = 1/f0`.
pub fn ricker(f0: f64, t: f64) -> f64 {
    let a = (std::f64::consts::PI * f0 * (t - 1.0 / f0)).powi(2);
    (1.0 - 2.0 * a) * (-a).exp()
}

impl Acoustic {
    /// The model of `config`: sizes of at least `2 × order/2 + 1` points
    /// per axis, positive spacing, velocity and frequency, a sponge that
    /// leaves an interior, a source inside, and a time step within the
    /// stability limit; anything else is [`SimError::Layout`] with the
    /// reason.
    pub fn new(mut config: Config) -> Result<Self, SimError> {
        let bad = |why: String| Err(SimError::Layout(format!("acoustic: {why}")));
        let c = &config;
        if c.order != 4 && c.order != 8 {
            return bad(format!("the Laplacian's order is 4 or 8, not {}", c.order));
        }
        let reach = c.order / 2;
        if c.n.iter().any(|&n| n < 2 * reach + 1) {
            return bad(format!(
                "{:?} points: an order-{} stencil needs at least {} per axis",
                c.n,
                c.order,
                2 * reach + 1
            ));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(positive(c.h) && positive(c.velocity) && positive(c.f0) && c.dt.is_finite() && c.dt >= 0.0) {
            return bad("h, velocity and f0 must be positive and finite, dt ≥ 0".into());
        }
        if c.n.iter().any(|&n| 2 * c.sponge + 1 > n) {
            return bad(format!("a sponge of {} points leaves no interior in {:?}", c.sponge, c.n));
        }
        let grid = Grid::new3(c.n[0], c.n[1], c.n[2], c.h, c.h, c.h)?;
        let limit = Self::stable_dt(c.order, c.h, c.velocity);
        if config.dt == 0.0 {
            config.dt = 0.8 * limit;
        } else if config.dt > limit {
            return bad(format!(
                "dt = {} s is beyond the stability limit {limit:.3e} s at {} m/s",
                config.dt, config.velocity
            ));
        }
        let source = Points::new(&grid, &[config.source])?;
        let damping = Self::sponge(&grid, config.sponge, config.velocity, config.dt, config.free_surface);
        Ok(Acoustic { config, grid, damping, source })
    }

    /// The leapfrog's stability limit `2h / (c √(3 Σ|wₖ|))` for the
    /// Laplacian of `order` (its largest eigenvalue is `3 Σ|wₖ| / h²`).
    pub fn stable_dt(order: usize, h: f64, velocity: f64) -> f64 {
        let w: &[f64] = if order == 4 { &Laplacian3D4::WEIGHTS } else { &Laplacian3D8::WEIGHTS };
        let s = w[0].abs() + 2.0 * w[1..].iter().map(|x| x.abs()).sum::<f64>();
        2.0 * h / (velocity * (3.0 * s).sqrt())
    }

    /// `E = η dt/2` of a sponge `width` points wide on every face: `η =
    /// γ/c²` with the rate `γ(d) = γ_max (1 − d/width)²` at `d` points
    /// from the face, `γ_max = ¾ c ln(1000) / (width h)`: a quarter of the
    /// rate at which a wave crossing the layer and back would decay by
    /// `exp(−∫γ dx / c) = 10⁻³` — stronger damping reflects more off the
    /// profile itself, weaker lets more through to the wall behind it; the
    /// quarter reflected least of ¼, ½ and 1 in `examples/acoustic_reflection`
    /// (at 10 Hz, 15 points a wavelength: 12 % with 5 points, 2.7 % with 10,
    /// 0.4 % with 20); none along `z = 0` under a free surface.
    fn sponge(g: &Grid, width: usize, c: f64, dt: f64, free_surface: bool) -> Vec<f64> {
        if width == 0 {
            return vec![0.0; g.len()];
        }
        let w = width as f64;
        let eta_max = 0.75 * c * 1000f64.ln() / (w * g.dx) / (c * c);
        let profile = |i: usize, n: usize, top: bool| {
            let d = (if top { n - 1 - i } else { i.min(n - 1 - i) }) as f64;
            if d < w { (1.0 - d / w).powi(2) } else { 0.0 }
        };
        let mut e = Vec::with_capacity(g.len());
        for i in 0..g.nx {
            for j in 0..g.ny {
                for k in 0..g.nz {
                    let p = profile(i, g.nx, false).max(profile(j, g.ny, false)).max(profile(k, g.nz, free_surface));
                    e.push(eta_max * p * dt / 2.0);
                }
            }
        }
        e
    }

    /// The configuration (with the time step it uses).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// `m = 1/c²` for the velocity field `c` (m/s), one per point.
    pub fn slowness_squared(c: &[f64]) -> Vec<f64> {
        c.iter().map(|v| 1.0 / (v * v)).collect()
    }

    /// At rest: `u = u_prev = 0`, flat.
    pub fn at_rest(&self) -> Vec<f64> {
        vec![0.0; 2 * self.grid.len()]
    }

    /// The model with the source at `position` (m).
    pub fn with_source(&self, position: [f64; 3]) -> Result<Self, SimError> {
        Acoustic::new(Config { source: position, ..self.config.clone() })
    }
}

impl Model for Acoustic {
    fn layout(&self) -> Layout {
        Layout::new(self.grid).field("u").field("u_prev")
    }

    fn params(&self) -> ParamSet {
        ParamSet::new().field("m", vec![1.0 / (self.config.velocity * self.config.velocity); self.grid.len()])
    }

    fn fixed(&self) -> impl Iterator<Item = &[f64]> {
        std::iter::once(&self.damping[..])
    }

    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let c = at.ctx();
        let [u, u_prev] = x.split()?;
        let m = at.params().field("m")?;
        let dt = self.config.dt;
        let lap = if self.config.order == 4 {
            c.apply(WithFaces::new(Laplacian3D4, Faces::ZERO), &[u])?
        } else {
            c.apply(WithFaces::new(Laplacian3D8, Faces::ZERO), &[u])?
        };
        // the source at the time of this step's u
        let amplitude = T::from_f64(ricker(self.config.f0, at.t() as f64 * dt));
        let q = c.inject(&self.source, c.observations(&[amplitude]))?;
        let e = c.data(&self.damping)?;
        // (∇²u + q one input: its adjoint is the Laplacian's and the source's)
        let next = c.apply(Leapfrog { dt2: dt * dt }, &[lap + q, u, u_prev, m, e])?;
        Ok(State::from([next, u]))
    }
}
