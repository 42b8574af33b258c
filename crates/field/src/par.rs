//! Explicit, deterministic parallelism.
//!
//! Every kernel takes a [`Par`]. Work is split by rows, each output value
//! is computed by the same arithmetic whichever thread computes it, and
//! reductions add per-row partial sums in row order — so results are
//! bit-for-bit identical for any number of threads, and with `Par::Seq`.

use rayon::prelude::*;

/// The work from which a kernel uses threads with [`Par::Rayon`], in units
/// of one elementwise `f64` operation per point (a kernel's *weight* says
/// how many such units one of its points costs; an operation on dual
/// numbers of `p` components counts `p²`: a product of `Dual<f64>` is three
/// multiplications and an addition).
///
/// Waking a sleeping worker costs 25–35 µs on the 2-vCPU machine these
/// figures come from (a worker idle for 20 µs is asleep), as much as an
/// elementwise pass over 256² points in cache: with one threshold in
/// points for every kernel, a taped step at 256² ran 0.83× as fast on two
/// threads as on one. With the work as the measure, `f64` elementwise
/// passes and simple stencils at 256² stay on one thread while the FFT,
/// the Arakawa kernel and the dual-number passes of HVPs go parallel.
pub const PAR_WORK: usize = 256 * 1024;

/// Below this many points a kernel stays on one thread whatever its work:
/// at 128² (16K points) the dual-number Arakawa kernel, at [`PAR_WORK`],
/// made the HVP of `rewind spec --size M` slower on two threads (9.7 s
/// against 9.2 s on one).
pub const PAR_MIN_POINTS: usize = 32 * 1024;

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

/// How a kernel may use threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Par {
    /// One thread.
    Seq,
    /// The current rayon pool, from [`PAR_WORK`] and [`PAR_MIN_POINTS`] on.
    #[default]
    Rayon,
}

impl Par {
    /// Whether a kernel over `len` points of `T` of `weight` runs on threads.
    #[inline]
    pub fn parallel<T>(self, len: usize, weight: usize) -> bool {
        // arithmetic on dual numbers of p f64 parts costs ~p² f64 operations
        let parts = (std::mem::size_of::<T>() / 8).max(1);
        self == Par::Rayon
            && len >= PAR_MIN_POINTS
            && len * weight * parts * parts >= PAR_WORK
            && rayon::current_num_threads() > 1
    }
}

/// Calls `f(i, row)` for every row `i` of `out` (rows of `ny` values), on
/// threads if the work (`weight` per point) is large enough.
#[inline]
pub fn for_rows<T: Send>(par: Par, weight: usize, out: &mut [T], ny: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if par.parallel::<T>(out.len(), weight) {
        out.par_chunks_mut(ny).enumerate().for_each(|(i, row)| f(i, row));
    } else {
        out.chunks_mut(ny).enumerate().for_each(|(i, row)| f(i, row));
    }
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
    if par.parallel::<T>(len, weight) {
        partials.par_iter_mut().enumerate().for_each(|(i, p)| *p = row_sum(i));
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
