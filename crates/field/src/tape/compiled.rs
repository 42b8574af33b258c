//! Stencils compiled to kernel speed: the x-planes of a [`Stencil`]'s
//! output, and of its VJP, for any scalar type and any dimension.
//!
//! The offsets are constants of the stencil's type, so after
//! monomorphisation the loops over them unroll and `eval` is inlined with
//! its local inputs in registers. A plane is swept line by line (the
//! contiguous runs: one line of `ny` points in 1D and 2D, `ny` lines of
//! `nz` points in 3D — [`Grid`]'s module docs), an offset `[di, dj, dk]`
//! read in the engine's axes (plane, line, point); a line is swept in two
//! parts:
//!
//! - the **interior** columns, where no offset wraps: every local input is
//!   a slice of one source line at a constant shift, read in chunks of
//!   [`W`] points through fixed-size arrays (one bounds check per chunk and
//!   source, and straight-line code the compiler vectorises);
//! - the **boundary** columns (as many as the stencil reaches), point by
//!   point with the wrap or the zero of the stencil's [`Faces`]; a source
//!   line beyond a zero face is a line of zeros in the interior loop.
//!
//! The VJP is a gather: the adjoint of input `k` at `q` is `Σₘ ō[q − oₘ]
//! ∂f/∂(input k at offset m)` at the point `q − oₘ` (the mirrored
//! offsets), computed term by term in the order of the offsets, each term
//! swept like an `eval` whose local inputs sit at the offsets `oₘ' − oₘ`.
//! Every output point is written by one thread, in the same order of
//! operations whatever the rows a call is given: the same bits for any
//! split into tiles or threads.
//!
//! An input is a whole field in memory, or a *window* ([`Rows`]): the
//! planes a fused loop computed for its tile and the halo around it (an
//! expression never stored, read at offsets). Planes ("rows") are numbered
//! without wrapping — a window of the first tile starts at row −1 — and a
//! row `r` holds the field's values at the wrapped plane `r mod nx`.

use std::ops::Range;

use rewind_tape::Real;

pub(super) use super::op::Rows;
use super::stencil::{MAX_LOCAL, Stencil};
use crate::{Face, Faces, Grid};

/// Points per chunk of the interior loops.
const W: usize = 8;

/// Points per block of an interior line in [`eval_rows`] (a multiple of
/// [`W`]: the chunks, and so the bits, are those of one sweep of the line).
const BLOCK: usize = 32 * W;

/// `i + d` on a line of `n` points between the faces `f` (`[low,
/// high]`), or `None` where a face reads zero. (`i < n`; offsets reach at
/// most twice around a periodic line: a stencil's reach is checked against
/// the grid, and a VJP adds two offsets.)
#[inline(always)]
fn wrap(f: [Face; 2], i: usize, d: isize, n: usize) -> Option<usize> {
    let (r, n) = (i as isize + d, n as isize);
    if r < 0 {
        match f[0] {
            Face::Periodic => Some((if r + n < 0 { r + 2 * n } else { r + n }) as usize),
            Face::Zero => None,
        }
    } else if r >= n {
        match f[1] {
            Face::Periodic => Some((if r - n >= n { r - 2 * n } else { r - n }) as usize),
            Face::Zero => None,
        }
    } else {
        Some(r as usize)
    }
}

/// The faces in the engine's axes `[plane, line, point]` (as [`offsets`]).
#[inline(always)]
pub(super) fn engine_faces(g: &Grid, f: Faces) -> [[Face; 2]; 3] {
    if g.nz > 1 { [f.axis(0), f.axis(1), f.axis(2)] } else { [f.axis(0), f.axis(2), f.axis(1)] }
}

/// The wrapped index of the unwrapped row `r` (any row of a window).
#[inline(always)]
fn wrapped(r: isize, nx: usize) -> usize {
    r.rem_euclid(nx as isize) as usize
}

/// The stencil's offsets in the engine's axes `[plane, line, point]`: `[di,
/// dj, dk]` in 3D, `[di, dk, dj]` in 1D and 2D (where a plane is one line
/// of `ny` points).
#[inline(always)]
pub(super) fn offsets<K: Stencil>(g: &Grid) -> [[isize; 3]; MAX_LOCAL] {
    let mut e = [[0; 3]; MAX_LOCAL];
    for (e, &[di, dj, dk]) in e.iter_mut().zip(K::OFFSETS) {
        *e = if g.nz > 1 { [di, dj, dk] } else { [di, dk, dj] };
    }
    e
}

/// The columns `lo..hi` where `j + dj` stays inside a line of `n` points
/// for every `dj` in `shifts` (empty if there are none).
fn interior(n: usize, shifts: impl Iterator<Item = isize> + Clone) -> Range<usize> {
    let lo = shifts.clone().map(|d| (-d).max(0) as usize).max().unwrap_or(0);
    let hi = n.saturating_sub(shifts.map(|d| d.max(0) as usize).max().unwrap_or(0));
    lo..hi.max(lo)
}

/// Where the line `l + dl` of the unwrapped row `r + dr` (wrapped `w +
/// dr`) starts in `x`, or `None` outside a walled grid.
#[inline(always)]
fn line_start<T>(
    f: &[[Face; 2]; 3],
    g: &Grid,
    x: &Rows<'_, T>,
    r: isize,
    w: usize,
    l: usize,
    [dr, dl]: [isize; 2],
) -> Option<usize> {
    let (lines, n) = g.lines();
    let t = wrap(f[0], w, dr, g.nx)?;
    let line = wrap(f[1], l, dl, lines)?;
    Some(x.start(g.plane_len(), r + dr, t) + line * n)
}

/// Local inputs of the point `(w, l, j) + shift` (engine axes; `w` the
/// wrapped row of the unwrapped row `r`; `e` the [`offsets`]): input `k`
/// at offset `m` in `local[k·M + m]`, zero outside a walled grid.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(super) fn gather<T: Real>(
    g: &Grid,
    f: &[[Face; 2]; 3],
    e: &[[isize; 3]],
    xs: &[Rows<'_, T>],
    r: isize,
    w: usize,
    l: usize,
    j: usize,
    shift: [isize; 3],
    local: &mut [T],
) {
    let (m, n) = (e.len(), g.lines().1);
    for (o, d) in e.iter().enumerate() {
        let col = wrap(f[2], j, shift[2] + d[2], n);
        for (k, x) in xs.iter().enumerate() {
            let at = line_start(f, g, x, r, w, l, [shift[0] + d[0], shift[1] + d[1]]).zip(col);
            local[k * m + o] = at.map_or(T::zero(), |(s, c)| x.data[s + c]);
        }
    }
}

/// Sources of one sweep: the local inputs, and one more (the output
/// adjoint of a VJP term).
const SRC: usize = MAX_LOCAL + 1;

/// Calls `f(&mut out[t], local)` for every point `t` of `out`, `local[q] =
/// src[q][t]` (every slice as long as `out`): in chunks of [`W`], then one
/// by one.
#[inline(always)]
fn sweep<T: Real>(src: &[&[T]], out: &mut [T], f: impl Fn(&mut T, &[T])) {
    let len = src.len();
    let n = out.len();
    let mut chunks = out.chunks_exact_mut(W);
    for (c, o) in (&mut chunks).enumerate() {
        let t = c * W;
        let zero = [T::zero(); W];
        let mut blk: [&[T; W]; SRC] = [&zero; SRC];
        for q in 0..len {
            blk[q] = src[q][t..t + W].try_into().expect("a chunk of W points");
        }
        for (w, o) in o.iter_mut().enumerate() {
            let mut local = [T::zero(); SRC];
            for q in 0..len {
                local[q] = blk[q][w];
            }
            f(o, &local[..len]);
        }
    }
    for (o, t) in chunks.into_remainder().iter_mut().zip(n - n % W..) {
        let mut local = [T::zero(); SRC];
        for q in 0..len {
            local[q] = src[q][t];
        }
        f(o, &local[..len]);
    }
}

/// A [`Stencil::LINEAR`] stencil as data: its value `f(0) + Σ_q c_q
/// local_q`, summed in the order of the local inputs (from `f(0)` if it is
/// not zero), with the coefficients its fixed partials. Every path computes
/// a linear stencil this way — the interior loop as sums of scaled slices
/// the compiler vectorises, the boundary points one by one — so that the
/// bits do not depend on where a point falls.
pub(super) struct Linear {
    f0: f64,
    c: [f64; MAX_LOCAL],
    len: usize,
}

impl Linear {
    /// The coefficients of `kernel` on `g`.
    pub(super) fn of<K: Stencil>(kernel: &K, g: &Grid) -> Self {
        let len = K::INPUTS * K::OFFSETS.len();
        let zeros = [0.0; MAX_LOCAL];
        let mut c = [0.0; MAX_LOCAL];
        for (q, c) in c[..len].iter_mut().enumerate() {
            *c = kernel.partial(g, &zeros[..len], q);
        }
        Linear { f0: kernel.eval(g, &zeros[..len]), c, len }
    }

    /// The value at one point.
    #[inline(always)]
    pub(super) fn at<T: Real>(&self, local: &[T]) -> T {
        let mut acc = local[0] * self.c[0];
        if self.f0 != 0.0 {
            acc = T::from_f64(self.f0) + acc;
        }
        for q in 1..self.len {
            acc += local[q] * self.c[q];
        }
        acc
    }

    /// `|f(0)| + Σ_q |c_q local_q|`: the size of the terms of the sum.
    pub(super) fn magnitude(&self, local: &[f64]) -> f64 {
        self.f0.abs() + local[..self.len].iter().zip(&self.c).map(|(l, c)| (l * c).abs()).sum::<f64>()
    }

    /// `out[t]` = the value with `local[q] = src[q][t]`: [`Linear::at`]'s
    /// arithmetic, [`W`] points at a time.
    #[inline(always)]
    fn sweep<T: Real>(&self, src: &[&[T]], out: &mut [T]) {
        let n = out.len();
        let mut chunks = out.chunks_exact_mut(W);
        for (k, o) in (&mut chunks).enumerate() {
            let t = k * W;
            let first: &[T; W] = src[0][t..t + W].try_into().expect("a chunk of W points");
            let mut acc = first.map(|x| x * self.c[0]);
            if self.f0 != 0.0 {
                acc = acc.map(|a| T::from_f64(self.f0) + a);
            }
            for q in 1..self.len {
                let s: &[T; W] = src[q][t..t + W].try_into().expect("a chunk of W points");
                for (a, &x) in acc.iter_mut().zip(s) {
                    *a += x * self.c[q];
                }
            }
            o.copy_from_slice(&acc);
        }
        for (o, t) in chunks.into_remainder().iter_mut().zip(n - n % W..) {
            let mut local = [T::zero(); MAX_LOCAL];
            for q in 0..self.len {
                local[q] = src[q][t];
            }
            *o = self.at(&local[..self.len]);
        }
    }
}

/// The slices `src[k·M + m]` of the inputs at the offsets `oₘ + shift`
/// (engine axes `e`) for the columns `cols` of line `l` of the unwrapped
/// row `r` (wrapped `w`), or `None` if a source line is outside a walled
/// grid.
#[inline]
#[allow(clippy::too_many_arguments)]
fn sources<'a, T>(
    g: &Grid,
    f: &[[Face; 2]; 3],
    e: &[[isize; 3]],
    xs: &[Rows<'a, T>],
    r: isize,
    w: usize,
    l: usize,
    shift: [isize; 3],
    cols: &Range<usize>,
    src: &mut [&'a [T]; SRC],
) -> Option<()> {
    let m = e.len();
    for (o, d) in e.iter().enumerate() {
        for (k, x) in xs.iter().enumerate() {
            let line = line_start(f, g, x, r, w, l, [shift[0] + d[0], shift[1] + d[1]])?;
            let start = (line + cols.start).wrapping_add_signed(shift[2] + d[2]);
            src[k * m + o] = &x.data[start..start + cols.len()];
        }
    }
    Some(())
}

/// `out` = the stencil's values on the unwrapped rows `rows` (planes of
/// `g.plane_len()` values), from the inputs `xs`.
#[inline]
pub(super) fn eval_rows<K: Stencil, T: Real>(
    kernel: &K,
    g: &Grid,
    xs: &[Rows<'_, T>],
    rows: Range<isize>,
    out: &mut [T],
) {
    let ((lines, n), plane, m) = (g.lines(), g.plane_len(), K::OFFSETS.len());
    let len = K::INPUTS * m;
    let e = offsets::<K>(g);
    let f = engine_faces(g, kernel.faces());
    let inner = interior(n, e[..m].iter().map(|o| o[2]));
    // the edge columns and, per offset, the column each reads (once per
    // call: the same in every line)
    const EDGE: usize = 8;
    let edges = (inner.start + n - inner.end) <= EDGE && !inner.is_empty();
    let mut cols = [[None; MAX_LOCAL]; EDGE];
    if edges {
        for (c, j) in (0..inner.start).chain(inner.end..n).enumerate() {
            for (o, d) in e[..m].iter().enumerate() {
                cols[c][o] = wrap(f[2], j, d[2], n);
            }
        }
    }
    let mut local = [T::zero(); MAX_LOCAL];
    let linear = K::LINEAR.then(|| Linear::of(kernel, g));
    let value = |local: &[T]| match &linear {
        Some(lin) => lin.at(local),
        None => kernel.eval(g, local),
    };
    // what a source line beyond a zero face reads, a block at a time (no
    // allocation: a step allocates nothing in steady state)
    let zeros = [T::zero(); BLOCK];
    for (k, r) in rows.enumerate() {
        let w = wrapped(r, g.nx);
        for l in 0..lines {
            let orow = &mut out[k * plane + l * n..k * plane + (l + 1) * n];
            // where each local input's line starts (None: outside a walled grid)
            let mut base = [None; MAX_LOCAL];
            for (o, d) in e[..m].iter().enumerate() {
                for (i, x) in xs.iter().enumerate() {
                    base[i * m + o] = line_start(&f, g, x, r, w, l, [d[0], d[1]]);
                }
            }
            if !edges {
                for j in 0..n {
                    gather(g, &f, &e[..m], xs, r, w, l, j, [0; 3], &mut local[..len]);
                    orow[j] = value(&local[..len]);
                }
                continue;
            }
            for lo in inner.clone().step_by(BLOCK) {
                let cols = lo..(lo + BLOCK).min(inner.end);
                let mut src: [&[T]; SRC] = [&[]; SRC];
                for q in 0..len {
                    let (i, o) = (q / m, q % m);
                    src[q] = match base[q] {
                        Some(b) => {
                            let start = (b + cols.start).wrapping_add_signed(e[o][2]);
                            &xs[i].data[start..start + cols.len()]
                        }
                        None => &zeros[..cols.len()],
                    };
                }
                match &linear {
                    Some(lin) => lin.sweep(&src[..len], &mut orow[cols]),
                    None => sweep(&src[..len], &mut orow[cols], |o, l| *o = kernel.eval(g, l)),
                }
            }
            for (c, j) in (0..inner.start).chain(inner.end..n).enumerate() {
                for q in 0..len {
                    let (i, o) = (q / m, q % m);
                    local[q] = match (base[q], cols[c][o]) {
                        (Some(b), Some(c)) => xs[i].data[b + c],
                        _ => T::zero(),
                    };
                }
                orow[j] = value(&local[..len]);
            }
        }
    }
}

/// [`vjp_rows`] of a [`Stencil::LINEAR`] stencil (`out` zeroed): each term
/// its fixed coefficient times the output's adjoint at the mirrored offset,
/// the same arithmetic as the general rule.
fn linear_vjp_rows<K: Stencil, T: Real>(
    kernel: &K,
    g: &Grid,
    obar: Rows<'_, T>,
    k: usize,
    rows: Range<isize>,
    out: &mut [T],
) {
    let ((lines, n), plane, m) = (g.lines(), g.plane_len(), K::OFFSETS.len());
    let zeros = [T::zero(); MAX_LOCAL];
    let e = offsets::<K>(g);
    let f = engine_faces(g, kernel.faces());
    for (term, d) in e[..m].iter().enumerate() {
        let c = kernel.partial(g, &zeros[..K::INPUTS * m], k * m + term);
        // the columns j whose j − dj is inside the line
        let inner = interior(n, [-d[2]].into_iter());
        for (q, r) in rows.clone().enumerate() {
            let w = wrapped(r, g.nx);
            for l in 0..lines {
                let Some(prow) = line_start(&f, g, &obar, r, w, l, [-d[0], -d[1]]) else { continue };
                let orow = &mut out[q * plane + l * n..q * plane + (l + 1) * n];
                let src = &obar.data[prow..prow + n];
                let from = inner.start.wrapping_add_signed(-d[2]);
                for (o, &x) in orow[inner.clone()].iter_mut().zip(&src[from..from + inner.len()]) {
                    *o += x * c;
                }
                for j in (0..inner.start).chain(inner.end..n) {
                    if let Some(p) = wrap(f[2], j, -d[2], n) {
                        orow[j] += src[p] * c;
                    }
                }
            }
        }
    }
}

/// `out` = the adjoint of input `k` on the unwrapped rows `rows`, given
/// the output's adjoint `obar`, term by term over the offsets (see the
/// module docs).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn vjp_rows<K: Stencil, T: Real>(
    kernel: &K,
    g: &Grid,
    xs: &[Rows<'_, T>],
    obar: Rows<'_, T>,
    k: usize,
    rows: Range<isize>,
    out: &mut [T],
) {
    let ((lines, n), plane, m) = (g.lines(), g.plane_len(), K::OFFSETS.len());
    let len = K::INPUTS * m;
    out.iter_mut().for_each(|d| *d = T::zero());
    if K::LINEAR {
        return linear_vjp_rows(kernel, g, obar, k, rows, out);
    }
    let e = offsets::<K>(g);
    let f = engine_faces(g, kernel.faces());
    let mut local = [T::zero(); MAX_LOCAL];
    for (term, d) in e[..m].iter().enumerate() {
        let idx = k * m + term;
        // the point p = q − oₘ, and its local inputs at oₘ' − oₘ
        let shift = [-d[0], -d[1], -d[2]];
        let inner = interior(n, e[..m].iter().map(|o| o[2] - d[2]).chain([-d[2]]));
        for (q, r) in rows.clone().enumerate() {
            let w = wrapped(r, g.nx);
            for l in 0..lines {
                let orow = &mut out[q * plane + l * n..q * plane + (l + 1) * n];
                let prow = line_start(&f, g, &obar, r, w, l, [-d[0], -d[1]]);
                let mut src: [&[T]; SRC] = [&[]; SRC];
                let fast = !inner.is_empty()
                    && prow.is_some()
                    && sources(g, &f, &e[..m], xs, r, w, l, shift, &inner, &mut src).is_some();
                if fast {
                    // the output adjoint at p rides as one more source
                    let start = (prow.unwrap_or(0) + inner.start).wrapping_add_signed(-d[2]);
                    src[len] = &obar.data[start..start + inner.len()];
                    sweep(&src[..=len], &mut orow[inner.clone()], |o, l| {
                        *o += l[len] * kernel.partial(g, &l[..len], idx)
                    });
                }
                let rest = if fast { (0..inner.start).chain(inner.end..n) } else { (0..n).chain(n..n) };
                for j in rest {
                    let Some(p) = prow.zip(wrap(f[2], j, -d[2], n)).map(|(r, c)| r + c) else { continue };
                    gather(g, &f, &e[..m], xs, r, w, l, j, shift, &mut local[..len]);
                    orow[j] += obar.data[p] * kernel.partial(g, &local[..len], idx);
                }
            }
        }
    }
}
