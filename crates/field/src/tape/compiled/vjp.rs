//! The VJP of a compiled stencil: the gather of its partial derivatives
//! at the mirrored offsets (the parent module's docs), for a pointwise
//! kernel one pass per line, and the terms of the reads a mirror face
//! sent back into the grid.

use std::ops::Range;

use rewind_tape::Real;

use super::{
    How, Linear, MAX_LOCAL, PW, Rows, Rows3, SRC, W, WIDE, engine_faces, gather, interior, line_start, offsets,
    pointwise, sources, sweep, unmirrored, unwrapped_row, wrap, wrapped,
};
use crate::tape::stencil::Stencil;
use crate::wide::{Kernel, widest};
use crate::{Face, Grid};

/// `out` = the adjoint of input `k` on the unwrapped rows `rows`, given
/// the output's adjoint `obar`, term by term over the offsets (see the
/// module docs).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(in crate::tape) fn vjp_rows<K: Stencil, T: Real>(
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
    // the gather below takes the reads that crossed no mirror (a mirror
    // read as zero: where the point it came from is outside the grid), the
    // inputs read with the stencil's own faces; the reads that a mirror
    // sent back into the grid come after, point by point
    let faces = engine_faces(g, kernel.faces());
    let f = unmirrored(faces);
    if K::LINEAR {
        // each term its fixed coefficient times the output's adjoint at the
        // mirrored offset: the general rule's arithmetic, as a linear
        // stencil of `obar` swept like an `eval`
        let (lin, mirrored) = Linear::adjoint(kernel, g, k);
        let how = How::<K>::Linear(lin);
        let sweep =
            Rows3::<K, T, true> { how: &how, g, f: &f, e: &mirrored[..m], xs: &[obar], rows: rows.clone(), out };
        if m >= WIDE {
            widest(sweep)
        } else {
            sweep.run()
        }
        if f != faces {
            mirror_terms(kernel, g, &faces, xs, obar, k, rows, out);
        }
        return;
    }
    let e = offsets::<K>(g);
    if pointwise::<K>() {
        // ō times the partial at the point, each line at once (the general
        // rule's `0 + ō ∂f`, the same bits)
        return widest(PointVjp { kernel, g, f: &faces, xs, obar, k, rows, out });
    }
    out.iter_mut().for_each(|d| *d = T::zero());
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
                    && sources(g, &faces, &e[..m], xs, r, w, l, shift, &inner, &mut src).is_some();
                if fast {
                    // the output adjoint at p rides as one more source
                    let start = (prow.unwrap_or(0) + inner.start).wrapping_add_signed(-d[2]);
                    src[len] = &obar.data[start..start + inner.len()];
                    sweep::<W, false, T>(&src[..=len], &mut orow[inner.clone()], |o, l| {
                        *o += l[len] * kernel.partial(g, &l[..len], idx)
                    });
                }
                let rest = if fast { (0..inner.start).chain(inner.end..n) } else { (0..n).chain(n..n) };
                for j in rest {
                    let Some(p) = prow.zip(wrap(f[2], j, -d[2], n)).map(|(r, c)| r + c) else { continue };
                    gather(g, &faces, &e[..m], xs, r, w, l, j, shift, &mut local[..len]);
                    orow[j] += obar.data[p] * kernel.partial(g, &local[..len], idx);
                }
            }
        }
    }
    if f != faces {
        mirror_terms(kernel, g, &faces, xs, obar, k, rows, out);
    }
}

/// Adds to `out` (the adjoint of input `k` on `rows`, see [`vjp_rows`]) the
/// terms of the reads that a [`Face::Mirror`] sent back into the grid: a
/// point `q` near a mirror face is also read by the points `p` whose
/// offset `oₘ` reaches its mirror image `z` (per axis `q` itself or, across
/// a mirror, its image), `p = z − oₘ` inside the grid — in the order of the
/// offsets, then of the images. Only the points within reach of a mirror
/// face are visited, one by one.
#[allow(clippy::too_many_arguments)]
fn mirror_terms<K: Stencil, T: Real>(
    kernel: &K,
    g: &Grid,
    f: &[[Face; 2]; 3],
    xs: &[Rows<'_, T>],
    obar: Rows<'_, T>,
    k: usize,
    rows: Range<isize>,
    out: &mut [T],
) {
    let ((lines, n), plane, m) = (g.lines(), g.plane_len(), K::OFFSETS.len());
    let size = [g.nx, lines, n];
    let e = offsets::<K>(g);
    let mut reach = [0; 3];
    for o in &e[..m] {
        for (r, d) in reach.iter_mut().zip(o) {
            *r = (*r).max(d.unsigned_abs());
        }
    }
    // the coordinates whose reads mirror onto `c` along axis `a`: `c`, and
    // its images across the axis' mirror faces within reach
    let images = |a: usize, c: usize| -> ([isize; 3], usize) {
        let (mut z, mut len) = ([c as isize, 0, 0], 1);
        let last = size[a] as isize - 1;
        if f[a][0] == Face::Mirror && c >= 1 && c <= reach[a] {
            z[len] = -(c as isize);
            len += 1;
        }
        if f[a][1] == Face::Mirror && (c as isize) < last && last - c as isize <= reach[a] as isize {
            z[len] = 2 * last - c as isize;
            len += 1;
        }
        (z, len)
    };
    let inside = |a: usize, p: isize| (0..size[a] as isize).contains(&p);
    let len = K::INPUTS * m;
    let mut local = [T::zero(); MAX_LOCAL];
    for (q, r) in rows.enumerate() {
        let w = wrapped(r, g.nx);
        let (zx, nzx) = images(0, w);
        for l in 0..lines {
            let (zy, nzy) = images(1, l);
            // along the line only the columns near a mirror face, unless the
            // plane or the line is near one
            let (near, far) = if nzx > 1 || nzy > 1 {
                (0..n, n..n)
            } else if f[2].contains(&Face::Mirror) {
                let low = 0..(reach[2] + 1).min(n);
                (low.clone(), (n - 1).saturating_sub(reach[2]).max(low.end)..n)
            } else {
                continue;
            };
            for j in near.chain(far) {
                let (zz, nzz) = images(2, j);
                if nzx == 1 && nzy == 1 && nzz == 1 {
                    continue;
                }
                let mut acc = out[q * plane + l * n + j];
                for (term, d) in e[..m].iter().enumerate() {
                    for &x in &zx[..nzx] {
                        for &y in &zy[..nzy] {
                            for &z in &zz[..nzz] {
                                if [x, y, z] == [w as isize, l as isize, j as isize] {
                                    continue;
                                }
                                // p = z − oₘ, inside (a periodic axis has no images: wrapped)
                                let p = [x - d[0], y - d[1], z - d[2]];
                                let at = |a: usize| {
                                    if f[a][0] == Face::Periodic {
                                        Some(p[a].rem_euclid(size[a] as isize) as usize)
                                    } else {
                                        inside(a, p[a]).then_some(p[a] as usize)
                                    }
                                };
                                let (Some(pw), Some(pl), Some(pj)) = (at(0), at(1), at(2)) else { continue };
                                let pr = unwrapped_row(f[0], r, w, x - d[0] - w as isize, pw);
                                gather(g, f, &e[..m], xs, pr, pw, pl, pj, [0; 3], &mut local[..len]);
                                let ob = obar.data[obar.start(plane, pr, pw) + pl * n + pj];
                                acc += ob * kernel.partial(g, &local[..len], k * m + term);
                            }
                        }
                    }
                }
                out[q * plane + l * n + j] = acc;
            }
        }
    }
}

/// [`vjp_rows`] of a pointwise kernel: a [`Kernel`] run compiled for the
/// widest vector instructions.
struct PointVjp<'a, 'x, K, T> {
    kernel: &'a K,
    g: &'a Grid,
    f: &'a [[Face; 2]; 3],
    xs: &'a [Rows<'x, T>],
    obar: Rows<'x, T>,
    k: usize,
    rows: Range<isize>,
    out: &'a mut [T],
}

impl<K: Stencil, T: Real> Kernel for PointVjp<'_, '_, K, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let PointVjp { kernel, g, f, xs, obar, k, rows, out } = self;
        let ((lines, n), plane) = (g.lines(), g.plane_len());
        for (q, r) in rows.enumerate() {
            let w = wrapped(r, g.nx);
            for l in 0..lines {
                let orow = &mut out[q * plane + l * n..q * plane + (l + 1) * n];
                // the inputs, then the output's adjoint, at the point
                let mut src: [&[T]; SRC] = [&[]; SRC];
                for (i, x) in xs.iter().chain([&obar]).enumerate() {
                    let b = line_start(f, g, x, r, w, l, [0, 0]).expect("offset 0 is inside the grid");
                    src[i] = &x.data[b..b + n];
                }
                let m = K::INPUTS;
                sweep::<PW, true, T>(&src[..=m], orow, |o, l| *o = T::zero() + l[m] * kernel.partial(g, &l[..m], k));
            }
        }
    }
}
