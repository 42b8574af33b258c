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
//! `χ ← χ + δ` — halved while it does not decrease `J`. That outer loop
//! is rewind-optim's [`IncrementalGaussNewton`] on the [`ControlProblem`];
//! this module adds the control transform, the grid transfer and the
//! record of each linearisation.
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
use rewind_optim::incremental::CoarseSystem;
use rewind_optim::solver::{Options, State, terminate};
use rewind_optim::vector::norm;
use rewind_optim::{Counted, IncrementalGaussNewton, OptimError, Problem as _, Solver as _};

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
    /// Outer (nonlinear) iterations — Gauss–Newton steps — at most.
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

/// One linearisation (the start, then the end of each outer iteration)
/// and the iteration that starts there.
#[derive(Debug, Clone, PartialEq)]
pub struct OuterStep {
    /// `J` at the linearisation point.
    pub objective: f64,
    /// Its observation part `J_o`.
    pub misfit: f64,
    /// `‖∇_χ J‖` there.
    pub grad_norm: f64,
    /// CG iterations (one Gauss–Newton product each; 0 at the last).
    pub cg_iterations: usize,
    /// Whether they ran on the coarse problem.
    pub coarse: bool,
    /// Step halvings before `J` decreased (8: it did not; no step).
    pub halvings: usize,
    /// Wall seconds of the iteration (0 at the last).
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
    /// The linearisations: the start and one per outer iteration.
    pub outer: Vec<OuterStep>,
    /// Gradients computed (= linearisations).
    pub gradients: usize,
    /// Gauss–Newton products of the problem.
    pub products: usize,
    /// Gauss–Newton products of the coarse problem.
    pub coarse_products: usize,
    /// Objective evaluations of the step halving.
    pub values: usize,
    /// Wall seconds in all.
    pub seconds: f64,
}

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

/// [`Coarse`] as the coarse system of [`IncrementalGaussNewton`]: the
/// analysis and the right-hand side moved to the coarse grid, the coarse
/// Gauss–Newton products in its control variable, the step moved back.
struct CoarseLoop<'a, M, L> {
    problem: &'a mut Problem<M, L>,
    control: Control<'a>,
    transfer: Transfer,
    /// The analysis on the coarse grid (the linearisation point).
    x: Vec<f64>,
}

impl<'a, M: Model + Clone, L: Loss + Clone> CoarseLoop<'a, M, L> {
    fn new(fine: &crate::Layout, c: Coarse<'a, M, L>) -> Result<Self, SimError> {
        let transfer = Transfer::new(fine, c.problem.layout())?;
        let control = Control::new(c.b, c.problem.layout())?;
        Ok(CoarseLoop { problem: c.problem, control, transfer, x: Vec::new() })
    }
}

impl<M: Model + Clone, L: Loss + Clone> CoarseSystem<ControlProblem<'_, M, L>> for CoarseLoop<'_, M, L> {
    fn restrict(
        &mut self,
        cp: &mut ControlProblem<'_, M, L>,
        chi: &[f64],
        rhs: &[f64],
    ) -> Result<Vec<f64>, OptimError> {
        self.x =
            self.transfer.state_down(&cp.state(chi).map_err(OptimError::objective)?).map_err(OptimError::objective)?;
        self.transfer.control_down(rhs).map_err(OptimError::objective)
    }
    fn product(&mut self, v: &[f64], out: &mut [f64]) -> Result<(), OptimError> {
        // (I + B_c^½ G_c B_c^½) v, onto the range of Pᵀ where the CG vectors live
        let av = control_product(self.problem, &mut self.control, &self.x, v).map_err(OptimError::objective)?;
        out.copy_from_slice(&self.transfer.project(&av).map_err(OptimError::objective)?);
        Ok(())
    }
    fn prolong(&mut self, d: &[f64]) -> Result<Vec<f64>, OptimError> {
        self.transfer.control_up(d).map_err(OptimError::objective)
    }
}

/// Incremental 4D-Var from the background `x_b` (see the [module](self)
/// docs) on `problem`, whose loss holds the observation terms only, with
/// the background covariance `b` on its grid: rewind-optim's
/// [`IncrementalGaussNewton`] on the [`ControlProblem`] from `χ = 0`, at
/// most [`Incremental::outer`] steps. The parameters stay at their values;
/// the checkpoint strategy is the problem's. With `coarse`, the first
/// [`Incremental::coarse_outer`] outer iterations run their inner loop on
/// it (multi-incremental: see [`Coarse`]), the rest on the problem; so do
/// all after a coarse one that reduced `‖∇_χ J‖` by less than 10 % or
/// whose step did not decrease `J`. Settings with `inner_tol ∉ [0, 1)`,
/// `tol < 0` or `inner = 0` are [`SimError::Settings`].
pub fn incremental<M: Model + Clone, L: Loss + Clone>(
    problem: &mut Problem<M, L>,
    background: &[f64],
    b: &mut Correlation,
    coarse: Option<Coarse<'_, M, L>>,
    settings: Incremental,
) -> Result<Analysis, SimError> {
    if let Some(k) = background.iter().position(|v| !v.is_finite()) {
        return Err(SimError::NonFinite { what: format!("background (entry {k})") });
    }
    let solver = IncrementalGaussNewton::new(settings.inner, settings.inner_tol)
        .map_err(|e| SimError::Settings(format!("incremental 4D-Var: {e}")))?;
    if settings.tol.is_nan() || settings.tol < 0.0 {
        return Err(SimError::Settings(format!("incremental 4D-Var needs tol ≥ 0 (got {})", settings.tol)));
    }
    match coarse {
        Some(c) => {
            let inner = CoarseLoop::new(problem.layout(), c)?;
            let cp = ControlProblem::new(problem, background, b)?;
            drive(cp, solver.with_coarse(inner, settings.coarse_outer), &settings)
        }
        None => drive(ControlProblem::new(problem, background, b)?, solver, &settings),
    }
}

/// Runs `solver` on `cp` from `χ = 0` until `‖∇_χ J‖ ≤ tol ‖∇_χ J(0)‖`,
/// `outer` steps or a stall, recording each linearisation.
fn drive<'a, M: Model + Clone, L: Loss + Clone, C: CoarseSystem<ControlProblem<'a, M, L>>>(
    mut cp: ControlProblem<'a, M, L>,
    mut solver: IncrementalGaussNewton<C>,
    settings: &Incremental,
) -> Result<Analysis, SimError> {
    let start = Instant::now();
    let mut p = Counted::new(&mut cp);
    let mut state = State { x: vec![0.0; p.inner.dim()], f: 0.0, g: vec![0.0; p.inner.dim()], iter: 0, stalled: false };
    state.f = p.value_grad(&state.x, &mut state.g).map_err(sim_error)?;
    let opts = Options { grad_tol: settings.tol * norm(&state.g), max_iter: settings.outer };
    // per linearisation: J, J_o, ‖∇_χ J‖ and when it was reached
    let mut marks = vec![(state.f, p.inner.misfit, norm(&state.g), start.elapsed().as_secs_f64())];
    while terminate(&state, &opts).is_none() {
        solver.next_iter(&mut p, &mut state).map_err(sim_error)?;
        state.iter += 1;
        marks.push((state.f, p.inner.misfit, norm(&state.g), start.elapsed().as_secs_f64()));
    }
    let counts = p.counts;
    let outer = (0..marks.len())
        .map(|k| {
            let (objective, misfit, grad_norm, at) = marks[k];
            let it = solver.log.get(k);
            OuterStep {
                objective,
                misfit,
                grad_norm,
                cg_iterations: it.map_or(0, |it| it.cg_iterations),
                coarse: it.is_some_and(|it| it.coarse),
                halvings: it.map_or(0, |it| it.halvings),
                seconds: marks.get(k + 1).map_or(0.0, |next| next.3 - at),
            }
        })
        .collect::<Vec<_>>();
    let coarse_products = solver.log.iter().filter(|it| it.coarse).map(|it| it.cg_iterations).sum();
    let &(objective, misfit, _, _) = marks.last().expect("the first linearisation");
    Ok(Analysis {
        x0: cp.state(&state.x)?,
        chi: state.x,
        objective,
        misfit,
        outer,
        gradients: counts.grad as usize,
        products: counts.hvp as usize,
        coarse_products,
        values: counts.f as usize,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// An optimizer's error as the simulation's: the simulation error an
/// objective failed with, unwrapped.
fn sim_error(e: OptimError) -> SimError {
    match e {
        OptimError::Objective(inner) => match inner.downcast::<SimError>() {
            Ok(e) => *e,
            Err(other) => SimError::Optim(OptimError::Objective(other)),
        },
        e => SimError::Optim(e),
    }
}
