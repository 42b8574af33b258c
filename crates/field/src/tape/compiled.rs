//! Stencils compiled to kernel speed: the rows of a [`Stencil`]'s output,
//! and of its VJP, for any scalar type.
//!
//! The offsets are constants of the stencil's type, so after
//! monomorphisation the loops over them unroll and `eval` is inlined with
//! its local inputs in registers. A row is swept in two parts:
//!
//! - the **interior** columns, where no offset wraps: every local input is
//!   a slice of one source row at a constant shift, read in chunks of
//!   [`W`] points through fixed-size arrays (one bounds check per chunk and
//!   source, and straight-line code the compiler vectorises);
//! - the **boundary** columns (as many as the stencil reaches) and the
//!   rows that leave a walled grid, point by point with the wrap or the
//!   zero of [`Boundary`].
//!
//! The VJP is a gather: the adjoint of input `k` at `q` is `Σₘ ō[q − oₘ]
//! ∂f/∂(input k at offset m)` at the point `q − oₘ` (the mirrored
//! offsets), computed term by term in the order of the offsets, each term
//! swept like an `eval` whose local inputs sit at the offsets `oₘ' − oₘ`.
//! Every output point is written by one thread, in the same order of
//! operations whatever the rows a call is given: the same bits for any
//! split into tiles or threads.
//!
//! An input is a whole field in memory, or a *window* ([`Rows`]): the rows
//! a fused loop computed for its tile and the halo around it (an
//! expression never stored, read at offsets). Rows are numbered without
//! wrapping — a window of the first tile starts at row −1 — and a row `r`
//! holds the field's values at the wrapped row `r mod nx`.

use std::ops::Range;

use rewind_tape::Real;

pub(super) use super::op::Rows;
use super::stencil::{Boundary, MAX_LOCAL, Stencil};
use crate::Grid;

/// Points per chunk of the interior loops.
const W: usize = 8;

/// `i + d` on a line of `n` points under the boundary rule, or `None`
/// outside a walled grid. (`i < n`; offsets reach at most twice around a
/// periodic line: a stencil's reach is checked against the grid, and a
/// VJP adds two offsets.)
#[inline(always)]
fn wrap(b: Boundary, i: usize, d: isize, n: usize) -> Option<usize> {
    let (r, n) = (i as isize + d, n as isize);
    match b {
        Boundary::Periodic => Some(if r < 0 {
            if r + n < 0 { r + 2 * n } else { r + n }
        } else if r >= n {
            if r - n >= n { r - 2 * n } else { r - n }
        } else {
            r
        } as usize),
        Boundary::Zero => (r >= 0 && r < n).then_some(r as usize),
    }
}

/// The wrapped index of the unwrapped row `r` (any row of a window).
#[inline(always)]
fn wrapped(r: isize, nx: usize) -> usize {
    r.rem_euclid(nx as isize) as usize
}

/// The columns `lo..hi` where `j + dj` stays inside the row for every
/// `dj` in `shifts` (empty if there are none).
fn interior(ny: usize, shifts: impl Iterator<Item = isize> + Clone) -> Range<usize> {
    let lo = shifts.clone().map(|d| (-d).max(0) as usize).max().unwrap_or(0);
    let hi = ny.saturating_sub(shifts.map(|d| d.max(0) as usize).max().unwrap_or(0));
    lo..hi.max(lo)
}

/// Local inputs of the point `(w + si, j + sj)` (`w` the wrapped row of
/// the unwrapped row `r`): input `k` at offset `m` in `local[k·M + m]`,
/// zero outside a walled grid.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(super) fn gather<K: Stencil, T: Real>(
    g: &Grid,
    xs: &[Rows<'_, T>],
    r: isize,
    w: usize,
    j: usize,
    (si, sj): (isize, isize),
    local: &mut [T],
) {
    let m = K::OFFSETS.len();
    for (o, &(di, dj)) in K::OFFSETS.iter().enumerate() {
        let at = wrap(K::BOUNDARY, w, si + di, g.nx).zip(wrap(K::BOUNDARY, j, sj + dj, g.ny));
        for (k, x) in xs.iter().enumerate() {
            local[k * m + o] = at.map_or(T::zero(), |(t, c)| x.data[x.start(g.ny, r + si + di, t) + c]);
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

/// The slices `src[k·M + m]` of the inputs at the offsets `oₘ + shift` for
/// the columns `cols` of the unwrapped row `r` (wrapped `w`), or `None` if
/// a source row is outside a walled grid.
#[inline]
fn sources<'a, K: Stencil, T>(
    g: &Grid,
    xs: &[Rows<'a, T>],
    r: isize,
    w: usize,
    (si, sj): (isize, isize),
    cols: &Range<usize>,
    src: &mut [&'a [T]; SRC],
) -> Option<()> {
    let m = K::OFFSETS.len();
    for (o, &(di, dj)) in K::OFFSETS.iter().enumerate() {
        let t = wrap(K::BOUNDARY, w, si + di, g.nx)?;
        for (k, x) in xs.iter().enumerate() {
            let start = (x.start(g.ny, r + si + di, t) + cols.start).wrapping_add_signed(sj + dj);
            src[k * m + o] = &x.data[start..start + cols.len()];
        }
    }
    Some(())
}

/// `out` = the stencil's values on the unwrapped rows `rows` (rows of
/// `g.ny` values), from the inputs `xs`.
#[inline]
pub(super) fn eval_rows<K: Stencil, T: Real>(
    kernel: &K,
    g: &Grid,
    xs: &[Rows<'_, T>],
    rows: Range<isize>,
    out: &mut [T],
) {
    let (ny, m) = (g.ny, K::OFFSETS.len());
    let len = K::INPUTS * m;
    let inner = interior(ny, K::OFFSETS.iter().map(|o| o.1));
    // the edge columns and, per offset, the column each reads (once per
    // call: the same in every row)
    const EDGE: usize = 8;
    let edges = (inner.start + ny - inner.end) <= EDGE && !inner.is_empty();
    let mut cols = [[None; MAX_LOCAL]; EDGE];
    if edges {
        for (e, j) in (0..inner.start).chain(inner.end..ny).enumerate() {
            for (o, &(_, dj)) in K::OFFSETS.iter().enumerate() {
                cols[e][o] = wrap(K::BOUNDARY, j, dj, ny);
            }
        }
    }
    let mut local = [T::zero(); MAX_LOCAL];
    for (k, r) in rows.enumerate() {
        let w = wrapped(r, g.nx);
        let orow = &mut out[k * ny..(k + 1) * ny];
        // where each local input's row starts (None: outside a walled grid)
        let mut base = [None; MAX_LOCAL];
        for (o, &(di, _)) in K::OFFSETS.iter().enumerate() {
            if let Some(t) = wrap(K::BOUNDARY, w, di, g.nx) {
                for (i, x) in xs.iter().enumerate() {
                    base[i * m + o] = Some(x.start(ny, r + di, t));
                }
            }
        }
        let fast = edges && base[..len].iter().all(Option::is_some);
        if !fast {
            for j in 0..ny {
                gather::<K, T>(g, xs, r, w, j, (0, 0), &mut local[..len]);
                orow[j] = kernel.eval(g, &local[..len]);
            }
            continue;
        }
        let mut src: [&[T]; SRC] = [&[]; SRC];
        for q in 0..len {
            let (i, o) = (q / m, q % m);
            let start = (base[q].unwrap_or(0) + inner.start).wrapping_add_signed(K::OFFSETS[o].1);
            src[q] = &xs[i].data[start..start + inner.len()];
        }
        sweep(&src[..len], &mut orow[inner.clone()], |o, l| *o = kernel.eval(g, l));
        for (e, j) in (0..inner.start).chain(inner.end..ny).enumerate() {
            for q in 0..len {
                let (i, o) = (q / m, q % m);
                local[q] = match (base[q], cols[e][o]) {
                    (Some(b), Some(c)) => xs[i].data[b + c],
                    _ => T::zero(),
                };
            }
            orow[j] = kernel.eval(g, &local[..len]);
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
    let (ny, m) = (g.ny, K::OFFSETS.len());
    let zeros = [T::zero(); MAX_LOCAL];
    for (term, &(di, dj)) in K::OFFSETS.iter().enumerate() {
        let c = kernel.partial(g, &zeros[..K::INPUTS * m], k * m + term);
        // the columns j whose j − dj is inside the row
        let inner = interior(ny, [-dj].into_iter());
        for (q, r) in rows.clone().enumerate() {
            let w = wrapped(r, g.nx);
            let Some(prow) = wrap(K::BOUNDARY, w, -di, g.nx).map(|t| obar.start(ny, r - di, t)) else { continue };
            let orow = &mut out[q * ny..(q + 1) * ny];
            let src = &obar.data[prow..prow + ny];
            let from = inner.start.wrapping_add_signed(-dj);
            for (o, &x) in orow[inner.clone()].iter_mut().zip(&src[from..from + inner.len()]) {
                *o += x * c;
            }
            for j in (0..inner.start).chain(inner.end..ny) {
                if let Some(p) = wrap(K::BOUNDARY, j, -dj, ny) {
                    orow[j] += src[p] * c;
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
    let (ny, m) = (g.ny, K::OFFSETS.len());
    let len = K::INPUTS * m;
    out.iter_mut().for_each(|d| *d = T::zero());
    if K::LINEAR {
        return linear_vjp_rows(kernel, g, obar, k, rows, out);
    }
    let mut local = [T::zero(); MAX_LOCAL];
    for (term, &(di, dj)) in K::OFFSETS.iter().enumerate() {
        let idx = k * m + term;
        // the point p = q − oₘ, and its local inputs at oₘ' − oₘ
        let shift = (-di, -dj);
        let inner = interior(ny, K::OFFSETS.iter().map(|o| o.1 - dj).chain([-dj]));
        for (q, r) in rows.clone().enumerate() {
            let w = wrapped(r, g.nx);
            let orow = &mut out[q * ny..(q + 1) * ny];
            let prow = wrap(K::BOUNDARY, w, -di, g.nx).map(|t| obar.start(ny, r - di, t));
            let mut src: [&[T]; SRC] = [&[]; SRC];
            let fast =
                !inner.is_empty() && prow.is_some() && sources::<K, T>(g, xs, r, w, shift, &inner, &mut src).is_some();
            if fast {
                // the output adjoint at p rides as one more source
                let start = (prow.unwrap_or(0) + inner.start).wrapping_add_signed(-dj);
                src[len] = &obar.data[start..start + inner.len()];
                sweep(&src[..=len], &mut orow[inner.clone()], |o, l| *o += l[len] * kernel.partial(g, &l[..len], idx));
            }
            let rest = if fast { (0..inner.start).chain(inner.end..ny) } else { (0..ny).chain(ny..ny) };
            for j in rest {
                let Some(p) = prow.zip(wrap(K::BOUNDARY, j, -dj, ny)).map(|(r, c)| r + c) else { continue };
                gather::<K, T>(g, xs, r, w, j, shift, &mut local[..len]);
                orow[j] += obar.data[p] * kernel.partial(g, &local[..len], idx);
            }
        }
    }
}
