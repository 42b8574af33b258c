//! Fused evaluation: the lazy expressions behind some fields computed in
//! one loop over tiles.
//!
//! A lazy field is an operation on earlier values (see `op.rs`). To compute
//! some of them, [`Ctx::materialise_ids`] collects the lazy operations they
//! need — stopping at values already in memory — in recording order (a
//! topological order), turns each into an `Instr` (the operation with its
//! operands resolved to earlier instructions or fields in memory), and runs
//! the list (`exec.rs`) over
//! tiles of a few rows: each instruction fills its tile of a scratch buffer
//! that stays in cache, and only the requested fields are written to
//! memory. Each operation runs over a whole tile at a time (a tight loop
//! the compiler vectorises), so the dispatch costs one `match` per
//! operation and tile, not per point — numexpr's scheme, with XLA's rule of
//! recomputing cheap producers inside their consumers rather than storing
//! them.
//!
//! A stencil may read a lazy expression at offsets: the expression is then
//! computed on the tile's rows and the halo of rows around them that the
//! offsets reach (each instruction's *extent*, propagated from the
//! consumers back to the producers), and the stencil reads that window.
//! Halo rows are computed twice (by neighbouring tiles), so an expression
//! whose halo would grow past [`MAX_HALO`] rows is computed into memory
//! first. Rows are numbered without wrapping (see `compiled.rs`): a window
//! of the first tile starts at row −1 and holds the last row's values.
//!
//! Fields in memory written beside lazy ones (a state's unchanged field)
//! are copied by the same loop, a tile at a time while it is in cache; the
//! values written into a caller's slices can be checked for finiteness the
//! same way. (Tiles of a few lines within a 3D plane, swept down columns of
//! planes for cache blocking, were tried on 2026-12-07 and measured slower
//! for the acoustic model: 1.11× its primal at 128³ on one thread.)
//!
//! Tiles are grouped into pieces for the thread team; the arithmetic of a
//! point does not depend on the tiling, so the results are the same bits
//! on any number of threads, and with fusion off. Reductions
//! ([`Ctx::reduce_sums`]) run the same loop and fold each row, then add
//! the rows in order.

mod exec;

use bumpalo::collections::Vec as BVec;
use smallvec::SmallVec;

use super::Ctx;
use super::op::{Kind, Op};
use crate::components::Components;

/// Points per tile (in whole rows; see [`MIN_TILE_ROWS`]):
/// small enough that a tile of every operation of a fused loop stays in the
/// core's L1/L2 caches.
const TILE: usize = 1024;

/// Rows per tile at least when a loop computes halos, so that they cost
/// a fraction of a tile (without, a tile is as few rows as make [`TILE`]
/// points: one plane of a 3D grid, whose 16 planes were 2 MiB a buffer at
/// 128³ — measured, one plane made the acoustic primal 1.2× faster there
/// on two threads).
const MIN_TILE_ROWS: usize = 16;

/// The most rows a lazy expression is computed beyond a tile on either
/// side; one that would need more is computed into memory first.
const MAX_HALO: isize = 4;

/// The most fields one fused loop writes.
const MAX_ROOTS: usize = 8;

/// The most instructions one fused loop runs (a larger set of roots is
/// computed in several loops).
const MAX_SLOTS: usize = 256;

/// The most sums one fused loop computes.
pub(super) const MAX_SUMS: usize = 8;

/// An operand: the tile of an earlier instruction, or a field in memory.
enum Src<'a, T> {
    Slot(u32),
    Buf(&'a [T]),
}

impl<T> Clone for Src<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Src<'_, T> {}

/// One operation of a fused loop: the recorded operation, its field
/// operands resolved (in the order of [`Op::each_field_operand`]), and the
/// value of its scalar operand (for `ScaleS`, `AddS`, `Splat`).
///
/// A sum or difference one of whose operands is a product read by nothing
/// else computes that product itself, point by point (`prod`: which
/// operand, and the product — its operation, operands and scalar), and the
/// product's own instruction is skipped: one pass over the tile instead
/// of two, the same arithmetic.
struct Instr<'a, T> {
    op: Op<'a, T>,
    srcs: &'a [Src<'a, T>],
    scalar: T,
    /// The values of its observations operand (the amplitudes of `Inject`).
    obs: &'a [T],
    prod: Option<Prod<'a, T>>,
    /// Folded into the sum that reads it: not run.
    skip: bool,
}

/// A product folded into the sum or difference that reads it.
struct Prod<'a, T> {
    /// Which operand of the sum it is.
    at: usize,
    op: Op<'a, T>,
    srcs: &'a [Src<'a, T>],
    scalar: T,
}

impl<T: Copy> Clone for Prod<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Copy> Copy for Prod<'_, T> {}

impl<T: Copy> Clone for Instr<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Copy> Copy for Instr<'_, T> {}

/// Whether every value (every part of a dual number) is finite: no branch
/// per value, a loop the compiler vectorises.
fn all_finite<T: Components>(v: &[T]) -> bool {
    !v.iter().fold(false, |bad, x| bad | !x.is_finite())
}

/// Notes the field at `p` among those a loop reads.
fn note<T>(read: &mut BVec<'_, *const T>, p: *const T) {
    if !read.contains(&p) {
        read.push(p);
    }
}

/// A fused loop: its instructions, the rows each covers around a tile,
/// which are written out, the sums it computes, and its cost.
struct Plan<'id, T> {
    instrs: BVec<'id, Instr<'id, T>>,
    ext: BVec<'id, (isize, isize)>,
    roots: SmallVec<[u32; MAX_ROOTS]>,
    sums: SmallVec<[Src<'id, T>; MAX_SUMS]>,
    /// Work per point, in elementwise operations.
    weight: usize,
    /// Distinct fields in memory it reads.
    reads: u64,
}

impl<'id, T: Components> Ctx<'id, T> {
    /// Marks the lazy field `id` to be computed in the next fused loop
    /// (with whatever that loop computes), rather than now in a loop of its
    /// own: the reverse sweep keeps the adjoints of the step's stored
    /// values this way, several in one loop. Until then it counts as one
    /// operation in the size of the expressions that read it.
    pub(super) fn defer(&'id self, id: u32) {
        let full = {
            let mut st = self.st.borrow_mut();
            if st.vals[id as usize].buf.is_some() || st.pending.contains(&id) {
                return;
            }
            st.vals[id as usize].size = 1;
            st.pending.push(id);
            st.pending.len() >= MAX_ROOTS
        };
        if full {
            self.materialise_ids(&[]);
        }
    }

    /// The deferred fields, taken.
    fn take_pending(&self) -> SmallVec<[u32; MAX_ROOTS]> {
        let mut st = self.st.borrow_mut();
        let p = st.pending.iter().copied().collect();
        st.pending.clear();
        p
    }

    /// Computes the lazy fields among `ids` and the deferred ones (the
    /// others are in memory already) in one fused loop.
    pub(super) fn materialise_ids(&'id self, ids: &[u32]) {
        self.compute_all(ids, &[]);
    }

    /// `Σₖ f[k]` of each field of `ids` (lazy or not), in one fused loop
    /// with the deferred fields: each row folded from its first point to
    /// its last, the rows' sums then added from the first row to the last —
    /// the same bits for any thread count and any grouping of the sums.
    pub(super) fn reduce_sums(&'id self, ids: &[u32]) -> SmallVec<[T; MAX_SUMS]> {
        self.compute_all(&[], ids)
    }

    /// `Σₖ f[k]` of the field `id` (see [`Ctx::reduce_sums`]).
    pub(super) fn reduce_sum(&'id self, id: u32) -> T {
        self.reduce_sums(&[id])[0]
    }

    /// Writes the values of each field into its slice (of the grid's
    /// length): the lazy ones computed in one fused loop straight into the
    /// slices (they stay lazy: a later use computes them again), the others
    /// copied. With `check`, whether every value written is finite (`true`
    /// without).
    pub(super) fn materialise_into(&'id self, pairs: &mut [(u32, &mut [T])], check: bool) -> bool {
        if pairs.len() > MAX_ROOTS {
            return pairs.chunks_mut(MAX_ROOTS).fold(true, |ok, c| self.materialise_into(c, check) & ok);
        }
        let lazy = |id: u32| self.st.borrow().vals[id as usize].buf.is_none();
        // fields in memory beside lazy ones: copied by the same fused loop,
        // tile by tile (`x · 1`, exact), while the tile is in cache — a
        // state's unchanged field (a leapfrog's `u` becoming `u_prev`) read
        // where the stencil has just read it, not in a pass of its own
        let originals: SmallVec<[u32; MAX_ROOTS]> = pairs.iter().map(|p| p.0).collect();
        let mut copies: SmallVec<[u32; MAX_ROOTS]> = SmallVec::new();
        if self.fuse && pairs.iter().any(|p| lazy(p.0)) {
            for p in pairs.iter_mut().filter(|p| !lazy(p.0)) {
                p.0 = self.lazy(Op::ScaleC(p.0, 1.0)).id;
                copies.push(p.0);
            }
        }
        let mut pending = self.take_pending();
        // the first pair of each lazy field: computed straight into its slice
        let mut firsts: SmallVec<[usize; MAX_ROOTS]> = SmallVec::new();
        for k in 0..pairs.len() {
            let id = pairs[k].0;
            if lazy(id) && !firsts.iter().any(|&f| pairs[f].0 == id) {
                firsts.push(k);
            }
        }
        if pending.len() + firsts.len() > MAX_ROOTS {
            self.compute_now(&pending, &[]);
            pending.clear();
        }
        let all: SmallVec<[u32; MAX_ROOTS]> =
            pending.iter().copied().chain(firsts.iter().map(|&k| pairs[k].0)).collect();
        let direct = match self.plan(&all, &[]) {
            Ok(plan) if !firsts.is_empty() && plan.instrs.len() <= MAX_SLOTS => {
                let mut into: SmallVec<[Option<&mut [T]>; MAX_ROOTS]> = pending.iter().map(|_| None).collect();
                for (k, (_, dst)) in pairs.iter_mut().enumerate() {
                    if firsts.contains(&k) {
                        into.push(Some(&mut dst[..]));
                    }
                }
                let (outs, _, finite) = self.execute_into(&plan, into, check);
                self.count(plan.reads, all.len() as u64);
                let mut st = self.st.borrow_mut();
                for (&id, out) in pending.iter().zip(outs) {
                    st.vals[id as usize].buf = out;
                }
                Some(finite)
            }
            _ => {
                // no fused loop into the slices: the fields in memory copied
                // as they are, not computed again as copies first
                for (p, &id) in pairs.iter_mut().zip(&originals) {
                    p.0 = id;
                }
                let lazy_ones: SmallVec<[u32; MAX_ROOTS]> =
                    all.iter().copied().filter(|id| !copies.contains(id)).collect();
                self.compute_now(&lazy_ones, &[]);
                None
            }
        };
        let mut finite = direct.unwrap_or(true);
        let direct = direct.is_some();
        // the others: copies (a field in memory, or asked for twice)
        for k in 0..pairs.len() {
            if !(direct && firsts.contains(&k)) {
                let src = self.val(pairs[k].0);
                crate::par::copy(self.par, pairs[k].1, src, self.grid.plane_len());
                self.count(1, 1);
                if check {
                    finite &= all_finite(pairs[k].1);
                }
            }
        }
        finite
    }

    /// Computes the lazy fields among `ids` and the deferred ones, and the
    /// sums of `sums`, in as few fused loops as the limits allow.
    pub(super) fn compute_all(&'id self, ids: &[u32], sums: &[u32]) -> SmallVec<[T; MAX_SUMS]> {
        let pending = self.take_pending();
        if pending.len() + ids.len() > MAX_ROOTS {
            self.compute_now(&pending, &[]);
            for c in ids.chunks(MAX_ROOTS) {
                self.compute_now(c, &[]);
            }
            return sums.chunks(MAX_SUMS).flat_map(|c| self.compute_now(&[], c)).collect();
        }
        let roots: SmallVec<[u32; MAX_ROOTS]> = pending.iter().chain(ids).copied().collect();
        if sums.len() > MAX_SUMS {
            self.compute_now(&roots, &[]);
            return sums.chunks(MAX_SUMS).flat_map(|c| self.compute_now(&[], c)).collect();
        }
        self.compute_now(&roots, sums)
    }

    /// One fused loop for the lazy fields among `ids` (at most
    /// [`MAX_ROOTS`]) and the sums of `sums` (at most [`MAX_SUMS`]), or
    /// several if it would be too large.
    fn compute_now(&'id self, ids: &[u32], sums: &[u32]) -> SmallVec<[T; MAX_SUMS]> {
        let roots: SmallVec<[u32; MAX_ROOTS]> = {
            let st = self.st.borrow();
            let mut r: SmallVec<[u32; MAX_ROOTS]> = SmallVec::new();
            for &id in ids {
                let v = &st.vals[id as usize];
                if v.kind == Kind::Field && v.buf.is_none() && !r.contains(&id) {
                    r.push(id);
                }
            }
            r
        };
        if roots.is_empty() && sums.is_empty() {
            return SmallVec::new();
        }
        let plan = match self.plan(&roots, sums) {
            Ok(plan) => plan,
            Err(first) => {
                // a halo too deep: that expression into memory first
                self.compute_now(&[first], &[]);
                return self.compute_now(&roots, sums);
            }
        };
        if plan.instrs.len() > MAX_SLOTS && roots.len() + sums.len() > 1 {
            // too many operations for one loop: the roots and the sums apart,
            // then halves
            if !roots.is_empty() && !sums.is_empty() {
                self.compute_now(&roots, &[]);
                return self.compute_now(&[], sums);
            }
            if roots.len() > 1 {
                let (a, b) = roots.split_at(roots.len() / 2);
                self.compute_now(a, &[]);
                return self.compute_now(b, &[]);
            }
            let (a, b) = sums.split_at(sums.len() / 2);
            return self.compute_now(&[], a).into_iter().chain(self.compute_now(&[], b)).collect();
        }
        assert!(plan.instrs.len() <= MAX_SLOTS, "a lazy expression is bounded by MAX_FUSED");
        let (outs, partials) = self.execute(&plan);
        self.count(plan.reads, roots.len() as u64);
        let mut st = self.st.borrow_mut();
        for (&id, out) in roots.iter().zip(outs) {
            st.vals[id as usize].buf = Some(out);
        }
        partials.chunks(self.grid.nx.max(1)).map(|p| p.iter().fold(T::zero(), |a, &b| a + b)).collect()
    }

    /// The fused loop computing `roots` and the sums of `sums`; or, if an
    /// expression would be computed too far beyond a tile, the latest such
    /// one (to be computed into memory first).
    fn plan(&'id self, roots: &[u32], sums: &[u32]) -> Result<Plan<'id, T>, u32> {
        let st = self.st.borrow();
        let vals = &st.vals;
        // the lazy operations needed, by a depth-first walk
        let mut slot = BVec::from_iter_in(std::iter::repeat_n(u32::MAX, vals.len()), self.arena);
        let mut needed = BVec::new_in(self.arena);
        let mut stack = BVec::from_iter_in(roots.iter().chain(sums).copied(), self.arena);
        while let Some(id) = stack.pop() {
            let v = &vals[id as usize];
            if v.buf.is_some() || slot[id as usize] != u32::MAX {
                continue;
            }
            slot[id as usize] = 0;
            needed.push(id);
            v.op.each_field_operand(|a| stack.push(a));
        }
        needed.sort_unstable();
        for (s, &id) in needed.iter().enumerate() {
            slot[id as usize] = s as u32;
        }
        let src = |id: u32| -> Src<'id, T> {
            match slot[id as usize] {
                u32::MAX => Src::Buf(vals[id as usize].buf.expect("a materialised operand")),
                s => Src::Slot(s),
            }
        };
        let mut weight = 0;
        let mut instrs = BVec::with_capacity_in(needed.len(), self.arena);
        for &id in &needed {
            let op = vals[id as usize].op;
            let mut srcs = BVec::new_in(self.arena);
            op.each_field_operand(|a| srcs.push(src(a)));
            let scalar = match op {
                Op::ScaleS(_, s) | Op::AddS(_, s) | Op::Splat(s) => vals[s as usize].buf.expect("a scalar")[0],
                _ => T::zero(),
            };
            let obs = match op {
                Op::Inject(s, ..) => vals[s as usize].buf.expect("amplitudes"),
                _ => &[],
            };
            weight += 1 + match op {
                Op::Stencil(rule, _) => rule.weight(),
                Op::StencilT(rule, ..) => 2 * rule.weight(),
                _ => 0,
            };
            debug_assert!(op.is_lazy(), "only lazy operations are left unmaterialised");
            instrs.push(Instr { op, srcs: srcs.into_bump_slice(), scalar, obs, prod: None, skip: false });
        }
        // the rows each instruction covers around a tile, from its
        // consumers back (a consumer comes after what it reads)
        let mut ext = BVec::from_iter_in(std::iter::repeat_n((0isize, 0isize), instrs.len()), self.arena);
        let grow = |ext: &mut BVec<'_, (isize, isize)>, x: Src<'_, T>, (lo, hi): (isize, isize)| {
            if let Src::Slot(p) = x {
                let e = &mut ext[p as usize];
                *e = (e.0.min(lo), e.1.max(hi));
            }
        };
        for s in (0..instrs.len()).rev() {
            let (lo, hi) = ext[s];
            if lo < -MAX_HALO || hi > MAX_HALO {
                return Err(needed[s]);
            }
            let ins = instrs[s];
            match ins.op {
                Op::Stencil(rule, _) => {
                    let (dmin, dmax) = rule.reach();
                    ins.srcs.iter().for_each(|&x| grow(&mut ext, x, (lo + dmin, hi + dmax)));
                }
                Op::StencilT(rule, ..) => {
                    // the output's adjoint at the mirrored offsets, the
                    // inputs at the differences of two offsets
                    let (dmin, dmax) = rule.reach();
                    grow(&mut ext, ins.srcs[0], (lo - dmax, hi - dmin));
                    ins.srcs[1..].iter().for_each(|&x| grow(&mut ext, x, (lo + dmin - dmax, hi + dmax - dmin)));
                }
                _ => ins.srcs.iter().for_each(|&x| grow(&mut ext, x, (lo, hi))),
            }
        }
        let sums: SmallVec<[Src<'id, T>; MAX_SUMS]> = sums.iter().map(|&id| src(id)).collect();
        // products read once, by a sum or a difference: folded into it
        let mut uses = BVec::from_iter_in(std::iter::repeat_n(0u32, instrs.len()), self.arena);
        for x in instrs.iter().flat_map(|i| i.srcs.iter()).chain(&sums) {
            if let Src::Slot(p) = *x {
                uses[p as usize] += 1;
            }
        }
        for &r in roots {
            uses[slot[r as usize] as usize] += 1;
        }
        for i in 0..instrs.len() {
            if !matches!(instrs[i].op, Op::Add(..) | Op::Sub(..)) {
                continue;
            }
            let folded = (0..2).find_map(|at| match instrs[i].srcs[at] {
                Src::Slot(p)
                    if uses[p as usize] == 1
                        && !instrs[p as usize].skip
                        && instrs[p as usize].prod.is_none()
                        && matches!(instrs[p as usize].op, Op::ScaleC(..) | Op::ScaleS(..) | Op::Mul(..)) =>
                {
                    Some((at, p as usize))
                }
                _ => None,
            });
            if let Some((at, p)) = folded {
                let q = instrs[p];
                instrs[i].prod = Some(Prod { at, op: q.op, srcs: q.srcs, scalar: q.scalar });
                instrs[p].skip = true;
            }
        }
        // the distinct fields in memory the loop reads
        let mut read = BVec::new_in(self.arena);
        for ins in instrs.iter() {
            if let Op::Mask(_, m) | Op::SubData(_, m) = ins.op {
                note(&mut read, m.as_ptr().cast());
            }
            for x in ins.srcs.iter().chain(&sums) {
                if let Src::Buf(b) = x {
                    note(&mut read, b.as_ptr());
                }
            }
        }
        Ok(Plan {
            instrs,
            ext,
            roots: roots.iter().map(|&id| slot[id as usize]).collect(),
            sums,
            weight: weight.max(1),
            reads: read.len() as u64,
        })
    }
}
