//! The elementwise functions of the [`Real`] trait as data (the one list of
//! them, used by the field tape's `map` operations and by the tests): each applies to any scalar, and its derivative
//! comes from forward mode on the scalar rules (so there is no second list
//! of derivative formulas to keep in step with the first).

use crate::{Dual, Real};

/// An elementwise function of the [`Real`] trait.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub enum Unary {
    Exp,
    Ln,
    Log1p,
    Expm1,
    Sqrt,
    Cbrt,
    Powi(i32),
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Abs,
    Recip,
}

impl Unary {
    /// Applies the function to any scalar.
    #[inline]
    pub fn apply<R: Real>(self, x: R) -> R {
        match self {
            Unary::Exp => x.exp(),
            Unary::Ln => x.ln(),
            Unary::Log1p => x.log1p(),
            Unary::Expm1 => x.expm1(),
            Unary::Sqrt => x.sqrt(),
            Unary::Cbrt => x.cbrt(),
            Unary::Powi(n) => x.powi(n),
            Unary::Sin => x.sin(),
            Unary::Cos => x.cos(),
            Unary::Tan => x.tan(),
            Unary::Asin => x.asin(),
            Unary::Acos => x.acos(),
            Unary::Atan => x.atan(),
            Unary::Sinh => x.sinh(),
            Unary::Cosh => x.cosh(),
            Unary::Tanh => x.tanh(),
            Unary::Abs => x.abs(),
            Unary::Recip => x.recip(),
        }
    }
    /// Its derivative, by forward mode on the scalar rules.
    #[inline]
    pub fn derivative<R: Real>(self, x: R) -> R {
        self.apply(Dual::variable(x)).eps
    }
}

/// An elementwise function of two arguments of the [`Real`] trait.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub enum Binary {
    /// `aᵇ`
    Powf,
    /// `atan2(a, b)` (the angle of the point `(b, a)`)
    Atan2,
    Min,
    Max,
    /// `√(a² + b²)`
    Hypot,
}

impl Binary {
    /// Applies the function to any scalars.
    #[inline]
    pub fn apply<R: Real>(self, a: R, b: R) -> R {
        match self {
            Binary::Powf => a.powf(b),
            Binary::Atan2 => a.atan2(b),
            Binary::Min => a.min(b),
            Binary::Max => a.max(b),
            Binary::Hypot => a.hypot(b),
        }
    }

    /// `∂f/∂a`, by forward mode on the scalar rules.
    #[inline]
    pub fn d_first<R: Real>(self, a: R, b: R) -> R {
        self.apply(Dual::variable(a), Dual::constant(b)).eps
    }

    /// `∂f/∂b`, by forward mode on the scalar rules.
    #[inline]
    pub fn d_second<R: Real>(self, a: R, b: R) -> R {
        self.apply(Dual::constant(a), Dual::variable(b)).eps
    }
}
