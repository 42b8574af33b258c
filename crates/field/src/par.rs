//! Explicit, deterministic parallelism.
//!
//! Every kernel takes a [`Par`]. Work is split by rows, each output value
//! is computed by the same arithmetic whichever thread computes it, and
//! reductions add per-row partial sums in row order — so results are
//! bit-for-bit identical for any number of threads, and with `Par::Seq`.

use rayon::prelude::*;

/// Below this many points a kernel runs sequentially even with
/// [`Par::Rayon`]: at 128² a taped step ran slower on 2 threads than on 1
/// (rayon hand-off costs more than ~20 µs kernels), so 256² and up.
pub const PAR_THRESHOLD: usize = 64 * 1024;

/// How a kernel may use threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Par {
    /// One thread.
    Seq,
    /// The current rayon pool, above [`PAR_THRESHOLD`] points.
    #[default]
    Rayon,
}

impl Par {
    /// Whether a kernel over `len` points runs on threads.
    #[inline]
    pub(crate) fn parallel(self, len: usize) -> bool {
        self == Par::Rayon && len >= PAR_THRESHOLD && rayon::current_num_threads() > 1
    }
}

/// Calls `f(i, row)` for every row `i` of `out` (rows of `ny` values).
#[inline]
pub fn for_rows<T: Send>(par: Par, out: &mut [T], ny: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if par.parallel(out.len()) {
        out.par_chunks_mut(ny).enumerate().for_each(|(i, row)| f(i, row));
    } else {
        out.chunks_mut(ny).enumerate().for_each(|(i, row)| f(i, row));
    }
}

/// `Σᵢ row_sum(i)` for `i < partials.len()`: the row sums are written to
/// `partials` (in parallel or not) and added in row order, so the result
/// is the same for any thread count. `len` is the work size that decides
/// whether to go parallel.
#[inline]
pub fn sum_rows<T: Copy + Send + Sync + std::ops::Add<Output = T>>(
    par: Par,
    len: usize,
    partials: &mut [T],
    zero: T,
    row_sum: impl Fn(usize) -> T + Sync + Send,
) -> T {
    if par.parallel(len) {
        partials.par_iter_mut().enumerate().for_each(|(i, p)| *p = row_sum(i));
    } else {
        partials.iter_mut().enumerate().for_each(|(i, p)| *p = row_sum(i));
    }
    partials.iter().fold(zero, |a, &b| a + b)
}

/// Calls `f(k, &mut dst[k])` for every `k`, by rows of `ny`.
#[inline]
pub fn update<T: Send>(par: Par, dst: &mut [T], ny: usize, f: impl Fn(usize, &mut T) + Sync + Send) {
    for_rows(par, dst, ny, |i, row| {
        let base = i * ny;
        for (j, d) in row.iter_mut().enumerate() {
            f(base + j, d);
        }
    });
}
