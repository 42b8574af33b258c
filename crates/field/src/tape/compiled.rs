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

use std::ops::Range;

use rewind_tape::Real;

use super::stencil::{Boundary, MAX_LOCAL, Stencil};
use crate::Grid;

/// Points per chunk of the interior loops.
const W: usize = 8;

/// The start of row `i + di` under the boundary rule, or `None` outside a
/// walled grid.
#[inline(always)]
fn row_start(g: &Grid, b: Boundary, i: usize, di: isize) -> Option<usize> {
    let r = i as isize + di;
    match b {
        Boundary::Periodic => Some(r.rem_euclid(g.nx as isize) as usize * g.ny),
        Boundary::Zero => (r >= 0 && (r as usize) < g.nx).then(|| r as usize * g.ny),
    }
}

/// Column `j + dj` under the boundary rule, or `None` outside.
#[inline(always)]
fn col(g: &Grid, b: Boundary, j: usize, dj: isize) -> Option<usize> {
    let c = j as isize + dj;
    match b {
        Boundary::Periodic => Some(c.rem_euclid(g.ny as isize) as usize),
        Boundary::Zero => (c >= 0 && (c as usize) < g.ny).then_some(c as usize),
    }
}

/// The columns `lo..hi` where `j + dj` stays inside the row for every
/// `dj` in `shifts` (empty if there are none).
fn interior(ny: usize, shifts: impl Iterator<Item = isize> + Clone) -> Range<usize> {
    let lo = shifts.clone().map(|d| (-d).max(0) as usize).max().unwrap_or(0);
    let hi = ny.saturating_sub(shifts.map(|d| d.max(0) as usize).max().unwrap_or(0));
    lo..hi.max(lo)
}

/// Local inputs of the point `(i + si, j + sj)`: input `k` at offset `m` in
/// `local[k·M + m]`, zero outside a walled grid.
#[inline]
pub(super) fn gather<K: Stencil, T: Real>(
    g: &Grid,
    xs: &[&[T]],
    i: usize,
    j: usize,
    (si, sj): (isize, isize),
    local: &mut [T],
) {
    let m = K::OFFSETS.len();
    for (o, &(di, dj)) in K::OFFSETS.iter().enumerate() {
        let at = row_start(g, K::BOUNDARY, i, si + di).zip(col(g, K::BOUNDARY, j, sj + dj));
        for (k, x) in xs.iter().enumerate() {
            local[k * m + o] = at.map_or(T::zero(), |(r, c)| x[r + c]);
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
/// the columns `cols` of row `i`, or `None` if a source row is outside a
/// walled grid.
#[inline]
fn sources<'a, K: Stencil, T>(
    g: &Grid,
    xs: &[&'a [T]],
    i: usize,
    (si, sj): (isize, isize),
    cols: &Range<usize>,
    src: &mut [&'a [T]; SRC],
) -> Option<()> {
    let m = K::OFFSETS.len();
    for (o, &(di, dj)) in K::OFFSETS.iter().enumerate() {
        let r = row_start(g, K::BOUNDARY, i, si + di)?;
        let start = (r + cols.start).wrapping_add_signed(sj + dj);
        for (k, x) in xs.iter().enumerate() {
            src[k * m + o] = &x[start..start + cols.len()];
        }
    }
    Some(())
}

/// `out` = the stencil's values on `rows` (rows of `g.ny` values), from
/// the whole input fields `xs`.
pub(super) fn eval_rows<K: Stencil, T: Real>(kernel: &K, g: &Grid, xs: &[&[T]], rows: Range<usize>, out: &mut [T]) {
    let ny = g.ny;
    let len = K::INPUTS * K::OFFSETS.len();
    let inner = interior(ny, K::OFFSETS.iter().map(|o| o.1));
    let mut local = [T::zero(); MAX_LOCAL];
    for (r, i) in rows.enumerate() {
        let orow = &mut out[r * ny..(r + 1) * ny];
        let mut src: [&[T]; SRC] = [&[]; SRC];
        let fast = !inner.is_empty() && sources::<K, T>(g, xs, i, (0, 0), &inner, &mut src).is_some();
        if fast {
            sweep(&src[..len], &mut orow[inner.clone()], |o, l| *o = kernel.eval(g, l));
        }
        for j in 0..ny {
            if fast && inner.contains(&j) {
                continue;
            }
            gather::<K, T>(g, xs, i, j, (0, 0), &mut local[..len]);
            orow[j] = kernel.eval(g, &local[..len]);
        }
    }
}

/// `out` = the adjoint of input `k` on `rows` given the output's adjoint
/// `obar` (whole fields), term by term over the offsets (see the module
/// docs).
pub(super) fn vjp_rows<K: Stencil, T: Real>(
    kernel: &K,
    g: &Grid,
    xs: &[&[T]],
    obar: &[T],
    k: usize,
    rows: Range<usize>,
    out: &mut [T],
) {
    let (ny, m) = (g.ny, K::OFFSETS.len());
    let len = K::INPUTS * m;
    out.iter_mut().for_each(|d| *d = T::zero());
    let mut local = [T::zero(); MAX_LOCAL];
    for (term, &(di, dj)) in K::OFFSETS.iter().enumerate() {
        let idx = k * m + term;
        // the point p = q − oₘ, and its local inputs at oₘ' − oₘ
        let shift = (-di, -dj);
        let inner = interior(ny, K::OFFSETS.iter().map(|o| o.1 - dj).chain([-dj]));
        for (r, i) in rows.clone().enumerate() {
            let orow = &mut out[r * ny..(r + 1) * ny];
            let prow = row_start(g, K::BOUNDARY, i, -di);
            let mut src: [&[T]; SRC] = [&[]; SRC];
            let fast =
                !inner.is_empty() && prow.is_some() && sources::<K, T>(g, xs, i, shift, &inner, &mut src).is_some();
            if fast {
                // the output adjoint at p rides as one more source
                let start = (prow.unwrap_or(0) + inner.start).wrapping_add_signed(-dj);
                src[len] = &obar[start..start + inner.len()];
                sweep(&src[..=len], &mut orow[inner.clone()], |o, l| *o += l[len] * kernel.partial(g, &l[..len], idx));
            }
            for j in 0..ny {
                if fast && inner.contains(&j) {
                    continue;
                }
                let Some(p) = prow.zip(col(g, K::BOUNDARY, j, -dj)).map(|(r, c)| r + c) else { continue };
                gather::<K, T>(g, xs, i, j, shift, &mut local[..len]);
                orow[j] += obar[p] * kernel.partial(g, &local[..len], idx);
            }
        }
    }
}
