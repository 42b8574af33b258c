//! # rewind-field: differentiable fields
//!
//! 1D and 2D fields generic over [`Real`](rewind_tape::Real) scalars, the
//! kernels a simulation step is made of (elementwise arithmetic and
//! functions, reductions, periodic shifts, stencils — the 5-point
//! Laplacian, central and C-grid differences, a user's own — the Arakawa
//! Jacobian, upwind and semi-Lagrangian advection, point sampling, masks,
//! an exact FFT Poisson solve, sparse SPD solves with faer for walls), and
//! an array-level tape ([`FieldTape`]) that records them with their VJP
//! rules in a bump arena, one step at a time. Arithmetic and stencils are
//! fused: an expression is computed in one loop over cache-sized tiles
//! when its value is needed (see [`FieldTape`] and [`unfused`]). A tape
//! can compute on a box of a field split among processes ([`Split`]).
//!
//! ```
//! use rewind_field::{FieldTape, Grid, Par};
//!
//! let grid = Grid::periodic_square(16, 2.0 * std::f64::consts::PI).unwrap();
//! let w0 = grid.sample(|x, y| x.cos() * y.cos());
//! let mut tape = FieldTape::<f64>::new(grid);
//! // J(w) = ½‖ψ(w)‖², ψ the streamfunction: dJ/dw = P ψ
//! let grad = tape.record(Par::Seq, |c| {
//!     let w = c.input(&w0).unwrap();
//!     let psi = w.poisson();
//!     let j = psi.sqnorm() * 0.5;
//!     c.gradient(j).unwrap().field(w).to_vec()
//! });
//! // ψ = w / 2 for this mode (λ ≈ −2), so the gradient ≈ w / 4
//! assert!((grad[0] - w0[0] / 4.0).abs() < 0.01);
//! ```

#![forbid(unsafe_code)]

mod components;
mod correlation;
mod error;
mod faces;
mod fft;
mod grid;
// The raw kernels and the row-parallel helpers are shared with rewind's
// own crates (rewind-sim copies states on the team, ns2d's CFL bound is a
// row reduction, the tests compare kernels): public, but not the model
// author's API — hidden from the documentation, which shows the root's
// re-exports, `stencil` and `stencils`.
#[doc(hidden)]
pub mod kernels;
#[doc(hidden)]
pub mod par;
mod points;
mod resample;
mod sparse;
mod split;
pub mod stencils;
mod tape;
mod wide;

pub use components::Components;
pub use correlation::{Correlation, CorrelationKind};
pub use error::FieldError;
pub use faces::{Face, Faces, WithFaces};
pub use fft::{PoissonFft, PoissonWork};
pub use grid::Grid;
pub use par::Par;
pub use points::Points;
pub use resample::Resample;
pub use rewind_tape::{Binary, Unary};
pub use rewind_tape::{Dual, Real};
pub use sparse::SparseSpd;
pub use split::{Split, split_by};
pub use tape::stencil::{self, Stencil};
pub use tape::{Adjoints, Ctx, Field, FieldTape, Obs, Passes, Scalar, XReach, unfused};
