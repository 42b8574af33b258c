//! The array-level tape.
//!
//! A simulation step is a few dozen whole-array operations. Taping every
//! scalar would cost memory and time per grid point, so rewind records
//! **operations on arrays**: each appends one node (its kind and the ids
//! of its operands) and one output buffer. The reverse sweep applies each
//! node's VJP rule — written once, generically over [`Real`] — from last to
//! first. Running the same code with `T = Dual<f64>` gives tangents
//! (forward mode, the JVP), and sweeping that tape gives Hessian-vector
//! products (forward-over-reverse).
//!
//! **Fused.** Pointwise arithmetic and stencils are lazy: a [`Field`] made
//! by them is a node of an expression graph, evaluated only when its value
//! is needed — by a non-local operation (an FFT or sparse solve, a
//! reduction, a stencil that reads it at an offset), by
//! [`Field::value`], or at the end of the step ([`Ctx::materialise`]).
//! Then the whole graph behind it runs as **one loop** over tiles of a few
//! rows that stay in cache, on the thread team (see `fuse/`): a
//! right-hand side written with plain operators makes as few passes over
//! memory as a hand-fused kernel. The reverse sweep is built the same way:
//! each adjoint is a lazy expression of the adjoints after it and of the
//! step's values (recomputed inside the tiles where they were never
//! stored), materialised where a stencil's VJP reads it at offsets, where a
//! solve needs it, and at the inputs. Per point the arithmetic is the same
//! whatever is fused, in the same order: [`unfused`] runs a computation
//! with every operation materialised on its own, and gives the same bits.
//!
//! All buffers — values, adjoints, the value list itself — live in a bump
//! arena owned by the [`FieldTape`], reset in O(1) at the start of every
//! step; with the tiles' scratch kept by the tape, a tape reused step
//! after step performs no heap allocation once it has grown to the size
//! of a step (a test counts allocations).
//!
//! **One code path.** [`FieldTape::eval`] runs the same step function
//! without recording: the values are computed by the same fused loops
//! (and [`Ctx::backward`] reports [`FieldError::NotRecording`]).
//!
//! Handles ([`Field`], [`Scalar`], [`Obs`]) are branded with the lifetime
//! of their recording, as in the scalar tape: they cannot outlive it or be
//! mixed with another one. A [`Field`] always has one value per grid point,
//! so the arithmetic between fields needs no length checks.
//!
//! A handle cannot leave its recording:
//!
//! ```compile_fail,E0521
//! use rewind_field::{FieldTape, Grid, Par};
//! let mut tape = FieldTape::<f64>::new(Grid::line(4, 1.0).unwrap());
//! let mut escaped = None;
//! tape.record(Par::Seq, |c| escaped = Some(c.input(&[0.0; 4]).unwrap())); // error: the handle escapes
//! ```
//!
//! and handles of two recordings cannot be combined:
//!
//! ```compile_fail,E0521
//! use rewind_field::{FieldTape, Grid, Par};
//! let g = Grid::line(4, 1.0).unwrap();
//! let (mut t1, mut t2) = (FieldTape::<f64>::new(g), FieldTape::<f64>::new(g));
//! t1.record(Par::Seq, |a| {
//!     let x = a.input(&[1.0; 4]).unwrap();
//!     t2.record(Par::Seq, |b| {
//!         let y = b.input(&[2.0; 4]).unwrap();
//!         let _ = x + y; // error: the brands 'a and 'b differ
//!     });
//! });
//! ```

mod compiled;
mod field;
mod fuse;
mod op;
mod reach;
pub use reach::XReach;
mod scalar;
pub mod stencil;
mod sweep;

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::rc::Rc;

use bumpalo::Bump;
use bumpalo::collections::Vec as BVec;

use crate::components::Components;
use crate::fft::{PoissonFft, PoissonWork};
use crate::par::{Par, fill_rows, weight};
use crate::sparse::SparseSpd;
use crate::split::{self, Split};
use crate::{FieldError, Grid};

use op::{Kind, Op, Val};

/// The most lazy operations one fused loop runs: an expression that
/// grows past it (a long loop of arithmetic never materialised) is
/// materialised where it stands.
const MAX_FUSED: u32 = 192;

thread_local! {
    /// Whether recordings started on this thread fuse (see [`unfused`]).
    static FUSE: Cell<bool> = const { Cell::new(true) };
}

/// Runs `f` with fusion off for the recordings it starts on this thread:
/// every operation is materialised as soon as it is made, one pass over
/// memory each, as an unfused engine would run it. The results are the
/// same bits as with fusion (the tests prove it with this switch); it is
/// slower, and there for that proof and for measuring what fusion saves.
pub fn unfused<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            FUSE.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FUSE.with(|c| c.replace(false)));
    f()
}

/// Passes over memory, in whole fields of the tape's scalar type: what a
/// recording read and wrote (inputs copied in, fused loops, kernels,
/// adjoints), counted by [`FieldTape::passes`]. The FFT's and the sparse
/// solver's own work arrays are not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Passes {
    /// Fields read (a field read at several offsets by one loop counts once).
    pub reads: u64,
    /// Fields written.
    pub writes: u64,
}

impl Passes {
    /// Reads and writes.
    pub fn total(&self) -> u64 {
        self.reads + self.writes
    }
}

struct State<'id, T> {
    // ManuallyDrop: the arena reclaims the memory at the next reset and the
    // contents need no destructor, so the context has no drop glue.
    vals: ManuallyDrop<BVec<'id, Val<'id, T>>>,
    /// Lazy fields to compute in the next fused loop, whatever it computes
    /// ([`Ctx::defer`]).
    pending: ManuallyDrop<BVec<'id, u32>>,
}

/// A reusable array tape for fields on one grid.
pub struct FieldTape<T> {
    grid: Grid,
    /// The FFT Poisson solver, planned at the first solve (a model that
    /// never solves — a wave equation in 3D — does not pay for its plans
    /// and tables).
    poisson: OnceCell<PoissonFft>,
    /// The FFT work space, kept across steps (zeroing it every solve cost
    /// 32 bytes of sequential writes per point).
    work: RefCell<Option<PoissonWork>>,
    /// The buffers of split solves ([`Split`]), kept across steps.
    split_work: RefCell<split::SplitWork>,
    sparse: Option<SparseSpd>,
    /// The fused loops' tiles, kept across steps.
    scratch: RefCell<Vec<T>>,
    passes: Cell<Passes>,
    arena: Bump,
    hint: usize,
    _t: PhantomData<T>,
}

impl<T> fmt::Debug for FieldTape<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldTape")
            .field("grid", &self.grid)
            .field("arena_bytes", &self.arena.allocated_bytes())
            .finish()
    }
}

impl<T: Components> FieldTape<T> {
    /// A tape for fields on `grid`; the arena grows on first use, the FFT
    /// Poisson solver is planned at the first solve.
    pub fn new(grid: Grid) -> Self {
        FieldTape {
            grid,
            poisson: OnceCell::new(),
            work: RefCell::new(None),
            split_work: RefCell::default(),
            sparse: None,
            scratch: RefCell::new(Vec::new()),
            passes: Cell::new(Passes::default()),
            arena: Bump::new(),
            hint: 0,
            _t: PhantomData,
        }
    }

    /// Attaches a factorised sparse SPD operator for [`Field::solve_sparse`]
    /// (e.g. [`SparseSpd::dirichlet_laplacian`]); it must have one unknown
    /// per grid point.
    pub fn with_sparse(mut self, solver: SparseSpd) -> Result<Self, FieldError> {
        self.grid.check("sparse operator", solver.len())?;
        self.sparse = Some(solver);
        Ok(self)
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Bytes the arena holds from the system (its capacity).
    pub fn arena_bytes(&self) -> usize {
        self.arena.allocated_bytes()
    }

    /// Bytes the last recording used in the arena (its capacity less the
    /// room left in its current chunk; the arena's chunks double as it
    /// grows, so it may hold up to twice this).
    pub fn arena_used_bytes(&self) -> usize {
        self.arena.allocated_bytes().saturating_sub(self.arena.chunk_capacity())
    }

    /// Passes over memory made by this tape's recordings so far (see
    /// [`Passes`]); [`FieldTape::reset_passes`] starts the count again.
    pub fn passes(&self) -> Passes {
        self.passes.get()
    }

    /// Starts counting [`Passes`] from zero.
    pub fn reset_passes(&self) {
        self.passes.set(Passes::default());
    }

    /// Records one computation (typically one time step); the arena is
    /// reset first. Nothing recorded can outlive the closure.
    pub fn record<R>(&mut self, par: Par, f: impl for<'id> FnOnce(&'id Ctx<'id, T>) -> R) -> R {
        self.run(par, true, &[], &[], |c, _| f(c))
    }

    /// Runs the same kind of closure without recording (the primal).
    pub fn eval<R>(&mut self, par: Par, f: impl for<'id> FnOnce(&'id Ctx<'id, T>) -> R) -> R {
        self.run(par, false, &[], &[], |c, _| f(c))
    }

    /// [`FieldTape::record`] with `data` lent to the recording: the
    /// closure gets the slices back for as long as it runs, so
    /// [`Ctx::input_ref`] makes fields of them without copying them (a
    /// step's state and parameter fields: no pass over memory). The
    /// constant arrays `fixed` (masks, weights, a sponge's profile) are lent
    /// too: [`Field::mask`] and [`Field::misfit`] of one of them read it
    /// in place instead of copying it into the arena.
    pub fn record_on<R>(
        &mut self,
        par: Par,
        data: &[&[T]],
        fixed: &[&[f64]],
        f: impl for<'id> FnOnce(&'id Ctx<'id, T>, &'id [&'id [T]]) -> R,
    ) -> R {
        self.run(par, true, data, fixed, f)
    }

    /// [`FieldTape::eval`] with `data` and `fixed` lent (see
    /// [`FieldTape::record_on`]).
    pub fn eval_on<R>(
        &mut self,
        par: Par,
        data: &[&[T]],
        fixed: &[&[f64]],
        f: impl for<'id> FnOnce(&'id Ctx<'id, T>, &'id [&'id [T]]) -> R,
    ) -> R {
        self.run(par, false, data, fixed, f)
    }

    fn run<R>(
        &mut self,
        par: Par,
        recording: bool,
        data: &[&[T]],
        fixed: &[&[f64]],
        f: impl for<'id> FnOnce(&'id Ctx<'id, T>, &'id [&'id [T]]) -> R,
    ) -> R {
        // a step that outgrew the arena's one chunk last time gets one chunk
        // for all of it (a reset frees the others: each step would map and
        // fault in fresh pages again)
        let used = self.arena.allocated_bytes();
        self.arena.reset();
        if self.arena.allocated_bytes() < used {
            self.arena = Bump::with_capacity(used);
        }
        let ctx = Ctx {
            arena: &self.arena,
            poisson: &self.poisson,
            work: &self.work,
            split_work: &self.split_work,
            sparse: self.sparse.as_ref(),
            scratch: &self.scratch,
            passes: &self.passes,
            grid: self.grid,
            par,
            recording,
            fixed: self.arena.alloc_slice_copy(fixed),
            fuse: FUSE.with(Cell::get),
            split: split::current().filter(|s| split::is_box(&**s, &self.grid)),
            st: RefCell::new(State {
                vals: ManuallyDrop::new(BVec::with_capacity_in(self.hint, &self.arena)),
                pending: ManuallyDrop::new(BVec::new_in(&self.arena)),
            }),
        };
        let lent = ctx.arena.alloc_slice_copy(data);
        let out = f(&ctx, lent);
        self.hint = self.hint.max(ctx.st.borrow().vals.len());
        out
    }
}

/// The recording (or evaluating) context handed to a step function.
pub struct Ctx<'id, T> {
    arena: &'id Bump,
    poisson: &'id OnceCell<PoissonFft>,
    work: &'id RefCell<Option<PoissonWork>>,
    split_work: &'id RefCell<split::SplitWork>,
    sparse: Option<&'id SparseSpd>,
    scratch: &'id RefCell<Vec<T>>,
    passes: &'id Cell<Passes>,
    grid: Grid,
    par: Par,
    recording: bool,
    /// Constant arrays lent to the run ([`FieldTape::record_on`]).
    fixed: &'id [&'id [f64]],
    fuse: bool,
    /// The split field this tape computes a box of, if any ([`split_by`](crate::split_by)).
    split: Option<Rc<dyn Split>>,
    st: RefCell<State<'id, T>>,
}

impl<T> fmt::Debug for Ctx<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.st.borrow();
        f.debug_struct("Ctx").field("grid", &self.grid).field("values", &st.vals.len()).finish()
    }
}

macro_rules! handle {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        pub struct $name<'id, T> {
            id: u32,
            ctx: &'id Ctx<'id, T>,
        }
        impl<T> Clone for $name<'_, T> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<T> Copy for $name<'_, T> {}
        impl<T> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(#{})", stringify!($name), self.id)
            }
        }
    };
}

handle!(
    /// A field on the context's grid: one value per point.
    Field
);
handle!(
    /// A scalar (a reduction, a parameter).
    Scalar
);
handle!(
    /// A vector of observations (point samples of a field).
    Obs
);

/// Adjoints from a reverse sweep.
pub struct Adjoints<'id, T> {
    ctx: &'id Ctx<'id, T>,
    /// For each value of the step: the value holding its field adjoint
    /// (lazy until asked for).
    fields: BVec<'id, Option<u32>>,
    /// For each value of the step: its scalar or observation adjoint.
    small: BVec<'id, Option<&'id mut [T]>>,
}

impl<T> fmt::Debug for Adjoints<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adjoints").field("values", &self.fields.len()).finish()
    }
}

impl<'id, T: Components> Adjoints<'id, T> {
    /// The adjoint of a field (zeros if the output does not depend on it).
    pub fn field(&self, f: Field<'id, T>) -> &'id [T] {
        match self.fields.get(f.id as usize) {
            Some(&Some(a)) => self.ctx.val(a),
            _ => self.ctx.zeroed(),
        }
    }
    /// The adjoint of a scalar.
    pub fn scalar(&self, s: Scalar<'id, T>) -> T {
        match self.small.get(s.id as usize) {
            Some(Some(a)) => a[0],
            _ => T::zero(),
        }
    }
    /// Computes the adjoints of `fields` together, in one fused loop (they
    /// are computed when first asked for otherwise, one loop each).
    pub fn materialise(&self, fields: &[Field<'id, T>]) {
        let ids: smallvec::SmallVec<[u32; 8]> =
            fields.iter().filter_map(|f| self.fields.get(f.id as usize).copied().flatten()).collect();
        self.ctx.materialise_ids(&ids);
    }
}

impl<'id, T: Components> Ctx<'id, T> {
    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The x-planes whose values this process computes for the whole grid:
    /// all of them in one process; on a box of a split field ([`Split`]),
    /// the rank's slab — the ghost planes around it are the neighbours'
    /// and, near the box's edges, not the grid's. A check a model makes on
    /// values it reads itself (not through the tape), such as a CFL number
    /// from differences, looks at these planes only.
    pub fn own_planes(&self) -> std::ops::Range<usize> {
        split::own_planes(self.split.as_deref(), self.grid.nx)
    }

    /// How the kernels of this recording use threads (for a model's own
    /// loops over field values, with [`crate::par`]).
    pub fn par(&self) -> Par {
        self.par
    }

    /// Whether operations are being recorded.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Computes the values of `fields` (lazy expressions) together, in one
    /// fused loop: the states of a step's end or of a Runge–Kutta stage,
    /// which share much of their expressions. A field is otherwise computed
    /// when its value is first needed, on its own.
    pub fn materialise(&'id self, fields: &[Field<'id, T>]) {
        let ids: smallvec::SmallVec<[u32; 8]> = fields.iter().map(|f| f.id).collect();
        self.materialise_ids(&ids);
    }

    /// Writes the values of `fields` into `out` (one after the other, each
    /// of the grid's length): those that are lazy expressions are computed
    /// together, in one fused loop, straight into `out` — the end of a step
    /// written into the caller's state without a pass through memory of its
    /// own. Such a field is not kept: a later use computes it again.
    pub fn write_into(&'id self, fields: &[Field<'id, T>], out: &mut [T]) -> Result<(), FieldError> {
        self.write_fields(fields, out, false).map(|_| ())
    }

    /// [`Ctx::write_into`], and the index in `out` of the first value
    /// written that is not finite (in any part), if one is: each tile is
    /// checked as it is written, while it is in cache — a blow-up caught
    /// without a pass over the state of its own.
    pub fn write_into_checked(&'id self, fields: &[Field<'id, T>], out: &mut [T]) -> Result<Option<usize>, FieldError> {
        if self.write_fields(fields, out, true)? {
            return Ok(None);
        }
        // (the rare case: where)
        Ok(out.iter().position(|x| !x.is_finite()))
    }

    /// [`Ctx::write_into`], with `check`: whether every value is finite.
    fn write_fields(&'id self, fields: &[Field<'id, T>], out: &mut [T], check: bool) -> Result<bool, FieldError> {
        let n = self.grid.len();
        if out.len() != fields.len() * n {
            return Err(FieldError::Length {
                what: "output of write_into",
                expected: fields.len() * n,
                got: out.len(),
            });
        }
        let mut pairs: smallvec::SmallVec<[(u32, &mut [T]); 8]> =
            fields.iter().zip(out.chunks_mut(n.max(1))).map(|(f, o)| (f.id, o)).collect();
        Ok(self.materialise_into(&mut pairs, check))
    }

    /// `data` itself with the run's lifetime, if it is one of the arrays
    /// lent to the run as fixed (the same memory).
    fn lent(&self, data: &[f64]) -> Option<&'id [f64]> {
        self.fixed.iter().copied().find(|f| std::ptr::eq(f.as_ptr(), data.as_ptr()) && f.len() == data.len())
    }

    /// A copy of `data` (one value per point, constant data lent for one
    /// operation) in the arena, by rows on the team — or, if `data` is one
    /// of the arrays lent to the run as fixed, that array itself.
    pub(super) fn copy_f64(&self, data: &[f64]) -> &'id [f64] {
        if let Some(lent) = self.lent(data) {
            return lent;
        }
        let ny = self.grid.plane_len();
        let out = self.arena.alloc_slice_fill_copy(data.len(), MaybeUninit::uninit());
        fill_rows(self.par, weight::ELEMENTWISE, out, ny, 0.0, |i, row| {
            row.copy_from_slice(&data[i * ny..i * ny + row.len()])
        })
    }

    /// A new buffer of one zero per point, zero-filled by rows by the
    /// threads that go on to write it (see [`fill_rows`]).
    pub(super) fn zeroed(&self) -> &'id mut [T] {
        self.fill(weight::ELEMENTWISE, |_, _| {})
    }

    /// A new buffer of one value per point, each row (x-plane) zeroed and
    /// then written by `f(i, row)` (on threads where the work of `weight`
    /// pays).
    pub(super) fn fill(&self, weight: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) -> &'id mut [T] {
        let n = self.grid.len();
        let out = self.arena.alloc_slice_fill_copy(n, MaybeUninit::uninit());
        fill_rows(self.par, weight, out, self.grid.plane_len(), T::zero(), f)
    }

    /// `out = P a`, the FFT Poisson solve, planned at its first use.
    /// On a box of a split field, the solve over every rank's slab
    /// ([`Split`]), planned for the whole grid.
    fn solve_poisson(&self, a: &[T], out: &mut [T], par: Par) {
        let grid = self.split.as_ref().map_or(self.grid, |s| s.whole());
        let p = self.poisson.get_or_init(|| PoissonFft::new(grid));
        let other;
        let p = if p.grid == grid {
            p
        } else {
            // (a tape used both on its own grid and split)
            other = PoissonFft::new(grid);
            &other
        };
        match &self.split {
            Some(s) => p.solve_split(&**s, a, out, &mut self.split_work.borrow_mut()),
            None => {
                let mut work = self.work.borrow_mut();
                let work = work.get_or_insert_with(|| p.work());
                if work.grid != grid {
                    *work = p.work();
                }
                p.solve_checked(a, out, work, par);
            }
        }
    }

    /// A new zero buffer of one value per point, filled by `f`.
    fn compute(&self, f: impl FnOnce(&mut [T])) -> &'id [T] {
        let out = self.zeroed();
        f(out);
        out
    }

    /// Counts passes over memory.
    pub(super) fn count(&self, reads: u64, writes: u64) {
        let p = self.passes.get();
        self.passes.set(Passes { reads: p.reads + reads, writes: p.writes + writes });
    }

    fn push(&'id self, kind: Kind, op: Op<'id, T>, buf: Option<&'id [T]>, size: u32) -> u32 {
        let mut st = self.st.borrow_mut();
        let id = st.vals.len() as u32;
        st.vals.push(Val { kind, op, buf, size });
        id
    }

    /// The value `id`, computed first if it is a lazy field.
    #[inline]
    fn val(&'id self, id: u32) -> &'id [T] {
        self.force(id);
        self.st.borrow().vals[id as usize].buf.expect("a materialised value")
    }

    /// Computes the lazy field `id`, if it is one.
    #[inline]
    fn force(&'id self, id: u32) {
        let lazy = self.st.borrow().vals[id as usize].buf.is_none();
        if lazy {
            self.materialise_ids(&[id]);
        }
    }

    /// A field computed now (a kernel's output, an input, a constant).
    fn field(&'id self, vals: &'id [T], op: Op<'id, T>) -> Field<'id, T> {
        self.count(0, 1);
        Field { id: self.push(Kind::Field, op, Some(vals), 0), ctx: self }
    }

    /// A lazy field: evaluated when needed, fused with what reads it (at
    /// once without fusion, or when its expression grows too large).
    fn lazy(&'id self, op: Op<'id, T>) -> Field<'id, T> {
        let size = {
            let st = self.st.borrow();
            let mut size = 1u32;
            op.each_field_operand(|a| {
                let v = &st.vals[a as usize];
                if v.buf.is_none() {
                    size = size.saturating_add(v.size);
                }
            });
            size
        };
        let id = self.push(Kind::Field, op, None, size);
        if !self.fuse || size > MAX_FUSED {
            self.materialise_ids(&[id]);
        }
        Field { id, ctx: self }
    }

    fn scalar_of(&'id self, v: T, op: Op<'id, T>) -> Scalar<'id, T> {
        let vals = self.arena.alloc_slice_fill_copy(1, v);
        Scalar { id: self.push(Kind::Scalar, op, Some(vals), 0), ctx: self }
    }

    fn obs_of(&'id self, vals: &'id [T], op: Op<'id, T>) -> Obs<'id, T> {
        Obs { id: self.push(Kind::Obs, op, Some(vals), 0), ctx: self }
    }

    /// A new buffer of one value per point, `f(k)` at point `k`: written
    /// once, without a zero-fill, on one thread; by rows (each zeroed in
    /// cache first) where the kernels go parallel.
    fn pointwise(&self, f: impl Fn(usize) -> T + Sync + Send) -> &'id [T] {
        let (n, ny) = (self.grid.len(), self.grid.plane_len());
        if self.par.parallel::<T>(n, weight::ELEMENTWISE) {
            self.fill(weight::ELEMENTWISE, |i, row| row.iter_mut().enumerate().for_each(|(j, d)| *d = f(i * ny + j)))
        } else {
            self.arena.alloc_slice_fill_with(n, f)
        }
    }

    /// An input field (a copy of `data`): the state, a parameter field, a
    /// target. Its adjoint is available after a sweep.
    pub fn input(&'id self, data: &[T]) -> Result<Field<'id, T>, FieldError> {
        self.grid.check("field input", data.len())?;
        let ny = self.grid.plane_len();
        let copy = self.fill(weight::ELEMENTWISE, |i, row| row.copy_from_slice(&data[i * ny..(i + 1) * ny]));
        self.count(1, 0);
        Ok(self.field(copy, Op::Leaf))
    }

    /// An input field that is `data` itself, not a copy: for slices lent
    /// to the recording ([`FieldTape::record_on`]), which outlive it.
    pub fn input_ref(&'id self, data: &'id [T]) -> Result<Field<'id, T>, FieldError> {
        self.grid.check("field input", data.len())?;
        Ok(Field { id: self.push(Kind::Field, Op::Leaf, Some(data), 0), ctx: self })
    }

    /// A constant field holding `data` (a sponge's profile, a mask, a
    /// fixed coefficient): never differentiated. On an `f64` tape, data
    /// lent to the run as fixed ([`FieldTape::record_on`], a model's
    /// `fixed` arrays) is read in place; otherwise it is copied into the
    /// arena. On a box of a split grid ([`Split`]) `data` is the whole
    /// grid's and the box's planes of it are taken (a model made for the
    /// whole grid runs unchanged on every rank's box).
    pub fn data(&'id self, data: &[f64]) -> Result<Field<'id, T>, FieldError> {
        let ny = self.grid.plane_len();
        if let Some((whole, first)) = self.box_in_whole() {
            // (constant data of the box's own length would have been
            // computed from where the box lies: refused)
            whole.check("constant data on a box of a split grid (the whole grid's)", data.len())?;
            self.count(1, 0);
            let vals = self.fill(weight::ELEMENTWISE, |i, row| {
                let p = (first + i) % whole.nx;
                row.iter_mut().zip(&data[p * ny..]).for_each(|(r, &d)| *r = T::from_f64(d))
            });
            return Ok(Field { id: self.push(Kind::Field, Op::Constant, Some(vals), 0), ctx: self });
        }
        self.grid.check("data", data.len())?;
        let vals = match self.lent(data).and_then(T::in_place) {
            Some(v) => v,
            None => {
                self.count(1, 0);
                self.fill(weight::ELEMENTWISE, |i, row| {
                    row.iter_mut().zip(&data[i * ny..]).for_each(|(r, &d)| *r = T::from_f64(d))
                })
            }
        };
        Ok(Field { id: self.push(Kind::Field, Op::Constant, Some(vals), 0), ctx: self })
    }

    /// A field sampled from `f(x, y)` at the grid points (a constant; on a
    /// 3D grid the same at every `z`; on a box of a split grid at the
    /// points' places in the whole grid).
    pub fn sampled(&'id self, f: impl Fn(f64, f64) -> f64) -> Field<'id, T> {
        let g = self.grid;
        let first = self.box_in_whole();
        let vals = self.arena.alloc_slice_fill_with(g.len(), |k| {
            let (x, y, _) = g.point(k);
            let x = match first {
                Some((w, first)) => ((k / g.plane_len() + first) % w.nx) as f64 * w.dx,
                None => x,
            };
            T::from_f64(f(x, y))
        });
        // constant data: no adjoint
        self.field(vals, Op::Constant)
    }

    /// On a box of a split grid ([`Split`]): the whole grid and the plane
    /// of it where the box starts.
    fn box_in_whole(&self) -> Option<(Grid, usize)> {
        self.split.as_ref().map(|s| {
            let w = s.whole();
            (w, (s.owned(s.rank()).start + w.nx - s.ghosts()[0] % w.nx) % w.nx)
        })
    }

    /// Constant observations (amplitudes for [`Ctx::inject`], say): not
    /// differentiated.
    pub fn observations(&'id self, values: &[T]) -> Obs<'id, T> {
        let vals: &'id [T] = self.arena.alloc_slice_copy(values);
        self.obs_of(vals, Op::Leaf)
    }

    /// A field that is zero but around `points`, where the `amplitudes`
    /// (one per point) are spread with the n-linear weights (sources; the
    /// adjoint of [`Field::interpolate`], see [`Points`](crate::Points)).
    /// Points of another grid are [`FieldError::GridMismatch`], a wrong
    /// number of amplitudes [`FieldError::Length`].
    pub fn inject(&'id self, points: &crate::Points, amplitudes: Obs<'id, T>) -> Result<Field<'id, T>, FieldError> {
        let s = amplitudes.value();
        if s.len() != points.len() {
            return Err(FieldError::Length { what: "source amplitudes", expected: points.len(), got: s.len() });
        }
        let (idx, w): (&'id [usize], &'id [f64]) = match self.box_in_whole() {
            // points of the whole grid on a box of it: each corner in the
            // box at its place there; a corner outside it adds nothing
            // (weight 0: the sum it joins started at +0, so adding a zero
            // never changes its bits; a non-finite amplitude fails the step
            // either way, on the box at another point)
            Some((whole, first)) if points.grid() == &whole => {
                let (plane, nx) = (self.grid.plane_len(), self.grid.nx);
                if nx > whole.nx {
                    // a plane twice in the box: one corner cannot be both
                    return Err(FieldError::NotLocal {
                        what: "injection at points on a box wider than the grid (use fewer ranks)",
                    });
                }
                let (mut idx, mut w) = (points.indices().to_vec(), points.weights().to_vec());
                for (i, w) in idx.iter_mut().zip(&mut w) {
                    let (p, at) = (*i / plane, *i % plane);
                    let b = (p + whole.nx - first) % whole.nx;
                    *i = if b < nx { b * plane + at } else { at };
                    if b >= nx {
                        *w = 0.0;
                    }
                }
                (self.arena.alloc_slice_copy(&idx), self.arena.alloc_slice_copy(&w))
            }
            _ if points.grid() != &self.grid => return Err(FieldError::GridMismatch { what: "the points" }),
            _ => (self.arena.alloc_slice_copy(points.indices()), self.arena.alloc_slice_copy(points.weights())),
        };
        // lazy: a fused loop writes its zeros and its few points tile by
        // tile, in cache, not a field in memory
        Ok(self.lazy(Op::Inject(amplitudes.id, idx, w)))
    }

    /// An input scalar (a parameter such as a viscosity).
    pub fn scalar(&'id self, v: T) -> Scalar<'id, T> {
        self.scalar_of(v, Op::Leaf)
    }

    /// Reverse sweep seeded with `d(output)/d(scalar) = 1`.
    pub fn gradient(&'id self, s: Scalar<'id, T>) -> Result<Adjoints<'id, T>, FieldError> {
        self.backward(&[], &[(s, T::one())])
    }

    /// Reverse sweep seeded with adjoints on fields and scalars: the
    /// adjoints of `Σ ⟨f̄, f⟩ + Σ s̄ s`. The adjoints of the inputs
    /// ([`Ctx::input`]) are computed together at the end, in one fused
    /// loop; any other is computed when asked for.
    pub fn backward(
        &'id self,
        fields: &[(Field<'id, T>, &[T])],
        scalars: &[(Scalar<'id, T>, T)],
    ) -> Result<Adjoints<'id, T>, FieldError> {
        if !self.recording {
            return Err(FieldError::NotRecording);
        }
        for &(_, seed) in fields {
            self.grid.check("field seed", seed.len())?;
        }
        Ok(sweep::backward(self, fields, scalars))
    }
}
