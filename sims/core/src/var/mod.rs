//! Incremental 4D-Var: outer nonlinear iterations, inner conjugate
//! gradients on the Gauss–Newton model, in the control variable of a
//! spectral background covariance.
//!
//! The objective is `J(x₀) = ½‖x₀ − x_b‖²_{B⁻¹} + J_o(x₀)`, with `J_o` the
//! problem's loss (the observation terms, no background of its own) and
//! `B` a [`Correlation`] applied to every field of the state (the state's
//! scalars, if any, have the variance of the correlation and no spatial
//! correlation). The control-variable transform `x₀ = x_b + B^{1/2} χ`
//! turns the background term into `½‖χ‖²`, so the Gauss–Newton matrix in
//! `χ`, `I + B^{1/2} G_o B^{1/2}`, has every eigenvalue at least 1 — the
//! inner problem is well conditioned where the observations are few. Each
//! outer iteration linearises at `x₀` ([`Problem::linearise`], which keeps
//! the first forward sweep of the checkpoint schedule), solves
//! `(I + B^{1/2} G_o B^{1/2}) δ = −∇_χ J` by CG with Gauss–Newton products
//! ([`Problem::gauss_newton`], replaying that sweep), and takes the step
//! `χ ← χ + δ` — halved while it does not decrease `J`.
//!
//! **Multi-incremental.** The inner loops may run on a coarser copy of the
//! problem ([`Coarse`]), as operational 4D-Var does: the outer loop keeps
//! the full objective and its exact gradient, the inner CG runs on the
//! coarse Gauss–Newton matrix, whose products cost a fraction of the full
//! ones; the control vectors move between the grids by spectral resampling
//! ([`Resample`](rewind_field::Resample)). It converges to the full analysis as far as the coarse
//! grid holds the scales of `B`; when a coarse outer iteration stops
//! gaining, the remaining ones run on the full problem.

use std::time::Instant;

use rewind_field::Correlation;
use rewind_optim::vector::dot;

use crate::{Loss, Model, Problem, SimError};

mod control;
mod transfer;

pub(crate) use control::Control;
pub use control::ControlProblem;
use control::control_product;
use transfer::Transfer;

/// The settings of [`incremental`] (plain data).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Incremental {
    /// Outer (nonlinear) iterations at most.
    pub outer: usize,
    /// CG iterations per outer iteration at most.
    pub inner: usize,
    /// The inner solve stops at `‖r‖ ≤ inner_tol ‖∇_χ J‖`.
    pub inner_tol: f64,
    /// The outer loop stops at `‖∇_χ J‖ ≤ tol ‖∇_χ J(χ = 0)‖`.
    pub tol: f64,
    /// Outer iterations, the first ones, whose inner loop runs on the
    /// coarse problem when one is given ([`Coarse`]; default: all of them,
    /// until a coarse one stalls — see [`incremental`]). The outer loop's
    /// objective and gradient are always the problem's own.
    pub coarse_outer: usize,
}

impl Default for Incremental {
    fn default() -> Self {
        Incremental { outer: 10, inner: 30, inner_tol: 1e-3, tol: 1e-6, coarse_outer: usize::MAX }
    }
}

/// One outer iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct OuterStep {
    /// `J` at the linearisation point.
    pub objective: f64,
    /// Its observation part `J_o`.
    pub misfit: f64,
    /// `‖∇_χ J‖` there.
    pub grad_norm: f64,
    /// CG iterations (one Gauss–Newton product each).
    pub cg_iterations: usize,
    /// Whether they ran on the coarse problem.
    pub coarse: bool,
    /// Step halvings before `J` decreased.
    pub halvings: usize,
    /// Wall seconds of the iteration.
    pub seconds: f64,
}

/// The analysis and how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The analysis `x₀ = x_b + B^{1/2} χ`.
    pub x0: Vec<f64>,
    /// The control variable `χ`.
    pub chi: Vec<f64>,
    /// `J` at the analysis.
    pub objective: f64,
    /// Its observation part.
    pub misfit: f64,
    /// The outer iterations.
    pub outer: Vec<OuterStep>,
    /// Gradients computed (outer linearisations).
    pub gradients: usize,
    /// Gauss–Newton products of the problem.
    pub products: usize,
    /// Gauss–Newton products of the coarse problem.
    pub coarse_products: usize,
    /// Objective evaluations of the step control.
    pub values: usize,
    /// Wall seconds in all.
    pub seconds: f64,
}

/// A coarse outer iteration after which `‖∇_χ J‖` is still above this
/// share of its value before ends the coarse ones.
const STALLED: f64 = 0.9;

/// A coarser copy of the problem for the inner loops of multi-incremental
/// 4D-Var: the same model, fields, scalars and observations on a coarser
/// grid of the same periodic domain, with the background covariance `b`
/// (same kind, length and variance) on that grid.
///
/// An outer iteration with a coarse inner loop linearises the coarse
/// problem at the analysis resampled to its grid (point values kept,
/// [`Resample::values`](rewind_field::Resample::values)), solves `(I + B_c^{1/2} G_c B_c^{1/2}) δ_c =
/// −Pᵀ ∇_χ J` with the fine gradient on the coarse band (the coarse
/// grid's modes without its Nyquist ones, where `PᵀP = I`), and steps
/// `χ ← χ + P δ_c` — `P` the isometric prolongation of control vectors
/// ([`Resample::isometric`](rewind_field::Resample::isometric), its adjoint the map back). Where the coarse
/// grid holds the scales `B` does not damp (its length well above the
/// coarse spacing), the coarse Gauss–Newton matrix approximates `Pᵀ H P`
/// well and a product costs a fraction of a fine one; the outer loop, on
/// the fine objective, stays exact. Where it does not, the coarse loops
/// stall and [`incremental`] goes on with the full problem.
pub struct Coarse<'a, M, L> {
    /// The problem on the coarse grid (its loss: the observation terms).
    pub problem: &'a mut Problem<M, L>,
    /// The background covariance on the coarse grid.
    pub b: &'a mut Correlation,
}

impl<M, L> std::fmt::Debug for Coarse<'_, M, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coarse").field("b", &self.b).finish_non_exhaustive()
    }
}

/// Conjugate gradients ([`rewind_optim::cg`]) on `A δ = rhs` from `δ = 0`,
/// `A` by `product`, until `‖r‖ ≤ tol` or `max` products: `(δ, products)`.
/// `A` is a Gauss–Newton system, positive definite: curvature that is not
/// positive is an error.
fn conjugate_gradients(
    mut product: impl FnMut(&[f64]) -> Result<Vec<f64>, SimError>,
    rhs: &[f64],
    max: usize,
    tol: f64,
) -> Result<(Vec<f64>, usize), SimError> {
    let apply = |d: &[f64], out: &mut [f64]| -> Result<(), SimError> {
        out.copy_from_slice(&product(d)?);
        Ok(())
    };
    let cg = rewind_optim::cg::solve(apply, rhs, tol, max, None)?;
    if cg.negative_curvature.is_some() {
        return Err(SimError::NonFinite { what: "Gauss–Newton curvature (not positive)".into() });
    }
    Ok((cg.z, cg.products))
}

/// Incremental 4D-Var from the background `x_b` (see the [module](self)
/// docs) on `problem`, whose loss holds the observation terms only, with
/// the background covariance `b` on its grid. The parameters stay at their
/// values; the checkpoint strategy is the problem's. With `coarse`, the
/// first [`Incremental::coarse_outer`] outer iterations run their inner
/// loop on it (multi-incremental: see [`Coarse`]), the rest on the problem;
/// so do all after a coarse one that reduced `‖∇_χ J‖` by less than 10 %
/// or whose step did not decrease `J`. Settings with `inner_tol ∉ [0, 1)`,
/// `tol < 0` or `inner = 0` are [`SimError::Settings`].
pub fn incremental<M: Model + Clone, L: Loss + Clone>(
    problem: &mut Problem<M, L>,
    background: &[f64],
    b: &mut Correlation,
    mut coarse: Option<Coarse<'_, M, L>>,
    settings: Incremental,
) -> Result<Analysis, SimError> {
    let start = Instant::now();
    if let Some(k) = background.iter().position(|v| !v.is_finite()) {
        return Err(SimError::NonFinite { what: format!("background (entry {k})") });
    }
    let usable = (0.0..1.0).contains(&settings.inner_tol) && settings.tol >= 0.0 && settings.inner > 0;
    if !usable {
        return Err(SimError::Settings(format!(
            "incremental 4D-Var needs 0 ≤ inner_tol < 1, tol ≥ 0 and inner ≥ 1 (got {}, {}, {})",
            settings.inner_tol, settings.tol, settings.inner
        )));
    }
    let transfer = match &mut coarse {
        Some(c) => {
            let t = Transfer::new(problem.layout(), c.problem.layout())?;
            Control::new(c.b, c.problem.layout())?;
            Some(t)
        }
        None => None,
    };
    let mut cp = ControlProblem::new(problem, background, b)?;
    let len = background.len();
    let mut chi = vec![0.0; len];
    let (mut outer, mut gradients, mut products, mut coarse_products, mut values) = (Vec::new(), 0, 0, 0, 0);
    let mut first_norm = None;
    let (mut objective, mut misfit) = (f64::NAN, f64::NAN);
    let mut coarse_left = if coarse.is_some() { settings.coarse_outer } else { 0 };
    for _ in 0..settings.outer.max(1) {
        let t0 = Instant::now();
        let (j, jo, grad) = cp.gradient(&chi)?;
        gradients += 1;
        (objective, misfit) = (j, jo);
        let gnorm = dot(&grad, &grad).sqrt();
        let reference = *first_norm.get_or_insert(gnorm);
        // coarse loops are exhausted once one gains little: what is left of
        // the gradient is in scales the coarse grid does not hold
        if outer.last().is_some_and(|s: &OuterStep| s.coarse && gnorm > STALLED * s.grad_norm) {
            coarse_left = 0;
        }
        let on_coarse = coarse_left > 0;
        coarse_left = coarse_left.saturating_sub(1);
        let mut step = OuterStep {
            objective,
            misfit,
            grad_norm: gnorm,
            cg_iterations: 0,
            coarse: on_coarse,
            halvings: 0,
            seconds: 0.0,
        };
        if gnorm <= settings.tol * reference || gnorm == 0.0 {
            step.coarse = false;
            step.seconds = t0.elapsed().as_secs_f64();
            outer.push(step);
            break;
        }
        let rhs: Vec<f64> = grad.iter().map(|v| -v).collect();
        let delta = match (&mut coarse, &transfer) {
            (Some(c), Some(t)) if on_coarse => {
                // CG on (I + B_c^½ G_c B_c^½) δ_c = −Pᵀ∇ at the analysis on the coarse grid
                let xc = t.state_down(&cp.state(&chi)?)?;
                let rhs_c = t.control_down(&rhs)?;
                let tol = settings.inner_tol * dot(&rhs_c, &rhs_c).sqrt();
                let mut control = Control::new(c.b, c.problem.layout())?;
                let (dc, n) = conjugate_gradients(
                    // onto the range of Pᵀ, where the CG vectors live
                    |v| t.project(&control_product(c.problem, &mut control, &xc, v)?),
                    &rhs_c,
                    settings.inner,
                    tol,
                )?;
                coarse_products += n;
                step.cg_iterations = n;
                t.control_up(&dc)?
            }
            _ => {
                // CG on (I + B^½ G B^½) δ = −∇
                let x = cp.state(&chi)?;
                let (d, n) = conjugate_gradients(
                    |v| control_product(cp.problem, &mut cp.control, &x, v),
                    &rhs,
                    settings.inner,
                    settings.inner_tol * gnorm,
                )?;
                products += n;
                step.cg_iterations = n;
                d
            }
        };
        // the step, halved (at most 8 times) while J does not decrease; a
        // trial whose objective fails is no decrease
        let trial = |scale: f64| -> Vec<f64> { chi.iter().zip(&delta).map(|(c, s)| c + scale * s).collect() };
        let phi = |scale: f64| Ok::<_, SimError>(cp.objective(&trial(scale)).map_or(f64::INFINITY, |(j, _)| j));
        let accepted = rewind_optim::linesearch::backtrack(phi, objective, 0.0, 1.0, 0.0, 9)?;
        match accepted {
            Some((scale, trials)) => {
                values += trials;
                step.halvings = trials - 1;
                chi = trial(scale);
            }
            None => {
                values += 9;
                step.halvings = 8;
            }
        }
        step.seconds = t0.elapsed().as_secs_f64();
        let stalled = step.halvings == 8;
        let was_coarse = step.coarse;
        outer.push(step);
        if stalled && was_coarse {
            // a coarse step that does not decrease J: the full problem goes on
            coarse_left = 0;
        } else if stalled {
            break;
        }
    }
    // the final point's objective, if the last iteration moved
    if outer.last().is_some_and(|s| s.grad_norm > settings.tol * first_norm.unwrap_or(0.0)) {
        (objective, misfit) = cp.objective(&chi)?;
        values += 1;
    }
    Ok(Analysis {
        x0: cp.state(&chi)?,
        chi,
        objective,
        misfit,
        outer,
        gradients,
        products,
        coarse_products,
        values,
        seconds: start.elapsed().as_secs_f64(),
    })
}
