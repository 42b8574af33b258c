//! L-BFGS with a strong-Wolfe line search (Nocedal & Wright, Algorithm 7.4).

use std::collections::VecDeque;

use crate::OptimError;
use crate::linesearch::strong_wolfe;
use crate::problem::{Counted, Problem};
use crate::solver::{Solver, State};
use crate::vector::dot;

/// Limited-memory BFGS keeping `m` correction pairs.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Lbfgs {
    /// Number of pairs kept.
    pub m: usize,
    pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)>,
}

impl Lbfgs {
    /// L-BFGS with `m` pairs (5–20 is typical).
    pub fn new(m: usize) -> Self {
        Lbfgs { m: m.max(1), pairs: VecDeque::new() }
    }

    /// `−H g` by the two-loop recursion.
    fn direction(&self, g: &[f64]) -> Vec<f64> {
        let mut q: Vec<f64> = g.to_vec();
        let mut alphas = Vec::with_capacity(self.pairs.len());
        for (s, y, rho) in self.pairs.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(q, y)| *q -= a * y);
            alphas.push(a);
        }
        // initial Hessian γI with γ = sᵀy / yᵀy of the newest pair
        let gamma = self.pairs.back().map_or(1.0, |(s, y, _)| dot(s, y) / dot(y, y));
        q.iter_mut().for_each(|q| *q *= gamma);
        for ((s, y, rho), a) in self.pairs.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(q, s)| *q += (a - b) * s);
        }
        q.iter_mut().for_each(|q| *q = -*q);
        q
    }
}

impl<P: Problem + ?Sized> Solver<P> for Lbfgs {
    fn name(&self) -> &'static str {
        "L-BFGS"
    }
    fn next_iter(&mut self, p: &mut Counted<'_, P>, st: &mut State) -> Result<(), OptimError> {
        let mut d = self.direction(&st.g);
        if dot(&d, &st.g) >= 0.0 {
            // lost descent (a poor pair): restart from steepest descent
            self.pairs.clear();
            d = st.g.iter().map(|g| -g).collect();
        }
        // first iteration: a step of length ~1 in x
        let alpha0 = if self.pairs.is_empty() { (1.0 / dot(&st.g, &st.g).sqrt()).min(1.0) } else { 1.0 };
        let step = match strong_wolfe(p, &st.x, st.f, &st.g, &d, alpha0, 1e-4, 0.9) {
            Ok(s) => s,
            // no acceptable step: progress is below round-off
            Err(OptimError::LineSearch { .. }) => {
                st.stalled = true;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let s: Vec<f64> = step.x.iter().zip(&st.x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = step.g.iter().zip(&st.g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-300 {
            if self.pairs.len() == self.m {
                self.pairs.pop_front();
            }
            self.pairs.push_back((s, y, 1.0 / sy));
        }
        if step.f >= st.f && step.alpha * dot(&d, &d).sqrt() < 1e-15 * dot(&st.x, &st.x).sqrt().max(1.0) {
            st.stalled = true;
        }
        (st.x, st.f, st.g) = (step.x, step.f, step.g);
        Ok(())
    }
}
