//! Fused evaluation: the lazy expressions behind some fields computed in
//! one loop over tiles.
//!
//! A lazy field is an operation on earlier values (see `op.rs`). To compute
//! some of them, [`Ctx::materialise_ids`] collects the lazy operations they
//! need — stopping at values already in memory — in recording order (a
//! topological order), turns each into an [`Instr`] whose operands are
//! either earlier instructions or fields in memory, and runs the list over
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
//! Tiles are grouped into pieces for the thread team; the arithmetic of a
//! point does not depend on the tiling, so the results are the same bits
//! on any number of threads, and with fusion off. Reductions
//! ([`Ctx::reduce_sums`]) run the same loop and fold each row, then add
//! the rows in order.

use std::mem::MaybeUninit;
use std::ops::Range;

use bumpalo::collections::Vec as BVec;
use rewind_tape::{Binary, Unary};
use rewind_team::{ChunksMut, InitChunks};
use smallvec::SmallVec;

use super::Ctx;
use super::compiled::Rows;
use super::op::{Kind, Op};
use super::stencil::{MAX_LOCAL, Rule};
use crate::Grid;
use crate::components::Components;
use crate::par::rows_per_piece;

/// Points per tile (rounded to whole rows, at least [`MIN_TILE_ROWS`]):
/// small enough that a tile of every operation of a fused loop stays in the
/// core's L1/L2 caches.
const TILE: usize = 1024;

/// Rows per tile at least, so that halos cost a fraction of a tile.
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
    Stencil(&'a dyn Rule<T>, &'a [Src<'a, T>]),
    StencilT(&'a dyn Rule<T>, usize, Src<'a, T>, &'a [Src<'a, T>]),
}

impl<'a, T: Copy> Instr<'a, T> {
    /// Calls `f` with every operand.
    fn each_src(&self, mut f: impl FnMut(Src<'a, T>)) {
        use Instr::*;
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
            Splat(_) => {}
            Stencil(_, xs) => xs.iter().for_each(|&x| f(x)),
            StencilT(_, _, o, xs) => {
                f(o);
                xs.iter().for_each(|&x| f(x));
            }
        }
    }
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

/// What a fused loop wrote into new arena buffers, root by root (`None`:
/// into a slice the caller gave).
type Written<'id, T> = SmallVec<[Option<&'id [T]>; MAX_ROOTS]>;

/// Where a fused loop writes a root: a new arena buffer (each chunk
/// zero-filled in cache by the thread that takes it), or a slice the
/// caller gave.
enum Out<'a, 'x, T> {
    Arena(InitChunks<'a, T>),
    Slice(ChunksMut<'x, T>),
}

impl<T: Copy + Send + Sync> Out<'_, '_, T> {
    fn take(&self, c: usize) -> &mut [T] {
        match self {
            Out::Arena(o) => o.take(c),
            Out::Slice(o) => o.take(c),
        }
    }
}

/// Notes the field at `p` among those a loop reads.
fn note<T>(read: &mut BVec<'_, *const T>, p: *const T) {
    if !read.contains(&p) {
        read.push(p);
    }
}

/// The geometry of one tile: its rows, and the rows each instruction
/// covers around them.
struct Tile<'p> {
    g: Grid,
    rows: Range<isize>,
    ext: &'p [(isize, isize)],
}

impl Tile<'_> {
    /// The unwrapped rows instruction `s` covers.
    fn rows_of(&self, s: usize) -> Range<isize> {
        let (lo, hi) = self.ext[s];
        self.rows.start + lo..self.rows.end + hi
    }
}

/// Calls `f(from, start, len)` for the runs of the unwrapped rows `rows`
/// that are contiguous once wrapped: `from` the run's offset among the
/// rows' values, `start` its offset in a whole field, `len` its values.
#[inline(always)]
fn each_run(g: &Grid, rows: Range<isize>, mut f: impl FnMut(usize, usize, usize)) {
    let (nx, ny) = (g.nx as isize, g.ny);
    let mut r = rows.start;
    while r < rows.end {
        let w = r.rem_euclid(nx);
        let n = (nx - w).min(rows.end - r);
        f((r - rows.start) as usize * ny, w as usize * ny, n as usize * ny);
        r += n;
    }
}

/// An operand of an instruction over its rows: a slice of an earlier
/// instruction's window (the same rows), or a field in memory.
enum Operand<'a, T> {
    Window(&'a [T]),
    Field(&'a [T]),
}

impl<T> Clone for Operand<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Operand<'_, T> {}

impl<'a, T> Operand<'a, T> {
    /// The values of one run (see [`each_run`]).
    #[inline(always)]
    fn run(self, from: usize, start: usize, len: usize) -> &'a [T] {
        match self {
            Operand::Window(v) => &v[from..from + len],
            Operand::Field(b) => &b[start..start + len],
        }
    }
}

/// Operand `x` of an instruction on the rows from `start`, `len` values.
#[inline(always)]
fn operand<'s, T>(x: Src<'s, T>, done: &Done<'s, '_, T>, t: &Tile<'_>, start: isize, len: usize) -> Operand<'s, T> {
    match x {
        Src::Slot(j) => {
            let from = (start - t.rows_of(j as usize).start) as usize * t.g.ny;
            Operand::Window(&done.of(j)[from..from + len])
        }
        Src::Buf(b) => Operand::Field(b),
    }
}

/// Operand `x` of a stencil: a window of rows, or a whole field.
#[inline(always)]
fn window<'s, T>(x: Src<'s, T>, done: &Done<'s, '_, T>, t: &Tile<'_>) -> Rows<'s, T> {
    match x {
        Src::Slot(j) => {
            let rows = t.rows_of(j as usize);
            Rows { data: &done.of(j)[..rows.len() * t.g.ny], first: Some(rows.start) }
        }
        Src::Buf(b) => Rows::full(b),
    }
}

/// A pointwise loop over one run of one operand (and the run's offset in
/// a whole field, for fixed data).
type Unary1<'f, T> = dyn Fn(&mut [T], &[T], usize) + 'f;
/// A pointwise loop over one run of two operands.
type Binary1<'f, T> = dyn Fn(&mut [T], &[T], &[T]) + 'f;

/// Runs the instructions on one tile, instruction `s` filling the buffer
/// `slots[phys[s]]` (a tile of scratch in cache, or of an output) on its
/// rows.
fn run_tile<'a, T: Components>(instrs: &[Instr<'a, T>], phys: &[u16], slots: &mut [&mut [T]], t: &Tile<'_>) {
    let g = &t.g;
    for (s, ins) in instrs.iter().enumerate() {
        let rows = t.rows_of(s);
        let len = rows.len() * g.ny;
        // the output buffer, out of the table while the operands are read
        let buf = std::mem::take(&mut slots[phys[s] as usize]);
        let out = &mut buf[..len];
        let done = Done { slots: &*slots, phys };
        let at = |x| operand(x, &done, t, rows.start, len);
        let window = |x| window(x, &done, t);
        let one = |a: Src<'a, T>, out: &mut [T], f: &Unary1<'_, T>| {
            let a = at(a);
            each_run(g, rows.clone(), |from, start, n| f(&mut out[from..from + n], a.run(from, start, n), start));
        };
        let two = |a: Src<'a, T>, b: Src<'a, T>, out: &mut [T], f: &Binary1<'_, T>| {
            let (a, b) = (at(a), at(b));
            each_run(g, rows.clone(), |from, start, n| {
                f(&mut out[from..from + n], a.run(from, start, n), b.run(from, start, n))
            });
        };
        match *ins {
            Instr::Add(a, b) => two(a, b, out, &|o, x, y| map2(o, x, y, |x, y| x + y)),
            Instr::Sub(a, b) => two(a, b, out, &|o, x, y| map2(o, x, y, |x, y| x - y)),
            Instr::Mul(a, b) => two(a, b, out, &|o, x, y| map2(o, x, y, |x, y| x * y)),
            Instr::Div(a, b) => two(a, b, out, &|o, x, y| map2(o, x, y, |x, y| x / y)),
            Instr::Neg(a) => one(a, out, &|o, x, _| map1(o, x, |x| -x)),
            Instr::ScaleC(a, c) => one(a, out, &|o, x, _| map1(o, x, |x| x * c)),
            Instr::AddC(a, c) => one(a, out, &|o, x, _| map1(o, x, |x| x + c)),
            Instr::ScaleS(a, v) => one(a, out, &|o, x, _| map1(o, x, |x| x * v)),
            Instr::AddS(a, v) => one(a, out, &|o, x, _| map1(o, x, |x| x + v)),
            Instr::Map(u, a) => one(a, out, &|o, x, _| map1(o, x, |x| u.apply(x))),
            Instr::MapD(u, a) => one(a, out, &|o, x, _| map1(o, x, |x| u.derivative(x))),
            Instr::Map2(f, a, b) => two(a, b, out, &|o, x, y| map2(o, x, y, |x, y| f.apply(x, y))),
            Instr::Map2D(f, true, a, b) => two(a, b, out, &|o, x, y| map2(o, x, y, |x, y| f.d_first(x, y))),
            Instr::Map2D(f, false, a, b) => two(a, b, out, &|o, x, y| map2(o, x, y, |x, y| f.d_second(x, y))),
            Instr::Mask(a, m) => one(a, out, &|o, x, start| map2(o, x, &m[start..start + x.len()], |x, m| x * m)),
            Instr::SubData(a, d) => one(a, out, &|o, x, start| map2(o, x, &d[start..start + x.len()], |x, d| x - d)),
            Instr::Splat(v) => out.fill(v),
            Instr::Stencil(rule, xs) => {
                let mut w = [Rows::full(&[][..]); MAX_LOCAL];
                xs.iter().zip(&mut w).for_each(|(&x, w)| *w = window(x));
                rule.eval_rows(g, &w[..xs.len()], rows.clone(), out);
            }
            Instr::StencilT(rule, k, obar, xs) => {
                let mut w = [Rows::full(&[][..]); MAX_LOCAL];
                xs.iter().zip(&mut w).for_each(|(&x, w)| *w = window(x));
                rule.vjp_rows(g, &w[..xs.len()], window(obar), k, rows.clone(), out);
            }
        }
        slots[phys[s] as usize] = buf;
    }
}

/// The buffers of the instructions computed so far.
struct Done<'s, 'b, T> {
    slots: &'s [&'b mut [T]],
    phys: &'s [u16],
}

impl<'s, T> Done<'s, '_, T> {
    /// Instruction `j`'s values.
    fn of(&self, j: u32) -> &'s [T] {
        self.slots[self.phys[j as usize] as usize]
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
    /// copied.
    pub(super) fn materialise_into(&'id self, pairs: &mut [(u32, &mut [T])]) {
        if pairs.len() > MAX_ROOTS {
            pairs.chunks_mut(MAX_ROOTS).for_each(|c| self.materialise_into(c));
            return;
        }
        let mut pending = self.take_pending();
        let lazy = |id: u32| self.st.borrow().vals[id as usize].buf.is_none();
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
                let (outs, _) = self.execute_into(&plan, into);
                self.count(plan.reads, all.len() as u64);
                let mut st = self.st.borrow_mut();
                for (&id, out) in pending.iter().zip(outs) {
                    st.vals[id as usize].buf = out;
                }
                true
            }
            _ => {
                self.compute_now(&all, &[]);
                false
            }
        };
        // the others: copies (a field in memory, or asked for twice)
        for k in 0..pairs.len() {
            if !(direct && firsts.contains(&k)) {
                let src = self.val(pairs[k].0);
                crate::par::copy(self.par, pairs[k].1, src, self.grid.ny);
                self.count(1, 1);
            }
        }
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
        let srcs =
            |ids: &[u32]| -> &'id [Src<'id, T>] { self.arena.alloc_slice_fill_iter(ids.iter().map(|&id| src(id))) };
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
                    Instr::Stencil(rule, srcs(ids))
                }
                Op::StencilT(rule, k, adj, ids) => {
                    weight += 2 * rule.weight();
                    Instr::StencilT(rule, k as usize, src(adj), srcs(ids))
                }
                _ => unreachable!("only lazy operations are left unmaterialised"),
            };
            weight += 1;
            instrs.push(ins);
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
            match instrs[s] {
                Instr::Stencil(rule, xs) => {
                    let (dmin, dmax) = rule.reach();
                    xs.iter().for_each(|&x| grow(&mut ext, x, (lo + dmin, hi + dmax)));
                }
                Instr::StencilT(rule, _, obar, xs) => {
                    let (dmin, dmax) = rule.reach();
                    grow(&mut ext, obar, (lo - dmax, hi - dmin));
                    xs.iter().for_each(|&x| grow(&mut ext, x, (lo + dmin - dmax, hi + dmax - dmin)));
                }
                ins => ins.each_src(|x| grow(&mut ext, x, (lo, hi))),
            }
        }
        let sums: SmallVec<[Src<'id, T>; MAX_SUMS]> = sums.iter().map(|&id| src(id)).collect();
        // the distinct fields in memory the loop reads
        let mut read = BVec::new_in(self.arena);
        for ins in instrs.iter() {
            if let Instr::Mask(_, m) | Instr::SubData(_, m) = ins {
                note(&mut read, m.as_ptr().cast());
            }
            ins.each_src(|x| {
                if let Src::Buf(b) = x {
                    note(&mut read, b.as_ptr());
                }
            });
        }
        for x in &sums {
            if let Src::Buf(b) = x {
                note(&mut read, b.as_ptr());
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

    /// Runs a plan: the roots' values, and the row sums of each sum (`nx`
    /// for each, one after the other).
    ///
    /// A root that nothing reads beyond the tile is computed straight into
    /// its output, a tile at a time (each tile zero-filled in cache by the
    /// thread that writes it); the other instructions into the piece's
    /// scratch. One thread takes the tiles in order; with more, the rows
    /// are split into pieces of tiles.
    fn execute(&self, plan: &Plan<'id, T>) -> (SmallVec<[&'id [T]; MAX_ROOTS]>, &'id [T]) {
        let (outs, partials) = self.execute_into(plan, SmallVec::new());
        (outs.into_iter().flatten().collect(), partials)
    }

    /// [`Ctx::execute`], root `r` written into `into[r]` where given (the
    /// others into new arena buffers, returned).
    fn execute_into<'x>(
        &self,
        plan: &Plan<'id, T>,
        mut into: SmallVec<[Option<&'x mut [T]>; MAX_ROOTS]>,
    ) -> (Written<'id, T>, &'id [T]) {
        let g = self.grid;
        let (nx, ny, n) = (g.nx, g.ny, g.len());
        let tile_rows = (TILE / ny).max(MIN_TILE_ROWS).min(nx);
        let halo = plan.ext.iter().map(|&(lo, hi)| (hi - lo) as usize).max().unwrap_or(0);
        let cap = (tile_rows + halo) * ny;
        let (instrs, roots, sums, ext) = (&plan.instrs[..], &plan.roots[..], &plan.sums[..], &plan.ext[..]);
        // where each instruction goes: a root's output (direct when
        // nothing reads it beyond the tile), or a scratch buffer, reused
        // once every instruction that reads it has run
        let mut root_of = [u8::MAX; MAX_SLOTS];
        for (r, &s) in roots.iter().enumerate() {
            root_of[s as usize] = r as u8;
        }
        let direct = |s: usize| root_of[s] != u8::MAX && ext[s] == (0, 0);
        let mut last = [u16::MAX; MAX_SLOTS];
        for (s, ins) in instrs.iter().enumerate() {
            ins.each_src(|x| {
                if let Src::Slot(j) = x {
                    last[j as usize] = s as u16;
                }
            });
        }
        // roots and sums stay to the tile's end
        for &s in roots {
            last[s as usize] = u16::MAX;
        }
        for x in sums {
            if let Src::Slot(j) = *x {
                last[j as usize] = u16::MAX;
            }
        }
        let mut phys = [0u16; MAX_SLOTS];
        let mut free: SmallVec<[u16; MAX_SLOTS]> = SmallVec::new();
        let mut in_scratch = 0u16;
        for (s, ins) in instrs.iter().enumerate() {
            phys[s] = if direct(s) {
                u16::MAX - root_of[s] as u16
            } else if let Some(p) = free.pop() {
                p
            } else {
                in_scratch += 1;
                in_scratch - 1
            };
            ins.each_src(|x| {
                if let Src::Slot(j) = x
                    && last[j as usize] == s as u16
                    && !direct(j as usize)
                    && !free.contains(&phys[j as usize])
                {
                    free.push(phys[j as usize]);
                }
            });
        }
        // the direct roots' tiles after the scratch buffers
        for p in phys[..instrs.len()].iter_mut().filter(|p| **p > in_scratch && **p >= u16::MAX - MAX_ROOTS as u16) {
            *p = in_scratch + (u16::MAX - *p);
        }
        let phys = &phys[..instrs.len()];
        let in_scratch = in_scratch as usize;
        // (at least one value, so that every piece has a chunk)
        let per_piece = (in_scratch * cap).max(1);
        let threads = self.par.threads::<T>(n, plan.weight);
        let (per, pieces) = if threads <= 1 {
            (tile_rows, nx.div_ceil(tile_rows))
        } else {
            let per = rows_per_piece(nx, threads);
            (per, nx.div_ceil(per))
        };
        let chunks = if threads <= 1 { 1 } else { pieces };
        let partials: &'id mut [T] = self.arena.alloc_slice_fill_copy(sums.len() * nx, T::zero());
        let mut scratch = self.scratch.borrow_mut();
        if scratch.len() < chunks * per_piece {
            scratch.resize(chunks * per_piece, T::zero());
        }
        into.resize_with(roots.len(), || None);
        let outs: SmallVec<[Out<'id, 'x, T>; MAX_ROOTS]> = into
            .into_iter()
            .map(|dst| match dst {
                Some(dst) => Out::Slice(ChunksMut::new(dst, per * ny)),
                None => Out::Arena(InitChunks::new(
                    self.arena.alloc_slice_fill_copy(n, MaybeUninit::uninit()),
                    per * ny,
                    T::zero(),
                )),
            })
            .collect();
        // piece `p` on rows `p·per..`, with its outputs' chunks, scratch and
        // row sums (those of sum `k` at `k·rows`)
        let piece = |p: usize, scratch: &mut [T], row_sums: &mut [T]| {
            let rows = p * per..((p + 1) * per).min(nx);
            let mut mine: SmallVec<[&mut [T]; MAX_ROOTS]> = outs.iter().map(|o| o.take(p)).collect();
            for r0 in rows.clone().step_by(tile_rows) {
                let tile = r0..(r0 + tile_rows).min(rows.end);
                let t = Tile { g, rows: tile.start as isize..tile.end as isize, ext };
                let (at, len) = ((r0 - rows.start) * ny, tile.len() * ny);
                let mut slots: SmallVec<[&mut [T]; MAX_SLOTS]> = scratch.chunks_mut(cap).take(in_scratch).collect();
                let mut copied: SmallVec<[(usize, &mut [T]); MAX_ROOTS]> = SmallVec::new();
                for (r, o) in mine.iter_mut().enumerate() {
                    let s = roots[r] as usize;
                    if direct(s) {
                        slots.push(&mut o[at..at + len]);
                    } else {
                        // (a placeholder keeps the direct roots' places)
                        slots.push(&mut []);
                        copied.push((s, &mut o[at..at + len]));
                    }
                }
                run_tile(instrs, phys, &mut slots, &t);
                // the roots computed in scratch (read beyond the tile)
                for (s, o) in copied {
                    let from = (-ext[s].0) as usize * ny;
                    o.copy_from_slice(&slots[phys[s] as usize][from..from + len]);
                }
                for (k, &x) in sums.iter().enumerate() {
                    let base = k * rows.len() + (tile.start - rows.start);
                    for (i, sum) in tile.clone().zip(&mut row_sums[base..base + tile.len()]) {
                        let row = match x {
                            Src::Slot(j) => &slots[phys[j as usize] as usize][(i - tile.start) * ny..][..ny],
                            Src::Buf(b) => &b[i * ny..(i + 1) * ny],
                        };
                        *sum = row.iter().fold(T::zero(), |s, &x| s + x);
                    }
                }
            }
        };
        // the row sums of piece p, sum by sum, then into `partials`
        let row_sums = self.arena.alloc_slice_fill_copy(sums.len() * per, T::zero());
        if threads <= 1 {
            let scratch = &mut scratch[..per_piece];
            for p in 0..pieces {
                let rows = p * per..((p + 1) * per).min(nx);
                let row_sums = &mut row_sums[..sums.len() * rows.len()];
                piece(p, scratch, row_sums);
                for k in 0..sums.len() {
                    let dst = &mut partials[k * nx + rows.start..k * nx + rows.end];
                    dst.copy_from_slice(&row_sums[k * rows.len()..(k + 1) * rows.len()]);
                }
            }
        } else {
            let tiles = ChunksMut::new(&mut scratch[..pieces * per_piece], per_piece);
            // each piece's row sums, sum by sum: pieces × sums × per
            let sums_buf = self.arena.alloc_slice_fill_copy((pieces * sums.len() * per).max(1), T::zero());
            {
                let chunks = ChunksMut::new(&mut sums_buf[..], (sums.len() * per).max(1));
                rewind_team::run(threads, pieces, |p| {
                    let mine = if sums.is_empty() { &mut [][..] } else { chunks.take(p) };
                    piece(p, tiles.take(p), mine);
                });
            }
            for p in 0..pieces {
                let rows = p * per..((p + 1) * per).min(nx);
                let base = p * sums.len() * per;
                for k in 0..sums.len() {
                    let src = &sums_buf[base + k * rows.len()..base + (k + 1) * rows.len()];
                    partials[k * nx + rows.start..k * nx + rows.end].copy_from_slice(src);
                }
            }
        }
        let outs = outs
            .into_iter()
            .map(|o| match o {
                Out::Arena(o) => Some(&*o.finish()),
                Out::Slice(_) => None,
            })
            .collect();
        (outs, partials)
    }
}
