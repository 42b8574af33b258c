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
use rewind_sim::{Noise, Observations, Problem};

use crate::Ns2dError;

use crate::spec::{self, Size};
use crate::{Ns2d, Params, stepper};

/// The steady forcing `0.1 sin 4y`.
fn forcing(grid: &Grid) -> Vec<f64> {
    grid.sample(|_, y| 0.1 * (4.0 * y).sin())
}

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
    pub problem: Problem<Ns2d, Observations>,
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
    /// What the problem was made of, for [`Twin::coarse`].
    settings: TwinSettings,
    params: Params,
    par: Par,
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
        params.forcing = forcing(&grid);
        let mut b = Correlation::new(grid, CorrelationKind::Gaussian, s.length, s.spread * s.spread)?;
        // background: a large-scale flow; truth: the background plus a draw from B
        let background = grid.sample(|x, y| x.sin() * (2.0 * y).cos() + 0.5 * (x + y).cos());
        let mut noise = Noise::new(s.seed);
        let z: Vec<f64> = (0..grid.len()).map(|_| noise.normal()).collect();
        let mut draw = vec![0.0; grid.len()];
        b.apply_sqrt(&z, &mut draw)?;
        let truth: Vec<f64> = background.iter().zip(&draw).map(|(a, d)| a + d).collect();
        let times: Vec<usize> = (1..=4).map(|k| k * s.steps / 4).collect();
        let mut sim = stepper::<f64>(params.clone(), par)?;
        let states = rewind_sim::states_at(&mut sim, &truth, &times)?;
        let loss = Observations::of("vorticity").points(grid.strided(s.stride)).sigma(s.sigma).noisy(
            sim.layout(),
            &times,
            &states,
            &mut noise,
        )?;
        let observations = loss.count();
        let problem = Problem::new(Ns2d::new(params.clone())?, loss, s.strategy, s.steps, par)?;
        Ok(Twin { problem, b, background, truth, times, observations, grid, settings: s.clone(), params, par })
    }

    /// The same experiment on the grid `factor` times coarser along each
    /// axis, for the inner loops of multi-incremental 4D-Var
    /// ([`rewind_sim::Coarse`]): the same time step, steps, forcing and
    /// observations (every observed point must lie on the coarse grid:
    /// `factor` divides `n` and the stride), and `B` of the same length
    /// and variance on the coarse grid; checkpointed by `strategy`.
    pub fn coarse(
        &self,
        factor: usize,
        strategy: Strategy,
    ) -> Result<(Problem<Ns2d, Observations>, Correlation), Ns2dError> {
        let s = &self.settings;
        if factor < 2 || s.n % factor != 0 || s.stride % factor != 0 || s.n / factor < 4 {
            return Err(Ns2dError::Param {
                what: "coarse twin",
                why: format!(
                    "the factor {factor} must be at least 2 and divide n = {} (leaving ≥ 4 points) and the stride {}",
                    s.n, s.stride
                ),
            });
        }
        let nc = s.n / factor;
        let grid = Grid::periodic_square(nc, 2.0 * std::f64::consts::PI)?;
        let mut params = self.params.clone();
        params.n = nc;
        params.forcing = forcing(&grid);
        let fine = self.problem.loss();
        let points = fine.observed_points().unwrap_or_default();
        let points = points.iter().map(|&k| grid.idx(k / s.n / factor, k % s.n / factor)).collect();
        let mut loss = Observations::of("vorticity").points(points).sigma(s.sigma);
        for (t, y) in fine.data() {
            loss = loss.at(*t, y.clone());
        }
        let problem = Problem::new(Ns2d::new(params)?, loss, strategy, s.steps, self.par)?;
        let b = Correlation::new(grid, CorrelationKind::Gaussian, s.length, s.spread * s.spread)?;
        Ok((problem, b))
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

    #[test]
    fn coarse_inner_loops_reach_the_analysis_of_the_full_ones() {
        use rewind_sim::{Coarse, Incremental, incremental};
        let settings = Incremental { outer: 12, inner: 60, inner_tol: 1e-6, tol: 1e-7, coarse_outer: usize::MAX };
        let solve = |s: &TwinSettings, coarse_outer: usize| {
            let mut full = Twin::new(s, Par::Seq).unwrap();
            let background = full.background.clone();
            let exact = incremental(&mut full.problem, &background, &mut full.b, None, settings).unwrap();
            let mut multi = Twin::new(s, Par::Seq).unwrap();
            let (mut cp, mut cb) = multi.coarse(2, s.strategy).unwrap();
            assert_eq!(cp.layout().grid().len(), 64);
            let coarse = Some(Coarse { problem: &mut cp, b: &mut cb });
            let settings = Incremental { coarse_outer, ..settings };
            let a = incremental(&mut multi.problem, &background, &mut multi.b, coarse, settings).unwrap();
            let rel = (a.objective - exact.objective) / exact.objective;
            let errors = (multi.error(&a.x0), full.error(&exact.x0));
            (a, exact, rel, errors)
        };
        // B's length 1.5: the 8² grid holds nearly all of B's scales; the
        // outer loop, on the fine objective, reaches the fine analysis with
        // a fraction of the fine products
        let long = TwinSettings { n: 16, steps: 8, stride: 2, length: 1.5, ..TwinSettings::default() };
        let (a, exact, rel, _) = solve(&long, usize::MAX);
        assert!(a.outer[0].objective > 2.0 * exact.objective, "{} vs {}", a.outer[0].objective, exact.objective);
        assert!(a.outer.iter().take(3).all(|o| o.coarse), "{:?}", a.outer);
        assert!(rel.abs() < 1e-6, "J {} vs {} ({rel:.2e})", a.objective, exact.objective);
        assert!(a.coarse_products > 0 && 2 * a.products < exact.products, "{} vs {}", a.products, exact.products);
        // length 0.5: the scales the 8² grid lacks stay at the background
        // until the coarse loops stall; fine ones then reach the analysis
        let short = TwinSettings { length: 0.5, ..long.clone() };
        let (a, exact, rel, (e, e_full)) = solve(&short, usize::MAX);
        let switched = a.outer.iter().position(|o| !o.coarse).expect("fine loops after the coarse ones");
        assert!(switched > 0 && a.outer[switched..].iter().all(|o| !o.coarse), "{:?}", a.outer);
        assert!(rel.abs() < 1e-6, "J {} vs {} ({rel:.2e})", a.objective, exact.objective);
        assert!((e - e_full).abs() < 1e-3, "error vs truth {e} against {e_full}");
        // none coarse: the same bits as without a coarse problem
        let (a, exact, _, _) = solve(&short, 0);
        assert_eq!((a.objective.to_bits(), a.coarse_products), (exact.objective.to_bits(), 0));
        // coarse copies that cannot be made
        let mut t = Twin::new(&long, Par::Seq).unwrap();
        assert!(t.coarse(3, long.strategy).is_err());
        let odd = Twin::new(&TwinSettings { stride: 3, ..long.clone() }, Par::Seq).unwrap();
        assert!(odd.coarse(2, long.strategy).is_err());
        // a coarse problem whose covariance is on another grid
        let (mut cp, _) = t.coarse(2, long.strategy).unwrap();
        let mut wrong =
            Correlation::new(Grid::periodic_square(4, 1.0).unwrap(), CorrelationKind::Gaussian, 0.5, 0.25).unwrap();
        let background = t.background.clone();
        let coarse = Some(Coarse { problem: &mut cp, b: &mut wrong });
        assert!(incremental(&mut t.problem, &background, &mut t.b, coarse, settings).is_err());
        // settings that cannot work
        for bad in [Incremental { inner_tol: 1.0, ..settings }, Incremental { inner: 0, ..settings }] {
            let e = incremental(&mut t.problem, &background, &mut t.b, None, bad).unwrap_err();
            assert!(matches!(e, rewind_sim::SimError::Settings(_)), "{e}");
        }
    }
}
