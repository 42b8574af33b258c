//! Explicit, deterministic parallelism.
//!
//! Every kernel takes a [`Par`]. Work is split by rows, each output value
//! is computed by the same arithmetic whichever thread computes it, and
//! reductions add per-row partial sums in row order — so results are
//! bit-for-bit identical for any number of threads, and with `Par::Seq`.
//!
//! The threads are a [`rewind_team`] team, whose workers stay awake
//! between the loops of a time step: handing a loop over costs about a
//! microsecond, where waking one of rayon's sleeping workers cost 25–35 µs
//! on the 2-vCPU machine of the figures. How many threads a kernel uses is
//! a count given with [`Par::Threads`], or with [`Par::Pool`] the size of
//! the current rayon pool (so `ThreadPool::install` and `rewind --threads`
//! set it), capped by the cores.

use std::mem::MaybeUninit;

use rewind_team::{ChunksMut, InitChunks};

/// The work from which a kernel uses threads with [`Par::Pool`] or
/// [`Par::Threads`], in
/// units of one elementwise `f64` operation per point (a kernel's *weight*
/// says how many such units one of its points costs; an operation on dual
/// numbers of `p` components counts `p²`: a product of `Dual<f64>` is
/// three multiplications and an addition).
pub const PAR_WORK: usize = 16 * 1024;

/// Below this many points a kernel stays on one thread whatever its work.
pub const PAR_MIN_POINTS: usize = 4 * 1024;

/// Pieces per thread of a parallel loop: the threads take pieces until none
/// is left, so a thread that falls behind costs at most a piece.
const PIECES_PER_THREAD: usize = 4;

/// Values per piece of [`fill_rows`] on one thread (32 KiB of `f64`).
const SEQ_PIECE: usize = 4096;

/// Weights of the kernels (work units per point, see [`PAR_WORK`]).
pub mod weight {
    /// An elementwise operation, a reduction, a copy.
    pub const ELEMENTWISE: usize = 1;
    /// A 3- or 5-point stencil.
    pub const STENCIL: usize = 2;
    /// Upwinding, the Arakawa Jacobian and the other multi-term stencils.
    pub const HEAVY: usize = 4;
    /// One stage of the 2D FFT (per `f64` component).
    pub const FFT: usize = 4;
}

/// How a kernel may use threads. Results are the same bits whichever is
/// chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Par {
    /// One thread.
    Seq,
    /// As many threads as the current rayon pool has (so
    /// `ThreadPool::install` and `rewind --threads` set it), capped by the
    /// cores, from [`PAR_WORK`] and [`PAR_MIN_POINTS`] on.
    #[default]
    Pool,
    /// Up to this many threads (capped by the cores), from [`PAR_WORK`]
    /// and [`PAR_MIN_POINTS`] on: a thread count given to a problem, with
    /// no rayon pool to set up.
    Threads(usize),
}

impl Par {
    /// How many threads a kernel over `len` points of `T` of `weight` uses
    /// (1: it runs on the calling thread).
    #[inline]
    pub fn threads<T>(self, len: usize, weight: usize) -> usize {
        // arithmetic on dual numbers of p f64 parts costs ~p² f64 operations
        let parts = (std::mem::size_of::<T>() / 8).max(1);
        if self == Par::Seq || len < PAR_MIN_POINTS || len * weight * parts * parts < PAR_WORK {
            return 1;
        }
        let asked = match self {
            Par::Threads(n) => n,
            _ => rayon::current_num_threads(),
        };
        // one thread never starts the team
        match asked {
            0 | 1 => 1,
            n => n.min(rewind_team::workers() + 1),
        }
    }

    /// Whether a kernel over `len` points of `T` of `weight` runs on threads.
    #[inline]
    pub fn parallel<T>(self, len: usize, weight: usize) -> bool {
        self.threads::<T>(len, weight) > 1
    }
}

/// Rows per piece when `rows` rows are shared by `threads` threads.
#[inline]
pub(crate) fn rows_per_piece(rows: usize, threads: usize) -> usize {
    rows.div_ceil(threads * PIECES_PER_THREAD).max(1)
}

/// Calls `f(i, row)` for every row `i` of `out` (rows of `ny` values), on
/// threads if the work (`weight` per point) is large enough.
#[inline]
pub fn for_rows<T: Send>(par: Par, weight: usize, out: &mut [T], ny: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    let threads = par.threads::<T>(out.len(), weight);
    if threads > 1 && ny > 0 {
        let per = rows_per_piece(out.len() / ny, threads);
        let pieces = ChunksMut::new(out, per * ny);
        rewind_team::run(threads, pieces.count(), |p| {
            for (r, row) in pieces.take(p).chunks_mut(ny).enumerate() {
                f(p * per + r, row);
            }
        });
    } else {
        out.chunks_mut(ny).enumerate().for_each(|(i, row)| f(i, row));
    }
}

/// The new buffer `out` (rows of `ny` values), each row set to `zero` and
/// then passed to `f(i, row)`, on threads if the work is large enough. A
/// row is zero-filled by the thread that writes it, just before, while it is
/// in that core's cache: a kernel writing a new buffer costs no separate
/// zero-fill pass over memory.
#[inline]
pub fn fill_rows<T: Copy + Send + Sync>(
    par: Par,
    weight: usize,
    out: &mut [MaybeUninit<T>],
    ny: usize,
    zero: T,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) -> &mut [T] {
    let threads = par.threads::<T>(out.len(), weight);
    // on one thread, pieces of about L1's size (a claim per piece is an
    // atomic operation: one per row would cost as much as a small grid's
    // whole pass)
    let per = if threads > 1 { rows_per_piece(out.len() / ny.max(1), threads) } else { (SEQ_PIECE / ny.max(1)).max(1) };
    let pieces = InitChunks::new(out, (per * ny).max(1), zero);
    // (`run` on one thread is a plain loop on this one)
    rewind_team::run(threads, pieces.count(), |p| {
        for (r, row) in pieces.take(p).chunks_mut(ny.max(1)).enumerate() {
            f(p * per + r, row);
        }
    });
    pieces.finish()
}

/// `dst.copy_from_slice(src)` by rows of `ny`, on threads if the copy is
/// large enough.
///
/// # Panics
/// If the lengths differ.
#[inline]
pub fn copy<T: Copy + Send + Sync>(par: Par, dst: &mut [T], src: &[T], ny: usize) {
    assert_eq!(dst.len(), src.len(), "copy between slices of different lengths");
    for_rows(par, weight::ELEMENTWISE, dst, ny.max(1), |i, row| {
        let start = i * ny.max(1);
        row.copy_from_slice(&src[start..start + row.len()]);
    });
}

/// `maxᵢ row_max(i)` over `rows` rows (`len` points of `weight` in all;
/// `−∞` for no rows), on threads if the work is large enough: a maximum
/// is exact in any order, so the result is the same for any thread count.
/// (`f64::max` semantics: a NaN row maximum is ignored.)
pub fn max_rows(par: Par, rows: usize, len: usize, weight: usize, row_max: impl Fn(usize) -> f64 + Sync + Send) -> f64 {
    const MAX_PIECES: usize = 256;
    let threads = par.threads::<f64>(len, weight);
    if threads <= 1 || rows < 2 {
        return (0..rows).map(row_max).fold(f64::NEG_INFINITY, f64::max);
    }
    let per = rows_per_piece(rows, threads).max(rows.div_ceil(MAX_PIECES));
    let mut partials = [f64::NEG_INFINITY; MAX_PIECES];
    let pieces = ChunksMut::new(&mut partials[..rows.div_ceil(per)], 1);
    rewind_team::run(threads, pieces.count(), |p| {
        let end = ((p + 1) * per).min(rows);
        pieces.take(p)[0] = (p * per..end).map(&row_max).fold(f64::NEG_INFINITY, f64::max);
    });
    partials.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b))
}

/// `Σᵢ row_sum(i)` for `i < partials.len()`: the row sums are written to
/// `partials` (in parallel or not) and added in row order, so the result
/// is the same for any thread count. `len` points of `weight` are the work
/// that decides whether to go parallel.
#[inline]
pub fn sum_rows<T: Copy + Send + Sync + std::ops::Add<Output = T>>(
    par: Par,
    len: usize,
    weight: usize,
    partials: &mut [T],
    zero: T,
    row_sum: impl Fn(usize) -> T + Sync + Send,
) -> T {
    let threads = par.threads::<T>(len, weight);
    if threads > 1 {
        let per = rows_per_piece(partials.len(), threads);
        let pieces = ChunksMut::new(partials, per);
        rewind_team::run(threads, pieces.count(), |p| {
            for (r, s) in pieces.take(p).iter_mut().enumerate() {
                *s = row_sum(p * per + r);
            }
        });
    } else {
        partials.iter_mut().enumerate().for_each(|(i, p)| *p = row_sum(i));
    }
    partials.iter().fold(zero, |a, &b| a + b)
}

/// Calls `f(k, &mut dst[k])` for every `k`, by rows of `ny` (an elementwise
/// operation of `weight`).
#[inline]
pub fn update<T: Send>(par: Par, weight: usize, dst: &mut [T], ny: usize, f: impl Fn(usize, &mut T) + Sync + Send) {
    for_rows(par, weight, dst, ny, |i, row| {
        let base = i * ny;
        for (j, d) in row.iter_mut().enumerate() {
            f(base + j, d);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_and_maxima_are_the_same_on_any_thread_count() {
        let (rows, ny) = (300, 256);
        let src: Vec<f64> = (0..rows * ny).map(|k| ((k * 7919) % 1009) as f64 - 500.0).collect();
        let want = src.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let row_max = |i: usize| src[i * ny..(i + 1) * ny].iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for par in [Par::Seq, Par::Pool] {
                let (max, copied) = pool.install(|| {
                    let mut dst = vec![0.0; src.len()];
                    copy(par, &mut dst, &src, ny);
                    (max_rows(par, rows, src.len(), weight::ELEMENTWISE, row_max), dst)
                });
                assert_eq!(max, want, "{threads} threads, {par:?}");
                assert_eq!(copied, src, "{threads} threads, {par:?}");
            }
        }
        assert_eq!(max_rows(Par::Pool, 0, 0, 1, row_max), f64::NEG_INFINITY);
    }
}
