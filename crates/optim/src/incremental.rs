//! Incremental Gauss–Newton iterations — the outer loop of incremental
//! 4D-Var — as a [`Solver`].
//!
//! Each iteration solves the Gauss–Newton system `H δ = −g` by conjugate
//! gradients ([`crate::cg`]) to a fixed relative residual,
//! `‖r‖ ≤ inner_tol ‖g‖` in at most `inner` products, and takes the step
//! `x + δ`, halved (at most 8 times) until `f` decreases. The problem's
//! [`Hessian`] products are Gauss–Newton ones, positive definite:
//! curvature that is not positive is an error here, not a direction to
//! follow (that is [`NewtonCg`](crate::NewtonCg)'s job on a true Hessian).
//! A fixed inner tolerance, rather than Newton-CG's forcing term, is what
//! data assimilation uses: the inner loop is the expensive part and its
//! accuracy a budget the user sets.
//!
//! **Two grids.** The inner loop may run on a cheaper system
//! ([`CoarseSystem`]: a coarse-grid copy of the problem, say): the
//! right-hand side is restricted to it, CG runs there, the step is
//! prolonged back. The outer iteration's objective and gradient stay the
//! problem's own, so the iterations still descend on the true objective.
//! The first `coarse_outer` iterations do so; one that reduces `‖g‖` by
//! less than 10 %, or whose step does not decrease `f`, ends them — what is
//! left of the gradient is in scales the coarse system does not hold.

use crate::OptimError;
use crate::linesearch::backtrack;
use crate::problem::{Counted, Hessian};
use crate::solver::{Solver, State};
use crate::vector::norm;

/// A coarse iteration after which `‖g‖` is still above this share of its
/// value before ends the coarse ones.
const STALLED: f64 = 0.9;

/// Trial steps of the halving: the full step and 8 halvings.
const TRIALS: usize = 9;

/// A cheaper system for the inner loop of [`IncrementalGaussNewton`] (a
/// coarse-grid copy of the problem `P`): called once per coarse iteration,
/// in order, `restrict`, then `product` per CG iteration, then `prolong`.
pub trait CoarseSystem<P: ?Sized> {
    /// Linearises the coarse system at the problem's iterate `x` and maps
    /// the right-hand side `rhs` (`−g`) onto it.
    fn restrict(&mut self, problem: &mut P, x: &[f64], rhs: &[f64]) -> Result<Vec<f64>, OptimError>;
    /// The coarse Gauss–Newton product `A v` into `out` (`A` symmetric
    /// positive definite).
    fn product(&mut self, v: &[f64], out: &mut [f64]) -> Result<(), OptimError>;
    /// A coarse step `d` as a step of the problem.
    fn prolong(&mut self, d: &[f64]) -> Result<Vec<f64>, OptimError>;
}

/// No coarse system: the inner loops all run on the problem (the type
/// cannot be made, so an `Option<NoCoarse>` is always `None`).
#[derive(Debug, Clone, Copy)]
pub enum NoCoarse {}

impl<P: ?Sized> CoarseSystem<P> for NoCoarse {
    fn restrict(&mut self, _: &mut P, _: &[f64], _: &[f64]) -> Result<Vec<f64>, OptimError> {
        match *self {}
    }
    fn product(&mut self, _: &[f64], _: &mut [f64]) -> Result<(), OptimError> {
        match *self {}
    }
    fn prolong(&mut self, _: &[f64]) -> Result<Vec<f64>, OptimError> {
        match *self {}
    }
}

/// What one iteration did.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Iteration {
    /// `‖g‖` at its start.
    pub grad_norm: f64,
    /// CG iterations (one product each, of the coarse system if `coarse`).
    pub cg_iterations: usize,
    /// Whether the inner loop ran on the coarse system.
    pub coarse: bool,
    /// Step halvings before `f` decreased (8: none did; the step was not
    /// taken).
    pub halvings: usize,
}

/// Incremental Gauss–Newton (see the [module](self) docs): the state
/// machine's settings, its coarse system if any, and what each iteration
/// did.
#[derive(Debug, Clone)]
pub struct IncrementalGaussNewton<C = NoCoarse> {
    /// CG iterations per outer iteration at most.
    pub inner: usize,
    /// The inner solve stops at `‖r‖ ≤ inner_tol ‖rhs‖`.
    pub inner_tol: f64,
    coarse: Option<C>,
    /// Coarse iterations left.
    coarse_left: usize,
    /// One entry per iteration done.
    pub log: Vec<Iteration>,
}

impl IncrementalGaussNewton {
    /// At most `inner` CG iterations per step, to `‖r‖ ≤ inner_tol ‖g‖`;
    /// `inner ≥ 1` and `0 ≤ inner_tol < 1`, or [`OptimError::Invalid`].
    pub fn new(inner: usize, inner_tol: f64) -> Result<Self, OptimError> {
        if inner == 0 {
            return Err(OptimError::Invalid { what: "inner", why: "at least one CG iteration is needed".into() });
        }
        if !(0.0..1.0).contains(&inner_tol) {
            return Err(OptimError::Invalid { what: "inner_tol", why: format!("must be in [0, 1) (got {inner_tol})") });
        }
        Ok(IncrementalGaussNewton { inner, inner_tol, coarse: None, coarse_left: 0, log: Vec::new() })
    }

    /// The same, with the inner loops of the first `coarse_outer`
    /// iterations on `coarse` (fewer if one stalls: see the [module](self)
    /// docs).
    pub fn with_coarse<C>(self, coarse: C, coarse_outer: usize) -> IncrementalGaussNewton<C> {
        let IncrementalGaussNewton { inner, inner_tol, log, .. } = self;
        IncrementalGaussNewton { inner, inner_tol, coarse: Some(coarse), coarse_left: coarse_outer, log }
    }
}

/// CG on `A z = rhs` with `A` positive definite: `(z, products)`.
fn positive_cg(
    product: impl FnMut(&[f64], &mut [f64]) -> Result<(), OptimError>,
    rhs: &[f64],
    tol: f64,
    max: usize,
) -> Result<(Vec<f64>, usize), OptimError> {
    let cg = crate::cg::solve(product, rhs, tol, max, None)?;
    if cg.negative_curvature.is_some() {
        return Err(OptimError::Invalid {
            what: "Gauss–Newton product",
            why: "its curvature is not positive along a CG direction (is it a Gauss–Newton matrix?)".into(),
        });
    }
    Ok((cg.z, cg.products))
}

impl<P: Hessian + ?Sized, C: CoarseSystem<P>> Solver<P> for IncrementalGaussNewton<C> {
    fn name(&self) -> &'static str {
        "incremental Gauss–Newton"
    }

    fn next_iter(&mut self, p: &mut Counted<'_, P>, st: &mut State) -> Result<(), OptimError> {
        let grad_norm = norm(&st.g);
        // coarse loops are exhausted once one gains little
        if self.log.last().is_some_and(|it| it.coarse && grad_norm > STALLED * it.grad_norm) {
            self.coarse_left = 0;
        }
        let coarse = self.coarse_left > 0 && self.coarse.is_some();
        self.coarse_left = self.coarse_left.saturating_sub(1);
        let rhs: Vec<f64> = st.g.iter().map(|g| -g).collect();
        let (delta, cg_iterations) = match &mut self.coarse {
            Some(c) if coarse => {
                let rhs_c = c.restrict(&mut *p.inner, &st.x, &rhs)?;
                let tol = self.inner_tol * norm(&rhs_c);
                let (d, n) = positive_cg(|v, out| c.product(v, out), &rhs_c, tol, self.inner)?;
                (c.prolong(&d)?, n)
            }
            _ => {
                let x = &st.x;
                positive_cg(|v, out| p.hvp(x, v, out), &rhs, self.inner_tol * grad_norm, self.inner)?
            }
        };
        // the step, halved while f does not decrease; a trial whose
        // objective fails is no decrease
        let trial = |scale: f64| -> Vec<f64> { st.x.iter().zip(&delta).map(|(x, d)| x + scale * d).collect() };
        let phi = |scale: f64| match p.value(&trial(scale)) {
            Ok(f) => Ok(f),
            Err(OptimError::NonFinite { .. } | OptimError::Objective(_)) => Ok(f64::INFINITY),
            Err(e) => Err(e),
        };
        let accepted = backtrack(phi, st.f, 0.0, 1.0, 0.0, TRIALS)?;
        let halvings = accepted.map_or(TRIALS - 1, |(_, trials)| trials - 1);
        self.log.push(Iteration { grad_norm, cg_iterations, coarse, halvings });
        match accepted {
            Some((scale, _)) => {
                st.x = trial(scale);
                st.f = p.value_grad(&st.x, &mut st.g)?;
            }
            // a coarse step that does not decrease f: the problem's own go on
            None if coarse => self.coarse_left = 0,
            None => st.stalled = true,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, Problem, Termination, minimize};

    /// `f(x) = ½ Σ (r_i(x))²` with `r_i = a_i x_i + b x_i³ − y_i`: a
    /// nonlinear least-squares problem, its Gauss–Newton matrix diagonal.
    struct Cubic {
        a: Vec<f64>,
        b: f64,
        y: Vec<f64>,
    }

    impl Cubic {
        fn residual(&self, x: &[f64]) -> Vec<f64> {
            (0..x.len()).map(|i| self.a[i] * x[i] + self.b * x[i].powi(3) - self.y[i]).collect()
        }
        fn jacobian(&self, x: &[f64]) -> Vec<f64> {
            (0..x.len()).map(|i| self.a[i] + 3.0 * self.b * x[i] * x[i]).collect()
        }
    }

    impl Problem for Cubic {
        fn dim(&self) -> usize {
            self.a.len()
        }
        fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
            Ok(0.5 * self.residual(x).iter().map(|r| r * r).sum::<f64>())
        }
        fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
            let (r, j) = (self.residual(x), self.jacobian(x));
            for i in 0..g.len() {
                g[i] = j[i] * r[i];
            }
            self.value(x)
        }
    }

    impl Hessian for Cubic {
        fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
            let j = self.jacobian(x);
            for i in 0..v.len() {
                hv[i] = j[i] * j[i] * v[i];
            }
            Ok(())
        }
    }

    fn cubic() -> Cubic {
        let n = 8;
        Cubic { a: (0..n).map(|i| 1.0 + i as f64).collect(), b: 0.3, y: (0..n).map(|i| (i as f64).sin()).collect() }
    }

    #[test]
    fn it_converges_on_nonlinear_least_squares_with_one_product_per_distinct_curvature() {
        let mut p = cubic();
        let mut s = IncrementalGaussNewton::new(20, 1e-12).unwrap();
        let opts = Options { grad_tol: 1e-12, max_iter: 30 };
        let r = minimize(&mut s, &mut p, &[0.0; 8], &opts).unwrap();
        assert_eq!(r.termination, Termination::Converged, "{:?}", r.history);
        assert!(r.state.f < 1e-20, "{}", r.state.f);
        // a diagonal matrix with 8 distinct entries: CG ends in ≤ 8 products
        assert!(s.log.iter().all(|it| it.cg_iterations <= 8 && !it.coarse), "{:?}", s.log);
        assert_eq!(r.counts.hvp as usize, s.log.iter().map(|it| it.cg_iterations).sum::<usize>());
        // Gauss–Newton on a zero-residual problem converges quadratically
        assert!(s.log.len() < 12, "{}", s.log.len());
    }

    /// The coarse system: the even coordinates only (a "grid" of half the
    /// points), restricted by taking them and prolonged by zero-filling.
    struct Evens {
        j2: Vec<f64>,
    }

    impl CoarseSystem<Cubic> for Evens {
        fn restrict(&mut self, p: &mut Cubic, x: &[f64], rhs: &[f64]) -> Result<Vec<f64>, OptimError> {
            self.j2 = p.jacobian(x).iter().step_by(2).map(|j| j * j).collect();
            Ok(rhs.iter().step_by(2).copied().collect())
        }
        fn product(&mut self, v: &[f64], out: &mut [f64]) -> Result<(), OptimError> {
            for i in 0..v.len() {
                out[i] = self.j2[i] * v[i];
            }
            Ok(())
        }
        fn prolong(&mut self, d: &[f64]) -> Result<Vec<f64>, OptimError> {
            Ok((0..2 * d.len()).map(|i| if i % 2 == 0 { d[i / 2] } else { 0.0 }).collect())
        }
    }

    #[test]
    fn coarse_inner_loops_stop_when_they_stall_and_the_fine_ones_finish() {
        let mut p = cubic();
        let mut s = IncrementalGaussNewton::new(20, 1e-12).unwrap().with_coarse(Evens { j2: vec![] }, usize::MAX);
        let opts = Options { grad_tol: 1e-12, max_iter: 40 };
        let r = minimize(&mut s, &mut p, &[0.0; 8], &opts).unwrap();
        assert_eq!(r.termination, Termination::Converged, "{:?}", s.log);
        // the coarse loops reduce the even coordinates' share of ‖g‖ and
        // then stall on the odd ones; from then on the fine ones run
        let switched = s.log.iter().position(|it| !it.coarse).expect("fine iterations");
        assert!(switched > 0 && s.log[switched..].iter().all(|it| !it.coarse), "{:?}", s.log);
        // each product of the coarse system is counted by the log, not as an HVP
        let fine: usize = s.log.iter().filter(|it| !it.coarse).map(|it| it.cg_iterations).sum();
        assert_eq!(r.counts.hvp as usize, fine);
        // no coarse iterations: the same bits as without a coarse system
        let mut none = IncrementalGaussNewton::new(20, 1e-12).unwrap().with_coarse(Evens { j2: vec![] }, 0);
        let a = minimize(&mut none, &mut cubic(), &[0.0; 8], &opts).unwrap();
        let mut plain = IncrementalGaussNewton::new(20, 1e-12).unwrap();
        let b = minimize(&mut plain, &mut cubic(), &[0.0; 8], &opts).unwrap();
        assert_eq!(a.state.x, b.state.x);
    }

    /// A "Gauss–Newton" product that is not positive definite.
    struct Indefinite(Cubic);

    impl Problem for Indefinite {
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
            self.0.value(x)
        }
        fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
            self.0.value_grad(x, g)
        }
    }

    impl Hessian for Indefinite {
        fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
            self.0.hvp(x, v, hv)?;
            hv.iter_mut().for_each(|h| *h = -*h);
            Ok(())
        }
    }

    #[test]
    fn bad_settings_and_non_positive_curvature_are_errors() {
        assert!(IncrementalGaussNewton::new(0, 0.1).is_err());
        assert!(IncrementalGaussNewton::new(5, 1.0).is_err());
        assert!(IncrementalGaussNewton::new(5, f64::NAN).is_err());
        let mut s = IncrementalGaussNewton::new(5, 0.1).unwrap();
        let e = minimize(&mut s, &mut Indefinite(cubic()), &[0.0; 8], &Options::default()).unwrap_err();
        assert!(matches!(e, OptimError::Invalid { what: "Gauss–Newton product", .. }), "{e}");
    }
}
