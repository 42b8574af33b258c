//! Loops compiled for the widest vector instructions the processor has.
//!
//! rewind is built for the baseline x86-64 (SSE2: two `f64` a
//! vector). A hot loop written as a [`Kernel`] and run by [`widest`] is
//! compiled a second time with AVX2 enabled and chosen at run time where
//! the processor has it (pulp's dispatch; the baseline copy otherwise).
//! The operations and their order are the same — the compiler forms no
//! fused multiply-add from a product and a sum — so the results are the
//! same bits on every processor; only the width of the vectors changes.
//! `run` must be `#[inline(always)]` (and what it calls inlined) for the
//! wider instructions to reach it.

/// A loop to compile for the widest vector instructions.
pub(crate) trait Kernel {
    /// What it returns.
    type Output;
    /// Runs it (mark it `#[inline(always)]`).
    fn run(self) -> Self::Output;
}

/// A [`Kernel`] as pulp's operation.
struct Dispatch<K>(K);

impl<K: Kernel> pulp::WithSimd for Dispatch<K> {
    type Output = K::Output;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> K::Output {
        self.0.run()
    }
}

/// Runs `k` compiled for the widest vector instructions the processor has.
#[inline(always)]
pub(crate) fn widest<K: Kernel>(k: K) -> K::Output {
    pulp::Arch::new().dispatch(Dispatch(k))
}
