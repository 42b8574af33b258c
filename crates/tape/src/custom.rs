//! Custom primitives: an operation defined by its value and its VJP.
//!
//! Implement [`CustomOp`] once, generically over [`Real`]; then
//! [`custom`]/[`custom1`] apply it to any scalar type. On the tape the
//! operation is one statement per output whose partials are the rows of its
//! Jacobian, obtained from your VJP with unit cotangents; in forward mode
//! your JVP (by default: assembled from the VJP) gives the tangent. Because
//! the rules are generic, they are differentiated again when the scalar
//! type is nested — a Hessian-vector product through a custom primitive just
//! works. [`check_custom_op`](crate::check_custom_op) tests a rule against
//! finite differences and the dot-product identity.
//!
//! ```
//! use rewind_tape::{CustomOp, Real, custom1, grad, hvp};
//!
//! /// log Σ exp(xᵢ), evaluated stably, with gradient softmax(x).
//! struct LogSumExp;
//! impl CustomOp for LogSumExp {
//!     fn eval<T: Real>(&self, x: &[T], y: &mut [T]) {
//!         let m = x.iter().copied().fold(x[0], T::max);
//!         y[0] = m + x.iter().map(|&xi| (xi - m).exp()).sum::<T>().ln();
//!     }
//!     fn vjp<T: Real>(&self, x: &[T], y: &[T], ybar: &[T], xbar: &mut [T]) {
//!         for (b, &xi) in xbar.iter_mut().zip(x) {
//!             *b += ybar[0] * (xi - y[0]).exp();
//!         }
//!     }
//! }
//!
//! let g = grad(|x| custom1(&LogSumExp, x), &[0.0, 0.0]).unwrap();
//! assert!((g[0] - 0.5).abs() < 1e-15);
//! let hv = hvp(|x| custom1(&LogSumExp, x), &[0.0, 0.0], &[1.0, 0.0]).unwrap();
//! assert!((hv[0] - 0.25).abs() < 1e-15 && (hv[1] + 0.25).abs() < 1e-15);
//! ```

use smallvec::SmallVec;

use crate::Real;

/// A user-defined differentiable operation `y = f(x)` with
/// [`OUTPUTS`](Self::OUTPUTS) outputs and any number of inputs.
pub trait CustomOp {
    /// Number of outputs.
    const OUTPUTS: usize = 1;

    /// Computes `y = f(x)`; `y` has `OUTPUTS` entries (initially zero).
    fn eval<T: Real>(&self, x: &[T], y: &mut [T]);

    /// Adds `Jᵀ ȳ` to `xbar` (the vector-Jacobian product at `x`, where
    /// `y = f(x)` is given for reuse).
    fn vjp<T: Real>(&self, x: &[T], y: &[T], ybar: &[T], xbar: &mut [T]);

    /// Writes `J ẋ` to `ydot`. The default assembles it from
    /// [`vjp`](Self::vjp), one output at a time; override it when a direct
    /// formula is cheaper.
    fn jvp<T: Real>(&self, x: &[T], y: &[T], xdot: &[T], ydot: &mut [T]) {
        let mut ybar: SmallVec<[T; 4]> = SmallVec::from_elem(T::zero(), y.len());
        let mut xbar: SmallVec<[T; 8]> = SmallVec::from_elem(T::zero(), x.len());
        for k in 0..y.len() {
            ybar[k] = T::one();
            xbar.iter_mut().for_each(|b| *b = T::zero());
            self.vjp(x, y, &ybar, &mut xbar);
            ybar[k] = T::zero();
            ydot[k] = xbar.iter().zip(xdot).map(|(&b, &d)| b * d).sum();
        }
    }
}

/// Applies a custom operation to `x`, returning its `O::OUTPUTS` outputs.
pub fn custom<T: Real, O: CustomOp + ?Sized>(op: &O, x: &[T]) -> Vec<T> {
    let mut y = vec![T::zero(); O::OUTPUTS];
    T::apply_custom(op, x, &mut y);
    y
}

/// Applies a single-output custom operation to `x`. Using it with an
/// operation of several outputs does not compile:
///
/// ```compile_fail,E0080
/// use rewind_tape::{CustomOp, Real, custom1};
/// struct Two;
/// impl CustomOp for Two {
///     const OUTPUTS: usize = 2;
///     fn eval<T: Real>(&self, x: &[T], y: &mut [T]) { y[0] = x[0]; y[1] = x[0]; }
///     fn vjp<T: Real>(&self, _: &[T], _: &[T], yb: &[T], xb: &mut [T]) { xb[0] += yb[0] + yb[1]; }
/// }
/// let y: f64 = custom1(&Two, &[1.0]); // error: custom1 needs an operation with one output
/// ```
pub fn custom1<T: Real, O: CustomOp + ?Sized>(op: &O, x: &[T]) -> T {
    const { assert!(O::OUTPUTS == 1, "custom1 needs an operation with one output") };
    let mut y = [T::zero()];
    T::apply_custom(op, x, &mut y);
    y[0]
}
