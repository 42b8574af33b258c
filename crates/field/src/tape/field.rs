//! Operations on fields: stencils, solves, elementwise arithmetic and
//! functions, reductions, observation operators.

use std::ops::{Add, Div, Mul, Neg, Sub};

use super::op::Op;
use super::{Ctx, Field, Obs, Scalar};
use crate::components::Components;
use crate::kernels;
use crate::par::weight;
use crate::{FieldError, Grid, stencils};
use rewind_tape::{Binary, Unary};

impl<'id, T: Components> Field<'id, T> {
    /// The recording this field belongs to.
    pub fn ctx(&self) -> &'id Ctx<'id, T> {
        self.ctx
    }

    /// The values (computed now if the field is a lazy expression: see
    /// [`Ctx::materialise`] to compute several together).
    pub fn value(&self) -> &'id [T] {
        self.ctx.val(self.id)
    }
    /// The grid the field lives on.
    pub fn grid(&self) -> &'id Grid {
        &self.ctx.grid
    }
    /// `Δa`, the 5-point Laplacian (periodic): the stencil
    /// [`Laplacian`](crate::stencils::Laplacian); on a 3D grid the 7-point
    /// [`Laplacian3D`](crate::stencils::Laplacian3D).
    pub fn laplacian(self) -> Self {
        if self.ctx.grid.nz > 1 {
            self.ctx.apply_checked(stencils::Laplacian3D, &[self])
        } else {
            self.ctx.apply_checked(stencils::Laplacian, &[self])
        }
    }
    /// `∂a/∂x`, central (periodic): [`Ddx`](crate::stencils::Ddx).
    pub fn ddx(self) -> Self {
        self.ctx.apply_checked(stencils::Ddx, &[self])
    }
    /// `∂a/∂y`, central (periodic): [`Ddy`](crate::stencils::Ddy).
    pub fn ddy(self) -> Self {
        self.ctx.apply_checked(stencils::Ddy, &[self])
    }
    /// `∂a/∂z`, central (periodic): [`Ddz`](crate::stencils::Ddz).
    pub fn ddz(self) -> Self {
        self.ctx.apply_checked(stencils::Ddz, &[self])
    }
    /// `Δa` with zero values outside the grid (walls all around,
    /// [`Faces::ZERO`](crate::Faces::ZERO)): the stencil of
    /// [`Field::laplacian`] with other faces.
    pub fn laplacian0(self) -> Self {
        use crate::{Faces, WithFaces};
        if self.ctx.grid.nz > 1 {
            self.ctx.apply_checked(WithFaces::new(stencils::Laplacian3D, Faces::ZERO), &[self])
        } else {
            self.ctx.apply_checked(WithFaces::new(stencils::Laplacian, Faces::ZERO), &[self])
        }
    }
    /// `∂a/∂x`, central, with zero values outside the grid.
    pub fn ddx0(self) -> Self {
        self.ctx.apply_checked(crate::WithFaces::new(stencils::Ddx, crate::Faces::ZERO), &[self])
    }
    /// `∂a/∂y`, central, with zero values outside the grid.
    pub fn ddy0(self) -> Self {
        self.ctx.apply_checked(crate::WithFaces::new(stencils::Ddy, crate::Faces::ZERO), &[self])
    }
    /// `∂a/∂z`, central, with zero values outside the grid.
    pub fn ddz0(self) -> Self {
        self.ctx.apply_checked(crate::WithFaces::new(stencils::Ddz, crate::Faces::ZERO), &[self])
    }
    /// The divergence `∂u/∂x + ∂v/∂y` of `(self, v)`, central (on a 3D
    /// grid the horizontal divergence).
    pub fn divergence(self, v: Self) -> Self {
        self.ddx() + v.ddy()
    }
    /// The Arakawa Jacobian `J(self, q) = ∂self/∂x ∂q/∂y − ∂self/∂y ∂q/∂x`
    /// (square grids; x the first index), in Arakawa's (1966) form that
    /// conserves energy and enstrophy. A kernel of its own, computed now.
    pub fn arakawa(self, q: Self) -> Result<Self, FieldError> {
        let c = self.ctx;
        c.grid.planar("the Arakawa Jacobian")?;
        if c.grid.dx != c.grid.dy {
            return Err(FieldError::NotSquare { what: "the Arakawa Jacobian", dx: c.grid.dx, dy: c.grid.dy });
        }
        let (a, b) = (self.value(), q.value());
        let g = c.grid;
        let v = c.fill(weight::HEAVY, |i, row| kernels::arakawa_row(&g, a, b, i, row));
        c.count(2, 0);
        Ok(c.field(v, Op::Arakawa(self.id, q.id)))
    }
    /// Upwind advection `u ∂a/∂x + v ∂a/∂y` (1D and 2D grids; a 3D grid
    /// is [`FieldError::Dims`]).
    pub fn upwind(self, u: Self, v: Self) -> Result<Self, FieldError> {
        let c = self.ctx;
        c.grid.planar("upwind advection")?;
        let (a, uu, vv) = (self.value(), u.value(), v.value());
        let out = c.compute(|o| kernels::upwind(&c.grid, a, uu, vv, o, c.par));
        c.count(3, 0);
        Ok(c.field(out, Op::Upwind(self.id, u.id, v.id)))
    }
    /// Semi-Lagrangian advection over `dt` by bilinear interpolation (1D
    /// and 2D grids; a 3D grid is [`FieldError::Dims`]).
    pub fn semi_lagrangian(self, u: Self, v: Self, dt: f64) -> Result<Self, FieldError> {
        let c = self.ctx;
        c.grid.planar("semi-Lagrangian advection")?;
        let (a, uu, vv) = (self.value(), u.value(), v.value());
        let out = c.compute(|o| kernels::semi_lagrangian(&c.grid, a, uu, vv, dt, o, c.par));
        c.count(3, 0);
        Ok(c.field(out, Op::SemiLag(self.id, u.id, v.id, dt)))
    }
    /// Periodic roll: `out[i, j, k] = a[i − di, j − dj, k]`.
    pub fn shift(self, di: isize, dj: isize) -> Self {
        let c = self.ctx;
        let a = self.value();
        let g = c.grid;
        let v = c.fill(weight::STENCIL, |i, row| kernels::shift_row(&g, a, di, dj, i, row));
        c.count(1, 0);
        c.field(v, Op::Shift(self.id, di, dj))
    }
    /// An elementwise function.
    pub fn map(self, f: Unary) -> Self {
        self.ctx.lazy(Op::Map(f, self.id))
    }
    /// An elementwise function of two fields, `f(self, other)`.
    pub fn map2(self, other: Self, f: Binary) -> Self {
        self.ctx.lazy(Op::Map2(f, self.id, other.id))
    }
    /// `m ⊙ a` with a fixed mask (or weight field) `m`.
    pub fn mask(self, m: &[f64]) -> Result<Self, FieldError> {
        let c = self.ctx;
        c.grid.check("mask", m.len())?;
        let m: &'id [f64] = c.copy_f64(m);
        Ok(c.lazy(Op::Mask(self.id, m)))
    }
    /// The values at the given linear indices (an observation operator).
    pub fn sample(self, idx: &[usize]) -> Result<Obs<'id, T>, FieldError> {
        let c = self.ctx;
        let n = c.grid.len();
        if let Some(&bad) = idx.iter().find(|&&i| i >= n) {
            return Err(FieldError::OutOfRange { what: "sample", index: bad, len: n });
        }
        let idx: &'id [usize] = c.arena.alloc_slice_copy(idx);
        let a = self.value();
        let vals = c.arena.alloc_slice_fill_iter(idx.iter().map(|&i| a[i]));
        Ok(c.obs_of(vals, Op::Sample(self.id, idx)))
    }
    /// The values at `points` by n-linear interpolation (receivers; see
    /// [`Points`](crate::Points)); its adjoint is [`Ctx::inject`]. Points
    /// made for another grid are [`FieldError::GridMismatch`].
    pub fn interpolate(self, points: &crate::Points) -> Result<Obs<'id, T>, FieldError> {
        let c = self.ctx;
        if points.grid() != &c.grid {
            return Err(FieldError::GridMismatch { what: "the points" });
        }
        let (idx, w): (&'id [usize], &'id [f64]) =
            (c.arena.alloc_slice_copy(points.indices()), c.arena.alloc_slice_copy(points.weights()));
        let vals = c.arena.alloc_slice_fill_iter(points.values(self.value()));
        Ok(c.obs_of(vals, Op::Interp(self.id, idx, w)))
    }
    /// The zero-mean solution `ψ` of `Δψ = −(a − mean a)` for the 5-point
    /// Laplacian (7-point in 3D; periodic, exact, by FFT; see
    /// [`PoissonFft`]). Note the
    /// sign: this is the streamfunction of the vorticity `a` in the
    /// convention `ω = −Δψ`; for `Δψ = a`, negate the result.
    ///
    /// [`PoissonFft`]: crate::PoissonFft
    pub fn poisson(self) -> Self {
        let c = self.ctx;
        let a = self.value();
        let out = c.zeroed();
        c.solve_poisson(a, out, c.par);
        c.count(1, 0);
        c.field(out, Op::Poisson(self.id))
    }
    /// `A⁻¹ a` with the sparse SPD operator attached to the tape
    /// ([`FieldTape::with_sparse`](crate::FieldTape::with_sparse)).
    pub fn solve_sparse(self) -> Result<Self, FieldError> {
        let c = self.ctx;
        let solver = c.sparse.ok_or(FieldError::NoSolver)?;
        solver.check_constant()?;
        let a = self.value();
        let out = c.zeroed();
        solver.solve_checked(a, out);
        c.count(1, 0);
        Ok(c.field(out, Op::Sparse(self.id)))
    }
    /// `A(s)⁻¹ a` with the affine sparse operator `A(s) = A₀ + s A₁`
    /// attached to the tape ([`SparseSpd::affine`](crate::SparseSpd::affine)),
    /// at the tape scalar `s` (a parameter): differentiable in `a` and `s`.
    pub fn solve_sparse_at(self, s: Scalar<'id, T>) -> Result<Self, FieldError> {
        let c = self.ctx;
        let solver = c.sparse.ok_or(FieldError::NoSolver)?;
        let sv = s.value();
        solver.factor_at(sv.part(0))?;
        let a = self.value();
        let out = c.zeroed();
        solver.solve_at_checked(sv, a, out);
        c.count(1, 0);
        Ok(c.field(out, Op::SparseAt(self.id, s.id)))
    }

    /// `Σ a`: each row summed from its first point, then the rows in order.
    pub fn sum(self) -> Scalar<'id, T> {
        let c = self.ctx;
        let s = c.reduce_sum(self.id);
        c.scalar_of(s, Op::Sum(self.id))
    }
    /// `maxₖ f(a[k])` over the points, on values only (not recorded, not
    /// differentiated): for a model's checks — a CFL number, a positivity
    /// bound — by rows on the thread team (a maximum is exact in any order:
    /// the same result for any thread count). `−∞` never, a grid has
    /// points; a NaN of `f` is ignored, as `f64::max` does.
    pub fn max_of(self, f: impl Fn(T) -> f64 + Sync + Send) -> f64 {
        let (g, a) = (self.ctx.grid, self.value());
        let plane = g.plane_len();
        crate::par::max_rows(self.ctx.par, g.nx, g.len(), weight::ELEMENTWISE, |i| {
            a[i * plane..(i + 1) * plane].iter().fold(f64::NEG_INFINITY, |m, &x| m.max(f(x)))
        })
    }
    /// `Σ a / n`.
    pub fn mean(self) -> Scalar<'id, T> {
        self.sum() * (1.0 / self.ctx.grid.len() as f64)
    }
    /// `⟨a, b⟩ = Σ aᵢbᵢ` (summed as [`Field::sum`], fused with the products).
    pub fn dot(self, b: Self) -> Scalar<'id, T> {
        let c = self.ctx;
        // the products as an expression of the reduction's loop only
        let prod = c.lazy(Op::Mul(self.id, b.id));
        let s = c.reduce_sum(prod.id);
        c.scalar_of(s, Op::Dot(self.id, b.id))
    }
    /// `‖a‖² = Σ aᵢ²`.
    pub fn sqnorm(self) -> Scalar<'id, T> {
        self.dot(self)
    }
    /// `‖a − data‖²`: the misfit to a whole field of data (a target state).
    pub fn misfit(self, data: &[f64]) -> Result<Scalar<'id, T>, FieldError> {
        let c = self.ctx;
        c.grid.check("data", data.len())?;
        let data: &'id [f64] = c.copy_f64(data);
        Ok(c.lazy(Op::SubData(self.id, data)).sqnorm())
    }
}

macro_rules! field_binop {
    ($tr:ident, $m:ident, $op:ident) => {
        impl<'id, T: Components> $tr for Field<'id, T> {
            type Output = Self;
            fn $m(self, b: Self) -> Self {
                self.ctx.lazy(Op::$op(self.id, b.id))
            }
        }
    };
}
field_binop!(Add, add, Add);
field_binop!(Sub, sub, Sub);
field_binop!(Mul, mul, Mul);
field_binop!(Div, div, Div);

impl<T: Components> Neg for Field<'_, T> {
    type Output = Self;
    fn neg(self) -> Self {
        self.ctx.lazy(Op::Neg(self.id))
    }
}
impl<T: Components> Mul<f64> for Field<'_, T> {
    type Output = Self;
    fn mul(self, s: f64) -> Self {
        self.ctx.lazy(Op::ScaleC(self.id, s))
    }
}
impl<'id, T: Components> Mul<Field<'id, T>> for f64 {
    type Output = Field<'id, T>;
    fn mul(self, f: Field<'id, T>) -> Field<'id, T> {
        f * self
    }
}
impl<T: Components> Add<f64> for Field<'_, T> {
    type Output = Self;
    fn add(self, s: f64) -> Self {
        self.ctx.lazy(Op::AddC(self.id, s))
    }
}
impl<T: Components> Sub<f64> for Field<'_, T> {
    type Output = Self;
    fn sub(self, s: f64) -> Self {
        self + (-s)
    }
}
impl<'id, T: Components> Mul<Scalar<'id, T>> for Field<'id, T> {
    type Output = Self;
    fn mul(self, s: Scalar<'id, T>) -> Self {
        self.ctx.lazy(Op::ScaleS(self.id, s.id))
    }
}
impl<'id, T: Components> Add<Scalar<'id, T>> for Field<'id, T> {
    type Output = Self;
    fn add(self, s: Scalar<'id, T>) -> Self {
        self.ctx.lazy(Op::AddS(self.id, s.id))
    }
}
impl<'id, T: Components> Mul<Field<'id, T>> for Scalar<'id, T> {
    type Output = Field<'id, T>;
    fn mul(self, f: Field<'id, T>) -> Field<'id, T> {
        f * self
    }
}
impl<'id, T: Components> Add<Field<'id, T>> for Scalar<'id, T> {
    type Output = Field<'id, T>;
    fn add(self, f: Field<'id, T>) -> Field<'id, T> {
        f + self
    }
}
impl<'id, T: Components> Sub<Scalar<'id, T>> for Field<'id, T> {
    type Output = Self;
    fn sub(self, s: Scalar<'id, T>) -> Self {
        self + (-s)
    }
}
impl<'id, T: Components> Sub<Field<'id, T>> for Scalar<'id, T> {
    type Output = Field<'id, T>;
    fn sub(self, f: Field<'id, T>) -> Field<'id, T> {
        -f + self
    }
}
impl<'id, T: Components> Div<Scalar<'id, T>> for Field<'id, T> {
    type Output = Self;
    // one reciprocal, then a product per point: the recorded form
    #[allow(clippy::suspicious_arithmetic_impl)]
    fn div(self, s: Scalar<'id, T>) -> Self {
        self * s.recip()
    }
}
impl<'id, T: Components> Add<Field<'id, T>> for f64 {
    type Output = Field<'id, T>;
    fn add(self, f: Field<'id, T>) -> Field<'id, T> {
        f + self
    }
}
impl<'id, T: Components> Sub<Field<'id, T>> for f64 {
    type Output = Field<'id, T>;
    fn sub(self, f: Field<'id, T>) -> Field<'id, T> {
        -f + self
    }
}
impl<T: Components> Div<f64> for Field<'_, T> {
    type Output = Self;
    fn div(self, s: f64) -> Self {
        self * (1.0 / s)
    }
}
