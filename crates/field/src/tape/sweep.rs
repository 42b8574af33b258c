//! The reverse sweep: one VJP rule per recorded operation, applied from
//! the last value to the first.
//!
//! The adjoint of a field is itself a lazy field: each rule *contributes*
//! an expression (`ō · b` to `a` for `o = a · b`, the gather of a stencil,
//! the output of an adjoint kernel) and a field's adjoint is the sum of its
//! contributions in the order they come, the last consumer's first —
//! exactly the order an unfused sweep adds them in. Where the step's values
//! were never stored, the expressions read them lazily too, so they are
//! recomputed inside the fused loop that needs them. An adjoint is computed
//! (materialised) where a stencil's VJP reads it at offsets, where a kernel
//! or a solve needs it, where the step itself had stored the value (it has
//! several consumers: computing its adjoint once is cheaper than in each),
//! and, for the inputs, all together at the end. Scalars and observation
//! vectors are small: their adjoints are plain numbers, added at once.

use bumpalo::collections::Vec as BVec;
use smallvec::SmallVec;

use super::fuse::MAX_SUMS;
use super::op::{Kind, Op};
use super::{Adjoints, Ctx, Field, Scalar};
use crate::components::Components;
use crate::kernels;
use crate::par::weight;

/// The state of a reverse sweep.
struct Sweep<'id, T> {
    ctx: &'id Ctx<'id, T>,
    /// The value holding each field's adjoint so far.
    fields: BVec<'id, Option<u32>>,
    /// Each scalar's or observation vector's adjoint so far.
    small: BVec<'id, Option<&'id mut [T]>>,
    /// Sums `(scalar, field)` still to add to scalars' adjoints, in order:
    /// computed together, in the next fused loop.
    sums: SmallVec<[(u32, u32); MAX_SUMS]>,
}

/// Runs the sweep seeded with `fields` and `scalars` (see [`Ctx::backward`]).
pub(super) fn backward<'id, T: Components>(
    ctx: &'id Ctx<'id, T>,
    fields: &[(Field<'id, T>, &[T])],
    scalars: &[(Scalar<'id, T>, T)],
) -> Adjoints<'id, T> {
    let n = ctx.st.borrow().vals.len();
    let mut sw = Sweep {
        ctx,
        fields: BVec::from_iter_in(std::iter::repeat_n(None, n), ctx.arena),
        small: BVec::from_iter_in((0..n).map(|_| None), ctx.arena),
        sums: SmallVec::new(),
    };
    for &(f, seed) in fields {
        let copy = ctx.pointwise(|k| seed[k]);
        ctx.count(1, 0);
        let leaf = ctx.field(copy, Op::Leaf).id;
        sw.contribute(f.id, leaf);
    }
    for &(s, seed) in scalars {
        sw.small_acc(s.id, 1)[0] += seed;
    }
    for id in (0..n as u32).rev() {
        sw.node(id);
    }
    // the inputs' adjoints and the last sums in one loop
    let inputs: SmallVec<[u32; 8]> = {
        let st = ctx.st.borrow();
        (0..n)
            .filter(|&id| st.vals[id].kind == Kind::Field && matches!(st.vals[id].op, Op::Leaf))
            .filter_map(|id| sw.fields[id])
            .collect()
    };
    sw.flush_sums(&inputs);
    Adjoints { ctx, fields: sw.fields, small: sw.small }
}

impl<'id, T: Components> Sweep<'id, T> {
    /// Adds the field `c` to the adjoint of the field `id`.
    fn contribute(&mut self, id: u32, c: u32) {
        if self.constant(id) {
            return;
        }
        let slot = &mut self.fields[id as usize];
        *slot = Some(match *slot {
            None => c,
            Some(prev) => self.ctx.lazy(Op::Add(prev, c)).id,
        });
    }

    /// Whether the field `id` is fixed data (no adjoint).
    fn constant(&self, id: u32) -> bool {
        matches!(self.ctx.st.borrow().vals[id as usize].op, Op::Constant)
    }

    /// A lazy adjoint expression.
    fn op(&self, op: Op<'id, T>) -> u32 {
        self.ctx.lazy(op).id
    }

    /// A field computed by an adjoint kernel, as a value.
    fn leaf(&self, vals: &'id [T]) -> u32 {
        self.ctx.field(vals, Op::Leaf).id
    }

    /// A scalar adjoint as a value (for the expressions that scale by it).
    fn scalar(&self, v: T) -> u32 {
        self.ctx.scalar_of(v, Op::Leaf).id
    }

    /// The adjoint of the small value `id` of length `len` (zeros at first).
    fn small_acc(&mut self, id: u32, len: usize) -> &mut [T] {
        let arena = self.ctx.arena;
        self.small[id as usize].get_or_insert_with(|| arena.alloc_slice_fill_copy(len, T::zero()))
    }

    /// Adds `Σ e[k]` (the field `e`, lazy or not) to the adjoint of scalar
    /// `s`: at the next [`Sweep::flush_sums`], with the others.
    fn add_sum(&mut self, s: u32, e: u32) {
        self.sums.push((s, e));
        if self.sums.len() == MAX_SUMS {
            self.flush_sums(&[]);
        }
    }

    /// Computes the sums still to add, with the fields `ids`, in one fused
    /// loop, and adds them to their scalars in the order they came.
    fn flush_sums(&mut self, ids: &[u32]) {
        let exprs: SmallVec<[u32; MAX_SUMS]> = self.sums.iter().map(|&(_, e)| e).collect();
        let totals = self.ctx.compute_all(ids, &exprs);
        for ((s, _), total) in std::mem::take(&mut self.sums).into_iter().zip(totals) {
            self.small_acc(s, 1)[0] += total;
        }
    }

    fn node(&mut self, id: u32) {
        let v = self.ctx.st.borrow().vals[id as usize];
        match v.kind {
            Kind::Field => {
                let Some(a) = self.fields[id as usize] else { return };
                if v.buf.is_some() && v.op.is_lazy() {
                    // a value the step stored has several consumers: its
                    // adjoint once into memory (with the next loop's)
                    // rather than recomputed in each of theirs
                    self.ctx.defer(a);
                }
                self.field_rule(id, v.op, a);
            }
            Kind::Scalar | Kind::Obs => {
                if self.sums.iter().any(|&(s, _)| s == id) {
                    self.flush_sums(&[]);
                }
                let Some(o) = self.small[id as usize].take() else { return };
                self.small_rule(id, v.op, o);
                self.small[id as usize] = Some(o);
            }
        }
    }

    /// The rule of a field-valued operation, `a` its output's adjoint.
    #[allow(clippy::many_single_char_names)]
    fn field_rule(&mut self, out: u32, op: Op<'id, T>, a: u32) {
        let c = self.ctx;
        let (g, par) = (c.grid, c.par);
        let v = |id: u32| c.val(id);
        match op {
            Op::Leaf | Op::Constant => {}
            Op::Add(x, y) => {
                self.contribute(x, a);
                self.contribute(y, a);
            }
            Op::Sub(x, y) => {
                self.contribute(x, a);
                let n = self.op(Op::Neg(a));
                self.contribute(y, n);
            }
            Op::Mul(x, y) => {
                let cx = self.op(Op::Mul(a, y));
                self.contribute(x, cx);
                let cy = self.op(Op::Mul(a, x));
                self.contribute(y, cy);
            }
            Op::Div(x, y) => {
                let cx = self.op(Op::Div(a, y));
                self.contribute(x, cx);
                // −(ō · out / b)
                let t = self.op(Op::Mul(a, out));
                let t = self.op(Op::Div(t, y));
                let cy = self.op(Op::Neg(t));
                self.contribute(y, cy);
            }
            Op::Neg(x) => {
                let n = self.op(Op::Neg(a));
                self.contribute(x, n);
            }
            Op::ScaleC(x, k) => {
                let s = self.op(Op::ScaleC(a, k));
                self.contribute(x, s);
            }
            Op::AddC(x, _) | Op::SubData(x, _) => self.contribute(x, a),
            Op::ScaleS(x, s) => {
                let cx = self.op(Op::ScaleS(a, s));
                self.contribute(x, cx);
                let e = self.op(Op::Mul(a, x));
                self.add_sum(s, e);
            }
            Op::AddS(x, s) => {
                self.contribute(x, a);
                self.add_sum(s, a);
            }
            Op::Map(u, x) => {
                let d = self.op(Op::MapD(u, x));
                let cx = self.op(Op::Mul(a, d));
                self.contribute(x, cx);
            }
            Op::Map2(f, x, y) => {
                let d = self.op(Op::Map2D(f, true, x, y));
                let cx = self.op(Op::Mul(a, d));
                self.contribute(x, cx);
                let d = self.op(Op::Map2D(f, false, x, y));
                let cy = self.op(Op::Mul(a, d));
                self.contribute(y, cy);
            }
            Op::Mask(x, m) => {
                let cx = self.op(Op::Mask(a, m));
                self.contribute(x, cx);
            }
            Op::Stencil(rule, ids) => {
                // gathers of the output's adjoint at the mirrored offsets
                for (k, &x) in ids.iter().enumerate() {
                    // (fixed data: no gather made for it)
                    if self.constant(x) {
                        continue;
                    }
                    let t = self.op(Op::StencilT(rule, k as u32, a, ids));
                    self.contribute(x, t);
                }
            }
            Op::Inject(x, idx, w) => {
                // the adjoint of a source: the adjoint field read at it
                let (o, k) = (v(a), 1 << c.grid.dims());
                let acc = self.small_acc(x, idx.len() / k);
                for ((d, i), w) in acc.iter_mut().zip(idx.chunks_exact(k)).zip(w.chunks_exact(k)) {
                    *d += i.iter().zip(w).fold(T::zero(), |s, (&i, &w)| s + o[i] * T::from_f64(w));
                }
            }
            Op::Shift(x, di, dj) => {
                let o = v(a);
                let t = c.fill(weight::STENCIL, |i, row| kernels::shift_row(&g, o, -di, -dj, i, row));
                c.count(1, 0);
                let l = self.leaf(t);
                self.contribute(x, l);
            }
            Op::Arakawa(p, q) => {
                // ⟨ō, J(p, q)⟩ = ⟨p, J(q, ō)⟩ = ⟨q, J(ō, p)⟩
                let (o, vp, vq) = (v(a), v(p), v(q));
                let tp = c.fill(weight::HEAVY, |i, row| kernels::arakawa_row(&g, vq, o, i, row));
                let tq = c.fill(weight::HEAVY, |i, row| kernels::arakawa_row(&g, o, vp, i, row));
                c.count(4, 0);
                let (lp, lq) = (self.leaf(tp), self.leaf(tq));
                self.contribute(p, lp);
                self.contribute(q, lq);
            }
            Op::Upwind(q, u, w) => {
                let o = v(a);
                let (qb, ub, wb) = (c.zeroed(), c.zeroed(), c.zeroed());
                kernels::upwind_vjp(&g, v(q), v(u), v(w), o, qb, ub, wb, par);
                c.count(4, 0);
                for (x, t) in [(q, qb), (u, ub), (w, wb)] {
                    let l = self.leaf(t);
                    self.contribute(x, l);
                }
            }
            Op::SemiLag(q, u, w, dt) => {
                let o = v(a);
                let (qb, ub, wb) = (c.zeroed(), c.zeroed(), c.zeroed());
                kernels::semi_lagrangian_vjp(&g, v(q), v(u), v(w), dt, o, qb, ub, wb);
                c.count(4, 0);
                for (x, t) in [(q, qb), (u, ub), (w, wb)] {
                    let l = self.leaf(t);
                    self.contribute(x, l);
                }
            }
            Op::Poisson(x) => {
                // P is symmetric: its adjoint is another solve
                let o = v(a);
                let t = c.zeroed();
                c.solve_poisson(o, t, par);
                c.count(1, 0);
                let l = self.leaf(t);
                self.contribute(x, l);
            }
            Op::Sparse(x) => {
                // A symmetric: b̄ = A⁻¹ x̄, with the same factorisation
                if let Some(solver) = c.sparse {
                    let o = v(a);
                    let t = c.zeroed();
                    solver.solve_checked(o, t);
                    c.count(1, 0);
                    let l = self.leaf(t);
                    self.contribute(x, l);
                }
            }
            Op::SparseAt(x, s) => {
                // A(s) symmetric: b̄ = A(s)⁻¹ x̄ and s̄ = −⟨b̄, A₁ x⟩
                if let Some(solver) = c.sparse {
                    let (o, sv, vout) = (v(a), v(s)[0], v(out));
                    let (t, y) = (c.zeroed(), c.zeroed());
                    if solver.factor_at(sv.part(0)).is_ok() {
                        solver.solve_at_checked(sv, o, t);
                    } else {
                        // (refactorised at a value that is no longer SPD:
                        // the driver reports the non-finite adjoint's step)
                        t.iter_mut().for_each(|x| *x = T::from_f64(f64::NAN));
                    }
                    solver.apply_a1(vout, y);
                    c.count(2, 0);
                    let (lt, ly) = (self.leaf(t), self.leaf(y));
                    self.contribute(x, lt);
                    let ty = self.op(Op::Mul(lt, ly));
                    let e = self.op(Op::Neg(ty));
                    self.add_sum(s, e);
                }
            }
            Op::Splat(_)
            | Op::MapD(..)
            | Op::Map2D(..)
            | Op::StencilT(..)
            | Op::Sample(..)
            | Op::Interp(..)
            | Op::Sum(_)
            | Op::Dot(..) => unreachable!("not a field operation of a step"),
        }
    }

    /// The rule of a scalar- or observation-valued operation, `o` its
    /// output's adjoint.
    fn small_rule(&mut self, out: u32, op: Op<'id, T>, o: &[T]) {
        let c = self.ctx;
        let v = |id: u32| c.val(id);
        let kind = |id: u32| c.st.borrow().vals[id as usize].kind;
        match op {
            Op::Leaf => {}
            Op::Add(x, y) => {
                self.small_acc(x, 1)[0] += o[0];
                self.small_acc(y, 1)[0] += o[0];
            }
            Op::Sub(x, y) => {
                self.small_acc(x, 1)[0] += o[0];
                self.small_acc(y, 1)[0] += -o[0];
            }
            Op::Mul(x, y) => {
                let (vx, vy) = (v(x)[0], v(y)[0]);
                self.small_acc(x, 1)[0] += o[0] * vy;
                self.small_acc(y, 1)[0] += o[0] * vx;
            }
            Op::Div(x, y) => {
                let (vy, vo) = (v(y)[0], v(out)[0]);
                self.small_acc(x, 1)[0] += o[0] / vy;
                self.small_acc(y, 1)[0] += -(o[0] * vo / vy);
            }
            Op::Neg(x) => self.small_acc(x, 1)[0] += -o[0],
            Op::ScaleC(x, k) => self.small_acc(x, 1)[0] += o[0] * k,
            Op::AddC(x, _) => self.small_acc(x, 1)[0] += o[0],
            Op::Map(u, x) => {
                let vx = v(x)[0];
                self.small_acc(x, 1)[0] += o[0] * u.derivative(vx);
            }
            Op::SubData(x, _) => {
                let acc = self.small_acc(x, o.len());
                acc.iter_mut().zip(o).for_each(|(d, &s)| *d += s);
            }
            Op::Sum(f) => {
                let s = self.scalar(o[0]);
                let e = self.op(Op::Splat(s));
                self.contribute(f, e);
            }
            Op::Dot(x, y) if kind(x) == Kind::Field => {
                let s = self.scalar(o[0]);
                let cx = self.op(Op::ScaleS(y, s));
                self.contribute(x, cx);
                let cy = self.op(Op::ScaleS(x, s));
                self.contribute(y, cy);
            }
            Op::Dot(x, y) => {
                // observation vectors
                let (vx, vy, s) = (v(x), v(y), o[0]);
                let ax = self.small_acc(x, vx.len());
                ax.iter_mut().zip(vy).for_each(|(d, &b)| *d += b * s);
                let ay = self.small_acc(y, vy.len());
                ay.iter_mut().zip(vx).for_each(|(d, &b)| *d += b * s);
            }
            Op::Interp(f, idx, w) => {
                // the adjoint of a receiver: its residual injected
                let (t, k) = (c.zeroed(), 1 << c.grid.dims());
                for ((i, w), &x) in idx.chunks_exact(k).zip(w.chunks_exact(k)).zip(o) {
                    for (&i, &w) in i.iter().zip(w) {
                        t[i] += x * T::from_f64(w);
                    }
                }
                let l = self.leaf(t);
                self.contribute(f, l);
            }
            Op::Sample(f, idx) => {
                let t = c.zeroed();
                for (&i, &x) in idx.iter().zip(o) {
                    t[i] += x;
                }
                let l = self.leaf(t);
                self.contribute(f, l);
            }
            _ => unreachable!("not a scalar or observation operation"),
        }
    }
}
