//! Running a fused loop: the tiles of a plan's instructions, on one thread
//! or split into pieces on the team (see the module above).

use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use rewind_tape::Unary;
use rewind_team::{ChunksMut, InitChunks};
use smallvec::SmallVec;

use super::{Instr, MAX_ROOTS, MAX_SLOTS, MIN_TILE_ROWS, Plan, Src, TILE};
use crate::Grid;
use crate::components::Components;
use crate::par::rows_per_piece;
use crate::tape::Ctx;
use crate::tape::compiled::Rows;
use crate::tape::op::Op;
use crate::tape::stencil::MAX_LOCAL;
use crate::wide::{Kernel, widest};

/// `out[k] = f(a[k])`.
#[inline(always)]
fn map1<T: Copy>(out: &mut [T], a: &[T], f: impl Fn(T) -> T) {
    widest(Map1 { out, a, f });
}

/// `out[k] = f(a[k], b[k], c[k])`.
#[inline(always)]
fn map3<T: Copy>(out: &mut [T], a: &[T], b: &[T], c: &[T], f: impl Fn(T, T, T) -> T) {
    widest(Map3 { out, a, b, c, f });
}

/// `out[k] = f(a[k], b[k])`.
#[inline(always)]
fn map2<T: Copy, U: Copy>(out: &mut [T], a: &[T], b: &[U], f: impl Fn(T, U) -> T) {
    widest(Map2 { out, a, b, f });
}

// The loops of `map1`, `map2`, `map3` as kernels compiled for the widest
// vector instructions (the same bits, see `crate::wide`).

struct Map1<'a, T, F> {
    out: &'a mut [T],
    a: &'a [T],
    f: F,
}

impl<T: Copy, F: Fn(T) -> T> Kernel for Map1<'_, T, F> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        for (o, &x) in self.out.iter_mut().zip(self.a) {
            *o = (self.f)(x);
        }
    }
}

struct Map2<'a, T, U, F> {
    out: &'a mut [T],
    a: &'a [T],
    b: &'a [U],
    f: F,
}

impl<T: Copy, U: Copy, F: Fn(T, U) -> T> Kernel for Map2<'_, T, U, F> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        for ((o, &x), &y) in self.out.iter_mut().zip(self.a).zip(self.b) {
            *o = (self.f)(x, y);
        }
    }
}

struct Map3<'a, T, F> {
    out: &'a mut [T],
    a: &'a [T],
    b: &'a [T],
    c: &'a [T],
    f: F,
}

impl<T: Copy, F: Fn(T, T, T) -> T> Kernel for Map3<'_, T, F> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        for (((o, &x), &y), &z) in self.out.iter_mut().zip(self.a).zip(self.b).zip(self.c) {
            *o = (self.f)(x, y, z);
        }
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

/// `out` += the amplitudes `s` spread at their points (`idx`, `w`: each
/// point's corners and weights) on the unwrapped rows `rows`: in the order
/// of the points and of their corners, the sums of [`Ctx::inject`].
fn inject_rows<T: Components>(g: &Grid, rows: Range<isize>, idx: &[usize], w: &[f64], s: &[T], out: &mut [T]) {
    let (plane, k) = (g.plane_len(), 1 << g.dims());
    for ((i, w), &s) in idx.chunks_exact(k).zip(w.chunks_exact(k)).zip(s) {
        for (&i, &w) in i.iter().zip(w) {
            let (p, at) = ((i / plane) as isize, i % plane);
            for r in rows.clone().filter(|r| r.rem_euclid(g.nx as isize) == p) {
                out[(r - rows.start) as usize * plane + at] += s * T::from_f64(w);
            }
        }
    }
}

/// Calls `f(from, start, len)` for the runs of the unwrapped rows `rows`
/// that are contiguous once wrapped: `from` the run's offset among the
/// rows' values, `start` its offset in a whole field, `len` its values.
#[inline(always)]
fn each_run(g: &Grid, rows: Range<isize>, mut f: impl FnMut(usize, usize, usize)) {
    let (nx, ny) = (g.nx as isize, g.plane_len());
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
            let from = (start - t.rows_of(j as usize).start) as usize * t.g.plane_len();
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
            Rows { data: &done.of(j)[..rows.len() * t.g.plane_len()], first: Some(rows.start) }
        }
        Src::Buf(b) => Rows::full(b),
    }
}

/// A pointwise loop over one run of one operand (and the run's offset in
/// a whole field, for fixed data).
type Unary1<'f, T> = dyn Fn(&mut [T], &[T], usize) + 'f;
/// A pointwise loop over one run of three operands.
type Ternary1<'f, T> = dyn Fn(&mut [T], &[T], &[T], &[T]) + 'f;
/// A pointwise loop over one run of two operands.
type Binary1<'f, T> = dyn Fn(&mut [T], &[T], &[T]) + 'f;

/// Runs the instructions on one tile, instruction `s` filling the buffer
/// `slots[phys[s]]` (a tile of scratch in cache, or of an output) on its
/// rows.
fn run_tile<'a, T: Components>(instrs: &[Instr<'a, T>], phys: &[u16], slots: &mut [&mut [T]], t: &Tile<'_>) {
    let g = &t.g;
    for (s, ins) in instrs.iter().enumerate() {
        if ins.skip {
            continue;
        }
        let rows = t.rows_of(s);
        let len = rows.len() * g.plane_len();
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
        let three = |a: Src<'a, T>, b: Src<'a, T>, c: Src<'a, T>, out: &mut [T], f: &Ternary1<'_, T>| {
            let (a, b, c) = (at(a), at(b), at(c));
            each_run(g, rows.clone(), |from, start, n| {
                f(&mut out[from..from + n], a.run(from, start, n), b.run(from, start, n), c.run(from, start, n))
            });
        };
        let (x, v) = (ins.srcs, ins.scalar);
        if let Some(p) = ins.prod {
            // the sum (or difference) with its product computed in place:
            // `p ± y`, or `y − p` for a product subtracted
            let y = x[1 - p.at];
            let (a, w) = (p.srcs[0], p.scalar);
            macro_rules! folded {
                ($comb:expr) => {
                    match p.op {
                        Op::ScaleC(_, c) => two(a, y, out, &|o, a, y| map2(o, a, y, |a, y| $comb(a * c, y))),
                        Op::ScaleS(..) => two(a, y, out, &|o, a, y| map2(o, a, y, |a, y| $comb(a * w, y))),
                        _ => three(a, p.srcs[1], y, out, &|o, a, b, y| map3(o, a, b, y, |a, b, y| $comb(a * b, y))),
                    }
                };
            }
            match (ins.op, p.at) {
                (Op::Add(..), _) => folded!(|p: T, y: T| p + y),
                (_, 0) => folded!(|p: T, y: T| p - y),
                _ => folded!(|p: T, y: T| y - p),
            }
            slots[phys[s] as usize] = buf;
            continue;
        }
        match ins.op {
            Op::Add(..) => two(x[0], x[1], out, &|o, a, b| map2(o, a, b, |a, b| a + b)),
            Op::Sub(..) => two(x[0], x[1], out, &|o, a, b| map2(o, a, b, |a, b| a - b)),
            Op::Mul(..) => two(x[0], x[1], out, &|o, a, b| map2(o, a, b, |a, b| a * b)),
            Op::Div(..) => two(x[0], x[1], out, &|o, a, b| map2(o, a, b, |a, b| a / b)),
            Op::Neg(..) => one(x[0], out, &|o, a, _| map1(o, a, |a| -a)),
            Op::ScaleC(_, c) => one(x[0], out, &|o, a, _| map1(o, a, |a| a * c)),
            Op::AddC(_, c) => one(x[0], out, &|o, a, _| map1(o, a, |a| a + c)),
            Op::ScaleS(..) => one(x[0], out, &|o, a, _| map1(o, a, |a| a * v)),
            Op::AddS(..) => one(x[0], out, &|o, a, _| map1(o, a, |a| a + v)),
            // the cheap functions without a branch per point
            Op::Map(Unary::Recip, _) => one(x[0], out, &|o, a, _| map1(o, a, |a| a.recip())),
            Op::Map(Unary::Abs, _) => one(x[0], out, &|o, a, _| map1(o, a, |a| a.abs())),
            Op::Map(u, _) => one(x[0], out, &|o, a, _| map1(o, a, |a| u.apply(a))),
            Op::MapD(u, _) => one(x[0], out, &|o, a, _| map1(o, a, |a| u.derivative(a))),
            Op::Map2(f, ..) => two(x[0], x[1], out, &|o, a, b| map2(o, a, b, |a, b| f.apply(a, b))),
            Op::Map2D(f, true, ..) => two(x[0], x[1], out, &|o, a, b| map2(o, a, b, |a, b| f.d_first(a, b))),
            Op::Map2D(f, false, ..) => two(x[0], x[1], out, &|o, a, b| map2(o, a, b, |a, b| f.d_second(a, b))),
            Op::Mask(_, m) => one(x[0], out, &|o, a, start| map2(o, a, &m[start..start + a.len()], |a, m| a * m)),
            Op::SubData(_, d) => one(x[0], out, &|o, a, start| map2(o, a, &d[start..start + a.len()], |a, d| a - d)),
            Op::Splat(_) => out.fill(v),
            Op::Inject(_, idx, w) => {
                out.fill(T::zero());
                inject_rows(g, rows.clone(), idx, w, ins.obs, out);
            }
            Op::Stencil(rule, _) => {
                let mut w = [Rows::full(&[][..]); MAX_LOCAL];
                x.iter().zip(&mut w).for_each(|(&x, w)| *w = window(x));
                rule.eval_rows(g, &w[..x.len()], rows.clone(), out);
            }
            Op::StencilT(rule, k, ..) => {
                let mut w = [Rows::full(&[][..]); MAX_LOCAL];
                x[1..].iter().zip(&mut w).for_each(|(&x, w)| *w = window(x));
                rule.vjp_rows(g, &w[..x.len() - 1], window(x[0]), k as usize, rows.clone(), out);
            }
            _ => unreachable!("only lazy operations are fused"),
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

impl<'id, T: Components> Ctx<'id, T> {
    /// Runs a plan: the roots' values, and the row sums of each sum (`nx`
    /// for each, one after the other).
    ///
    /// A root that nothing reads beyond the tile is computed straight into
    /// its output, a tile at a time (each tile zero-filled in cache by the
    /// thread that writes it); the other instructions into the piece's
    /// scratch. One thread takes the tiles in order; with more, the rows
    /// are split into pieces of tiles.
    pub(super) fn execute(&self, plan: &Plan<'id, T>) -> (SmallVec<[&'id [T]; MAX_ROOTS]>, &'id [T]) {
        let (outs, partials, _) = self.execute_into(plan, SmallVec::new(), false);
        (outs.into_iter().flatten().collect(), partials)
    }

    /// [`Ctx::execute`], root `r` written into `into[r]` where given (the
    /// others into new arena buffers, returned); with `check`, also whether
    /// every value written into `into` is finite (each tile scanned as it
    /// is written, in cache).
    pub(super) fn execute_into<'x>(
        &self,
        plan: &Plan<'id, T>,
        mut into: SmallVec<[Option<&'x mut [T]>; MAX_ROOTS]>,
        check: bool,
    ) -> (Written<'id, T>, &'id [T], bool) {
        let g = self.grid;
        let (nx, ny, n) = (g.nx, g.plane_len(), g.len());
        let halo = plan.ext.iter().map(|&(lo, hi)| (hi - lo) as usize).max().unwrap_or(0);
        // (without halos, as few rows as make a tile: a 3D plane is one)
        let least = if halo == 0 { 1 } else { MIN_TILE_ROWS };
        let tile_rows = (TILE / ny).max(least).min(nx);
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
        // (a folded product's operands are read by the sum that folds it)
        let read_by = |ins: Instr<'id, T>| ins.srcs.iter().chain(ins.prod.map_or(&[][..], |p| p.srcs));
        for (s, &ins) in instrs.iter().enumerate() {
            for x in read_by(ins) {
                if let Src::Slot(j) = *x {
                    last[j as usize] = s as u16;
                }
            }
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
        for (s, &ins) in instrs.iter().enumerate() {
            phys[s] = if ins.skip {
                // folded into its sum: never written, no buffer
                0
            } else if direct(s) {
                u16::MAX - root_of[s] as u16
            } else if let Some(p) = free.pop() {
                p
            } else {
                in_scratch += 1;
                in_scratch - 1
            };
            for x in read_by(ins) {
                if let Src::Slot(j) = *x
                    && last[j as usize] == s as u16
                    && !direct(j as usize)
                    && !instrs[j as usize].skip
                    && !free.contains(&phys[j as usize])
                {
                    free.push(phys[j as usize]);
                }
            }
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
        let bad = AtomicBool::new(false);
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
                drop(slots);
                if check {
                    for (o, out) in mine.iter().zip(&outs) {
                        if matches!(out, Out::Slice(_)) && !super::all_finite(&o[at..at + len]) {
                            bad.store(true, Ordering::Relaxed);
                        }
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
        (outs, partials, !bad.into_inner())
    }
}
