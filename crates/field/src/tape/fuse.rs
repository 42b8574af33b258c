//! Fused evaluation: the lazy expressions behind some fields computed in
//! one loop over tiles.
//!
//! A lazy field is an operation on earlier values (see `op.rs`). To compute
//! some of them, [`Ctx::materialise_ids`] collects the lazy operations they
//! need — stopping at values already in memory — in recording order (a
//! topological order), turns each into an [`Instr`] whose operands are
//! either earlier instructions or buffers, and runs the list over tiles of
//! a few rows ([`TILE`] points): each instruction fills its tile of a
//! scratch buffer that stays in cache, and only the requested fields are
//! written to memory. Each operation runs over a whole tile at a time (a
//! tight loop the compiler vectorises), so the dispatch costs one `match`
//! per operation and tile, not per point — numexpr's scheme, with XLA's
//! rule of recomputing cheap producers inside their consumers rather than
//! storing them. Tiles are grouped into pieces for the thread team; the
//! arithmetic of a point does not depend on the tiling, so the results are
//! the same bits on any number of threads, and with fusion off.
//!
//! Reductions ([`Ctx::reduce_sum`]) run the same loop and fold each row,
//! then add the rows in order.

use std::mem::MaybeUninit;
use std::ops::Range;

use bumpalo::collections::Vec as BVec;
use rewind_tape::{Binary, Unary};
use rewind_team::{ChunksMut, InitChunks};
use smallvec::SmallVec;

use super::Ctx;
use super::op::{Kind, Op};
use super::stencil::Rule;
use crate::Grid;
use crate::components::Components;
use crate::par::rows_per_piece;

/// Points per tile (rounded to whole rows): small enough that a tile of
/// every operation of a fused loop stays in the core's L1/L2 caches.
const TILE: usize = 512;

/// An operand: the tile of an earlier instruction, or a field in memory.
#[derive(Clone, Copy)]
enum Src<'a, T> {
    Slot(u32),
    Buf(&'a [T]),
}

/// One operation of a fused loop, its operands resolved.
#[derive(Clone, Copy)]
enum Instr<'a, T> {
    Add(Src<'a, T>, Src<'a, T>),
    Sub(Src<'a, T>, Src<'a, T>),
    Mul(Src<'a, T>, Src<'a, T>),
    Div(Src<'a, T>, Src<'a, T>),
    Neg(Src<'a, T>),
    ScaleC(Src<'a, T>, f64),
    AddC(Src<'a, T>, f64),
    ScaleS(Src<'a, T>, T),
    AddS(Src<'a, T>, T),
    Map(Unary, Src<'a, T>),
    MapD(Unary, Src<'a, T>),
    Map2(Binary, Src<'a, T>, Src<'a, T>),
    Map2D(Binary, bool, Src<'a, T>, Src<'a, T>),
    Mask(Src<'a, T>, &'a [f64]),
    SubData(Src<'a, T>, &'a [f64]),
    Splat(T),
    Stencil(&'a dyn Rule<T>, &'a [&'a [T]]),
    StencilT(&'a dyn Rule<T>, usize, &'a [T], &'a [&'a [T]]),
}

/// `out[k] = f(a[k])`.
#[inline(always)]
fn map1<T: Copy>(out: &mut [T], a: &[T], f: impl Fn(T) -> T) {
    for (o, &x) in out.iter_mut().zip(a) {
        *o = f(x);
    }
}

/// `out[k] = f(a[k], b[k])`.
#[inline(always)]
fn map2<T: Copy, U: Copy>(out: &mut [T], a: &[T], b: &[U], f: impl Fn(T, U) -> T) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// The tile `points` of an operand (`cap` values per slot of `done`).
#[inline(always)]
fn tile<'s, T>(x: Src<'s, T>, done: &'s [T], cap: usize, points: Range<usize>) -> &'s [T] {
    match x {
        Src::Slot(j) => &done[j as usize * cap..j as usize * cap + points.len()],
        Src::Buf(b) => &b[points],
    }
}

/// Notes the field at `p` among those a loop reads.
fn note<T>(read: &mut BVec<'_, *const T>, p: *const T) {
    if !read.contains(&p) {
        read.push(p);
    }
}

/// Runs the instructions on the rows `rows`, instruction `s` filling the
/// tile `scratch[s·cap..]`.
fn run_tile<T: Components>(instrs: &[Instr<'_, T>], scratch: &mut [T], cap: usize, g: &Grid, rows: Range<usize>) {
    let (p0, p1) = (rows.start * g.ny, rows.end * g.ny);
    let len = p1 - p0;
    for (s, ins) in instrs.iter().enumerate() {
        let (done, rest) = scratch.split_at_mut(s * cap);
        let out = &mut rest[..len];
        let done: &[T] = done;
        let at = |x| tile(x, done, cap, p0..p1);
        match *ins {
            Instr::Add(a, b) => map2(out, at(a), at(b), |x, y| x + y),
            Instr::Sub(a, b) => map2(out, at(a), at(b), |x, y| x - y),
            Instr::Mul(a, b) => map2(out, at(a), at(b), |x, y| x * y),
            Instr::Div(a, b) => map2(out, at(a), at(b), |x, y| x / y),
            Instr::Neg(a) => map1(out, at(a), |x| -x),
            Instr::ScaleC(a, c) => map1(out, at(a), |x| x * c),
            Instr::AddC(a, c) => map1(out, at(a), |x| x + c),
            Instr::ScaleS(a, s) => map1(out, at(a), |x| x * s),
            Instr::AddS(a, s) => map1(out, at(a), |x| x + s),
            Instr::Map(u, a) => map1(out, at(a), |x| u.apply(x)),
            Instr::MapD(u, a) => map1(out, at(a), |x| u.derivative(x)),
            Instr::Map2(f, a, b) => map2(out, at(a), at(b), |x, y| f.apply(x, y)),
            Instr::Map2D(f, true, a, b) => map2(out, at(a), at(b), |x, y| f.d_first(x, y)),
            Instr::Map2D(f, false, a, b) => map2(out, at(a), at(b), |x, y| f.d_second(x, y)),
            Instr::Mask(a, m) => map2(out, at(a), &m[p0..p1], |x, m| x * m),
            Instr::SubData(a, d) => map2(out, at(a), &d[p0..p1], |x, d| x - d),
            Instr::Splat(v) => out.fill(v),
            Instr::Stencil(rule, xs) => rule.eval_rows(g, xs, rows.clone(), out),
            Instr::StencilT(rule, k, obar, xs) => rule.vjp_rows(g, xs, obar, k, rows.clone(), out),
        }
    }
}

/// A fused loop: its instructions, which of them are written out, the
/// reduced operand if any, and its cost.
struct Plan<'id, T> {
    instrs: BVec<'id, Instr<'id, T>>,
    roots: SmallVec<[u32; 8]>,
    reduce: Option<Src<'id, T>>,
    /// Work per point, in elementwise operations.
    weight: usize,
    /// Distinct fields in memory it reads.
    reads: u64,
}

impl<'id, T: Components> Ctx<'id, T> {
    /// Computes the lazy fields among `ids` (the others are in memory
    /// already) in one fused loop.
    pub(super) fn materialise_ids(&'id self, ids: &[u32]) {
        let roots: SmallVec<[u32; 8]> = {
            let st = self.st.borrow();
            let mut r: SmallVec<[u32; 8]> = SmallVec::new();
            for &id in ids {
                let v = &st.vals[id as usize];
                if v.kind == Kind::Field && v.buf.is_none() && !r.contains(&id) {
                    r.push(id);
                }
            }
            r
        };
        if roots.is_empty() {
            return;
        }
        let plan = self.plan(&roots, None);
        let (outs, _) = self.execute(&plan);
        self.count(plan.reads, roots.len() as u64);
        let mut st = self.st.borrow_mut();
        for (&id, out) in roots.iter().zip(outs) {
            st.vals[id as usize].buf = Some(out);
        }
    }

    /// `Σₖ f[k]` of the field `id` (lazy or not), by rows added in order:
    /// each row folded from its first point to its last, the rows' sums
    /// then added from the first row to the last — the same bits for any
    /// thread count.
    pub(super) fn reduce_sum(&'id self, id: u32) -> T {
        let plan = self.plan(&[], Some(id));
        let (_, partials) = self.execute(&plan);
        self.count(plan.reads, 0);
        partials.iter().fold(T::zero(), |a, &b| a + b)
    }

    /// The fused loop computing `roots` and the reduced field `reduce`.
    fn plan(&'id self, roots: &[u32], reduce: Option<u32>) -> Plan<'id, T> {
        let st = self.st.borrow();
        let vals = &st.vals;
        // the lazy operations needed, by a depth-first walk
        let mut slot = BVec::from_iter_in(std::iter::repeat_n(u32::MAX, vals.len()), self.arena);
        let mut needed = BVec::new_in(self.arena);
        let mut stack = BVec::from_iter_in(roots.iter().copied().chain(reduce), self.arena);
        while let Some(id) = stack.pop() {
            let v = &vals[id as usize];
            if v.buf.is_some() || slot[id as usize] != u32::MAX {
                continue;
            }
            slot[id as usize] = 0;
            needed.push(id);
            stack.extend(v.op.pointwise_operands().into_iter().flatten());
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
        let bufs = |ids: &[u32]| -> &'id [&'id [T]] {
            self.arena.alloc_slice_fill_iter(
                ids.iter().map(|&id| vals[id as usize].buf.expect("a stencil's input, materialised")),
            )
        };
        let scalar = |id: u32| vals[id as usize].buf.expect("a scalar")[0];
        let mut weight = 0;
        let mut instrs = BVec::with_capacity_in(needed.len(), self.arena);
        for &id in &needed {
            let ins = match vals[id as usize].op {
                Op::Add(a, b) => Instr::Add(src(a), src(b)),
                Op::Sub(a, b) => Instr::Sub(src(a), src(b)),
                Op::Mul(a, b) => Instr::Mul(src(a), src(b)),
                Op::Div(a, b) => Instr::Div(src(a), src(b)),
                Op::Neg(a) => Instr::Neg(src(a)),
                Op::ScaleC(a, c) => Instr::ScaleC(src(a), c),
                Op::AddC(a, c) => Instr::AddC(src(a), c),
                Op::ScaleS(a, s) => Instr::ScaleS(src(a), scalar(s)),
                Op::AddS(a, s) => Instr::AddS(src(a), scalar(s)),
                Op::Map(u, a) => Instr::Map(u, src(a)),
                Op::MapD(u, a) => Instr::MapD(u, src(a)),
                Op::Map2(f, a, b) => Instr::Map2(f, src(a), src(b)),
                Op::Map2D(f, first, a, b) => Instr::Map2D(f, first, src(a), src(b)),
                Op::Mask(a, m) => Instr::Mask(src(a), m),
                Op::SubData(a, d) => Instr::SubData(src(a), d),
                Op::Splat(s) => Instr::Splat(scalar(s)),
                Op::Stencil(rule, ids) => {
                    weight += rule.weight();
                    Instr::Stencil(rule, bufs(ids))
                }
                Op::StencilT(rule, k, adj, ids) => {
                    weight += 2 * rule.weight();
                    let obar = vals[adj as usize].buf.expect("a stencil's adjoint, materialised");
                    Instr::StencilT(rule, k as usize, obar, bufs(ids))
                }
                _ => unreachable!("only lazy operations are left unmaterialised"),
            };
            weight += 1;
            instrs.push(ins);
        }
        let reduce = reduce.map(src);
        // the distinct fields in memory the loop reads
        let mut read = BVec::new_in(self.arena);
        let mut srcs: SmallVec<[Src<'id, T>; 2]> = SmallVec::new();
        for ins in instrs.iter().copied().map(Some).chain([None]) {
            srcs.clear();
            match ins {
                Some(Instr::Add(a, b) | Instr::Sub(a, b) | Instr::Mul(a, b) | Instr::Div(a, b)) => srcs.extend([a, b]),
                Some(Instr::Map2(_, a, b) | Instr::Map2D(_, _, a, b)) => srcs.extend([a, b]),
                Some(
                    Instr::Neg(a)
                    | Instr::ScaleC(a, _)
                    | Instr::AddC(a, _)
                    | Instr::ScaleS(a, _)
                    | Instr::AddS(a, _)
                    | Instr::Map(_, a)
                    | Instr::MapD(_, a),
                ) => srcs.push(a),
                Some(Instr::Mask(a, m) | Instr::SubData(a, m)) => {
                    srcs.push(a);
                    note(&mut read, m.as_ptr().cast());
                }
                Some(Instr::Splat(_)) => {}
                Some(Instr::Stencil(_, xs)) => xs.iter().for_each(|b| note(&mut read, b.as_ptr())),
                Some(Instr::StencilT(_, _, obar, xs)) => {
                    note(&mut read, obar.as_ptr());
                    xs.iter().for_each(|b| note(&mut read, b.as_ptr()));
                }
                None => srcs.extend(reduce),
            }
            for x in &srcs {
                if let Src::Buf(b) = x {
                    note(&mut read, b.as_ptr());
                }
            }
        }
        Plan {
            instrs,
            roots: roots.iter().map(|&id| slot[id as usize]).collect(),
            reduce,
            weight: weight.max(1),
            reads: read.len() as u64,
        }
    }

    /// Runs a plan: the roots' values, and the row sums of the reduced
    /// operand (one per row; empty without one).
    fn execute(&self, plan: &Plan<'id, T>) -> (SmallVec<[&'id [T]; 8]>, &'id [T]) {
        let g = self.grid;
        let (nx, ny, n) = (g.nx, g.ny, g.len());
        let tile_rows = (TILE / ny).max(1);
        let cap = tile_rows * ny;
        // (at least one value, so that every piece has a chunk)
        let per_tile = (plan.instrs.len() * cap).max(1);
        let threads = self.par.threads::<T>(n, plan.weight);
        let partials: &'id mut [T] =
            self.arena.alloc_slice_fill_copy(if plan.reduce.is_some() { nx } else { 0 }, T::zero());
        let mut scratch = self.scratch.borrow_mut();
        // the row sums of a tile, from its tiles of scratch
        let reduced = plan.reduce;
        let sum_rows = |scratch: &[T], rows: Range<usize>, sums: &mut [T]| {
            if let Some(r) = reduced {
                let base = rows.start * ny;
                for (i, s) in rows.zip(sums) {
                    let row = match r {
                        Src::Slot(j) => &scratch[j as usize * cap + (i * ny - base)..][..ny],
                        Src::Buf(b) => &b[i * ny..(i + 1) * ny],
                    };
                    *s = row.iter().fold(T::zero(), |s, &x| s + x);
                }
            }
        };
        if threads <= 1 {
            if scratch.len() < per_tile {
                scratch.resize(per_tile, T::zero());
            }
            // each root appended tile by tile: written once, no zero-fill
            let mut outs: SmallVec<[BVec<'id, T>; 8]> =
                plan.roots.iter().map(|_| BVec::with_capacity_in(n, self.arena)).collect();
            for r0 in (0..nx).step_by(tile_rows) {
                let rows = r0..(r0 + tile_rows).min(nx);
                let len = rows.len() * ny;
                run_tile(&plan.instrs, &mut scratch[..], cap, &g, rows.clone());
                for (out, &s) in outs.iter_mut().zip(&plan.roots) {
                    out.extend_from_slice(&scratch[s as usize * cap..][..len]);
                }
                if plan.reduce.is_some() {
                    sum_rows(&scratch, rows.clone(), &mut partials[rows]);
                }
            }
            return (outs.into_iter().map(|o| o.into_bump_slice()).collect(), partials);
        }
        let per = rows_per_piece(nx, threads);
        let pieces = nx.div_ceil(per);
        if scratch.len() < pieces * per_tile {
            scratch.resize(pieces * per_tile, T::zero());
        }
        let tiles = ChunksMut::new(&mut scratch[..pieces * per_tile], per_tile);
        let outs: SmallVec<[InitChunks<'id, T>; 8]> = plan
            .roots
            .iter()
            .map(|_| InitChunks::new(self.arena.alloc_slice_fill_copy(n, MaybeUninit::uninit()), per * ny, T::zero()))
            .collect();
        let sums = ChunksMut::new(&mut partials[..], per.max(1));
        let (instrs, roots, reduce) = (&plan.instrs[..], &plan.roots[..], plan.reduce);
        rewind_team::run(threads, pieces, |p| {
            let scratch = tiles.take(p);
            let rows = p * per..((p + 1) * per).min(nx);
            let mut mine: SmallVec<[&mut [T]; 8]> = outs.iter().map(|o| o.take(p)).collect();
            let sums = if reduce.is_some() { sums.take(p) } else { &mut [] };
            for r0 in rows.clone().step_by(tile_rows) {
                let tile = r0..(r0 + tile_rows).min(rows.end);
                let (at, len) = ((r0 - rows.start) * ny, tile.len() * ny);
                run_tile(instrs, scratch, cap, &g, tile.clone());
                for (out, &s) in mine.iter_mut().zip(roots) {
                    out[at..at + len].copy_from_slice(&scratch[s as usize * cap..][..len]);
                }
                if reduce.is_some() {
                    sum_rows(scratch, tile.clone(), &mut sums[tile.start - rows.start..][..tile.len()]);
                }
            }
        });
        (outs.into_iter().map(|o| &*o.finish()).collect(), partials)
    }
}
