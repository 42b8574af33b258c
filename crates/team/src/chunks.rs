//! Disjoint `&mut` chunks of one slice for the pieces of a [`run`](crate::run).

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

/// Chunks tracked without allocating.
const INLINE_CHUNKS: usize = 64 * CLAIM_WORDS;
const CLAIM_WORDS: usize = 16;

/// One bit per chunk: taken.
enum Claims {
    Inline([AtomicU64; CLAIM_WORDS]),
    Heap(Box<[AtomicU64]>),
}

impl Claims {
    fn new(count: usize) -> Self {
        if count <= INLINE_CHUNKS {
            Claims::Inline(std::array::from_fn(|_| AtomicU64::new(0)))
        } else {
            Claims::Heap((0..count.div_ceil(64)).map(|_| AtomicU64::new(0)).collect())
        }
    }

    #[inline]
    fn word(&self, c: usize) -> &AtomicU64 {
        match self {
            Claims::Inline(w) => &w[c / 64],
            Claims::Heap(w) => &w[c / 64],
        }
    }

    /// Claims chunk `c`.
    ///
    /// # Panics
    /// If it was claimed before.
    #[inline]
    fn claim(&self, c: usize) {
        let bit = 1u64 << (c % 64);
        let before = self.word(c).fetch_or(bit, Relaxed);
        assert!(before & bit == 0, "chunk {c} taken twice");
    }

    fn claimed(&self, c: usize) -> bool {
        self.word(c).load(Relaxed) & (1u64 << (c % 64)) != 0
    }
}

/// The range of chunk `c`.
fn range(c: usize, chunk: usize, len: usize) -> std::ops::Range<usize> {
    let start = c * chunk;
    start..(start + chunk).min(len)
}

/// A slice handed out in disjoint `&mut` chunks of `chunk` values (the
/// last may be shorter) to the pieces of a [`run`](crate::run), by index:
/// each chunk can be taken once, from any thread. Up to 1024 chunks it
/// allocates nothing.
pub struct ChunksMut<'a, T> {
    ptr: *mut T,
    len: usize,
    chunk: usize,
    count: usize,
    claims: Claims,
    _slice: PhantomData<&'a mut [T]>,
}

// SAFETY: a shared `ChunksMut` gives out `&mut` chunks of `T` on the
// threads that share it, which moves access to those values between
// threads: that is sound for `T: Send`. The chunks are disjoint (each is
// taken once, under an atomic claim).
unsafe impl<T: Send> Sync for ChunksMut<'_, T> {}
// SAFETY: as for `Sync`; the `ChunksMut` owns the slice's borrow.
unsafe impl<T: Send> Send for ChunksMut<'_, T> {}

impl<T> std::fmt::Debug for ChunksMut<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunksMut").field("len", &self.len).field("chunk", &self.chunk).finish()
    }
}

impl<'a, T> ChunksMut<'a, T> {
    /// `slice` in chunks of `chunk` values.
    ///
    /// # Panics
    /// If `chunk` is 0.
    pub fn new(slice: &'a mut [T], chunk: usize) -> Self {
        assert!(chunk > 0, "chunks of 0 values");
        let count = slice.len().div_ceil(chunk);
        ChunksMut {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            chunk,
            count,
            claims: Claims::new(count),
            _slice: PhantomData,
        }
    }

    /// The number of chunks.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Chunk `c`: values `c·chunk .. min((c + 1)·chunk, len)`.
    ///
    /// # Panics
    /// If `c` is not a chunk or was taken before.
    pub fn take(&self, c: usize) -> &'a mut [T] {
        assert!(c < self.count, "chunk {c} of {}", self.count);
        self.claims.claim(c);
        let r = range(c, self.chunk, self.len);
        // SAFETY: `r` lies in the slice borrowed mutably for 'a (`c <
        // count`), and the claim makes this the only reference ever made to
        // it: chunks do not overlap.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }
    }
}

/// An uninitialised slice (a new arena buffer) handed out in chunks like
/// [`ChunksMut`], each filled with `zero` as it is taken — by the thread
/// that then writes it, while it is in that core's cache — and returned
/// initialised by [`finish`](Self::finish). A kernel that overwrites its
/// output thus needs no zero-fill pass of its own over memory.
pub struct InitChunks<'a, T> {
    ptr: *mut MaybeUninit<T>,
    len: usize,
    chunk: usize,
    count: usize,
    zero: T,
    claims: Claims,
    _slice: PhantomData<&'a mut [MaybeUninit<T>]>,
}

// SAFETY: as for `ChunksMut`, for the chunks (`T: Send`); `zero` is read
// on every thread that takes a chunk (`T: Sync`).
unsafe impl<T: Send + Sync> Sync for InitChunks<'_, T> {}
// SAFETY: as for `Sync`; the `InitChunks` owns the slice's borrow.
unsafe impl<T: Send> Send for InitChunks<'_, T> {}

impl<T> std::fmt::Debug for InitChunks<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitChunks").field("len", &self.len).field("chunk", &self.chunk).finish()
    }
}

impl<'a, T: Copy> InitChunks<'a, T> {
    /// `slice` in chunks of `chunk` values, each set to `zero` when taken.
    ///
    /// # Panics
    /// If `chunk` is 0.
    pub fn new(slice: &'a mut [MaybeUninit<T>], chunk: usize, zero: T) -> Self {
        assert!(chunk > 0, "chunks of 0 values");
        let count = slice.len().div_ceil(chunk);
        let (ptr, len) = (slice.as_mut_ptr(), slice.len());
        InitChunks { ptr, len, chunk, count, zero, claims: Claims::new(count), _slice: PhantomData }
    }

    /// The number of chunks.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Chunk `c` (values `c·chunk .. min((c + 1)·chunk, len)`), set to
    /// `zero`.
    ///
    /// # Panics
    /// If `c` is not a chunk or was taken before.
    #[allow(clippy::mut_from_ref, reason = "each chunk is handed out once, under its claim")]
    pub fn take(&self, c: usize) -> &mut [T] {
        assert!(c < self.count, "chunk {c} of {}", self.count);
        self.claims.claim(c);
        let r = range(c, self.chunk, self.len);
        // SAFETY: `r` lies in the slice borrowed mutably for 'a, and the
        // claim makes this the only reference ever made to it (chunks do
        // not overlap); `self` outlives the reference, and `finish`, which
        // makes another, consumes `self`.
        let chunk = unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) };
        init(chunk, self.zero)
    }

    /// The whole slice, initialised: the chunks taken hold what their
    /// pieces wrote, the others `zero`.
    pub fn finish(self) -> &'a mut [T] {
        for c in (0..self.count).filter(|&c| !self.claims.claimed(c)) {
            let r = range(c, self.chunk, self.len);
            // SAFETY: as in `take` (chunk `c` was never taken, so nothing
            // refers to it).
            init(unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }, self.zero);
        }
        // SAFETY: every value of the slice (borrowed mutably for 'a) is
        // initialised — the chunks taken when they were taken, the others
        // just now — and `self`, consumed, holds no reference to it.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast::<T>(), self.len) }
    }
}

/// `out` with every value set to `zero`, as initialised values.
fn init<T: Copy>(out: &mut [MaybeUninit<T>], zero: T) -> &mut [T] {
    for v in out.iter_mut() {
        v.write(zero);
    }
    // SAFETY: every value was just written; `MaybeUninit<T>` has the layout
    // of `T`.
    unsafe { &mut *(out as *mut [MaybeUninit<T>] as *mut [T]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run;

    const N: usize = if cfg!(miri) { 40 } else { 1000 };

    #[test]
    fn chunks_cover_the_slice_once() {
        let mut v = vec![0usize; 10 * N + 3];
        let chunks = ChunksMut::new(&mut v, 10);
        assert_eq!(chunks.count(), N + 1);
        run(2, chunks.count(), |c| chunks.take(c).iter_mut().for_each(|x| *x += c + 1));
        assert!(v.iter().enumerate().all(|(k, &x)| x == k / 10 + 1));
    }

    #[test]
    fn more_chunks_than_inline_claims() {
        let mut v = vec![0u8; 3 * INLINE_CHUNKS + 1];
        let chunks = ChunksMut::new(&mut v, 1);
        run(2, chunks.count(), |c| chunks.take(c)[0] += 1);
        assert!(v.iter().all(|&x| x == 1));
    }

    #[test]
    #[should_panic(expected = "taken twice")]
    fn a_chunk_cannot_be_taken_twice() {
        let mut v = [1, 2, 3, 4];
        let chunks = ChunksMut::new(&mut v, 2);
        let _a = chunks.take(1);
        let _b = chunks.take(1);
    }

    #[test]
    fn init_chunks_hold_what_the_pieces_wrote_and_zero_elsewhere() {
        let mut raw = vec![MaybeUninit::<f64>::uninit(); 7 * N + 5];
        let chunks = InitChunks::new(&mut raw, 7, -0.0);
        // every third chunk is left alone: `finish` fills it
        run(2, chunks.count(), |c| {
            if c % 3 != 0 {
                for (k, x) in chunks.take(c).iter_mut().enumerate() {
                    assert_eq!(x.to_bits(), (-0.0f64).to_bits(), "taken chunks start at zero");
                    *x = (7 * c + k) as f64;
                }
            }
        });
        let v = chunks.finish();
        for (k, &x) in v.iter().enumerate() {
            let want = if (k / 7) % 3 == 0 { -0.0 } else { k as f64 };
            assert_eq!(x.to_bits(), want.to_bits(), "at {k}");
        }
    }
}
