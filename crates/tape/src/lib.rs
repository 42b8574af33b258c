//! # rewind-tape: scalar automatic differentiation
//!
//! One trait, [`Real`], and three kinds of number that implement it:
//!
//! * `f64`, the primal;
//! * [`Dual<T>`], forward mode (a value and a tangent);
//! * [`Var<'id, T>`](Var), reverse mode: a value and its place on a
//!   [`Tape`] whose statements live in a bump arena.
//!
//! The component type of `Dual` and `Var` is itself any `Real`, so modes
//! nest: `Dual<Dual<f64>>` gives second derivatives, a tape over
//! `Dual<f64>` gives Hessian-vector products (forward-over-reverse), a tape
//! over `Var<f64>` differentiates a gradient again. On top sit the
//! functional transformations — [`derivative`], [`grad`],
//! [`value_and_grad`], [`jvp`], [`vjp`], [`jacobian`], [`hessian`], [`hvp`] —
//! user-defined primitives ([`CustomOp`]) and finite-difference checks
//! ([`fd`]).
//!
//! ```
//! use rewind_tape::{Real, derivative, grad};
//!
//! // Written once, generically; ordinary control flow is fine.
//! fn sine<T: Real>(x: T) -> T {
//!     let (mut term, mut sum, mut k) = (x, x, 1.0);
//!     while term.abs() > 1e-17 {
//!         term = -term * x * x / ((2.0 * k) * (2.0 * k + 1.0));
//!         sum += term;
//!         k += 1.0;
//!     }
//!     sum
//! }
//! let pi = std::f64::consts::PI;
//! assert!((derivative(sine, pi) + 1.0).abs() < 1e-12);
//! assert!((grad(|x| sine(x[0]), &[pi]).unwrap()[0] + 1.0).abs() < 1e-12);
//! ```
//!
//! Misuse of the tape does not compile (see the [`tape`] module). The crate
//! has one `unsafe` construct, the interior mutability of the recorder,
//! justified and measured in [`tape`].

mod api;
mod custom;
mod dual;
pub mod elementary;
mod error;
pub mod fd;
mod ops;
mod real;
mod rules;
pub mod tape;

pub use api::{
    JacobianMode, ScalarFn, VectorFn, derivative, grad, grad_and_hvp, hessian, hvp, jacobian, jacobian_fwd,
    jacobian_rev, jvp, value_and_derivative, value_and_grad, vjp,
};
pub use custom::{CustomOp, custom, custom1};
pub use dual::Dual;
pub use elementary::{Binary, Unary};
pub use error::TapeError;
pub use fd::{check_custom_op, check_gradient};
pub use real::Real;
pub use tape::{Gradient, Recorder, Tape, TapeStats, Var};
