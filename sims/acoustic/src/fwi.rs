//! Full-waveform inversion (FWI): the velocity inside a volume recovered
//! from the pressure recorded on a plane of receivers, shot after shot.
//!
//! A [`Survey`] places `shots × shots` Ricker sources on the plane `z =`
//! [`DEPTH`] (two points below the top sponge) and a receiver at every grid
//! point of the plane as far above the bottom face, and a sphere of faster
//! (or slower) rock in the middle, inside the update region: a transmission geometry, where the sphere delays or
//! advances the waves crossing it. [`Fwi::new`] records the data of the
//! true model (one forward run per shot) with Gaussian noise, and is then
//! the objective
//!
//! ```text
//! J(s) = Σ_shots ½ Σₜ Σᵣ (u(xᵣ, t; c(s)) − dᵣₜ)² / σ²
//! ```
//!
//! over the velocity in the *update region* — the points outside the
//! sponge and [`GAP`] points or more from the source and receiver planes
//! (elsewhere it stays the background `c₀`). The unknowns `s` are bounded
//! through `c = c₀ + Δ tanh s`, `Δ = 0.3 c₀`: every iterate an optimizer
//! tries is a velocity the run's time step is stable for. Its gradient is
//! the sum over shots of each shot's adjoint-state gradient in `m = 1/c²`
//! (the checkpointed loop of [`rewind_sim::Problem`]) times `dm/ds`; its
//! Gauss–Newton products `Dᵀ Gₘ D v` (`D = dm/ds`) are the shots' products
//! at their kept linearisations ([`GaussNewtonFwi`]), so Newton-CG on it is
//! a Gauss–Newton method.

use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_optim::OptimError;
use rewind_sim::{Noise, Observations, Problem, SimError};

use crate::spec::{DEPTH, SPONGE};
use crate::{Acoustic, Config};

/// Points between a source or receiver plane and the update region.
pub const GAP: usize = 3;

/// The bound of the velocity's change: `|c − c₀| < Δ = 0.3 c₀`.
pub const SPAN: f64 = 0.3;

/// The experiment (plain data).
#[derive(Debug, Clone, PartialEq)]
pub struct Survey {
    /// Points per axis (10 m apart).
    pub n: usize,
    /// Steps of every shot.
    pub steps: usize,
    /// Sources per side: `shots²` shots on a regular grid.
    pub shots: usize,
    /// The sphere's velocity relative to the background: `c = c₀ (1 +
    /// contrast)` inside it, `|contrast| < 0.3`.
    pub contrast: f64,
    /// The sphere's radius as a fraction of the side.
    pub radius: f64,
    /// The noise's standard deviation as a fraction of the clean data's
    /// root mean square.
    pub noise: f64,
    /// The noise's seed.
    pub seed: u64,
}

impl Default for Survey {
    /// 64³ points, 1000 steps, 2 × 2 shots, a sphere 10 % faster than the
    /// background of radius 1/8 of the side, 1 % noise.
    fn default() -> Self {
        Survey { n: 64, steps: 1000, shots: 2, contrast: 0.1, radius: 0.125, noise: 0.01, seed: 1 }
    }
}

impl Survey {
    /// The smallest grid: one point of update region between the planes.
    pub fn min_n() -> usize {
        2 * (DEPTH + GAP) + 1
    }

    /// Checks the survey; the reason is [`SimError::Settings`].
    pub fn check(&self) -> Result<(), SimError> {
        let bad = |why: String| Err(SimError::Settings(format!("fwi: {why}")));
        if self.n < Self::min_n() {
            return bad(format!(
                "{} points per axis: the sources, the update region and the receivers need at least {}",
                self.n,
                Self::min_n()
            ));
        }
        if self.steps == 0 || self.shots == 0 {
            return bad("at least one step and one shot".into());
        }
        if self.shots > self.n - 2 * SPONGE {
            return bad(format!("{} shots per side on {} points between the sponges", self.shots, self.n - 2 * SPONGE));
        }
        if !self.contrast.is_finite() || self.contrast.abs() >= SPAN {
            return bad(format!("contrast {}: the velocity may change by less than ±{SPAN}", self.contrast));
        }
        // the sphere (its edge a one-cell ramp) inside the update region
        // (nonzero at the points closer to the centre than r + ½ cell)
        let (lo, hi) = self.depths();
        let centre = self.n / 2;
        let room = (centre - lo).min(hi - centre) as f64;
        let reach = (self.radius * self.n as f64 + 0.5).ceil() - 1.0;
        if !(self.radius > 0.0 && reach <= room) {
            return bad(format!(
                "radius {}: the sphere must lie inside the update region (depth points {lo}..={hi} of {}): a radius above 0 and at most {:.4}",
                self.radius,
                self.n,
                (room + 0.5) / self.n as f64
            ));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return bad(format!("noise {}: a fraction ≥ 0 of the data's RMS", self.noise));
        }
        Ok(())
    }

    /// The update region's first and last depth index.
    pub fn depths(&self) -> (usize, usize) {
        (DEPTH + GAP, self.n - 1 - DEPTH - GAP)
    }

    /// The shots' source positions (m), x-major.
    pub fn sources(&self) -> Vec<[f64; 3]> {
        let inner = (self.n - 2 * SPONGE) as f64;
        let at = |i: usize| (SPONGE as f64 + inner * (i + 1) as f64 / (self.shots + 1) as f64).floor() * H;
        let z = DEPTH as f64 * H;
        (0..self.shots).flat_map(|i| (0..self.shots).map(move |j| [at(i), at(j), z])).collect()
    }

    /// The receivers: every grid point `(i, j, n − 1 − DEPTH)` outside the
    /// sponge, `i`-major (`n − 2·SPONGE` per side).
    pub fn receivers(&self, m: &Acoustic) -> Vec<usize> {
        let g = m.grid();
        let k = self.n - 1 - DEPTH;
        (SPONGE..g.nx - SPONGE).flat_map(|i| (SPONGE..g.ny - SPONGE).map(move |j| g.idx3(i, j, k))).collect()
    }

    /// The update region's grid indices, increasing.
    pub fn region(&self, m: &Acoustic) -> Vec<usize> {
        let g = m.grid();
        let (lo, hi) = self.depths();
        let mut r = Vec::new();
        for i in SPONGE..g.nx - SPONGE {
            for j in SPONGE..g.ny - SPONGE {
                r.extend((lo..=hi).map(|k| g.idx3(i, j, k)));
            }
        }
        r
    }

    /// The true velocity on the grid: `c₀` with the sphere at the centre,
    /// its edge a one-cell linear ramp.
    pub fn true_velocity(&self, m: &Acoustic) -> Vec<f64> {
        let g = m.grid();
        let centre = (self.n / 2) as f64 * H;
        let r = self.radius * self.n as f64 * H;
        g.sample3(|x, y, z| {
            let d = ((x - centre).powi(2) + (y - centre).powi(2) + (z - centre).powi(2)).sqrt();
            let w = ((r - d) / H + 0.5).clamp(0.0, 1.0);
            C0 * (1.0 + self.contrast * w)
        })
    }
}

/// Grid spacing (m).
pub const H: f64 = 10.0;
/// The background velocity (m/s).
pub const C0: f64 = 1500.0;

/// The model of a survey: 8th order, a [`SPONGE`]-point sponge on every
/// face, a 10 Hz Ricker source, a time step of 80 % of the stability limit
/// of the fastest velocity an iterate can have.
pub fn model(s: &Survey, source: [f64; 3]) -> Result<Acoustic, SimError> {
    let dt = 0.8 * Acoustic::stable_dt(8, H, C0 * (1.0 + SPAN));
    Acoustic::new(Config {
        n: [s.n; 3],
        h: H,
        dt,
        velocity: C0,
        order: 8,
        sponge: SPONGE,
        source,
        f0: 10.0,
        free_surface: false,
    })
}

/// The inversion: the shots' problems and what maps the unknowns to them.
#[derive(Debug)]
pub struct Fwi {
    survey: Survey,
    shots: Vec<Problem<Acoustic, Observations>>,
    region: Vec<usize>,
    truth: Vec<f64>,
    x0: Vec<f64>,
    sigma: f64,
    /// The unknowns the shots' `m` is set for (`None`: not yet).
    at: Option<Vec<f64>>,
    solves: u64,
    peak_snapshot_bytes: usize,
}

impl Fwi {
    /// Records the survey's data — one forward run per shot in the true
    /// model, Gaussian noise of `noise × RMS` added — and sets up the
    /// shots' problems under `strategy`.
    pub fn new(survey: Survey, strategy: Strategy, par: Par) -> Result<Self, SimError> {
        survey.check()?;
        let base = model(&survey, survey.sources()[0])?;
        let (region, truth) = (survey.region(&base), survey.true_velocity(&base));
        let rec = survey.receivers(&base);
        let x0 = base.at_rest();
        let m_true = Acoustic::slowness_squared(&truth);
        let mut clean = Vec::new();
        for &source in &survey.sources() {
            let shot = model(&survey, source)?;
            let mut sim = rewind_sim::Sim::<_, f64>::new(shot, par)?;
            sim.set_param("m", &m_true)?;
            let mut traces = Vec::with_capacity(survey.steps * rec.len());
            rewind_sim::run_from(&mut sim, &x0, survey.steps, |t, x| {
                if t > 0 {
                    traces.extend(rec.iter().map(|&p| x[p]));
                }
                Ok::<_, SimError>(())
            })?;
            clean.push(traces);
        }
        let all = clean.iter().flatten();
        let rms = (all.clone().map(|v| v * v).sum::<f64>() / all.count().max(1) as f64).sqrt();
        // σ of the misfit: the noise's, or a tenth of a percent of the RMS
        // for noise-free data (J in units of that)
        let sigma = if survey.noise > 0.0 { survey.noise * rms } else { 1e-3 * rms };
        if !(sigma > 0.0 && sigma.is_finite()) {
            return Err(SimError::Settings("fwi: the recorded data are all zero (no shot reaches a receiver)".into()));
        }
        let mut noise = Noise::new(survey.seed);
        let mut shots = Vec::new();
        for (source, traces) in survey.sources().into_iter().zip(clean) {
            let mut loss = Observations::of("u").points(rec.clone()).sigma(sigma);
            for (t, d) in traces.chunks(rec.len()).enumerate() {
                loss = loss.at(t + 1, d.iter().map(|v| v + survey.noise * rms * noise.normal()).collect());
            }
            shots.push(Problem::new(model(&survey, source)?, loss, strategy, survey.steps, par)?);
        }
        Ok(Fwi { survey, shots, region, truth, x0, sigma, at: None, solves: 0, peak_snapshot_bytes: 0 })
    }

    /// The survey.
    pub fn survey(&self) -> &Survey {
        &self.survey
    }
    /// The misfit's `σ`: the noise's standard deviation, or 10⁻³ × the
    /// data's RMS for noise-free data.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
    /// The number of data: receivers × steps × shots.
    pub fn data_count(&self) -> usize {
        self.shots.iter().map(|p| p.loss().count()).sum()
    }
    /// The true velocity on the grid.
    pub fn true_velocity(&self) -> &[f64] {
        &self.truth
    }
    /// The update region's grid indices.
    pub fn region(&self) -> &[usize] {
        &self.region
    }
    /// The model of shot 0 (its grid and time step are every shot's).
    pub fn model(&self) -> &Acoustic {
        self.shots[0].model()
    }
    /// Forward-and-adjoint solves (one per shot per gradient or product) so far.
    pub fn solves(&self) -> u64 {
        self.solves
    }

    /// The most snapshot bytes held at once: a solve's schedule's, and the
    /// linearisations every shot keeps for Gauss–Newton products.
    pub fn peak_snapshot_bytes(&self) -> usize {
        self.peak_snapshot_bytes
    }

    /// The velocity on the grid of the unknowns `s`.
    pub fn velocity(&self, s: &[f64]) -> Vec<f64> {
        let mut c = vec![C0; self.truth.len()];
        for (&p, &v) in self.region.iter().zip(s) {
            c[p] = C0 * (1.0 + SPAN * v.tanh());
        }
        c
    }

    /// `‖c(s) − c_true‖ / ‖c₀ − c_true‖` over the update region: 1 at the
    /// start, 0 at the truth.
    pub fn model_error(&self, s: &[f64]) -> f64 {
        let c = self.velocity(s);
        let (mut num, mut den) = (0.0, 0.0);
        for &p in &self.region {
            num += (c[p] - self.truth[p]).powi(2);
            den += (C0 - self.truth[p]).powi(2);
        }
        if den > 0.0 { (num / den).sqrt() } else { num.sqrt() }
    }

    /// The traces of shot `shot` at `s`: predicted and observed, `[t][receiver]`.
    pub fn gather(&mut self, shot: usize, s: &[f64]) -> Result<(Vec<f64>, Vec<f64>), SimError> {
        self.set(s)?;
        let p = self.shots.get_mut(shot).ok_or_else(|| SimError::Settings(format!("fwi: no shot {shot}")))?;
        let rec = p.loss().observed_points().unwrap_or_default().to_vec();
        let observed: Vec<f64> = p.loss().data().iter().flat_map(|(_, d)| d.iter().copied()).collect();
        let mut predicted = Vec::with_capacity(observed.len());
        let x0 = self.x0.clone();
        p.run(&x0, self.survey.steps, |t, x| {
            if t > 0 {
                predicted.extend(rec.iter().map(|&k| x[k]));
            }
            Ok::<_, SimError>(())
        })?;
        Ok((predicted, observed))
    }

    /// Sets every shot's `m` for the unknowns `s` (if not set already).
    fn set(&mut self, s: &[f64]) -> Result<(), SimError> {
        if s.len() != self.region.len() {
            return Err(SimError::Length { what: "fwi unknowns".into(), expected: self.region.len(), got: s.len() });
        }
        if let Some(i) = s.iter().position(|v| !v.is_finite()) {
            return Err(SimError::NonFinite { what: format!("fwi unknown {i}") });
        }
        if self.at.as_deref().is_some_and(|a| a.iter().zip(s).all(|(a, b)| a.to_bits() == b.to_bits())) {
            return Ok(());
        }
        let m = Acoustic::slowness_squared(&self.velocity(s));
        for p in &mut self.shots {
            p.set_param("m", &m)?;
        }
        self.at = Some(s.to_vec());
        Ok(())
    }

    /// `dm/ds` over the region: `m = c⁻²`, `c = c₀ + Δ tanh s`.
    fn dm_ds(&self, s: &[f64]) -> Vec<f64> {
        s.iter()
            .map(|&v| {
                let t = v.tanh();
                let c = C0 * (1.0 + SPAN * t);
                -2.0 / (c * c * c) * C0 * SPAN * (1.0 - t * t)
            })
            .collect()
    }

    /// `J(s)` and its gradient, summed over the shots; `keep`: each shot
    /// keeps its linearisation for the Gauss–Newton products that follow.
    fn value_grad_with(&mut self, s: &[f64], g: &mut [f64], keep: bool) -> Result<f64, SimError> {
        self.set(s)?;
        let d = self.dm_ds(s);
        g.fill(0.0);
        let mut j = 0.0;
        for k in 0..self.shots.len() {
            let x0 = &self.x0;
            let p = &mut self.shots[k];
            let out = if keep { p.linearise(x0)? } else { p.gradient(x0)? };
            self.solves += 1;
            self.held(k, out.counters.peak_snapshot_bytes);
            j += out.objective;
            let gm = out.param("m")?;
            for ((gi, &r), di) in g.iter_mut().zip(&self.region).zip(&d) {
                *gi += gm[r] * di;
            }
        }
        Ok(j)
    }

    /// Counts the snapshot bytes held during shot `k`'s solve: its own
    /// peak and the other shots' kept linearisations.
    fn held(&mut self, k: usize, peak: usize) {
        let others: usize = self.shots.iter().enumerate().filter(|(i, _)| *i != k).map(|(_, p)| p.kept_bytes()).sum();
        self.peak_snapshot_bytes = self.peak_snapshot_bytes.max(peak + others);
    }

    /// `J(s)` alone: one forward run per shot.
    fn value_of(&mut self, s: &[f64]) -> Result<f64, SimError> {
        self.set(s)?;
        let mut j = 0.0;
        for p in &mut self.shots {
            j += p.value(&self.x0)?;
        }
        Ok(j)
    }
}

impl rewind_optim::Problem for Fwi {
    fn dim(&self) -> usize {
        self.region.len()
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        self.value_of(x).map_err(OptimError::objective)
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        self.value_grad_with(x, g, false).map_err(OptimError::objective)
    }
}

/// The inversion whose Hessian products are Gauss–Newton products (summed
/// over the shots, each at its kept linearisation): Newton-CG on it is a
/// Gauss–Newton method.
#[derive(Debug)]
pub struct GaussNewtonFwi<'a>(pub &'a mut Fwi);

impl rewind_optim::Problem for GaussNewtonFwi<'_> {
    fn dim(&self) -> usize {
        self.0.region.len()
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        self.0.value_of(x).map_err(OptimError::objective)
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        self.0.value_grad_with(x, g, true).map_err(OptimError::objective)
    }
}

impl rewind_optim::Hessian for GaussNewtonFwi<'_> {
    fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
        let f = &mut *self.0;
        f.set(x).map_err(OptimError::objective)?;
        let d = f.dm_ds(x);
        let mut vm = vec![0.0; f.truth.len()];
        for ((&r, vi), di) in f.region.iter().zip(v).zip(&d) {
            vm[r] = vi * di;
        }
        let no_x = vec![0.0; f.x0.len()];
        hv.fill(0.0);
        for k in 0..f.shots.len() {
            let p = &mut f.shots[k];
            let vp = p.param_direction(&[("m", &vm)]).map_err(OptimError::objective)?;
            let out = p.gauss_newton(&f.x0, &no_x, &vp).map_err(OptimError::objective)?;
            f.solves += 1;
            f.held(k, out.counters.peak_snapshot_bytes);
            let gm = out.param("m").map_err(OptimError::objective)?;
            for ((h, &r), di) in hv.iter_mut().zip(&f.region).zip(&d) {
                *h += gm[r] * di;
            }
        }
        Ok(())
    }
}
