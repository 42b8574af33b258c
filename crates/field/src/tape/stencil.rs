//! User operations: a local kernel written once, differentiated for free.
//!
//! A [`Stencil`] computes one output value per grid point from the values
//! of its input fields at fixed offsets around the point — a reaction
//! term, a limiter, a flux divergence, a staggered difference. The user
//! writes the value, [`Stencil::eval`], once, generically over [`Real`];
//! [`Ctx::apply`] records it on the field tape like any built-in
//! operation, and
//!
//! - its **JVP** is the same `eval` run on dual numbers (a recording over
//!   `Dual<f64>` propagates tangents through it);
//! - its **VJP** is a gather: the adjoint of input `k` at point `q` is
//!   `Σₘ ō[q − oₘ] ∂f/∂(input k at offset m)` evaluated at `q − oₘ`, with
//!   the partial derivatives by forward mode over the kernel's local
//!   inputs ([`auto_partial`]) unless the kernel supplies its own
//!   ([`Stencil::partial`]) — a closed form is much faster;
//! - **HVPs** follow: the sweep of a dual recording differentiates the
//!   partials once more, by the same forward mode one level up.
//!
//! A hand-written partial is checked against the automatic one, and the
//! assembled operation by the dot-product test `⟨J v, w⟩ = ⟨v, Jᵀ w⟩`,
//! with [`check_stencil`].
//!
//! Both run as compiled kernels (the offsets are constants of the type,
//! so the loops over them unroll and `eval` is inlined), as fast as a
//! hand-written loop; the built-in Laplacian and differences are stencils
//! on the same path. The output is a lazy field: it is computed tile by
//! tile inside the fused loop of the arithmetic that consumes it. The
//! gather writes every adjoint point once, so it runs by rows on threads
//! and gives the same bits for any thread count.
//!
//! ```
//! use rewind_field::{FieldTape, Grid, Par, Real, stencil::Stencil};
//!
//! /// u v² (the Gray–Scott reaction), one pass instead of two products.
//! #[derive(Clone, Copy)]
//! struct Reaction;
//! impl Stencil for Reaction {
//!     const INPUTS: usize = 2;
//!     const OFFSETS: &'static [[isize; 3]] = &[[0, 0, 0]];
//!     fn eval<R: Real>(&self, _: &Grid, x: &[R]) -> R {
//!         x[0] * x[1] * x[1]
//!     }
//! }
//!
//! let grid = Grid::line(8, 1.0).unwrap();
//! let mut tape = FieldTape::<f64>::new(grid);
//! let (du, dv) = tape.record(Par::Seq, |c| {
//!     let (u, v) = (c.input(&[2.0; 8]).unwrap(), c.input(&[3.0; 8]).unwrap());
//!     let r = c.apply(Reaction, &[u, v]).unwrap().sum();
//!     let adj = c.gradient(r).unwrap();
//!     (adj.field(u)[0], adj.field(v)[0])
//! });
//! assert_eq!((du, dv), (9.0, 12.0)); // v², 2uv
//! ```

use std::ops::Range;

use rewind_tape::{Dual, Real};

use super::compiled;
use super::op::Op;
use super::op::{Rows, Rule};
use super::{Ctx, Field};
use crate::components::Components;
use crate::par::Par;
use crate::{Face, Faces, FieldError, FieldTape, Grid};

/// Most local inputs (input fields × offsets) a stencil may read per point.
pub const MAX_LOCAL: usize = 32;

/// A local operation: `out[p] = f(inputs at p + OFFSETS)`.
///
/// `local[k * OFFSETS.len() + m]` is input field `k` at offset
/// `OFFSETS[m] = [di, dj, dk]` from the point, along x, y and z. A
/// pointwise kernel has `OFFSETS = &[[0, 0, 0]]`; a 2D stencil has `dk =
/// 0` (on a 3D grid it acts on every z-slice alike), a 1D one `dj = dk =
/// 0`. The type is plain data (`Copy`, `'static`): coefficients go in its
/// fields, fields go in as inputs.
pub trait Stencil: Copy + Send + Sync + 'static {
    /// Number of input fields.
    const INPUTS: usize;
    /// The offsets `[di, dj, dk]` read from every input.
    const OFFSETS: &'static [[isize; 3]];
    /// Whether the stencil is linear with fixed coefficients: its
    /// [`partial`](Stencil::partial)s do not read `local` (a difference, an
    /// average, a Laplacian; not a product of inputs). The engine then
    /// computes its value as `f(0) + Σ_q c_q local_q` with `c_q` its
    /// partials (in the order of the local inputs: the bits of that sum,
    /// not of `eval`'s grouping), a loop the compiler vectorises, and its
    /// VJP reads only the output's adjoint — as fast as a hand-written
    /// transposed kernel. [`check_stencil`] checks the claim.
    const LINEAR: bool = false;

    /// What is read beyond each face of the grid ([`Faces`]): periodic
    /// unless the stencil says otherwise (or is wrapped in
    /// [`WithFaces`](crate::WithFaces)).
    #[inline]
    fn faces(&self) -> Faces {
        Faces::PERIODIC
    }

    /// The output at one point from its local inputs: a function of them
    /// alone (the engine may evaluate a point more than once, and relies on
    /// getting the same bits each time).
    fn eval<R: Real>(&self, grid: &Grid, local: &[R]) -> R;

    /// `∂f/∂local[i]`. The default is forward mode over `eval`
    /// ([`auto_partial`]); a closed form is faster — check it with
    /// [`check_stencil`].
    #[inline]
    fn partial<R: Real>(&self, grid: &Grid, local: &[R], i: usize) -> R {
        auto_partial(self, grid, local, i)
    }
}

/// `∂f/∂local[i]` by forward mode: `eval` on dual numbers with input `i`
/// seeded.
#[inline]
pub fn auto_partial<K: Stencil, R: Real>(kernel: &K, grid: &Grid, local: &[R], i: usize) -> R {
    let mut d = [Dual::constant(R::zero()); MAX_LOCAL];
    for (d, &x) in d.iter_mut().zip(local) {
        *d = Dual::constant(x);
    }
    d[i] = Dual::variable(local[i]);
    kernel.eval(grid, &d[..local.len()]).eps
}

impl<K: Stencil, T: Components> Rule<T> for K {
    fn eval_rows(&self, g: &Grid, xs: &[Rows<'_, T>], rows: Range<isize>, out: &mut [T]) {
        compiled::eval_rows(self, g, xs, rows, out);
    }
    fn vjp_rows(&self, g: &Grid, xs: &[Rows<'_, T>], obar: Rows<'_, T>, k: usize, rows: Range<isize>, out: &mut [T]) {
        compiled::vjp_rows(self, g, xs, obar, k, rows, out);
    }
    fn weight(&self) -> usize {
        K::INPUTS * K::OFFSETS.len()
    }
    fn reach(&self) -> (isize, isize) {
        let di = K::OFFSETS.iter().map(|o| o[0]);
        (di.clone().min().unwrap_or(0), di.max().unwrap_or(0))
    }
    fn x_faces(&self) -> [crate::Face; 2] {
        self.faces().axis(0)
    }
}

/// Checks that the kernel fits the grid and the inputs.
fn check<K: Stencil>(g: &Grid, inputs: usize) -> Result<(), FieldError> {
    if inputs != K::INPUTS {
        return Err(FieldError::Length { what: "stencil inputs", expected: K::INPUTS, got: inputs });
    }
    let local = K::INPUTS * K::OFFSETS.len();
    if local == 0 || local > MAX_LOCAL {
        return Err(FieldError::StencilSize { local, max: MAX_LOCAL });
    }
    let beyond = |o: &&[isize; 3]| o.iter().zip([g.nx, g.ny, g.nz]).any(|(d, n)| d.unsigned_abs() > n);
    if let Some(&[di, dj, dk]) = K::OFFSETS.iter().find(beyond) {
        return Err(FieldError::StencilReach { di, dj, dk, nx: g.nx, ny: g.ny, nz: g.nz });
    }
    Ok(())
}

/// Checks that a stencil reaching past a mirror face finds its image
/// inside the grid (`|d| < n` along that axis).
fn check_faces<K: Stencil>(kernel: &K, g: &Grid) -> Result<(), FieldError> {
    let f = kernel.faces();
    let n = [g.nx, g.ny, g.nz];
    let beyond = |o: &&[isize; 3]| (0..3).any(|a| f.axis(a).contains(&Face::Mirror) && o[a].unsigned_abs() >= n[a]);
    if let Some(&[di, dj, dk]) = K::OFFSETS.iter().find(beyond) {
        return Err(FieldError::StencilReach { di, dj, dk, nx: g.nx, ny: g.ny, nz: g.nz });
    }
    Ok(())
}

impl<'id, T: Components> Ctx<'id, T> {
    /// Records the user operation `kernel` on `inputs` (one field per
    /// [`Stencil::INPUTS`]): its value by `eval`, its VJP by the gather of
    /// its partial derivatives (see the [module](self) docs). It is lazy,
    /// fused with the arithmetic around it: an input that is itself a lazy
    /// expression is computed in the same loop, on the tile and the rows
    /// around it that the offsets reach.
    pub fn apply<K: Stencil>(&'id self, kernel: K, inputs: &[Field<'id, T>]) -> Result<Field<'id, T>, FieldError> {
        check::<K>(&self.grid, inputs.len())?;
        check_faces(&kernel, &self.grid)?;
        Ok(self.apply_checked(kernel, inputs))
    }

    /// [`Ctx::apply`] for a kernel already known to fit.
    pub(crate) fn apply_checked<K: Stencil>(&'id self, kernel: K, inputs: &[Field<'id, T>]) -> Field<'id, T> {
        let rule: &'id dyn Rule<T> = self.arena.alloc(kernel);
        let ids: &'id [u32] = self.arena.alloc_slice_fill_iter(inputs.iter().map(|f| f.id));
        let out = self.lazy(Op::Stencil(rule, ids));
        if self.is_recording() && rule.weight() >= KEEP {
            // computed with the next fused loop and kept: the sweep reads it
            // instead of computing it again in each of its loops that need it
            self.defer(out.id);
        }
        out
    }
}

/// Local inputs from which a stencil's values are kept when a step is
/// recorded (lazy, a recorded stencil is computed again in every fused loop
/// of the sweep that reads it — the acoustic model's 25-point Laplacian
/// twice per step, in the loops of its leapfrog update's VJP). Below,
/// computing a stencil again costs less than storing it (shallow water's
/// two-point C-grid operators: dozens per step).
const KEEP: usize = 9;

/// What [`check_stencil`] found: relative errors, ≈ 1e-15 for a correct
/// kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StencilCheck {
    /// Largest difference between [`Stencil::partial`] and [`auto_partial`]
    /// over the grid's points and the local inputs, relative to
    /// `max(1, |auto|)` (and for a [`Stencil::LINEAR`] one, between its
    /// partials at the points and at zero inputs, and between `eval` and
    /// the linear form the engine computes in its place, relative to the
    /// size of that form's terms).
    pub partial: f64,
    /// `|⟨J v, w⟩ − ⟨v, Jᵀ w⟩| / max(|⟨J v, w⟩|, |⟨v, Jᵀ w⟩|)` for seeded
    /// random `v` (one per input) and `w`: `J v` by the dual recording,
    /// `Jᵀ w` by the tape's sweep.
    pub dot_product: f64,
}

impl StencilCheck {
    /// Both errors below `tol`.
    pub fn passes(&self, tol: f64) -> bool {
        self.partial <= tol && self.dot_product <= tol
    }
}

/// Checks a kernel at the point `inputs` (one field per input): its
/// partials against forward mode and its recorded VJP against its JVP
/// (the dot-product test), with directions from a generator seeded by
/// `seed`.
pub fn check_stencil<K: Stencil>(
    kernel: K,
    grid: Grid,
    inputs: &[&[f64]],
    seed: u64,
) -> Result<StencilCheck, FieldError> {
    check::<K>(&grid, inputs.len())?;
    check_faces(&kernel, &grid)?;
    for x in inputs {
        grid.check("stencil input", x.len())?;
    }
    let len = K::INPUTS * K::OFFSETS.len();
    let mut partial: f64 = 0.0;
    let mut local = [0.0; MAX_LOCAL];
    let zeros = [0.0; MAX_LOCAL];
    let rows: Vec<Rows<'_, f64>> = inputs.iter().map(|x| Rows::full(x)).collect();
    let (plane, (_, n)) = (grid.plane_len(), grid.lines());
    let e = compiled::offsets::<K>(&grid);
    let f = compiled::engine_faces(&grid, kernel.faces());
    let lin = compiled::Linear::of(&kernel, &grid);
    for p in 0..grid.len() {
        let (i, l, j) = (p / plane, p % plane / n, p % n);
        compiled::gather(&grid, &f, &e[..K::OFFSETS.len()], &rows, i as isize, i, l, j, [0; 3], &mut local[..len]);
        for i in 0..len {
            let (mine, auto) =
                (kernel.partial(&grid, &local[..len], i), auto_partial(&kernel, &grid, &local[..len], i));
            partial = partial.max((mine - auto).abs() / auto.abs().max(1.0));
            if K::LINEAR && i == 0 {
                // the engine computes a linear stencil as f(0) + Σ c_q l_q
                // (relative to the size of its terms: the two sums differ
                // by round-off in the cancellation)
                let (value, linear) = (kernel.eval(&grid, &local[..len]), lin.at(&local[..len]));
                partial = partial.max((value - linear).abs() / lin.magnitude(&local[..len]).max(1.0));
            }
            if K::LINEAR {
                // a linear stencil's partials are the same at any point
                let fixed = kernel.partial(&grid, &zeros[..len], i);
                partial = partial.max((mine - fixed).abs() / fixed.abs().max(1.0));
            }
        }
    }
    let mut rng = seed;
    let mut uniform = move || {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let v: Vec<Vec<f64>> = inputs.iter().map(|_| (0..grid.len()).map(|_| uniform()).collect()).collect();
    let w: Vec<f64> = (0..grid.len()).map(|_| uniform()).collect();
    // ⟨J v, w⟩ from the tangents of a dual evaluation
    let jv_w: f64 = FieldTape::<Dual<f64>>::new(grid).eval(Par::Seq, |c| {
        let fields = inputs
            .iter()
            .zip(&v)
            .map(|(x, v)| c.input(&x.iter().zip(v).map(|(&a, &b)| Dual::new(a, b)).collect::<Vec<_>>()))
            .collect::<Result<Vec<_>, _>>()?;
        let out = c.apply(kernel, &fields)?;
        Ok::<_, FieldError>(out.value().iter().zip(&w).map(|(o, &w)| o.eps * w).sum::<f64>())
    })?;
    // ⟨v, Jᵀ w⟩ from the sweep
    let v_jtw: f64 = FieldTape::<f64>::new(grid).record(Par::Seq, |c| {
        let fields = inputs.iter().map(|x| c.input(x)).collect::<Result<Vec<_>, _>>()?;
        let out = c.apply(kernel, &fields)?;
        let adj = c.backward(&[(out, &w)], &[])?;
        Ok::<_, FieldError>(
            fields.iter().zip(&v).map(|(&f, v)| adj.field(f).iter().zip(v).map(|(a, b)| a * b).sum::<f64>()).sum(),
        )
    })?;
    let scale = jv_w.abs().max(v_jtw.abs()).max(f64::MIN_POSITIVE);
    Ok(StencilCheck { partial, dot_product: (jv_w - v_jtw).abs() / scale })
}
