//! The functional API, in the spirit of JAX and autograd.
//!
//! Write the function once, generically over [`Real`], with ordinary
//! control flow, and pass it as a closure; the closure's argument type is
//! inferred from the transformation:
//!
//! ```
//! use rewind_tape::{Real, grad, hessian, hvp};
//!
//! fn f<T: Real>(x: &[T]) -> T {
//!     x[0] * x[0] * x[1] + x[1] + 2.0 // f(x, y) = x²y + y + 2
//! }
//! assert_eq!(grad(|x| f(x), &[3.0, 4.0]).unwrap(), vec![24.0, 10.0]);
//! assert_eq!(hvp(|x| f(x), &[3.0, 4.0], &[1.0, 0.0]).unwrap(), vec![8.0, 6.0]);
//! assert_eq!(hessian(|x| f(x), &[3.0, 4.0]).unwrap(), vec![vec![8.0, 6.0], vec![6.0, 0.0]]);
//! ```
//!
//! Transformations nest. A value of the outer level enters an inner
//! transformation as a constant of the inner level ([`Var::constant`],
//! [`Dual::constant`]), which is what makes the result correct (here
//! `d/dx [x · d/dy (x·y)] = 2x`):
//!
//! ```
//! use rewind_tape::{Var, grad};
//! let g = grad(|x: &[Var<'_, f64>]| {
//!     let inner = grad(|y| Var::constant(x[0]) * y[0], &[Var::constant(1.0)]).unwrap();
//!     x[0] * inner[0]
//! }, &[3.0]).unwrap();
//! assert_eq!(g, vec![6.0]);
//! ```
//!
//! Mixing the levels without lifting does not compile, so the classic
//! "perturbation confusion" cannot happen silently:
//!
//! ```compile_fail
//! // (rustc reports this as "lifetime may not live long enough", an error
//! // without a code, so it cannot be pinned to one)
//! use rewind_tape::grad;
//! let g = grad(|x| {
//!     let inner = grad(|y| x[0] * y[0], &[1.0]).unwrap(); // error: outer variable on the inner tape
//!     x[0] * inner[0]
//! }, &[3.0]);
//! ```
//!
//! A transformation that must evaluate the function at two different scalar
//! types ([`jacobian`], which picks forward or reverse mode by shape) takes a
//! [`VectorFn`] instead of a closure; [`vector_fn!`](crate::vector_fn) makes
//! one from a generic function.

use crate::{Dual, Real, Tape, TapeError, Var};

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), TapeError> {
    if expected == got { Ok(()) } else { Err(TapeError::LengthMismatch { what, expected, got }) }
}

/// `f'(x)` of a scalar function, by forward mode. Nest it for higher
/// derivatives: `derivative(|x| derivative(|y| y.tanh(), x), 1.0)` is the
/// second derivative of tanh at 1.
pub fn derivative<T: Real, F: FnOnce(Dual<T>) -> Dual<T>>(f: F, x: T) -> T {
    f(Dual::variable(x)).eps
}

/// `(f(x), f'(x))` of a scalar function, by forward mode.
pub fn value_and_derivative<T: Real, F: FnOnce(Dual<T>) -> Dual<T>>(f: F, x: T) -> (T, T) {
    let y = f(Dual::variable(x));
    (y.re, y.eps)
}

/// `(f(x), ∇f(x))` by reverse mode (one recording, one sweep).
pub fn value_and_grad<T, F>(f: F, x: &[T]) -> Result<(T, Vec<T>), TapeError>
where
    T: Real,
    F: for<'id> FnOnce(&[Var<'id, T>]) -> Var<'id, T>,
{
    Tape::new().value_and_grad(f, x)
}

/// `∇f(x)` by reverse mode. To reuse a tape's memory across calls, use
/// [`Tape::grad`].
pub fn grad<T, F>(f: F, x: &[T]) -> Result<Vec<T>, TapeError>
where
    T: Real,
    F: for<'id> FnOnce(&[Var<'id, T>]) -> Var<'id, T>,
{
    Tape::new().grad(f, x)
}

/// `(f(x), J(x) v)`: the Jacobian-vector product, by forward mode.
pub fn jvp<T, F>(f: F, x: &[T], v: &[T]) -> Result<(Vec<T>, Vec<T>), TapeError>
where
    T: Real,
    F: FnOnce(&[Dual<T>]) -> Vec<Dual<T>>,
{
    check_len("jvp tangent v", x.len(), v.len())?;
    let xd: Vec<Dual<T>> = x.iter().zip(v).map(|(&a, &b)| Dual::new(a, b)).collect();
    let y = f(&xd);
    Ok((y.iter().map(|d| d.re).collect(), y.iter().map(|d| d.eps).collect()))
}

/// `(f(x), J(x)ᵀ w)`: the vector-Jacobian product, by reverse mode.
pub fn vjp<T, F>(f: F, x: &[T], w: &[T]) -> Result<(Vec<T>, Vec<T>), TapeError>
where
    T: Real,
    F: for<'id> FnOnce(&[Var<'id, T>]) -> Vec<Var<'id, T>>,
{
    Tape::new().record(|r| {
        let xs = r.vars(x);
        let ys = f(xs);
        check_len("vjp cotangent w", ys.len(), w.len())?;
        let seeds: Vec<_> = ys.iter().copied().zip(w.iter().copied()).collect();
        let g = r.backward(&seeds)?;
        Ok((ys.iter().map(|y| y.value_inner()).collect(), g.wrt_all(xs)))
    })
}

/// `∇²f(x) v`: a Hessian-vector product by forward-over-reverse (a tape
/// over `Dual<T>` seeded with `v`), at about the cost of two gradients.
pub fn hvp<T, F>(f: F, x: &[T], v: &[T]) -> Result<Vec<T>, TapeError>
where
    T: Real,
    F: for<'id> FnOnce(&[Var<'id, Dual<T>>]) -> Var<'id, Dual<T>>,
{
    grad_and_hvp(f, x, v).map(|(_, _, hv)| hv)
}

/// `(f(x), ∇f(x), ∇²f(x) v)` from one forward-over-reverse pass.
pub fn grad_and_hvp<T, F>(f: F, x: &[T], v: &[T]) -> Result<(T, Vec<T>, Vec<T>), TapeError>
where
    T: Real,
    F: for<'id> FnOnce(&[Var<'id, Dual<T>>]) -> Var<'id, Dual<T>>,
{
    Tape::new().grad_and_hvp(f, x, v)
}

impl<T: Real> Tape<Dual<T>> {
    /// `(f(x), ∇f(x), ∇²f(x) v)` reusing this tape's memory.
    pub fn grad_and_hvp<F>(&mut self, f: F, x: &[T], v: &[T]) -> Result<(T, Vec<T>, Vec<T>), TapeError>
    where
        F: for<'id> FnOnce(&[Var<'id, Dual<T>>]) -> Var<'id, Dual<T>>,
    {
        check_len("hvp direction v", x.len(), v.len())?;
        let xd: Vec<Dual<T>> = x.iter().zip(v).map(|(&a, &b)| Dual::new(a, b)).collect();
        let (y, g) = self.value_and_grad(f, &xd)?;
        Ok((y.re, g.iter().map(|d| d.re).collect(), g.iter().map(|d| d.eps).collect()))
    }
}

/// The Hessian `∇²f(x)` (row `i` is `∂(∇f)/∂xᵢ`), by `n` forward-over-reverse
/// passes on one reused tape. It is not symmetrised: its symmetry is a check
/// of the derivative rules.
pub fn hessian<T, F>(f: F, x: &[T]) -> Result<Vec<Vec<T>>, TapeError>
where
    T: Real,
    F: for<'id> Fn(&[Var<'id, Dual<T>>]) -> Var<'id, Dual<T>>,
{
    let mut tape = Tape::<Dual<T>>::new();
    let mut e = vec![T::zero(); x.len()];
    let mut rows = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        e[i] = T::one();
        rows.push(tape.grad_and_hvp(&f, x, &e)?.2);
        e[i] = T::zero();
    }
    Ok(rows)
}

/// The Jacobian (row `i` is `∇fᵢ`) by forward mode: one pass per input.
pub fn jacobian_fwd<T, F>(f: F, x: &[T]) -> Result<Vec<Vec<T>>, TapeError>
where
    T: Real,
    F: Fn(&[Dual<T>]) -> Vec<Dual<T>>,
{
    let n = x.len();
    let mut xd: Vec<Dual<T>> = x.iter().map(|&a| Dual::constant(a)).collect();
    let mut rows: Vec<Vec<T>> = Vec::new();
    for j in 0..n {
        xd[j].eps = T::one();
        let y = f(&xd);
        xd[j].eps = T::zero();
        if j == 0 {
            rows = vec![vec![T::zero(); n]; y.len()];
        } else {
            check_len("jacobian outputs", rows.len(), y.len())?;
        }
        for (row, yi) in rows.iter_mut().zip(&y) {
            row[j] = yi.eps;
        }
    }
    Ok(rows)
}

/// The Jacobian (row `i` is `∇fᵢ`) by reverse mode: one recording, one
/// sweep per output.
pub fn jacobian_rev<T, F>(f: F, x: &[T]) -> Result<Vec<Vec<T>>, TapeError>
where
    T: Real,
    F: for<'id> FnOnce(&[Var<'id, T>]) -> Vec<Var<'id, T>>,
{
    Tape::new().record(|r| {
        let xs = r.vars(x);
        let ys = f(xs);
        ys.iter().map(|&y| Ok(r.gradient(y)?.wrt_all(xs))).collect()
    })
}

/// Which mode [`jacobian`] uses for `n` inputs and `m` outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JacobianMode {
    /// `n` forward passes (chosen when `n ≤ m`).
    Forward,
    /// One recording and `m` reverse sweeps (chosen when `m < n`).
    Reverse,
}

impl JacobianMode {
    /// The cheaper mode for `n` inputs and `m` outputs.
    pub fn for_shape(n: usize, m: usize) -> Self {
        if n <= m { JacobianMode::Forward } else { JacobianMode::Reverse }
    }
}

/// A vector function written once, generically over [`Real`], so that it
/// can be evaluated at several scalar types (see [`vector_fn!`](crate::vector_fn)).
pub trait VectorFn {
    /// `f(x)`.
    fn eval<T: Real>(&self, x: &[T]) -> Vec<T>;
}

/// A scalar function written once, generically over [`Real`] (see
/// [`scalar_fn!`](crate::scalar_fn)).
pub trait ScalarFn {
    /// `f(x)`.
    fn eval<T: Real>(&self, x: &[T]) -> T;
}

/// The Jacobian of `f` at `x`, by forward mode when it has no more inputs
/// than outputs and by reverse mode otherwise (see [`JacobianMode`]).
/// Returns the rows and the mode used.
pub fn jacobian<T: Real, F: VectorFn + ?Sized>(f: &F, x: &[T]) -> Result<(Vec<Vec<T>>, JacobianMode), TapeError> {
    let m = f.eval(x).len();
    let mode = JacobianMode::for_shape(x.len(), m);
    let rows = match mode {
        JacobianMode::Forward => jacobian_fwd(|x| f.eval(x), x)?,
        JacobianMode::Reverse => jacobian_rev(|x| f.eval(x), x)?,
    };
    Ok((rows, mode))
}

/// Wraps a generic function `fn f<T: Real>(x: &[T]) -> Vec<T>` as a
/// [`VectorFn`] value.
///
/// ```
/// use rewind_tape::{Real, jacobian, vector_fn, JacobianMode};
/// fn polar<T: Real>(x: &[T]) -> Vec<T> { vec![x[0].hypot(x[1]), x[1].atan2(x[0])] }
/// let (j, mode) = jacobian(&vector_fn!(polar), &[3.0, 4.0]).unwrap();
/// assert_eq!(mode, JacobianMode::Forward);
/// assert!((j[0][0] - 0.6).abs() < 1e-15 && (j[1][0] + 0.16).abs() < 1e-15);
/// ```
#[macro_export]
macro_rules! vector_fn {
    ($f:path) => {{
        struct __VectorFn;
        impl $crate::VectorFn for __VectorFn {
            fn eval<T: $crate::Real>(&self, x: &[T]) -> ::std::vec::Vec<T> {
                $f(x)
            }
        }
        __VectorFn
    }};
}

/// Wraps a generic function `fn f<T: Real>(x: &[T]) -> T` as a
/// [`ScalarFn`] value.
#[macro_export]
macro_rules! scalar_fn {
    ($f:path) => {{
        struct __ScalarFn;
        impl $crate::ScalarFn for __ScalarFn {
            fn eval<T: $crate::Real>(&self, x: &[T]) -> T {
                $f(x)
            }
        }
        __ScalarFn
    }};
}
