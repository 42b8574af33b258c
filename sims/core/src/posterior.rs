//! The Laplace approximation of the posterior at an analysis, from the
//! dominant eigenpairs of the prior-preconditioned Gauss–Newton Hessian.
//!
//! With the background covariance `B` (a [`Correlation`]) and the
//! Gauss–Newton matrix `G` of the observation terms at the analysis
//! `x_a`, the posterior covariance of the linearised problem is
//! `Γ = (B⁻¹ + G)⁻¹ = B^{1/2} (I + H̃)⁻¹ B^{1/2}` with `H̃ = B^{1/2} G B^{1/2}`
//! (hIPPYlib's formulation). `H̃` is symmetric positive semidefinite and,
//! where the observations inform few directions, of low numerical rank:
//! its `k` dominant eigenpairs `H̃ ≈ U Λ Uᵀ`, found by the randomized
//! eigensolver ([`rewind_optim::randomized`]) from Gauss–Newton products
//! at a kept linearisation, give
//!
//! - `(I + H̃)⁻¹ ≈ I − U diag(λ/(1+λ)) Uᵀ`, hence the pointwise posterior
//!   variance `Γᵢᵢ = Bᵢᵢ − Σⱼ λⱼ/(1+λⱼ) (B^{1/2}uⱼ)ᵢ²`;
//! - samples `x_a + B^{1/2} (I − U diag(1 − 1/√(1+λ)) Uᵀ) z`, `z` white noise,
//!   whose covariance is `Γ` (exactly, when `k` is the full dimension).
//!
//! Eigenvalues `λⱼ ≥ 1` mark the directions the data constrain more than
//! the background does.

use rewind_ensemble::Ensemble;
use rewind_field::Correlation;
use rewind_optim::OptimError;
use rewind_optim::randomized::eigenpairs;

use rewind_optim::vector::dot;

use crate::var::Control;
use crate::{Loss, Model, Problem, SimError};

/// The settings of [`posterior`] (plain data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spectrum {
    /// Eigenpairs kept.
    pub k: usize,
    /// Extra probes of the randomized eigensolver.
    pub oversample: usize,
    /// The probes' seed.
    pub seed: u64,
}

impl Default for Spectrum {
    fn default() -> Self {
        Spectrum { k: 20, oversample: 10, seed: 1 }
    }
}

/// The low-rank Laplace posterior at an analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Posterior {
    /// The analysis (the posterior mean of the linearised problem).
    pub mean: Vec<f64>,
    /// The dominant eigenvalues of `H̃ = B^{1/2} G B^{1/2}`, largest first.
    pub eigenvalues: Vec<f64>,
    /// Their eigenvectors (in the control variable `χ`).
    pub eigenvectors: Vec<Vec<f64>>,
    /// Pointwise posterior standard deviation.
    pub std: Vec<f64>,
    /// Pointwise background standard deviation (`√Bᵢᵢ`).
    pub background_std: Vec<f64>,
    /// Gauss–Newton products made.
    pub products: usize,
    /// Fields of the state (for `B^{1/2}`).
    fields: usize,
}

/// The Laplace posterior of `problem` (its loss: the observation terms) at
/// the analysis `mean` with the background covariance `b` (see the
/// [module](self) docs).
///
/// The eigensolver's two blocks of Gauss–Newton products are spread over
/// the ranks of `ensemble` (one process: [`Ensemble::serial`]); every rank
/// linearises its own copy of the problem at `mean` and ends with the same
/// posterior, to the bit, whatever the number of ranks. `progress(done,
/// total)` counts the products made ensemble-wide.
pub fn posterior<M: Model + Clone, L: Loss + Clone>(
    problem: &mut Problem<M, L>,
    mean: &[f64],
    b: &mut Correlation,
    settings: Spectrum,
    ensemble: &Ensemble,
    mut progress: impl FnMut(usize, usize),
) -> Result<Posterior, SimError> {
    let layout = problem.layout().clone();
    layout.check_len(mean.len())?;
    let mut control = Control::new(b, &layout)?;
    let n = mean.len();
    let no_p = vec![0.0; problem.param_set().len()];
    if !problem.is_linearised_at(mean) {
        ensemble.everywhere(|| problem.linearise(mean))?;
    }
    let total = 2 * settings.k.saturating_add(settings.oversample).min(n);
    let mut made = 0;
    let mut failure = None;
    let pairs = eigenpairs(n, settings.k, settings.oversample, settings.seed, |block| {
        let done_before = made;
        let r = ensemble.map(
            block.len(),
            |i| -> Result<Vec<f64>, SimError> {
                let bd = control.sqrt(&block[i])?;
                let gn = problem.gauss_newton(mean, &bd, &no_p)?;
                control.sqrt(&gn.x0)
            },
            |done, _| progress(done_before + done, total),
        );
        made += block.len();
        r.map_err(|e| {
            failure = Some(e);
            OptimError::Invalid { what: "Gauss–Newton product", why: "failed".into() }
        })
    });
    let pairs = match (pairs, failure) {
        (_, Some(e)) => return Err(e.into()),
        (p, None) => p?,
    };
    let eigenvalues: Vec<f64> = pairs.values.iter().map(|&l| l.max(0.0)).collect();
    let mut sqrt_b_u = Vec::with_capacity(pairs.vectors.len());
    for u in &pairs.vectors {
        sqrt_b_u.push(control.sqrt(u)?);
    }
    let background_var = control.variance_diagonal(n);
    let fields = control.fields();
    let mut var = background_var.clone();
    for (l, w) in eigenvalues.iter().zip(&sqrt_b_u) {
        let d = l / (1.0 + l);
        for (v, x) in var.iter_mut().zip(w) {
            *v -= d * x * x;
        }
    }
    Ok(Posterior {
        mean: mean.to_vec(),
        std: var.iter().map(|v| v.max(0.0).sqrt()).collect(),
        background_std: background_var.iter().map(|v| v.sqrt()).collect(),
        eigenvalues,
        eigenvectors: pairs.vectors,
        products: pairs.products,
        fields,
    })
}

impl Posterior {
    /// `Γ y` (the low-rank posterior covariance applied to `y`).
    pub fn covariance(&self, b: &mut Correlation, y: &[f64]) -> Result<Vec<f64>, SimError> {
        self.through(b, y, |l| l / (1.0 + l), true)
    }

    /// A sample `x_a + B^{1/2} (I + H̃)^{-1/2} z` for the white noise `z`.
    pub fn sample(&self, b: &mut Correlation, z: &[f64]) -> Result<Vec<f64>, SimError> {
        let d = self.through(b, z, |l| 1.0 - 1.0 / (1.0 + l).sqrt(), false)?;
        Ok(self.mean.iter().zip(&d).map(|(m, x)| m + x).collect())
    }

    /// `B^{1/2} (I − U diag(f(λ)) Uᵀ) (B^{1/2} y or y)`.
    fn through(
        &self,
        b: &mut Correlation,
        y: &[f64],
        f: impl Fn(f64) -> f64,
        twice: bool,
    ) -> Result<Vec<f64>, SimError> {
        if y.len() != self.mean.len() {
            return Err(SimError::Length { what: "posterior vector".into(), expected: self.mean.len(), got: y.len() });
        }
        let mut control = Control::with_fields(b, self.fields);
        let mut w = if twice { control.sqrt(y)? } else { y.to_vec() };
        let coefs: Vec<f64> =
            self.eigenvectors.iter().zip(&self.eigenvalues).map(|(u, &l)| f(l) * dot(u, &w)).collect();
        for (c, u) in coefs.iter().zip(&self.eigenvectors) {
            for (x, v) in w.iter_mut().zip(u) {
                *x -= c * v;
            }
        }
        control.sqrt(&w)
    }
}
