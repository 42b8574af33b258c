//! Scalars as tuples of `f64` components, for linear operators.
//!
//! An FFT or a sparse factorisation works on `f64`. A *linear* operator
//! `L` with real coefficients acts on a dual number componentwise:
//! `L(a + bε) = L(a) + L(b)ε`. [`Components`] exposes the `f64` parts of
//! `f64`, `Dual<f64>`, `Dual<Dual<f64>>`, … so that such operators (and
//! hence their adjoints, which are linear too) run on any of them — which
//! is what makes a Poisson solve differentiable in forward-over-reverse
//! mode without a second implementation.

use rewind_tape::{Dual, Real};

/// A [`Real`] made of `PARTS` plain `f64` components.
pub trait Components: Real + Send + Sync {
    /// Number of `f64` components.
    const PARTS: usize;
    /// Component `k`.
    fn part(&self, k: usize) -> f64;
    /// Sets component `k`.
    fn set_part(&mut self, k: usize, v: f64);
    /// `data` itself as values of this type, if it is `f64` (constant data
    /// used in place); `None` for dual numbers, which need a copy.
    fn in_place(data: &[f64]) -> Option<&[Self]> {
        let _ = data;
        None
    }
}

impl Components for f64 {
    const PARTS: usize = 1;
    #[inline]
    fn part(&self, _k: usize) -> f64 {
        *self
    }
    #[inline]
    fn set_part(&mut self, _k: usize, v: f64) {
        *self = v;
    }
    #[inline]
    fn in_place(data: &[f64]) -> Option<&[f64]> {
        Some(data)
    }
}

impl<T: Components> Components for Dual<T> {
    const PARTS: usize = 2 * T::PARTS;
    #[inline]
    fn part(&self, k: usize) -> f64 {
        if k < T::PARTS { self.re.part(k) } else { self.eps.part(k - T::PARTS) }
    }
    #[inline]
    fn set_part(&mut self, k: usize, v: f64) {
        if k < T::PARTS { self.re.set_part(k, v) } else { self.eps.set_part(k - T::PARTS, v) }
    }
}
