//! Hand a rewind [`Problem`] to the argmin crate.
//!
//! argmin's `CostFunction` and `Gradient` take `&self`; a [`Problem`] takes
//! `&mut self` (it reuses tapes and buffers), so the adapter holds it in a
//! `RefCell`. Parameters are `Vec<f64>` (argmin-math supports faer only up
//! to 0.23, so the plain vector is the portable choice).

use std::cell::RefCell;

use argmin::core::{CostFunction, Error, Gradient};

use crate::Problem;

/// A [`Problem`] as an argmin cost function with a gradient.
#[derive(Debug)]
pub struct ArgminProblem<P>(pub RefCell<P>);

impl<P: Problem> ArgminProblem<P> {
    /// Wraps `problem`.
    pub fn new(problem: P) -> Self {
        ArgminProblem(RefCell::new(problem))
    }
    /// The wrapped problem back.
    pub fn into_inner(self) -> P {
        self.0.into_inner()
    }
}

impl<P: Problem> CostFunction for ArgminProblem<P> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, x: &Vec<f64>) -> Result<f64, Error> {
        let f = self.0.borrow_mut().value(x).map_err(|e| Error::msg(e.to_string()))?;
        if !f.is_finite() {
            return Err(Error::msg("the objective returned a non-finite value"));
        }
        Ok(f)
    }
}

impl<P: Problem> Gradient for ArgminProblem<P> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, x: &Vec<f64>) -> Result<Vec<f64>, Error> {
        let mut g = vec![0.0; x.len()];
        self.0.borrow_mut().value_grad(x, &mut g).map_err(|e| Error::msg(e.to_string()))?;
        if g.iter().any(|v| !v.is_finite()) {
            return Err(Error::msg("the objective returned a non-finite gradient"));
        }
        Ok(g)
    }
}
