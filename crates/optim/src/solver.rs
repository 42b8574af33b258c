//! Solvers as explicit state machines (the argmin pattern): a [`Solver`]
//! advances a [`State`] one iteration at a time with `next_iter`;
//! [`minimize`] drives it until [`Options`] say stop, recording the
//! history. Anything the objective gets wrong — an error, a NaN — ends the
//! run with an error instead of a panic.

use crate::OptimError;
use crate::problem::{Counted, Counts, Problem};
use crate::vector::norm;

/// The iterate and what is known at it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct State {
    /// The iterate.
    pub x: Vec<f64>,
    /// `f(x)`.
    pub f: f64,
    /// `∇f(x)`.
    pub g: Vec<f64>,
    /// Iterations done.
    pub iter: usize,
    /// Set by a solver that cannot make progress (e.g. a step below
    /// round-off); the run stops.
    pub stalled: bool,
}

/// One entry of the history.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Record {
    /// Iteration.
    pub iter: usize,
    /// Objective.
    pub f: f64,
    /// Gradient norm.
    pub grad_norm: f64,
    /// Evaluations so far.
    pub counts: Counts,
}

/// When to stop.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Options {
    /// Stop when `‖∇f‖₂ ≤ grad_tol`.
    pub grad_tol: f64,
    /// Stop after this many iterations.
    pub max_iter: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { grad_tol: 1e-8, max_iter: 1000 }
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Termination {
    /// `‖∇f‖ ≤ grad_tol`.
    Converged,
    /// `max_iter` reached.
    MaxIterations,
    /// The solver could make no further progress.
    Stalled,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The solver.
    pub method: &'static str,
    /// The final state.
    pub state: State,
    /// Why it stopped.
    pub termination: Termination,
    /// Evaluations made.
    pub counts: Counts,
    /// One record per iteration (and the start).
    pub history: Vec<Record>,
}

/// An optimization method.
pub trait Solver<P: Problem + ?Sized> {
    /// Its name.
    fn name(&self) -> &'static str;
    /// One iteration from `state` (which holds `x`, `f(x)`, `∇f(x)`); it
    /// must leave `state` consistent (`f` and `g` at the new `x`).
    fn next_iter(&mut self, p: &mut Counted<'_, P>, state: &mut State) -> Result<(), OptimError>;
}

/// Whether to stop, and why.
pub fn terminate(state: &State, opts: &Options) -> Option<Termination> {
    if norm(&state.g) <= opts.grad_tol {
        Some(Termination::Converged)
    } else if state.stalled {
        Some(Termination::Stalled)
    } else if state.iter >= opts.max_iter {
        Some(Termination::MaxIterations)
    } else {
        None
    }
}

/// Minimises `problem` from `x0` with `solver`.
pub fn minimize<S: Solver<P>, P: Problem + ?Sized>(
    solver: &mut S,
    problem: &mut P,
    x0: &[f64],
    opts: &Options,
) -> Result<Report, OptimError> {
    if x0.len() != problem.dim() {
        return Err(OptimError::Invalid {
            what: "x0",
            why: format!("length {} for a problem of dimension {}", x0.len(), problem.dim()),
        });
    }
    if opts.grad_tol.is_nan() || opts.grad_tol < 0.0 {
        return Err(OptimError::Invalid { what: "grad_tol", why: "must be >= 0".into() });
    }
    let mut p = Counted::new(problem);
    let mut g = vec![0.0; x0.len()];
    let f = p.value_grad(x0, &mut g)?;
    let mut state = State { x: x0.to_vec(), f, g, iter: 0, stalled: false };
    let mut history = vec![Record { iter: 0, f, grad_norm: norm(&state.g), counts: p.counts }];
    let termination = loop {
        if let Some(t) = terminate(&state, opts) {
            break t;
        }
        solver.next_iter(&mut p, &mut state)?;
        state.iter += 1;
        history.push(Record { iter: state.iter, f: state.f, grad_norm: norm(&state.g), counts: p.counts });
    };
    Ok(Report { method: solver.name(), state, termination, counts: p.counts, history })
}
