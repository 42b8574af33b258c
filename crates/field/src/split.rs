//! A field split among processes: how the field engine's global
//! operations reach the other ranks of a domain-decomposed run.
//!
//! A domain-decomposed run (the `rewind-decompose` crate) computes each
//! rank's slab of x-planes on a *box*: the slab and ghost planes below and
//! above it, on a tape whose grid is the box's. Local operations (pointwise
//! arithmetic, stencils) need nothing more: their values on the slab are
//! exact as long as the ghost layer is as wide as they read
//! ([`Ctx::x_reach`](crate::Ctx::x_reach)). The periodic Poisson solve reads
//! the whole field. On a box it is solved over every rank's slab at once
//! by the transpose method: each rank transforms its own rows, an
//! all-to-all hands every rank whole columns (along x) of a share of the
//! row coefficients, the columns are transformed, scaled and transformed
//! back, a second all-to-all returns them, each rank transforms its rows
//! back — every line through the same plans, the same arithmetic as in
//! one process, so the slab's values are the same bits — and the ghost
//! planes of the result are filled from the neighbours' slabs, so the
//! whole box is exact after it: a Poisson solve restarts the reach.
//!
//! The run installs its [`Split`] for as long as a step runs on the box
//! ([`split_by`]); a tape's recording or evaluation started meanwhile uses
//! it, in the step and in the sweep.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use crate::Grid;
use crate::components::Components;
use crate::fft::{C64, PoissonFft, TILE, TaskWork};

/// What a box of a field split among ranks in slabs of x-planes knows of
/// the others, and the two exchanges the global operations need.
/// Implemented over a communicator by `rewind-decompose`. Every rank makes
/// the same calls in the same order, and knows what it receives: the
/// receive buffers come sized (values as little-endian bytes). A failed
/// exchange returns `false`: the implementation keeps the error to report
/// after the step (every rank agrees on it then), and the field engine
/// makes the result NaN.
pub trait Split {
    /// The whole grid.
    fn whole(&self) -> Grid;
    /// How many ranks share it.
    fn size(&self) -> usize;
    /// This rank.
    fn rank(&self) -> usize;
    /// The x-planes rank `r` owns (consecutive ranks own consecutive
    /// slabs covering the grid).
    fn owned(&self, r: usize) -> Range<usize>;
    /// The ghost planes `[below, above]` of the box this rank computes on
    /// (no wider than the thinnest slab: a tape ignores a split whose
    /// ghosts are wider, or whose box is not its grid).
    fn ghosts(&self) -> [usize; 2];
    /// Sends `send[q]` to rank `q` and receives into `recv[q]` what rank
    /// `q` sent to this one.
    fn all_to_all(&self, send: &[Vec<u8>], recv: &mut [Vec<u8>]) -> bool;
    /// Sends `to_prev` to rank `rank − 1` and `to_next` to rank `rank + 1`
    /// (modulo the size), receiving what they sent this one.
    fn ring(&self, to_prev: &[u8], to_next: &[u8], from_prev: &mut [u8], from_next: &mut [u8]) -> bool;
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<dyn Split>>> = const { RefCell::new(None) };
}

/// Runs `f` with `split` installed on this thread: the tapes recorded or
/// evaluated inside compute on a box of its split field (see the module
/// docs). The previous split (if any) is back when `f` returns or unwinds.
pub fn split_by<R>(split: Rc<dyn Split>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Rc<dyn Split>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(split)));
    f()
}

/// The split installed on this thread, if any.
pub(crate) fn current() -> Option<Rc<dyn Split>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Whether `grid` is this rank's box of the split field (its planes and
/// ghost planes of the whole grid's kind; the ghost planes no wider than
/// the thinnest slab): a tape on another grid ignores the split.
pub(crate) fn is_box(s: &dyn Split, grid: &Grid) -> bool {
    let (w, [lo, hi]) = (s.whole(), s.ghosts());
    let thinnest = (0..s.size()).map(|r| s.owned(r).len()).min().unwrap_or(0);
    let planes = lo + s.owned(s.rank()).len() + hi;
    (grid.nx, grid.ny, grid.nz, grid.dx, grid.dy, grid.dz) == (planes, w.ny, w.nz, w.dx, w.dy, w.dz)
        && lo.max(hi) <= thinnest
}

/// The planes of a box of `nx` planes that its rank owns: all of them
/// without a split.
pub(crate) fn own_planes(split: Option<&dyn Split>, nx: usize) -> Range<usize> {
    match split {
        Some(s) => {
            let [lo, hi] = s.ghosts();
            lo.min(nx)..nx.saturating_sub(hi).max(lo.min(nx))
        }
        None => 0..nx,
    }
}

/// The buffers of split solves, kept across solves by the tape.
#[derive(Default)]
pub(crate) struct SplitWork {
    /// This rank's rows' coefficients, row-major.
    spec: Vec<C64>,
    /// Whole columns of this rank's share of the coefficients.
    block: Vec<C64>,
    /// This rank's rows of every column, column-major.
    back: Vec<C64>,
    send: Vec<Vec<u8>>,
    recv: Vec<Vec<u8>>,
    /// The ghost planes' messages: to and from the previous rank, then the
    /// next.
    halo: [Vec<u8>; 4],
    task: Option<TaskWork>,
}

/// Appends `z` as little-endian bytes (exact: a value crosses bit for bit).
fn put(z: &[C64], out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + 16 * z.len(), 0);
    for (b, z) in out[at..].chunks_exact_mut(16).zip(z) {
        b[..8].copy_from_slice(&z.re.to_le_bytes());
        b[8..].copy_from_slice(&z.im.to_le_bytes());
    }
}

/// The values of `b` (16 bytes each) into `out`, which has their number.
fn get(b: &[u8], out: &mut [C64]) {
    let word = |w: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        f64::from_le_bytes(a)
    };
    for (z, c) in out.iter_mut().zip(b.chunks_exact(16)) {
        *z = C64::new(word(&c[..8]), word(&c[8..]));
    }
}

impl PoissonFft {
    /// `out = P a` on a box of a split field (see the module docs): `a` and
    /// `out` hold the box's planes, this solver is planned for the whole
    /// grid. Every rank calls it together; the slab's values are those of
    /// [`PoissonFft::solve`] on the whole field, bit for bit, and the ghost
    /// planes the neighbours' slabs of it. If an exchange fails the result
    /// is NaN (the split keeps the error).
    pub(crate) fn solve_split<T: Components>(&self, s: &dyn Split, a: &[T], out: &mut [T], w: &mut SplitWork) {
        let ((m, n), nx) = (self.grid.lines(), self.grid.nx);
        let (nh, len) = (n / 2 + 1, nx * m);
        let (size, me) = (s.size(), s.rank());
        let own = s.owned(me);
        // this rank's rows, and where they start in the box
        let (rows, first) = (own.len() * m, s.ghosts()[0] * m);
        // the row coefficients whose columns each rank transforms
        let cols = |q: usize| q * nh / size..(q + 1) * nh / size;
        let mine = cols(me);
        let zero = C64::new(0.0, 0.0);
        let SplitWork { spec, block, back, send, recv, halo, task } = w;
        spec.resize(rows * nh, zero);
        block.resize(mine.len() * len, zero);
        back.resize(nh * rows, zero);
        send.resize_with(size, Vec::new);
        recv.resize_with(size, Vec::new);
        let t = task.get_or_insert_with(|| self.task());
        for k in 0..T::PARTS {
            for (r, d) in spec.chunks_exact_mut(nh).enumerate() {
                for (x, v) in t.real.iter_mut().zip(&a[(first + r) * n..(first + r + 1) * n]) {
                    *x = v.part(k);
                }
                let r = self.r2c.process_with_scratch(&mut t.real, d, &mut t.scratch);
                debug_assert!(r.is_ok(), "lengths fixed by the plan");
            }
            // to rank q, its coefficients of each of my rows (mine stay here)
            for (q, msg) in send.iter_mut().enumerate() {
                msg.clear();
                if q != me {
                    spec.chunks_exact(nh).for_each(|row| put(&row[cols(q)], msg));
                }
            }
            // whole columns of mine: block[(j − mine.start) · len + row]
            for (q, msg) in recv.iter_mut().enumerate() {
                msg.resize(if q == me { 0 } else { 16 * s.owned(q).len() * m * mine.len() }, 0);
            }
            let mut ok = s.all_to_all(send, recv);
            let mut row = vec![zero; mine.len()];
            for (q, msg) in recv.iter().enumerate().filter(|_| ok) {
                let oq = s.owned(q);
                let from = |r: usize, row: &mut [C64]| {
                    if q == me {
                        row.copy_from_slice(&spec[r * nh + mine.start..r * nh + mine.end]);
                    } else {
                        get(&msg[16 * r * mine.len()..16 * (r + 1) * mine.len()], row);
                    }
                };
                for r in 0..oq.len() * m {
                    from(r, &mut row);
                    for (c, &z) in row.iter().enumerate() {
                        block[c * len + oq.start * m + r] = z;
                    }
                }
            }
            if ok {
                let f = &self.factor[mine.start * len..mine.end * len];
                for (tile, f) in block.chunks_mut(len * TILE).zip(f.chunks(len * TILE)) {
                    self.column_tile(tile, f, t);
                }
            }
            // to rank q, its rows of my columns; from each, my rows of its
            for (q, msg) in send.iter_mut().enumerate() {
                let oq = s.owned(q);
                msg.clear();
                if q != me {
                    block.chunks_exact(len).for_each(|col| put(&col[oq.start * m..oq.end * m], msg));
                }
            }
            for (q, msg) in recv.iter_mut().enumerate() {
                msg.resize(if q == me { 0 } else { 16 * cols(q).len() * rows }, 0);
            }
            ok &= s.all_to_all(send, recv);
            for (q, msg) in recv.iter().enumerate().filter(|_| ok) {
                let cq = cols(q);
                let dst = &mut back[cq.start * rows..cq.end * rows];
                if q == me {
                    for (d, col) in dst.chunks_exact_mut(rows.max(1)).zip(block.chunks_exact(len)) {
                        d.copy_from_slice(&col[own.start * m..own.end * m]);
                    }
                } else {
                    get(msg, dst);
                }
            }
            for (r, d) in out[first * n..(first + rows) * n].chunks_exact_mut(n).enumerate() {
                if !ok {
                    d.iter_mut().for_each(|o| o.set_part(k, f64::NAN));
                    continue;
                }
                for (j, v) in t.row.iter_mut().enumerate() {
                    *v = back[j * rows + r];
                }
                self.row_back(t, d, k);
            }
        }
        fill_ghosts(s, out, m * n, halo);
    }
}

/// Fills the ghost planes of a box from the neighbours' slabs (NaN if the
/// exchange fails).
fn fill_ghosts<T: Components>(s: &dyn Split, out: &mut [T], plane: usize, buffers: &mut [Vec<u8>; 4]) {
    let [lo, hi] = s.ghosts();
    if lo + hi == 0 {
        return;
    }
    let own = out.len() / plane - lo - hi;
    let [to_prev, from_prev, to_next, from_next] = buffers;
    let bytes = |v: &[T], b: &mut Vec<u8>| {
        b.clear();
        v.iter().for_each(|x| (0..T::PARTS).for_each(|k| b.extend_from_slice(&x.part(k).to_le_bytes())));
    };
    // my first planes are my previous neighbour's upper ghosts, my last my
    // next neighbour's lower ones
    bytes(&out[lo * plane..(lo + hi) * plane], to_prev);
    bytes(&out[own * plane..(lo + own) * plane], to_next);
    let (below, above) = out.split_at_mut((lo + own) * plane);
    let below = &mut below[..lo * plane];
    let set = |dst: &mut [T], src: Option<&[u8]>| match src {
        Some(src) if src.len() == 8 * T::PARTS * dst.len() => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(8 * T::PARTS)) {
                for (k, w) in c.chunks_exact(8).enumerate() {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(w);
                    d.set_part(k, f64::from_le_bytes(a));
                }
            }
        }
        _ => dst.iter_mut().for_each(|d| (0..T::PARTS).for_each(|k| d.set_part(k, f64::NAN))),
    };
    from_prev.resize(8 * T::PARTS * lo * plane, 0);
    from_next.resize(8 * T::PARTS * hi * plane, 0);
    let ok = s.ring(to_prev, to_next, from_prev, from_next);
    set(below, ok.then_some(&from_prev[..]));
    set(above, ok.then_some(&from_next[..]));
}
