//! # rewind-optim: optimizers on gradients and Hessian-vector products
//!
//! Methods need only a [`Problem`] — a value, a gradient, and for the
//! Newton methods a Hessian-vector product — so they work equally on a
//! function written over the scalar tape and on a simulation differentiated
//! through the checkpoint driver.
//!
//! * the gradient-descent family as update rules ([`Sgd`], [`Momentum`],
//!   [`Nesterov`], [`Adagrad`], [`RmsProp`], [`Adam`]) on full gradients
//!   ([`FirstOrder`]) or minibatches ([`minimize_stochastic`]), and
//!   [`GradientDescent`] with an Armijo line search;
//! * [`Lbfgs`] with a strong-Wolfe line search;
//! * [`NewtonCg`] (line search) and [`TrustRegionCg`] (Steihaug–Toint):
//!   one HVP per CG iteration, negative curvature handled;
//! * [`IncrementalGaussNewton`]: Gauss–Newton steps from CG to a fixed
//!   tolerance with step halving, the inner loops optionally on a coarse
//!   system — the outer loop of incremental 4D-Var;
//! * [`lanczos::extreme_eigenvalues`] of the Hessian;
//! * [`randomized::eigenpairs`]: the dominant eigenpairs of a symmetric
//!   operator from blocks of products (double-pass randomized method);
//! * [`ArgminProblem`]: any problem handed to the argmin crate.
//!
//! Solvers are explicit state machines ([`Solver::next_iter`],
//! [`solver::terminate`]); [`minimize`] runs one and reports iterations,
//! evaluation counts and the history. An objective that fails or returns a
//! non-finite value ends the run with an [`OptimError`].

#![forbid(unsafe_code)]

pub mod argmin_adapter;
pub mod cg;
mod error;
pub mod first_order;
pub mod incremental;
pub mod lanczos;
pub mod linesearch;
pub mod newton;
mod problem;
pub mod quasi_newton;
pub mod randomized;
pub mod solver;
pub mod vector;

pub use argmin_adapter::ArgminProblem;
pub use error::OptimError;
pub use first_order::{
    Adagrad, Adam, FirstOrder, GradientDescent, Momentum, Nesterov, RmsProp, Sgd, Update, minimize_stochastic,
};
pub use incremental::IncrementalGaussNewton;
pub use newton::{NewtonCg, TrustRegionCg};
pub use problem::{Counted, Counts, Hessian, Problem, Stochastic};
pub use quasi_newton::Lbfgs;
pub use solver::{Options, Record, Report, Solver, State, Termination, minimize};
