//! What an optimizer needs: a value, a gradient and (for Newton methods) a
//! Hessian-vector product — nothing about how they are computed.

use crate::OptimError;

/// A smooth objective `f: ℝⁿ → ℝ`: a value and a gradient — what every
/// first-order method and L-BFGS need.
pub trait Problem {
    /// Dimension `n`.
    fn dim(&self) -> usize;
    /// `f(x)`.
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError>;
    /// `f(x)`, with `∇f(x)` written into `g`.
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError>;
}

/// A [`Problem`] with Hessian-vector products: what Newton-CG, the trust
/// region, Lanczos and the Gauss–Newton views need. A method that needs
/// them does not compile on a problem without them.
///
/// ```compile_fail
/// use rewind_optim::{NewtonCg, OptimError, Options, Problem, minimize};
/// struct GradientOnly;
/// impl Problem for GradientOnly {
///     fn dim(&self) -> usize { 1 }
///     fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> { Ok(x[0] * x[0]) }
///     fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
///         g[0] = 2.0 * x[0];
///         Ok(x[0] * x[0])
///     }
/// }
/// // Newton-CG needs `Hessian`: a compile error, not a run-time one
/// let _ = minimize(&mut NewtonCg::new(10), &mut GradientOnly, &[1.0], &Options::default());
/// ```
///
/// The same with the HVPs given compiles and runs:
///
/// ```
/// use rewind_optim::{Hessian, NewtonCg, OptimError, Options, Problem, minimize};
/// struct WithHvp;
/// impl Problem for WithHvp {
///     fn dim(&self) -> usize { 1 }
///     fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> { Ok(x[0] * x[0]) }
///     fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
///         g[0] = 2.0 * x[0];
///         Ok(x[0] * x[0])
///     }
/// }
/// impl Hessian for WithHvp {
///     fn hvp(&mut self, _x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
///         hv[0] = 2.0 * v[0];
///         Ok(())
///     }
/// }
/// let r = minimize(&mut NewtonCg::new(10), &mut WithHvp, &[1.0], &Options::default()).unwrap();
/// assert!(r.state.x[0].abs() < 1e-12);
/// ```
pub trait Hessian: Problem {
    /// `∇²f(x) v` into `hv` (the methods that need it call it once per CG
    /// iteration).
    fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError>;
}

/// A borrowed problem is a problem (a sum of borrowed members, say).
impl<P: Problem + ?Sized> Problem for &mut P {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        (**self).value(x)
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        (**self).value_grad(x, g)
    }
}

impl<P: Hessian + ?Sized> Hessian for &mut P {
    fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
        (**self).hvp(x, v, hv)
    }
}

/// An objective that is a sum over samples, for stochastic methods.
pub trait Stochastic: Problem {
    /// Number of samples.
    fn samples(&self) -> usize;
    /// The mean loss over `batch` (sample indices), gradient into `g`.
    fn batch_value_grad(&mut self, x: &[f64], batch: &[usize], g: &mut [f64]) -> Result<f64, OptimError>;
}

/// How many evaluations a run made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Counts {
    /// Values alone.
    pub f: u64,
    /// Values with gradients.
    pub grad: u64,
    /// Hessian-vector products.
    pub hvp: u64,
}

/// A [`Problem`] that counts its calls and refuses non-finite results.
#[derive(Debug)]
pub struct Counted<'a, P: ?Sized> {
    /// The wrapped problem.
    pub inner: &'a mut P,
    /// The counts so far.
    pub counts: Counts,
}

impl<'a, P: Problem + ?Sized> Counted<'a, P> {
    /// Wraps `inner`.
    pub fn new(inner: &'a mut P) -> Self {
        Counted { inner, counts: Counts::default() }
    }

    /// `f(x)`, checked.
    pub fn value(&mut self, x: &[f64]) -> Result<f64, OptimError> {
        self.counts.f += 1;
        let f = self.inner.value(x)?;
        if !f.is_finite() {
            return Err(OptimError::NonFinite { what: "objective value" });
        }
        Ok(f)
    }

    /// `f(x)` and `∇f(x)`, checked.
    pub fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, OptimError> {
        self.counts.grad += 1;
        let f = self.inner.value_grad(x, g)?;
        if !f.is_finite() {
            return Err(OptimError::NonFinite { what: "objective value" });
        }
        if g.iter().any(|v| !v.is_finite()) {
            return Err(OptimError::NonFinite { what: "gradient" });
        }
        Ok(f)
    }
}

impl<P: Hessian + ?Sized> Counted<'_, P> {
    /// `∇²f(x) v`, checked.
    pub fn hvp(&mut self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<(), OptimError> {
        self.counts.hvp += 1;
        self.inner.hvp(x, v, hv)?;
        if hv.iter().any(|v| !v.is_finite()) {
            return Err(OptimError::NonFinite { what: "Hessian-vector product" });
        }
        Ok(())
    }
}
