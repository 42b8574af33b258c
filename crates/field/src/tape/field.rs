//! Operations on fields: stencils, solves, elementwise arithmetic and
//! functions, reductions, observation operators.

use std::ops::{Add, Div, Mul, Neg, Sub};

use super::sweep::Op;
use super::{Ctx, Field, Obs, Scalar};
use crate::components::Components;
use crate::kernels::{self, Store};
use crate::par::{sum_rows, update, weight};
use crate::{FieldError, Grid};
use rewind_tape::{Binary, Unary};

impl<'id, T: Components> Field<'id, T> {
    /// The recording this field belongs to.
    pub fn ctx(&self) -> &'id Ctx<'id, T> {
        self.ctx
    }

    /// The values.
    pub fn value(&self) -> &'id [T] {
        self.ctx.val(self.id)
    }
    /// The grid the field lives on.
    pub fn grid(&self) -> &'id Grid {
        &self.ctx.grid
    }
    /// `Δa`, the 5-point Laplacian (periodic).
    pub fn laplacian(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::laplacian(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Laplacian(self.id)))
    }
    /// `∂a/∂x`, central (periodic).
    pub fn ddx(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::ddx(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Ddx(self.id)))
    }
    /// `∂a/∂y`, central (periodic).
    pub fn ddy(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::ddy(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Ddy(self.id)))
    }
    /// `Δa` with zero values outside the grid (walls).
    pub fn laplacian0(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::laplacian0(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Laplacian0(self.id)))
    }
    /// `∂a/∂x`, central, with zero values outside the grid.
    pub fn ddx0(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::ddx0(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Ddx0(self.id)))
    }
    /// `∂a/∂y`, central, with zero values outside the grid.
    pub fn ddy0(self) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::ddy0(&c.grid, self.value(), o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Ddy0(self.id)))
    }
    /// The divergence `∂u/∂x + ∂v/∂y` of `(self, v)`, central.
    pub fn divergence(self, v: Self) -> Self {
        self.ddx() + v.ddy()
    }
    /// The Arakawa Jacobian `J(self, q)` (square grids).
    pub fn arakawa(self, q: Self) -> Result<Self, FieldError> {
        let c = self.ctx;
        if c.grid.dx != c.grid.dy {
            return Err(FieldError::NotSquare { what: "the Arakawa Jacobian", dx: c.grid.dx, dy: c.grid.dy });
        }
        let v = c.compute(|o| kernels::arakawa(&c.grid, self.value(), q.value(), o, Store::Overwrite, c.par));
        Ok(c.field(v, Some(Op::Arakawa(self.id, q.id))))
    }
    /// Upwind advection `u ∂a/∂x + v ∂a/∂y`.
    pub fn upwind(self, u: Self, v: Self) -> Self {
        let c = self.ctx;
        let out = c.compute(|o| kernels::upwind(&c.grid, self.value(), u.value(), v.value(), o, c.par));
        c.field(out, Some(Op::Upwind(self.id, u.id, v.id)))
    }
    /// Semi-Lagrangian advection over `dt` by bilinear interpolation.
    pub fn semi_lagrangian(self, u: Self, v: Self, dt: f64) -> Self {
        let c = self.ctx;
        let out = c.compute(|o| kernels::semi_lagrangian(&c.grid, self.value(), u.value(), v.value(), dt, o, c.par));
        c.field(out, Some(Op::SemiLag(self.id, u.id, v.id, dt)))
    }
    /// Periodic roll: `out[i, j] = a[i − di, j − dj]`.
    pub fn shift(self, di: isize, dj: isize) -> Self {
        let c = self.ctx;
        let v = c.compute(|o| kernels::shift(&c.grid, self.value(), di, dj, o, Store::Overwrite, c.par));
        c.field(v, Some(Op::Shift(self.id, di, dj)))
    }
    /// An elementwise function.
    pub fn map(self, f: Unary) -> Self {
        let c = self.ctx;
        let v = c.map1(self.value(), move |x| f.apply(x));
        c.field(v, Some(Op::Map(f, self.id)))
    }
    /// An elementwise function of two fields, `f(self, other)`.
    pub fn map2(self, other: Self, f: Binary) -> Self {
        let c = self.ctx;
        let v = c.map2(self.value(), other.value(), move |a, b| f.apply(a, b));
        c.field(v, Some(Op::Map2(f, self.id, other.id)))
    }
    /// `m ⊙ a` with a fixed mask (or weight field) `m`.
    pub fn mask(self, m: &[f64]) -> Result<Self, FieldError> {
        let c = self.ctx;
        c.grid.check("mask", m.len())?;
        let m: &'id [f64] = c.arena.alloc_slice_copy(m);
        let a = self.value();
        let v = c.compute(|o| update(c.par, weight::ELEMENTWISE, o, c.grid.ny, |k, d| *d = a[k] * m[k]));
        Ok(c.field(v, Some(Op::Mask(self.id, m))))
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
        Ok(Obs { id: c.push(vals, Some(Op::Sample(self.id, idx))), ctx: c })
    }
    /// The zero-mean solution `ψ` of `Δψ = −(a − mean a)` for the 5-point
    /// Laplacian (periodic, exact, by FFT; see [`PoissonFft`]).
    pub fn poisson(self) -> Self {
        let c = self.ctx;
        let out = c.zeroed();
        c.poisson.solve_checked(self.value(), out, &mut c.work.borrow_mut(), Store::Overwrite, c.par);
        c.field(out, Some(Op::Poisson(self.id)))
    }
    /// `A⁻¹ a` with the sparse SPD operator attached to the tape
    /// ([`FieldTape::with_sparse`]).
    pub fn solve_sparse(self) -> Result<Self, FieldError> {
        let c = self.ctx;
        let solver = c.sparse.ok_or(FieldError::NoSolver)?;
        solver.check_constant()?;
        let out = c.zeroed();
        solver.solve_checked(self.value(), out);
        Ok(c.field(out, Some(Op::Sparse(self.id))))
    }
    /// `A(s)⁻¹ a` with the affine sparse operator `A(s) = A₀ + s A₁`
    /// attached to the tape ([`SparseSpd::affine`](crate::SparseSpd::affine)),
    /// at the tape scalar `s` (a parameter): differentiable in `a` and `s`.
    pub fn solve_sparse_at(self, s: Scalar<'id, T>) -> Result<Self, FieldError> {
        let c = self.ctx;
        let solver = c.sparse.ok_or(FieldError::NoSolver)?;
        let sv = s.value();
        solver.factor_at(sv.part(0))?;
        let out = c.zeroed();
        solver.solve_at_checked(sv, self.value(), out);
        Ok(c.field(out, Some(Op::SparseAt(self.id, s.id))))
    }

    /// `Σ a`.
    pub fn sum(self) -> Scalar<'id, T> {
        let c = self.ctx;
        let (g, a) = (c.grid, self.value());
        let partials = c.arena.alloc_slice_fill_copy(g.nx, T::zero());
        let s = sum_rows(c.par, g.len(), weight::ELEMENTWISE, partials, T::zero(), |i| {
            a[i * g.ny..(i + 1) * g.ny].iter().fold(T::zero(), |s, &x| s + x)
        });
        c.scalar_of(s, Some(Op::Sum(self.id)))
    }
    /// `Σ a / n`.
    pub fn mean(self) -> Scalar<'id, T> {
        self.sum() * (1.0 / self.ctx.grid.len() as f64)
    }
    /// `⟨a, b⟩ = Σ aᵢbᵢ`.
    pub fn dot(self, b: Self) -> Scalar<'id, T> {
        let c = self.ctx;
        let (g, x, y) = (c.grid, self.value(), b.value());
        let partials = c.arena.alloc_slice_fill_copy(g.nx, T::zero());
        let s = sum_rows(c.par, g.len(), weight::ELEMENTWISE, partials, T::zero(), |i| {
            (i * g.ny..(i + 1) * g.ny).fold(T::zero(), |s, k| s + x[k] * y[k])
        });
        c.scalar_of(s, Some(Op::Dot(self.id, b.id)))
    }
    /// `‖a‖² = Σ aᵢ²`.
    pub fn sqnorm(self) -> Scalar<'id, T> {
        self.dot(self)
    }
    /// `‖a − data‖²`: the misfit to a whole field of data (a target state).
    pub fn misfit(self, data: &[f64]) -> Result<Scalar<'id, T>, FieldError> {
        let c = self.ctx;
        c.grid.check("data", data.len())?;
        let a = self.value();
        let d = c.compute(|o| update(c.par, weight::ELEMENTWISE, o, c.grid.ny, |k, x| *x = a[k] - data[k]));
        Ok(c.field(d, Some(Op::Pass(self.id))).sqnorm())
    }
}

macro_rules! field_binop {
    ($tr:ident, $m:ident, $op:ident, $f:expr) => {
        impl<'id, T: Components> $tr for Field<'id, T> {
            type Output = Self;
            fn $m(self, b: Self) -> Self {
                let c = self.ctx;
                let v = c.map2(self.value(), b.value(), $f);
                c.field(v, Some(Op::$op(self.id, b.id)))
            }
        }
    };
}
field_binop!(Add, add, Add, |a, b| a + b);
field_binop!(Sub, sub, Sub, |a, b| a - b);
field_binop!(Mul, mul, Mul, |a, b| a * b);
field_binop!(Div, div, Div, |a, b| a / b);

impl<T: Components> Neg for Field<'_, T> {
    type Output = Self;
    fn neg(self) -> Self {
        let c = self.ctx;
        let v = c.map1(self.value(), |a| -a);
        c.field(v, Some(Op::Neg(self.id)))
    }
}
impl<T: Components> Mul<f64> for Field<'_, T> {
    type Output = Self;
    fn mul(self, s: f64) -> Self {
        let c = self.ctx;
        let v = c.map1(self.value(), move |a| a * s);
        c.field(v, Some(Op::ScaleC(self.id, s)))
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
        let c = self.ctx;
        let v = c.map1(self.value(), move |a| a + s);
        c.field(v, Some(Op::Pass(self.id)))
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
        let c = self.ctx;
        let sv = s.value();
        let v = c.map1(self.value(), move |a| a * sv);
        c.field(v, Some(Op::ScaleS(self.id, s.id)))
    }
}
impl<'id, T: Components> Add<Scalar<'id, T>> for Field<'id, T> {
    type Output = Self;
    fn add(self, s: Scalar<'id, T>) -> Self {
        let c = self.ctx;
        let sv = s.value();
        let v = c.map1(self.value(), move |a| a + sv);
        c.field(v, Some(Op::AddS(self.id, s.id)))
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
