//! Stencils compiled to kernel speed: the x-planes of a [`Stencil`]'s
//! output, and of its VJP, for any scalar type and any dimension.
//!
//! The offsets are constants of the stencil's type, so after
//! monomorphisation the loops over them unroll and `eval` is inlined with
//! its local inputs in registers. A plane is swept line by line (the
//! contiguous runs: one line of `ny` points in 1D and 2D, `ny` lines of
//! `nz` points in 3D — [`Grid`]'s module docs), an offset `[di, dj, dk]`
//! read in the engine's axes (plane, line, point). A line is swept in
//! blocks, in chunks of [`W`] points through fixed-size arrays (one bounds
//! check per chunk and source, and straight-line code the compiler
//! vectorises): every local input is a slice of one source line at a
//! constant shift — of the line itself, or, where the shift leaves the
//! line, of a copy of it with its **ghost points** on either side (the
//! wrapped, zero or mirrored values, by the stencil's [`Faces`]); a source
//! line beyond a zero face is a line of zeros. In the VJP, the
//! **interior** columns (where no offset leaves the line) are swept in
//! chunks, the **boundary** columns point by point, and the reads a mirror
//! face sent back into the grid are added last for the points near it
//! (`vjp.rs`).
//!
//! The VJP is a gather: the adjoint of input `k` at `q` is `Σₘ ō[q − oₘ]
//! ∂f/∂(input k at offset m)` at the point `q − oₘ` (the mirrored
//! offsets), computed term by term in the order of the offsets, each term
//! swept like an `eval` whose local inputs sit at the offsets `oₘ' − oₘ`.
//! Every output point is written by one thread, in the same order of
//! operations whatever the rows a call is given: the same bits for any
//! split into tiles or threads. A pointwise kernel (the one offset 0: an
//! update formula) is swept line by line with the inputs of a point
//! gathered in a loop of constant length, so that the loop over the
//! points vectorises.
//!
//! An input is a whole field in memory, or a *window* ([`Rows`]): the
//! planes a fused loop computed for its tile and the halo around it (an
//! expression never stored, read at offsets). Planes ("rows") are numbered
//! without wrapping — a window of the first tile starts at row −1 — and a
//! row `r` holds the field's values at the wrapped plane `r mod nx`.

use std::cell::OnceCell;
use std::ops::Range;

use rewind_tape::Real;

pub(super) use super::op::Rows;
use super::stencil::{MAX_LOCAL, Stencil};
use crate::wide::{Kernel, widest};
use crate::{Face, Faces, Grid};

mod linear;
mod vjp;
pub(super) use linear::Linear;
pub(super) use vjp::vjp_rows;

/// Points per chunk of the interior loops.
const W: usize = 16;

/// Points per chunk of a linear stencil's sum: its accumulators are
/// independent chains of additions as long as the stencil, so more of
/// them hide the adder's latency.
const LW: usize = 32;

/// Local inputs from which a stencil is swept with the widest vector
/// instructions ([`widest`]): measured, AVX2 makes the 25-point 3D
/// Laplacian's sweeps 1.2× faster (64³), and made the two-point C-grid
/// operators of 2D shallow water slower (the whole step by 8 %, 128²).
const WIDE: usize = 9;

/// Points per block of an interior line in [`eval_rows`] (a multiple of
/// [`W`]: the chunks, and so the bits, are those of one sweep of the line).
const BLOCK: usize = 16 * W;

/// `i + d` on a line of `n` points between the faces `f` (`[low,
/// high]`), or `None` where a face reads zero. (`i < n`; offsets reach at
/// most twice around a periodic line: a stencil's reach is checked against
/// the grid, and a VJP adds two offsets. A mirror image farther than the
/// line is long — a read no rule makes — is `None`.)
#[inline(always)]
fn wrap(f: [Face; 2], i: usize, d: isize, n: usize) -> Option<usize> {
    let (r, n) = (i as isize + d, n as isize);
    if r < 0 {
        match f[0] {
            Face::Periodic => Some((if r + n < 0 { r + 2 * n } else { r + n }) as usize),
            Face::Zero => None,
            Face::Mirror => (-r < n).then_some(-r as usize),
        }
    } else if r >= n {
        match f[1] {
            Face::Periodic => Some((if r - n >= n { r - 2 * n } else { r - n }) as usize),
            Face::Zero => None,
            Face::Mirror => (2 * (n - 1) - r >= 0).then_some((2 * (n - 1) - r) as usize),
        }
    } else {
        Some(r as usize)
    }
}

/// The faces `f` with every [`Face::Mirror`] read as [`Face::Zero`]: the
/// reads of a VJP's gather that did not cross a mirror (the others are
/// added by `vjp.rs`'s mirror terms).
fn unmirrored(f: [[Face; 2]; 3]) -> [[Face; 2]; 3] {
    f.map(|a| a.map(|f| if f == Face::Mirror { Face::Zero } else { f }))
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
    Some(x.start(g.plane_len(), unwrapped_row(f[0], r, w, dr, t), t) + line * n)
}

/// The unwrapped row of the plane `t` read at the offset `dr` from the
/// unwrapped row `r` (wrapped `w`), between the x faces `f`: across a
/// periodic face the window's own numbering `r + dr`, otherwise (inside,
/// or across a mirror to the plane it mirrors to) `t` in the sheet of rows
/// `r` is in.
#[inline(always)]
pub(super) fn unwrapped_row(f: [Face; 2], r: isize, w: usize, dr: isize, t: usize) -> isize {
    if f[0] == Face::Periodic { r + dr } else { r - w as isize + t as isize }
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

/// Whether the stencil reads each input at the point only (a pointwise
/// kernel: an update formula, a reaction term).
#[inline(always)]
fn pointwise<K: Stencil>() -> bool {
    K::OFFSETS.len() == 1 && K::OFFSETS[0] == [0, 0, 0]
}

/// Points per chunk of a pointwise kernel's sweep (an update formula,
/// or its VJP with the output's adjoint one more source): a loop the
/// compiler vectorises rather than unrolls (measured: in chunks of [`W`]
/// it unrolled the acoustic leapfrog update and left it scalar; a plain
/// loop over the line ended each line in a scalar tail, a third of the
/// update's time at 128³).
const PW: usize = 64;

/// Sources of one sweep: the local inputs, and one more (the output
/// adjoint of a VJP term).
const SRC: usize = MAX_LOCAL + 1;

/// Calls `f(&mut out[t], local)` for every point `t` of `out`, `local[q] =
/// src[q][t]` (every slice as long as `out`): in chunks of `C` points
/// ([`W`], or [`PW`] for a pointwise kernel), then one by one — or, if
/// `REDO` (`f` only writes its point, so computing it twice gives the same
/// bits), `out` is at least a chunk long and at least an eighth of a chunk
/// is left, the last points in one more chunk ending at the end of `out`
/// (the threshold a guess, not measured: a vectorised chunk taken to cost
/// about as much as an eighth of its points one by one). (The number of
/// sources is a constant where this is inlined: its loops unroll.)
#[inline(always)]
fn sweep<const C: usize, const REDO: bool, T: Real>(src: &[&[T]], out: &mut [T], f: impl Fn(&mut T, &[T])) {
    let len = src.len();
    let n = out.len();
    // the chunks' starts, one loop (the chunk's body is not a closure: one
    // left out of line is compiled without the caller's AVX2 — measured,
    // the acoustic gradient 1.3× slower)
    let redo = REDO && n >= C && n % C >= C.div_ceil(8);
    for t in (0..n / C).map(|c| c * C).chain(redo.then(|| n - C)) {
        let zero = [T::zero(); C];
        let mut blk: [&[T; C]; SRC] = [&zero; SRC];
        for q in 0..len {
            blk[q] = src[q][t..t + C].try_into().expect("a chunk of C points");
        }
        for (w, o) in out[t..t + C].iter_mut().enumerate() {
            let mut local = [T::zero(); SRC];
            for q in 0..len {
                local[q] = blk[q][w];
            }
            f(o, &local[..len]);
        }
    }
    if redo {
        return;
    }
    for (o, t) in out[n - n % C..].iter_mut().zip(n - n % C..) {
        let mut local = [T::zero(); SRC];
        for q in 0..len {
            local[q] = src[q][t];
        }
        f(o, &local[..len]);
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

/// The greatest shift along a line that a padded copy covers (a
/// stencil reaching farther is swept point by point).
const PAD: usize = 8;

/// Distinct source lines a stencil reads at a shift along the line, at
/// most (more: point by point).
const GROUPS: usize = 8;

/// The source lines a stencil reads at shifts along the line: per group
/// the input, the offset `[dplane, dline]` of the line, the least and
/// greatest shift, and its first local input (whose line start is the
/// group's); per local input its group (`usize::MAX`: none, read at
/// no shift). `None` if there are more than [`GROUPS`] or a shift exceeds
/// [`PAD`].
#[allow(clippy::type_complexity)]
#[inline(always)] // (built in place: returned, its 650 bytes were a memcpy per call)
fn shifted_lines(
    e: &[[isize; 3]],
    inputs: usize,
) -> Option<([(usize, [isize; 2], isize, isize, usize); GROUPS], usize, [usize; MAX_LOCAL])> {
    let mut groups = [(0, [0; 2], 0, 0, 0); GROUPS];
    let (mut ng, mut of) = (0, [usize::MAX; MAX_LOCAL]);
    for (q, (i, d)) in (0..inputs).flat_map(|i| e.iter().map(move |&d| (i, d))).enumerate() {
        if d[2] == 0 {
            continue;
        }
        if d[2].unsigned_abs() > PAD {
            return None;
        }
        let g = match groups[..ng].iter().position(|g| g.0 == i && g.1 == [d[0], d[1]]) {
            Some(g) => g,
            None if ng < GROUPS => {
                groups[ng] = (i, [d[0], d[1]], 0, 0, q);
                ng += 1;
                ng - 1
            }
            None => return None,
        };
        groups[g].2 = groups[g].2.min(d[2]);
        groups[g].3 = groups[g].3.max(d[2]);
        of[q] = g;
    }
    Some((groups, ng, of))
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
    let e = offsets::<K>(g);
    let f = engine_faces(g, kernel.faces());
    let how = match K::LINEAR {
        true => How::Linear(Linear::of(kernel, g)),
        false => How::Kernel(kernel),
    };
    let sweep = Rows3::<K, T, false> { how: &how, g, f: &f, e: &e[..K::OFFSETS.len()], xs, rows, out };
    if K::INPUTS * K::OFFSETS.len() >= WIDE || pointwise::<K>() { widest(sweep) } else { sweep.run() }
}

/// [`sweep_rows`]'s arguments: a [`Kernel`] run compiled for the widest
/// vector instructions (the same bits, see [`crate::wide`]).
struct Rows3<'a, 'k, 'x, K, T, const ADJOINT: bool> {
    how: &'a How<'k, K>,
    g: &'a Grid,
    f: &'a [[Face; 2]; 3],
    e: &'a [[isize; 3]],
    xs: &'a [Rows<'x, T>],
    rows: Range<isize>,
    out: &'a mut [T],
}

impl<K: Stencil, T: Real, const ADJOINT: bool> Kernel for Rows3<'_, '_, '_, K, T, ADJOINT> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        sweep_rows::<K, T, ADJOINT>(self.how, self.g, self.f, self.e, self.xs, self.rows, self.out)
    }
}

/// How a point's value follows from its local inputs (on the stack, for
/// one call: the size of the variants does not matter).
#[allow(clippy::large_enum_variant)]
enum How<'a, K> {
    /// A linear stencil's sum ([`Linear`]).
    Linear(Linear),
    /// The stencil's `eval`.
    Kernel(&'a K),
}

/// The columns `cols` of a source line starting at `base` in `data`, read
/// at the shift `d` along it (`zeros`, made where first read, if the line is
/// outside a walled grid).
#[inline(always)]
fn unpadded<'a, T: Real>(
    base: Option<usize>,
    data: &'a [T],
    d: isize,
    cols: &Range<usize>,
    zeros: &'a OnceCell<[T; BLOCK]>,
) -> &'a [T] {
    match base {
        None => &zeros.get_or_init(|| [T::zero(); BLOCK])[..cols.len()],
        Some(b) => {
            let start = (b + cols.start).wrapping_add_signed(d);
            &data[start..start + cols.len()]
        }
    }
}

/// `out` = the values of `how` on the unwrapped rows `rows` (planes of
/// `g.plane_len()` values), from the inputs `xs` at the offsets `e`
/// (engine axes) between the faces `f`.
///
/// A line is swept in blocks: its interior (where no shift leaves it) in
/// blocks of at most [`BLOCK`] points, and its two edges, where a source
/// line read at shifts along the line is copied with its values beyond
/// the faces (wrapped, or zero) — a ghost layer as wide as the stencil's
/// reach — so that every point, the edges too, is computed by the
/// vectorised loop, with the same arithmetic as point by point. Where no
/// source line of a line crosses a face (most lines of a walled 3D grid),
/// the source lines are found at fixed distances from the line's own,
/// without the face logic (measured, 64³, one thread: the 25-point
/// Laplacian's sweep 5.8 → 4.4 ns a point; with [`LW`] chunks 3.9).
#[inline(always)]
fn sweep_rows<K: Stencil, T: Real, const ADJOINT: bool>(
    how: &How<'_, K>,
    g: &Grid,
    f: &[[Face; 2]; 3],
    e: &[[isize; 3]],
    xs: &[Rows<'_, T>],
    rows: Range<isize>,
    out: &mut [T],
) {
    // the stencil's number of offsets (a constant: its loops unroll), the
    // same for its adjoint's mirrored offsets
    let ((lines, n), plane, m) = (g.lines(), g.plane_len(), K::OFFSETS.len());
    let e = &e[..m];
    // the inputs: the stencil's, or the output adjoint of its VJP (a
    // constant, so that the loops over the local inputs unroll, as they did
    // before the VJP shared this sweep)
    debug_assert_eq!(xs.len(), if ADJOINT { 1 } else { K::INPUTS }, "the stencil's inputs");
    let xs = &xs[..if ADJOINT { 1 } else { K::INPUTS }];
    let len = xs.len() * m;
    let value = |local: &[T]| match how {
        How::Linear(lin) => lin.at(local),
        How::Kernel(kernel) => kernel.eval(g, local),
    };
    let mut local = [T::zero(); MAX_LOCAL];
    let shifted = shifted_lines(e, xs.len());
    // the blocks of a line: the edges, where shifts leave it (at most
    // 2·PAD points), and the interior in blocks of BLOCK points
    let inner = interior(n, e.iter().map(|o| o[2]));
    let (inner, edges) =
        if inner.is_empty() { (0..0, [0..n, n..n]) } else { (inner.clone(), [0..inner.start, inner.end..n]) };
    // a small stencil's few edge points are cheaper one by one than by a
    // copy (2D C-grid operators: two points, one edge column a side)
    let pad_edges = len * (n - inner.len()) >= 32 || inner.is_empty();
    // with ghost copies, the whole line in blocks of BLOCK points (whole
    // chunks of W where a line is a multiple of W: 64 points are four
    // chunks, where an interior of 56 left 8 points and the edges to the
    // one-by-one remainder); without, the interior, then the edges
    let blocks = || {
        let span = if pad_edges { 0..n } else { inner.clone() };
        span.clone().step_by(BLOCK).map(move |lo| lo..(lo + BLOCK).min(span.end))
    };
    // what a source line beyond a zero face reads (made where first read:
    // zeroing it on every call was a memset per tile for the small
    // stencils of a periodic 2D grid), and the padded copies (no
    // allocation: a step allocates nothing in steady state; the copies'
    // room only where they are made)
    let zeros = OnceCell::new();
    let mut room;
    let pads: &mut [[T; BLOCK + 2 * PAD]] = if pad_edges {
        room = [[T::zero(); BLOCK + 2 * PAD]; GROUPS];
        &mut room
    } else {
        &mut []
    };
    // the rows and lines whose source lines are all inside the grid (no
    // face crossed): there a source line starts at a fixed distance from
    // the point's own line, the same in every input
    let inner_rows = interior(g.nx, e.iter().map(|d| d[0]));
    let inner_lines = interior(lines, e.iter().map(|d| d[1]));
    let mut apart = [0isize; MAX_LOCAL];
    for (a, d) in apart.iter_mut().zip(e) {
        *a = d[0] * plane as isize + d[1] * n as isize;
    }
    // where each local input's line starts (None: outside a walled grid),
    // and its slice of a block: made once a call, their first `len` entries
    // written per line (filling all of them per line was 12–29 % of a
    // two-point C-grid stencil's sweep in a profile; the padded path still
    // fills its own per block, whose slices borrow the copies it rewrites)
    let mut base = [None; MAX_LOCAL];
    let mut src: [&[T]; SRC] = [&[]; SRC];
    for (k, r) in rows.enumerate() {
        let w = wrapped(r, g.nx);
        let row_inside = inner_rows.contains(&w);
        for l in 0..lines {
            let orow = &mut out[k * plane + l * n..k * plane + (l + 1) * n];
            if row_inside && inner_lines.contains(&l) {
                for (i, x) in xs.iter().enumerate() {
                    let own = x.start(plane, r, w) + l * n;
                    for (o, a) in apart[..m].iter().enumerate() {
                        base[i * m + o] = Some(own.wrapping_add_signed(*a));
                    }
                }
            } else {
                for (o, d) in e.iter().enumerate() {
                    for (i, x) in xs.iter().enumerate() {
                        base[i * m + o] = line_start(f, g, x, r, w, l, [d[0], d[1]]);
                    }
                }
            }
            if let (How::Kernel(kernel), true) = (how, pointwise::<K>()) {
                // every source line is the point's own (offset 0: inside)
                for (i, x) in xs.iter().enumerate() {
                    let b = base[i].expect("offset 0 is inside the grid");
                    src[i] = &x.data[b..b + n];
                }
                sweep::<PW, true, T>(&src[..K::INPUTS], orow, |o, l| *o = kernel.eval(g, l));
                continue;
            }
            let Some((groups, ng, group_of)) = &shifted else {
                for (j, o) in orow.iter_mut().enumerate() {
                    gather(g, f, e, xs, r, w, l, j, [0; 3], &mut local[..len]);
                    *o = value(&local[..len]);
                }
                continue;
            };
            for cols in blocks() {
                // the groups whose shifts leave the line here, copied with
                // their ghosts: pads[g][t] is column cols.start + glo + t
                let mut padded = [false; GROUPS];
                for (gi, &(i, _, glo, ghi, first)) in groups[..*ng].iter().enumerate() {
                    let (a, b) = (cols.start as isize + glo, cols.end as isize + ghi);
                    if a >= 0 && b <= n as isize {
                        continue;
                    }
                    padded[gi] = true;
                    let pad = &mut pads[gi][..(b - a) as usize];
                    let Some(s) = base[first] else {
                        pad.fill(T::zero());
                        continue;
                    };
                    let (x, inside) = (&xs[i].data[s..s + n], a.max(0)..b.min(n as isize));
                    let at = |c: isize| (c - a) as usize;
                    pad[at(inside.start)..at(inside.end)]
                        .copy_from_slice(&x[inside.start as usize..inside.end as usize]);
                    for c in (a..inside.start).chain(inside.end..b) {
                        // i = 0, d = c: a column at most PAD outside the line
                        pad[at(c)] = wrap(f[2], 0, c, n).map_or(T::zero(), |c| x[c]);
                    }
                }
                let mut padded_src: [&[T]; SRC];
                let src = if pad_edges {
                    padded_src = [&[]; SRC];
                    for (q, s) in padded_src[..len].iter_mut().enumerate() {
                        let gi = group_of[q];
                        *s = match base[q] {
                            Some(_) if gi != usize::MAX && padded[gi] => {
                                let at = (e[q % m][2] - groups[gi].2) as usize;
                                &pads[gi][at..at + cols.len()]
                            }
                            b => unpadded(b, xs[q / m].data, e[q % m][2], &cols, &zeros),
                        };
                    }
                    &padded_src[..len]
                } else {
                    for (q, s) in src[..len].iter_mut().enumerate() {
                        *s = unpadded(base[q], xs[q / m].data, e[q % m][2], &cols, &zeros);
                    }
                    &src[..len]
                };
                match how {
                    How::Linear(lin) => lin.sweep(src, &mut orow[cols]),
                    How::Kernel(kernel) => sweep::<W, true, T>(src, &mut orow[cols], |o, l| *o = kernel.eval(g, l)),
                }
            }
            if !pad_edges {
                for j in edges[0].clone().chain(edges[1].clone()) {
                    let get = |q: usize| {
                        let at = base[q].zip(wrap(f[2], j, e[q % m][2], n));
                        at.map_or(T::zero(), |(b, c)| xs[q / m].data[b + c])
                    };
                    for (q, l) in local[..len].iter_mut().enumerate() {
                        *l = get(q);
                    }
                    orow[j] = value(&local[..len]);
                }
            }
        }
    }
}
