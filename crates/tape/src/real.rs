//! The [`Real`] trait: the one scalar interface every kernel is written against.
//!
//! A function written once as `fn f<T: Real>(x: &[T]) -> T` can be evaluated
//! with `f64` (the primal), with [`Dual`](crate::Dual) (forward-mode tangents),
//! with [`Var`](crate::Var) (reverse-mode adjoints on a tape) and with any
//! nesting of them (`Dual<Dual<f64>>` for second derivatives, `Var<Dual<f64>>`
//! for forward-over-reverse Hessian-vector products, `Var<Var<f64>>` for
//! reverse-over-reverse). Comparisons look at the value only, so ordinary
//! control flow (`if x > 3.0`, `while term.abs() > tol`) works unchanged and
//! differentiates the branch that was taken.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::custom::CustomOp;

/// A differentiable real scalar.
///
/// Arithmetic with `Self` and with `f64` on the right is available through
/// operators; `f64` on the left works for the concrete types ([`Dual`],
/// [`Var`]) but cannot be promised by a trait bound, so generic code writes
/// `x * 2.0` or `T::from_f64(2.0) - x`.
///
/// Derivative conventions at non-differentiable points: `abs` has derivative
/// `+1` at 0 (the branch `x >= 0`), `min`/`max` pass the derivative to the
/// operand they select (the first one on ties), and `hypot(0, 0)` has
/// derivative 0.
///
/// [`Dual`]: crate::Dual
/// [`Var`]: crate::Var
pub trait Real:
    Copy
    + Debug
    + Display
    + PartialEq
    + PartialOrd
    + PartialEq<f64>
    + PartialOrd<f64>
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
    + Div<f64, Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + AddAssign<f64>
    + SubAssign<f64>
    + MulAssign<f64>
    + DivAssign<f64>
    + Sum
{
    /// A constant: derivatives with respect to it are zero.
    fn from_f64(v: f64) -> Self;
    /// The primal `f64` value at the bottom of any nesting.
    fn value(&self) -> f64;
    /// True if this number is exactly zero in every component (value and
    /// all derivative parts) and carries no dependence on a tape. Used to
    /// skip work in reverse sweeps; `false` is always a safe answer.
    fn is_exact_zero(&self) -> bool;
    /// True if the value and every derivative part are finite. The checks
    /// that stop a run at the step where it blew up use this, so that a NaN
    /// in a tangent alone (a forward-over-reverse run whose value is fine)
    /// is caught too, not only one in the value.
    fn is_finite(&self) -> bool;

    /// `0`.
    #[inline]
    fn zero() -> Self {
        Self::from_f64(0.0)
    }
    /// `1`.
    #[inline]
    fn one() -> Self {
        Self::from_f64(1.0)
    }

    /// `eˣ`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `ln(1 + x)`, accurate near 0.
    fn log1p(self) -> Self;
    /// `eˣ − 1`, accurate near 0.
    fn expm1(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Cube root.
    fn cbrt(self) -> Self;
    /// Integer power.
    fn powi(self, n: i32) -> Self;
    /// Real power `selfᵇ` (differentiable in both arguments).
    fn powf(self, b: Self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// Tangent.
    fn tan(self) -> Self;
    /// Arc sine.
    fn asin(self) -> Self;
    /// Arc cosine.
    fn acos(self) -> Self;
    /// Arc tangent.
    fn atan(self) -> Self;
    /// Four-quadrant arc tangent of `self / x` (`self` is y).
    fn atan2(self, x: Self) -> Self;
    /// Hyperbolic sine.
    fn sinh(self) -> Self;
    /// Hyperbolic cosine.
    fn cosh(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Minimum (by value).
    fn min(self, other: Self) -> Self;
    /// Maximum (by value).
    fn max(self, other: Self) -> Self;
    /// `√(self² + other²)` without overflow.
    fn hypot(self, other: Self) -> Self;
    /// `1 / self`.
    #[inline]
    fn recip(self) -> Self {
        Self::one() / self
    }

    /// Applies a user-defined primitive (see [`CustomOp`]); prefer the
    /// functions [`custom`](crate::custom()) and
    /// [`custom1`](crate::custom1), which check the lengths.
    #[doc(hidden)]
    fn apply_custom<O: CustomOp + ?Sized>(op: &O, x: &[Self], y: &mut [Self]);
}

impl Real for f64 {
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline]
    fn value(&self) -> f64 {
        *self
    }
    #[inline]
    fn is_exact_zero(&self) -> bool {
        *self == 0.0
    }
    #[inline]
    fn is_finite(&self) -> bool {
        f64::is_finite(*self)
    }
    #[inline]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline]
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline]
    fn log1p(self) -> Self {
        f64::ln_1p(self)
    }
    #[inline]
    fn expm1(self) -> Self {
        f64::exp_m1(self)
    }
    #[inline]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline]
    fn cbrt(self) -> Self {
        f64::cbrt(self)
    }
    #[inline]
    fn powi(self, n: i32) -> Self {
        f64::powi(self, n)
    }
    #[inline]
    fn powf(self, b: Self) -> Self {
        f64::powf(self, b)
    }
    #[inline]
    fn sin(self) -> Self {
        f64::sin(self)
    }
    #[inline]
    fn cos(self) -> Self {
        f64::cos(self)
    }
    #[inline]
    fn tan(self) -> Self {
        f64::tan(self)
    }
    #[inline]
    fn asin(self) -> Self {
        f64::asin(self)
    }
    #[inline]
    fn acos(self) -> Self {
        f64::acos(self)
    }
    #[inline]
    fn atan(self) -> Self {
        f64::atan(self)
    }
    #[inline]
    fn atan2(self, x: Self) -> Self {
        f64::atan2(self, x)
    }
    #[inline]
    fn sinh(self) -> Self {
        f64::sinh(self)
    }
    #[inline]
    fn cosh(self) -> Self {
        f64::cosh(self)
    }
    #[inline]
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    #[inline]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    #[inline]
    fn min(self, other: Self) -> Self {
        if other < self { other } else { self }
    }
    #[inline]
    fn max(self, other: Self) -> Self {
        if other > self { other } else { self }
    }
    #[inline]
    fn hypot(self, other: Self) -> Self {
        f64::hypot(self, other)
    }
    #[inline]
    fn recip(self) -> Self {
        1.0 / self
    }
    #[inline]
    fn apply_custom<O: CustomOp + ?Sized>(op: &O, x: &[Self], y: &mut [Self]) {
        op.eval(x, y);
    }
}
