//! A linear stencil as data: its coefficients, summed in chunks the
//! compiler vectorises, and the same sum at one point.

use rewind_tape::Real;

use super::{LW, MAX_LOCAL, Stencil, W, offsets};
use crate::Grid;

/// A [`Stencil::LINEAR`] stencil as data: its value `f(0) + Σ_q c_q
/// local_q`, summed in the order of the local inputs (from `f(0)` if it is
/// not zero), with the coefficients its fixed partials. Every path computes
/// a linear stencil this way — the interior loop as sums of scaled slices
/// the compiler vectorises, the boundary points one by one — so that the
/// bits do not depend on where a point falls.
pub(in crate::tape) struct Linear {
    /// `f(0)` if the sum starts from it (not zero), or zero where a VJP's
    /// sum starts from a zeroed adjoint.
    start: Option<f64>,
    c: [f64; MAX_LOCAL],
    len: usize,
}

impl Linear {
    /// The coefficients of `kernel` on `g`.
    pub(in crate::tape) fn of<K: Stencil>(kernel: &K, g: &Grid) -> Self {
        let len = K::INPUTS * K::OFFSETS.len();
        let zeros = [0.0; MAX_LOCAL];
        let mut c = [0.0; MAX_LOCAL];
        for (q, c) in c[..len].iter_mut().enumerate() {
            *c = kernel.partial(g, &zeros[..len], q);
        }
        let f0 = kernel.eval(g, &zeros[..len]);
        Linear { start: (f0 != 0.0).then_some(f0), c, len }
    }

    /// The adjoint of input `k` of `kernel` on `g` as a linear stencil of
    /// the output's adjoint, with its offsets (engine axes, as [`offsets`]):
    /// `Σₘ ō[q − oₘ] c_{k,m}`, in the order of the offsets, summed from zero.
    pub(super) fn adjoint<K: Stencil>(kernel: &K, g: &Grid, k: usize) -> (Self, [[isize; 3]; MAX_LOCAL]) {
        let (m, e) = (K::OFFSETS.len(), offsets::<K>(g));
        let zeros = [0.0; MAX_LOCAL];
        let (mut c, mut mirrored) = ([0.0; MAX_LOCAL], [[0; 3]; MAX_LOCAL]);
        for t in 0..m {
            c[t] = kernel.partial(g, &zeros[..K::INPUTS * m], k * m + t);
            mirrored[t] = e[t].map(|d| -d);
        }
        (Linear { start: Some(0.0), c, len: m }, mirrored)
    }

    /// The value at one point.
    #[inline(always)]
    pub(in crate::tape) fn at<T: Real>(&self, local: &[T]) -> T {
        let mut acc = local[0] * self.c[0];
        if let Some(f0) = self.start {
            acc = T::from_f64(f0) + acc;
        }
        for q in 1..self.len {
            acc += local[q] * self.c[q];
        }
        acc
    }

    /// `|f(0)| + Σ_q |c_q local_q|`: the size of the terms of the sum.
    pub(in crate::tape) fn magnitude(&self, local: &[f64]) -> f64 {
        self.start.unwrap_or(0.0).abs() + local[..self.len].iter().zip(&self.c).map(|(l, c)| (l * c).abs()).sum::<f64>()
    }

    /// `out[t]` = the value with `local[q] = src[q][t]`: [`Linear::at`]'s
    /// arithmetic, [`LW`] points at a time, then [`W`], then the points
    /// left in one more chunk of [`W`] ending at the end of `out` (one by
    /// one only if `out` is shorter than a chunk).
    #[inline(always)]
    pub(super) fn sweep<T: Real>(&self, src: &[&[T]], out: &mut [T]) {
        debug_assert_eq!(src.len(), self.len, "a source per local input");
        let done = self.chunks::<LW, T>(src, out, 0);
        let mut done = self.chunks::<W, T>(src, out, done);
        if done < out.len() && out.len() >= W {
            // the last points in one more chunk, ending at the end: the
            // points it computes again get the same bits (shallow water's
            // C-grid differences along a line of 128 have 127 interior
            // points, whose last 15 were summed one by one)
            let from = out.len() - W;
            self.chunks::<W, T>(src, out, from);
            done = out.len();
        }
        for (o, t) in out[done..].iter_mut().zip(done..) {
            let mut local = [T::zero(); MAX_LOCAL];
            for q in 0..src.len() {
                local[q] = src[q][t];
            }
            *o = self.at(&local[..src.len()]);
        }
    }

    /// `acc[w]` = the value at point `t + w` of the sources `src`.
    #[inline(always)]
    fn sum<const C: usize, T: Real>(&self, src: &[&[T]], t: usize, acc: &mut [T; C]) {
        let first: &[T; C] = src[0][t..t + C].try_into().expect("a chunk of C points");
        for (a, &x) in acc.iter_mut().zip(first) {
            *a = x * self.c[0];
        }
        if let Some(f0) = self.start {
            for a in acc.iter_mut() {
                *a = T::from_f64(f0) + *a;
            }
        }
        // (`src.len()` is the stencil's constant where this is inlined:
        // the loop unrolls)
        for q in 1..src.len() {
            let s: &[T; C] = src[q][t..t + C].try_into().expect("a chunk of C points");
            for (a, &x) in acc.iter_mut().zip(s) {
                *a += x * self.c[q];
            }
        }
    }

    /// [`Linear::sweep`] on the whole chunks of `C` points of `out[from..]`:
    /// where they end.
    #[inline(always)]
    fn chunks<const C: usize, T: Real>(&self, src: &[&[T]], out: &mut [T], from: usize) -> usize {
        let end = from + (out.len() - from) / C * C;
        for (k, o) in out[from..end].chunks_exact_mut(C).enumerate() {
            let t = from + k * C;
            // `f64` sums accumulate in registers, then go to the output;
            // wider scalars (dual numbers: more than the registers hold)
            // accumulate in the output chunk itself — measured, shallow
            // water 128²: the copy from the stack was a call to memcpy per
            // chunk, 5 % of the HVP run, and summing `f64` in the output
            // made the primal 1.2× slower
            if size_of::<T>() > size_of::<f64>() {
                self.sum::<C, T>(src, t, o.try_into().expect("a chunk of C points"));
            } else {
                let mut acc = [T::zero(); C];
                self.sum::<C, T>(src, t, &mut acc);
                o.copy_from_slice(&acc);
            }
        }
        end
    }
}
