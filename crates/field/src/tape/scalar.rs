//! Scalars on the tape (reductions, parameters) and observation vectors.

use std::ops::{Add, Div, Mul, Neg, Sub};

use super::op::Op;
use super::{Obs, Scalar};
use crate::FieldError;
use crate::components::Components;
use rewind_tape::Unary;

impl<'id, T: Components> Scalar<'id, T> {
    /// The value.
    pub fn value(&self) -> T {
        self.ctx.val(self.id)[0]
    }
    /// An elementary function of the scalar.
    pub fn map(self, f: Unary) -> Self {
        self.ctx.scalar_of(f.apply(self.value()), Op::Map(f, self.id))
    }
    /// `eˢ` (a log-parameterised positive parameter: `p = exp(log_p)`).
    pub fn exp(self) -> Self {
        self.map(Unary::Exp)
    }
    /// `ln s`.
    pub fn ln(self) -> Self {
        self.map(Unary::Ln)
    }
    /// `√s`.
    pub fn sqrt(self) -> Self {
        self.map(Unary::Sqrt)
    }
    /// `sⁿ`.
    pub fn powi(self, n: i32) -> Self {
        self.map(Unary::Powi(n))
    }
    /// `1 / s`.
    pub fn recip(self) -> Self {
        self.map(Unary::Recip)
    }
}

impl<'id, T: Components> Obs<'id, T> {
    /// The values.
    pub fn value(&self) -> &'id [T] {
        self.ctx.val(self.id)
    }
    /// `‖obs − data‖²`: the misfit to observed values.
    pub fn misfit(self, data: &[f64]) -> Result<Scalar<'id, T>, FieldError> {
        let c = self.ctx;
        let v = self.value();
        if data.len() != v.len() {
            return Err(FieldError::Length { what: "observations", expected: v.len(), got: data.len() });
        }
        let data: &'id [f64] = c.arena.alloc_slice_copy(data);
        let d = c.arena.alloc_slice_fill_iter(v.iter().zip(data).map(|(&x, &y)| x - y));
        let diff = c.obs_of(d, Op::SubData(self.id, data));
        // Σ dₖ² as a dot product of the difference with itself
        let s = d.iter().fold(T::zero(), |s, &x| s + x * x);
        Ok(c.scalar_of(s, Op::Dot(diff.id, diff.id)))
    }
}

macro_rules! scalar_binop {
    ($tr:ident, $m:ident, $op:ident, $f:expr) => {
        impl<T: Components> $tr for Scalar<'_, T> {
            type Output = Self;
            fn $m(self, b: Self) -> Self {
                let f: fn(T, T) -> T = $f;
                self.ctx.scalar_of(f(self.value(), b.value()), Op::$op(self.id, b.id))
            }
        }
    };
}
scalar_binop!(Add, add, Add, |a, b| a + b);
scalar_binop!(Sub, sub, Sub, |a, b| a - b);
scalar_binop!(Mul, mul, Mul, |a, b| a * b);
scalar_binop!(Div, div, Div, |a, b| a / b);

impl<T: Components> Neg for Scalar<'_, T> {
    type Output = Self;
    fn neg(self) -> Self {
        self.ctx.scalar_of(-self.value(), Op::Neg(self.id))
    }
}
impl<T: Components> Mul<f64> for Scalar<'_, T> {
    type Output = Self;
    fn mul(self, s: f64) -> Self {
        self.ctx.scalar_of(self.value() * s, Op::ScaleC(self.id, s))
    }
}
impl<T: Components> Div<f64> for Scalar<'_, T> {
    type Output = Self;
    fn div(self, s: f64) -> Self {
        self * (1.0 / s)
    }
}
impl<T: Components> Add<f64> for Scalar<'_, T> {
    type Output = Self;
    fn add(self, s: f64) -> Self {
        self.ctx.scalar_of(self.value() + s, Op::AddC(self.id, s))
    }
}
impl<T: Components> Sub<f64> for Scalar<'_, T> {
    type Output = Self;
    fn sub(self, s: f64) -> Self {
        self + (-s)
    }
}
impl<'id, T: Components> Add<Scalar<'id, T>> for f64 {
    type Output = Scalar<'id, T>;
    fn add(self, s: Scalar<'id, T>) -> Scalar<'id, T> {
        s + self
    }
}
impl<'id, T: Components> Sub<Scalar<'id, T>> for f64 {
    type Output = Scalar<'id, T>;
    fn sub(self, s: Scalar<'id, T>) -> Scalar<'id, T> {
        -s + self
    }
}
impl<'id, T: Components> Mul<Scalar<'id, T>> for f64 {
    type Output = Scalar<'id, T>;
    fn mul(self, s: Scalar<'id, T>) -> Scalar<'id, T> {
        s * self
    }
}
impl<'id, T: Components> Div<Scalar<'id, T>> for f64 {
    type Output = Scalar<'id, T>;
    // one reciprocal, then a product per point: the recorded form
    #[allow(clippy::suspicious_arithmetic_impl)]
    fn div(self, s: Scalar<'id, T>) -> Scalar<'id, T> {
        s.recip() * self
    }
}
