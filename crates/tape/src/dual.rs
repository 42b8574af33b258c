//! Forward mode: dual numbers `a + b ε` with `ε² = 0`.
//!
//! `f(x + ε v) = f(x) + ε f'(x) v`, so evaluating a function on duals seeded
//! with a tangent `v` gives its directional derivative in one pass. The
//! component type is any [`Real`], so `Dual<Dual<f64>>` carries second
//! derivatives, `Dual<Dual<Dual<f64>>>` third ones, and a tape over
//! `Dual<f64>` gives Hessian-vector products (forward-over-reverse).
//!
//! Different nesting levels are different types, so a tangent of an outer
//! level can never be confused with one of an inner level ("perturbation
//! confusion"): lifting an outer value into an inner computation is explicit
//! ([`Dual::constant`]).

use std::cmp::Ordering;
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Div, Mul, Neg, Sub};

use smallvec::SmallVec;

use crate::custom::CustomOp;
use crate::{Real, rules};

/// A dual number: value `re` and tangent `eps`.
#[derive(Clone, Copy, Default)]
pub struct Dual<T> {
    /// The value.
    pub re: T,
    /// The tangent (directional derivative).
    pub eps: T,
}

impl<T: Real> Dual<T> {
    /// A dual with value `re` and tangent `eps`.
    #[inline]
    pub fn new(re: T, eps: T) -> Self {
        Dual { re, eps }
    }
    /// A constant: tangent zero.
    #[inline]
    pub fn constant(re: T) -> Self {
        Dual { re, eps: T::zero() }
    }
    /// The independent variable: tangent one.
    #[inline]
    pub fn variable(re: T) -> Self {
        Dual { re, eps: T::one() }
    }
    #[inline]
    fn unary(self, v: T, d: T) -> Self {
        Dual { re: v, eps: self.eps * d }
    }
    #[inline]
    fn binary(self, other: Self, v: T, da: T, db: T) -> Self {
        Dual { re: v, eps: self.eps * da + other.eps * db }
    }
}

impl<T: Real> fmt::Debug for Dual<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dual({:?} + {:?}ε)", self.re, self.eps)
    }
}
impl<T: Real> fmt::Display for Dual<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} + {}ε", self.re, self.eps)
    }
}

impl<T: Real> PartialEq for Dual<T> {
    #[inline]
    fn eq(&self, o: &Self) -> bool {
        self.re == o.re
    }
}
impl<T: Real> PartialOrd for Dual<T> {
    #[inline]
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        self.re.partial_cmp(&o.re)
    }
}
impl<T: Real> PartialEq<f64> for Dual<T> {
    #[inline]
    fn eq(&self, o: &f64) -> bool {
        self.re == *o
    }
}
impl<T: Real> PartialOrd<f64> for Dual<T> {
    #[inline]
    fn partial_cmp(&self, o: &f64) -> Option<Ordering> {
        self.re.partial_cmp(o)
    }
}

impl<T: Real> From<f64> for Dual<T> {
    #[inline]
    fn from(v: f64) -> Self {
        Dual::constant(T::from_f64(v))
    }
}

impl<T: Real> Add for Dual<T> {
    type Output = Self;
    #[inline]
    fn add(self, o: Self) -> Self {
        Dual { re: self.re + o.re, eps: self.eps + o.eps }
    }
}
impl<T: Real> Sub for Dual<T> {
    type Output = Self;
    #[inline]
    fn sub(self, o: Self) -> Self {
        Dual { re: self.re - o.re, eps: self.eps - o.eps }
    }
}
impl<T: Real> Mul for Dual<T> {
    type Output = Self;
    #[inline]
    fn mul(self, o: Self) -> Self {
        Dual { re: self.re * o.re, eps: self.eps * o.re + self.re * o.eps }
    }
}
impl<T: Real> Div for Dual<T> {
    type Output = Self;
    #[inline]
    fn div(self, o: Self) -> Self {
        let q = self.re / o.re;
        Dual { re: q, eps: (self.eps - q * o.eps) / o.re }
    }
}
impl<T: Real> Neg for Dual<T> {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        Dual { re: -self.re, eps: -self.eps }
    }
}
impl<T: Real> Add<f64> for Dual<T> {
    type Output = Self;
    #[inline]
    fn add(self, c: f64) -> Self {
        Dual { re: self.re + c, eps: self.eps }
    }
}
impl<T: Real> Sub<f64> for Dual<T> {
    type Output = Self;
    #[inline]
    fn sub(self, c: f64) -> Self {
        Dual { re: self.re - c, eps: self.eps }
    }
}
impl<T: Real> Mul<f64> for Dual<T> {
    type Output = Self;
    #[inline]
    fn mul(self, c: f64) -> Self {
        Dual { re: self.re * c, eps: self.eps * c }
    }
}
impl<T: Real> Div<f64> for Dual<T> {
    type Output = Self;
    #[inline]
    fn div(self, c: f64) -> Self {
        Dual { re: self.re / c, eps: self.eps / c }
    }
}
impl<T: Real> Add<Dual<T>> for f64 {
    type Output = Dual<T>;
    #[inline]
    fn add(self, x: Dual<T>) -> Dual<T> {
        x + self
    }
}
impl<T: Real> Sub<Dual<T>> for f64 {
    type Output = Dual<T>;
    #[inline]
    fn sub(self, x: Dual<T>) -> Dual<T> {
        -x + self
    }
}
impl<T: Real> Mul<Dual<T>> for f64 {
    type Output = Dual<T>;
    #[inline]
    fn mul(self, x: Dual<T>) -> Dual<T> {
        x * self
    }
}
impl<T: Real> Div<Dual<T>> for f64 {
    type Output = Dual<T>;
    #[inline]
    fn div(self, x: Dual<T>) -> Dual<T> {
        Dual::from(self) / x
    }
}

crate::ops::impl_assign_ops!([T: Real] Dual<T>);

impl<T: Real> Sum for Dual<T> {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Dual::constant(T::zero()), |a, b| a + b)
    }
}

impl<T: Real> Real for Dual<T> {
    #[inline]
    fn from_f64(v: f64) -> Self {
        Dual::constant(T::from_f64(v))
    }
    #[inline]
    fn value(&self) -> f64 {
        self.re.value()
    }
    #[inline]
    fn is_exact_zero(&self) -> bool {
        self.re.is_exact_zero() && self.eps.is_exact_zero()
    }
    #[inline]
    fn is_finite(&self) -> bool {
        self.re.is_finite() && self.eps.is_finite()
    }

    rules::impl_unary_methods!(re);

    #[inline]
    fn powi(self, n: i32) -> Self {
        let (v, d) = rules::powi(self.re, n);
        self.unary(v, d)
    }
    #[inline]
    fn powf(self, b: Self) -> Self {
        let (v, da, db) = rules::powf(self.re, b.re);
        // A side with an exactly-zero tangent contributes nothing, even where
        // its partial is not finite (`∂/∂b = aᵇ ln a` is NaN for a < 0, and
        // `∂/∂a` is infinite at a = 0 for b < 1): `0 · NaN` would otherwise
        // poison `x.powf(2.0)` at negative x (JAX's symbolic zeros do the same).
        match (self.eps.is_exact_zero(), b.eps.is_exact_zero()) {
            (false, false) => self.binary(b, v, da, db),
            (false, true) => self.unary(v, da),
            (true, false) => b.unary(v, db),
            (true, true) => Dual::constant(v),
        }
    }
    #[inline]
    fn atan2(self, x: Self) -> Self {
        let (v, da, db) = rules::atan2(self.re, x.re);
        self.binary(x, v, da, db)
    }
    #[inline]
    fn hypot(self, other: Self) -> Self {
        let (v, da, db) = rules::hypot(self.re, other.re);
        self.binary(other, v, da, db)
    }
    #[inline]
    fn min(self, other: Self) -> Self {
        if other.re < self.re { other } else { self }
    }
    #[inline]
    fn max(self, other: Self) -> Self {
        if other.re > self.re { other } else { self }
    }

    fn apply_custom<O: CustomOp + ?Sized>(op: &O, x: &[Self], y: &mut [Self]) {
        let xr: SmallVec<[T; 8]> = x.iter().map(|d| d.re).collect();
        let xe: SmallVec<[T; 8]> = x.iter().map(|d| d.eps).collect();
        let mut yr: SmallVec<[T; 4]> = SmallVec::from_elem(T::zero(), y.len());
        let mut ye: SmallVec<[T; 4]> = SmallVec::from_elem(T::zero(), y.len());
        op.eval(&xr, &mut yr);
        op.jvp(&xr, &yr, &xe, &mut ye);
        for (out, (r, e)) in y.iter_mut().zip(yr.into_iter().zip(ye)) {
            *out = Dual::new(r, e);
        }
    }
}
