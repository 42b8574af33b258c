//! Derivative rules of the elementary functions, written once over [`Real`].
//!
//! Each rule returns the value and the partial derivative(s) at the point.
//! Forward mode multiplies them by tangents, reverse mode stores them on the
//! tape; because the rules are generic, running them on `Dual` or `Var`
//! scalars differentiates them again (second and higher derivatives).

use crate::Real;

/// Unary rules: `(f(x), f'(x))`.
macro_rules! unary_rules {
    ($($name:ident => |$x:ident| $body:block;)*) => {
        $(
            #[inline]
            pub(crate) fn $name<T: Real>($x: T) -> (T, T) $body
        )*
        /// Generates the unary methods of `Real` for a type that has a
        /// `fn unary(self, value: T, deriv: T) -> Self` and a field `$val`.
        macro_rules! impl_unary_methods {
            ($val:ident) => {
                $(
                    #[inline]
                    fn $name(self) -> Self {
                        let (v, d) = $crate::rules::$name(self.$val);
                        self.unary(v, d)
                    }
                )*
            };
        }
        pub(crate) use impl_unary_methods;
    };
}

unary_rules! {
    exp => |x| { let e = x.exp(); (e, e) };
    ln => |x| { (x.ln(), x.recip()) };
    log1p => |x| { (x.log1p(), (x + 1.0).recip()) };
    expm1 => |x| { (x.expm1(), x.exp()) };
    sqrt => |x| { let s = x.sqrt(); (s, (s * 2.0).recip()) };
    cbrt => |x| { let c = x.cbrt(); (c, (c * c * 3.0).recip()) };
    sin => |x| { (x.sin(), x.cos()) };
    cos => |x| { (x.cos(), -x.sin()) };
    tan => |x| { let t = x.tan(); (t, t * t + 1.0) };
    asin => |x| { (x.asin(), (T::one() - x * x).sqrt().recip()) };
    acos => |x| { (x.acos(), -(T::one() - x * x).sqrt().recip()) };
    atan => |x| { (x.atan(), (x * x + 1.0).recip()) };
    sinh => |x| { (x.sinh(), x.cosh()) };
    cosh => |x| { (x.cosh(), x.sinh()) };
    tanh => |x| { let t = x.tanh(); (t, T::one() - t * t) };
    abs => |x| { if x >= 0.0 { (x, T::one()) } else { (-x, -T::one()) } };
}

/// `xⁿ` and `n xⁿ⁻¹`.
#[inline]
pub(crate) fn powi<T: Real>(x: T, n: i32) -> (T, T) {
    match n {
        0 => (T::one(), T::zero()),
        1 => (x, T::one()),
        2 => (x * x, x * 2.0),
        // the value as `f64::powi` computes it (x^(n-1)·x can differ by an
        // ulp, and the primal of a dual or taped run must equal the f64 one)
        _ => (x.powi(n), x.powi(n - 1) * f64::from(n)),
    }
}

/// `aᵇ` with partials `b aᵇ⁻¹` and `aᵇ ln a` (taken as 0 at `a = 0`, the
/// limit from the right for `b > 0`).
#[inline]
pub(crate) fn powf<T: Real>(a: T, b: T) -> (T, T, T) {
    let v = a.powf(b);
    let da = b * a.powf(b - 1.0);
    let db = if a == 0.0 { T::zero() } else { v * a.ln() };
    (v, da, db)
}

/// `atan2(y, x)` with partials `x/(x²+y²)` and `−y/(x²+y²)`.
#[inline]
pub(crate) fn atan2<T: Real>(y: T, x: T) -> (T, T, T) {
    let r2 = x * x + y * y;
    (y.atan2(x), x / r2, -y / r2)
}

/// `hypot(a, b)` with partials `a/h`, `b/h` (0 at the origin).
#[inline]
pub(crate) fn hypot<T: Real>(a: T, b: T) -> (T, T, T) {
    let h = a.hypot(b);
    if h == 0.0 { (h, T::zero(), T::zero()) } else { (h, a / h, b / h) }
}
