//! The flagship twin experiment of data assimilation on the periodic flow:
//! recover the initial vorticity from noisy point observations at four
//! times, with a Gaussian background covariance `B` that is *right* — the
//! truth is the background plus a draw from `B` — so the error of the
//! background is what the observations must remove, and the truth is
//! recoverable to the noise.
//!
//! [`Twin::new`] makes the truth, the observations and the problem (the
//! observation terms as a [`rewind_sim::Problem`]; the background term
//! enters through [`rewind_sim::ControlProblem`] or
//! [`rewind_sim::incremental`], which take `B` and the background). The
//! defaults are the README's flagship: 64², 100 steps, every 4th point
//! observed (256 points × 4 times = 1024 observations) with σ = 0.05,
//! `B` Gaussian with length 0.5 and standard deviation 0.5.

use rewind_checkpoint::Strategy;
use rewind_field::{Correlation, CorrelationKind, Grid, Par};
use rewind_sim::{Problem, SimError};

use crate::Ns2dError;

use crate::assimilation::{Assimilation, Noise};
use crate::spec::{self, Size};
use crate::{Ns2d, Params, stepper};

/// The experiment's settings (plain data).
#[derive(Debug, Clone, PartialEq)]
pub struct TwinSettings {
    /// Grid points per side.
    pub n: usize,
    /// Time steps (observations after a quarter, a half, three quarters
    /// and all of them).
    pub steps: usize,
    /// Every `stride`-th point along each axis is observed.
    pub stride: usize,
    /// Observation noise (standard deviation).
    pub sigma: f64,
    /// Correlation length of `B`.
    pub length: f64,
    /// Standard deviation of `B`.
    pub spread: f64,
    /// The checkpoint schedule.
    pub strategy: Strategy,
    /// Seed of the truth's draw from `B` and of the noise.
    pub seed: u64,
}

impl Default for TwinSettings {
    fn default() -> Self {
        TwinSettings {
            n: 64,
            steps: 100,
            stride: 4,
            sigma: 0.05,
            length: 0.5,
            spread: 0.5,
            strategy: Strategy::Binomial { snapshots: 10 },
            seed: 11,
        }
    }
}

/// The experiment: what an assimilation needs and what it should recover.
#[derive(Debug)]
pub struct Twin {
    /// The observation terms `J_o(x₀)` as a problem over `x₀`.
    pub problem: Problem<Ns2d, Assimilation>,
    /// The background covariance.
    pub b: Correlation,
    /// The background `x_b`.
    pub background: Vec<f64>,
    /// The truth `x_b + B^{1/2} z`.
    pub truth: Vec<f64>,
    /// The observation times (steps).
    pub times: Vec<usize>,
    /// Observations in all (the misfit expected at the truth is half this).
    pub observations: usize,
    /// The grid.
    pub grid: Grid,
}

impl Twin {
    /// The experiment of `s` (runs the truth once to observe it).
    pub fn new(s: &TwinSettings, par: Par) -> Result<Twin, Ns2dError> {
        if s.steps < 4 || s.stride == 0 || s.stride > s.n {
            return Err(Ns2dError::Param {
                what: "twin experiment",
                why: format!("need steps ≥ 4 (got {}) and 1 ≤ stride ≤ n (got {} for n = {})", s.steps, s.stride, s.n),
            });
        }
        if !(s.sigma > 0.0 && s.length > 0.0 && s.spread > 0.0) {
            return Err(Ns2dError::Param {
                what: "twin experiment",
                why: "sigma, length and spread must be positive".into(),
            });
        }
        let grid = Grid::periodic_square(s.n, 2.0 * std::f64::consts::PI)?;
        let mut params: Params = spec::params(Size::S);
        params.n = s.n;
        params.dt = 0.02 * 32.0 / s.n as f64;
        params.forcing = grid.sample(|_, y| 0.1 * (4.0 * y).sin());
        let mut b = Correlation::new(grid, CorrelationKind::Gaussian, s.length, s.spread * s.spread)?;
        // background: a large-scale flow; truth: the background plus a draw from B
        let background = grid.sample(|x, y| x.sin() * (2.0 * y).cos() + 0.5 * (x + y).cos());
        let mut noise = Noise::new(s.seed);
        let z: Vec<f64> = (0..grid.len()).map(|_| noise.normal()).collect();
        let mut draw = vec![0.0; grid.len()];
        b.apply_sqrt(&z, &mut draw)?;
        let truth: Vec<f64> = background.iter().zip(&draw).map(|(a, d)| a + d).collect();
        let points = Assimilation::strided_points(&grid, s.stride);
        let times: Vec<usize> = (1..=4).map(|k| k * s.steps / 4).collect();
        let mut sim = stepper::<f64>(params.clone(), par)?;
        let (mut w, mut done, mut observed) = (truth.clone(), 0, Vec::new());
        for &t in &times {
            w = spec::advance(&mut sim, &w, t - done).map_err(SimError::from)?;
            done = t;
            observed.push((t, points.iter().map(|&i| w[i] + s.sigma * noise.normal()).collect::<Vec<f64>>()));
        }
        let observations = points.len() * times.len();
        let loss = Assimilation { grid, points, observations: observed, sigma: s.sigma, beta: 0.0 };
        let problem = Problem::new(Ns2d::new(params)?, loss, s.strategy, s.steps, par)?;
        Ok(Twin { problem, b, background, truth, times, observations, grid })
    }

    /// `‖x − truth‖ / ‖truth‖`.
    pub fn error(&self, x: &[f64]) -> f64 {
        let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|a| a * a).sum::<f64>().sqrt();
        norm(&mut x.iter().zip(&self.truth).map(|(a, b)| a - b)) / norm(&mut self.truth.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twin_is_recoverable_in_principle_and_bad_settings_are_errors() {
        let s = TwinSettings { n: 16, steps: 8, stride: 2, ..TwinSettings::default() };
        let mut t = Twin::new(&s, Par::Seq).unwrap();
        assert_eq!(t.observations, 64 * 4);
        assert_eq!(t.times, vec![2, 4, 6, 8]);
        // the background is wrong by about the spread, the truth fits the
        // observations to the noise: J_o(truth) ≈ observations / 2
        assert!(t.error(&t.background) > 0.1, "{}", t.error(&t.background));
        assert_eq!(t.error(&t.truth), 0.0);
        let truth = t.truth.clone();
        let jo = t.problem.value(&truth).unwrap();
        let m = t.observations as f64;
        assert!((jo - m / 2.0).abs() < 4.0 * (m / 2.0).sqrt(), "J_o(truth) = {jo}, expected about {}", m / 2.0);
        let background = t.background.clone();
        assert!(t.problem.value(&background).unwrap() > 10.0 * jo);
        for bad in [
            TwinSettings { steps: 3, ..s.clone() },
            TwinSettings { stride: 0, ..s.clone() },
            TwinSettings { sigma: 0.0, ..s.clone() },
            TwinSettings { length: -1.0, ..s.clone() },
        ] {
            assert!(Twin::new(&bad, Par::Seq).is_err(), "{bad:?}");
        }
    }
}
