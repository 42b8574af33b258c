//! Reverse mode: an arena-allocated tape and its variable type [`Var`].
//!
//! Every operation on [`Var`]s appends one *statement* to the tape: the
//! indices of its operands and the partial derivatives with respect to them
//! (the local Jacobian row, "Jacobian taping" as in Adept and CoDiPack).
//! The reverse sweep walks the statements backwards once, accumulating
//! `adj[operand] += partial · adj[result]`. Statements of any arity are kept
//! inline in two flat arrays (statement ends; operands as partial–index
//! pairs), so an n-ary node costs no allocation of its own.
//!
//! # Memory
//!
//! The arrays live in a [`bumpalo`] arena owned by the [`Tape`]. Recording
//! starts with [`Tape::record`], which resets the arena in O(1) and keeps its
//! memory, and pre-sizes the arrays to the largest earlier recording, so a
//! tape reused for the same computation (one time step after another)
//! performs no heap allocation in steady state.
//!
//! # Safety by construction
//!
//! [`Tape::record`] hands the closure a [`Recorder`] whose lifetime `'id` is
//! fresh and invariant (the "generative lifetime" or GhostCell pattern), and
//! every [`Var`] carries that brand. Hence:
//!
//! * a variable cannot leave its recording (the tape is reset afterwards):
//!
//! ```compile_fail,E0521
//! use rewind_tape::Tape;
//! let mut tape = Tape::<f64>::new();
//! let mut escaped = None;
//! tape.record(|r| escaped = Some(r.var(1.0))); // error: borrowed data escapes
//! ```
//!
//! * variables of two tapes cannot be combined:
//!
//! ```compile_fail,E0521
//! use rewind_tape::Tape;
//! let (mut t1, mut t2) = (Tape::<f64>::new(), Tape::<f64>::new());
//! t1.record(|a| {
//!     let x = a.var(1.0);
//!     t2.record(|b| {
//!         let y = b.var(2.0);
//!         let _ = x * y; // error: lifetimes 'a and 'b differ
//!     })
//! });
//! ```
//!
//! * a tape cannot be reset (or dropped, or recorded again) while its
//!   variables are alive:
//!
//! ```compile_fail,E0499
//! use rewind_tape::Tape;
//! let mut tape = Tape::<f64>::new();
//! tape.record(|r| {
//!     let x = r.var(1.0);
//!     tape.reset(); // error: `tape` is already borrowed by `record`
//!     let _ = x * x;
//! });
//! ```
//!
//! * a variable cannot move to another thread (each thread or rayon task
//!   records on a tape of its own; [`Tape`] itself is `Send`):
//!
//! ```compile_fail,E0277
//! use rewind_tape::Tape;
//! let mut tape = Tape::<f64>::new();
//! tape.record(|r| {
//!     let x = r.var(1.0);
//!     std::thread::scope(|s| {
//!         s.spawn(move || x * x); // error: `Var` is not `Send`
//!     });
//! });
//! ```
//!
//! (Each example is pinned to its error code, so it cannot pass for another
//! reason; the positive twins compile in `tests/safety.rs`.)
//!
//! None of this relies on `unsafe` code; the one `unsafe` construct of the
//! crate (the recorder's interior mutability) is explained at
//! `Recorder::statements`.

use std::cell::UnsafeCell;
use std::cmp::Ordering;
use std::fmt;
use std::iter::Sum;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, size_of};
use std::ops::{Add, Div, Mul, Neg, Sub};

use bumpalo::Bump;
use bumpalo::collections::Vec as BVec;
use smallvec::SmallVec;

use crate::custom::CustomOp;
use crate::{Real, TapeError, rules};

/// The largest index a tape can hold.
const MAX_INDEX: usize = u32::MAX as usize;

/// Sizes of one recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapeStats {
    /// Statements recorded (inputs count as statements with no operands).
    pub statements: usize,
    /// Operand entries over all statements.
    pub operands: usize,
    /// Bytes used by the statement arrays (excluding the adjoints of a sweep).
    pub bytes: usize,
}

/// A reusable reverse-mode tape over scalars of type `T`.
///
/// ```
/// use rewind_tape::{Real, Tape};
/// let mut tape = Tape::<f64>::new();
/// for k in 1..4 {
///     // each recording resets the arena and reuses its memory
///     let (y, dy) = tape.record(|r| {
///         let x = r.var(k as f64);
///         let y = x * x * x;
///         let g = r.gradient(y).unwrap();
///         (y.value(), g.wrt(x))
///     });
///     assert_eq!(dy, 3.0 * (k * k) as f64);
///     assert_eq!(y, (k * k * k) as f64);
/// }
/// ```
pub struct Tape<T> {
    arena: Bump,
    limit: usize,
    capacity: TapeStats,
    last: TapeStats,
    _scalar: PhantomData<T>,
}

impl<T> fmt::Debug for Tape<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tape").field("arena_bytes", &self.arena.allocated_bytes()).field("last", &self.last).finish()
    }
}

impl<T: Real> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Real> Tape<T> {
    /// An empty tape; the arena grows on first use.
    pub fn new() -> Self {
        Self::with_limit(MAX_INDEX)
    }

    /// An empty tape that refuses to hold more than `max_statements`
    /// statements or operands in one recording (capped at 2³² − 1): a
    /// recording that exceeds it makes every reverse sweep return
    /// [`TapeError::Overflow`] instead of growing memory without bound.
    pub fn with_limit(max_statements: usize) -> Self {
        Tape {
            arena: Bump::new(),
            limit: max_statements.min(MAX_INDEX),
            capacity: TapeStats::default(),
            last: TapeStats::default(),
            _scalar: PhantomData,
        }
    }

    /// Records a computation. The closure receives a [`Recorder`] to create
    /// input variables and to run reverse sweeps; nothing it records can
    /// outlive the call. The arena is reset at the start (O(1), memory kept).
    pub fn record<R>(&mut self, f: impl for<'id> FnOnce(&'id Recorder<'id, T>) -> R) -> R {
        self.arena.reset();
        let rec = Recorder::new(&self.arena, self.capacity, self.limit);
        let out = f(&rec);
        let stats = rec.stats();
        self.last = stats;
        self.capacity.statements = self.capacity.statements.max(stats.statements);
        self.capacity.operands = self.capacity.operands.max(stats.operands);
        out
    }

    /// Frees nothing but forgets everything recorded: the next recording
    /// reuses the arena's memory. ([`record`](Self::record) does this itself.)
    pub fn reset(&mut self) {
        self.arena.reset();
    }

    /// Sizes of the last recording.
    pub fn last_stats(&self) -> TapeStats {
        self.last
    }

    /// Bytes the arena holds from the system (its capacity, not its use).
    pub fn arena_bytes(&self) -> usize {
        self.arena.allocated_bytes()
    }

    /// Value and gradient of `f` at `x`, reusing this tape's memory.
    pub fn value_and_grad<F>(&mut self, f: F, x: &[T]) -> Result<(T, Vec<T>), TapeError>
    where
        F: for<'id> FnOnce(&[Var<'id, T>]) -> Var<'id, T>,
    {
        let mut g = vec![T::zero(); x.len()];
        let y = self.value_and_grad_into(f, x, &mut g)?;
        Ok((y, g))
    }

    /// Value of `f` at `x`, with its gradient written into `g`: with a
    /// reused tape and output buffer, no heap allocation at all.
    pub fn value_and_grad_into<F>(&mut self, f: F, x: &[T], g: &mut [T]) -> Result<T, TapeError>
    where
        F: for<'id> FnOnce(&[Var<'id, T>]) -> Var<'id, T>,
    {
        if g.len() != x.len() {
            return Err(TapeError::LengthMismatch { what: "gradient output", expected: x.len(), got: g.len() });
        }
        self.record(|r| {
            let xs = r.vars(x);
            let y = f(xs);
            let adj = r.gradient(y)?;
            for (gi, &xi) in g.iter_mut().zip(xs) {
                *gi = adj.wrt(xi);
            }
            Ok(y.value_inner())
        })
    }

    /// Gradient of `f` at `x`, reusing this tape's memory.
    pub fn grad<F>(&mut self, f: F, x: &[T]) -> Result<Vec<T>, TapeError>
    where
        F: for<'id> FnOnce(&[Var<'id, T>]) -> Var<'id, T>,
    {
        self.value_and_grad(f, x).map(|(_, g)| g)
    }
}

/// One operand of a statement: `∂(statement)/∂(variable idx)`.
#[derive(Clone, Copy)]
struct Operand<T> {
    partial: T,
    idx: u32,
}

/// The statement arrays. `ends[i]` is one past the last operand of statement
/// `i`; its operands are `ops[ends[i-1]..ends[i]]`.
struct Statements<'a, T> {
    // ManuallyDrop: the arena reclaims the memory on reset and `T: Copy` has
    // no destructor, so the recorder needs no drop glue (which lets it be
    // borrowed for its own lifetime `'a`).
    ends: ManuallyDrop<BVec<'a, u32>>,
    ops: ManuallyDrop<BVec<'a, Operand<T>>>,
    overflow: bool,
}

/// The recording side of a [`Tape`], handed to the closure of
/// [`Tape::record`]. Its lifetime `'id` brands every [`Var`] it creates.
pub struct Recorder<'id, T> {
    arena: &'id Bump,
    limit: usize,
    st: UnsafeCell<Statements<'id, T>>,
}

impl<T> fmt::Debug for Recorder<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.statements();
        f.debug_struct("Recorder").field("statements", &st.ends.len()).field("operands", &st.ops.len()).finish()
    }
}

impl<'id, T> Recorder<'id, T> {
    /// Shared view of the statement arrays.
    ///
    /// An `UnsafeCell` rather than a `RefCell`: recording is the hottest
    /// path of the crate and the borrow flag cost 13% of the recording time
    /// of the extended Rosenbrock gradient (measured with the
    /// `tape_figures` example). The borrows cannot overlap: `push` is the
    /// only mutator and holds its borrow for no longer than its own body.
    #[inline]
    fn statements(&self) -> &Statements<'id, T> {
        // SAFETY: no exclusive borrow is alive while any method other than
        // `push` runs (see `push`), and the recorder is `!Sync`.
        unsafe { &*self.st.get() }
    }
}

impl<'id, T: Real> Recorder<'id, T> {
    fn new(arena: &'id Bump, cap: TapeStats, limit: usize) -> Self {
        Recorder {
            arena,
            limit,
            st: UnsafeCell::new(Statements {
                ends: ManuallyDrop::new(BVec::with_capacity_in(cap.statements, arena)),
                ops: ManuallyDrop::new(BVec::with_capacity_in(cap.operands, arena)),
                overflow: false,
            }),
        }
    }

    /// Sizes recorded so far.
    pub fn stats(&self) -> TapeStats {
        let st = self.statements();
        let (s, o) = (st.ends.len(), st.ops.len());
        TapeStats { statements: s, operands: o, bytes: s * size_of::<u32>() + o * size_of::<Operand<T>>() }
    }

    /// A new independent variable.
    #[inline]
    pub fn var(&'id self, value: T) -> Var<'id, T> {
        self.push(value, &[])
    }

    /// New independent variables, one per value (stored in the arena).
    pub fn vars(&'id self, values: &[T]) -> &'id [Var<'id, T>] {
        self.arena.alloc_slice_fill_iter(values.iter().map(|&v| self.var(v)))
    }

    /// Appends a statement with the given `(operand, partial)` pairs. Past
    /// the limit nothing more is stored: the variable gets a placeholder
    /// index and every later sweep reports [`TapeError::Overflow`].
    #[inline(always)]
    fn push(&'id self, value: T, args: &[(u32, T)]) -> Var<'id, T> {
        // SAFETY: this exclusive borrow ends with this function, which calls
        // no user code and nothing that can reach this recorder (only moves
        // of `T` values and arena growth). The recorder is `!Sync`, so no
        // other thread holds a borrow; the only other borrows (`stats`,
        // `backward`, `Debug`) are shared ones made from methods that never
        // run while a `push` is in progress. See `Recorder::statements`.
        let st = unsafe { &mut *self.st.get() };
        let id = st.ends.len();
        let end = st.ops.len() + args.len();
        if st.overflow || id >= self.limit || end > self.limit {
            st.overflow = true;
            return Var { val: value, idx: u32::MAX, rec: Some(self) };
        }
        for &(i, d) in args {
            st.ops.push(Operand { partial: d, idx: i });
        }
        st.ends.push(end as u32);
        Var { val: value, idx: id as u32, rec: Some(self) }
    }

    #[inline(always)]
    fn push1(&'id self, value: T, i: u32, d: T) -> Var<'id, T> {
        self.push(value, &[(i, d)])
    }

    #[inline(always)]
    fn push2(&'id self, value: T, i: u32, di: T, j: u32, dj: T) -> Var<'id, T> {
        self.push(value, &[(i, di), (j, dj)])
    }

    /// Reverse sweep from `y`: the adjoints of everything recorded so far
    /// with respect to `y`. May be called several times (one per output).
    pub fn gradient(&'id self, y: Var<'id, T>) -> Result<Gradient<'id, T>, TapeError> {
        self.backward(&[(y, T::one())])
    }

    /// Reverse sweep seeded with `ȳ` on several outputs: the adjoints of
    /// `Σ ȳᵢ yᵢ` (a vector-Jacobian product).
    pub fn backward(&'id self, seeds: &[(Var<'id, T>, T)]) -> Result<Gradient<'id, T>, TapeError> {
        // Held across the sweep, during which only `T` arithmetic runs: for
        // nested tapes (`T = Var<'inner, _>`) that records on the *inner*
        // recorder, a different object of a different type, never this one.
        let st = self.statements();
        if st.overflow {
            return Err(TapeError::Overflow { max: self.limit as u64 });
        }
        let n = st.ends.len();
        let adj = self.arena.alloc_slice_fill_copy(n, T::zero());
        let mut top = 0;
        for &(y, s) in seeds {
            if y.rec.is_some() {
                let i = y.idx as usize;
                if i >= n {
                    // Only reachable after an overflow, which returned above.
                    return Err(TapeError::Overflow { max: self.limit as u64 });
                }
                adj[i] += s;
                top = top.max(i + 1);
            }
        }
        let (ends, ops) = (&st.ends[..top], &st.ops[..]);
        // Walk the statements backwards; each one's start is the previous
        // one's end, so one load of `ends` per statement.
        let mut end = ends.last().map_or(0, |&e| e as usize);
        for i in (0..top).rev() {
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            let a = adj[i];
            if !a.is_exact_zero() {
                for op in &ops[start..end] {
                    adj[op.idx as usize] += op.partial * a;
                }
            }
            end = start;
        }
        Ok(Gradient { adj, _brand: PhantomData })
    }
}

/// Adjoints from one reverse sweep of a [`Recorder`].
pub struct Gradient<'id, T> {
    adj: &'id [T],
    _brand: PhantomData<&'id Recorder<'id, T>>,
}

impl<T> fmt::Debug for Gradient<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gradient").field("len", &self.adj.len()).finish()
    }
}

impl<'id, T: Real> Gradient<'id, T> {
    /// The derivative with respect to `x` (zero for constants and for
    /// variables the output does not depend on).
    #[inline]
    pub fn wrt(&self, x: Var<'id, T>) -> T {
        match x.rec {
            Some(_) => self.adj.get(x.idx as usize).copied().unwrap_or_else(T::zero),
            None => T::zero(),
        }
    }
    /// The derivatives with respect to each of `xs`.
    pub fn wrt_all(&self, xs: &[Var<'id, T>]) -> Vec<T> {
        xs.iter().map(|&x| self.wrt(x)).collect()
    }
}

/// A reverse-mode variable: a value of type `T` and its place on the tape
/// of the [`Recorder`] with brand `'id`; or a constant, on no tape.
///
/// `Var` is `Copy` and has no destructor; dropping, forgetting or copying it
/// is always harmless.
pub struct Var<'id, T> {
    val: T,
    idx: u32,
    rec: Option<&'id Recorder<'id, T>>,
}

impl<T: Copy> Clone for Var<'_, T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Copy> Copy for Var<'_, T> {}

impl<T: Real> fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rec {
            Some(_) => write!(f, "Var({:?} @ {})", self.val, self.idx),
            None => write!(f, "Var({:?}, constant)", self.val),
        }
    }
}
impl<T: Real> fmt::Display for Var<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.val, f)
    }
}

impl<'id, T: Real> Var<'id, T> {
    /// A constant (on no tape): derivatives with respect to it are zero.
    /// This is also how a value from an outer level of nesting enters an
    /// inner recording.
    #[inline]
    pub fn constant(val: T) -> Self {
        Var { val, idx: 0, rec: None }
    }
    /// The value, one level down (`T`).
    #[inline]
    pub fn value_inner(&self) -> T {
        self.val
    }
    /// Whether this variable is recorded on a tape (false for constants).
    #[inline]
    pub fn is_on_tape(&self) -> bool {
        self.rec.is_some()
    }

    #[inline(always)]
    fn unary(self, v: T, d: T) -> Self {
        match self.rec {
            Some(r) => r.push1(v, self.idx, d),
            None => Var::constant(v),
        }
    }
    #[inline(always)]
    fn binary(self, o: Self, v: T, da: T, db: T) -> Self {
        match (self.rec, o.rec) {
            (Some(r), Some(r2)) => {
                debug_assert!(std::ptr::eq(r, r2), "branded variables come from one recorder");
                r.push2(v, self.idx, da, o.idx, db)
            }
            (Some(r), None) => r.push1(v, self.idx, da),
            (None, Some(r)) => r.push1(v, o.idx, db),
            (None, None) => Var::constant(v),
        }
    }
}

impl<T: Real> From<f64> for Var<'_, T> {
    #[inline]
    fn from(v: f64) -> Self {
        Var::constant(T::from_f64(v))
    }
}

impl<T: Real> PartialEq for Var<'_, T> {
    #[inline]
    fn eq(&self, o: &Self) -> bool {
        self.val == o.val
    }
}
impl<T: Real> PartialOrd for Var<'_, T> {
    #[inline]
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        self.val.partial_cmp(&o.val)
    }
}
impl<T: Real> PartialEq<f64> for Var<'_, T> {
    #[inline]
    fn eq(&self, o: &f64) -> bool {
        self.val == *o
    }
}
impl<T: Real> PartialOrd<f64> for Var<'_, T> {
    #[inline]
    fn partial_cmp(&self, o: &f64) -> Option<Ordering> {
        self.val.partial_cmp(o)
    }
}

impl<T: Real> Add for Var<'_, T> {
    type Output = Self;
    #[inline]
    fn add(self, o: Self) -> Self {
        self.binary(o, self.val + o.val, T::one(), T::one())
    }
}
impl<T: Real> Sub for Var<'_, T> {
    type Output = Self;
    #[inline]
    fn sub(self, o: Self) -> Self {
        self.binary(o, self.val - o.val, T::one(), -T::one())
    }
}
impl<T: Real> Mul for Var<'_, T> {
    type Output = Self;
    #[inline]
    fn mul(self, o: Self) -> Self {
        self.binary(o, self.val * o.val, o.val, self.val)
    }
}
impl<T: Real> Div for Var<'_, T> {
    type Output = Self;
    #[inline]
    fn div(self, o: Self) -> Self {
        // the quotient as f64 division computes it (a · (1/b) can differ by
        // an ulp, and a taped run's primal must equal the f64 one)
        let q = self.val / o.val;
        let inv = o.val.recip();
        self.binary(o, q, inv, -q * inv)
    }
}
impl<T: Real> Neg for Var<'_, T> {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        self.unary(-self.val, -T::one())
    }
}
impl<T: Real> Add<f64> for Var<'_, T> {
    type Output = Self;
    #[inline]
    fn add(self, c: f64) -> Self {
        self.unary(self.val + c, T::one())
    }
}
impl<T: Real> Sub<f64> for Var<'_, T> {
    type Output = Self;
    #[inline]
    fn sub(self, c: f64) -> Self {
        self.unary(self.val - c, T::one())
    }
}
impl<T: Real> Mul<f64> for Var<'_, T> {
    type Output = Self;
    #[inline]
    fn mul(self, c: f64) -> Self {
        self.unary(self.val * c, T::from_f64(c))
    }
}
impl<T: Real> Div<f64> for Var<'_, T> {
    type Output = Self;
    #[inline]
    fn div(self, c: f64) -> Self {
        self.unary(self.val / c, T::from_f64(1.0 / c))
    }
}
impl<'id, T: Real> Add<Var<'id, T>> for f64 {
    type Output = Var<'id, T>;
    #[inline]
    fn add(self, x: Var<'id, T>) -> Var<'id, T> {
        x + self
    }
}
impl<'id, T: Real> Sub<Var<'id, T>> for f64 {
    type Output = Var<'id, T>;
    #[inline]
    fn sub(self, x: Var<'id, T>) -> Var<'id, T> {
        x.unary(T::from_f64(self) - x.val, -T::one())
    }
}
impl<'id, T: Real> Mul<Var<'id, T>> for f64 {
    type Output = Var<'id, T>;
    #[inline]
    fn mul(self, x: Var<'id, T>) -> Var<'id, T> {
        x * self
    }
}
impl<'id, T: Real> Div<Var<'id, T>> for f64 {
    type Output = Var<'id, T>;
    #[inline]
    fn div(self, x: Var<'id, T>) -> Var<'id, T> {
        Var::from(self) / x
    }
}

crate::ops::impl_assign_ops!(['id, T: Real] Var<'id, T>);

/// Sums as n-ary statements of up to 16 operands each (one tape entry
/// per 15 terms instead of one per term), without heap allocation.
impl<T: Real> Sum for Var<'_, T> {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        const CHUNK: usize = 16;
        // Collect a chunk before recording it: producing the items may
        // itself record statements.
        let mut chunk: SmallVec<[Self; CHUNK]> = SmallVec::new();
        for x in iter {
            if chunk.len() == CHUNK {
                let partial = Self::sum_chunk(&chunk);
                chunk.clear();
                chunk.push(partial);
            }
            chunk.push(x);
        }
        Self::sum_chunk(&chunk)
    }
}

impl<T: Real> Var<'_, T> {
    fn sum_chunk(items: &[Self]) -> Self {
        let val = items.iter().fold(T::zero(), |a, x| a + x.val);
        match items.iter().find_map(|x| x.rec) {
            None => Var::constant(val),
            Some(rec) => {
                let args: SmallVec<[(u32, T); 16]> =
                    items.iter().filter(|x| x.rec.is_some()).map(|x| (x.idx, T::one())).collect();
                rec.push(val, &args)
            }
        }
    }
}

impl<T: Real> Real for Var<'_, T> {
    #[inline]
    fn from_f64(v: f64) -> Self {
        Var::constant(T::from_f64(v))
    }
    #[inline]
    fn value(&self) -> f64 {
        self.val.value()
    }
    #[inline]
    fn is_exact_zero(&self) -> bool {
        self.rec.is_none() && self.val.is_exact_zero()
    }
    /// The value's finiteness (its adjoint lives on the tape, not here).
    #[inline]
    fn is_finite(&self) -> bool {
        self.val.is_finite()
    }

    rules::impl_unary_methods!(val);

    #[inline]
    fn powi(self, n: i32) -> Self {
        let (v, d) = rules::powi(self.val, n);
        self.unary(v, d)
    }
    #[inline]
    fn powf(self, b: Self) -> Self {
        let (v, da, db) = rules::powf(self.val, b.val);
        self.binary(b, v, da, db)
    }
    #[inline]
    fn atan2(self, x: Self) -> Self {
        let (v, da, db) = rules::atan2(self.val, x.val);
        self.binary(x, v, da, db)
    }
    #[inline]
    fn hypot(self, other: Self) -> Self {
        let (v, da, db) = rules::hypot(self.val, other.val);
        self.binary(other, v, da, db)
    }
    #[inline]
    fn min(self, other: Self) -> Self {
        if other.val < self.val { other } else { self }
    }
    #[inline]
    fn max(self, other: Self) -> Self {
        if other.val > self.val { other } else { self }
    }

    fn apply_custom<O: CustomOp + ?Sized>(op: &O, x: &[Self], y: &mut [Self]) {
        let xv: SmallVec<[T; 8]> = x.iter().map(|v| v.val).collect();
        let mut yv: SmallVec<[T; 4]> = SmallVec::from_elem(T::zero(), y.len());
        op.eval(&xv, &mut yv);
        let Some(rec) = x.iter().find_map(|v| v.rec) else {
            for (out, v) in y.iter_mut().zip(yv) {
                *out = Var::constant(v);
            }
            return;
        };
        // One statement per output; its partials are the Jacobian row,
        // obtained from the user's VJP with a unit cotangent.
        let mut ybar: SmallVec<[T; 4]> = SmallVec::from_elem(T::zero(), y.len());
        let mut xbar: SmallVec<[T; 8]> = SmallVec::from_elem(T::zero(), x.len());
        for k in 0..y.len() {
            ybar[k] = T::one();
            xbar.iter_mut().for_each(|b| *b = T::zero());
            op.vjp(&xv, &yv, &ybar, &mut xbar);
            ybar[k] = T::zero();
            let args: SmallVec<[(u32, T); 8]> =
                x.iter().zip(&xbar).filter(|(v, _)| v.rec.is_some()).map(|(v, &d)| (v.idx, d)).collect();
            y[k] = rec.push(yv[k], &args);
        }
    }
}
