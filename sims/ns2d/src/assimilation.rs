//! The shape of 4D-Var data assimilation on the periodic flow: sparse,
//! noisy observations of the vorticity at several times, and a smoothness
//! regulariser on the initial state.
//!
//! `J(ω₀) = ½ Σₜ Σₖ (ωₜ[iₖ] − yₜₖ)² / σ² + ½ β h² Σ |∇ω₀|²`, the gradient
//! term written as `−½ β h² ⟨ω₀, L ω₀⟩` with the 5-point Laplacian `L`.
//! A [`Loss`] on the field tape: its gradient is the tape's.

use rewind_field::{Components, Ctx, Grid, Scalar};
use rewind_sim::{Loss, Params, SimError, State};

/// Observations and the regulariser.
#[derive(Debug, Clone)]
pub struct Assimilation {
    /// The grid.
    pub grid: Grid,
    /// Observed linear indices (the same at every time).
    pub points: Vec<usize>,
    /// `(step, values)`: observations after `step` steps.
    pub observations: Vec<(usize, Vec<f64>)>,
    /// Observation noise standard deviation `σ`.
    pub sigma: f64,
    /// Regularisation weight `β`.
    pub beta: f64,
}

impl Assimilation {
    /// Every `stride`-th point in both directions.
    pub fn strided_points(grid: &Grid, stride: usize) -> Vec<usize> {
        let stride = stride.max(1);
        (0..grid.nx).step_by(stride).flat_map(|i| (0..grid.ny).step_by(stride).map(move |j| grid.idx(i, j))).collect()
    }

    /// The misfit part of `J` alone, for a trajectory given as states at
    /// the observation times.
    pub fn misfit(&self, states: &[(usize, Vec<f64>)]) -> f64 {
        let mut m = 0.0;
        for (t, y) in &self.observations {
            if let Some((_, x)) = states.iter().find(|(s, _)| s == t) {
                m += self.points.iter().zip(y).map(|(&k, &yk)| (x[k] - yk).powi(2)).sum::<f64>();
            }
        }
        0.5 * m / (self.sigma * self.sigma)
    }
}

impl Loss for Assimilation {
    fn at(&self, t: usize, _n: usize) -> bool {
        (t == 0 && self.beta > 0.0) || self.observations.iter().any(|(s, _)| *s == t)
    }

    fn loss<'id, T: Components>(
        &self,
        t: usize,
        _n: usize,
        c: &'id Ctx<'id, T>,
        x: &State<'id, T>,
        _p: &Params<'_, 'id, T>,
    ) -> Result<Scalar<'id, T>, SimError> {
        let [w] = x.split()?;
        let mut j = c.scalar(T::zero());
        if t == 0 && self.beta > 0.0 {
            // ½ β h² Σ|∇ω|² = −½ β h² ⟨ω, Lω⟩
            j = j + w.dot(w.laplacian()) * (-0.5 * self.beta * self.grid.dx * self.grid.dy);
        }
        let weight = 0.5 / (self.sigma * self.sigma);
        for (_, y) in self.observations.iter().filter(|(s, _)| *s == t) {
            j = j + w.sample(&self.points)?.misfit(y)? * weight;
        }
        Ok(j)
    }
}

/// Gaussian noise from a seeded generator (SplitMix64 and Box–Muller): the
/// same numbers on every machine.
#[derive(Debug, Clone)]
pub struct Noise(u64);

impl Noise {
    /// A generator with `seed`.
    pub fn new(seed: u64) -> Self {
        Noise(seed)
    }

    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal sample.
    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}
