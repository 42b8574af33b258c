//! What the tape holds: one [`Val`] per value (a field, a scalar, an
//! observation vector), made by an [`Op`] on earlier values; a recorded
//! stencil as the object-safe [`Rule`] over row windows ([`Rows`]). A
//! leaf: the sweep, the fusion engine and the stencils import it, it
//! imports none of them.

use std::ops::Range;

use rewind_tape::{Binary, Unary};

use crate::{Face, Grid};

/// What a value is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    /// One value per grid point.
    Field,
    /// One value.
    Scalar,
    /// A vector of observations (point samples).
    Obs,
}

/// How a value was made; operands are value ids.
///
/// Pointwise operations and stencils on fields are *lazy*: they are
/// evaluated, fused, only when their value is needed (see `fuse/`). The
/// operations marked "adjoint" are made by the reverse sweep, never
/// recorded by a step.
#[derive(Clone, Copy)]
pub(super) enum Op<'id, T> {
    /// An input, a constant, an adjoint contribution computed eagerly.
    Leaf,
    /// Fixed data ([`Ctx::data`](super::Ctx::data)): in memory, never
    /// differentiated (the sweep gives it no adjoint).
    Constant,
    Add(u32, u32),
    Sub(u32, u32),
    Mul(u32, u32),
    Div(u32, u32),
    Neg(u32),
    ScaleC(u32, f64),
    AddC(u32, f64),
    /// A field times a scalar.
    ScaleS(u32, u32),
    /// A field plus a scalar.
    AddS(u32, u32),
    Map(Unary, u32),
    Map2(Binary, u32, u32),
    /// `m ⊙ a` with a fixed mask.
    Mask(u32, &'id [f64]),
    /// `a − data` with fixed data (a field or observations).
    SubData(u32, &'id [f64]),
    /// A stencil of materialised fields.
    Stencil(&'id dyn Rule<T>, &'id [u32]),
    /// Adjoint: a scalar's value at every point.
    Splat(u32),
    /// Adjoint: `f'(a)`.
    MapD(Unary, u32),
    /// Adjoint: `∂f/∂a (a, b)` (`true`) or `∂f/∂b (a, b)`.
    Map2D(Binary, bool, u32, u32),
    /// Adjoint: the VJP gather of a stencil for its input `k`, from the
    /// output's materialised adjoint and the stencil's inputs.
    StencilT(&'id dyn Rule<T>, u32, u32, &'id [u32]),
    /// Periodic roll `out[i, j] = a[i − di, j − dj]` (eager).
    Shift(u32, isize, isize),
    Arakawa(u32, u32),
    Upwind(u32, u32, u32),
    SemiLag(u32, u32, u32, f64),
    Sample(u32, &'id [usize]),
    /// Values at positions between grid points: the field, the grid
    /// indices and weights of [`Points`](crate::Points).
    Interp(u32, &'id [usize], &'id [f64]),
    /// Amplitudes (observations) spread at positions: a field (eager).
    Inject(u32, &'id [usize], &'id [f64]),
    Poisson(u32),
    Sparse(u32),
    /// `A(s)⁻¹ b` for an affine operator: `(b, s)`.
    SparseAt(u32, u32),
    Sum(u32),
    Dot(u32, u32),
}

impl<T> Op<'_, T> {
    /// Whether the operation is evaluated lazily (pointwise or a stencil).
    pub(super) fn is_lazy(&self) -> bool {
        use Op::*;
        matches!(
            self,
            Add(..)
                | Sub(..)
                | Mul(..)
                | Div(..)
                | Neg(..)
                | ScaleC(..)
                | AddC(..)
                | ScaleS(..)
                | AddS(..)
                | Map(..)
                | Map2(..)
                | Mask(..)
                | SubData(..)
                | Stencil(..)
                | Splat(..)
                | Inject(..)
                | MapD(..)
                | Map2D(..)
                | StencilT(..)
        )
    }

    /// Calls `f` with every field operand of a lazy operation (those that
    /// may themselves be lazy; scalars are always computed).
    pub(super) fn each_field_operand(&self, mut f: impl FnMut(u32)) {
        use Op::*;
        match *self {
            Add(a, b) | Sub(a, b) | Mul(a, b) | Div(a, b) | Map2(_, a, b) | Map2D(_, _, a, b) => {
                f(a);
                f(b);
            }
            Neg(a)
            | ScaleC(a, _)
            | AddC(a, _)
            | ScaleS(a, _)
            | AddS(a, _)
            | Map(_, a)
            | MapD(_, a)
            | Mask(a, _)
            | SubData(a, _) => f(a),
            Stencil(_, ids) => ids.iter().for_each(|&a| f(a)),
            StencilT(_, _, obar, ids) => {
                f(obar);
                ids.iter().for_each(|&a| f(a));
            }
            _ => {}
        }
    }
}

/// One value of a recording.
#[derive(Clone, Copy)]
pub(super) struct Val<'id, T> {
    pub(super) kind: Kind,
    pub(super) op: Op<'id, T>,
    /// The values, once computed: always, but for a lazy field not yet
    /// materialised.
    pub(super) buf: Option<&'id [T]>,
    /// For a lazy field: a bound on the lazy operations its evaluation
    /// runs (itself included).
    pub(super) size: u32,
}

/// The rows of an input: a whole field (`first: None`; rows wrap), or a
/// window holding the unwrapped rows `first, first + 1, …` (each the
/// field's values at the wrapped row).
#[derive(Clone, Copy, Debug)]
pub(super) struct Rows<'a, T> {
    pub(super) data: &'a [T],
    pub(super) first: Option<isize>,
}

impl<'a, T> Rows<'a, T> {
    /// A whole field.
    pub(super) fn full(data: &'a [T]) -> Self {
        Rows { data, first: None }
    }
    /// Where row `r` (unwrapped; its wrapped index `target`) starts, rows
    /// (x-planes) of `plane` values.
    #[inline(always)]
    pub(super) fn start(&self, plane: usize, r: isize, target: usize) -> usize {
        match self.first {
            None => target * plane,
            Some(f) => (r - f) as usize * plane,
        }
    }
}

/// A recorded stencil for one scalar type (the object-safe face of
/// [`Stencil`](super::stencil::Stencil)): its values and the VJP's gather on a range of rows, by the
/// compiled kernels of `compiled.rs`.
pub(super) trait Rule<T>: Sync {
    /// `out` = the values on the unwrapped rows `rows` (x-planes of
    /// `g.plane_len()` values), from the inputs `xs`.
    fn eval_rows(&self, g: &Grid, xs: &[Rows<'_, T>], rows: Range<isize>, out: &mut [T]);
    /// `out` = the adjoint of input `k` on `rows`, given the output's
    /// adjoint `obar`.
    fn vjp_rows(&self, g: &Grid, xs: &[Rows<'_, T>], obar: Rows<'_, T>, k: usize, rows: Range<isize>, out: &mut [T]);
    /// Work per point, in units of an elementwise operation.
    fn weight(&self) -> usize;
    /// The least and the greatest row offset `di` it reads.
    fn reach(&self) -> (isize, isize);
    /// What it reads beyond the grid's two x faces.
    fn x_faces(&self) -> [Face; 2];
}
