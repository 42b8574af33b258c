//! The reverse sweep: one VJP rule per recorded operation, applied from
//! the last node to the first.

use bumpalo::collections::Vec as BVec;

use super::Ctx;
use super::combine::CoefId;
use super::stencil::Rule;
use crate::components::Components;
use crate::kernels::{self, Store};
use crate::par::{sum_rows, update, weight};
use rewind_tape::{Binary, Unary};

/// One recorded operation; operands are value ids.
#[derive(Clone, Copy)]
pub(super) enum Op<'id, T> {
    Add(u32, u32),
    Sub(u32, u32),
    Mul(u32, u32),
    Div(u32, u32),
    Neg(u32),
    ScaleC(u32, f64),
    Pass(u32),
    ScaleS(u32, u32),
    AddS(u32, u32),
    Axpy(f64, u32, u32),
    AxpyS(u32, u32, u32),
    Combine(&'id [(CoefId, u32)]),
    Map(Unary, u32),
    Map2(Binary, u32, u32),
    Sum(u32),
    Dot(u32, u32),
    Shift(u32, isize, isize),
    Laplacian(u32),
    Ddx(u32),
    Ddy(u32),
    Laplacian0(u32),
    Ddx0(u32),
    Ddy0(u32),
    Arakawa(u32, u32),
    Upwind(u32, u32, u32),
    SemiLag(u32, u32, u32, f64),
    Sample(u32, &'id [usize]),
    Mask(u32, &'id [f64]),
    Poisson(u32),
    Sparse(u32),
    /// `A(s)⁻¹ b` for an affine operator: `(b, s)`.
    SparseAt(u32, u32),
    /// A user operation ([`Ctx::apply`]) on the given inputs.
    User(&'id dyn Rule<T>, &'id [u32]),
}

#[derive(Clone, Copy)]
pub(super) struct Node<'id, T> {
    pub(super) out: u32,
    pub(super) op: Op<'id, T>,
}

/// The state of a reverse sweep.
pub(super) struct Sweep<'a, 'id, T> {
    pub(super) ctx: &'id Ctx<'id, T>,
    pub(super) vals: &'a [&'id [T]],
    pub(super) adj: BVec<'id, Option<&'id mut [T]>>,
}

impl<'id, T: Components> Sweep<'_, 'id, T> {
    /// The adjoint buffer of value `id` (allocated as zeros on first use).
    pub(super) fn acc(&mut self, id: u32, len: usize) -> &mut [T] {
        let ctx = self.ctx;
        let new = || if len == ctx.grid.len() { ctx.zeroed() } else { ctx.arena.alloc_slice_fill_copy(len, T::zero()) };
        self.adj[id as usize].get_or_insert_with(new)
    }

    fn tmp(&self) -> &'id mut [T] {
        self.ctx.zeroed()
    }

    /// Adds `f(k)` to the adjoint of value `id`, elementwise (by rows for
    /// fields, sequentially for scalars and observation vectors).
    ///
    /// The first contribution to an adjoint is written, not added to zeros
    /// (one pass instead of a zero-fill and a read-modify-write).
    fn add_with(&mut self, id: u32, f: impl Fn(usize) -> T + Sync + Send) {
        let (par, n, ny) = (self.ctx.par, self.ctx.grid.len(), self.ctx.grid.ny);
        let len = self.vals[id as usize].len();
        if self.adj[id as usize].is_none() {
            let first = if len == n && par.parallel::<T>(n, weight::ELEMENTWISE) {
                self.ctx.fill(weight::ELEMENTWISE, |i, row| {
                    row.iter_mut().enumerate().for_each(|(j, d)| *d = f(i * ny + j))
                })
            } else {
                self.ctx.arena.alloc_slice_fill_with(len, f)
            };
            self.adj[id as usize] = Some(first);
            return;
        }
        let a = self.acc(id, len);
        if len == n {
            update(par, weight::ELEMENTWISE, a, ny, |k, d| *d += f(k));
        } else {
            a.iter_mut().enumerate().for_each(|(k, d)| *d += f(k));
        }
    }

    /// Adds a linear kernel's output into the adjoint of field `id`, in
    /// place: `kernel(adjoint, Store::Add)` (or the given sign), with no
    /// temporary.
    fn add_kernel(&mut self, id: u32, sign: Store, kernel: impl FnOnce(&mut [T], Store)) {
        let n = self.ctx.grid.len();
        kernel(self.acc(id, n), sign);
    }

    /// Adds `Σₖ f(k)` over a field's points to the adjoint of scalar `id`
    /// (row sums added in row order: deterministic).
    fn add_sum(&mut self, id: u32, f: impl Fn(usize) -> T + Sync + Send) {
        let g = self.ctx.grid;
        let partials = self.ctx.arena.alloc_slice_fill_copy(g.nx, T::zero());
        let total = sum_rows(self.ctx.par, g.len(), weight::ELEMENTWISE, partials, T::zero(), |i| {
            (i * g.ny..(i + 1) * g.ny).fold(T::zero(), |s, k| s + f(k))
        });
        self.acc(id, 1)[0] += total;
    }

    pub(super) fn node(&mut self, node: &Node<'id, T>) {
        let Some(o) = self.adj[node.out as usize].take() else { return };
        self.rule(node.op, o, self.vals[node.out as usize]);
        self.adj[node.out as usize] = Some(o);
    }

    #[allow(clippy::many_single_char_names)]
    fn rule(&mut self, op: Op<'id, T>, o: &[T], out: &[T]) {
        let v = |id: u32| self.vals[id as usize];
        let (g, par) = (self.ctx.grid, self.ctx.par);
        match op {
            Op::Add(a, b) => {
                self.add_with(a, |k| o[k]);
                self.add_with(b, |k| o[k]);
            }
            Op::Sub(a, b) => {
                self.add_with(a, |k| o[k]);
                self.add_with(b, |k| -o[k]);
            }
            Op::Mul(a, b) => {
                let (va, vb) = (v(a), v(b));
                self.add_with(a, |k| o[k] * vb[k]);
                self.add_with(b, |k| o[k] * va[k]);
            }
            Op::Div(a, b) => {
                let vb = v(b);
                self.add_with(a, |k| o[k] / vb[k]);
                self.add_with(b, |k| -(o[k] * out[k] / vb[k]));
            }
            Op::Neg(a) => self.add_with(a, |k| -o[k]),
            Op::ScaleC(a, c) => self.add_with(a, |k| o[k] * c),
            Op::Pass(a) => self.add_with(a, |k| o[k]),
            Op::ScaleS(f, s) => {
                let (vf, vs) = (v(f), v(s)[0]);
                self.add_with(f, |k| o[k] * vs);
                self.add_sum(s, |k| o[k] * vf[k]);
            }
            Op::AddS(f, s) => {
                self.add_with(f, |k| o[k]);
                self.add_sum(s, |k| o[k]);
            }
            Op::Axpy(alpha, x, y) => {
                self.add_with(x, |k| o[k] * alpha);
                self.add_with(y, |k| o[k]);
            }
            Op::AxpyS(s, x, y) => {
                let (vx, vs) = (v(x), v(s)[0]);
                self.add_with(x, |k| o[k] * vs);
                self.add_with(y, |k| o[k]);
                self.add_sum(s, |k| o[k] * vx[k]);
            }
            Op::Combine(terms) => {
                for &(c, x) in terms {
                    match c {
                        CoefId::Const(c) => self.add_with(x, |k| o[k] * c),
                        CoefId::Scalar(s) => {
                            let (vx, vs) = (v(x), v(s)[0]);
                            self.add_with(x, |k| o[k] * vs);
                            self.add_sum(s, |k| o[k] * vx[k]);
                        }
                    }
                }
            }
            Op::Map(u, a) => {
                let va = v(a);
                self.add_with(a, |k| o[k] * u.derivative(va[k]));
            }
            Op::Map2(f, a, b) => {
                let (va, vb) = (v(a), v(b));
                // one dual evaluation per partial and point
                self.add_with(a, |k| o[k] * f.d_first(va[k], vb[k]));
                self.add_with(b, |k| o[k] * f.d_second(va[k], vb[k]));
            }
            Op::Sum(a) => {
                let s = o[0];
                self.add_with(a, |_| s);
            }
            Op::Dot(a, b) => {
                // fields or observation vectors
                let (va, vb, s) = (v(a), v(b), o[0]);
                self.add_with(a, |k| vb[k] * s);
                self.add_with(b, |k| va[k] * s);
            }
            Op::Shift(a, di, dj) => self.add_kernel(a, Store::Add, |t, st| kernels::shift(&g, o, -di, -dj, t, st, par)),
            Op::Laplacian(a) => self.add_kernel(a, Store::Add, |t, st| kernels::laplacian(&g, o, t, st, par)),
            Op::Ddx(a) => self.add_kernel(a, Store::Subtract, |t, st| kernels::ddx(&g, o, t, st, par)),
            Op::Ddy(a) => self.add_kernel(a, Store::Subtract, |t, st| kernels::ddy(&g, o, t, st, par)),
            Op::Laplacian0(a) => self.add_kernel(a, Store::Add, |t, st| kernels::laplacian0(&g, o, t, st, par)),
            Op::Ddx0(a) => self.add_kernel(a, Store::Subtract, |t, st| kernels::ddx0(&g, o, t, st, par)),
            Op::Ddy0(a) => self.add_kernel(a, Store::Subtract, |t, st| kernels::ddy0(&g, o, t, st, par)),
            Op::Arakawa(p, q) => {
                // ⟨ō, J(p, q)⟩ = ⟨p, J(q, ō)⟩ = ⟨q, J(ō, p)⟩
                let (vp, vq) = (v(p), v(q));
                self.add_kernel(p, Store::Add, |t, st| kernels::arakawa(&g, vq, o, t, st, par));
                self.add_kernel(q, Store::Add, |t, st| kernels::arakawa(&g, o, vp, t, st, par));
            }
            Op::Upwind(q, u, w) => {
                let (qb, ub, wb) = (self.tmp(), self.tmp(), self.tmp());
                kernels::upwind_vjp(&g, v(q), v(u), v(w), o, qb, ub, wb, par);
                self.add_with(q, |k| qb[k]);
                self.add_with(u, |k| ub[k]);
                self.add_with(w, |k| wb[k]);
            }
            Op::SemiLag(q, u, w, dt) => {
                let (qb, ub, wb) = (self.tmp(), self.tmp(), self.tmp());
                kernels::semi_lagrangian_vjp(&g, v(q), v(u), v(w), dt, o, qb, ub, wb);
                self.add_with(q, |k| qb[k]);
                self.add_with(u, |k| ub[k]);
                self.add_with(w, |k| wb[k]);
            }
            Op::Sample(a, idx) => {
                let n = g.len();
                let d = self.acc(a, n);
                for (&i, &x) in idx.iter().zip(o) {
                    d[i] += x;
                }
            }
            Op::Mask(a, m) => self.add_with(a, |k| o[k] * m[k]),
            Op::Poisson(a) => {
                // P is symmetric: its adjoint is another solve
                let (solver, work) = (self.ctx.poisson, self.ctx.work);
                self.add_kernel(a, Store::Add, |t, st| solver.solve_checked(o, t, &mut work.borrow_mut(), st, par));
            }
            Op::Sparse(a) => {
                // A symmetric: b̄ = A⁻¹ x̄, with the same factorisation
                if let Some(solver) = self.ctx.sparse {
                    let t = self.tmp();
                    solver.solve_checked(o, t);
                    self.add_with(a, |k| t[k]);
                }
            }
            Op::SparseAt(a, s) => {
                // A(s) symmetric: b̄ = A(s)⁻¹ x̄ and s̄ = −⟨b̄, A₁ x⟩
                if let Some(solver) = self.ctx.sparse {
                    let sv = v(s)[0];
                    let (t, y) = (self.tmp(), self.tmp());
                    if solver.factor_at(sv.part(0)).is_ok() {
                        solver.solve_at_checked(sv, o, t);
                    } else {
                        // (refactorised at a value that is no longer SPD:
                        // the driver reports the non-finite adjoint's step)
                        t.iter_mut().for_each(|x| *x = T::from_f64(f64::NAN));
                    }
                    solver.apply_a1(out, y);
                    let (t, y): (&[T], &[T]) = (t, y);
                    self.add_with(a, |k| t[k]);
                    self.add_sum(s, |k| -(t[k] * y[k]));
                }
            }
            Op::User(rule, ids) => {
                let inputs: &[&[T]] = self.ctx.arena.alloc_slice_fill_iter(ids.iter().map(|&id| v(id)));
                for (k, &id) in ids.iter().enumerate() {
                    self.add_kernel(id, Store::Add, |t, _| rule.vjp(&g, inputs, o, k, t, par));
                }
            }
        }
    }
}
